//! Faults under load: PostgreSQL crashes and comes back while agencies read over
//! GraphQL and push mentions. The api keeps answering, with `UNAVAILABLE` (503 and
//! `Retry-After` on ingest) while the database is down; every push it acknowledged is
//! stored, and the work queued during the outage (scoring) finishes by itself.

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;
use vigie_tests::{ApiServer, Backend, TestDb, agency_with_brand, error_codes, test_config};

/// What the load saw.
#[derive(Default)]
struct Seen {
    /// External ids of pushes answered 200.
    acknowledged: Vec<String>,
    /// Every status or error code answered, with how many times.
    answers: std::collections::BTreeMap<String, usize>,
}

impl Seen {
    fn count(&mut self, answer: String) {
        *self.answers.entry(answer).or_default() += 1;
    }
}

async fn push_until(stop: Arc<AtomicBool>, base: String, key: String, seen: Arc<Mutex<Seen>>) {
    let client = reqwest::Client::new();
    let mut batch = 0;
    while !stop.load(Ordering::Relaxed) {
        batch += 1;
        let ids: Vec<String> = (0..10).map(|i| format!("b{batch}-{i}")).collect();
        let body: String = ids
            .iter()
            .map(|id| {
                let item = json!({
                    "externalId": id, "network": "mastodon", "text": format!("Verdure {id}, pas mal du tout"),
                    "publishedAt": chrono::Utc::now().to_rfc3339(), "author": { "handle": format!("@a{}", batch % 7) }
                });
                format!("{item}\n")
            })
            .collect();
        let response = client.post(format!("{base}/ingest/mentions")).bearer_auth(&key).body(body).send().await;
        let mut seen = seen.lock().await;
        match response {
            Ok(response) if response.status() == StatusCode::OK => {
                seen.acknowledged.extend(ids);
                seen.count("ingest 200".into());
            }
            Ok(response) => {
                let status = response.status();
                let retry_after = response.headers().contains_key("retry-after");
                let body: Value = response.json().await.unwrap_or_default();
                seen.count(format!("ingest {} {} retry-after={retry_after}", status.as_u16(), body["error"]["code"]));
            }
            Err(e) => seen.count(format!("ingest transport error {e}")),
        }
        drop(seen);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn read_until(stop: Arc<AtomicBool>, base: String, token: String, brand: String, seen: Arc<Mutex<Seen>>) {
    let client = reqwest::Client::new();
    let query = json!({ "query": format!("{{ me {{ role }} mentions(brandId: \"{brand}\", first: 5) {{ edges {{ node {{ id }} }} }} }}") });
    while !stop.load(Ordering::Relaxed) {
        let response = client.post(format!("{base}/graphql")).bearer_auth(&token).json(&query).send().await;
        let answer = match response {
            Ok(response) => {
                let body: Value = response.json().await.unwrap_or_default();
                match error_codes(&body).first() {
                    None if body["data"]["me"]["role"] == "OWNER" => "graphql ok".to_owned(),
                    None => format!("graphql without data: {body}"),
                    Some(code) => format!("graphql {code}"),
                }
            }
            Err(e) => format!("graphql transport error {e}"),
        };
        seen.lock().await.count(answer);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn readiness(base: &str) -> (StatusCode, Value) {
    let response = reqwest::get(format!("{base}/readyz")).await.unwrap();
    (response.status(), response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_rides_out_a_postgres_crash() {
    let pg = Arc::new(tokio::task::spawn_blocking(vigie_tests::pg_server::PgServer::start).await.unwrap());
    let scratch = TestDb::new(Backend::Sqlite).await; // only for its data directory
    let url = pg.url();
    let api = ApiServer::start(Arc::new(test_config(&scratch, &[("DATABASE_URL", &url)]))).await;
    let base = api.base.clone();
    let (token, brand, key) = agency_with_brand(&base, "owner@example.com").await;

    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let load = [
        tokio::spawn(push_until(stop.clone(), base.clone(), key, seen.clone())),
        tokio::spawn(read_until(stop.clone(), base.clone(), token.clone(), brand.clone(), seen.clone())),
    ];
    tokio::time::sleep(Duration::from_millis(1500)).await;

    tokio::task::spawn_blocking({
        let pg = pg.clone();
        move || pg.crash()
    })
    .await
    .unwrap();
    let outage = Instant::now();
    tokio::time::sleep(Duration::from_secs(8)).await;
    let (status, body) = readiness(&base).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body["database"].as_str().unwrap().starts_with("error"), "{body}");
    assert_eq!(reqwest::get(format!("{base}/healthz")).await.unwrap().status(), StatusCode::OK, "alive, not ready");
    let during = seen.lock().await.answers.clone();

    tokio::task::spawn_blocking({
        let pg = pg.clone();
        move || pg.restart()
    })
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while readiness(&base).await.0 != StatusCode::OK {
        assert!(Instant::now() < deadline, "the api did not become ready again");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    let seen = seen.lock().await;
    eprintln!("outage of {:?}; answers: {:#?}", outage.elapsed(), seen.answers);

    // Only three kinds of answers: success, and UNAVAILABLE (with Retry-After on ingest).
    for answer in seen.answers.keys() {
        assert!(
            ["graphql ok", "graphql UNAVAILABLE", "ingest 200", "ingest 503 \"UNAVAILABLE\" retry-after=true"]
                .contains(&answer.as_str()),
            "unexpected answer `{answer}`: {:#?}",
            seen.answers
        );
    }
    // Requests fail within seconds while it lasts, rather than hang until it ends.
    assert!(during.get("graphql UNAVAILABLE").is_some_and(|n| *n >= 2), "reads during the outage: {during:#?}");
    assert!(during.keys().any(|a| a.starts_with("ingest 503")), "pushes during the outage: {during:#?}");
    assert!(seen.answers["graphql ok"] > during.get("graphql ok").copied().unwrap_or(0), "reads came back");
    assert!(seen.answers["ingest 200"] > during.get("ingest 200").copied().unwrap_or(0), "pushes came back");

    // Every acknowledged push is stored, once; and all of it gets scored by itself.
    let db = vigie_domain::db::connect(&url).await.unwrap();
    let acknowledged: std::collections::BTreeSet<String> = seen.acknowledged.iter().cloned().collect();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let rows: Vec<(String, bool)> = {
            use sea_orm::{ConnectionTrait, Statement};
            let sql = "SELECT external_id, scored_at IS NOT NULL FROM mention";
            let rows = db.query_all_raw(Statement::from_string(db.get_database_backend(), sql)).await.unwrap();
            rows.iter().map(|r| (r.try_get_by_index(0).unwrap(), r.try_get_by_index(1).unwrap())).collect()
        };
        let stored: std::collections::BTreeSet<String> = rows.iter().map(|(id, _)| id.clone()).collect();
        let missing: Vec<&String> = acknowledged.difference(&stored).collect();
        assert!(missing.is_empty(), "acknowledged pushes lost: {missing:?}");
        let unscored = rows.iter().filter(|(_, scored)| !scored).count();
        if unscored == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{unscored} mentions still unscored after the database came back");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    drop(seen);
    api.stop().await;
}
