//! Crisis-to-webhook latency on PostgreSQL through the Redis queue with separate
//! `vigie-worker` processes: for each burst, nine negative mentions are pushed and
//! scored, then the tenth — the one that tips the brand over its minimum count — is
//! pushed, and the clock runs until the signed `crisis.opened` webhook arrives at a
//! local receiver (HTTP ingest → store → score → detect → outbox → fan-out → delivery).
//! The alert is then resolved so that the next burst opens a new one.
//!
//! ```sh
//! cargo build --release -p vigie-worker -p vigie-bench
//! target/release/crisis-latency [bursts] [workers]   # defaults 100 2
//! ```

use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vigie_bench::{Env, percentile};
use vigie_domain::webhooks::{self, NewEndpoint};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// Records when each webhook arrived.
struct Recorder(Arc<Mutex<Vec<(Instant, Value)>>>);

impl Respond for Recorder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        self.0.lock().unwrap().push((Instant::now(), body));
        ResponseTemplate::new(204)
    }
}

fn item(id: String) -> String {
    json!({
        "externalId": id, "network": "mastodon", "url": format!("https://mastodon.example/@{id}/1"),
        "text": "Verdure: terrible product, awful service, I am furious 😡",
        "publishedAt": chrono::Utc::now().to_rfc3339(),
        "author": { "handle": id, "followers": 1500 },
    })
    .to_string()
}

async fn push(client: &reqwest::Client, env: &Env, lines: Vec<String>) {
    let response = client
        .post(format!("{}/ingest/mentions", env.base))
        .bearer_auth(&env.key)
        .body(lines.join("\n"))
        .send()
        .await
        .expect("ingest");
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap_or_default());
}

async fn scored(env: &Env) -> i64 {
    env.services
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DatabaseBackend::Postgres,
            "SELECT COUNT(*) AS n FROM mention WHERE scored_at IS NOT NULL",
        ))
        .await
        .expect("count")
        .expect("row")
        .try_get("", "n")
        .expect("n")
}

#[tokio::main]
async fn main() {
    vigie_domain::platform::telemetry::init_logs();
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>().expect("numeric arguments"));
    let bursts = args.next().unwrap_or(100);
    let workers = args.next().unwrap_or(2);
    let env = Env::start(&[("VIGIE_ALLOW_PRIVATE_WEBHOOKS", "true")]).await;
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let receiver = MockServer::start().await;
    Mock::given(method("POST")).respond_with(Recorder(arrivals.clone())).mount(&receiver).await;
    webhooks::create(
        &env.services,
        &env.actor,
        NewEndpoint {
            url: format!("{}/hook", receiver.uri()),
            description: None,
            event_types: vec!["crisis.opened".into()],
            brand_ids: vec![],
            enabled: true,
        },
    )
    .await
    .expect("endpoint");
    let fleet = env.spawn_workers(workers);
    let client = reqwest::Client::new();
    let min = env.brand.crisis_min_count as usize;

    let mut latencies = Vec::with_capacity(bursts);
    let mut expected_scored = 0i64;
    for burst in 0..bursts {
        push(&client, &env, (0..min - 1).map(|i| item(format!("b{burst}-{i}"))).collect()).await;
        expected_scored += min as i64 - 1;
        let deadline = Instant::now() + Duration::from_secs(60);
        while scored(&env).await < expected_scored {
            assert!(Instant::now() < deadline, "burst {burst}: the first mentions were not scored");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let started = Instant::now();
        push(&client, &env, vec![item(format!("b{burst}-tip"))]).await;
        expected_scored += 1;
        let (arrived, alert_id) = loop {
            if let Some((at, body)) = arrivals.lock().unwrap().get(burst) {
                break (*at, body["data"]["alert"]["id"].as_str().expect("alert id").to_owned());
            }
            assert!(started.elapsed() < Duration::from_secs(60), "burst {burst}: no webhook within a minute");
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        latencies.push(arrived - started);
        let id = uuid::Uuid::parse_str(&alert_id).unwrap();
        vigie_domain::crises::resolve(&env.services, &env.actor, id, "bench".into()).await.expect("resolve");
    }
    drop(fleet);
    latencies.sort();
    let mean = latencies.iter().sum::<Duration>() / latencies.len() as u32;
    println!(
        "crisis → webhook ({bursts} bursts, PostgreSQL + Redis, {workers} worker processes): \
         p50 {:.0?}, p99 {:.0?}, max {:.0?}, mean {mean:.0?} (target: p99 under 2 s)",
        percentile(&latencies, 50.0),
        percentile(&latencies, 99.0),
        latencies.last().unwrap(),
    );
    env.finish().await;
}
