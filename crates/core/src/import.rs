//! CSV import: one device per row, columns named in a header line.

use crate::device_input::DeviceInput;
use crate::settings::SettingsOverride;

pub const REQUIRED_COLUMNS: &[&str] = &["mac", "sip_user", "sip_password", "registrar"];
pub const OPTIONAL_COLUMNS: &[&str] = &[
    "auth_name",
    "display_name",
    "name",
    "model",
    "update_interval_minutes",
    "ntp_servers",
    "time_zone",
    "location",
    "media_relay",
    "sip_transport",
];

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the CSV has no header line")]
    Empty,
    #[error(
        "the CSV header lacks the column(s) {0}; required: mac, sip_user, sip_password, registrar"
    )]
    MissingColumns(String),
    #[error("unknown column {0:?}; known columns: {1}")]
    UnknownColumn(String, String),
    #[error("cannot read the CSV: {0}")]
    Csv(String),
}

/// Largest CSV accepted for an import (API and web UI; 100,000 rows fit). The routes that
/// import raise the server-wide body limit to this.
pub const MAX_CSV: usize = 32 * 1024 * 1024;

/// Characters that make a spreadsheet treat a cell as a formula (OWASP, "CSV Injection").
const FORMULA_START: &[char] = &['=', '+', '-', '@', '\t', '\r'];

/// A cell for a CSV we hand out: a value a spreadsheet would run as a formula gets a leading
/// `'`, which spreadsheets show as text. The same holds for every `;`-separated part of the
/// cell, because German Excel splits lines on `;`, so a part after a `;` starts a cell there.
/// A part that already starts with quotes before a formula character gets one more, so that
/// [`parse_csv`], which takes exactly one off, gives back the value unchanged.
pub fn export_cell(value: &str) -> std::borrow::Cow<'_, str> {
    if !value.split(';').any(needs_quote) {
        return value.into();
    }
    let parts: Vec<String> = value
        .split(';')
        .map(|part| {
            if needs_quote(part) {
                format!("'{part}")
            } else {
                part.to_owned()
            }
        })
        .collect();
    parts.join(";").into()
}

/// `'`s (none or more) and then a formula character.
fn needs_quote(part: &str) -> bool {
    part.trim_start_matches('\'').starts_with(FORMULA_START)
}

/// Undoes [`export_cell`], so an exported file imports unchanged.
fn import_cell(value: &str) -> std::borrow::Cow<'_, str> {
    let unquote = |part: &str| part.strip_prefix('\'').is_some_and(needs_quote);
    if !value.split(';').any(unquote) {
        return value.into();
    }
    let parts: Vec<&str> = value
        .split(';')
        .map(|part| match part.strip_prefix('\'') {
            Some(rest) if needs_quote(rest) => rest,
            _ => part,
        })
        .collect();
    parts.join(";").into()
}

/// A data row's line number and the device it describes, or why it could not be read.
pub type ImportRow = (usize, Result<DeviceInput, String>);

/// Every data row, numbered by its line in the file (the header is line 1), parsed or with the
/// reason it could not be.
pub fn parse_csv(input: &[u8]) -> Result<Vec<ImportRow>, ImportError> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(input);
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| ImportError::Csv(e.to_string()))?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_ascii_lowercase())
        .collect();
    if headers.iter().all(String::is_empty) {
        return Err(ImportError::Empty);
    }
    for h in &headers {
        if !REQUIRED_COLUMNS.contains(&h.as_str()) && !OPTIONAL_COLUMNS.contains(&h.as_str()) {
            let known = [REQUIRED_COLUMNS, OPTIONAL_COLUMNS].concat().join(", ");
            return Err(ImportError::UnknownColumn(h.clone(), known));
        }
    }
    let missing: Vec<&str> = REQUIRED_COLUMNS
        .iter()
        .copied()
        .filter(|c| !headers.iter().any(|h| h == c))
        .collect();
    if !missing.is_empty() {
        return Err(ImportError::MissingColumns(missing.join(", ")));
    }
    let mut rows = Vec::new();
    let mut lines = LineCounter::default();
    for (index, record) in reader.records().enumerate() {
        let fallback_line = index + 2;
        let row = match record {
            Ok(record) => {
                // Counted from the bytes: the csv crate's own line number skips blank lines.
                let line = record
                    .position()
                    .map_or(fallback_line, |p| lines.line_at(input, p.byte() as usize));
                if record.iter().all(str::is_empty) {
                    continue;
                }
                (line, row_to_input(&headers, &record))
            }
            Err(e) => (fallback_line, Err(format!("unreadable row: {e}"))),
        };
        rows.push(row);
    }
    Ok(rows)
}

/// Line numbers from byte offsets, counting each byte once over the whole file (offsets only
/// grow), so a 100,000-row import stays linear.
#[derive(Default)]
struct LineCounter {
    offset: usize,
    line: usize,
}

impl LineCounter {
    /// The line a record starts on; its recorded offset may sit before skipped blank lines.
    fn line_at(&mut self, input: &[u8], offset: usize) -> usize {
        let mut start = offset.min(input.len());
        while start < input.len() && matches!(input[start], b'\n' | b'\r') {
            start += 1;
        }
        if start < self.offset {
            // Not expected from the csv reader; recount rather than give a wrong number.
            *self = LineCounter::default();
        }
        self.line += line_breaks(&input[self.offset..start], input.get(start).copied());
        self.offset = start;
        self.line + 1
    }
}

/// Line breaks in `bytes` as the csv reader sees them: `\r\n`, `\n` or a lone `\r` (old Mac
/// and some spreadsheet exports) each end one line. `next` is the byte after `bytes`, so a
/// `\r\n` split across two calls counts once.
fn line_breaks(bytes: &[u8], next: Option<u8>) -> usize {
    bytes
        .iter()
        .enumerate()
        .filter(|&(i, &b)| {
            b == b'\n' || (b == b'\r' && bytes.get(i + 1).copied().or(next) != Some(b'\n'))
        })
        .count()
}

fn row_to_input(headers: &[String], record: &csv::StringRecord) -> Result<DeviceInput, String> {
    if record.len() != headers.len() {
        return Err(format!(
            "has {} fields, the header has {}",
            record.len(),
            headers.len()
        ));
    }
    let mut input = DeviceInput::default();
    let mut overrides = SettingsOverride::default();
    for (header, value) in headers.iter().zip(record.iter()) {
        let value = import_cell(value);
        let value = value.as_ref();
        let opt = || (!value.is_empty()).then(|| value.to_owned());
        match header.as_str() {
            "mac" => input.mac = value.to_owned(),
            "sip_user" => input.sip_user = value.to_owned(),
            "sip_password" => input.sip_password = value.to_owned(),
            "registrar" => input.registrar = value.to_owned(),
            "auth_name" => input.auth_name = opt(),
            "display_name" => input.display_name = opt(),
            "name" => input.name = opt(),
            "model" => input.model = opt(),
            "update_interval_minutes" if !value.is_empty() => {
                overrides.update_interval_minutes = Some(
                    value
                        .parse()
                        .map_err(|_| "update_interval_minutes: not a number".to_owned())?,
                )
            }
            "ntp_servers" if !value.is_empty() => {
                overrides.ntp_servers = Some(
                    value
                        .split(' ')
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect(),
                )
            }
            "time_zone" => overrides.time_zone = opt(),
            "location" => overrides.location = opt(),
            "media_relay" if !value.is_empty() => {
                overrides.media_relay = Some(matches!(value, "1" | "true" | "yes" | "on"))
            }
            "sip_transport" if !value.is_empty() => {
                overrides.sip_transport = Some(
                    value
                        .parse()
                        .map_err(|_| "sip_transport: use udp, tcp or tls".to_owned())?,
                )
            }
            _ => {}
        }
    }
    input.overrides = overrides;
    Ok(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rows_and_reports_bad_ones() {
        let csv = "mac,sip_user,sip_password,registrar,time_zone\n\
                   00:15:65:aa:bb:01,100,pw,pbx.local,Europe/Berlin\n\
                   001565aabb02,101,pw\n\
                   \n\
                   001565aabb03,102,pw,pbx.local,\n";
        let rows = parse_csv(csv.as_bytes()).expect("parses");
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].0, 2);
        let first = rows[0].1.as_ref().expect("row 2 ok");
        assert_eq!(first.overrides.time_zone.as_deref(), Some("Europe/Berlin"));
        assert_eq!(rows[1].0, 3);
        assert!(rows[1].1.as_ref().is_err_and(|e| e.contains("fields")));
        assert_eq!(rows[2].0, 5);
    }

    #[test]
    fn lone_carriage_returns_end_lines_too() {
        let csv = "mac,sip_user,sip_password,registrar\r001565aabb01,100,pw,pbx\r\r001565aabb02,101,pw,pbx\r\n001565aabb03,102,pw,pbx\n";
        let lines: Vec<usize> = parse_csv(csv.as_bytes())
            .expect("parses")
            .iter()
            .map(|(line, _)| *line)
            .collect();
        assert_eq!(lines, [2, 4, 5]);
    }

    #[test]
    fn formulas_are_neutralised_on_export_and_restored_on_import() {
        for hostile in [
            "=HYPERLINK(\"http://x\")",
            "+1",
            "-2+3",
            "@SUM(A1)",
            "\tx",
            "\rx",
        ] {
            let cell = export_cell(hostile);
            assert!(cell.starts_with('\''), "{hostile:?} -> {cell:?}");
            assert_eq!(import_cell(&cell), hostile);
        }
        assert_eq!(export_cell("Phone 100"), "Phone 100");
        assert_eq!(
            import_cell("'quoted"),
            "'quoted",
            "only a neutralised formula loses its quote"
        );
        let csv = "mac,sip_user,sip_password,registrar,display_name\n001565aabb01,100,pw,pbx.local,'=1+1\n";
        let rows = parse_csv(csv.as_bytes()).expect("parses");
        let row = rows[0].1.as_ref().expect("ok");
        assert_eq!(row.display_name.as_deref(), Some("=1+1"));
    }

    #[test]
    fn formulas_after_a_semicolon_are_neutralised_and_round_trip() {
        // German Excel splits a CSV line on `;`, so each `;`-part starts a cell there.
        for (hostile, exported) in [
            (
                "Office;=HYPERLINK(\"http://x\")",
                "Office;'=HYPERLINK(\"http://x\")",
            ),
            ("a;+1;-2;@SUM(A1)", "a;'+1;'-2;'@SUM(A1)"),
            ("=1;=2", "'=1;'=2"),
            (";=x", ";'=x"),
            ("a;\tb", "a;'\tb"),
        ] {
            assert_eq!(export_cell(hostile), exported, "{hostile:?}");
            assert_eq!(import_cell(&export_cell(hostile)), hostile, "{hostile:?}");
        }
        // Values that already look neutralised survive the round trip too.
        for tricky in [
            "'=x",
            "a;'=x",
            "''=x;'-1",
            "'quoted;'also",
            "a;b;c",
            ";;",
            "",
        ] {
            assert_eq!(
                import_cell(&export_cell(tricky)),
                tricky,
                "{tricky:?} -> {:?}",
                export_cell(tricky)
            );
        }
        let csv = "mac,sip_user,sip_password,registrar,display_name\n\
                   001565aabb01,100,pw,pbx.local,Sales;'=1+1\n";
        let rows = parse_csv(csv.as_bytes()).expect("parses");
        let row = rows[0].1.as_ref().expect("ok");
        assert_eq!(row.display_name.as_deref(), Some("Sales;=1+1"));
    }

    #[test]
    fn header_problems_are_named() {
        let e = parse_csv(b"mac,sip_user\n").expect_err("missing");
        assert!(e.to_string().contains("sip_password, registrar"));
        let e = parse_csv(b"mac,sip_user,sip_password,registrar,colour\n").expect_err("unknown");
        assert!(e.to_string().contains("colour"));
    }
}
