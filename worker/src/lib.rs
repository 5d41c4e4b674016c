//! The `vigie-worker` process: runs Vigie's jobs from the Redis queue (`REDIS_URL` must be set; without
//! it the api runs the jobs itself). Serves `/healthz`, `/readyz` and `/metrics` on
//! `VIGIE_WORKER_BIND`.
//!
//! On SIGINT/SIGTERM it stops reading, gives the jobs in hand `shutdown_grace` to finish,
//! and leaves the rest to be reclaimed by other workers.

use actix_web::{App, HttpResponse, HttpServer, web};
use prometheus_client::registry::Registry as MetricsRegistry;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;
use vigie_domain::platform::jobs::{Runtime, RuntimeOptions};
use vigie_domain::{Config, Services, platform::health};

struct State {
    services: Arc<Services>,
    metrics: Mutex<MetricsRegistry>,
    process: health::ProcessMetrics,
}

/// Runs the worker process until SIGINT/SIGTERM; exits the process on a start-up error.
pub async fn run() {
    let config = match Config::from_env() {
        Ok(config) => Arc::new(config),
        Err(e) => fail(2, &format!("{e}")),
    };
    vigie_domain::platform::telemetry::init(&config, env!("CARGO_PKG_NAME"));
    if config.redis_url.is_none() {
        fail(2, "REDIS_URL is not set: without Redis the api process runs the jobs itself");
    }
    tracing::info!(?config, "starting vigie-worker");
    // The api or `vigie-migrate` applies migrations; a worker checks the schema is current.
    let services = match connect(config.clone()).await {
        Ok(services) => Arc::new(services),
        Err(e) => fail(1, &format!("start-up failed: {}", e.chain())),
    };

    let mut metrics = MetricsRegistry::with_prefix("vigie");
    services.job_metrics.register(&mut metrics);
    let process = health::ProcessMetrics::register(&mut metrics, "worker");
    let state = web::Data::new(State { services: services.clone(), metrics: Mutex::new(metrics), process });
    let server = match HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route("/healthz", web::get().to(|| async { HttpResponse::Ok().body("ok") }))
            .route("/readyz", web::get().to(readyz))
            .route("/metrics", web::get().to(render_metrics))
    })
    .workers(1)
    .disable_signals()
    .bind(config.worker_bind)
    {
        Ok(server) => server.run(),
        Err(e) => fail(1, &format!("cannot listen on {}: {e}", config.worker_bind)),
    };
    let http = server.handle();
    tokio::spawn(server);

    let options = RuntimeOptions::from_config(&config);
    let (stop, stopped) = watch::channel(false);
    let runtime = tokio::spawn(Runtime::new(services, vigie_domain::job_registry(), options).run(stopped));
    vigie_domain::platform::runtime::shutdown_signal().await;
    tracing::info!("shutdown requested; finishing the jobs in hand");
    let _ = stop.send(true);
    let _ = runtime.await;
    http.stop(true).await;
    tracing::info!("stopped");
    vigie_domain::platform::telemetry::shutdown().await;
}

/// A worker never migrates (the api or `vigie-migrate` does): it refuses a schema older
/// than it needs.
async fn connect(config: Arc<Config>) -> vigie_domain::Result<Services> {
    let db = vigie_domain::platform::db::connect(&config.database_url, config.worker_pool_size()).await?;
    vigie_domain::platform::db::check_schema(&db).await?;
    Services::connect(config, db).await
}

fn fail(code: i32, message: &str) -> ! {
    eprintln!("vigie-worker: {message}");
    std::process::exit(code);
}

/// The same body as the api's `/readyz`, so one probe reads both.
async fn readyz(state: web::Data<State>) -> HttpResponse {
    let readiness = health::readiness(&state.services).await;
    if readiness.ready {
        HttpResponse::Ok().json(readiness)
    } else {
        HttpResponse::ServiceUnavailable().json(readiness)
    }
}

async fn render_metrics(state: web::Data<State>) -> HttpResponse {
    state.process.refresh(&state.services.db);
    let mut out = String::new();
    let registry = state.metrics.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &registry) {
        return HttpResponse::InternalServerError().body(e.to_string());
    }
    HttpResponse::Ok().content_type("application/openmetrics-text; version=1.0.0; charset=utf-8").body(out)
}
