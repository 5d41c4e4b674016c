//! Shared reports: a brand's period, read-only, behind an expiring and revocable token
//! that opens that brand and period only — as a self-contained web page with charts
//! rendered on the server ([`html`]), as CSV per section ([`csv`]), and in GraphQL.

pub mod csv;
pub mod digests;
pub mod html;

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use std::collections::HashMap;
use uuid::Uuid;

use crate::calendar::coverage::{self, Coverage};
use crate::entities::{alert, author, brand, brand_influencer, report_share};
use crate::mentions::series::{self, Day};
use crate::scoring::influence::Components;
use crate::sla::compliance::{self, Compliance};
use crate::{Actor, Error, Result, Services, brands, now, shares};

/// The kind of share row that carries a report.
pub const KIND: &str = "report";
/// The prefix of report tokens.
pub const TOKEN_PREFIX: &str = "vgs_";
/// The sections a report can have, in page order.
pub const SECTIONS: [&str; 5] = ["mentions", "influencers", "sla", "alerts", "csr"];

/// An influencer as a report shows it.
#[derive(Clone, Debug)]
pub struct Influencer {
    pub handle: String,
    pub network: String,
    pub score: f64,
    pub tier: String,
    pub stance: String,
    pub components: Components,
}

/// A report's data.
#[derive(Clone, Debug)]
pub struct Report {
    pub brand: brand::Model,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub sections: Vec<String>,
    pub days: Vec<Day>,
    pub influencers: Vec<Influencer>,
    pub sla: Option<Compliance>,
    pub alerts: Vec<alert::Model>,
    /// Per kind, how many of the period's alerts were judged right.
    pub precision: Vec<crate::crises::KindPrecision>,
    pub csr: Option<Coverage>,
    pub generated_at: DateTime<Utc>,
}

impl Report {
    pub fn has(&self, section: &str) -> bool {
        self.sections.iter().any(|s| s == section)
    }
}

/// A share to create.
pub struct NewShare {
    pub brand_id: Uuid,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Empty: every section.
    pub sections: Vec<String>,
    pub expires_at: DateTime<Utc>,
}

/// Creates a report link (agency staff); returns the share and its token, shown once.
pub async fn create_share(
    services: &Services,
    actor: &Actor,
    input: NewShare,
) -> Result<(report_share::Model, String)> {
    actor.require_staff()?;
    let brand = brands::get(&services.db, actor, input.brand_id).await?;
    if input.to <= input.from || input.to - input.from > Duration::days(series::MAX_DAYS) {
        let message = format!("the period must end after it starts and span at most {} days", series::MAX_DAYS);
        return Err(Error::bad_input("to", message));
    }
    if input.expires_at <= now() || input.expires_at > now() + Duration::days(shares::MAX_DAYS) {
        return Err(Error::bad_input("expiresAt", "in the future, at most a year away"));
    }
    let mut sections: Vec<String> = Vec::new();
    for section in &input.sections {
        let section = section.trim().to_lowercase();
        if !SECTIONS.contains(&section.as_str()) {
            return Err(Error::bad_input(
                "sections",
                format!("unknown section `{section}`: use {}", SECTIONS.join(", ")),
            ));
        }
        if !sections.contains(&section) {
            sections.push(section);
        }
    }
    if sections.is_empty() {
        sections = SECTIONS.iter().map(|s| (*s).to_owned()).collect();
    }
    let share = shares::NewShare {
        agency_id: actor.agency_id,
        brand_id: brand.id,
        kind: KIND,
        prefix: TOKEN_PREFIX,
        period: Some((input.from, input.to)),
        sections,
        expires_at: Some(input.expires_at),
        created_by: Some(actor.user_id),
    };
    shares::create(&services.db, share).await
}

/// The link of a report token.
pub fn url(services: &Services, token: &str) -> String {
    services.config.public_link(&format!("r/{token}"))
}

/// Revokes a report link (agency staff).
pub async fn revoke_share(services: &Services, actor: &Actor, id: Uuid) -> Result<report_share::Model> {
    shares::revoke(services, actor, id, KIND, "report share").await
}

/// The report behind a token; unknown, revoked and expired tokens are all "not found".
pub async fn open(services: &Services, token: &str) -> Result<Report> {
    let db = &services.db;
    let share = shares::open(db, token, KIND, "report").await?;
    // Report links always expire; one without an end date is not one Vigie made.
    if share.expires_at.is_none() {
        return Err(Error::NotFound("report"));
    }
    let brand = brand::Entity::find_by_id(share.brand_id).one(db).await?.ok_or(Error::NotFound("report"))?;
    let (Some(from), Some(to)) = (share.period_from, share.period_to) else { return Err(Error::NotFound("report")) };
    build(db, brand, from, to, share.sections.0).await
}

/// Gathers a report's sections.
pub async fn build(
    db: &impl ConnectionTrait,
    brand: brand::Model,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    sections: Vec<String>,
) -> Result<Report> {
    let has = |s: &str| sections.iter().any(|x| x == s);
    let days = if has("mentions") { series::daily(db, brand.id, from, to).await? } else { Vec::new() };
    let influencers = if has("influencers") { top_influencers(db, brand.id).await? } else { Vec::new() };
    let sla =
        if has("sla") { Some(compliance::compliance_of(db, brand.agency_id, brand.id, from, to).await?) } else { None };
    let alerts = if has("alerts") {
        alert::Entity::find()
            .filter(alert::Column::BrandId.eq(brand.id))
            .filter(alert::Column::OpenedAt.gte(from))
            .filter(alert::Column::OpenedAt.lt(to))
            .order_by_asc(alert::Column::OpenedAt)
            .limit(200)
            .all(db)
            .await?
    } else {
        Vec::new()
    };
    let precision = if has("alerts") {
        crate::crises::verdicts::precision_of(db, brand.agency_id, brand.id, from, to).await?
    } else {
        Vec::new()
    };
    let csr = if has("csr") { Some(coverage::coverage_of(db, &brand, from, to, 14, 120).await?) } else { None };
    Ok(Report { brand, from, to, sections, days, influencers, sla, alerts, precision, csr, generated_at: now() })
}

/// The brand's ten most influential authors.
async fn top_influencers(db: &impl ConnectionTrait, brand_id: Uuid) -> Result<Vec<Influencer>> {
    let rows = brand_influencer::Entity::find()
        .filter(brand_influencer::Column::BrandId.eq(brand_id))
        .order_by_desc(brand_influencer::Column::Score)
        .order_by_desc(brand_influencer::Column::Id)
        .limit(10)
        .all(db)
        .await?;
    let authors: HashMap<Uuid, author::Model> = author::Entity::find()
        .filter(author::Column::Id.is_in(rows.iter().map(|r| r.author_id)))
        .all(db)
        .await?
        .into_iter()
        .map(|a| (a.id, a))
        .collect();
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let author = authors.get(&r.author_id)?;
            Some(Influencer {
                handle: author.handle.clone(),
                network: author.network.clone(),
                score: r.score,
                tier: r.tier.clone(),
                stance: r.stance.clone(),
                components: serde_json::from_value(r.components.clone()).ok()?,
            })
        })
        .collect())
}
