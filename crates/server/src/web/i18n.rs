//! English and German. Every UI string is in the two tables below, keyed alike (a test checks
//! that both have the same keys and that every key the templates use exists). The language
//! comes from the `yp_lang` cookie (set by the switch link), else from `Accept-Language`.

use std::convert::Infallible;

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::request::cookie_value;

pub const COOKIE: &str = "yp_lang";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    En,
    De,
}

impl Lang {
    pub fn from_code(code: &str) -> Option<Lang> {
        match code.get(..2).map(str::to_ascii_lowercase).as_deref() {
            Some("en") => Some(Lang::En),
            Some("de") => Some(Lang::De),
            _ => None,
        }
    }

    /// The first language of `Accept-Language` we have (q-values are ordered by browsers).
    fn from_headers(headers: &HeaderMap) -> Lang {
        if let Some(lang) = cookie_value(headers, COOKIE).and_then(|c| Lang::from_code(&c)) {
            return lang;
        }
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .into_iter()
            .flat_map(|v| v.split(','))
            .filter_map(|part| Lang::from_code(part.trim()))
            .next()
            .unwrap_or(Lang::En)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Lang {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Lang, Infallible> {
        Ok(Lang::from_headers(&parts.headers))
    }
}

/// The translator the templates call: `t.get("key")`.
#[derive(Clone, Copy, Debug)]
pub struct Tr(pub Lang);

impl Tr {
    pub fn get(&self, key: &str) -> &'static str {
        let table = match self.0 {
            Lang::En => EN,
            Lang::De => DE,
        };
        lookup(table, key)
            .or_else(|| lookup(EN, key))
            .unwrap_or("(?)")
    }

    /// `get(prefix + key)`, or the key itself when the tables have no word for it (a status or
    /// outcome word recorded by a newer version, say).
    pub fn word(&self, prefix: &str, key: &str) -> String {
        let full = format!("{prefix}{key}");
        let table = match self.0 {
            Lang::En => EN,
            Lang::De => DE,
        };
        lookup(table, &full).map_or_else(|| key.to_owned(), str::to_owned)
    }

    /// `get(prefix + key)`, for values that come from data (e.g. `rps_mode.own`).
    pub fn get_dyn(&self, prefix: &str, key: &str) -> &'static str {
        self.get(&format!("{prefix}{key}"))
    }

    /// The label of a form field named by a validation error; the field name itself when the
    /// tables have no label for it.
    pub fn field_label(&self, field: &str) -> String {
        let key = format!("field.{field}");
        match lookup(
            match self.0 {
                Lang::En => EN,
                Lang::De => DE,
            },
            &key,
        ) {
            Some(label) => label.to_owned(),
            None => field.to_owned(),
        }
    }

    pub fn code(&self) -> &'static str {
        match self.0 {
            Lang::En => "en",
            Lang::De => "de",
        }
    }

    /// The language the switch link offers.
    pub fn other_code(&self) -> &'static str {
        match self.0 {
            Lang::En => "de",
            Lang::De => "en",
        }
    }
}

fn lookup(table: &[(&str, &'static str)], key: &str) -> Option<&'static str> {
    table.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// `/ui/lang/{en|de}`: remembers the choice for a year and goes back to where the link was.
pub async fn switch(Path(code): Path<String>, headers: HeaderMap) -> Response {
    let Some(lang) = Lang::from_code(&code) else {
        return (StatusCode::NOT_FOUND, "unknown language\n").into_response();
    };
    let code = Tr(lang).code();
    // Back to the page the link was on, if it is one of ours; never an open redirect.
    let back = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.find("/ui/").map(|i| r[i..].to_owned()))
        .filter(|p| !p.starts_with("/ui/lang/") && !p.contains("//"))
        .unwrap_or_else(|| "/ui/devices".to_owned());
    let back = crate::web::site::path(&back);
    let path = crate::web::site::cookie_path();
    let cookie = format!("{COOKIE}={code}; Path={path}; Max-Age=31536000; SameSite=Lax");
    // Inside myApps' (cross-site) frame only a partitioned cookie is sent back (decision 57).
    let framed = format!(
        "{COOKIE}={code}; Path={path}; Max-Age=31536000; Secure; SameSite=None; Partitioned"
    );
    match (
        HeaderValue::from_str(&cookie),
        HeaderValue::from_str(&framed),
        HeaderValue::from_str(&back),
    ) {
        (Ok(cookie), Ok(framed), Ok(back)) => {
            let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, back)]).into_response();
            response.headers_mut().append(header::SET_COOKIE, cookie);
            response.headers_mut().append(header::SET_COOKIE, framed);
            response
        }
        _ => StatusCode::BAD_REQUEST.into_response(),
    }
}

const EN: &[(&str, &str)] = &[
    ("nav.devices", "Devices"),
    ("nav.tenants", "Tenants"),
    ("tenants.title", "Tenants"),
    (
        "tenants.help",
        "The PBX domains this service provides for: each tenant has its own phones, settings, RPS history, App object and administrators, at /DOMAIN/NAME/ (the App Platform's /<domain>/<instance>/). Only the provider's administrators see this page.",
    ),
    ("tenants.domain", "PBX domain"),
    ("tenants.name", "Name"),
    ("tenants.add", "Add tenant"),
    ("tenants.added", "Added"),
    (
        "tenants.password",
        "Its administrators sign in with this password, shown only now:",
    ),
    ("tenants.remove", "Remove"),
    ("tenants.removed", "Removed"),
    ("tenants.not_removable", "This tenant cannot be removed."),
    (
        "tenants.busy",
        "Still has {devices} phone(s) and {queued} RPS command(s) waiting: remove its phones first (each removal deregisters it at RPS), then remove the tenant once RPS has taken the commands; or run yealink-prov tenant remove.",
    ),
    ("col.tenant", "Tenant"),
    ("col.devices_count", "Phones"),
    ("col.created", "Created"),
    ("nav.rps", "RPS history"),
    ("nav.changes", "Changes"),
    ("nav.settings", "Settings"),
    ("nav.menu", "Menu"),
    ("nav.other_language", "Deutsch"),
    ("nav.sign_out", "Sign out"),
    ("nav.signed_in_as", "Signed in as"),
    ("myapps.title", "Yealink phones"),
    ("myapps.signing_in", "Signing in through myApps…"),
    (
        "myapps.failed",
        "Sign-in failed: the PBX did not vouch for this login.",
    ),
    (
        "myapps.refused",
        "This login does not open the admin UI (only administrators the app is assigned to).",
    ),
    (
        "myapps.closed",
        "The connection to the service broke. Reload the app to try again.",
    ),
    (
        "myapps.intro",
        "Opened outside myApps: sign in with the App object's password.",
    ),
    ("myapps.password", "App object password"),
    (
        "myapps.frame_refused",
        "This app is shown inside {origin}, which may not frame it. If that is your myApps, add {origin} to innovaphone.frame_origins (or YEALINK_PROV_INNOVAPHONE__FRAME_ORIGINS) and restart yealink-prov.",
    ),
    (
        "myapps.no_crypto",
        "This page needs HTTPS to compute the login.",
    ),
    ("login.title", "Sign in"),
    (
        "login.forgot",
        "Forgot the admin password? Set a new one on the server with",
    ),
    ("login.intro", "Sign in with the admin password."),
    ("login.password", "Admin password"),
    ("login.submit", "Sign in"),
    ("login.wrong_password", "Wrong password. Please try again."),
    (
        "login.rate_limited",
        "Too many failed attempts. Wait a minute, then try again.",
    ),
    (
        "login.busy",
        "The server is checking many passwords right now. Try again in a moment.",
    ),
    (
        "login.cross_site",
        "This sign-in form was sent from another site and is refused.",
    ),
    ("error.internal", "Internal error; see the server log."),
    ("col.mac", "MAC"),
    ("col.name", "Name"),
    ("col.user", "User"),
    ("col.model", "Model"),
    ("col.firmware", "Firmware"),
    ("col.device_config", "Device Config"),
    ("col.phone_requests", "Phone Requests"),
    ("col.last_config", "Last Config Request"),
    ("col.source_ip", "Source IP"),
    ("col.time", "Time"),
    ("col.method", "Method"),
    ("col.file", "File"),
    ("col.status", "Status"),
    ("col.command", "Command"),
    ("col.params", "Parameters"),
    ("col.answer", "Answer"),
    ("col.duration", "Duration"),
    ("config.received", "Config Received"),
    ("config.waiting", "Waiting for config"),
    ("requests.provisioned", "Provisioned"),
    ("requests.not_yet", "Not requested yet"),
    ("devices.search", "Search MAC, name, user, model"),
    ("devices.none", "No devices."),
    ("devices.more", "Show more"),
    ("devices.add", "Add a device"),
    ("devices.add_submit", "Add device"),
    ("devices.added", "Device added:"),
    ("devices.import", "CSV import"),
    (
        "devices.import_help",
        "One device per line, with a header line naming the columns:",
    ),
    ("devices.import_submit", "Import"),
    ("devices.export", "Export CSV (without passwords)"),
    ("mac.exists", "is already a device."),
    ("import.line", "Line"),
    ("import.result", "Result"),
    ("import.ok", "imported"),
    ("import.summary", "{ok} imported, {bad} rejected."),
    ("import.no_file", "Choose a CSV file."),
    ("import.too_big", "The file is too large (32 MiB at most)."),
    ("device.reveal", "Reveal"),
    ("device.copy", "Copy"),
    ("device.copied", "Copied."),
    (
        "device.copy_failed",
        "Select the address and copy it by hand.",
    ),
    (
        "device.prov_url_help",
        "Without RPS, give the phone this address by DHCP option 66 or in its web UI (Settings > Auto Provision). It holds the phone's secret.",
    ),
    (
        "device.local_cfg_404",
        "normal: the phone's user has changed nothing yet",
    ),
    ("outcome.served", "served"),
    ("outcome.denied", "denied"),
    ("outcome.not_found", "not found"),
    ("outcome.stored", "stored"),
    ("outcome.unsupported_model", "unsupported model"),
    ("outcome.error", "error"),
    ("rps_outcome.ok", "done"),
    ("rps_outcome.already_registered", "already registered"),
    ("rps_outcome.not_registered", "was not registered"),
    ("rps_outcome.already_done", "already done"),
    ("rps_outcome.rejected", "refused"),
    ("rps_outcome.off", "RPS off"),
    ("rps_outcome.skipped", "skipped"),
    ("rps_outcome.stale", "old URL kept"),
    ("rps_outcome.failed", "failed"),
    (
        "rps_hint.unauthorized",
        "RPS did not accept the account: check the RPS user name and secret.",
    ),
    (
        "rps_hint.forbidden",
        "RPS refused this for the account: check that it may manage this phone or server.",
    ),
    (
        "rps_hint.other_account",
        "Another RPS account holds this MAC: ask its owner (the previous provider, or Yealink) to release it, then send the redirect again.",
    ),
    ("rps.rps_said", "RPS answered"),
    (
        "rps.mac_part_invalid",
        "enter a MAC or part of one in hex digits, e.g. 34:56",
    ),
    ("rps_status.title", "RPS status"),
    ("rps_status.loading", "Asking RPS …"),
    ("rps_status.account", "Account in use"),
    ("rps_status.account_off", "none: RPS is off"),
    ("rps_status.account_missing", "none configured"),
    (
        "rps_status.account_standard",
        "the operator's account (configuration file)",
    ),
    (
        "rps_status.account_own",
        "your own account (these settings)",
    ),
    ("rps_status.reachable", "Reachable"),
    ("rps_status.yes", "yes"),
    ("rps_status.no", "no"),
    ("rps_status.server", "Our server"),
    ("rps_status.registered", "Registered at RPS"),
    ("rps_status.registered_ours", "yes, with the URL in use"),
    (
        "rps_status.registered_other_url",
        "yes, but not with the URL in use",
    ),
    (
        "rps_status.registered_no",
        "no (see the RPS history, ADD_SERVER)",
    ),
    ("rps_status.registered_not_yet", "not yet"),
    ("rps_status.at_rps", "RPS holds"),
    ("rps_status.unknown_server", "Last unknown at RPS"),
    ("rps_status.queue", "Queue"),
    ("rps_status.waiting", "waiting"),
    ("rps_status.due", "due now"),
    ("device.overview", "Overview"),
    ("device.edit", "Edit"),
    ("device.resend", "Re-send RPS redirect"),
    ("device.resent", "Queued: DEREGISTER and REDIRECT at RPS."),
    ("device.remove", "Remove"),
    (
        "device.remove_confirm",
        "Remove this device? Its phone is deregistered at RPS.",
    ),
    (
        "device.rotate",
        "New provisioning credentials (phone needs the new URL)",
    ),
    ("device.prov_url", "Provisioning URL"),
    ("device.http_user", "HTTP user / password"),
    ("device.files", "Files the phone gets"),
    (
        "device.files_help",
        "Rendered now, as the phone would get them; secrets masked.",
    ),
    ("device.file_none", "Not served to this phone (yet)."),
    ("device.requests", "Phone requests"),
    (
        "device.requests_folded",
        "identical requests in this row; the time is the last one's",
    ),
    (
        "device.no_requests",
        "The phone has not asked for anything yet.",
    ),
    ("device.innovaphone", "innovaphone"),
    ("device.not_found", "No such device."),
    ("form.save", "Save"),
    ("form.unchanged", "unchanged"),
    ("rps.pending", "Queued"),
    ("rps.attempts", "Attempts"),
    ("rps.last_error", "Last error"),
    ("rps.next_attempt", "Next attempt"),
    ("rps.none", "No RPS commands yet."),
    ("rps.all_commands", "All commands"),
    ("rps.filter", "Filter"),
    ("rps.newer", "Newer"),
    ("rps.older", "Older"),
    ("rps.params_show", "Parameters"),
    ("changes.title", "Changes"),
    ("changes.none", "No changes recorded yet."),
    ("changes.who", "Who"),
    ("changes.what", "What"),
    ("changes.details", "Details"),
    (
        "changes.help",
        "Who added, edited or removed a device, re-sent its redirect or changed settings. Field and setting names only, never their values.",
    ),
    ("changes.user", "user"),
    ("changes.actor.my_apps", "myApps"),
    ("changes.actor.admin_password", "Admin password"),
    ("changes.actor.api", "API"),
    ("changes.actor.cli", "Command line"),
    ("changes.actor.innovaphone", "innovaphone PBX"),
    ("changes.actor.demo", "Demo"),
    ("changes.actor.unknown", "Unknown"),
    ("changes.action.device_added", "Device added"),
    ("changes.action.device_imported", "Device imported"),
    ("changes.action.device_edited", "Device edited"),
    ("changes.action.device_removed", "Device removed"),
    ("changes.action.redirect_resent", "Redirect re-sent"),
    ("changes.action.settings_changed", "Settings changed"),
    ("rps_mode.standard", "Standard account (operator)"),
    ("rps_mode.own", "Own account"),
    ("rps_mode.off", "Off"),
    ("settings.provisioning", "Provisioning"),
    ("settings.rps", "RPS account"),
    ("settings.pbx", "innovaphone PBX"),
    (
        "field.pbx_reverse_proxy",
        "Reverse Proxy flag on the user's device",
    ),
    (
        "settings.pbx_flags_help",
        "After a phone fetched its configuration, its device on the PBX user object gets Media Relay (setting above), TLS only (SIP over TLS) and, unless left as it is, this Reverse Proxy flag (registration through a trusted reverse proxy, for phones outside the LAN; Users sets it when it adds the device).",
    ),
    ("settings.reverse_proxy_keep", "Leave as the PBX has it"),
    ("settings.reverse_proxy_on", "On"),
    ("settings.reverse_proxy_off", "Off"),
    ("settings.pbx_sessions", "Connected PBX"),
    ("settings.pbx_devices_url", "Devices API"),
    ("settings.pbx_app_url", "App object URL"),
    ("settings.pbx_none", "none"),
    (
        "settings.pbx_off",
        "The App Service side is off: set innovaphone.password in the configuration (see docs/innovaphone.md).",
    ),
    ("pbx.user", "User"),
    ("pbx.hwid", "Hardware ID"),
    ("pbx.registrar", "Registrar"),
    ("pbx.device_config", "Device Config"),
    ("pbx.items", "Configuration items"),
    ("pbx.sysclient", "Sysclient connection"),
    ("pbx.note", "Note"),
    ("pbx.user_object", "User object"),
    (
        "pbx.not_updated",
        "not updated yet (the phone has not fetched its file)",
    ),
    ("pbx.failed", "failed"),
    ("settings.tz_search", "Type to search, e.g. Berlin"),
    ("settings.rps_endpoint_default", "empty: Yealink's endpoint"),
    ("settings.not_set", "not set"),
    ("col.rps", "RPS"),
    ("rps_state.redirected", "Redirected"),
    ("rps_state.refused", "Refused"),
    ("rps_state.waiting", "Waiting (queued)"),
    ("rps_state.off", "RPS off"),
    ("rps_state.not_sent", "Not sent"),
    ("devices.filter", "Show"),
    ("devices.filter_all", "All devices"),
    ("devices.filter_not_redirected", "Not redirected"),
    ("devices.filter_never_fetched", "Never fetched"),
    ("devices.count_of", "{n} of {total}"),
    ("number.thousands", ","),
    ("settings.saved", "Settings saved."),
    ("settings.errors", "Nothing was saved. Please correct:"),
    ("settings.confirm_title", "This change reaches every phone"),
    ("settings.confirm_apply", "Save and apply"),
    ("settings.confirm_cancel", "Cancel"),
    (
        "settings.follow_rps",
        "Follow the commands in the RPS history",
    ),
    (
        "settings.scheme_https_mismatch",
        "HTTPS is chosen but the public base URL starts with http://. Enter the HTTPS address with its port in the public base URL (the HTTP port is not reused)",
    ),
    (
        "settings.scheme_http_mismatch",
        "HTTP is chosen but the public base URL starts with https://. Enter the HTTP address with its port in the public base URL",
    ),
    (
        "settings.impact_base_url",
        "The provisioning address changes from {before} to {after}: the own file of each of the {n} phones changes, and each phone uses the new address from its next check (every {minutes} minutes). A phone that cannot reach the new address gets no more updates.",
    ),
    (
        "settings.impact_server_name",
        "The RPS server name changes from {before} to {after}.",
    ),
    (
        "settings.impact_add_server",
        "RPS: our server is registered again (ADD SERVER) with {url}.",
    ),
    (
        "settings.impact_redirect_all",
        "RPS: then all {n} phones are deregistered and redirected again (2 × {n} commands, sent one after the other).",
    ),
    (
        "settings.impact_new_account",
        "RPS: phones redirected with the previous account stay bound there; re-send a phone's redirect on its page to move it.",
    ),
    (
        "settings.impact_rps_off",
        "RPS is turned off: no command is sent any more, and new phones need their provisioning URL by DHCP option 66 or by hand.",
    ),
    ("field.mac", "MAC"),
    ("field.name", "Name"),
    ("field.sip_user", "SIP user"),
    ("field.sip_password", "SIP password"),
    ("field.registrar", "Registrar"),
    ("field.display_name", "Display name"),
    ("field.auth_name", "Auth name"),
    ("field.model", "Model"),
    ("field.file", "File"),
    ("field.public_base_url", "Public base URL"),
    ("field.provisioning_scheme", "Provisioning over"),
    ("field.update_interval_minutes", "Update interval (minutes)"),
    ("field.ntp_servers", "NTP servers"),
    ("field.time_zone", "Time zone"),
    ("field.location", "Location"),
    ("field.media_relay", "Media relay"),
    ("field.ice", "ICE (off with media relay)"),
    ("field.backup_registrar", "Backup registrar"),
    ("field.firmware_url", "Firmware URL"),
    ("field.ca_certificate", "Private CA certificate (PEM)"),
    (
        "settings.ice_help",
        "ICE stays off (the phones' factory setting) unless ticked, and always off with media relay. The backup registrar (host or host:port) is used when the first does not answer.",
    ),
    ("settings.firmware", "Firmware"),
    (
        "settings.firmware_help",
        "A firmware file per model, written as static.firmware.url into the model's common file. Beside it, the firmware versions its phones report (number of phones).",
    ),
    (
        "settings.firmware_none",
        "No phone has reported its model yet.",
    ),
    ("settings.firmware_reported", "Reported by phones"),
    ("settings.ca", "Certificates"),
    (
        "settings.ca_help",
        "A private CA that signs the PBX's certificate: phones download it from their own provisioning URL (ca.pem) and then trust it beside the built-in CAs.",
    ),
    ("field.sip_transport", "SIP transport"),
    ("field.rps_mode", "RPS account"),
    ("field.rps_api", "RPS API"),
    ("field.rps_endpoint", "RPS endpoint"),
    ("field.rps_username", "RPS user name"),
    ("field.rps_secret", "RPS secret"),
    ("field.rps_server_name", "RPS server name"),
    ("settings.rps_server_name_auto", "empty: automatic"),
    ("settings.rps_server_in_use", "Server name in use"),
    ("rps_name_source.setting", "from this setting"),
    ("rps_name_source.pbx_domain", "from the PBX's domain"),
    ("rps_name_source.url_host", "from the host of the base URL"),
    (
        "rps_name_source.configured_domain",
        "from innovaphone.domain",
    ),
    (
        "rps_name_source.awaiting_pbx",
        "none yet: waiting for the PBX's login",
    ),
    ("settings.checks", "Checks"),
    (
        "rps.server_stale",
        "RPS keeps an old URL for our server name",
    ),
];

const DE: &[(&str, &str)] = &[
    ("nav.devices", "Geräte"),
    ("nav.tenants", "Mandanten"),
    ("tenants.title", "Mandanten"),
    (
        "tenants.help",
        "Die PBX-Domänen, für die dieser Dienst bereitstellt: Jeder Mandant hat eigene Telefone, Einstellungen, RPS-Verlauf, App-Objekt und Administratoren, unter /DOMÄNE/NAME/ (/<Domäne>/<Instanz>/ der App Platform). Nur die Administratoren des Anbieters sehen diese Seite.",
    ),
    ("tenants.domain", "PBX-Domäne"),
    ("tenants.name", "Name"),
    ("tenants.add", "Mandant hinzufügen"),
    ("tenants.added", "Hinzugefügt:"),
    (
        "tenants.password",
        "Seine Administratoren melden sich mit diesem Passwort an, das nur jetzt angezeigt wird:",
    ),
    ("tenants.remove", "Entfernen"),
    ("tenants.removed", "Entfernt:"),
    (
        "tenants.not_removable",
        "Dieser Mandant kann nicht entfernt werden.",
    ),
    (
        "tenants.busy",
        "Hat noch {devices} Telefon(e) und {queued} wartende RPS-Befehl(e): Zuerst seine Telefone entfernen (jedes Entfernen meldet es bei RPS ab), dann den Mandanten entfernen, sobald RPS die Befehle angenommen hat; oder yealink-prov tenant remove ausführen.",
    ),
    ("col.tenant", "Mandant"),
    ("col.devices_count", "Telefone"),
    ("col.created", "Angelegt"),
    ("nav.rps", "RPS-Verlauf"),
    ("nav.changes", "Änderungen"),
    ("nav.settings", "Einstellungen"),
    ("nav.menu", "Menü"),
    ("nav.other_language", "English"),
    ("nav.sign_out", "Abmelden"),
    ("nav.signed_in_as", "Angemeldet als"),
    ("myapps.title", "Yealink-Telefone"),
    ("myapps.signing_in", "Anmeldung über myApps …"),
    (
        "myapps.failed",
        "Anmeldung fehlgeschlagen: Die PBX hat diese Anmeldung nicht bestätigt.",
    ),
    (
        "myapps.refused",
        "Diese Anmeldung öffnet die Verwaltung nicht (nur für Administratoren, denen die App zugewiesen ist).",
    ),
    (
        "myapps.closed",
        "Die Verbindung zum Dienst ist abgebrochen. App neu laden, um es erneut zu versuchen.",
    ),
    (
        "myapps.intro",
        "Außerhalb von myApps geöffnet: mit dem Passwort des App-Objekts anmelden.",
    ),
    ("myapps.password", "Passwort des App-Objekts"),
    (
        "myapps.frame_refused",
        "Diese App wird in {origin} angezeigt, das sie nicht einbetten darf. Ist das Ihr myApps, tragen Sie {origin} in innovaphone.frame_origins (oder YEALINK_PROV_INNOVAPHONE__FRAME_ORIGINS) ein und starten yealink-prov neu.",
    ),
    (
        "myapps.no_crypto",
        "Diese Seite braucht HTTPS, um die Anmeldung zu berechnen.",
    ),
    ("login.title", "Anmelden"),
    (
        "login.forgot",
        "Admin-Passwort vergessen? Ein neues setzen Sie auf dem Server mit",
    ),
    ("login.intro", "Mit dem Admin-Passwort anmelden."),
    ("login.password", "Admin-Passwort"),
    ("login.submit", "Anmelden"),
    (
        "login.wrong_password",
        "Falsches Passwort. Bitte erneut versuchen.",
    ),
    (
        "login.rate_limited",
        "Zu viele Fehlversuche. Bitte eine Minute warten und erneut versuchen.",
    ),
    (
        "login.busy",
        "Der Server prüft gerade viele Passwörter. Bitte gleich erneut versuchen.",
    ),
    (
        "login.cross_site",
        "Dieses Anmeldeformular kam von einer anderen Website und wird abgelehnt.",
    ),
    ("error.internal", "Interner Fehler; siehe Server-Log."),
    ("col.mac", "MAC"),
    ("col.name", "Name"),
    ("col.user", "Benutzer"),
    ("col.model", "Modell"),
    ("col.firmware", "Firmware"),
    ("col.device_config", "Geräte\u{ad}konfiguration"),
    ("col.phone_requests", "Telefon\u{ad}anfragen"),
    ("col.last_config", "Letzte Konfigurationsanfrage"),
    ("col.source_ip", "Quell-IP"),
    ("col.time", "Zeit"),
    ("col.method", "Methode"),
    ("col.file", "Datei"),
    ("col.status", "Status"),
    ("col.command", "Befehl"),
    ("col.params", "Parameter"),
    ("col.answer", "Antwort"),
    ("col.duration", "Dauer"),
    ("config.received", "Konfiguration erhalten"),
    ("config.waiting", "Warte auf Konfiguration"),
    ("requests.provisioned", "Provisioniert"),
    ("requests.not_yet", "Noch nicht angefragt"),
    ("devices.search", "MAC, Name, Benutzer, Modell suchen"),
    ("devices.none", "Keine Geräte."),
    ("devices.more", "Mehr anzeigen"),
    ("devices.add", "Gerät hinzufügen"),
    ("devices.add_submit", "Gerät hinzufügen"),
    ("devices.added", "Gerät hinzugefügt:"),
    ("devices.import", "CSV-Import"),
    (
        "devices.import_help",
        "Ein Gerät pro Zeile, mit einer Kopfzeile, die die Spalten benennt:",
    ),
    ("devices.import_submit", "Importieren"),
    ("devices.export", "CSV exportieren (ohne Passwörter)"),
    ("mac.exists", "ist bereits ein Gerät."),
    ("import.line", "Zeile"),
    ("import.result", "Ergebnis"),
    ("import.ok", "importiert"),
    ("import.summary", "{ok} importiert, {bad} abgelehnt."),
    ("import.no_file", "Bitte eine CSV-Datei wählen."),
    (
        "import.too_big",
        "Die Datei ist zu groß (höchstens 32 MiB).",
    ),
    ("device.reveal", "Anzeigen"),
    ("device.copy", "Kopieren"),
    ("device.copied", "Kopiert."),
    (
        "device.copy_failed",
        "Die Adresse markieren und von Hand kopieren.",
    ),
    (
        "device.prov_url_help",
        "Ohne RPS bekommt das Telefon diese Adresse per DHCP-Option 66 oder in seiner Weboberfläche (Einstellungen > Auto Provision). Sie enthält das Geheimnis des Telefons.",
    ),
    (
        "device.local_cfg_404",
        "normal: Der Benutzer des Telefons hat noch nichts geändert",
    ),
    ("outcome.served", "ausgeliefert"),
    ("outcome.denied", "abgewiesen"),
    ("outcome.not_found", "nicht gefunden"),
    ("outcome.stored", "gespeichert"),
    ("outcome.unsupported_model", "Modell nicht unterstützt"),
    ("outcome.error", "Fehler"),
    ("rps_outcome.ok", "erledigt"),
    ("rps_outcome.already_registered", "bereits registriert"),
    ("rps_outcome.not_registered", "war nicht registriert"),
    ("rps_outcome.already_done", "bereits erledigt"),
    ("rps_outcome.rejected", "abgelehnt"),
    ("rps_outcome.off", "RPS aus"),
    ("rps_outcome.skipped", "übersprungen"),
    ("rps_outcome.stale", "alte URL bleibt"),
    ("rps_outcome.failed", "fehlgeschlagen"),
    (
        "rps_hint.unauthorized",
        "RPS hat das Konto nicht angenommen: RPS-Benutzername und -Geheimnis prüfen.",
    ),
    (
        "rps_hint.forbidden",
        "RPS hat das für dieses Konto abgelehnt: prüfen, ob es dieses Telefon oder diesen Server verwalten darf.",
    ),
    (
        "rps_hint.other_account",
        "Ein anderes RPS-Konto hält diese MAC: den Inhaber (den bisherigen Anbieter oder Yealink) um Freigabe bitten, dann die Umleitung erneut senden.",
    ),
    ("rps.rps_said", "RPS antwortete"),
    (
        "rps.mac_part_invalid",
        "eine MAC oder einen Teil davon in Hex-Ziffern eingeben, z. B. 34:56",
    ),
    ("rps_status.title", "RPS-Status"),
    ("rps_status.loading", "RPS wird gefragt …"),
    ("rps_status.account", "Verwendetes Konto"),
    ("rps_status.account_off", "keines: RPS ist aus"),
    ("rps_status.account_missing", "keines eingerichtet"),
    (
        "rps_status.account_standard",
        "das Konto des Betreibers (Konfigurationsdatei)",
    ),
    (
        "rps_status.account_own",
        "Ihr eigenes Konto (diese Einstellungen)",
    ),
    ("rps_status.reachable", "Erreichbar"),
    ("rps_status.yes", "ja"),
    ("rps_status.no", "nein"),
    ("rps_status.server", "Unser Server"),
    ("rps_status.registered", "Bei RPS registriert"),
    ("rps_status.registered_ours", "ja, mit der verwendeten URL"),
    (
        "rps_status.registered_other_url",
        "ja, aber nicht mit der verwendeten URL",
    ),
    (
        "rps_status.registered_no",
        "nein (siehe RPS-Verlauf, ADD_SERVER)",
    ),
    ("rps_status.registered_not_yet", "noch nicht"),
    ("rps_status.at_rps", "RPS hat"),
    ("rps_status.unknown_server", "Zuletzt unbekannt bei RPS"),
    ("rps_status.queue", "Warteschlange"),
    ("rps_status.waiting", "wartend"),
    ("rps_status.due", "jetzt fällig"),
    ("device.overview", "Übersicht"),
    ("device.edit", "Bearbeiten"),
    ("device.resend", "RPS-Umleitung erneut senden"),
    (
        "device.resent",
        "Eingereiht: DEREGISTER und REDIRECT bei RPS.",
    ),
    ("device.remove", "Entfernen"),
    (
        "device.remove_confirm",
        "Dieses Gerät entfernen? Das Telefon wird bei RPS abgemeldet.",
    ),
    (
        "device.rotate",
        "Neue Provisionierungs-Zugangsdaten (Telefon braucht die neue URL)",
    ),
    ("device.prov_url", "Provisionierungs-URL"),
    ("device.http_user", "HTTP-Benutzer / Passwort"),
    ("device.files", "Dateien, die das Telefon bekommt"),
    (
        "device.files_help",
        "Jetzt erzeugt, wie das Telefon sie bekäme; Geheimnisse maskiert.",
    ),
    (
        "device.file_none",
        "Wird diesem Telefon (noch) nicht ausgeliefert.",
    ),
    ("device.requests", "Telefonanfragen"),
    (
        "device.requests_folded",
        "gleiche Anfragen in dieser Zeile; die Zeit ist die der letzten",
    ),
    (
        "device.no_requests",
        "Das Telefon hat noch nichts angefragt.",
    ),
    ("device.innovaphone", "innovaphone"),
    ("device.not_found", "Gerät nicht gefunden."),
    ("form.save", "Speichern"),
    ("form.unchanged", "unverändert"),
    ("rps.pending", "Eingereiht"),
    ("rps.attempts", "Versuche"),
    ("rps.last_error", "Letzter Fehler"),
    ("rps.next_attempt", "Nächster Versuch"),
    ("rps.none", "Noch keine RPS-Befehle."),
    ("rps.all_commands", "Alle Befehle"),
    ("rps.filter", "Filtern"),
    ("rps.newer", "Neuere"),
    ("rps.older", "Ältere"),
    ("rps.params_show", "Parameter"),
    ("changes.title", "Änderungen"),
    ("changes.none", "Noch keine Änderungen aufgezeichnet."),
    ("changes.who", "Wer"),
    ("changes.what", "Was"),
    ("changes.details", "Details"),
    (
        "changes.help",
        "Wer ein Gerät hinzugefügt, bearbeitet oder entfernt, seine Umleitung erneut gesendet oder Einstellungen geändert hat. Nur Feld- und Einstellungsnamen, nie ihre Werte.",
    ),
    ("changes.user", "Benutzer"),
    ("changes.actor.my_apps", "myApps"),
    ("changes.actor.admin_password", "Admin-Passwort"),
    ("changes.actor.api", "API"),
    ("changes.actor.cli", "Kommandozeile"),
    ("changes.actor.innovaphone", "innovaphone-PBX"),
    ("changes.actor.demo", "Demo"),
    ("changes.actor.unknown", "Unbekannt"),
    ("changes.action.device_added", "Gerät hinzugefügt"),
    ("changes.action.device_imported", "Gerät importiert"),
    ("changes.action.device_edited", "Gerät bearbeitet"),
    ("changes.action.device_removed", "Gerät entfernt"),
    (
        "changes.action.redirect_resent",
        "Umleitung erneut gesendet",
    ),
    ("changes.action.settings_changed", "Einstellungen geändert"),
    ("rps_mode.standard", "Standardkonto (Betreiber)"),
    ("rps_mode.own", "Eigenes Konto"),
    ("rps_mode.off", "Aus"),
    ("settings.provisioning", "Provisionierung"),
    ("settings.rps", "RPS-Konto"),
    ("settings.pbx", "innovaphone-PBX"),
    (
        "field.pbx_reverse_proxy",
        "Reverse-Proxy-Flag am Gerät des Benutzers",
    ),
    (
        "settings.pbx_flags_help",
        "Nachdem ein Telefon seine Konfiguration geholt hat, bekommt sein Gerät am PBX-Benutzerobjekt Media Relay (Einstellung oben), Nur TLS (SIP über TLS) und, sofern nicht belassen, dieses Reverse-Proxy-Flag (Registrierung über einen vertrauenswürdigen Reverse Proxy, für Telefone außerhalb des LANs; Users setzt es beim Anlegen des Geräts).",
    ),
    (
        "settings.reverse_proxy_keep",
        "Lassen, wie es an der PBX ist",
    ),
    ("settings.reverse_proxy_on", "Ein"),
    ("settings.reverse_proxy_off", "Aus"),
    ("settings.pbx_sessions", "Verbundene PBX"),
    ("settings.pbx_devices_url", "Devices-API"),
    ("settings.pbx_app_url", "URL des App-Objekts"),
    ("settings.pbx_none", "keine"),
    (
        "settings.pbx_off",
        "Die App-Service-Seite ist aus: innovaphone.password in der Konfiguration setzen (siehe docs/innovaphone.md).",
    ),
    ("pbx.user", "Benutzer"),
    ("pbx.hwid", "Hardware-ID"),
    ("pbx.registrar", "Registrar"),
    ("pbx.device_config", "Gerätekonfiguration"),
    ("pbx.items", "Konfigurationseinträge"),
    ("pbx.sysclient", "Sysclient-Verbindung"),
    ("pbx.note", "Hinweis"),
    ("pbx.user_object", "Benutzerobjekt"),
    (
        "pbx.not_updated",
        "noch nicht aktualisiert (das Telefon hat seine Datei noch nicht geholt)",
    ),
    ("pbx.failed", "fehlgeschlagen"),
    ("settings.tz_search", "Tippen zum Suchen, z. B. Berlin"),
    ("settings.rps_endpoint_default", "leer: Yealinks Endpunkt"),
    ("settings.not_set", "nicht gesetzt"),
    ("col.rps", "RPS"),
    ("rps_state.redirected", "Umgeleitet"),
    ("rps_state.refused", "Abgelehnt"),
    ("rps_state.waiting", "Wartet (in der Warteschlange)"),
    ("rps_state.off", "RPS aus"),
    ("rps_state.not_sent", "Nicht gesendet"),
    ("devices.filter", "Anzeigen"),
    ("devices.filter_all", "Alle Geräte"),
    ("devices.filter_not_redirected", "Nicht umgeleitet"),
    ("devices.filter_never_fetched", "Nie abgerufen"),
    ("devices.count_of", "{n} von {total}"),
    ("number.thousands", "."),
    ("settings.saved", "Einstellungen gespeichert."),
    (
        "settings.errors",
        "Nichts wurde gespeichert. Bitte korrigieren:",
    ),
    (
        "settings.confirm_title",
        "Diese Änderung betrifft jedes Telefon",
    ),
    ("settings.confirm_apply", "Speichern und anwenden"),
    ("settings.confirm_cancel", "Abbrechen"),
    (
        "settings.follow_rps",
        "Die Befehle im RPS-Verlauf verfolgen",
    ),
    (
        "settings.scheme_https_mismatch",
        "HTTPS ist gewählt, aber die öffentliche Basis-URL beginnt mit http://. Die HTTPS-Adresse mit ihrem Port als öffentliche Basis-URL eintragen (der HTTP-Port wird nicht übernommen)",
    ),
    (
        "settings.scheme_http_mismatch",
        "HTTP ist gewählt, aber die öffentliche Basis-URL beginnt mit https://. Die HTTP-Adresse mit ihrem Port als öffentliche Basis-URL eintragen",
    ),
    (
        "settings.impact_base_url",
        "Die Provisionierungsadresse ändert sich von {before} zu {after}: Die eigene Datei jedes der {n} Telefone ändert sich, und jedes Telefon nutzt ab seiner nächsten Abfrage (alle {minutes} Minuten) die neue Adresse. Ein Telefon, das die neue Adresse nicht erreicht, bekommt keine Updates mehr.",
    ),
    (
        "settings.impact_server_name",
        "Der RPS-Servername ändert sich von {before} zu {after}.",
    ),
    (
        "settings.impact_add_server",
        "RPS: Unser Server wird erneut registriert (ADD SERVER) mit {url}.",
    ),
    (
        "settings.impact_redirect_all",
        "RPS: Danach werden alle {n} Telefone abgemeldet und erneut umgeleitet (2 × {n} Befehle, nacheinander gesendet).",
    ),
    (
        "settings.impact_new_account",
        "RPS: Mit dem bisherigen Konto umgeleitete Telefone bleiben dort gebunden; zum Übertragen die Umleitung eines Telefons auf seiner Seite erneut senden.",
    ),
    (
        "settings.impact_rps_off",
        "RPS wird ausgeschaltet: Es werden keine Befehle mehr gesendet, und neue Telefone brauchen ihre Provisionierungs-URL per DHCP-Option 66 oder von Hand.",
    ),
    ("field.mac", "MAC"),
    ("field.name", "Name"),
    ("field.sip_user", "SIP-Benutzer"),
    ("field.sip_password", "SIP-Passwort"),
    ("field.registrar", "Registrar"),
    ("field.display_name", "Anzeigename"),
    ("field.auth_name", "Auth-Name"),
    ("field.model", "Modell"),
    ("field.file", "Datei"),
    ("field.public_base_url", "Öffentliche Basis-URL"),
    ("field.provisioning_scheme", "Provisionierung über"),
    (
        "field.update_interval_minutes",
        "Aktualisierungsintervall (Minuten)",
    ),
    ("field.ntp_servers", "NTP-Server"),
    ("field.time_zone", "Zeitzone"),
    ("field.location", "Standort"),
    ("field.media_relay", "Media-Relay"),
    ("field.ice", "ICE (aus bei Media-Relay)"),
    ("field.backup_registrar", "Ersatz-Registrar"),
    ("field.firmware_url", "Firmware-URL"),
    ("field.ca_certificate", "Private CA (PEM)"),
    (
        "settings.ice_help",
        "ICE bleibt aus (Werkseinstellung der Telefone), außer es ist angekreuzt, und ist bei Media-Relay immer aus. Der Ersatz-Registrar (Host oder Host:Port) wird benutzt, wenn der erste nicht antwortet.",
    ),
    ("settings.firmware", "Firmware"),
    (
        "settings.firmware_help",
        "Eine Firmware-Datei je Modell, als static.firmware.url in die gemeinsame Datei des Modells geschrieben. Daneben die Firmware-Versionen, die seine Telefone melden (Anzahl Telefone).",
    ),
    (
        "settings.firmware_none",
        "Noch kein Telefon hat sein Modell gemeldet.",
    ),
    ("settings.firmware_reported", "Von Telefonen gemeldet"),
    ("settings.ca", "Zertifikate"),
    (
        "settings.ca_help",
        "Eine private CA, die das Zertifikat der PBX signiert: Die Telefone laden sie von ihrer eigenen Provisionierungs-URL (ca.pem) und vertrauen ihr dann neben den eingebauten CAs.",
    ),
    ("field.sip_transport", "SIP-Transport"),
    ("field.rps_mode", "RPS-Konto"),
    ("field.rps_api", "RPS-API"),
    ("field.rps_endpoint", "RPS-Endpunkt"),
    ("field.rps_username", "RPS-Benutzername"),
    ("field.rps_secret", "RPS-Geheimnis"),
    ("field.rps_server_name", "RPS-Servername"),
    ("settings.rps_server_name_auto", "leer: automatisch"),
    ("settings.rps_server_in_use", "Verwendeter Servername"),
    ("rps_name_source.setting", "aus dieser Einstellung"),
    ("rps_name_source.pbx_domain", "aus der Domäne der PBX"),
    ("rps_name_source.url_host", "aus dem Host der Basis-URL"),
    (
        "rps_name_source.configured_domain",
        "aus innovaphone.domain",
    ),
    (
        "rps_name_source.awaiting_pbx",
        "noch keiner: wartet auf die Anmeldung der PBX",
    ),
    ("settings.checks", "Prüfungen"),
    (
        "rps.server_stale",
        "RPS behält eine alte URL für unseren Servernamen",
    ),
];

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn keys(table: &[(&str, &str)]) -> BTreeSet<String> {
        let set: BTreeSet<String> = table.iter().map(|(k, _)| (*k).to_owned()).collect();
        assert_eq!(set.len(), table.len(), "a key is listed twice");
        set
    }

    #[test]
    fn both_languages_have_the_same_keys() {
        let en = keys(EN);
        let de = keys(DE);
        let only_en: Vec<_> = en.difference(&de).collect();
        let only_de: Vec<_> = de.difference(&en).collect();
        assert!(only_en.is_empty(), "missing in German: {only_en:?}");
        assert!(only_de.is_empty(), "missing in English: {only_de:?}");
    }

    /// Every `t.get("...")` in the templates and the UI code, and every key the code builds
    /// (`"login.*"`, `"config.*"`, ...), is in the tables.
    #[test]
    fn every_key_used_exists() {
        let en = keys(EN);
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/");
        let mut texts = Vec::new();
        for dir in ["templates", "src/admin/ui"] {
            let entries =
                std::fs::read_dir(format!("{root}{dir}")).unwrap_or_else(|e| panic!("{dir}: {e}"));
            for entry in entries.flatten() {
                texts.push(std::fs::read_to_string(entry.path()).unwrap_or_default());
            }
        }
        let mut missing = BTreeSet::new();
        let prefixes = [
            "nav.",
            "login.",
            "error.",
            "col.",
            "config.",
            "requests.",
            "devices.",
            "mac.",
            "import.",
            "device.",
            "form.",
            "rps.",
            "changes.",
            "settings.",
            "field.",
        ];
        for text in &texts {
            for (i, _) in text.match_indices('"') {
                let rest = &text[i + 1..];
                let Some(end) = rest.find('"') else { continue };
                let key = &rest[..end];
                let looks_like_key = prefixes.iter().any(|p| key.starts_with(p))
                    && key
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c == '.' || c == '_')
                    && !key.ends_with('.')
                    // Template file names look like keys.
                    && !key.ends_with(".html");
                if looks_like_key && !en.contains(key) {
                    missing.insert(key.to_owned());
                }
            }
        }
        for mode in ["standard", "own", "off"] {
            assert!(en.contains(&format!("rps_mode.{mode}")));
        }
        assert!(
            missing.is_empty(),
            "keys used but not translated: {missing:?}"
        );
    }

    #[test]
    fn language_from_cookie_then_accept_language() {
        let mut h = HeaderMap::new();
        assert_eq!(Lang::from_headers(&h), Lang::En);
        h.insert(
            header::ACCEPT_LANGUAGE,
            HeaderValue::from_static("fr-FR, de-DE;q=0.8, en;q=0.5"),
        );
        assert_eq!(Lang::from_headers(&h), Lang::De);
        h.insert(header::COOKIE, HeaderValue::from_static("yp_lang=en"));
        assert_eq!(Lang::from_headers(&h), Lang::En);
        assert_eq!(Tr(Lang::De).get("nav.devices"), "Geräte");
        assert_eq!(Tr(Lang::De).field_label("time_zone"), "Zeitzone");
        assert_eq!(Tr(Lang::En).field_label("nonexistent"), "nonexistent");
    }
}
