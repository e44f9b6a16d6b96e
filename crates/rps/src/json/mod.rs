//! The signed JSON "open" API (`/api/open/v1/...`, AccessKey ID + Secret, see [`crate::sign`]).
//!
//! Answers come in an envelope `{"ret": n, "data": ..., "error": null | {"msg", "fieldErrors"}}`
//! (some builds say `errors`); `ret >= 0` is success. Our commands are recipes of several
//! calls, made idempotent the way two independent clients do it:
//! - ADD SERVER: `server/list` by name; same URL: done; other URL: `server/edit`; none:
//!   `server/add`.
//! - REDIRECT DEVICE: `device/add`; on `device.mac.existed`: `device/list` by MAC, then
//!   `device/edit`.
//! - DEREGISTER DEVICE: `device/list` by MAC, then `device/delete {ids}`; not listed: done.
//! - CHECK DEVICE: `GET device/checkMac?mac=`.

use std::collections::HashMap;

use async_trait::async_trait;
use parking_lot::Mutex;
use serde_json::{Value, json};

use crate::http::{self, Status};
use crate::redact::Scrubber;
use crate::{
    Answer, Command, Mac, Outcome, RedirectTarget, Rps, RpsAccount, RpsApi, RpsError, sign,
};

mod envelope;
pub use envelope::{Reply, classify, parse_envelope};

/// Every path of the API lives under this prefix.
pub const API_PREFIX: &str = "/api/open/v1/";

/// Page size of our `server/list` and `device/list` lookups.
const PAGE: u64 = 100;
/// A lookup by exact name or MAC reads at most this many pages of fuzzy matches.
const MAX_PAGES: u64 = 20;

/// An answer that was not a success: why, for the history.
#[derive(Debug)]
struct Refusal {
    code: String,
    text: String,
}

/// One API call's result when RPS did answer.
enum Step {
    Done(Value),
    Refused(Refusal),
}

/// A server entry found by name.
struct Server {
    id: Value,
    url: String,
}

/// Client of the JSON API.
pub struct JsonClient {
    http: reqwest::Client,
    /// Scheme and authority, plus a path prefix when RPS sits behind one; no trailing `/`.
    base: String,
    key: String,
    secret: String,
    /// Server name → id, so that REDIRECT DEVICE does not list servers every time.
    server_ids: Mutex<HashMap<String, Value>>,
}

impl JsonClient {
    pub fn new(account: &RpsAccount, http: reqwest::Client) -> JsonClient {
        JsonClient {
            http,
            base: account
                .endpoint_or_default()
                .trim_end_matches('/')
                .to_owned(),
            key: account.username.clone(),
            secret: account.secret.clone(),
            server_ids: Mutex::new(HashMap::new()),
        }
    }

    fn scrubber(&self) -> Scrubber {
        Scrubber::new().with(self.secret.as_str())
    }

    /// The path as the server sees it, which is what gets signed: any path prefix of the
    /// endpoint, then `/api/open/v1/<path>`.
    fn full_path(&self, path: &str) -> String {
        let after_scheme = self.base.find("://").map_or(0, |i| i + 3);
        let prefix = self
            .base
            .get(after_scheme..)
            .and_then(|rest| rest.find('/').and_then(|i| rest.get(i..)))
            .unwrap_or("");
        format!("{prefix}{API_PREFIX}{path}")
    }

    /// Signs and sends one call: a JSON body for POST, query pairs for GET.
    async fn call(
        &self,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
        scrub: &Scrubber,
    ) -> Result<Step, RpsError> {
        let full_path = self.full_path(path);
        let url = format!("{}{API_PREFIX}{path}", self.base);
        let nonce = sign::nonce();
        let timestamp = sign::timestamp_ms();
        let (request, md5) = match body {
            Some(body) => {
                // Content-MD5 is over the exact bytes sent, so serialise once.
                let bytes =
                    serde_json::to_vec(body).map_err(|e| RpsError::Config(e.to_string()))?;
                let md5 = sign::content_md5(&bytes);
                let request = self.http.post(&url).header("Content-MD5", &md5).body(bytes);
                (request, Some(md5))
            }
            None => (self.http.get(&url).query(query), None),
        };
        let method = if body.is_some() { "POST" } else { "GET" };
        let to_sign = sign::string_to_sign(
            method,
            md5.as_deref(),
            &self.key,
            &nonce,
            &timestamp,
            &full_path,
            if body.is_some() { &[] } else { query },
        );
        let request = request
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/json;charset=UTF-8",
            )
            .header(reqwest::header::ACCEPT, "application/json")
            .header("X-Ca-Key", &self.key)
            .header("X-Ca-Nonce", &nonce)
            .header("X-Ca-Timestamp", &timestamp)
            .header("X-Ca-Signature", sign::signature(&self.secret, &to_sign));

        let result = match http::send(request, scrub).await {
            Ok((status, reply)) => match (status, parse_envelope(&reply.body)) {
                (Status::Success, Ok(Reply::Success(data))) => Ok(Step::Done(data)),
                (Status::Success, Ok(Reply::Failure { code, text })) => {
                    Ok(Step::Refused(Refusal {
                        code,
                        text: scrub.scrub(&text),
                    }))
                }
                (Status::Success, Err(RpsError::Garbled(reason))) => Err(RpsError::Garbled(
                    format!("{reason}: {}", http::snippet(&reply.body, scrub)),
                )),
                (Status::Success, Err(other)) => Err(other),
                // An error status, explained by an envelope when there is one. The status
                // stays in the text; after 401/403 the code is not classified (a denied
                // request is Rejected whatever the code says: the credentials are at fault).
                (status, Ok(Reply::Failure { code, text })) => Ok(Step::Refused(Refusal {
                    code: if matches!(status, Status::Denied) {
                        String::new()
                    } else {
                        code
                    },
                    text: scrub.scrub(&format!("{}: {text}", http::status_text(reply.status))),
                })),
                (Status::Denied | Status::Other, _) => Ok(Step::Refused(Refusal {
                    code: String::new(),
                    text: http::status_text(reply.status),
                })),
            },
            Err(e) => Err(e),
        };
        match &result {
            Ok(Step::Done(_)) => tracing::debug!(path, "RPS JSON call: OK"),
            Ok(Step::Refused(r)) => tracing::debug!(path, text = %r.text, "RPS JSON call refused"),
            Err(error) => tracing::debug!(path, %error, "RPS JSON call failed"),
        }
        result
    }

    /// Reads `path` (a `*/list` endpoint) page by page, filtered by `key`, until `pick`
    /// matches an item.
    async fn find(
        &self,
        path: &str,
        key: &str,
        pick: impl Fn(&Value) -> bool,
        scrub: &Scrubber,
    ) -> Result<Result<Option<Value>, Refusal>, RpsError> {
        let mut skip = 0;
        for _ in 0..MAX_PAGES {
            let body = json!({"key": key, "skip": skip, "limit": PAGE, "autoCount": true});
            let data = match self.call(path, &[], Some(&body), scrub).await? {
                Step::Done(data) => data,
                Step::Refused(refusal) => return Ok(Err(refusal)),
            };
            // `{total, data: [...]}`; a bare array is accepted too.
            let items = match data.get("data").unwrap_or(&data) {
                Value::Array(items) => items.clone(),
                Value::Null => Vec::new(),
                _ => return Err(RpsError::Garbled(format!("{path}: \"data\" is not a list"))),
            };
            if let Some(found) = items.iter().find(|item| pick(item)) {
                return Ok(Ok(Some(found.clone())));
            }
            skip += items.len() as u64;
            let total = data.get("total").and_then(Value::as_u64).unwrap_or(skip);
            if items.is_empty() || skip >= total {
                break;
            }
        }
        Ok(Ok(None))
    }

    async fn find_server(
        &self,
        name: &str,
        scrub: &Scrubber,
    ) -> Result<Result<Option<Server>, Refusal>, RpsError> {
        let found = self
            .find(
                "server/list",
                name,
                |item| item.get("serverName").and_then(Value::as_str) == Some(name),
                scrub,
            )
            .await?;
        Ok(found.map(|item| {
            item.and_then(|item| {
                let id = item.get("id").filter(|id| !id.is_null())?.clone();
                let url = item
                    .get("url")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                Some(Server { id, url })
            })
        }))
    }

    async fn find_device(
        &self,
        mac: Mac,
        scrub: &Scrubber,
    ) -> Result<Result<Option<Value>, Refusal>, RpsError> {
        let found = self
            .find(
                "device/list",
                &mac.to_string(),
                |item| {
                    item.get("mac")
                        .and_then(Value::as_str)
                        .and_then(|m| Mac::parse(m).ok())
                        == Some(mac)
                },
                scrub,
            )
            .await?;
        Ok(found
            .map(|item| item.and_then(|item| item.get("id").filter(|id| !id.is_null()).cloned())))
    }

    fn remember(&self, name: &str, id: Value) {
        self.server_ids.lock().insert(name.to_owned(), id);
    }

    fn forget(&self, name: &str) {
        self.server_ids.lock().remove(name);
    }

    /// The id of server `name`: cached, else looked up.
    async fn server_id(
        &self,
        name: &str,
        scrub: &Scrubber,
    ) -> Result<Result<Option<Value>, Refusal>, RpsError> {
        if let Some(id) = self.server_ids.lock().get(name).cloned() {
            return Ok(Ok(Some(id)));
        }
        Ok(self.find_server(name, scrub).await?.map(|found| {
            found.map(|server| {
                self.remember(name, server.id.clone());
                server.id
            })
        }))
    }

    /// server/edit to point `server` at `url`; `text` is what happened before.
    async fn edit_server(
        &self,
        name: &str,
        url: &str,
        server: Server,
        text: &str,
        scrub: &Scrubber,
    ) -> Result<Answer, RpsError> {
        let body = json!({"id": server.id, "serverName": name, "url": url});
        self.remember(name, server.id);
        Ok(
            match self.call("server/edit", &[], Some(&body), scrub).await? {
                Step::Done(_) => Answer::new(Outcome::Ok, format!("{text}; server/edit: OK")),
                Step::Refused(r) => Answer::new(
                    classify(Command::AddServer, &r.code),
                    format!("{text}; server/edit: {}", r.text),
                ),
            },
        )
    }
}

fn rejected(refusal: Refusal, step: &str) -> Answer {
    Answer::new(Outcome::Rejected, format!("{step}: {}", refusal.text))
}

#[async_trait]
impl Rps for JsonClient {
    fn api(&self) -> RpsApi {
        RpsApi::Json
    }

    /// `server/list`, then `server/edit` when the URL differs.
    fn updates_server_url(&self) -> bool {
        true
    }

    async fn add_server(&self, name: &str, url: &str) -> Result<Answer, RpsError> {
        let scrub = self.scrubber().with_url(Some(url));
        let existing = match self.find_server(name, &scrub).await? {
            Ok(existing) => existing,
            Err(refusal) => return Ok(rejected(refusal, "server/list")),
        };
        match existing {
            Some(server) if server.url == url => {
                self.remember(name, server.id);
                Ok(Answer::new(
                    Outcome::AlreadyDone,
                    "server/list: exists with this URL",
                ))
            }
            Some(server) => {
                self.edit_server(
                    name,
                    url,
                    server,
                    "server/list: exists with another URL",
                    &scrub,
                )
                .await
            }
            None => {
                let body = json!({"serverName": name, "url": url});
                let refusal = match self.call("server/add", &[], Some(&body), &scrub).await? {
                    Step::Done(data) => {
                        if let Some(id) = data.get("id").filter(|id| !id.is_null()) {
                            self.remember(name, id.clone());
                        }
                        return Ok(Answer::new(Outcome::Ok, "server/add: OK"));
                    }
                    Step::Refused(refusal) => refusal,
                };
                // Another instance may have added it since we listed: look once more. Still
                // absent means the name is taken by another enterprise (names are global).
                let text = format!("server/add: {}", refusal.text);
                match self.find_server(name, &scrub).await? {
                    Ok(Some(server)) if server.url == url => {
                        self.remember(name, server.id);
                        Ok(Answer::new(
                            Outcome::AlreadyDone,
                            format!("{text}; server/list: exists with this URL"),
                        ))
                    }
                    Ok(Some(server)) => {
                        let text = format!("{text}; server/list: exists with another URL");
                        self.edit_server(name, url, server, &text, &scrub).await
                    }
                    Ok(None) | Err(_) => Ok(Answer::new(Outcome::Rejected, text)),
                }
            }
        }
    }

    async fn deregister_device(&self, mac: Mac) -> Result<Answer, RpsError> {
        let scrub = self.scrubber();
        let id = match self.find_device(mac, &scrub).await? {
            Ok(Some(id)) => id,
            Ok(None) => {
                return Ok(Answer::new(
                    Outcome::AlreadyDone,
                    "device/list: not in this account",
                ));
            }
            Err(refusal) => return Ok(rejected(refusal, "device/list")),
        };
        let body = json!({"ids": [id]});
        Ok(
            match self.call("device/delete", &[], Some(&body), &scrub).await? {
                Step::Done(_) => Answer::new(Outcome::Ok, "device/delete: OK"),
                Step::Refused(r) => Answer::new(
                    classify(Command::DeregisterDevice, &r.code),
                    format!("device/delete: {}", r.text),
                ),
            },
        )
    }

    async fn redirect_device(&self, mac: Mac, target: &RedirectTarget) -> Result<Answer, RpsError> {
        let scrub = self
            .scrubber()
            .with_url(target.unique_url.as_deref())
            .with_opt(target.password.as_deref());
        let name = target.server_name.as_str();
        let server_id = match self.server_id(name, &scrub).await? {
            Ok(Some(id)) => id,
            Ok(None) => {
                return Ok(Answer::new(
                    Outcome::Rejected,
                    format!(
                        "server/list: no server named {name:?} in this account (ADD SERVER first)"
                    ),
                )
                .with_unknown_server(true));
            }
            Err(refusal) => return Ok(rejected(refusal, "server/list")),
        };
        // The binding, shared by device/add and device/edit. Absent options are left out.
        let mut binding = serde_json::Map::new();
        binding.insert("serverId".into(), server_id);
        if let Some(url) = &target.unique_url {
            binding.insert("uniqueServerUrl".into(), json!(url));
        }
        if let Some(auth_name) = &target.auth_name {
            binding.insert("authName".into(), json!(auth_name));
        }
        if let Some(password) = &target.password {
            binding.insert("password".into(), json!(password));
        }

        let mut add = binding.clone();
        add.insert("macs".into(), json!([mac.to_string()]));
        let refusal = match self
            .call("device/add", &[], Some(&Value::Object(add)), &scrub)
            .await?
        {
            Step::Done(_) => return Ok(Answer::new(Outcome::Ok, "device/add: OK")),
            Step::Refused(refusal) => refusal,
        };
        if refusal.code != "device.mac.existed" {
            // The cached server id may be stale (server deleted in the portal): look it up
            // afresh next time.
            self.forget(name);
            return Ok(Answer::new(
                // Whatever the code, the binding we asked for was not made.
                Outcome::Rejected,
                format!("device/add: {}", refusal.text),
            )
            // A server deleted in the portal since we cached its id. The code is the
            // simulator's; Yealink's docs name none [?], so only this one counts.
            .with_unknown_server(refusal.code == "server.not.found"));
        }
        let text = format!("device/add: {}", refusal.text);
        let id = match self.find_device(mac, &scrub).await? {
            Ok(Some(id)) => id,
            Ok(None) => {
                return Ok(Answer::new(
                    Outcome::Rejected,
                    format!("{text}; device/list: not in this account"),
                ));
            }
            Err(refusal) => {
                return Ok(Answer::new(
                    Outcome::Rejected,
                    format!("{text}; device/list: {}", refusal.text),
                ));
            }
        };
        let mut edit = binding;
        edit.insert("id".into(), id);
        Ok(
            match self
                .call("device/edit", &[], Some(&Value::Object(edit)), &scrub)
                .await?
            {
                Step::Done(_) => {
                    Answer::new(Outcome::AlreadyDone, format!("{text}; device/edit: OK"))
                }
                Step::Refused(r) => Answer::new(
                    Outcome::Rejected,
                    format!("{text}; device/edit: {}", r.text),
                ),
            },
        )
    }

    async fn check_device(&self, mac: Mac) -> Result<Answer, RpsError> {
        let scrub = self.scrubber();
        let mac = mac.to_string();
        match self
            .call("device/checkMac", &[("mac", &mac)], None, &scrub)
            .await?
        {
            Step::Done(data) => {
                let existed = data
                    .get("existed")
                    .and_then(Value::as_bool)
                    .ok_or_else(|| {
                        RpsError::Garbled("device/checkMac: no boolean \"existed\"".into())
                    })?;
                // `self` is false when another enterprise owns the MAC, null when unknown.
                let text = match (existed, data.get("self").and_then(Value::as_bool)) {
                    (false, _) => "unregistered",
                    (true, Some(false)) => "registered elsewhere",
                    (true, _) => "registered",
                };
                Ok(Answer::new(Outcome::Ok, text))
            }
            Step::Refused(r) => Ok(Answer::new(
                classify(Command::CheckDevice, &r.code),
                format!("device/checkMac: {}", r.text),
            )),
        }
    }
}
