//! The values a setting may take: parsing and range checks, each with the
//! message a startup error shows, and how each origin spells a key.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::sandbox::policy::UserNamespace;

/// `Some(s)` unless absent or empty: the original's "empty means unset".
pub(super) fn set(value: Option<String>) -> Option<String> {
    value.filter(|s| !s.is_empty())
}

/// Like [`set`], for paths.
pub(super) fn set_path(value: Option<PathBuf>) -> Option<PathBuf> {
    value.filter(|p| !p.as_os_str().is_empty())
}

/// Where a layer of settings came from, and how it spells its keys.
pub(super) enum Origin {
    /// A config file (or "defaults"): keys as written there (`maxBytes`).
    File(String),
    /// The command line: keys as flags (`--max-bytes`).
    Flags,
}

impl Origin {
    /// `key` (the file's camelCase spelling) as this origin spells it.
    pub(super) fn key(&self, key: &str) -> String {
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

pub(super) fn parse_ip(text: &str) -> Result<IpAddr, String> {
    let trimmed = text.trim_start_matches('[').trim_end_matches(']');
    trimmed
        .parse()
        .map_err(|_| format!("{text:?} is not an IP address"))
}

pub(super) fn check_timeout(seconds: u64) -> Result<Duration, String> {
    if seconds == 0 || seconds > 3600 {
        return Err(format!("{seconds} is outside 1..=3600 seconds"));
    }
    Ok(Duration::from_secs(seconds))
}

pub(super) fn parse_engine(text: &str) -> Result<crate::sandbox::EngineChoice, String> {
    match text {
        "crun" => Ok(crate::sandbox::EngineChoice::Crun),
        "podman" => Ok(crate::sandbox::EngineChoice::Podman),
        other => Err(format!("{other:?} is not \"crun\" or \"podman\"")),
    }
}

pub(super) fn parse_userns(text: &str) -> Result<UserNamespace, String> {
    match text {
        "auto" => Ok(UserNamespace::Auto),
        "host" => Ok(UserNamespace::Host),
        "per-run" => Ok(UserNamespace::PerRun),
        other => Err(format!(
            "{other:?} is not \"per-run\", \"host\" or \"auto\""
        )),
    }
}

pub(super) fn check_refill(seconds: u64) -> Result<u64, String> {
    if !(1..=86_400).contains(&seconds) {
        return Err(format!("{seconds} is outside 1..=86400 seconds"));
    }
    Ok(seconds)
}

pub(super) fn check_cache_size(bytes: u64) -> Result<u64, String> {
    if !(64 * 1024..=64 * 1024 * 1024 * 1024).contains(&bytes) {
        return Err(format!("{bytes} is outside 65536..=68719476736 bytes"));
    }
    Ok(bytes)
}

pub(super) fn check_max_bytes(bytes: u64) -> Result<u64, String> {
    if !(1024..=256 * 1024 * 1024).contains(&bytes) {
        return Err(format!("{bytes} is outside 1024..=268435456 bytes"));
    }
    Ok(bytes)
}

pub(super) fn check_positive<T: PartialOrd + Default + std::fmt::Display>(
    n: T,
) -> Result<T, String> {
    if n <= T::default() {
        return Err(format!("{n} must be at least 1"));
    }
    Ok(n)
}

/// Instance names end up in container names and labels.
pub(super) fn check_instance(name: &str) -> Result<String, String> {
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
