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
    pub password: String,
}

impl AppObject {
    pub fn text(&self) -> String {
        let update = json!({
            "api": "PbxAdminApi",
            "mt": "UpdateObject",
            "guid": "?",
            "cn": self.name,
            "h323": self.sip,
            "pwd": self.password,
            "hide": true,
            "apps": "devices-api",
            "pseudo": {"type": "app", "app": {
                "url": self.url, "websocket": "on", "admin": "on", "services": "on"
            }}
        });
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
  Apps tab    devices-api (the Devices App object that provides com.innovaphone.devices)

Then, on the Profile App object (and on Users Admin's), tick \"{name}\" in its Apps tab, so that
myApps Profile and Users Admin list {name} as a phone manufacturer.

The same App object as a PbxAdminApi request (the Admin grant key is not documented publicly;
check the checkmarks in the PBX UI after running it):

{update}

The output contains the instance password: keep it out of tickets and chat.
",
            name = self.name,
            sip = self.sip,
            password = self.password,
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
            password: "s3cret".into(),
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
            "devices-api",
            "Profile App object",
            "\"websocket\": \"on\"",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
    }
}
