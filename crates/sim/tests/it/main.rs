//! End-to-end self-tests of the simulator against a tiny hand-rolled server.
//! (The main end-to-end tests, against the real server, live in `crates/server`.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fake_server;
mod innovaphone;
mod provision;
mod rps_sim;
mod storm;
