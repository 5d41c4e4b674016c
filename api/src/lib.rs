//! Vigie's HTTP server: the GraphQL API (with GraphiQL), health, readiness and metrics.
//! In the embedded mode (no `REDIS_URL`) it also runs the job runtime in-process, on the
//! in-process queue.

pub mod graphql;
pub mod http;
pub mod metrics;
mod websocket;

use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::watch;
use vigie_domain::jobs::{Registry, Runtime, RuntimeOptions};
use vigie_domain::{Config, Services, demo};

/// A started server.
pub struct Running {
    /// The address actually bound (useful with port 0).
    pub addr: SocketAddr,
    pub server: actix_web::dev::Server,
    /// Stops `server` (closing WebSocket connections first).
    pub stopper: http::Stopper,
    pub services: Arc<Services>,
    /// The in-process background tasks (embedded mode).
    pub background: Background,
}

/// Background tasks running inside the api process.
pub struct Background {
    shutdown: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Background {
    /// Stops the in-process background tasks and waits for them to finish the work in
    /// hand (call once the HTTP server has drained).
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Connects, migrates, seeds the demo if asked, and binds the server (not yet awaited).
pub async fn start(config: Arc<Config>) -> Result<Running, StartError> {
    let services = Arc::new(Services::start(config.clone()).await?);
    if config.demo && demo::seed(&services).await? {
        tracing::info!("demo agency created");
    }
    let (shutdown, shutdown_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    if config.embedded_workers() {
        let runtime = Runtime::new(services.clone(), Registry::standard(), RuntimeOptions::from_config(&config));
        tasks.push(tokio::spawn(runtime.run(shutdown_rx)));
    }
    let http::Serving { server, addr, stopper } = http::serve(services.clone(), config.bind)?;
    Ok(Running { addr, server, stopper, services, background: Background { shutdown, tasks } })
}

/// What can stop the server from starting.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Domain(#[from] vigie_domain::Error),
    #[error("cannot listen: {0}")]
    Bind(#[from] std::io::Error),
}
