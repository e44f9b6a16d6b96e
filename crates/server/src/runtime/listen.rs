//! The accept loop of both listeners (HTTP and HTTPS), with the defences `axum::serve` lacks: a
//! cap on open connections (total and per source address, shared by the two listeners), a
//! reserve of connections that serve only the admin side, and a deadline at every stage of a
//! connection: the TLS handshake, the first bytes and the protocol preface (hyper-util reads
//! the HTTP/2 preface without a timer), request heads (hyper's HTTP/1 timer, which also ends idle
//! keep-alive), request bodies ([`crate::web::request_body`]), and a watchdog that closes a
//! connection left unused or whose client stops taking a response ([`crate::web::conn_activity`]).
//! HTTP/2 connections are also pinged, so a vanished peer of a WebSocket tunnel is noticed.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::FutureExt;
use futures::future::Either;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use ipnet::IpNet;
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::phone::http::{PeerCertificates, PhoneEndpoint};
use crate::web::conn_activity::{Activity, Tracked, Unused};
use crate::web::request_body::{BodyRules, RequestBody};
use prov_core::config::Limits;
use prov_core::source::source_key;

/// File descriptors kept free for the database, log files and outgoing calls.
const FD_HEADROOM: usize = 128;
/// How long a shutdown waits for open requests before it stops anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How long a connection closed for being unused may take to say goodbye (HTTP/2 GOAWAY waits
/// for a PING answer a hostile client never sends); it has no request to finish.
const IDLE_CLOSE_GRACE: Duration = Duration::from_secs(1);
/// HTTP/2 PING interval and how long its answer may take: a WebSocket tunnel over HTTP/2 to a
/// peer that vanished would otherwise keep its connection.
const H2_KEEP_ALIVE: Duration = Duration::from_secs(20);
/// The HTTP/2 connection preface (RFC 9113, 3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Path prefixes a reserve connection still serves.
const RESERVE_PATHS: &[&str] = &["/healthz", "/metrics", "/api/", "/ui/"];

/// TLS on a listener: the acceptor and how long a client has to finish the handshake.
#[derive(Clone)]
pub struct Tls {
    pub acceptor: TlsAcceptor,
    pub handshake_timeout: Duration,
}

/// The connection caps in force (after clamping to the open-file limit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionCaps {
    pub max: usize,
    pub reserved: usize,
    pub per_source: usize,
}

impl ConnectionCaps {
    /// The configured caps, lowered so accepting never runs out of file descriptors.
    pub fn from_limits(limits: &Limits) -> ConnectionCaps {
        let mut max = limits.max_connections.max(1);
        if let Some(soft) = open_file_limit() {
            let fit = soft.saturating_sub(FD_HEADROOM).max(16);
            if fit < max {
                tracing::warn!(
                    configured = max,
                    open_file_limit = soft,
                    used = fit,
                    "limits.max_connections lowered to fit the open-file limit (raise `ulimit -n` / LimitNOFILE)"
                );
                max = fit;
            }
        }
        ConnectionCaps {
            max,
            reserved: limits.reserved_connections.min(max / 2),
            per_source: limits.max_connections_per_source.max(1),
        }
    }
}

/// The soft `RLIMIT_NOFILE`, from `/proc/self/limits` (Linux); `None` elsewhere.
fn open_file_limit() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Open connections, in total and per source address; one set for both listeners, as the
/// file descriptors they use are the process's.
#[derive(Clone)]
pub struct Connections {
    caps: ConnectionCaps,
    /// Who may take a reserve place; empty: anyone.
    reserve_sources: Arc<[IpNet]>,
    counts: Arc<Mutex<Counts>>,
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_source: HashMap<IpAddr, usize>,
}

/// One admitted connection; gives its place back when dropped.
pub struct Slot {
    counts: Arc<Mutex<Counts>>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self.counts.lock();
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.per_source.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                c.per_source.remove(&self.ip);
            }
        }
    }
}

impl Connections {
    pub fn new(caps: ConnectionCaps) -> Connections {
        Connections {
            caps,
            reserve_sources: Arc::new([]),
            counts: Arc::default(),
        }
    }

    /// Keeps the reserve for these sources (the administrators' and monitoring's networks).
    pub fn reserve_for(mut self, sources: Vec<IpNet>) -> Connections {
        self.reserve_sources = sources.into();
        self
    }

    /// A place for a connection from `ip`, and whether it is in the reserve; `None`: refuse.
    pub fn admit(&self, ip: IpAddr) -> Option<(Slot, bool)> {
        let source = source_key(ip);
        let mut c = self.counts.lock();
        let from_ip = c.per_source.get(&source).copied().unwrap_or(0);
        if c.total >= self.caps.max || from_ip >= self.caps.per_source {
            return None;
        }
        let reserve = c.total >= self.caps.max - self.caps.reserved;
        if reserve
            && !self.reserve_sources.is_empty()
            && !self
                .reserve_sources
                .iter()
                .any(|net| net.contains(&ip.to_canonical()))
        {
            return None;
        }
        c.total += 1;
        *c.per_source.entry(source).or_insert(0) += 1;
        Some((
            Slot {
                counts: self.counts.clone(),
                ip: source,
            },
            reserve,
        ))
    }
}

/// A TCP stream that holds its [`Slot`]: the place is taken until the socket is closed, also
/// after an upgrade to a WebSocket.
struct Counted {
    stream: TcpStream,
    _slot: Slot,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// Bytes already read from a stream, handed out again before the stream's own.
struct Rewind<S> {
    prefix: Vec<u8>,
    read: usize,
    stream: S,
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewind<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.read < this.prefix.len() {
            let n = buf.remaining().min(this.prefix.len() - this.read);
            buf.put_slice(&this.prefix[this.read..this.read + n]);
            this.read += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.stream).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewind<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// Serves `router` on `listener` (over TLS when `tls` is given) until `shutdown` completes, then
/// lets open requests finish (for at most [`SHUTDOWN_GRACE`]). `connections` may be shared with
/// the other listener.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    phones: PhoneEndpoint,
    shared: Shared,
    limits: &Limits,
    tls: Option<Tls>,
    shutdown: impl Future<Output = ()>,
) {
    let Shared {
        connections,
        bodies,
        sites,
    } = shared;
    let over_tls = tls.is_some();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(limits.header_timeout_secs));
    // As axum::serve: the CONNECT protocol for WebSockets over HTTP/2.
    builder
        .http2()
        .timer(TokioTimer::new())
        .enable_connect_protocol()
        .keep_alive_interval(H2_KEEP_ALIVE)
        .keep_alive_timeout(H2_KEEP_ALIVE);
    // Every connection holds a receiver; the sender's `closed()` says when all have ended.
    let (stopping, stop_signal) = tokio::sync::watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // E.g. EMFILE: back off instead of spinning; established sockets go on.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some((slot, reserve)) = connections.admit(peer.ip()) else {
            metrics::counter!("http_connections_refused_total").increment(1);
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let connection = Connection {
            router: router.clone(),
            phones: phones.clone(),
            sites: sites.clone(),
            over_tls,
            builder: builder.clone(),
            peer,
            reserve,
            header_timeout: Duration::from_secs(limits.header_timeout_secs),
            bodies: bodies.clone(),
            stop: stop_signal.clone(),
        };
        let counted = Counted {
            stream,
            _slot: slot,
        };
        match tls.clone() {
            None => tokio::spawn(connection.plain(counted)),
            Some(tls) => tokio::spawn(connection.tls(counted, tls)),
        };
    }
    drop(listener);
    drop(stop_signal);
    let _ = stopping.send(true);
    if tokio::time::timeout(SHUTDOWN_GRACE * 2, stopping.closed())
        .await
        .is_err()
    {
        tracing::warn!("some connections were still open after {SHUTDOWN_GRACE:?}; stopping");
    }
}

/// What the two listeners share, as the memory and file descriptors are the process's.
#[derive(Clone)]
pub struct Shared {
    pub connections: Connections,
    pub bodies: BodyRules,
    /// The tenants' sites, found by path prefix before the default tenant's handlers.
    pub sites: crate::runtime::sites::Sites,
}

/// One admitted connection, before its protocol runs.
struct Connection {
    router: Router,
    phones: PhoneEndpoint,
    sites: crate::runtime::sites::Sites,
    over_tls: bool,
    builder: auto::Builder<TokioExecutor>,
    peer: SocketAddr,
    reserve: bool,
    header_timeout: Duration,
    bodies: BodyRules,
    /// Turns `true` when the server stops.
    stop: tokio::sync::watch::Receiver<bool>,
}

impl Connection {
    async fn plain(self, mut counted: Counted) {
        let Some(preamble) = read_preamble(&mut counted, self.header_timeout).await else {
            return;
        };
        let io = Rewind {
            prefix: preamble,
            read: 0,
            stream: counted,
        };
        self.http(io, None).await;
    }

    async fn tls(self, counted: Counted, tls: Tls) {
        let mut stream =
            match tokio::time::timeout(tls.handshake_timeout, tls.acceptor.accept(counted)).await {
                Ok(Ok(stream)) => stream,
                // Timed out, or not TLS, or a refused handshake: the client's problem.
                _ => {
                    metrics::counter!("tls_handshakes_failed_total").increment(1);
                    return;
                }
            };
        let certificates = stream
            .get_ref()
            .1
            .peer_certificates()
            .map(|chain| chain.iter().map(|c| c.as_ref().to_vec()).collect())
            .unwrap_or_default();
        let Some(preamble) = read_preamble(&mut stream, self.header_timeout).await else {
            return;
        };
        let io = Rewind {
            prefix: preamble,
            read: 0,
            stream,
        };
        let certificates = PeerCertificates(Arc::new(certificates));
        self.http(io, Some(certificates)).await;
    }

    async fn http<S>(self, io: S, certificates: Option<PeerCertificates>)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Connection {
            router,
            phones,
            sites,
            over_tls,
            builder,
            peer,
            reserve,
            header_timeout,
            bodies,
            mut stop,
        } = self;
        let activity = Activity::new();
        let watched = activity.clone();
        let stall = bodies.timeout;
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let in_use = activity.in_use();
            let tracked = move |response: Response| {
                Ok::<_, std::convert::Infallible>(response.map(|b| Tracked::new(b, in_use)))
            };
            // Decided here, not in a router layer: the connection knows, and every phone
            // request would otherwise pay for a boxed middleware future.
            let mut request = request;
            // A tenant's request goes to its own handlers, without its prefix.
            let (router, phones) = match sites.find(request.uri().path()) {
                Some((site, prefix)) => {
                    let stripped = crate::runtime::sites::strip_prefix(request.uri(), prefix);
                    *request.uri_mut() = stripped;
                    (site.router(over_tls), site.phones(over_tls))
                }
                None => (router.clone(), phones.clone()),
            };
            if reserve && !is_reserve_path(request.uri().path()) {
                return Either::Left(std::future::ready(tracked(shed())));
            }
            let request: hyper::Request<RequestBody> = request.map(|b| bodies.guard(b));
            if PhoneEndpoint::handles(request.uri().path()) {
                let answer = phones.serve(request, peer, certificates.clone());
                return Either::Right(Either::Left(answer.map(tracked)));
            }
            let mut request = request.map(Body::new);
            request.extensions_mut().insert(ConnectInfo(peer));
            // A WebSocket handler keeps the connection in use while its tunnel is open.
            request.extensions_mut().insert(activity.clone());
            if let Some(certificates) = &certificates {
                request.extensions_mut().insert(certificates.clone());
            }
            let answer = router.oneshot(request);
            Either::Right(Either::Right(answer.map(|r| match r {
                Ok(response) => tracked(response),
                Err(never) => match never {},
            })))
        });
        let mut connection =
            std::pin::pin!(builder.serve_connection_with_upgrades(TokioIo::new(io), service));
        let unused = tokio::select! {
            // Errors here are the client's (reset, timeout); nothing to report.
            _ = connection.as_mut() => return,
            unused = watched.unused(header_timeout, stall) => Some(unused),
            _ = stop.wait_for(|stopping| *stopping) => None,
        };
        let grace = match unused {
            Some(Unused::Idle) => {
                metrics::counter!("http_connections_closed_total", "why" => "idle").increment(1);
                IDLE_CLOSE_GRACE
            }
            Some(Unused::Stalled) => {
                // A client that does not take what it asked for gets no grace.
                metrics::counter!("http_connections_closed_total", "why" => "stalled").increment(1);
                return;
            }
            None => SHUTDOWN_GRACE,
        };
        // GOAWAY (HTTP/2) or no more keep-alive (HTTP/1); then closed whatever it does.
        connection.as_mut().graceful_shutdown();
        let _ = tokio::time::timeout(grace, connection).await;
    }
}

/// The first bytes of a connection, read within `timeout`: at least one, and the whole HTTP/2
/// preface when they begin like it, so hyper-util's protocol detection (which has no timer)
/// never waits on the network.
async fn read_preamble<S: AsyncRead + Unpin>(stream: &mut S, timeout: Duration) -> Option<Vec<u8>> {
    let read = async {
        let mut buf = vec![0u8; 1024];
        let mut len = 0;
        loop {
            let n = stream.read(&mut buf[len..]).await.ok()?;
            if n == 0 {
                return None;
            }
            len += n;
            let seen = len.min(H2_PREFACE.len());
            if buf[..seen] != H2_PREFACE[..seen] || len >= H2_PREFACE.len() {
                buf.truncate(len);
                return Some(buf);
            }
        }
    };
    tokio::time::timeout(timeout, read).await.ok().flatten()
}

fn is_reserve_path(path: &str) -> bool {
    RESERVE_PATHS.iter().any(|p| path.starts_with(p))
}

/// On a reserve connection, only the admin side and health are served; phones are told to come
/// back later and the connection is closed, so the reserve stays free for the administrator.
fn shed() -> Response {
    metrics::counter!("http_requests_shed_total").increment(1);
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [
            (header::CONNECTION, HeaderValue::from_static("close")),
            (header::RETRY_AFTER, HeaderValue::from_static("10")),
        ],
        "Service Unavailable: too many connections\n",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_network_shares_one_per_source_share() {
        let connections = Connections::new(ConnectionCaps {
            max: 100,
            per_source: 2,
            reserved: 0,
        });
        let a: IpAddr = "2001:db8:1:2::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().expect("ip");
        let other_net: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        let _one = connections.admit(a).expect("first");
        let _two = connections.admit(b).expect("second, same /64");
        assert!(connections.admit(a).is_none(), "the /64's share is used up");
        assert!(
            connections
                .admit("2001:db8:1:2::77".parse().expect("ip"))
                .is_none()
        );
        assert!(
            connections.admit(other_net).is_some(),
            "another /64 has its own"
        );
        // An IPv4-mapped address is its IPv4 address.
        let v4: IpAddr = [192, 0, 2, 7].into();
        let _v4 = connections.admit(v4).expect("v4");
        let _mapped = connections
            .admit("::ffff:192.0.2.7".parse().expect("ip"))
            .expect("same source, second place");
        assert!(connections.admit(v4).is_none());
    }

    #[test]
    fn caps_total_per_source_and_reserve() {
        let conns = Connections::new(ConnectionCaps {
            max: 4,
            reserved: 1,
            per_source: 2,
        });
        let a: IpAddr = [192, 0, 2, 1].into();
        let b: IpAddr = [192, 0, 2, 2].into();
        let c: IpAddr = [192, 0, 2, 3].into();
        let a1 = conns.admit(a);
        assert!(a1.as_ref().is_some_and(|(_, r)| !r));
        let _a2 = conns.admit(a);
        assert!(conns.admit(a).is_none(), "per-source cap");
        let _b1 = conns.admit(b);
        let b2 = conns.admit(b);
        assert!(
            b2.as_ref().is_some_and(|(_, r)| *r),
            "fourth is in the reserve"
        );
        assert!(conns.admit(c).is_none(), "total cap");
        drop(a1);
        assert!(
            conns.admit(c).is_some(),
            "a closed connection frees its place"
        );
    }

    #[test]
    fn the_reserve_is_only_for_its_sources() {
        let admins: IpNet = "198.51.100.0/24".parse().unwrap();
        let conns = Connections::new(ConnectionCaps {
            max: 3,
            reserved: 1,
            per_source: 3,
        })
        .reserve_for(vec![admins]);
        let flood: IpAddr = [192, 0, 2, 1].into();
        let other: IpAddr = [192, 0, 2, 2].into();
        let _f1 = conns.admit(flood);
        let _f2 = conns.admit(flood);
        assert!(
            conns.admit(flood).is_none(),
            "the flood cannot take the reserve"
        );
        assert!(
            conns.admit(other).is_none(),
            "nor another address outside it"
        );
        let admin = conns.admit([198, 51, 100, 7].into());
        assert!(admin.as_ref().is_some_and(|(_, r)| *r), "the admin gets it");
    }

    #[test]
    fn reads_the_open_file_limit_here() {
        if cfg!(target_os = "linux") {
            assert!(open_file_limit().is_some_and(|n| n > 0));
        }
    }
}
