//! Whipcode's own routes, by their first path segment: what the router
//! serves itself, so that another API nested beside them (Judge0's, under
//! `--judge0-path`) takes none of them. Its own module so that the settings
//! can read it without naming the rest of the HTTP layer.

/// The first path segment of every route whipcode serves itself (`/ping`'s
/// even when it is off, Piston's `/api`). A test in [`super`] checks it
/// against the routes [`super::described_routes`] adds.
pub const OWN_ROUTES: &[&str] = &[
    "run",
    "ready",
    "languages",
    "tickets",
    "connect",
    "metrics",
    "openapi.json",
    "ping",
    "api",
];
