//! The deployment recipes (docs/deployment.md): `deploy/check.sh` run against the binary under
//! test, so a flag renamed in the CLI, a COPY of a moved file or a weakened unit fails CI.

use std::path::Path;
use std::process::Command;

#[test]
fn recipes_pass_deploy_check() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new("bash")
        .arg(root.join("deploy/check.sh"))
        .arg(env!("CARGO_BIN_EXE_yealink-prov"))
        .current_dir(&root)
        .output()
        .expect("run deploy/check.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "deploy/check.sh failed:\n{stdout}\n{stderr}"
    );
    // The flag check really ran (a silently empty --help would pass nothing).
    assert!(stdout.contains("--data-dir is a serve flag"), "{stdout}");
}
