//! Database connection and migrations.

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};
use std::time::Duration;

use crate::Result;

/// Opens a pool to PostgreSQL or SQLite.
pub async fn connect(url: &str) -> Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url.to_owned());
    options.connect_timeout(Duration::from_secs(10)).acquire_timeout(Duration::from_secs(10)).sqlx_logging(false);
    if url.starts_with("sqlite:") {
        // One writer at a time is SQLite's rule; a small pool avoids lock contention.
        options.max_connections(4).min_connections(1);
    } else {
        options.max_connections(20).min_connections(1);
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
