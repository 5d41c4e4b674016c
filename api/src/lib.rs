//! Vigie's HTTP server: the GraphQL API (with GraphiQL), health, readiness and metrics.
//! In the embedded mode (no `REDIS_URL`) it also runs the background work in-process.

pub mod graphql;
pub mod http;
pub mod metrics;

use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::watch;
use vigie_domain::{Config, Services, demo};

/// A started server.
pub struct Running {
    /// The address actually bound (useful with port 0).
    pub addr: SocketAddr,
    pub server: actix_web::dev::Server,
    /// Flip to `true` to stop the in-process background tasks.
    pub shutdown: watch::Sender<bool>,
    pub services: Arc<Services>,
}

/// Connects, migrates, seeds the demo if asked, and binds the server (not yet awaited).
pub async fn start(config: Arc<Config>) -> Result<Running, StartError> {
    let services = Arc::new(Services::start(config.clone()).await?);
    if config.demo && demo::seed(&services).await? {
        tracing::info!("demo agency created");
    }
    let (shutdown, shutdown_rx) = watch::channel(false);
    if config.embedded_workers() {
        tokio::spawn(
            services
                .mailer
                .clone()
                .run(services.db.clone(), shutdown_rx),
        );
    }
    let (server, addr) = http::serve(services.clone(), config.bind)?;
    Ok(Running {
        addr,
        server,
        shutdown,
        services,
    })
}

/// What can stop the server from starting.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Domain(#[from] vigie_domain::Error),
    #[error("cannot listen: {0}")]
    Bind(#[from] std::io::Error),
}
