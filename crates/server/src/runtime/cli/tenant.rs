//! `yealink-prov tenant ...`: the PBX domains this deployment serves (docs/tenants.md).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Subcommand;
use prov_store::{HistoryQuery, Store, Tenant};

use prov_core::audit::Actor;
use prov_core::config::Config;
use prov_core::tenant;

use super::{table, when};

#[derive(Subcommand, Debug)]
pub enum TenantCommand {
    /// Add a tenant: one PBX domain, reached at /DOMAIN/NAME/ (an App Platform instance).
    Add {
        /// DOMAIN/NAME, or DOMAIN for the name "yealink".
        #[arg(value_name = "DOMAIN/NAME")]
        label: String,
    },
    /// Every tenant with its number of phones.
    List {
        #[arg(long)]
        json: bool,
    },
    /// One tenant: its addresses, phones and RPS server name.
    Show {
        #[arg(value_name = "TENANT")]
        label: String,
    },
    /// Remove a tenant: deregisters its phones at RPS first, then deletes everything it holds.
    Remove {
        #[arg(value_name = "TENANT")]
        label: String,
        /// How long to wait for RPS to take the DEREGISTER commands before giving up (the
        /// tenant then stays, and the command can be run again).
        #[arg(long, default_value_t = 120, value_name = "SECONDS")]
        wait: u64,
    },
}

pub async fn run_tenant(config: &Config, command: TenantCommand) -> anyhow::Result<()> {
    if config.tenant.is_some() {
        bail!("`tenant` commands name their tenant themselves; leave out --tenant");
    }
    let root = crate::runtime::key_file::open_store(config).await?;
    match command {
        TenantCommand::Add { label: raw } => {
            let (domain, name) = tenant::parse_label(&raw)?;
            let tenant = root.create_tenant(&name, &domain).await?;
            let service = tenant::service_for(&root, &tenant, config, None, false).await?;
            let label = tenant.label();
            println!("added tenant {label} (id {})", tenant.id);
            println!("  phones and PBX reach it at {}/", service.base_url());
            println!(
                "  App object URL    {}{}",
                service.base_url(),
                config.innovaphone.path
            );
            println!("  RPS server name   {}", service.rps_server_name());
            let store = service.store().clone();
            if let Some(password) =
                prov_core::admin_auth::ensure_admin_credential(store.as_ref(), None).await?
            {
                // Shown once, like the default tenant's: only its hash is stored.
                println!("  admin password    {password}   (its admin API; shown only now)");
            }
            println!("next:");
            println!(
                "  yealink-prov --tenant {label} pbx app-object    (the App object to create on its PBX, with its password)"
            );
            println!("  yealink-prov --tenant {label} device add ...   (its phones)");
            Ok(())
        }
        TenantCommand::List { json } => {
            let mut rows = Vec::new();
            for t in root.list_tenants().await? {
                let devices = root.for_tenant(t.id).device_count().await?;
                rows.push((t, devices));
            }
            if json {
                let out: Vec<serde_json::Value> = rows
                    .iter()
                    .map(|(t, devices)| {
                        serde_json::json!({
                            "id": t.id,
                            "tenant": label(t),
                            "domain": t.domain,
                            "name": t.name,
                            "path": format!("{}/", tenant::path_prefix(t)),
                            "devices": devices,
                            "created_at": when(t.created_at),
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&out)?);
                return Ok(());
            }
            let mut lines = vec![vec![
                "ID".to_owned(),
                "TENANT".to_owned(),
                "DEVICES".to_owned(),
                "PATH".to_owned(),
                "CREATED".to_owned(),
            ]];
            for (t, devices) in &rows {
                lines.push(vec![
                    t.id.to_string(),
                    label(t),
                    devices.to_string(),
                    format!("{}/", tenant::path_prefix(t)),
                    if t.id.is_default() {
                        "-".to_owned()
                    } else {
                        when(t.created_at)
                    },
                ]);
            }
            print!("{}", table(&lines));
            Ok(())
        }
        TenantCommand::Show { label: raw } => {
            let t = tenant::find(root.as_ref(), &raw).await?;
            let service = service_of(config, &root, &t).await?;
            println!("tenant          {}", label(&t));
            println!("id              {}", t.id);
            println!("devices         {}", service.store().device_count().await?);
            println!("base URL        {}/", service.base_url());
            println!(
                "App object URL  {}{}",
                service.base_url(),
                config.innovaphone.path
            );
            println!("RPS server name {}", service.rps_server_name());
            Ok(())
        }
        TenantCommand::Remove { label: raw, wait } => {
            let t = tenant::find(root.as_ref(), &raw).await?;
            if t.id.is_default() {
                bail!(
                    "the default tenant cannot be removed; remove its phones with `yealink-prov device remove`"
                );
            }
            remove(config, &root, &t, Duration::from_secs(wait)).await
        }
    }
}

fn label(t: &Tenant) -> String {
    if t.id.is_default() {
        tenant::DEFAULT_LABEL.to_owned()
    } else {
        t.label()
    }
}

async fn service_of(
    config: &Config,
    root: &Arc<dyn Store>,
    t: &Tenant,
) -> anyhow::Result<prov_core::service::Service> {
    Ok(tenant::service_for(root, t, config, None, false).await?)
}

/// Removes every phone of `t` (which queues its DEREGISTER at RPS), sends the queue to RPS
/// here and now, and deletes the tenant once RPS has taken every command.
async fn remove(
    config: &Config,
    root: &Arc<dyn Store>,
    t: &Tenant,
    wait: Duration,
) -> anyhow::Result<()> {
    let service = Arc::new(service_of(config, root, t).await?);
    let store = service.store().clone();
    let macs: Vec<_> = store
        .all_device_records()
        .await?
        .into_iter()
        .map(|d| d.mac)
        .collect();
    for mac in &macs {
        service.remove_device(*mac, &Actor::Cli).await?;
    }
    let queued = store
        .rps_queue_stats(time::OffsetDateTime::now_utc())
        .await?
        .pending;
    if queued > 0 {
        println!(
            "deregistering {} phone(s) of {} at RPS ({queued} command(s))...",
            macs.len(),
            t.label()
        );
        let worker = tokio::spawn(service.rps().clone().run_worker(service.clone()));
        let deadline = Instant::now() + wait;
        let left = loop {
            let left = store
                .rps_queue_stats(time::OffsetDateTime::now_utc())
                .await?
                .pending;
            if left == 0 || Instant::now() >= deadline {
                break left;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        worker.abort();
        let done = store
            .list_rps_history(&HistoryQuery {
                command: Some("DEREGISTER_DEVICE".into()),
                limit: 1000,
                ..HistoryQuery::default()
            })
            .await?;
        let refused = done
            .items
            .iter()
            // The history's outcomes are rps::Outcome in snake case.
            .filter(|e| e.outcome != "ok" && e.outcome != "already_done")
            .count();
        if left > 0 {
            let why = store
                .pending_rps_jobs(None, 1)
                .await?
                .into_iter()
                .next()
                .and_then(|j| j.last_error)
                .unwrap_or_else(|| "no answer yet".into());
            bail!(
                "{left} RPS command(s) did not reach RPS within {} s (last error: {why}); \
                 the phones are removed but tenant {} stays, with its RPS queue. Run \
                 `yealink-prov tenant remove {}` again once RPS answers",
                wait.as_secs(),
                t.label(),
                t.label()
            );
        }
        println!(
            "RPS answered {} DEREGISTER command(s){}",
            done.items.len(),
            if refused > 0 {
                format!("; {refused} not as success (see the history before it goes)")
            } else {
                String::new()
            }
        );
    } else if macs.is_empty() {
        println!("{} has no phones: nothing to deregister at RPS", t.label());
    } else {
        println!(
            "RPS is off for {}: its {} phone(s) were not registered there",
            t.label(),
            macs.len()
        );
    }
    root.delete_tenant(t.id).await?;
    println!("removed tenant {}", t.label());
    Ok(())
}
