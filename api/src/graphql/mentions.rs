//! Mentions of a brand and their authors.

use super::node::{NodeKind, global_id};
use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use vigie_domain::entities::{author, mention};
use vigie_domain::mentions::{self, MentionFilter, SentimentClass};

use super::brands::{BrandValue, Network};
use super::loaders::{AuthorKey, ValuesOfBrand};
use super::pagination::{self, MentionCursor, uuid};
use super::{actor, loader, services};
use async_graphql::connection::CursorType;
use vigie_domain::scoring::values::ValueStance as DomainStance;

/// How a mention speaks of a value the brand states.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "DomainStance")]
pub enum ValueStance {
    /// Says the brand fails the value: a claim set against experience, hypocrisy or
    /// washing wording, a broken promise, irony aimed at the claim.
    Accuses,
    /// Speaks well of the brand on it.
    Praises,
    /// Touches its words without either (a complaint about packaging is not an accusation
    /// of failing a "zero plastic" value).
    Mentions,
}

/// A mention's stance on one value.
#[derive(SimpleObject)]
pub struct MentionValueStance {
    pub value: BrandValue,
    pub stance: ValueStance,
    /// The folded words that decided: the value's term first, then the cues.
    pub cues: Vec<String>,
}

/// A public profile on a network.
pub struct Author(pub author::Model);

#[Object]
impl Author {
    pub(crate) async fn id(&self) -> ID {
        global_id(NodeKind::Author, self.0.id)
    }
    async fn network(&self) -> &str {
        &self.0.network
    }
    async fn handle(&self) -> &str {
        &self.0.handle
    }
    async fn display_name(&self) -> Option<&str> {
        self.0.display_name.as_deref()
    }
    async fn profile_url(&self) -> Option<&str> {
        self.0.profile_url.as_deref()
    }
    /// As the network itself last reported it (0 when no collector has read it yet);
    /// what a pushing tool claims is on each mention (`authorFollowers`).
    async fn followers(&self) -> i64 {
        self.0.followers
    }
    async fn following(&self) -> i64 {
        self.0.following
    }
    async fn verified(&self) -> bool {
        self.0.verified
    }
    /// When the account was made, as its network says (Mastodon, X); null when no
    /// collector could tell.
    async fn account_created_at(&self) -> Option<DateTime<Utc>> {
        self.0.account_created_at
    }
}

/// How fast a solicitation needs an answer.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "vigie_domain::scoring::Priority")]
pub enum Priority {
    Low,
    Normal,
    High,
    Urgent,
}

/// Sentiment classes: scores under -0.1 are negative, over 0.1 positive.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "vigie_domain::mentions::SentimentClass")]
pub enum Sentiment {
    Positive,
    Neutral,
    Negative,
}

/// Engagement counts as the network reported them.
#[derive(SimpleObject)]
pub struct MentionMetrics {
    likes: i64,
    shares: i64,
    replies: i64,
    views: i64,
}

/// Something published about a brand.
pub struct Mention(pub mention::Model);

#[Object]
impl Mention {
    pub(crate) async fn id(&self) -> ID {
        global_id(NodeKind::Mention, self.0.id)
    }
    /// The brand it was collected or pushed for.
    async fn brand_id(&self) -> ID {
        global_id(NodeKind::Brand, self.0.brand_id)
    }
    /// The id on its network or in the pushing tool.
    async fn external_id(&self) -> &str {
        &self.0.external_id
    }
    async fn network(&self) -> &str {
        &self.0.network
    }
    async fn url(&self) -> Option<&str> {
        self.0.url.as_deref()
    }
    async fn text(&self) -> &str {
        &self.0.text
    }
    async fn lang(&self) -> Option<&str> {
        self.0.lang.as_deref()
    }
    async fn published_at(&self) -> DateTime<Utc> {
        self.0.published_at
    }
    async fn collected_at(&self) -> DateTime<Utc> {
        self.0.collected_at
    }
    /// In [0, 1]: 0.6 for the brand's name or keywords, 0.3 for its handles (or a reply
    /// or direct message to it), 0.1 for its sector.
    async fn relevance(&self) -> Option<f64> {
        self.0.relevance
    }
    /// In [-1, 1]; null until the mention is scored.
    async fn sentiment(&self) -> Option<f64> {
        self.0.sentiment
    }
    /// When scoring ran; null while it is pending.
    async fn scored_at(&self) -> Option<DateTime<Utc>> {
        self.0.scored_at
    }
    /// False when it names the brand's competitors and not the brand: it then opens no
    /// ticket or alert and makes no influencer of the brand.
    async fn about_brand(&self) -> bool {
        self.0.about_brand
    }
    /// Addresses the brand (a reply to one of its accounts, a direct message, its handle)
    /// and asks or complains.
    async fn is_solicitation(&self) -> bool {
        self.0.is_solicitation
    }
    /// Set for solicitations, from the author's tier and the sentiment.
    async fn solicitation_priority(&self) -> Option<Priority> {
        self.0.solicitation_priority.as_deref().and_then(vigie_domain::scoring::Priority::parse).map(Into::into)
    }
    /// The brand values the mention touches (by their keywords, accents and case ignored).
    async fn values(&self, ctx: &Context<'_>) -> Result<Vec<BrandValue>> {
        if self.0.value_tags.0.is_empty() {
            return Ok(Vec::new());
        }
        let values = loader(ctx).load_one(ValuesOfBrand(self.0.brand_id)).await?.unwrap_or_default();
        Ok(values.into_iter().filter(|v| self.0.value_tags.0.contains(&v.id)).map(BrandValue).collect())
    }
    /// How the mention speaks of each value it touches, with the words that decided:
    /// only `ACCUSES` counts towards a value-gap alert.
    async fn value_stances(&self, ctx: &Context<'_>) -> Result<Vec<MentionValueStance>> {
        if self.0.value_stances.0.is_empty() {
            return Ok(Vec::new());
        }
        let values = loader(ctx).load_one(ValuesOfBrand(self.0.brand_id)).await?.unwrap_or_default();
        Ok(self
            .0
            .value_stances
            .0
            .iter()
            .filter_map(|reading| {
                let value = values.iter().find(|v| v.id == reading.value_id)?;
                Some(MentionValueStance {
                    value: BrandValue(value.clone()),
                    stance: reading.stance.into(),
                    cues: reading.cues.clone(),
                })
            })
            .collect())
    }
    /// The author's follower count as this mention came with it.
    async fn author_followers(&self) -> Option<i64> {
        self.0.author_followers
    }
    async fn metrics(&self) -> MentionMetrics {
        MentionMetrics { likes: self.0.likes, shares: self.0.shares, replies: self.0.replies, views: self.0.views }
    }
    async fn in_reply_to(&self) -> Option<&str> {
        self.0.in_reply_to.as_deref()
    }

    /// The handle of the account the reply answers. A reply is addressed to the brand
    /// (and may open a ticket) only when this is one of the brand's handles.
    async fn in_reply_to_author(&self) -> Option<&str> {
        self.0.in_reply_to_author.as_deref()
    }
    /// A review's stars (1 to 5); null for other mentions.
    async fn rating(&self) -> Option<i32> {
        self.0.rating.map(i32::from)
    }
    /// Sent directly to the brand (a direct message).
    async fn direct(&self) -> bool {
        self.0.is_direct
    }
    async fn author(&self, ctx: &Context<'_>) -> Result<Option<Author>> {
        match self.0.author_id {
            None => Ok(None),
            Some(id) => Ok(loader(ctx).load_one(AuthorKey(id)).await?.map(Author)),
        }
    }
}

/// Filters on mentions.
#[derive(InputObject, Default)]
pub struct MentionFilterInput {
    network: Option<Network>,
    /// Published at or after.
    since: Option<DateTime<Utc>>,
    /// Published before.
    until: Option<DateTime<Utc>>,
    /// Words that must all occur, accents and case ignored (full-text on PostgreSQL).
    search: Option<String>,
    sentiment: Option<Sentiment>,
    /// Only solicitations (true) or only the rest (false).
    solicitation: Option<bool>,
    /// Only mentions touching this brand value.
    value_id: Option<ID>,
    /// Only mentions by this author.
    author_id: Option<ID>,
    /// Whom the mentions are about (default `BRAND`).
    subject: Option<MentionSubject>,
    /// Only mentions naming this competitor (whatever `subject` says).
    competitor_id: Option<ID>,
}

impl MentionFilterInput {
    /// The filter the domain reads.
    pub(crate) fn into_domain(self) -> Result<MentionFilter> {
        Ok(MentionFilter {
            network: self.network.map(Into::into),
            published_after: self.since,
            published_before: self.until,
            search: self.search,
            sentiment: self.sentiment.map(SentimentClass::from),
            solicitation: self.solicitation,
            value_id: self.value_id.as_ref().map(|id| uuid("valueId", id)).transpose()?,
            author_id: self.author_id.as_ref().map(|id| uuid("authorId", id)).transpose()?,
            subject: self.subject.map(Into::into).unwrap_or_default(),
            competitor_id: self.competitor_id.as_ref().map(|id| uuid("competitorId", id)).transpose()?,
        })
    }
}

/// Whom listed mentions are about.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "vigie_domain::mentions::Subject")]
pub enum MentionSubject {
    /// Mentions about the brand, those naming a competitor too included.
    Brand,
    /// Mentions that name competitors and not the brand.
    Competitors,
    /// Both.
    Any,
}

/// A brand's mentions on one UTC day.
#[derive(SimpleObject)]
pub struct SentimentDay {
    pub day: chrono::NaiveDate,
    pub mentions: i64,
    /// Sentiment at or below -0.1.
    pub negative: i64,
    /// Sentiment at or above 0.1.
    pub positive: i64,
    /// Mean sentiment of the day's scored mentions; null on a day without any.
    pub mean_sentiment: Option<f64>,
}

impl From<mentions::series::Day> for SentimentDay {
    fn from(d: mentions::series::Day) -> Self {
        SentimentDay {
            day: d.day,
            mentions: d.mentions,
            negative: d.negative,
            positive: d.positive,
            mean_sentiment: d.mean_sentiment,
        }
    }
}

#[derive(Default)]
pub struct MentionQuery;

#[Object]
impl MentionQuery {
    /// A brand's mentions, newest first.
    #[graphql(complexity = "pagination::complexity(child_complexity, first)")]
    async fn mentions(
        &self,
        ctx: &Context<'_>,
        brand_id: ID,
        filter: Option<MentionFilterInput>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<MentionCursor, Mention>> {
        let had_cursor = after.is_some();
        let after = after.map(|c| MentionCursor::decode_cursor(&c)).transpose()?.map(|c| c.0);
        let filter = filter.unwrap_or_default().into_domain()?;
        let page =
            mentions::list(services(ctx), actor(ctx)?, uuid("brandId", &brand_id)?, filter, first, after).await?;
        Ok(pagination::connection(page, had_cursor, |m| MentionCursor(mentions::MentionCursor::of(m)), Mention))
    }

    /// A brand's mentions day by day over `[from, to)` (at most 400 days), empty days
    /// included, for sentiment charts.
    #[graphql(complexity = "super::limits::AGGREGATE + child_complexity")]
    async fn sentiment_series(
        &self,
        ctx: &Context<'_>,
        brand_id: ID,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<SentimentDay>> {
        let days =
            mentions::series::sentiment_series(services(ctx), actor(ctx)?, uuid("brandId", &brand_id)?, from, to)
                .await?;
        Ok(days.into_iter().map(Into::into).collect())
    }
}
