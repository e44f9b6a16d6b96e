//! The yealink crate's integration tests, in one binary.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cfg;
mod files;
mod golden;
mod location;
mod mac;
mod model;
mod parameters;
mod render;
mod timezone;
mod tz_vs_tzdb;
mod user_agent;
