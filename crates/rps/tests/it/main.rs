//! Integration tests of the RPS clients: codecs, classification, redaction, and both APIs over
//! real HTTP against a hand-written responder on loopback (`support`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod classify;
mod fuzz;
mod json_http;
mod python_interop;
mod redaction;
mod sign;
mod support;
mod xmlrpc_codec;
mod xmlrpc_http;
