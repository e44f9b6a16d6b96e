//! On top: the wiring, the listeners, the CLI and the demo.

pub mod app;
pub mod cli;
pub mod demo;
pub(crate) mod listen;
