//! Real processes and servers a test starts: the api (in-process or as its binary), worker
//! processes, and HTTP helpers to talk to them.

use crate::{Backend, TestDb};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use vigie_domain::Config;

/// The signing secret of every test configuration and test worker process, so tokens
/// issued by a test's api are accepted by its workers.
pub const TEST_JWT_SECRET: &str = "test-secret-test-secret-test-secret!";
/// The vault key of every test configuration and test worker process.
pub const TEST_SECRETS_KEY: &str = "dGVzdC12YXVsdC1rZXktdGVzdC12YXVsdC1rZXkhISE=";

/// Builds a configuration for tests from a few overrides.
pub fn test_config(db: &TestDb, extra: &[(&str, &str)]) -> Config {
    let mut vars: HashMap<String, String> = HashMap::from([
        ("DATABASE_URL".into(), db.url.clone()),
        ("VIGIE_DATA_DIR".into(), db.dir().display().to_string()),
        ("VIGIE_JWT_SECRET".into(), TEST_JWT_SECRET.into()),
        ("VIGIE_SECRETS_KEY".into(), TEST_SECRETS_KEY.into()),
        ("VIGIE_DEMO".into(), "false".into()),
        ("VIGIE_BIND".into(), "127.0.0.1:0".into()),
        // Each test its own Redis key space (queue, bus, rate limits), so tests running
        // at once never share a job or a quota.
        ("VIGIE_QUEUE_PREFIX".into(), format!("t{}", db.dir().file_name().unwrap_or_default().to_string_lossy())),
    ]);
    for (k, v) in extra {
        vars.insert((*k).into(), (*v).into());
    }
    Config::from_lookup(|k| vars.get(k).cloned()).expect("test configuration")
}

/// A command starting a worker process (`binary`, one of this package's, which only its
/// tests can name with `env!("CARGO_BIN_EXE_…")`) on a test's database and queue: the
/// environment every worker needs, an HTTP bind on a free port ([`worker_url`] gives
/// it), warnings only in the logs. Callers add what their test is about with `.env(…)`
/// before spawning.
pub fn worker_command(binary: &str, database_url: &str, redis_url: &str, queue_prefix: &str) -> std::process::Command {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut command = std::process::Command::new(binary);
    command
        .env("DATABASE_URL", database_url)
        .env("REDIS_URL", redis_url)
        .env("VIGIE_QUEUE_PREFIX", queue_prefix)
        .env("VIGIE_JWT_SECRET", TEST_JWT_SECRET)
        .env("VIGIE_SECRETS_KEY", TEST_SECRETS_KEY)
        .env("VIGIE_WORKER_BIND", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null());
    command
}

/// The base URL of the HTTP server (health, metrics) a [`worker_command`] will bind.
pub fn worker_url(command: &std::process::Command) -> String {
    let bind = command
        .get_envs()
        .find_map(|(key, value)| (key == "VIGIE_WORKER_BIND").then_some(value).flatten())
        .expect("worker_command sets the bind");
    format!("http://{}", bind.to_string_lossy())
}

/// Worker processes started by a test, killed if it fails half-way.
pub struct Workers(pub Vec<std::process::Child>);

impl Drop for Workers {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One real api process's worth: the HTTP server on a free port and its background
/// tasks (the embedded job runtime without `REDIS_URL`).
pub struct ApiServer {
    pub base: String,
    /// `http://` + the `/metrics` listener, when `VIGIE_METRICS_BIND` gave it its own.
    pub metrics_base: Option<String>,
    stopper: vigie_api::http::Stopper,
    background: vigie_api::Background,
}

impl ApiServer {
    /// Starts an api over `config`, as the binary does; several over one configuration
    /// are replicas.
    pub async fn start(config: Arc<Config>) -> Self {
        let running = vigie_api::start(config).await.expect("server starts");
        tokio::spawn(running.server);
        ApiServer {
            base: format!("http://{}", running.addr),
            metrics_base: running.metrics_addr.map(|addr| format!("http://{addr}")),
            stopper: running.stopper,
            background: running.background,
        }
    }

    /// Drains the HTTP server, then the background tasks, as the binary does.
    pub async fn stop(self) {
        self.stopper.stop().await;
        self.background.stop().await;
    }
}

/// An api over a fresh database of its own.
pub struct Server {
    pub base: String,
    pub api: ApiServer,
    pub db: TestDb,
}

impl Server {
    /// Stops the api; the database goes with `self`.
    pub async fn stop(self) {
        self.api.stop().await;
    }
}

/// Starts an api over a fresh database, configured by `extra`.
pub async fn serve(backend: Backend, extra: &[(&str, &str)]) -> Server {
    let db = TestDb::new(backend).await;
    let api = ApiServer::start(Arc::new(test_config(&db, extra))).await;
    Server { base: api.base.clone(), api, db }
}

/// Posts a GraphQL query to a running server over HTTP and returns the JSON response.
pub async fn post_graphql(base: &str, token: Option<&str>, query: &str) -> Value {
    let mut request = reqwest::Client::new().post(format!("{base}/graphql")).json(&json!({ "query": query }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("request").json().await.expect("JSON response")
}

/// Pushes mentions to `POST {base}/ingest/mentions` with an API key; returns the report.
pub async fn ingest_over_http(base: &str, api_key: &str, items: Value) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{base}/ingest/mentions"))
        .bearer_auth(api_key)
        .json(&items)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Signs up an agency over HTTP with one brand (handle `@verdure` on Mastodon) and an
/// ingest key for it: `(access token, brand id, API key)`.
pub async fn agency_with_brand(base: &str, email: &str) -> (String, String, String) {
    let signup = format!(
        "mutation {{ signUp(input: {{ agencyName: \"Agence {email}\", name: \"N\", email: \"{email}\", password: \"correct horse battery\" }}) {{ accessToken }} }}"
    );
    let token = post_graphql(base, None, &signup).await["data"]["signUp"]["accessToken"].as_str().unwrap().to_owned();
    let brand = post_graphql(base, Some(&token), "mutation { createBrand(input: { name: \"Verdure\", timeZone: \"Europe/Paris\", handles: [{ network: MASTODON, handle: \"verdure\" }] }) { id } }").await
        ["data"]["createBrand"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = format!("mutation {{ createApiKey(input: {{ name: \"push\", brandId: \"{brand}\" }}) {{ secret }} }}");
    let key =
        post_graphql(base, Some(&token), &key).await["data"]["createApiKey"]["secret"].as_str().unwrap().to_owned();
    (token, brand, key)
}

/// Over HTTP, gives `brand` the value "Zéro plastique" (which [`value_gap_item`] breaks),
/// a webhook endpoint at `{receiver}/hook` for `value_gap.opened`, and an ingest key,
/// which it returns.
pub async fn value_gap_watch(base: &str, token: &str, brand: &str, receiver: &str) -> String {
    let setup = format!(
        "mutation {{ createBrandValue(input: {{ brandId: \"{brand}\", name: \"Zéro plastique\", keywords: [\"plastique\"] }}) {{ id }} \
         createApiKey(input: {{ name: \"push\", brandId: \"{brand}\" }}) {{ secret }} \
         createWebhookEndpoint(input: {{ url: \"{receiver}/hook\", eventTypes: [\"value_gap.opened\"] }}) {{ id }} }}"
    );
    let created = post_graphql(base, Some(token), &setup).await;
    created["data"]["createApiKey"]["secret"].as_str().unwrap_or_else(|| panic!("{created}")).to_owned()
}
