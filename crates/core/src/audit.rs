//! Who did what: the actor and action of every change to devices and settings, and the short
//! summary recorded with it. Summaries name fields and settings, never their values, so no
//! secret (SIP password, phone credentials, RPS secret) can reach the audit.

use prov_store::{ChangeEntry, DeviceRecord};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use yealink::Mac;

use crate::auth::Session;

/// Who made a change. Stored as JSON (`{"kind": "my_apps", ...}`) with each entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Actor {
    /// An innovaphone administrator signed in through myApps.
    MyApps {
        sip: String,
        dn: String,
        guid: String,
    },
    /// Someone signed in to `/ui` with the admin password.
    AdminPassword,
    /// The JSON API; `credential` says which one (there is one admin credential today).
    Api { credential: String },
    /// The `yealink-prov` command line on the server.
    Cli,
    /// The PBX side: `service` is `Users` (ProvisioningPhone) or `Devices` (configuration),
    /// `user` the PBX user the phone belongs to, when known.
    Innovaphone {
        service: String,
        user: Option<String>,
    },
    /// `yealink-prov demo` seeding its sample data.
    Demo,
}

impl Actor {
    /// The API's actor (the admin credential, Bearer or Basic).
    pub fn api() -> Actor {
        Actor::Api {
            credential: "admin password".into(),
        }
    }

    /// Short stable name of the kind, for CSS classes and filters.
    pub fn kind(&self) -> &'static str {
        match self {
            Actor::MyApps { .. } => "my_apps",
            Actor::AdminPassword => "admin_password",
            Actor::Api { .. } => "api",
            Actor::Cli => "cli",
            Actor::Innovaphone { .. } => "innovaphone",
            Actor::Demo => "demo",
        }
    }

    /// Who, for people (untranslated names; the UI adds the kind's label).
    pub fn name(&self) -> String {
        match self {
            Actor::MyApps { sip, dn, .. } if dn.is_empty() => sip.clone(),
            Actor::MyApps { sip, dn, .. } => format!("{dn} ({sip})"),
            Actor::AdminPassword => "admin password".into(),
            Actor::Api { credential } => format!("API ({credential})"),
            Actor::Cli => "command line".into(),
            Actor::Innovaphone { service, user } => match user {
                Some(user) => format!("innovaphone {service}, user {user}"),
                None => format!("innovaphone {service}"),
            },
            Actor::Demo => "demo".into(),
        }
    }

    /// Reads a stored actor; an unknown shape (a newer version wrote it) shows as its JSON.
    pub fn from_stored(value: &serde_json::Value) -> Result<Actor, String> {
        serde_json::from_value(value.clone()).map_err(|_| value.to_string())
    }
}

/// The actor of a signed-in `/ui` request. The one place the UI maps a session to an actor.
pub fn ui_actor(session: &Session) -> Actor {
    // A session opened by a PBX-signed myApps login names its user; the admin password and the
    // App object password (top-level app page) name nobody.
    match &session.user {
        Some(user) => Actor::MyApps {
            sip: user.sip.clone(),
            dn: user.dn.clone(),
            guid: user.guid.clone(),
        },
        None => Actor::AdminPassword,
    }
}

/// What was done.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    DeviceAdded,
    /// Added by a CSV import (one entry per device).
    DeviceImported,
    DeviceEdited,
    DeviceRemoved,
    RedirectResent,
    SettingsChanged,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::DeviceAdded => "device_added",
            Action::DeviceImported => "device_imported",
            Action::DeviceEdited => "device_edited",
            Action::DeviceRemoved => "device_removed",
            Action::RedirectResent => "redirect_resent",
            Action::SettingsChanged => "settings_changed",
        }
    }
}

/// A store entry for a change made now.
pub fn entry(actor: &Actor, action: Action, mac: Option<Mac>, summary: String) -> ChangeEntry {
    ChangeEntry {
        id: 0,
        at: OffsetDateTime::now_utc(),
        actor: serde_json::to_value(actor).unwrap_or(serde_json::Value::Null),
        action: action.as_str().to_owned(),
        mac,
        summary,
    }
}

/// The names of the device fields that differ, e.g. `sip_password, overrides.time_zone`. The
/// secrets count by name only; the per-phone HTTP password and URL token show as
/// `provisioning_credentials` (they always change together).
pub fn device_changes(before: &DeviceRecord, after: &DeviceRecord) -> Vec<String> {
    let mut names = Vec::new();
    let mut note = |changed: bool, name: &str| {
        if changed {
            names.push(name.to_owned());
        }
    };
    note(before.name != after.name, "name");
    note(before.model != after.model, "model");
    note(before.sip_user != after.sip_user, "sip_user");
    note(before.auth_name != after.auth_name, "auth_name");
    note(before.sip_password != after.sip_password, "sip_password");
    note(before.display_name != after.display_name, "display_name");
    note(before.registrar != after.registrar, "registrar");
    note(
        before.http_password != after.http_password || before.url_token != after.url_token,
        "provisioning_credentials",
    );
    note(
        before.admin_password != after.admin_password,
        "admin_password",
    );
    names.extend(
        changed_keys(&before.overrides.to_value(), &after.overrides.to_value())
            .into_iter()
            .map(|k| format!("overrides.{k}")),
    );
    names
}

/// The top-level keys whose values differ between two JSON objects (a key missing on one side
/// counts as changed). Not objects: `[""]` if they differ.
pub fn changed_keys(before: &serde_json::Value, after: &serde_json::Value) -> Vec<String> {
    use serde_json::Value;
    let (Value::Object(b), Value::Object(a)) = (before, after) else {
        return if before == after {
            Vec::new()
        } else {
            vec![String::new()]
        };
    };
    let mut keys: Vec<String> = b
        .keys()
        .chain(a.keys())
        .filter(|k| b.get(*k).unwrap_or(&Value::Null) != a.get(*k).unwrap_or(&Value::Null))
        .cloned()
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// `a, b, c`, or `nothing` when empty (a save that changed nothing is still recorded).
pub fn summary(names: &[String]) -> String {
    if names.is_empty() {
        "no field changed".into()
    } else {
        names.join(", ")
    }
}

/// An entry as the API and the UI show it: the stored actor plus its kind and a readable name.
#[derive(Clone, Debug, Serialize)]
pub struct ChangeView {
    pub id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub actor: serde_json::Value,
    pub actor_kind: String,
    pub actor_name: String,
    pub action: String,
    pub mac: Option<Mac>,
    pub summary: String,
}

impl From<&ChangeEntry> for ChangeView {
    fn from(e: &ChangeEntry) -> Self {
        let (actor_kind, actor_name) = match Actor::from_stored(&e.actor) {
            Ok(actor) => (actor.kind().to_owned(), actor.name()),
            Err(raw) => ("unknown".to_owned(), raw),
        };
        ChangeView {
            id: e.id,
            at: e.at,
            actor: e.actor.clone(),
            actor_kind,
            actor_name,
            action: e.action.clone(),
            mac: e.mac,
            summary: e.summary.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn record() -> DeviceRecord {
        DeviceRecord {
            mac: Mac::parse("805ec0aa0001").unwrap(),
            name: "Desk".into(),
            model: None,
            sip_user: "201".into(),
            auth_name: None,
            sip_password: "OldSipPassw0rd".into(),
            display_name: None,
            registrar: "pbx.example.com".into(),
            overrides: serde_json::json!({"time_zone": "+1"}).into(),
            http_password: "OldHttpPassw0rd".into(),
            url_token: "OldUrlT0ken".into(),
            admin_password: "OldAdminPassw0rd".into(),
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
            revision: 1,
        }
    }

    #[test]
    fn device_summary_names_fields_and_never_values() {
        let before = record();
        let mut after = record();
        after.sip_password = "NewSipSecret-9f3k".into();
        after.http_password = "NewHttpSecret-2k".into();
        after.url_token = "NewUrlToken-77".into();
        after.admin_password = "NewAdminSecret-1".into();
        after.overrides = serde_json::json!({"time_zone": "+2", "ntp_servers": ["ntp.x"]}).into();
        let names = device_changes(&before, &after);
        assert_eq!(
            names,
            [
                "sip_password",
                "provisioning_credentials",
                "admin_password",
                "overrides.ntp_servers",
                "overrides.time_zone"
            ]
        );
        let stored = serde_json::to_string(&entry(
            &Actor::AdminPassword,
            Action::DeviceEdited,
            Some(after.mac),
            summary(&names),
        ))
        .unwrap();
        for secret in [
            "NewSipSecret-9f3k",
            "OldSipPassw0rd",
            "NewHttpSecret-2k",
            "NewUrlToken-77",
            "NewAdminSecret-1",
            "+2",
        ] {
            assert!(!stored.contains(secret), "{secret} leaked into {stored}");
        }
    }

    #[test]
    fn settings_keys_name_what_changed() {
        let before = serde_json::json!({"rps_username": "a", "ntp_servers": ["x"], "same": 1});
        let after = serde_json::json!({"rps_username": "b", "same": 1, "new": true});
        assert_eq!(
            changed_keys(&before, &after),
            ["new", "ntp_servers", "rps_username"]
        );
        assert_eq!(summary(&[]), "no field changed");
    }

    #[test]
    fn actors_round_trip_and_read_for_people() {
        let me = Actor::MyApps {
            sip: "alice".into(),
            dn: "Alice Admin".into(),
            guid: "g1".into(),
        };
        let json = serde_json::to_value(&me).unwrap();
        assert_eq!(json["kind"], "my_apps");
        assert_eq!(Actor::from_stored(&json).unwrap(), me);
        assert_eq!(me.name(), "Alice Admin (alice)");
        assert!(Actor::from_stored(&serde_json::json!({"kind": "robot"})).is_err());
    }
}
