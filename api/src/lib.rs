//! Vigie's HTTP server: the GraphQL API (with GraphiQL), health, readiness and metrics.
//! In the embedded mode (no `REDIS_URL`) it also runs the job runtime in-process, on the
//! in-process queue.
// The merged GraphQL root's resolvers nest deep enough futures that proving them `Send`
// passes the default limit of 128.
#![recursion_limit = "256"]

pub mod admin;
pub mod graphiql;
pub mod graphql;
pub mod http;
pub mod metrics;
pub mod openapi;
mod websocket;

use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::watch;
use vigie_domain::platform::jobs::{Runtime, RuntimeOptions};
use vigie_domain::{Config, Services, demo};

/// A started server.
pub struct Running {
    /// The address actually bound (useful with port 0).
    pub addr: SocketAddr,
    /// The `/metrics` listener's address, when it has its own (`VIGIE_METRICS_BIND`).
    pub metrics_addr: Option<SocketAddr>,
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
        let runtime =
            Runtime::new(services.clone(), vigie_domain::job_registry(), RuntimeOptions::from_config(&config));
        tasks.push(tokio::spawn(runtime.run(shutdown_rx)));
    }
    let http::Serving { server, addr, metrics_addr, stopper } = http::serve(services.clone(), config.bind)?;
    Ok(Running { addr, metrics_addr, server, stopper, services, background: Background { shutdown, tasks } })
}

/// What can stop the server from starting.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Domain(#[from] vigie_domain::Error),
    #[error("cannot listen: {0}")]
    Bind(#[from] std::io::Error),
}

/// The `vigie-api` command line: `serve` (the default), `print-schema`, `demo reset`,
/// `admin …` ([`admin`]).
pub async fn run_command(args: Vec<String>) {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        [] | ["serve"] => serve_from_env().await,
        ["print-schema"] => print!("{}", graphql::sdl()),
        ["demo", "reset"] => demo_reset_from_env().await,
        ["admin", command @ ..] => admin_from_env(command).await,
        ["-h" | "--help" | "help"] => println!(
            "usage: vigie-api [serve | print-schema | demo reset | admin COMMAND]\nConfiguration comes from environment variables; see docs/configuration.md."
        ),
        other => {
            eprintln!(
                "vigie-api: unknown command `{}` (expected serve, print-schema, demo reset or admin)",
                other.join(" ")
            );
            std::process::exit(2);
        }
    }
}

/// The configuration from the environment, with logging set up; exits saying what is
/// wrong when it is not valid.
fn config_from_env() -> Arc<Config> {
    let config = env_config();
    vigie_domain::platform::telemetry::init(&config, env!("CARGO_PKG_NAME"));
    config
}

fn env_config() -> Arc<Config> {
    match Config::from_env() {
        Ok(config) => Arc::new(config),
        Err(e) => {
            eprintln!("vigie-api: {e}");
            std::process::exit(2);
        }
    }
}

/// `vigie-api admin …`: the log goes to standard error, so that standard output holds
/// only what the command prints (an export can be piped).
async fn admin_from_env(args: &[&str]) {
    let config = env_config();
    vigie_domain::platform::telemetry::init_to_stderr(config.log_json);
    let mut out = std::io::stdout().lock();
    if let Err(e) = admin::run(config, args, &mut out).await {
        eprintln!("vigie-api admin: {}", vigie_domain::platform::error::chain(&e));
        std::process::exit(e.exit_code());
    }
}

/// `vigie-api demo reset`: starts the embedded SQLite database over with a fresh demo
/// (its sixty days end today). It refuses a PostgreSQL database (the operator's to
/// drop), an in-memory or read-only one, one that holds anything but the demo, and one
/// whose server seems to be running.
pub async fn demo_reset_from_env() {
    let config = config_from_env();
    match demo_reset(&config).await {
        Ok(file) => println!(
            "demo reset: {} holds a fresh demo ({} / {})",
            file.display(),
            demo::DEMO_EMAIL,
            demo::DEMO_PASSWORD
        ),
        Err((code, message)) => {
            eprintln!("vigie-api: {message}");
            std::process::exit(code);
        }
    }
}

async fn demo_reset(config: &Arc<Config>) -> Result<std::path::PathBuf, (i32, String)> {
    let url = &config.database_url;
    let refuse = |message: String| (2, message);
    let file = demo::sqlite_file(url).map_err(refuse)?;
    if std::net::TcpListener::bind(config.bind).is_err() {
        return Err(refuse(format!(
            "something listens on {}: stop the server before resetting its database",
            config.bind
        )));
    }
    if file.exists() && !demo::holds_only_the_demo(url).await.map_err(|e| (1, e.chain()))? {
        return Err(refuse(format!(
            "{} holds agencies other than the demo's: remove it yourself if that is what you want",
            file.display()
        )));
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut path = file.clone().into_os_string();
        path.push(suffix);
        if let Err(e) = std::fs::remove_file(&path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            return Err((1, format!("cannot remove {}: {e}", std::path::Path::new(&path).display())));
        }
    }
    let services = Services::start(config.clone()).await.map_err(|e| (1, e.chain()))?;
    match demo::seed(&services).await {
        Ok(true) => Ok(file),
        Ok(false) => Err((1, format!("{} still held a demo after it was removed", file.display()))),
        Err(e) => Err((1, e.chain())),
    }
}

/// The `vigie-api serve` command: configuration from the environment, tracing, the
/// server until SIGINT or SIGTERM, then a graceful stop. Exits the process on a bad
/// configuration or a failed start.
pub async fn serve_from_env() {
    let config = config_from_env();
    tracing::info!(?config, "starting vigie-api");
    if config.introspection && !graphiql::offline() {
        tracing::warn!(
            "this build loads GraphiQL from a CDN: build with npm reaching the npm registry to serve it offline"
        );
    }
    let running = match start(config.clone()).await {
        Ok(running) => running,
        Err(e) => {
            let e = vigie_domain::platform::error::chain(&e);
            tracing::error!(error = %e, "start-up failed");
            // Also said plainly where an operator looks first, whatever the log format.
            eprintln!("vigie-api: {e}");
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
        vigie_domain::platform::runtime::shutdown_signal().await;
        tracing::info!("stopping");
        stopper.stop().await;
    });
    if let Err(e) = running.server.await {
        tracing::error!(error = %e, "server error");
    }
    running.background.stop().await;
    tracing::info!("stopped");
    vigie_domain::platform::telemetry::shutdown().await;
}
