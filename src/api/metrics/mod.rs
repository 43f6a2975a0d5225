//! The service's metrics in Prometheus' text formats, through the Prometheus
//! project's `prometheus-client` crate. Two kinds:
//!
//! - what the HTTP layer sees happen (runs by API, language and outcome;
//!   queue wait, container and request time; cache hits; refusals), kept
//!   in [`Metrics`] as they happen;
//! - what the sandbox and the Judge0 queue hold right now (slots, warm
//!   containers, the pool's and podman's counters, the async queue), read
//!   at each scrape into a [`Snapshot`] and encoded from it, so neither
//!   owner knows the metrics format.
//!
//! Every name starts with `whipcode_`; the list is in the book (docs/src/operations/monitoring.md).
//!
//! - [`snapshot`]: what the owners hold at a scrape, and its encoding.

mod snapshot;

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::error::ApiError;
use crate::sandbox::RunOutcome;
pub use snapshot::{Judge0Load, Snapshot};

/// Which API a run came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    Whipcode,
    Piston,
    Judge0,
    /// Over a WebSocket (`/connect`, `/api/v2/connect`).
    Interactive,
}

impl Api {
    fn label(self) -> &'static str {
        match self {
            Api::Whipcode => "whipcode",
            Api::Piston => "piston",
            Api::Judge0 => "judge0",
            Api::Interactive => "interactive",
        }
    }
}

/// How a run ended, as the metrics count it.
pub fn outcome_of(result: &Result<RunOutcome, ApiError>) -> &'static str {
    match result {
        Ok(o) if o.oom_killed => "oom",
        Ok(o) if o.timed_out => "timeout",
        Ok(o) if o.truncated || o.channel_error.is_some() => "truncated",
        Ok(_) => "ok",
        Err(ApiError::Unavailable { .. }) => "refused",
        Err(_) => "error",
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RunLabels {
    api: &'static str,
    language: String,
    outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ApiLabel {
    api: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct LanguageLabel {
    language: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RouteLabel {
    route: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RouteStatus {
    route: String,
    status: u16,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// Seconds, from 5 ms to about 80 s: a warm start to the longest timeout.
fn seconds_buckets() -> Histogram {
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.005, 2.0, 15,
    ))
}

/// What the HTTP layer counts as it happens. Cloning shares the counts.
#[derive(Debug, Clone)]
pub struct Metrics {
    runs: Family<RunLabels, Counter>,
    in_flight: Family<ApiLabel, Gauge>,
    queue_wait: Histogram,
    container_time: Histograms<LanguageLabel>,
    request_time: Histograms<RouteLabel>,
    requests: Family<RouteStatus, Counter>,
    cache_hits: Counter,
    cache_misses: Counter,
    cache_unanswered: Counter,
    rate_limited: Counter,
    auth_failures: Counter,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics {
            runs: Family::default(),
            in_flight: Family::default(),
            queue_wait: seconds_buckets(),
            container_time: Family::new_with_constructor(seconds_buckets),
            request_time: Family::new_with_constructor(seconds_buckets),
            requests: Family::default(),
            cache_hits: Counter::default(),
            cache_misses: Counter::default(),
            cache_unanswered: Counter::default(),
            rate_limited: Counter::default(),
            auth_failures: Counter::default(),
        }
    }
}

/// A run counted in flight until dropped (a cancelled request included).
pub struct InFlight {
    gauge: Gauge,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

impl Metrics {
    /// A run of `api` has started; it is in flight until the guard drops.
    pub fn run_started(&self, api: Api) -> InFlight {
        let gauge = self
            .in_flight
            .get_or_create(&ApiLabel { api: api.label() })
            .clone();
        gauge.inc();
        InFlight { gauge }
    }

    /// A run of `language` through `api` ended with `result`.
    pub fn run_finished(&self, api: Api, language: &str, result: &Result<RunOutcome, ApiError>) {
        self.runs
            .get_or_create(&RunLabels {
                api: api.label(),
                language: language.to_owned(),
                outcome: outcome_of(result),
            })
            .inc();
        if let Ok(outcome) = result {
            self.queue_wait.observe(outcome.queue_wait.as_secs_f64());
            self.container_time
                .get_or_create(&LanguageLabel {
                    language: language.to_owned(),
                })
                .observe(outcome.container_age.as_secs_f64());
        }
    }

    /// `POST /run` with `--cache`: whether the answer was cached.
    pub fn cache_lookup(&self, hit: bool) {
        if hit {
            self.cache_hits.inc();
        } else {
            self.cache_misses.inc();
        }
    }

    /// `--cache` with `--store`: a lookup or a store Redis did not answer
    /// (the lookup is also a miss).
    pub fn cache_unanswered(&self) {
        self.cache_unanswered.inc();
    }

    /// A request to `route` (its pattern; `None`: no route matched) was
    /// answered with `status` after `took`. 401s and 429s are also counted
    /// as failed keys and rate-limited requests.
    pub fn request_answered(&self, route: Option<&str>, status: u16, took: Duration) {
        let route = route.unwrap_or("unmatched").to_owned();
        self.request_time
            .get_or_create(&RouteLabel {
                route: route.clone(),
            })
            .observe(took.as_secs_f64());
        self.requests
            .get_or_create(&RouteStatus { route, status })
            .inc();
        match status {
            401 => {
                self.auth_failures.inc();
            }
            429 => {
                self.rate_limited.inc();
            }
            _ => {}
        }
    }

    /// Every metric as text: Prometheus' exposition format, or OpenMetrics
    /// when `openmetrics`; the counts kept here and `now`'s.
    pub fn render(&self, now: Snapshot, openmetrics: bool) -> String {
        let mut registry = Registry::with_prefix("whipcode");
        registry.register(
            "runs",
            "Runs by API, language and outcome (ok: it ended by itself, any exit code)",
            self.runs.clone(),
        );
        registry.register(
            "runs_in_flight",
            "Runs started and not yet answered, by API",
            self.in_flight.clone(),
        );
        registry.register_with_unit(
            "run_queue_wait",
            "Time runs waited for a container slot",
            prometheus_client::registry::Unit::Seconds,
            self.queue_wait.clone(),
        );
        registry.register_with_unit(
            "run_container",
            "Time from handing a run to its container to the program's end, by language",
            prometheus_client::registry::Unit::Seconds,
            self.container_time.clone(),
        );
        registry.register_with_unit(
            "request_duration",
            "Time from a request's arrival to its answer's headers, by route",
            prometheus_client::registry::Unit::Seconds,
            self.request_time.clone(),
        );
        registry.register(
            "http_requests",
            "Requests answered, by route and status",
            self.requests.clone(),
        );
        registry.register(
            "cache_hits",
            "POST /run answers served from the cache",
            self.cache_hits.clone(),
        );
        registry.register(
            "cache_misses",
            "POST /run lookups the cache did not have (cache on only)",
            self.cache_misses.clone(),
        );
        registry.register(
            "cache_unanswered",
            "POST /run cache lookups and stores the shared cache (Redis) did not answer",
            self.cache_unanswered.clone(),
        );
        registry.register(
            "rate_limited",
            "Requests refused with 429 (rate limit or too many key checks)",
            self.rate_limited.clone(),
        );
        registry.register(
            "auth_failures",
            "Requests refused with 401 (no key or a wrong one)",
            self.auth_failures.clone(),
        );
        registry.register_collector(Box::new(now));
        let mut text = String::new();
        let written = if openmetrics {
            prometheus_client::encoding::text::encode(&mut text, &registry)
        } else {
            prometheus_client::encoding::prometheus_text::encode(&mut text, &registry)
        };
        // Writing to a String cannot fail.
        debug_assert!(written.is_ok());
        text
    }
}

/// The shared handle the state holds.
pub type SharedMetrics = Arc<Metrics>;
