//! The Yealink phone's world, pure: MAC addresses, models and their common-file codes,
//! User-Agent parsing, provisioning file names, time zones (IANA and POSIX rules), locations,
//! the PBX's media profile, and rendering and reading `.boot`/`.cfg` files. No I/O: everything
//! here is a function of its arguments (plus the system clock's year, for time zone rules).
//!
//! Decisions and sources: `docs/yealink-rendering.md`.

mod auto_dst;
mod cfg;
mod dst_rule;
mod error;
mod files;
mod firmware;
mod location;
mod mac;
mod media;
mod model;
mod posix_tz;
pub mod render;
mod settings;
mod timezone;
mod tz_table;
mod user_agent;

pub use auto_dst::auto_dst_rule;
pub use cfg::{CFG_HEADER, MASK, ParseError, is_secret_key, mask_secrets, parse_cfg};
pub use dst_rule::{DstDate, DstRule};
pub use files::{PhoneFile, classify_file};
pub use firmware::{Firmware, handset_firmware_keys, handset_models};
pub use location::{Location, location, locations};
pub use mac::{Mac, MacError, YEALINK_OUIS};
pub use media::{
    ALL_CODEC_ENABLE_KEYS, Codec, DEFAULT_STUN_PORT, MediaProfile, StunServer, TlsMinimum,
    TurnServer,
};
pub use model::{
    AccountLayout, DEFAULT_ACCOUNT_SLOTS, DEFAULT_HANDSET_SLOTS, Dialect, ModelInfo,
    common_code_from_firmware, common_file_code, is_legacy_model, known_models, legacy_firmware,
    model_info, normalize_model, package_base,
};
pub use posix_tz::{iana_zone_for_posix, iana_zone_for_posix_in_year};
pub use render::{
    Account, GENERATED_COMMENT, MAX_REPEAT_MINUTES, MacFileInput, Provisioning, RenderError,
    render_common_cfg, render_mac_boot, render_mac_cfg, settings_params, time_zone_params,
};
pub use settings::{PhoneSettings, Transport, UnknownTransport};
pub use timezone::{
    TimeZoneError, YealinkTimeZone, format_offset, iana_time_zone_names, resolve_time_zone,
    resolve_time_zone_in_year, yealink_time_zone_names,
};
pub use user_agent::{UserAgent, parse_user_agent};
