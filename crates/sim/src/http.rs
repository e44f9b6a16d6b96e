//! One logical request as a phone makes it: User-Agent always, the held Digest nonce sent
//! up front when there is one, and on a 401 one retry with fresh credentials.

use std::sync::{Mutex, MutexGuard, PoisonError};

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use reqwest::{Client, Method};
use url::Url;

use crate::SimError;
use crate::auth::{AuthScheme, AuthState, read_challenges};

/// One HTTP exchange on the wire (a logical request is one or two of these).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Exchange {
    pub status: u16,
    pub bytes: usize,
    pub auth: Option<AuthScheme>,
}

/// The result of a logical request: every exchange, and the final status and body.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub exchanges: Vec<Exchange>,
    pub status: u16,
    pub body: Vec<u8>,
}

/// A client the way a phone uses one: no proxy, no redirects (a provisioning server should
/// not redirect; showing the 3xx is more useful), bounded time.
pub(crate) fn default_client(pool_per_host: usize) -> Result<Client, SimError> {
    Ok(Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(std::time::Duration::from_secs(10))
        .timeout(std::time::Duration::from_secs(30))
        .pool_max_idle_per_host(pool_per_host)
        .tcp_nodelay(true)
        .build()?)
}

pub(crate) fn lock(state: &Mutex<AuthState>) -> MutexGuard<'_, AuthState> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The request-target the Digest `uri` must match: path and query, as sent.
fn request_uri(url: &Url) -> String {
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    }
}

/// Sends `method url` with the phone's User-Agent and authentication.
pub(crate) async fn send(
    client: &Client,
    auth: &Mutex<AuthState>,
    method: Method,
    url: &Url,
    user_agent: &str,
    body: Option<&str>,
    file: &str,
) -> Result<Outcome, SimError> {
    let uri = request_uri(url);
    let https = url.scheme() == "https";
    let mut authorization = lock(auth).preemptive(method.as_str(), &uri);
    let mut exchanges = Vec::with_capacity(2);
    loop {
        let mut request = client
            .request(method.clone(), url.clone())
            .header(USER_AGENT, user_agent);
        if let Some((_, value)) = &authorization {
            request = request.header(AUTHORIZATION, value);
        }
        if let Some(body) = body {
            request = request
                .header(CONTENT_TYPE, "text/plain")
                .body(body.to_owned());
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let challenges = (status == 401).then(|| read_challenges(response.headers()));
        let bytes = Vec::from(response.bytes().await?);
        exchanges.push(Exchange {
            status,
            bytes: bytes.len(),
            auth: authorization.as_ref().map(|(scheme, _)| *scheme),
        });
        // Retry once only: a second 401 is the answer.
        let retry = match challenges {
            Some(challenges) if exchanges.len() == 1 => lock(auth)
                .answer(challenges, method.as_str(), &uri, https)
                .map_err(|reason| SimError::BadChallenge {
                    file: file.to_owned(),
                    reason,
                })?,
            _ => None,
        };
        match retry {
            Some(next) => authorization = Some(next),
            None => {
                return Ok(Outcome {
                    exchanges,
                    status,
                    body: bytes,
                });
            }
        }
    }
}
