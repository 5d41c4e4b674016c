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

use crate::System;
use crate::calendar::coverage::{self, Coverage};
use crate::competition::prospects::{self, Prospect};
use crate::competition::share::{self, Granularity, ShareOfVoice};
use crate::entities::{alert, author, brand, brand_influencer, mention, report_share};
use crate::mentions::series::{self, Day};
use crate::scoring::influence::Components;
use crate::sla::compliance::{self, Compliance};
use crate::{Actor, Error, Result, Services, now, shares};

/// The kind of share row that carries a report.
pub const KIND: &str = "report";
/// The prefix of report tokens.
pub const TOKEN_PREFIX: &str = "vgs_";
/// A section of a report, in page order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    Mentions,
    Influencers,
    Sla,
    Alerts,
    Csr,
    /// Share of voice against the competitors, and the authors who talk about them.
    Competition,
}

impl Section {
    /// Every section, in page order.
    pub const ALL: [Section; 6] =
        [Section::Mentions, Section::Influencers, Section::Sla, Section::Alerts, Section::Csr, Section::Competition];

    /// The name clients and stored links use.
    pub fn as_str(self) -> &'static str {
        match self {
            Section::Mentions => "mentions",
            Section::Influencers => "influencers",
            Section::Sla => "sla",
            Section::Alerts => "alerts",
            Section::Csr => "csr",
            Section::Competition => "competition",
        }
    }

    pub fn parse(name: &str) -> Option<Section> {
        Section::ALL.into_iter().find(|section| section.as_str() == name)
    }
}

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

/// The period's reviews: how many, their mean and how many of each star (1 to 5).
#[derive(Clone, Debug, PartialEq)]
pub struct Ratings {
    pub reviews: i64,
    pub mean: f64,
    pub by_stars: [i64; 5],
}

/// A report's data.
#[derive(Clone, Debug)]
pub struct Report {
    pub brand: brand::Model,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub sections: Vec<Section>,
    pub days: Vec<Day>,
    /// The period's reviews, with the mentions section, when there are any.
    pub ratings: Option<Ratings>,
    pub influencers: Vec<Influencer>,
    pub sla: Option<Compliance>,
    pub alerts: Vec<alert::Model>,
    /// Per kind, how many of the period's alerts were judged right.
    pub precision: Vec<crate::crises::KindPrecision>,
    pub csr: Option<Coverage>,
    /// With the competition section, when the brand lists competitors.
    pub competition: Option<Competition>,
    pub generated_at: DateTime<Utc>,
}

/// The competition section: share of voice per week and over the period, and the ten
/// most influential authors who talk about competitors and not about the brand.
#[derive(Clone, Debug)]
pub struct Competition {
    pub share: ShareOfVoice,
    pub prospects: Vec<Prospect>,
}

/// Prospects a report lists.
const REPORT_PROSPECTS: usize = 10;

impl Report {
    pub fn has(&self, section: Section) -> bool {
        self.sections.contains(&section)
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
    let brand = actor.brand(&services.db, input.brand_id).await?;
    if input.to <= input.from || input.to - input.from > Duration::days(series::MAX_DAYS) {
        let message = format!("the period must end after it starts and span at most {} days", series::MAX_DAYS);
        return Err(Error::bad_input("to", message));
    }
    if input.expires_at <= now() || input.expires_at > now() + Duration::days(shares::MAX_DAYS) {
        return Err(Error::bad_input("expiresAt", "in the future, at most a year away"));
    }
    let mut sections: Vec<String> = Vec::new();
    for name in &input.sections {
        let name = name.trim().to_lowercase();
        let Some(section) = Section::parse(&name) else {
            let known: Vec<&str> = Section::ALL.iter().map(|s| s.as_str()).collect();
            return Err(Error::bad_input("sections", format!("unknown section `{name}`: use {}", known.join(", "))));
        };
        if !sections.iter().any(|kept| kept == section.as_str()) {
            sections.push(section.as_str().to_owned());
        }
    }
    if sections.is_empty() {
        sections = Section::ALL.iter().map(|s| s.as_str().to_owned()).collect();
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
    // A name this build does not know (a link made by a newer one) is left out.
    let sections = share.sections.0.iter().filter_map(|name| Section::parse(name)).collect();
    build(System::new(), db, brand, from, to, sections).await
}

/// Gathers a report's sections.
pub async fn build(
    system: System,
    db: &impl ConnectionTrait,
    brand: brand::Model,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    sections: Vec<Section>,
) -> Result<Report> {
    let has = |section: Section| sections.contains(&section);
    let days = if has(Section::Mentions) { series::daily(db, brand.id, from, to).await? } else { Vec::new() };
    let ratings = if has(Section::Mentions) { ratings_of(db, brand.id, from, to).await? } else { None };
    let influencers = if has(Section::Influencers) { top_influencers(db, brand.id).await? } else { Vec::new() };
    let sla = if has(Section::Sla) {
        Some(compliance::compliance_of(db, brand.agency_id, brand.id, from, to).await?)
    } else {
        None
    };
    let alerts = if has(Section::Alerts) {
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
    let precision = if has(Section::Alerts) {
        crate::crises::verdicts::precision_of(system, db, brand.agency_id, brand.id, from, to).await?
    } else {
        Vec::new()
    };
    let csr = if has(Section::Csr) { Some(coverage::coverage_of(db, &brand, from, to, 14, 120).await?) } else { None };
    let competition = if has(Section::Competition) { competition_of(db, &brand, from, to).await? } else { None };
    Ok(Report {
        brand,
        from,
        to,
        sections,
        days,
        ratings,
        influencers,
        sla,
        alerts,
        precision,
        csr,
        competition,
        generated_at: now(),
    })
}

async fn competition_of(
    db: &impl ConnectionTrait,
    brand: &brand::Model,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Option<Competition>> {
    let share = share::compute(db, brand.clone(), from, to, Granularity::Week, None).await?;
    if share.competitors.is_empty() {
        return Ok(None);
    }
    let own = prospects::own_accounts(brand, &share.competitors);
    let prospects = prospects::find(db, brand.id, &share.competitors, &own, None, (from, to), REPORT_PROSPECTS).await?;
    Ok(Some(Competition { share, prospects }))
}

/// The reviews published in `[from, to)`, counted per star by the database over the
/// brand's reviews alone (a partial index); `None` when there are none.
async fn ratings_of(
    db: &impl ConnectionTrait,
    brand_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Option<Ratings>> {
    use sea_orm::sea_query::Expr;
    let rows: Vec<(Option<i16>, i64)> = mention::Entity::find()
        .select_only()
        .column(mention::Column::Rating)
        .column_as(Expr::expr(sea_orm::sea_query::Func::count(Expr::col(mention::Column::Id))), "n")
        .filter(mention::Column::BrandId.eq(brand_id))
        .filter(mention::Column::PublishedAt.gte(from))
        .filter(mention::Column::PublishedAt.lt(to))
        .filter(mention::Column::Rating.is_not_null())
        .group_by(mention::Column::Rating)
        .into_tuple()
        .all(db)
        .await?;
    let mut by_stars = [0i64; 5];
    for (stars, n) in rows {
        if let Some(stars) = stars.filter(|s| (1..=5).contains(s)) {
            by_stars[(stars - 1) as usize] += n;
        }
    }
    let reviews: i64 = by_stars.iter().sum();
    if reviews == 0 {
        return Ok(None);
    }
    let total: i64 = by_stars.iter().enumerate().map(|(i, n)| (i as i64 + 1) * n).sum();
    Ok(Some(Ratings { reviews, mean: total as f64 / reviews as f64, by_stars }))
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
