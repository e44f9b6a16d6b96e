//! The `yealink-prov` command line. Device and settings commands work directly on the same store
//! as the server; a running server picks their changes up within a second (change feed).

mod admin;
mod device;
mod doctor;
mod key;
mod pbx;
mod rps;
mod settings;
mod shared;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use prov_core::config::{Config, Overrides};

pub use admin::{AdminCommand, run_admin};
pub use device::{AddArgs, DeviceCommand, run_device, run_render};
pub use doctor::run_doctor;
pub use key::{KeyCommand, run_key};
pub use pbx::{PbxCommand, run_pbx};
pub use rps::{RpsCommand, run_rps};
pub use settings::{SettingsCommand, run_settings};

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
