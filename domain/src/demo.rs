//! Demo data for the embedded mode: an agency with two client brands and their values,
//! so that a newcomer has something to query in GraphiQL at once.

use crate::accounts::{self, SignUp};
use crate::brands::{self, NewBrand, ValueInput};
use crate::entities::Handle;
use crate::{Network, Result, Services};

/// The demo owner's email.
pub const DEMO_EMAIL: &str = "demo@vigie.local";
/// The demo owner's password (printed at start-up; the demo is for local use only).
pub const DEMO_PASSWORD: &str = "vigie-demo-password";

/// Seeds the demo agency unless it exists; returns whether it was created.
pub async fn seed(services: &Services) -> Result<bool> {
    if accounts::find_user_by_email(&services.db, DEMO_EMAIL).await?.is_some() {
        return Ok(false);
    }
    let session = accounts::sign_up(
        services,
        SignUp {
            agency_name: "Agence Démo".into(),
            name: "Demo Owner".into(),
            email: DEMO_EMAIL.into(),
            password: DEMO_PASSWORD.into(),
        },
    )
    .await?;
    let actor = session.actor;
    let brands = [
        (
            "Verdure Cosmetics",
            "cosmetics",
            "Europe/Paris",
            "fr",
            vec!["verdure", "verdure cosmetics", "#verdure"],
            vec![(Network::Instagram, "verdurecosmetics"), (Network::X, "verdure_fr")],
            vec![
                (
                    "Zéro plastique",
                    "Nos emballages sont sans plastique.",
                    vec!["plastique", "plastic", "emballage", "packaging"],
                ),
                (
                    "Cruelty free",
                    "No testing on animals, ever.",
                    vec!["animal testing", "tests sur les animaux", "cruelty"],
                ),
            ],
        ),
        (
            "Rapido Bikes",
            "mobility",
            "America/New_York",
            "en",
            vec!["rapido bikes", "rapidobikes", "#rapido"],
            vec![(Network::Bluesky, "rapidobikes.bsky.social"), (Network::Mastodon, "rapido@mastodon.social")],
            vec![(
                "Fair wages",
                "Everyone who builds our bikes earns a living wage.",
                vec!["wage", "salary", "underpaid", "sweatshop"],
            )],
        ),
    ];
    for (name, sector, tz, lang, keywords, handles, values) in brands {
        let brand = brands::create(
            services,
            &actor,
            NewBrand {
                name: name.into(),
                sector: Some(sector.into()),
                tracked_keywords: keywords.into_iter().map(String::from).collect(),
                handles: handles
                    .into_iter()
                    .map(|(network, handle)| Handle { network, handle: handle.into() })
                    .collect(),
                time_zone: tz.into(),
                language: Some(lang.into()),
                discovery_threshold: None,
            },
        )
        .await?;
        for (value, description, keywords) in values {
            brands::create_value(
                services,
                &actor,
                brand.id,
                ValueInput {
                    name: value.into(),
                    description: description.into(),
                    keywords: keywords.into_iter().map(String::from).collect(),
                },
            )
            .await?;
        }
    }
    Ok(true)
}
