//! Faults under load: PostgreSQL crashes and comes back while agencies read over
//! GraphQL and push mentions, in both layouts (jobs inside the api, and the production
//! one: the api over Redis and separate `vigie-worker` processes). The api keeps
//! answering, with `UNAVAILABLE` (503 and `Retry-After` on ingest) while the database is
//! down; every push it acknowledged is stored, and the work queued during the outage
//! (scoring, the influencers' refresh) finishes by itself, with no job given up.

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::process::Child;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;
use vigie_tests::{
    ApiServer, Backend, TestDb, Workers, agency_with_brand, count, error_codes, eventually, redis_url, test_config,
    until, worker_command,
};

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

/// Where the jobs run.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Layout {
    /// The embedded default: the in-process queue, workers inside the api.
    Embedded,
    /// Production: the api over Redis runs no jobs; two `vigie-worker` processes do.
    Separate,
}

fn spawn_worker(config: &vigie_domain::Config) -> Child {
    let redis = config.redis_url.as_deref().expect("the separate layout runs over Redis");
    worker_command(env!("CARGO_BIN_EXE_vigie-worker-under-test"), &config.database_url, redis, &config.queue_prefix)
        .env("VIGIE_JOB_VISIBILITY_SECS", "10")
        .spawn()
        .expect("start vigie-worker-under-test")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_rides_out_a_postgres_crash() {
    rides_out_a_postgres_crash(Layout::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn separate_workers_ride_out_a_postgres_crash() {
    rides_out_a_postgres_crash(Layout::Separate).await;
}

async fn rides_out_a_postgres_crash(layout: Layout) {
    let pg = Arc::new(tokio::task::spawn_blocking(vigie_tests::pg_server::PgServer::start).await.unwrap());
    let scratch = TestDb::new(Backend::Sqlite).await; // only for its data directory
    let url = pg.url();
    let redis = redis_url();
    let mut vars = vec![("DATABASE_URL", url.as_str())];
    if layout == Layout::Separate {
        vars.push(("REDIS_URL", &redis));
    }
    let config = Arc::new(test_config(&scratch, &vars));
    assert_eq!(config.embedded_workers(), layout == Layout::Embedded);
    // The api migrates the database; the workers come after it.
    let api = ApiServer::start(config.clone()).await;
    let mut workers = Workers(Vec::new());
    if layout == Layout::Separate {
        workers.0 = (0..2).map(|_| spawn_worker(&config)).collect();
    }
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
    until("the api to be ready again", Duration::from_secs(60), async || readiness(&base).await.0 == StatusCode::OK)
        .await;
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
    let db = vigie_domain::platform::db::connect(&url, 2).await.unwrap();
    let acknowledged: std::collections::BTreeSet<String> = seen.acknowledged.iter().cloned().collect();
    eventually("every stored mention to be scored", Duration::from_secs(90), async || {
        let rows: Vec<(String, bool)> = {
            use sea_orm::{ConnectionTrait, Statement};
            let sql = "SELECT external_id, scored_at IS NOT NULL FROM mention";
            let rows = db.query_all_raw(Statement::from_string(db.get_database_backend(), sql)).await.unwrap();
            rows.iter().map(|r| (r.try_get_by_index(0).unwrap(), r.try_get_by_index(1).unwrap())).collect()
        };
        let stored: std::collections::BTreeSet<String> = rows.iter().map(|(id, _)| id.clone()).collect();
        let missing: Vec<&String> = acknowledged.difference(&stored).collect();
        assert!(missing.is_empty(), "acknowledged pushes lost: {missing:?}");
        match rows.iter().filter(|(_, scored)| !scored).count() {
            0 => Ok(()),
            unscored => Err(format!("{unscored} mentions unscored")),
        }
    })
    .await;
    drop(seen);

    // Every author of the stored mentions becomes an influencer: the refreshes asked
    // for during the outage ran once it was over. No job was given up on.
    eventually("every author to be ranked", Duration::from_secs(90), async || {
        let authors = count(&db, "SELECT COUNT(DISTINCT author_id) FROM mention").await;
        let influencers = count(&db, "SELECT COUNT(*) FROM brand_influencer").await;
        let stale = count(&db, "SELECT COUNT(*) FROM influencer_stale").await;
        if influencers == authors && stale == 0 {
            Ok(())
        } else {
            Err(format!("{influencers} influencers for {authors} authors, {stale} stale marks"))
        }
    })
    .await;
    let failures = count(&db, "SELECT COUNT(*) FROM job_failure").await;
    assert_eq!(failures, 0, "jobs given up during the outage");
    for worker in &mut workers.0 {
        assert!(worker.try_wait().unwrap().is_none(), "a worker process exited during the outage");
    }
    api.stop().await;
}
