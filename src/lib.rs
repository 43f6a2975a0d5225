//! whipcode: a stateless REST API that runs untrusted code in Podman containers.
//!
//! Module map:
//! - [`allowlist`]: the addresses `--callback-allow` allows, parsed and checked.
//! - [`origins`]: the web origins `--cors-origins` lists, parsed and matched.
//! - [`config`]: typed settings; built-in defaults, then `config.toml`, then flags.
//! - [`cli`]: the command-line flags (the original whipcode's names).
//! - [`auth`]: the `.masterkey` file (argon2id) and bounded key checking, fair between clients.
//! - [`buckets`]: a token bucket per client address (rate limits, key-check budgets).
//! - [`languages`]: the language map (`langmap.toml`): commands, images, samples.
//! - [`naming`]: image references, labels and container names, shared by the builder and the sandbox (in the sandbox's crate).
//! - [`api`]: the HTTP layer: routes, wire types, validation, error statuses.
//! - [`sandbox`]: the `whipcode-sandbox` crate: running one job in one fresh container; knows no HTTP; starts and stops itself.
//! - [`images`]: building the base and language images without a registry.
//! - [`keygen`]: `--gen-key`, writing a key file the original can read too.
//! - [`tls`]: `--tls`, rustls configuration.
//! - [`listen`]: accepting connections: `--proxy` at accept, caps (total, per client, handshakes), deadlines, graceful drain.
//! - [`selftest`]: `--self-test`, a client that runs every language's programs.
//! - [`server`]: the modes of `main`; settings wired to their owners; `run` serves a listener.
//! - [`shutdown`]: the signal, the drain grace (`/ready` 503 while still serving), Judge0's drain.

pub mod allowlist;
pub mod api;
pub mod auth;
pub mod buckets;
pub mod cli;
pub mod config;
pub mod images;
pub mod keygen;
pub mod languages;
pub mod listen;
pub mod origins;
pub mod selftest;
pub mod server;
pub mod shutdown;
pub mod tickets;
pub mod tls;

/// The sandbox is its own crate (`crates/sandbox`): the compiler keeps it
/// from naming anything of the HTTP layer, the configuration or the APIs.
pub use whipcode_sandbox as sandbox;
pub use whipcode_sandbox::naming;
