use prov_sim::{AuthScheme, SimError, SimPhone};

use crate::fake_server::FakeServer;

const MAC: &str = "805ec0112233";
const UA: &str = "Yealink SIP-T46U 108.86.0.90 80:5e:c0:11:22:33";
const TOKEN: &str = "/prov/AbCdEfGhIjKlMnOpQrStUvWx/";

fn boot(includes: &[&str]) -> String {
    let mut s = String::from("#!version:1.0.0.1\n## boot\n");
    for i in includes {
        s.push_str(&format!("include:config \"{i}\"\n"));
    }
    s.push_str("overwrite_mode = 1\n");
    s
}

fn new_phone(server: &FakeServer, base: &str, creds: Option<(&str, &str)>) -> SimPhone {
    let mut phone = SimPhone::new("80:5E:C0:11:22:33", "T46U", "108.86.0.90").unwrap();
    phone.set_provisioning_server(
        &server.url(base),
        creds.map(|(u, p)| (u.to_owned(), p.to_owned())),
    );
    phone
}

fn files_of(run: &prov_sim::ProvisionRun) -> Vec<(String, u16)> {
    run.requests
        .iter()
        .map(|f| (f.file.clone(), f.status))
        .collect()
}

fn pairs(v: &[(&str, u16)]) -> Vec<(String, u16)> {
    v.iter().map(|(f, s)| ((*f).to_owned(), *s)).collect()
}

#[tokio::test]
async fn token_url_boot_then_includes_in_order() {
    let server = FakeServer::start().await;
    server.put_file(
        &format!("{TOKEN}{MAC}.boot"),
        &boot(&["y000000000108.cfg", &format!("{MAC}.cfg")]),
    );
    server.put_file(
        &format!("{TOKEN}y000000000108.cfg"),
        "#!version:1.0.0.1\nlang.gui = English\naccount.1.label = common\n",
    );
    server.put_file(
        &format!("{TOKEN}{MAC}.cfg"),
        "#!version:1.0.0.1\naccount.1.label = Alice\naccount.1.user_name=100\nphonebook.url = http://127.0.0.1/x?q=#SEARCH\n",
    );
    let mut phone = new_phone(&server, TOKEN, None);
    let run = phone.provision().await.unwrap();
    assert_eq!(
        files_of(&run),
        pairs(&[
            ("805ec0112233.boot", 200),
            ("y000000000108.cfg", 200),
            ("805ec0112233.cfg", 200)
        ])
    );
    assert_eq!(run.applied_files, ["y000000000108.cfg", "805ec0112233.cfg"]);
    assert_eq!(run.boot_file.as_deref(), Some("805ec0112233.boot"));
    assert!(run.overwrite_mode);
    assert!(run.requests.iter().all(|f| f.auth.is_none()));
    let params = phone.params();
    assert_eq!(params["account.1.label"], "Alice");
    assert_eq!(params["lang.gui"], "English");
    assert_eq!(params["phonebook.url"], "http://127.0.0.1/x?q=#SEARCH");
    assert!(server.log().iter().all(|s| s.user_agent == UA));
}

#[tokio::test]
async fn common_boot_then_legacy_fallbacks() {
    let server = FakeServer::start().await;
    server.put_file("/p/y000000000000.boot", &boot(&[]));
    let mut phone = new_phone(&server, "/p/", None);
    let run = phone.provision().await.unwrap();
    assert_eq!(
        files_of(&run),
        pairs(&[("805ec0112233.boot", 404), ("y000000000000.boot", 200)])
    );
    assert!(run.applied_files.is_empty());

    // No boot file at all: y0000000000NN.cfg (from the firmware) then <mac>.cfg.
    let server = FakeServer::start().await;
    server.put_file(
        &format!("/p/{MAC}.cfg"),
        "#!version:1.0.0.1\naccount.1.enable = 1\n",
    );
    let mut phone = new_phone(&server, "/p", None);
    let run = phone.provision().await.unwrap();
    assert_eq!(
        files_of(&run),
        pairs(&[
            ("805ec0112233.boot", 404),
            ("y000000000000.boot", 404),
            ("y000000000108.cfg", 404),
            ("805ec0112233.cfg", 200)
        ])
    );
    assert_eq!(run.applied_files, ["805ec0112233.cfg"]);
    assert_eq!(phone.params()["account.1.enable"], "1");

    // Nothing at all.
    let server = FakeServer::start().await;
    let mut phone = new_phone(&server, "/p/", None);
    match phone.provision().await {
        Err(SimError::NotProvisioned { statuses }) => assert_eq!(statuses.len(), 4),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn digest_login_then_nonce_reuse_with_counting_nc() {
    let server = FakeServer::start().await;
    server.protect("/prov/", MAC, "s3cret");
    server.put_file(
        &format!("/prov/{MAC}.boot"),
        &boot(&["y000000000108.cfg", &format!("{MAC}.cfg")]),
    );
    server.put_file("/prov/y000000000108.cfg", "#!version:1.0.0.1\na = 1\n");
    server.put_file(&format!("/prov/{MAC}.cfg"), "#!version:1.0.0.1\nb = 2\n");
    let mut phone = new_phone(&server, "/prov/", Some((MAC, "s3cret")));
    let run = phone.provision().await.unwrap();
    assert_eq!(
        files_of(&run),
        pairs(&[
            ("805ec0112233.boot", 401),
            ("805ec0112233.boot", 200),
            ("y000000000108.cfg", 200),
            ("805ec0112233.cfg", 200)
        ])
    );
    assert_eq!(run.requests[0].auth, None);
    assert!(
        run.requests[1..]
            .iter()
            .all(|f| f.auth == Some(AuthScheme::Digest))
    );
    let log = server.log();
    let nc: Vec<&str> = log[1..]
        .iter()
        .map(|s| {
            let a = s.authorization.as_deref().unwrap();
            assert!(a.contains("nonce=\"n1\""), "{a}");
            assert!(a.contains("algorithm=MD5"), "{a}");
            &a[a.find("nc=").unwrap() + 3..][..8]
        })
        .collect();
    assert_eq!(nc, ["00000001", "00000002", "00000003"]);

    // Later requests reuse the nonce: no new 401.
    let (status, body) = phone.get_raw("y000000000108.cfg").await.unwrap();
    assert_eq!((status, body.as_str()), (200, "#!version:1.0.0.1\na = 1\n"));
    assert_eq!(server.log().len(), 5);

    // Upload of <mac>-local.cfg, authenticated the same way (PUT in the digest).
    let status = phone
        .upload_local_cfg("#!version:1.0.0.1\nlang.gui = German\n")
        .await
        .unwrap();
    assert_eq!(status, 201);
    assert_eq!(
        server.file(&format!("/prov/{MAC}-local.cfg")).as_deref(),
        Some("#!version:1.0.0.1\nlang.gui = German\n")
    );
    let last = server.log().pop().unwrap();
    assert_eq!(last.method, "PUT");
    assert!(last.authorization.unwrap().contains("nc=00000005"));
}

#[tokio::test]
async fn wrong_password_and_no_credentials_are_unauthorized() {
    let server = FakeServer::start().await;
    server.protect("/prov/", MAC, "right");
    server.put_file(&format!("/prov/{MAC}.boot"), &boot(&[]));
    let mut phone = new_phone(&server, "/prov/", Some((MAC, "wrong")));
    match phone.provision().await {
        Err(SimError::Unauthorized(file)) => assert_eq!(file, "805ec0112233.boot"),
        other => panic!("{other:?}"),
    }
    // Exactly one retry, and nothing after it.
    assert_eq!(server.log().len(), 2);
    let statuses: Vec<u16> = phone.last_requests().iter().map(|f| f.status).collect();
    assert_eq!(statuses, [401, 401]);

    let mut anonymous = new_phone(&server, "/prov/", None);
    assert!(matches!(
        anonymous.provision().await,
        Err(SimError::Unauthorized(_))
    ));
    let (status, body) = anonymous.get_raw("anything.cfg").await.unwrap();
    assert_eq!((status, body.as_str()), (401, "Unauthorized\n"));
}

#[tokio::test]
async fn missing_header_is_rejected_and_nothing_applied() {
    let server = FakeServer::start().await;
    server.put_file(
        &format!("/p/{MAC}.boot"),
        &boot(&["a.cfg", &format!("{MAC}.cfg")]),
    );
    server.put_file("/p/a.cfg", "#!version:1.0.0.1\nx = 1\n");
    server.put_file(&format!("/p/{MAC}.cfg"), "x = 2\n");
    let mut phone = new_phone(&server, "/p/", None);
    match phone.provision().await {
        Err(SimError::BadFile { file, reason }) => {
            assert_eq!(file, "805ec0112233.cfg");
            assert!(reason.contains("line 1"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(phone.params().is_empty());
}

#[tokio::test]
async fn overwrite_mode_blank_values_and_removed_keys_revert() {
    let server = FakeServer::start().await;
    let mac_cfg = format!("/p/{MAC}.cfg");
    server.put_file(&format!("/p/{MAC}.boot"), &boot(&[&format!("{MAC}.cfg")]));
    server.put_file(&mac_cfg, "#!version:1.0.0.1\na = 1\nb = 2\nc = 3\n");
    let mut phone = new_phone(&server, "/p/", None);
    phone.provision().await.unwrap();
    assert_eq!(phone.params().len(), 3);
    server.put_file(&mac_cfg, "#!version:1.0.0.1\na =\nc = %NULL%\n");
    phone.provision().await.unwrap();
    let params: Vec<_> = phone.params().iter().collect();
    assert_eq!(params, [(&"c".to_owned(), &String::new())]);

    // Without overwrite_mode, blank keeps the value and parameters accumulate.
    server.put_file(
        &format!("/p/{MAC}.boot"),
        &format!("#!version:1.0.0.1\ninclude:config \"{MAC}.cfg\"\n"),
    );
    server.put_file(&mac_cfg, "#!version:1.0.0.1\nc = 3\nd = 4\n");
    phone.provision().await.unwrap();
    server.put_file(&mac_cfg, "#!version:1.0.0.1\nc =\n");
    let run = phone.provision().await.unwrap();
    assert!(!run.overwrite_mode);
    assert_eq!(phone.params()["c"], "3");
    assert_eq!(phone.params()["d"], "4");
}

#[tokio::test]
async fn adopts_server_url_and_credentials_for_the_next_run() {
    let server = FakeServer::start().await;
    server.protect("/shared/", MAC, "pw2");
    server.put_file(&format!("/t/{MAC}.boot"), &boot(&[&format!("{MAC}.cfg")]));
    let new_url = server.url("/shared");
    server.put_file(
        &format!("/t/{MAC}.cfg"),
        &format!(
            "#!version:1.0.0.1\nstatic.auto_provision.server.url = {new_url}\nstatic.auto_provision.server.username = {MAC}\nstatic.auto_provision.server.password = pw2\n"
        ),
    );
    server.put_file(&format!("/shared/{MAC}.boot"), &boot(&[]));
    let mut phone = new_phone(&server, "/t/", None);
    phone.provision().await.unwrap();
    assert_eq!(
        phone.provisioning_server(),
        Some(format!("{new_url}/").as_str())
    );
    let run = phone.provision().await.unwrap();
    assert_eq!(
        files_of(&run),
        pairs(&[("805ec0112233.boot", 401), ("805ec0112233.boot", 200)])
    );
}

#[tokio::test]
async fn custom_sync_downloads_local_cfg_without_static_keys() {
    let server = FakeServer::start().await;
    server.put_file(&format!("/p/{MAC}.boot"), &boot(&[&format!("{MAC}.cfg")]));
    server.put_file(
        &format!("/p/{MAC}.cfg"),
        "#!version:1.0.0.1\nstatic.auto_provision.custom.sync = 1\nlang.gui = English\n",
    );
    server.put_file(
        &format!("/p/{MAC}-local.cfg"),
        "#!version:1.0.0.1\nlang.gui = German\nstatic.network.vlan.internet_port_enable = 1\n",
    );
    let mut phone = new_phone(&server, "/p/", None);
    let run = phone.provision().await.unwrap();
    assert_eq!(
        run.applied_files,
        ["805ec0112233.cfg", "805ec0112233-local.cfg"]
    );
    assert_eq!(phone.params()["lang.gui"], "German");
    assert!(
        !phone
            .params()
            .contains_key("static.network.vlan.internet_port_enable")
    );
}
