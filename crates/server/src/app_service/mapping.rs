//! innovaphone device configuration → the Yealink side of a device (docs/innovaphone.md has the
//! table). The app's settings stay the defaults; what Devices sends overrides them per phone.

use std::collections::BTreeMap;

use serde_json::Value;

use prov_core::settings::{MediaOverride, SettingsOverride, is_host_name};

/// The per-device overrides Devices' items imply, and notes on what could not be mapped.
pub fn pbx_overrides(items: &BTreeMap<String, Value>) -> (SettingsOverride, Vec<String>) {
    let mut out = SettingsOverride::default();
    let mut notes = Vec::new();
    let mut media = MediaOverride::default();

    if let Some(ntp) = items.get("NTP") {
        let servers: Vec<String> = ["ntp1", "ntp2"]
            .iter()
            .filter_map(|k| text(ntp, k))
            .filter(|s| {
                let ok = is_host_name(s);
                if !ok {
                    notes.push(format!("NTP server {s:?} is not a host name; ignored"));
                }
                ok
            })
            .map(str::to_owned)
            .collect();
        if !servers.is_empty() {
            out.ntp_servers = Some(servers);
        }
        if let Some(tz) = text(ntp, "tz") {
            match yealink::iana_zone_for_posix(tz) {
                Ok(zone) => out.time_zone = Some(zone),
                Err(e) => notes.push(format!(
                    "time zone {tz:?}: {e}; the settings' time zone is used"
                )),
            }
        }
    }

    if let Some(phone) = items.get("PHONE") {
        if let Some(coder) = text(phone, "coder") {
            match yealink_codec(coder) {
                Some(first) => {
                    let exclusive = flag(phone, "exclusive");
                    media.codecs.push(first.to_owned());
                    if !exclusive {
                        // The rest in a sensible order, so the phone's defaults do not outrank
                        // the preferred codec.
                        for other in ["g722", "opus", "pcma", "pcmu"] {
                            if other != first {
                                media.codecs.push(other.to_owned());
                            }
                        }
                    }
                    media.exclusive = exclusive;
                }
                None => notes.push(format!("codec {coder:?} is unknown to Yealink phones")),
            }
        }
        match phone.get("srtpKey").and_then(Value::as_i64) {
            // 4 = no SRTP at all.
            Some(4) => media.srtp = Some(false),
            Some(3) => notes.push(
                "SRTP key exchange DTLS only: Yealink phones use SDES; SDES is offered with TLS"
                    .to_owned(),
            ),
            _ => {}
        }
    }

    if let Some(m) = items.get("MEDIA") {
        if let Some(stun) = text(m, "stunServer") {
            if is_host_name(stun) {
                media.stun = Some(stun.to_owned());
            } else {
                notes.push(format!("STUN server {stun:?} is not a host name; ignored"));
            }
        }
        if text(m, "turnServer").is_some() {
            notes.push(
                "TURN server: not set on the phone (no documented Yealink TURN parameters)"
                    .to_owned(),
            );
        }
    }

    if let Some(tls) = items.get("TLS_PROFILE")
        && matches!(text(tls, "profile"), Some("secure" | "strict"))
    {
        media.tls12_minimum = true;
    }

    if items.contains_key("ALARM_SERVER") {
        notes
            .push("alarm server: kept, Yealink phones have no innovaphone alarm client".to_owned());
    }

    if media != MediaOverride::default() {
        out.media = Some(media);
    }
    (out, notes)
}

fn text<'a>(item: &'a Value, key: &str) -> Option<&'a str> {
    item.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn flag(item: &Value, key: &str) -> bool {
    match item.get(key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_i64().is_some_and(|n| n != 0),
        Some(Value::String(s)) => matches!(s.as_str(), "true" | "1" | "on"),
        _ => false,
    }
}

/// innovaphone coder names (PHONE.coder) → Yealink codec names.
fn yealink_codec(coder: &str) -> Option<&'static str> {
    Some(match coder.to_ascii_uppercase().as_str() {
        "G711A" => "pcma",
        "G711U" => "pcmu",
        "G722" => "g722",
        "OPUS-NB" | "OPUS-WB" | "OPUS" => "opus",
        "G729" | "G729A" => "g729",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn items(list: &[Value]) -> BTreeMap<String, Value> {
        list.iter()
            .map(|i| (i["type"].as_str().unwrap().to_owned(), i.clone()))
            .collect()
    }

    #[test]
    fn maps_every_item_type() {
        let (o, notes) = pbx_overrides(&items(&[
            json!({"type":"PHONE","coder":"G722","exclusive":true,"srtpKey":2}),
            json!({"type":"MEDIA","stunServer":"stun.example.com:3478","turnServer":"turn.example.com"}),
            json!({"type":"NTP","ntp1":"ntp1.example.com","ntp2":"ntp2.example.com","tz":"CET-1CEST-2,M3.5.0/2,M10.5.0/3"}),
            json!({"type":"TLS_PROFILE","profile":"strict"}),
            json!({"type":"ALARM_SERVER","url":"http://alarm"}),
        ]));
        assert_eq!(
            o.ntp_servers,
            Some(vec!["ntp1.example.com".into(), "ntp2.example.com".into()])
        );
        assert_eq!(o.time_zone.as_deref(), Some("Europe/Berlin"));
        let m = o.media.unwrap();
        assert_eq!(m.codecs, vec!["g722"]);
        assert!(m.exclusive);
        assert_eq!(m.srtp, None);
        assert_eq!(m.stun.as_deref(), Some("stun.example.com:3478"));
        assert!(m.tls12_minimum);
        assert_eq!(notes.len(), 2, "{notes:?}");
    }

    #[test]
    fn preferred_codec_leads_a_full_list_and_srtp_none_turns_it_off() {
        let (o, _) = pbx_overrides(&items(&[
            json!({"type":"PHONE","coder":"G711A","srtpKey":4}),
        ]));
        let m = o.media.unwrap();
        assert_eq!(m.codecs, vec!["pcma", "g722", "opus", "pcmu"]);
        assert!(!m.exclusive);
        assert_eq!(m.srtp, Some(false));
    }

    #[test]
    fn bad_values_become_notes_not_settings() {
        let (o, notes) = pbx_overrides(&items(&[
            json!({"type":"NTP","ntp1":"bad host!","tz":"not a tz"}),
            json!({"type":"PHONE","coder":"G723"}),
        ]));
        assert_eq!(o, SettingsOverride::default());
        assert_eq!(notes.len(), 3, "{notes:?}");
    }
}
