//! Request bodies on both listeners, before any handler sees them: each must arrive whole
//! within a deadline counted from its headers (a body trickled a byte every few seconds would
//! otherwise hold its connection for ever), and the bytes of all bodies being received share
//! one budget (thousands of unfinished uploads would otherwise take the memory).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::time::{Instant, Sleep};

/// Why a request body could not be read. Handlers see it as a body error.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the request body did not arrive within {0:?}")]
    TimedOut(Duration),
    #[error("too many request bodies are being received at once")]
    Busy,
    #[error("reading the request body: {0}")]
    Read(#[from] hyper::Error),
}

impl BodyError {
    /// The [`BodyError`] behind an error from reading a body (e.g. `axum::body::to_bytes`), if
    /// one is.
    pub fn find<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a BodyError> {
        let mut next = Some(error);
        while let Some(e) = next {
            if let Some(found) = e.downcast_ref::<BodyError>() {
                return Some(found);
            }
            next = e.source();
        }
        None
    }
}

/// The bytes of request bodies being received, all connections of both listeners together.
pub struct BodyBudget {
    limit: usize,
    used: AtomicUsize,
}

impl BodyBudget {
    pub fn new(limit: usize) -> Arc<BodyBudget> {
        Arc::new(BodyBudget {
            limit,
            used: AtomicUsize::new(0),
        })
    }

    fn take(&self, n: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(n).filter(|total| *total <= self.limit)
            })
            .is_ok()
    }

    fn give(&self, n: usize) {
        self.used.fetch_sub(n, Ordering::AcqRel);
    }

    #[cfg(test)]
    fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }
}

/// What a request body costs and how long it may take, for one listener.
#[derive(Clone)]
pub struct BodyRules {
    pub budget: Arc<BodyBudget>,
    pub timeout: Duration,
}

impl BodyRules {
    /// `inner` under these rules, its deadline counted from now.
    pub fn guard<B>(&self, inner: B) -> GuardedBody<B> {
        GuardedBody {
            inner,
            deadline: Instant::now() + self.timeout,
            timeout: self.timeout,
            timer: None,
            budget: self.budget.clone(),
            charged: 0,
        }
    }
}

/// The request body every handler reads.
pub type RequestBody = GuardedBody<Incoming>;

/// A request body with a deadline and a share of the budget; the share is given back when the
/// body is dropped (read whole, or abandoned).
pub struct GuardedBody<B> {
    inner: B,
    deadline: Instant,
    timeout: Duration,
    /// Made only when the body makes us wait: most requests have none, or all of it at once.
    timer: Option<Pin<Box<Sleep>>>,
    budget: Arc<BodyBudget>,
    charged: usize,
}

impl<B> Drop for GuardedBody<B> {
    fn drop(&mut self) {
        self.budget.give(self.charged);
    }
}

impl<B> Body for GuardedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    BodyError: From<B::Error>,
{
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let len = frame.data_ref().map_or(0, Bytes::len);
                if !this.budget.take(len) {
                    metrics::counter!("http_request_bodies_refused_total", "why" => "busy")
                        .increment(1);
                    return Poll::Ready(Some(Err(BodyError::Busy)));
                }
                this.charged += len;
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                let deadline = this.deadline;
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if timer.as_mut().poll(cx).is_ready() {
                    metrics::counter!("http_request_bodies_refused_total", "why" => "timeout")
                        .increment(1);
                    return Poll::Ready(Some(Err(BodyError::TimedOut(this.timeout))));
                }
                Poll::Pending
            }
        }
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
    use std::convert::Infallible;

    /// A stand-in for hyper's body in tests: frames from a channel.
    struct Channel(futures::channel::mpsc::Receiver<Bytes>);

    impl Body for Channel {
        type Data = Bytes;
        type Error = Infallible;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            use futures::StreamExt;
            self.0
                .poll_next_unpin(cx)
                .map(|b| b.map(|b| Ok(Frame::data(b))))
        }
    }

    impl From<Infallible> for BodyError {
        fn from(never: Infallible) -> BodyError {
            match never {}
        }
    }

    fn rules(limit: usize, timeout: Duration) -> BodyRules {
        BodyRules {
            budget: BodyBudget::new(limit),
            timeout,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_trickled_body_ends_at_its_deadline_whatever_it_sends() {
        let rules = rules(1 << 20, Duration::from_secs(30));
        let (mut tx, rx) = futures::channel::mpsc::channel(4);
        let body = AxumBody::new(rules.guard(Channel(rx)));
        let started = Instant::now();
        let trickle = tokio::spawn(async move {
            use futures::SinkExt;
            // One byte every 5 s: each would reset a per-frame timeout.
            while tx.send(Bytes::from_static(b"x")).await.is_ok() {
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        });
        let read = axum::body::to_bytes(body, 1 << 20).await;
        let error = read.err().map(|e| e.into_inner());
        let found = error.as_deref().and_then(|e| BodyError::find(e));
        assert!(matches!(found, Some(BodyError::TimedOut(_))), "{error:?}");
        assert!(started.elapsed() >= Duration::from_secs(30));
        assert!(started.elapsed() < Duration::from_secs(36));
        trickle.abort();
    }

    #[tokio::test]
    async fn bodies_share_one_budget_and_give_it_back() {
        let rules = rules(10, Duration::from_secs(30));
        let (mut tx_a, rx_a) = futures::channel::mpsc::channel(4);
        let (mut tx_b, rx_b) = futures::channel::mpsc::channel(4);
        let mut a = rules.guard(Channel(rx_a));
        let mut b = rules.guard(Channel(rx_b));
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        tx_a.try_send(Bytes::from_static(b"12345678")).ok();
        assert!(matches!(
            Pin::new(&mut a).poll_frame(&mut cx),
            Poll::Ready(Some(Ok(_)))
        ));
        assert_eq!(rules.budget.used(), 8);
        tx_b.try_send(Bytes::from_static(b"123")).ok();
        assert!(
            matches!(
                Pin::new(&mut b).poll_frame(&mut cx),
                Poll::Ready(Some(Err(BodyError::Busy)))
            ),
            "8 + 3 is over the budget of 10"
        );
        drop(a);
        assert_eq!(
            rules.budget.used(),
            0,
            "an abandoned body gives its share back"
        );
        tx_b.try_send(Bytes::from_static(b"123")).ok();
        assert!(matches!(
            Pin::new(&mut b).poll_frame(&mut cx),
            Poll::Ready(Some(Ok(_)))
        ));
    }
}
