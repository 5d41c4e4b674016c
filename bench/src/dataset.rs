//! A realistic data set at a chosen scale, reproducible from a seed: agencies and
//! brands through the domain services (so they are exactly what the product writes),
//! then authors, mentions, influencers, open alerts and tickets loaded with `COPY`.
//!
//! Every brand gets the same share (about 5,000 mentions over the last 30 days, 500
//! influencers, 50 tickets, 2 open alerts): a bigger data set means more tenants, which
//! is how a SaaS grows. One brand's dashboard should then cost the same at any scale.

use chrono::{DateTime, Duration, Utc};
use sea_orm::sqlx::postgres::PgPoolCopyExt;
use sea_orm::{ConnectionTrait, DatabaseConnection};
use std::fmt::Write;
use vigie_domain::Services;
use vigie_domain::System;
use vigie_domain::accounts::{self, SignUp};
use vigie_domain::brands::{self, NewBrand};
use vigie_domain::entities::brand;

/// Mentions per brand; brands (and agencies, authors) scale with the total.
pub const MENTIONS_PER_BRAND: u64 = 5_000;
const BRANDS_PER_AGENCY: u64 = 20;
const MENTIONS_PER_AUTHOR: u64 = 200;
const INFLUENCERS_PER_BRAND: u64 = 500;
const TICKETS_PER_BRAND: u64 = 50;

pub use vigie_domain::demo::Rng;

/// What was generated.
pub struct Dataset {
    pub agencies: u64,
    pub brands: Vec<brand::Model>,
    pub authors: u64,
    pub mentions: u64,
    /// An access token of the first agency's owner, to query as.
    pub token: String,
}

const WORDS: [&str; 16] = [
    "verdure",
    "shampoing",
    "solide",
    "merci",
    "colis",
    "plastique",
    "livraison",
    "service",
    "client",
    "génial",
    "déçu",
    "recharge",
    "flacon",
    "odeur",
    "prix",
    "vrac",
];

fn csv_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S%.6f+00").to_string()
}

async fn copy(db: &DatabaseConnection, table: &str, columns: &str, csv: String) {
    let pool = db.get_postgres_connection_pool();
    let mut copy = pool
        .copy_in_raw(&format!("COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv)"))
        .await
        .unwrap_or_else(|e| panic!("COPY {table}: {e}"));
    copy.send(csv.into_bytes()).await.expect("COPY data");
    copy.finish().await.expect("COPY finish");
}

/// Generates about `mentions` mentions (rounded to whole brands) from `seed`.
pub async fn generate(services: &Services, mentions: u64, seed: u64) -> Dataset {
    let mut rng = Rng::new(seed);
    let brand_count = (mentions / MENTIONS_PER_BRAND).max(1);
    let agencies = brand_count.div_ceil(BRANDS_PER_AGENCY);
    let author_count = (mentions / MENTIONS_PER_AUTHOR).max(INFLUENCERS_PER_BRAND);
    let db = &services.db;
    let now = Utc::now();

    // Tenants, as the product creates them (sign-up, brand, its ingest source).
    let mut brands = Vec::new();
    let mut sources = Vec::new();
    let mut first_token = None;
    for a in 0..agencies {
        let session = accounts::sign_up(
            services,
            SignUp {
                agency_name: format!("Agence {a}"),
                name: "Owner".into(),
                email: format!("owner{a}@bench.example"),
                password: "correct horse battery".into(),
            },
        )
        .await
        .expect("sign-up");
        for b in 0..BRANDS_PER_AGENCY.min(brand_count - a * BRANDS_PER_AGENCY) {
            let new = NewBrand {
                name: format!("Marque {a}-{b}"),
                time_zone: "Europe/Paris".into(),
                tracked_keywords: vec!["verdure".into()],
                ..Default::default()
            };
            let brand = brands::create(services, &session.actor, new).await.expect("brand");
            sources
                .push(vigie_domain::sources::ingest_source(System::for_tests(), db, &brand).await.expect("source").id);
            brands.push(brand);
        }
        first_token.get_or_insert(session.access_token);
    }

    let mut csv = String::new();
    let mut author_ids = Vec::with_capacity(author_count as usize);
    for i in 0..author_count {
        let id = rng.uuid();
        author_ids.push(id);
        // Followers on a log scale: most nano, a few mega.
        let followers = 10f64.powf(1.0 + rng.unit() * 5.5) as i64;
        let at = csv_time(now - Duration::days(60));
        writeln!(
            csv,
            "{id},mastodon,author{i}@bench.example,Author {i},{followers},{},false,{at},{at}",
            followers / 10
        )
        .unwrap();
    }
    copy(
        db,
        "author",
        "id, network, handle, display_name, followers, following, verified, created_at, updated_at",
        csv,
    )
    .await;

    let columns = "id, agency_id, brand_id, source_id, external_id, author_id, network, text, lang, published_at, \
                   collected_at, sentiment, relevance, likes, shares, replies, views, value_tags, is_solicitation, \
                   is_direct, scored_at, author_followers, search_text, solicitation_priority";
    let mut total = 0;
    for (brand, source) in brands.iter().zip(&sources) {
        let mut csv = String::with_capacity(MENTIONS_PER_BRAND as usize * 300);
        let mut solicitations = Vec::new();
        for m in 0..MENTIONS_PER_BRAND {
            let id = rng.uuid();
            let author = author_ids[rng.below(author_count) as usize];
            let words: Vec<&str> = (0..6).map(|_| WORDS[rng.below(WORDS.len() as u64) as usize]).collect();
            let text = words.join(" ");
            let published = now - Duration::seconds(rng.below(30 * 86_400) as i64);
            let sentiment = (rng.unit() * 1.6 - 0.6).clamp(-1.0, 1.0);
            let solicitation = rng.below(100) == 0;
            let priority = if solicitation { "normal" } else { "" };
            if solicitation {
                solicitations.push((id, published));
            }
            writeln!(
                csv,
                "{id},{},{},{source},m{m},{author},mastodon,{text},fr,{},{},{sentiment:.3},0.5,{},{},{},0,[],{solicitation},false,{},,{text},{priority}",
                brand.agency_id,
                brand.id,
                csv_time(published),
                csv_time(published),
                rng.below(200),
                rng.below(20),
                rng.below(10),
                csv_time(published),
            )
            .unwrap();
        }
        copy(db, "mention", columns, csv).await;
        total += MENTIONS_PER_BRAND;

        let mut csv = String::new();
        let mut chosen = std::collections::HashSet::new();
        while (chosen.len() as u64) < INFLUENCERS_PER_BRAND.min(author_count) {
            chosen.insert(author_ids[rng.below(author_count) as usize]);
        }
        for author in chosen {
            let (reach, engagement, relevance, activity) = (rng.unit(), rng.unit(), rng.unit(), rng.unit());
            let score = 100.0 * (0.35 * reach + 0.25 * engagement + 0.2 * relevance + 0.2 * activity);
            let tier = ["nano", "micro", "mid", "macro", "mega"][rng.below(5) as usize];
            let stance = ["advocate", "neutral", "detractor"][rng.below(3) as usize];
            let components = serde_json::json!({
                "followers": 10_000, "reach": reach * 100.0, "engagementRate": 0.01, "tierMedianEngagement": 0.01,
                "engagement": engagement * 100.0, "relevance": relevance * 100.0, "activity": activity * 100.0,
                "recentMentions": 3, "authenticityPenalty": 0.0, "penalties": [], "meanSentiment": 0.2
            });
            let components = format!("\"{}\"", components.to_string().replace('"', "\"\""));
            let seen = csv_time(now - Duration::days(rng.below(30) as i64));
            writeln!(
                csv,
                "{},{},{},{author},{score:.2},{components},{tier},{stance},none,[],{},{seen},{seen},{seen},{seen}",
                rng.uuid(),
                brand.agency_id,
                brand.id,
                1 + rng.below(40),
            )
            .unwrap();
        }
        copy(
            db,
            "brand_influencer",
            "id, agency_id, brand_id, author_id, score, components, tier, stance, relationship_status, tags, \
             mention_count, first_seen_at, last_seen_at, created_at, updated_at",
            csv,
        )
        .await;

        let mut csv = String::new();
        for (mention, published) in solicitations.iter().take(TICKETS_PER_BRAND as usize) {
            let answered = rng.below(4) != 0;
            let minutes = 5 + rng.below(300) as i64;
            let (status, state, first_response, minutes_cell) = if answered {
                let state = if minutes > 240 { "breached" } else { "met" };
                ("answered", state, csv_time(*published + Duration::minutes(minutes)), minutes.to_string())
            } else {
                ("open", "on_track", String::new(), String::new())
            };
            writeln!(
                csv,
                "{},{},{},{mention},normal,{status},{},{},{first_response},{},{},{},mastodon,nano,{state},240,{minutes_cell}",
                rng.uuid(),
                brand.agency_id,
                brand.id,
                csv_time(*published + Duration::minutes(240)),
                csv_time(*published + Duration::minutes(192)),
                answered && minutes > 240,
                csv_time(*published),
                csv_time(*published),
            )
            .unwrap();
        }
        copy(
            db,
            "ticket",
            "id, agency_id, brand_id, mention_id, priority, status, due_at, at_risk_at, first_response_at, breached, \
             created_at, updated_at, network, tier, sla_state, target_minutes, first_response_minutes",
            csv,
        )
        .await;

        let mut csv = String::new();
        for kind in ["negative_spike", "value_gap"] {
            let opened = csv_time(now - Duration::hours(rng.below(48) as i64));
            writeln!(
                csv,
                "{},{},{},{kind},high,open,{opened},{opened},{{}},\"{{\"\"summary\"\":\"\"bench\"\"}}\",{opened},{opened},{opened},{}:{kind}",
                rng.uuid(),
                brand.agency_id,
                brand.id,
                brand.id,
            )
            .unwrap();
        }
        copy(
            db,
            "alert",
            "id, agency_id, brand_id, kind, severity, status, window_start, window_end, metrics, explanation, \
             opened_at, created_at, updated_at, open_key",
            csv,
        )
        .await;
    }
    // What autovacuum would have done by the time anyone looks: statistics for the
    // planner, and the visibility map that lets index-only scans skip the heap. Without
    // it, autovacuum starts during the first measure and slows whichever runs first.
    db.execute_unprepared("VACUUM ANALYZE").await.expect("VACUUM ANALYZE");
    Dataset { agencies, brands, authors: author_count, mentions: total, token: first_token.expect("an agency") }
}
