//! Command-line flags: the settings ([`Options`], shared with the config
//! file) and the modes (`--gen-key`, `--build-images`, `--self-test`, …).
//! Names follow the original whipcode.

use std::path::PathBuf;

use clap::{ArgAction, Parser};

use crate::config::Options;

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

    /// The settings, shared with the config file.
    #[command(flatten)]
    pub options: Options,

    /// Once listening, write the bound port to this file (for scripts and
    /// tests that start whipcode on port 0).
    #[arg(long = "port-file", value_name = "FILE")]
    pub port_file: Option<PathBuf>,

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

    /// With --build-images: where each image's build log goes, a directory
    /// only this user may reach (default: /var/log/whipcode/builds).
    #[arg(long = "build-log-dir", value_name = "DIR", requires = "build_images")]
    pub build_log_dir: Option<PathBuf>,

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
        assert_eq!(cli.options.addr.as_deref(), Some("127.0.0.1"));
        assert_eq!(cli.options.port, Some(6060));
        assert_eq!(cli.options.max_bytes, Some(500));
        assert_eq!(cli.options.timeout, Some(5));
        assert_eq!(cli.options.key, Some(PathBuf::from("k")));
        assert_eq!(cli.options.lang_map, Some(PathBuf::from("m.toml")));
        assert_eq!(cli.options.podman_path, Some(PathBuf::from("/bin/podman")));
        assert_eq!(cli.options.ping, Some(true));
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
