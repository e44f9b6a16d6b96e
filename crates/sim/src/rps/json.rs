//! The signed JSON API under `/api/open/v1/` (reference A2.1, A2.2). Every answer is the
//! envelope `{"ret", "data", "error": null | {"msg", "fieldErrors"}}`; the rules the
//! simulator follows are listed in the `rps` module's documentation.

use std::collections::HashSet;
use std::sync::Mutex;

use axum::http::{HeaderMap, Method, StatusCode};
use serde_json::{Map, Value, json};

use super::sign::{self, SignedHeaders};
use super::store::{
    Owner, Store, StoredDevice, StoredServer, parse_mac, valid_server_name, valid_url,
};
use super::{RpsSimConfig, lock};

/// The error codes (`error.msg`) the simulator uses.
pub mod code {
    /// `device/add`: the MAC is in this account already (reference).
    pub const MAC_EXISTED: &str = "device.mac.existed";
    /// `device/add`: the MAC is in another account (reference).
    pub const MAC_ADDED_BY_OTHER: &str = "device.mac.added.by.other";
    /// `device/edit`, `device/delete`: another account's device (reference).
    pub const OPERATE_FORBIDDEN: &str = "device.operate.forbidden";
    /// No such device in this account (reference).
    pub const DEVICE_NOT_FOUND: &str = "device.not.found";
    /// A MAC in none of RPS's notations (simulator's choice).
    pub const MAC_INVALID: &str = "device.mac.invalid";
    /// `server/add`, `server/edit`: the name is used by any account (simulator's choice).
    pub const SERVER_NAME_EXISTED: &str = "server.name.existed";
    /// A server name outside `A-z 0-9 - _ .` and space (simulator's choice).
    pub const SERVER_NAME_INVALID: &str = "server.name.invalid";
    /// A server or unique URL not starting with http://, https://, ftp://, tftp:// (choice).
    pub const URL_INVALID: &str = "server.url.invalid";
    /// No such server in this account (simulator's choice).
    pub const SERVER_NOT_FOUND: &str = "server.not.found";
    /// `server/delete` of a server devices still point at (simulator's choice).
    pub const SERVER_IN_USE: &str = "server.used.by.device";
    /// A missing or mistyped field, or a body that is not a JSON object (choice).
    pub const PARAM_INVALID: &str = "param.invalid";
    /// Signature check (HTTP 401): missing or unknown `X-Ca-Key`.
    pub const KEY_INVALID: &str = "auth.key.invalid";
    /// Signature check (HTTP 401): `X-Ca-Timestamp` missing, not 13 digits, or more than
    /// 15 minutes away from the simulator's clock.
    pub const TIMESTAMP_INVALID: &str = "auth.timestamp.invalid";
    /// Signature check (HTTP 401): `X-Ca-Nonce` missing or empty.
    pub const NONCE_INVALID: &str = "auth.nonce.invalid";
    /// Signature check (HTTP 401): `X-Ca-Nonce` seen before.
    pub const NONCE_REPLAYED: &str = "auth.nonce.replayed";
    /// Signature check (HTTP 401): a body without `Content-MD5`, or one that does not match.
    pub const CONTENT_MD5_INVALID: &str = "auth.content.md5.invalid";
    /// Signature check (HTTP 401): `X-Ca-Signature` missing or wrong.
    pub const SIGNATURE_INVALID: &str = "auth.signature.invalid";
    /// HTTP 404: no such API.
    pub const PATH_NOT_FOUND: &str = "request.path.not.found";
    /// HTTP 405: the API exists with the other HTTP method.
    pub const METHOD_NOT_SUPPORTED: &str = "request.method.not.supported";
}

/// The replay window: a timestamp further than this from now is refused.
pub const TIMESTAMP_WINDOW_MS: u64 = 15 * 60 * 1000;

/// The path prefix of every JSON API.
pub const PREFIX: &str = "/api/open/v1/";

/// One answer, and the MAC it was about (for the call log).
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: StatusCode,
    pub body: Value,
    pub mac: Option<String>,
}

impl Answer {
    fn success(ret: i64, data: Value) -> Answer {
        Answer {
            status: StatusCode::OK,
            body: json!({ "ret": ret, "data": data, "error": null }),
            mac: None,
        }
    }

    fn failure(status: StatusCode, code: &str, fields: Vec<(String, String)>) -> Answer {
        let fields: Vec<Value> = fields
            .into_iter()
            .map(|(field, msg)| json!({ "field": field, "msg": msg }))
            .collect();
        Answer {
            status,
            body: json!({
                "ret": -1,
                "data": null,
                "error": { "msg": code, "fieldErrors": fields },
            }),
            mac: None,
        }
    }

    fn refused(code: &str) -> Answer {
        Answer::failure(StatusCode::OK, code, Vec::new())
    }

    fn with_mac(mut self, mac: Option<String>) -> Answer {
        self.mac = mac;
        self
    }

    pub fn ok(&self) -> bool {
        self.status.is_success() && self.body["ret"].as_i64().is_some_and(|r| r >= 0)
    }
}

/// The decoded query parameters.
pub(crate) fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    query
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

/// One request as received.
#[derive(Clone, Copy)]
pub(crate) struct Incoming<'a> {
    pub method: &'a Method,
    /// The path as sent (`/api/open/v1/...`).
    pub path: &'a str,
    /// Decoded query parameters.
    pub query: &'a [(String, String)],
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// Checks the `X-Ca-*` headers, `Content-MD5` and the signature; remembers the nonce of a
/// request that passes. `now_ms` is the simulator's clock.
pub(crate) fn authenticate(
    config: &RpsSimConfig,
    nonces: &Mutex<HashSet<String>>,
    request: &Incoming<'_>,
    now_ms: u64,
) -> Result<(), Answer> {
    let Incoming {
        method,
        path,
        query,
        headers,
        body,
    } = *request;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let deny = |code: &str| Answer::failure(StatusCode::UNAUTHORIZED, code, Vec::new());

    let key = header("x-ca-key")
        .filter(|k| *k == config.access_key_id)
        .ok_or_else(|| deny(code::KEY_INVALID))?;
    let timestamp = header("x-ca-timestamp")
        .filter(|t| t.len() == 13 && t.bytes().all(|b| b.is_ascii_digit()))
        .filter(|t| {
            t.parse::<u64>()
                .is_ok_and(|ms| ms.abs_diff(now_ms) <= TIMESTAMP_WINDOW_MS)
        })
        .ok_or_else(|| deny(code::TIMESTAMP_INVALID))?;
    let nonce = header("x-ca-nonce")
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| deny(code::NONCE_INVALID))?;
    if lock(nonces).contains(nonce) {
        return Err(deny(code::NONCE_REPLAYED));
    }
    let content_md5 = if body.is_empty() {
        None
    } else {
        let expected = sign::content_md5(body);
        match header("content-md5") {
            Some(given) if given.trim() == expected => Some(expected),
            _ => return Err(deny(code::CONTENT_MD5_INVALID)),
        }
    };
    let signed = SignedHeaders {
        key,
        nonce,
        timestamp,
        content_md5: content_md5.as_deref(),
    };
    let string_to_sign = sign::string_to_sign(method.as_str(), &signed, path, query);
    let signature = header("x-ca-signature").unwrap_or_default();
    if !sign::verify(&config.access_key_secret, &string_to_sign, signature) {
        return Err(deny(code::SIGNATURE_INVALID));
    }
    // Checked and inserted under one lock, so two concurrent uses cannot both pass.
    if !lock(nonces).insert(nonce.to_owned()) {
        return Err(deny(code::NONCE_REPLAYED));
    }
    Ok(())
}

/// A refusal from a handler.
type Fail = Box<Answer>;

fn fail(code: &str) -> Fail {
    Box::new(Answer::refused(code))
}

fn tag(mut fail: Fail, mac: Option<String>) -> Fail {
    fail.mac = mac;
    fail
}

fn bad_field(field: &str, msg: &str) -> Fail {
    Box::new(Answer::failure(
        StatusCode::OK,
        code::PARAM_INVALID,
        vec![(field.to_owned(), msg.to_owned())],
    ))
}

/// Runs one authenticated request. `api` is the path after [`PREFIX`].
pub(crate) fn route(
    store: &mut Store,
    enterprise: &str,
    method: &Method,
    api: &str,
    query: &[(String, String)],
    body: &[u8],
) -> Answer {
    let expected = match api {
        "server/add" | "server/list" | "server/edit" | "server/delete" | "device/add"
        | "device/list" | "device/edit" | "device/delete" => Method::POST,
        "server/detail"
        | "server/checkServerName"
        | "device/detail"
        | "device/checkMac"
        | "device/serverList" => Method::GET,
        _ => {
            return Answer::failure(StatusCode::NOT_FOUND, code::PATH_NOT_FOUND, Vec::new());
        }
    };
    if *method != expected {
        return Answer::failure(
            StatusCode::METHOD_NOT_ALLOWED,
            code::METHOD_NOT_SUPPORTED,
            Vec::new(),
        );
    }
    let mut api_state = Api { store, enterprise };
    let result = if expected == Method::POST {
        match parse_object(body) {
            Ok(obj) => api_state.post(api, &obj),
            Err(answer) => Err(answer),
        }
    } else {
        api_state.get(api, query)
    };
    result.unwrap_or_else(|fail| *fail)
}

fn parse_object(body: &[u8]) -> Result<Map<String, Value>, Fail> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(obj)) => Ok(obj),
        _ => Err(Box::new(Answer::failure(
            StatusCode::BAD_REQUEST,
            code::PARAM_INVALID,
            vec![("body".to_owned(), "not a JSON object".to_owned())],
        ))),
    }
}

/// A required non-empty string.
fn required(obj: &Map<String, Value>, field: &str) -> Result<String, Fail> {
    match obj.get(field) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(Value::String(_)) | None | Some(Value::Null) => Err(bad_field(field, "required")),
        Some(_) => Err(bad_field(field, "must be a string")),
    }
}

/// An optional string: absent, `null` and `""` are all `None`.
fn optional(obj: &Map<String, Value>, field: &str) -> Result<Option<String>, Fail> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok((!s.is_empty()).then(|| s.clone())),
        Some(_) => Err(bad_field(field, "must be a string")),
    }
}

/// For edits: absent leaves the value as it is (`None`); `null` or `""` clears it
/// (`Some(None)`); a string sets it.
fn change(obj: &Map<String, Value>, field: &str) -> Result<Option<Option<String>>, Fail> {
    if obj.contains_key(field) {
        optional(obj, field).map(Some)
    } else {
        Ok(None)
    }
}

fn count(obj: &Map<String, Value>, field: &str) -> Result<usize, Fail> {
    obj.get(field)
        .and_then(Value::as_u64)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| bad_field(field, "required non-negative integer"))
}

fn strings(obj: &Map<String, Value>, field: &str) -> Result<Option<Vec<String>>, Fail> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| bad_field(field, "must be a list of strings"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(bad_field(field, "must be a list of strings")),
    }
}

fn query_value<'q>(query: &'q [(String, String)], key: &str) -> Result<&'q str, Fail> {
    query
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| bad_field(key, "required"))
}

/// Paging: `skip`, `limit` required; `autoCount` accepted (the total is always given).
fn page<T>(obj: &Map<String, Value>, items: Vec<T>) -> Result<(usize, Vec<T>), Fail> {
    let skip = count(obj, "skip")?;
    let limit = count(obj, "limit")?;
    let total = items.len();
    Ok((total, items.into_iter().skip(skip).take(limit).collect()))
}

struct Api<'a> {
    store: &'a mut Store,
    enterprise: &'a str,
}

impl Api<'_> {
    fn post(&mut self, api: &str, obj: &Map<String, Value>) -> Result<Answer, Fail> {
        match api {
            "server/add" => self.server_add(obj),
            "server/list" => self.server_list(obj),
            "server/edit" => self.server_edit(obj),
            "server/delete" => self.server_delete(obj),
            "device/add" => self.device_add(obj),
            "device/list" => self.device_list(obj),
            "device/edit" => self.device_edit(obj),
            _ => self.device_delete(obj),
        }
    }

    fn get(&mut self, api: &str, query: &[(String, String)]) -> Result<Answer, Fail> {
        match api {
            "server/detail" => {
                let server = self.own_server(query_value(query, "id")?)?;
                Ok(Answer::success(0, server_json(&server)))
            }
            "server/checkServerName" => {
                let name = query_value(query, "serverName")?;
                let exists = self.store.server_by_name(name).is_some();
                Ok(Answer::success(0, json!(exists)))
            }
            "device/detail" => {
                let device = self.own_device(query_value(query, "id")?)?;
                let mac = Some(device.mac.clone());
                Ok(Answer::success(0, self.device_json(&device)).with_mac(mac))
            }
            "device/checkMac" => {
                let raw = query_value(query, "mac")?;
                let mac = parse_mac(raw).ok_or_else(|| fail(code::MAC_INVALID))?;
                let data = match self.store.device_by_mac(&mac).map(|d| d.owner) {
                    Some(owner) => json!({
                        "existed": true,
                        "self": owner == Owner::ThisAccount,
                    }),
                    None => json!({ "existed": false, "self": null }),
                };
                Ok(Answer::success(0, data).with_mac(Some(mac)))
            }
            _ => {
                let servers: Vec<Value> = self
                    .own_servers()
                    .iter()
                    .map(|s| json!({ "id": s.id, "serverName": s.name, "url": s.url }))
                    .collect();
                Ok(Answer::success(0, Value::Array(servers)))
            }
        }
    }

    fn own_servers(&self) -> Vec<StoredServer> {
        self.store
            .servers()
            .iter()
            .filter(|s| s.owner == Owner::ThisAccount)
            .cloned()
            .collect()
    }

    fn own_server(&self, id: &str) -> Result<StoredServer, Fail> {
        self.store
            .server(id)
            .filter(|s| s.owner == Owner::ThisAccount)
            .cloned()
            .ok_or_else(|| fail(code::SERVER_NOT_FOUND))
    }

    fn own_device(&self, id: &str) -> Result<StoredDevice, Fail> {
        match self.store.device(id) {
            Some(d) if d.owner == Owner::ThisAccount => Ok(d.clone()),
            Some(_) => Err(fail(code::OPERATE_FORBIDDEN)),
            None => Err(fail(code::DEVICE_NOT_FOUND)),
        }
    }

    fn check_server_fields(&self, name: &str, url: &str, except: Option<&str>) -> Result<(), Fail> {
        if !valid_server_name(name) {
            return Err(fail(code::SERVER_NAME_INVALID));
        }
        if !valid_url(url) {
            return Err(fail(code::URL_INVALID));
        }
        if self
            .store
            .server_by_name(name)
            .is_some_and(|s| Some(s.id.as_str()) != except)
        {
            return Err(fail(code::SERVER_NAME_EXISTED));
        }
        Ok(())
    }

    fn server_add(&mut self, obj: &Map<String, Value>) -> Result<Answer, Fail> {
        let name = required(obj, "serverName")?;
        let url = required(obj, "url")?;
        let (auth_name, password) = (optional(obj, "authName")?, optional(obj, "password")?);
        let certificate_url = optional(obj, "certificateUrl")?;
        self.check_server_fields(&name, &url, None)?;
        let server = self.store.add_server(
            &name,
            &url,
            auth_name,
            password,
            certificate_url,
            Owner::ThisAccount,
        );
        Ok(Answer::success(1, server_json(&server)))
    }

    fn server_list(&mut self, obj: &Map<String, Value>) -> Result<Answer, Fail> {
        let key = optional(obj, "key")?.map(|k| k.to_lowercase());
        let matching: Vec<StoredServer> = self
            .own_servers()
            .into_iter()
            .filter(|s| {
                key.as_ref()
                    .is_none_or(|k| s.name.to_lowercase().contains(k.as_str()))
            })
            .collect();
        let (total, servers) = page(obj, matching)?;
        let data: Vec<Value> = servers.iter().map(server_json).collect();
        Ok(Answer::success(0, json!({ "total": total, "data": data })))
    }

    fn server_edit(&mut self, obj: &Map<String, Value>) -> Result<Answer, Fail> {
        let id = required(obj, "id")?;
        let name = required(obj, "serverName")?;
        let url = required(obj, "url")?;
        let auth_name = change(obj, "authName")?;
        let password = change(obj, "password")?;
        let certificate_url = change(obj, "certificateUrl")?;
        self.own_server(&id)?;
        self.check_server_fields(&name, &url, Some(&id))?;
        let server = self
            .store
            .server_mut(&id)
            .ok_or_else(|| fail(code::SERVER_NOT_FOUND))?;
        server.name = name;
        server.url = url;
        if let Some(v) = auth_name {
            server.auth_name = v;
        }
        if let Some(v) = password {
            server.password = v;
        }
        if let Some(v) = certificate_url {
            server.certificate_url = v;
        }
        let server = server.clone();
        Ok(Answer::success(1, server_json(&server)))
    }

    fn server_delete(&mut self, obj: &Map<String, Value>) -> Result<Answer, Fail> {
        let ids = strings(obj, "ids")?
            .filter(|ids| !ids.is_empty())
            .ok_or_else(|| bad_field("ids", "required"))?;
        for id in &ids {
            self.own_server(id)?;
            if self.store.server_in_use(id) {
                return Err(fail(code::SERVER_IN_USE));
            }
        }
        self.store.remove_servers(&ids);
        Ok(Answer::success(1, Value::Null))
    }

    /// The server named by `serverId` (absent or empty: none).
    fn target_server(&self, obj: &Map<String, Value>) -> Result<Option<String>, Fail> {
        optional(obj, "serverId")?
            .map(|id| self.own_server(&id).map(|s| s.id))
            .transpose()
    }

    fn unique_url(obj: &Map<String, Value>) -> Result<Option<String>, Fail> {
        let url = optional(obj, "uniqueServerUrl")?;
        if url.as_deref().is_some_and(|u| !valid_url(u)) {
            return Err(fail(code::URL_INVALID));
        }
        Ok(url)
    }

    fn device_add(&mut self, obj: &Map<String, Value>) -> Result<Answer, Fail> {
        let raw_macs = strings(obj, "macs")?
            .filter(|m| !m.is_empty())
            .ok_or_else(|| bad_field("macs", "required"))?;
        let server_id = self.target_server(obj)?;
        let unique_url = Self::unique_url(obj)?;
        let (auth_name, password) = (optional(obj, "authName")?, optional(obj, "password")?);
        let remark = optional(obj, "remark")?;

        let mut macs: Vec<String> = Vec::new();
        let mut invalid = Vec::new();
        for raw in &raw_macs {
            match parse_mac(raw) {
                Some(mac) if !macs.contains(&mac) => macs.push(mac),
                Some(_) => {}
                None => invalid.push(("macs".to_owned(), raw.clone())),
            }
        }
        let logged = Some(macs.join(","));
        if !invalid.is_empty() {
            return Err(Box::new(
                Answer::failure(StatusCode::OK, code::MAC_INVALID, invalid).with_mac(logged),
            ));
        }
        // The first MAC already bound decides the code; every MAC with that code is listed.
        let taken = |owner: Owner| -> Vec<(String, String)> {
            macs.iter()
                .filter(|m| self.store.device_by_mac(m).map(|d| d.owner) == Some(owner))
                .map(|m| ("macs".to_owned(), m.clone()))
                .collect()
        };
        if let Some(owner) = macs
            .iter()
            .find_map(|m| self.store.device_by_mac(m).map(|d| d.owner))
        {
            let code = match owner {
                Owner::ThisAccount => code::MAC_EXISTED,
                Owner::OtherAccount => code::MAC_ADDED_BY_OTHER,
            };
            return Err(Box::new(
                Answer::failure(StatusCode::OK, code, taken(owner)).with_mac(logged),
            ));
        }
        let mut added = Vec::new();
        for mac in macs {
            let device = self.store.put_device(StoredDevice {
                id: String::new(),
                mac,
                server_id: server_id.clone(),
                unique_url: unique_url.clone(),
                auth_name: auth_name.clone(),
                password: password.clone(),
                remark: remark.clone(),
                owner: Owner::ThisAccount,
            });
            added.push(self.device_json(&device));
        }
        Ok(Answer::success(1, Value::Array(added)).with_mac(logged))
    }

    fn device_list(&mut self, obj: &Map<String, Value>) -> Result<Answer, Fail> {
        let key = optional(obj, "key")?.map(|k| {
            k.chars()
                .filter(|c| !matches!(c, ':' | '-' | ' '))
                .collect::<String>()
                .to_lowercase()
        });
        let bound = match optional(obj, "status")?.as_deref() {
            None => None,
            Some("bound") => Some(true),
            Some("unbound") => Some(false),
            Some(_) => return Err(bad_field("status", "bound or unbound")),
        };
        let matching: Vec<StoredDevice> = self
            .store
            .devices()
            .iter()
            .filter(|d| d.owner == Owner::ThisAccount)
            .filter(|d| key.as_ref().is_none_or(|k| d.mac.contains(k.as_str())))
            .filter(|d| {
                bound.is_none_or(|b| (d.server_id.is_some() || d.unique_url.is_some()) == b)
            })
            .cloned()
            .collect();
        let (total, devices) = page(obj, matching)?;
        let data: Vec<Value> = devices.iter().map(|d| self.device_json(d)).collect();
        // A key that is a whole MAC is what the call is about (for the call log).
        let mac = key.as_deref().and_then(parse_mac);
        Ok(Answer::success(0, json!({ "total": total, "data": data })).with_mac(mac))
    }

    fn device_edit(&mut self, obj: &Map<String, Value>) -> Result<Answer, Fail> {
        let id = required(obj, "id")?;
        let device = self.own_device(&id)?;
        let mac = Some(device.mac.clone());
        let with_mac = |f: Fail| tag(f, mac.clone());
        let server_id = match change(obj, "serverId").map_err(with_mac)? {
            Some(Some(sid)) => Some(Some(self.own_server(&sid).map_err(with_mac)?.id)),
            other => other,
        };
        let unique_url = change(obj, "uniqueServerUrl").map_err(with_mac)?;
        if unique_url
            .as_ref()
            .and_then(Option::as_deref)
            .is_some_and(|u| !valid_url(u))
        {
            return Err(with_mac(fail(code::URL_INVALID)));
        }
        let auth_name = change(obj, "authName").map_err(with_mac)?;
        let password = change(obj, "password").map_err(with_mac)?;
        let remark = change(obj, "remark").map_err(with_mac)?;
        let stored = self
            .store
            .device_mut(&id)
            .ok_or_else(|| fail(code::DEVICE_NOT_FOUND))?;
        if let Some(v) = server_id {
            stored.server_id = v;
        }
        if let Some(v) = unique_url {
            stored.unique_url = v;
        }
        if let Some(v) = auth_name {
            stored.auth_name = v;
        }
        if let Some(v) = password {
            stored.password = v;
        }
        if let Some(v) = remark {
            stored.remark = v;
        }
        let stored = stored.clone();
        Ok(Answer::success(1, self.device_json(&stored)).with_mac(mac))
    }

    fn device_delete(&mut self, obj: &Map<String, Value>) -> Result<Answer, Fail> {
        let ids = strings(obj, "ids")?.unwrap_or_default();
        let macs = strings(obj, "macs")?.unwrap_or_default();
        if ids.is_empty() && macs.is_empty() {
            return Err(bad_field("ids", "ids or macs required"));
        }
        let mut targets = Vec::new();
        for id in &ids {
            targets.push(self.own_device(id)?);
        }
        for raw in &macs {
            let mac = parse_mac(raw).ok_or_else(|| fail(code::MAC_INVALID))?;
            let device = match self.store.device_by_mac(&mac) {
                Some(d) if d.owner == Owner::ThisAccount => d.clone(),
                Some(_) => return Err(tag(fail(code::OPERATE_FORBIDDEN), Some(mac))),
                None => return Err(tag(fail(code::DEVICE_NOT_FOUND), Some(mac))),
            };
            targets.push(device);
        }
        let logged = targets
            .iter()
            .map(|d| d.mac.clone())
            .collect::<Vec<_>>()
            .join(",");
        let ids: Vec<String> = targets.into_iter().map(|d| d.id).collect();
        let deleted = self.store.remove_devices(&ids);
        Ok(Answer::success(1, json!(deleted)).with_mac(Some(logged)))
    }

    fn device_json(&self, device: &StoredDevice) -> Value {
        let server = device
            .server_id
            .as_deref()
            .and_then(|id| self.store.server(id));
        json!({
            "id": device.id,
            "mac": device.mac,
            "serverId": device.server_id,
            "serverName": server.map(|s| s.name.clone()),
            "serverUrl": server.map(|s| s.url.clone()),
            "uniqueServerUrl": device.unique_url,
            "authName": device.auth_name,
            "ipAddress": null,
            "enterpriseName": self.enterprise,
            "remark": device.remark,
        })
    }
}

fn server_json(server: &StoredServer) -> Value {
    json!({
        "id": server.id,
        "serverName": server.name,
        "url": server.url,
        "authName": server.auth_name,
        "certificateUrl": server.certificate_url,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(store: &mut Store, api: &str, body: Value) -> Value {
        route(
            store,
            "E",
            &Method::POST,
            api,
            &[],
            body.to_string().as_bytes(),
        )
        .body
    }

    #[test]
    fn add_then_conflicts() {
        let mut store = Store::default();
        let srv = post(
            &mut store,
            "server/add",
            json!({"serverName": "s1", "url": "http://p/"}),
        );
        assert_eq!(srv["ret"], 1);
        let id = srv["data"]["id"].as_str().unwrap().to_owned();
        let again = post(
            &mut store,
            "server/add",
            json!({"serverName": "s1", "url": "http://p/"}),
        );
        assert_eq!(again["error"]["msg"], code::SERVER_NAME_EXISTED);
        let dev = post(
            &mut store,
            "device/add",
            json!({"macs": ["80:5E:C0:11:22:33"], "serverId": id}),
        );
        assert_eq!(dev["data"][0]["mac"], "805ec0112233");
        assert_eq!(dev["data"][0]["serverName"], "s1");
        let dup = post(
            &mut store,
            "device/add",
            json!({"macs": ["805ec0112233"], "serverId": id}),
        );
        assert_eq!(dup["error"]["msg"], code::MAC_EXISTED);
        assert_eq!(dup["error"]["fieldErrors"][0]["msg"], "805ec0112233");
    }

    #[test]
    fn wrong_method_and_unknown_path() {
        let mut store = Store::default();
        let a = route(&mut store, "E", &Method::GET, "server/add", &[], b"");
        assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED);
        let a = route(&mut store, "E", &Method::GET, "nope", &[], b"");
        assert_eq!(a.status, StatusCode::NOT_FOUND);
        let a = route(&mut store, "E", &Method::POST, "server/add", &[], b"[1]");
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
        assert!(!a.ok());
    }
}
