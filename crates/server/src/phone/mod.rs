//! The phone surface: `/prov/...`, what phones fetch and upload.

pub mod http;
