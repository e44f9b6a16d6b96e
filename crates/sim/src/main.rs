//! `yealink-sim`: simulated Yealink phones from the command line.
//!
//! - `boot-storm`: many phones booting at once, with a latency/throughput report;
//! - `compare`: the markdown comparison of storm reports (ours vs nginx) for the benchmark;
//! - `provision`: one phone's provisioning run, printed;
//! - `rps`: a simulated Yealink RPS (XML-RPC, signed JSON API, phone lookup) on loopback;
//! - `innovaphone`: a simulated Devices app (sysclient endpoint) on loopback, optionally with a
//!   simulated PBX connecting to an app and Users adding phones.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use prov_sim::SimPhone;
use prov_sim::innovaphone::{
    DevicesSim, DevicesTls, PbxConfig, PbxSim, UsersSim, example_items, throwaway_certificate,
};
use prov_sim::rps::{RpsSim, RpsSimConfig};
use prov_sim::storm::{self, FileKind, StormConfig, StormReport};
use url::Url;

#[derive(Parser)]
#[command(name = "yealink-sim", version, about = "Simulated Yealink phones")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Boot many phones at once against a provisioning server and report latency.
    BootStorm(BootStormArgs),
    /// Compare storm reports (JSON from --json-out): median round of each side, as markdown.
    Compare {
        /// Reports of yealink-prov runs.
        #[arg(long, num_args = 1.., required = true)]
        ours: Vec<PathBuf>,
        /// Reports of nginx runs.
        #[arg(long, num_args = 1.., required = true)]
        nginx: Vec<PathBuf>,
    },
    /// One phone's auto-provisioning run; prints the requests and resulting parameters.
    Provision {
        /// The provisioning URL (ends with '/').
        #[arg(long, required_unless_present = "rps", conflicts_with = "rps")]
        url: Option<String>,
        /// Instead of --url: ask this RPS where to go, as a factory-fresh phone does
        /// (the simulator's lookup, see `yealink-sim rps`).
        #[arg(long)]
        rps: Option<String>,
        #[arg(long)]
        mac: String,
        #[arg(long, default_value = "T46U")]
        model: String,
        #[arg(long, default_value = "108.86.0.90")]
        firmware: String,
        /// HTTP username (Digest; Basic only over https).
        #[arg(long, requires = "password", conflicts_with = "rps")]
        username: Option<String>,
        #[arg(long, env = "YEALINK_SIM_PASSWORD", requires = "username")]
        password: Option<String>,
    },
    /// A simulated Yealink RPS on loopback (XML-RPC, signed JSON API, phone lookup), until
    /// Ctrl-C.
    Rps(RpsArgs),
    /// A simulated innovaphone Devices app (sysclient endpoint) on loopback, optionally with
    /// a simulated PBX connected to an App Service and Users adding phones, until Ctrl-C.
    Innovaphone(InnovaphoneArgs),
    /// Writes a throwaway private CA and a certificate from it for 127.0.0.1 and localhost
    /// (ca.pem, cert.pem, key.pem in DIR): `innovaphone --devices-tls-cert/--devices-tls-key`
    /// serve with it, and the client is told to trust ca.pem. For benchmarks on loopback only.
    TlsCert {
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(clap::Args)]
struct InnovaphoneArgs {
    /// The PBX domain (the sysclient path is /<domain>/devices/sysclients).
    #[arg(long, default_value = "example.com")]
    domain: String,
    /// The provisioning category to create (with realistic example items).
    #[arg(long, default_value = "yealink")]
    category: String,
    /// Print this many provisioning codes for the category.
    #[arg(long, default_value_t = 1)]
    codes: usize,
    /// Also run a PBX whose App object points at this URL
    /// (http(s)://host:port/.../innovaphone-yealink).
    #[arg(long, requires = "password")]
    app_url: Option<String>,
    /// The App object password (PBX and Users log in with it).
    #[arg(long, env = "YEALINK_SIM_APP_PASSWORD")]
    password: Option<String>,
    /// The user on the PBX that phones are added to (long name).
    #[arg(long, default_value = "John Doe")]
    user: String,
    /// The user's SIP name.
    #[arg(long, default_value = "jdoe")]
    h323: String,
    /// The user's password, sent encrypted in ProvisioningPhone.
    #[arg(long, env = "YEALINK_SIM_SIP_PASSWORD", default_value = "sip-secret")]
    sip_password: String,
    /// Add these phones (MACs) to the user as Users does, once the PBX is logged in.
    #[arg(long = "add-phone", value_name = "MAC", requires = "app_url")]
    add_phone: Vec<String>,
    /// Users sends each added phone's ProvisioningPhone to these App URLs in turn (several
    /// instances, as a load balancer would spread Users' connections); default: --app-url.
    #[arg(long = "users-app-url", value_name = "URL", requires = "app_url")]
    users_app_url: Vec<String>,
    /// Serve Devices over TLS (`wss://`) with this PEM certificate chain...
    #[arg(long, requires = "devices_tls_key")]
    devices_tls_cert: Option<PathBuf>,
    /// ...and this PEM key (`yealink-sim tls-cert` writes a throwaway pair).
    #[arg(long, requires = "devices_tls_cert")]
    devices_tls_key: Option<PathBuf>,
}

#[derive(clap::Args)]
struct RpsArgs {
    /// Address to listen on; loopback only (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// XML-RPC Basic username (also shown as the JSON API's enterprise name).
    #[arg(long)]
    user: String,
    /// XML-RPC Basic password.
    #[arg(long, env = "YEALINK_SIM_RPS_PASSWORD")]
    password: String,
    /// JSON API AccessKey ID (X-Ca-Key).
    #[arg(long)]
    access_key_id: String,
    /// JSON API AccessKey secret.
    #[arg(long, env = "YEALINK_SIM_RPS_SECRET")]
    access_key_secret: String,
    /// A MAC already registered to another RPS account (repeatable).
    #[arg(long = "foreign", value_name = "MAC")]
    foreign: Vec<String>,
}

#[derive(clap::Args)]
struct BootStormArgs {
    /// JSON array from `yealink-prov device list --json --reveal`.
    #[arg(long)]
    phones: PathBuf,
    /// Requests in flight at most (also the connection pool size).
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// Files per phone, in order: boot, common, mac.
    #[arg(long, value_delimiter = ',', default_value = "boot,common,mac")]
    files: Vec<String>,
    /// How many times every phone boots.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Replace scheme://host:port of every provisioning URL, keeping the path.
    #[arg(long)]
    base_url_override: Option<Url>,
    /// Save every body of the first round to DIR/<url path> (to serve it with nginx).
    #[arg(long)]
    save_dir: Option<PathBuf>,
    /// Write every 200 request of the first round to FILE as `<url path>\t<User-Agent>` lines
    /// (the request list for `wrk`, see bench/wrk-boot-storm.lua).
    #[arg(long)]
    requests_out: Option<PathBuf>,
    /// Write the report as JSON.
    #[arg(long)]
    json_out: Option<PathBuf>,
    /// Use the shared URL (the token URL's parent) with HTTP Digest instead of the token.
    #[arg(long)]
    digest: bool,
    /// Report this process's peak RSS (VmHWM) at the end.
    #[arg(long)]
    server_pid: Option<u32>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::BootStorm(args) => boot_storm(args).await,
        Command::Compare { ours, nginx } => {
            let read = |paths: &[PathBuf]| -> anyhow::Result<Vec<StormReport>> {
                paths
                    .iter()
                    .map(|p| {
                        let text = std::fs::read_to_string(p)
                            .with_context(|| format!("reading {}", p.display()))?;
                        serde_json::from_str(&text)
                            .with_context(|| format!("parsing {}", p.display()))
                    })
                    .collect()
            };
            let markdown = storm::compare_markdown(&read(&ours)?, &read(&nginx)?)
                .map_err(anyhow::Error::msg)?;
            print!("{markdown}");
            Ok(())
        }
        Command::Provision {
            url,
            rps,
            mac,
            model,
            firmware,
            username,
            password,
        } => {
            let mut phone = SimPhone::new(&mac, &model, &firmware)?;
            if let Some(rps) = rps {
                if !phone.ask_rps(&rps).await? {
                    bail!("RPS does not know {}", phone.mac());
                }
                println!("RPS: {}", phone.provisioning_server().unwrap_or_default());
            } else if let Some(url) = url {
                phone.set_provisioning_server(&url, username.zip(password));
            }
            println!("User-Agent: {}", phone.user_agent());
            let run = phone.provision().await;
            match &run {
                Ok(run) => {
                    for f in &run.requests {
                        println!(
                            "{} {} -> {} ({} bytes)",
                            f.method, f.file, f.status, f.bytes
                        );
                    }
                    println!("applied: {}", run.applied_files.join(", "));
                    for (k, v) in phone.params() {
                        println!("{k} = {v}");
                    }
                }
                Err(e) => bail!("provisioning failed: {e}"),
            }
            Ok(())
        }
        Command::Rps(args) => rps(args).await,
        Command::Innovaphone(args) => innovaphone(args).await,
        Command::TlsCert { out } => {
            let (ca, cert, key) = throwaway_certificate()?;
            std::fs::create_dir_all(&out)?;
            std::fs::write(out.join("ca.pem"), ca)?;
            std::fs::write(out.join("cert.pem"), cert)?;
            std::fs::write(out.join("key.pem"), key)?;
            println!("{}", out.join("ca.pem").display());
            Ok(())
        }
    }
}

async fn innovaphone(args: InnovaphoneArgs) -> anyhow::Result<()> {
    let devices = match (&args.devices_tls_cert, &args.devices_tls_key) {
        (Some(cert), Some(key)) => {
            let tls = DevicesTls::from_pem(
                &std::fs::read_to_string(cert)
                    .with_context(|| format!("reading {}", cert.display()))?,
                &std::fs::read_to_string(key)
                    .with_context(|| format!("reading {}", key.display()))?,
            )?;
            DevicesSim::start_tls(&args.domain, &tls).await?
        }
        _ => DevicesSim::start(&args.domain).await?,
    };
    devices.add_category(&args.category, example_items());
    println!("Devices websocket URL: {}", devices.websocket_url());
    println!("sysclients:            {}", devices.sysclients_url());
    for _ in 0..args.codes {
        println!(
            "provisioning code ({}): {}",
            args.category,
            devices.issue_code(&args.category)
        );
    }
    let mut pbx = None;
    if let (Some(app_url), Some(password)) = (&args.app_url, &args.password) {
        let mut config = PbxConfig::new(app_url, password);
        config.domain = args.domain.clone();
        let sim = PbxSim::start(config, Some(devices.websocket_url())).await;
        sim.add_user(&args.user, &args.h323, Vec::new());
        sim.wait_logged_in(std::time::Duration::from_secs(30))
            .await
            .with_context(|| format!("PBX login at {app_url}"))?;
        println!("PBX logged in at {app_url}");
        for (n, mac) in args.add_phone.iter().enumerate() {
            let users_url = users_url_for(n, app_url, &args.users_app_url);
            let outcome = UsersSim::add_phone(
                &sim,
                &devices,
                users_url,
                password,
                &args.user,
                mac,
                &args.category,
                &args.sip_password,
            )
            .await
            .with_context(|| format!("adding phone {mac}"))?;
            println!(
                "add phone {mac} via {users_url}: {}{}",
                outcome.result,
                outcome.error.map(|e| format!(" ({e})")).unwrap_or_default()
            );
        }
        pbx = Some(sim);
    }
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    if let Some(pbx) = pbx {
        pbx.stop().await;
    }
    devices.stop().await;
    Ok(())
}

/// The App URL Users sends the `n`th phone to: the `--users-app-url`s in turn, else the PBX's.
fn users_url_for<'a>(n: usize, app_url: &'a str, users: &'a [String]) -> &'a str {
    match users.len() {
        0 => app_url,
        len => &users[n % len],
    }
}

async fn rps(args: RpsArgs) -> anyhow::Result<()> {
    for mac in &args.foreign {
        prov_sim::Mac::parse(mac).with_context(|| format!("--foreign {mac}"))?;
    }
    let config = RpsSimConfig {
        xmlrpc_user: args.user,
        xmlrpc_password: args.password,
        access_key_id: args.access_key_id,
        access_key_secret: args.access_key_secret,
    };
    let sim = RpsSim::start_on(args.listen, config)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    for mac in &args.foreign {
        sim.preregister_foreign(mac);
    }
    println!("RPS simulator on {}", sim.base_url());
    println!("XML-RPC:      {}", sim.xmlrpc_url());
    println!(
        "JSON API:     {}{}",
        sim.json_base_url(),
        prov_sim::rps::JSON_PREFIX
    );
    println!("phone lookup: {}/phone/lookup?mac=<mac>", sim.base_url());
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    sim.stop().await;
    Ok(())
}

async fn boot_storm(args: BootStormArgs) -> anyhow::Result<()> {
    let files = args
        .files
        .iter()
        .map(|f| FileKind::parse(f).with_context(|| format!("unknown file kind {f:?}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let records = storm::load(&args.phones)?;
    let config = StormConfig {
        concurrency: args.concurrency,
        files,
        rounds: args.rounds,
        base_url_override: args.base_url_override,
        save_dir: args.save_dir,
        requests_out: args.requests_out,
        digest: args.digest,
        server_pid: args.server_pid,
    };
    let report = storm::run(&records, &config).await?;
    print!("{}", report.to_text());
    if let Some(path) = args.json_out {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(&path, json).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_url_for_takes_the_instances_in_turn_or_the_pbx_url() {
        let users = ["http://a/app".to_owned(), "http://b/app".to_owned()];
        let sent: Vec<&str> = (0..5)
            .map(|n| users_url_for(n, "http://pbx/app", &users))
            .collect();
        assert_eq!(
            sent,
            [
                "http://a/app",
                "http://b/app",
                "http://a/app",
                "http://b/app",
                "http://a/app"
            ]
        );
        assert_eq!(users_url_for(3, "http://pbx/app", &[]), "http://pbx/app");
    }

    #[test]
    fn users_app_url_needs_the_pbx_app_url() {
        let parsed = Cli::try_parse_from([
            "yealink-sim",
            "innovaphone",
            "--users-app-url",
            "http://a/app",
        ]);
        assert!(parsed.is_err(), "--users-app-url without --app-url");
    }
}
