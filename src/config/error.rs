//! Why the settings cannot be loaded: a file that cannot be read or parsed,
//! or a value refused, named by where it came from (the file and key, or the
//! flag) and why.

use std::path::PathBuf;

use crate::allowlist::NotAnAllowEntry;
use crate::origins::NotAnOrigin;

/// Why the settings cannot be loaded; a value's error names its origin and key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("{origin}: `{key}`: {source}")]
    Value {
        origin: String,
        key: String,
        source: ValueError,
    },
}

/// Why a setting's value is refused (shown after the origin and the key).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    #[error("{0:?} is not an IP address")]
    NotAnIp(String),
    #[error("{0:?} is not an address:port")]
    NotASocketAddress(String),
    /// `range` with its unit, e.g. `1..=3600 seconds`.
    #[error("{value} is outside {range}")]
    OutOfRange { value: u64, range: &'static str },
    #[error("{0} must be at least 1")]
    NotPositive(String),
    /// `expected`: the values it may take, e.g. `"crun" or "podman"`.
    #[error("{given:?} is not {expected}")]
    NotOneOf {
        given: String,
        expected: &'static str,
    },
    #[error("{0:?} must be 1-48 characters of letters, digits, '-', '_' or '.'")]
    BadInstance(String),
    #[error("{0:?} must be a path such as /judge0 (segments of letters, digits, -, _ and .)")]
    NotARoutePrefix(String),
    #[error("{0:?} is taken by one of whipcode's own routes")]
    OwnRoute(String),
    #[error("{0:?} overlaps the routes under {1:?}")]
    Overlaps(String, String),
    #[error(transparent)]
    CallbackAllow(#[from] NotAnAllowEntry),
    #[error(transparent)]
    CorsOrigins(#[from] NotAnOrigin),
    /// The URL shown without its password.
    #[error("{0:?} is not a Redis URL (redis://HOST:PORT/DB or redis+unix:///PATH): {1}")]
    NotAStoreUrl(String, String),
    #[error("is not valid UTF-8")]
    NotUtf8,
    #[error("only apply with --standalone (or standalone = true)")]
    NeedsStandalone,
}
