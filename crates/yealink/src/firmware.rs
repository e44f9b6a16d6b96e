//! Firmware keys: the phone's or base's own firmware file, and handset firmware a DECT base
//! pushes over the air (`over_the_air.url.<handset>`).
//!
//! Which handsets a base lists, and under which key: `docs/yealink-parameters.md`, section
//! "Models" (FusionPBX's W52P/W56P/W60B/W70B/W80 templates and wazo's V87 `HANDSETS_FW`).

use std::collections::BTreeMap;

use crate::model::ModelInfo;

/// Handsets of the W60B (FusionPBX `w60b/y000000000077.cfg`).
const W60B_HANDSETS: &[(&str, &str)] = &[
    ("W53H", "over_the_air.url.w53h"),
    ("W56H", "over_the_air.url.w56h"),
    ("W59R", "over_the_air.url.w59r"),
];

/// Handsets of the W70B and the multi-cell systems: FusionPBX's W60B/W70B and W80 templates
/// together with wazo's V87 list.
const CURRENT_HANDSETS: &[(&str, &str)] = &[
    ("W53H", "over_the_air.url.w53h"),
    ("W56H", "over_the_air.url.w56h"),
    ("W57R", "over_the_air.url.w57r"),
    ("W59R", "over_the_air.url.w59r"),
    ("W73H", "over_the_air.url.w73h"),
    ("W74H", "over_the_air.url.w74h"),
    ("W78H", "over_the_air.url.w78h"),
    ("CP930W", "over_the_air.url.cp930w"),
    ("CP935W", "over_the_air.url.cp935w"),
    ("T41S_DD10K", "over_the_air.url.t41s_dd10k"),
    ("T54W_DD10K", "over_the_air.url.t54w_dd10k"),
];

/// Every handset model a firmware URL can be set for, e.g. to validate settings.
pub fn handset_models() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = CURRENT_HANDSETS
        .iter()
        .chain(W60B_HANDSETS)
        .map(|(name, _)| *name)
        .chain(["W52H"])
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// The handsets `base` updates over the air, each with its key (empty for non-DECT models).
pub fn handset_firmware_keys(base: &ModelInfo) -> &'static [(&'static str, &'static str)] {
    match base.name {
        // One key without a handset name: each base takes its own handset's file.
        "W52P" => &[("W52H", "over_the_air.url")],
        "W56P" => &[("W56H", "over_the_air.url")],
        "W60B" => W60B_HANDSETS,
        _ if base.family == "DECT" => CURRENT_HANDSETS,
        _ => &[],
    }
}

/// The firmware files one rendered file points to.
#[derive(Clone, Copy, Debug, Default)]
pub struct Firmware<'a> {
    /// The model whose handset list applies; `None` writes no handset keys.
    pub model: Option<&'static ModelInfo>,
    /// The phone's or base's own firmware file (`static.firmware.url`).
    pub url: Option<&'a str>,
    /// Handset model (`W56H`) -> firmware file; only the handsets the base lists are written.
    pub handset_urls: Option<&'a BTreeMap<String, String>>,
}

impl Firmware<'_> {
    /// No firmware keys at all.
    pub const NONE: Firmware<'static> = Firmware {
        model: None,
        url: None,
        handset_urls: None,
    };

    /// `(key, url)` of each handset firmware to write, in the base's list order.
    pub(crate) fn handset_params(&self) -> Vec<(&'static str, &str)> {
        let (Some(model), Some(urls)) = (self.model, self.handset_urls) else {
            return Vec::new();
        };
        handset_firmware_keys(model)
            .iter()
            .filter_map(|(handset, key)| {
                urls.get(*handset)
                    .filter(|url| !url.is_empty())
                    .map(|url| (*key, url.as_str()))
            })
            .collect()
    }
}
