//! The admin surface: the JSON API under `/api/v1` and the web UI under `/ui`.

pub mod api;
pub mod tenants_api;
pub mod ui;
