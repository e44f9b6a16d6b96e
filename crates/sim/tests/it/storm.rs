use prov_sim::storm::{self, DeviceRecord, FileKind, StormConfig};

use crate::fake_server::FakeServer;

fn devices(server: &FakeServer, n: usize) -> Vec<DeviceRecord> {
    (0..n)
        .map(|i| {
            let mac = format!("805ec0{i:06x}");
            let token = format!("/prov/tok{i}/");
            server.put_file(
                &format!("{token}{mac}.boot"),
                &format!(
                    "#!version:1.0.0.1\ninclude:config \"y000000000096.cfg\"\ninclude:config \"{mac}.cfg\"\noverwrite_mode = 1\n"
                ),
            );
            server.put_file(&format!("{token}y000000000096.cfg"), "#!version:1.0.0.1\n");
            server.put_file(
                &format!("{token}{mac}.cfg"),
                &format!("#!version:1.0.0.1\naccount.1.user_name = {i}\n"),
            );
            DeviceRecord {
                mac,
                model: (i % 2 == 0).then(|| "T54W".to_owned()),
                provisioning_url: format!("http://127.0.0.1:1{token}"),
                http_username: None,
                http_password: Some(format!("pw{i}")),
            }
        })
        .collect()
}

fn config(server: &FakeServer, files: Vec<FileKind>) -> StormConfig {
    StormConfig {
        concurrency: 4,
        files,
        rounds: 2,
        base_url_override: Some(server.url("").parse().unwrap()),
        save_dir: None,
        requests_out: None,
        digest: false,
        server_pid: Some(std::process::id()),
    }
}

#[tokio::test]
async fn storm_follows_boot_includes_saves_and_reports() {
    let server = FakeServer::start().await;
    let records = devices(&server, 10);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(
        &server,
        vec![FileKind::Boot, FileKind::Common, FileKind::Mac],
    );
    cfg.save_dir = Some(dir.path().to_path_buf());
    let requests_out = dir.path().join("requests.tsv");
    cfg.requests_out = Some(requests_out.clone());
    let report = storm::run(&records, &cfg).await.unwrap();
    assert_eq!(report.rounds.len(), 2);
    // The wrk request list: the first round's 30 requests, phone by phone in fetch order,
    // each with that phone's own User-Agent.
    let listed = std::fs::read_to_string(&requests_out).unwrap();
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 30);
    assert_eq!(
        &lines[3..6],
        [
            "/prov/tok1/805ec0000001.boot\tYealink SIP-T46U 108.86.0.90 80:5e:c0:00:00:01",
            "/prov/tok1/y000000000096.cfg\tYealink SIP-T46U 108.86.0.90 80:5e:c0:00:00:01",
            "/prov/tok1/805ec0000001.cfg\tYealink SIP-T46U 108.86.0.90 80:5e:c0:00:00:01",
        ]
    );
    for round in &report.rounds {
        assert_eq!(round.requests, 30, "{round:?}");
        assert_eq!(round.ok, 30, "{round:?}");
        assert_eq!(round.errors_total, 0);
        assert!(round.latency.p99_us >= round.latency.p50_us);
    }
    assert!(report.server_memory.is_some());
    let saved = std::fs::read_to_string(dir.path().join("prov/tok3/805ec0000003.cfg")).unwrap();
    assert_eq!(saved, "#!version:1.0.0.1\naccount.1.user_name = 3\n");
    // Each phone announced itself with its own UA, T54W for even, T46U (default) for odd.
    let log = server.log();
    assert!(
        log.iter()
            .any(|s| s.user_agent == "Yealink SIP-T54W 96.86.0.100 80:5e:c0:00:00:00")
    );
    assert!(
        log.iter()
            .any(|s| s.user_agent == "Yealink SIP-T46U 108.86.0.90 80:5e:c0:00:00:01")
    );
    assert!(report.to_text().contains("round 1: 30 requests"));
}

#[tokio::test]
async fn storm_without_boot_uses_model_common_file_and_counts_errors() {
    let server = FakeServer::start().await;
    let records = devices(&server, 4);
    let report = storm::run(
        &records,
        &config(&server, vec![FileKind::Common, FileKind::Mac]),
    )
    .await
    .unwrap();
    // Even phones are T54W (y000000000096.cfg exists), odd ones T46U (y000000000108.cfg: 404).
    let round = &report.rounds[0];
    assert_eq!(round.requests, 8);
    assert_eq!(round.ok, 6);
    assert_eq!(round.errors.get("status_404"), Some(&2));
}

#[tokio::test]
async fn storm_with_digest_uses_shared_url() {
    let server = FakeServer::start().await;
    let mac = "805ec0000000";
    server.protect("/prov/", mac, "pw0");
    server.put_file(
        &format!("/prov/{mac}.boot"),
        &format!("#!version:1.0.0.1\ninclude:config \"{mac}.cfg\"\n"),
    );
    server.put_file(&format!("/prov/{mac}.cfg"), "#!version:1.0.0.1\n");
    let mut records = devices(&server, 1);
    records[0].http_username = Some(mac.to_owned());
    let mut cfg = config(
        &server,
        vec![FileKind::Boot, FileKind::Common, FileKind::Mac],
    );
    cfg.digest = true;
    cfg.rounds = 1;
    let report = storm::run(&records, &cfg).await.unwrap();
    let round = &report.rounds[0];
    assert_eq!((round.requests, round.ok, round.http_exchanges), (2, 2, 3));
}
