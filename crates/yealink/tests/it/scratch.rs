#[test]
#[ignore]
fn dst_fallbacks() {
    use jiff::tz::TimeZoneDatabase;
    use jiff::{Timestamp, ToSpan};
    let db = TimeZoneDatabase::bundled();
    let start: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    let end: Timestamp = "2027-01-01T00:00:00Z".parse().unwrap();
    let _ = 1.day();
    for name in db.available() {
        let name = name.to_string();
        let tz = db.get(&name).unwrap();
        let dst_days: i64 = {
            let mut t = start; let mut n = 0;
            while t < end { if tz.to_offset_info(t).dst().is_dst() { n += 1; } t = t.checked_add(jiff::SignedDuration::from_hours(24)).unwrap(); }
            n
        };
        if dst_days == 0 { continue; }
        if let Ok(r) = yealink::resolve_time_zone_in_year(&name, 2026) {
            if !r.observes_dst { println!("{name:32} dst_days={dst_days:3} -> {} {}", r.offset, r.name); }
        }
    }
}
