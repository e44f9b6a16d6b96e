//! `/ui/events`: server-sent events for live updates. Each event names a device whose phone
//! request was just recorded, by this instance or (PostgreSQL `LISTEN/NOTIFY`) any other; the
//! page re-fetches that row (see `assets/live.js`).

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::{Stream, StreamExt, stream};
use tokio::sync::broadcast::error::RecvError;

use super::view::mac_hex;
use crate::web::state::AppState;

pub async fn events(
    State(state): State<AppState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = state.requests.subscribe();
    let feed = stream::unfold(rx, |mut rx| async move {
        let event = match rx.recv().await {
            Ok(Some(mac)) => Event::default().event("device").data(mac_hex(mac)),
            // Fell behind, or the database's feed broke: the page reloads its rows rather
            // than guess what it missed.
            Ok(None) | Err(RecvError::Lagged(_)) => Event::default().event("reload").data(""),
            Err(RecvError::Closed) => return None,
        };
        Some((Ok(event), rx))
    });
    // Ends the stream when the server shuts down, or graceful shutdown would wait for it.
    let feed = feed.take_until(state.requests.closed());
    Sse::new(feed).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
