//! The API's one error type: every refusal is a status and a JSON `detail`.
//! Internal failures are logged with their context and reach the client as
//! an opaque message.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("invalid or missing master key")]
    Unauthorized,
    /// A ticket offered instead of the key (interactive sessions).
    #[error("{0}")]
    Ticket(#[from] crate::tickets::TicketError),
    #[error("requests are only accepted through the configured proxy")]
    Forbidden,
    /// A browser's request (it has an `Origin`) that would run with the
    /// master key a gateway added: a page elsewhere would be running code.
    #[error("{0}")]
    CrossOrigin(&'static str),
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: u64 },
    #[error("the request body did not arrive within {seconds} s")]
    RequestTimeout { seconds: u64 },
    #[error("content type must be application/json")]
    UnsupportedMediaType,
    #[error("rate limit exceeded; retry in {retry_after} s")]
    TooManyRequests { retry_after: u32 },
    #[error("too many key checks from this client; retry in {retry_after} s")]
    TooManyKeyChecks { retry_after: u32 },
    #[error("{detail}")]
    Unavailable { detail: String, retry_after: u32 },
    #[error("internal error")]
    Internal,
}

impl ApiError {
    pub fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            // A good ticket from the wrong page: known, and not allowed here.
            ApiError::Ticket(crate::tickets::TicketError::OtherOrigin { .. }) => {
                StatusCode::FORBIDDEN
            }
            ApiError::Unauthorized | ApiError::Ticket(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden | ApiError::CrossOrigin(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::RequestTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            ApiError::TooManyRequests { .. } | ApiError::TooManyKeyChecks { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn bad(detail: impl Into<String>) -> ApiError {
        ApiError::BadRequest(detail.into())
    }

    /// The body every refusal carries: `{"detail": "..."}`.
    pub fn json_body(&self) -> String {
        serde_json::json!({ "detail": self.to_string() }).to_string()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let retry_after = match &self {
            ApiError::Unavailable { retry_after, .. }
            | ApiError::TooManyRequests { retry_after }
            | ApiError::TooManyKeyChecks { retry_after } => Some(*retry_after),
            _ => None,
        };
        let mut response = (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            self.json_body(),
        )
            .into_response();
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
