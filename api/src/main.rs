//! `vigie-api`: serve the API, or print the GraphQL schema.
//!
//! `vigie-api` (or `vigie-api serve`) starts the server; `vigie-api print-schema` writes
//! the SDL that `schema.graphql` must match.

use std::sync::Arc;
use vigie_domain::{Config, demo};

#[tokio::main]
async fn main() {
    let command = std::env::args().nth(1).unwrap_or_else(|| "serve".into());
    match command.as_str() {
        "print-schema" => print!("{}", vigie_api::graphql::sdl()),
        "serve" => serve().await,
        "-h" | "--help" | "help" => println!(
            "usage: vigie-api [serve | print-schema]\nConfiguration comes from environment variables; see README.md."
        ),
        other => {
            eprintln!("vigie-api: unknown command `{other}` (expected serve or print-schema)");
            std::process::exit(2);
        }
    }
}

async fn serve() {
    let config = match Config::from_env() {
        Ok(config) => Arc::new(config),
        Err(e) => {
            eprintln!("vigie-api: {e}");
            std::process::exit(2);
        }
    };
    vigie_domain::runtime::init_tracing(config.log_json);
    tracing::info!(?config, "starting vigie-api");
    let running = match vigie_api::start(config.clone()).await {
        Ok(running) => running,
        Err(e) => {
            tracing::error!(error = %e, "start-up failed");
            std::process::exit(1);
        }
    };
    let url = format!("http://{}/graphql", running.addr);
    tracing::info!(%url, embedded_workers = config.embedded_workers(), "listening");
    if config.demo {
        println!("\n  Vigie is running: open {url} for GraphiQL");
        println!("  Demo login: {} / {}\n", demo::DEMO_EMAIL, demo::DEMO_PASSWORD);
    }
    // On SIGINT/SIGTERM: close WebSocket connections, stop accepting, drain in-flight
    // requests.
    let stopper = running.stopper.clone();
    tokio::spawn(async move {
        vigie_domain::runtime::shutdown_signal().await;
        tracing::info!("stopping");
        stopper.stop().await;
    });
    if let Err(e) = running.server.await {
        tracing::error!(error = %e, "server error");
    }
    running.background.stop().await;
    tracing::info!("stopped");
}
