//! Typed settings: built-in defaults, then the config file, then flags.
//!
//! Every setting is declared once, in [`Options`]: the file and the flags
//! are two layers of the same struct. The file uses the original whipcode's
//! key names (`maxBytes`, `langMap`, …), and an empty string means "unset",
//! as in its `config.default.toml`. The layers are merged, then resolved
//! once into [`Settings`]; an unknown key or a bad value is a startup error
//! naming where it came from (the file and key, or the flag).
//!
//! - [`options`]: the layers' struct, every setting and its flag.
//! - [`settings`]: the settings in force, each with its default beside it.
//! - [`resolve`]: the merged layers into settings, by concern.
//! - [`values`]: what each value may be, and how each origin names a key.
//! - [`error`]: why a value is refused, and where it came from.

mod error;
mod options;
mod resolve;
mod settings;
mod values;

use std::path::Path;

pub use crate::buckets::RateLimit;
pub use error::{ConfigError, ValueError};
pub use options::Options;
pub use settings::*;
use values::Origin;

/// The file read when `--config` is not given and it exists.
pub const DEFAULT_CONFIG_FILE: &str = "config.toml";

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
                source: ValueError::NeedsStandalone,
            });
        }
        Settings::resolve(merged, origin_of)
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
    use std::net::IpAddr;
    use std::path::PathBuf;
    use std::time::Duration;

    use clap::Parser;

    use super::*;

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
    fn no_layer_leaves_every_setting_at_its_default() {
        let none = Settings::layer(Options::default(), "defaults", &Options::default()).unwrap();
        assert_eq!(format!("{none:?}"), format!("{:?}", Settings::default()));
    }

    #[test]
    fn the_flags_help_states_the_defaults_the_settings_start_from() {
        use clap::CommandFactory;
        let command = Cli::command();
        let secs = |d: Duration| d.as_secs().to_string();
        for (id, default) in [
            ("port", DEFAULT_PORT.to_string()),
            ("max_bytes", DEFAULT_MAX_BYTES.to_string()),
            ("timeout", secs(DEFAULT_TIMEOUT)),
            ("key", DEFAULT_KEY.to_owned()),
            ("podman_path", DEFAULT_PODMAN_PATH.to_owned()),
            ("crun_path", DEFAULT_CRUN_PATH.to_owned()),
            ("cache_size", DEFAULT_CACHE_BYTES.to_string()),
            ("cache_ttl", secs(DEFAULT_CACHE_TTL)),
            ("tls_dir", DEFAULT_TLS_DIR.to_owned()),
            ("burst", DEFAULT_BURST.to_string()),
            ("refill", secs(DEFAULT_REFILL)),
            ("max_queue", DEFAULT_MAX_QUEUE.to_string()),
            ("client_timeout", secs(DEFAULT_CLIENT_TIMEOUT)),
            ("max_files", DEFAULT_MAX_FILES.to_string()),
            (
                "max_client_connections",
                DEFAULT_CLIENT_CONNECTIONS.to_string(),
            ),
            ("output_limit", DEFAULT_OUTPUT_LIMIT.to_string()),
            ("judge0_path", DEFAULT_JUDGE0_PATH.to_owned()),
            ("judge0_extra_path", DEFAULT_JUDGE0_EXTRA_PATH.to_owned()),
            ("judge0_queue", DEFAULT_JUDGE0_QUEUE.to_string()),
            ("judge0_keep", secs(DEFAULT_JUDGE0_KEEP)),
            ("judge0_store_bytes", DEFAULT_JUDGE0_STORE_BYTES.to_string()),
            ("drain_timeout", secs(DEFAULT_DRAIN_TIMEOUT)),
            ("drain_grace", secs(DEFAULT_DRAIN_GRACE)),
        ] {
            let help = command
                .get_arguments()
                .find(|a| a.get_id() == id)
                .and_then(|a| a.get_help())
                .map(|h| h.to_string())
                .unwrap_or_else(|| panic!("--{id} has no help"));
            assert!(
                help.contains(&format!("default: {default}")),
                "--{id}: {help}"
            );
        }
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
    fn the_extra_ce_path_is_apart_from_judge0s_path() {
        let s = layered("", &[]).unwrap();
        assert_eq!(s.judge0_extra_path.as_deref(), Some("/judge0-extra"));
        for (ce, extra) in [
            ("/judge0", "/judge0"),
            ("/judge0", "/judge0/extra"),
            ("/j/x", "/j"),
        ] {
            let err = layered("", &["--judge0-path", ce, "--judge0-extra-path", extra])
                .unwrap_err()
                .to_string();
            assert!(err.contains("overlaps"), "{ce} {extra}: {err}");
        }
        let s = layered("judge0ExtraPath = \"off\"\n", &["--judge0-path", "off"]).unwrap();
        assert_eq!((s.judge0_path, s.judge0_extra_path), (None, None));
        // The default Extra CE path counts too.
        let err = layered("", &["--judge0-path", "/judge0-extra"]).unwrap_err();
        assert!(err.to_string().contains("`--judge0-path`"), "{err}");
        assert!(err.to_string().contains("overlaps"), "{err}");
        let err = layered("", &["--judge0-extra-path", "/run"]).unwrap_err();
        assert!(err.to_string().contains("whipcode's own routes"), "{err}");
    }

    #[test]
    fn cors_origins_come_from_the_file_or_a_flag_and_a_bad_one_is_named() {
        use crate::origins::CorsOrigins;
        assert_eq!(Settings::default().cors_origins, CorsOrigins::None);
        let s = layered("corsOrigins = \"*\"\n", &[]).unwrap();
        assert_eq!(s.cors_origins, CorsOrigins::Any);
        let flag = ["--cors-origins", "https://ide.judge0.com"];
        let s = layered("corsOrigins = \"*\"\n", &flag).unwrap();
        let ide = CorsOrigins::Listed(vec!["https://ide.judge0.com".into()]);
        assert_eq!(s.cors_origins, ide);
        let err = layered("", &["--cors-origins", "https://ide.judge0.com/"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`--cors-origins`") && err.contains("never matches"),
            "{err}"
        );
    }

    #[test]
    fn a_store_is_a_redis_url_never_shown_with_its_password() {
        assert_eq!(Settings::default().store, None);
        let s = layered("store = \"\"\n", &[]).unwrap();
        assert_eq!(s.store, None, "empty: embedded");
        let given = "redis://:s3cret@10.0.0.5:6380/2";
        let s = layered("", &["--store", given]).unwrap();
        let url = s.store.clone().unwrap();
        assert_eq!(url.expose(), given);
        let shown = format!("{url} {url:?} {s:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("10.0.0.5:6380"), "{shown}");
        let unix = layered("store = \"redis+unix:///run/redis.sock\"\n", &[]).unwrap();
        assert!(unix.store.is_some());
        for bad in [
            "http://h/",
            "rediss://:pw@h/",
            "redis://h/notadb",
            "10.0.0.5:6379",
        ] {
            let err = layered("", &["--store", bad]).unwrap_err().to_string();
            assert!(
                err.contains("`--store`") && err.contains("not a Redis URL"),
                "{bad}: {err}"
            );
            assert!(!err.contains(":pw@"), "{err}");
        }
    }

    #[test]
    fn the_claim_follows_the_longest_submission_unless_given() {
        let s = layered("timeout = 5\n", &[]).unwrap();
        assert_eq!(s.store_claim_after, Duration::from_secs(5 * 21 + 60));
        let s = layered("timeout = 5\nstoreClaimAfter = 3\n", &[]).unwrap();
        assert_eq!(s.store_claim_after, Duration::from_secs(3));
        let err = layered("", &["--store-claim-after", "0"]).unwrap_err();
        assert!(err.to_string().contains("`--store-claim-after`"), "{err}");
    }

    #[test]
    fn the_drain_grace_may_be_zero_and_is_bounded() {
        assert_eq!(Settings::default().drain_grace, Duration::from_secs(5));
        let s = layered("drainGrace = 0\n", &[]).unwrap();
        assert_eq!(s.drain_grace, Duration::ZERO, "0: stop listening at once");
        let err = layered("", &["--drain-grace", "301"]).unwrap_err();
        assert!(err.to_string().contains("`--drain-grace`"), "{err}");
    }

    #[test]
    fn instance_names_derive_from_address_and_port() {
        let addr: std::net::SocketAddr = "127.0.0.1:8123".parse().unwrap();
        assert_eq!(instance_for(addr), "127_0_0_1-8123");
    }
}
