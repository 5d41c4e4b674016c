//! Job and queue metrics, registered into the Prometheus registry of the process that
//! runs the jobs (the worker, or the api in the embedded mode).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

/// The job kind a sample is about.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: String,
}

/// How a webhook attempt ended: `delivered`, `retrying` or `failed`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: String,
}

/// Counters and gauges of the job runtime.
#[derive(Default)]
pub struct JobMetrics {
    pub done: Family<KindLabel, Counter>,
    pub failed: Family<KindLabel, Counter>,
    pub retried: Family<KindLabel, Counter>,
    pub in_flight: Family<KindLabel, Gauge>,
    pub depth: Family<KindLabel, Gauge>,
    pub delayed: Family<KindLabel, Gauge>,
    pub lag_seconds: Family<KindLabel, Gauge<f64, AtomicU64>>,
    /// Webhook attempts by outcome.
    pub webhook_attempts: Family<OutcomeLabel, Counter>,
}

impl JobMetrics {
    /// Adds the metrics to a registry.
    pub fn register(&self, registry: &mut Registry) {
        registry.register("jobs_done", "Jobs that succeeded", self.done.clone());
        registry.register("jobs_failed", "Jobs dead-lettered", self.failed.clone());
        registry.register("jobs_retried", "Job attempts that failed and were scheduled again", self.retried.clone());
        registry.register("jobs_in_flight", "Jobs running now in this process", self.in_flight.clone());
        registry.register("queue_depth", "Jobs waiting or running, per kind", self.depth.clone());
        registry.register("queue_delayed", "Jobs waiting for a retry, per kind", self.delayed.clone());
        registry.register("queue_lag_seconds", "Age of the oldest waiting job, per kind", self.lag_seconds.clone());
        registry.register("webhook_attempts", "Webhook delivery attempts, by outcome", self.webhook_attempts.clone());
    }

    /// Counts a webhook attempt.
    pub fn webhook_attempt(&self, outcome: &str) {
        self.webhook_attempts.get_or_create(&OutcomeLabel { outcome: outcome.to_owned() }).inc();
    }

    pub(crate) fn label(kind: &str) -> KindLabel {
        KindLabel { kind: kind.to_owned() }
    }
}
