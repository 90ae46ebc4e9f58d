//! The one error type handlers return: a status and a message, sent as `{"error": "..."}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use verity_exec::api::ErrorBody;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

/// Longest error message sent, in bytes. Messages quote what was wrong, and what was wrong
/// can be most of a 32 MiB request (an input with 300,000 names, say); the quote is cut so
/// that an error never costs more than the request that caused it.
pub const MAX_ERROR_LEN: usize = 1024;

/// `message` cut to at most [`MAX_ERROR_LEN`] bytes (at a character boundary), saying how
/// much was left out.
fn bounded(mut message: String) -> String {
    if message.len() > MAX_ERROR_LEN {
        let mut cut = MAX_ERROR_LEN - 40;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        let omitted = message.len() - cut;
        message.truncate(cut);
        message.push_str(&format!("… ({omitted} more bytes omitted)"));
    }
    message
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError { status, message: bounded(message.into()) }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// Something on the node's side failed (disk, a corrupted blob, a bug). The details go
    /// to the log; the client gets a short message.
    pub fn internal(context: &str, err: impl std::fmt::Display) -> Self {
        tracing::error!("{context}: {err}");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, format!("internal error: {context}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, Json(ErrorBody { error: self.message })).into_response();
        if matches!(self.status, StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS) {
            // Compute slots free up within milliseconds for the models served today; one
            // second keeps retrying clients from spinning.
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        r
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_are_cut_at_a_character_boundary() {
        let short = ApiError::bad_request("x".repeat(MAX_ERROR_LEN));
        assert_eq!(short.message.len(), MAX_ERROR_LEN);
        let long = ApiError::bad_request(format!("names: {}", "é".repeat(1_000_000)));
        assert!(long.message.len() <= MAX_ERROR_LEN, "{}", long.message.len());
        assert!(long.message.starts_with("names: é") && long.message.ends_with("more bytes omitted)"), "{}", long.message);
    }
}
