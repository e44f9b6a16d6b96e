//! `yealink-prov`: zero-touch provisioning for Yealink SIP phones. See `docs/how-it-works.md`.
//!
//! Layers, each importing only from those below it (checked by `tests/it/layers.rs`):
//! - the core, the crate `prov-core` (`crates/core`): devices, settings, rendering, identity and
//!   secrets, the RPS outbox, request log, audit, instances. Knows nothing of HTTP, HTML,
//!   AppWebsocket or the CLI; being a crate of its own, it cannot import this one.
//! - [`web`]: the HTTP plumbing the three surfaces share (state, language, frame headers).
//! - [`phone`], [`admin`], [`app_service`]: the phone surface (`/prov/...`), the admin API
//!   and web UI, the innovaphone App Service side; side by side, never importing each other.
//! - [`runtime`]: wiring, listeners, opening the store with its key file, CLI, demo.
//!
//! Modules are `pub(crate)` unless the binary (`main.rs`) or the integration tests reach them.
//!
//! Where the code placed things other than the plain picture, and why:
//! - `web` is a layer of its own: the three surfaces share HTTP pieces (the handler state,
//!   request-body rules, connection activity, Digest, UI language, frame headers) that the
//!   core must not know and no surface may import from another.
//! - `config`, `phone_cert` and `doctor` are in the core: every layer reads its section of the
//!   start-up configuration, which names the phone certificate rule; the doctor's certificate
//!   check serves both the settings page and the CLI. None of them speaks HTTP.
//! - The RPS worker stays in the core (`prov_core::rps::worker`), apart from the outbox: it
//!   needs the service, which queues through the outbox; it is an RPS client, not an HTTP
//!   surface.
//! - Opening the store (`runtime::key_file`, `runtime::database_mark`) is start-up work with
//!   files and `anyhow` context, so it sits with the wiring, not in the core.
//! - The surfaces reach the App Service side through `prov_core::pbx::PbxSide`, a trait object
//!   in the state; the App Service's own routes get the concrete `Innovaphone` as their state.

pub(crate) mod admin;
pub mod app_service;
pub(crate) mod phone;
pub mod runtime;
pub mod web;
