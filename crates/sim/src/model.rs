//! Model names, firmware and the User-Agent, as the phone presents itself (reference B4).

use crate::{Mac, SimError};

/// A few models with the product code of their common file and a plausible firmware
/// (the first firmware field is the firmware family). Used by the boot storm to give each
/// simulated phone a realistic User-Agent; unknown models fall back to the T46U's values.
const MODELS: &[(&str, u16, &str)] = &[
    ("T46U", 108, "108.86.0.90"),
    ("T43U", 107, "107.86.0.90"),
    ("T48U", 109, "109.86.0.90"),
    ("T54W", 96, "96.86.0.100"),
    ("T53W", 95, "95.86.0.100"),
    ("T57W", 97, "97.86.0.100"),
    ("T33G", 124, "124.86.0.75"),
    ("T31G", 123, "123.86.0.75"),
    ("T34W", 171, "124.86.0.75"),
    ("CP925", 148, "148.86.0.5"),
    ("CP960", 73, "73.83.0.30"),
    ("W70B", 146, "146.85.0.5"),
    ("W60B", 77, "77.85.0.25"),
];

/// Firmware and common-file code for `model` (case-insensitive; T46U's when unknown).
pub fn defaults_for(model: &str) -> (u16, &'static str) {
    MODELS
        .iter()
        .find(|(name, _, _)| name.eq_ignore_ascii_case(model))
        .map_or((108, "108.86.0.90"), |(_, code, fw)| (*code, fw))
}

/// `y000000000NNN.cfg` for a product/firmware code: 12 digits, zero-padded.
pub fn common_file_name(code: u32) -> String {
    format!("y{code:012}.cfg")
}

/// Checks a model name (`T46U`, `CP925`, `W70B`, `VP59` ...).
pub fn validate_model(model: &str) -> Result<String, SimError> {
    let m = model.trim();
    if m.is_empty() || m.len() > 32 || !m.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(SimError::InvalidModel(model.to_owned()));
    }
    Ok(m.to_owned())
}

/// Checks a firmware version (`108.86.0.90`) and returns its first field, the family code.
pub fn firmware_family(firmware: &str) -> Result<u32, SimError> {
    let invalid = || SimError::InvalidFirmware(firmware.to_owned());
    let fields: Vec<&str> = firmware.split('.').collect();
    if fields.len() < 2
        || fields
            .iter()
            .any(|f| f.is_empty() || f.len() > 6 || !f.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(invalid());
    }
    fields[0].parse().map_err(|_| invalid())
}

/// `Yealink SIP-T46U 108.86.0.90 80:5e:c0:aa:bb:cc`. Conference (CP) and DECT base (W)
/// models omit `SIP-`, as in `Yealink W70B 146.85.0.5 80:5e:0c:1d:65:4e`.
pub fn user_agent(model: &str, firmware: &str, mac: &Mac) -> String {
    let upper = model.to_ascii_uppercase();
    let bare = upper.starts_with("CP")
        || (upper.starts_with('W') && upper[1..].starts_with(|c: char| c.is_ascii_digit()));
    let prefix = if bare { "" } else { "SIP-" };
    format!("Yealink {prefix}{model} {firmware} {}", mac.colons())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac() -> Mac {
        Mac::parse("805EC0AABBCC").unwrap()
    }

    #[test]
    fn user_agent_formats() {
        assert_eq!(
            user_agent("T46U", "108.86.0.90", &mac()),
            "Yealink SIP-T46U 108.86.0.90 80:5e:c0:aa:bb:cc"
        );
        assert_eq!(
            user_agent("W70B", "146.85.0.5", &mac()),
            "Yealink W70B 146.85.0.5 80:5e:c0:aa:bb:cc"
        );
        assert_eq!(
            user_agent("CP925", "148.86.0.5", &mac()),
            "Yealink CP925 148.86.0.5 80:5e:c0:aa:bb:cc"
        );
        assert_eq!(
            user_agent("T54W", "96.86.0.100", &mac()),
            "Yealink SIP-T54W 96.86.0.100 80:5e:c0:aa:bb:cc"
        );
    }

    #[test]
    fn firmware_and_common_file() {
        assert_eq!(firmware_family("108.86.0.90").unwrap(), 108);
        assert_eq!(common_file_name(108), "y000000000108.cfg");
        assert_eq!(common_file_name(96), "y000000000096.cfg");
        for bad in ["", "108", "108..0", "a.86.0.1", "108.86.0.90 ", "-1.2"] {
            assert!(firmware_family(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn models() {
        assert_eq!(validate_model(" T46U ").unwrap(), "T46U");
        assert!(validate_model("").is_err());
        assert!(validate_model("T46U x").is_err());
        assert_eq!(defaults_for("t54w"), (96, "96.86.0.100"));
        assert_eq!(defaults_for("XYZ"), (108, "108.86.0.90"));
    }
}
