//! `yealink-prov settings ...`.

use anyhow::Context;
use clap::Subcommand;

use prov_core::audit::Actor;
use prov_core::config::Config;

use super::shared::open_service;

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
            let mut secret = None;
            for assignment in &assignments {
                let (key, value) = assignment
                    .split_once('=')
                    .with_context(|| format!("{assignment:?} is not KEY=VALUE"))?;
                if key.trim() == "rps_secret" {
                    // Written after every other assignment passed, so a refusal changes nothing.
                    secret = Some(value.trim());
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
            let secret_set = secret.is_some();
            if let Some(secret) = secret {
                settings.validate()?;
                prov_core::settings::validate_rps_secret(&settings, secret)?;
                // Kept apart from the settings document so it is never shown again.
                service.rps().set_own_secret(secret).await?;
            }
            service
                .update_settings(settings, &Actor::Cli, secret_set)
                .await?;
            println!("saved");
        }
    }
    Ok(())
}
