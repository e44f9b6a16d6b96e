//! `yealink-prov pbx app-object`: the App object an administrator creates on the PBX when there
//! is no PBX Manager plugin (docs/innovaphone.md, "First install on a real PBX").
//!
//! Only steps for the PBX's admin UI are printed. A PbxAdminApi `UpdateObject` would carry the
//! password as `pwd`, which the PBX expects encrypted with the admin object's key
//! (13r1-SDK `doc/appwebsocket/PbxAdminApi.htm`, `MonitorAdminObject`: "the pwd key pair used to
//! encrypt all passwords inside PBX objects"); a clear-text one pasted into a script would be
//! wrong, and a secret in a copy-paste block.

/// What to create, for a person.
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
        format!(
            "\
Create this App object in the PBX's admin UI (Advanced UI > Objects > New > App):

  Name        {name}
  SIP         {sip}
  Password    {password}
  URL         {url}
  Checkmarks  Websocket   (the PBX connects to this URL; we learn our URL from it)
              Admin       (we edit the phone's device on the user object)
              Services    (we find the Devices API)
  Apps tab    devices-api (needed: the Devices App object that provides com.innovaphone.devices;
                           the Services API lists only services the App object may use, and
                           the sysclient endpoint is found beside its URL)
              devices     (as innovaphone's own provisioning sample grants; harmless, and it
                           covers a Devices instance that publishes the API under this object)

Then, on the Profile App object (and on Users Admin's), tick \"{name}\" in its Apps tab, so that
myApps Profile and Users Admin list {name} as a phone manufacturer. To open the admin app in
myApps, assign \"{name}\" to the administrators (their user object's Apps tab, or a config
template).

Type the password into the App object's Password field; the PBX stores it encrypted. Keep this
output out of tickets and chat.
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

    fn text_with(password: Option<&str>) -> String {
        AppObject {
            name: "Yealink".into(),
            sip: "yealink".into(),
            url: "https://prov.example.com/innovaphone-yealink".into(),
            password: password.map(str::to_owned),
        }
        .text()
    }

    #[test]
    fn names_every_field_and_grant() {
        let text = text_with(Some("s3cret"));
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
            "Profile App object",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
    }

    /// The PBX expects `pwd` encrypted: no PbxAdminApi message with a clear-text password.
    #[test]
    fn no_pbx_admin_api_message_carries_the_password() {
        let text = text_with(Some("s3cret"));
        for needle in ["PbxAdminApi", "UpdateObject", "\"pwd\"", "\"api\""] {
            assert!(!text.contains(needle), "{needle:?} printed in\n{text}");
        }
        assert_eq!(text.matches("s3cret").count(), 1, "{text}");
    }

    #[test]
    fn a_password_shown_earlier_is_not_printed_again() {
        let text = text_with(None);
        assert!(text.contains("generated earlier"), "{text}");
    }
}
