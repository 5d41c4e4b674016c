//! `vigie-migrate`: apply, roll back or inspect Vigie's migrations.
//!
//! Usage: `DATABASE_URL=… vigie-migrate [up [N] | down [N] | status | fresh]`.

use migration::{Migrator, MigratorTrait};
use sea_orm_migration::sea_orm::Database;

const USAGE: &str = "usage: DATABASE_URL=<url> vigie-migrate [up [N] | down [N] | status | fresh]
  up [N]    apply pending migrations (all, or the next N)
  down [N]  roll back the last N migrations (default 1)
  status    list applied and pending migrations
  fresh     drop every table, then apply all migrations";

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if let Err(message) = run().await {
        eprintln!("vigie-migrate: {message}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let command = args.next().unwrap_or_else(|| "up".to_owned());
    let steps =
        args.next().map(|n| n.parse::<u32>().map_err(|_| format!("not a step count: {n}\n{USAGE}"))).transpose()?;
    let url = std::env::var("DATABASE_URL").map_err(|_| format!("DATABASE_URL is not set\n{USAGE}"))?;
    let db = Database::connect(&url).await.map_err(|e| format!("cannot connect to the database: {e}"))?;
    let outcome = match command.as_str() {
        "up" if steps.is_none() => migration::up_exclusive(&db).await,
        "up" => Migrator::up(&db, steps).await,
        "down" => Migrator::down(&db, Some(steps.unwrap_or(1))).await,
        "status" => {
            let migrations =
                Migrator::get_migration_with_status(&db).await.map_err(|e| format!("status failed: {e}"))?;
            for migration in migrations {
                println!("{}\t{}", migration.status(), migration.name());
            }
            return Ok(());
        }
        "fresh" => Migrator::fresh(&db).await,
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            return Ok(());
        }
        other => return Err(format!("unknown command `{other}`\n{USAGE}")),
    };
    outcome.map_err(|e| format!("{command} failed: {e}"))
}
