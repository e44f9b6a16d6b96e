//! The HTTP plumbing both clients share: send through the caller's `reqwest::Client`, read a
//! bounded body, and map transport failures and status codes to [`RpsError`] or a rejection.

use std::error::Error as _;

use crate::redact::Scrubber;
use crate::{Answer, Outcome, RpsError};

/// RPS answers are a few hundred bytes; anything this large is not RPS.
const MAX_BODY: usize = 1024 * 1024;

/// How much of an unreadable answer is quoted in [`RpsError::Garbled`].
const SNIPPET_CHARS: usize = 200;

/// An HTTP answer with its body read.
pub(crate) struct Reply {
    pub status: u16,
    pub body: String,
}

/// What the status code alone says.
pub(crate) enum Status {
    /// 2xx: read the body.
    Success,
    /// 401/403: the account's credentials are wrong or lack the right. Not retryable.
    Denied,
    /// Any other status the body may explain (other 3xx/4xx).
    Other,
}

/// Sends `request` and reads its body. Transport failures, 408, 429 and 5xx become errors.
pub(crate) async fn send(
    request: reqwest::RequestBuilder,
    scrub: &Scrubber,
) -> Result<(Status, Reply), RpsError> {
    let mut response = request
        .send()
        .await
        .map_err(|e| transport_error(e, scrub))?;
    let status = response.status().as_u16();
    if status == 408 {
        return Err(RpsError::Timeout);
    }
    if status == 429 || (500..=599).contains(&status) {
        return Err(RpsError::Server { status });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport_error(e, scrub))?
    {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(RpsError::Garbled(format!(
                "HTTP {status} answer longer than {MAX_BODY} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    let class = match status {
        200..=299 => Status::Success,
        401 | 403 => Status::Denied,
        _ => Status::Other,
    };
    Ok((
        class,
        Reply {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
        },
    ))
}

/// `HTTP 401 Unauthorized`, the text of an answer that only has a status.
pub(crate) fn status_text(status: u16) -> String {
    match reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
    {
        Some(reason) => format!("HTTP {status} {reason}"),
        None => format!("HTTP {status}"),
    }
}

/// A rejection carrying only the status (401/403, 404 on a wrong endpoint, ...).
pub(crate) fn rejected_status(status: u16) -> Answer {
    Answer::new(Outcome::Rejected, status_text(status))
}

/// The start of an unreadable body, masked, on one line.
pub(crate) fn snippet(body: &str, scrub: &Scrubber) -> String {
    let one_line: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut cut: String = one_line.chars().take(SNIPPET_CHARS).collect();
    if one_line.chars().count() > SNIPPET_CHARS {
        cut.push('…');
    }
    if cut.is_empty() {
        cut = "(empty body)".to_owned();
    }
    scrub.scrub(&cut)
}

fn transport_error(error: reqwest::Error, scrub: &Scrubber) -> RpsError {
    if error.is_timeout() {
        return RpsError::Timeout;
    }
    let builder = error.is_builder();
    // reqwest puts the URL in its messages; it may carry userinfo or a query, so drop it and
    // describe the cause chain instead.
    let error = error.without_url();
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    let message = scrub.scrub(&message);
    if builder {
        RpsError::Config(message)
    } else {
        RpsError::Network(message)
    }
}
