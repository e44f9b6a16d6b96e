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
mod tenant;

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
pub use tenant::{TenantCommand, run_tenant};

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
    /// The tenant to work on, as `DOMAIN/NAME` (see `yealink-prov tenant list`) [default: the
    /// default tenant]. Not for `serve`, which serves every tenant.
    #[arg(
        long,
        global = true,
        env = "YEALINK_PROV_TENANT",
        value_name = "DOMAIN/NAME"
    )]
    pub tenant: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the service: phone provisioning, admin API, /healthz and /metrics on one port.
    Serve {
        /// Address and port to listen on [default: 0.0.0.0:8080].
        #[arg(long, value_name = "ADDRESS:PORT", value_parser = parse_listen)]
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
    /// The PBX domains this deployment serves (tenants: App Platform instances).
    #[command(subcommand)]
    Tenant(TenantCommand),
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
            tenant: self.tenant.clone(),
        };
        Ok(Config::load(self.config.as_deref(), &overrides)?)
    }
}

/// A time as the CLI shows it: RFC 3339 in UTC, to the second (`2026-03-01T08:15:42Z`).
pub(crate) fn when(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

/// [`when`], or `-` for never.
pub(crate) fn when_or_dash(t: Option<time::OffsetDateTime>) -> String {
    t.map_or_else(|| "-".to_owned(), when)
}

/// Lines whose columns are padded to each column's widest cell (the last one is not padded),
/// two spaces apart, so a long name does not push the rest of its row out of line.
pub(crate) fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                let pad = widths[c].saturating_sub(cell.chars().count()) + 2;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `--listen`: an address and a port; a port alone (the usual first try) says what to write.
fn parse_listen(raw: &str) -> Result<SocketAddr, String> {
    raw.trim().parse().map_err(|_| {
        let example = match raw.trim().parse::<u16>() {
            Ok(port) => {
                format!("0.0.0.0:{port} (every address) or 127.0.0.1:{port} (this machine only)")
            }
            Err(_) => "0.0.0.0:8081 (every address) or [::]:8081".to_owned(),
        };
        format!("expected ADDRESS:PORT, for example {example}")
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn times_are_rfc3339_to_the_second_and_tables_line_up() {
        let t = time::macros::datetime!(2026-03-01 08:15:42.123456 +01:00);
        assert_eq!(when(t), "2026-03-01T07:15:42Z");
        let text = table(&[
            vec!["MAC".into(), "NAME".into(), "X".into()],
            vec![
                "001565aabbcc".into(),
                "a much longer name".into(),
                "y".into(),
            ],
        ]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0].find('X'), lines[1].find('y'), "{text}");
    }

    #[test]
    fn listen_takes_address_and_port_and_explains_a_port_alone() {
        assert_eq!(parse_listen("0.0.0.0:8081").unwrap().port(), 8081);
        let err = parse_listen("8081").unwrap_err();
        assert!(
            err.contains("ADDRESS:PORT") && err.contains("0.0.0.0:8081"),
            "{err}"
        );
    }
}
