//! `yealink-prov pbx app-object`: the App object an administrator creates on the PBX when there
//! is no PBX Manager plugin (docs/innovaphone.md walks through it).

use serde_json::json;

/// What to create, for a person, with the equivalent PbxAdminApi `UpdateObject` for scripts.
pub struct AppObject {
    /// Long name, shown in Profile (`cn`).
    pub name: String,
    /// SIP name (`h323`); other App objects grant access by it.
    pub sip: String,
    /// The App object URL: our base URL plus the configured path.
    pub url: String,
    /// `None`: generated earlier and not shown again.
    pub password: Option<String>,
}

impl AppObject {
    pub fn text(&self) -> String {
        let mut update = json!({
            "api": "PbxAdminApi",
            "mt": "UpdateObject",
            "guid": "?",
            "cn": self.name,
            "h323": self.sip,
            "pwd": self.password,
            "hide": true,
            // As innovaphone's sdkprovisioning manager plugin grants them.
            "apps": "devices,devices-api",
            "pseudo": {"type": "app", "app": {
                "url": self.url, "websocket": "on", "admin": "on", "services": "on"
            }}
        });
        if self.password.is_none()
            && let Some(fields) = update.as_object_mut()
        {
            fields.remove("pwd");
        }
        let update = serde_json::to_string_pretty(&update).unwrap_or_default();
        format!(
            "\
Create this App object on the PBX (Advanced UI > Objects > New > App):

  Name        {name}
  SIP         {sip}
  Password    {password}
  URL         {url}
  Checkmarks  Websocket   (the PBX connects to this URL; we learn our URL from it)
              Admin       (we edit the phone's device on the user object)
              Services    (we find the Devices API)
  Apps tab    devices-api (needed: the Devices App object that provides com.innovaphone.devices;
                           the Services API lists only services the App object may use, and
                           its URL is where each phone's sysclient connects)
              devices     (as innovaphone's own provisioning sample grants; harmless, and it
                           covers a Devices instance that publishes the API under this object)

Then, on the Profile App object (and on Users Admin's), tick \"{name}\" in its Apps tab, so that
myApps Profile and Users Admin list {name} as a phone manufacturer.

The same App object as a PbxAdminApi request (the Admin grant key is not documented publicly;
check the checkmarks in the PBX UI after running it):

{update}

The output contains the instance password: keep it out of tickets and chat.
",
            name = self.name,
            sip = self.sip,
            password = self
                .password
                .as_deref()
                .unwrap_or("(generated earlier, shown only then)"),
            url = self.url,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_every_field_and_grant() {
        let text = AppObject {
            name: "Yealink".into(),
            sip: "yealink".into(),
            url: "https://prov.example.com/innovaphone-yealink".into(),
            password: Some("s3cret".into()),
        }
        .text();
        for needle in [
            "Name        Yealink",
            "SIP         yealink",
            "Password    s3cret",
            "URL         https://prov.example.com/innovaphone-yealink",
            "Websocket",
            "Admin",
            "Services",
            "devices-api (needed",
            "devices     (as innovaphone",
            "\"apps\": \"devices,devices-api\"",
            "Profile App object",
            "\"websocket\": \"on\"",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
    }

    #[test]
    fn a_password_shown_earlier_is_not_printed_again() {
        let text = AppObject {
            name: "Yealink".into(),
            sip: "yealink".into(),
            url: "https://prov.example.com/innovaphone-yealink".into(),
            password: None,
        }
        .text();
        assert!(text.contains("generated earlier"), "{text}");
        assert!(!text.contains("\"pwd\""), "{text}");
    }
}
