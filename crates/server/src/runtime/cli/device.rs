//! `yealink-prov device ...` and `yealink-prov render`: devices on the store, the files a
//! phone gets.

use std::io::{IsTerminal as _, Read, Write};
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use prov_store::{DeviceQuery, DeviceSort};

use crate::admin::api::resolve_file_name;
use prov_core::audit::Actor;
use prov_core::config::Config;
use prov_core::device_input::DeviceInput;
use prov_core::import::parse_csv;
use prov_core::service::Service;
use prov_core::settings::SettingsOverride;
use prov_core::views::DeviceView;

use super::shared::{open_service, parse_mac};

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
    let sip_password = if args.sip_password == "-" && std::io::stdin().is_terminal() {
        // Typed by a person: ask, and do not echo it onto the screen.
        rpassword::prompt_password("SIP password: ")
            .context("cannot read the SIP password from the terminal")?
    } else if args.sip_password == "-" {
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
    if let Some(warning) = prov_core::device_input::oui_warning(record.mac) {
        eprintln!("warning: {warning}");
    }
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
    let mut rows = vec![
        [
            "MAC",
            "NAME",
            "SIP USER",
            "MODEL",
            "PHONE REQUESTS",
            "LAST CONFIG REQUEST",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    for v in &views {
        rows.push(vec![
            v.mac.clone(),
            v.name.clone(),
            v.sip_user.clone(),
            v.model.clone().unwrap_or_else(|| "-".to_owned()),
            v.status.phone_requests.to_string(),
            super::when_or_dash(v.status.last_config_request),
        ]);
    }
    write!(out, "{}", super::table(&rows))?;
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
        super::when_or_dash(v.status.last_config_request)
    );
    if let Some(ip) = &v.status.last_ip {
        println!("Last seen from:      {ip}");
    }
    if let Some(ua) = &v.status.last_user_agent {
        // Sent by whoever reached the phone URL: no terminal escapes on the admin's screen.
        println!("User-Agent:          {}", prov_core::log_safe::LogSafe(ua));
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
        for r in &results {
            match (&r.error, &r.warning) {
                (Some(error), _) => println!(
                    "line {}: {} rejected: {error}",
                    r.line,
                    if r.mac.is_empty() { "-" } else { &r.mac },
                ),
                (None, Some(warning)) => println!("line {}: warning: {warning}", r.line),
                (None, None) => {}
            }
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
