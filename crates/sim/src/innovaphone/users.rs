//! A simulated Users service, as far as a provisioning app sees it (§5, §10 B): it connects to
//! the app's URL, logs in as it would after GetServiceLogin (the digest and session key come
//! from the app's password), and sends `ProvisioningPhone`, one at a time, waiting for the
//! `ProvisioningPhoneResult` with the same `src`.
//!
//! Choices where the notes are silent or unsure:
//!
//! - AppLogin, as the PBX signs a service login (13r1-SDK `doc/appwebsocket/Services.htm`,
//!   `GetServiceLoginResult`: `domain, sip, guid, dn, pbxObj, app, info, digest`, forwarded
//!   unchanged): `app` = the last path segment of the app URL, `domain`, `sip` `users`, a random
//!   `guid`, `dn` `Users`, `pbxObj` `users` (not hashed), and `info` with the keys
//!   `appobj, appdn, appurl, pbx` (`appurl` = `<scheme>://<host>/<domain>/usersapp/innovaphone-users`
//!   on the app's host); the digest hashes exactly the `info` text sent. Which App object the PBX
//!   names in `info.appobj` is not documented: Users' own (as in AppWebsocket.htm's test vector)
//!   or the App object that grants the access (ours, as for a myApps user's login); both are
//!   played ([`UsersLoginForm`]).
//! - `seed1` is 23 random digits (as in the sample), `src` is `p<n>`.
//! - Messages other than the awaited result are skipped; a close while waiting is an error.

use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use serde_json::{Value, json};

use super::crypto;
use super::devices::{DevicesSim, normalize_mac};
use super::pbx::{PbxSim, last_segment};
use super::ws::{self, Ws, ws_url};

const STEP_TIMEOUT: Duration = Duration::from_secs(5);

/// How long [`UsersSession::provision_phone`] waits for the result unless changed.
pub const DEFAULT_RESULT_TIMEOUT: Duration = Duration::from_secs(30);

/// What Users puts into one `ProvisioningPhone`.
#[derive(Clone)]
pub struct PhoneRequest {
    /// The phone's MAC.
    pub mac: String,
    /// The Devices provisioning code.
    pub code: String,
    /// The Hardware ID of the device on the user object.
    pub hwid: String,
    /// The user's SIP/h323 name (the key really is spelled `usename`).
    pub usename: String,
    /// The user's long name.
    pub cn: String,
    /// The user's password in clear (sent encrypted with the session key).
    pub password: String,
    /// The PBX domain.
    pub domain: String,
    /// The PBX DNS name.
    pub dns: String,
}

impl std::fmt::Debug for PhoneRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PhoneRequest")
            .field("mac", &self.mac)
            .field("code", &"***")
            .field("hwid", &self.hwid)
            .field("usename", &self.usename)
            .field("cn", &self.cn)
            .field("password", &"***")
            .field("domain", &self.domain)
            .field("dns", &self.dns)
            .finish()
    }
}

/// The app's `ProvisioningPhoneResult`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProvisionOutcome {
    /// `result` (`"ok"` or `"failed"`; empty if missing).
    pub result: String,
    /// `error`, if any.
    pub error: Option<String>,
    /// The whole message.
    pub raw: Value,
}

/// Which App object the PBX names in `info.appobj` of Users' login to the app.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum UsersLoginForm {
    /// `appobj` = `users`, the App object logging in (AppWebsocket.htm's long-info vector).
    #[default]
    OwnAppObject,
    /// `appobj` = the SIP name of the app's own App object (the one that grants the access),
    /// as the PBX signs a user's login to an app.
    GrantingAppObject(String),
}

/// The simulated Users service (its operations are associated functions).
#[derive(Debug, Clone, Copy, Default)]
pub struct UsersSim;

/// A logged-in Users connection to the app.
pub struct UsersSession {
    ws: Ws,
    session_key: String,
    result_timeout: Duration,
    next_src: u32,
}

impl std::fmt::Debug for UsersSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsersSession")
            .field("result_timeout", &self.result_timeout)
            .finish_non_exhaustive()
    }
}

impl UsersSim {
    /// Connects to `app_url` (http→ws, https→wss) and logs in with `password`. A refused
    /// login is an error carrying the app's `errorText`.
    pub async fn connect(
        app_url: &str,
        password: &str,
        domain: &str,
    ) -> anyhow::Result<UsersSession> {
        Self::connect_as(app_url, password, domain, &UsersLoginForm::OwnAppObject).await
    }

    /// As [`UsersSim::connect`], with `info.appobj` as `form` says.
    pub async fn connect_as(
        app_url: &str,
        password: &str,
        domain: &str,
        form: &UsersLoginForm,
    ) -> anyhow::Result<UsersSession> {
        let url = ws_url(app_url);
        let (mut ws, _) =
            tokio::time::timeout(STEP_TIMEOUT, tokio_tungstenite::connect_async(&url))
                .await
                .map_err(|_| anyhow!("connecting to {url} timed out"))?
                .with_context(|| format!("connecting to {url}"))?;
        send(&mut ws, json!({"mt": "AppChallenge"}).to_string()).await?;
        let answer = expect(&mut ws, "AppChallengeResult", STEP_TIMEOUT).await?;
        let challenge = answer
            .get("challenge")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let app = last_segment(app_url);
        let guid = crypto::random_guid();
        let appobj = match form {
            UsersLoginForm::OwnAppObject => "users",
            UsersLoginForm::GrantingAppObject(sip) => sip.as_str(),
        };
        let info = json!({
            "appobj": appobj,
            "appdn": "Users",
            "appurl": format!("{}/{domain}/usersapp/innovaphone-users", origin(app_url)),
            "pbx": "master",
        });
        let info_text = info.to_string();
        let digest = crypto::app_login_digest(
            &app,
            domain,
            "users",
            &guid,
            "Users",
            Some(&info_text),
            &challenge,
            password,
        );
        let head = json!({
            "mt": "AppLogin", "app": app, "domain": domain, "sip": "users", "guid": guid,
            "dn": "Users", "digest": digest, "pbxObj": "users",
        })
        .to_string();
        let text = format!(
            "{},\"info\":{info_text}}}",
            head.strip_suffix('}').unwrap_or(&head)
        );
        send(&mut ws, text).await?;
        let result = expect(&mut ws, "AppLoginResult", STEP_TIMEOUT).await?;
        if result.get("ok").and_then(Value::as_bool) != Some(true) {
            let why = result
                .get("errorText")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .or_else(|| result.get("error").map(Value::to_string))
                .unwrap_or_else(|| "login refused (no ok)".to_owned());
            let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
            bail!("Users login refused: {why}");
        }
        Ok(UsersSession {
            ws,
            session_key: crypto::session_key(&challenge, password),
            result_timeout: DEFAULT_RESULT_TIMEOUT,
            next_src: 0,
        })
    }

    /// Everything Users does when a user clicks "+ Add phone": adds the device
    /// `{"hw":mac,"text":"Yealink","app":"phone","tls":true,"trusted":true}` to the user's PBX
    /// object, gets a code for `category` from Devices, connects to the app and sends
    /// `ProvisioningPhone` (usename = the user's h323, dns = the PBX DNS name).
    #[allow(clippy::too_many_arguments)]
    pub async fn add_phone(
        pbx: &PbxSim,
        devices: &DevicesSim,
        app_url: &str,
        password: &str,
        user_cn: &str,
        mac: &str,
        category: &str,
        sip_password: &str,
    ) -> anyhow::Result<ProvisionOutcome> {
        let user = pbx
            .user(user_cn)
            .ok_or_else(|| anyhow!("the PBX has no user {user_cn:?}"))?;
        let h323 = user
            .get("h323")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let mac = normalize_mac(mac);
        pbx.add_device_to_user(
            user_cn,
            json!({"hw": mac, "text": "Yealink", "app": "phone", "tls": true, "trusted": true}),
        );
        let code = devices.issue_code(category);
        let config = pbx.config();
        let mut session =
            UsersSim::connect_as(app_url, password, &config.domain, &config.users_login).await?;
        let outcome = session
            .provision_phone(PhoneRequest {
                mac: mac.clone(),
                code,
                hwid: mac,
                usename: h323,
                cn: user_cn.to_owned(),
                password: sip_password.to_owned(),
                domain: config.domain.clone(),
                dns: config.pbx_dns.clone(),
            })
            .await;
        session.close().await;
        outcome
    }
}

impl UsersSession {
    /// This connection's session key (§1).
    pub fn session_key(&self) -> &str {
        &self.session_key
    }

    /// How long [`UsersSession::provision_phone`] waits for its result (default 30 s).
    pub fn set_result_timeout(&mut self, timeout: Duration) {
        self.result_timeout = timeout;
    }

    /// Sends `ProvisioningPhone` (fresh `src` and `seed1`, the password RC4-encrypted with
    /// this session's key) and waits for the `ProvisioningPhoneResult` with the same `src`.
    pub async fn provision_phone(&mut self, req: PhoneRequest) -> anyhow::Result<ProvisionOutcome> {
        self.next_src += 1;
        let src = format!("p{}", self.next_src);
        let seed1 = crypto::random_digits(23);
        let password = crypto::encrypt(&seed1, &self.session_key, &req.password);
        let msg = json!({
            "mt": "ProvisioningPhone", "src": src, "mac": req.mac, "code": req.code,
            "hwid": req.hwid, "usename": req.usename, "cn": req.cn, "seed1": seed1,
            "password": password, "domain": req.domain, "dns": req.dns,
        });
        send(&mut self.ws, msg.to_string()).await?;
        let deadline = tokio::time::Instant::now() + self.result_timeout;
        loop {
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            let answer = expect(&mut self.ws, "ProvisioningPhoneResult", remaining).await?;
            if answer.get("src").and_then(Value::as_str) == Some(src.as_str()) {
                return Ok(ProvisionOutcome {
                    result: answer
                        .get("result")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    error: answer
                        .get("error")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    raw: answer,
                });
            }
        }
    }

    /// What the PBX Manager does to show its green tick: `AppCheckLogin {app, challenge, digest}`
    /// with the digest the PBX gives for the App object's stored password (`GetAppLogin`), here
    /// computed from `password`: the AppLogin hash with only `app` known. Returns the answer's
    /// `ok`.
    pub async fn check_login(&mut self, app: &str, password: &str) -> anyhow::Result<bool> {
        self.next_src += 1;
        let src = format!("c{}", self.next_src);
        // The Manager plugins use a fixed challenge ("an arbitrary challenge may be used").
        let challenge = "1234";
        let digest = crypto::app_login_digest(app, "", "", "", "", None, challenge, password);
        let msg = json!({
            "mt": "AppCheckLogin", "src": src, "app": app, "challenge": challenge,
            "digest": digest,
        });
        send(&mut self.ws, msg.to_string()).await?;
        let answer = expect(&mut self.ws, "AppCheckLoginResult", Duration::from_secs(5)).await?;
        Ok(answer.get("ok").and_then(Value::as_bool) == Some(true))
    }

    /// Closes the connection (close frame, up to 1 s).
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), self.ws.close(None)).await;
    }
}

/// `scheme://host[:port]` of a URL (http(s) for ws(s)).
fn origin(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("https", url));
    let scheme = match scheme {
        "ws" => "http",
        "wss" => "https",
        other => other,
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    format!("{scheme}://{host}")
}

async fn send(ws: &mut Ws, text: String) -> anyhow::Result<()> {
    ws::send_text(ws, text, STEP_TIMEOUT).await
}

/// Reads until a message with this `mt` (others are skipped).
async fn expect(ws: &mut Ws, mt: &str, timeout: Duration) -> anyhow::Result<Value> {
    ws::expect(ws, mt, timeout, |_| {}).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_of_urls() {
        assert_eq!(
            origin("http://127.0.0.1:8080/example.com/yealink/innovaphone-yealink"),
            "http://127.0.0.1:8080"
        );
        assert_eq!(origin("wss://ap.example.com/x"), "https://ap.example.com");
    }
}
