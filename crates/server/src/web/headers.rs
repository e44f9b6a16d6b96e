//! Security headers on every web UI response: a Content-Security-Policy (scripts and styles
//! only from our own assets, forms only to us, framing per [`frame_ancestors`]) and, while only
//! our own origin may frame the UI, `X-Frame-Options: SAMEORIGIN` for browsers without CSP 2.
//! `nosniff` is set for every response in `app::router`.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::web::state::AppState;

/// Origins allowed to show the UI in a frame, as CSP source expressions: our own, and with the
/// innovaphone integration on, the PBX's (myApps frames its apps): `innovaphone.frame_origins`
/// and `https://<pbxDns>` of each connected PBX (see [`crate::app_service::Innovaphone`]).
pub fn frame_ancestors(state: &AppState) -> Vec<String> {
    let mut list = vec!["'self'".to_owned()];
    if let Some(inn) = &state.innovaphone {
        for origin in inn.frame_origins() {
            if !list.contains(&origin) {
                list.push(origin);
            }
        }
    }
    list
}

/// The policy for UI pages. htmx adds a `<style>` element for its indicators, hence the inline
/// styles; no inline script, no `eval`.
pub fn content_security_policy(frame_ancestors: &[String]) -> String {
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'self'; \
         object-src 'none'; frame-ancestors {}",
        frame_ancestors.join(" ")
    )
}

/// `X-Frame-Options` can name no other origin, and modern browsers ignore it when the CSP has
/// `frame-ancestors`; send it only while the list is `'self'` alone, so extending the list
/// cannot be undone by it in an old browser.
pub fn x_frame_options(frame_ancestors: &[String]) -> Option<&'static str> {
    (frame_ancestors == ["'self'"]).then_some("SAMEORIGIN")
}

pub async fn add(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let ancestors = frame_ancestors(&state);
    let headers = response.headers_mut();
    if let Ok(csp) = HeaderValue::from_str(&content_security_policy(&ancestors)) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    if let Some(xfo) = x_frame_options(&ancestors) {
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static(xfo));
    }
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// The same headers, but any web origin may frame the response: for the myApps sign-in page
/// only, which must be able to say that its framer is not allowed ([`crate::app_service`]'s
/// `app_page`); everything it leads to is restricted by [`add`].
pub async fn add_frameable_anywhere(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = add(State(state), request, next).await;
    let headers = response.headers_mut();
    let any = ["https:".to_owned(), "http:".to_owned()];
    if let Ok(csp) = HeaderValue::from_str(&content_security_policy(&any)) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    headers.remove(header::X_FRAME_OPTIONS);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_policy_follows_the_list() {
        let own = vec!["'self'".to_owned()];
        assert!(content_security_policy(&own).ends_with("frame-ancestors 'self'"));
        assert_eq!(x_frame_options(&own), Some("SAMEORIGIN"));
        let with_pbx = vec!["'self'".to_owned(), "https://pbx.example.com".to_owned()];
        assert!(
            content_security_policy(&with_pbx)
                .ends_with("frame-ancestors 'self' https://pbx.example.com")
        );
        assert_eq!(x_frame_options(&with_pbx), None, "XFO would block the PBX");
    }
}
