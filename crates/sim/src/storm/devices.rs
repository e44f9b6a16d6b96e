//! The phones of a storm, read from `yealink-prov device list --json --reveal`.

use std::path::Path;

use serde::Deserialize;
use url::Url;

use super::StormError;
use crate::{Mac, model};

/// One device as the server lists it (unknown fields are ignored).
#[derive(Debug, Clone, Deserialize)]
pub struct DeviceRecord {
    /// 12 hex digits (any notation [`Mac::parse`] accepts).
    pub mac: String,
    /// `T46U` etc.; `null` means T46U.
    #[serde(default)]
    pub model: Option<String>,
    /// `http://127.0.0.1:8080/prov/<token>/`.
    pub provisioning_url: String,
    /// Digest username (the MAC per the contract); only used with `--digest`.
    #[serde(default)]
    pub http_username: Option<String>,
    /// Digest password; only used with `--digest`.
    #[serde(default)]
    pub http_password: Option<String>,
}

/// A phone ready to storm: everything computed once, before the clock starts.
#[derive(Debug, Clone)]
pub(crate) struct PlannedPhone {
    pub mac: String,
    pub user_agent: String,
    /// The directory URL the phone fetches from (ends with `/`).
    pub base: Url,
    /// `y000000000NNN.cfg` for the model, used when the boot file is not parsed.
    pub common_fallback: String,
    pub credentials: Option<(String, String)>,
}

/// Reads the JSON array.
pub fn load(path: &Path) -> Result<Vec<DeviceRecord>, StormError> {
    let text = std::fs::read_to_string(path).map_err(|source| StormError::Io {
        path: path.display().to_string(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| StormError::Phones(e.to_string()))
}

/// Validates every record and computes URLs, User-Agents and fallbacks.
pub(crate) fn plan(
    records: &[DeviceRecord],
    base_url_override: Option<&Url>,
    digest: bool,
) -> Result<Vec<PlannedPhone>, StormError> {
    let mut seen = std::collections::HashSet::new();
    records
        .iter()
        .enumerate()
        .map(|(i, record)| {
            let bad = |what: String| StormError::Phones(format!("phone #{i}: {what}"));
            let mac = Mac::parse(&record.mac).map_err(|e| bad(e.to_string()))?;
            if !seen.insert(mac) {
                return Err(bad(format!("duplicate MAC {mac}")));
            }
            let model_name = record.model.as_deref().unwrap_or("T46U");
            let model_name = model::validate_model(model_name).map_err(|e| bad(e.to_string()))?;
            let (code, firmware) = model::defaults_for(&model_name);
            let mut base = Url::parse(&record.provisioning_url)
                .map_err(|e| bad(format!("provisioning_url: {e}")))?;
            if !base.path().ends_with('/') {
                let path = format!("{}/", base.path());
                base.set_path(&path);
            }
            if let Some(target) = base_url_override {
                rebase(&mut base, target).map_err(bad)?;
            }
            let credentials = if digest {
                // The shared URL is the token URL's parent (`/prov/<token>/` -> `/prov/`).
                base = base
                    .join("..")
                    .map_err(|e| bad(format!("shared URL: {e}")))?;
                let user = record.http_username.clone().unwrap_or_else(|| mac.plain());
                let password = record
                    .http_password
                    .clone()
                    .ok_or_else(|| bad("--digest needs http_password".to_owned()))?;
                Some((user, password))
            } else {
                None
            };
            Ok(PlannedPhone {
                mac: mac.plain(),
                user_agent: model::user_agent(&model_name, firmware, &mac),
                base,
                common_fallback: model::common_file_name(u32::from(code)),
                credentials,
            })
        })
        .collect()
}

/// Replaces scheme, host and port of `url` by those of `target`, keeping the path.
fn rebase(url: &mut Url, target: &Url) -> Result<(), String> {
    let mut rebased = target.clone();
    rebased.set_path(url.path());
    rebased.set_query(url.query());
    if rebased.host().is_none() {
        return Err(format!("--base-url-override {target} has no host"));
    }
    *url = rebased;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(mac: &str, model: Option<&str>) -> DeviceRecord {
        DeviceRecord {
            mac: mac.into(),
            model: model.map(Into::into),
            provisioning_url: "http://127.0.0.1:8080/prov/AbC123/".into(),
            http_username: Some(mac.to_lowercase()),
            http_password: Some("pw".into()),
        }
    }

    #[test]
    fn parses_server_json_with_extra_and_null_fields() {
        let json = r#"[{"mac":"805ec0112233","model":null,"provisioning_url":"http://127.0.0.1:8080/prov/t/","http_username":"805ec0112233","http_password":"x","sip_user":"100","id":7}]"#;
        let records: Vec<DeviceRecord> = serde_json::from_str(json).unwrap();
        let planned = plan(&records, None, false).unwrap();
        assert_eq!(
            planned[0].user_agent,
            "Yealink SIP-T46U 108.86.0.90 80:5e:c0:11:22:33"
        );
        assert_eq!(planned[0].common_fallback, "y000000000108.cfg");
        assert!(planned[0].credentials.is_none());
    }

    #[test]
    fn override_keeps_path_and_digest_uses_shared_url() {
        let target = Url::parse("http://127.0.0.1:9090").unwrap();
        let planned = plan(&[record("805EC0112233", Some("W70B"))], Some(&target), true).unwrap();
        assert_eq!(planned[0].base.as_str(), "http://127.0.0.1:9090/prov/");
        assert_eq!(
            planned[0].credentials,
            Some(("805ec0112233".into(), "pw".into()))
        );
        assert_eq!(planned[0].common_fallback, "y000000000146.cfg");
        let planned = plan(&[record("805ec0112233", None)], Some(&target), false).unwrap();
        assert_eq!(
            planned[0].base.as_str(),
            "http://127.0.0.1:9090/prov/AbC123/"
        );
    }

    #[test]
    fn rejects_duplicates_and_bad_macs() {
        let dup = [
            record("805ec0112233", None),
            record("80:5e:c0:11:22:33", None),
        ];
        assert!(plan(&dup, None, false).is_err());
        assert!(plan(&[record("xyz", None)], None, false).is_err());
    }
}
