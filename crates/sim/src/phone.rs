//! A simulated Yealink phone doing auto-provisioning the documented way (reference B4/B5).

use std::collections::BTreeMap;
use std::sync::Mutex;

use reqwest::{Client, Method};
use url::Url;

use crate::auth::{AuthScheme, AuthState};
use crate::cfg::{self, Line};
use crate::http::{self, lock};
use crate::model;
use crate::{Mac, SimError};

/// Parameters the phone reads back after a run: where to provision next time.
const SERVER_URL: &str = "static.auto_provision.server.url";
const SERVER_USER: &str = "static.auto_provision.server.username";
const SERVER_PASSWORD: &str = "static.auto_provision.server.password";
/// With `1`, the phone also downloads `<mac>-local.cfg` (its user's own settings).
const CUSTOM_SYNC: &str = "static.auto_provision.custom.sync";
/// The common boot file every phone falls back to.
const COMMON_BOOT: &str = "y000000000000.boot";
/// Yealink's explicit "set to empty" token (reference B5).
const NULL_TOKEN: &str = "%NULL%";

/// One HTTP exchange made during a run (a Digest login shows as a 401 then the retry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetch {
    /// `GET` or `PUT`.
    pub method: String,
    /// The file as the phone named it: a file name, or the include path / URL as written.
    pub file: String,
    /// The HTTP status.
    pub status: u16,
    /// Body length of the response.
    pub bytes: usize,
    /// The authentication the request carried, if any.
    pub auth: Option<AuthScheme>,
}

/// What one `provision()` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProvisionRun {
    /// Every exchange, in order.
    pub requests: Vec<Fetch>,
    /// The configuration files whose parameters were applied, in order (boot files excluded).
    pub applied_files: Vec<String>,
    /// The boot file used (`<mac>.boot` or `y000000000000.boot`); `None` on the legacy path.
    pub boot_file: Option<String>,
    /// `overwrite_mode = 1` was set in the boot file.
    pub overwrite_mode: bool,
}

/// A simulated phone. Built from the protocol documentation only, on purpose: it shares no
/// code with the server, so the two can disagree and the integration tests notice.
#[derive(Debug)]
pub struct SimPhone {
    mac: Mac,
    model: String,
    firmware: String,
    firmware_family: u32,
    server: Option<String>,
    auth: Mutex<AuthState>,
    params: BTreeMap<String, String>,
    last_requests: Vec<Fetch>,
    client: Client,
}

/// The phone's reading of the RPS stand-in's answer (its own type, not the simulator's).
#[derive(serde::Deserialize)]
struct RpsAnswer {
    url: String,
    #[serde(default)]
    auth_name: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

enum Download {
    Found(String),
    Missing(u16),
}

impl SimPhone {
    /// A factory-fresh phone: `mac` in any common format, model like "T46U", firmware like
    /// "108.86.0.90".
    pub fn new(mac: &str, model: &str, firmware: &str) -> Result<SimPhone, SimError> {
        Ok(SimPhone {
            mac: Mac::parse(mac)?,
            model: model::validate_model(model)?,
            firmware: firmware.to_owned(),
            firmware_family: model::firmware_family(firmware)?,
            server: None,
            auth: Mutex::new(AuthState::default()),
            params: BTreeMap::new(),
            last_requests: Vec::new(),
            client: http::default_client(4)?,
        })
    }

    /// Shares a client (the boot storm uses one pool for every phone).
    pub fn with_client(mut self, client: Client) -> Self {
        self.client = client;
        self
    }

    /// The MAC as 12 lower-case hex digits.
    pub fn mac(&self) -> String {
        self.mac.plain()
    }

    /// `Yealink SIP-T46U 108.86.0.90 80:5e:c0:aa:bb:cc`.
    pub fn user_agent(&self) -> String {
        model::user_agent(&self.model, &self.firmware, &self.mac)
    }

    /// What RPS, DHCP or the admin would give the phone. A missing trailing `/` is added,
    /// since file names are resolved relative to this URL.
    pub fn set_provisioning_server(&mut self, url: &str, credentials: Option<(String, String)>) {
        let mut url = url.trim().to_owned();
        if !url.ends_with('/') {
            url.push('/');
        }
        self.server = Some(url);
        *lock(&self.auth) = AuthState {
            credentials,
            digest: None,
        };
    }

    /// The same provisioning path on another host (another instance behind a load balancer),
    /// keeping the credentials. `base` is `scheme://host:port`. Returns `false`, changing
    /// nothing, when the phone has no server or `base` is not a URL.
    pub fn switch_host(&mut self, base: &str) -> bool {
        let Some(current) = self.server.as_deref().and_then(|s| Url::parse(s).ok()) else {
            return false;
        };
        let Ok(mut moved) =
            Url::parse(&format!("{}{}", base.trim_end_matches('/'), current.path()))
        else {
            return false;
        };
        moved.set_query(current.query());
        self.server = Some(moved.to_string());
        true
    }

    /// Back to factory state: no provisioning server, no credentials, no parameters. A reset
    /// phone asks RPS again ([`SimPhone::ask_rps`]).
    pub fn factory_reset(&mut self) {
        self.server = None;
        *lock(&self.auth) = AuthState::default();
        self.params.clear();
        self.last_requests.clear();
    }

    /// What a factory-fresh phone does when no DHCP option, PnP or stored URL gave it a
    /// provisioning server: it asks RPS where to go (reference A3). If RPS knows its MAC, the
    /// phone adopts the URL and the HTTP credentials it is given and returns `true`; if not
    /// (404) it stays unconfigured and returns `false`.
    ///
    /// The real phone-to-RPS exchange is not public (HTTPS with the phone's factory
    /// certificate); this speaks the simulator's stand-in, `GET /phone/lookup?mac=<12 hex>`
    /// answered by `{"url", "auth_name", "password"}` (see [`crate::rps`]).
    ///
    /// Fails with [`SimError::NotFactoryFresh`] if the phone already has a server (a phone
    /// does not consult RPS then), and on any other status or an unreadable answer.
    pub async fn ask_rps(&mut self, rps_base_url: &str) -> Result<bool, SimError> {
        if let Some(server) = &self.server {
            return Err(SimError::NotFactoryFresh(server.clone()));
        }
        let lookup = format!("{}/phone/lookup", rps_base_url.trim_end_matches('/'));
        let mut url = Url::parse(&lookup).map_err(|_| SimError::InvalidUrl(lookup.clone()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(SimError::InvalidUrl(lookup));
        }
        url.query_pairs_mut().append_pair("mac", &self.mac.plain());
        let response = self
            .client
            .get(url)
            .header(reqwest::header::USER_AGENT, self.user_agent())
            .send()
            .await?;
        let status = response.status().as_u16();
        let body = response.bytes().await?;
        match status {
            200 => {}
            404 => return Ok(false),
            status => {
                return Err(SimError::UnexpectedStatus {
                    file: "RPS lookup".to_owned(),
                    status,
                });
            }
        }
        let answer: RpsAnswer =
            serde_json::from_slice(&body).map_err(|e| SimError::BadRpsAnswer(e.to_string()))?;
        if answer.url.trim().is_empty() {
            return Err(SimError::BadRpsAnswer("empty url".to_owned()));
        }
        let credentials = answer
            .auth_name
            .filter(|name| !name.is_empty())
            .map(|name| (name, answer.password.unwrap_or_default()));
        self.set_provisioning_server(&answer.url, credentials);
        Ok(true)
    }

    /// The provisioning server the phone will use next (it changes after a run that sets
    /// `static.auto_provision.server.url`).
    pub fn provisioning_server(&self) -> Option<&str> {
        self.server.as_deref()
    }

    /// The phone's parameters: accumulated across runs, except that a run with
    /// `overwrite_mode = 1` resets everything its files no longer set to factory defaults.
    pub fn params(&self) -> &BTreeMap<String, String> {
        &self.params
    }

    /// One auto-provisioning run in Yealink's documented order:
    /// `<mac>.boot`, else `y000000000000.boot`, then its `include:config` files top to
    /// bottom; with no boot file at all, the legacy `y000000000NNN.cfg` then `<mac>.cfg`.
    /// With `static.auto_provision.custom.sync = 1`, `<mac>-local.cfg` is fetched last.
    /// Nothing is applied unless the whole run succeeds.
    pub async fn provision(&mut self) -> Result<ProvisionRun, SimError> {
        let mut run = ProvisionRun::default();
        let result = self.run_into(&mut run).await;
        self.last_requests = run.requests.clone();
        result.map(|()| run)
    }

    /// The exchanges of the last `provision()`, also when it failed (for negative tests).
    pub fn last_requests(&self) -> &[Fetch] {
        &self.last_requests
    }

    async fn run_into(&mut self, run: &mut ProvisionRun) -> Result<(), SimError> {
        let server = self.server_url()?;
        let mac = self.mac.plain();
        let mut tried = Vec::new();
        // (file name, parameters) per applied configuration file.
        let mut files: Vec<(String, Vec<(String, String)>)> = Vec::new();

        let mut boot = None;
        for name in [format!("{mac}.boot"), COMMON_BOOT.to_owned()] {
            let url = join(&server, &name)?;
            match self.download(&url, &name, run).await? {
                Download::Found(text) => {
                    boot = Some((name, url, text));
                    break;
                }
                Download::Missing(status) => tried.push((name, status)),
            }
        }

        if let Some((name, boot_url, text)) = boot {
            let lines = cfg::parse_lines(&text).map_err(|e| with_file(e, &name))?;
            let mut includes = Vec::new();
            for line in lines {
                match line {
                    Line::Include(path) => includes.push(path),
                    Line::Param { key, value } if key == "overwrite_mode" => {
                        run.overwrite_mode = value == "1";
                    }
                    // Other boot directives do not change the phone's parameters.
                    Line::Param { .. } => {}
                }
            }
            run.boot_file = Some(name);
            for include in includes {
                let url = join(&boot_url, &include)?;
                if let Download::Found(text) = self.download(&url, &include, run).await? {
                    files.push((include.clone(), params_of(&text, &include)?));
                }
            }
        } else {
            let common = model::common_file_name(self.firmware_family);
            for name in [common, format!("{mac}.cfg")] {
                let url = join(&server, &name)?;
                match self.download(&url, &name, run).await? {
                    Download::Found(text) => files.push((name.clone(), params_of(&text, &name)?)),
                    Download::Missing(status) => tried.push((name, status)),
                }
            }
            if files.is_empty() {
                return Err(SimError::NotProvisioned { statuses: tried });
            }
        }

        let mut next = self.params.clone();
        if run.overwrite_mode {
            // Parameters the files no longer mention revert to factory defaults.
            next.clear();
        }
        for (name, params) in &files {
            apply(&mut next, params, run.overwrite_mode);
            run.applied_files.push(name.clone());
        }

        if next.get(CUSTOM_SYNC).map(String::as_str) == Some("1") {
            let name = format!("{mac}-local.cfg");
            let url = join(&server, &name)?;
            if let Download::Found(text) = self.download(&url, &name, run).await? {
                // Static settings are never taken from the local file.
                let local: Vec<_> = params_of(&text, &name)?
                    .into_iter()
                    .filter(|(key, _)| !key.starts_with("static."))
                    .collect();
                apply(&mut next, &local, run.overwrite_mode);
                run.applied_files.push(name);
            }
        }

        self.params = next;
        self.adopt_server_settings();
        Ok(())
    }

    /// HTTP PUT of `<mac>-local.cfg` to the current server, authenticated like the GETs.
    pub async fn upload_local_cfg(&self, body: &str) -> Result<u16, SimError> {
        let name = format!("{}-local.cfg", self.mac.plain());
        let url = join(&self.server_url()?, &name)?;
        let outcome = http::send(
            &self.client,
            &self.auth,
            Method::PUT,
            &url,
            &self.user_agent(),
            Some(body),
            &name,
        )
        .await?;
        Ok(outcome.status)
    }

    /// One authenticated GET of any name relative to the server URL (for negative tests).
    pub async fn get_raw(&self, file_name: &str) -> Result<(u16, String), SimError> {
        let url = join(&self.server_url()?, file_name)?;
        let outcome = http::send(
            &self.client,
            &self.auth,
            Method::GET,
            &url,
            &self.user_agent(),
            None,
            file_name,
        )
        .await?;
        Ok((
            outcome.status,
            String::from_utf8_lossy(&outcome.body).into_owned(),
        ))
    }

    fn server_url(&self) -> Result<Url, SimError> {
        let raw = self.server.as_deref().ok_or(SimError::NoServer)?;
        let url = Url::parse(raw).map_err(|_| SimError::InvalidUrl(raw.to_owned()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(SimError::InvalidUrl(raw.to_owned()));
        }
        Ok(url)
    }

    /// GETs one file: 200 is found, 404 is missing, anything else ends the run.
    async fn download(
        &self,
        url: &Url,
        file: &str,
        run: &mut ProvisionRun,
    ) -> Result<Download, SimError> {
        let outcome = http::send(
            &self.client,
            &self.auth,
            Method::GET,
            url,
            &self.user_agent(),
            None,
            file,
        )
        .await?;
        run.requests
            .extend(outcome.exchanges.iter().map(|exchange| Fetch {
                method: "GET".to_owned(),
                file: file.to_owned(),
                status: exchange.status,
                bytes: exchange.bytes,
                auth: exchange.auth,
            }));
        match outcome.status {
            200 => String::from_utf8(outcome.body)
                .map(Download::Found)
                .map_err(|_| SimError::BadFile {
                    file: file.to_owned(),
                    reason: "not UTF-8".to_owned(),
                }),
            404 => Ok(Download::Missing(404)),
            401 => Err(SimError::Unauthorized(file.to_owned())),
            status => Err(SimError::UnexpectedStatus {
                file: file.to_owned(),
                status,
            }),
        }
    }

    /// After a successful run the phone provisions from wherever its parameters now say.
    fn adopt_server_settings(&mut self) {
        let Some(url) = self.params.get(SERVER_URL).filter(|u| !u.is_empty()) else {
            return;
        };
        let mut url = url.clone();
        if !url.ends_with('/') {
            url.push('/');
        }
        let mut auth = lock(&self.auth);
        let mut credentials = auth.credentials.clone();
        if let Some(user) = self.params.get(SERVER_USER) {
            let password = self
                .params
                .get(SERVER_PASSWORD)
                .cloned()
                .unwrap_or_default();
            credentials = (!user.is_empty()).then(|| (user.clone(), password));
        }
        if self.server.as_deref() != Some(url.as_str()) || credentials != auth.credentials {
            *auth = AuthState {
                credentials,
                digest: None,
            };
            drop(auth);
            self.server = Some(url);
        }
    }
}

/// Resolves a file name, include path or absolute URL against `base`.
fn join(base: &Url, name: &str) -> Result<Url, SimError> {
    let url = base
        .join(name)
        .map_err(|_| SimError::InvalidUrl(name.to_owned()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(SimError::InvalidUrl(name.to_owned()));
    }
    Ok(url)
}

fn with_file(error: SimError, file: &str) -> SimError {
    match error {
        SimError::BadFile { reason, .. } => SimError::BadFile {
            file: file.to_owned(),
            reason,
        },
        other => other,
    }
}

/// The parameters of a configuration file (include lines in a .cfg are not followed).
fn params_of(text: &str, file: &str) -> Result<Vec<(String, String)>, SimError> {
    Ok(cfg::parse_lines(text)
        .map_err(|e| with_file(e, file))?
        .into_iter()
        .filter_map(|line| match line {
            Line::Param { key, value } => Some((key, value)),
            Line::Include(_) => None,
        })
        .collect())
}

/// Applies parameters in order (later wins). A blank value keeps the current value, or
/// restores the factory default under `overwrite_mode`; `%NULL%` sets an empty value.
fn apply(params: &mut BTreeMap<String, String>, new: &[(String, String)], overwrite: bool) {
    for (key, value) in new {
        if value.is_empty() {
            if overwrite {
                params.remove(key);
            }
        } else if value == NULL_TOKEN {
            params.insert(key.clone(), String::new());
        } else {
            params.insert(key.clone(), value.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn apply_blank_null_and_overwrite() {
        let mut params = BTreeMap::new();
        apply(
            &mut params,
            &kv(&[("a", "1"), ("b", "2"), ("a", "3")]),
            false,
        );
        assert_eq!(params.get("a").map(String::as_str), Some("3"));
        apply(&mut params, &kv(&[("a", ""), ("b", "%NULL%")]), false);
        assert_eq!(params.get("a").map(String::as_str), Some("3"));
        assert_eq!(params.get("b").map(String::as_str), Some(""));
        apply(&mut params, &kv(&[("a", "")]), true);
        assert!(!params.contains_key("a"));
    }

    #[test]
    fn new_phone_validates_and_formats() {
        let phone = SimPhone::new("80-5E-C0-AA-BB-CC", "T46U", "108.86.0.90").unwrap();
        assert_eq!(phone.mac(), "805ec0aabbcc");
        assert_eq!(
            phone.user_agent(),
            "Yealink SIP-T46U 108.86.0.90 80:5e:c0:aa:bb:cc"
        );
        assert!(matches!(
            SimPhone::new("nope", "T46U", "108.86.0.90"),
            Err(SimError::InvalidMac(_))
        ));
        assert!(matches!(
            SimPhone::new("805ec0aabbcc", "T46U", "x"),
            Err(SimError::InvalidFirmware(_))
        ));
    }

    #[test]
    fn join_resolves_relative_and_absolute() {
        let base = Url::parse("http://127.0.0.1:8080/prov/tok/").unwrap();
        assert_eq!(
            join(&base, "a.cfg").unwrap().as_str(),
            "http://127.0.0.1:8080/prov/tok/a.cfg"
        );
        assert_eq!(
            join(&base, "http://127.0.0.1:9/x.cfg").unwrap().as_str(),
            "http://127.0.0.1:9/x.cfg"
        );
        assert!(join(&base, "ftp://127.0.0.1/x.cfg").is_err());
    }

    #[tokio::test]
    async fn provision_without_server_fails() {
        let mut phone = SimPhone::new("805ec0aabbcc", "T46U", "108.86.0.90").unwrap();
        assert!(matches!(phone.provision().await, Err(SimError::NoServer)));
    }
}
