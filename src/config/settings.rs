//! The settings in force after layering, each field with its default beside
//! it: a named constant (or a function, where it depends on the host) that
//! [`Settings::default`] uses, that every layer starts from, and that the
//! flags' help states (a test checks the help against these).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::allowlist::Allowed;
use crate::buckets::RateLimit;
use crate::origins::CorsOrigins;
use crate::sandbox::policy::UserNamespace;
use crate::sandbox::EngineChoice;

/// The settings in force after layering.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Default: [`DEFAULT_ADDR`], all interfaces.
    pub addr: IpAddr,
    /// Default: [`DEFAULT_PORT`].
    pub port: u16,
    /// Default: [`DEFAULT_MAX_BYTES`].
    pub max_bytes: u64,
    /// Default: [`DEFAULT_TIMEOUT`].
    pub timeout: Duration,
    /// Default: [`DEFAULT_KEY`].
    pub key: PathBuf,
    /// `None` (the default): the built-in language map.
    pub lang_map: Option<PathBuf>,
    /// Default: [`DEFAULT_PODMAN_PATH`].
    pub podman_path: PathBuf,
    /// Default: [`DEFAULT_ENGINE`].
    pub engine: EngineChoice,
    /// Default: [`DEFAULT_CRUN_PATH`], looked up on `PATH`.
    pub crun_path: PathBuf,
    /// `None` (the default): any peer.
    pub proxy: Option<IpAddr>,
    /// Off by default.
    pub ping: bool,
    /// Bytes of results to cache; `None` (the default): no cache. Its size
    /// when on: [`DEFAULT_CACHE_BYTES`].
    pub cache: Option<u64>,
    /// How long a result is kept in a shared cache (`--cache` with
    /// `--store`). Default: [`DEFAULT_CACHE_TTL`].
    pub cache_ttl: Duration,
    /// Directory of cert.pem and key.pem; `None` (the default): plain HTTP.
    /// The directory when on: [`DEFAULT_TLS_DIR`].
    pub tls: Option<PathBuf>,
    /// Per-client-IP token bucket; `None` (the default): no rate limit.
    /// When on: [`DEFAULT_BURST`] and [`DEFAULT_REFILL`].
    pub rate_limit: Option<RateLimit>,
    /// `None` (the default): derived from the bound address once listening.
    pub instance: Option<String>,
    /// Default: [`default_runner_path`].
    pub runner: PathBuf,
    /// Default: [`default_max_concurrent`].
    pub max_concurrent: usize,
    /// Default: [`DEFAULT_MAX_QUEUE`].
    pub max_queue: usize,
    /// Default: [`DEFAULT_OUTPUT_LIMIT`].
    pub output_limit: u64,
    /// CPU time per process of a run. Default: the timeout.
    pub cpu_time: Duration,
    /// For a request's headers (and the idle time before them), its body,
    /// and each write of the response. Default: [`DEFAULT_CLIENT_TIMEOUT`].
    pub client_timeout: Duration,
    /// Open connections per client address; the proxy is exempt.
    /// Default: [`DEFAULT_CLIENT_CONNECTIONS`].
    pub max_client_connections: usize,
    /// Files one run may send, the entry included. Default: [`DEFAULT_MAX_FILES`].
    pub max_files: usize,
    /// Default: [`DEFAULT_USERNS`].
    pub userns: UserNamespace,
    /// Default: [`default_pool_size`].
    pub pool_size: usize,
    /// The path Judge0's API is nested under; `None`: not served.
    /// Default: [`DEFAULT_JUDGE0_PATH`].
    pub judge0_path: Option<String>,
    /// The path Judge0 Extra CE's API is nested under; `None`: not served.
    /// Default: [`DEFAULT_JUDGE0_EXTRA_PATH`].
    pub judge0_extra_path: Option<String>,
    /// Default: [`DEFAULT_JUDGE0_QUEUE`].
    pub judge0_queue: usize,
    /// Default: [`DEFAULT_JUDGE0_KEEP`].
    pub judge0_keep: Duration,
    /// Default: [`DEFAULT_JUDGE0_STORE_BYTES`].
    pub judge0_store_bytes: u64,
    /// Where Judge0's asynchronous submissions and results are kept; `None`
    /// (the default): embedded, in this process's memory.
    pub store: Option<StoreUrl>,
    /// How long a submission taken by an instance may go without word from
    /// it before another takes it over. Default: [`default_claim_after`].
    pub store_claim_after: Duration,
    /// Where Judge0 callbacks may go; empty (the default): nowhere.
    pub callback_allow: Vec<Allowed>,
    /// Whose pages may call Judge0's API from a browser; none (the default): no CORS.
    pub cors_origins: CorsOrigins,
    /// How long a shutdown waits for accepted work. Default: [`DEFAULT_DRAIN_TIMEOUT`].
    pub drain_timeout: Duration,
    /// How long after a shutdown signal `/ready` says draining while the
    /// listener still accepts. Default: [`DEFAULT_DRAIN_GRACE`].
    pub drain_grace: Duration,
    /// Where `/metrics` is also served without the key; `None` (the default): nowhere.
    pub metrics_addr: Option<SocketAddr>,
}

pub const DEFAULT_ADDR: IpAddr = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);
pub const DEFAULT_PORT: u16 = 8000;
pub const DEFAULT_MAX_BYTES: u64 = 1_000_000;
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_KEY: &str = ".masterkey";
pub const DEFAULT_PODMAN_PATH: &str = "/usr/bin/podman";
pub const DEFAULT_ENGINE: EngineChoice = EngineChoice::Crun;
pub const DEFAULT_CRUN_PATH: &str = "crun";
/// Bytes of the result cache, when on.
pub const DEFAULT_CACHE_BYTES: u64 = 64 * 1024 * 1024;
/// How long a result is kept in a shared cache: long enough for a class's
/// repeated submissions, short enough that a rebuilt image is soon seen.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(3600);
/// Where cert.pem and key.pem are, with TLS on.
pub const DEFAULT_TLS_DIR: &str = "tls";
/// With `--standalone`: requests in a burst, and how long one takes to come back.
pub const DEFAULT_BURST: u32 = 3;
pub const DEFAULT_REFILL: Duration = Duration::from_secs(1);

/// `whipcode-runner` beside this binary.
pub fn default_runner_path() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("whipcode-runner")))
        .unwrap_or_else(|| PathBuf::from("whipcode-runner"))
}

/// Twice the CPU count, at least 2.
pub fn default_max_concurrent() -> usize {
    (cpus() * 2).max(2)
}

pub const DEFAULT_MAX_QUEUE: usize = 64;
pub const DEFAULT_OUTPUT_LIMIT: u64 = 1024 * 1024;
pub const DEFAULT_CLIENT_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_CLIENT_CONNECTIONS: usize = 64;
pub const DEFAULT_MAX_FILES: usize = 256;
pub const DEFAULT_USERNS: UserNamespace = UserNamespace::PerRun;

/// The CPU count, between 2 and 8.
pub fn default_pool_size() -> usize {
    cpus().clamp(2, 8)
}

/// Where Judge0's API is served unless `--judge0-path` says otherwise.
pub const DEFAULT_JUDGE0_PATH: &str = "/judge0";
pub const DEFAULT_JUDGE0_EXTRA_PATH: &str = "/judge0-extra";
pub const DEFAULT_JUDGE0_QUEUE: usize = 100;
pub const DEFAULT_JUDGE0_KEEP: Duration = Duration::from_secs(3600);
pub const DEFAULT_JUDGE0_STORE_BYTES: u64 = 64 * 1024 * 1024;
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Longer than a balancer needs to see `/ready` fail: the HAProxy example
/// checks every second and takes a server out after 2 failures (2 s); 5 s
/// leaves room for a check under way and a slower `inter`.
pub const DEFAULT_DRAIN_GRACE: Duration = Duration::from_secs(5);

/// What a shared store's claim waits beyond the longest submission.
pub const CLAIM_MARGIN: Duration = Duration::from_secs(60);

/// The longest Judge0 submission `timeout` allows (a compile and 20 runs,
/// each at most `timeout`), plus [`CLAIM_MARGIN`].
pub fn default_claim_after(timeout: Duration) -> Duration {
    timeout * 21 + CLAIM_MARGIN
}

/// A shared store's URL, as given. Its `Debug` and `Display` hide the
/// password, so that the settings can be logged.
#[derive(Clone, PartialEq, Eq)]
pub struct StoreUrl(String);

impl StoreUrl {
    /// `url`, once a check has found it well formed.
    pub(super) fn checked(url: String) -> StoreUrl {
        StoreUrl(url)
    }

    /// The URL as given, password included: for the client only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redacted(&self.0))
    }
}

impl std::fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StoreUrl({self})")
    }
}

/// `url` with its password, if any, written as `***`.
pub(super) fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(_) => url.to_owned(),
        Err(_) => "(not a URL)".to_owned(),
    }
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl Default for Settings {
    /// Every setting at its default: nothing given in a file or a flag.
    fn default() -> Self {
        Settings {
            addr: DEFAULT_ADDR,
            port: DEFAULT_PORT,
            max_bytes: DEFAULT_MAX_BYTES,
            timeout: DEFAULT_TIMEOUT,
            key: PathBuf::from(DEFAULT_KEY),
            lang_map: None,
            podman_path: PathBuf::from(DEFAULT_PODMAN_PATH),
            engine: DEFAULT_ENGINE,
            crun_path: PathBuf::from(DEFAULT_CRUN_PATH),
            proxy: None,
            ping: false,
            cache: None,
            cache_ttl: DEFAULT_CACHE_TTL,
            tls: None,
            rate_limit: None,
            instance: None,
            runner: default_runner_path(),
            max_concurrent: default_max_concurrent(),
            max_queue: DEFAULT_MAX_QUEUE,
            output_limit: DEFAULT_OUTPUT_LIMIT,
            cpu_time: DEFAULT_TIMEOUT,
            client_timeout: DEFAULT_CLIENT_TIMEOUT,
            max_client_connections: DEFAULT_CLIENT_CONNECTIONS,
            max_files: DEFAULT_MAX_FILES,
            userns: DEFAULT_USERNS,
            pool_size: default_pool_size(),
            judge0_path: Some(DEFAULT_JUDGE0_PATH.to_owned()),
            judge0_extra_path: Some(DEFAULT_JUDGE0_EXTRA_PATH.to_owned()),
            judge0_queue: DEFAULT_JUDGE0_QUEUE,
            judge0_keep: DEFAULT_JUDGE0_KEEP,
            judge0_store_bytes: DEFAULT_JUDGE0_STORE_BYTES,
            store: None,
            store_claim_after: default_claim_after(DEFAULT_TIMEOUT),
            callback_allow: Vec::new(),
            cors_origins: CorsOrigins::None,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            drain_grace: DEFAULT_DRAIN_GRACE,
            metrics_addr: None,
        }
    }
}

impl Settings {
    /// The sandbox limits every run starts from (languages may override some).
    pub fn limits(&self) -> crate::sandbox::Limits {
        crate::sandbox::Limits {
            cpu_seconds: u32::try_from(self.cpu_time.as_secs()).unwrap_or(u32::MAX - 1),
            ..crate::sandbox::Limits::default()
        }
    }

    /// The language map path in force: the configured one, else `./langmap.toml`
    /// when it exists, else `None` for the built-in map.
    pub fn lang_map_path(&self) -> Option<PathBuf> {
        self.lang_map.clone().or_else(|| {
            let local = PathBuf::from(crate::languages::DEFAULT_FILE);
            local.exists().then_some(local)
        })
    }
}
