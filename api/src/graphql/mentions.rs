//! Mentions of a brand and their authors.

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use vigie_domain::entities::{author, mention};
use vigie_domain::mentions::{self, MentionFilter};

use super::brands::Network;
use super::loaders::AuthorKey;
use super::pagination::{self, MentionCursor, uuid};
use super::{actor, loader, services};
use async_graphql::connection::CursorType;

/// A public profile on a network.
pub struct Author(pub author::Model);

#[Object]
impl Author {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
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
    async fn followers(&self) -> i64 {
        self.0.followers
    }
    async fn following(&self) -> i64 {
        self.0.following
    }
    async fn verified(&self) -> bool {
        self.0.verified
    }
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
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
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
    async fn metrics(&self) -> MentionMetrics {
        MentionMetrics { likes: self.0.likes, shares: self.0.shares, replies: self.0.replies, views: self.0.views }
    }
    async fn in_reply_to(&self) -> Option<&str> {
        self.0.in_reply_to.as_deref()
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
        let filter = filter.unwrap_or_default();
        let filter = MentionFilter {
            network: filter.network.map(Into::into),
            published_after: filter.since,
            published_before: filter.until,
        };
        let page =
            mentions::list(services(ctx), actor(ctx)?, uuid("brandId", &brand_id)?, filter, first, after).await?;
        Ok(pagination::connection(page, had_cursor, |m| MentionCursor(mentions::MentionCursor::of(m)), Mention))
    }
}
