//! View models: what the templates show of a device, a request or an RPS command. Derived from
//! the store's records only; secrets never get here unmasked.

use prov_store::{Device, PhoneRequest, RpsHistoryEntry, RpsJob};
use time::OffsetDateTime;
use time::macros::format_description;

/// The "Device Config" column: the same words as the CLI's `device show` and the API's
/// `device_config` (`prov_core::views::StatusView`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceConfigState {
    /// A standalone device (its whole configuration comes from the administrator), or an
    /// innovaphone phone whose configuration the PBX sent.
    ConfigReceived,
    /// innovaphone devices: known, but the PBX has not sent its configuration yet.
    WaitingForConfig,
}

impl DeviceConfigState {
    /// Its i18n key.
    pub fn key(self) -> &'static str {
        match self {
            DeviceConfigState::ConfigReceived => "config.received",
            DeviceConfigState::WaitingForConfig => "config.waiting",
        }
    }
}

/// The one place that decides the "Device Config" column. `pbx_config`: `None` for a standalone
/// device, else whether Devices sent the complete configuration (`Service::pbx_config_state`).
pub fn device_config_state(pbx_config: Option<bool>) -> DeviceConfigState {
    match pbx_config {
        None | Some(true) => DeviceConfigState::ConfigReceived,
        Some(false) => DeviceConfigState::WaitingForConfig,
    }
}

/// What the device detail page's innovaphone panel shows (label, value). `None` renders no
/// panel; the innovaphone integration returns its state here.
pub struct InnovaphonePanel {
    /// (i18n key of the label, value).
    pub facts: Vec<(&'static str, String)>,
    pub update: PbxUpdateLine,
}

/// The innovaphone side of a phone (no secrets in the view); standalone devices have no panel.
/// Labels are i18n keys.
pub fn innovaphone_panel(
    view: Option<&prov_core::pbx::record::PbxDeviceView>,
) -> Option<InnovaphonePanel> {
    let v = view?;
    let mut facts = vec![
        ("pbx.user", format!("{} ({})", v.user_cn, v.user_sip)),
        ("pbx.hwid", v.hwid.clone()),
        ("pbx.registrar", v.registrar.clone()),
        ("pbx.device_config", v.device_config.to_owned()),
        ("pbx.items", v.config_items.join(", ")),
        (
            "pbx.sysclient",
            match &v.sysclient.detail {
                Some(detail) => format!("{}: {detail}", v.sysclient.status),
                None => v.sysclient.status.clone(),
            },
        ),
    ];
    facts.extend(v.mapping_notes.iter().map(|n| ("pbx.note", n.clone())));
    let update = match &v.pbx_update {
        Some(u) if u.ok => PbxUpdateLine::Done(u.text.clone()),
        Some(u) => PbxUpdateLine::Failed(u.text.clone()),
        None => PbxUpdateLine::NotYet,
    };
    Some(InnovaphonePanel { facts, update })
}

/// The last edit of the user object, as the panel shows it.
pub enum PbxUpdateLine {
    Done(String),
    Failed(String),
    NotYet,
}

pub fn fmt_time(t: OffsetDateTime) -> String {
    let f = format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    t.to_offset(time::UtcOffset::UTC)
        .format(&f)
        .unwrap_or_default()
}

/// One row of the Devices tab.
pub struct DeviceRow {
    pub mac: String,
    /// 12 lower-case hex digits: ids and URLs.
    pub mac_hex: String,
    pub name: String,
    pub user: String,
    pub model: String,
    pub firmware: String,
    pub config_key: &'static str,
    pub requests_key: &'static str,
    pub provisioned: bool,
    pub last_config: String,
    pub source_ip: String,
    /// The RPS column: i18n key of the state, badge class, RPS's answer when it refused.
    pub rps_key: &'static str,
    pub rps_class: &'static str,
    pub rps_reason: String,
    /// What to do about the refusal, when we recognise RPS's answer (an i18n key).
    pub rps_hint: Option<&'static str>,
}

/// The Devices list's RPS column: the last word of RPS on the phone's redirect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RpsCell {
    /// RPS took the redirect (`ok`, or `already_done`: it already pointed here).
    Redirected,
    /// RPS refused or could not be reached; its answer.
    Refused(String),
    /// A command for the phone is queued.
    Waiting,
    /// RPS was off when the phone was added.
    Off,
    /// No redirect recorded for it.
    NotSent,
}

impl RpsCell {
    /// From the outcome of the phone's newest REDIRECT DEVICE (`rps::outbox` outcomes).
    pub fn from_outcome(outcome: &str, answer: &str) -> RpsCell {
        match outcome {
            "ok" | "already_done" => RpsCell::Redirected,
            "off" => RpsCell::Off,
            "skipped" => RpsCell::NotSent,
            _ => RpsCell::Refused(answer.to_owned()),
        }
    }
}

impl DeviceRow {
    pub fn with_rps(mut self, cell: RpsCell) -> DeviceRow {
        let (key, class, reason) = match cell {
            RpsCell::Redirected => ("rps_state.redirected", "ok", String::new()),
            RpsCell::Refused(answer) => ("rps_state.refused", "bad", answer),
            RpsCell::Waiting => ("rps_state.waiting", "wait", String::new()),
            RpsCell::Off => ("rps_state.off", "", String::new()),
            RpsCell::NotSent => ("rps_state.not_sent", "", String::new()),
        };
        self.rps_key = key;
        self.rps_class = class;
        self.rps_hint = answer_hint(&reason);
        self.rps_reason = reason;
        self
    }

    pub fn new(d: &Device, pbx_config: Option<bool>) -> DeviceRow {
        let r = &d.record;
        let s = &d.status;
        let provisioned = s.provisioned_at.is_some();
        DeviceRow {
            mac: mac_colons(r.mac),
            mac_hex: mac_hex(r.mac),
            name: r.name.clone(),
            user: r.sip_user.clone(),
            // What the phone said it is beats what was typed.
            model: s
                .model_seen
                .clone()
                .or_else(|| r.model.clone())
                .unwrap_or_default(),
            firmware: s.firmware_seen.clone().unwrap_or_default(),
            config_key: device_config_state(pbx_config).key(),
            requests_key: if provisioned {
                "requests.provisioned"
            } else {
                "requests.not_yet"
            },
            provisioned,
            last_config: s.last_config_request.map(fmt_time).unwrap_or_default(),
            source_ip: s.last_ip.clone().unwrap_or_default(),
            rps_key: "rps_state.not_sent",
            rps_class: "",
            rps_reason: String::new(),
            rps_hint: None,
        }
    }
}

/// 12 lower-case hex digits (how `Mac` displays): ids and URLs.
pub fn mac_hex(mac: yealink::Mac) -> String {
    mac.to_string()
}

/// `00:15:65:aa:bb:cc`: easier to read and compare with the phone's label.
pub fn mac_colons(mac: yealink::Mac) -> String {
    let hex = mac.to_string();
    hex.as_bytes()
        .chunks(2)
        .map(|pair| String::from_utf8_lossy(pair).into_owned())
        .collect::<Vec<_>>()
        .join(":")
}

pub struct RequestRow {
    pub at: String,
    pub method: String,
    pub file: String,
    pub status: u16,
    pub outcome: String,
    pub source_ip: String,
    pub user_agent: String,
    /// Identical requests this row stands for (`request_fold.rs`).
    pub count: u32,
    /// Shown in red: a refused or failed request, except the one below.
    pub failed: bool,
    /// `<mac>-local.cfg` answered 404: normal until the phone's user changed a setting and the
    /// phone uploaded its local file.
    pub expected_404: bool,
}

impl From<&PhoneRequest> for RequestRow {
    fn from(r: &PhoneRequest) -> Self {
        let expected_404 = r.status == 404 && r.file.ends_with("-local.cfg");
        RequestRow {
            at: fmt_time(r.at),
            method: r.method.clone(),
            file: r.file.clone(),
            status: r.status,
            outcome: r.outcome.clone(),
            source_ip: r.source_ip.clone(),
            user_agent: r.user_agent.clone().unwrap_or_default(),
            count: r.count,
            failed: r.status >= 400 && !expected_404,
            expected_404,
        }
    }
}

/// Outcomes that mean RPS did what was asked (see `rps_flow`).
const GOOD_OUTCOMES: &[&str] = &["ok", "already_done", "off"];

pub struct HistoryRow {
    pub at: String,
    pub command: String,
    pub mac: String,
    /// Already redacted by `rps_flow` when recorded.
    pub params: String,
    pub outcome: String,
    /// i18n key of the outcome in plain words ("already registered", not `already_done`).
    pub outcome_key: &'static str,
    pub answer: String,
    /// RPS's own text reads like an error although the command did what we wanted (XML-RPC
    /// answers "Error: The server name has been used" to an ADD SERVER it already has).
    pub answer_quoted: bool,
    /// i18n key of what to do about it, when we know.
    pub hint_key: Option<&'static str>,
    pub duration_ms: i64,
    pub attempts: u32,
    pub failed: bool,
}

/// The outcome of `command` in plain words (an i18n key).
pub fn outcome_key(command: &str, outcome: &str) -> &'static str {
    match (outcome, command) {
        ("ok", _) => "rps_outcome.ok",
        ("already_done", "ADD_SERVER") => "rps_outcome.already_registered",
        ("already_done", "DEREGISTER_DEVICE") => "rps_outcome.not_registered",
        ("already_done", _) => "rps_outcome.already_done",
        ("rejected", _) => "rps_outcome.rejected",
        ("off", _) => "rps_outcome.off",
        ("skipped", _) => "rps_outcome.skipped",
        ("stale", _) => "rps_outcome.stale",
        _ => "rps_outcome.failed",
    }
}

/// What to do about an answer, when it is one we recognise (an i18n key).
pub fn answer_hint(answer: &str) -> Option<&'static str> {
    if answer.starts_with("HTTP 401") {
        Some("rps_hint.unauthorized")
    } else if answer.starts_with("HTTP 403") {
        Some("rps_hint.forbidden")
    } else if rps::held_by_another_account(answer) {
        Some("rps_hint.other_account")
    } else {
        None
    }
}

impl From<&RpsHistoryEntry> for HistoryRow {
    fn from(h: &RpsHistoryEntry) -> Self {
        HistoryRow {
            at: fmt_time(h.at),
            command: h.command.clone(),
            mac: h.mac.map(mac_colons).unwrap_or_default(),
            params: h.params.to_string(),
            outcome: h.outcome.clone(),
            outcome_key: outcome_key(&h.command, &h.outcome),
            answer: h.answer.clone(),
            answer_quoted: GOOD_OUTCOMES.contains(&h.outcome.as_str())
                && h.answer.to_ascii_lowercase().starts_with("error"),
            hint_key: answer_hint(&h.answer),
            duration_ms: h.duration_ms,
            attempts: h.attempts,
            failed: !GOOD_OUTCOMES.contains(&h.outcome.as_str()),
        }
    }
}

/// A queued RPS command (its payload, which may hold credentials, is never shown).
pub struct PendingRow {
    pub command: String,
    pub mac: String,
    pub attempts: u32,
    pub last_error: String,
    pub next_attempt_at: String,
}

impl From<&RpsJob> for PendingRow {
    fn from(j: &RpsJob) -> Self {
        PendingRow {
            command: j.command.clone(),
            mac: j.mac.map(mac_colons).unwrap_or_default(),
            attempts: j.attempts,
            last_error: j.last_error.clone().unwrap_or_default(),
            next_attempt_at: fmt_time(j.next_attempt_at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::i18n::{Lang, Tr};
    use prov_core::views::StatusView;
    use prov_store::DeviceStatus;

    /// RPS's answers for a MAC another account holds (both APIs, docs/rps.md) get the advice.
    #[test]
    fn a_mac_held_by_another_rps_account_is_explained() {
        for answer in [
            "device/add: device.mac.added.by.other (macs: 001565998877)",
            "device/edit: device.operate.forbidden",
            "Are you sure you want to override MAC addresses 001565998877?",
        ] {
            assert_eq!(
                answer_hint(answer),
                Some("rps_hint.other_account"),
                "{answer}"
            );
        }
        assert_eq!(answer_hint("device/add: device.mac.invalid"), None);
    }

    /// The UI says what `device show` and the API say, for standalone and innovaphone phones.
    #[test]
    fn device_config_reads_as_the_cli_says_it() {
        for pbx_config in [None, Some(true), Some(false)] {
            let cli = StatusView::from_status(&DeviceStatus::default(), pbx_config).device_config;
            let ui = Tr(Lang::En).get(device_config_state(pbx_config).key());
            assert_eq!(ui, cli, "{pbx_config:?}");
        }
    }
}
