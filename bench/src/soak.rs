//! The soak: minutes of mixed load on the production layout (a `vigie-api` process and a
//! `vigie-worker` process over PostgreSQL and Redis). It fails (exit code 1) on any
//! error answered, on any mention left unscored or job failure recorded at the end, and
//! on memory growth of either process.
//!
//! ```sh
//! cargo build -p vigie-api -p vigie-worker -p vigie-bench   # or --release
//! target/debug/soak 600 8   # seconds, clients [, seed]
//! ```
//!
//! Each client loops over a mix weighted like an agency's day: dashboards (40 %), a
//! page of mentions (20 %), pushes of one to twenty new mentions through ingest (20 %,
//! scored as they are stored, turned into tickets, and checked for crises by the worker), a logged
//! interaction (10 %) and `me` (10 %). Rate limits are off: the soak measures endurance,
//! not quotas. Pushes vary in size, as real ones do, because every batch size reaches
//! the statement caches of the pools (see `db::batches`).
//!
//! Memory: both processes' RSS is sampled every 5 s. Growth is the median of the last
//! tenth of the run against the median of the tenth after the first fifth (by then
//! pools, caches and allocator arenas have reached their working size); more than 25 %
//! and 8 MiB fails.

use chrono::{Duration as Days, Utc};
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vigie_bench::dataset::{self, Rng};
use vigie_bench::{DASHBOARD_QUERY, Env, rss_kib};

const SETTINGS: [(&str, &str); 3] =
    [("VIGIE_ACCESS_TOKEN_TTL_SECS", "86400"), ("VIGIE_RATE_LIMIT_GRAPHQL", "off"), ("VIGIE_RATE_LIMIT_INGEST", "off")];

const MENTIONS: &str = "query($b: ID!) { mentions(brandId: $b, first: 20) {
  edges { node { text sentiment publishedAt author { handle followers } } } pageInfo { hasNextPage endCursor } } }";

const LOG_INTERACTION: &str = "mutation($i: ID!) { logInteraction(input: {
  influencerId: $i, channel: \"email\", direction: OUTBOUND, summary: \"Soak: invited to the spring launch\" }) { id } }";

/// What the clients share.
struct Shared {
    api: String,
    ingest_key: String,
    token: String,
    brands: Vec<String>,
    influencers: Vec<String>,
    until: Instant,
    pushed: AtomicU64,
    done: [AtomicU64; 5],
    errors: Mutex<Vec<String>>,
}

const KINDS: [&str; 5] = ["dashboard", "mentions", "ingest", "interaction", "me"];

#[tokio::main]
async fn main() {
    let args: Vec<u64> = std::env::args().skip(1).map(|a| a.parse().expect("numbers")).collect();
    let seconds = args.first().copied().unwrap_or(600);
    let clients = args.get(1).copied().unwrap_or(8) as usize;
    let seed = args.get(2).copied().unwrap_or(7);

    let env = Env::start(&SETTINGS).await;
    let data = dataset::generate(&env.services, 20_000, seed).await;
    let (api, base) = env.spawn_api(&SETTINGS).await;
    let worker = env.spawn_workers(1).pop().expect("worker");
    let (api_pid, worker_pid) = (api.0.id(), worker.0.id());

    let agency = data.brands[0].agency_id;
    let brands: Vec<String> = data.brands.iter().filter(|b| b.agency_id == agency).map(|b| b.id.to_string()).collect();
    let http = reqwest::Client::new();
    let listed = graphql(
        &http,
        &base,
        &data.token,
        "query($b: ID!) { influencers(brandId: $b, first: 50) { edges { node { id } } } }",
        json!({ "b": brands[0] }),
    )
    .await
    .expect("influencers");
    let influencers: Vec<String> = listed["data"]["influencers"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["id"].as_str().expect("id").to_owned())
        .collect();
    println!("soak: {seconds} s, {clients} clients, {} brands, {} mentions to start with", brands.len(), data.mentions);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = (rss_kib(api_pid), rss_kib(worker_pid));
    println!("resident memory before the load: api {:.1} MiB, worker {:.1} MiB", mib(idle.0), mib(idle.1));

    let started = Instant::now();
    let shared = Arc::new(Shared {
        api: base.clone(),
        ingest_key: env.key.clone(),
        token: data.token.clone(),
        brands,
        influencers,
        until: started + Duration::from_secs(seconds),
        pushed: AtomicU64::new(0),
        done: Default::default(),
        errors: Mutex::new(Vec::new()),
    });
    let sampler = tokio::spawn({
        let until = shared.until;
        async move {
            let mut samples = Vec::new();
            while Instant::now() < until {
                tokio::time::sleep(Duration::from_secs(5)).await;
                samples.push((started.elapsed(), rss_kib(api_pid), rss_kib(worker_pid)));
            }
            samples
        }
    });
    let tasks: Vec<_> =
        (0..clients).map(|n| tokio::spawn(client(shared.clone(), http.clone(), seed ^ (n as u64 + 1)))).collect();
    for task in tasks {
        task.await.expect("client");
    }
    let samples = sampler.await.expect("sampler");
    let elapsed = started.elapsed();

    // Everything pushed is scored by the worker, and no job failed.
    let count = |sql: &'static str| {
        let db = env.services.db.clone();
        async move {
            let row = db
                .query_one_raw(Statement::from_string(DatabaseBackend::Postgres, sql))
                .await
                .expect("count")
                .expect("row");
            row.try_get::<i64>("", "n").expect("n")
        }
    };
    let drained = Instant::now();
    let mut unscored = count("SELECT COUNT(*) AS n FROM mention WHERE scored_at IS NULL").await;
    while unscored > 0 && drained.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        unscored = count("SELECT COUNT(*) AS n FROM mention WHERE scored_at IS NULL").await;
    }
    let failures = count("SELECT COUNT(*) AS n FROM job_failure").await;

    println!("\n{:>12} {:>10} {:>8}", "request", "done", "per s");
    for (kind, done) in KINDS.iter().zip(&shared.done) {
        let done = done.load(Ordering::Relaxed);
        println!("{kind:>12} {done:>10} {:>8.1}", done as f64 / elapsed.as_secs_f64());
    }
    println!(
        "mentions pushed: {}; left unscored {:.0?} after the load: {unscored}; job failures: {failures}",
        shared.pushed.load(Ordering::Relaxed),
        drained.elapsed()
    );

    println!("\nresident memory (MiB) every minute:");
    println!("{:>8} {:>8} {:>8}", "at", "api", "worker");
    for (at, api, worker) in samples.iter().filter(|(at, _, _)| at.as_secs() % 60 < 5) {
        println!("{:>7}s {:>8.1} {:>8.1}", at.as_secs(), mib(*api), mib(*worker));
    }
    let api_growth = growth(&samples, |s| s.1);
    let worker_growth = growth(&samples, |s| s.2);
    println!("api: {api_growth}\nworker: {worker_growth}");

    let errors = std::mem::take(&mut *shared.errors.lock().unwrap());
    let mut failed = Vec::new();
    if !errors.is_empty() {
        failed.push(format!(
            "{} errors; the first ones:\n  {}",
            errors.len(),
            errors.iter().take(5).cloned().collect::<Vec<_>>().join("\n  ")
        ));
    }
    if unscored > 0 {
        failed.push(format!("{unscored} mentions never scored"));
    }
    if failures > 0 {
        failed.push(format!("{failures} job failures recorded"));
    }
    for (name, growth) in [("api", &api_growth), ("worker", &worker_growth)] {
        if growth.grew() {
            failed.push(format!("{name} memory grew: {growth}"));
        }
    }
    drop((api, worker));
    env.finish().await;
    if failed.is_empty() {
        println!("\nsoak passed");
    } else {
        println!("\nSOAK FAILED:\n- {}", failed.join("\n- "));
        std::process::exit(1);
    }
}

/// One client's loop until the end of the run.
async fn client(shared: Arc<Shared>, http: reqwest::Client, seed: u64) {
    let mut rng = Rng::new(seed);
    let mut sequence = 0u64;
    while Instant::now() < shared.until {
        let roll = rng.unit();
        let brand = &shared.brands[(rng.next_u64() % shared.brands.len() as u64) as usize];
        let (kind, outcome) = if roll < 0.4 {
            let (from, to) = (Utc::now() - Days::days(7), Utc::now());
            let vars = json!({ "b": brand, "from": from, "to": to });
            (0, graphql(&http, &shared.api, &shared.token, DASHBOARD_QUERY, vars).await.map(drop))
        } else if roll < 0.6 {
            (1, graphql(&http, &shared.api, &shared.token, MENTIONS, json!({ "b": brand })).await.map(drop))
        } else if roll < 0.8 {
            sequence += 1;
            let count = 1 + rng.next_u64() % 20;
            (2, ingest(&http, &shared, seed, sequence, count).await)
        } else if roll < 0.9 {
            let influencer = &shared.influencers[(rng.next_u64() % shared.influencers.len() as u64) as usize];
            let vars = json!({ "i": influencer });
            (3, graphql(&http, &shared.api, &shared.token, LOG_INTERACTION, vars).await.map(drop))
        } else {
            (4, graphql(&http, &shared.api, &shared.token, "{ me { role } }", json!({})).await.map(drop))
        };
        match outcome {
            Ok(()) => {
                shared.done[kind].fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => shared.errors.lock().unwrap().push(format!("{}: {error}", KINDS[kind])),
        }
    }
}

/// A GraphQL request that must answer 200 without errors.
async fn graphql(
    http: &reqwest::Client,
    api: &str,
    token: &str,
    query: &str,
    variables: Value,
) -> Result<Value, String> {
    let response = http
        .post(format!("{api}/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let body: Value = response.json().await.map_err(|e| format!("{status}: {e}"))?;
    if !status.is_success() || body.get("errors").is_some() {
        return Err(format!("{status}: {body}"));
    }
    Ok(body)
}

/// Pushes `count` new mentions (NDJSON), a few of them addressed to the brand.
async fn ingest(http: &reqwest::Client, shared: &Shared, seed: u64, sequence: u64, count: u64) -> Result<(), String> {
    let lines: Vec<String> = (0..count)
        .map(|n| {
            let id = format!("soak-{seed}-{sequence}-{n}");
            let text = match n % 5 {
                0 => "@verdure_fr mon colis est arrivé abîmé, vous pouvez m'aider ?",
                1 => "Le shampoing solide Verdure est vraiment top, je recommande",
                2 => "Verdure promet zéro plastique, pas mal du tout",
                3 => "Not sure about Verdure's new packaging, looks like plastic to me",
                _ => "Verdure: great customer service today, thanks!",
            };
            json!({
                "externalId": id,
                "network": "mastodon",
                "url": format!("https://mastodon.example/@soak{n}/{id}"),
                "text": text,
                "publishedAt": Utc::now().to_rfc3339(),
                "author": { "handle": format!("soak{}", sequence % 50), "followers": 100 + 37 * n },
                "metrics": { "likes": n, "shares": 0, "replies": 1 }
            })
            .to_string()
        })
        .collect();
    let response = http
        .post(format!("{}/ingest/mentions", shared.api))
        .bearer_auth(&shared.ingest_key)
        .body(lines.join("\n"))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    if status != 200 || body.contains("\"rejected\":[{") {
        return Err(format!("{status}: {body}"));
    }
    shared.pushed.fetch_add(count, Ordering::Relaxed);
    Ok(())
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Memory at the start of the steady state against the end of the run.
struct Growth {
    warm_kib: u64,
    end_kib: u64,
}

impl Growth {
    fn grew(&self) -> bool {
        self.end_kib as f64 > self.warm_kib as f64 * 1.25 && self.end_kib > self.warm_kib + 8 * 1024
    }
}

impl std::fmt::Display for Growth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.1} MiB in steady state, {:.1} MiB at the end ({:+.1} %)",
            mib(self.warm_kib),
            mib(self.end_kib),
            (self.end_kib as f64 / self.warm_kib.max(1) as f64 - 1.0) * 100.0
        )
    }
}

fn growth(samples: &[(Duration, u64, u64)], rss: impl Fn(&(Duration, u64, u64)) -> u64) -> Growth {
    let n = samples.len();
    let median = |window: &[(Duration, u64, u64)]| {
        let mut values: Vec<u64> = window.iter().map(&rss).collect();
        values.sort_unstable();
        values.get(values.len() / 2).copied().unwrap_or(0)
    };
    let tenth = (n / 10).max(1);
    let warm = median(&samples[(n / 5).min(n.saturating_sub(1))..(n / 5 + tenth).min(n)]);
    let end = median(&samples[n.saturating_sub(tenth)..]);
    Growth { warm_kib: warm, end_kib: end }
}
