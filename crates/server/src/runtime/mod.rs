//! On top: the wiring, the listeners, the CLI and the demo.

pub mod app;
pub mod cli;
pub(crate) mod database_mark;
#[cfg(feature = "demo")]
pub mod demo;
pub(crate) mod key_file;
pub(crate) mod listen;
pub(crate) mod sites;
