//! The CSR calendar: pillars, content items and their review workflow, comments, the
//! audit trail, coverage, and iCal feed shares.

use super::node::{NodeKind, global_id};
use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use vigie_domain::calendar::coverage::{self, PillarCoverage};
use vigie_domain::calendar::{self, Action, ItemFilter, ItemInput, PillarInput, ical};
use vigie_domain::entities::{content_comment, content_item, content_review, csr_pillar};

use super::auth::User;
use super::brands::{BrandValue, DeletePayload};
use super::loaders::{CommentsOf, ContentLinks, PillarsOfBrand, ReviewsOf, UserKey, ValuesOfBrand};
use super::pagination::{self, Cursor, uuid};
use super::{actor, loader, services};

/// Where a content item is in its review workflow.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "vigie_domain::calendar::ContentStatus")]
pub enum ContentStatus {
    Draft,
    InReview,
    Approved,
    Scheduled,
    Published,
    Rejected,
    /// Held, by staff or by a value-gap alert on one of its values.
    OnHold,
}

/// A pillar of the brand's CSR strategy.
pub struct CsrPillar(pub csr_pillar::Model);

#[Object]
impl CsrPillar {
    pub(crate) async fn id(&self) -> ID {
        global_id(NodeKind::CsrPillar, self.0.id)
    }
    async fn brand_id(&self) -> ID {
        global_id(NodeKind::Brand, self.0.brand_id)
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn description(&self) -> &str {
        &self.0.description
    }
    async fn commitments(&self) -> &[String] {
        &self.0.commitments.0
    }
    /// Share of the brand's posts this pillar should have, 0–1.
    async fn target_share(&self) -> f64 {
        self.0.target_share
    }
}

/// A comment on a content item.
pub struct ContentComment(pub content_comment::Model);

#[Object]
impl ContentComment {
    pub(crate) async fn id(&self) -> ID {
        global_id(NodeKind::ContentComment, self.0.id)
    }
    async fn body(&self) -> &str {
        &self.0.body
    }
    /// Null for client viewers unless they wrote it: they read the agency's voice, not
    /// who in it spoke.
    async fn author(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(id) = self.0.author_user_id else { return Ok(None) };
        if !super::sees_staff_details(ctx, Some(id))? {
            return Ok(None);
        }
        Ok(loader(ctx).load_one(UserKey(id)).await?.map(User))
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// A status change of a content item.
pub struct ContentReview(content_review::Model);

#[Object]
impl ContentReview {
    async fn from_status(&self) -> ContentStatus {
        calendar::ContentStatus::parse(&self.0.from_status).into()
    }
    async fn to_status(&self) -> ContentStatus {
        calendar::ContentStatus::parse(&self.0.to_status).into()
    }
    async fn note(&self) -> Option<&str> {
        self.0.note.as_deref()
    }
    /// Who did it; null when Vigie did (a value-gap hold), and for client viewers
    /// unless they did.
    async fn reviewer(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(id) = self.0.reviewer_user_id else { return Ok(None) };
        if !super::sees_staff_details(ctx, Some(id))? {
            return Ok(None);
        }
        Ok(loader(ctx).load_one(UserKey(id)).await?.map(User))
    }
    async fn at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// A post of the calendar.
pub struct ContentItem(pub content_item::Model);

#[Object]
impl ContentItem {
    pub(crate) async fn id(&self) -> ID {
        global_id(NodeKind::ContentItem, self.0.id)
    }
    async fn brand_id(&self) -> ID {
        global_id(NodeKind::Brand, self.0.brand_id)
    }
    async fn channel(&self) -> &str {
        &self.0.channel
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn body(&self) -> &str {
        &self.0.body
    }
    /// Links to images and videos.
    async fn media(&self) -> Vec<String> {
        serde_json::from_value(self.0.media.clone()).unwrap_or_default()
    }
    async fn scheduled_at(&self) -> DateTime<Utc> {
        self.0.scheduled_at
    }
    async fn status(&self) -> ContentStatus {
        calendar::ContentStatus::parse(&self.0.status).into()
    }
    async fn published_url(&self) -> Option<&str> {
        self.0.published_url.as_deref()
    }
    /// The value-gap alert that holds it.
    async fn hold_alert_id(&self) -> Option<ID> {
        self.0.hold_alert_id.map(|id| global_id(NodeKind::Alert, id))
    }
    async fn pillars(&self, ctx: &Context<'_>) -> Result<Vec<CsrPillar>> {
        let (ids, _) = loader(ctx).load_one(ContentLinks(self.0.id)).await?.unwrap_or_default();
        let all = loader(ctx).load_one(PillarsOfBrand(self.0.brand_id)).await?.unwrap_or_default();
        Ok(all.into_iter().filter(|p| ids.contains(&p.id)).map(CsrPillar).collect())
    }
    /// The stated values it speaks to.
    async fn values(&self, ctx: &Context<'_>) -> Result<Vec<BrandValue>> {
        let (_, ids) = loader(ctx).load_one(ContentLinks(self.0.id)).await?.unwrap_or_default();
        let all = loader(ctx).load_one(ValuesOfBrand(self.0.brand_id)).await?.unwrap_or_default();
        Ok(all.into_iter().filter(|v| ids.contains(&v.id)).map(BrandValue).collect())
    }
    async fn comments(&self, ctx: &Context<'_>) -> Result<Vec<ContentComment>> {
        Ok(loader(ctx)
            .load_one(CommentsOf(self.0.id))
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(ContentComment)
            .collect())
    }
    /// Every status change, oldest first.
    async fn audit_trail(&self, ctx: &Context<'_>) -> Result<Vec<ContentReview>> {
        Ok(loader(ctx)
            .load_one(ReviewsOf(self.0.id))
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(ContentReview)
            .collect())
    }
    /// Null for client viewers unless they made it.
    async fn created_by(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(id) = self.0.created_by else { return Ok(None) };
        if !super::sees_staff_details(ctx, Some(id))? {
            return Ok(None);
        }
        Ok(loader(ctx).load_one(UserKey(id)).await?.map(User))
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// A pillar's share of a period's posts.
pub struct PillarShare(PillarCoverage);

#[Object]
impl PillarShare {
    async fn pillar(&self) -> CsrPillar {
        CsrPillar(self.0.pillar.clone())
    }
    async fn posts(&self) -> i64 {
        self.0.posts
    }
    async fn share(&self) -> f64 {
        self.0.share
    }
    async fn target_share(&self) -> f64 {
        self.0.target_share
    }
    /// share − target: negative when under-served.
    async fn gap(&self) -> f64 {
        self.0.gap
    }
    async fn last_post_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_post_at
    }
    /// No post in the `silentDays` before the period's end.
    async fn silent(&self) -> bool {
        self.0.silent
    }
}

/// Two posts on a channel closer than `minGapMinutes`.
pub struct CrowdedPosts(coverage::Crowding);

#[Object]
impl CrowdedPosts {
    async fn channel(&self) -> &str {
        &self.0.channel
    }
    async fn first(&self) -> ContentItem {
        ContentItem(self.0.first.clone())
    }
    async fn second(&self) -> ContentItem {
        ContentItem(self.0.second.clone())
    }
    async fn minutes_apart(&self) -> i64 {
        self.0.minutes_apart
    }
}

/// How a period's calendar serves the brand's CSR strategy.
pub struct CalendarCoverage(coverage::Coverage);

#[Object]
impl CalendarCoverage {
    /// Approved, scheduled and published posts in the period.
    async fn posts(&self) -> i64 {
        self.0.posts
    }
    async fn pillars(&self) -> Vec<PillarShare> {
        self.0.pillars.iter().cloned().map(PillarShare).collect()
    }
    async fn crowded(&self) -> Vec<CrowdedPosts> {
        self.0.crowded.iter().cloned().map(CrowdedPosts).collect()
    }
    /// Posts held by a value-gap alert.
    async fn held_by_alerts(&self) -> Vec<ContentItem> {
        self.0.held.iter().cloned().map(ContentItem).collect()
    }
}

/// A new pillar.
#[derive(InputObject)]
pub struct CreateCsrPillarInput {
    brand_id: ID,
    name: String,
    description: Option<String>,
    #[graphql(default)]
    commitments: Vec<String>,
    /// 0–1; the brand's pillars add up to at most 1.
    #[graphql(default)]
    target_share: f64,
}

/// Changes to a pillar.
#[derive(InputObject)]
pub struct UpdateCsrPillarInput {
    id: ID,
    name: Option<String>,
    description: Option<String>,
    commitments: Option<Vec<String>>,
    target_share: Option<f64>,
}

/// A new content item (a draft).
#[derive(InputObject)]
pub struct CreateContentItemInput {
    brand_id: ID,
    /// instagram, facebook, x, linkedin, tiktok, youtube, mastodon, bluesky, blog, newsletter or other.
    channel: String,
    title: String,
    body: Option<String>,
    #[graphql(default)]
    media: Vec<String>,
    scheduled_at: DateTime<Utc>,
    #[graphql(default)]
    pillar_ids: Vec<ID>,
    #[graphql(default)]
    value_ids: Vec<ID>,
}

/// Changes to a content item; an item past draft goes back to draft.
#[derive(InputObject)]
pub struct UpdateContentItemInput {
    id: ID,
    channel: Option<String>,
    title: Option<String>,
    body: Option<String>,
    media: Option<Vec<String>>,
    scheduled_at: Option<DateTime<Utc>>,
    pillar_ids: Option<Vec<ID>>,
    value_ids: Option<Vec<ID>>,
}

/// A feed link, shown once.
#[derive(SimpleObject)]
pub struct CalendarSharePayload {
    pub id: ID,
    /// `…/calendar/<token>.ics`, to subscribe to in a calendar application.
    pub url: String,
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// A revoked share.
#[derive(SimpleObject)]
pub struct RevokedShare {
    pub id: ID,
    pub revoked_at: Option<DateTime<Utc>>,
}

fn ids(field: &str, raw: Vec<ID>) -> Result<Vec<uuid::Uuid>> {
    Ok(raw.iter().map(|id| uuid(field, id)).collect::<vigie_domain::Result<_>>()?)
}

#[derive(Default)]
pub struct CalendarQuery;

#[Object]
impl CalendarQuery {
    /// A brand's CSR pillars.
    async fn csr_pillars(&self, ctx: &Context<'_>, brand_id: ID) -> Result<Vec<CsrPillar>> {
        let (db, actor) = (&services(ctx).db, actor(ctx)?);
        let brand = actor.brand(db, uuid("brandId", &brand_id)?).await?;
        Ok(calendar::pillars_of(db, actor, &[brand.id]).await?.into_iter().map(CsrPillar).collect())
    }

    /// A brand's calendar in schedule order, filtered by period, channel, pillar, status.
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "pagination::complexity(child_complexity, first)")]
    async fn content_items(
        &self,
        ctx: &Context<'_>,
        brand_id: ID,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        channel: Option<String>,
        pillar_id: Option<ID>,
        status: Option<ContentStatus>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<Cursor, ContentItem>> {
        let had_cursor = after.is_some();
        let filter = ItemFilter {
            from,
            to,
            channel,
            pillar_id: pillar_id.map(|p| uuid("pillarId", &p)).transpose()?,
            status: status.map(Into::into),
        };
        let page = calendar::items(
            services(ctx),
            actor(ctx)?,
            uuid("brandId", &brand_id)?,
            filter,
            pagination::request(first, after)?,
        )
        .await?;
        Ok(pagination::connection(page, had_cursor, |i| Cursor(i.id), ContentItem))
    }

    /// Share of posts per pillar against targets, silent pillars, crowded channels and
    /// posts held by alerts, for `[from, to)`.
    #[graphql(complexity = "super::limits::AGGREGATE + child_complexity")]
    async fn calendar_coverage(
        &self,
        ctx: &Context<'_>,
        brand_id: ID,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        #[graphql(default = 14)] silent_days: i64,
        #[graphql(default = 120)] min_gap_minutes: i64,
    ) -> Result<CalendarCoverage> {
        let c = coverage::coverage(
            services(ctx),
            actor(ctx)?,
            uuid("brandId", &brand_id)?,
            from,
            to,
            silent_days,
            min_gap_minutes,
        )
        .await?;
        Ok(CalendarCoverage(c))
    }
}

#[derive(Default)]
pub struct CalendarMutation;

async fn step(
    ctx: &Context<'_>,
    id: ID,
    action: Action,
    note: Option<String>,
    url: Option<String>,
) -> Result<ContentItem> {
    Ok(ContentItem(calendar::transition(services(ctx), actor(ctx)?, uuid("id", &id)?, action, note, url).await?))
}

#[Object]
impl CalendarMutation {
    /// Adds a CSR pillar (staff).
    async fn create_csr_pillar(&self, ctx: &Context<'_>, input: CreateCsrPillarInput) -> Result<CsrPillar> {
        let pillar = calendar::create_pillar(
            services(ctx),
            actor(ctx)?,
            uuid("brandId", &input.brand_id)?,
            PillarInput {
                name: Some(input.name),
                description: input.description,
                commitments: Some(input.commitments),
                target_share: Some(input.target_share),
            },
        )
        .await?;
        Ok(CsrPillar(pillar))
    }

    async fn update_csr_pillar(&self, ctx: &Context<'_>, input: UpdateCsrPillarInput) -> Result<CsrPillar> {
        let patch = PillarInput {
            name: input.name,
            description: input.description,
            commitments: input.commitments,
            target_share: input.target_share,
        };
        Ok(CsrPillar(calendar::update_pillar(services(ctx), actor(ctx)?, uuid("id", &input.id)?, patch).await?))
    }

    async fn delete_csr_pillar(&self, ctx: &Context<'_>, id: ID) -> Result<DeletePayload> {
        calendar::delete_pillar(services(ctx), actor(ctx)?, uuid("id", &id)?).await?;
        Ok(DeletePayload { deleted_id: id })
    }

    /// Drafts a post (staff).
    async fn create_content_item(&self, ctx: &Context<'_>, input: CreateContentItemInput) -> Result<ContentItem> {
        let item = calendar::create_item(
            services(ctx),
            actor(ctx)?,
            uuid("brandId", &input.brand_id)?,
            ItemInput {
                channel: Some(input.channel),
                title: Some(input.title),
                body: input.body,
                media: Some(input.media),
                scheduled_at: Some(input.scheduled_at),
                pillar_ids: Some(ids("pillarIds", input.pillar_ids)?),
                value_ids: Some(ids("valueIds", input.value_ids)?),
            },
        )
        .await?;
        Ok(ContentItem(item))
    }

    /// Edits a post; one past draft goes back to draft for another review (staff).
    async fn update_content_item(&self, ctx: &Context<'_>, input: UpdateContentItemInput) -> Result<ContentItem> {
        let patch = ItemInput {
            channel: input.channel,
            title: input.title,
            body: input.body,
            media: input.media,
            scheduled_at: input.scheduled_at,
            pillar_ids: input.pillar_ids.map(|l| ids("pillarIds", l)).transpose()?,
            value_ids: input.value_ids.map(|l| ids("valueIds", l)).transpose()?,
        };
        Ok(ContentItem(calendar::update_item(services(ctx), actor(ctx)?, uuid("id", &input.id)?, patch).await?))
    }

    /// Sends a draft (or a rejected post) for review (staff).
    async fn submit_content_item(&self, ctx: &Context<'_>, id: ID, note: Option<String>) -> Result<ContentItem> {
        step(ctx, id, Action::Submit, note, None).await
    }

    /// Approves a post in review (agency owners and admins, or the brand's client viewers).
    async fn approve_content_item(&self, ctx: &Context<'_>, id: ID, note: Option<String>) -> Result<ContentItem> {
        step(ctx, id, Action::Approve, note, None).await
    }

    /// Rejects a post in review, saying why (same reviewers as approval).
    async fn reject_content_item(&self, ctx: &Context<'_>, id: ID, note: String) -> Result<ContentItem> {
        step(ctx, id, Action::Reject, Some(note), None).await
    }

    /// Schedules an approved post (staff).
    async fn schedule_content_item(&self, ctx: &Context<'_>, id: ID) -> Result<ContentItem> {
        step(ctx, id, Action::Schedule, None, None).await
    }

    /// Marks a post published, with its URL (staff).
    async fn publish_content_item(&self, ctx: &Context<'_>, id: ID, published_url: String) -> Result<ContentItem> {
        step(ctx, id, Action::Publish, None, Some(published_url)).await
    }

    /// Puts a post on hold (staff).
    async fn hold_content_item(&self, ctx: &Context<'_>, id: ID, note: Option<String>) -> Result<ContentItem> {
        step(ctx, id, Action::Hold, note, None).await
    }

    /// Releases a held post back to approved (owners and admins).
    async fn release_content_item(&self, ctx: &Context<'_>, id: ID, note: Option<String>) -> Result<ContentItem> {
        step(ctx, id, Action::Release, note, None).await
    }

    /// Comments on a post (anyone who sees the brand, client viewers included).
    async fn comment_on_content_item(&self, ctx: &Context<'_>, id: ID, body: String) -> Result<ContentComment> {
        Ok(ContentComment(calendar::comment(services(ctx), actor(ctx)?, uuid("id", &id)?, body).await?))
    }

    /// A private iCal feed link for the brand's calendar (staff), working for
    /// `expiresInDays` (1–366, renewable with `renewShare`); revocable.
    async fn create_calendar_share(
        &self,
        ctx: &Context<'_>,
        brand_id: ID,
        #[graphql(default = 90)] expires_in_days: i64,
    ) -> Result<CalendarSharePayload> {
        let services = services(ctx);
        let brand_id = uuid("brandId", &brand_id)?;
        let (share, token) = ical::create_share(services, actor(ctx)?, brand_id, expires_in_days).await?;
        Ok(CalendarSharePayload {
            id: global_id(NodeKind::Share, share.id),
            url: ical::url(services, &token),
            token,
            expires_at: vigie_domain::shares::expiry(&share),
        })
    }

    /// Revokes an iCal feed link (staff).
    async fn revoke_calendar_share(&self, ctx: &Context<'_>, id: ID) -> Result<RevokedShare> {
        let share = ical::revoke_share(services(ctx), actor(ctx)?, uuid("id", &id)?).await?;
        Ok(RevokedShare { id: global_id(NodeKind::Share, share.id), revoked_at: share.revoked_at })
    }
}
