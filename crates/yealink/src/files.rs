//! Which provisioning file a phone asked for, from the file name it requested.

use crate::mac::Mac;

/// A file a Yealink phone fetches (or uploads) during auto-provisioning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhoneFile {
    /// `<mac>.boot`: the per-device boot file, asked for first.
    MacBoot(Mac),
    /// `y000000000000.boot`: the common boot file, asked for when `<mac>.boot` is missing.
    CommonBoot,
    /// `y000000000NNN.cfg`: the per-model common file (never code 0, see [`classify_file`]).
    Common(u16),
    /// `<mac>.cfg`: the device's own file.
    MacCfg(Mac),
    /// `<mac>-local.cfg`: the phone's local (UI-made) settings, downloaded and uploaded.
    MacLocalCfg(Mac),
}

const COMMON_BOOT: &str = "y000000000000.boot";

impl PhoneFile {
    /// The canonical file name (MACs as 12 lower-case hex digits).
    pub fn file_name(&self) -> String {
        match self {
            PhoneFile::MacBoot(mac) => format!("{mac}.boot"),
            PhoneFile::CommonBoot => COMMON_BOOT.to_string(),
            PhoneFile::Common(code) => format!("y{code:012}.cfg"),
            PhoneFile::MacCfg(mac) => format!("{mac}.cfg"),
            PhoneFile::MacLocalCfg(mac) => format!("{mac}-local.cfg"),
        }
    }

    /// The device the file belongs to, if it is a per-device file.
    pub fn mac(&self) -> Option<Mac> {
        match self {
            PhoneFile::MacBoot(mac) | PhoneFile::MacCfg(mac) | PhoneFile::MacLocalCfg(mac) => {
                Some(*mac)
            }
            PhoneFile::CommonBoot | PhoneFile::Common(_) => None,
        }
    }

    /// A short stable label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            PhoneFile::MacBoot(_) => "mac_boot",
            PhoneFile::CommonBoot => "common_boot",
            PhoneFile::Common(_) => "common",
            PhoneFile::MacCfg(_) => "mac_cfg",
            PhoneFile::MacLocalCfg(_) => "local_cfg",
        }
    }
}

/// Classifies a requested file name (the last path segment; anything before a `/` is
/// ignored). MACs may be upper- or lower-case hex without separators; the fixed parts
/// (`y`, `.boot`, `.cfg`, `-local`) must be lower-case, as phones send them. Anything else,
/// including `y000000000000.cfg` (code 0, which would collide with the boot file's name) and
/// codes above 65535, is `None`.
pub fn classify_file(name: &str) -> Option<PhoneFile> {
    let name = name.rsplit('/').next().unwrap_or(name);
    if name == COMMON_BOOT {
        return Some(PhoneFile::CommonBoot);
    }
    if let Some(stem) = name.strip_suffix(".boot") {
        return bare_mac(stem).map(PhoneFile::MacBoot);
    }
    let stem = name.strip_suffix(".cfg")?;
    if let Some(mac_part) = stem.strip_suffix("-local") {
        return bare_mac(mac_part).map(PhoneFile::MacLocalCfg);
    }
    if let Some(digits) = stem.strip_prefix('y')
        && digits.len() == 12
        && digits.bytes().all(|b| b.is_ascii_digit())
    {
        return digits
            .parse::<u16>()
            .ok()
            .filter(|&code| code != 0)
            .map(PhoneFile::Common);
    }
    bare_mac(stem).map(PhoneFile::MacCfg)
}

/// Exactly 12 hex digits, no separators.
fn bare_mac(s: &str) -> Option<Mac> {
    if s.len() == 12 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        Mac::parse(s).ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_file_name() {
        let mac = Mac::parse("805ec0112233").unwrap();
        for file in [
            PhoneFile::MacBoot(mac),
            PhoneFile::CommonBoot,
            PhoneFile::Common(108),
            PhoneFile::Common(65535),
            PhoneFile::MacCfg(mac),
            PhoneFile::MacLocalCfg(mac),
        ] {
            assert_eq!(classify_file(&file.file_name()), Some(file));
        }
    }

    #[test]
    fn accepts_upper_case_macs_and_paths() {
        let mac = Mac::parse("805ec0112233").unwrap();
        assert_eq!(
            classify_file("805EC0112233-local.cfg"),
            Some(PhoneFile::MacLocalCfg(mac))
        );
        assert_eq!(
            classify_file("/prov/abc/805ec0112233.boot"),
            Some(PhoneFile::MacBoot(mac))
        );
    }

    #[test]
    fn rejects_everything_else() {
        for name in [
            "",
            "y000000000000.cfg",
            "y000000065536.cfg",
            "y00000000108.cfg",
            "y000000000108.boot",
            "Y000000000108.cfg",
            "805ec0112233.CFG",
            "805ec011223.cfg",
            "80:5e:c0:11:22:33.cfg",
            "805ec0112233-LOCAL.cfg",
            "805ec0112233.xml",
            "805ec0112233-contact.xml",
            "x805ec0112233.cfg",
            "../805ec0112233.cfg/",
        ] {
            assert_eq!(classify_file(name), None, "{name:?}");
        }
    }
}
