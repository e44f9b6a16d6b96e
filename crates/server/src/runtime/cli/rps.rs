//! `yealink-prov rps ...`: the RPS account, commands and history.

use anyhow::bail;
use clap::Subcommand;
use yealink::Mac;

use prov_core::audit::Actor;
use prov_core::config::Config;

use super::shared::{open_service, parse_mac};

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
            // The word `settings set rps_mode=...` takes, not the Rust name.
            let mode = serde_json::to_value(status.mode)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            println!("Mode:              {mode}");
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
                    prov_core::service::ServerNameSource::Setting => "the rps_server_name setting",
                    prov_core::service::ServerNameSource::PbxDomain => "the PBX's domain",
                    prov_core::service::ServerNameSource::UrlHost => "the host of the base URL",
                    prov_core::service::ServerNameSource::ConfiguredDomain => "innovaphone.domain",
                    prov_core::service::ServerNameSource::AwaitingPbx =>
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
                .map_err(prov_core::error::ServiceError::from)?;
            let pending = service
                .store()
                .pending_rps_jobs(mac, limit)
                .await
                .map_err(prov_core::error::ServiceError::from)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "pending": pending.iter().map(prov_core::views::PendingView::from).collect::<Vec<_>>(),
                        "history": page.items,
                        "total": page.total,
                    }))?
                );
                return Ok(());
            }
            let mut rows = vec![
                [
                    "WHEN",
                    "COMMAND",
                    "MAC",
                    "OUTCOME",
                    "TOOK",
                    "ANSWER",
                    "PARAMETERS",
                ]
                .map(str::to_owned)
                .to_vec(),
            ];
            for job in &pending {
                rows.push(vec![
                    "waiting".to_owned(),
                    job.command.clone(),
                    job.mac.map_or("-".into(), |m| m.to_string()),
                    format!("{} attempt(s)", job.attempts),
                    "-".to_owned(),
                    job.last_error
                        .as_deref()
                        .map(|e| format!("last error: {e}"))
                        .unwrap_or_else(|| "-".to_owned()),
                    String::new(),
                ]);
            }
            for e in &page.items {
                rows.push(vec![
                    super::when(e.at),
                    e.command.clone(),
                    e.mac.map_or("-".into(), |m| m.to_string()),
                    e.outcome.clone(),
                    format!("{} ms", e.duration_ms),
                    e.answer.clone(),
                    serde_json::to_string(&e.params).unwrap_or_default(),
                ]);
            }
            if rows.len() > 1 {
                print!("{}", super::table(&rows));
            }
            println!("{} of {} entries", page.items.len(), page.total);
        }
        RpsCommand::Redirect { mac, all } => {
            let macs: Vec<Mac> = if all {
                service
                    .store()
                    .all_device_records()
                    .await
                    .map_err(prov_core::error::ServiceError::from)?
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
                    prov_core::audit::entry(
                        &Actor::Cli,
                        prov_core::audit::Action::RedirectResent,
                        Some(*mac),
                        String::new(),
                    )
                })
                .collect();
            service
                .store()
                .record_changes(&audit)
                .await
                .map_err(prov_core::error::ServiceError::from)?;
            println!("queued DEREGISTER + REDIRECT for {} device(s)", macs.len());
        }
        RpsCommand::Retry => {
            let n = service
                .store()
                .retry_rps_jobs_now(time::OffsetDateTime::now_utc())
                .await
                .map_err(prov_core::error::ServiceError::from)?;
            println!("{n} waiting command(s) will be retried now");
        }
    }
    Ok(())
}
