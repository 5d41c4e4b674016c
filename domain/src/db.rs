//! Database connection and migrations.

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, DatabaseTransaction,
    SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait, Value,
};
use std::time::Duration;

use crate::Result;

/// Opens a pool to PostgreSQL or SQLite.
pub async fn connect(url: &str) -> Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url.to_owned());
    // Short waits: when the database is down or the pool exhausted, a request fails
    // within seconds with `UNAVAILABLE` (retry later) instead of hanging, and jobs are
    // put back for later without using up an attempt.
    options.connect_timeout(Duration::from_secs(3)).acquire_timeout(Duration::from_secs(3)).sqlx_logging(false);
    if url.starts_with("sqlite:") {
        // One writer at a time is SQLite's rule; a small pool avoids lock contention.
        options.max_connections(4).min_connections(1);
    } else {
        // Pinging a connection on every checkout doubled the round trips of every
        // request (one per statement, measured on the dashboard bench); only connections
        // idle long enough to have been dropped by the server or a proxy are checked. One
        // that died under load fails its statement, which answers `UNAVAILABLE`.
        options.max_connections(20).min_connections(1).test_before_acquire_if_idle_for(Duration::from_secs(10));
    }
    Ok(Database::connect(options).await?)
}

/// Applies pending migrations.
pub async fn migrate(db: &DatabaseConnection) -> Result<()> {
    Migrator::up(db, None).await?;
    Ok(())
}

/// Checks that the database answers (for `/readyz`).
pub async fn ping(db: &DatabaseConnection) -> Result<()> {
    db.execute_unprepared("SELECT 1").await?;
    Ok(())
}

/// Begins a transaction that will write. On SQLite it takes the write lock at `BEGIN`
/// (`BEGIN IMMEDIATE`): a deferred transaction that reads and then writes fails with
/// `SQLITE_BUSY` when another writer committed in between, instead of waiting its turn.
/// PostgreSQL ignores the option.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction> {
    let options =
        TransactionOptions { sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate), ..Default::default() };
    Ok(db.begin_with_options(options).await?)
}

/// The bound values of a hand-written statement (for the few queries SeaORM's builder
/// cannot express). Placeholders are numbered (`$n` on PostgreSQL, `?n` on SQLite), so
/// values may be bound in any order relative to where they appear in the text.
pub struct Params {
    backend: DatabaseBackend,
    values: Vec<Value>,
}

impl Params {
    pub fn new(backend: DatabaseBackend) -> Self {
        Params { backend, values: Vec::new() }
    }

    /// Binds a value and returns its placeholder.
    pub fn bind(&mut self, value: impl Into<Value>) -> String {
        self.values.push(value.into());
        match self.backend {
            DatabaseBackend::Postgres => format!("${}", self.values.len()),
            _ => format!("?{}", self.values.len()),
        }
    }

    /// Placeholders for a list, comma-separated (for `IN (…)`).
    pub fn bind_all<V: Into<Value>>(&mut self, values: impl IntoIterator<Item = V>) -> String {
        values.into_iter().map(|v| self.bind(v)).collect::<Vec<_>>().join(", ")
    }

    /// The statement of `sql` with the values bound so far.
    pub fn statement(self, sql: String) -> Statement {
        Statement::from_sql_and_values(self.backend, sql, self.values)
    }
}
