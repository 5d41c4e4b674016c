//! Collection pipeline throughput on PostgreSQL through the Redis queue: mentions pushed
//! to `POST /ingest/mentions` (NDJSON, 1,000 a request, 4 clients by default) until every one is
//! stored, scored (language, sentiment, values, solicitations) and its author's
//! influence refreshed by separate `vigie-worker` processes; next to a raw `COPY` of
//! the same rows into a copy of the `mention` table (same indexes) in the same run.
//! The api that ingests (and so stores and scores) runs as a process of its own, like
//! the workers, so that the resident memory of each is sampled as the run progresses.
//!
//! ```sh
//! cargo build --release -p vigie-api -p vigie-worker -p vigie-bench
//! target/release/pipeline-throughput [mentions] [authors] [workers] [clients]   # defaults 200000 20000 2 4
//! ```
//! `VIGIE_BENCH_POSTGRES` (default `postgres://postgres@127.0.0.1:5432`) is where a
//! scratch database is created and dropped; `REDIS_URL` defaults to
//! `redis://127.0.0.1:6379`.

use sea_orm::ConnectionTrait;
use sea_orm::sqlx::postgres::PgPoolCopyExt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use vigie_bench::{Env, PostgresCpu, cpu_time, rss_kib};

const PER_REQUEST: usize = 1_000;

/// Texts in both languages, positive, negative, neutral, asking; `{}` is a number.
const TEXTS: &[&str] = &[
    "J'adore Verdure, le shampoing solide {} est vraiment efficace 🌱",
    "@verdure_fr mon colis {} est arrivé plein de plastique, c'est honteux !",
    "Verdure: not good, the cream {} irritated my skin 😞",
    "Just tried Verdure product {} and I love it, great packaging",
    "@verdure_fr where is my order {}? Still waiting after two weeks",
    "Pas mauvais du tout le déodorant Verdure {}, je recommande",
    "The Verdure store {} opens at nine on Sundays",
    "Verdure {} : livraison rapide, service client au top 👍",
];

/// A small deterministic generator, so runs are comparable.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

#[tokio::main]
async fn main() {
    vigie_domain::platform::telemetry::init_logs();
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>().expect("numeric arguments"));
    let total = args.next().unwrap_or(200_000);
    let authors = args.next().unwrap_or(20_000).max(1);
    let workers = args.next().unwrap_or(2);
    let clients = args.next().unwrap_or(4).max(1);
    // Past 300 requests (300,000 mentions), the default ingest quota would answer 429.
    let env = Env::start(&[("VIGIE_RATE_LIMIT_INGEST", "off")]).await;
    let (services, brand, key) = (env.services.clone(), env.brand.clone(), env.key.clone());
    let (api, base) = env.spawn_api(&[]).await;
    let fleet = env.spawn_workers(workers);
    // The api first, then each worker.
    let memory = || -> Vec<u64> { std::iter::once(&api).chain(&fleet).map(|p| rss_kib(p.0.id())).collect() };

    // The mentions, as NDJSON requests.
    let mut rng = Lcg(42);
    let now = chrono::Utc::now();
    let lines: Vec<String> = (0..total)
        .map(|i| {
            let author = rng.next() as usize % authors;
            let text = TEXTS[rng.next() as usize % TEXTS.len()].replace("{}", &i.to_string());
            serde_json::json!({
                "externalId": format!("m{i}"), "network": "mastodon", "url": format!("https://mastodon.example/@a{author}/{i}"),
                "text": text, "publishedAt": (now - chrono::Duration::minutes((total - i) as i64)).to_rfc3339(),
                "author": { "handle": format!("a{author}"), "followers": (author as i64 * 7919) % 2_000_000, "following": 300 },
                "metrics": { "likes": rng.next() % 500, "shares": rng.next() % 50, "replies": rng.next() % 20 }
            })
            .to_string()
        })
        .collect();
    let bodies: Vec<String> = lines.chunks(PER_REQUEST).map(|c| c.join("\n")).collect();
    let bodies = Arc::new(bodies);

    // CPU time, which unlike throughput does not move with how fast the shared machine
    // happens to be: of the api, of the workers and of PostgreSQL, from here to the end.
    let processes_cpu =
        || -> Vec<Duration> { std::iter::once(&api).chain(&fleet).map(|p| cpu_time(p.0.id())).collect() };
    let (cpu_before, db_cpu_before) = (processes_cpu(), PostgresCpu::now());
    let started = Instant::now();
    let client = reqwest::Client::new();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut pushers: Vec<_> = (0..clients)
        .map(|_| {
            let (client, bodies, next, key, base) =
                (client.clone(), bodies.clone(), next.clone(), key.clone(), base.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(body) = bodies.get(i) else { break };
                    let response = client
                        .post(format!("{base}/ingest/mentions"))
                        .bearer_auth(&key)
                        .body(body.clone())
                        .send()
                        .await
                        .expect("ingest request");
                    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap_or_default());
                }
            })
        })
        .collect();

    // Wait until every mention is pushed, stored (and so scored) and every author's
    // influence refreshed, sampling the processes' memory every 2 s from the start.
    let mut ingested = None;
    let mut samples: Vec<(u64, i64, i64, Vec<u64>)> = Vec::new();
    let mut next_sample = started.elapsed();
    // Counting the mentions scans the table, so it is done only once the stale marks,
    // a small table, are gone: the poll must not compete with the pipeline it measures.
    let count = |sql: &'static str| {
        let db = services.db.clone();
        async move {
            let statement = sea_orm::Statement::from_string(sea_orm::DatabaseBackend::Postgres, sql);
            let row = db.query_one_raw(statement).await.expect("progress").expect("a row");
            row.try_get::<i64>("", "n").unwrap()
        }
    };
    loop {
        if ingested.is_none() && pushers.iter().all(|pusher| pusher.is_finished()) {
            ingested = Some(started.elapsed());
            // Finished already; this passes on a failed push's panic.
            for pusher in pushers.drain(..) {
                pusher.await.unwrap();
            }
        }
        if ingested.is_none() && started.elapsed() < next_sample {
            // While pushing, only the samples read the database.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        let stale = count("SELECT COUNT(*) AS n FROM influencer_stale").await;
        if started.elapsed() >= next_sample {
            // The statistics' estimate: counting would scan the table.
            let stored = count("SELECT n_live_tup AS n FROM pg_stat_user_tables WHERE relname = 'mention'").await;
            samples.push((started.elapsed().as_secs(), stored, stale, memory()));
            next_sample += Duration::from_secs(2);
        }
        if ingested.is_some() && stale == 0 {
            let scored = count("SELECT COUNT(*) AS n FROM mention WHERE scored_at IS NOT NULL").await;
            if scored as usize >= total {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = started.elapsed();
    samples.push((elapsed.as_secs(), total as i64, 0, memory()));
    let db_cpu = db_cpu_before.elapsed();
    let cpu: Vec<Duration> = processes_cpu().iter().zip(&cpu_before).map(|(after, before)| *after - *before).collect();
    let ingested = ingested.expect("pushed before done");
    let influencers = services
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DatabaseBackend::Postgres,
            "SELECT COUNT(*) AS n FROM brand_influencer",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap();
    drop(fleet);
    drop(api);

    // The same rows, raw, with COPY into a copy of the table and its indexes.
    let pool = services.db.get_postgres_connection_pool();
    services.db.execute_unprepared("CREATE TABLE bench_copy (LIKE mention INCLUDING ALL)").await.expect("copy table");
    let columns = "id, agency_id, brand_id, source_id, external_id, author_id, network, url, text, lang, published_at, \
                   collected_at, sentiment, relevance, likes, shares, replies, views, value_tags, is_solicitation, \
                   is_direct, scored_at, author_followers, search_text";
    let source: uuid::Uuid = services
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DatabaseBackend::Postgres,
            "SELECT id FROM source LIMIT 1",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get("", "id")
        .unwrap();
    let author: uuid::Uuid = services
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DatabaseBackend::Postgres,
            "SELECT id FROM author LIMIT 1",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get("", "id")
        .unwrap();
    let mut csv = String::with_capacity(total * 300);
    let stamp = now.to_rfc3339();
    for (i, line) in lines.iter().enumerate() {
        let item: serde_json::Value = serde_json::from_str(line).unwrap();
        let text = item["text"].as_str().unwrap().replace('"', "\"\"");
        csv.push_str(&format!(
            "{},{},{},{},m{i},{},mastodon,{},\"{}\",fr,{},{},0.5,0.6,{},{},{},0,[],false,false,{},{},\"{}\"\n",
            uuid::Uuid::now_v7(),
            brand.agency_id,
            brand.id,
            source,
            author,
            item["url"].as_str().unwrap(),
            text,
            item["publishedAt"].as_str().unwrap(),
            stamp,
            item["metrics"]["likes"],
            item["metrics"]["shares"],
            item["metrics"]["replies"],
            stamp,
            item["author"]["followers"],
            vigie_domain::platform::text::words(&text).join(" "),
        ));
    }
    let copy_db_cpu = PostgresCpu::now();
    let copy_started = Instant::now();
    let mut copy =
        pool.copy_in_raw(&format!("COPY bench_copy ({columns}) FROM STDIN WITH (FORMAT csv)")).await.expect("COPY");
    copy.send(csv.as_bytes()).await.expect("COPY data");
    let copied = copy.finish().await.expect("COPY finish");
    let copy_elapsed = copy_started.elapsed();
    let copy_db_cpu = copy_db_cpu.elapsed();
    assert_eq!(copied as usize, total);

    let rate = total as f64 / elapsed.as_secs_f64();
    let copy_rate = total as f64 / copy_elapsed.as_secs_f64();
    println!(
        "vigie pipeline (HTTP ingest → stored → scored → influencers, PostgreSQL + Redis, {workers} worker processes, {clients} clients): \
         {total} mentions by {authors} authors in {elapsed:.2?} = {rate:.0} mentions/s (ingest answered in {ingested:.2?}; {influencers} influencers)"
    );
    println!(
        "raw COPY of the same rows into mention's twin (same indexes): {copy_elapsed:.2?} = {copy_rate:.0} rows/s"
    );
    println!("pipeline / COPY: {:.0} %", 100.0 * rate / copy_rate);
    let per_mention = |cpu: Duration| cpu.as_secs_f64() * 1e6 / total as f64;
    let workers_cpu: Duration = cpu[1..].iter().sum();
    println!(
        "CPU per mention: api {:.0} µs, workers {:.0} µs, PostgreSQL {:.0} µs; COPY: PostgreSQL {:.0} µs a row",
        per_mention(cpu[0]),
        per_mention(workers_cpu),
        per_mention(db_cpu),
        per_mention(copy_db_cpu)
    );
    println!(
        "resident memory (KiB) as the run goes: seconds, mentions stored (estimate), authors' stale marks left, \
         [api, workers…]"
    );
    for (seconds, stored, stale, rss) in samples.iter().step_by((samples.len() / 8).max(1)).chain(samples.last()) {
        println!("  {seconds:>4} s  {stored:>9}  {stale:>9}  {rss:?}");
    }

    drop(services);
    env.finish().await;
}
