//! Piston's error shape: the status of the refusal, `{"message": "..."}`.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

use crate::api::error::ApiError;

/// A refusal on Piston's routes: whipcode's, in Piston's shape.
#[derive(Debug)]
pub struct PistonError(pub ApiError);

impl From<ApiError> for PistonError {
    fn from(e: ApiError) -> Self {
        PistonError(e)
    }
}

impl IntoResponse for PistonError {
    fn into_response(self) -> Response {
        let message = match &self.0 {
            // Piston's own wording for an unknown path.
            ApiError::NotFound => "Not Found".to_owned(),
            ApiError::UnsupportedMediaType => {
                "requests must be of type application/json".to_owned()
            }
            other => other.to_string(),
        };
        let mut response = self.0.into_response();
        *response.body_mut() = serde_json::json!({ "message": message }).to_string().into();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response.headers_mut().remove(header::CONTENT_LENGTH);
        response
    }
}
