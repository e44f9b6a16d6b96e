//! The `yealink-prov` command line. Device and settings commands work directly on the same store
//! as the server; a running server picks their changes up within a second (change feed).

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use prov_store::{DeviceQuery, DeviceSort};
use yealink::Mac;

use crate::admin::api::resolve_file_name;
use crate::core::audit::Actor;
use crate::core::config::{Config, Overrides};
use crate::core::device_input::DeviceInput;
use crate::core::import::parse_csv;
use crate::core::service::Service;
use crate::core::settings::SettingsOverride;
use crate::core::views::DeviceView;

#[derive(Parser, Debug)]
#[command(
    name = "yealink-prov",
    version,
    about = "Zero-touch provisioning for Yealink SIP phones",
    long_about = "Zero-touch provisioning for Yealink SIP phones.\n\n\
        Run `yealink-prov serve` to start the service (SQLite in ./data by default), then add \
        phones with `yealink-prov device add` or the admin API under /api/v1."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct GlobalArgs {
    /// TOML configuration file (keys as in `yealink-prov.example.toml`).
    #[arg(long, global = true, env = "YEALINK_PROV_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Folder for the embedded database [default: ./data].
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// sqlite://PATH or postgres://USER:PASSWORD@HOST/DB [default: SQLite in the data folder].
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,
    /// Start with a new, empty database although the data folder says that another one held
    /// the devices (it was lost; see docs/storage.md). For one start.
    #[arg(long, global = true)]
    pub allow_empty_database: bool,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the service: phone provisioning, admin API, /healthz and /metrics on one port.
    Serve {
        /// Address to listen on [default: 0.0.0.0:8080].
        #[arg(long, value_name = "ADDR")]
        listen: Option<SocketAddr>,
    },
    /// Add, list, show, remove and import phones.
    #[command(subcommand)]
    Device(DeviceCommand),
    /// Print what a phone would get (secrets masked unless --reveal).
    Render {
        /// The phone's MAC address.
        mac: String,
        /// boot, cfg (default), local, or a file name such as y000000000108.cfg.
        file: Option<String>,
        /// Show passwords instead of ********.
        #[arg(long)]
        reveal: bool,
    },
    /// Show or change the settings that apply to every phone.
    #[command(subcommand)]
    Settings(SettingsCommand),
    /// Manage the admin credential of the API.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Show the whole zero-touch flow on loopback: simulated RPS, this server, a simulated phone.
    Demo,
    /// Yealink's redirection service: status, history, checks and redirects.
    #[command(subcommand)]
    Rps(RpsCommand),
    /// innovaphone PBX: the App object to create, and the state of innovaphone phones.
    #[command(subcommand)]
    Pbx(PbxCommand),
    /// The key that encrypts the database's secrets.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Check what zero-touch provisioning depends on: will a factory-fresh phone trust our
    /// HTTPS certificate, is our server registered at RPS under the right URL.
    Doctor {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum PbxCommand {
    /// Print the App object to create on the PBX (no PBX Manager plugin needed). Contains the
    /// instance password; without a configured one, generates one (16 characters, shown once).
    AppObject {
        /// The App object's long name, shown in myApps Profile.
        #[arg(long, default_value = "Yealink")]
        name: String,
        /// Its SIP name.
        #[arg(long, default_value = "yealink")]
        sip: String,
        /// Replace the generated instance password with a new one (the App object's password
        /// must then be changed too).
        #[arg(long)]
        new_password: bool,
    },
    /// The innovaphone side of one phone: user, Devices configuration, user-object update.
    Show {
        mac: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum RpsCommand {
    /// Is an RPS account configured, is RPS reachable, is our server registered, what waits?
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Ask RPS now what it knows about a phone (recorded in the history).
    Check { mac: String },
    /// Every RPS command with its answer, newest first.
    History {
        #[arg(long)]
        json: bool,
        /// Only this phone.
        #[arg(long)]
        mac: Option<String>,
        /// Only this command (ADD_SERVER, DEREGISTER_DEVICE, REDIRECT_DEVICE, CHECK_DEVICE).
        #[arg(long)]
        command: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Queue DEREGISTER + REDIRECT again for one phone, or for every phone with --all.
    Redirect {
        mac: Option<String>,
        #[arg(long, conflicts_with = "mac")]
        all: bool,
    },
    /// Retry every waiting command now (e.g. once RPS is back); a running server sends them.
    Retry,
}

#[derive(Subcommand, Debug)]
pub enum DeviceCommand {
    /// Add a phone.
    Add(Box<AddArgs>),
    /// List phones.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Include per-phone secrets (provisioning URL token, HTTP and SIP passwords).
        #[arg(long)]
        reveal: bool,
        /// Only phones whose MAC, name, user or model contains this text.
        #[arg(long)]
        search: Option<String>,
    },
    /// Show one phone, with its provisioning URL and HTTP credentials.
    Show {
        mac: String,
        #[arg(long)]
        json: bool,
        /// Show secrets instead of ********.
        #[arg(long)]
        reveal: bool,
    },
    /// Remove a phone; it can no longer fetch its files.
    Remove { mac: String },
    /// Import phones from a CSV file with a header line
    /// (mac,sip_user,sip_password,registrar[,auth_name,display_name,name,model,...]).
    Import {
        file: PathBuf,
        /// Print the per-row report as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Debug)]
pub struct AddArgs {
    /// MAC address (00:15:65:AA:BB:CC, 00-15-65-aa-bb-cc or 001565aabbcc).
    #[arg(long)]
    pub mac: String,
    /// SIP user name (also the auth name unless --auth-name is given).
    #[arg(long)]
    pub sip_user: String,
    /// SIP password; `-` reads it from standard input (keeps it out of the process list).
    #[arg(long)]
    pub sip_password: String,
    /// Registrar HOST[:PORT].
    #[arg(long)]
    pub registrar: String,
    #[arg(long)]
    pub auth_name: Option<String>,
    /// Name shown on the phone and to callers.
    #[arg(long)]
    pub display_name: Option<String>,
    /// Name of the device in this service [default: the SIP user].
    #[arg(long)]
    pub name: Option<String>,
    /// Yealink model, e.g. T46U (otherwise learnt from the phone's User-Agent).
    #[arg(long)]
    pub model: Option<String>,
    /// Override the time zone for this phone (IANA name, e.g. Europe/Berlin).
    #[arg(long)]
    pub time_zone: Option<String>,
    /// Override the location (country code, e.g. DE) for this phone.
    #[arg(long)]
    pub location: Option<String>,
    /// Override the SIP transport (udp, tcp, tls) for this phone.
    #[arg(long)]
    pub sip_transport: Option<yealink::Transport>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum SettingsCommand {
    /// Show the current settings.
    Show {
        #[arg(long)]
        json: bool,
    },
    /// Change settings: KEY=VALUE ... (public_base_url, provisioning_scheme,
    /// update_interval_minutes, ntp_servers, time_zone, location, media_relay, ice,
    /// sip_transport, backup_registrar, firmware_url.<MODEL>, ca_certificate=@<PEM file>).
    Set {
        #[arg(required = true, value_name = "KEY=VALUE")]
        assignments: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// Re-encrypt every secret with a new key and drop the old one from the key file. Stop
    /// the server(s) first: a running one cannot read what the new key sealed.
    Rotate,
}

/// `yealink-prov key rotate`.
pub async fn run_key(config: &Config, command: KeyCommand) -> anyhow::Result<()> {
    match command {
        KeyCommand::Rotate => {
            let r = crate::core::key_file::rotate(config).await?;
            println!(
                "secrets re-encrypted with key {} ({} devices, {} meta values, {} PBX \
                 documents, {} local configs); old key(s) {} removed from {}",
                r.new_id,
                r.resealed.devices,
                r.resealed.meta,
                r.resealed.pbx_devices,
                r.resealed.local_cfgs,
                r.old_ids.join(", "),
                crate::core::key_file::key_file_path(config).0.display()
            );
            Ok(())
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Replace the admin password with a new random one and print it.
    ResetPassword,
}

impl GlobalArgs {
    pub fn load_config(&self, listen: Option<SocketAddr>) -> anyhow::Result<Config> {
        let overrides = Overrides {
            listen,
            data_dir: self.data_dir.clone(),
            database_url: self.database_url.clone(),
            allow_empty_database: self.allow_empty_database.then_some(true),
        };
        Ok(Config::load(self.config.as_deref(), &overrides)?)
    }
}

/// Opens the store and a service for one-shot commands.
async fn open_service(config: &Config) -> anyhow::Result<Service> {
    let store = crate::core::key_file::open_store(config).await?;
    let rps = std::sync::Arc::new(crate::core::rps::outbox::RpsFlow::new(
        store.clone(),
        config.rps.account(),
        std::time::Duration::from_secs(config.rps_timeout_secs),
        config.rps_rate_per_second,
    )?);
    let innovaphone_on = config.innovaphone.password.is_some()
        || store
            .get_meta(crate::app_service::META_INSTANCE_PASSWORD)
            .await?
            .is_some_and(|p| !p.is_empty());
    let service = Service::new(store, rps, Some(config.fallback_base_url()), false).await?;
    if innovaphone_on {
        service.set_app_service(crate::core::service::AppServiceMode {
            domain: config.innovaphone.domain.clone(),
        });
    }
    Ok(service)
}

fn parse_mac(raw: &str) -> anyhow::Result<Mac> {
    Mac::parse(raw).map_err(|e| anyhow::anyhow!("invalid MAC {raw:?}: {e}"))
}

pub async fn run_device(config: &Config, command: DeviceCommand) -> anyhow::Result<()> {
    let service = open_service(config).await?;
    match command {
        DeviceCommand::Add(args) => add(&service, *args).await,
        DeviceCommand::List {
            json,
            reveal,
            search,
        } => list(&service, json, reveal, search).await,
        DeviceCommand::Show { mac, json, reveal } => {
            let device = service.get_device(parse_mac(&mac)?).await?;
            let view = DeviceView::new(&service, &device, reveal);
            if json {
                println!("{}", serde_json::to_string_pretty(&view)?);
            } else {
                print_device(&view, reveal);
                let settings = service.settings();
                if service.rps().account(&settings).await?.is_none() {
                    println!(
                        "RPS is off: give the phone its provisioning URL (DHCP option 66, or its \
                         web UI under Settings > Auto Provision)."
                    );
                } else {
                    println!(
                        "RPS redirects this phone to its provisioning URL; see `yealink-prov rps history --mac {}`.",
                        view.mac
                    );
                }
            }
            Ok(())
        }
        DeviceCommand::Remove { mac } => {
            let mac = parse_mac(&mac)?;
            service.remove_device(mac, &Actor::Cli).await?;
            println!("removed {mac}");
            Ok(())
        }
        DeviceCommand::Import { file, json } => import(&service, &file, json).await,
    }
}

async fn add(service: &Service, args: AddArgs) -> anyhow::Result<()> {
    let sip_password = if args.sip_password == "-" {
        let mut line = String::new();
        std::io::stdin()
            .read_to_string(&mut line)
            .context("cannot read the SIP password from standard input")?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else {
        args.sip_password
    };
    let input = DeviceInput {
        mac: args.mac,
        sip_user: args.sip_user,
        sip_password,
        registrar: args.registrar,
        auth_name: args.auth_name,
        display_name: args.display_name,
        name: args.name,
        model: args.model,
        overrides: SettingsOverride {
            time_zone: args.time_zone,
            location: args.location,
            sip_transport: args.sip_transport,
            ..SettingsOverride::default()
        },
    };
    let record = service.add_device(input, &Actor::Cli).await?;
    let device = service.get_device(record.mac).await?;
    let view = DeviceView::new(service, &device, true);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&view)?);
    } else {
        println!("added {}", view.mac);
        println!("provisioning URL: {}", view.provisioning_url);
        println!(
            "give this URL to the phone (RPS, DHCP option 66, or its web UI under Auto Provision);"
        );
        println!("it holds the phone's secret: treat it like a password.");
    }
    Ok(())
}

async fn list(
    service: &Service,
    json: bool,
    reveal: bool,
    search: Option<String>,
) -> anyhow::Result<()> {
    let mut views = Vec::new();
    let mut offset = 0;
    loop {
        let page = service
            .list_devices(&DeviceQuery {
                search: search.clone(),
                sort: DeviceSort::Mac,
                descending: false,
                offset,
                limit: 1000,
            })
            .await?;
        let got = page.items.len() as u32;
        views.extend(
            page.items
                .iter()
                .map(|d| DeviceView::new(service, d, reveal)),
        );
        offset += got;
        if got == 0 || u64::from(offset) >= page.total {
            break;
        }
    }
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &views)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<12}  {:<20}  {:<12}  {:<6}  {:<17}  LAST CONFIG REQUEST",
        "MAC", "NAME", "SIP USER", "MODEL", "PHONE REQUESTS"
    )?;
    for v in &views {
        writeln!(
            out,
            "{:<12}  {:<20}  {:<12}  {:<6}  {:<17}  {}",
            v.mac,
            v.name,
            v.sip_user,
            v.model.as_deref().unwrap_or("-"),
            v.status.phone_requests,
            v.status
                .last_config_request
                .map_or_else(|| "-".to_owned(), |t| t.to_string()),
        )?;
    }
    writeln!(out, "{} device(s)", views.len())?;
    Ok(())
}

fn print_device(v: &DeviceView, reveal: bool) {
    println!("MAC:                 {}", v.mac);
    println!("Name:                {}", v.name);
    println!("Model:               {}", v.model.as_deref().unwrap_or("-"));
    println!("SIP user:            {}", v.sip_user);
    println!(
        "Auth name:           {}",
        v.auth_name.as_deref().unwrap_or(&v.sip_user)
    );
    println!(
        "Display name:        {}",
        v.display_name.as_deref().unwrap_or("-")
    );
    println!("SIP password:        {}", v.sip_password);
    println!("Registrar:           {}", v.registrar);
    println!("Provisioning URL:    {}", v.provisioning_url);
    println!("HTTP username:       {}", v.http_username);
    println!("HTTP password:       {}", v.http_password);
    println!("Phone web admin:     admin / {}", v.phone_admin_password);
    println!("Phone web user:      user / {}", v.phone_user_password);
    if !v.overrides.is_empty() {
        println!(
            "Overrides:           {}",
            serde_json::to_string(&v.overrides).unwrap_or_default()
        );
    }
    println!("Device Config:       {}", v.status.device_config);
    println!("Phone Requests:      {}", v.status.phone_requests);
    println!(
        "Last Config Request: {}",
        v.status
            .last_config_request
            .map_or_else(|| "-".to_owned(), |t| t.to_string())
    );
    if let Some(ip) = &v.status.last_ip {
        println!("Last seen from:      {ip}");
    }
    if let Some(ua) = &v.status.last_user_agent {
        // Sent by whoever reached the phone URL: no terminal escapes on the admin's screen.
        println!(
            "User-Agent:          {}",
            crate::core::log_safe::LogSafe(ua)
        );
    }
    if !reveal {
        println!("(secrets masked; add --reveal to show them)");
    }
}

async fn import(service: &Service, file: &PathBuf, json: bool) -> anyhow::Result<()> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let rows = parse_csv(&bytes)?;
    let total = rows.len() as u64;
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} rows {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let progress_bar = bar.clone();
    let results = service
        .import_devices(
            rows,
            &move |n| progress_bar.set_position(n as u64),
            &Actor::Cli,
        )
        .await?;
    bar.finish_and_clear();
    let rejected: Vec<_> = results.iter().filter(|r| r.error.is_some()).collect();
    if json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        for r in &rejected {
            println!(
                "line {}: {} rejected: {}",
                r.line,
                if r.mac.is_empty() { "-" } else { &r.mac },
                r.error.as_deref().unwrap_or_default()
            );
        }
        println!(
            "imported {} device(s), rejected {}",
            results.len() - rejected.len(),
            rejected.len()
        );
    }
    if !rejected.is_empty() && results.len() == rejected.len() {
        bail!("no row could be imported");
    }
    Ok(())
}

pub async fn run_render(
    config: &Config,
    mac: &str,
    file: Option<&str>,
    reveal: bool,
) -> anyhow::Result<()> {
    let service = open_service(config).await?;
    let mac = parse_mac(mac)?;
    let device = service.get_device(mac).await?;
    let file = resolve_file_name(mac, file.unwrap_or("cfg"))?;
    match service.render_for_admin(&device, file).await? {
        Some(text) if reveal => print!("{text}"),
        Some(text) => print!("{}", yealink::mask_secrets(&text)),
        None => bail!("{} is not served to this phone", file.file_name()),
    }
    Ok(())
}

pub async fn run_settings(config: &Config, command: SettingsCommand) -> anyhow::Result<()> {
    let service = open_service(config).await?;
    match command {
        SettingsCommand::Show { json } => {
            let settings = service.settings();
            if json {
                println!("{}", serde_json::to_string_pretty(settings.as_ref())?);
            } else {
                let value = serde_json::to_value(settings.as_ref())?;
                if let serde_json::Value::Object(map) = value {
                    for (k, v) in map {
                        println!("{k:<24} {v}");
                    }
                }
                if settings.public_base_url.is_none() {
                    println!(
                        "(public_base_url unset: phones are given {}; set it to the address phones reach)",
                        service.base_url()
                    );
                }
            }
        }
        SettingsCommand::Set { assignments } => {
            let mut settings = service.settings().as_ref().clone();
            let mut secret_set = false;
            for assignment in &assignments {
                let (key, value) = assignment
                    .split_once('=')
                    .with_context(|| format!("{assignment:?} is not KEY=VALUE"))?;
                if key.trim() == "rps_secret" {
                    // Kept apart from the settings document so it is never shown again.
                    service.rps().set_own_secret(value.trim()).await?;
                    secret_set = true;
                    continue;
                }
                // A PEM spans lines: read it from a file rather than the command line.
                if key.trim() == "ca_certificate"
                    && let Some(path) = value.trim().strip_prefix('@')
                {
                    let pem = std::fs::read_to_string(path)
                        .with_context(|| format!("reading the CA certificate {path:?}"))?;
                    settings.set_from_text("ca_certificate", &pem)?;
                    continue;
                }
                settings.set_from_text(key.trim(), value)?;
            }
            service
                .update_settings(settings, &Actor::Cli, secret_set)
                .await?;
            println!("saved");
        }
    }
    Ok(())
}

pub async fn run_admin(config: &Config, command: AdminCommand) -> anyhow::Result<()> {
    let service = open_service(config).await?;
    match command {
        AdminCommand::ResetPassword => {
            let store: Arc<dyn prov_store::Store> = service.store().clone();
            let password = crate::core::admin_auth::reset_admin_password(store.as_ref()).await?;
            println!("new admin password: {password}");
        }
    }
    Ok(())
}

pub async fn run_rps(config: &Config, command: RpsCommand) -> anyhow::Result<()> {
    let service = open_service(config).await?;
    let settings = service.settings();
    match command {
        RpsCommand::Status { json } => {
            let status = service.rps_status(true).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
                return Ok(());
            }
            println!("Mode:              {:?}", status.mode);
            if !status.configured {
                println!(
                    "Configured:        no (RPS is off; phones need their URL by DHCP option 66 or by hand)"
                );
            } else {
                println!("Configured:        yes");
                println!(
                    "API:               {}",
                    status.api.map_or("-".into(), |a| a.to_string())
                );
                println!(
                    "Endpoint:          {}",
                    status.endpoint.as_deref().unwrap_or("-")
                );
                println!(
                    "Username:          {}",
                    status.username.as_deref().unwrap_or("-")
                );
                println!("Secret:            {}", status.secret.unwrap_or("-"));
                println!(
                    "Reachable:         {} ({})",
                    if status.reachable == Some(true) {
                        "yes"
                    } else {
                        "no"
                    },
                    status.reachability.as_deref().unwrap_or("-")
                );
            }
            println!(
                "Server name:       {} (from {})",
                status.server_name,
                match status.server_name_source {
                    crate::core::service::ServerNameSource::Setting =>
                        "the rps_server_name setting",
                    crate::core::service::ServerNameSource::PbxDomain => "the PBX's domain",
                    crate::core::service::ServerNameSource::UrlHost => "the host of the base URL",
                    crate::core::service::ServerNameSource::ConfiguredDomain =>
                        "innovaphone.domain",
                    crate::core::service::ServerNameSource::AwaitingPbx =>
                        "nothing yet: waiting for the innovaphone PBX's login",
                }
            );
            println!("Server URL:        {}", status.server_url);
            if let Some(r) = &status.registered {
                println!(
                    "At RPS:            {} -> {}",
                    r.name,
                    rps::redact::redact_url(&r.url)
                );
            }
            println!(
                "Server registered: {}",
                match status.server_registered {
                    Some(true) => "yes",
                    Some(false) => "no (see rps history --command ADD_SERVER)",
                    None => "not yet",
                }
            );
            if let Some(warning) = &status.server_url_warning {
                println!("WARNING:           {warning}");
            }
            if let Some(u) = &status.unknown_server {
                println!(
                    "Unknown at RPS:    {} at {} ({}); registered again: {}",
                    u.name,
                    u.at,
                    u.answer,
                    u.re_registered.as_deref().unwrap_or("not yet")
                );
            }
            println!(
                "Queue:             {} waiting, {} due now{}",
                status.queue.pending,
                status.queue.due,
                status
                    .last_error
                    .as_deref()
                    .map(|e| format!(", last error: {e}"))
                    .unwrap_or_default()
            );
        }
        RpsCommand::Check { mac } => {
            let entry = service.rps().check(&settings, parse_mac(&mac)?).await?;
            println!(
                "{} {}: {} ({})",
                entry.command, mac, entry.answer, entry.outcome
            );
        }
        RpsCommand::History {
            json,
            mac,
            command,
            limit,
        } => {
            let mac = mac.as_deref().map(parse_mac).transpose()?;
            let page = service
                .store()
                .list_rps_history(&prov_store::HistoryQuery {
                    mac,
                    command: command.map(|c| c.to_ascii_uppercase().replace(' ', "_")),
                    offset: 0,
                    limit,
                })
                .await
                .map_err(crate::core::error::ServiceError::from)?;
            let pending = service
                .store()
                .pending_rps_jobs(mac, limit)
                .await
                .map_err(crate::core::error::ServiceError::from)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "pending": pending.iter().map(crate::core::views::PendingView::from).collect::<Vec<_>>(),
                        "history": page.items,
                        "total": page.total,
                    }))?
                );
                return Ok(());
            }
            for job in &pending {
                println!(
                    "waiting   {:<18} {:<12} attempts {}{}",
                    job.command,
                    job.mac.map_or("-".into(), |m| m.to_string()),
                    job.attempts,
                    job.last_error
                        .as_deref()
                        .map(|e| format!(", last error: {e}"))
                        .unwrap_or_default()
                );
            }
            for e in &page.items {
                println!(
                    "{}  {:<18} {:<12} {:<12} {:>5} ms  {}  {}",
                    e.at,
                    e.command,
                    e.mac.map_or("-".into(), |m| m.to_string()),
                    e.outcome,
                    e.duration_ms,
                    e.answer,
                    serde_json::to_string(&e.params).unwrap_or_default()
                );
            }
            println!("{} of {} entries", page.items.len(), page.total);
        }
        RpsCommand::Redirect { mac, all } => {
            let macs: Vec<Mac> = if all {
                service
                    .store()
                    .all_device_records()
                    .await
                    .map_err(crate::core::error::ServiceError::from)?
                    .into_iter()
                    .map(|r| r.mac)
                    .collect()
            } else {
                let Some(mac) = mac else {
                    bail!("name a MAC or use --all");
                };
                let mac = parse_mac(&mac)?;
                service.get_device(mac).await?;
                vec![mac]
            };
            service.rps().enqueue_redirects(&settings, &macs).await?;
            let audit: Vec<_> = macs
                .iter()
                .map(|mac| {
                    crate::core::audit::entry(
                        &Actor::Cli,
                        crate::core::audit::Action::RedirectResent,
                        Some(*mac),
                        String::new(),
                    )
                })
                .collect();
            service
                .store()
                .record_changes(&audit)
                .await
                .map_err(crate::core::error::ServiceError::from)?;
            println!("queued DEREGISTER + REDIRECT for {} device(s)", macs.len());
        }
        RpsCommand::Retry => {
            let n = service
                .store()
                .retry_rps_jobs_now(time::OffsetDateTime::now_utc())
                .await
                .map_err(crate::core::error::ServiceError::from)?;
            println!("{n} waiting command(s) will be retried now");
        }
    }
    Ok(())
}

/// The instance password for the printout: `shown` is `None` when it was generated earlier
/// (shown once, like the admin password).
struct PrintedPassword {
    shown: Option<String>,
    note: Option<String>,
}

async fn app_object_password(
    config: &Config,
    service: &crate::core::service::Service,
    renew: bool,
) -> anyhow::Result<PrintedPassword> {
    use crate::app_service::META_INSTANCE_PASSWORD;
    if let Some(password) = &config.innovaphone.password {
        if renew {
            bail!(
                "innovaphone.password is set in the configuration; change it there (at most \
                 {} characters, 16 recommended)",
                crate::core::config::INSTANCE_PASSWORD_MAX
            );
        }
        return Ok(PrintedPassword {
            shown: Some(password.expose().to_owned()),
            note: None,
        });
    }
    let store = service.store();
    let stored = store.get_meta(META_INSTANCE_PASSWORD).await?;
    if stored.as_deref().is_some_and(|p| !p.is_empty()) && !renew {
        return Ok(PrintedPassword {
            shown: None,
            note: Some(
                "The instance password was generated earlier and is shown only once; run with \
                 --new-password to replace it (then enter the new one on the App object)."
                    .into(),
            ),
        });
    }
    let fresh = crate::core::secret::random_token(crate::core::config::INSTANCE_PASSWORD_LEN);
    store.set_meta(META_INSTANCE_PASSWORD, &fresh).await?;
    Ok(PrintedPassword {
        shown: Some(fresh),
        note: Some(
            "The instance password above was generated now and is shown only this once. \
             Restart yealink-prov so that it uses it."
                .into(),
        ),
    })
}

/// `yealink-prov doctor`: the factory-trust check and the RPS basics, one line each.
pub async fn run_doctor(config: &Config, json: bool) -> anyhow::Result<()> {
    use crate::core::doctor::{Finding, Level};
    let service = open_service(config).await?;
    let settings = service.settings();
    let tls_cert = config.listen_tls.and(config.tls_cert.as_deref());
    let mut findings = vec![crate::core::doctor::https_factory_trust(
        settings.public_base_url.as_deref(),
        tls_cert,
    )];
    if settings.public_base_url.is_none() {
        findings.push(Finding {
            check: "public_base_url",
            level: Level::Warn,
            text: format!(
                "public_base_url is not set: phones are sent to {}, which only suits a LAN",
                service.base_url()
            ),
        });
    }
    let status = service.rps_status(true).await?;
    findings.push(if !status.configured {
        Finding {
            check: "rps",
            level: Level::Info,
            text: "RPS is off: phones need their URL by DHCP option 66 or by hand".into(),
        }
    } else if status.reachable == Some(false) {
        Finding {
            check: "rps",
            level: Level::Warn,
            text: format!(
                "RPS ({}) is not reachable: {}",
                status.endpoint.as_deref().unwrap_or("-"),
                status.reachability.as_deref().unwrap_or("-")
            ),
        }
    } else {
        Finding {
            check: "rps",
            level: Level::Ok,
            text: format!(
                "RPS account configured ({}), endpoint {}",
                status.api.map_or("-".into(), |a| a.to_string()),
                status.reachability.as_deref().unwrap_or("-")
            ),
        }
    });
    findings.push(match (&status.server_url_warning, status.server_registered) {
        (Some(warning), _) => Finding {
            check: "rps_server",
            level: Level::Warn,
            text: warning.clone(),
        },
        (None, Some(true)) => Finding {
            check: "rps_server",
            level: Level::Ok,
            text: format!(
                "server {:?} registered for {}",
                status.server_name, status.server_url
            ),
        },
        (None, Some(false)) => Finding {
            check: "rps_server",
            level: Level::Warn,
            text: format!(
                "server {:?} is not registered: see `yealink-prov rps history --command ADD_SERVER`",
                status.server_name
            ),
        },
        (None, None) => Finding {
            check: "rps_server",
            level: Level::Info,
            text: format!(
                "server {:?} not registered yet (ADD SERVER is sent when the server starts)",
                status.server_name
            ),
        },
    });
    if let Some(finding) = myapps_frame_finding(config, &service).await? {
        findings.push(finding);
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&findings)?);
        return Ok(());
    }
    for f in &findings {
        let tag = match f.level {
            Level::Ok => "ok  ",
            Level::Info => "info",
            Level::Warn => "WARN",
        };
        println!("[{tag}] {}: {}", f.check, f.text);
    }
    Ok(())
}

/// Who may frame the admin app in myApps, and who tried without being allowed (the app page
/// notes that); `None` without the innovaphone integration.
async fn myapps_frame_finding(
    config: &Config,
    service: &Service,
) -> anyhow::Result<Option<crate::core::doctor::Finding>> {
    use crate::app_service::frame_origins::{
        META_REFUSED_FRAMES, META_TOLD_ORIGINS, decode_list, parse_origins,
    };
    if !service.is_app_service() {
        return Ok(None);
    }
    let store = service.store();
    let mut allowed = parse_origins(&config.innovaphone.frame_origins).unwrap_or_default();
    allowed.extend(decode_list(
        store.get_meta(META_TOLD_ORIGINS).await?.as_deref(),
    ));
    let refused: Vec<String> = decode_list(store.get_meta(META_REFUSED_FRAMES).await?.as_deref())
        .into_iter()
        .filter(|o| !allowed.contains(o))
        .collect();
    let known = if allowed.is_empty() {
        "none yet besides https://<pbxDns> of a connected PBX".to_owned()
    } else {
        allowed.join(", ")
    };
    Ok(Some(if refused.is_empty() {
        crate::core::doctor::Finding {
            check: "myapps_frame",
            level: crate::core::doctor::Level::Ok,
            text: format!("origins that may frame the admin app in myApps: {known}"),
        }
    } else {
        crate::core::doctor::Finding {
            check: "myapps_frame",
            level: crate::core::doctor::Level::Warn,
            text: format!(
                "the admin app was opened in a frame on {} and refused there; if that is your \
                 myApps, add it to innovaphone.frame_origins (or \
                 YEALINK_PROV_INNOVAPHONE__FRAME_ORIGINS) and restart (allowed now: {known})",
                refused.join(", ")
            ),
        }
    }))
}

pub async fn run_pbx(config: &Config, command: PbxCommand) -> anyhow::Result<()> {
    let service = open_service(config).await?;
    match command {
        PbxCommand::AppObject {
            name,
            sip,
            new_password,
        } => {
            let password = app_object_password(config, &service, new_password).await?;
            let object = crate::app_service::app_object::AppObject {
                name,
                sip,
                url: format!("{}{}", service.base_url(), config.innovaphone.path),
                password: password.shown,
            };
            if service.settings().public_base_url.is_none() && service.learned_app_url().is_none() {
                eprintln!(
                    "note: no public base URL is set, so the URL below is this host's listen \
                     address; set one with `yealink-prov settings set public_base_url https://...`"
                );
            }
            print!("{}", object.text());
            if let Some(note) = password.note {
                println!("\n{note}");
            }
            Ok(())
        }
        PbxCommand::Show { mac, json } => {
            let mac = parse_mac(&mac)?;
            let Some(doc) =
                crate::core::pbx::record::PbxDevice::load(service.store().as_ref(), mac).await?
            else {
                bail!("{mac} is not an innovaphone phone (no ProvisioningPhone from Users yet)");
            };
            // The sysclient runs in the server; this process can only say what is stored.
            let view = crate::core::pbx::record::PbxDeviceView::new(
                &doc,
                crate::app_service::sysclient::LinkState {
                    status: "see the running server".into(),
                    ..Default::default()
                },
            );
            if json {
                println!("{}", serde_json::to_string_pretty(&view)?);
            } else {
                println!("user           {} ({})", view.user_cn, view.user_sip);
                println!("hardware id    {}", view.hwid);
                println!("registrar      {}", view.registrar);
                println!("device config  {}", view.device_config);
                println!("items          {}", view.config_items.join(", "));
                for note in &view.mapping_notes {
                    println!("note           {note}");
                }
                match &view.pbx_update {
                    Some(u) => println!(
                        "user object    {} {}",
                        if u.ok { "updated:" } else { "FAILED:" },
                        u.text
                    ),
                    None => println!(
                        "user object    not updated yet (the phone has not fetched its file)"
                    ),
                }
            }
            Ok(())
        }
    }
}
