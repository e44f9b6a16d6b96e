//! Phone models, the code in their per-model common file name `y000000000NNN.cfg`, the
//! parameter dialect their firmware speaks, and how many SIP accounts they have.
//!
//! Sources per column: `docs/yealink-parameters.md`, section "Models".

/// Which parameter names a model's current firmware understands. The renderer picks key names
/// by this (see `docs/yealink-parameters.md`); it is derived from the model's family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// Desk and conference phones whose newest Yealink template still names ICE `ice.enable`:
    /// T2x (E2), T4x (G/P), T4xS, CP860/CP920/CP925/CP960.
    Classic,
    /// Firmware V83 and later with `static.ice.enable`: T3x, T4xU, T5x, T7x/T8x, CP965, AX.
    Current,
    /// DECT bases on V82 and later (W60B, W70B, W75, W80, W90): `Current` names, no phone GUI
    /// language, a numeric handset language.
    Dect,
    /// W52P/W56P on V81, their last firmware: as `Dect`, but the firmware URL and the handset
    /// configuration switch have no `static.` prefix (wazo's V81 W52P template).
    DectV81,
}

impl Dialect {
    /// The dialect used when the model is unknown (no common file, MAC file only): the names
    /// of firmware V83 and later, which is what phones sold today run.
    pub const FOR_UNKNOWN_MODEL: Dialect = Dialect::Current;

    /// The ICE switch: `ice.enable` (Classic) or `static.ice.enable` (V83+ and DECT).
    pub fn ice_key(self) -> &'static str {
        match self {
            Dialect::Classic => "ice.enable",
            Dialect::Current | Dialect::Dect | Dialect::DectV81 => "static.ice.enable",
        }
    }

    /// Whether this is a DECT base's dialect (handset language, no GUI language).
    pub fn is_dect(self) -> bool {
        matches!(self, Dialect::Dect | Dialect::DectV81)
    }

    /// The base or phone firmware URL key.
    pub fn firmware_key(self) -> &'static str {
        match self {
            Dialect::DectV81 => "firmware.url",
            _ => "static.firmware.url",
        }
    }

    /// The switch that makes handsets take the base's configuration.
    pub fn handset_configured_key(self) -> &'static str {
        match self {
            Dialect::DectV81 => "auto_provision.handset_configured.enable",
            _ => "static.auto_provision.handset_configured.enable",
        }
    }
}

/// Where a model's MAC file names account 1's SIP server, and which handsets get its line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AccountLayout {
    /// `account.1.sip_server.N.*` (every model except the multi-cell DECT systems).
    pub account_server: bool,
    /// `template.1.*` plus `account.1.sip_server.template = 1` (W70B from 146.87, W75, W80,
    /// W90).
    pub server_template: bool,
    /// Handsets 1 up to this number get account 1 (`handset.N.incoming_lines` ...); 0 = none.
    pub handset_lines: u8,
}

impl AccountLayout {
    /// Desk phones, and any model we do not know.
    pub const DESK: AccountLayout = AccountLayout {
        account_server: true,
        server_template: false,
        handset_lines: 0,
    };
}

/// Accounts cleared (`account.N.enable = 0`) when the model's account count is unknown: the
/// largest count of any desk phone in the table (16).
pub const DEFAULT_ACCOUNT_SLOTS: u8 = 16;

/// Handset slots given line 1 on a DECT base whose template lists no handset count.
pub const DEFAULT_HANDSET_SLOTS: u8 = 10;

/// Common-file codes shared by models that need different firmware files (a DECT manager and
/// its base station: W75DM/W75B, W80DM/W80B, W90DM/W90B; wazo names their files `$PN-...`), and
/// code 25, whose W52P and W56P have different handsets behind one `over_the_air.url`. For
/// these the firmware keys go into the MAC file, per device model, as wazo does for all models.
const FIRMWARE_PER_MODEL_CODES: &[u16] = &[25, 103, 130, 175];

/// One model and the code of its common file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelInfo {
    /// Normalised model name, as [`crate::parse_user_agent`] reports it (e.g. `T46U`, `T19P_E2`).
    pub name: &'static str,
    /// The `NNN` of `y000000000NNN.cfg`.
    pub common_code: u16,
    /// A coarse product family, for grouping in the UI.
    pub family: &'static str,
    /// SIP accounts the model has, where a source gives it (wazo-provd-plugins'
    /// `_NB_SIP_ACCOUNTS`); `None` = unknown.
    pub accounts: Option<u8>,
}

const fn m(name: &'static str, common_code: u16, family: &'static str) -> ModelInfo {
    ModelInfo {
        name,
        common_code,
        family,
        accounts: None,
    }
}

/// A model with its account count from wazo-provd-plugins' `_NB_SIP_ACCOUNTS`.
const fn a(name: &'static str, common_code: u16, family: &'static str, accounts: u8) -> ModelInfo {
    ModelInfo {
        name,
        common_code,
        family,
        accounts: Some(accounts),
    }
}

impl ModelInfo {
    /// The parameter dialect of the model's family.
    pub fn dialect(&self) -> Dialect {
        match self.family {
            // CP965 is the one conference phone whose template uses `static.ice.enable`.
            "CP" if self.name == "CP965" => Dialect::Current,
            "T2x" | "T4x" | "T4xS" | "CP" => Dialect::Classic,
            "DECT" if self.common_code == 25 => Dialect::DectV81,
            "DECT" => Dialect::Dect,
            // T3x, T4xU, T5x, T7x, T8x, AX.
            _ => Dialect::Current,
        }
    }

    /// Account numbers up to which unused accounts are switched off: the model's count, or
    /// [`DEFAULT_ACCOUNT_SLOTS`] when unknown.
    pub fn account_slots(&self) -> u8 {
        self.accounts.unwrap_or(DEFAULT_ACCOUNT_SLOTS)
    }

    /// Handset slots of a DECT base that assigns lines per handset (0 for other models): W60B
    /// 8 (FusionPBX's W60B template lists `handset.1`..`handset.8`), the multi-cell systems
    /// none (their templates have no `handset.N.incoming_lines`), otherwise
    /// [`DEFAULT_HANDSET_SLOTS`].
    pub fn handset_slots(&self) -> u8 {
        match (self.dialect().is_dect(), self.name) {
            (true, "W60B") => 8,
            (true, _) if self.multi_cell() => 0,
            (true, _) => DEFAULT_HANDSET_SLOTS,
            _ => 0,
        }
    }

    /// How the MAC file names the SIP server and assigns handsets for this model.
    pub fn account_layout(&self) -> AccountLayout {
        let handset_lines = self.handset_slots();
        match self.name {
            // Both: firmware before 146.87 reads account 1's server, later the template.
            "W70B" => AccountLayout {
                account_server: true,
                server_template: true,
                handset_lines,
            },
            _ if self.multi_cell() => AccountLayout {
                account_server: false,
                server_template: true,
                handset_lines,
            },
            _ => AccountLayout {
                handset_lines,
                ..AccountLayout::DESK
            },
        }
    }

    /// W75, W80 and W90 systems: SIP servers only as templates (wazo's `base-dect.tpl`).
    fn multi_cell(&self) -> bool {
        matches!(self.common_code, 103 | 130 | 175) && self.family == "DECT"
    }

    /// Whether the firmware keys go into the MAC file (per device model) rather than the
    /// common file, because models sharing the common file need different firmware.
    pub fn firmware_in_mac_file(&self) -> bool {
        FIRMWARE_PER_MODEL_CODES.contains(&self.common_code)
    }
}

/// Models whose firmware is V80 or older and does not know the `static.` parameter names we
/// write. They are not in the table: the server refuses them with a clear message rather than
/// serving files they would half ignore (see `docs/yealink-parameters.md`).
/// Each with the newest firmware it runs: T49G's last plugin is wazo's `v80` (its FusionPBX
/// template `t49g/y000000000051.cfg` has no `static.` name), the original T19P/T21P (not E2)
/// stop at V73 like the T2xP (FusionPBX `t19p/`, `t21p/` without `static.`).
static LEGACY_MODELS: &[(&str, &str)] = &[
    ("T19P", "V73"),
    ("T20P", "V73"),
    ("T21P", "V73"),
    ("T22P", "V73"),
    ("T26P", "V73"),
    ("T28P", "V73"),
    ("T32G", "V80"),
    ("T38G", "V80"),
    ("T49G", "V80"),
    ("VP530", "V80"),
    ("VP530P", "V80"),
];

/// Whether `model` is one of the V80-and-older models we do not provision (ignores case and
/// `SIP-`/`VP-` prefixes, like [`model_info`]).
pub fn is_legacy_model(model: &str) -> bool {
    legacy_firmware(model).is_some()
}

/// The newest firmware a legacy model runs (`V73`, `V80`), to name it when refusing.
pub fn legacy_firmware(model: &str) -> Option<&'static str> {
    let wanted = normalize_model(model);
    LEGACY_MODELS
        .iter()
        .find(|(name, _)| *name == wanted)
        .map(|(_, firmware)| *firmware)
}

/// From the table in the reference (B4), which follows FusionPBX's template folders and
/// wazo-provd's `COMMON_FILES`. The code is a product id, not the firmware prefix: T4xS share
/// firmware 66 but use 65-68, and T7x use firmware 185 but 183-197.
///
/// Left out on purpose: T28P, whose code 000 would be `y000000000000.cfg`, a name that clashes
/// with the common boot file and that [`crate::classify_file`] refuses (the T28P predates boot
/// files anyway); T41U, whose code is unconfirmed; the V80-and-older models in
/// [`LEGACY_MODELS`].
static MODELS: &[ModelInfo] = &[
    // T2x (E2 generation)
    a("T19P_E2", 53, "T2x", 1),
    a("T21P_E2", 52, "T2x", 2),
    a("T23P", 44, "T2x", 3),
    a("T23G", 44, "T2x", 3),
    a("T27P", 45, "T2x", 6),
    a("T27G", 69, "T2x", 6),
    a("T29G", 46, "T2x", 16),
    // T3x: wazo lists 123, 124, 127 and 171 all for one firmware; per-model mapping is [?].
    a("T30", 127, "T3x", 1),
    a("T30P", 127, "T3x", 1),
    a("T31", 123, "T3x", 2),
    a("T31P", 123, "T3x", 2),
    a("T31G", 123, "T3x", 2),
    m("T31W", 172, "T3x"),
    a("T33P", 124, "T3x", 4),
    a("T33G", 124, "T3x", 4),
    a("T34W", 171, "T3x", 4),
    // T4x
    a("T40P", 54, "T4x", 3),
    a("T40G", 76, "T4x", 3),
    a("T41P", 36, "T4x", 6),
    a("T42G", 29, "T4x", 12),
    a("T46G", 28, "T4x", 16),
    a("T48G", 35, "T4x", 16),
    a("T41S", 68, "T4xS", 6),
    a("T42S", 67, "T4xS", 12),
    a("T46S", 66, "T4xS", 16),
    a("T48S", 65, "T4xS", 16),
    a("T42U", 116, "T4xU", 12),
    a("T43U", 107, "T4xU", 12),
    a("T44U", 173, "T4xU", 12),
    a("T44W", 174, "T4xU", 12),
    a("T46U", 108, "T4xU", 16),
    a("T48U", 109, "T4xU", 16),
    // T5x
    a("T52S", 74, "T5x", 12),
    a("T53", 95, "T5x", 12),
    a("T53W", 95, "T5x", 12),
    a("T54S", 70, "T5x", 16),
    a("T54W", 96, "T5x", 16),
    a("T56A", 56, "T5x", 16),
    a("T57W", 97, "T5x", 16),
    m("T58A", 58, "T5x"),
    m("T58V", 58, "T5x"),
    a("T58W", 150, "T5x", 16),
    m("VP59", 91, "T5x"),
    // T7x / T8x
    a("T73U", 186, "T7x", 12),
    a("T73W", 183, "T7x", 12),
    a("T74U", 187, "T7x", 16),
    a("T74W", 184, "T7x", 16),
    a("T77U", 188, "T7x", 16),
    a("T85W", 196, "T8x", 16),
    a("T87W", 197, "T8x", 16),
    a("T88V", 192, "T8x", 16),
    a("T88W", 192, "T8x", 16),
    // Conference phones
    a("CP860", 37, "CP", 1),
    a("CP920", 78, "CP", 1),
    m("CP925", 148, "CP"),
    a("CP960", 73, "CP", 1),
    m("CP965", 143, "CP"),
    // DECT bases
    a("W52P", 25, "DECT", 5),
    a("W56P", 25, "DECT", 5),
    a("W60B", 77, "DECT", 8),
    a("W70B", 146, "DECT", 10),
    // A manager (DM) and its base stations share a common file; the accounts are the
    // system's (W75 and W90: wazo's DM count; W80: the 100 handsets of FusionPBX's W80 file).
    a("W75B", 175, "DECT", 20),
    a("W75DM", 175, "DECT", 20),
    a("W80B", 103, "DECT", 100),
    a("W80DM", 103, "DECT", 100),
    a("W90B", 130, "DECT", 250),
    a("W90DM", 130, "DECT", 250),
    // Android desk phones
    a("AX83H", 180, "AX", 4),
    a("AX86R", 182, "AX", 4),
];

/// Every model we know a common-file code for.
pub fn known_models() -> &'static [ModelInfo] {
    MODELS
}

/// Reduces the spellings seen in User-Agents and admin input to the table's names:
/// trims, upper-cases, and drops the `SIP-` / `SIP VP-` / `VP-` prefixes (so `VP-T49G`,
/// `SIP-T49G` and `t49g` are all `T49G`).
pub fn normalize_model(model: &str) -> String {
    let mut upper = model.trim().to_ascii_uppercase();
    for prefix in ["SIP VP-", "SIP-", "VP-"] {
        if let Some(rest) = upper.strip_prefix(prefix) {
            upper = rest.to_string();
            break;
        }
    }
    upper
}

/// DECT sets sold under a package name, and the base station in each that fetches the
/// configuration (Yealink's product names: the package is the base plus a handset, e.g. W73P =
/// W70B + W73H). Administrators enter the name on the box.
static PACKAGES: &[(&str, &str)] = &[
    ("W53P", "W60B"),
    ("W60P", "W60B"),
    ("W73P", "W70B"),
    ("W76P", "W70B"),
    ("W78P", "W70B"),
    ("W79P", "W70B"),
];

/// The base station that provisions a DECT package (`W73P` -> `W70B`), if `model` is one.
pub fn package_base(model: &str) -> Option<&'static str> {
    let wanted = normalize_model(model);
    PACKAGES
        .iter()
        .find(|(package, _)| *package == wanted)
        .map(|(_, base)| *base)
}

/// The table entry for a model, case-insensitively and ignoring `SIP-`/`VP-` prefixes; a
/// DECT package name gives its base station's entry.
pub fn model_info(model: &str) -> Option<&'static ModelInfo> {
    let normalized = normalize_model(model);
    let wanted = package_base(&normalized).unwrap_or(&normalized);
    MODELS.iter().find(|info| info.name == wanted)
}

/// The common-file code for a model (`T46U` -> 108), or `None` when the model is unknown.
pub fn common_file_code(model: &str) -> Option<u16> {
    model_info(model).map(|info| info.common_code)
}

/// The first dotted field of a firmware version (`108.86.0.90` -> 108).
///
/// Use this only when the model is unknown: the field is the firmware family, which equals
/// the common-file code for most models but not all. T41S/T42S/T46S/T48S all run firmware
/// 66.x yet ask for codes 068/067/066/065, and T7x run 185.x yet ask for 183-197. A wrong
/// guess makes the boot file name a common file the phone does not otherwise use; the MAC
/// file still carries the account. Returns `None` for a non-numeric field or 0.
pub fn common_code_from_firmware(firmware: &str) -> Option<u16> {
    let first = firmware.trim().split('.').next()?;
    if first.is_empty() || !first.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    first.parse::<u16>().ok().filter(|&code| code != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalised_and_unique() {
        for (i, info) in MODELS.iter().enumerate() {
            assert_eq!(normalize_model(info.name), info.name);
            assert_ne!(info.common_code, 0, "{}", info.name);
            assert!(
                MODELS[i + 1..].iter().all(|other| other.name != info.name),
                "duplicate {}",
                info.name
            );
        }
    }

    #[test]
    fn lookups_ignore_case_and_prefixes() {
        assert_eq!(common_file_code("t46u"), Some(108));
        assert_eq!(common_file_code("SIP-T46U"), Some(108));
        assert_eq!(common_file_code("SIP-T48G"), Some(35));
        assert_eq!(common_file_code("T99X"), None);
    }

    #[test]
    fn firmware_fallback() {
        assert_eq!(common_code_from_firmware("108.86.0.90"), Some(108));
        assert_eq!(common_code_from_firmware("66.86.0.15"), Some(66));
        assert_eq!(common_code_from_firmware("x.86"), None);
        assert_eq!(common_code_from_firmware("0.1"), None);
        assert_eq!(common_code_from_firmware(""), None);
        assert_eq!(common_code_from_firmware("99999.1"), None);
    }
}
