//! The innovaphone protocol crate from the outside.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fuzz;
