//! The values a setting may take: parsing and range checks, each failing
//! with the [`ValueError`] a startup error shows, and how each origin spells
//! a key.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use super::error::ValueError;
use super::settings::{redacted, StoreUrl};
use crate::api::own_routes::OWN_ROUTES;
use crate::sandbox::policy::UserNamespace;
use crate::sandbox::EngineChoice;

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

pub(super) fn parse_ip(text: &str) -> Result<IpAddr, ValueError> {
    let trimmed = text.trim_start_matches('[').trim_end_matches(']');
    trimmed
        .parse()
        .map_err(|_| ValueError::NotAnIp(text.to_owned()))
}

pub(super) fn parse_socket_addr(text: &str) -> Result<SocketAddr, ValueError> {
    text.parse()
        .map_err(|_| ValueError::NotASocketAddress(text.to_owned()))
}

/// `value` when `range` holds it; `shown` is the range with its unit.
fn within(
    value: u64,
    range: std::ops::RangeInclusive<u64>,
    shown: &'static str,
) -> Result<u64, ValueError> {
    if !range.contains(&value) {
        return Err(ValueError::OutOfRange {
            value,
            range: shown,
        });
    }
    Ok(value)
}

pub(super) fn check_timeout(seconds: u64) -> Result<Duration, ValueError> {
    within(seconds, 1..=3600, "1..=3600 seconds").map(Duration::from_secs)
}

/// A drain grace: 0 (stop listening at once) up to 5 minutes.
pub(super) fn check_grace(seconds: u64) -> Result<Duration, ValueError> {
    within(seconds, 0..=300, "0..=300 seconds").map(Duration::from_secs)
}

pub(super) fn check_refill(seconds: u64) -> Result<Duration, ValueError> {
    within(seconds, 1..=86_400, "1..=86400 seconds").map(Duration::from_secs)
}

pub(super) fn check_cache_size(bytes: u64) -> Result<u64, ValueError> {
    let range = 64 * 1024..=64 * 1024 * 1024 * 1024;
    within(bytes, range, "65536..=68719476736 bytes")
}

pub(super) fn check_max_bytes(bytes: u64) -> Result<u64, ValueError> {
    within(bytes, 1024..=256 * 1024 * 1024, "1024..=268435456 bytes")
}

pub(super) fn check_positive<T: PartialOrd + Default + std::fmt::Display>(
    n: T,
) -> Result<T, ValueError> {
    if n <= T::default() {
        return Err(ValueError::NotPositive(n.to_string()));
    }
    Ok(n)
}

pub(super) fn parse_engine(text: &str) -> Result<EngineChoice, ValueError> {
    match text {
        "crun" => Ok(EngineChoice::Crun),
        "podman" => Ok(EngineChoice::Podman),
        other => Err(ValueError::NotOneOf {
            given: other.to_owned(),
            expected: r#""crun" or "podman""#,
        }),
    }
}

pub(super) fn parse_userns(text: &str) -> Result<UserNamespace, ValueError> {
    match text {
        "auto" => Ok(UserNamespace::Auto),
        "host" => Ok(UserNamespace::Host),
        "per-run" => Ok(UserNamespace::PerRun),
        other => Err(ValueError::NotOneOf {
            given: other.to_owned(),
            expected: r#""per-run", "host" or "auto""#,
        }),
    }
}

/// Instance names end up in container names and labels.
pub(super) fn check_instance(name: &str) -> Result<String, ValueError> {
    let ok = !name.is_empty()
        && name.len() <= 48
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    if !ok {
        return Err(ValueError::BadInstance(name.to_owned()));
    }
    Ok(name.to_owned())
}

/// A path to nest routes under: `/` and segments of letters, digits, `-`,
/// `_` and `.`, no trailing slash, none of whipcode's own routes (the
/// router's list, [`OWN_ROUTES`]).
pub(super) fn check_route_prefix(path: &str) -> Result<String, ValueError> {
    let segments: Vec<&str> = path.strip_prefix('/').unwrap_or("").split('/').collect();
    let plain = |s: &&str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    if !path.starts_with('/') || !segments.iter().all(plain) {
        return Err(ValueError::NotARoutePrefix(path.to_owned()));
    }
    if OWN_ROUTES.contains(&segments[0]) {
        return Err(ValueError::OwnRoute(path.to_owned()));
    }
    Ok(path.to_owned())
}

/// A shared store's URL: Redis over TCP or a Unix socket, as the client
/// reads it (TLS, `rediss://`, is not built in).
pub(super) fn parse_store_url(url: &str) -> Result<StoreUrl, ValueError> {
    let refused = |why: &str| ValueError::NotAStoreUrl(redacted(url), why.to_owned());
    let scheme = url.split_once("://").map(|(s, _)| s);
    if !matches!(scheme, Some("redis" | "redis+unix" | "unix")) {
        return Err(refused("the scheme must be redis, redis+unix or unix"));
    }
    redis::IntoConnectionInfo::into_connection_info(url)
        .map_err(|e| refused(&e.to_string().replace(url, "the URL")))?;
    Ok(StoreUrl::checked(url.to_owned()))
}

/// `path`, when no route under it is also under `other` (a second API's
/// base path): neither is the other, nor nested in it.
pub(super) fn apart_from(path: String, other: Option<&str>) -> Result<String, ValueError> {
    let under = |a: &str, b: &str| a == b || a.starts_with(&format!("{b}/"));
    match other {
        Some(other) if under(&path, other) || under(other, &path) => {
            Err(ValueError::Overlaps(path, other.to_owned()))
        }
        _ => Ok(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_read_as_the_value_and_what_it_must_be() {
        let shown = |e: ValueError| e.to_string();
        assert_eq!(
            shown(check_timeout(0).unwrap_err()),
            "0 is outside 1..=3600 seconds"
        );
        assert_eq!(
            shown(parse_engine("runc").unwrap_err()),
            r#""runc" is not "crun" or "podman""#
        );
        assert_eq!(
            shown(check_positive(0usize).unwrap_err()),
            "0 must be at least 1"
        );
        assert_eq!(
            shown(parse_socket_addr("localhost").unwrap_err()),
            r#""localhost" is not an address:port"#
        );
    }
}
