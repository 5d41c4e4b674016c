//! Database connection and migrations.

use sea_orm::sea_query::SelectStatement;
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, DatabaseTransaction, EntityTrait,
    QueryTrait, Select, SelectModel, SelectorTrait, SqliteTransactionMode, Statement, TransactionOptions,
    TransactionTrait, Value,
};
use std::time::Duration;

use crate::{Error, Result};

/// Opens a pool to PostgreSQL of at most `max_connections` (warning if the server runs
/// without autovacuum), or to SQLite.
pub async fn connect(url: &str, max_connections: u32) -> Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url.to_owned());
    // Short waits: when the database is down or the pool exhausted, a request fails
    // within seconds with `UNAVAILABLE` (retry later) instead of hanging, and jobs are
    // put back for later without using up an attempt.
    options.connect_timeout(Duration::from_secs(3)).acquire_timeout(Duration::from_secs(3)).sqlx_logging(false);
    if url.starts_with("sqlite:") {
        // One writer at a time is SQLite's rule; a small pool avoids lock contention.
        options.max_connections(4).min_connections(1);
    } else {
        // Pinging a connection on every checkout would double the round trips of every
        // request (one per statement); only connections idle long enough to have been
        // dropped by the server or a proxy are checked. One that died under load fails
        // its statement, which answers `UNAVAILABLE`.
        options
            .max_connections(max_connections)
            .min_connections(1)
            .test_before_acquire_if_idle_for(Duration::from_secs(10));
    }
    let db = Database::connect(options).await?;
    if let Err(error) = warn_without_autovacuum(&db).await {
        tracing::debug!(error = %crate::platform::error::chain(&error), "cannot read whether autovacuum is on");
    }
    Ok(db)
}

/// Applies pending migrations, one process at a time ([`migration::up_exclusive`]).
pub async fn migrate(db: &DatabaseConnection) -> Result<()> {
    migration::up_exclusive(db).await?;
    Ok(())
}

/// Refuses a database whose schema is older than this build needs (with
/// `VIGIE_MIGRATE_ON_START=false`, and always in a worker): running on it would fail
/// later, on the first statement that needs what is missing.
pub async fn check_schema(db: &DatabaseConnection) -> Result<()> {
    let pending = migration::pending(db).await?;
    match pending.first() {
        None => Ok(()),
        Some(first) => Err(Error::internal(format!(
            "the database schema is {} migration(s) behind this build (first missing: {first}): \
             run `vigie-migrate up` with the same DATABASE_URL, or start vigie-api with VIGIE_MIGRATE_ON_START=true",
            pending.len()
        ))),
    }
}

/// PostgreSQL's `autovacuum` setting (`on` or `off`); `None` on SQLite, which has none.
pub async fn autovacuum_setting(db: &DatabaseConnection) -> Result<Option<String>> {
    if db.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(None);
    }
    let row = db.query_one_raw(Statement::from_string(DatabaseBackend::Postgres, "SHOW autovacuum")).await?;
    Ok(row.map(|row| row.try_get::<String>("", "autovacuum")).transpose()?)
}

/// Without autovacuum no table gets statistics or gives back its dead rows: PostgreSQL
/// then plans every lookup as if a brand had a handful of mentions, and tables that
/// churn (stale marks, events) grow without end. Vigie relies on it being on.
async fn warn_without_autovacuum(db: &DatabaseConnection) -> Result<()> {
    if let Some(setting) = autovacuum_setting(db).await?
        && setting != "on"
    {
        tracing::warn!(
            autovacuum = %setting,
            "PostgreSQL runs without autovacuum: statistics go stale and dead rows pile up; turn it on (README, Operations)"
        );
    }
    Ok(())
}

/// Reads at most `limit` rows of `query`, decoded by `S`, with the limit written into
/// the SQL text rather than bound. The limit is appended to the statement, so `query`
/// must not end in a clause of its own after it (an offset or a row lock).
///
/// PostgreSQL plans a prepared statement whose `LIMIT` is a parameter anew on every
/// run: the generic plan it could keep assumes a tenth of the rows, so it always looks
/// dearer than a plan made for the value. With the limit in the text, the plan is made
/// once per connection.
pub(crate) async fn read_limited<S: SelectorTrait>(
    db: &impl ConnectionTrait,
    mut query: SelectStatement,
    limit: u64,
) -> Result<Vec<S::Item>> {
    query.reset_limit();
    let mut statement = db.get_database_backend().build(&query);
    statement.sql.push_str(&format!(" LIMIT {limit}"));
    let rows = db.query_all_raw(statement).await?;
    Ok(rows.into_iter().map(S::from_raw_query_result).collect::<std::result::Result<Vec<_>, _>>()?)
}

/// The first row of `select`: [`Select::one`] with its `LIMIT 1` in the SQL text (see
/// [`read_limited`]), for the lookups that run on every request.
pub(crate) async fn first<E: EntityTrait>(db: &impl ConnectionTrait, select: Select<E>) -> Result<Option<E::Model>> {
    Ok(read_limited::<SelectModel<E::Model>>(db, select.into_query(), 1).await?.pop())
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
pub(crate) async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction> {
    let options =
        TransactionOptions { sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate), ..Default::default() };
    Ok(db.begin_with_options(options).await?)
}

/// Makes PostgreSQL plan each statement of the transaction `txn` for its own
/// parameters, until the transaction ends (a no-op on SQLite).
///
/// After five runs of one prepared statement PostgreSQL may switch to a generic plan,
/// which it keeps until the table's next `ANALYZE`. For a lookup by an `IN (…)` list,
/// one made while a new database's table was small scans every row and compares each
/// with the list's values one by one, where a plan made for the values hashes the list.
/// Planning such a statement costs about a millisecond, so this is for the large
/// lookups only; the API's queries keep their cached plans.
pub(crate) async fn plan_for_values(txn: &DatabaseTransaction) -> Result<()> {
    if txn.get_database_backend() == DatabaseBackend::Postgres {
        txn.execute_unprepared("SET LOCAL plan_cache_mode = force_custom_plan").await?;
    }
    Ok(())
}

/// Splits the rows of a multi-row `INSERT` into batches whose sizes are powers of two,
/// the largest first, none over `max` (a power of two).
///
/// Each row count is a statement text of its own, which every pooled connection
/// prepares and keeps in its statement cache (100 at most), and a multi-row text is
/// large: its SQL and one type per bound value. Equal chunks leave a remainder of any
/// size, so batches of every size callers send would each be cached on every
/// connection and the process's memory would creep up for as long as new sizes came;
/// these make `log2(max) + 1` texts at most, for a few more round trips.
///
/// `IN (…)` lists are left at their length on purpose: padding them the same way
/// (tried) made PostgreSQL reuse generic plans for them, which cannot hash the list and,
/// on tables not analyzed yet, scanned every row of a source against it (the pipeline
/// benchmark lost about half its throughput).
pub fn batches<T>(rows: Vec<T>, max: usize) -> impl Iterator<Item = Vec<T>> {
    // Taking the rows by value lets each move once into its statement (`insert_many`
    // owns its models), where slices made callers clone every batch. A `Vec` rather
    // than any iterator: callers hold the batches across `.await`, and a lazy `map`
    // closure over borrowed data would make their futures not `Send`.
    let mut rows = rows.into_iter();
    batch_sizes(rows.len(), max).map(move |size| rows.by_ref().take(size).collect())
}

/// The sizes [`batches`] cuts `len` rows into, for callers that keep their rows in a
/// slice (and split it with `split_at`).
pub fn batch_sizes(mut len: usize, max: usize) -> impl Iterator<Item = usize> {
    debug_assert!(max.is_power_of_two(), "batch sizes are powers of two");
    std::iter::from_fn(move || {
        (len > 0).then(|| {
            let size = max.min(1 << len.ilog2());
            len -= size;
            size
        })
    })
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

#[cfg(test)]
mod tests {
    use super::batches;

    #[test]
    fn batches_are_powers_of_two_in_order_and_cover_every_row() {
        let sizes = |n: usize, max: usize| -> Vec<usize> {
            let parts: Vec<Vec<usize>> = batches((0..n).collect(), max).collect();
            assert_eq!(parts.concat(), (0..n).collect::<Vec<_>>(), "every row once, in order");
            parts.iter().map(|p| p.len()).collect()
        };
        assert!(sizes(0, 128).is_empty());
        assert_eq!(sizes(1, 128), [1]);
        assert_eq!(sizes(37, 128), [32, 4, 1]);
        assert_eq!(sizes(300, 128), [128, 128, 32, 8, 4]);
        let texts: std::collections::BTreeSet<usize> = (1..=1000).flat_map(|n| sizes(n, 128)).collect();
        assert_eq!(texts.len(), 8, "every row count up to 1,000 makes one of eight statements");
    }
}
