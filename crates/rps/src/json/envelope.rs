//! The answer envelope of the JSON API and the meaning of its error codes.

use serde_json::Value;

use crate::{Command, Outcome, RpsError};

/// The envelope, read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// `ret >= 0`: the `data` member (`null` when absent).
    Success(Value),
    /// `ret < 0`: the error `msg` code (empty when none) and a one-line text for the history
    /// (the code and any field errors).
    Failure { code: String, text: String },
}

/// Reads an answer envelope. The error carries no part of the body.
pub fn parse_envelope(body: &str) -> Result<Reply, RpsError> {
    let value: Value = serde_json::from_str(body.trim_start_matches('\u{feff}'))
        .map_err(|_| RpsError::Garbled("not JSON".into()))?;
    let ret = match value.get("ret") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
    .ok_or_else(|| RpsError::Garbled("JSON answer without a numeric \"ret\"".into()))?;
    if ret >= 0 {
        return Ok(Reply::Success(
            value.get("data").cloned().unwrap_or(Value::Null),
        ));
    }
    let error = value
        .get("error")
        .filter(|e| !e.is_null())
        .or_else(|| value.get("errors"))
        .unwrap_or(&Value::Null);
    let code = match error {
        Value::Object(map) => map.get("msg").and_then(Value::as_str).unwrap_or_default(),
        Value::String(s) => s.as_str(),
        _ => "",
    }
    .trim()
    .to_owned();
    let fields: Vec<String> = error
        .get("fieldErrors")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|f| {
                    let field = f.get("field").and_then(Value::as_str).unwrap_or("?");
                    let msg = f.get("msg").and_then(Value::as_str).unwrap_or("?");
                    format!("{field}: {msg}")
                })
                .collect()
        })
        .unwrap_or_default();
    let mut text = if code.is_empty() {
        format!("ret={ret}")
    } else {
        code.clone()
    };
    if !fields.is_empty() {
        text.push_str(&format!(" ({})", fields.join(", ")));
    }
    Ok(Reply::Failure { code, text })
}

/// How the workflow reads an error `msg` code of the JSON API answering `command`.
pub fn classify(command: Command, code: &str) -> Outcome {
    match (code, command) {
        // Our recipes handle it by editing; elsewhere it still means "it is there".
        ("device.mac.existed", _) => Outcome::AlreadyDone,
        ("device.not.found", Command::DeregisterDevice) => Outcome::AlreadyDone,
        ("device.not.found", Command::CheckDevice) => Outcome::Ok,
        // device.mac.added.by.other, device.operate.forbidden (another enterprise owns the
        // MAC), invalid parameters, signature or key errors, anything unseen: business errors.
        _ => Outcome::Rejected,
    }
}
