//! The AppWebsocket client side the simulated PBX and Users share: URL, send, and waiting for
//! one message type.

use std::time::Duration;

use anyhow::{anyhow, bail};
use futures::{SinkExt as _, StreamExt as _};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub(crate) type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The ws(s) URL of an http(s) App object URL.
pub(crate) fn ws_url(app_url: &str) -> String {
    if let Some(rest) = app_url.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = app_url.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        app_url.to_owned()
    }
}

pub(crate) async fn send_text(ws: &mut Ws, text: String, timeout: Duration) -> anyhow::Result<()> {
    tokio::time::timeout(timeout, ws.send(Message::Text(text.into())))
        .await
        .map_err(|_| anyhow!("sending timed out"))?
        .map_err(|e| anyhow!("sending failed: {e}"))
}

/// Reads messages until one with this `mt`; `skipped` hears the `mt` of every other one.
pub(crate) async fn expect(
    ws: &mut Ws,
    mt: &str,
    timeout: Duration,
    mut skipped: impl FnMut(&str),
) -> anyhow::Result<Value> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let next = tokio::time::timeout_at(deadline, ws.next())
            .await
            .map_err(|_| anyhow!("no {mt} within {timeout:?}"))?;
        match next {
            None | Some(Ok(Message::Close(_))) => bail!("connection closed while waiting for {mt}"),
            Some(Err(e)) => bail!("connection error while waiting for {mt}: {e}"),
            Some(Ok(Message::Text(text))) => {
                let msg: Value = serde_json::from_str(text.as_str())
                    .map_err(|e| anyhow!("unreadable message while waiting for {mt}: {e}"))?;
                match msg.get("mt").and_then(Value::as_str) {
                    Some(got) if got == mt => return Ok(msg),
                    other => skipped(other.unwrap_or("(no mt)")),
                }
            }
            Some(Ok(Message::Binary(_))) => bail!("binary frame while waiting for {mt}"),
            Some(Ok(_)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ws_urls() {
        assert_eq!(ws_url("https://h/x"), "wss://h/x");
        assert_eq!(ws_url("http://h/x"), "ws://h/x");
        assert_eq!(ws_url("ws://h/x"), "ws://h/x");
    }
}
