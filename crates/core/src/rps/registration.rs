//! What RPS holds for our server entry, as far as we know, and what a finished ADD SERVER
//! changes about it (docs/rps.md, "When our URL or server name changes").
//!
//! Kept in meta [`META_REGISTERED_SERVER`] so that a URL changed while the server was stopped
//! is still noticed at the next start.

use rps::{Outcome, RpsAccount};
use serde::{Deserialize, Serialize};

/// Meta key of the [`RegisteredServer`] record.
pub const META_REGISTERED_SERVER: &str = "rps.registered_server";

/// The server entry we registered at RPS.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisteredServer {
    /// Which account it was registered with (API, endpoint, user name; no secret).
    pub account: String,
    pub name: String,
    /// The URL RPS holds for `name`, as far as we know.
    pub url: String,
    /// Set when RPS still holds `url` although we asked for this one: the XML-RPC API answered
    /// "The server name has been used" and has no call to change a server's URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wanted_url: Option<String>,
}

impl RegisteredServer {
    pub fn is_stale(&self) -> bool {
        self.wanted_url.is_some()
    }
}

/// The account part of the record: a new account starts from nothing.
pub fn account_key(account: &RpsAccount) -> String {
    format!(
        "{} {} {}",
        account.api,
        account.endpoint_or_default(),
        account.username
    )
}

/// What a finished ADD SERVER means for the record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reconciled {
    /// The record to store (`None`: keep the stored one, RPS refused or failed).
    pub record: Option<RegisteredServer>,
    /// Name or URL differ from the previous registration with this account: the phones'
    /// bindings must be sent again (each carries its own URL and the server name).
    pub changed: bool,
}

/// Folds an ADD SERVER answer for `name` and `url` into the `previous` record.
/// `updates_url`: the API points an existing name at a new URL (see `Rps::updates_server_url`).
pub fn reconcile(
    previous: Option<&RegisteredServer>,
    account: &str,
    name: &str,
    url: &str,
    outcome: Option<Outcome>,
    updates_url: bool,
) -> Reconciled {
    let previous = previous.filter(|p| p.account == account);
    let changed = previous.is_some_and(|p| {
        p.name != name || p.wanted_url.as_deref().unwrap_or(p.url.as_str()) != url
    });
    let fresh = |held: &str, wanted: Option<&str>| RegisteredServer {
        account: account.to_owned(),
        name: name.to_owned(),
        url: held.to_owned(),
        wanted_url: wanted.filter(|w| *w != held).map(str::to_owned),
    };
    let record = match outcome {
        // Created now, or (JSON) edited to point at `url`.
        Some(Outcome::Ok) => Some(fresh(url, None)),
        Some(Outcome::AlreadyDone) if updates_url => Some(fresh(url, None)),
        // XML-RPC "The server name has been used": RPS keeps whatever URL the name had.
        Some(Outcome::AlreadyDone) => match previous.filter(|p| p.name == name) {
            Some(p) => Some(fresh(&p.url, Some(url))),
            // Never registered by us under this name (or before this record existed): we
            // cannot tell, and assume the name is ours and current, as the original app does.
            None => Some(fresh(url, None)),
        },
        Some(Outcome::Rejected) | None => None,
    };
    Reconciled { record, changed }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACC: &str = "xmlrpc https://rps.yealink.com/xmlrpc acme";

    fn reg(name: &str, url: &str) -> RegisteredServer {
        RegisteredServer {
            account: ACC.into(),
            name: name.into(),
            url: url.into(),
            wanted_url: None,
        }
    }

    #[test]
    fn first_registration_is_not_a_change() {
        let r = reconcile(
            None,
            ACC,
            "pbx.example.com",
            "https://a/prov/",
            Some(Outcome::Ok),
            false,
        );
        assert_eq!(r.record, Some(reg("pbx.example.com", "https://a/prov/")));
        assert!(!r.changed);
    }

    #[test]
    fn xmlrpc_name_used_with_a_new_url_is_stale() {
        let before = reg("pbx.example.com", "https://old/prov/");
        let r = reconcile(
            Some(&before),
            ACC,
            "pbx.example.com",
            "https://new/prov/",
            Some(Outcome::AlreadyDone),
            false,
        );
        let record = r.record.unwrap();
        assert!(record.is_stale());
        assert_eq!(record.url, "https://old/prov/");
        assert_eq!(record.wanted_url.as_deref(), Some("https://new/prov/"));
        assert!(r.changed);
        // The next start with the same URL is no new change, and still stale.
        let again = reconcile(
            Some(&record),
            ACC,
            "pbx.example.com",
            "https://new/prov/",
            Some(Outcome::AlreadyDone),
            false,
        );
        assert!(!again.changed);
        assert!(again.record.unwrap().is_stale());
        // Going back to the URL RPS holds clears it.
        let back = reconcile(
            Some(&record),
            ACC,
            "pbx.example.com",
            "https://old/prov/",
            Some(Outcome::AlreadyDone),
            false,
        );
        assert!(!back.record.unwrap().is_stale());
    }

    #[test]
    fn json_edit_is_not_stale() {
        let before = reg("pbx.example.com", "https://old/prov/");
        let r = reconcile(
            Some(&before),
            ACC,
            "pbx.example.com",
            "https://new/prov/",
            Some(Outcome::Ok),
            true,
        );
        assert_eq!(r.record, Some(reg("pbx.example.com", "https://new/prov/")));
        assert!(r.changed);
    }

    #[test]
    fn new_name_is_a_change_and_other_accounts_do_not_count() {
        let before = reg("old-name", "https://a/prov/");
        let r = reconcile(
            Some(&before),
            ACC,
            "new-name",
            "https://a/prov/",
            Some(Outcome::Ok),
            false,
        );
        assert!(r.changed);
        let other = reconcile(
            Some(&before),
            "json x y",
            "new-name",
            "https://a/prov/",
            Some(Outcome::Ok),
            true,
        );
        assert!(!other.changed);
    }

    #[test]
    fn refused_or_failed_keeps_the_record() {
        let before = reg("n", "https://a/prov/");
        let r = reconcile(
            Some(&before),
            ACC,
            "n",
            "https://b/prov/",
            Some(Outcome::Rejected),
            false,
        );
        assert_eq!(r.record, None);
        assert_eq!(
            reconcile(Some(&before), ACC, "n", "https://b/prov/", None, false).record,
            None
        );
    }
}
