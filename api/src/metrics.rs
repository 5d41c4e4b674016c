//! Prometheus metrics served at `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::Mutex;
use vigie_domain::health::ProcessMetrics;
use vigie_domain::jobs::metrics::JobMetrics;

/// Labels of HTTP metrics; `route` is the matched pattern, never the raw path (so
/// tokens in URLs do not become label values), and `method` one of a fixed set.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: &'static str,
    pub route: String,
    pub status: u16,
}

/// Labels of GraphQL error counts.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub code: String,
}

/// Labels of rate-limit refusals: which quota refused.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ScopeLabels {
    pub scope: &'static str,
}

/// The process's metrics.
pub struct Metrics {
    registry: Mutex<Registry>,
    pub http_requests: Family<HttpLabels, Counter>,
    pub http_duration: Family<HttpLabels, Histogram>,
    pub graphql_errors: Family<ErrorLabels, Counter>,
    pub rate_limited: Family<ScopeLabels, Counter>,
    process: ProcessMetrics,
}

impl Metrics {
    /// The api's metrics, plus the job runtime's (which only move when the runtime runs
    /// in this process, in the embedded mode).
    pub fn new(jobs: &JobMetrics) -> Self {
        let mut registry = Registry::with_prefix("vigie");
        let http_requests = Family::<HttpLabels, Counter>::default();
        let http_duration = Family::<HttpLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        let graphql_errors = Family::<ErrorLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests served", http_requests.clone());
        registry.register("http_request_duration_seconds", "HTTP request latency", http_duration.clone());
        registry.register("graphql_errors", "GraphQL errors returned, by code", graphql_errors.clone());
        let rate_limited = Family::<ScopeLabels, Counter>::default();
        registry.register("rate_limited", "Requests refused by a rate limit, by quota", rate_limited.clone());
        jobs.register(&mut registry);
        let process = ProcessMetrics::register(&mut registry, "api");
        Metrics { registry: Mutex::new(registry), http_requests, http_duration, graphql_errors, rate_limited, process }
    }

    /// The metrics in Prometheus' text format, the pool's read now from `db`.
    pub fn render(&self, db: &sea_orm::DatabaseConnection) -> String {
        self.process.refresh(db);
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        prometheus_client::encoding::text::encode(&mut out, &registry).expect("writing to a String cannot fail");
        out
    }
}
