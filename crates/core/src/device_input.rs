//! What an administrator types for a device (CLI flags, API JSON, CSV row), checked field by field.

use serde::{Deserialize, Serialize};
use yealink::Mac;

use crate::settings::{FieldError, SettingsOverride, is_host_name, validate_override};

/// A device as entered, before validation.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceInput {
    pub mac: String,
    pub sip_user: String,
    pub sip_password: String,
    pub registrar: String,
    #[serde(default)]
    pub auth_name: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub overrides: SettingsOverride,
}

/// Changes to an existing device; absent fields stay as they are.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevicePatch {
    pub sip_user: Option<String>,
    pub sip_password: Option<String>,
    pub registrar: Option<String>,
    pub auth_name: Option<String>,
    pub display_name: Option<String>,
    pub name: Option<String>,
    pub model: Option<String>,
    pub overrides: Option<SettingsOverride>,
    /// New per-phone HTTP password and URL token (the phone then needs the new URL, e.g. via RPS).
    #[serde(default)]
    pub rotate_credentials: bool,
}

/// A device that passed every check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ValidDevice {
    pub mac: Mac,
    pub sip_user: String,
    pub sip_password: String,
    pub registrar: String,
    pub auth_name: Option<String>,
    pub display_name: Option<String>,
    pub name: String,
    pub model: Option<String>,
    pub overrides: SettingsOverride,
}

fn err(field: &'static str, message: impl Into<String>) -> FieldError {
    FieldError {
        field,
        message: message.into(),
    }
}

/// A value that goes into a .cfg line: no control characters, no surrounding blanks.
pub fn check_cfg_value(field: &'static str, value: &str, required: bool) -> Result<(), FieldError> {
    if required && value.is_empty() {
        return Err(err(field, "is required"));
    }
    if value.chars().any(char::is_control) {
        return Err(err(
            field,
            "must not contain control characters or line breaks",
        ));
    }
    if value.trim() != value {
        return Err(err(field, "must not start or end with spaces"));
    }
    if value.chars().count() > 128 {
        return Err(err(field, "is longer than 128 characters"));
    }
    Ok(())
}

fn optional(field: &'static str, value: Option<String>) -> Result<Option<String>, FieldError> {
    match value.map(|v| v.trim().to_owned()) {
        Some(v) if v.is_empty() => Ok(None),
        Some(v) => {
            check_cfg_value(field, &v, false)?;
            Ok(Some(v))
        }
        None => Ok(None),
    }
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`: returns the host and the port.
pub fn split_registrar(registrar: &str) -> Result<(String, Option<u16>), FieldError> {
    let bad = || {
        err(
            "registrar",
            format!("{registrar:?} is not HOST or HOST:PORT"),
        )
    };
    let (host, port) = if let Some(rest) = registrar.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        match after.strip_prefix(':') {
            Some(port) => (host, Some(port)),
            None if after.is_empty() => (host, None),
            None => return Err(bad()),
        }
    } else {
        match registrar.rsplit_once(':') {
            Some((host, port)) if !host.contains(':') => (host, Some(port)),
            _ => (registrar, None),
        }
    };
    if !is_host_name(host) {
        return Err(bad());
    }
    let port = match port {
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| err("registrar", format!("port {p:?} is not 1 to 65535")))?,
        ),
        None => None,
    };
    Ok((host.to_owned(), port))
}

/// A warning, not a refusal, for a MAC outside [`yealink::YEALINK_OUIS`]: Yealink registers
/// new blocks, so the list is a hint (a typo in the first six digits is the usual cause).
pub fn oui_warning(mac: Mac) -> Option<String> {
    (!mac.is_yealink_oui()).then(|| {
        format!(
            "{} is not in Yealink's known address blocks (OUI {}); added anyway: check the \
             MAC on the phone's label",
            mac.colon_separated(),
            mac.oui()
        )
    })
}

fn check_model(model: Option<String>) -> Result<Option<String>, FieldError> {
    let Some(model) = optional("model", model)? else {
        return Ok(None);
    };
    let upper = model.to_ascii_uppercase();
    if let Some(firmware) = yealink::legacy_firmware(&upper) {
        return Err(err(
            "model",
            format!(
                "{model:?} runs Yealink firmware {firmware} at most, which does not know the static.* parameter names yealink-prov writes; this model is not supported"
            ),
        ));
    }
    if yealink::common_file_code(&upper).is_none() {
        return Err(err(
            "model",
            format!(
                "unknown Yealink model {model:?}; leave it empty to learn it from the phone's User-Agent"
            ),
        ));
    }
    Ok(Some(upper))
}

impl DeviceInput {
    pub fn validate(self) -> Result<ValidDevice, FieldError> {
        let mac = Mac::parse(&self.mac).map_err(|e| err("mac", e.to_string()))?;
        let sip_user = self.sip_user.trim().to_owned();
        check_cfg_value("sip_user", &sip_user, true)?;
        check_cfg_value("sip_password", &self.sip_password, true)?;
        let registrar = self.registrar.trim().to_owned();
        split_registrar(&registrar)?;
        validate_override(&self.overrides)?;
        let name = optional("name", self.name)?.unwrap_or_else(|| sip_user.clone());
        Ok(ValidDevice {
            mac,
            sip_user,
            sip_password: self.sip_password,
            registrar,
            auth_name: optional("auth_name", self.auth_name)?,
            display_name: optional("display_name", self.display_name)?,
            name,
            model: check_model(self.model)?,
            overrides: self.overrides,
        })
    }
}

impl DevicePatch {
    /// Applies the patch to a validated copy of the device.
    pub fn apply(self, mut d: ValidDevice) -> Result<ValidDevice, FieldError> {
        if let Some(v) = self.sip_user {
            let v = v.trim().to_owned();
            check_cfg_value("sip_user", &v, true)?;
            d.sip_user = v;
        }
        if let Some(v) = self.sip_password {
            check_cfg_value("sip_password", &v, true)?;
            d.sip_password = v;
        }
        if let Some(v) = self.registrar {
            let v = v.trim().to_owned();
            split_registrar(&v)?;
            d.registrar = v;
        }
        if self.auth_name.is_some() {
            d.auth_name = optional("auth_name", self.auth_name)?;
        }
        if self.display_name.is_some() {
            d.display_name = optional("display_name", self.display_name)?;
        }
        if let Some(v) = optional("name", self.name)? {
            d.name = v;
        }
        if self.model.is_some() {
            d.model = check_model(self.model)?;
        }
        if let Some(o) = self.overrides {
            validate_override(&o)?;
            d.overrides = o;
        }
        Ok(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registrar_forms() {
        assert_eq!(
            split_registrar("pbx.example.com").ok(),
            Some(("pbx.example.com".into(), None))
        );
        assert_eq!(
            split_registrar("10.0.0.1:5070").ok(),
            Some(("10.0.0.1".into(), Some(5070)))
        );
        assert_eq!(
            split_registrar("[2001:db8::1]:5061").ok(),
            Some(("2001:db8::1".into(), Some(5061)))
        );
        assert_eq!(
            split_registrar("2001:db8::1").ok(),
            Some(("2001:db8::1".into(), None))
        );
        assert!(split_registrar("pbx:99999").is_err());
        assert!(split_registrar("pbx:0").is_err());
        assert!(split_registrar("bad host").is_err());
        assert!(split_registrar("").is_err());
    }

    #[test]
    fn input_errors_name_the_field() {
        let input = DeviceInput {
            mac: "00:15:65:zz:bb:cc".into(),
            sip_user: "100".into(),
            sip_password: "pw".into(),
            registrar: "pbx".into(),
            ..DeviceInput::default()
        };
        let e = input.clone().validate().expect_err("bad mac");
        assert_eq!(e.field, "mac");
        let e = DeviceInput {
            mac: "001565aabbcc".into(),
            sip_password: "line\nbreak".into(),
            ..input
        }
        .validate()
        .expect_err("bad password");
        assert_eq!(e.field, "sip_password");
    }
}
