//! Runs the web UI's browser tests (`tests/browser/`, Playwright driving Debian's Chromium) as
//! one test, so nextest reports them like any other. Skips, saying why, when Node.js, Chromium
//! or `tests/browser/node_modules` are missing, unless `TEST_REQUIRE_BROWSER=1` (set by
//! `scripts/test.sh` after installing them).

use std::path::{Path, PathBuf};
use std::process::Command;

fn found(cmd: &str) -> bool {
    Command::new(cmd)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn skip_or_fail(reason: &str) {
    if std::env::var("TEST_REQUIRE_BROWSER").as_deref() == Ok("1") {
        panic!("browser tests required (TEST_REQUIRE_BROWSER=1) but {reason}");
    }
    eprintln!("SKIPPED: browser tests: {reason}");
}

#[test]
fn browser_tests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = root.join("tests/browser");
    let chromium = std::env::var("CHROMIUM_BIN").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !found("node") {
        return skip_or_fail("node is not installed");
    }
    if !Path::new(&chromium).exists() {
        return skip_or_fail(&format!("{chromium} is missing (apt-get install chromium)"));
    }
    if !dir.join("node_modules/playwright-core").exists() {
        if !found("npm") {
            return skip_or_fail("npm is not installed");
        }
        let ok = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return skip_or_fail("`npm ci` failed in tests/browser");
        }
    }
    // The server binary is this crate's; the phone and RPS simulator is prov-sim's, built by
    // scripts/test.sh (or by hand: cargo build -p prov-sim --bin yealink-sim).
    let prov = PathBuf::from(env!("CARGO_BIN_EXE_yealink-prov"));
    let sim = prov.with_file_name("yealink-sim");
    if !sim.exists() {
        return skip_or_fail(&format!(
            "{} is missing (cargo build -p prov-sim --bin yealink-sim)",
            sim.display()
        ));
    }
    let status = Command::new("node")
        .args(["--test", "--test-concurrency=1", "tests/browser/"])
        .current_dir(&root)
        .env("YEALINK_PROV_BIN", &prov)
        .env("YEALINK_SIM_BIN", &sim)
        .env("CHROMIUM_BIN", &chromium)
        .status()
        .expect("run node");
    assert!(status.success(), "browser tests failed: {status}");
}
