//! What RPS holds: servers and devices, each owned by this account or by another one. Both
//! APIs (XML-RPC and JSON) work on the same store, as on the real service.

use crate::Mac;

/// Whose a server or a device is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// The simulator's account (the XML-RPC user / the access key).
    ThisAccount,
    /// Some other RPS account (see [`super::RpsSim::preregister_foreign`]).
    OtherAccount,
}

/// A named redirection target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimServer {
    /// The JSON API's id (`srv-N`).
    pub id: String,
    /// Unique across all accounts.
    pub name: String,
    /// Where phones are sent.
    pub url: String,
    /// HTTP username phones use against `url` (JSON API only).
    pub auth_name: Option<String>,
    /// HTTP password phones use against `url` (JSON API only).
    pub password: Option<String>,
    /// A CA certificate URL for the phone (JSON API only, passed through).
    pub certificate_url: Option<String>,
    /// Whose server it is.
    pub owner: Owner,
}

/// A MAC bound in RPS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimDevice {
    /// The JSON API's id (`dev-N`).
    pub id: String,
    /// 12 lower-case hex digits.
    pub mac: String,
    /// The server it points at (`None`: a device added with no server).
    pub server_name: Option<String>,
    /// A per-device URL that wins over the server's URL.
    pub unique_url: Option<String>,
    /// Per-device HTTP username (wins over the server's).
    pub auth_name: Option<String>,
    /// Per-device HTTP password.
    pub password: Option<String>,
    /// Free text (JSON API).
    pub remark: Option<String>,
    /// Whose device it is.
    pub owner: Owner,
}

/// What a registered phone is told (the simulator's phone-facing answer).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Destination {
    /// The device's unique URL, else its server's URL.
    pub url: String,
    /// HTTP username for the provisioning server, if any.
    pub auth_name: Option<String>,
    /// HTTP password for the provisioning server, if any.
    pub password: Option<String>,
}

/// The server name of the other account's server made by `preregister_foreign`.
pub const FOREIGN_SERVER_NAME: &str = "other-account-server";
/// Where the other account sends its phones.
pub const FOREIGN_SERVER_URL: &str = "https://prov.other-account.invalid/";

#[derive(Debug, Default)]
pub(crate) struct Store {
    /// Devices refer to servers by id, so a renamed server keeps its devices.
    servers: Vec<StoredServer>,
    devices: Vec<StoredDevice>,
    next_id: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct StoredServer {
    pub id: String,
    pub name: String,
    pub url: String,
    pub auth_name: Option<String>,
    pub password: Option<String>,
    pub certificate_url: Option<String>,
    pub owner: Owner,
}

#[derive(Debug, Clone)]
pub(crate) struct StoredDevice {
    pub id: String,
    pub mac: String,
    pub server_id: Option<String>,
    pub unique_url: Option<String>,
    pub auth_name: Option<String>,
    pub password: Option<String>,
    pub remark: Option<String>,
    pub owner: Owner,
}

/// RPS's accepted MAC notations (reference A1: `0C1105002189`, `0C 11 05 00 21 89`,
/// `0C-11-05-00-21-89`, `0C:11:05:00:21:89`, any case), normalised to 12 lower-case hex
/// digits. The phone's own parser also takes Cisco dots, which RPS does not list.
pub(crate) fn parse_mac(raw: &str) -> Option<String> {
    if raw.contains('.') {
        return None;
    }
    Mac::parse(raw).ok().map(|mac| mac.plain())
}

/// `A-z 0-9 - _ .` and space, not empty (reference A1; "A-z" read as letters).
pub(crate) fn valid_server_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ' '))
}

/// Must begin with `http://`, `https://`, `ftp://` or `tftp://` (and name something after).
pub(crate) fn valid_url(url: &str) -> bool {
    ["http://", "https://", "ftp://", "tftp://"]
        .iter()
        .any(|scheme| url.len() > scheme.len() && url.starts_with(scheme))
}

impl Store {
    fn next_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}-{}", self.next_id)
    }

    pub fn servers(&self) -> &[StoredServer] {
        &self.servers
    }

    pub fn devices(&self) -> &[StoredDevice] {
        &self.devices
    }

    /// Any account's server of that name (names are unique across all accounts).
    pub fn server_by_name(&self, name: &str) -> Option<&StoredServer> {
        self.servers.iter().find(|s| s.name == name)
    }

    pub fn server(&self, id: &str) -> Option<&StoredServer> {
        self.servers.iter().find(|s| s.id == id)
    }

    pub fn server_mut(&mut self, id: &str) -> Option<&mut StoredServer> {
        self.servers.iter_mut().find(|s| s.id == id)
    }

    pub fn add_server(
        &mut self,
        name: &str,
        url: &str,
        auth_name: Option<String>,
        password: Option<String>,
        certificate_url: Option<String>,
        owner: Owner,
    ) -> StoredServer {
        let server = StoredServer {
            id: self.next_id("srv"),
            name: name.to_owned(),
            url: url.to_owned(),
            auth_name,
            password,
            certificate_url,
            owner,
        };
        self.servers.push(server.clone());
        server
    }

    pub fn remove_servers(&mut self, ids: &[String]) {
        self.servers.retain(|s| !ids.contains(&s.id));
    }

    pub fn server_in_use(&self, id: &str) -> bool {
        self.devices
            .iter()
            .any(|d| d.server_id.as_deref() == Some(id))
    }

    pub fn device_by_mac(&self, mac: &str) -> Option<&StoredDevice> {
        self.devices.iter().find(|d| d.mac == mac)
    }

    pub fn device(&self, id: &str) -> Option<&StoredDevice> {
        self.devices.iter().find(|d| d.id == id)
    }

    pub fn device_mut(&mut self, id: &str) -> Option<&mut StoredDevice> {
        self.devices.iter_mut().find(|d| d.id == id)
    }

    /// Binds `mac`, replacing any existing binding of that MAC (the caller decided it may)
    /// but keeping its id.
    pub fn put_device(&mut self, mut device: StoredDevice) -> StoredDevice {
        if let Some(existing) = self.devices.iter_mut().find(|d| d.mac == device.mac) {
            device.id = existing.id.clone();
            *existing = device.clone();
        } else {
            device.id = self.next_id("dev");
            self.devices.push(device.clone());
        }
        device
    }

    pub fn remove_devices(&mut self, ids: &[String]) -> usize {
        let before = self.devices.len();
        self.devices.retain(|d| !ids.contains(&d.id));
        before - self.devices.len()
    }

    /// The other account's server, made on first use.
    pub fn foreign_server_id(&mut self) -> String {
        if let Some(server) = self.server_by_name(FOREIGN_SERVER_NAME) {
            return server.id.clone();
        }
        self.add_server(
            FOREIGN_SERVER_NAME,
            FOREIGN_SERVER_URL,
            None,
            None,
            None,
            Owner::OtherAccount,
        )
        .id
    }

    pub fn destination(&self, mac: &str) -> Option<Destination> {
        let device = self.device_by_mac(mac)?;
        let server = device.server_id.as_deref().and_then(|id| self.server(id));
        let url = device
            .unique_url
            .clone()
            .or_else(|| server.map(|s| s.url.clone()))?;
        let (auth_name, password) = if device.auth_name.is_some() {
            (device.auth_name.clone(), device.password.clone())
        } else {
            server
                .map(|s| (s.auth_name.clone(), s.password.clone()))
                .unwrap_or_default()
        };
        Some(Destination {
            url,
            auth_name,
            password,
        })
    }

    pub fn public_server(&self, server: &StoredServer) -> SimServer {
        SimServer {
            id: server.id.clone(),
            name: server.name.clone(),
            url: server.url.clone(),
            auth_name: server.auth_name.clone(),
            password: server.password.clone(),
            certificate_url: server.certificate_url.clone(),
            owner: server.owner,
        }
    }

    pub fn public_device(&self, device: &StoredDevice) -> SimDevice {
        SimDevice {
            id: device.id.clone(),
            mac: device.mac.clone(),
            server_name: device
                .server_id
                .as_deref()
                .and_then(|id| self.server(id))
                .map(|s| s.name.clone()),
            unique_url: device.unique_url.clone(),
            auth_name: device.auth_name.clone(),
            password: device.password.clone(),
            remark: device.remark.clone(),
            owner: device.owner,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_formats_rps_accepts() {
        for raw in [
            "0C1105002189",
            "0c1105002189",
            "0C 11 05 00 21 89",
            "0C-11-05-00-21-89",
            "0C:11:05:00:21:89",
        ] {
            assert_eq!(parse_mac(raw).as_deref(), Some("0c1105002189"), "{raw:?}");
        }
        for raw in ["0C11.0500.2189", "00s1122334400", "", "0C:11:05:00:21"] {
            assert_eq!(parse_mac(raw), None, "{raw:?}");
        }
    }

    #[test]
    fn server_name_and_url_rules() {
        assert!(valid_server_name("My PBX-1_a.b"));
        assert!(!valid_server_name(""));
        assert!(!valid_server_name("pbx/1"));
        assert!(!valid_server_name("pbx:1"));
        assert!(!valid_server_name("pbx^1"));
        for ok in ["http://a", "https://a/b/", "ftp://a", "tftp://a"] {
            assert!(valid_url(ok), "{ok}");
        }
        for bad in [
            "",
            "http://",
            "HTTP://a",
            "file:///x",
            "a.example.com",
            " http://a",
        ] {
            assert!(!valid_url(bad), "{bad}");
        }
    }

    #[test]
    fn destination_prefers_device_values() {
        let mut store = Store::default();
        let srv = store.add_server(
            "s",
            "http://s/",
            Some("su".into()),
            Some("sp".into()),
            None,
            Owner::ThisAccount,
        );
        let device = |unique: Option<&str>, auth: Option<&str>| StoredDevice {
            id: String::new(),
            mac: "805ec0aabbcc".into(),
            server_id: Some(srv.id.clone()),
            unique_url: unique.map(str::to_owned),
            auth_name: auth.map(str::to_owned),
            password: auth.map(|_| "dp".to_owned()),
            remark: None,
            owner: Owner::ThisAccount,
        };
        store.put_device(device(None, None));
        let d = store.destination("805ec0aabbcc").unwrap();
        assert_eq!(
            (
                d.url.as_str(),
                d.auth_name.as_deref(),
                d.password.as_deref()
            ),
            ("http://s/", Some("su"), Some("sp"))
        );
        let first_id = store.devices()[0].id.clone();
        store.put_device(device(Some("http://u/"), Some("du")));
        assert_eq!(store.devices().len(), 1);
        assert_eq!(store.devices()[0].id, first_id);
        let d = store.destination("805ec0aabbcc").unwrap();
        assert_eq!(
            (
                d.url.as_str(),
                d.auth_name.as_deref(),
                d.password.as_deref()
            ),
            ("http://u/", Some("du"), Some("dp"))
        );
        assert_eq!(store.destination("805ec0000000"), None);
    }
}
