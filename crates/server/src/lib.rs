//! `yealink-prov`: zero-touch provisioning for Yealink SIP phones. See `docs/how-it-works.md`.

pub mod admin_auth;
pub mod api;
pub mod app;
pub mod cache;
pub mod cli;
pub mod config;
pub mod demo;
pub mod device_input;
pub mod digest;
pub mod doctor;
pub mod error;
pub mod import;
pub mod innovaphone;
pub mod phone_http;
pub mod request_log;
pub mod rps_flow;
pub mod rps_registration;
pub mod secret;
pub mod service;
pub mod settings;
pub mod state;
pub mod ui;
pub mod views;
pub mod write_probe;
