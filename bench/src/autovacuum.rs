//! A stand-in for autovacuum, for servers that run with it off.
//!
//! This project's CI machine turns autovacuum off (`conf.d/90-ci.conf`) to keep test
//! runs steady. A benchmark that fills a new database there measures a server no one
//! runs in production: no table ever gets statistics, so PostgreSQL plans every lookup
//! as if a brand had a handful of mentions, and the tables that churn keep their dead
//! rows. The stand-in applies autovacuum's own rules with the server's own settings:
//! every `autovacuum_naptime` it vacuums the tables with enough dead or inserted rows
//! and analyzes those with enough changes, throttled like autovacuum
//! (`autovacuum_vacuum_cost_delay` and `_cost_limit`).

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, Statement};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// What the stand-in did, for the bench's report.
#[derive(Default)]
pub struct Done {
    pub vacuums: AtomicUsize,
    pub analyzes: AtomicUsize,
}

/// Autovacuum's thresholds, read from the server.
struct Rules {
    naptime: Duration,
    vacuum: (f64, f64),
    insert: (f64, f64),
    analyze: (f64, f64),
    cost_delay_ms: f64,
    cost_limit: f64,
}

impl Rules {
    async fn read(db: &DatabaseConnection) -> Rules {
        let setting = |name: &'static str| async move {
            let sql = format!("SELECT setting::float8 AS v FROM pg_settings WHERE name = '{name}'");
            let row = db.query_one_raw(Statement::from_string(DatabaseBackend::Postgres, sql)).await;
            row.expect("pg_settings").expect("a setting").try_get::<f64>("", "v").expect("numeric setting")
        };
        let cost_limit = match setting("autovacuum_vacuum_cost_limit").await {
            limit if limit < 0.0 => setting("vacuum_cost_limit").await,
            limit => limit,
        };
        Rules {
            naptime: Duration::from_secs_f64(setting("autovacuum_naptime").await),
            vacuum: (setting("autovacuum_vacuum_threshold").await, setting("autovacuum_vacuum_scale_factor").await),
            insert: (
                setting("autovacuum_vacuum_insert_threshold").await,
                setting("autovacuum_vacuum_insert_scale_factor").await,
            ),
            analyze: (setting("autovacuum_analyze_threshold").await, setting("autovacuum_analyze_scale_factor").await),
            cost_delay_ms: setting("autovacuum_vacuum_cost_delay").await,
            cost_limit,
        }
    }
}

/// Starts the stand-in on the database at `url` if the server runs without autovacuum;
/// `None` when autovacuum is on (it does the work itself).
pub async fn start_if_off(url: &str) -> Option<Arc<Done>> {
    // One connection, so the session's throttling applies to every statement.
    let mut options = ConnectOptions::new(url.to_owned());
    options.max_connections(1).min_connections(1).sqlx_logging(false);
    let db = Database::connect(options).await.expect("PostgreSQL");
    if vigie_domain::platform::db::autovacuum_setting(&db).await.expect("SHOW autovacuum").as_deref() == Some("on") {
        return None;
    }
    let rules = Rules::read(&db).await;
    println!(
        "this PostgreSQL runs with autovacuum off: the bench applies autovacuum's rules itself every {:?}",
        rules.naptime
    );
    let session = format!(
        "SET vacuum_cost_delay = '{}ms'; SET vacuum_cost_limit = {}",
        rules.cost_delay_ms, rules.cost_limit as i64
    );
    db.execute_unprepared(&session).await.expect("throttling");
    let done = Arc::new(Done::default());
    tokio::spawn(run(db, rules, done.clone()));
    Some(done)
}

async fn run(db: DatabaseConnection, rules: Rules, done: Arc<Done>) {
    let due = |(threshold, scale): (f64, f64), tuples: f64, count: f64| count > threshold + scale * tuples;
    loop {
        tokio::time::sleep(rules.naptime).await;
        let sql = "SELECT s.relname AS name, GREATEST(c.reltuples, 0)::float8 AS tuples, \
                   s.n_dead_tup::float8 AS dead, s.n_ins_since_vacuum::float8 AS inserted, \
                   s.n_mod_since_analyze::float8 AS changed \
                   FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid";
        // The database goes away when the bench ends; so does this task.
        let Ok(rows) = db.query_all_raw(Statement::from_string(DatabaseBackend::Postgres, sql)).await else {
            return;
        };
        for row in rows {
            let get = |column: &str| row.try_get::<f64>("", column).unwrap_or(0.0);
            let Ok(name) = row.try_get::<String>("", "name") else { continue };
            let tuples = get("tuples");
            let vacuum = due(rules.vacuum, tuples, get("dead")) || due(rules.insert, tuples, get("inserted"));
            let analyze = due(rules.analyze, tuples, get("changed"));
            let statement = match (vacuum, analyze) {
                (true, true) => format!("VACUUM (ANALYZE) \"{name}\""),
                (true, false) => format!("VACUUM \"{name}\""),
                (false, true) => format!("ANALYZE \"{name}\""),
                (false, false) => continue,
            };
            if db.execute_unprepared(&statement).await.is_err() {
                return;
            }
            if vacuum {
                done.vacuums.fetch_add(1, Ordering::Relaxed);
            }
            if analyze {
                done.analyzes.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
