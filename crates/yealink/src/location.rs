//! The "location" setting: which language the phone speaks and which call-progress tones
//! (dial, ringback, busy) it plays.

/// A country and the Yealink values derived from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Location {
    /// ISO 3166-1 alpha-2 code, upper-case (`DE`).
    pub code: &'static str,
    /// English country name (`Germany`).
    pub name: &'static str,
    /// `lang.gui` and `lang.wui` value (`German`).
    pub language: &'static str,
    /// `voice.tone.country` value (`Germany`).
    pub tone_country: &'static str,
}

const fn l(
    code: &'static str,
    name: &'static str,
    language: &'static str,
    tone_country: &'static str,
) -> Location {
    Location {
        code,
        name,
        language,
        tone_country,
    }
}

/// Languages: only values Yealink documents for `lang.gui`/`lang.wui` on current T2/T4/T5
/// firmware (English, Chinese_S, Chinese_T, French, German, Italian, Polish, Portuguese,
/// Spanish, Turkish, Russian). Where the country's language is not among them we use English
/// rather than a value some firmware might reject.
///
/// Tones: `voice.tone.country` accepts Australia, Austria, Brazil, Belgium, Chile, China,
/// Czech, Czech ETSI, Denmark, Finland, France, Germany, Great Britain, Greece, Hungary,
/// Lithuania, India, Italy, Japan, Mexico, New Zealand, Netherlands, Norway, Portugal, Spain,
/// Switzerland, Sweden, Russia, United States (and Custom, which needs hand-written tone
/// lists, so we never use it). Countries without their own set get the closest one:
/// Poland and Turkey use ETSI-style single-frequency tones (425/450 Hz, 1 s/4 s ringback,
/// 0.5 s/0.5 s busy), which "Germany" matches best; Canada shares the North American
/// tones ("United States"); Ireland's ringback is the British double ring ("Great Britain").
static LOCATIONS: &[Location] = &[
    l("AT", "Austria", "German", "Austria"),
    l("AU", "Australia", "English", "Australia"),
    l("BE", "Belgium", "French", "Belgium"),
    l("BR", "Brazil", "Portuguese", "Brazil"),
    l("CA", "Canada", "English", "United States"),
    l("CH", "Switzerland", "German", "Switzerland"),
    l("CL", "Chile", "Spanish", "Chile"),
    l("CN", "China", "Chinese_S", "China"),
    l("CZ", "Czech Republic", "English", "Czech"),
    l("DE", "Germany", "German", "Germany"),
    l("DK", "Denmark", "English", "Denmark"),
    l("ES", "Spain", "Spanish", "Spain"),
    l("FI", "Finland", "English", "Finland"),
    l("FR", "France", "French", "France"),
    l("GB", "United Kingdom", "English", "Great Britain"),
    l("GR", "Greece", "English", "Greece"),
    l("HU", "Hungary", "English", "Hungary"),
    l("IE", "Ireland", "English", "Great Britain"),
    l("IN", "India", "English", "India"),
    l("IT", "Italy", "Italian", "Italy"),
    l("JP", "Japan", "English", "Japan"),
    l("LT", "Lithuania", "English", "Lithuania"),
    l("MX", "Mexico", "Spanish", "Mexico"),
    l("NL", "Netherlands", "English", "Netherlands"),
    l("NO", "Norway", "English", "Norway"),
    l("NZ", "New Zealand", "English", "New Zealand"),
    l("PL", "Poland", "Polish", "Germany"),
    l("PT", "Portugal", "Portuguese", "Portugal"),
    l("RU", "Russia", "Russian", "Russia"),
    l("SE", "Sweden", "English", "Sweden"),
    l("TR", "Turkey", "Turkish", "Germany"),
    l("US", "United States", "English", "United States"),
];

/// The location for an ISO country code, case-insensitively (surrounding whitespace ignored).
pub fn location(code: &str) -> Option<&'static Location> {
    let code = code.trim();
    LOCATIONS
        .iter()
        .find(|location| location.code.eq_ignore_ascii_case(code))
}

/// Every supported location, sorted by code.
pub fn locations() -> &'static [Location] {
    LOCATIONS
}

#[cfg(test)]
mod tests {
    use super::*;

    const LANGUAGES: &[&str] = &[
        "English",
        "Chinese_S",
        "Chinese_T",
        "French",
        "German",
        "Italian",
        "Polish",
        "Portuguese",
        "Spanish",
        "Turkish",
        "Russian",
    ];
    const TONES: &[&str] = &[
        "Australia",
        "Austria",
        "Brazil",
        "Belgium",
        "Chile",
        "China",
        "Czech",
        "Czech ETSI",
        "Denmark",
        "Finland",
        "France",
        "Germany",
        "Great Britain",
        "Greece",
        "Hungary",
        "Lithuania",
        "India",
        "Italy",
        "Japan",
        "Mexico",
        "New Zealand",
        "Netherlands",
        "Norway",
        "Portugal",
        "Spain",
        "Switzerland",
        "Sweden",
        "Russia",
        "United States",
    ];

    #[test]
    fn values_are_documented_ones() {
        for location in LOCATIONS {
            assert!(LANGUAGES.contains(&location.language), "{}", location.code);
            assert!(TONES.contains(&location.tone_country), "{}", location.code);
        }
    }

    #[test]
    fn sorted_and_unique() {
        for pair in LOCATIONS.windows(2) {
            assert!(
                pair[0].code < pair[1].code,
                "{} {}",
                pair[0].code,
                pair[1].code
            );
        }
    }

    #[test]
    fn required_codes_are_covered() {
        for code in [
            "DE", "AT", "CH", "GB", "US", "FR", "IT", "ES", "NL", "BE", "DK", "SE", "NO", "FI",
            "PT", "PL", "CZ", "AU", "NZ", "IN", "JP", "CN", "RU", "BR", "MX", "TR", "GR", "HU",
        ] {
            assert!(location(code).is_some(), "{code}");
        }
        assert_eq!(location(" de ").map(|l| l.language), Some("German"));
        assert_eq!(location("XX"), None);
    }
}
