//! Phone models and the code in their per-model common file name `y000000000NNN.cfg`.

/// One model and the code of its common file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelInfo {
    /// Normalised model name, as [`crate::parse_user_agent`] reports it (e.g. `T46U`, `T19P_E2`).
    pub name: &'static str,
    /// The `NNN` of `y000000000NNN.cfg`.
    pub common_code: u16,
    /// A coarse product family, for grouping in the UI.
    pub family: &'static str,
}

const fn m(name: &'static str, common_code: u16, family: &'static str) -> ModelInfo {
    ModelInfo {
        name,
        common_code,
        family,
    }
}

/// From the table in the reference (B4), which follows FusionPBX's template folders and
/// wazo-provd's `COMMON_FILES`. The code is a product id, not the firmware prefix: T4xS share
/// firmware 66 but use 65-68, and T7x use firmware 185 but 183-197.
///
/// Left out on purpose: T28P, whose code 000 would be `y000000000000.cfg`, a name that clashes
/// with the common boot file and that [`crate::classify_file`] refuses (the T28P predates boot
/// files anyway); T41U and W75, whose codes are unconfirmed.
static MODELS: &[ModelInfo] = &[
    // T2x (E2 generation)
    m("T19P_E2", 53, "T2x"),
    m("T21P_E2", 52, "T2x"),
    m("T23P", 44, "T2x"),
    m("T23G", 44, "T2x"),
    m("T27P", 45, "T2x"),
    m("T27G", 69, "T2x"),
    m("T29G", 46, "T2x"),
    // T3x: wazo lists 123, 124, 127 and 171 all for one firmware; per-model mapping is [?].
    m("T30", 127, "T3x"),
    m("T30P", 127, "T3x"),
    m("T31", 123, "T3x"),
    m("T31P", 123, "T3x"),
    m("T31G", 123, "T3x"),
    m("T31W", 172, "T3x"),
    m("T33P", 124, "T3x"),
    m("T33G", 124, "T3x"),
    m("T34W", 171, "T3x"),
    // T4x
    m("T40P", 54, "T4x"),
    m("T40G", 76, "T4x"),
    m("T41P", 36, "T4x"),
    m("T42G", 29, "T4x"),
    m("T46G", 28, "T4x"),
    m("T48G", 35, "T4x"),
    m("T49G", 51, "T4x"),
    m("T41S", 68, "T4xS"),
    m("T42S", 67, "T4xS"),
    m("T46S", 66, "T4xS"),
    m("T48S", 65, "T4xS"),
    m("T42U", 116, "T4xU"),
    m("T43U", 107, "T4xU"),
    m("T44U", 173, "T4xU"),
    m("T44W", 174, "T4xU"),
    m("T46U", 108, "T4xU"),
    m("T48U", 109, "T4xU"),
    // T5x
    m("T52S", 74, "T5x"),
    m("T53", 95, "T5x"),
    m("T53W", 95, "T5x"),
    m("T54S", 70, "T5x"),
    m("T54W", 96, "T5x"),
    m("T56A", 56, "T5x"),
    m("T57W", 97, "T5x"),
    m("T58A", 58, "T5x"),
    m("T58V", 58, "T5x"),
    m("T58W", 150, "T5x"),
    m("VP59", 91, "T5x"),
    // T7x / T8x
    m("T73U", 186, "T7x"),
    m("T73W", 183, "T7x"),
    m("T74U", 187, "T7x"),
    m("T74W", 184, "T7x"),
    m("T77U", 188, "T7x"),
    m("T85W", 196, "T8x"),
    m("T87W", 197, "T8x"),
    m("T88V", 192, "T8x"),
    m("T88W", 192, "T8x"),
    // Conference phones
    m("CP860", 37, "CP"),
    m("CP920", 78, "CP"),
    m("CP925", 148, "CP"),
    m("CP960", 73, "CP"),
    m("CP965", 143, "CP"),
    // DECT bases
    m("W52P", 25, "DECT"),
    m("W56P", 25, "DECT"),
    m("W60B", 77, "DECT"),
    m("W70B", 146, "DECT"),
    m("W80B", 103, "DECT"),
    m("W90B", 130, "DECT"),
    m("W90DM", 130, "DECT"),
    // Android desk phones
    m("AX83H", 180, "AX"),
    m("AX86R", 182, "AX"),
    // Legacy (pre-V81 firmware: no boot files, legacy common + MAC file only)
    m("T20P", 7, "legacy"),
    m("T22P", 5, "legacy"),
    m("T26P", 4, "legacy"),
    m("T32G", 32, "legacy"),
    m("T38G", 38, "legacy"),
    m("VP530", 23, "legacy"),
    m("VP530P", 23, "legacy"),
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

/// The table entry for a model, case-insensitively and ignoring `SIP-`/`VP-` prefixes.
pub fn model_info(model: &str) -> Option<&'static ModelInfo> {
    let wanted = normalize_model(model);
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
        assert_eq!(common_file_code("VP-T49G"), Some(51));
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
