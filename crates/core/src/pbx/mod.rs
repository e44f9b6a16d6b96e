//! The innovaphone PBX side as the core sees it: the stored per-phone record and the views of
//! it, and [`PbxSide`], what the surfaces ask of the App Service side without importing it.

pub mod record;

use std::sync::Arc;

use yealink::Mac;

use crate::error::ServiceError;
use record::PbxDeviceView;

/// One connected PBX, for display.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PbxSessionView {
    pub id: u64,
    pub pbx: String,
    pub domain: String,
    pub pbx_dns: String,
    pub apis: Vec<String>,
    pub version: String,
    pub devices_url: Option<String>,
}

/// What the phone and admin surfaces ask of the App Service side (which implements it), so
/// that neither imports it. A trait object: the phone path calls it once per served
/// `<mac>.cfg`, next to a task spawn that costs far more than the indirect call.
#[async_trait::async_trait]
pub trait PbxSide: Send + Sync {
    /// A phone fetched its `<mac>.cfg`: the PBX's device flags may follow (PBX phones only).
    fn phone_fetched_config(self: Arc<Self>, mac: Mac);
    /// Origins allowed to frame the UI besides our own (myApps of each connected PBX).
    fn frame_origins(&self) -> Vec<String>;
    /// The innovaphone state of a phone, for the API and the UI.
    async fn view(&self, mac: Mac) -> Result<Option<PbxDeviceView>, ServiceError>;
    /// The connected PBXs.
    fn sessions(&self) -> Vec<PbxSessionView>;
    /// The Devices URL last known.
    fn devices_url(&self) -> Option<String>;
}
