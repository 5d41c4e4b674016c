//! Crashes and outages: a worker process killed with SIGKILL mid-batch (on one Redis
//! server and on a Redis Cluster), and Redis restarted under running workers. Nothing
//! is lost.

use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
use std::collections::HashMap;
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::Duration;
use vigie_domain::platform::queue::redis::RedisQueue;
use vigie_domain::platform::queue::{Envelope, Queue};
use vigie_domain::platform::redis_client::Redis;
use vigie_domain::{Services, new_id};
use vigie_tests::redis_server::{RedisCluster, RedisServer};
use vigie_tests::{Backend, RecordJob, TestDb, Workers, count, eventually, redis_url, until, worker_command};

fn spawn_worker(db: &TestDb, redis: &str, cluster: bool, prefix: &str) -> Child {
    worker_command(env!("CARGO_BIN_EXE_vigie-test-worker"), &db.url, redis, prefix)
        .env("VIGIE_REDIS_CLUSTER", cluster.to_string())
        .env("VIGIE_WORKER_CONCURRENCY", "8")
        .env("VIGIE_JOB_VISIBILITY_SECS", "3")
        .env("VIGIE_LOG_FORMAT", "pretty")
        .spawn()
        .expect("start vigie-test-worker")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_batch_loses_no_job() {
    a_worker_killed_mid_batch_loses_nothing(&redis_url(), false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_batch_on_a_redis_cluster_loses_no_job() {
    let cluster = RedisCluster::start();
    a_worker_killed_mid_batch_loses_nothing(&cluster.url(), true).await;
}

async fn a_worker_killed_mid_batch_loses_nothing(redis: &str, cluster: bool) {
    const JOBS: i64 = 10_000;
    let db = TestDb::new(Backend::Postgres).await;
    let conn = Database::connect(&db.url).await.unwrap();
    vigie_domain::platform::db::migrate(&conn).await.unwrap();
    conn.execute_unprepared("CREATE TABLE test_effect (n BIGINT PRIMARY KEY); CREATE TABLE test_run (n BIGINT NOT NULL, pid BIGINT NOT NULL)")
        .await
        .unwrap();
    let prefix = format!("vigie-crash-{}", new_id().simple());
    let urls: Vec<String> = redis.split(',').map(str::to_owned).collect();
    let queue = RedisQueue::connect(&Redis::open(&urls, cluster, None).unwrap(), &prefix).await.unwrap();
    queue.prepare(&["test.record".to_owned()]).await.unwrap();
    for n in 0..JOBS {
        queue.enqueue(&Envelope::new(None, &RecordJob { n }).unwrap()).await.unwrap();
    }

    let mut workers = Workers((0..3).map(|_| spawn_worker(&db, redis, cluster, &prefix)).collect());
    until("a fifth of the jobs", Duration::from_secs(120), async || {
        count(&conn, "SELECT COUNT(*) FROM test_run").await >= JOBS / 5
    })
    .await;
    let victim = workers.0.remove(0);
    let victim_pid = victim.id() as i64;
    let mut victim = victim;
    victim.kill().unwrap(); // SIGKILL
    victim.wait().unwrap();

    eventually("every job to take effect", Duration::from_secs(180), async || {
        let effects = count(&conn, "SELECT COUNT(*) FROM test_effect").await;
        if effects == JOBS {
            return Ok(());
        }
        let status = queue.status(&["test.record".to_owned()]).await.unwrap();
        let runs = count(&conn, "SELECT COUNT(*) FROM test_run").await;
        Err(format!("{effects} effects, {runs} runs, queue {status:?}"))
    })
    .await;
    assert_eq!(count(&conn, "SELECT COUNT(DISTINCT n) FROM test_run").await, JOBS, "every job ran");
    let rows = conn
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT n, pid FROM test_run WHERE n IN (SELECT n FROM test_run GROUP BY n HAVING COUNT(*) > 1)",
        ))
        .await
        .unwrap();
    let mut duplicated: HashMap<i64, Vec<i64>> = HashMap::new();
    for row in rows {
        duplicated.entry(row.try_get_by_index(0).unwrap()).or_default().push(row.try_get_by_index(1).unwrap());
    }
    assert!(duplicated.len() <= 8, "only the killed worker's in-flight jobs (8 at most) may run twice: {duplicated:?}");
    for (n, pids) in &duplicated {
        assert!(pids.contains(&victim_pid), "job {n} ran twice without the killed worker: {pids:?}");
    }
    let status = queue.status(&["test.record".to_owned()]).await.unwrap();
    assert_eq!(status[0].depth, 0, "the stream is empty once everything is acknowledged");

    for worker in &workers.0 {
        Command::new("kill").args(["-TERM", &worker.id().to_string()]).status().unwrap();
    }
    for worker in &mut workers.0 {
        assert!(worker.wait().unwrap().success(), "a worker stops cleanly on SIGTERM");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_ride_out_a_redis_restart() {
    let mut redis = RedisServer::start();
    let prefix = format!("vigie-restart-{}", new_id().simple());
    let queue = RedisQueue::connect(&Redis::node(&redis.url()).unwrap(), &prefix).await.unwrap();
    let db = TestDb::new(Backend::Postgres).await;
    let config = Arc::new(vigie_tests::test_config(&db, &[]));
    let conn = vigie_domain::platform::db::connect(&db.url, config.api_pool_size()).await.unwrap();
    vigie_domain::platform::db::migrate(&conn).await.unwrap();
    conn.execute_unprepared("CREATE TABLE test_effect (n BIGINT PRIMARY KEY); CREATE TABLE test_run (n BIGINT NOT NULL, pid BIGINT NOT NULL)")
        .await
        .unwrap();
    let services = Arc::new(Services::with_queue(config, conn.clone(), Arc::new(queue.clone())).unwrap());

    let mut registry = vigie_domain::platform::jobs::Registry::default();
    registry.register(|services: Arc<Services>, _meta, job: RecordJob| async move {
        let sql = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO test_effect (n) VALUES ($1) ON CONFLICT DO NOTHING",
            [job.n.into()],
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
        services.db.execute_raw(sql).await.map_err(|e| vigie_domain::platform::jobs::JobError::Retry(e.to_string()))?;
        Ok(())
    });
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let options = vigie_domain::platform::jobs::RuntimeOptions {
        concurrency: 4,
        visibility: Duration::from_secs(3),
        ..Default::default()
    };
    let fleet: Vec<_> = (0..2)
        .map(|_| {
            tokio::spawn(
                vigie_domain::platform::jobs::Runtime::new(services.clone(), registry.clone(), options.clone())
                    .run(stopped.clone()),
            )
        })
        .collect();

    for n in 0..400 {
        queue.enqueue(&Envelope::new(None, &RecordJob { n }).unwrap()).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    redis.restart();
    // Enqueue again once Redis answers (the connection manager reconnects by itself).
    for n in 400..800 {
        let job = Envelope::new(None, &RecordJob { n }).unwrap();
        eventually("Redis to come back", Duration::from_secs(20), async || {
            queue.enqueue(&job).await.map_err(|e| e.to_string())
        })
        .await;
    }
    until("all 800 jobs", Duration::from_secs(60), async || {
        count(&conn, "SELECT COUNT(*) FROM test_effect").await == 800
    })
    .await;
    stop.send(true).unwrap();
    for task in fleet {
        task.await.unwrap();
    }
}
