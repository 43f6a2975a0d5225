//! Command-line flags. Names follow the original whipcode; every setting flag is
//! optional so that an absent flag leaves the config file's value in force.

use std::path::PathBuf;

use clap::{ArgAction, Parser};

/// A stateless REST API that runs untrusted code in Podman containers.
#[derive(Debug, Default, Parser)]
#[command(name = "whipcode", version, disable_version_flag = true)]
pub struct Cli {
    /// Print the version and exit.
    #[arg(short = 'v', long = "version", action = ArgAction::Version)]
    pub version: Option<bool>,

    /// Configuration file (default: ./config.toml when it exists).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// The address to listen on (default: all interfaces).
    #[arg(short = 'a', long, value_name = "ADDR")]
    pub addr: Option<String>,

    /// The port to listen on (default: 8000).
    #[arg(short = 'p', long, value_name = "PORT")]
    pub port: Option<u16>,

    /// The maximum size of a request body in bytes (default: 1000000).
    #[arg(short = 'b', long = "max-bytes", value_name = "BYTES")]
    pub max_bytes: Option<u64>,

    /// The maximum run time of a program, in seconds (default: 10).
    #[arg(short = 't', long, value_name = "SECONDS")]
    pub timeout: Option<u64>,

    /// The key file: argon2id hash of the master key, then its salt (default: .masterkey).
    #[arg(short = 'k', long, value_name = "FILE")]
    pub key: Option<PathBuf>,

    /// The language map (default: langmap.toml if present, else the built-in one).
    #[arg(short = 'm', long = "lang-map", value_name = "FILE")]
    pub lang_map: Option<PathBuf>,

    /// Path to the podman binary (default: /usr/bin/podman).
    #[arg(long = "podman-path", value_name = "PATH")]
    pub podman_path: Option<PathBuf>,

    /// Only accept requests from this peer address (the reverse proxy or gateway).
    #[arg(long, value_name = "ADDR")]
    pub proxy: Option<String>,

    /// Enable GET /ping, which answers "pong".
    #[arg(long, action = ArgAction::SetTrue)]
    pub ping: bool,

    /// Cache results of runs in memory (LRU, bounded by --cache-size).
    #[arg(long, action = ArgAction::SetTrue)]
    pub cache: bool,

    /// Bytes the result cache may hold (default: 67108864).
    #[arg(long = "cache-size", value_name = "BYTES")]
    pub cache_size: Option<u64>,

    /// Serve HTTPS with cert.pem and key.pem from --tls-dir.
    #[arg(long, action = ArgAction::SetTrue)]
    pub tls: bool,

    /// The directory holding cert.pem and key.pem (default: tls).
    #[arg(long = "tls-dir", value_name = "DIR")]
    pub tls_dir: Option<PathBuf>,

    /// Rate-limit each client IP (a token bucket) without a gateway in front.
    #[arg(long, action = ArgAction::SetTrue)]
    pub standalone: bool,

    /// With --standalone: requests a client may make in a burst (default: 3).
    #[arg(long, value_name = "COUNT")]
    pub burst: Option<u32>,

    /// With --standalone: seconds for one request to come back to a bucket (default: 1).
    #[arg(long, value_name = "SECONDS")]
    pub refill: Option<u64>,

    /// Name of this instance; labels its containers (default: derived from address and port).
    #[arg(long, value_name = "NAME")]
    pub instance: Option<String>,

    /// Once listening, write the bound port to this file (for scripts and
    /// tests that start whipcode on port 0).
    #[arg(long = "port-file", value_name = "FILE")]
    pub port_file: Option<PathBuf>,

    /// Path to the static in-container runner (default: whipcode-runner beside this binary).
    #[arg(long, value_name = "PATH")]
    pub runner: Option<PathBuf>,

    /// Most containers alive at once (default: twice the CPU count, at least 2).
    #[arg(long = "max-concurrent", value_name = "COUNT")]
    pub max_concurrent: Option<usize>,

    /// Most requests waiting for a container before new ones get 503 (default: 64).
    #[arg(long = "max-queue", value_name = "COUNT")]
    pub max_queue: Option<usize>,

    /// User namespace per run: host (default) or auto (a fresh id range per
    /// container, from the `containers` entries of /etc/subuid and /etc/subgid).
    #[arg(long, value_name = "auto|host")]
    pub userns: Option<String>,

    /// Seconds a client gets to send a request's headers, and again its body (default: 30).
    #[arg(long = "client-timeout", value_name = "SECONDS")]
    pub client_timeout: Option<u64>,

    /// CPU seconds each process of a run may use (default: the --timeout value).
    #[arg(long = "cpu-time", value_name = "SECONDS")]
    pub cpu_time: Option<u64>,

    /// Warm containers kept ready across languages; 0 turns the pool off
    /// (default: the CPU count, between 2 and 8).
    #[arg(long = "pool-size", value_name = "COUNT")]
    pub pool_size: Option<usize>,

    /// Byte cap on each of stdout and stderr (default: 1048576).
    #[arg(long = "output-limit", value_name = "BYTES")]
    pub output_limit: Option<u64>,

    /// Build the base image and the language images (all, or the ids/names given), then exit.
    #[arg(long = "build-images", value_name = "LANG", num_args = 0.., value_delimiter = ',')]
    pub build_images: Option<Vec<String>>,

    /// With --build-images: images built at once (default: CPUs, between 2 and 4).
    #[arg(long = "build-jobs", value_name = "COUNT", requires = "build_images")]
    pub build_jobs: Option<usize>,

    /// With --build-images: where files that recipes fetch are kept by checksum
    /// between builds (default: /var/cache/whipcode/downloads).
    #[arg(long = "download-dir", value_name = "DIR", requires = "build_images")]
    pub download_dir: Option<PathBuf>,

    /// Print, as JSON, what one run of this language gets (libpod's create spec,
    /// podman's configuration, the steps and environment): the security
    /// policy made concrete.
    #[arg(long = "print-policy", value_name = "LANG")]
    pub print_policy: Option<String>,

    /// Send every language's self-test programs (or those of the ids/names given)
    /// to a running service at --addr/--port, print a table, exit non-zero on any failure.
    /// The key comes from WHIPCODE_MASTER_KEY or --master-key.
    #[arg(long = "self-test", value_name = "LANG", num_args = 0.., value_delimiter = ',')]
    pub self_test: Option<Vec<String>>,

    /// With --self-test: the master key (prefer WHIPCODE_MASTER_KEY: flags show in `ps`).
    #[arg(long = "master-key", value_name = "KEY", requires = "self_test")]
    pub master_key: Option<String>,

    /// Write a new key file at the --key path, then exit. The key is taken from
    /// WHIPCODE_MASTER_KEY when set, asked for on a terminal, else generated
    /// and printed once.
    #[arg(long = "gen-key", action = ArgAction::SetTrue)]
    pub gen_key: bool,

    /// With --gen-key: the salt to use (default: 32 random hex characters).
    #[arg(long, value_name = "SALT", requires = "gen_key")]
    pub salt: Option<String>,

    /// With --gen-key: replace an existing key file.
    #[arg(long, action = ArgAction::SetTrue, requires = "gen_key")]
    pub force: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_original_short_flags_parse() {
        let cli = Cli::try_parse_from([
            "whipcode",
            "-a",
            "127.0.0.1",
            "-p",
            "6060",
            "-b",
            "500",
            "-t",
            "5",
            "-k",
            "k",
            "-m",
            "m.toml",
            "--podman-path",
            "/bin/podman",
            "--ping",
        ])
        .unwrap();
        assert_eq!(cli.addr.as_deref(), Some("127.0.0.1"));
        assert_eq!(cli.port, Some(6060));
        assert_eq!(cli.max_bytes, Some(500));
        assert_eq!(cli.timeout, Some(5));
        assert_eq!(cli.key, Some(PathBuf::from("k")));
        assert_eq!(cli.lang_map, Some(PathBuf::from("m.toml")));
        assert_eq!(cli.podman_path, Some(PathBuf::from("/bin/podman")));
        assert!(cli.ping);
    }

    #[test]
    fn dash_v_prints_the_version() {
        let err = Cli::try_parse_from(["whipcode", "-v"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::DisplayVersion);
    }

    #[test]
    fn build_images_takes_an_optional_list() {
        let all = Cli::try_parse_from(["whipcode", "--build-images"]).unwrap();
        assert_eq!(all.build_images, Some(vec![]));
        let some = Cli::try_parse_from(["whipcode", "--build-images", "python,c"]).unwrap();
        assert_eq!(some.build_images, Some(vec!["python".into(), "c".into()]));
    }
}
