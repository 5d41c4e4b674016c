//! Prometheus metrics served at `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::Mutex;
use vigie_domain::platform::health::ProcessMetrics;
use vigie_domain::platform::jobs::metrics::JobMetrics;

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

/// Labels of GraphQL operation counts: the operation's name, bounded ([`Metrics::operation`]).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    pub operation: String,
}

/// Distinct operation names kept as label values; later new ones count as `other`, so a
/// client inventing names cannot grow `/metrics` without bound.
const MAX_OPERATIONS: usize = 200;

/// The process's metrics.
pub struct Metrics {
    registry: Mutex<Registry>,
    pub http_requests: Family<HttpLabels, Counter>,
    pub http_duration: Family<HttpLabels, Histogram>,
    pub graphql_errors: Family<ErrorLabels, Counter>,
    pub rate_limited: Family<ScopeLabels, Counter>,
    operations: Family<OperationLabels, Counter>,
    operation_names: std::sync::RwLock<std::collections::HashSet<String>>,
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
        let operations = Family::<OperationLabels, Counter>::default();
        registry.register("graphql_operations", "GraphQL requests, by operation name", operations.clone());
        jobs.register(&mut registry);
        let process = ProcessMetrics::register(&mut registry, "api");
        Metrics {
            registry: Mutex::new(registry),
            http_requests,
            http_duration,
            graphql_errors,
            rate_limited,
            operations,
            operation_names: Default::default(),
            process,
        }
    }

    /// Counts a GraphQL request by its operation name, and returns the name as counted:
    /// `anonymous` without one, `invalid` for what the GraphQL grammar would not accept
    /// as a name (or over 64 characters), `other` past [`MAX_OPERATIONS`] distinct names.
    pub fn operation(&self, name: Option<&str>) -> String {
        let label = match name {
            None => "anonymous".to_owned(),
            Some(name) if !is_graphql_name(name) => "invalid".to_owned(),
            Some(name) => {
                let known = |names: &std::collections::HashSet<String>| names.contains(name);
                let read = self.operation_names.read().unwrap_or_else(|poisoned| poisoned.into_inner());
                if known(&read) {
                    name.to_owned()
                } else {
                    drop(read);
                    let mut names = self.operation_names.write().unwrap_or_else(|poisoned| poisoned.into_inner());
                    if names.len() < MAX_OPERATIONS || known(&names) {
                        names.insert(name.to_owned());
                        name.to_owned()
                    } else {
                        "other".to_owned()
                    }
                }
            }
        };
        self.operations.get_or_create(&OperationLabels { operation: label.clone() }).inc();
        label
    }

    /// The metrics in Prometheus' text format, the pool's read now.
    pub fn render(&self, services: &vigie_domain::Services) -> String {
        self.process.refresh(&services.db);
        self.render_registry()
    }

    fn render_registry(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        prometheus_client::encoding::text::encode(&mut out, &registry).expect("writing to a String cannot fail");
        out
    }
}

/// `[_A-Za-z][_0-9A-Za-z]*`, as GraphQL names are, up to 64 characters.
fn is_graphql_name(name: &str) -> bool {
    name.len() <= 64
        && name.bytes().next().is_some_and(|b| b == b'_' || b.is_ascii_alphabetic())
        && name.bytes().all(|b| b == b'_' || b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_labels_stay_bounded() {
        let metrics = Metrics::new(&JobMetrics::default());
        assert_eq!(metrics.operation(None), "anonymous");
        assert_eq!(metrics.operation(Some("Dashboard")), "Dashboard");
        assert_eq!(metrics.operation(Some("drop table; --")), "invalid");
        assert_eq!(metrics.operation(Some(&"a".repeat(65))), "invalid");
        for n in 0..MAX_OPERATIONS {
            metrics.operation(Some(&format!("Op{n}")));
        }
        assert_eq!(metrics.operation(Some("OneTooMany")), "other");
        assert_eq!(metrics.operation(Some("Dashboard")), "Dashboard", "known names keep their label");
        let text = metrics.render_registry();
        assert!(text.contains("vigie_graphql_operations_total{operation=\"Dashboard\"} 2"), "{text}");
        assert_eq!(text.matches("vigie_graphql_operations_total{").count(), MAX_OPERATIONS + 3);
    }
}
