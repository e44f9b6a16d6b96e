//! `kill -9` of the server during an RPS burst, then a restart on the same address: every phone
//! ends up bound at RPS exactly once with its own URL, every command is finished exactly once in
//! our history, and only commands that were in flight at the kill are sent a second time.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use prov_sim::rps::{Behavior, RpsSim};

use crate::rps::sim_config;
use sqlx::SqlitePool;
use sqlx::sqlite::SqliteConnectOptions;

const PHONES: usize = 60;

fn bin(sim: &RpsSim, database_url: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_yealink-prov"));
    c.args(["--database-url", database_url])
        .env("RUST_LOG", "warn")
        .env_remove("YEALINK_PROV_ADMIN_PASSWORD")
        .env("YEALINK_PROV_RPS__API", "xmlrpc")
        .env("YEALINK_PROV_RPS__ENDPOINT", sim.xmlrpc_url())
        .env("YEALINK_PROV_RPS__USERNAME", "operator")
        .env("YEALINK_PROV_RPS__SECRET", "operator-secret")
        .env("YEALINK_PROV_RPS_RATE_PER_SECOND", "1000")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

/// The server on `port`: the same one after the restart, so our URL (and with it the RPS
/// server entry) stays the same.
fn serve(sim: &RpsSim, database_url: &str, dir: &std::path::Path, port: u16) -> Child {
    bin(sim, database_url)
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir)
        .spawn()
        .expect("spawn serve")
}

async fn pool(path: &std::path::Path) -> SqlitePool {
    SqlitePool::connect_with(SqliteConnectOptions::new().filename(path).read_only(true))
        .await
        .expect("open db")
}

async fn wait(what: &str, secs: u64, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

fn mac(i: usize) -> String {
    format!("805ec0{:06x}", 0x20_0000 + i)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_during_an_rps_burst_then_restart_redirects_each_phone_once() {
    let sim = RpsSim::start(sim_config()).await.expect("rps sim");
    // Slow enough that the burst is still going when the server is killed.
    sim.set_behavior(Behavior::Slow(Duration::from_millis(60)));
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("prov.db");
    let url = format!("sqlite://{}", db.display());

    // The phones are added while no server runs: their commands wait in the outbox.
    let csv = dir.path().join("phones.csv");
    let mut rows = String::from("mac,sip_user,sip_password,registrar\n");
    for i in 0..PHONES {
        rows.push_str(&format!(
            "{},{},sip-secret-{i},pbx.test\n",
            mac(i),
            2000 + i
        ));
    }
    std::fs::write(&csv, rows).expect("csv");
    let out = bin(&sim, &url)
        .args(["device", "import"])
        .arg(&csv)
        .stdout(Stdio::piped())
        .output()
        .expect("import");
    assert!(out.status.success(), "import");

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let mut server = serve(&sim, &url, dir.path(), port);
    let redirects = |sim: &RpsSim| {
        sim.calls()
            .iter()
            .filter(|c| c.mac.is_some() && c.method.contains("egister"))
            .count()
    };
    wait("the burst to be under way", 60, async || {
        redirects(&sim) >= PHONES / 2
    })
    .await;
    server.kill().expect("SIGKILL");
    server.wait().expect("reaped");
    let before_restart = redirects(&sim);
    assert!(
        before_restart < 2 * PHONES,
        "the server was killed mid-burst ({before_restart} device calls)"
    );

    sim.set_behavior(Behavior::Normal);
    let mut server = serve(&sim, &url, dir.path(), port);
    let db_pool = pool(&db).await;
    // A command in flight at the kill stays with the dead instance until its heartbeat is
    // stale (15 s, decision 61; it was a 120 s lease before); only then may the new instance
    // send it again.
    let restarted = Instant::now();
    wait("the outbox to drain after the restart", 60, async || {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM rps_jobs")
            .fetch_one(&db_pool)
            .await
            .is_ok_and(|n| n == 0)
    })
    .await;
    let drained = restarted.elapsed();
    assert!(
        drained < Duration::from_secs(30),
        "the dead instance's jobs taken over within 30 s, took {drained:?}"
    );
    server.kill().expect("stop");
    server.wait().expect("reaped");

    // RPS: every phone bound once, with its own URL.
    let devices = sim.devices();
    for i in 0..PHONES {
        let bound: Vec<_> = devices.iter().filter(|d| d.mac == mac(i)).collect();
        assert_eq!(bound.len(), 1, "{} bound once at RPS", mac(i));
        assert!(
            bound[0]
                .unique_url
                .as_deref()
                .is_some_and(|u| u.contains("/prov/")),
            "{} has its own URL",
            mac(i)
        );
    }

    // Our history: each phone's DEREGISTER and REDIRECT finished exactly once.
    let finished: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT mac, command, count(*) FROM rps_history WHERE mac IS NOT NULL \
         GROUP BY mac, command",
    )
    .fetch_all(&db_pool)
    .await
    .expect("history");
    let per_phone: HashMap<(String, String), i64> =
        finished.into_iter().map(|(m, c, n)| ((m, c), n)).collect();
    for i in 0..PHONES {
        for command in ["DEREGISTER_DEVICE", "REDIRECT_DEVICE"] {
            let key = (mac(i), command.to_owned());
            assert_eq!(per_phone.get(&key), Some(&1), "{key:?} finished once");
        }
    }

    // Sent twice only what was in flight at the kill: the calls beyond one per command.
    let mut sent: HashMap<String, usize> = HashMap::new();
    for call in sim.calls().iter().filter(|c| c.method.contains("egister")) {
        if let Some(m) = &call.mac {
            *sent.entry(m.clone()).or_default() += 1;
        }
    }
    let extra: usize = sent.values().map(|n| n.saturating_sub(2)).sum();
    assert!(
        extra <= 4,
        "only in-flight commands are sent again ({extra} extra): {sent:?}"
    );
    db_pool.close().await;
}
