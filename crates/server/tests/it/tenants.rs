//! Tenants from the command line: add, list, show, work on one with `--tenant`, remove (which
//! deregisters the tenant's phones at RPS first), against the RPS simulator.

use std::process::{Command, Output};

use prov_sim::rps::{RpsSim, RpsSimConfig};

fn sim_config() -> RpsSimConfig {
    RpsSimConfig {
        xmlrpc_user: "operator".into(),
        xmlrpc_password: "operator-secret".into(),
        access_key_id: "AKID-TEST".into(),
        access_key_secret: "json-secret-value".into(),
    }
}

/// The CLI on `dir`'s SQLite database, with the operator's RPS account of the simulator.
async fn cli(dir: &std::path::Path, sim: &RpsSim, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_yealink-prov"));
    command
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env("RUST_LOG", "warn")
        .env("YEALINK_PROV_RPS__API", "xmlrpc")
        .env("YEALINK_PROV_RPS__ENDPOINT", sim.xmlrpc_url())
        .env("YEALINK_PROV_RPS__USERNAME", "operator")
        .env("YEALINK_PROV_RPS__SECRET", "operator-secret")
        .env("YEALINK_PROV_RPS_RATE_PER_SECOND", "1000")
        .env_remove("YEALINK_PROV_TENANT");
    tokio::task::spawn_blocking(move || command.output().expect("run yealink-prov"))
        .await
        .expect("CLI task")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn err(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn add_phone<'a>(mac: &'a str, user: &'a str) -> Vec<&'a str> {
    vec![
        "device",
        "add",
        "--mac",
        mac,
        "--sip-user",
        user,
        "--sip-password",
        "tenant-phone-secret",
        "--registrar",
        "pbx.test",
    ]
}

#[tokio::test]
async fn tenants_are_managed_from_the_cli_and_removal_deregisters_their_phones() {
    let sim = RpsSim::start(sim_config()).await.expect("rps sim");
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    ok(&cli(
        d,
        &sim,
        &[
            "settings",
            "set",
            "public_base_url=https://prov.example.net",
        ],
    )
    .await);

    let added = ok(&cli(d, &sim, &["tenant", "add", "Customer-A.example.com"]).await);
    assert!(
        added.contains("added tenant customer-a.example.com/yealink")
            && added.contains(
                "https://prov.example.net/customer-a.example.com/yealink/innovaphone-yealink"
            )
            && added.contains("RPS server name   customer-a.example.com"),
        "{added}"
    );
    ok(&cli(d, &sim, &["tenant", "add", "b.example.com/prov"]).await);
    let again = err(&cli(d, &sim, &["tenant", "add", "b.example.com/prov"]).await);
    assert!(again.contains("already exists"), "{again}");

    // Phones go to the tenant --tenant names; a MAC can be in one tenant only.
    let mut a_phone = vec!["--tenant", "customer-a.example.com"];
    a_phone.extend(add_phone("805ec0aa0001", "101"));
    ok(&cli(d, &sim, &a_phone).await);
    let mut b_phone = vec!["--tenant", "b.example.com/prov"];
    b_phone.extend(add_phone("805ec0aa0001", "201"));
    let taken = err(&cli(d, &sim, &b_phone).await);
    assert!(
        taken.contains("already a device of tenant customer-a.example.com/yealink"),
        "{taken}"
    );
    let default_list = ok(&cli(d, &sim, &["device", "list"]).await);
    assert!(default_list.contains("0 device(s)"), "{default_list}");
    let a_list = ok(&cli(
        d,
        &sim,
        &["--tenant", "customer-a.example.com", "device", "list"],
    )
    .await);
    assert!(a_list.contains("805ec0aa0001"), "{a_list}");

    let list = ok(&cli(d, &sim, &["tenant", "list"]).await);
    let row = list
        .lines()
        .find(|l| l.contains("customer-a.example.com/yealink"))
        .unwrap_or_else(|| panic!("{list}"));
    assert!(
        row.contains("  1  ") && row.contains("/customer-a.example.com/yealink/"),
        "{row}"
    );
    let show = ok(&cli(d, &sim, &["tenant", "show", "customer-a.example.com"]).await);
    assert!(show.contains("devices         1"), "{show}");
    let unknown = err(&cli(d, &sim, &["--tenant", "nope.example.com", "device", "list"]).await);
    assert!(
        unknown.contains("no tenant \"nope.example.com\""),
        "{unknown}"
    );
    let serve = err(&cli(d, &sim, &["--tenant", "b.example.com", "serve"]).await);
    assert!(serve.contains("serves every tenant"), "{serve}");

    // Removal sends the phone's DEREGISTER to RPS itself, then deletes the tenant.
    let removed = ok(&cli(d, &sim, &["tenant", "remove", "customer-a.example.com"]).await);
    assert!(
        removed.contains("deregistering 1 phone(s)") && removed.contains("removed tenant"),
        "{removed}"
    );
    assert!(
        sim.calls()
            .iter()
            .any(|c| c.method.contains("deRegisterDevice") || c.method.contains("deregister")),
        "no DEREGISTER reached RPS: {:?}",
        sim.calls().iter().map(|c| &c.method).collect::<Vec<_>>()
    );
    let list = ok(&cli(d, &sim, &["tenant", "list"]).await);
    assert!(!list.contains("customer-a"), "{list}");
    // The MAC is free for another tenant now.
    ok(&cli(d, &sim, &b_phone).await);
    let default = err(&cli(d, &sim, &["tenant", "remove", "default"]).await);
    assert!(default.contains("cannot be removed"), "{default}");
    sim.stop().await;
}
