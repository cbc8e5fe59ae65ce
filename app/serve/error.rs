//! The errors the server answers with, in OpenAI's shape
//! (`{"error": {"message", "type", "param", "code"}}`), so any OpenAI client shows the message.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;

/// A refused or failed request: its status and a message that says what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    /// OpenAI's error type, e.g. `invalid_request_error`.
    pub kind: &'static str,
    pub message: String,
    /// The request field at fault, where there is one (`messages[0].content[1]`).
    pub param: Option<String>,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
            param: None,
        }
    }

    /// 400: the request cannot be answered as it is.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
    }

    /// 400 about one field of the request.
    pub fn bad_field(param: impl Into<String>, message: impl std::fmt::Display) -> Self {
        let param = param.into();
        Self {
            message: format!("{param}: {message}"),
            param: Some(param),
            ..Self::bad_request("")
        }
    }

    /// 401: the server has an API key and the request did not give it.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "authentication_error", message)
    }

    /// 403: a local path outside the media roots.
    pub fn forbidden(param: impl Into<String>, message: impl std::fmt::Display) -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            kind: "permission_error",
            ..Self::bad_field(param, message)
        }
    }

    /// 404: an unknown route or model.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found_error", message)
    }

    /// 429: every place in the queue is taken.
    pub fn queue_full(capacity: usize) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            format!(
                "the server is busy: the queue is full ({capacity} requests waiting); retry later"
            ),
        )
    }

    /// 500: the model failed while answering.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", message)
    }

    /// 503: the model worker is gone (the server is shutting down).
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            message,
        )
    }

    /// The JSON body (also sent as an event when a stream fails after it started).
    pub fn body(&self) -> serde_json::Value {
        json!({
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.status.as_u16(),
            }
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}
