//! The reference's signature test vectors (yealink.md A2.1), through the public API.

use rps::sign::{content_md5, signature, string_to_sign};

const KEY: &str = "AKID_EXAMPLE";
const SECRET: &str = "SECRET_EXAMPLE";
const NONCE: &str = "0f8e3c1b2a4d4e6f8a9b0c1d2e3f4a5b";
const TS: &str = "1700000000000";

#[test]
fn post_device_add_vector() {
    let body = br#"{"macs":["805ec0112233"],"serverId":"srv-1"}"#;
    let md5 = content_md5(body);
    assert_eq!(md5, "LLFfbs/WG1e64L3itBbpvA==");
    let sts = string_to_sign(
        "POST",
        Some(&md5),
        KEY,
        NONCE,
        TS,
        "/api/open/v1/device/add",
        &[],
    );
    assert_eq!(
        sts,
        "POST\nContent-MD5:LLFfbs/WG1e64L3itBbpvA==\nX-Ca-Key:AKID_EXAMPLE\n\
         X-Ca-Nonce:0f8e3c1b2a4d4e6f8a9b0c1d2e3f4a5b\nX-Ca-Timestamp:1700000000000\napi/open/v1/device/add"
    );
    assert_eq!(
        signature(SECRET, &sts),
        "BLC4OZmgffuokh28vQKBL0nORmhvpftPqaNznfD8LoY="
    );
}

#[test]
fn get_check_mac_vector() {
    let sts = string_to_sign(
        "GET",
        None,
        KEY,
        NONCE,
        TS,
        "/api/open/v1/device/checkMac",
        &[("mac", "805ec0112233")],
    );
    assert_eq!(
        signature(SECRET, &sts),
        "nVnpfxsgT81uB9FvLIIt/pUvzCgqGGpZ+j+v0mGnOPY="
    );
}
