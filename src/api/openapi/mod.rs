//! The OpenAPI 3.1 description of every route, at `GET /openapi.json`.
//!
//! It is generated with `utoipa` from the handlers' own `#[utoipa::path]`
//! attributes and the body types' schemas, and the router is built from the
//! same attributes (`utoipa_axum`'s `routes!`): a route is served exactly
//! where it is described. What every operation of an API shares (its
//! refusals, in that API's error shape) is added here once, by rule, rather
//! than repeated on each handler: see [`add_refusals`].
//!
//! - [`wire`]: schemas of the bodies the code reads or builds as JSON values.

pub mod wire;

use axum::extract::State;
use axum::Json;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi as _, ToSchema};

use super::state::AppState;

/// The master key, as whipcode's clients send it.
pub const MASTER_KEY: &str = "master_key";
/// Judge0's header, which stands for the master key on its routes.
pub const AUTH_TOKEN: &str = "auth_token";

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "whipcode",
        description = "Runs untrusted code in fresh Podman containers. Three APIs over one \
            sandbox: whipcode's own (`/run`), Piston's (`/api/v2`) and Judge0's (under its base \
            path, `/judge0` by default). Keyed routes take the master key as `X-Master-Key` \
            (Judge0's also as `X-Auth-Token`). A language whose image is not installed on this \
            server answers 503, as does a full queue; `GET /languages` says which are installed.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    modifiers(&Security),
    // The refusals' bodies, which `add_refusals` refers to by name.
    components(schemas(
        wire::Detail,
        wire::PistonMessage,
        wire::Judge0Message,
        wire::FieldErrors
    )),
    tags(
        (name = "whipcode", description = "whipcode's own API"),
        (name = "piston", description = "Piston's API v2, for its clients unchanged"),
        (name = "judge0", description = "Judge0 CE's API, for its clients unchanged"),
        (name = "operations", description = "Probes, metrics and this description")
    )
)]
pub struct Base;

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            MASTER_KEY,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Master-Key"))),
        );
        components.add_security_scheme(
            AUTH_TOKEN,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Auth-Token"))),
        );
    }
}

/// Which API an operation belongs to, from its tag.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Whipcode,
    Piston,
    Judge0,
}

impl Dialect {
    fn of(operation: &Operation) -> Dialect {
        let tags = operation.tags.as_deref().unwrap_or_default();
        if tags.iter().any(|t| t == "piston") {
            Dialect::Piston
        } else if tags.iter().any(|t| t == "judge0") {
            Dialect::Judge0
        } else {
            Dialect::Whipcode
        }
    }

    /// The schema of its refusals' bodies (registered in [`Base`]).
    fn error_schema(self) -> std::borrow::Cow<'static, str> {
        match self {
            Dialect::Whipcode => <wire::Detail as ToSchema>::name(),
            Dialect::Piston => <wire::PistonMessage as ToSchema>::name(),
            Dialect::Judge0 => <wire::Judge0Message as ToSchema>::name(),
        }
    }
}

/// The refusals every keyed operation may answer, and those of every
/// operation that takes a body (the order of checks is in `intake`).
const KEYED: [(u16, &str); 3] = [
    (401, "No master key, or a wrong one"),
    (
        429,
        "Rate limited, or too many key checks from this client (see Retry-After)",
    ),
    (
        503,
        "The server cannot take this now: a language whose image is not installed here, a full \
         queue, too many key checks in progress, or podman not answering (see Retry-After)",
    ),
];
const WITH_BODY: [(u16, &str); 4] = [
    (400, "The body or a field is not valid"),
    (408, "The body did not arrive in time"),
    (413, "The body is larger than the server takes"),
    (415, "The body is not application/json"),
];

/// Adds each operation's shared refusals in its API's shape: 401, 429 and
/// 503 to keyed ones, 400/408/413/415 to those with a body, 400 to Judge0's
/// (a bad query string or `fields`) and 422 to Judge0's with a body (field
/// errors). Responses an operation declares itself are kept.
fn add_refusals(doc: &mut OpenApi) {
    for item in doc.paths.paths.values_mut() {
        for operation in [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            let dialect = Dialect::of(operation);
            // Handlers of different APIs share names (`list`, `languages`):
            // the tag makes each operation's id unique.
            if let (Some(id), Some(tag)) = (
                operation.operation_id.as_mut(),
                operation.tags.as_ref().and_then(|t| t.first()),
            ) {
                *id = format!("{tag}_{id}");
            }
            let mut add = |status: u16, why: &str, schema: &str| {
                let response = ResponseBuilder::new()
                    .description(why)
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(RefOr::Ref(Ref::from_schema_name(schema))))
                            .build(),
                    )
                    .build();
                operation
                    .responses
                    .responses
                    .entry(status.to_string())
                    .or_insert(RefOr::T(response));
            };
            let keyed = operation.security.as_ref().is_some_and(|s| !s.is_empty());
            if keyed {
                for (status, why) in KEYED {
                    add(status, why, &dialect.error_schema());
                }
            }
            if operation.request_body.is_some() {
                for (status, why) in WITH_BODY {
                    add(status, why, &dialect.error_schema());
                }
            }
            if dialect == Dialect::Judge0 {
                add(
                    400,
                    "The query string or `fields` is not valid",
                    &dialect.error_schema(),
                );
                if operation.request_body.is_some() {
                    add(
                        422,
                        "Field errors, as Judge0 words them",
                        &<wire::FieldErrors as ToSchema>::name(),
                    );
                }
            }
        }
    }
}

/// The finished description: the routes' paths (from the router), this
/// module's info and security, and the shared refusals.
pub fn finish(paths: OpenApi) -> OpenApi {
    let mut doc = Base::openapi().merge_from(paths);
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    add_refusals(&mut doc);
    doc
}

/// The description, as built with the router (see `api::router_with`).
#[derive(Clone)]
pub struct Description(pub std::sync::Arc<serde_json::Value>);

/// `GET /openapi.json`: this server's description (no key: it holds no
/// secret, and clients generate code from it).
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 description of every route", content_type = "application/json"))
)]
pub async fn document(
    State(_): State<AppState>,
    axum::Extension(description): axum::Extension<Description>,
) -> Json<serde_json::Value> {
    Json(description.0.as_ref().clone())
}
