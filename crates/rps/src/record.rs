//! History records: what was sent to RPS, as an administrator may see it.

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::redact::{MASK, redact_unique_url, redact_url};
use crate::{Command, Mac, RedirectTarget, RpsApi};

/// The parameters of a command, beyond the MAC.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum CommandDetail {
    /// DEREGISTER DEVICE, CHECK DEVICE: the MAC says it all.
    #[default]
    None,
    /// ADD SERVER.
    Server { name: String, url: String },
    /// REDIRECT DEVICE.
    Redirect(RedirectTarget),
}

/// One RPS command as the history shows it: never a secret in `params`.
#[derive(Clone, Debug, Serialize)]
pub struct CommandRecord {
    pub command: Command,
    pub mac: Option<Mac>,
    /// What was sent, masked: passwords are `********`, and so is the URL token in
    /// `unique_url` (the segment after `/prov/`). Also names the API and the wire method.
    pub params: Value,
}

/// The history entry for `command` sent over `api`.
pub fn describe(
    api: RpsApi,
    command: Command,
    mac: Option<Mac>,
    detail: &CommandDetail,
) -> CommandRecord {
    let mut params = Map::new();
    params.insert("api".into(), json!(api.as_str()));
    params.insert("method".into(), json!(wire_method(api, command, detail)));
    match detail {
        CommandDetail::None => {}
        CommandDetail::Server { name, url } => {
            params.insert("server_name".into(), json!(name));
            params.insert("url".into(), json!(redact_url(url)));
        }
        CommandDetail::Redirect(target) => {
            params.insert("server_name".into(), json!(target.server_name));
            if let Some(url) = &target.unique_url {
                params.insert("unique_url".into(), json!(redact_unique_url(url)));
            }
            match api {
                // XML-RPC has no field for per-device credentials: say so rather than
                // pretend they were sent.
                RpsApi::Xmlrpc => {
                    params.insert("override".into(), json!("1"));
                    if target.auth_name.is_some() || target.password.is_some() {
                        params.insert(
                            "credentials".into(),
                            json!("not sent: the XML-RPC API cannot carry them"),
                        );
                    }
                }
                RpsApi::Json => {
                    if let Some(auth_name) = &target.auth_name {
                        params.insert("auth_name".into(), json!(auth_name));
                    }
                    if target.password.is_some() {
                        params.insert("password".into(), json!(MASK));
                    }
                }
            }
        }
    }
    CommandRecord {
        command,
        mac,
        params: Value::Object(params),
    }
}

/// The API call that carries the command (the JSON API's lookups around it are not named).
fn wire_method(api: RpsApi, command: Command, detail: &CommandDetail) -> &'static str {
    match (api, command) {
        (RpsApi::Xmlrpc, Command::AddServer) => "redirect.addServer",
        (RpsApi::Xmlrpc, Command::DeregisterDevice) => "redirect.deRegisterDevice",
        (RpsApi::Xmlrpc, Command::RedirectDevice) => match detail {
            CommandDetail::Redirect(RedirectTarget {
                unique_url: Some(_),
                ..
            }) => "redirect.registerDeviceWithUniqueUrl",
            _ => "redirect.registerDevice",
        },
        (RpsApi::Xmlrpc, Command::CheckDevice) => "redirect.checkDevice",
        (RpsApi::Json, Command::AddServer) => "server/add",
        (RpsApi::Json, Command::DeregisterDevice) => "device/delete",
        (RpsApi::Json, Command::RedirectDevice) => "device/add",
        (RpsApi::Json, Command::CheckDevice) => "device/checkMac",
    }
}
