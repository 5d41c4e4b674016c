//! Demo data for the embedded mode: an agency with three client brands (cosmetics,
//! mobility, food) and sixty days of their history — mentions in French and English
//! with a daily and weekly rhythm, influencers rising and fading, a crisis opened and
//! resolved, a value-gap accusation wave, tickets answered in time and late, ideas
//! reported back, a CSR calendar, digests sent, webhook deliveries (to
//! [`receiver`]) — written through the domain services
//! under a simulated clock ([`crate::simulated`]), so it is what the product writes.
//! A fixed seed makes every run the same.

mod history;
pub mod receiver;
mod rng;
mod script;

pub use rng::Rng;

use crate::accounts::{self, SignUp};
use crate::{Result, Services};

/// The demo owner's email.
pub const DEMO_EMAIL: &str = "demo@vigie.local";
/// The demo owner's password (printed at start-up; the demo is for local use only).
pub const DEMO_PASSWORD: &str = "vigie-demo-password";
/// The demo brands' client viewer, who approves content and gets the digests.
pub const CLIENT_EMAIL: &str = "client@vigie.local";
/// How many days of history the demo holds.
pub const DAYS: i64 = 60;

/// The demo agency's name.
pub const AGENCY: &str = "Agence Démo";
/// The audit entry written once the history is whole: a demo without it was
/// interrupted (the process stopped, or a step failed).
const WRITTEN: &str = "demo.written";

/// Whether the demo owner's agency records its history as whole.
async fn finished(services: &Services, user_id: uuid::Uuid) -> Result<bool> {
    use crate::entities::{audit_log, membership};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
    let agencies: Vec<uuid::Uuid> = membership::Entity::find()
        .select_only()
        .column(membership::Column::AgencyId)
        .filter(membership::Column::UserId.eq(user_id))
        .into_tuple()
        .all(&services.db)
        .await?;
    let written = audit_log::Entity::find()
        .filter(audit_log::Column::AgencyId.is_in(agencies))
        .filter(audit_log::Column::Action.eq(WRITTEN))
        .one(&services.db)
        .await?;
    Ok(written.is_some())
}

/// The SQLite file `demo reset` would start over: refused for other databases, in-memory
/// ones and read-only ones.
pub fn sqlite_file(url: &str) -> std::result::Result<std::path::PathBuf, String> {
    use sea_orm::sqlx::sqlite::SqliteConnectOptions;
    use std::str::FromStr;
    if !url.starts_with("sqlite:") {
        return Err(
            "demo reset starts an embedded SQLite database over; drop and recreate `DATABASE_URL` instead".into()
        );
    }
    let options = SqliteConnectOptions::from_str(url).map_err(|e| format!("DATABASE_URL: {e}"))?;
    let file = options.get_filename().to_path_buf();
    let in_memory =
        url.contains(":memory:") || url.contains("mode=memory") || file.to_string_lossy().contains("in-memory");
    if in_memory || url.contains("mode=ro") {
        return Err("demo reset needs a SQLite file it may write".into());
    }
    Ok(file)
}

/// Whether the database at `url` holds nothing but the demo (or nothing): what `demo
/// reset` checks before it deletes the file. An agency count it cannot read counts as
/// more than the demo's; a database it cannot open is an error.
pub async fn holds_only_the_demo(url: &str) -> Result<bool> {
    use sea_orm::{EntityTrait, PaginatorTrait};
    let db = sea_orm::Database::connect(url).await?;
    let agencies = crate::entities::agency::Entity::find().count(&db).await.unwrap_or(u64::MAX);
    let demo_user = accounts::find_user_by_email(&db, DEMO_EMAIL).await.ok().flatten();
    db.close().await?;
    Ok(agencies == 0 || (agencies == 1 && demo_user.is_some()))
}

/// Seeds the demo agency unless it exists; returns whether it was created. A demo whose
/// writing was interrupted is reported, not served as if whole.
pub async fn seed(services: &Services) -> Result<bool> {
    if let Some(user) = accounts::find_user_by_email(&services.db, DEMO_EMAIL).await? {
        if !finished(services, user.id).await? {
            tracing::warn!("the demo's history was not written in full: `vigie-api demo reset` starts it over");
        }
        return Ok(false);
    }
    tracing::info!(days = DAYS, "writing the demo's history (a few seconds)");
    let start = history::start(crate::now());
    let session = crate::simulated(start, async {
        accounts::sign_up(
            services,
            SignUp {
                agency_name: AGENCY.into(),
                name: "Demo Owner".into(),
                email: DEMO_EMAIL.into(),
                password: DEMO_PASSWORD.into(),
            },
        )
        .await
    })
    .await?;
    let began = std::time::Instant::now();
    history::write(services, &session.actor, start).await?;
    let detail = serde_json::json!({ "days": DAYS });
    crate::platform::audit::record(
        &services.db,
        &session.actor,
        WRITTEN,
        "agency",
        Some(session.actor.agency_id),
        detail,
    )
    .await?;
    tracing::info!(seconds = began.elapsed().as_secs_f64(), days = DAYS, "demo history written");
    Ok(true)
}
