//! `POST /tickets`: a keyed request mints a ticket for interactive
//! sessions (see [`crate::tickets`]), for a page that must not hold the
//! master key. The ticket opens `GET /api/v2/connect` and nothing else,
//! and, minted for a page (the request has an `Origin`), only from that
//! page's origin.

use std::time::SystemTime;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::error::ApiError;
use super::intake::{keyed, single_origin};
use super::state::AppState;
use crate::tickets::{mint, TICKET_LIFETIME};

/// A ticket for interactive sessions, for a page that must not hold the key.
#[utoipa::path(post, path = "/tickets", tag = "whipcode", operation_id = "ticket",
    responses((status = 201, description = "A ticket", body = super::openapi::wire::Ticket)),
    security(("master_key" = [])))]
pub async fn create(State(state): State<AppState>, request: Request) -> Result<Response, ApiError> {
    let (parts, _) = request.into_parts();
    keyed(&state, &parts).await?;
    let origin = single_origin(&parts.headers)?.map(HeaderValue::as_bytes);
    let ticket = match mint(state.key.ticket_secret(), SystemTime::now(), origin) {
        Ok(ticket) => ticket,
        Err(e) => return Err(ApiError::bad(format!("the Origin header: {e}"))),
    };
    let body = json!({"ticket": ticket, "scope": "interactive",
                      "expires_in": TICKET_LIFETIME.as_secs()});
    let mut response = (StatusCode::CREATED, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
