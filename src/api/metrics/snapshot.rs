//! What the sandbox and the Judge0 queue hold at a scrape, and its encoding
//! in the families that follow the HTTP layer's counts.

use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

use crate::sandbox::SandboxStats;

/// The Judge0 queue right now.
#[derive(Debug, Clone, Copy, Default)]
pub struct Judge0Load {
    pub queued: usize,
    pub running: usize,
    pub workers: usize,
    /// The longest a queued submission has waited so far.
    pub oldest: Option<Duration>,
    pub stored_bytes: usize,
    /// Final results waiting for the shared store to answer.
    pub unwritten: usize,
    /// Final results dropped since the start: the shared store did not
    /// answer and the buffer was full (their submissions run again).
    pub dropped: u64,
    /// Whether the shared store answered this scrape (none: embedded).
    /// When it did not, the queue's figures above are not known (zero).
    pub store_up: Option<bool>,
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
        let e = &mut encoder;
        build_info(e)?;
        slots(e, &self.sandbox)?;
        warm(e, &self.warm)?;
        pool_and_podman(e, &self.sandbox)?;
        if let Some(installed) = self.installed {
            gauge(
                e,
                "languages_installed",
                "Languages whose image is installed",
                count(installed),
            )?;
        }
        if let Some(j) = &self.judge0 {
            judge0(e, j)?;
        }
        Ok(())
    }
}

/// The running version, as a label.
fn build_info(e: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
    let mut family = e.encode_descriptor(
        "build_info",
        "The running version, as its label (always 1)",
        None,
        MetricType::Gauge,
    )?;
    let labels = [("version", env!("CARGO_PKG_VERSION"))];
    ConstGauge::new(1i64).encode(family.encode_family(&labels)?)
}

/// Container slots: held, their limit, and runs waiting for one.
fn slots(e: &mut DescriptorEncoder, s: &SandboxStats) -> Result<(), std::fmt::Error> {
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
    )
}

/// Warm containers by language.
fn warm(e: &mut DescriptorEncoder, warm: &[(String, usize)]) -> Result<(), std::fmt::Error> {
    let mut family = e.encode_descriptor(
        "pool_warm_containers",
        "Warm containers waiting, by language",
        None,
        MetricType::Gauge,
    )?;
    for (language, n) in warm {
        let labels = [("language", language.as_str())];
        ConstGauge::new(count(*n)).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// The pool's and podman's counters.
fn pool_and_podman(e: &mut DescriptorEncoder, s: &SandboxStats) -> Result<(), std::fmt::Error> {
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
    )
}

/// The Judge0 queue, when the Judge0 API is on.
fn judge0(e: &mut DescriptorEncoder, j: &Judge0Load) -> Result<(), std::fmt::Error> {
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
    gauge(
        e,
        "judge0_results_unwritten",
        "Judge0 results waiting for the shared store (Redis) to answer",
        count(j.unwritten),
    )?;
    counter(
        e,
        "judge0_results_dropped",
        "Judge0 results neither written to the shared store nor kept (their submissions run again)",
        j.dropped,
    )?;
    match j.store_up {
        Some(up) => gauge(
            e,
            "judge0_store_up",
            "Whether the shared Judge0 store (Redis) answered this scrape (0: the queue's figures are unknown)",
            i64::from(up),
        ),
        None => Ok(()),
    }
}
