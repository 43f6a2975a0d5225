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
//! Every name starts with `whipcode_`; the list is in the README.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::error::ApiError;
use crate::sandbox::{RunOutcome, SandboxStats};

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

/// The Judge0 queue right now.
#[derive(Debug, Clone, Copy, Default)]
pub struct Judge0Load {
    pub queued: usize,
    pub running: usize,
    pub workers: usize,
    /// The longest a queued submission has waited so far.
    pub oldest: Option<Duration>,
    pub stored_bytes: usize,
}

/// What the owners hold at a scrape.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub sandbox: SandboxStats,
    /// Warm containers by language (the sandbox's image references named).
    pub warm: Vec<(String, usize)>,
    pub judge0: Option<Judge0Load>,
    /// Languages whose image is installed (`None`: podman did not answer).
    pub installed: Option<usize>,
}

impl Snapshot {
    /// The sandbox's figures, its warm images named by `name_of` (an image
    /// no language uses keeps its reference).
    pub fn of(
        sandbox: SandboxStats,
        name_of: impl Fn(&str) -> Option<String>,
        judge0: Option<Judge0Load>,
        installed: Option<usize>,
    ) -> Snapshot {
        let warm = sandbox
            .warm
            .iter()
            .map(|(image, n)| (name_of(image).unwrap_or_else(|| image.clone()), *n))
            .collect();
        Snapshot {
            sandbox,
            warm,
            judge0,
            installed,
        }
    }
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: i64,
) -> Result<(), std::fmt::Error> {
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), std::fmt::Error> {
    let metric = ConstCounter::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = &self.sandbox;
        let e = &mut encoder;
        {
            let mut family = e.encode_descriptor(
                "build_info",
                "The running version, as its label (always 1)",
                None,
                MetricType::Gauge,
            )?;
            let labels = [("version", env!("CARGO_PKG_VERSION"))];
            ConstGauge::new(1i64).encode(family.encode_family(&labels)?)?;
        }
        gauge(
            e,
            "containers_in_use",
            "Container slots held (runs and their teardown)",
            count(s.in_flight),
        )?;
        gauge(
            e,
            "container_slots",
            "The slot limit (--max-concurrent)",
            count(s.slots),
        )?;
        gauge(
            e,
            "run_queue_depth",
            "Runs waiting for a container slot",
            count(s.waiting),
        )?;
        {
            let mut family = e.encode_descriptor(
                "pool_warm_containers",
                "Warm containers waiting, by language",
                None,
                MetricType::Gauge,
            )?;
            for (language, n) in &self.warm {
                let labels = [("language", language.as_str())];
                ConstGauge::new(count(*n)).encode(family.encode_family(&labels)?)?;
            }
        }
        counter(
            e,
            "pool_hits",
            "Runs that found a warm container",
            s.pool_hits,
        )?;
        counter(
            e,
            "pool_misses",
            "Runs that started a container of their own",
            s.pool_misses,
        )?;
        counter(
            e,
            "container_create_failures",
            "Containers podman failed to create or start",
            s.create_failures,
        )?;
        counter(
            e,
            "container_remove_failures",
            "Containers whose removal was left to the periodic sweep",
            s.remove_failures,
        )?;
        counter(
            e,
            "podman_service_restarts",
            "Times podman's REST API service died and was started again",
            s.service_restarts,
        )?;
        if let Some(installed) = self.installed {
            gauge(
                e,
                "languages_installed",
                "Languages whose image is installed",
                count(installed),
            )?;
        }
        if let Some(j) = &self.judge0 {
            gauge(
                e,
                "judge0_queue_depth",
                "Judge0 submissions waiting for a worker",
                count(j.queued),
            )?;
            gauge(
                e,
                "judge0_running",
                "Judge0 submissions being run",
                count(j.running),
            )?;
            gauge(
                e,
                "judge0_workers",
                "Judge0 queue workers",
                count(j.workers),
            )?;
            let oldest = ConstGauge::new(j.oldest.map_or(0.0, |d| d.as_secs_f64()));
            oldest.encode(e.encode_descriptor(
                "judge0_oldest_queued_seconds",
                "How long the oldest waiting Judge0 submission has waited (0: none waits)",
                None,
                oldest.metric_type(),
            )?)?;
            gauge(
                e,
                "judge0_store_bytes",
                "Bytes the Judge0 store holds",
                count(j.stored_bytes),
            )?;
        }
        Ok(())
    }
}

/// The shared handle the state holds.
pub type SharedMetrics = Arc<Metrics>;
