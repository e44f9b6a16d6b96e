//! The worker that drains the RPS outbox: claims jobs, sends each command to RPS, records
//! the outcome, and re-registers our server when RPS has forgotten it. Apart from the outbox
//! ([`super::outbox`]) because it needs the [`Service`] (server name, provisioning URLs), which
//! itself queues through the outbox.

use std::sync::Arc;
use std::time::{Duration, Instant};

use prov_store::RpsJob;
use rps::{Answer, Command, CommandDetail, RedirectTarget, RpsAccount, RpsError};
use time::OffsetDateTime;
use yealink::Mac;

use super::outbox::*;
use crate::error::ServiceError;
use crate::rps::registration::{self as rps_registration, META_REGISTERED_SERVER};
use crate::service::Service;

impl RpsFlow {
    /// Records what a finished ADD SERVER tells about our server entry; after a change of name
    /// or URL, queues DEREGISTER + REDIRECT for every phone, whose bindings carry both.
    /// Returns the history outcome and answer to record instead of RPS's, if any.
    async fn after_add_server(
        &self,
        service: &Service,
        account: &RpsAccount,
        client: &dyn rps::Rps,
        name: &str,
        url: &str,
        result: &Result<Answer, RpsError>,
    ) -> Result<Option<(String, String)>, ServiceError> {
        let previous = self.registered_server().await?;
        let outcome = result.as_ref().ok().map(|a| a.outcome);
        let reconciled = rps_registration::reconcile(
            previous.as_ref(),
            &rps_registration::account_key(account),
            name,
            url,
            outcome,
            client.updates_server_url(),
        );
        let Some(record) = reconciled.record else {
            return Ok(None);
        };
        if previous.as_ref() != Some(&record) {
            let raw = serde_json::to_string(&record)
                .map_err(|e| ServiceError::Rps(format!("cannot store the RPS server: {e}")))?;
            self.store.set_meta(META_REGISTERED_SERVER, &raw).await?;
        }
        metrics::gauge!("rps_server_url_stale").set(if record.is_stale() { 1.0 } else { 0.0 });
        if reconciled.changed {
            let macs: Vec<Mac> = self
                .store
                .all_device_records()
                .await?
                .into_iter()
                .map(|r| r.mac)
                .collect();
            tracing::info!(server = %name, devices = macs.len(), "RPS server name or URL changed: sending every phone's redirect again");
            self.enqueue_redirects(&service.settings(), &macs).await?;
        }
        Ok(stale_warning(&record).map(|warning| {
            let rps_text = result.as_ref().map(|a| a.text.as_str()).unwrap_or_default();
            tracing::warn!(server = %name, "{warning}");
            (OUTCOME_STALE.to_owned(), format!("{rps_text}; {warning}"))
        }))
    }

    /// Drains the outbox until the process ends. Several instances may run one each: jobs are
    /// leased, and one MAC's commands stay in order.
    pub async fn run_worker(self: Arc<Self>, service: Arc<Service>) {
        let lease = if self.instance.is_some() {
            INSTANCE_LEASE
        } else {
            LEASE
        };
        loop {
            if self.instance.as_ref().is_some_and(|i| !i.healthy()) {
                // The others may count this instance dead and retry what it would claim.
                tokio::time::sleep(IDLE_POLL).await;
                continue;
            }
            let now = OffsetDateTime::now_utc();
            let claimed = match self
                .store
                .claim_rps_jobs(&self.worker_id, now, lease, 1)
                .await
            {
                Ok(jobs) => jobs,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the RPS queue");
                    tokio::time::sleep(IDLE_POLL * 5).await;
                    continue;
                }
            };
            let Some(job) = claimed.into_iter().next() else {
                let idle_poll = *self.idle_poll.lock();
                let _ = tokio::time::timeout(idle_poll, self.wake.notified()).await;
                continue;
            };
            self.wait_for_slot().await;
            if let Some(pause) = self.process(&service, job).await {
                tokio::time::sleep(pause).await;
            }
        }
    }

    /// Waits for this command's turn under `rps_rate_per_second`, which all instances on the
    /// database share (the slots are handed out by the store; decision 54). The workers of
    /// this process's tenants take their turn here one at a time ([`SLOT_TURN`]).
    pub(super) async fn wait_for_slot(&self) {
        let _turn = SLOT_TURN.lock().await;
        let now = OffsetDateTime::now_utc();
        let wait = match self.store.reserve_rps_slot(now, self.min_interval).await {
            Ok(start) => Duration::try_from(start - now).unwrap_or(Duration::ZERO),
            Err(e) => {
                // Still at most the rate on our own; the other instances may add theirs.
                tracing::warn!(error = %e, "cannot reserve an RPS rate-limit slot; pacing this instance alone");
                self.min_interval
            }
        };
        tokio::time::sleep(wait.min(MAX_SLOT_WAIT)).await;
    }

    /// Runs one job; returns how long to pause all RPS traffic after a transient failure.
    async fn process(&self, service: &Service, job: RpsJob) -> Option<Duration> {
        let settings = service.settings();
        let execution = match self.account(&settings).await {
            Ok(Some(account)) => self.execute(service, &account, &job).await,
            Ok(None) => Execution::Done(entry(
                command_of(&job.command).unwrap_or(Command::RedirectDevice),
                job.mac,
                serde_json::json!({}),
                OUTCOME_OFF,
                off_text(),
                0,
                job.attempts + 1,
            )),
            Err(e) => Execution::Retry(e.to_string()),
        };
        match execution {
            Execution::Done(e) => {
                metrics::counter!("rps_commands_total", "command" => e.command.clone(), "outcome" => e.outcome.clone())
                    .increment(1);
                tracing::info!(command = %e.command, mac = ?e.mac, outcome = %e.outcome, answer = %e.answer, "RPS command finished");
                if let Err(err) = self
                    .store
                    .complete_rps_job(job.id, &self.worker_id, &e)
                    .await
                {
                    tracing::warn!(error = %err, "cannot record an RPS command; it will be sent again");
                }
                None
            }
            Execution::Retry(error) => {
                let backoff = backoff(job.attempts);
                tracing::warn!(command = %job.command, mac = ?job.mac, attempts = job.attempts + 1, error = %error, retry_in_secs = backoff.as_secs(), "RPS command failed; will retry");
                let next = OffsetDateTime::now_utc() + backoff;
                if let Err(err) = self
                    .store
                    .retry_rps_job(job.id, &self.worker_id, next, &error)
                    .await
                {
                    tracing::warn!(error = %err, "cannot reschedule an RPS command");
                }
                Some(backoff)
            }
        }
    }

    /// RPS does not know our server name (deleted in the portal, or never created): sends
    /// ADD SERVER again (once per [`READD_QUIET`] for all phones), records it, and asks for the
    /// REDIRECT to be retried.
    async fn register_again(
        &self,
        service: &Service,
        account: &RpsAccount,
        client: &dyn rps::Rps,
        answer: &Answer,
    ) -> Execution {
        let (name, url) = (service.rps_server_name(), service.shared_provisioning_url());
        let due = !matches!(&*self.readded.lock(), Some((n, at)) if *n == name && at.elapsed() < READD_QUIET);
        let retry = format!(
            "RPS does not know server {name:?} ({}): registered it again, the redirect follows",
            answer.text
        );
        if !due {
            return Execution::Retry(retry);
        }
        tracing::warn!(server = %name, answer = %answer.text, "RPS does not know our server name: sending ADD SERVER again");
        let mut note = UnknownServer {
            name: name.clone(),
            at: OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            answer: answer.text.clone(),
            re_registered: None,
        };
        self.wait_for_slot().await;
        let started = Instant::now();
        let result = client.add_server(&name, &url).await;
        let params = client
            .describe(
                Command::AddServer,
                None,
                &CommandDetail::Server {
                    name: name.clone(),
                    url: url.clone(),
                },
            )
            .params;
        let mut e = finished(Command::AddServer, None, params, result.clone(), started, 1);
        if let Ok(Some((outcome, text))) = self
            .after_add_server(service, account, client, &name, &url, &result)
            .await
        {
            (e.outcome, e.answer) = (outcome, text);
        }
        if result.as_ref().is_ok_and(Answer::is_success) {
            *self.readded.lock() = Some((name.clone(), Instant::now()));
        }
        note.re_registered = Some(e.outcome.clone());
        if let Err(err) = self.record(e).await {
            tracing::warn!(error = %err, "cannot record the ADD SERVER sent again");
        }
        match serde_json::to_string(&note) {
            Ok(raw) => {
                if let Err(err) = self.store.set_meta(META_UNKNOWN_SERVER, &raw).await {
                    tracing::warn!(error = %err, "cannot store the unknown-server note");
                }
            }
            Err(err) => tracing::warn!(error = %err, "cannot store the unknown-server note"),
        }
        Execution::Retry(retry)
    }

    async fn execute(&self, service: &Service, account: &RpsAccount, job: &RpsJob) -> Execution {
        let client = self.client_for(account);
        let attempts = job.attempts + 1;
        let Some(command) = command_of(&job.command) else {
            return Execution::Done(entry(
                Command::RedirectDevice,
                job.mac,
                serde_json::json!({"command": job.command}),
                OUTCOME_FAILED,
                format!("unknown queued command {:?}", job.command),
                0,
                attempts,
            ));
        };
        let started = Instant::now();
        let (detail, result) = match (command, job.mac) {
            (Command::AddServer, _) => {
                // The job carries no name or URL: it sends what holds now, so one queued job
                // serves every change made before it runs. Another instance may have made the
                // change that queued it, hence the fresh read.
                if let Err(err) = service.refresh_rps_identity().await {
                    return Execution::Retry(err.to_string());
                }
                // The PBX's login queues it again once name and URL are known.
                if let Err(why) = service.rps_identity_ready() {
                    return Execution::Done(entry(
                        command,
                        None,
                        serde_json::json!({}),
                        OUTCOME_SKIPPED,
                        why,
                        0,
                        attempts,
                    ));
                }
                let (name, url) = (service.rps_server_name(), service.shared_provisioning_url());
                let result = client.add_server(&name, &url).await;
                if !matches!(&result, Err(e) if e.is_retryable()) {
                    let params = client
                        .describe(
                            command,
                            None,
                            &CommandDetail::Server {
                                name: name.clone(),
                                url: url.clone(),
                            },
                        )
                        .params;
                    let mut e = finished(command, None, params, result.clone(), started, attempts);
                    match self
                        .after_add_server(service, account, client.as_ref(), &name, &url, &result)
                        .await
                    {
                        Ok(Some((outcome, answer))) => (e.outcome, e.answer) = (outcome, answer),
                        Ok(None) => {}
                        Err(err) => return Execution::Retry(err.to_string()),
                    }
                    return Execution::Done(e);
                }
                (CommandDetail::Server { name, url }, result)
            }
            (Command::DeregisterDevice, Some(mac)) => {
                (CommandDetail::None, client.deregister_device(mac).await)
            }
            (Command::CheckDevice, Some(mac)) => {
                (CommandDetail::None, client.check_device(mac).await)
            }
            (Command::RedirectDevice, Some(mac)) => {
                // No server at RPS yet to point the phone at: retried with backoff.
                if let Err(why) = service.rps_identity_ready() {
                    return Execution::Retry(why);
                }
                let record = match self.store.get_device(mac).await {
                    Ok(Some(d)) => d.record,
                    Ok(None) => {
                        return Execution::Done(entry(
                            command,
                            Some(mac),
                            serde_json::json!({}),
                            OUTCOME_SKIPPED,
                            "the device was removed before its redirect was sent".into(),
                            0,
                            attempts,
                        ));
                    }
                    Err(e) => return Execution::Retry(e.to_string()),
                };
                let target = RedirectTarget {
                    server_name: service.rps_server_name(),
                    unique_url: Some(service.provisioning_url(&record)),
                    auth_name: Some(mac.to_string()),
                    password: Some(record.http_password.clone()),
                };
                let result = client.redirect_device(mac, &target).await;
                if let Ok(answer) = &result
                    && answer.unknown_server
                    && attempts < MAX_UNKNOWN_SERVER_ATTEMPTS
                {
                    return self
                        .register_again(service, account, client.as_ref(), answer)
                        .await;
                }
                (CommandDetail::Redirect(target), result)
            }
            (_, None) => {
                return Execution::Done(entry(
                    command,
                    None,
                    serde_json::json!({}),
                    OUTCOME_FAILED,
                    "a device command without a MAC".into(),
                    0,
                    attempts,
                ));
            }
        };
        match result {
            Err(e) if e.is_retryable() => Execution::Retry(e.to_string()),
            other => {
                let params = client.describe(command, job.mac, &detail).params;
                Execution::Done(finished(command, job.mac, params, other, started, attempts))
            }
        }
    }
}
