//! Typed settings: built-in defaults, then the config file, then flags.
//!
//! The file uses the original whipcode's key names (`maxBytes`, `langMap`, …),
//! and an empty string means "unset", as in its `config.default.toml`. An
//! unknown key or a bad value is a startup error naming the file and the key.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::cli::Cli;

/// The file read when `--config` is not given and it exists.
pub const DEFAULT_CONFIG_FILE: &str = "config.toml";

/// The config file as written; every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FileConfig {
    /// Address to listen on; `""` = all interfaces. Default: all interfaces.
    pub addr: Option<String>,
    /// Port to listen on. Default: 8000.
    pub port: Option<u16>,
    /// Largest request body in bytes. Default: 1000000.
    pub max_bytes: Option<u64>,
    /// Largest run time in seconds (a request may ask for less). Default: 10.
    pub timeout: Option<u64>,
    /// Key file path. Default: `.masterkey`.
    pub key: Option<PathBuf>,
    /// Language map path; `""` = `langmap.toml` if present, else built in.
    pub lang_map: Option<PathBuf>,
    /// Podman binary. Default: `/usr/bin/podman`.
    pub podman_path: Option<PathBuf>,
    /// Only peer allowed to connect; `""` = any. Default: any.
    pub proxy: Option<String>,
    /// Cache run results in memory. Default: false.
    pub cache: Option<bool>,
    /// Bytes the result cache may hold. Default: 64 MiB.
    pub cache_size: Option<u64>,
    /// Serve HTTPS. Default: false.
    pub tls: Option<bool>,
    /// Directory of cert.pem and key.pem, used with `tls`. Default: `tls`.
    pub tls_dir: Option<PathBuf>,
    /// Enable `GET /ping`. Default: false.
    pub ping: Option<bool>,
    /// Per-IP rate limiting. Default: false.
    pub standalone: Option<bool>,
    /// Rate-limit burst, used with `standalone`. Default: 3.
    pub burst: Option<u32>,
    /// Rate-limit refill seconds, used with `standalone`. Default: 1.
    pub refill: Option<u64>,
    /// Instance name for container labels; `""` = derived from address and port.
    pub instance: Option<String>,
    /// Static runner binary; `""` = `whipcode-runner` beside this binary.
    pub runner: Option<PathBuf>,
    /// Most containers alive at once. Default: twice the CPU count, at least 2.
    pub max_concurrent: Option<usize>,
    /// Most requests waiting for a container. Default: 64.
    pub max_queue: Option<usize>,
    /// Byte cap on each of stdout and stderr. Default: 1 MiB.
    pub output_limit: Option<u64>,
    /// CPU seconds per process of a run. Default: the timeout.
    pub cpu_time: Option<u64>,
    /// Seconds a client gets for a request's headers, and again for its body. Default: 30.
    pub client_timeout: Option<u64>,
    /// "host" or "auto". Default: host.
    pub userns: Option<String>,
    /// Warm containers kept ready; 0 = none. Default: CPUs, 2 to 8.
    pub pool_size: Option<usize>,
}

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
    /// `None`: the timeout.
    pub cpu_time: Option<u64>,
    /// For a request's headers, and again for its body.
    pub client_timeout: Duration,
    /// `None`: the host's.
    pub userns: Option<crate::sandbox::policy::UserNamespace>,
    pub pool_size: usize,
}

/// `--standalone`: each client IP gets `burst` tokens, one back every `refill`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub burst: u32,
    pub refill: Duration,
}

/// Default bytes of the result cache.
pub const DEFAULT_CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// What the file and flags switch on and size; resolved once both are read.
#[derive(Debug, Clone)]
struct Switches {
    cache: bool,
    cache_size: u64,
    tls: bool,
    tls_dir: PathBuf,
    standalone: bool,
    burst: u32,
    refill: u64,
}

impl Default for Switches {
    fn default() -> Self {
        Switches {
            cache: false,
            cache_size: DEFAULT_CACHE_BYTES,
            tls: false,
            tls_dir: PathBuf::from("tls"),
            standalone: false,
            burst: 3,
            refill: 1,
        }
    }
}

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
    fn default() -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        Settings {
            addr: IpAddr::from([0, 0, 0, 0]),
            port: 8000,
            max_bytes: 1_000_000,
            timeout: Duration::from_secs(10),
            key: PathBuf::from(".masterkey"),
            lang_map: None,
            podman_path: PathBuf::from("/usr/bin/podman"),
            proxy: None,
            ping: false,
            cache: None,
            tls: None,
            rate_limit: None,
            instance: None,
            runner: default_runner_path(),
            max_concurrent: (cpus * 2).max(2),
            max_queue: 64,
            output_limit: 1024 * 1024,
            cpu_time: None,
            client_timeout: Duration::from_secs(30),
            userns: None,
            pool_size: cpus.clamp(2, 8),
        }
    }
}

fn default_runner_path() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("whipcode-runner")))
        .unwrap_or_else(|| PathBuf::from("whipcode-runner"))
}

/// `Some(s)` unless absent or empty: the original's "empty means unset".
fn set(value: Option<String>) -> Option<String> {
    value.filter(|s| !s.is_empty())
}

/// Like [`set`], for paths.
fn set_path(value: Option<PathBuf>) -> Option<PathBuf> {
    value.filter(|p| !p.as_os_str().is_empty())
}

/// Where a layer of settings came from, and how it spells its keys.
enum Origin {
    /// A config file (or "defaults"): keys as written there (`maxBytes`).
    File(String),
    /// The command line: keys as flags (`--max-bytes`).
    Flags,
}

impl Origin {
    /// `key` (the file's camelCase spelling) as this origin spells it.
    fn key(&self, key: &str) -> String {
        match self {
            Origin::File(_) => key.to_owned(),
            Origin::Flags => {
                let mut flag = String::from("--");
                for c in key.chars() {
                    if c.is_ascii_uppercase() {
                        flag.push('-');
                    }
                    flag.push(c.to_ascii_lowercase());
                }
                flag
            }
        }
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::File(name) => f.write_str(name),
            Origin::Flags => f.write_str("command line"),
        }
    }
}

/// The flags as a layer over the file: a flag given overrides; switches
/// (`--cache`, `--tls`, `--standalone`, `--ping`) can only turn things on.
impl From<&Cli> for FileConfig {
    fn from(cli: &Cli) -> FileConfig {
        FileConfig {
            addr: cli.addr.clone(),
            port: cli.port,
            max_bytes: cli.max_bytes,
            timeout: cli.timeout,
            key: cli.key.clone(),
            lang_map: cli.lang_map.clone(),
            podman_path: cli.podman_path.clone(),
            proxy: cli.proxy.clone(),
            cache: cli.cache.then_some(true),
            cache_size: cli.cache_size,
            tls: cli.tls.then_some(true),
            tls_dir: cli.tls_dir.clone(),
            ping: cli.ping.then_some(true),
            standalone: cli.standalone.then_some(true),
            burst: cli.burst,
            refill: cli.refill,
            instance: cli.instance.clone(),
            runner: cli.runner.clone(),
            max_concurrent: cli.max_concurrent,
            max_queue: cli.max_queue,
            output_limit: cli.output_limit,
            cpu_time: cli.cpu_time,
            client_timeout: cli.client_timeout,
            userns: cli.userns.clone(),
            pool_size: cli.pool_size,
        }
    }
}

impl FileConfig {
    pub fn parse(text: &str, path: &Path) -> Result<FileConfig, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })
    }

    pub fn load(path: &Path) -> Result<FileConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        FileConfig::parse(&text, path)
    }
}

impl Settings {
    /// Defaults, then the config file (`--config`, or `./config.toml` if present), then flags.
    pub fn load(cli: &Cli) -> Result<Settings, ConfigError> {
        let (file, origin) = match &cli.config {
            Some(path) => (FileConfig::load(path)?, path.display().to_string()),
            None if Path::new(DEFAULT_CONFIG_FILE).exists() => (
                FileConfig::load(Path::new(DEFAULT_CONFIG_FILE))?,
                DEFAULT_CONFIG_FILE.to_owned(),
            ),
            None => (FileConfig::default(), "defaults".to_owned()),
        };
        Settings::layer(file, &origin, cli)
    }

    /// Defaults, then `file` (named `origin` in errors), then `cli`.
    pub fn layer(file: FileConfig, origin: &str, cli: &Cli) -> Result<Settings, ConfigError> {
        let mut settings = Settings::default();
        let mut switches = Switches::default();
        settings.apply(file, &Origin::File(origin.to_owned()), &mut switches)?;
        settings.apply(FileConfig::from(cli), &Origin::Flags, &mut switches)?;
        if (cli.burst.is_some() || cli.refill.is_some()) && !switches.standalone {
            return Err(ConfigError::Value {
                origin: Origin::Flags.to_string(),
                key: "--burst/--refill".into(),
                message: "only apply with --standalone (or standalone = true)".into(),
            });
        }
        settings.resolve(switches);
        Ok(settings)
    }

    /// Turns the switches into the optional features they enable.
    fn resolve(&mut self, s: Switches) {
        self.cache = s.cache.then_some(s.cache_size);
        self.tls = s.tls.then_some(s.tls_dir);
        self.rate_limit = s.standalone.then_some(RateLimit {
            burst: s.burst,
            refill: Duration::from_secs(s.refill),
        });
    }

    /// Applies one layer (the file, or the flags as a layer); `origin`
    /// names it and its keys in errors.
    fn apply(
        &mut self,
        layer: FileConfig,
        origin: &Origin,
        switches: &mut Switches,
    ) -> Result<(), ConfigError> {
        let bad = |key: &'static str, message: String| ConfigError::Value {
            origin: origin.to_string(),
            key: origin.key(key),
            message,
        };
        if let Some(on) = layer.cache {
            switches.cache = on;
        }
        if let Some(bytes) = layer.cache_size {
            switches.cache_size = check_cache_size(bytes).map_err(|m| bad("cacheSize", m))?;
        }
        if let Some(on) = layer.tls {
            switches.tls = on;
        }
        if let Some(dir) = set_path(layer.tls_dir) {
            switches.tls_dir = dir;
        }
        if let Some(on) = layer.standalone {
            switches.standalone = on;
        }
        if let Some(burst) = layer.burst {
            switches.burst = check_positive(burst).map_err(|m| bad("burst", m))?;
        }
        if let Some(refill) = layer.refill {
            switches.refill = check_refill(refill).map_err(|m| bad("refill", m))?;
        }
        if let Some(addr) = set(layer.addr) {
            self.addr = parse_ip(&addr).map_err(|m| bad("addr", m))?;
        }
        if let Some(port) = layer.port {
            self.port = port;
        }
        if let Some(max_bytes) = layer.max_bytes {
            self.max_bytes = check_max_bytes(max_bytes).map_err(|m| bad("maxBytes", m))?;
        }
        if let Some(timeout) = layer.timeout {
            self.timeout = check_timeout(timeout).map_err(|m| bad("timeout", m))?;
        }
        if let Some(key) = set_path(layer.key) {
            self.key = key;
        }
        if let Some(map) = set_path(layer.lang_map) {
            self.lang_map = Some(map);
        }
        if let Some(podman) = set_path(layer.podman_path) {
            self.podman_path = podman;
        }
        if let Some(proxy) = set(layer.proxy) {
            self.proxy = Some(parse_ip(&proxy).map_err(|m| bad("proxy", m))?);
        }
        if let Some(ping) = layer.ping {
            self.ping = ping;
        }
        if let Some(instance) = set(layer.instance) {
            self.instance = Some(check_instance(&instance).map_err(|m| bad("instance", m))?);
        }
        if let Some(runner) = set_path(layer.runner) {
            self.runner = runner;
        }
        if let Some(n) = layer.max_concurrent {
            self.max_concurrent = check_positive(n).map_err(|m| bad("maxConcurrent", m))?;
        }
        if let Some(n) = layer.max_queue {
            self.max_queue = n;
        }
        if let Some(n) = layer.output_limit {
            self.output_limit = check_positive(n).map_err(|m| bad("outputLimit", m))?;
        }
        if let Some(n) = layer.pool_size {
            self.pool_size = n;
        }
        if let Some(mode) = set(layer.userns) {
            self.userns = Some(parse_userns(&mode).map_err(|m| bad("userns", m))?);
        }
        if let Some(n) = layer.client_timeout {
            self.client_timeout = check_timeout(n).map_err(|m| bad("clientTimeout", m))?;
        }
        if let Some(n) = layer.cpu_time {
            self.cpu_time = Some(check_timeout(n).map_err(|m| bad("cpuTime", m))?.as_secs());
        }
        Ok(())
    }

    /// The sandbox limits every run starts from (languages may override some).
    pub fn limits(&self) -> crate::sandbox::Limits {
        let cpu = self.cpu_time.unwrap_or(self.timeout.as_secs());
        crate::sandbox::Limits {
            cpu_seconds: u32::try_from(cpu).unwrap_or(u32::MAX - 1),
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

fn parse_ip(text: &str) -> Result<IpAddr, String> {
    let trimmed = text.trim_start_matches('[').trim_end_matches(']');
    trimmed
        .parse()
        .map_err(|_| format!("{text:?} is not an IP address"))
}

fn check_timeout(seconds: u64) -> Result<Duration, String> {
    if seconds == 0 || seconds > 3600 {
        return Err(format!("{seconds} is outside 1..=3600 seconds"));
    }
    Ok(Duration::from_secs(seconds))
}

fn parse_userns(text: &str) -> Result<crate::sandbox::policy::UserNamespace, String> {
    use crate::sandbox::policy::UserNamespace;
    match text {
        "auto" => Ok(UserNamespace::Auto),
        "host" => Ok(UserNamespace::Host),
        other => Err(format!("{other:?} is not \"auto\" or \"host\"")),
    }
}

fn check_refill(seconds: u64) -> Result<u64, String> {
    if !(1..=86_400).contains(&seconds) {
        return Err(format!("{seconds} is outside 1..=86400 seconds"));
    }
    Ok(seconds)
}

fn check_cache_size(bytes: u64) -> Result<u64, String> {
    if !(64 * 1024..=64 * 1024 * 1024 * 1024).contains(&bytes) {
        return Err(format!("{bytes} is outside 65536..=68719476736 bytes"));
    }
    Ok(bytes)
}

fn check_max_bytes(bytes: u64) -> Result<u64, String> {
    if !(1024..=256 * 1024 * 1024).contains(&bytes) {
        return Err(format!("{bytes} is outside 1024..=268435456 bytes"));
    }
    Ok(bytes)
}

fn check_positive<T: PartialOrd + Default + std::fmt::Display>(n: T) -> Result<T, String> {
    if n <= T::default() {
        return Err(format!("{n} must be at least 1"));
    }
    Ok(n)
}

/// Instance names end up in container names and labels.
fn check_instance(name: &str) -> Result<String, String> {
    let ok = !name.is_empty()
        && name.len() <= 48
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    if !ok {
        return Err(format!(
            "{name:?} must be 1-48 characters of letters, digits, '-', '_' or '.'"
        ));
    }
    Ok(name.to_owned())
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

    /// The original whipcode's `config.default.toml`, in its shape.
    const ORIGINAL_DEFAULT: &str = include_str!("../tests/fixtures/original-config.default.toml");

    fn layered(text: &str, flags: &[&str]) -> Result<Settings, ConfigError> {
        let file = FileConfig::parse(text, Path::new("test.toml"))?;
        let argv = std::iter::once("whipcode").chain(flags.iter().copied());
        Settings::layer(file, "test.toml", &Cli::try_parse_from(argv).unwrap())
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
        let text = include_str!("../config.default.toml");
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
        let keys: Vec<&str> = include_str!("../config.default.toml")
            .lines()
            .map(|l| l.trim_start_matches("# "))
            .filter_map(|l| l.split_once(" = ").map(|(k, _)| k))
            .filter(|k| k.chars().all(|c| c.is_ascii_alphabetic()))
            .collect();
        assert!(keys.len() >= 25, "{keys:?}");
        for key in keys {
            let flag = Origin::Flags.key(key);
            assert!(flags.contains(&flag), "{key} has no flag {flag}");
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
    fn instance_names_derive_from_address_and_port() {
        let addr: std::net::SocketAddr = "127.0.0.1:8123".parse().unwrap();
        assert_eq!(instance_for(addr), "127_0_0_1-8123");
    }
}
