//! The dashboard benchmark: one brand's dashboard (top 20 influencers with their score
//! components and authors, 7-day sentiment series, open alerts, SLA compliance) asked by
//! `clients` concurrent clients, from Vigie and from PostGraphile 4 serving the same
//! PostgreSQL tables; then a trivial authenticated query next to a bare actix-web
//! handler (the overhead of GraphQL and authentication).
//!
//! ```sh
//! cargo build --release -p vigie-api -p vigie-bench
//! target/release/dashboard 1000000 32 15   # mentions, clients, seconds per measure [, seed, rounds]
//! ```
//!
//! The two servers take turns, `rounds` measures each (default 4), and the figures are
//! over all of a server's measures. Then Vigie alone takes dashboards at a fixed arrival
//! rate, half the throughput it just reached (an open loop), for the latency a capacity
//! plan can use.
//!
//! PostGraphile comes from `bench/postgraphile` (`npm ci` is run there if needed). It
//! answers the same question from the same rows, with two SQL functions for what its
//! generated schema cannot express (the daily series and the compliance figures); it
//! runs as the database owner, with no authentication and no tenant checks, which only
//! flatters it.

use chrono::{Duration as Days, Utc};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use vigie_bench::{DASHBOARD_QUERY, Env, dataset, percentile};

const PEER_QUERY: &str = "query Dashboard($b: UUID!, $from: Datetime!, $to: Datetime!) {
  brandById(id: $b) { name }
  allBrandInfluencers(condition: { brandId: $b }, orderBy: [SCORE_DESC, ID_DESC], first: 20) { nodes {
    score tier stance components authorByAuthorId { handle followers } } }
  benchSentimentSeries(brand: $b, fromAt: $from, toAt: $to) { nodes { day mentions negative positive meanSentiment } }
  allAlerts(condition: { brandId: $b, status: \"open\" }, orderBy: [OPENED_AT_DESC], first: 20) { nodes { kind severity openedAt } }
  benchSlaCompliance(brand: $b, fromAt: $from, toAt: $to) { tickets answered withinTarget breached
    shareWithinTarget medianFirstResponseMinutes p90FirstResponseMinutes }
}";

/// What PostGraphile needs beyond the tables: the two dashboard figures as functions.
const PEER_FUNCTIONS: &str = "
CREATE FUNCTION bench_sentiment_series(brand uuid, from_at timestamptz, to_at timestamptz)
RETURNS TABLE(day date, mentions bigint, negative bigint, positive bigint, mean_sentiment double precision)
LANGUAGE sql STABLE AS $$
  WITH days AS (
    SELECT generate_series((from_at AT TIME ZONE 'UTC')::date,
                           ((to_at AT TIME ZONE 'UTC') - interval '1 microsecond')::date, interval '1 day')::date AS day),
  counts AS (
    SELECT (published_at AT TIME ZONE 'UTC')::date AS day, COUNT(*) AS mentions,
           COUNT(*) FILTER (WHERE sentiment <= -0.1) AS negative, COUNT(*) FILTER (WHERE sentiment >= 0.1) AS positive,
           AVG(sentiment) AS mean_sentiment
    FROM mention WHERE brand_id = brand AND about_brand AND published_at >= from_at AND published_at < to_at GROUP BY 1)
  SELECT days.day, COALESCE(counts.mentions, 0), COALESCE(counts.negative, 0), COALESCE(counts.positive, 0),
         counts.mean_sentiment
  FROM days LEFT JOIN counts USING (day) ORDER BY days.day
$$;
CREATE TYPE bench_sla AS (tickets bigint, answered bigint, within_target bigint, breached bigint,
  share_within_target double precision, median_first_response_minutes double precision,
  p90_first_response_minutes double precision);
CREATE FUNCTION bench_sla_compliance(brand uuid, from_at timestamptz, to_at timestamptz) RETURNS bench_sla
LANGUAGE sql STABLE AS $$
  SELECT COUNT(*), COUNT(first_response_at), COUNT(*) FILTER (WHERE sla_state = 'met'),
         COUNT(*) FILTER (WHERE sla_state = 'breached'),
         (COUNT(*) FILTER (WHERE sla_state = 'met'))::float8
           / NULLIF(COUNT(*) FILTER (WHERE sla_state IN ('met', 'breached')), 0),
         percentile_cont(0.5) WITHIN GROUP (ORDER BY first_response_minutes),
         percentile_cont(0.9) WITHIN GROUP (ORDER BY first_response_minutes)
  FROM ticket WHERE brand_id = brand AND created_at >= from_at AND created_at < to_at
$$;
";

/// What one measure saw: every request's latency, how long it lasted, and the CPU time
/// of the server process (when it runs apart from the bench) and of PostgreSQL.
struct Sample {
    latencies: Vec<Duration>,
    elapsed: Duration,
    cpu: Option<Duration>,
    db_cpu: Duration,
}

/// Throughput and latency over one or more samples, and CPU time per request.
struct Measure {
    requests: usize,
    per_second: f64,
    p50: Duration,
    p99: Duration,
    cpu_per_request: Option<Duration>,
    db_cpu_per_request: Duration,
}

impl Measure {
    fn of(samples: &[&Sample]) -> Measure {
        let mut latencies: Vec<Duration> = samples.iter().flat_map(|s| s.latencies.iter().copied()).collect();
        latencies.sort();
        let requests = latencies.len().max(1) as u32;
        let elapsed: Duration = samples.iter().map(|s| s.elapsed).sum();
        let cpu = samples.iter().map(|s| s.cpu).sum::<Option<Duration>>();
        Measure {
            requests: latencies.len(),
            per_second: latencies.len() as f64 / elapsed.as_secs_f64(),
            p50: percentile(&latencies, 50.0),
            p99: percentile(&latencies, 99.0),
            cpu_per_request: cpu.map(|cpu| cpu / requests),
            db_cpu_per_request: samples.iter().map(|s| s.db_cpu).sum::<Duration>() / requests,
        }
    }
}

impl std::fmt::Display for Measure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:>8.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  ({} requests)",
            self.per_second,
            self.p50.as_secs_f64() * 1e3,
            self.p99.as_secs_f64() * 1e3,
            self.requests
        )?;
        // CPU per request does not depend on how fast the machine happens to be during
        // the measure, which moves the throughput of both servers from run to run.
        if let Some(cpu) = self.cpu_per_request {
            write!(f, "  server CPU {:.2} ms/request", cpu.as_secs_f64() * 1e3)?;
        }
        write!(f, "  PostgreSQL CPU {:.2} ms/request", self.db_cpu_per_request.as_secs_f64() * 1e3)
    }
}

/// One request, checked: a GraphQL answer without errors.
async fn ask(client: &reqwest::Client, url: &str, token: Option<&str>, body: &Value) -> Value {
    let mut request = client.post(url).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let answer: Value = request.send().await.expect("request").json().await.expect("JSON answer");
    assert!(answer.get("errors").is_none(), "{url} answered errors: {answer:#}");
    answer
}

/// `clients` loops posting `body` for `seconds` (after a one-second warm-up), to the
/// server process `server` if it is one apart.
async fn load(
    url: &str,
    token: Option<&str>,
    body: Value,
    clients: usize,
    seconds: u64,
    server: Option<u32>,
) -> Sample {
    let client = reqwest::Client::builder().pool_max_idle_per_host(clients).build().unwrap();
    ask(&client, url, token, &body).await;
    let body = Arc::new(body);
    let run = |until: Instant| {
        let tasks: Vec<_> = (0..clients)
            .map(|_| {
                let (client, url, token, body) =
                    (client.clone(), url.to_owned(), token.map(str::to_owned), body.clone());
                tokio::spawn(async move {
                    let mut latencies = Vec::new();
                    while Instant::now() < until {
                        let started = Instant::now();
                        let mut request = client.post(&url).json(&*body);
                        if let Some(token) = &token {
                            request = request.bearer_auth(token);
                        }
                        let response = request.send().await.expect("request");
                        assert!(response.status().is_success(), "{url}: {}", response.status());
                        response.bytes().await.expect("body");
                        latencies.push(started.elapsed());
                    }
                    latencies
                })
            })
            .collect();
        async move {
            let mut all = Vec::new();
            for task in tasks {
                all.extend(task.await.unwrap());
            }
            all
        }
    };
    run(Instant::now() + Duration::from_secs(1)).await;
    let cpu_before = server.map(vigie_bench::cpu_time);
    let db_cpu_before = vigie_bench::PostgresCpu::now();
    let started = Instant::now();
    let latencies = run(started + Duration::from_secs(seconds)).await;
    let elapsed = started.elapsed();
    let cpu = server.zip(cpu_before).map(|(pid, before)| vigie_bench::cpu_time(pid).saturating_sub(before));
    let db_cpu = db_cpu_before.elapsed();
    Sample { latencies, elapsed, cpu, db_cpu }
}

/// Requests sent at a fixed `rate` whatever the answers, as users arrive (an open loop),
/// for `seconds`; each is timed from when it was due, so a stall counts against every
/// request it delays. Closed loops cannot give this: with every client always waiting,
/// latency is only the queue in front of the server.
async fn open_loop(url: &str, token: &str, body: Value, rate: f64, seconds: u64) -> Vec<Duration> {
    let client = reqwest::Client::builder().pool_max_idle_per_host(256).build().unwrap();
    ask(&client, url, Some(token), &body).await;
    let body = Arc::new(body);
    let every = Duration::from_secs_f64(1.0 / rate);
    let start = Instant::now() + Duration::from_millis(100);
    let total = (rate * seconds as f64) as u32;
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let due = start + every * i;
        tokio::time::sleep_until(due.into()).await;
        let (client, url, token, body) = (client.clone(), url.to_owned(), token.to_owned(), body.clone());
        tasks.push(tokio::spawn(async move {
            let response = client.post(&url).bearer_auth(&token).json(&*body).send().await.expect("request");
            assert!(response.status().is_success(), "{url}: {}", response.status());
            response.bytes().await.expect("body");
            due.elapsed()
        }));
    }
    let mut latencies = Vec::with_capacity(tasks.len());
    for task in tasks {
        latencies.push(task.await.unwrap());
    }
    latencies.sort();
    latencies
}

/// A child process killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts PostGraphile over `database_url`, installing it first if needed.
async fn start_postgraphile(database_url: &str) -> (Process, String) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("postgraphile");
    let bin = dir.join("node_modules/.bin/postgraphile");
    if !bin.exists() {
        let status = Command::new("npm").args(["ci", "--no-audit", "--no-fund"]).current_dir(&dir).status();
        assert!(status.is_ok_and(|s| s.success()), "npm ci in {} failed", dir.display());
    }
    let port = free_port();
    let child = Command::new(&bin)
        .args(["--connection", database_url, "--port", &port.to_string(), "--host", "127.0.0.1"])
        .args(["--disable-default-mutations", "--disable-query-log", "--dynamic-json"])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("postgraphile");
    let process = Process(child);
    let url = format!("http://127.0.0.1:{port}/graphql");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = client.post(&url).json(&json!({ "query": "{ __typename }" })).send().await;
        if ready.is_ok_and(|r| r.status().is_success()) {
            return (process, url);
        }
        assert!(Instant::now() < deadline, "PostGraphile did not start");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A bare actix-web handler: reads the JSON body, answers a fixed JSON document.
fn start_bare_actix() -> String {
    use actix_web::{App, HttpResponse, HttpServer, web};
    let port = free_port();
    let server = HttpServer::new(|| {
        App::new().route(
            "/graphql",
            web::post().to(|body: web::Json<Value>| async move {
                let _ = body.get("query");
                HttpResponse::Ok().json(json!({ "data": { "me": { "role": "OWNER" } } }))
            }),
        )
    })
    .bind(("127.0.0.1", port))
    .expect("bind")
    .run();
    tokio::spawn(server);
    format!("http://127.0.0.1:{port}/graphql")
}

#[tokio::main]
async fn main() {
    let args: Vec<u64> = std::env::args().skip(1).map(|a| a.parse().expect("numbers")).collect();
    let mentions = args.first().copied().unwrap_or(1_000_000);
    let clients = args.get(1).copied().unwrap_or(32) as usize;
    let seconds = args.get(2).copied().unwrap_or(15);
    let seed = args.get(3).copied().unwrap_or(42);
    let rounds = args.get(4).copied().unwrap_or(4).max(1) as usize;

    let env = Env::start(&[("VIGIE_ACCESS_TOKEN_TTL_SECS", "86400"), ("VIGIE_RATE_LIMIT_GRAPHQL", "off")]).await;
    let started = Instant::now();
    let data = dataset::generate(&env.services, mentions, seed).await;
    println!(
        "data set (seed {seed}): {} agencies, {} brands, {} authors, {} mentions; loaded in {:.1?}",
        data.agencies,
        data.brands.len(),
        data.authors,
        data.mentions,
        started.elapsed()
    );
    let brand = data.brands[0].id;
    let (from, to) = (Utc::now() - Days::days(7), Utc::now());
    let vars = json!({ "b": brand, "from": from, "to": to });

    // The api under test is a process of its own, so its memory can be read.
    let (api, api_base) =
        env.spawn_api(&[("VIGIE_ACCESS_TOKEN_TTL_SECS", "86400"), ("VIGIE_RATE_LIMIT_GRAPHQL", "off")]).await;
    let api_pid = api.0.id();
    let idle_rss = vigie_bench::rss_kib(api_pid);
    let vigie_url = format!("{api_base}/graphql");
    let client = reqwest::Client::new();
    let dashboard = json!({ "query": DASHBOARD_QUERY, "variables": vars });
    let ours = ask(&client, &vigie_url, Some(&data.token), &dashboard).await;

    use sea_orm::ConnectionTrait;
    env.services.db.execute_unprepared(PEER_FUNCTIONS).await.expect("peer functions");
    let (peer_process, peer_url) = start_postgraphile(&env.database_url()).await;
    let peer_dashboard = json!({ "query": PEER_QUERY, "variables": vars });
    // The same answer, or the comparison means nothing.
    let theirs = ask(&client, &peer_url, None, &peer_dashboard).await;
    let (ours, theirs) = (&ours["data"], &theirs["data"]);
    let scores = |list: &Value, path: &str| -> Vec<String> {
        list.as_array().unwrap().iter().map(|n| format!("{:.2}", n.pointer(path).unwrap().as_f64().unwrap())).collect()
    };
    assert_eq!(
        scores(&ours["influencers"]["edges"], "/node/score"),
        scores(&theirs["allBrandInfluencers"]["nodes"], "/score"),
        "the same top 20"
    );
    assert_eq!(
        ours["sentimentSeries"].as_array().unwrap().iter().map(|d| d["mentions"].as_i64()).collect::<Vec<_>>(),
        theirs["benchSentimentSeries"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["mentions"].as_str().and_then(|n| n.parse().ok()))
            .collect::<Vec<_>>(),
        "the same series"
    );
    assert_eq!(
        ours["slaCompliance"]["overall"]["tickets"].as_i64(),
        theirs["benchSlaCompliance"]["tickets"].as_str().and_then(|n| n.parse().ok())
    );
    let peer_pid = peer_process.0.id();

    // This machine's speed drifts by up to a quarter within the hour: the two servers
    // take turns, in the order A B B A A B…, so that a drift during the run weighs on
    // both alike, and each round's ratio shows how much the machine moved.
    println!("\ndashboard query, {clients} clients, {rounds} rounds of {seconds} s each per server:");
    let (mut vigie, mut peer) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let vigie_first = round % 2 == 0;
        if !vigie_first {
            peer.push(load(&peer_url, None, peer_dashboard.clone(), clients, seconds, Some(peer_pid)).await);
        }
        vigie.push(load(&vigie_url, Some(&data.token), dashboard.clone(), clients, seconds, Some(api_pid)).await);
        if vigie_first {
            peer.push(load(&peer_url, None, peer_dashboard.clone(), clients, seconds, Some(peer_pid)).await);
        }
        let (ours, theirs) = (Measure::of(&[&vigie[round]]), Measure::of(&[&peer[round]]));
        println!(
            "  round {}: Vigie {:.0} req/s, PostGraphile {:.0} req/s: {:.2}×",
            round + 1,
            ours.per_second,
            theirs.per_second,
            ours.per_second / theirs.per_second
        );
    }
    let loaded_rss = vigie_bench::rss_kib(api_pid);
    drop(peer_process);
    let (vigie, peer) = (Measure::of(&vigie.iter().collect::<Vec<_>>()), Measure::of(&peer.iter().collect::<Vec<_>>()));
    println!("  Vigie        {vigie}");
    println!("  PostGraphile {peer}");
    println!(
        "  Vigie / PostGraphile throughput: {:.2}× (target ≥ 1.5×, p99 < 25 ms)",
        vigie.per_second / peer.per_second
    );
    if let (Some(ours), Some(theirs)) = (vigie.cpu_per_request, peer.cpu_per_request) {
        let ratio = |ours: Duration, theirs: Duration| ours.as_secs_f64() / theirs.as_secs_f64();
        println!(
            "  CPU per dashboard, Vigie / PostGraphile: server {:.2}, PostgreSQL {:.2}, both {:.2}",
            ratio(ours, theirs),
            ratio(vigie.db_cpu_per_request, peer.db_cpu_per_request),
            ratio(ours + vigie.db_cpu_per_request, theirs + peer.db_cpu_per_request)
        );
    }

    // What a capacity plan needs: the latency users see when arrivals come at half the
    // rate that saturates this machine.
    let rate = vigie.per_second / 2.0;
    let open = open_loop(&vigie_url, &data.token, dashboard.clone(), rate, seconds * 2).await;
    println!(
        "\ndashboard, open loop at half the saturating rate ({rate:.0} req/s for {} s): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        seconds * 2,
        percentile(&open, 50.0).as_secs_f64() * 1e3,
        percentile(&open, 99.0).as_secs_f64() * 1e3,
        open.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );

    let me = json!({ "query": "{ me { role } }" });
    let trivial =
        Measure::of(&[&load(&vigie_url, Some(&data.token), me.clone(), clients, seconds, Some(api_pid)).await]);
    // The bare handler runs in this process, beside the load: no CPU figure of its own.
    let bare = Measure::of(&[&load(&start_bare_actix(), None, me, clients, seconds, None).await]);
    println!("\ntrivial authenticated query, {clients} clients:");
    println!("  Vigie `{{ me {{ role }} }}`   {trivial}");
    println!("  bare actix-web handler  {bare}");
    println!("  Vigie / bare: {:.2} (target ≥ 0.5)", trivial.per_second / bare.per_second);
    println!(
        "\nvigie-api resident memory: {:.1} MiB idle, {:.1} MiB after the dashboard load, {:.1} MiB after all loads",
        idle_rss as f64 / 1024.0,
        loaded_rss as f64 / 1024.0,
        vigie_bench::rss_kib(api_pid) as f64 / 1024.0
    );
    drop(api);
    env.finish().await;
}
