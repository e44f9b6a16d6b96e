//! The store's one integration-test binary: a conformance suite run against SQLite always and
//! against PostgreSQL when `TEST_DATABASE_URL` is set (see `harness.rs`).

// Tests may panic on unexpected errors; that is how they fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

mod bench;
mod bulk;
mod changes;
mod devices;
mod faults;
mod feed;
mod instances;
mod lease;
mod list;
mod misc;
mod requests;
mod rps;
mod sealed;
mod tenants;
mod ui_sessions;
