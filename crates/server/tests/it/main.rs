//! One integration-test binary for the server (each extra binary costs a link).

mod helpers;

mod admin_api;
mod cli;
mod logs;
mod phone_auth;
mod provisioning;
mod tls;
