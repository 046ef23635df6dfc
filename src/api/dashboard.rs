//! The live dashboard: one page, its stylesheet, script and icon, embedded in the binary
//! (plain HTML/CSS/JS in `dashboard/`, no build step) and served **without** the token: they
//! hold no data. The page asks for the token once and sends it with every data request.
//!
//! Routes: `GET /`, and under `/assets/`: `dashboard.css`, `dashboard.js` (the page's module:
//! token, fetching, the event stream), `sse.js` (the stream parser), `format.js` (amounts,
//! times, element building), `view.js` (drawing the sections), `charts.js` (the activity chart
//! and the liquidity picture, as SVG), `favicon.svg`. Every answer carries a self-only Content-Security-Policy, and an
//! `ETag` with `Cache-Control: no-cache`: browsers revalidate each load (a `304` when the
//! binary, hence the asset, did not change), so an upgraded node never runs a stale script.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::error::Error;

/// Only this origin's scripts, styles, images and connections; no inline code, no framing,
/// no form posting anywhere (the token form is handled by the script).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// One embedded file.
#[derive(Clone, Copy)]
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static str,
    /// A hash of `body`, made at compile time: the `ETag`.
    etag: u64,
}

const fn asset(path: &'static str, content_type: &'static str, body: &'static str) -> Asset {
    Asset {
        path,
        content_type,
        body,
        etag: fnv1a(body.as_bytes()),
    }
}

const ASSETS: [Asset; 8] = [
    asset(
        "/",
        "text/html; charset=utf-8",
        include_str!("dashboard/index.html"),
    ),
    asset(
        "/assets/dashboard.css",
        "text/css; charset=utf-8",
        include_str!("dashboard/dashboard.css"),
    ),
    asset(
        "/assets/dashboard.js",
        "text/javascript; charset=utf-8",
        include_str!("dashboard/dashboard.js"),
    ),
    asset(
        "/assets/sse.js",
        "text/javascript; charset=utf-8",
        include_str!("dashboard/sse.js"),
    ),
    asset(
        "/assets/format.js",
        "text/javascript; charset=utf-8",
        include_str!("dashboard/format.js"),
    ),
    asset(
        "/assets/view.js",
        "text/javascript; charset=utf-8",
        include_str!("dashboard/view.js"),
    ),
    asset(
        "/assets/charts.js",
        "text/javascript; charset=utf-8",
        include_str!("dashboard/charts.js"),
    ),
    asset(
        "/assets/favicon.svg",
        "image/svg+xml",
        include_str!("dashboard/favicon.svg"),
    ),
];

/// 64-bit FNV-1a: enough to tell two versions of a file apart, and computable in a `const`.
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    hash
}

/// The dashboard's paths, as [`routes`] serves them: part of [`super::served_paths`], so an
/// asset added here and not described in `openapi.yaml` fails its test.
pub(super) fn paths() -> impl Iterator<Item = &'static str> {
    ASSETS.iter().map(|a| a.path)
}

/// The dashboard's routes, to be merged outside the token check.
pub(super) fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut router = Router::new();
    for a in ASSETS {
        router = router.route(a.path, get(move |headers: HeaderMap| serve(a, headers)));
    }
    router.method_not_allowed_fallback(|| async { Error::MethodNotAllowed })
}

async fn serve(a: Asset, request: HeaderMap) -> Response {
    let etag = format!("\"{:016x}\"", a.etag);
    let fresh = request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == etag || t == "*");
    let mut resp = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, a.content_type)], a.body).into_response()
    };
    let h = resp.headers_mut();
    h.insert(header::ETAG, HeaderValue::from_str(&etag).expect("hex"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_are_distinct_and_reference_each_other() {
        for a in &ASSETS[1..] {
            // Relative links (`assets/x` from the page, `./x` between modules), so the page
            // also works behind a reverse proxy's path prefix.
            let link = a.path.trim_start_matches('/');
            let module = format!("'./{}'", link.trim_start_matches("assets/"));
            let linked = ASSETS
                .iter()
                .any(|b| b.body.contains(&format!("\"{link}\"")) || b.body.contains(&module));
            assert!(linked, "nothing links {link}");
        }
        let mut tags: Vec<u64> = ASSETS.iter().map(|a| a.etag).collect();
        tags.sort_unstable();
        tags.dedup();
        assert_eq!(tags.len(), ASSETS.len());
        assert_ne!(fnv1a(b"a"), fnv1a(b"b"));
    }

    #[test]
    fn the_page_has_no_inline_code_and_no_outside_resources() {
        for a in &ASSETS {
            let body = a.body.to_lowercase();
            for bad in [
                "http://",
                "https://",
                "//cdn",
                "@import",
                "innerhtml",
                "eval(",
            ] {
                // The SVG's XML namespace is a name, not something fetched.
                if a.path.ends_with(".svg") && bad == "http://" {
                    continue;
                }
                assert!(!body.contains(bad), "{} contains {bad:?}", a.path);
            }
        }
        let page = ASSETS[0].body;
        assert!(
            !page.contains(" style="),
            "no inline style attributes (CSP)"
        );
        let handler = page.match_indices(" on").any(|(i, _)| {
            let name: String = page[i + 3..]
                .chars()
                .take_while(char::is_ascii_lowercase)
                .collect();
            !name.is_empty() && page[i + 3 + name.len()..].starts_with('=')
        });
        assert!(!handler, "no inline event handlers (CSP)");
        for (i, _) in page.match_indices("<script") {
            let tag = &page[i..i + page[i..].find('>').expect("a closed tag")];
            assert!(tag.contains(" src="), "no inline scripts (CSP): {tag}");
        }
    }
}
