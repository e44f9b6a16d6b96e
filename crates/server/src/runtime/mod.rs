//! On top: the wiring, the listeners, the CLI and the demo.

pub mod app;
pub mod cli;
#[cfg(feature = "demo")]
pub mod demo;
pub(crate) mod listen;
