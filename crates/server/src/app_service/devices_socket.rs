//! Opens a sysclient websocket to Devices: the RFC 6455 client handshake over hyper's HTTP/1.1
//! upgrade, then tungstenite on the upgraded stream.
//!
//! Why not `tokio_tungstenite::connect_async`: its handshake reads the answer into a 4 KiB
//! buffer that it hands on as the open connection's read buffer (tungstenite 0.29
//! `handshake/client.rs` → `FrameCodec::from_partially_read`), so every connected phone kept
//! 4 KiB for frames of a few hundred bytes; and its `MaybeTlsStream` keeps room for a TLS
//! session inline even on `ws://`. Here hyper's handshake buffers are dropped once the
//! connection is upgraded, the socket (plain or TLS) sits behind one box, and the websocket
//! starts with the small read buffer the caller configures (docs/benchmarks.md).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use hyper::header::{self, HeaderValue};
use hyper::{Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::client::generate_key;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

/// An open sysclient connection.
pub type DevicesSocket = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// Where a `ws://` or `wss://` URL points.
struct Target {
    secure: bool,
    /// Host name or address, without the brackets of an IPv6 literal.
    host: String,
    port: u16,
    /// `Host` header value.
    authority: String,
    path: String,
}

fn target(url: &str) -> Result<Target, String> {
    let uri: Uri = url
        .parse()
        .map_err(|e| format!("{url} is not a websocket URL: {e}"))?;
    let secure = match uri.scheme_str() {
        Some("wss") => true,
        Some("ws") => false,
        _ => return Err(format!("{url} is not a ws:// or wss:// URL")),
    };
    let authority = uri
        .authority()
        .ok_or_else(|| format!("{url} names no host"))?;
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = authority
        .port_u16()
        .unwrap_or(if secure { 443 } else { 80 });
    let path = uri
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
    Ok(Target {
        secure,
        host,
        port,
        authority: authority.as_str().to_owned(),
        path,
    })
}

/// Connects, upgrades and returns the websocket, all within `timeout`.
pub async fn connect(
    url: &str,
    tls: &Arc<ClientConfig>,
    config: WebSocketConfig,
    timeout: Duration,
) -> Result<DevicesSocket, String> {
    tokio::time::timeout(timeout, connect_now(url, tls, config))
        .await
        .map_err(|_| format!("no answer from Devices at {url} within {timeout:?}"))?
        .map_err(|e| format!("cannot connect to Devices at {url}: {e}"))
}

async fn connect_now(
    url: &str,
    tls: &Arc<ClientConfig>,
    config: WebSocketConfig,
) -> Result<DevicesSocket, String> {
    let target = target(url)?;
    let tcp = TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|e| e.to_string())?;
    // Frames are small and answered at once: no Nagle delay.
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    let upgraded = if target.secure {
        let name = ServerName::try_from(target.host.clone())
            .map_err(|e| format!("{} is not a TLS server name: {e}", target.host))?;
        let stream = tokio_rustls::TlsConnector::from(Arc::clone(tls))
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        upgrade(stream, &target).await?
    } else {
        upgrade(tcp, &target).await?
    };
    Ok(WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Client, Some(config)).await)
}

/// The HTTP/1.1 upgrade (RFC 6455 section 4.1), checking the answer as a client must.
async fn upgrade<S>(io: S, target: &Target) -> Result<hyper::upgrade::Upgraded, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let key = generate_key();
    let request = Request::get(target.path.as_str())
        .header(header::HOST, target.authority.as_str())
        .header(header::UPGRADE, "websocket")
        .header(header::CONNECTION, "Upgrade")
        .header(header::SEC_WEBSOCKET_KEY, key.as_str())
        .header(header::SEC_WEBSOCKET_VERSION, "13")
        .body(Body::empty())
        .map_err(|e| e.to_string())?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| e.to_string())?;
    // The connection runs beside the request. With a 101 it hands its socket (and any bytes
    // read past the answer) over and ends, possibly before the request sees its answer.
    let connection = connection.with_upgrades();
    tokio::pin!(connection);
    let mut connection_ended = false;
    let request = sender.send_request(request);
    tokio::pin!(request);
    let response = loop {
        tokio::select! {
            response = &mut request => break response.map_err(|e| e.to_string())?,
            ended = &mut connection, if !connection_ended => {
                ended.map_err(|e| e.to_string())?;
                connection_ended = true;
            }
        }
    };
    check_answer(&response, &key)?;
    let upgraded = if connection_ended {
        hyper::upgrade::on(response).await
    } else {
        let (upgraded, ended) = tokio::join!(hyper::upgrade::on(response), &mut connection);
        ended.map_err(|e| e.to_string())?;
        upgraded
    };
    upgraded.map_err(|e| e.to_string())
}

fn check_answer<B>(response: &hyper::Response<B>, key: &str) -> Result<(), String> {
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        return Err(format!(
            "answered HTTP {} instead of switching to a websocket",
            response.status()
        ));
    }
    let headers = response.headers();
    let has = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|value| {
            value
                .to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    if !has(header::UPGRADE, "websocket") {
        return Err("the answer lacks `Upgrade: websocket`".into());
    }
    if !has(header::CONNECTION, "upgrade") {
        return Err("the answer lacks `Connection: Upgrade`".into());
    }
    let expected = derive_accept_key(key.as_bytes());
    if headers.get(header::SEC_WEBSOCKET_ACCEPT) != HeaderValue::from_str(&expected).ok().as_ref() {
        return Err("the answer's Sec-WebSocket-Accept does not match our key".into());
    }
    // We asked for no extension and no subprotocol; one we did not ask for cannot be spoken.
    if headers.contains_key(header::SEC_WEBSOCKET_EXTENSIONS) {
        return Err("the answer names a websocket extension we did not ask for".into());
    }
    if headers.contains_key(header::SEC_WEBSOCKET_PROTOCOL) {
        return Err("the answer names a subprotocol we did not ask for".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(pairs: &[(&str, &str)]) -> hyper::Response<()> {
        let mut builder = hyper::Response::builder().status(StatusCode::SWITCHING_PROTOCOLS);
        for (name, value) in pairs {
            builder = builder.header(*name, *value);
        }
        builder.body(()).expect("response")
    }

    // RFC 6455 section 1.3's example: this key is answered with this accept value.
    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
    const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

    #[test]
    fn the_rfc_example_answer_is_accepted_and_each_missing_part_refused() {
        let good = [
            ("upgrade", "WebSocket"),
            ("connection", "keep-alive, Upgrade"),
            ("sec-websocket-accept", ACCEPT),
        ];
        assert_eq!(check_answer(&answer(&good), KEY), Ok(()));
        for missing in 0..good.len() {
            let partial: Vec<_> = good
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != missing)
                .map(|(_, p)| *p)
                .collect();
            assert!(check_answer(&answer(&partial), KEY).is_err(), "{partial:?}");
        }
        let wrong_accept = [good[0], good[1], ("sec-websocket-accept", KEY)];
        assert!(check_answer(&answer(&wrong_accept), KEY).is_err());
        let extension = [good[0], good[1], good[2], ("sec-websocket-extensions", "x")];
        assert!(check_answer(&answer(&extension), KEY).is_err());
        let not_switched = hyper::Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(())
            .expect("response");
        let e = check_answer(&not_switched, KEY).expect_err("404");
        assert!(e.contains("404"), "{e}");
    }

    /// Against tungstenite's own server side: the upgrade, then frames both ways, with a frame
    /// the server sends before it reads anything (it must not be lost in the handshake).
    #[tokio::test]
    async fn frames_flow_both_ways_after_the_upgrade() {
        use futures::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::Message;

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.expect("accept");
            let mut ws = tokio_tungstenite::accept_async(tcp)
                .await
                .expect("accept ws");
            ws.send(Message::Binary(vec![1, 2, 3].into()))
                .await
                .expect("greet");
            while let Some(Ok(message)) = ws.next().await {
                if let Message::Binary(bytes) = message {
                    ws.send(Message::Binary(bytes)).await.expect("echo");
                }
            }
        });
        let tls = crate::app_service::devices_tls::client_config(None).expect("tls");
        let config = WebSocketConfig::default().read_buffer_size(512);
        let mut socket = connect(
            &format!("ws://127.0.0.1:{port}/dom/devices/sysclients"),
            &tls,
            config,
            Duration::from_secs(5),
        )
        .await
        .expect("connect");
        let first = socket.next().await.expect("a frame").expect("readable");
        assert_eq!(first, Message::Binary(vec![1, 2, 3].into()));
        socket
            .send(Message::Binary(vec![9; 3000].into()))
            .await
            .expect("send");
        let echoed = socket.next().await.expect("a frame").expect("readable");
        assert_eq!(echoed, Message::Binary(vec![9; 3000].into()));
        socket.close(None).await.expect("close");
        server.await.expect("server");
    }

    #[test]
    fn urls_name_scheme_host_port_and_path() {
        let t = target("wss://[::1]:8443/dom/devices/sysclients?x=1").expect("url");
        assert!(t.secure);
        assert_eq!((t.host.as_str(), t.port), ("::1", 8443));
        assert_eq!(t.authority, "[::1]:8443");
        assert_eq!(t.path, "/dom/devices/sysclients?x=1");
        let t = target("ws://ap.example.com/sysclients").expect("url");
        assert_eq!((t.secure, t.port), (false, 80));
        assert!(target("http://ap.example.com/").is_err());
    }
}
