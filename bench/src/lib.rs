//! What the benchmarks share: a scratch PostgreSQL database, the api started in this
//! process over it and Redis (so it runs no jobs), separate `vigie-worker` processes,
//! and a tenant with one brand, its values and an ingest key.

pub mod autovacuum;
pub mod dataset;
pub mod labelled;

use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use vigie_domain::accounts::{self, SignUp};
use vigie_domain::brands::{self, NewBrand, ValueInput};
use vigie_domain::entities::{Handle, brand};
use vigie_domain::{Actor, Config, Network, Services};

/// A brand's dashboard as the agency front-end asks it: top 20 influencers with score
/// components and authors, daily sentiment, open alerts, SLA compliance.
pub const DASHBOARD_QUERY: &str = "query Dashboard($b: ID!, $from: DateTime!, $to: DateTime!) {
  brand(id: $b) { name }
  influencers(brandId: $b, first: 20) { edges { node { score tier stance
    scoreBreakdown { followers reach engagement relevance activity authenticityPenalty meanSentiment }
    author { handle followers } } } }
  sentimentSeries(brandId: $b, from: $from, to: $to) { day mentions negative positive meanSentiment }
  alerts(brandId: $b, filter: { status: OPEN }, first: 20) { edges { node { kind severity openedAt } } }
  slaCompliance(brandId: $b, from: $from, to: $to) { overall { tickets answered withinTarget breached
    shareWithinTarget medianFirstResponseMinutes p90FirstResponseMinutes } }
}";

/// A running bench environment; [`Env::finish`] drops the scratch database.
pub struct Env {
    /// `http://host:port` of the api.
    pub base: String,
    pub services: Arc<Services>,
    pub actor: Actor,
    pub brand: brand::Model,
    /// An ingest API key for the brand.
    pub key: String,
    vars: Vec<(&'static str, String)>,
    admin: DatabaseConnection,
    autovacuum: Option<Arc<autovacuum::Done>>,
    name: String,
    data_dir: std::path::PathBuf,
}

/// A worker process, killed when dropped.
pub struct Worker(pub Child);

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Env {
    /// Creates the scratch database, starts the api with `extra` settings, and creates
    /// the tenant. `VIGIE_BENCH_POSTGRES` (default `postgres://postgres@127.0.0.1:5432`)
    /// is the server; `REDIS_URL` defaults to `redis://127.0.0.1:6379`.
    pub async fn start(extra: &[(&'static str, &str)]) -> Env {
        let server =
            std::env::var("VIGIE_BENCH_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
        let redis = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let name = format!("vigie_bench_{}", std::process::id());
        let admin = Database::connect(format!("{server}/postgres")).await.expect("PostgreSQL");
        admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.expect("scratch database");
        let data_dir = std::env::temp_dir().join(&name);
        let mut vars: Vec<(&'static str, String)> = vec![
            // Plain TCP, as PostGraphile connects: TLS on loopback cost the api and
            // PostgreSQL a tenth of their CPU in the dashboard bench.
            ("DATABASE_URL", format!("{server}/{name}?sslmode=disable")),
            ("REDIS_URL", redis),
            ("VIGIE_QUEUE_PREFIX", name.clone()),
            ("VIGIE_JWT_SECRET", "bench-secret-bench-secret-bench-secret!".into()),
            ("VIGIE_DATA_DIR", data_dir.display().to_string()),
            ("VIGIE_BIND", "127.0.0.1:0".into()),
            ("VIGIE_WORKER_BIND", "127.0.0.1:0".into()),
            ("VIGIE_DEMO", "false".into()),
            ("RUST_LOG", "warn".into()),
        ];
        vars.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        let autovacuum = autovacuum::start_if_off(&format!("{server}/{name}")).await;
        let lookup = vars.clone();
        let config = Arc::new(
            Config::from_lookup(|k| lookup.iter().find(|(key, _)| *key == k).map(|(_, v)| v.clone())).expect("config"),
        );
        let running = vigie_api::start(config).await.expect("api");
        let base = format!("http://{}", running.addr);
        let services = running.services.clone();
        tokio::spawn(running.server);

        let session = accounts::sign_up(
            &services,
            SignUp {
                agency_name: "Bench".into(),
                name: "Bench".into(),
                email: "bench@example.com".into(),
                password: "correct horse battery".into(),
            },
        )
        .await
        .expect("sign-up");
        let actor = session.actor;
        let brand = brands::create(
            &services,
            &actor,
            NewBrand {
                name: "Verdure".into(),
                sector: Some("cosmétique".into()),
                tracked_keywords: vec!["verdure".into(), "shampoing solide".into()],
                handles: vec![Handle { network: Network::Mastodon, handle: "verdure_fr".into() }],
                time_zone: "Europe/Paris".into(),
                language: Some("fr".into()),
                ..Default::default()
            },
        )
        .await
        .expect("brand");
        brands::create_value(
            &services,
            &actor,
            brand.id,
            ValueInput {
                name: "Zéro plastique".into(),
                description: String::new(),
                keywords: vec!["plastique".into(), "plastic".into(), "packaging".into()],
            },
        )
        .await
        .expect("value");
        let (_, key) = vigie_domain::api_keys::create(&services, &actor, "bench", Some(brand.id)).await.expect("key");
        Env { base, services, actor, brand, key, vars, admin, autovacuum, name, data_dir }
    }

    /// Starts `n` `vigie-worker` processes (built next to this binary) on the same
    /// database and queue.
    pub fn spawn_workers(&self, n: usize) -> Vec<Worker> {
        let exe = std::env::current_exe().expect("own path");
        let worker_bin = exe.with_file_name("vigie-worker");
        assert!(worker_bin.exists(), "build the worker first: cargo build --release -p vigie-worker");
        (0..n)
            .map(|_| {
                let mut command = Command::new(&worker_bin);
                command.stdout(Stdio::null()).stderr(Stdio::inherit());
                for (k, v) in &self.vars {
                    command.env(k, v);
                }
                Worker(command.spawn().expect("worker"))
            })
            .collect()
    }

    /// Starts a `vigie-api` process (built next to this binary) on the same database
    /// and queue, with `extra` settings; returns it and its base URL once it answers.
    pub async fn spawn_api(&self, extra: &[(&str, &str)]) -> (Worker, String) {
        let exe = std::env::current_exe().expect("own path");
        let api_bin = exe.with_file_name("vigie-api");
        assert!(api_bin.exists(), "build the api first: cargo build --release -p vigie-api");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut command = Command::new(&api_bin);
        command.stdout(Stdio::null()).stderr(Stdio::inherit());
        for (k, v) in &self.vars {
            command.env(k, v);
        }
        for (k, v) in extra {
            command.env(k, v);
        }
        command.env("VIGIE_BIND", format!("127.0.0.1:{port}"));
        let process = Worker(command.spawn().expect("api"));
        let base = format!("http://127.0.0.1:{port}");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while reqwest::get(format!("{base}/healthz")).await.is_err() {
            assert!(std::time::Instant::now() < deadline, "vigie-api did not start");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        (process, base)
    }

    /// The scratch database's URL.
    pub fn database_url(&self) -> String {
        self.vars.iter().find(|(k, _)| *k == "DATABASE_URL").map(|(_, v)| v.clone()).expect("DATABASE_URL")
    }

    /// Drops the scratch database and data directory, unless `VIGIE_BENCH_KEEP` is set
    /// (to look at the data and the plans afterwards).
    pub async fn finish(self) {
        drop(self.services);
        if let Some(done) = &self.autovacuum {
            let load = std::sync::atomic::Ordering::Relaxed;
            println!(
                "autovacuum's stand-in ran {} VACUUM and {} ANALYZE",
                done.vacuums.load(load),
                done.analyzes.load(load)
            );
        }
        if std::env::var_os("VIGIE_BENCH_KEEP").is_some() {
            println!("kept the scratch database {} (VIGIE_BENCH_KEEP)", self.name);
            return;
        }
        self.admin
            .execute_unprepared(&format!("DROP DATABASE {} WITH (FORCE)", self.name))
            .await
            .expect("drop scratch database");
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// Resident memory of a process, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

/// CPU time a process has used so far, all its threads, user and system.
pub fn cpu_time(pid: u32) -> std::time::Duration {
    process_cpu(pid).map_or(std::time::Duration::ZERO, |(_, cpu)| cpu)
}

/// The CPU time each PostgreSQL process on this machine (the backends of the
/// connections open now, and the server's own processes) has used so far.
pub struct PostgresCpu(std::collections::HashMap<u32, std::time::Duration>);

impl PostgresCpu {
    pub fn now() -> Self {
        let Ok(entries) = std::fs::read_dir("/proc") else { return PostgresCpu(Default::default()) };
        let processes = entries
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter_map(|pid| process_cpu(pid).filter(|(name, _)| name == "postgres").map(|(_, cpu)| (pid, cpu)))
            .collect();
        PostgresCpu(processes)
    }

    /// The CPU time PostgreSQL has used since this snapshot, process by process: a
    /// client's pool may close idle connections meanwhile (PostGraphile's closes them
    /// after 10 s), and a sum over the processes alive at each end would subtract
    /// what those backends had used before. What a backend used between the snapshot
    /// and its exit is not counted.
    pub fn elapsed(&self) -> std::time::Duration {
        PostgresCpu::now()
            .0
            .iter()
            .map(|(pid, cpu)| cpu.saturating_sub(self.0.get(pid).copied().unwrap_or_default()))
            .sum()
    }
}

/// A process's command name and CPU time. `/proc` counts it in ticks of `USER_HZ`, 100
/// a second on Linux whatever the kernel's own tick.
fn process_cpu(pid: u32) -> Option<(String, std::time::Duration)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name, field 2, is in parentheses and may hold spaces and `)`.
    let (head, rest) = stat.rsplit_once(')')?;
    let name = head.split_once('(')?.1.to_owned();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |index: usize| fields.get(index).and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    Some((name, std::time::Duration::from_millis((ticks(11) + ticks(12)) * 10)))
}

/// The `p`-th percentile (0–100) of sorted values.
pub fn percentile<T: Copy>(sorted: &[T], p: f64) -> T {
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Mentions per hour of ordinary traffic at `at` (UTC ≈ the brands' local time, near
/// enough for a rhythm): quiet nights, busy lunch and evening, quieter weekends.
pub fn hourly_rate(at: chrono::DateTime<chrono::Utc>, per_day: f64) -> f64 {
    use chrono::{Datelike, Timelike};
    const PROFILE: [f64; 24] = [
        0.3, 0.2, 0.1, 0.1, 0.1, 0.2, 0.5, 0.9, 1.2, 1.3, 1.3, 1.4, 1.7, 1.6, 1.3, 1.2, 1.2, 1.3, 1.5, 1.8, 1.9, 1.7,
        1.2, 0.6,
    ];
    let weekend = if at.weekday().number_from_monday() >= 6 { 0.8 } else { 1.0 };
    per_day / 24.0 * PROFILE[at.hour() as usize] * weekend
}

/// A French brand for the scenario benches, named and tracked by `name`, with its
/// Mastodon handle.
pub async fn scenario_brand(env: &Env, name: &str) -> brand::Model {
    let input = NewBrand {
        name: name.to_owned(),
        tracked_keywords: vec![name.to_lowercase()],
        handles: vec![Handle { network: Network::Mastodon, handle: name.to_lowercase() }],
        time_zone: "Europe/Paris".into(),
        language: Some("fr".into()),
        ..Default::default()
    };
    brands::create(&env.services, &env.actor, input).await.expect("brand")
}

/// Runs a command to its end; an error names `what` when it cannot start or fails.
pub fn run(command: &mut std::process::Command, what: &str) -> Result<(), String> {
    let status = command.status().map_err(|e| format!("{what}: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("{what} failed ({status})")) }
}
