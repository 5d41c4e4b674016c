//! Demo data for the embedded mode: an agency with three client brands (cosmetics,
//! mobility, food) and sixty days of their history — mentions in French and English
//! with a daily and weekly rhythm, influencers rising and fading, a crisis opened and
//! resolved, a value-gap accusation wave, tickets answered in time and late, ideas
//! reported back, a CSR calendar, digests sent — written through the domain services
//! under a simulated clock ([`crate::simulated`]), so it is what the product writes.
//! A fixed seed makes every run the same.

mod history;
mod script;

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

/// Seeds the demo agency unless it exists; returns whether it was created.
pub async fn seed(services: &Services) -> Result<bool> {
    if accounts::find_user_by_email(&services.db, DEMO_EMAIL).await?.is_some() {
        return Ok(false);
    }
    let start = history::start(crate::now());
    let session = crate::simulated(start, async {
        accounts::sign_up(
            services,
            SignUp {
                agency_name: "Agence Démo".into(),
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
    tracing::info!(seconds = began.elapsed().as_secs_f64(), days = DAYS, "demo history written");
    Ok(true)
}
