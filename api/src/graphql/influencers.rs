//! A brand's influencers, ranked, with the components of their scores.

use super::node::{NodeKind, global_id};
use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use vigie_domain::entities::{author, brand_influencer};
use vigie_domain::influencers::{self, InfluencerFilter, InfluencerOrder};
use vigie_domain::scoring::influence::Components;

use super::loaders::{AuthorKey, MemberKey};
use super::members::Member;
use super::mentions::Author;
use super::pagination::{self, Cursor, uuid};
use super::relationships::RelationshipStatus;
use super::{actor, loader, services};

fn staff(ctx: &Context<'_>) -> vigie_domain::Result<bool> {
    super::sees_staff_details(ctx, None)
}

/// Audience size: nano < 10k ≤ micro < 100k ≤ mid < 500k ≤ macro < 1M ≤ mega.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "vigie_domain::scoring::Tier")]
pub enum Tier {
    Nano,
    Micro,
    Mid,
    Macro,
    Mega,
}

/// Where an author stands toward the brand, from the mean sentiment of its mentions.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "vigie_domain::scoring::Stance")]
pub enum Stance {
    Advocate,
    Neutral,
    Detractor,
}

/// Orders of the influencer list, all descending.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Default)]
#[graphql(remote = "vigie_domain::influencers::InfluencerOrder")]
pub enum InfluencerOrderBy {
    #[default]
    Score,
    LastSeen,
    MentionCount,
}

/// What an influence score is made of: `score = 0.35 reach + 0.25 engagement +
/// 0.2 relevance + 0.2 activity − authenticityPenalty`, each component 0–100.
#[derive(SimpleObject)]
pub struct ScoreBreakdown {
    /// Followers used for reach and tier.
    followers: i64,
    /// `log10(followers + 1)` scaled so that 10 million followers give 100.
    reach: f64,
    /// Mean interactions per follower of the author's posts about the brand.
    engagement_rate: f64,
    /// The median engagement rate of the author's tier.
    tier_median_engagement: f64,
    /// 50 at the tier median, 100 at twice it.
    engagement: f64,
    /// Mean relevance of the posts to the brand, 0–100.
    relevance: f64,
    /// From the posts of the last 90 days (1: 25, 3: 50, 15: 100).
    activity: f64,
    recent_mentions: i64,
    /// Points taken off for signs of bought audience or engagement.
    authenticity_penalty: f64,
    /// Why points were taken off.
    penalties: Vec<String>,
    /// Mean sentiment of the posts, which gives the stance.
    mean_sentiment: f64,
}

impl From<Components> for ScoreBreakdown {
    fn from(c: Components) -> Self {
        ScoreBreakdown {
            followers: c.followers,
            reach: c.reach,
            engagement_rate: c.engagement_rate,
            tier_median_engagement: c.tier_median_engagement,
            engagement: c.engagement,
            relevance: c.relevance,
            activity: c.activity,
            recent_mentions: c.recent_mentions,
            authenticity_penalty: c.authenticity_penalty,
            penalties: c.penalties,
            mean_sentiment: c.mean_sentiment,
        }
    }
}

/// An author who talks about a brand, as the brand sees it.
pub struct Influencer {
    row: brand_influencer::Model,
    /// The author when it was read with the row; otherwise the DataLoader reads it.
    author: Option<author::Model>,
}

impl From<brand_influencer::Model> for Influencer {
    fn from(row: brand_influencer::Model) -> Self {
        Influencer { row, author: None }
    }
}

impl From<(brand_influencer::Model, Option<author::Model>)> for Influencer {
    fn from((row, author): (brand_influencer::Model, Option<author::Model>)) -> Self {
        Influencer { row, author }
    }
}

/// Whether a connection of influencers is asked with `author`: a list is usually shown
/// with who the authors are, and reading them in the list's statement saves a
/// statement and a round trip (the DataLoader answers when this misses, e.g. behind a
/// fragment on another type).
pub(crate) fn asks_for_authors(ctx: &Context<'_>) -> bool {
    ctx.look_ahead().field("edges").field("node").field("author").exists()
}

#[Object]
impl Influencer {
    pub(crate) async fn id(&self) -> ID {
        global_id(NodeKind::Influencer, self.row.id)
    }
    async fn brand_id(&self) -> ID {
        global_id(NodeKind::Brand, self.row.brand_id)
    }
    async fn author(&self, ctx: &Context<'_>) -> Result<Option<Author>> {
        if let Some(author) = &self.author {
            return Ok(Some(Author(author.clone())));
        }
        Ok(loader(ctx).load_one(AuthorKey(self.row.author_id)).await?.map(Author))
    }
    /// Influence, 0–100.
    async fn score(&self) -> f64 {
        self.row.score
    }
    async fn score_breakdown(&self) -> Result<ScoreBreakdown> {
        // Read from the stored JSON in place: no copy of it per influencer.
        let components = Components::deserialize(&self.row.components)
            .map_err(|e| vigie_domain::Error::internal_from("stored score components", e))?;
        Ok(components.into())
    }
    async fn tier(&self) -> Option<Tier> {
        vigie_domain::scoring::Tier::parse(&self.row.tier).map(Into::into)
    }
    async fn stance(&self) -> Option<Stance> {
        vigie_domain::scoring::Stance::parse(&self.row.stance).map(Into::into)
    }
    async fn mention_count(&self) -> i32 {
        self.row.mention_count
    }
    async fn first_seen_at(&self) -> DateTime<Utc> {
        self.row.first_seen_at
    }
    async fn last_seen_at(&self) -> DateTime<Utc> {
        self.row.last_seen_at
    }
    /// When the score first reached the brand's discovery threshold.
    async fn discovered_at(&self) -> Option<DateTime<Utc>> {
        self.row.discovered_at
    }
    /// The CRM fields below are the agency's: null for client viewers.
    async fn relationship_status(&self, ctx: &Context<'_>) -> Result<Option<RelationshipStatus>> {
        let status = vigie_domain::relationships::RelationshipStatus::parse(&self.row.relationship_status);
        Ok(staff(ctx)?.then(|| status.into()))
    }
    /// The agency member who owns the relationship.
    async fn owner(&self, ctx: &Context<'_>) -> Result<Option<Member>> {
        let Some(id) = staff(ctx)?.then_some(self.row.owner_membership_id).flatten() else { return Ok(None) };
        Ok(loader(ctx).load_one(MemberKey(id)).await?.map(Member))
    }
    async fn tags(&self, ctx: &Context<'_>) -> Result<Option<&[String]>> {
        Ok(staff(ctx)?.then_some(self.row.tags.0.as_slice()))
    }
    async fn notes(&self, ctx: &Context<'_>) -> Result<Option<&str>> {
        Ok(staff(ctx)?.then_some(self.row.notes.as_deref()).flatten())
    }
    /// Days between contacts set for this influencer (over the brand's per-tier cadence).
    async fn contact_cadence_days(&self, ctx: &Context<'_>) -> Result<Option<i32>> {
        Ok(staff(ctx)?.then_some(self.row.contact_cadence_days).flatten())
    }
    /// The latest interaction logged.
    async fn last_contact_at(&self, ctx: &Context<'_>) -> Result<Option<DateTime<Utc>>> {
        Ok(staff(ctx)?.then_some(self.row.last_contact_at).flatten())
    }
    /// When the next contact is due, if a cadence applies.
    async fn next_contact_due_at(&self, ctx: &Context<'_>) -> Result<Option<DateTime<Utc>>> {
        Ok(staff(ctx)?.then_some(self.row.next_contact_due_at).flatten())
    }
    async fn contact_overdue(&self, ctx: &Context<'_>) -> Result<Option<bool>> {
        Ok(staff(ctx)?.then(|| self.row.next_contact_due_at.is_some_and(|due| due <= vigie_domain::now())))
    }
}

#[derive(Default)]
pub struct InfluencerQuery;

#[Object]
impl InfluencerQuery {
    /// The authors who talk about a brand, most influential first (or by `orderBy`).
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "pagination::complexity(child_complexity, first)")]
    async fn influencers(
        &self,
        ctx: &Context<'_>,
        brand_id: ID,
        tier: Option<Tier>,
        stance: Option<Stance>,
        #[graphql(validator(minimum = 0, maximum = 100))] min_score: Option<f64>,
        #[graphql(default)] order_by: InfluencerOrderBy,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<Cursor, Influencer>> {
        let had_cursor = after.is_some();
        let filter = InfluencerFilter { tier: tier.map(Into::into), stance: stance.map(Into::into), min_score };
        let page = influencers::list(
            services(ctx),
            actor(ctx)?,
            uuid("brandId", &brand_id)?,
            filter,
            InfluencerOrder::from(order_by),
            pagination::request(first, after)?,
            asks_for_authors(ctx),
        )
        .await?;
        Ok(pagination::connection(page, had_cursor, |(row, _)| Cursor(row.id), Influencer::from))
    }
}
