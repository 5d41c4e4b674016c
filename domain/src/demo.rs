//! Demo data for the embedded mode: an agency with two client brands, their values and a
//! few scored mentions, so that a newcomer has something to query in GraphiQL at once.

use crate::accounts::{self, SignUp};
use crate::brands::{self, NewBrand, ValueInput};
use crate::entities::{Handle, brand};
use crate::mentions::store::{self, NewAuthor, NewMention, Provenance};
use crate::sources::{self, NewSource, SourceKind};
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
    let mut created = Vec::new();
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
                ..Default::default()
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
        created.push(brand);
    }
    if let Some(verdure) = created.first() {
        seed_mentions(services, &actor, verdure).await?;
    }
    Ok(true)
}

/// A few mentions of the first demo brand, through a disabled Mastodon source (the demo
/// never polls the real network); scoring runs as it would for collected ones.
async fn seed_mentions(services: &Services, actor: &crate::Actor, brand: &brand::Model) -> Result<()> {
    let source = sources::create(
        services,
        actor,
        NewSource {
            brand_id: brand.id,
            network: Network::Mastodon,
            kind: SourceKind::Hashtag,
            target: "verdure".into(),
            endpoint: None,
            poll_interval_secs: None,
            enabled: Some(false),
        },
    )
    .await?;
    let posts = [
        ("camille_zd", 48_000, 2_100, "J'adore le shampoing solide Verdure, vraiment efficace et sans plastique 🌱"),
        (
            "lea.beaute",
            1_250_000,
            18_000,
            "@verdure_fr vous promettez zéro plastique mais mon colis en était plein. Honteux !",
        ),
        ("tom_green", 3_200, 90, "@verdure_fr où est ma commande ? Toujours pas reçue après deux semaines"),
        ("marie.eco", 220_000, 4_000, "Pas mauvais du tout le nouveau déodorant Verdure, je recommande"),
        ("sam_reviews", 15_000, 300, "Verdure cosmetics: not good, the cream irritated my skin 😞"),
        ("camille_zd", 48_000, 1_800, "Deuxième test Verdure : toujours aussi bien, bravo pour les recharges"),
    ];
    let mentions = posts
        .iter()
        .enumerate()
        .map(|(i, (handle, followers, interactions, text))| NewMention {
            external_id: format!("demo-{i}"),
            network: "mastodon".into(),
            url: Some(format!("https://mastodon.social/@{handle}/demo{i}")),
            text: (*text).into(),
            lang: None,
            published_at: crate::now() - chrono::Duration::hours(6 * (i as i64 + 1)),
            author: NewAuthor {
                handle: (*handle).into(),
                display_name: Some((*handle).into()),
                profile_url: Some(format!("https://mastodon.social/@{handle}")),
                followers: Some(*followers),
                following: Some(300),
                verified: false,
                authoritative: true,
            },
            likes: *interactions,
            shares: interactions / 10,
            replies: interactions / 20,
            views: 0,
            in_reply_to: None,
            in_reply_to_author: None,
            direct: false,
        })
        .collect();
    store::store(services, brand, &source, mentions, Provenance::Collected).await?;
    Ok(())
}
