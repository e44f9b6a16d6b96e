//! Classifying requested file names.

use yealink::{Mac, PhoneFile, classify_file};

#[test]
fn the_five_kinds() {
    let mac = Mac::parse("805ec0112233").unwrap();
    let cases = [
        ("805ec0112233.boot", PhoneFile::MacBoot(mac), "mac_boot"),
        ("y000000000000.boot", PhoneFile::CommonBoot, "common_boot"),
        ("y000000000108.cfg", PhoneFile::Common(108), "common"),
        ("y000000000025.cfg", PhoneFile::Common(25), "common"),
        ("805ec0112233.cfg", PhoneFile::MacCfg(mac), "mac_cfg"),
        ("805EC0112233.cfg", PhoneFile::MacCfg(mac), "mac_cfg"),
        (
            "805ec0112233-local.cfg",
            PhoneFile::MacLocalCfg(mac),
            "local_cfg",
        ),
    ];
    for (name, file, kind) in cases {
        assert_eq!(classify_file(name), Some(file), "{name}");
        assert_eq!(file.kind(), kind);
        assert_eq!(classify_file(&file.file_name()), Some(file));
    }
    assert_eq!(PhoneFile::Common(7).file_name(), "y000000000007.cfg");
    assert_eq!(PhoneFile::MacLocalCfg(mac).mac(), Some(mac));
    assert_eq!(PhoneFile::Common(7).mac(), None);
}

#[test]
fn other_names_are_none() {
    for name in [
        "y000000000000.cfg",
        "favicon.ico",
        "805ec0112233",
        "805ec0112233.cfg.bak",
        "805ec0112233_Security.enc",
        "y000000000108.cfg.enc",
    ] {
        assert_eq!(classify_file(name), None, "{name}");
    }
}
