//! What browser applications and operators need around the API: an index page at `/`,
//! CORS for configured origins, and an access log (target `verity_node::access`).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};

use crate::state::AppState;

/// `GET /`: a short page naming the node and linking the API document.
pub async fn index(State(st): State<Arc<AppState>>) -> Html<String> {
    let executor = &st.executor;
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Verity node</title></head><body>\
         <h1>Verity node</h1><p>Verifiable inference: every answer carries a receipt or a proof.</p>\
         <p>Executor <code>{executor}</code>, version {}.</p><ul>\
         <li><a href=\"/openapi.json\">/openapi.json</a> — the API (OpenAPI 3.1)</li>\
         <li><a href=\"/v1/info\">/v1/info</a> — executor and limits</li>\
         <li><a href=\"/v1/models\">/v1/models</a> — published models</li>\
         <li><a href=\"/health\">/health</a>, <a href=\"/metrics\">/metrics</a></li></ul></body></html>",
        env!("CARGO_PKG_VERSION")
    ))
}

/// CORS: a request whose `Origin` is allowed (`*` allows any) gets
/// `Access-Control-Allow-Origin`; a preflight (`OPTIONS` with
/// `Access-Control-Request-Method`) is answered here with 204. Without configured origins
/// no CORS header is ever sent (browsers then refuse cross-origin reads).
pub async fn cors(State(st): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let origins = &st.config.cors_origins;
    let origin = req.headers().get(header::ORIGIN).and_then(|o| o.to_str().ok()).map(str::to_string);
    let allowed = origin.as_deref().filter(|o| origins.iter().any(|a| a == "*" || a == o)).map(|o| {
        if origins.iter().any(|a| a == o) {
            o.to_string()
        } else {
            "*".to_string()
        }
    });
    let preflight = req.method() == Method::OPTIONS && req.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = if preflight && allowed.is_some() {
        let mut r = StatusCode::NO_CONTENT.into_response();
        let h = r.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, OPTIONS"));
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("authorization, content-type"));
        h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
        r
    } else {
        next.run(req).await
    };
    if let Some(a) = allowed.and_then(|a| HeaderValue::from_str(&a).ok()) {
        let h = response.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, a);
        h.insert(header::VARY, HeaderValue::from_static("origin"));
        // What a browser client reads besides the body: the receipt id of a chat answer and
        // the executor of a forwarded one.
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("retry-after, x-verity-receipt-id, x-verity-executed-by"),
        );
    }
    response
}

/// One line per request: method, path, status, milliseconds.
pub async fn access_log(req: Request, next: Next) -> Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let t0 = Instant::now();
    let response = next.run(req).await;
    tracing::info!(
        target: "verity_node::access",
        "{method} {path} {} {:.1}ms",
        response.status().as_u16(),
        t0.elapsed().as_secs_f64() * 1e3
    );
    response
}
