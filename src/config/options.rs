//! Every setting, declared once. A field's name gives its flag (kebab case,
//! `--max-bytes`, plus the original's short flags) and its config-file key
//! (camel case, `maxBytes`, as the original spells them); its doc comment is
//! the flag's help and says its default; `config.default.toml` lists every
//! key (a test checks it). Every field is optional: an absent flag or key
//! leaves the layer below in force, and an empty string means "unset". The
//! switches (`--ping`, `--cache`, `--tls`, `--standalone`) take no value on
//! the command line: a flag can only turn its feature on; the file can turn
//! it either way.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::{ConfigError, ValueError};
use super::values::Origin;

#[derive(Debug, Default, Clone, PartialEq, clap::Args, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Options {
    /// The address to listen on (default, or `""`: all interfaces).
    #[arg(short = 'a', long, value_name = "ADDR")]
    pub addr: Option<String>,

    /// The port to listen on (default: 8000).
    #[arg(short = 'p', long, value_name = "PORT")]
    pub port: Option<u16>,

    /// The maximum size of a request body in bytes (default: 1000000).
    #[arg(short = 'b', long, value_name = "BYTES")]
    pub max_bytes: Option<u64>,

    /// The maximum run time of a program, in seconds (default: 10).
    #[arg(short = 't', long, value_name = "SECONDS")]
    pub timeout: Option<u64>,

    /// The key file: argon2id hash of the master key, then its salt (default: .masterkey).
    #[arg(short = 'k', long, value_name = "FILE")]
    pub key: Option<PathBuf>,

    /// The language map (default: langmap.toml if present, else the built-in one).
    #[arg(short = 'm', long, value_name = "FILE")]
    pub lang_map: Option<PathBuf>,

    /// Path to the podman binary (default: /usr/bin/podman).
    #[arg(long, value_name = "PATH")]
    pub podman_path: Option<PathBuf>,

    /// What starts the containers: crun (default; podman where crun cannot
    /// run on this host, with the reason logged) or podman.
    #[arg(long, value_name = "crun|podman")]
    pub engine: Option<String>,

    /// Path to the crun binary (default: crun, looked up on PATH).
    #[arg(long, value_name = "PATH")]
    pub crun_path: Option<PathBuf>,

    /// Only accept requests from this peer address, the reverse proxy or gateway
    /// (default, or `""`: any peer).
    #[arg(long, value_name = "ADDR")]
    pub proxy: Option<String>,

    /// Enable GET /ping, which answers "pong".
    #[arg(long, num_args = 0, default_missing_value = "true")]
    pub ping: Option<bool>,

    /// Cache results of runs: in memory (LRU, bounded by --cache-size), or
    /// with --store in Redis, shared by the instances using it.
    #[arg(long, num_args = 0, default_missing_value = "true")]
    pub cache: Option<bool>,

    /// Bytes the result cache may hold (default: 67108864).
    #[arg(long, value_name = "BYTES")]
    pub cache_size: Option<u64>,

    /// With --store and --cache: seconds a cached result is kept in Redis
    /// (default: 3600).
    #[arg(long, value_name = "SECONDS")]
    pub cache_ttl: Option<u64>,

    /// Serve HTTPS with cert.pem and key.pem from --tls-dir.
    #[arg(long, num_args = 0, default_missing_value = "true")]
    pub tls: Option<bool>,

    /// The directory holding cert.pem and key.pem (default: tls).
    #[arg(long, value_name = "DIR")]
    pub tls_dir: Option<PathBuf>,

    /// Rate-limit each client IP (a token bucket) without a gateway in front.
    #[arg(long, num_args = 0, default_missing_value = "true")]
    pub standalone: Option<bool>,

    /// With --standalone: requests a client may make in a burst (default: 3).
    #[arg(long, value_name = "COUNT")]
    pub burst: Option<u32>,

    /// With --standalone: seconds for one request to come back to a bucket (default: 1).
    #[arg(long, value_name = "SECONDS")]
    pub refill: Option<u64>,

    /// Name of this instance; labels its containers (default, or `""`: derived from
    /// address and port).
    #[arg(long, value_name = "NAME")]
    pub instance: Option<String>,

    /// Path to the static in-container runner (default, or `""`: whipcode-runner
    /// beside this binary).
    #[arg(long, value_name = "PATH")]
    pub runner: Option<PathBuf>,

    /// Most containers alive at once (default: twice the CPU count, at least 2).
    #[arg(long, value_name = "COUNT")]
    pub max_concurrent: Option<usize>,

    /// Most requests waiting for a container before new ones get 503 (default: 64).
    #[arg(long, value_name = "COUNT")]
    pub max_queue: Option<usize>,

    /// User namespace per run: per-run (default: a host id range of its own
    /// for each live container), host, or auto (podman's ranges from the
    /// `containers` entries of /etc/subuid and /etc/subgid).
    #[arg(long, value_name = "per-run|auto|host")]
    pub userns: Option<String>,

    /// Seconds a client gets to send a request's headers (or, between
    /// requests, the next one's), its body, and to read each part of the
    /// response (default: 30).
    #[arg(long, value_name = "SECONDS")]
    pub client_timeout: Option<u64>,

    /// Most files one run may send, the entry file included (default: 256).
    #[arg(long, value_name = "COUNT")]
    pub max_files: Option<usize>,

    /// Connections one client address (an IPv6 /64) may hold open at once;
    /// the --proxy address is exempt (default: 64).
    #[arg(long, value_name = "COUNT")]
    pub max_client_connections: Option<usize>,

    /// CPU seconds each process of a run may use (default: the --timeout value).
    #[arg(long, value_name = "SECONDS")]
    pub cpu_time: Option<u64>,

    /// Warm containers kept ready across languages; 0 turns the pool off
    /// (default: the CPU count, between 2 and 8).
    #[arg(long, value_name = "COUNT")]
    pub pool_size: Option<usize>,

    /// Byte cap on each of stdout and stderr (default: 1048576).
    #[arg(long, value_name = "BYTES")]
    pub output_limit: Option<u64>,

    /// Where Judge0's API is served, e.g. /judge0 (default: /judge0; "off"
    /// turns it off).
    #[arg(long, value_name = "PATH")]
    pub judge0_path: Option<String>,

    /// Where Judge0 Extra CE's API is served: the same API with Extra CE's
    /// language ids, for what is installed (default: /judge0-extra; "off"
    /// turns it off).
    #[arg(long, value_name = "PATH")]
    pub judge0_extra_path: Option<String>,

    /// Judge0 submissions (wait=false) that may be queued or running at once;
    /// past it, 503 "queue is full" (default: 100).
    #[arg(long, value_name = "COUNT")]
    pub judge0_queue: Option<usize>,

    /// Seconds a finished Judge0 submission stays readable by its token
    /// (default: 3600).
    #[arg(long, value_name = "SECONDS")]
    pub judge0_keep: Option<u64>,

    /// Bytes the Judge0 submissions kept in memory may hold, code and output
    /// (default: 67108864).
    #[arg(long, value_name = "BYTES")]
    pub judge0_store_bytes: Option<u64>,

    /// Where Judge0's asynchronous submissions and their results are kept:
    /// a Redis URL (redis://HOST:PORT/DB, redis://:PASSWORD@HOST/DB or
    /// redis+unix:///PATH), shared by every instance given the same one
    /// (default, or `""`: embedded, in this process's memory).
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,

    /// With --store: seconds a submission an instance took may go without
    /// word from it before another instance takes it over (default: the
    /// longest Judge0 submission --timeout allows, 21 runs of it, plus 60).
    #[arg(long, value_name = "SECONDS")]
    pub store_claim_after: Option<u64>,

    /// Addresses or networks Judge0 callbacks may go to, comma-separated, e.g.
    /// 10.0.0.0/8,127.0.0.1 (default: none, callbacks refused).
    #[arg(long, value_name = "NETS")]
    pub callback_allow: Option<String>,

    /// Origins whose pages may call Judge0's API from a browser (CORS, as
    /// Judge0 answers it), comma-separated, e.g. https://ide.judge0.com, or *
    /// for any (default: none, no CORS; a cross-origin page is refused).
    #[arg(long, value_name = "ORIGINS")]
    pub cors_origins: Option<String>,

    /// Seconds a shutdown waits for accepted work (open requests, then queued
    /// Judge0 submissions) to finish (default: 30).
    #[arg(long, value_name = "SECONDS")]
    pub drain_timeout: Option<u64>,

    /// Seconds after a shutdown signal during which GET /ready answers 503
    /// (draining) while new connections are still served, so that a load
    /// balancer's health checks take the instance out before it stops
    /// listening; 0 stops listening at once (default: 5).
    #[arg(long, value_name = "SECONDS")]
    pub drain_grace: Option<u64>,

    /// An address:port that also serves GET /metrics without the key, e.g.
    /// 127.0.0.1:9464 (default: none; /metrics takes the key on the main
    /// listener either way).
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics_addr: Option<String>,
}

impl Options {
    pub fn parse(text: &str, path: &Path) -> Result<Options, ConfigError> {
        toml::from_str(text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source,
        })
    }

    pub fn load(path: &Path) -> Result<Options, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Options::parse(&text, path)
    }

    /// The settings this layer gives, by key: unset ones (absent, or `""`,
    /// the original's "unset") left out.
    pub(super) fn given(
        &self,
        origin: &Origin,
    ) -> Result<serde_json::Map<String, serde_json::Value>, ConfigError> {
        let unset = |v: &serde_json::Value| v.is_null() || v.as_str() == Some("");
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(map)) => {
                Ok(map.into_iter().filter(|(_, v)| !unset(v)).collect())
            }
            // The only values JSON cannot hold: paths that are not UTF-8.
            _ => Err(ConfigError::Value {
                origin: origin.to_string(),
                key: "a path".into(),
                source: ValueError::NotUtf8,
            }),
        }
    }
}
