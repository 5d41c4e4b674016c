//! One screen for the agency: the inbox, alerts and mentions of every brand the caller
//! may see (or of the brands it names), and one subscription for what changes in them.
//! Visibility is the caller's own: owners and admins see every brand, members the
//! brands assigned to them, client viewers their brand; naming a brand the caller may
//! not see is "not found", as for one brand.

use async_graphql::connection::{Connection, CursorType};
use async_graphql::{Context, ID, Object, Result, SimpleObject, Subscription, Union};
use chrono::{DateTime, Utc};
use futures_util::Stream;
use std::sync::Arc;
use uuid::Uuid;
use vigie_domain::platform::bus::Notice;
use vigie_domain::{Actor, Services, crises, mentions};

use super::alerts::{Alert, AlertFilterInput};
use super::live;
use super::mentions::{Mention, MentionFilterInput};
use super::node::{NodeKind, global_id};
use super::pagination::{self, Cursor, MentionCursor, uuid};
use super::sla::{Ticket, TicketFilterInput};
use super::{actor, services};

/// The brands a list or the subscription reads, checked against the caller.
async fn brands(ctx: &Context<'_>, ids: Option<Vec<ID>>) -> Result<Vec<Uuid>> {
    if ids.as_ref().is_some_and(Vec::is_empty) {
        return Err(
            vigie_domain::Error::bad_input("brandIds", "name at least one brand, or leave it out for all").into()
        );
    }
    let wanted =
        ids.unwrap_or_default().iter().map(|id| uuid("brandIds", id)).collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(actor(ctx)?.brands_in_view(&services(ctx).db, &wanted).await?)
}

#[derive(Default)]
pub struct ScreenQuery;

#[Object]
impl ScreenQuery {
    /// The inbox of every brand the caller may see, or of `brandIds`, soonest due
    /// first (agency staff).
    #[graphql(complexity = "pagination::complexity(child_complexity, first)")]
    async fn agency_inbox(
        &self,
        ctx: &Context<'_>,
        brand_ids: Option<Vec<ID>>,
        filter: Option<TicketFilterInput>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<Cursor, Ticket>> {
        actor(ctx)?.require_staff()?;
        let brands = brands(ctx, brand_ids).await?;
        let filter = filter.unwrap_or_default().into_domain()?;
        let had_cursor = after.is_some();
        let request = pagination::request(first, after)?;
        let page =
            vigie_domain::sla::tickets::list_across(services(ctx), actor(ctx)?, &brands, filter, request).await?;
        Ok(pagination::connection(page, had_cursor, |t| Cursor(t.id), Ticket))
    }

    /// The alerts of every brand the caller may see, or of `brandIds`, newest first.
    #[graphql(complexity = "pagination::complexity(child_complexity, first)")]
    async fn agency_alerts(
        &self,
        ctx: &Context<'_>,
        brand_ids: Option<Vec<ID>>,
        filter: Option<AlertFilterInput>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<Cursor, Alert>> {
        let brands = brands(ctx, brand_ids).await?;
        let had_cursor = after.is_some();
        let request = pagination::request(first, after)?;
        let filter = filter.unwrap_or_default().into();
        let page = crises::list_across(services(ctx), actor(ctx)?, &brands, filter, request).await?;
        Ok(pagination::connection(page, had_cursor, |a| Cursor(a.id), Alert))
    }

    /// The mentions of every brand the caller may see, or of `brandIds`, newest first.
    /// Each brand's page is read from its own index and the pages merged, so the cost
    /// grows with the number of brands, not with their mentions.
    #[graphql(complexity = "pagination::complexity(child_complexity, first)")]
    async fn agency_mentions(
        &self,
        ctx: &Context<'_>,
        brand_ids: Option<Vec<ID>>,
        filter: Option<MentionFilterInput>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<MentionCursor, Mention>> {
        let brands = brands(ctx, brand_ids).await?;
        let had_cursor = after.is_some();
        let after = after.map(|c| MentionCursor::decode_cursor(&c)).transpose()?.map(|c| c.0);
        let filter = filter.unwrap_or_default().into_domain()?;
        let page = mentions::list_across(services(ctx), actor(ctx)?, &brands, filter, first, after).await?;
        Ok(pagination::connection(page, had_cursor, |m| MentionCursor(mentions::MentionCursor::of(m)), Mention))
    }
}

/// New mentions of a brand were stored; fetch them with `agencyMentions` or `mentions`.
#[derive(SimpleObject)]
pub struct MentionsAdded {
    /// The brand they were stored for.
    brand_id: ID,
    /// How many new ones (mentions collected again are not counted).
    count: i32,
    /// The newest publication time among them.
    newest_published_at: DateTime<Utc>,
}

/// What changed on the agency's screen.
#[derive(Union)]
pub enum AgencyUpdate {
    /// A ticket opened or changed (agency staff only).
    Ticket(Ticket),
    /// An alert opened, changed or was resolved.
    Alert(Alert),
    MentionsAdded(MentionsAdded),
}

/// What a notice names, before it is loaded with the subscriber's rights.
enum Changed {
    Ticket(Uuid),
    Alert(Uuid),
    Mentions(Uuid, u32, DateTime<Utc>),
}

#[derive(Default)]
pub struct ScreenSubscription;

#[Subscription]
impl ScreenSubscription {
    /// Tickets (for agency staff), alerts and stored mentions of every brand the
    /// caller may see, or of `brandIds`, as they change.
    async fn agency_updates(
        &self,
        ctx: &Context<'_>,
        brand_ids: Option<Vec<ID>>,
    ) -> Result<impl Stream<Item = AgencyUpdate> + use<>> {
        let services: Arc<Services> = services(ctx).clone();
        let actor: Actor = actor(ctx)?.clone();
        let brands = brands(ctx, brand_ids).await?;
        let (agency, staff) = (actor.agency_id(), actor.is_staff());
        let pick = move |notice: &Notice| {
            let (agency_id, brand_id, changed) = match notice {
                Notice::Ticket { agency_id, brand_id, ticket_id } if staff => {
                    (agency_id, brand_id, Changed::Ticket(*ticket_id))
                }
                Notice::Alert { agency_id, brand_id, alert_id } => (agency_id, brand_id, Changed::Alert(*alert_id)),
                Notice::Mentions { agency_id, brand_id, count, newest } => {
                    (agency_id, brand_id, Changed::Mentions(*brand_id, *count, *newest))
                }
                _ => return None,
            };
            (*agency_id == agency && brands.binary_search(brand_id).is_ok()).then_some(changed)
        };
        let load = |services: Arc<Services>, actor: Actor, changed: Changed| async move {
            let db = &services.db;
            match changed {
                Changed::Ticket(id) => {
                    vigie_domain::sla::tickets::get(db, &actor, id).await.ok().map(|t| AgencyUpdate::Ticket(Ticket(t)))
                }
                Changed::Alert(id) => crises::get(db, &actor, id).await.ok().map(|a| AgencyUpdate::Alert(Alert(a))),
                Changed::Mentions(brand, count, newest) => {
                    // The brands were checked at subscription; a lost one ends the socket.
                    actor.sees_brand(brand).then_some(())?;
                    Some(AgencyUpdate::MentionsAdded(MentionsAdded {
                        brand_id: global_id(NodeKind::Brand, brand),
                        count: i32::try_from(count).unwrap_or(i32::MAX),
                        newest_published_at: newest,
                    }))
                }
            }
        };
        Ok(live::objects(services, actor, pick, load).await)
    }
}
