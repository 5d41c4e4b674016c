//! Queue throughput: no-op jobs end to end (enqueue → run → ack) on Redis, next to
//! `redis-benchmark`'s raw `XADD` rate measured on the same server in the same run.
//!
//! `cargo run --release -p vigie-bench --bin queue-throughput -- [jobs] [workers] [concurrency]`
//! (defaults: 50000 jobs, 2 runtimes, 64 jobs at once each). `REDIS_URL` defaults to
//! `redis://127.0.0.1:6379`. Prints one line per figure.

use serde::{Deserialize, Serialize};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use vigie_domain::platform::jobs::{Registry, Runtime, RuntimeOptions};
use vigie_domain::platform::queue::redis::RedisQueue;
use vigie_domain::platform::queue::{Envelope, JobPayload, Queue};
use vigie_domain::{Config, Services};

#[derive(Serialize, Deserialize)]
struct Noop {}

impl JobPayload for Noop {
    const KIND: &'static str = "bench.noop";
}

static DONE: AtomicU64 = AtomicU64::new(0);

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>().expect("numeric arguments"));
    let jobs = args.next().unwrap_or(50_000);
    let workers = args.next().unwrap_or(2);
    let concurrency = args.next().unwrap_or(64);
    let redis_url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = format!("vigie-bench-{}", std::process::id());

    let data_dir = std::env::temp_dir().join(&prefix);
    let data = data_dir.display().to_string();
    let config = Arc::new(
        Config::from_lookup(|key| match key {
            "VIGIE_DATA_DIR" => Some(data.clone()),
            "VIGIE_DEMO" => Some("false".into()),
            _ => None,
        })
        .expect("configuration"),
    );
    let queue = RedisQueue::connect(
        &vigie_domain::platform::redis_client::Redis::node(&redis_url).expect("REDIS_URL"),
        &prefix,
    )
    .await
    .expect("Redis");
    let db =
        vigie_domain::platform::db::connect(&config.database_url, config.worker_pool_size()).await.expect("SQLite");
    vigie_domain::platform::db::migrate(&db).await.expect("migrations");
    let services = Arc::new(Services::with_queue(config, db, Arc::new(queue.clone())).expect("services"));

    let kinds = vec![Noop::KIND.to_owned()];
    queue.prepare(&kinds).await.expect("consumer group");
    let mut registry = Registry::default();
    registry.register(|_services: Arc<Services>, _meta, _job: Noop| async {
        DONE.fetch_add(1, Ordering::Relaxed);
        Ok(())
    });

    let started = Instant::now();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let fleet: Vec<_> = (0..workers)
        .map(|_| {
            let options = RuntimeOptions { concurrency, ..RuntimeOptions::default() };
            tokio::spawn(Runtime::new(services.clone(), registry.clone(), options).run(stopped.clone()))
        })
        .collect();
    // Enqueue from 16 tasks at once, as api replicas would.
    let per_task = jobs.div_ceil(16);
    let producers: Vec<_> = (0..16)
        .map(|i| {
            let queue = queue.clone();
            tokio::spawn(async move {
                for _ in (i * per_task)..((i + 1) * per_task).min(jobs) {
                    queue.enqueue(&Envelope::new(None, &Noop {}).unwrap()).await.expect("enqueue");
                }
            })
        })
        .collect();
    for producer in producers {
        producer.await.unwrap();
    }
    let enqueued = started.elapsed();
    while DONE.load(Ordering::Relaxed) < jobs as u64 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    stop.send(true).unwrap();
    for task in fleet {
        let _ = task.await;
    }
    let depth = queue.status(&kinds).await.expect("status")[0].depth;
    assert_eq!(depth, 0, "every job acknowledged");

    let vigie_rate = jobs as f64 / elapsed.as_secs_f64();
    println!(
        "vigie queue, end to end (enqueue → run → ack): {jobs} jobs in {elapsed:.2?} = {vigie_rate:.0} jobs/s ({workers} runtimes × {concurrency}, enqueue alone took {enqueued:.2?})"
    );

    let host_port = redis_url.trim_start_matches("redis://").trim_end_matches('/');
    let (host, port) = host_port.split_once(':').unwrap_or((host_port, "6379"));
    let stream = format!("{{{prefix}}}:raw-xadd");
    let output = Command::new("redis-benchmark")
        .args(["-h", host, "-p", port, "-q", "-n", &jobs.max(100_000).to_string(), "-c", "50"])
        .args(["XADD", &stream, "*", "job", "{\"id\":\"0190\",\"kind\":\"bench.noop\",\"payload\":{}}"])
        .output();
    match output {
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout);
            let rate = text.split_whitespace().filter_map(|w| w.parse::<f64>().ok()).next().unwrap_or(f64::NAN);
            println!("redis-benchmark XADD, same server (50 clients): {rate:.0} ops/s");
            println!("vigie end-to-end rate / raw XADD rate: {:.0} %", 100.0 * vigie_rate / rate);
        }
        Err(e) => println!("redis-benchmark not available: {e}"),
    }
    let _ = Command::new("redis-cli").args(["-h", host, "-p", port, "DEL", &stream]).output();
    let _ = std::fs::remove_dir_all(&data_dir);
}
