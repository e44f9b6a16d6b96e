//! One integration-test binary for the server (each extra binary costs a link).

// Tests may panic on a broken precondition; that is their way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;
mod innovaphone;

mod admin_api;
mod admin_ui;
mod audit;
mod browser;
mod cli;
mod data_at_rest;
mod deploy;
mod faults;
mod fuzz;
mod hardening;
mod import_crash;
mod instances;
mod layers;
mod logs;
mod myapps;
mod phone_auth;
mod provisioning;
mod rps;
mod rps_crash;
mod tenants;
mod tls;
mod yealink_fidelity;
