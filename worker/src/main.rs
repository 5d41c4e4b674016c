//! `vigie-worker`: the background work of a production deployment (with `REDIS_URL`
//! set, the api process does not run it). Today it dispatches the email outbox; the job
//! queue runtime joins it here.
//!
//! Stops gracefully on SIGINT/SIGTERM: it finishes the message in hand, then exits.

use std::sync::Arc;
use tokio::sync::watch;
use vigie_domain::{Config, Services};

#[tokio::main]
async fn main() {
    let config = match Config::from_env() {
        Ok(config) => Arc::new(config),
        Err(e) => {
            eprintln!("vigie-worker: {e}");
            std::process::exit(2);
        }
    };
    vigie_domain::runtime::init_tracing(config.log_json);
    tracing::info!(?config, "starting vigie-worker");
    // The api applies migrations at start-up; the worker only needs the database to answer.
    let db = match vigie_domain::db::connect(&config.database_url).await {
        Ok(db) => db,
        Err(e) => {
            tracing::error!(error = %e, "cannot connect to the database");
            std::process::exit(1);
        }
    };
    let services = match Services::with_db(config, db) {
        Ok(services) => services,
        Err(e) => {
            tracing::error!(error = %e, "start-up failed");
            std::process::exit(1);
        }
    };
    let (stop, stopped) = watch::channel(false);
    let mailer = tokio::spawn(services.mailer.clone().run(services.db.clone(), stopped));
    vigie_domain::runtime::shutdown_signal().await;
    tracing::info!("shutdown requested; finishing work in hand");
    let _ = stop.send(true);
    let _ = mailer.await;
    tracing::info!("stopped");
}
