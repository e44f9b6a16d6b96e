//! Simulators of the innovaphone side of `yealink-prov`, written from the protocol notes
//! (`innovaphone.md`: AppWebsocket login §1, the PBX → App connection §2, Services §3, Devices
//! configuration objects §4, the Provisioning API §5, sysclient §6, PbxAdminApi §7 and the
//! ordered message list §10), never from our own innovaphone code, so that the two can
//! disagree and the tests notice.
//!
//! - [`PbxSim`]: the PBX's App object connection: it dials our app, logs in, sends `PbxInfo`
//!   and `AppInfo`, and serves the `Services` and `PbxAdminApi` APIs; it reconnects with
//!   backoff like a real PBX.
//! - [`DevicesSim`]: the Devices app's sysclient endpoint (binary frames), with provisioning
//!   categories, codes, challenges and configuration pushes.
//! - [`UsersSim`]: the Users service connecting to our app and sending `ProvisioningPhone`,
//!   and [`UsersSim::add_phone`], everything Users does for "+ Add phone".
//! - [`crypto`] and [`frame`]: the simulator's own digests, session key, RC4 and sysclient
//!   framing.
//!
//! All three listen on or dial loopback addresses only in tests; every wait has a timeout.

pub mod crypto;
pub mod devices;
pub mod frame;
pub mod pbx;
pub mod users;
mod ws;

pub use devices::{
    DeviceView, DevicesSim, DevicesTls, TunnelEventSeen, example_items, throwaway_certificate,
};
pub use pbx::{LoginState, PbxConfig, PbxSim, ServicesShape};
pub use users::{PhoneRequest, ProvisionOutcome, UsersLoginForm, UsersSession, UsersSim};
