//! The location table.

use yealink::{location, locations};

#[test]
fn lookups() {
    let de = location("de").unwrap();
    assert_eq!(
        (de.code, de.name, de.language, de.tone_country),
        ("DE", "Germany", "German", "Germany")
    );
    assert_eq!(location("GB").unwrap().tone_country, "Great Britain");
    assert_eq!(location("cn").unwrap().language, "Chinese_S");
    assert_eq!(location("PL").unwrap().tone_country, "Germany");
    assert!(location("").is_none());
    assert!(locations().iter().all(|l| l.tone_country != "Custom"));
}
