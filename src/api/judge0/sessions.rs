//! Judge0's sessions: `POST /authenticate` (is this token the key?) and
//! `POST /authorize` (Judge0's second, authorization token). Clients such
//! as `judge0api` call them before anything else. What Judge0 allows only
//! with the authorization token (listing every submission, deleting one)
//! is refused here as by a Judge0 with none configured.

use axum::extract::{Request, State};
use axum::http::StatusCode;

use super::error::Judge0Error;
use crate::api::intake::keyed;
use crate::api::state::AppState;

/// `POST /authenticate`: 200 with no body when the token (header or query
/// parameter) is the key, 401 otherwise, as Judge0 answers.
#[utoipa::path(post, path = "/authenticate", tag = "judge0",
    responses(
        (status = 200, description = "The token is the key"),
        (status = 401, description = "It is not", body = crate::api::openapi::wire::Judge0Message)
    ), security(("master_key" = []), ("auth_token" = [])))]
pub async fn authenticate(
    State(state): State<AppState>,
    request: Request,
) -> Result<StatusCode, Judge0Error> {
    keyed(&state, &request.into_parts().0).await?;
    Ok(StatusCode::OK)
}

/// `POST /authorize`: whipcode has one key and no authorization token, so
/// this answers as a Judge0 with none configured: 403.
#[utoipa::path(post, path = "/authorize", tag = "judge0",
    responses(
        (status = 403, description = "No authorization token is configured", body = crate::api::openapi::wire::Judge0Message)
    ))]
pub async fn authorize() -> Judge0Error {
    no_authorization()
}

fn no_authorization() -> Judge0Error {
    Judge0Error::Message(
        StatusCode::FORBIDDEN,
        "no authorization token is configured on this server".into(),
    )
}

/// `GET /submissions`: Judge0 lists every submission to the holder of its
/// authorization token only; this server has none, so a keyed request is
/// refused as there: 403 (a request without the key: 401, as everywhere).
#[utoipa::path(get, path = "/submissions", tag = "judge0",
    responses(
        (status = 403, description = "Listing submissions needs an authorization token", body = crate::api::openapi::wire::Judge0Message)
    ), security(("master_key" = []), ("auth_token" = [])))]
pub async fn index(State(state): State<AppState>, request: Request) -> Judge0Error {
    match keyed(&state, &request.into_parts().0).await {
        Ok(_) => no_authorization(),
        Err(refused) => refused.into(),
    }
}

/// `DELETE /submissions/{token}`: the same as [`index`].
#[utoipa::path(delete, path = "/submissions/{token}", tag = "judge0",
    params(("token" = String, Path, description = "The submission's token")),
    responses(
        (status = 403, description = "Deleting a submission needs an authorization token", body = crate::api::openapi::wire::Judge0Message)
    ), security(("master_key" = []), ("auth_token" = [])))]
pub async fn destroy(State(state): State<AppState>, request: Request) -> Judge0Error {
    index(State(state), request).await
}
