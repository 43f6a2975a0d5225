//! The merged layers resolved into [`Settings`], by concern. Every setting
//! starts at its default ([`Settings::default`]); a value a layer gives is
//! checked and takes its place, or is a startup error naming where it came
//! from (the file and key, or the flag).

use std::path::PathBuf;

use super::error::{ConfigError, ValueError};
use super::options::Options;
use super::settings::{default_claim_after, Settings};
use super::settings::{DEFAULT_BURST, DEFAULT_CACHE_BYTES, DEFAULT_REFILL, DEFAULT_TLS_DIR};
use super::values::{
    apart_from, check_cache_size, check_grace, check_instance, check_max_bytes, check_positive,
    check_refill, check_route_prefix, check_timeout, parse_engine, parse_ip, parse_socket_addr,
    parse_store_url, parse_userns, set, set_path, Origin,
};
use crate::allowlist::parse_allow_list;
use crate::buckets::RateLimit;
use crate::origins::parse_cors_origins;

impl Settings {
    /// The merged layers as concrete values, each with its default when no
    /// layer gives it; a bad one is named by `origin_of` its key.
    pub(super) fn resolve(
        o: Options,
        origin_of: impl Fn(&str) -> Origin,
    ) -> Result<Settings, ConfigError> {
        let r = Resolver { origin_of };
        let mut s = Settings::default();
        r.service(&o, &mut s)?;
        r.limits(&o, &mut s)?;
        r.network(&o, &mut s)?;
        r.sandbox(&o, &mut s)?;
        r.judge0(&o, &mut s)?;
        Ok(s)
    }
}

/// Checks the values layers give, naming the origin of a bad one.
struct Resolver<F> {
    origin_of: F,
}

impl<F: Fn(&str) -> Origin> Resolver<F> {
    /// `field` becomes what `check` makes of `given`, when a layer gives it.
    fn apply<T, U>(
        &self,
        field: &mut U,
        key: &'static str,
        given: Option<T>,
        check: impl FnOnce(T) -> Result<U, ValueError>,
    ) -> Result<(), ConfigError> {
        if let Some(value) = given {
            *field = check(value).map_err(|source| {
                let origin = (self.origin_of)(key);
                ConfigError::Value {
                    origin: origin.to_string(),
                    key: origin.key(key),
                    source,
                }
            })?;
        }
        Ok(())
    }

    /// What the service reads and which features are on: its key, its
    /// language map, `/ping`, the result cache, the per-client rate limit.
    fn service(&self, o: &Options, s: &mut Settings) -> Result<(), ConfigError> {
        self.apply(&mut s.key, "key", set_path(o.key.clone()), Ok)?;
        self.apply(
            &mut s.lang_map,
            "langMap",
            set_path(o.lang_map.clone()),
            |p| Ok(Some(p)),
        )?;
        self.apply(&mut s.ping, "ping", o.ping, Ok)?;
        let mut cache_bytes = DEFAULT_CACHE_BYTES;
        self.apply(
            &mut cache_bytes,
            "cacheSize",
            o.cache_size,
            check_cache_size,
        )?;
        s.cache = (o.cache == Some(true)).then_some(cache_bytes);
        self.apply(&mut s.cache_ttl, "cacheTtl", o.cache_ttl, |n| {
            check_positive(n).map(std::time::Duration::from_secs)
        })?;
        let mut limit = RateLimit {
            burst: DEFAULT_BURST,
            refill: DEFAULT_REFILL,
        };
        self.apply(&mut limit.burst, "burst", o.burst, check_positive)?;
        self.apply(&mut limit.refill, "refill", o.refill, check_refill)?;
        s.rate_limit = (o.standalone == Some(true)).then_some(limit);
        Ok(())
    }

    /// What one request and one run may take.
    fn limits(&self, o: &Options, s: &mut Settings) -> Result<(), ConfigError> {
        self.apply(&mut s.max_bytes, "maxBytes", o.max_bytes, check_max_bytes)?;
        self.apply(&mut s.timeout, "timeout", o.timeout, check_timeout)?;
        // CPU time follows the timeout unless given.
        s.cpu_time = s.timeout;
        self.apply(&mut s.cpu_time, "cpuTime", o.cpu_time, check_timeout)?;
        self.apply(&mut s.max_files, "maxFiles", o.max_files, check_positive)?;
        self.apply(
            &mut s.output_limit,
            "outputLimit",
            o.output_limit,
            check_positive,
        )?;
        Ok(())
    }

    /// Where the service listens, whom it serves, and its clients' bounds.
    fn network(&self, o: &Options, s: &mut Settings) -> Result<(), ConfigError> {
        self.apply(&mut s.addr, "addr", set(o.addr.clone()), |a| parse_ip(&a))?;
        self.apply(&mut s.port, "port", o.port, Ok)?;
        self.apply(&mut s.proxy, "proxy", set(o.proxy.clone()), |p| {
            parse_ip(&p).map(Some)
        })?;
        let tls_dir = set_path(o.tls_dir.clone()).unwrap_or_else(|| PathBuf::from(DEFAULT_TLS_DIR));
        s.tls = (o.tls == Some(true)).then_some(tls_dir);
        let timeout = o.client_timeout;
        self.apply(
            &mut s.client_timeout,
            "clientTimeout",
            timeout,
            check_timeout,
        )?;
        let connections = o.max_client_connections;
        self.apply(
            &mut s.max_client_connections,
            "maxClientConnections",
            connections,
            check_positive,
        )?;
        self.apply(
            &mut s.drain_timeout,
            "drainTimeout",
            o.drain_timeout,
            check_timeout,
        )?;
        let grace = o.drain_grace;
        self.apply(&mut s.drain_grace, "drainGrace", grace, check_grace)?;
        self.apply(
            &mut s.metrics_addr,
            "metricsAddr",
            set(o.metrics_addr.clone()),
            |a| parse_socket_addr(&a).map(Some),
        )?;
        Ok(())
    }

    /// What starts the containers, how many, and what they are named.
    fn sandbox(&self, o: &Options, s: &mut Settings) -> Result<(), ConfigError> {
        let podman = set_path(o.podman_path.clone());
        self.apply(&mut s.podman_path, "podmanPath", podman, Ok)?;
        self.apply(&mut s.engine, "engine", set(o.engine.clone()), |e| {
            parse_engine(&e)
        })?;
        self.apply(
            &mut s.crun_path,
            "crunPath",
            set_path(o.crun_path.clone()),
            Ok,
        )?;
        self.apply(&mut s.runner, "runner", set_path(o.runner.clone()), Ok)?;
        self.apply(&mut s.instance, "instance", set(o.instance.clone()), |i| {
            check_instance(&i).map(Some)
        })?;
        let most = o.max_concurrent;
        self.apply(&mut s.max_concurrent, "maxConcurrent", most, check_positive)?;
        self.apply(&mut s.max_queue, "maxQueue", o.max_queue, Ok)?;
        self.apply(&mut s.userns, "userns", set(o.userns.clone()), |m| {
            parse_userns(&m)
        })?;
        self.apply(&mut s.pool_size, "poolSize", o.pool_size, Ok)?;
        Ok(())
    }

    /// Judge0's API: where, how many submissions, how long they are kept,
    /// where its callbacks may go, and whose pages may call it.
    fn judge0(&self, o: &Options, s: &mut Settings) -> Result<(), ConfigError> {
        let path = set(o.judge0_path.clone());
        self.apply(&mut s.judge0_path, "judge0Path", path, |p| {
            match p.as_str() {
                "off" => Ok(None),
                p => check_route_prefix(p).map(Some),
            }
        })?;
        let extra = set(o.judge0_extra_path.clone());
        self.apply(
            &mut s.judge0_extra_path,
            "judge0ExtraPath",
            extra,
            |p| match p.as_str() {
                "off" => Ok(None),
                p => check_route_prefix(p).map(Some),
            },
        )?;
        // Apart whichever layer set either, the defaults included; named
        // by the one a layer gave.
        let key = match o.judge0_extra_path {
            Some(_) => "judge0ExtraPath",
            None => "judge0Path",
        };
        let ce = s.judge0_path.as_deref();
        let extra = s.judge0_extra_path.clone().map(Some);
        self.apply(&mut s.judge0_extra_path, key, extra, |p| {
            p.map(|p| apart_from(p, ce)).transpose()
        })?;
        let queue = o.judge0_queue;
        self.apply(&mut s.judge0_queue, "judge0Queue", queue, check_positive)?;
        self.apply(&mut s.judge0_keep, "judge0Keep", o.judge0_keep, |n| {
            check_positive(n).map(std::time::Duration::from_secs)
        })?;
        let bytes = o.judge0_store_bytes;
        self.apply(
            &mut s.judge0_store_bytes,
            "judge0StoreBytes",
            bytes,
            check_positive,
        )?;
        self.apply(&mut s.store, "store", set(o.store.clone()), |url| {
            parse_store_url(&url).map(Some)
        })?;
        // The longest submission follows the timeout unless given.
        s.store_claim_after = default_claim_after(s.timeout);
        let claim = o.store_claim_after;
        self.apply(&mut s.store_claim_after, "storeClaimAfter", claim, |n| {
            check_positive(n).map(std::time::Duration::from_secs)
        })?;
        let allow = set(o.callback_allow.clone());
        self.apply(&mut s.callback_allow, "callbackAllow", allow, |list| {
            Ok(parse_allow_list(&list)?)
        })?;
        let origins = set(o.cors_origins.clone());
        self.apply(&mut s.cors_origins, "corsOrigins", origins, |list| {
            Ok(parse_cors_origins(&list)?)
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use clap::Parser;

    use super::*;
    use crate::cli::Cli;

    fn layered(text: &str, flags: &[&str]) -> Result<Settings, ConfigError> {
        let file = Options::parse(text, Path::new("test.toml"))?;
        let argv = std::iter::once("whipcode").chain(flags.iter().copied());
        let flags = Cli::try_parse_from(argv).unwrap().options;
        Settings::layer(file, "test.toml", &flags)
    }

    #[test]
    fn a_shared_caches_ttl_is_an_hour_unless_given_and_never_zero() {
        let ttl = |text, flags| layered(text, flags).map(|s| s.cache_ttl);
        assert_eq!(ttl("", &[]).unwrap(), Duration::from_secs(3600));
        assert_eq!(
            ttl("cacheTtl = 60\n", &[]).unwrap(),
            Duration::from_secs(60)
        );
        let flag = ttl("cacheTtl = 60\n", &["--cache-ttl", "5"]).unwrap();
        assert_eq!(flag, Duration::from_secs(5), "the flag wins");
        let zero = ttl("cacheTtl = 0\n", &[]).unwrap_err().to_string();
        assert!(zero.contains("cacheTtl"), "{zero}");
    }
}
