//! Yealink's AutoDST time zone list, each entry with the IANA zones it stands for.
//!
//! Sources: the AutoDST.xml FusionPBX ships (`app/yealink/resources/auto_dst.xml`), which
//! gives names, offsets and whether an entry has a DST rule; plus the entries only found in
//! the time zone appendix of newer (V8x) Yealink admin guides (French Polynesia, Spain(Madrid),
//! Nepal(Katmandu), Myanmar, Eucla, the newer Russian zones, Kiribati, ...). For those newer
//! entries the DST flag is our reading of the real-world rule, not Yealink's file.
//!
//! Order matters: when an IANA zone has no explicit entry, the resolver takes the *first*
//! matching entry, so within one offset the most widely used entry comes first.
//!
//! `zones` lists the IANA zones mapped to the entry explicitly; the first one is its
//! representative, whose transitions stand for the entry's DST rule when other zones are
//! matched. An entry gets no zone when its offset no longer matches reality (Venezuela moved
//! to -4, Turkey to +3, Namibia to +2, ...) or when Yealink's rule is further from reality
//! than the rule of another entry (Tijuana follows the US rule, not Mexico's old one), so
//! that such zones are resolved by the matching instead.

pub(crate) struct Entry {
    /// UTC offset of standard time, in minutes.
    pub minutes: i16,
    /// `local_time.time_zone_name`, byte for byte as in Yealink's list.
    pub name: &'static str,
    /// Whether Yealink's AutoDST gives the entry a DST rule (so `summer_time = 2` applies one).
    pub rule: bool,
    /// IANA zones mapped to this entry explicitly; the first is the representative.
    pub zones: &'static [&'static str],
}

const fn e(minutes: i16, name: &'static str, rule: bool, zones: &'static [&'static str]) -> Entry {
    Entry {
        minutes,
        name,
        rule,
        zones,
    }
}

const H: i16 = 60;

pub(crate) static ENTRIES: &[Entry] = &[
    e(-11 * H, "Samoa", false, &["Pacific/Pago_Pago"]),
    e(
        -10 * H,
        "United States-Hawaii-Aleutian",
        false,
        &["Pacific/Honolulu"],
    ),
    // FusionPBX's copy has no rule here, but the name (next to a no-DST Hawaii entry) is
    // Adak's, which observes US DST; we assume the firmware's file has the US rule.
    e(
        -10 * H,
        "United States-Alaska-Aleutian",
        true,
        &["America/Adak"],
    ),
    e(
        -9 * H - 30,
        "French Polynesia",
        false,
        &["Pacific/Marquesas"],
    ),
    e(
        -9 * H,
        "United States-Alaska Time",
        true,
        &["America/Anchorage"],
    ),
    e(
        -8 * H,
        "United States-Pacific Time",
        true,
        &["America/Los_Angeles"],
    ),
    // British Columbia, Alberta and Manitoba keep summer time all year since March 2026
    // (tzdb), so their zones resolve to the no-DST entry one hour east instead.
    e(-8 * H, "Canada(Vancouver,Whitehorse)", true, &[]),
    e(-8 * H, "Mexico(Tijuana,Mexicali)", true, &[]),
    // As for Alaska-Aleutian: a separate "MST no DST" entry implies this one has the US rule.
    e(
        -7 * H,
        "United States-Mountain Time",
        true,
        &["America/Denver"],
    ),
    e(
        -7 * H,
        "United States-MST no DST",
        false,
        &["America/Phoenix"],
    ),
    e(-7 * H, "Canada(Edmonton,Calgary)", true, &[]),
    e(
        -7 * H,
        "Mexico(Mazatlan,Chihuahua)",
        true,
        &["America/Mazatlan"],
    ),
    e(
        -6 * H,
        "United States-Central Time",
        true,
        &["America/Chicago"],
    ),
    e(-6 * H, "Canada-Manitoba(Winnipeg)", true, &[]),
    e(
        -6 * H,
        "Mexico(Mexico City,Acapulco)",
        true,
        &["America/Mexico_City"],
    ),
    e(-6 * H, "Chile(Easter Islands)", true, &["Pacific/Easter"]),
    e(
        -5 * H,
        "United States-Eastern Time",
        true,
        &["America/New_York"],
    ),
    e(
        -5 * H,
        "Canada(Montreal,Ottawa,Quebec)",
        true,
        &["America/Toronto", "America/Montreal"],
    ),
    e(-5 * H, "Bahamas(Nassau)", true, &["America/Nassau"]),
    e(-5 * H, "Cuba(Havana)", true, &["America/Havana"]),
    e(-4 * H - 30, "Venezuela(Caracas)", false, &[]),
    e(-4 * H, "Trinidad&Tobago", false, &["America/Port_of_Spain"]),
    e(
        -4 * H,
        "Canada(Halifax,Saint John)",
        true,
        &["America/Halifax"],
    ),
    e(-4 * H, "Chile(Santiago)", true, &["America/Santiago"]),
    e(-4 * H, "Paraguay(Asuncion)", true, &[]),
    e(
        -4 * H,
        "United Kingdom-Bermuda(Bermuda)",
        true,
        &["Atlantic/Bermuda"],
    ),
    e(-4 * H, "United Kingdom(Falkland Islands)", true, &[]),
    e(
        -3 * H - 30,
        "Canada-New Foundland(St.Johns)",
        true,
        &["America/St_Johns"],
    ),
    e(-3 * H, "Brazil(no DST)", false, &["America/Sao_Paulo"]),
    e(
        -3 * H,
        "Argentina(Buenos Aires)",
        false,
        &["America/Argentina/Buenos_Aires", "America/Buenos_Aires"],
    ),
    e(-3 * H, "Brazil(DST)", true, &[]),
    e(-3 * H, "Denmark-Greenland(Nuuk)", true, &[]),
    e(-2 * H - 30, "Newfoundland and Labrador", false, &[]),
    e(-2 * H, "Brazil(no DST)", false, &["America/Noronha"]),
    e(-H, "Portugal(Azores)", true, &["Atlantic/Azores"]),
    e(0, "GMT", false, &["UTC", "Etc/UTC", "Etc/GMT", "GMT"]),
    e(0, "United Kingdom(London)", true, &["Europe/London"]),
    e(0, "Ireland(Dublin)", true, &["Europe/Dublin"]),
    e(
        0,
        "Portugal(Lisboa,Porto,Funchal)",
        true,
        &["Europe/Lisbon", "Atlantic/Madeira"],
    ),
    e(
        0,
        "Spain-Canary Islands(Las Palmas)",
        true,
        &["Atlantic/Canary"],
    ),
    e(
        0,
        "Denmark-Faroe Islands(Torshavn)",
        true,
        &["Atlantic/Faroe", "Atlantic/Faeroe"],
    ),
    e(0, "Greenland", true, &[]),
    // Yealink's rule is a fixed summer window; Morocco now keeps +01 except during Ramadan.
    e(0, "Morocco", true, &[]),
    e(H, "Germany(Berlin)", true, &["Europe/Berlin"]),
    e(H, "Austria(Vienna)", true, &["Europe/Vienna"]),
    e(H, "Belgium(Brussels)", true, &["Europe/Brussels"]),
    e(H, "France(Paris)", true, &["Europe/Paris"]),
    e(H, "Italy(Rome)", true, &["Europe/Rome"]),
    e(H, "Netherlands(Amsterdam)", true, &["Europe/Amsterdam"]),
    e(H, "Spain(Madrid)", true, &["Europe/Madrid"]),
    e(H, "Sweden(Stockholm)", true, &["Europe/Stockholm"]),
    e(H, "Denmark(Kopenhagen)", true, &["Europe/Copenhagen"]),
    e(H, "Czech Republic(Prague)", true, &["Europe/Prague"]),
    e(H, "Hungary(Budapest)", true, &["Europe/Budapest"]),
    e(H, "Luxembourg(Luxembourg)", true, &["Europe/Luxembourg"]),
    e(H, "Albania(Tirane)", true, &["Europe/Tirane"]),
    e(H, "Croatia(Zagreb)", true, &["Europe/Zagreb"]),
    e(H, "Serbia(Belgrade)", true, &["Europe/Belgrade"]),
    e(H, "Slovenia(Ljubljana)", true, &["Europe/Ljubljana"]),
    e(H, "Montenegro(Podgorica)", true, &["Europe/Podgorica"]),
    e(
        H,
        "Bosnia and Herzegovina(Sarajevo)",
        true,
        &["Europe/Sarajevo"],
    ),
    e(H, "Macedonia(Skopje)", true, &["Europe/Skopje"]),
    e(H, "Chad", false, &["Africa/Ndjamena"]),
    e(H, "Namibia(Windhoek)", true, &[]),
    e(H, "Caicos", true, &[]),
    e(2 * H, "Finland(Helsinki)", true, &["Europe/Helsinki"]),
    e(2 * H, "Greece(Athens)", true, &["Europe/Athens"]),
    e(2 * H, "Romania(Bucharest)", true, &["Europe/Bucharest"]),
    e(2 * H, "Estonia(Tallinn)", true, &["Europe/Tallinn"]),
    e(2 * H, "Latvia(Riga)", true, &["Europe/Riga"]),
    e(
        2 * H,
        "Ukraine(Kyiv,Odessa)",
        true,
        &["Europe/Kyiv", "Europe/Kiev"],
    ),
    e(2 * H, "Moldova(Kishinev)", true, &["Europe/Chisinau"]),
    e(2 * H, "Lebanon(Beirut)", true, &["Asia/Beirut"]),
    e(
        2 * H,
        "Israel(Tel Aviv)",
        true,
        &["Asia/Jerusalem", "Asia/Tel_Aviv"],
    ),
    e(2 * H, "Gaza Strip(Gaza)", true, &["Asia/Gaza"]),
    e(2 * H, "Russia(Kaliningrad)", true, &["Europe/Kaliningrad"]),
    e(2 * H, "Jordan(Amman)", true, &[]),
    e(2 * H, "Syria(Damascus)", true, &[]),
    e(2 * H, "Turkey(Ankara)", true, &[]),
    e(3 * H, "East Africa Time", false, &["Africa/Nairobi"]),
    e(3 * H, "Iraq(Baghdad)", false, &["Asia/Baghdad"]),
    e(3 * H, "Russia(Moscow)", true, &["Europe/Moscow"]),
    e(3 * H + 30, "Iran(Teheran)", true, &["Asia/Tehran"]),
    e(4 * H, "Georgia(Tbilisi)", false, &["Asia/Tbilisi"]),
    e(4 * H, "Armenia(Yerevan)", true, &["Asia/Yerevan"]),
    e(4 * H, "Azerbaijan(Baku)", true, &["Asia/Baku"]),
    e(4 * H, "Russia(Samara)", true, &["Europe/Samara"]),
    e(4 * H, "Kazakhstan(Aktau)", false, &[]),
    e(4 * H + 30, "Afghanistan", false, &["Asia/Kabul"]),
    e(5 * H, "Pakistan(Islamabad)", true, &["Asia/Karachi"]),
    e(5 * H, "Kazakhstan(Aqtobe)", false, &["Asia/Aqtobe"]),
    e(5 * H, "Russia(Chelyabinsk)", true, &["Asia/Yekaterinburg"]),
    e(5 * H, "Kyrgyzstan(Bishkek)", false, &[]),
    e(
        5 * H + 30,
        "India(Calcutta)",
        false,
        &["Asia/Kolkata", "Asia/Calcutta"],
    ),
    e(
        5 * H + 45,
        "Nepal(Katmandu)",
        false,
        &["Asia/Kathmandu", "Asia/Katmandu"],
    ),
    e(6 * H, "Kazakhstan(Astana,Almaty)", false, &[]),
    e(6 * H, "Russia(Novosibirsk,Omsk)", true, &["Asia/Omsk"]),
    e(
        6 * H + 30,
        "Myanmar(Naypyitaw)",
        false,
        &["Asia/Yangon", "Asia/Rangoon"],
    ),
    e(7 * H, "Thailand(Bangkok)", false, &["Asia/Bangkok"]),
    e(7 * H, "Russia(Krasnoyarsk)", true, &["Asia/Krasnoyarsk"]),
    e(8 * H, "China(Beijing)", false, &["Asia/Shanghai"]),
    e(8 * H, "Singapore(Singapore)", false, &["Asia/Singapore"]),
    e(8 * H, "Australia(Perth)", true, &["Australia/Perth"]),
    e(8 * H, "Russia(Irkutsk, Ulan-Ude)", false, &["Asia/Irkutsk"]),
    e(8 * H + 45, "Eucla", false, &["Australia/Eucla"]),
    e(9 * H, "Japan(Tokyo)", false, &["Asia/Tokyo"]),
    e(9 * H, "Korea(Seoul)", false, &["Asia/Seoul"]),
    e(9 * H, "Russia(Yakutsk,Chita)", false, &["Asia/Yakutsk"]),
    e(
        9 * H + 30,
        "Australia(Adelaide)",
        true,
        &["Australia/Adelaide"],
    ),
    e(
        9 * H + 30,
        "Australia(Darwin)",
        false,
        &["Australia/Darwin"],
    ),
    e(
        10 * H,
        "Australia(Sydney,Melbourne,Canberra)",
        true,
        &[
            "Australia/Sydney",
            "Australia/Melbourne",
            "Australia/Canberra",
        ],
    ),
    e(
        10 * H,
        "Australia(Brisbane)",
        false,
        &["Australia/Brisbane"],
    ),
    e(10 * H, "Australia(Hobart)", true, &["Australia/Hobart"]),
    e(10 * H, "Russia(Vladivostok)", true, &["Asia/Vladivostok"]),
    // Lord Howe shifts by 30 minutes, Yealink's rule by 60: half an hour off in summer.
    e(
        10 * H + 30,
        "Australia(Lord Howe Islands)",
        true,
        &["Australia/Lord_Howe"],
    ),
    e(11 * H, "New Caledonia(Noumea)", false, &["Pacific/Noumea"]),
    e(
        11 * H,
        "Russia(Srednekolymsk Time)",
        false,
        &["Asia/Srednekolymsk"],
    ),
    e(11 * H + 30, "Norfolk Island", false, &[]),
    e(
        12 * H,
        "New Zealand(Wellington,Auckland)",
        true,
        &["Pacific/Auckland"],
    ),
    e(12 * H, "Russia(Kamchatka Time)", false, &["Asia/Kamchatka"]),
    e(
        12 * H + 45,
        "New Zealand(Chatham Islands)",
        true,
        &["Pacific/Chatham"],
    ),
    e(13 * H, "Tonga(Nukualofa)", false, &["Pacific/Tongatapu"]),
    e(13 * H + 30, "Chatham Islands", false, &[]),
    e(14 * H, "Kiribati", false, &["Pacific/Kiritimati"]),
];
