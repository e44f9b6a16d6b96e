//! Reading model, firmware and MAC out of a Yealink phone's HTTP User-Agent.
//!
//! The User-Agent identifies a phone; it proves nothing (anyone can send it).

use crate::mac::Mac;
use crate::model::{model_info, normalize_model};

/// What a Yealink User-Agent says about the phone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserAgent {
    /// Normalised model: upper-case, without the `SIP-`, `SIP VP-` or `VP-` prefix
    /// (`Yealink SIP VP-T49G ...` gives `T49G`), suffixes such as `_E2` kept.
    pub model: String,
    /// Firmware version as sent, e.g. `108.86.0.90`.
    pub firmware: String,
    /// The MAC, when the User-Agent carries one (old firmware and some DECT bases do not).
    pub mac: Option<Mac>,
}

/// Parses the User-Agent forms Yealink phones send (reference B4):
///
/// * `Yealink SIP-T46U 108.86.0.90 80:5e:c0:aa:bb:cc` (also `yealink`, double spaces)
/// * `Yealink SIP VP-T49G 51.80.0.10 00:15:65:9b:5a:44`
/// * `Yealink CP960 73.83.0.30 ...`, `Yealink W90DM 130.87.0.10` (no `SIP-`, maybe no MAC)
/// * `Yealink SIP-T56A 58.80.0.25 001565f429a4` (MAC without colons)
/// * `Yealink-T46G 28.71.0.81 28.1.0.128.0.0.0` (old, the third field is not a MAC)
/// * `W52P 25.30.0.2 00:15:65:44:b3:7c`, `VP530P 23.70.0.40 ...` (no `Yealink` word)
///
/// Returns `None` when the string is not a Yealink User-Agent. Without the `Yealink` word a
/// string is accepted only when its model is in [`crate::known_models`] or its MAC has a
/// Yealink OUI, so other vendors' `<word> <version>` agents are not mistaken for phones.
pub fn parse_user_agent(s: &str) -> Option<UserAgent> {
    let mut tokens = s.split_whitespace();
    let first = tokens.next()?;
    let (model_token, says_yealink) = if first.eq_ignore_ascii_case("yealink") {
        let next = tokens.next()?;
        // "Yealink SIP VP-T49G": the prefix is split from the model by a space.
        if next.eq_ignore_ascii_case("sip") {
            (tokens.next()?, true)
        } else {
            (next, true)
        }
    } else if let Some(model) = strip_prefix_ignore_case(first, "yealink-") {
        (model, true)
    } else {
        (first, false)
    };

    let model = normalize_model(model_token);
    if !is_model_name(&model) {
        return None;
    }
    let firmware = tokens.next()?;
    if !is_firmware_version(firmware) {
        return None;
    }
    // The old format puts a hardware version where the MAC would be; that is simply no MAC.
    let mac = tokens.next().and_then(|token| Mac::parse(token).ok());

    if !says_yealink && model_info(&model).is_none() && !mac.is_some_and(|m| m.is_yealink_oui()) {
        return None;
    }
    Some(UserAgent {
        model,
        firmware: firmware.to_string(),
        mac,
    })
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

fn is_model_name(model: &str) -> bool {
    !model.is_empty()
        && model.len() <= 32
        && model
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Dotted decimal with at least two fields: `28.83.0.120`.
fn is_firmware_version(s: &str) -> bool {
    let mut fields = 0;
    for field in s.split('.') {
        if field.is_empty() || !field.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
        fields += 1;
    }
    fields >= 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_other_agents() {
        for s in [
            "",
            "Mozilla/5.0 (X11; Linux x86_64)",
            "curl/8.5.0",
            "Yealink",
            "Yealink SIP-T46U",
            "Yealink SIP-T46U abc",
            "Foo 1.2.3 08:00:27:0a:0b:0c",
        ] {
            assert_eq!(parse_user_agent(s), None, "{s:?}");
        }
    }

    #[test]
    fn accepts_unknown_model_with_vendor_word() {
        let ua = parse_user_agent("Yealink SIP-T99X 200.1.0.1 80:5e:c0:aa:bb:cc").unwrap();
        assert_eq!(ua.model, "T99X");
    }
}
