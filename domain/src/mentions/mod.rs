//! Mentions of a brand: collected from sources or pushed through HTTP ingest, stored
//! once per (source, external id), listed newest first with filters, full-text search
//! and keyset pagination.

pub mod pipeline;
pub mod relevance;
pub mod retention;
pub mod series;
pub mod store;

pub use crate::scoring::sentiment::{NEUTRAL_BAND, SentimentClass};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, SimpleExpr};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter};
use std::collections::HashMap;
use uuid::Uuid;

use crate::entities::{author, competitor, mention, mention_competitor};
use crate::platform::pagination::{self, Page, PageRequest};
use crate::{Actor, Network, Result, Services};

/// Filters of [`list`].
#[derive(Default)]
pub struct MentionFilter {
    pub network: Option<Network>,
    pub published_after: Option<DateTime<Utc>>,
    pub published_before: Option<DateTime<Utc>>,
    /// Words that must all occur (accents and case ignored): full-text search on
    /// PostgreSQL, substring search on SQLite.
    pub search: Option<String>,
    pub sentiment: Option<SentimentClass>,
    pub solicitation: Option<bool>,
    /// Mentions that touch this brand value.
    pub value_id: Option<Uuid>,
    pub author_id: Option<Uuid>,
    /// Whom the mentions are about: the brand's own by default.
    pub subject: Subject,
    /// Mentions that name this competitor (whatever `subject` says).
    pub competitor_id: Option<Uuid>,
}

/// Whom listed mentions are about.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Subject {
    /// Mentions about the brand (those naming a competitor too included).
    #[default]
    Brand,
    /// Mentions that name competitors and not the brand.
    Competitors,
    /// Both.
    Any,
}

fn search_condition(backend: DatabaseBackend, query: &str) -> Result<Option<SimpleExpr>> {
    let words = crate::platform::text::words(query);
    if query.chars().count() > 200 {
        return Err(crate::Error::bad_input("search", "at most 200 characters"));
    }
    if words.is_empty() {
        return Ok(None);
    }
    Ok(Some(match backend {
        DatabaseBackend::Postgres => Expr::cust_with_values(
            "to_tsvector('simple', search_text) @@ plainto_tsquery('simple', $1)",
            [words.join(" ")],
        ),
        // `search_text` is the folded words joined by single spaces, so padding it with
        // spaces makes `LIKE '% word %'` a whole-word match, as the tsvector is.
        _ => words
            .into_iter()
            .map(|w| Expr::cust_with_values("(' ' || search_text || ' ') LIKE ?", [format!("% {w} %")]))
            .reduce(|a, b| a.and(b))
            .unwrap_or_else(|| Expr::val(true)),
    }))
}

/// Where a page of mentions starts: after this (publication time, id), newest first.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MentionCursor {
    pub published_at: DateTime<Utc>,
    pub id: Uuid,
}

impl MentionCursor {
    /// The cursor just after a mention.
    pub fn of(mention: &mention::Model) -> Self {
        MentionCursor { published_at: mention.published_at, id: mention.id }
    }
}

/// A visible brand's mentions, newest first (by publication time, then id), keyset
/// paginated on that pair with the `(brand_id, published_at)` index.
pub async fn list(
    services: &Services,
    actor: &Actor,
    brand_id: Uuid,
    filter: MentionFilter,
    first: Option<i32>,
    after: Option<MentionCursor>,
) -> Result<Page<mention::Model>> {
    let brand = actor.check_brand(&services.db, brand_id).await?;
    list_across(services, actor, &[brand], filter, first, after).await
}

/// The mentions of several brands (`brand_ids` as [`Actor::brands_in_view`] gives
/// them), newest first: the agency's stream. A competitor filter names a competitor of
/// one of them.
pub async fn list_across(
    services: &Services,
    actor: &Actor,
    brand_ids: &[Uuid],
    filter: MentionFilter,
    first: Option<i32>,
    after: Option<MentionCursor>,
) -> Result<Page<mention::Model>> {
    let page = PageRequest::new(first, None)?;
    // The brands go on last: one per branch when pages are merged.
    let mut select = mention::Entity::find().filter(mention::Column::AgencyId.eq(actor.agency_id));
    if let Some(network) = filter.network {
        select = select.filter(mention::Column::Network.eq(network.name()));
    }
    if let Some(since) = filter.published_after {
        select = select.filter(mention::Column::PublishedAt.gte(since));
    }
    if let Some(until) = filter.published_before {
        select = select.filter(mention::Column::PublishedAt.lt(until));
    }
    if let Some(condition) =
        filter.search.as_deref().map(|q| search_condition(services.db.get_database_backend(), q)).transpose()?.flatten()
    {
        select = select.filter(condition);
    }
    select = match filter.sentiment {
        Some(SentimentClass::Positive) => select.filter(mention::Column::Sentiment.gte(NEUTRAL_BAND)),
        Some(SentimentClass::Negative) => select.filter(mention::Column::Sentiment.lte(-NEUTRAL_BAND)),
        Some(SentimentClass::Neutral) => select.filter(mention::Column::Sentiment.between(-NEUTRAL_BAND, NEUTRAL_BAND)),
        None => select,
    };
    // The bare column, not `= $n`: the planners match it to the partial index on the
    // solicitations, which a bound value would hide from a generic plan.
    let solicitations = Expr::col((mention::Entity, mention::Column::IsSolicitation));
    select = match filter.solicitation {
        Some(true) => select.filter(solicitations),
        Some(false) => select.filter(solicitations.not()),
        None => select,
    };
    if let Some(value_id) = filter.value_id {
        // Value ids are UUIDs, so a substring of the JSON list cannot match by accident.
        select = select
            .filter(Expr::expr(Expr::col(mention::Column::ValueTags).cast_as("TEXT")).like(format!("%{value_id}%")));
    }
    if let Some(author_id) = filter.author_id {
        select = select.filter(mention::Column::AuthorId.eq(author_id));
    }
    if let Some(competitor_id) = filter.competitor_id {
        // Another brand's competitor is unknown here, as `competitiveInfluencers` says.
        let known = competitor::Entity::find_by_id(competitor_id)
            .filter(competitor::Column::BrandId.is_in(brand_ids.iter().copied()))
            .one(&services.db)
            .await?;
        if known.is_none() {
            return Err(crate::Error::NotFound("competitor"));
        }
        let named = sea_orm::sea_query::Query::select()
            .column(mention_competitor::Column::MentionId)
            .from(mention_competitor::Entity)
            .and_where(mention_competitor::Column::CompetitorId.eq(competitor_id))
            .to_owned();
        select = select.filter(mention::Column::Id.in_subquery(named));
    } else {
        select = match filter.subject {
            Subject::Brand => select.filter(Expr::cust("about_brand")),
            Subject::Competitors => select.filter(Expr::cust("NOT about_brand")),
            Subject::Any => select,
        };
    }
    let key = (mention::Column::PublishedAt, mention::Column::Id);
    let after = after.map(|cursor| (cursor.published_at, cursor.id));
    let newest_first = pagination::Direction::Descending;
    if brand_ids.len() == 1 || brand_ids.len() > pagination::MAX_MERGED {
        let select = select.filter(mention::Column::BrandId.is_in(brand_ids.iter().copied()));
        return pagination::fetch_by_key(&services.db, select, key, newest_first, after, page).await;
    }
    // Each brand's page from its `(brand_id, published_at)` index, merged.
    let per_brand = brand_ids.iter().map(|b| select.clone().filter(mention::Column::BrandId.eq(*b))).collect();
    pagination::fetch_merged_by_key(&services.db, per_brand, key, newest_first, after, page).await
}

/// Several mentions of the actor's agency at once, on brands it sees (for DataLoaders).
pub async fn get_many(db: &impl ConnectionTrait, actor: &Actor, ids: &[Uuid]) -> Result<Vec<mention::Model>> {
    Ok(mention::Entity::find()
        .filter(mention::Column::AgencyId.eq(actor.agency_id))
        .filter(mention::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?
        .into_iter()
        .filter(|m| actor.sees_brand(m.brand_id))
        .collect())
}

/// Authors by id (for DataLoaders). Authors are public profiles; callers reach them only
/// through mentions they may see.
pub async fn authors(db: &impl ConnectionTrait, ids: &[Uuid]) -> Result<HashMap<Uuid, author::Model>> {
    Ok(author::Entity::find()
        .filter(author::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?
        .into_iter()
        .map(|a| (a.id, a))
        .collect())
}
