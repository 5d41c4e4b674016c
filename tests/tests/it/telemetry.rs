//! Traces: an api and a worker process export their spans over OTLP/HTTP to a receiver
//! in the test, which decodes them with the protocol's own messages. A mention pushed
//! with a W3C `traceparent` is followed in one trace from the request (which scores it)
//! through the jobs (crisis detection, event dispatch) to the webhook, whose receiver
//! gets the trace too.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message;
use serde_json::json;
use std::process::{Command, Stdio};
use std::time::Duration;
use vigie_tests::{
    Backend, TestDb, Workers, eventually, post_graphql, redis_url, until, value_gap_item, value_gap_watch,
    worker_command,
};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// A span as the receiver decoded it.
#[derive(Debug)]
struct Span {
    service: String,
    trace_id: String,
    span_id: String,
    parent: String,
    name: String,
    kind: i32,
    attributes: Vec<(String, String)>,
    /// The trace ids of the span's links.
    links: Vec<String>,
}

impl Span {
    fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// Every span the collector received, decoded from OTLP protobuf.
async fn received(collector: &MockServer) -> Vec<Span> {
    let mut spans = Vec::new();
    for request in collector.received_requests().await.unwrap_or_default() {
        assert_eq!(request.headers.get("content-type").unwrap(), "application/x-protobuf");
        let export = ExportTraceServiceRequest::decode(request.body.as_slice()).expect("an OTLP trace export");
        for resource in export.resource_spans {
            let service = resource
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                    AnyValue::StringValue(name) => Some(name.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            for span in resource.scope_spans.into_iter().flat_map(|scope| scope.spans) {
                let attributes = span
                    .attributes
                    .iter()
                    .map(|kv| {
                        let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                            Some(AnyValue::StringValue(s)) => s.clone(),
                            Some(AnyValue::IntValue(n)) => n.to_string(),
                            Some(AnyValue::BoolValue(b)) => b.to_string(),
                            other => format!("{other:?}"),
                        };
                        (kv.key.clone(), value)
                    })
                    .collect();
                spans.push(Span {
                    service: service.clone(),
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent: hex(&span.parent_span_id),
                    name: span.name,
                    kind: span.kind,
                    attributes,
                    links: span.links.iter().map(|link| hex(&link.trace_id)).collect(),
                });
            }
        }
    }
    spans
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_follows_a_mention_from_ingest_to_its_webhook() {
    let collector = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/traces"))
        .respond_with(ResponseTemplate::new(200).insert_header("content-type", "application/x-protobuf"))
        .mount(&collector)
        .await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(204)).mount(&receiver).await;

    let db = TestDb::new(Backend::Postgres).await;
    let redis = redis_url();
    let prefix = format!("vigie-traces-{}", vigie_domain::new_id().simple());
    // Logs at `warn` must not cut the traces; spans leave every 100 ms. The api trusts
    // its callers' traces, as behind a gateway that starts them.
    let shared = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.uri()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
        ("VIGIE_ALLOW_PRIVATE_WEBHOOKS", "true".to_owned()),
        ("RUST_LOG", "warn".to_owned()),
    ];
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let api = format!("http://127.0.0.1:{port}");
    let mut api_command = Command::new(env!("CARGO_BIN_EXE_vigie-api-under-test"));
    api_command
        .env("DATABASE_URL", &db.url)
        .env("REDIS_URL", &redis)
        .env("VIGIE_QUEUE_PREFIX", &prefix)
        .env("VIGIE_JWT_SECRET", vigie_tests::TEST_JWT_SECRET)
        .env("VIGIE_DEMO", "false")
        .env("VIGIE_BIND", format!("127.0.0.1:{port}"))
        .envs(shared.iter().map(|(k, v)| (*k, v)))
        .stdout(Stdio::null());
    let mut untrusting = Command::new(env!("CARGO_BIN_EXE_vigie-api-under-test"));
    untrusting.envs(api_command.get_envs().filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned()))));
    let untrusting_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    untrusting.env("VIGIE_BIND", format!("127.0.0.1:{untrusting_port}"));
    api_command.env("VIGIE_TRUST_TRACEPARENT", "true");
    let mut worker_command = worker_command(env!("CARGO_BIN_EXE_vigie-worker-under-test"), &db.url, &redis, &prefix);
    worker_command.envs(shared.iter().map(|(k, v)| (*k, v)));
    let mut processes = Workers(vec![api_command.spawn().unwrap()]);
    let up = async || reqwest::get(format!("{api}/readyz")).await.is_ok_and(|r| r.status() == 200);
    until("the api to come up", Duration::from_secs(60), up).await;
    processes.0.push(worker_command.spawn().unwrap());

    let signed = post_graphql(&api, None, "mutation { signUp(input: { agencyName: \"Traced\", name: \"O\", email: \"o@example.com\", password: \"correct horse battery\" }) { accessToken } }").await;
    let token = signed["data"]["signUp"]["accessToken"].as_str().unwrap_or_else(|| panic!("{signed}")).to_owned();
    let created: serde_json::Value = reqwest::Client::new()
        .post(format!("{api}/graphql"))
        .bearer_auth(&token)
        .json(&json!({
            "query": "mutation CreateBrand { createBrand(input: { name: \"Verdure\", timeZone: \"Europe/Paris\" }) { id } }",
            "operationName": "CreateBrand",
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let brand = created["data"]["createBrand"]["id"].as_str().unwrap_or_else(|| panic!("{created}")).to_owned();
    let key = value_gap_watch(&api, &token, &brand, &receiver.uri()).await;

    let pushed = reqwest::Client::new()
        .post(format!("{api}/ingest/mentions"))
        .bearer_auth(&key)
        .header("traceparent", format!("00-{TRACE_ID}-{CALLER_SPAN}-01"))
        .json(&json!([value_gap_item("traced-1")]))
        .send()
        .await
        .unwrap();
    assert_eq!(pushed.status(), 200);

    // The webhook carries the caller's trace, with the delivery's own span as parent.
    until("the webhook", Duration::from_secs(30), async || {
        !receiver.received_requests().await.unwrap_or_default().is_empty()
    })
    .await;
    let hook = &receiver.received_requests().await.unwrap()[0];
    let traceparent = hook.headers.get("traceparent").expect("a traceparent on the webhook").to_str().unwrap();
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!((parts.len(), parts[0], parts[1], parts[3]), (4, "00", TRACE_ID, "01"), "{traceparent}");

    let names = |spans: &[Span]| spans.iter().map(|s| format!("{} {}", s.service, s.name)).collect::<Vec<_>>();
    let expected = [
        "vigie-api POST /ingest/mentions",
        "vigie-worker crises.detect",
        "vigie-worker events.dispatch",
        "vigie-worker webhook.deliver",
    ];
    let spans = eventually("the trace at the collector", Duration::from_secs(30), async || {
        let spans: Vec<Span> = received(&collector).await.into_iter().filter(|s| s.trace_id == TRACE_ID).collect();
        let seen = names(&spans);
        if expected.iter().all(|want| seen.iter().any(|name| name == want)) { Ok(spans) } else { Err(seen.join(", ")) }
    })
    .await;
    let ingest = spans.iter().find(|s| s.name == "POST /ingest/mentions").unwrap();
    assert_eq!(ingest.parent, CALLER_SPAN, "the request continues the caller's trace");
    assert_eq!(ingest.kind, SpanKind::Server as i32);
    assert_eq!(ingest.attribute("status"), Some("200"));
    assert!(ingest.attribute("request_id").is_some_and(|id| !id.is_empty()), "{ingest:?}");
    // Every span but the request hangs from one of the trace's own spans.
    for span in spans.iter().filter(|s| s.span_id != ingest.span_id) {
        assert!(spans.iter().any(|s| s.span_id == span.parent), "{span:?} has no parent in the trace");
    }
    let delivery = spans.iter().find(|s| s.name == "webhook.deliver").unwrap();
    assert_eq!(delivery.kind, SpanKind::Client as i32);
    assert_eq!(parts[2], delivery.span_id, "the receiver's parent is the delivery span");

    // The GraphQL operation's name is on its request's span; tokens never are.
    let all = received(&collector).await;
    let operation = all.iter().find(|s| s.attribute("operation") == Some("CreateBrand"));
    let operation = operation.unwrap_or_else(|| panic!("no span names the operation: {:?}", names(&all)));
    assert_eq!(operation.name, "POST /graphql");
    for span in &all {
        for (_, value) in &span.attributes {
            assert!(!value.contains(&token) && !value.contains(&key), "a credential in {span:?}");
        }
    }

    // Probes stay out of the traces (the api was polled on /readyz until it came up).
    assert!(!all.iter().any(|s| s.name.contains("/readyz")), "{:?}", names(&all));

    // Without trust, a caller's trace is only linked: it neither names the trace its
    // request joins nor decides that it is sampled.
    processes.0.push(untrusting.spawn().unwrap());
    let other = format!("http://127.0.0.1:{untrusting_port}");
    until("the second api", Duration::from_secs(60), async || {
        reqwest::get(format!("{other}/readyz")).await.is_ok_and(|r| r.status() == 200)
    })
    .await;
    const OTHER_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
    let answered = reqwest::Client::new()
        .post(format!("{other}/graphql"))
        .header("traceparent", format!("00-{OTHER_TRACE}-b7ad6b7169203331-00"))
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(answered.status(), 200);
    let linked = eventually("the linked request span", Duration::from_secs(30), async || {
        let spans = received(&collector).await;
        match spans.into_iter().find(|s| s.links.iter().any(|l| l == OTHER_TRACE)) {
            Some(span) => Ok(span),
            None => Err("no span links the caller's trace".to_owned()),
        }
    })
    .await;
    assert_eq!(linked.name, "POST /graphql");
    assert_ne!(linked.trace_id, OTHER_TRACE, "a trace of its own");
    assert!(!received(&collector).await.iter().any(|s| s.trace_id == OTHER_TRACE));

    for process in &processes.0 {
        Command::new("kill").args(["-TERM", &process.id().to_string()]).status().unwrap();
    }
    for process in &mut processes.0 {
        assert!(process.wait().unwrap().success(), "a clean stop flushes the spans");
    }
}
