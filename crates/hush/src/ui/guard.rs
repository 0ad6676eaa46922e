//! Who may use the app. It listens on loopback, but any web page the person visits can make
//! their browser send requests there, and a DNS name can be pointed at 127.0.0.1; so:
//! - a request must name the app's own address in `Host` (a rebound DNS name is refused);
//! - a request from another origin is refused (`Origin`, `Sec-Fetch-Site`);
//! - a request needs the session cookie, which only the one-time URL printed by `hush ui`
//!   gives (`HttpOnly`, `SameSite=Strict`);
//! - a change also needs the CSRF token, which only a page of this origin can read;
//! - every answer carries a strict Content-Security-Policy: the page loads nothing but the
//!   binary's own files.
//!
//! Secrets are compared in constant time.

use std::sync::Mutex;

use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use subtle::ConstantTimeEq as _;

use super::{Shared, UiError};

/// The session cookie's name, before the port: cookies are kept per host, not per port,
/// so each app on 127.0.0.1 (the demo runs three) names its own.
const COOKIE: &str = "hush_session_";
/// The header a change must carry.
pub(crate) const CSRF_HEADER: &str = "x-hush-csrf";

/// The page may load only the binary's own script, style and images.
pub(crate) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
connect-src 'self'; media-src 'self' blob:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The secrets of one run of `hush ui`.
pub(crate) struct Keys {
    /// The one-time token of the printed URL, until used.
    token: Mutex<Option<String>>,
    /// The session cookie's value.
    session: String,
    /// The CSRF token.
    pub(crate) csrf: String,
}

fn random_hex() -> String {
    let mut b = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut b);
    hex::encode(b)
}

impl Keys {
    pub(crate) fn generate() -> Keys {
        Keys { token: Mutex::new(Some(random_hex())), session: random_hex(), csrf: random_hex() }
    }

    /// The one-time token (empty once used).
    pub(crate) fn token(&self) -> String {
        self.token.lock().map(|t| t.clone().unwrap_or_default()).unwrap_or_default()
    }

    fn has_session(&self, headers: &HeaderMap, port: u16) -> bool {
        let name = format!("{COOKIE}{port}");
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|kv| kv.trim().split_once('='))
            .any(|(k, v)| k == name && bool::from(v.as_bytes().ct_eq(self.session.as_bytes())))
    }
}

/// The addresses a request may name in `Host`: the one listened on, and `localhost` with
/// its port.
fn host_allowed(ui: &Shared, headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else { return false };
    host == ui.addr.to_string() || host == format!("localhost:{}", ui.addr.port())
}

fn origin_allowed(ui: &Shared, headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && matches!(site, "cross-site" | "same-site")
    {
        return false;
    }
    match headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        None => true,
        Some(o) => o == format!("http://{}", ui.addr) || o == format!("http://localhost:{}", ui.addr.port()),
    }
}

/// Runs before every route.
pub(crate) async fn check(State(ui): State<Shared>, req: Request, next: Next) -> Response {
    let headers = req.headers();
    let refusal = if !host_allowed(&ui, headers) {
        Some(UiError::forbidden(format!(
            "this app answers only to http://{}; a request naming another host (a DNS rebinding attempt?) is refused",
            ui.addr
        )))
    } else if !origin_allowed(&ui, headers) {
        Some(UiError::forbidden("requests from other web sites are refused"))
    } else if req.uri().path() == "/session" {
        None
    } else if !ui.guard.has_session(headers, ui.addr.port()) {
        Some(UiError::session())
    } else if !matches!(*req.method(), Method::GET | Method::HEAD)
        && !headers
            .get(CSRF_HEADER)
            .is_some_and(|v| bool::from(v.as_bytes().ct_eq(ui.guard.csrf.as_bytes())))
    {
        Some(UiError::forbidden("a change needs the page's CSRF token; reload the app"))
    } else {
        None
    };
    let mut resp = match refusal {
        Some(e) => e.into_response(),
        None => next.run(req).await,
    };
    let h = resp.headers_mut();
    for (k, v) in [
        ("content-security-policy", CSP),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("cross-origin-opener-policy", "same-origin"),
        ("cross-origin-resource-policy", "same-origin"),
    ] {
        h.insert(k, HeaderValue::from_static(v));
    }
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// The query of the one-time URL.
#[derive(serde::Deserialize)]
pub(crate) struct TokenQuery {
    token: String,
}

/// `GET /session?token=T`: the one-time token becomes the session cookie.
pub(crate) async fn exchange(State(ui): State<Shared>, headers: HeaderMap, Query(q): Query<TokenQuery>) -> Response {
    if ui.guard.has_session(&headers, ui.addr.port()) {
        return Redirect::to("/").into_response();
    }
    let accepted = match ui.guard.token.lock() {
        Ok(mut t) => {
            let ok = t.as_ref().is_some_and(|t| bool::from(t.as_bytes().ct_eq(q.token.as_bytes())));
            if ok {
                *t = None;
            }
            ok
        }
        Err(_) => false,
    };
    if !accepted {
        return UiError::new(
            StatusCode::UNAUTHORIZED,
            "session",
            "this address was already used, or is not the one hush ui printed; start hush ui again for a new one",
        )
        .into_response();
    }
    let cookie = format!("{COOKIE}{}={}; HttpOnly; SameSite=Strict; Path=/", ui.addr.port(), ui.guard.session);
    let mut resp = Redirect::to("/").into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}
