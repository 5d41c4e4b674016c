//! Report links and calendar feeds as managers oversee them: who made each, when it was
//! last opened, when it expires; renewal keeps a feed's URL working.

use super::node::{NodeKind, global_id};
use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, Object, Result};
use chrono::{DateTime, Utc};
use vigie_domain::entities::report_share;
use vigie_domain::shares::{self, ShareFilter};

use super::auth::User;
use super::loaders::UserKey;
use super::pagination::{self, Cursor, uuid};
use super::{actor, loader, services};

/// What a share token opens.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum ShareKind {
    /// A period's web report (`/r/<token>`) and its CSV files.
    Report,
    /// The iCal feed of the brand's calendar (`/calendar/<token>.ics`).
    Calendar,
}

impl ShareKind {
    fn stored(self) -> &'static str {
        match self {
            ShareKind::Report => vigie_domain::reports::KIND,
            ShareKind::Calendar => vigie_domain::calendar::ical::KIND,
        }
    }
}

/// A report link or calendar feed (its token is only shown at creation).
pub struct Share(pub report_share::Model);

#[Object]
impl Share {
    pub(crate) async fn id(&self) -> ID {
        global_id(NodeKind::Share, self.0.id)
    }
    async fn kind(&self) -> ShareKind {
        if self.0.kind == vigie_domain::calendar::ical::KIND { ShareKind::Calendar } else { ShareKind::Report }
    }
    async fn brand_id(&self) -> ID {
        global_id(NodeKind::Brand, self.0.brand_id)
    }
    /// Who made it; null when Vigie did (a digest's link) or the user is gone.
    async fn created_by(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(id) = self.0.created_by else { return Ok(None) };
        Ok(loader(ctx).load_one(UserKey(id)).await?.map(User))
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// When the link was last opened (the page, a CSV file, or the feed by a calendar).
    async fn last_opened_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_accessed_at
    }
    /// When it stops working; `renewShare` moves it.
    async fn expires_at(&self) -> DateTime<Utc> {
        shares::expiry(&self.0)
    }
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.revoked_at
    }
    /// Whether the token opens anything now.
    async fn active(&self) -> bool {
        self.0.revoked_at.is_none() && shares::expiry(&self.0) > vigie_domain::now()
    }
    /// The period a report covers; null for a feed.
    async fn from(&self) -> Option<DateTime<Utc>> {
        self.0.period_from
    }
    async fn to(&self) -> Option<DateTime<Utc>> {
        self.0.period_to
    }
    /// A report's sections; empty for a feed.
    async fn sections(&self) -> &[String] {
        &self.0.sections.0
    }
}

#[derive(Default)]
pub struct ShareQuery;

#[Object]
impl ShareQuery {
    /// A brand's report links and calendar feeds, oldest first (owners and admins).
    #[graphql(complexity = "pagination::complexity(child_complexity, first)")]
    async fn shares(
        &self,
        ctx: &Context<'_>,
        brand_id: ID,
        kind: Option<ShareKind>,
        #[graphql(default)] include_revoked: bool,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<Cursor, Share>> {
        let had_cursor = after.is_some();
        let filter = ShareFilter { kind: kind.map(ShareKind::stored), include_revoked };
        let brand_id = uuid("brandId", &brand_id)?;
        let page =
            shares::list(services(ctx), actor(ctx)?, brand_id, filter, pagination::request(first, after)?).await?;
        Ok(pagination::connection(page, had_cursor, |s| Cursor(s.id), Share))
    }
}

#[derive(Default)]
pub struct ShareMutation;

#[Object]
impl ShareMutation {
    /// Keeps a report link or calendar feed working `expiresInDays` from now (1–366),
    /// with the same URL (staff who see its brand). A revoked one cannot be renewed.
    async fn renew_share(
        &self,
        ctx: &Context<'_>,
        id: ID,
        #[graphql(default = 90)] expires_in_days: i64,
    ) -> Result<Share> {
        Ok(Share(shares::renew(services(ctx), actor(ctx)?, uuid("id", &id)?, expires_in_days).await?))
    }
}
