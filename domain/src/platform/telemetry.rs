//! Logs and traces. Every process logs through `tracing` (JSON lines in production);
//! with an OTLP endpoint configured, its spans are also exported as OpenTelemetry traces
//! over OTLP/HTTP, and W3C `traceparent` carries a trace across processes: from a
//! request into the jobs it enqueues ([`traceparent`] on the envelope, [`continue_trace`]
//! when a job runs), through the event outbox (the event row keeps it) and on to the
//! webhook a receiver gets.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::platform::config::Config;

/// The header, and the envelope and event field, that carry a trace.
pub const TRACEPARENT: &str = "traceparent";

/// What is logged without `RUST_LOG` (and what traces keep, whatever it says): Vigie at
/// `info`, the SQL layers only when they warn.
const DEFAULT_FILTER: &str = "info,sqlx=warn,sea_orm=warn";

/// The exporting provider, kept for [`shutdown`].
static PROVIDER: Mutex<Option<SdkTracerProvider>> = Mutex::new(None);

/// Installs the global subscriber: logs (JSON or text, filtered by `RUST_LOG`, default
/// `info`), plus trace export when `config` names an OTLP endpoint, as `service`
/// unless `OTEL_SERVICE_NAME` says otherwise. Traces keep Vigie's `info` spans whatever
/// `RUST_LOG` says, so quieter logs do not cut them. A second call (tests) keeps the
/// first.
pub fn init(config: &Config, service: &str) {
    let logs = if config.log_json {
        tracing_subscriber::fmt::layer().json().with_filter(log_filter(DEFAULT_FILTER)).boxed()
    } else {
        tracing_subscriber::fmt::layer().with_filter(log_filter(DEFAULT_FILTER)).boxed()
    };
    let provider = config.otlp_traces_endpoint.as_ref().and_then(|endpoint| {
        let name = config.otel_service_name.as_deref().unwrap_or(service);
        tracer_provider(endpoint.as_str(), name)
            .inspect_err(|error| eprintln!("traces are off: cannot build the OTLP exporter: {error}"))
            .ok()
    });
    let traces = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer().with_tracer(provider.tracer("vigie")).with_filter(EnvFilter::new(DEFAULT_FILTER))
    });
    if tracing_subscriber::registry().with(logs).with(traces).try_init().is_ok() {
        *PROVIDER.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = provider;
    }
}

/// `RUST_LOG`, or `default` without it.
fn log_filter(default: &str) -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default))
}

/// Logs only, to standard error, at `warn` unless `RUST_LOG` says otherwise: for
/// commands whose standard output is their result (an export).
pub fn init_to_stderr(json: bool) {
    let builder = tracing_subscriber::fmt().with_env_filter(log_filter("warn")).with_writer(std::io::stderr);
    let _ = if json { builder.json().try_init() } else { builder.try_init() };
}

/// Logs only, as text (benchmarks).
pub fn init_logs() {
    let _ = tracing_subscriber::fmt().with_env_filter(log_filter(DEFAULT_FILTER)).try_init();
}

/// Sends the spans not exported yet, before the process exits (off the async threads:
/// the exporter's last round trip blocks).
pub async fn shutdown() {
    let provider = PROVIDER.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
    let Some(provider) = provider else { return };
    let flushed = tokio::task::spawn_blocking(move || provider.shutdown()).await;
    if let Ok(Err(error)) = flushed {
        tracing::warn!(%error, "some spans could not be exported at shutdown");
    }
}

fn tracer_provider(endpoint: &str, service: &str) -> Result<SdkTracerProvider, Box<dyn std::error::Error>> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(endpoint)
        .with_http_client(Exporting::default())
        .build()?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(service.to_owned())
        .with_attribute(opentelemetry::KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build();
    Ok(SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource).build())
}

/// The `traceparent` of the current span, to hand on (`None` when traces are off).
pub fn traceparent() -> Option<String> {
    let context = tracing::Span::current().context();
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    carrier.remove(TRACEPARENT)
}

/// Makes `span` a child of the trace `traceparent` names, if it is a valid one (a
/// malformed value starts a new trace, as the W3C recommendation asks). For what Vigie
/// wrote itself (job envelopes, event rows); see [`follow_caller`] for what comes in.
pub fn continue_trace(span: &tracing::Span, traceparent: Option<&str>) {
    if let Some(context) = parse(traceparent) {
        let _ = span.set_parent(context);
    }
}

/// A request's `traceparent`: continued when `trusted` (a gateway in front starts the
/// traces), else only linked, so that a client chooses neither the trace its work joins
/// nor whether it is sampled.
pub fn follow_caller(span: &tracing::Span, traceparent: Option<&str>, trusted: bool) {
    let Some(context) = parse(traceparent) else { return };
    if trusted {
        let _ = span.set_parent(context);
    } else {
        span.add_link(opentelemetry::trace::TraceContextExt::span(&context).span_context().clone());
    }
}

/// The context a `traceparent` names, if it is a valid one.
fn parse(traceparent: Option<&str>) -> Option<opentelemetry::Context> {
    let carrier = HashMap::from([(TRACEPARENT.to_owned(), traceparent?.to_owned())]);
    let context = TraceContextPropagator::new().extract(&carrier);
    opentelemetry::trace::TraceContextExt::span(&context).span_context().is_valid().then_some(context)
}

/// The exporter's HTTP client: the workspace's reqwest, blocking, since the batch
/// processor exports from a thread of its own with no async runtime; built there on
/// first use (a blocking client cannot be made inside one).
#[derive(Debug, Default)]
struct Exporting {
    client: OnceLock<reqwest::blocking::Client>,
}

#[async_trait::async_trait]
impl HttpClient for Exporting {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let client = match self.client.get() {
            Some(client) => client,
            None => {
                let built = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .redirect(reqwest::redirect::Policy::none())
                    .build()?;
                self.client.get_or_init(|| built)
            }
        };
        let response = client.execute(request.try_into()?)?;
        let mut answer = Response::builder().status(response.status().as_u16());
        for (name, value) in response.headers() {
            answer = answer.header(name.as_str(), value.as_bytes());
        }
        // The collector's answer is a small protobuf; a huge one is cut, not read.
        let mut body = Vec::new();
        std::io::Read::read_to_end(&mut std::io::Read::take(response, 1 << 20), &mut body)?;
        Ok(answer.body(Bytes::from(body))?)
    }
}
