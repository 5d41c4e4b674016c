//! A worker process for the crash tests: the real job runtime over PostgreSQL and Redis,
//! with one test job kind, `test.record`, whose effect is idempotent (a row keyed by the
//! job's number) and whose every run is logged (to count duplicates).
//!
//! Environment: `DATABASE_URL`, `REDIS_URL`, `VIGIE_QUEUE_PREFIX`,
//! `VIGIE_WORKER_CONCURRENCY`, `VIGIE_JOB_VISIBILITY_SECS`.

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use std::sync::Arc;
use std::time::Duration;
use vigie_domain::platform::jobs::{JobError, Registry, Runtime, RuntimeOptions};
use vigie_domain::{Config, Services};
use vigie_tests::RecordJob;

#[tokio::main]
async fn main() {
    let config = Arc::new(Config::from_env().expect("configuration"));
    let db =
        vigie_domain::platform::db::connect(&config.database_url, config.worker_pool_size()).await.expect("database");
    let services = Arc::new(Services::connect(config.clone(), db).await.expect("services"));
    let mut registry = Registry::default();
    registry.register(|services: Arc<Services>, _meta, job: RecordJob| async move {
        let pid = std::process::id() as i64;
        let run = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO test_run (n, pid) VALUES ($1, $2)",
            [job.n.into(), pid.into()],
        );
        services.db.execute_raw(run).await.map_err(|e| JobError::Retry(e.to_string()))?;
        tokio::time::sleep(Duration::from_millis(2)).await;
        let effect = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO test_effect (n) VALUES ($1) ON CONFLICT DO NOTHING",
            [job.n.into()],
        );
        services.db.execute_raw(effect).await.map_err(|e| JobError::Retry(e.to_string()))?;
        Ok(())
    });
    let options = RuntimeOptions { shutdown_grace: Duration::from_secs(5), ..RuntimeOptions::from_config(&config) };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let runtime = tokio::spawn(Runtime::new(services, registry, options).run(stopped));
    vigie_domain::platform::runtime::shutdown_signal().await;
    let _ = stop.send(true);
    let _ = runtime.await;
}
