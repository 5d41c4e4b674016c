//! Sources a brand follows, with their health.

use super::node::{NodeKind, global_id};
use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, MaybeUndefined, Object, Result};
use chrono::{DateTime, Utc};
use vigie_domain::entities::source;
use vigie_domain::sources::{self, NewSource, SourcePatch};

use super::brands::{DeletePayload, Network};
use super::pagination::{self, Cursor, uuid};
use super::{actor, services};

/// What a source follows.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "vigie_domain::sources::SourceKind")]
pub enum SourceKind {
    /// An RSS or Atom feed URL (blog, news, youtube, forum, other).
    Feed,
    /// A Mastodon hashtag.
    Hashtag,
    /// A search query on Mastodon, Bluesky, YouTube (videos), Reddit (posts) or X
    /// (recent search syntax, retweets left out unless the query names `is:retweet`).
    Search,
    /// An account's own posts: Mastodon `user` or `user@host`, Bluesky handle or DID;
    /// on YouTube a channel id (`UC…`), whose videos' comments are read; on X a
    /// username, whose mentions are read; on Trustpilot a business unit (its domain or
    /// id), whose reviews are read with their stars; on Google a Business Profile
    /// location (`accounts/{a}/locations/{l}`), likewise.
    Account,
    /// A community's new posts and comments: a subreddit's name.
    Community,
    /// Mentions pushed to `POST /ingest/mentions` (created by the first push).
    Ingest,
}

/// A feed, hashtag or search a brand follows.
pub struct Source(pub source::Model);

#[Object]
impl Source {
    pub(crate) async fn id(&self) -> ID {
        global_id(NodeKind::Source, self.0.id)
    }
    async fn brand_id(&self) -> ID {
        global_id(NodeKind::Brand, self.0.brand_id)
    }
    async fn network(&self) -> &str {
        &self.0.network
    }
    async fn kind(&self) -> Option<SourceKind> {
        sources::SourceKind::parse(&self.0.kind).map(Into::into)
    }
    /// The feed URL, hashtag or query.
    async fn target(&self) -> &str {
        &self.0.target
    }
    /// The Mastodon instance or Bluesky AppView polled (with a connection, its
    /// endpoint instead).
    async fn endpoint(&self) -> Option<&str> {
        self.0.endpoint.as_deref()
    }
    /// The agency connection the source signs in with; null: it polls anonymously.
    async fn connection_id(&self) -> Option<ID> {
        self.0.connection_id.map(|id| global_id(NodeKind::Connection, id))
    }
    async fn poll_interval_secs(&self) -> i32 {
        self.0.poll_interval_secs
    }
    async fn enabled(&self) -> bool {
        self.0.enabled
    }
    /// False after several failed polls in a row (a `source.unhealthy` event was sent).
    async fn healthy(&self) -> bool {
        self.0.healthy
    }
    async fn consecutive_failures(&self) -> i32 {
        self.0.consecutive_failures
    }
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }
    async fn last_polled_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_polled_at
    }
    async fn last_success_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_success_at
    }
    /// Requests left in the network's rate-limit window, as its answer to the last poll
    /// said (null when it says nothing).
    async fn quota_remaining(&self) -> Option<i32> {
        self.0.quota_remaining
    }
    async fn quota_resets_at(&self) -> Option<DateTime<Utc>> {
        self.0.quota_resets_at
    }
    /// When the next poll is due (later after failures, or as a 429 asked).
    async fn next_poll_at(&self) -> Option<DateTime<Utc>> {
        self.0.next_poll_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// A new source.
#[derive(InputObject)]
pub struct CreateSourceInput {
    brand_id: ID,
    network: Network,
    kind: SourceKind,
    /// Feed URL, hashtag (without `#`) or search query.
    target: String,
    /// Mastodon instance (default `https://mastodon.social`) or Bluesky AppView
    /// (default `https://public.api.bsky.app`); none for feeds.
    endpoint: Option<String>,
    /// A Bluesky connection to search and read with (owners and admins); omitted:
    /// anonymously.
    connection_id: Option<ID>,
    /// 60 to 86,400 seconds; default 300.
    poll_interval_secs: Option<i32>,
    enabled: Option<bool>,
}

/// Changes to a source; omitted fields are unchanged. A new target starts it afresh.
#[derive(InputObject)]
pub struct UpdateSourceInput {
    id: ID,
    target: Option<String>,
    /// Null returns to the network's default.
    endpoint: MaybeUndefined<String>,
    /// Null polls anonymously again (owners and admins).
    connection_id: MaybeUndefined<ID>,
    poll_interval_secs: Option<i32>,
    enabled: Option<bool>,
}

#[derive(Default)]
pub struct SourceQuery;

#[Object]
impl SourceQuery {
    /// The sources of a brand, oldest first.
    #[graphql(complexity = "pagination::complexity(child_complexity, first)")]
    async fn sources(
        &self,
        ctx: &Context<'_>,
        brand_id: ID,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<Cursor, Source>> {
        let had_cursor = after.is_some();
        let page =
            sources::list(services(ctx), actor(ctx)?, uuid("brandId", &brand_id)?, pagination::request(first, after)?)
                .await?;
        Ok(pagination::connection(page, had_cursor, |s| Cursor(s.id), Source))
    }
}

#[derive(Default)]
pub struct SourceMutation;

#[Object]
impl SourceMutation {
    /// Follows a feed, hashtag or search for a brand; the first poll runs within seconds.
    async fn create_source(&self, ctx: &Context<'_>, input: CreateSourceInput) -> Result<Source> {
        let created = sources::create(
            services(ctx),
            actor(ctx)?,
            NewSource {
                brand_id: uuid("brandId", &input.brand_id)?,
                network: input.network.into(),
                kind: input.kind.into(),
                target: input.target,
                endpoint: input.endpoint,
                connection_id: input.connection_id.map(|id| uuid("connectionId", &id)).transpose()?,
                poll_interval_secs: input.poll_interval_secs,
                enabled: input.enabled,
            },
        )
        .await?;
        Ok(Source(created))
    }

    /// Edits a source (disable it to stop polling and keep its mentions).
    async fn update_source(&self, ctx: &Context<'_>, input: UpdateSourceInput) -> Result<Source> {
        let patch = SourcePatch {
            target: input.target,
            endpoint: input.endpoint.into(),
            connection_id: match input.connection_id {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(id) => Some(Some(uuid("connectionId", &id)?)),
            },
            poll_interval_secs: input.poll_interval_secs,
            enabled: input.enabled,
        };
        Ok(Source(sources::update(services(ctx), actor(ctx)?, uuid("id", &input.id)?, patch).await?))
    }

    /// Deletes a source and the mentions it collected.
    async fn delete_source(&self, ctx: &Context<'_>, id: ID) -> Result<DeletePayload> {
        sources::delete(services(ctx), actor(ctx)?, uuid("id", &id)?).await?;
        Ok(DeletePayload { deleted_id: id })
    }
}
