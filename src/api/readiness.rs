//! `GET /ready`'s answer.

use serde::Serialize;

/// The body of `GET /ready`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Report {
    /// Podman answered, at least one language can run, and the instance
    /// is not draining.
    pub ready: bool,
    /// A shutdown has begun: the instance still serves what reaches it
    /// for its drain grace (`--drain-grace`), but a load balancer should
    /// send it nothing new.
    pub draining: bool,
    pub podman: bool,
    /// Names of the languages whose image is installed.
    pub installed: Vec<String>,
    /// Names of the languages whose image is missing (these get 503).
    pub missing: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The shared Judge0 store (`--store`), when there is one: when it does
    /// not answer, new asynchronous Judge0 submissions are refused while
    /// every synchronous run goes on, so the instance stays ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<crate::api::judge0::shared::StoreHealth>,
}
