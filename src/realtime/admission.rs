//! Admission of new Engine.IO sessions, before socketioxide allocates anything for them: the
//! `Origin` check and the per-address handshake rate.
//!
//! A request to `/socket.io/` without a `sid` opens a session (a polling handshake or a direct
//! WebSocket). Browsers attach `Origin` to both, and a WebSocket is not covered by CORS, so
//! without this check any web page could open sessions with its visitors' cookies-free but
//! address-bound budget; the check follows `MISSIVE_CORS_ORIGINS` like the REST API's CORS.
//! Clients that send no `Origin` (native apps, Node) are not browsers and pass.

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::app::App;
use crate::delivery::conn::ConnInfo;

/// Middleware in front of Socket.IO (see the module docs).
pub async fn admit(State(app): State<App>, req: Request, next: Next) -> Response {
    if !req.uri().path().starts_with("/socket.io/") || !opens_session(req.uri().query()) {
        return next.run(req).await;
    }
    if !origin_allowed(req.headers(), app.config.cors_origins.as_deref()) {
        metrics::counter!("missive_handshakes_refused_total", "reason" => "origin").increment(1);
        return (
            StatusCode::FORBIDDEN,
            axum::Json(serde_json::json!({"code": 4, "message": "Origin not allowed"})),
        )
            .into_response();
    }
    if let (Some(limiter), Some(ConnectInfo(info))) = (
        &app.handshake_limiter,
        req.extensions().get::<ConnectInfo<ConnInfo>>(),
    ) && let Err(e) = limiter.check(info.peer.ip())
    {
        metrics::counter!("missive_handshakes_refused_total", "reason" => "rate").increment(1);
        return e.into_response();
    }
    next.run(req).await
}

/// Whether an Engine.IO request opens a new session (it names none).
fn opens_session(query: Option<&str>) -> bool {
    !query
        .unwrap_or_default()
        .split('&')
        .any(|pair| pair.starts_with("sid="))
}

/// No `Origin`: not a browser. Otherwise the origin must be this server's own (its host is the
/// request's `Host`), or listed in `MISSIVE_CORS_ORIGINS`, or that list must be `*`.
fn origin_allowed(headers: &HeaderMap, allowed: Option<&str>) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return headers.get(header::ORIGIN).is_none();
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin_host = origin.split_once("://").map(|(_, rest)| rest);
    if host.is_some() && origin_host == host {
        return true;
    }
    match allowed.map(str::trim) {
        None | Some("") => false,
        Some("*") => true,
        Some(list) => list
            .split(',')
            .any(|o| o.trim().eq_ignore_ascii_case(origin)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, host.parse().unwrap());
        if let Some(o) = origin {
            h.insert(header::ORIGIN, o.parse().unwrap());
        }
        h
    }

    #[test]
    fn a_handshake_origin_must_be_the_server_itself_or_listed() {
        let same = headers(Some("http://chat.example:4000"), "chat.example:4000");
        let evil = headers(Some("https://evil.example"), "chat.example:4000");
        let none = headers(None, "chat.example:4000");
        assert!(origin_allowed(&same, None));
        assert!(origin_allowed(&none, None));
        assert!(!origin_allowed(&evil, None));
        assert!(!origin_allowed(&evil, Some("https://app.example")));
        assert!(origin_allowed(
            &evil,
            Some("https://app.example, https://evil.example")
        ));
        assert!(origin_allowed(&evil, Some("*")));
    }

    #[test]
    fn only_a_request_without_a_sid_opens_a_session() {
        assert!(opens_session(Some("EIO=4&transport=polling")));
        assert!(opens_session(None));
        assert!(!opens_session(Some("EIO=4&transport=polling&sid=abc")));
    }
}
