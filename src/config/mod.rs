//! Typed settings: built-in defaults, then the config file, then flags.
//!
//! Every setting is declared once, in [`Options`]: the file and the flags
//! are two layers of the same struct. The file uses the original whipcode's
//! key names (`maxBytes`, `langMap`, …), and an empty string means "unset",
//! as in its `config.default.toml`. The layers are merged, then resolved
//! once into [`Settings`]; an unknown key or a bad value is a startup error
//! naming where it came from (the file and key, or the flag).

mod options;
mod values;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use crate::buckets::RateLimit;
pub use options::Options;
use values::{
    check_cache_size, check_instance, check_max_bytes, check_positive, check_refill, check_timeout,
    parse_engine, parse_ip, parse_userns, set, set_path, Origin,
};

/// The file read when `--config` is not given and it exists.
pub const DEFAULT_CONFIG_FILE: &str = "config.toml";

/// The settings in force after layering.
#[derive(Debug, Clone)]
pub struct Settings {
    pub addr: IpAddr,
    pub port: u16,
    pub max_bytes: u64,
    pub timeout: Duration,
    pub key: PathBuf,
    /// `None`: the built-in language map.
    pub lang_map: Option<PathBuf>,
    pub podman_path: PathBuf,
    pub engine: crate::sandbox::EngineChoice,
    pub crun_path: PathBuf,
    pub proxy: Option<IpAddr>,
    pub ping: bool,
    /// Bytes of results to cache; `None`: no cache.
    pub cache: Option<u64>,
    /// Directory of cert.pem and key.pem; `None`: plain HTTP.
    pub tls: Option<PathBuf>,
    /// Per-client-IP token bucket; `None`: no rate limit.
    pub rate_limit: Option<RateLimit>,
    /// `None`: derived from the bound address once listening.
    pub instance: Option<String>,
    pub runner: PathBuf,
    pub max_concurrent: usize,
    pub max_queue: usize,
    pub output_limit: u64,
    /// CPU time per process of a run (the timeout unless set).
    pub cpu_time: Duration,
    /// For a request's headers (and the idle time before them), its body,
    /// and each write of the response.
    pub client_timeout: Duration,
    /// Open connections per client address; the proxy is exempt.
    pub max_client_connections: usize,
    /// Files one run may send, the entry included.
    pub max_files: usize,
    pub userns: crate::sandbox::policy::UserNamespace,
    pub pool_size: usize,
    /// The path Judge0's API is nested under; `None`: not served.
    pub judge0_path: Option<String>,
    pub judge0_queue: usize,
    pub judge0_keep: Duration,
    pub judge0_store_bytes: u64,
    /// Where Judge0 callbacks may go; empty: nowhere.
    pub callback_allow: Vec<crate::api::judge0::callback::Allowed>,
    /// How long a shutdown waits for accepted work.
    pub drain_timeout: Duration,
    /// Where `/metrics` is also served without the key.
    pub metrics_addr: Option<std::net::SocketAddr>,
}

/// `--max-client-connections` when not set.
pub const DEFAULT_CLIENT_CONNECTIONS: usize = 64;

/// Where Judge0's API is served unless `--judge0-path` says otherwise.
pub const DEFAULT_JUDGE0_PATH: &str = "/judge0";

/// A path to nest routes under: `/` and segments of letters, digits, `-`,
/// `_` and `.`, no trailing slash, none of whipcode's own routes.
fn check_route_prefix(path: &str) -> Result<String, String> {
    let segments: Vec<&str> = path.strip_prefix('/').unwrap_or("").split('/').collect();
    let plain = |s: &&str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    if !path.starts_with('/') || !segments.iter().all(plain) {
        return Err(format!(
            "{path:?} must be a path such as /judge0 (segments of letters, digits, -, _ and .)"
        ));
    }
    if crate::api::OWN_ROUTES.contains(&segments[0]) {
        return Err(format!("{path:?} is taken by one of whipcode's own routes"));
    }
    Ok(path.to_owned())
}

/// Default bytes of the result cache.
pub const DEFAULT_CACHE_BYTES: u64 = 64 * 1024 * 1024;
/// Default `tlsDir`.
const DEFAULT_TLS_DIR: &str = "tls";
/// Default rate-limit burst and refill seconds.
const DEFAULT_BURST: u32 = 3;
const DEFAULT_REFILL: u64 = 1;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("{origin}: `{key}`: {message}")]
    Value {
        origin: String,
        key: String,
        message: String,
    },
}

impl Default for Settings {
    /// Every setting at its default: nothing given in a file or a flag.
    fn default() -> Self {
        Settings::resolve(Options::default(), |_| Origin::Flags).expect("the defaults are valid")
    }
}

fn default_runner_path() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("whipcode-runner")))
        .unwrap_or_else(|| PathBuf::from("whipcode-runner"))
}

impl Options {
    pub fn parse(text: &str, path: &Path) -> Result<Options, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
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
    fn given(
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
                message: "is not valid UTF-8".into(),
            }),
        }
    }
}

impl Settings {
    /// Defaults, then the config file (`--config`, or `./config.toml` if present), then flags.
    pub fn load(config: Option<&Path>, flags: &Options) -> Result<Settings, ConfigError> {
        let (file, origin) = match config {
            Some(path) => (Options::load(path)?, path.display().to_string()),
            None if Path::new(DEFAULT_CONFIG_FILE).exists() => (
                Options::load(Path::new(DEFAULT_CONFIG_FILE))?,
                DEFAULT_CONFIG_FILE.to_owned(),
            ),
            None => (Options::default(), "defaults".to_owned()),
        };
        Settings::layer(file, &origin, flags)
    }

    /// Defaults, then `file` (named `origin` in errors), then `flags`.
    pub fn layer(file: Options, origin: &str, flags: &Options) -> Result<Settings, ConfigError> {
        let file_origin = Origin::File(origin.to_owned());
        let mut merged = file.given(&file_origin)?;
        let from_flags = flags.given(&Origin::Flags)?;
        let origin_of = |key: &str| {
            if from_flags.contains_key(key) {
                Origin::Flags
            } else {
                Origin::File(origin.to_owned())
            }
        };
        merged.extend(from_flags.clone());
        let merged: Options = serde_json::from_value(serde_json::Value::Object(merged))
            .expect("a merge of two Options is an Options");
        if (flags.burst.is_some() || flags.refill.is_some()) && merged.standalone != Some(true) {
            return Err(ConfigError::Value {
                origin: Origin::Flags.to_string(),
                key: "--burst/--refill".into(),
                message: "only apply with --standalone (or standalone = true)".into(),
            });
        }
        Settings::resolve(merged, origin_of)
    }

    /// The merged layers as concrete values, each with its default when no
    /// layer gives it (the one place defaults live); a bad one is named by
    /// `origin_of` its key.
    fn resolve(o: Options, origin_of: impl Fn(&str) -> Origin) -> Result<Settings, ConfigError> {
        let bad = |key: &'static str| {
            let origin = origin_of(key);
            move |message: String| ConfigError::Value {
                origin: origin.to_string(),
                key: origin.key(key),
                message,
            }
        };
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let standalone = o.standalone.unwrap_or(false);
        let burst = match o.burst {
            Some(n) => check_positive(n).map_err(bad("burst"))?,
            None => DEFAULT_BURST,
        };
        let refill = match o.refill {
            Some(n) => check_refill(n).map_err(bad("refill"))?,
            None => DEFAULT_REFILL,
        };
        let cache_size = match o.cache_size {
            Some(n) => check_cache_size(n).map_err(bad("cacheSize"))?,
            None => DEFAULT_CACHE_BYTES,
        };
        let timeout = o
            .timeout
            .map_or(Ok(Duration::from_secs(10)), check_timeout)
            .map_err(bad("timeout"))?;
        let tls_dir = set_path(o.tls_dir).unwrap_or_else(|| PathBuf::from(DEFAULT_TLS_DIR));
        Ok(Settings {
            addr: set(o.addr)
                .map_or(Ok(IpAddr::from([0, 0, 0, 0])), |a| parse_ip(&a))
                .map_err(bad("addr"))?,
            port: o.port.unwrap_or(8000),
            max_bytes: o
                .max_bytes
                .map_or(Ok(1_000_000), check_max_bytes)
                .map_err(bad("maxBytes"))?,
            timeout,
            key: set_path(o.key).unwrap_or_else(|| PathBuf::from(".masterkey")),
            lang_map: set_path(o.lang_map),
            podman_path: set_path(o.podman_path)
                .unwrap_or_else(|| PathBuf::from("/usr/bin/podman")),
            engine: set(o.engine)
                .map_or(Ok(crate::sandbox::EngineChoice::Crun), |e| parse_engine(&e))
                .map_err(bad("engine"))?,
            crun_path: set_path(o.crun_path).unwrap_or_else(|| PathBuf::from("crun")),
            proxy: set(o.proxy)
                .map(|p| parse_ip(&p))
                .transpose()
                .map_err(bad("proxy"))?,
            ping: o.ping.unwrap_or(false),
            cache: o.cache.unwrap_or(false).then_some(cache_size),
            tls: o.tls.unwrap_or(false).then_some(tls_dir),
            rate_limit: standalone.then_some(RateLimit {
                burst,
                refill: Duration::from_secs(refill),
            }),
            instance: set(o.instance)
                .map(|i| check_instance(&i))
                .transpose()
                .map_err(bad("instance"))?,
            runner: set_path(o.runner).unwrap_or_else(default_runner_path),
            max_concurrent: o
                .max_concurrent
                .map_or(Ok((cpus * 2).max(2)), check_positive)
                .map_err(bad("maxConcurrent"))?,
            max_queue: o.max_queue.unwrap_or(64),
            output_limit: o
                .output_limit
                .map_or(Ok(1024 * 1024), check_positive)
                .map_err(bad("outputLimit"))?,
            cpu_time: o
                .cpu_time
                .map_or(Ok(timeout), check_timeout)
                .map_err(bad("cpuTime"))?,
            client_timeout: o
                .client_timeout
                .map_or(Ok(Duration::from_secs(30)), check_timeout)
                .map_err(bad("clientTimeout"))?,
            max_client_connections: o
                .max_client_connections
                .map_or(Ok(DEFAULT_CLIENT_CONNECTIONS), check_positive)
                .map_err(bad("maxClientConnections"))?,
            max_files: o
                .max_files
                .map_or(Ok(256), check_positive)
                .map_err(bad("maxFiles"))?,
            userns: set(o.userns)
                .map_or(Ok(crate::sandbox::policy::UserNamespace::PerRun), |m| {
                    parse_userns(&m)
                })
                .map_err(bad("userns"))?,
            pool_size: o.pool_size.unwrap_or(cpus.clamp(2, 8)),
            judge0_path: match set(o.judge0_path).as_deref() {
                None => Some(DEFAULT_JUDGE0_PATH.to_owned()),
                Some("off") => None,
                Some(path) => Some(check_route_prefix(path).map_err(bad("judge0Path"))?),
            },
            judge0_queue: o
                .judge0_queue
                .map_or(Ok(100), check_positive)
                .map_err(bad("judge0Queue"))?,
            judge0_keep: Duration::from_secs(
                o.judge0_keep
                    .map_or(Ok(3600), check_positive)
                    .map_err(bad("judge0Keep"))?,
            ),
            judge0_store_bytes: o
                .judge0_store_bytes
                .map_or(Ok(64 * 1024 * 1024), check_positive)
                .map_err(bad("judge0StoreBytes"))?,
            callback_allow: set(o.callback_allow)
                .map_or(Ok(Vec::new()), |list| {
                    crate::api::judge0::callback::parse_allow_list(&list)
                })
                .map_err(bad("callbackAllow"))?,
            drain_timeout: o
                .drain_timeout
                .map_or(Ok(Duration::from_secs(30)), check_timeout)
                .map_err(bad("drainTimeout"))?,
            metrics_addr: set(o.metrics_addr)
                .map(|a| {
                    a.parse::<std::net::SocketAddr>()
                        .map_err(|_| format!("{a:?} is not an address:port"))
                })
                .transpose()
                .map_err(bad("metricsAddr"))?,
        })
    }

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

/// The default instance name for a bound address: unique per address and port.
pub fn instance_for(addr: std::net::SocketAddr) -> String {
    let host: String = addr
        .ip()
        .to_string()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("{host}-{}", addr.port())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// The settings' flags alone, as the command line parses them.
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        options: Options,
    }

    /// The original whipcode's `config.default.toml`, in its shape.
    const ORIGINAL_DEFAULT: &str =
        include_str!("../../tests/fixtures/original-config.default.toml");

    fn layered(text: &str, flags: &[&str]) -> Result<Settings, ConfigError> {
        let file = Options::parse(text, Path::new("test.toml"))?;
        let argv = std::iter::once("whipcode").chain(flags.iter().copied());
        Settings::layer(
            file,
            "test.toml",
            &Cli::try_parse_from(argv).unwrap().options,
        )
    }

    fn from_file(text: &str) -> Result<Settings, ConfigError> {
        layered(text, &[])
    }

    #[test]
    fn runs_with_no_config_file_on_built_in_defaults() {
        let s = Settings::default();
        assert_eq!(s.port, 8000);
        assert_eq!(s.max_bytes, 1_000_000);
        assert_eq!(s.timeout, Duration::from_secs(10));
        assert_eq!(s.key, PathBuf::from(".masterkey"));
        assert_eq!(s.podman_path, PathBuf::from("/usr/bin/podman"));
        assert!(s.proxy.is_none() && !s.ping);
    }

    #[test]
    fn the_original_default_config_loads_unchanged() {
        let s = from_file(ORIGINAL_DEFAULT).expect("original config loads");
        assert_eq!(s.port, 8000);
        assert_eq!(s.addr, IpAddr::from([0, 0, 0, 0]), "empty addr means all");
        assert!(s.proxy.is_none(), "empty proxy means none");
        assert_eq!(s.timeout, Duration::from_secs(10));
    }

    #[test]
    fn the_shipped_config_loads() {
        let text = include_str!("../../config.default.toml");
        from_file(text).expect("shipped config loads");
    }

    #[test]
    fn flags_override_the_file_which_overrides_defaults() {
        let file = "port = 7000\ntimeout = 5\nmaxBytes = 2048\n";
        let s = from_file(file).unwrap();
        assert_eq!((s.port, s.timeout.as_secs(), s.max_bytes), (7000, 5, 2048));
        let s = layered(file, &["-p", "9000"]).unwrap();
        assert_eq!(s.port, 9000, "flag wins");
        assert_eq!(s.timeout.as_secs(), 5, "file value kept when no flag");
    }

    #[test]
    fn unknown_keys_are_errors_naming_the_file_and_key() {
        let err = from_file("prot = 8000\n").unwrap_err().to_string();
        assert!(err.contains("test.toml") && err.contains("prot"), "{err}");
    }

    #[test]
    fn bad_values_are_errors_naming_the_key() {
        for (text, key) in [
            ("timeout = 0\n", "timeout"),
            ("addr = \"not-an-ip\"\n", "addr"),
            ("maxBytes = 3\n", "maxBytes"),
            ("port = \"eighty\"\n", "port"),
            ("instance = \"a b\"\n", "instance"),
        ] {
            let err = from_file(text).unwrap_err().to_string();
            assert!(err.contains(key), "{text}: {err}");
        }
    }

    #[test]
    fn every_config_key_has_a_flag_and_bad_flags_are_named_as_flags() {
        use clap::CommandFactory;
        let command = Cli::command();
        let flags: Vec<String> = command
            .get_arguments()
            .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
            .collect();
        let keys: Vec<&str> = include_str!("../../config.default.toml")
            .lines()
            .map(|l| l.trim_start_matches("# "))
            .filter_map(|l| l.split_once(" = ").map(|(k, _)| k))
            .filter(|k| k.chars().all(|c| c.is_ascii_alphanumeric()))
            .collect();
        for key in &keys {
            let flag = Origin::Flags.key(key);
            assert!(flags.contains(&flag), "{key} has no flag {flag}");
        }
        // And the other way: config.default.toml lists every setting.
        let settings = <Options as clap::Args>::augment_args(clap::Command::new("x"));
        for arg in settings.get_arguments() {
            let key = arg.get_id().as_str().replace('_', "-");
            let listed = keys
                .iter()
                .any(|k| Origin::Flags.key(k) == format!("--{key}"));
            assert!(listed, "config.default.toml does not list --{key}");
        }
        let err = layered("", &["--max-concurrent", "0"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("command line: `--max-concurrent`"), "{err}");
    }

    #[test]
    fn cache_tls_and_standalone_switch_on_their_features() {
        let off = from_file("cache = false\ntls = false\nstandalone = false\n").unwrap();
        assert!(off.cache.is_none() && off.tls.is_none() && off.rate_limit.is_none());
        let on = from_file(
            "cache = true\ncacheSize = 1048576\ntls = true\ntlsDir = \"certs\"\n\
             standalone = true\nburst = 5\nrefill = 2\n",
        )
        .unwrap();
        assert_eq!(on.cache, Some(1_048_576));
        assert_eq!(on.tls, Some(PathBuf::from("certs")));
        assert_eq!(
            on.rate_limit,
            Some(RateLimit {
                burst: 5,
                refill: Duration::from_secs(2)
            })
        );
    }

    #[test]
    fn cpu_time_and_userns_resolve_to_concrete_values_at_load() {
        let plain = layered("timeout = 7\n", &[]).unwrap();
        assert_eq!(
            plain.cpu_time,
            Duration::from_secs(7),
            "the timeout by default"
        );
        assert_eq!(plain.userns, crate::sandbox::policy::UserNamespace::PerRun);
        assert_eq!(plain.limits().cpu_seconds, 7);
        let given = layered("timeout = 7\ncpuTime = 3\nuserns = \"auto\"\n", &[]).unwrap();
        assert_eq!(given.cpu_time, Duration::from_secs(3));
        assert_eq!(given.userns, crate::sandbox::policy::UserNamespace::Auto);
    }

    #[test]
    fn an_empty_flag_is_unset_and_leaves_the_files_value() {
        let s = layered(
            "proxy = \"10.0.0.1\"\naddr = \"127.0.0.1\"\n",
            &["--proxy", "", "--addr", ""],
        )
        .unwrap();
        assert_eq!(s.proxy, Some(IpAddr::from([10, 0, 0, 1])));
        assert_eq!(s.addr, IpAddr::from([127, 0, 0, 1]));
    }

    #[test]
    fn a_path_that_is_not_utf8_is_an_error_not_a_crash() {
        use std::os::unix::ffi::OsStrExt;
        let flags = Options {
            key: Some(PathBuf::from(std::ffi::OsStr::from_bytes(b"/tmp/\xff"))),
            ..Options::default()
        };
        let err = Settings::layer(Options::default(), "defaults", &flags).unwrap_err();
        assert!(err.to_string().contains("UTF-8"), "{err}");
    }

    #[test]
    fn switch_flags_only_turn_features_on() {
        let on = layered("", &["--cache", "--tls", "--standalone", "--ping"]).unwrap();
        assert!(on.cache.is_some() && on.tls.is_some() && on.rate_limit.is_some() && on.ping);
        let kept = layered("cache = true\nping = true\n", &[]).unwrap();
        assert!(
            kept.cache.is_some() && kept.ping,
            "absent flags leave the file's value"
        );
        assert!(Cli::try_parse_from(["whipcode", "--ping=false"]).is_err());
    }

    #[test]
    fn burst_and_refill_flags_need_standalone() {
        let err = layered("", &["--burst", "5"]).unwrap_err().to_string();
        assert!(err.contains("--standalone"), "{err}");
        layered("standalone = true\n", &["--burst", "5"]).expect("file enables it");
        let limit = layered("", &["--standalone", "--refill", "4"])
            .unwrap()
            .rate_limit
            .unwrap();
        assert_eq!((limit.burst, limit.refill), (3, Duration::from_secs(4)));
    }

    #[test]
    fn a_judge0_path_of_one_of_whipcodes_own_routes_is_refused() {
        for path in ["/metrics", "/openapi.json", "/run", "/api/v3", "/ping"] {
            let err = layered("", &["--judge0-path", path])
                .unwrap_err()
                .to_string();
            assert!(err.contains("whipcode's own routes"), "{path}: {err}");
        }
        let s = layered("", &["--judge0-path", "/judge0/v1"]).unwrap();
        assert_eq!(s.judge0_path.as_deref(), Some("/judge0/v1"));
    }

    #[test]
    fn instance_names_derive_from_address_and_port() {
        let addr: std::net::SocketAddr = "127.0.0.1:8123".parse().unwrap();
        assert_eq!(instance_for(addr), "127_0_0_1-8123");
    }
}
