//! Databases of a test's own: a SQLite file or a PostgreSQL database, copied from a
//! template migrated once per test process, and removed with the test.

use sea_orm::{ConnectionTrait, Database};
use std::path::PathBuf;

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
                block_on(async move {
                    if let Ok(admin) = Database::connect(&postgres_admin_url()).await {
                        let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
                        admin.close().await.ok();
                    }
                })
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
    // Without a /proc to ask (another OS), nothing is known to have ended. Processes
    // in other PID namespaces (containers) sharing one PostgreSQL need
    // VIGIE_TEST_POSTGRES_URL pointing each at its own database server.
    let proc = std::path::Path::new("/proc/self").exists();
    proc && pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists()
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
        let db = vigie_domain::platform::db::connect(&format!("sqlite://{}?mode=rwc", file.display()), 1)
            .await
            .expect("SQLite");
        vigie_domain::platform::db::migrate(&db).await.expect("migrations");
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
        let template = vigie_domain::platform::db::connect(&postgres_url(&name), 4).await.expect("the template");
        vigie_domain::platform::db::migrate(&template).await.expect("migrations");
        template.close().await.expect("close the template");
    });
    name
}

/// The single integer a statement such as `SELECT COUNT(*) …` returns.
pub async fn count(db: &sea_orm::DatabaseConnection, sql: &str) -> i64 {
    let statement = sea_orm::Statement::from_string(db.get_database_backend(), sql);
    let row = db.query_one_raw(statement).await.unwrap().expect("a row");
    row.try_get_by_index::<i64>(0).unwrap()
}
