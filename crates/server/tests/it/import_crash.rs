//! `kill -9` during a CSV import: every device that was saved has its DEREGISTER + REDIRECT
//! queued exactly once, and a re-import reports the saved rows as existing and adds the rest.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Row, SqlitePool};

const ROWS: usize = 10_000;

fn csv(rows: usize) -> String {
    let mut out = String::from("mac,sip_user,sip_password,registrar\n");
    for i in 0..rows {
        let mac = format!("805ec0{:06x}", 0x10_0000 + i);
        out.push_str(&format!("{mac},{},pw-{i},pbx.test\n", 1000 + i));
    }
    out
}

fn import(database_url: &str, file: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_yealink-prov"));
    c.args(["device", "import"])
        .arg(file)
        .args(["--json", "--database-url", database_url])
        .env("RUST_LOG", "warn")
        // An RPS account, so the commands are queued; the CLI runs no worker, so they stay.
        .env("YEALINK_PROV_RPS__API", "xmlrpc")
        .env("YEALINK_PROV_RPS__ENDPOINT", "http://127.0.0.1:9/xmlrpc")
        .env("YEALINK_PROV_RPS__USERNAME", "operator")
        .env("YEALINK_PROV_RPS__SECRET", "operator-secret");
    c
}

async fn read_only(path: &std::path::Path) -> SqlitePool {
    let options = SqliteConnectOptions::new().filename(path).read_only(true);
    SqlitePool::connect_with(options).await.expect("open db")
}

async fn count_devices(pool: &SqlitePool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM devices")
        .fetch_one(pool)
        .await
        .unwrap_or(0)
}

/// Kills the import once the first chunk is committed; `None` if it finished first.
async fn kill_mid_import(child: &mut Child, db: &std::path::Path) -> Option<i64> {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !db.exists() || std::fs::metadata(db).map(|m| m.len()).unwrap_or(0) == 0 {
        assert!(
            Instant::now() < deadline,
            "the import never created its database"
        );
        if child.try_wait().expect("wait").is_some() {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let pool = read_only(db).await;
    loop {
        assert!(Instant::now() < deadline, "the import made no progress");
        let saved = count_devices(&pool).await;
        if saved > 0 {
            child.kill().expect("SIGKILL");
            child.wait().expect("reaped");
            pool.close().await;
            return Some(saved);
        }
        if child.try_wait().expect("wait").is_some() {
            pool.close().await;
            return None;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::test]
async fn kill_during_import_leaves_no_device_without_its_rps_commands() {
    let mut killed_mid_way = false;
    // The kill must land between two chunks; retry a few times on a fast machine.
    for _attempt in 0..5 {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("prov.db");
        let url = format!("sqlite://{}", db.display());
        let file = dir.path().join("phones.csv");
        std::fs::write(&file, csv(ROWS)).expect("csv");

        let mut child = import(&url, &file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn import");
        let Some(_) = kill_mid_import(&mut child, &db).await else {
            continue;
        };

        let pool = read_only(&db).await;
        let saved = count_devices(&pool).await;
        if saved as usize == ROWS {
            pool.close().await;
            continue;
        }
        killed_mid_way = true;
        assert!(saved > 0, "the first chunk was committed before the kill");

        // Every saved device: exactly one DEREGISTER and one REDIRECT; no job without a device.
        let rows = sqlx::query(
            "SELECT d.mac AS mac, \
               (SELECT count(*) FROM rps_jobs j WHERE j.mac = d.mac AND j.command = 'DEREGISTER_DEVICE') AS dereg, \
               (SELECT count(*) FROM rps_jobs j WHERE j.mac = d.mac AND j.command = 'REDIRECT_DEVICE') AS redir \
             FROM devices d",
        )
        .fetch_all(&pool)
        .await
        .expect("jobs per device");
        assert_eq!(rows.len() as i64, saved);
        for row in &rows {
            let mac: String = row.get("mac");
            let (dereg, redir): (i64, i64) = (row.get("dereg"), row.get("redir"));
            assert_eq!((dereg, redir), (1, 1), "RPS commands queued for {mac}");
        }
        let orphans: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM rps_jobs j WHERE j.mac IS NOT NULL \
             AND NOT EXISTS (SELECT 1 FROM devices d WHERE d.mac = j.mac)",
        )
        .fetch_one(&pool)
        .await
        .expect("orphans");
        assert_eq!(orphans, 0, "no RPS command for a device that was not saved");
        pool.close().await;

        // Importing the same file again: saved rows are rejected as existing, the rest added,
        // each added phone queued once; nothing is there twice.
        let out = import(&url, &file).output().expect("re-import");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json report");
        let rows = report.as_array().expect("rows");
        assert_eq!(rows.len(), ROWS);
        let rejected = rows.iter().filter(|r| !r["error"].is_null()).count();
        assert_eq!(rejected as i64, saved, "the rows saved before the kill");
        assert!(
            rows.iter()
                .filter(|r| !r["error"].is_null())
                .all(|r| r["error"].as_str().unwrap_or("").contains("already exists")),
            "rejected as existing"
        );
        let pool = read_only(&db).await;
        assert_eq!(count_devices(&pool).await as usize, ROWS);
        let per_command: Vec<(String, i64)> = sqlx::query_as(
            "SELECT command, count(DISTINCT mac) FROM rps_jobs GROUP BY command ORDER BY command",
        )
        .fetch_all(&pool)
        .await
        .expect("jobs");
        let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM rps_jobs")
            .fetch_one(&pool)
            .await
            .expect("count");
        assert_eq!(
            per_command,
            vec![
                ("DEREGISTER_DEVICE".to_owned(), ROWS as i64),
                ("REDIRECT_DEVICE".to_owned(), ROWS as i64)
            ]
        );
        assert_eq!(jobs, 2 * ROWS as i64, "each phone's commands exactly once");
        pool.close().await;
        break;
    }
    assert!(
        killed_mid_way,
        "the import finished every time before the kill; the crash was never reproduced"
    );
}
