//! Start-up configuration: defaults < TOML file < `YEALINK_PROV_*` environment < command-line flags.
//!
//! Only what is needed before the database is open lives here; everything an administrator edits at
//! run time (update interval, time zone, ...) is a [`crate::settings::Settings`] in the database.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::phone_cert::PhoneCertMode;
use crate::secret::Secret;

/// Everything `yealink-prov` needs to open its store and listen.
#[derive(Clone, Serialize, Deserialize)]
pub struct Config {
    /// Address of the one HTTP port serving phones, the admin API and metrics.
    pub listen: SocketAddr,
    /// Optional HTTPS port (needs `tls_cert` and `tls_key`); Basic auth is only accepted there.
    pub listen_tls: Option<SocketAddr>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Phones proven by their factory device certificate on the HTTPS listener:
    /// `off` | `preferred` | `required` (docs/security.md, "Phone certificates").
    pub phone_certificates: PhoneCertMode,
    /// PEM bundle of the CAs the phones' device certificates must chain to (Yealink's).
    pub phone_ca_file: Option<PathBuf>,
    /// Folder for the embedded SQLite database and other state.
    pub data_dir: PathBuf,
    /// `sqlite://...` or `postgres://...`; defaults to SQLite under `data_dir`.
    pub database_url: Option<Secret>,
    /// The key file that encrypts the database's secrets; must exist when given. Unset:
    /// `<data_dir>/secret.key`, created on first start (docs/security.md, "Data at rest").
    pub secret_key_file: Option<PathBuf>,
    /// Start even though the database is new and empty while the data folder's
    /// `database.marker` says that another one held the devices (the database was lost and
    /// the operator accepts starting again). Meant for one start: the marker is then removed.
    pub allow_empty_database: bool,
    /// The tenant a command works on (`--tenant DOMAIN/NAME`); unset: the default tenant.
    /// Commands only: `serve` serves every tenant.
    pub tenant: Option<String>,
    /// Sets the admin password at start-up (otherwise one is generated on first start).
    pub admin_password: Option<Secret>,
    /// `text` or `json`.
    pub log_format: LogFormat,
    /// Phone request log rows older than this are pruned.
    pub request_log_retention_days: u32,
    /// At least this many newest log rows per device are always kept.
    pub request_log_keep_per_device: u32,
    /// The operator's standard RPS account, used when the settings say `rps_mode = standard`.
    pub rps: StandardRpsAccount,
    /// At most this many RPS commands per second (RPS rate-limits accounts).
    pub rps_rate_per_second: u32,
    /// Timeout of one RPS call.
    pub rps_timeout_secs: u64,
    /// RPS history entries older than this are pruned...
    pub rps_history_retention_days: u32,
    /// ...but the newest this many are always kept.
    pub rps_history_keep: u32,
    /// Audit entries ("Changes") older than this are pruned...
    pub changes_retention_days: u32,
    /// ...but the newest this many are always kept.
    pub changes_keep: u32,
    /// `[innovaphone]`: the App Service side (off until a password is set).
    pub innovaphone: InnovaphoneConfig,
    /// `[limits]`: defences against hostile or unlucky load (see `docs/security.md`).
    pub limits: Limits,
}

/// `[limits]` in the configuration file. Every value has a default; see `docs/security.md` for
/// what each one stops.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Threads for the admin password checks (argon2, ~19 MiB each): that many run at once, up
    /// to 64 more wait (sources without recent failures first), the rest are answered 503.
    /// Default: the number of cores, at most 4.
    pub password_checks: usize,
    /// Wrong admin passwords a source address may send in a burst before it gets 429...
    pub auth_failures: u32,
    /// ...and the seconds after which it may try once more (one more per this many seconds).
    pub auth_failure_refill_secs: u64,
    /// Open connections on the HTTP listener (clamped below the process's open-file limit).
    pub max_connections: usize,
    /// Of those, the last this many serve only `/healthz`, `/metrics`, `/api/` and `/ui/`...
    pub reserved_connections: usize,
    /// ...and only to these sources (addresses or CIDR ranges: the admins' and the monitoring's
    /// networks), so a flood from many addresses cannot take the reserve too. Empty: any source.
    pub reserve_sources: Vec<String>,
    /// Open connections from one source address (phones behind one NAT share an address).
    pub max_connections_per_source: usize,
    /// A client must send a request's headers within this; also ends idle keep-alive.
    pub header_timeout_secs: u64,
    /// A client of the HTTPS listener must finish the TLS handshake within this.
    pub tls_handshake_timeout_secs: u64,
    /// A request's body must arrive whole within this, counted from its headers.
    pub body_timeout_secs: u64,
    /// Bytes of request bodies being received, all connections together; a body that would
    /// go beyond is refused (503), so unfinished uploads cannot take the memory.
    pub body_bytes_in_flight: usize,
    /// Request log rows of refused (anonymous) requests kept, newest first.
    pub request_log_keep_anonymous: u32,
}

impl Limits {
    /// `reserve_sources` parsed; a bare address is a network of one.
    pub fn reserve_networks(&self) -> Result<Vec<ipnet::IpNet>, ConfigError> {
        self.reserve_sources
            .iter()
            .map(|s| {
                s.parse::<ipnet::IpNet>()
                    .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        ConfigError::Invalid(format!(
                            "limits.reserve_sources: {s:?} is neither an IP address nor a CIDR range"
                        ))
                    })
            })
            .collect()
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            // A check keeps a core busy: more threads than cores would only make each slower.
            password_checks: std::thread::available_parallelism().map_or(2, |n| n.get().min(4)),
            auth_failures: 5,
            auth_failure_refill_secs: 12,
            max_connections: 4096,
            reserved_connections: 64,
            reserve_sources: vec!["127.0.0.1".into(), "::1".into()],
            max_connections_per_source: 256,
            header_timeout_secs: 15,
            tls_handshake_timeout_secs: 10,
            body_timeout_secs: 30,
            body_bytes_in_flight: 64 << 20,
            request_log_keep_anonymous: 100_000,
        }
    }
}

/// `[innovaphone]` in the configuration file; the password is better given as
/// `YEALINK_PROV_INNOVAPHONE__PASSWORD`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct InnovaphoneConfig {
    /// Path of the App object URL: the PBX and Users open their AppWebsocket here.
    pub path: String,
    /// The instance password, entered as the App object's password on the PBX: at most 23
    /// ASCII characters (the PBX's limit), 16 recommended. Unset: the one `yealink-prov pbx
    /// app-object` generated, if any; otherwise the innovaphone integration is off.
    pub password: Option<Secret>,
    /// The domain this App instance serves: the RPS server name from the start (first 24
    /// characters) and the domain sent in AppLoginResult. Empty: the domain of the PBX's login
    /// (RPS gets no server before it).
    pub domain: Option<String>,
    /// Name of the provider in myApps Profile and Users Admin.
    pub title: String,
    /// PEM file of the CA that signed the App Platform's certificate, trusted for `wss://` to
    /// Devices in addition to the operating system's store (App Platforms often use a private CA).
    pub devices_ca_file: Option<PathBuf>,
    /// A connection that has not logged in within this many seconds is closed, whatever it
    /// sends meanwhile.
    pub login_timeout_secs: u64,
    /// At most this many connections may wait for their login at once; more are refused with
    /// 503 before the upgrade.
    pub max_unauthenticated: usize,
    /// Of those, one source address (IPv6: its /64) may hold at most this many.
    pub max_unauthenticated_per_source: usize,
    /// At most this many messages may wait to be written to one connection; a peer that does
    /// not read them is disconnected.
    pub outbox_limit: usize,
    /// Origins (`https://pbx.example.com`, with a port if not the default) allowed to show the
    /// UI in a frame besides our own: where administrators open myApps. `https://<pbxDns>` of
    /// each connected PBX is allowed without listing it here.
    pub frame_origins: Vec<String>,
}

impl Default for InnovaphoneConfig {
    fn default() -> Self {
        InnovaphoneConfig {
            path: "/innovaphone-yealink".to_owned(),
            password: None,
            domain: None,
            title: "Yealink".to_owned(),
            devices_ca_file: None,
            login_timeout_secs: 30,
            max_unauthenticated: 64,
            max_unauthenticated_per_source: 16,
            outbox_limit: 256,
            frame_origins: Vec::new(),
        }
    }
}

/// `[rps]` in the configuration file; the secret is better given as `YEALINK_PROV_RPS__SECRET`.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct StandardRpsAccount {
    /// `xmlrpc` or `json`.
    pub api: Option<rps::RpsApi>,
    /// Empty: Yealink's endpoint for the API.
    pub endpoint: Option<String>,
    pub username: Option<String>,
    pub secret: Option<Secret>,
}

impl StandardRpsAccount {
    pub fn account(&self) -> Option<rps::RpsAccount> {
        Some(rps::RpsAccount {
            api: self.api.unwrap_or(rps::RpsApi::Xmlrpc),
            endpoint: self.endpoint.clone().unwrap_or_default(),
            username: self.username.clone().filter(|u| !u.is_empty())?,
            secret: self.secret.as_ref()?.expose().to_owned(),
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            listen_tls: None,
            tls_cert: None,
            tls_key: None,
            phone_certificates: PhoneCertMode::Off,
            phone_ca_file: None,
            data_dir: PathBuf::from("data"),
            database_url: None,
            secret_key_file: None,
            allow_empty_database: false,
            tenant: None,
            admin_password: None,
            log_format: LogFormat::Text,
            request_log_retention_days: 30,
            request_log_keep_per_device: 20,
            rps: StandardRpsAccount::default(),
            rps_rate_per_second: 5,
            rps_timeout_secs: 15,
            rps_history_retention_days: 365,
            rps_history_keep: 10_000,
            changes_retention_days: 730,
            changes_keep: 10_000,
            innovaphone: InnovaphoneConfig::default(),
            limits: Limits::default(),
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("listen_tls", &self.listen_tls)
            .field("tls_cert", &self.tls_cert)
            .field("tls_key", &self.tls_key)
            .field("phone_certificates", &self.phone_certificates)
            .field("phone_ca_file", &self.phone_ca_file)
            .field("data_dir", &self.data_dir)
            .field("database_url", &self.database_url_redacted())
            .field("secret_key_file", &self.secret_key_file)
            .field("allow_empty_database", &self.allow_empty_database)
            .field("tenant", &self.tenant)
            .field(
                "admin_password",
                &self.admin_password.as_ref().map(|_| "***"),
            )
            .field("log_format", &self.log_format)
            .field("rps", &self.rps.account())
            .field("innovaphone_path", &self.innovaphone.path)
            .field(
                "innovaphone_password",
                &self.innovaphone.password.as_ref().map(|_| "***"),
            )
            .field("limits", &self.limits)
            .finish()
    }
}

/// Values given on the command line; `None` means "not given", so lower layers stay in force.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_empty_database: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Layers the sources; `file` must exist when given.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::MissingFile(path.to_path_buf()));
            }
            figment = figment.merge(Toml::file(path));
        }
        figment = figment
            .merge(Env::prefixed("YEALINK_PROV_").split("__"))
            .merge(Serialized::defaults(overrides));
        let config: Config = figment
            .extract()
            // figment errors name the key and the source, never the value of a secret.
            .map_err(|e| {
                let mut text = e.to_string();
                // `listen = 8081` (or YEALINK_PROV_LISTEN=8081): say what to write instead.
                if text.contains("expected socket address") {
                    text.push_str(
                        "; write ADDRESS:PORT, for example 0.0.0.0:8081 (every address) or \
                         127.0.0.1:8081 (this machine only)",
                    );
                }
                ConfigError::Invalid(text)
            })?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.listen_tls.is_some() && (self.tls_cert.is_none() || self.tls_key.is_none()) {
            return Err(ConfigError::Invalid(
                "listen_tls needs both tls_cert and tls_key".into(),
            ));
        }
        if self.phone_certificates != PhoneCertMode::Off {
            if self.listen_tls.is_none() {
                return Err(ConfigError::Invalid(
                    "phone_certificates = preferred/required needs listen_tls (certificates \
                     come only over HTTPS)"
                        .into(),
                ));
            }
            if self.phone_ca_file.is_none() {
                return Err(ConfigError::Invalid(
                    "phone_certificates = preferred/required needs phone_ca_file (the CA bundle \
                     of the phones' device certificates)"
                        .into(),
                ));
            }
        }
        if !self.innovaphone.path.starts_with('/') || self.innovaphone.path.len() < 2 {
            return Err(ConfigError::Invalid(
                "innovaphone.path must start with '/' and name the app, e.g. /innovaphone-yealink"
                    .into(),
            ));
        }
        if let Some(p) = &self.innovaphone.password {
            check_instance_password(p.expose())?;
        }
        let l = &self.limits;
        if l.password_checks == 0
            || l.auth_failures == 0
            || l.auth_failure_refill_secs == 0
            || l.max_connections_per_source == 0
            || l.header_timeout_secs == 0
            || l.tls_handshake_timeout_secs == 0
            || l.body_timeout_secs == 0
            || l.body_bytes_in_flight < (1 << 20)
        {
            return Err(ConfigError::Invalid(
                "limits.password_checks, auth_failures, auth_failure_refill_secs, \
                 max_connections_per_source, header_timeout_secs, tls_handshake_timeout_secs \
                 and body_timeout_secs must be at least 1, body_bytes_in_flight at least \
                 1048576"
                    .into(),
            ));
        }
        l.reserve_networks()?;
        if l.reserved_connections >= l.max_connections {
            return Err(ConfigError::Invalid(
                "limits.reserved_connections must be below limits.max_connections".into(),
            ));
        }
        let inn = &self.innovaphone;
        for (name, value) in [
            (
                "innovaphone.login_timeout_secs",
                inn.login_timeout_secs as usize,
            ),
            ("innovaphone.max_unauthenticated", inn.max_unauthenticated),
            (
                "innovaphone.max_unauthenticated_per_source",
                inn.max_unauthenticated_per_source,
            ),
            ("innovaphone.outbox_limit", inn.outbox_limit),
        ] {
            if value == 0 {
                return Err(ConfigError::Invalid(format!("{name} must be at least 1")));
            }
        }
        if self.rps_rate_per_second == 0 {
            return Err(ConfigError::Invalid(
                "rps_rate_per_second must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// The database URL in force: the configured one, or SQLite in the data folder.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.expose().to_owned(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("yealink-prov.db").display()
            ),
        }
    }

    pub fn database_url_redacted(&self) -> String {
        prov_store::redact_url(&self.database_url())
    }

    /// What a phone would use when no public base URL is set: this host's listen address.
    pub fn fallback_base_url(&self) -> String {
        let ip = if self.listen.ip().is_unspecified() {
            std::net::IpAddr::from([127, 0, 0, 1])
        } else {
            self.listen.ip()
        };
        format!("http://{}", SocketAddr::new(ip, self.listen.port()))
    }
}

/// The most characters a PBX object password may have ("limited to 23 characters ASCII", innovaphone
/// wiki Reference14r1:PBX/Objects); a longer instance password can never be entered on the App
/// object, so the PBX could never log in.
pub const INSTANCE_PASSWORD_MAX: usize = 23;
/// What we generate and recommend: innovaphone's own PBX Manager plugins generate 16 characters.
pub const INSTANCE_PASSWORD_LEN: usize = 16;

/// Checks an instance password against the PBX's limits; the error never contains it.
pub fn check_instance_password(password: &str) -> Result<(), ConfigError> {
    if password.is_empty() {
        return Err(ConfigError::Invalid(
            "innovaphone.password must not be empty (leave it out to turn the integration off)"
                .into(),
        ));
    }
    if !password.chars().all(|c| c.is_ascii_graphic()) {
        return Err(ConfigError::Invalid(format!(
            "innovaphone.password must be printable ASCII without spaces: the PBX stores App object \
             passwords as ASCII; use {INSTANCE_PASSWORD_LEN} random letters and digits"
        )));
    }
    let len = password.len();
    if len > INSTANCE_PASSWORD_MAX {
        return Err(ConfigError::Invalid(format!(
            "innovaphone.password has {len} characters, but the PBX accepts at most \
             {INSTANCE_PASSWORD_MAX} for the App object's password, so it could never log in; use \
             {INSTANCE_PASSWORD_LEN} random characters (leave it unset and run `yealink-prov pbx \
             app-object` to generate one)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's own error type
    fn instance_password_longer_than_the_pbx_allows_is_refused_at_start_up() {
        figment::Jail::expect_with(|jail| {
            // 24 characters: what the docs used to recommend; the PBX takes at most 23.
            let long = "abcdefghijklmnopqrstuvwx";
            jail.set_env("YEALINK_PROV_INNOVAPHONE__PASSWORD", long);
            let e = Config::load(None, &Overrides::default())
                .err()
                .ok_or("a 24-character password was accepted")?
                .to_string();
            assert!(
                e.contains("24 characters") && e.contains("at most 23"),
                "{e}"
            );
            assert!(!e.contains(long), "the error shows the password: {e}");
            jail.set_env("YEALINK_PROV_INNOVAPHONE__PASSWORD", &long[..23]);
            Config::load(None, &Overrides::default()).map_err(|e| e.to_string())?;
            jail.set_env("YEALINK_PROV_INNOVAPHONE__PASSWORD", "passwört-mit-umlaut");
            let e = Config::load(None, &Overrides::default())
                .err()
                .ok_or("a non-ASCII password was accepted")?
                .to_string();
            assert!(e.contains("ASCII"), "{e}");
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's own error type
    fn phone_certificates_need_the_https_listener_and_a_ca_bundle() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("prov.toml", "phone_certificates = \"required\"\n")?;
            let e = Config::load(Some(Path::new("prov.toml")), &Overrides::default())
                .err()
                .ok_or("required without listen_tls was accepted")?
                .to_string();
            assert!(e.contains("needs listen_tls"), "{e}");
            jail.create_file(
                "prov.toml",
                "listen_tls = \"127.0.0.1:8443\"\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n\
                 phone_certificates = \"preferred\"\n",
            )?;
            let e = Config::load(Some(Path::new("prov.toml")), &Overrides::default())
                .err()
                .ok_or("preferred without phone_ca_file was accepted")?
                .to_string();
            assert!(e.contains("needs phone_ca_file"), "{e}");
            jail.create_file("prov.toml", "phone_certificates = \"sometimes\"\n")?;
            assert!(Config::load(Some(Path::new("prov.toml")), &Overrides::default()).is_err());
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's own error type
    fn layers_file_then_env_then_flags() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "prov.toml",
                "listen = \"127.0.0.1:1000\"\ndata_dir = \"from-file\"\nrequest_log_retention_days = 7\n",
            )?;
            jail.set_env("YEALINK_PROV_DATA_DIR", "from-env");
            jail.set_env("YEALINK_PROV_LISTEN", "127.0.0.1:2000");
            let flags = Overrides {
                listen: Some(SocketAddr::from(([127, 0, 0, 1], 3000))),
                ..Overrides::default()
            };
            let config =
                Config::load(Some(Path::new("prov.toml")), &flags).map_err(|e| e.to_string())?;
            assert_eq!(config.listen.port(), 3000, "flags win");
            assert_eq!(config.data_dir, PathBuf::from("from-env"), "env beats file");
            assert_eq!(config.request_log_retention_days, 7, "file beats defaults");
            assert!(config.database_url().starts_with("sqlite://from-env/"));
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's own error type
    fn allow_empty_database_from_flag_or_env_only_when_said() {
        figment::Jail::expect_with(|jail| {
            let plain = Config::load(None, &Overrides::default()).map_err(|e| e.to_string())?;
            assert!(!plain.allow_empty_database, "off unless said");
            let flags = Overrides {
                allow_empty_database: Some(true),
                ..Overrides::default()
            };
            let flagged = Config::load(None, &flags).map_err(|e| e.to_string())?;
            assert!(flagged.allow_empty_database, "--allow-empty-database");
            jail.set_env("YEALINK_PROV_ALLOW_EMPTY_DATABASE", "true");
            let env = Config::load(None, &Overrides::default()).map_err(|e| e.to_string())?;
            assert!(
                env.allow_empty_database,
                "YEALINK_PROV_ALLOW_EMPTY_DATABASE"
            );
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's own error type
    fn rps_account_from_file_and_secret_from_env() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "prov.toml",
                "[rps]\napi = \"json\"\nusername = \"AKID-1\"\n",
            )?;
            let config = Config::load(Some(Path::new("prov.toml")), &Overrides::default())
                .map_err(|e| e.to_string())?;
            assert!(config.rps.account().is_none(), "no secret, no account");
            jail.set_env("YEALINK_PROV_RPS__SECRET", "from-env-secret");
            let config = Config::load(Some(Path::new("prov.toml")), &Overrides::default())
                .map_err(|e| e.to_string())?;
            let account = config.rps.account().ok_or("account expected")?;
            assert_eq!(account.api, rps::RpsApi::Json);
            assert_eq!(account.username, "AKID-1");
            assert_eq!(account.secret, "from-env-secret");
            assert!(!format!("{config:?}").contains("from-env-secret"));
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's own error type
    fn appwebsocket_limits_from_file_and_zero_refused() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "prov.toml",
                "[innovaphone]\nlogin_timeout_secs = 5\nmax_unauthenticated = 8\n",
            )?;
            let config = Config::load(Some(Path::new("prov.toml")), &Overrides::default())
                .map_err(|e| e.to_string())?;
            assert_eq!(config.innovaphone.login_timeout_secs, 5);
            assert_eq!(config.innovaphone.max_unauthenticated, 8);
            assert_eq!(config.innovaphone.outbox_limit, 256, "default");
            jail.set_env("YEALINK_PROV_INNOVAPHONE__OUTBOX_LIMIT", "0");
            let e = Config::load(Some(Path::new("prov.toml")), &Overrides::default())
                .err()
                .ok_or("outbox_limit = 0 was accepted")?
                .to_string();
            assert!(e.contains("innovaphone.outbox_limit"), "{e}");
            Ok(())
        });
    }

    #[test]
    fn debug_redacts_secrets() {
        let config = Config {
            database_url: Some(Secret::new("postgres://u:hunter2@db/x")),
            admin_password: Some(Secret::new("adminpw")),
            ..Config::default()
        };
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("adminpw"),
            "{shown}"
        );
    }

    #[test]
    fn missing_file_is_named() {
        let e = Config::load(
            Some(Path::new("/nonexistent/x.toml")),
            &Overrides::default(),
        )
        .expect_err("missing");
        assert!(e.to_string().contains("/nonexistent/x.toml"));
    }
}
