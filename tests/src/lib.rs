//! Test harness: a fresh database per test (a SQLite file, or a PostgreSQL database
//! created for the test and dropped after it) copied from one migrated once per test
//! process, the real services over it, and a real SMTP server on loopback.
//!
//! PostgreSQL and Redis must be running: tests fail (never skip) when they are not.
//! `VIGIE_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`) and
//! `VIGIE_TEST_REDIS_URL` (default `redis://127.0.0.1:6379`) point elsewhere.

pub mod browser;
pub mod pg_server;
pub mod redis_server;
pub mod smtp;
pub mod ws;

/// The job of the crash tests' worker process (`vigie-test-worker`).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct RecordJob {
    pub n: i64,
}

impl vigie_domain::queue::JobPayload for RecordJob {
    const KIND: &'static str = "test.record";
}

use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use vigie_api::graphql::{self, Gateway};
use vigie_domain::{Config, Services};

/// Which database a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server tests create their databases on.
pub fn postgres_admin_url() -> String {
    std::env::var("VIGIE_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// The Redis server tests use.
pub fn redis_url() -> String {
    std::env::var("VIGIE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A database of one's own for the duration of a test.
pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    dir: PathBuf,
    pg_name: Option<String>,
}

impl TestDb {
    /// A database with the current schema, copied from this process's template.
    pub async fn new(backend: Backend) -> Self {
        let template = template(backend);
        Self::create(backend, Some(template)).await
    }

    /// A database with no schema at all (for the tests of migrations themselves).
    pub async fn empty(backend: Backend) -> Self {
        Self::create(backend, None).await
    }

    async fn create(backend: Backend, template: Option<&str>) -> Self {
        let tag = uuid::Uuid::now_v7().simple().to_string();
        let dir = std::env::temp_dir().join(format!("vigie-test-{tag}"));
        std::fs::create_dir_all(&dir).expect("temp dir");
        match backend {
            Backend::Sqlite => {
                let file = dir.join("vigie.db");
                if let Some(template) = template {
                    std::fs::copy(template, &file).expect("copy the SQLite template");
                }
                TestDb { url: format!("sqlite://{}?mode=rwc", file.display()), backend, dir, pg_name: None }
            }
            Backend::Postgres => {
                let name = format!("vigie_t_{tag}");
                let from = template.map(|t| format!(" TEMPLATE {t}")).unwrap_or_default();
                admin(&format!("CREATE DATABASE {name}{from}")).await;
                TestDb { url: postgres_url(&name), backend, dir, pg_name: Some(name) }
            }
        }
    }

    /// A directory removed with the database.
    pub fn dir(&self) -> &PathBuf {
        &self.dir
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some(name) = self.pg_name.take() {
            // Drop needs async work; a short-lived runtime on its own thread does it
            // whatever runtime (if any) the test used.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
                runtime.block_on(async move {
                    if let Ok(admin) = Database::connect(&postgres_admin_url()).await {
                        let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
                        admin.close().await.ok();
                    }
                });
            })
            .join();
        }
    }
}

/// The URL of database `name` on the tests' PostgreSQL server.
fn postgres_url(name: &str) -> String {
    let mut url = url::Url::parse(&postgres_admin_url()).expect("VIGIE_TEST_POSTGRES_URL");
    url.set_path(name);
    url.to_string()
}

/// Runs one statement on the tests' PostgreSQL server, as its admin.
async fn admin(sql: &str) {
    let admin_url = postgres_admin_url();
    let admin = Database::connect(&admin_url)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL is required for the tests ({admin_url}): {e}"));
    admin.execute_unprepared(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    admin.close().await.ok();
}

/// The migrated database this test process copies for each test (a file for SQLite, a
/// database name for PostgreSQL), made on first use: migrating takes longer than
/// copying. PostgreSQL templates of test processes that have ended are dropped then.
fn template(backend: Backend) -> &'static str {
    static SQLITE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    static POSTGRES: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let (cell, make): (_, fn() -> String) = match backend {
        Backend::Sqlite => (&SQLITE, sqlite_template),
        Backend::Postgres => (&POSTGRES, postgres_template),
    };
    // On a thread of its own: the caller may be inside any runtime, or none.
    cell.get_or_init(|| std::thread::spawn(make).join().expect("the test database template"))
}

fn block_on<F: std::future::Future>(work: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(work)
}

/// Whether test process `pid` has ended (its templates can go).
fn ended(pid: u32) -> bool {
    pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

fn sqlite_template() -> String {
    let temp = std::env::temp_dir();
    for entry in std::fs::read_dir(&temp).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.strip_prefix("vigie-template-").and_then(|p| p.parse().ok()).is_some_and(ended) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    let dir = temp.join(format!("vigie-template-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("vigie.db");
    block_on(async {
        let db = vigie_domain::db::connect(&format!("sqlite://{}?mode=rwc", file.display()), 1).await.expect("SQLite");
        vigie_domain::db::migrate(&db).await.expect("migrations");
        // The last connection closing folds the write-ahead log into the file.
        db.close().await.expect("close the template");
    });
    assert!(!dir.join("vigie.db-wal").exists(), "the template's log was not checkpointed");
    file.display().to_string()
}

fn postgres_template() -> String {
    let pid = std::process::id();
    let name = format!("vigie_tpl_{pid}_{}", uuid::Uuid::now_v7().simple());
    block_on(async {
        let admin_url = postgres_admin_url();
        let db = Database::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL is required for the tests ({admin_url}): {e}"));
        let stale: Vec<String> = db
            .query_all_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT datname FROM pg_database WHERE datname LIKE 'vigie\\_tpl\\_%'",
            ))
            .await
            .expect("list templates")
            .iter()
            .filter_map(|row| row.try_get::<String>("", "datname").ok())
            .filter(|t| t.split('_').nth(2).and_then(|p| p.parse().ok()).is_some_and(ended))
            .collect();
        for t in stale {
            let _ = db.execute_unprepared(&format!("DROP DATABASE IF EXISTS {t} WITH (FORCE)")).await;
        }
        db.execute_unprepared(&format!("CREATE DATABASE {name}")).await.expect("create the template");
        db.close().await.ok();
        let template = vigie_domain::db::connect(&postgres_url(&name), 4).await.expect("the template");
        vigie_domain::db::migrate(&template).await.expect("migrations");
        template.close().await.expect("close the template");
    });
    name
}

/// The signing secret of every test configuration and test worker process, so tokens
/// issued by a test's api are accepted by its workers.
pub const TEST_JWT_SECRET: &str = "test-secret-test-secret-test-secret!";

/// Builds a configuration for tests from a few overrides.
pub fn test_config(db: &TestDb, extra: &[(&str, &str)]) -> Config {
    let mut vars: HashMap<String, String> = HashMap::from([
        ("DATABASE_URL".into(), db.url.clone()),
        ("VIGIE_DATA_DIR".into(), db.dir().display().to_string()),
        ("VIGIE_JWT_SECRET".into(), TEST_JWT_SECRET.into()),
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

/// The single integer a statement such as `SELECT COUNT(*) …` returns.
pub async fn count(db: &sea_orm::DatabaseConnection, sql: &str) -> i64 {
    let statement = sea_orm::Statement::from_string(db.get_database_backend(), sql);
    let row = db.query_one_raw(statement).await.unwrap().expect("a row");
    row.try_get_by_index::<i64>(0).unwrap()
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

/// The standard job runtime running over a [`TestApp`]'s services.
pub struct Jobs {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Jobs {
    /// Stops the runtime and waits for the jobs in hand.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        self.task.await.expect("the job runtime ends cleanly");
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

/// The application over a fresh database, driven through the real schema.
pub struct TestApp {
    pub services: Arc<Services>,
    pub gateway: Gateway,
    pub db: TestDb,
}

/// A second api process of a [`TestApp`] (see [`TestApp::replica`]).
pub struct Replica {
    pub services: Arc<Services>,
    pub gateway: Gateway,
}

impl Replica {
    /// Runs a GraphQL request on this replica and returns the whole response as JSON.
    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        run_graphql(&self.gateway, &self.services, token, query, variables).await
    }
}

async fn run_graphql(
    gateway: &Gateway,
    services: &Arc<Services>,
    token: Option<&str>,
    query: &str,
    variables: Value,
) -> Value {
    let request = async_graphql::Request::new(query).variables(async_graphql::Variables::from_json(variables));
    let response = graphql::execute(gateway, services, token, request).await;
    serde_json::to_value(&response).expect("response as JSON")
}

/// A logged-in user as seen by tests.
#[derive(Clone, Debug)]
pub struct Login {
    pub access_token: String,
    pub refresh_token: String,
    pub user_id: String,
    pub agency_id: String,
}

impl TestApp {
    pub async fn new(backend: Backend) -> Self {
        Self::with_config(backend, &[]).await
    }

    /// The application over a given queue (so tests can keep a handle on its backend).
    pub async fn with_queue(backend: Backend, queue: Arc<dyn vigie_domain::queue::Queue>) -> Self {
        let db = TestDb::new(backend).await;
        let config = Arc::new(test_config(&db, &[]));
        let conn = vigie_domain::db::connect(&config.database_url, config.api_pool_size()).await.expect("database");
        vigie_domain::db::migrate(&conn).await.expect("migrations");
        let services = Arc::new(Services::with_queue(config, conn, queue).expect("services"));
        let gateway = Gateway::build(services.clone());
        TestApp { services, gateway, db }
    }

    pub async fn with_config(backend: Backend, extra: &[(&str, &str)]) -> Self {
        let db = TestDb::new(backend).await;
        let config = Arc::new(test_config(&db, extra));
        let services = Arc::new(Services::start(config).await.expect("services start"));
        let gateway = Gateway::build(services.clone());
        TestApp { services, gateway, db }
    }

    /// Starts the standard job runtime (every job and periodic task) over this app.
    pub fn start_jobs(&self) -> Jobs {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let runtime = vigie_domain::jobs::Runtime::new(
            self.services.clone(),
            vigie_domain::jobs::Registry::standard(),
            Default::default(),
        );
        Jobs { stop, task: tokio::spawn(runtime.run(stopped)) }
    }

    /// Another api process over the same database and Redis: its own services, caches
    /// and bus subscription.
    pub async fn replica(&self) -> Replica {
        let services = Arc::new(Services::start(self.services.config.clone()).await.expect("replica services"));
        Replica { gateway: Gateway::build(services.clone()), services }
    }

    /// Runs a GraphQL request and returns the whole response as JSON.
    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        run_graphql(&self.gateway, &self.services, token, query, variables).await
    }

    /// Runs a request that must succeed and returns its `data`.
    pub async fn ok(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let response = self.gql(token, query, variables).await;
        assert!(response.get("errors").is_none(), "unexpected errors: {response:#}");
        response["data"].clone()
    }

    /// Logs in with a password; returns the access token.
    pub async fn log_in(&self, email: &str, password: &str) -> String {
        let query = "mutation($e: String!, $p: String!) { logIn(input: { email: $e, password: $p }) { accessToken } }";
        let data = self.ok(None, query, json!({ "e": email, "p": password })).await;
        data["logIn"]["accessToken"].as_str().expect("an access token").to_owned()
    }

    /// Signs up a new agency and returns its owner's login.
    pub async fn sign_up(&self, agency: &str, email: &str) -> Login {
        let data = self
            .ok(
                None,
                "mutation($input: SignUpInput!) { signUp(input: $input) { accessToken refreshToken user { id } agency { id } } }",
                json!({ "input": { "agencyName": agency, "name": "Owner", "email": email, "password": "correct horse battery" } }),
            )
            .await;
        login_from(&data["signUp"])
    }

    /// Creates a disabled Mastodon hashtag source (`#verdure`) for `brand`, to collect
    /// mentions through, and returns its id.
    pub async fn create_source(&self, token: Option<&str>, brand: &str) -> String {
        let query = "mutation($b: ID!) { createSource(input: { brandId: $b, network: MASTODON, kind: HASHTAG, target: \"verdure\", enabled: false }) { id } }";
        let data = self.ok(token, query, json!({ "b": brand })).await;
        data["createSource"]["id"].as_str().expect("source id").to_owned()
    }

    /// Creates a brand and returns its id.
    pub async fn create_brand(&self, token: &str, name: &str) -> String {
        let data = self
            .ok(
                Some(token),
                "mutation($input: CreateBrandInput!) { createBrand(input: $input) { id } }",
                json!({ "input": { "name": name, "timeZone": "Europe/Paris", "trackedKeywords": [name] } }),
            )
            .await;
        data["createBrand"]["id"].as_str().unwrap().to_owned()
    }
}

/// Waits for something asynchronous: polls `check` every 50 ms until it gives `Ok`,
/// and fails the test after `limit` with `what` and the last state `check` reported.
/// The one way tests wait, so none sleeps a guessed time.
pub async fn eventually<T>(
    what: &str,
    limit: std::time::Duration,
    mut check: impl AsyncFnMut() -> Result<T, String>,
) -> T {
    let deadline = std::time::Instant::now() + limit;
    loop {
        match check().await {
            Ok(value) => return value,
            Err(state) if std::time::Instant::now() >= deadline => {
                panic!("timed out after {limit:?} waiting for {what}; last seen: {state}")
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    }
}

/// [`eventually`] for a condition with no state worth showing.
pub async fn until(what: &str, limit: std::time::Duration, mut check: impl AsyncFnMut() -> bool) {
    eventually(what, limit, async || if check().await { Ok(()) } else { Err("not yet".into()) }).await
}

/// Posts a GraphQL query to a running server over HTTP and returns the JSON response.
pub async fn post_graphql(base: &str, token: Option<&str>, query: &str) -> Value {
    let mut request = reqwest::Client::new().post(format!("{base}/graphql")).json(&json!({ "query": query }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("request").json().await.expect("JSON response")
}

/// Reads an `AuthPayload` selection (`accessToken refreshToken user { id } agency { id }`).
pub fn login_from(payload: &Value) -> Login {
    Login {
        access_token: payload["accessToken"].as_str().expect("accessToken").to_owned(),
        refresh_token: payload["refreshToken"].as_str().expect("refreshToken").to_owned(),
        user_id: payload["user"]["id"].as_str().unwrap_or_default().to_owned(),
        agency_id: payload["agency"]["id"].as_str().unwrap_or_default().to_owned(),
    }
}

/// The `extensions.code` of each error of a response.
pub fn error_codes(response: &Value) -> Vec<String> {
    response["errors"]
        .as_array()
        .map(|errors| errors.iter().map(|e| e["extensions"]["code"].as_str().unwrap_or("<none>").to_owned()).collect())
        .unwrap_or_default()
}

/// Asserts that a response failed with `code` and that `data` holds nothing.
pub fn assert_error(response: &Value, code: &str) {
    let codes = error_codes(response);
    assert_eq!(codes, vec![code.to_owned()], "expected {code}: {response:#}");
    let data = &response["data"];
    assert!(
        data.is_null() || data.as_object().is_some_and(|o| o.values().all(Value::is_null)),
        "data leaked: {response:#}"
    );
}

/// Runs an async test body twice, as two tests named after their argument:
/// `twice!(body, sqlite => Backend::Sqlite, postgres => Backend::Postgres)`.
#[macro_export]
macro_rules! twice {
    ($name:ident, $a:ident => $arg_a:expr, $b:ident => $arg_b:expr) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $a() {
                super::$name($arg_a).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $b() {
                super::$name($arg_b).await
            }
        }
    };
}

/// Runs an async test body on both databases.
#[macro_export]
macro_rules! on_both_databases {
    ($name:ident) => {
        $crate::twice!($name, sqlite => vigie_tests::Backend::Sqlite, postgres => vigie_tests::Backend::Postgres);
    };
}

/// Runs an async test body in the embedded mode (`false`: SQLite, in-process queue,
/// bus and limiter) and in production (`true`: PostgreSQL and Redis).
#[macro_export]
macro_rules! in_both_modes {
    ($name:ident) => {
        $crate::twice!($name, embedded => false, production => true);
    };
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

/// An ingest item from a macro author denouncing `brand`'s zero-plastic promise.
pub fn value_gap_item(external_id: &str) -> Value {
    serde_json::json!({
        "externalId": external_id,
        "network": "mastodon",
        "url": format!("https://mastodon.example/@star/{external_id}"),
        "text": "Verdure promet zéro plastique mais mon colis en est plein, c'est honteux !",
        "publishedAt": chrono::Utc::now().to_rfc3339(),
        "author": { "handle": "star", "displayName": "Star", "followers": 800000 },
        "metrics": { "likes": 5000, "shares": 800, "replies": 300 }
    })
}

/// Finds an invitation code (`vgi_…`) in an email body, undoing quoted-printable soft
/// line breaks.
pub fn invitation_code(body: &str) -> String {
    let joined = body.replace("=\r\n", "").replace("=\n", "");
    let start = joined.find("vgi_").expect("an invitation code in the email");
    joined[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-').collect()
}

impl TestApp {
    /// Records a dead-lettered job of `agency_id` (as the runtime does) and returns its
    /// failure id.
    pub async fn record_job_failure(&self, agency_id: &str, error: &str) -> String {
        use sea_orm::{ActiveModelTrait, Set};
        use vigie_domain::entities::job_failure;
        use vigie_domain::queue::Envelope;
        let tenant = db_id(agency_id);
        let envelope = Envelope::new(Some(tenant), &vigie_domain::mail::DispatchEmail {}).unwrap();
        let row = job_failure::ActiveModel {
            id: Set(vigie_domain::new_id()),
            agency_id: Set(Some(tenant)),
            job_id: Set(envelope.id.to_string()),
            kind: Set(envelope.kind.clone()),
            payload: Set(serde_json::to_value(&envelope).unwrap()),
            error: Set(error.to_owned()),
            attempts: Set(5),
            failed_at: Set(vigie_domain::now()),
            resolved_at: Set(None),
            resolution: Set(None),
        }
        .insert(&self.services.db)
        .await
        .unwrap();
        global_id(NodeKind::JobFailure, row.id).0
    }

    /// The text of the last email queued to `to` in the outbox.
    pub async fn last_outbox_text(&self, to: &str) -> String {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
        use vigie_domain::entities::email_outbox;
        email_outbox::Entity::find()
            .filter(email_outbox::Column::ToAddress.eq(to))
            .order_by_desc(email_outbox::Column::Id)
            .one(&self.services.db)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no email to {to} in the outbox"))
            .text_body
    }

    /// Invites `email` with `role` (a GraphQL enum name) on `brand_ids`, accepts through
    /// the code in the outbox, and returns the new member's login.
    pub async fn invite_and_accept(&self, token: &str, email: &str, role: &str, brand_ids: &[&str]) -> Login {
        self.ok(
            Some(token),
            "mutation($input: InviteMemberInput!) { inviteMember(input: $input) { id } }",
            json!({ "input": { "email": email, "role": role, "brandIds": brand_ids } }),
        )
        .await;
        let code = invitation_code(&self.last_outbox_text(email).await);
        let data = self
            .ok(
                None,
                "mutation($input: AcceptInvitationInput!) { acceptInvitation(input: $input) { accessToken refreshToken user { id } agency { id } } }",
                json!({ "input": { "token": code, "name": "Invitee", "password": "correct horse battery" } }),
            )
            .await;
        login_from(&data["acceptInvitation"])
    }

    /// Stores (and so scores) `mentions` as if `source_id` had collected them, then
    /// refreshes the brand's influencers at once (without waiting for the queue).
    pub async fn collect(&self, source_id: &str, mentions: Vec<vigie_domain::mentions::store::NewMention>) {
        use sea_orm::EntityTrait;
        use vigie_domain::entities::{brand, source};
        use vigie_domain::mentions::store::{self, Provenance};
        let db = &self.services.db;
        let source = source::Entity::find_by_id(db_id(source_id)).one(db).await.unwrap().unwrap();
        let brand = brand::Entity::find_by_id(source.brand_id).one(db).await.unwrap().unwrap();
        store::store(&self.services, &brand, &source, mentions, Provenance::Collected).await.unwrap();
        vigie_domain::influencers::refresh_stale(&self.services, brand.id).await.unwrap();
    }

    /// Collects one mention by `handle` through `source_id` and returns the id of the
    /// influencer it makes.
    pub async fn seed_influencer(&self, source_id: &str, handle: &str, text: &str) -> String {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        use vigie_domain::entities::{author, brand_influencer};
        self.collect(source_id, vec![new_mention(&format!("{handle}-1"), handle, text, 5_000)]).await;
        let db = &self.services.db;
        let author = author::Entity::find().filter(author::Column::Handle.eq(handle)).one(db).await.unwrap().unwrap();
        let row = brand_influencer::Entity::find()
            .filter(brand_influencer::Column::AuthorId.eq(author.id))
            .one(db)
            .await
            .unwrap()
            .expect("scoring made an influencer");
        global_id(NodeKind::Influencer, row.id).0
    }
}

/// A mention as a collector would bring it, published an hour ago.
pub fn new_mention(
    external_id: &str,
    handle: &str,
    text: &str,
    followers: i64,
) -> vigie_domain::mentions::store::NewMention {
    use vigie_domain::mentions::store::{NewAuthor, NewMention};
    NewMention {
        external_id: external_id.to_owned(),
        network: "mastodon".into(),
        url: Some(format!("https://mastodon.example/@{handle}/{external_id}")),
        text: text.to_owned(),
        lang: None,
        published_at: vigie_domain::now() - chrono::Duration::hours(1),
        author: NewAuthor {
            handle: handle.to_owned(),
            display_name: Some(handle.to_owned()),
            profile_url: None,
            followers: Some(followers),
            following: Some(100),
            verified: false,
            authoritative: true,
        },
        likes: 40,
        shares: 5,
        replies: 3,
        views: 0,
        in_reply_to: None,
        in_reply_to_author: None,
        direct: false,
    }
}

pub use vigie_api::graphql::node::{NodeKind, global_id};

/// The database id behind an id the API returned (a global id, or a bare UUID).
pub fn db_id(id: &str) -> uuid::Uuid {
    vigie_api::graphql::node::parse_id(id).unwrap_or_else(|| panic!("not an id: {id}"))
}
