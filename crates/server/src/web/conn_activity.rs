//! Whether a connection is still worth its place: what its requests, responses and tunnels
//! are doing, so the listener can close a connection that sits idle (an HTTP/2 connection
//! that sent its preface and nothing more, or keeps itself open with PINGs) or whose client
//! stopped taking its response (HTTP/2 flow control held at zero, a socket never read).
//!
//! hyper has a deadline for HTTP/1 request heads only; this covers the other stages.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::time::Instant;

/// Why a connection's watchdog ended it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unused {
    /// No request, response or tunnel for the idle time.
    Idle,
    /// A response waited for the client to take it for the stall time.
    Stalled,
}

/// One connection's activity, shared by its requests and its watchdog.
pub struct Activity {
    born: Instant,
    /// Requests being answered, response bodies being sent, WebSocket tunnels open.
    in_use: AtomicUsize,
    /// Milliseconds after `born` when `in_use` last fell to zero.
    idle_since: AtomicU64,
    /// Response bodies whose next move is the client's (hyper holds a frame it cannot send, or
    /// has not asked for the first one for want of flow-control credit).
    waiting_on_client: AtomicUsize,
    /// Milliseconds after `born` when a response body last moved.
    moved: AtomicU64,
}

impl Activity {
    pub fn new() -> Arc<Activity> {
        Arc::new(Activity {
            born: Instant::now(),
            in_use: AtomicUsize::new(0),
            idle_since: AtomicU64::new(0),
            waiting_on_client: AtomicUsize::new(0),
            moved: AtomicU64::new(0),
        })
    }

    /// Marks the connection in use until the returned guard is dropped.
    pub fn in_use(self: &Arc<Activity>) -> InUse {
        self.in_use.fetch_add(1, Ordering::AcqRel);
        InUse(self.clone())
    }

    /// Completes once the connection sat unused for `idle`, or a response waited on the client
    /// for `stall`.
    pub async fn unused(&self, idle: Duration, stall: Duration) -> Unused {
        loop {
            let now = Instant::now();
            let mut next = now + idle.min(stall);
            if self.in_use.load(Ordering::Acquire) == 0 {
                let due = self.at(&self.idle_since) + idle;
                if now >= due {
                    return Unused::Idle;
                }
                next = due;
            } else if self.waiting_on_client.load(Ordering::Acquire) > 0 {
                let due = self.at(&self.moved) + stall;
                if now >= due {
                    return Unused::Stalled;
                }
                next = next.min(due);
            }
            tokio::time::sleep_until(next).await;
        }
    }

    fn at(&self, stamp: &AtomicU64) -> Instant {
        self.born + Duration::from_millis(stamp.load(Ordering::Acquire))
    }

    fn stamp(&self, stamp: &AtomicU64) {
        let ms = u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX);
        stamp.store(ms, Ordering::Release);
    }
}

/// Keeps its connection in use (a request, a response body, a WebSocket tunnel).
pub struct InUse(Arc<Activity>);

impl InUse {
    /// The connection this guard belongs to.
    pub fn activity(&self) -> &Arc<Activity> {
        &self.0
    }
}

impl Drop for InUse {
    fn drop(&mut self) {
        if self.0.in_use.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.stamp(&self.0.idle_since);
        }
    }
}

/// A response body that keeps its connection in use until it is sent (or dropped), and tells
/// the connection when it waits on the client.
pub struct Tracked<B> {
    inner: B,
    in_use: InUse,
    waiting: bool,
}

impl<B> Tracked<B> {
    /// `in_use` is the request's guard; it now lives as long as the body.
    pub fn new(inner: B, in_use: InUse) -> Tracked<B> {
        let mut tracked = Tracked {
            inner,
            in_use,
            waiting: false,
        };
        // Handed to hyper: from now on it is hyper's (and so the client's) move.
        tracked.set_waiting(true);
        tracked
    }

    fn set_waiting(&mut self, waiting: bool) {
        let activity = self.in_use.activity();
        if waiting != self.waiting {
            if waiting {
                activity.waiting_on_client.fetch_add(1, Ordering::AcqRel);
            } else {
                activity.waiting_on_client.fetch_sub(1, Ordering::AcqRel);
            }
            self.waiting = waiting;
        }
        activity.stamp(&activity.moved);
    }
}

impl<B> Drop for Tracked<B> {
    fn drop(&mut self) {
        if self.waiting {
            self.in_use
                .activity()
                .waiting_on_client
                .fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl<B> Body for Tracked<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            // A frame given to hyper: sending it is up to the client now.
            Poll::Ready(Some(Ok(_))) => this.set_waiting(true),
            // Our side has nothing yet (an event stream between events), or the body ended.
            Poll::Pending | Poll::Ready(_) => this.set_waiting(false),
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body as AxumBody;

    #[tokio::test(start_paused = true)]
    async fn an_unused_connection_is_idle_after_the_idle_time() {
        let activity = Activity::new();
        let idle = Duration::from_secs(15);
        let started = tokio::time::Instant::now();
        assert_eq!(
            activity.unused(idle, Duration::from_secs(30)).await,
            Unused::Idle
        );
        assert!(started.elapsed() >= idle);
    }

    #[tokio::test]
    async fn a_body_that_waits_on_our_side_is_not_a_stalled_client() {
        let activity = Activity::new();
        let (tx, rx) = futures::channel::mpsc::channel::<Result<Bytes, std::io::Error>>(1);
        let body = AxumBody::from_stream(rx);
        let mut tracked = Tracked::new(body, activity.in_use());
        assert_eq!(activity.waiting_on_client.load(Ordering::Acquire), 1);
        // Polled with nothing to give (an event stream between events): our move, not theirs.
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(Pin::new(&mut tracked).poll_frame(&mut cx).is_pending());
        assert_eq!(activity.waiting_on_client.load(Ordering::Acquire), 0);
        drop(tx);
        drop(tracked);
        assert_eq!(activity.in_use.load(Ordering::Acquire), 0);
    }

    #[tokio::test]
    async fn a_sent_body_frees_the_connection() {
        let activity = Activity::new();
        let tracked = Tracked::new(AxumBody::from("ok"), activity.in_use());
        assert_eq!(activity.in_use.load(Ordering::Acquire), 1);
        let collected = axum::body::to_bytes(AxumBody::new(tracked), 16).await;
        assert_eq!(collected.ok(), Some(Bytes::from_static(b"ok")));
        assert_eq!(activity.in_use.load(Ordering::Acquire), 0);
        assert_eq!(activity.waiting_on_client.load(Ordering::Acquire), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_the_client_does_not_take_stalls_the_connection() {
        let activity = Activity::new();
        // Handed to hyper and never polled (HTTP/2 flow-control window held at zero).
        let _tracked = Tracked::new(AxumBody::from("x"), activity.in_use());
        let stall = Duration::from_secs(30);
        assert_eq!(
            activity.unused(Duration::from_secs(15), stall).await,
            Unused::Stalled
        );
    }
}
