//! Judge0's error shapes: a field error is a 422 of `{"field": ["message",
//! …]}`; anything else `{"error": "..."}` with its status (whipcode's
//! refusals, such as a missing key or a full queue, in that shape).

use std::collections::BTreeMap;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::api::error::ApiError;

#[derive(Debug)]
pub enum Judge0Error {
    /// whipcode's own refusal (401, 413, 429, 503, …).
    Api(ApiError),
    /// Field errors: 422.
    Fields(BTreeMap<String, Vec<String>>),
    /// A refusal of Judge0's own, with its wording.
    Message(StatusCode, String),
}

impl From<ApiError> for Judge0Error {
    fn from(e: ApiError) -> Self {
        Judge0Error::Api(e)
    }
}

impl IntoResponse for Judge0Error {
    fn into_response(self) -> Response {
        let (mut response, body) = match self {
            Judge0Error::Api(e) => {
                let message = match &e {
                    ApiError::Unauthorized => "Authentication failed.".to_owned(),
                    ApiError::NotFound => "Not Found".to_owned(),
                    other => other.to_string(),
                };
                (e.into_response(), serde_json::json!({ "error": message }))
            }
            Judge0Error::Fields(errors) => (
                StatusCode::UNPROCESSABLE_ENTITY.into_response(),
                serde_json::json!(errors),
            ),
            Judge0Error::Message(status, message) => (
                status.into_response(),
                serde_json::json!({ "error": message }),
            ),
        };
        *response.body_mut() = body.to_string().into();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response.headers_mut().remove(header::CONTENT_LENGTH);
        response
    }
}
