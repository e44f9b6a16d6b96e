//! The summer time rules of Yealink's AutoDST list, by time zone name: what a phone applies
//! with `local_time.summer_time = 2`. Transcribed from the AutoDST.xml FusionPBX ships
//! (`app/yealink/resources/auto_dst.xml` at fusionpbx/fusionpbx c7a00dcb3e91; the line of each
//! rule is given). Names without a rule there (and the entries only found in the V8x admin
//! guides) have none here: for those we never rely on the phone's own rule.

use crate::dst_rule::{DstDate, DstRule};

const fn w(month: i8, week: i8, weekday: i8, hour: i8) -> DstDate {
    DstDate::Week {
        month,
        week,
        weekday,
        hour,
    }
}

const fn d(month: i8, day: i8, hour: i8) -> DstDate {
    DstDate::Day { month, day, hour }
}

const fn r(start: DstDate, end: DstDate, save_minutes: i16) -> DstRule {
    DstRule {
        start,
        end,
        save_minutes,
    }
}

/// (name, rule): the line of `auto_dst.xml` in each comment.
static RULES: &[(&str, DstRule)] = &[
    // 5
    (
        "United States-Alaska Time",
        r(w(3, 2, 7, 2), w(11, 1, 7, 2), 60),
    ),
    // 6
    (
        "Canada(Vancouver,Whitehorse)",
        r(w(3, 2, 7, 2), w(11, 1, 7, 2), 60),
    ),
    // 7
    (
        "Mexico(Tijuana,Mexicali)",
        r(w(4, 1, 7, 0), w(10, 5, 7, 0), 60),
    ),
    // 8
    (
        "United States-Pacific Time",
        r(w(3, 2, 7, 2), w(11, 1, 7, 2), 60),
    ),
    // 9
    (
        "Canada(Edmonton,Calgary)",
        r(w(3, 2, 7, 2), w(11, 1, 7, 2), 60),
    ),
    // 10
    (
        "Mexico(Mazatlan,Chihuahua)",
        r(w(4, 1, 7, 0), w(10, 5, 7, 0), 60),
    ),
    // 13
    (
        "Canada-Manitoba(Winnipeg)",
        r(w(3, 2, 7, 2), w(11, 1, 7, 2), 60),
    ),
    // 14
    (
        "Chile(Easter Islands)",
        r(w(10, 2, 6, 0), w(2, 2, 6, 0), 60),
    ),
    // 15
    (
        "Mexico(Mexico City,Acapulco)",
        r(w(4, 1, 7, 0), w(10, 5, 7, 0), 60),
    ),
    // 16
    (
        "United States-Central Time",
        r(w(3, 2, 7, 2), w(11, 1, 7, 2), 60),
    ),
    // 17
    ("Bahamas(Nassau)", r(w(3, 2, 7, 2), w(11, 1, 7, 2), 60)),
    // 18
    (
        "Canada(Montreal,Ottawa,Quebec)",
        r(w(3, 2, 7, 2), w(11, 1, 7, 2), 60),
    ),
    // 19
    ("Cuba(Havana)", r(w(3, 2, 7, 0), w(10, 5, 7, 0), 60)),
    // 20
    (
        "United States-Eastern Time",
        r(w(3, 2, 7, 2), w(11, 1, 7, 2), 60),
    ),
    // 22
    (
        "Canada(Halifax,Saint John)",
        r(w(3, 2, 7, 2), w(11, 1, 7, 2), 60),
    ),
    // 23
    ("Chile(Santiago)", r(w(9, 1, 6, 0), w(4, 4, 6, 0), 60)),
    // 24
    ("Paraguay(Asuncion)", r(w(10, 3, 7, 0), w(3, 2, 7, 0), 60)),
    // 25
    (
        "United Kingdom-Bermuda(Bermuda)",
        r(w(3, 2, 7, 2), w(11, 1, 7, 2), 60),
    ),
    // 26
    (
        "United Kingdom(Falkland Islands)",
        r(w(9, 1, 7, 2), w(4, 1, 7, 2), 60),
    ),
    // 28
    (
        "Canada-New Foundland(St.Johns)",
        r(w(3, 2, 7, 2), w(11, 1, 7, 2), 60),
    ),
    // 29
    (
        "Denmark-Greenland(Nuuk)",
        r(w(3, 5, 7, 1), w(10, 5, 7, 1), 60),
    ),
    // 32
    ("Brazil(DST)", r(w(10, 3, 7, 0), w(2, 3, 7, 0), 60)),
    // 34
    ("Portugal(Azores)", r(w(3, 5, 7, 1), w(10, 5, 7, 2), 60)),
    // 36
    ("Greenland", r(w(3, 5, 7, 1), w(10, 5, 7, 1), 60)),
    // 37
    (
        "Denmark-Faroe Islands(Torshavn)",
        r(w(3, 5, 7, 1), w(10, 5, 7, 2), 60),
    ),
    // 38
    ("Ireland(Dublin)", r(w(3, 5, 7, 1), w(10, 5, 7, 2), 60)),
    // 39
    (
        "Portugal(Lisboa,Porto,Funchal)",
        r(w(3, 5, 7, 1), w(10, 5, 7, 2), 60),
    ),
    // 40
    (
        "Spain-Canary Islands(Las Palmas)",
        r(w(3, 5, 7, 1), w(10, 5, 7, 2), 60),
    ),
    // 41
    (
        "United Kingdom(London)",
        r(w(3, 5, 7, 1), w(10, 5, 7, 2), 60),
    ),
    // 42
    ("Morocco", r(d(6, 1, 0), d(8, 21, 0), 60)),
    // 43
    ("Albania(Tirane)", r(w(3, 5, 7, 2), w(10, 5, 7, 3), 60)),
    // 44
    ("Austria(Vienna)", r(w(3, 5, 7, 2), w(10, 5, 7, 3), 60)),
    // 45
    ("Belgium(Brussels)", r(w(3, 5, 7, 2), w(10, 5, 7, 3), 60)),
    // 46
    ("Caicos", r(w(4, 4, 5, 0), w(8, 4, 5, 0), 60)),
    // 48
    ("Croatia(Zagreb)", r(w(3, 5, 7, 2), w(10, 5, 7, 3), 60)),
    // 49
    (
        "Czech Republic(Prague)",
        r(w(3, 5, 7, 2), w(10, 5, 7, 3), 60),
    ),
    // 50
    ("Denmark(Kopenhagen)", r(w(3, 5, 7, 2), w(10, 5, 7, 3), 60)),
    // 51
    ("France(Paris)", r(w(3, 5, 7, 2), w(10, 5, 7, 3), 60)),
    // 52
    ("Germany(Berlin)", r(w(3, 5, 7, 2), w(10, 5, 7, 3), 60)),
    // 53
    ("Hungary(Budapest)", r(w(3, 5, 7, 2), w(10, 5, 7, 3), 60)),
    // 54
    ("Serbia(Belgrade)", r(w(3, 5, 7, 2), w(10, 5, 7, 3), 60)),
    // 55
    ("Slovenia(Ljubljana)", r(w(3, 5, 7, 2), w(10, 5, 7, 3), 60)),
    // 56
    (
        "Montenegro(Podgorica)",
        r(w(3, 5, 7, 2), w(10, 5, 7, 3), 60),
    ),
    // 57
    (
        "Bosnia and Herzegovina(Sarajevo)",
        r(w(3, 5, 7, 2), w(10, 5, 7, 3), 60),
    ),
    // 58
    ("Italy(Rome)", r(w(3, 5, 7, 2), w(10, 5, 7, 3), 60)),
    // 59
    ("Sweden(Stockholm)", r(w(3, 5, 7, 2), w(10, 5, 7, 3), 60)),
    // 60
    (
        "Luxembourg(Luxembourg)",
        r(w(3, 5, 7, 2), w(10, 5, 7, 3), 60),
    ),
    // 61
    ("Macedonia(Skopje)", r(w(3, 5, 7, 2), w(10, 5, 7, 3), 60)),
    // 62
    (
        "Netherlands(Amsterdam)",
        r(w(3, 5, 7, 2), w(10, 5, 7, 3), 60),
    ),
    // 63
    ("Namibia(Windhoek)", r(w(9, 1, 7, 2), w(4, 1, 7, 2), 60)),
    // 64
    ("Estonia(Tallinn)", r(w(3, 5, 7, 3), w(10, 5, 7, 4), 60)),
    // 65
    ("Finland(Helsinki)", r(w(3, 5, 7, 3), w(10, 5, 7, 4), 60)),
    // 66
    ("Gaza Strip(Gaza)", r(w(3, 5, 5, 0), w(9, 1, 4, 2), 60)),
    // 67
    ("Greece(Athens)", r(w(3, 5, 7, 3), w(10, 5, 7, 4), 60)),
    // 68
    ("Israel(Tel Aviv)", r(d(3, 27, 2), d(9, 27, 2), 60)),
    // 69
    ("Jordan(Amman)", r(w(3, 5, 5, 0), w(10, 5, 5, 1), 60)),
    // 70
    ("Latvia(Riga)", r(w(3, 5, 7, 3), w(10, 5, 7, 4), 60)),
    // 71
    ("Lebanon(Beirut)", r(w(3, 5, 7, 0), w(10, 5, 7, 0), 60)),
    // 72
    ("Moldova(Kishinev)", r(w(3, 5, 7, 3), w(10, 5, 7, 4), 60)),
    // 73
    ("Russia(Kaliningrad)", r(w(3, 5, 7, 2), w(10, 5, 7, 3), 60)),
    // 74
    ("Romania(Bucharest)", r(w(3, 5, 7, 3), w(10, 5, 7, 4), 60)),
    // 75
    ("Syria(Damascus)", r(w(3, 5, 6, 0), w(11, 1, 7, 0), 60)),
    // 76
    ("Turkey(Ankara)", r(w(3, 5, 7, 3), w(10, 5, 7, 4), 60)),
    // 77
    ("Ukraine(Kyiv,Odessa)", r(w(3, 5, 7, 3), w(10, 5, 7, 4), 60)),
    // 80
    ("Russia(Moscow)", r(w(3, 5, 7, 2), w(10, 5, 7, 3), 60)),
    // 81
    ("Iran(Teheran)", r(d(3, 22, 0), d(9, 22, 0), 60)),
    // 82
    ("Armenia(Yerevan)", r(w(3, 5, 7, 2), w(10, 5, 7, 3), 60)),
    // 83
    ("Azerbaijan(Baku)", r(w(3, 5, 7, 4), w(10, 5, 7, 5), 60)),
    // 86
    ("Russia(Samara)", r(w(3, 5, 7, 2), w(10, 5, 7, 3), 60)),
    // 90
    ("Pakistan(Islamabad)", r(d(4, 15, 0), d(11, 1, 0), 60)),
    // 91
    ("Russia(Chelyabinsk)", r(w(3, 5, 7, 2), w(10, 5, 7, 3), 60)),
    // 94
    (
        "Russia(Novosibirsk,Omsk)",
        r(w(3, 5, 7, 2), w(10, 5, 7, 3), 60),
    ),
    // 95
    ("Russia(Krasnoyarsk)", r(w(3, 5, 7, 2), w(10, 5, 7, 3), 60)),
    // 99
    ("Australia(Perth)", r(w(10, 1, 7, 2), w(3, 5, 7, 3), 60)),
    // 102
    ("Australia(Adelaide)", r(w(10, 1, 7, 2), w(4, 1, 7, 3), 60)),
    // 104
    (
        "Australia(Sydney,Melbourne,Canberra)",
        r(w(10, 1, 7, 2), w(4, 1, 7, 3), 60),
    ),
    // 106
    ("Australia(Hobart)", r(w(10, 1, 7, 2), w(4, 1, 7, 3), 60)),
    // 107
    ("Russia(Vladivostok)", r(w(3, 5, 7, 2), w(10, 5, 7, 3), 60)),
    // 108
    (
        "Australia(Lord Howe Islands)",
        r(w(10, 1, 7, 2), w(4, 1, 7, 3), 60),
    ),
    // 110
    (
        "New Zealand(Wellington,Auckland)",
        r(w(9, 5, 7, 3), w(4, 1, 7, 2), 60),
    ),
    // 111
    (
        "New Zealand(Chatham Islands)",
        r(w(9, 5, 7, 4), w(4, 1, 7, 3), 60),
    ),
];

/// The rule a phone's AutoDST list has for `name`, when FusionPBX's copy gives one.
pub fn auto_dst_rule(name: &str) -> Option<&'static DstRule> {
    RULES
        .iter()
        .find(|(known, _)| *known == name)
        .map(|(_, rule)| rule)
}
