//! Replies sent from the inbox: an answer to a ticket published on the network, as a
//! reply to the post, through the brand's connection (Bluesky today).
//!
//! Asking stores a `pending` reply and enqueues `replies.send`; the job publishes it,
//! records the post's id and link, and only then marks the ticket answered (the first
//! response time is the publication's). Passing failures (the network, 5xx, 429) are
//! retried by the job runtime; a refusal (a deleted post, a refused credential, an
//! invalid record), or the last attempt failing, leaves the reply `failed` with its
//! reason, shown on the ticket. Each reply gets its record key once, and a retry first
//! looks for a post under that key, so a crash after publishing cannot post twice. A
//! sweep re-enqueues pending replies whose job was lost.

use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

use crate::connections::bluesky::{self, PublishError};
use crate::connections::{Credential, CredentialError};
use crate::entities::{connection, mention, reply, ticket};
use crate::platform::jobs::{JobError, JobMeta, Registry};
use crate::platform::queue::{Envelope, JobPayload};
use crate::{Actor, Error, Network, Result, Services, new_id, now};

pub const PENDING: &str = "pending";
pub const PUBLISHED: &str = "published";
pub const FAILED: &str = "failed";
/// Bluesky's longest post, in graphemes; counted in characters, which is stricter.
const BLUESKY_MAX_CHARS: usize = 300;
/// A pending reply untouched this long lost its job: the sweep enqueues it again.
const STALE_AFTER: chrono::Duration = chrono::Duration::minutes(10);
const SWEEP_EVERY: Duration = Duration::from_secs(120);

/// Asks for `text` to be published as the brand's reply to the ticket's post (staff
/// who may see the ticket; the caller checked it).
pub(crate) async fn send(
    services: &Services,
    actor: &Actor,
    ticket: &ticket::Model,
    text: &str,
) -> Result<reply::Model> {
    actor.require_staff()?;
    let post = mention::Entity::find_by_id(ticket.mention_id)
        .filter(mention::Column::AgencyId.eq(ticket.agency_id))
        .one(&services.db)
        .await?
        .ok_or(Error::NotFound("mention"))?;
    if Network::parse(&post.network) != Some(Network::Bluesky) {
        return Err(Error::bad_input(
            "send",
            format!("Vigie cannot publish replies on {} yet: answer there and record it", post.network),
        ));
    }
    if !post.external_id.starts_with("at://") {
        return Err(Error::bad_input("send", "this post has no Bluesky id (at://…) to reply to"));
    }
    if text.chars().count() > BLUESKY_MAX_CHARS {
        return Err(Error::bad_input("text", format!("a Bluesky reply has at most {BLUESKY_MAX_CHARS} characters")));
    }
    let connection = connection_for(&services.db, ticket).await?.ok_or_else(|| {
        Error::bad_input("send", "no healthy Bluesky connection may answer for this brand: connect its account first")
    })?;
    let txn = crate::platform::db::begin_write(&services.db).await?;
    let sending = reply::Entity::find()
        .filter(reply::Column::TicketId.eq(ticket.id))
        .filter(reply::Column::Status.eq(PENDING))
        .one(&txn)
        .await?;
    if sending.is_some() {
        return Err(Error::Conflict("a reply to this ticket is being sent: wait for it".into()));
    }
    let at = now();
    let mut clock = [0u8; 2];
    getrandom::fill(&mut clock).map_err(|e| Error::internal_from("the random generator", e))?;
    let created = reply::ActiveModel {
        id: Set(new_id()),
        agency_id: Set(ticket.agency_id),
        brand_id: Set(ticket.brand_id),
        ticket_id: Set(ticket.id),
        connection_id: Set(Some(connection.id)),
        author_membership_id: Set(Some(actor.membership_id)),
        network: Set(post.network),
        text: Set(text.to_owned()),
        status: Set(PENDING.into()),
        record_key: Set(bluesky::tid(at, u16::from_le_bytes(clock))),
        attempts: Set(0),
        last_error: Set(None),
        external_id: Set(None),
        url: Set(None),
        published_at: Set(None),
        created_at: Set(at),
        updated_at: Set(at),
    }
    .insert(&txn)
    .await?;
    crate::platform::audit::record(
        &txn,
        actor,
        "ticket.reply_requested",
        "ticket",
        Some(ticket.id),
        serde_json::json!({ "replyId": created.id, "connectionId": connection.id }),
    )
    .await?;
    txn.commit().await?;
    // Should this fail, the sweep enqueues it within minutes.
    if let Err(e) =
        crate::platform::jobs::enqueue(services, Some(ticket.agency_id), &SendReply { reply_id: created.id }).await
    {
        tracing::warn!(reply_id = %created.id, error = %crate::platform::error::chain(&e), "cannot enqueue a reply; the sweep will");
    }
    super::tickets::announce(services, ticket).await;
    Ok(created)
}

/// The connection that answers for the ticket's brand on Bluesky: the brand's own, else
/// an agency-wide one; healthy ones only.
async fn connection_for(db: &impl ConnectionTrait, ticket: &ticket::Model) -> Result<Option<connection::Model>> {
    let candidates = connection::Entity::find()
        .filter(connection::Column::AgencyId.eq(ticket.agency_id))
        .filter(connection::Column::Network.eq(Network::Bluesky.name()))
        .filter(connection::Column::Healthy.eq(true))
        .filter(
            sea_orm::Condition::any()
                .add(connection::Column::BrandId.eq(ticket.brand_id))
                .add(connection::Column::BrandId.is_null()),
        )
        .order_by_asc(connection::Column::Id)
        .all(db)
        .await?;
    let own = candidates.iter().position(|c| c.brand_id == Some(ticket.brand_id));
    Ok(own.or(if candidates.is_empty() { None } else { Some(0) }).map(|i| candidates[i].clone()))
}

/// The replies of tickets the caller sees, oldest first.
pub async fn of_tickets(db: &impl ConnectionTrait, actor: &Actor, tickets: &[Uuid]) -> Result<Vec<reply::Model>> {
    actor.require_staff()?;
    let rows = reply::Entity::find()
        .filter(reply::Column::AgencyId.eq(actor.agency_id))
        .filter(reply::Column::TicketId.is_in(tickets.iter().copied()))
        .order_by_asc(reply::Column::Id)
        .all(db)
        .await?;
    Ok(rows.into_iter().filter(|r| actor.sees_brand(r.brand_id)).collect())
}

/// Publishes one pending reply.
#[derive(Debug, Serialize, Deserialize)]
pub struct SendReply {
    pub reply_id: Uuid,
}

impl JobPayload for SendReply {
    const KIND: &'static str = "replies.send";
}

/// Enqueues pending replies whose job was lost.
#[derive(Debug, Serialize, Deserialize)]
pub struct SweepReplies {}

impl JobPayload for SweepReplies {
    const KIND: &'static str = "replies.sweep";
}

pub(crate) fn register_jobs(registry: &mut Registry) {
    registry.register(|services: Arc<Services>, meta: JobMeta, job: SendReply| async move {
        let last = meta.attempt + 1 >= SendReply::MAX_ATTEMPTS;
        publish(&services, job.reply_id, last).await
    });
    registry.register(|services: Arc<Services>, _meta, _job: SweepReplies| async move {
        sweep(&services).await?;
        Ok(())
    });
    registry.schedule(SweepReplies::KIND, SWEEP_EVERY, |_slot| Envelope::new(None, &SweepReplies {}));
}

/// Enqueues again the pending replies nothing touched for [`STALE_AFTER`], each claimed
/// with a conditional update so that two sweeps do not both enqueue it.
pub(crate) async fn sweep(services: &Services) -> Result<usize> {
    let before = now() - STALE_AFTER;
    let stale = reply::Entity::find()
        .filter(reply::Column::Status.eq(PENDING))
        .filter(reply::Column::UpdatedAt.lt(before))
        .order_by_asc(reply::Column::UpdatedAt)
        .limit(200)
        .all(&services.db)
        .await?;
    let mut enqueued = 0;
    for row in stale {
        let claimed = reply::Entity::update_many()
            .col_expr(reply::Column::UpdatedAt, Expr::value(now()))
            .filter(reply::Column::Id.eq(row.id))
            .filter(reply::Column::UpdatedAt.eq(row.updated_at))
            .exec(&services.db)
            .await?;
        if claimed.rows_affected == 1 {
            crate::platform::jobs::enqueue(services, Some(row.agency_id), &SendReply { reply_id: row.id }).await?;
            enqueued += 1;
        }
    }
    Ok(enqueued)
}

/// Publishes reply `id` if it is still pending; `last` says this is the job's last
/// attempt, after which a passing failure is final too.
pub async fn publish(services: &Services, id: Uuid, last: bool) -> std::result::Result<(), JobError> {
    let Some(row) = reply::Entity::find_by_id(id).one(&services.db).await.map_err(Error::from)? else {
        return Ok(());
    };
    if row.status != PENDING {
        return Ok(());
    }
    reply::Entity::update_many()
        .col_expr(reply::Column::Attempts, Expr::value(row.attempts + 1))
        .col_expr(reply::Column::UpdatedAt, Expr::value(now()))
        .filter(reply::Column::Id.eq(row.id))
        .exec(&services.db)
        .await
        .map_err(Error::from)?;
    let outcome = attempt(services, &row).await;
    match outcome {
        Ok(post) => {
            published(services, &row, post).await?;
            Ok(())
        }
        Err(PublishError::Refused(reason)) => {
            failed(services, &row, &reason).await?;
            Ok(())
        }
        Err(PublishError::Transient(reason)) if last => {
            failed(services, &row, &format!("gave up after {} attempts: {reason}", row.attempts + 1)).await?;
            Ok(())
        }
        Err(PublishError::Transient(reason)) => {
            reply::Entity::update_many()
                .col_expr(reply::Column::LastError, Expr::value(reason.clone()))
                .filter(reply::Column::Id.eq(row.id))
                .exec(&services.db)
                .await
                .map_err(Error::from)?;
            Err(JobError::Retry(reason))
        }
    }
}

/// One attempt at publishing: the post's id and link.
async fn attempt(
    services: &Services,
    row: &reply::Model,
) -> std::result::Result<(bluesky::StrongRef, String), PublishError> {
    let connection = row.connection_id.ok_or_else(|| PublishError::Refused("its connection was deleted".into()))?;
    let credential = match Credential::of_connection(services, row.agency_id, connection).await {
        Ok(Some(credential)) => credential,
        Ok(None) => return Err(PublishError::Refused("its connection was deleted".into())),
        Err(e @ CredentialError::Refused(_)) => return Err(PublishError::Refused(e.to_string())),
        Err(e) => return Err(PublishError::Transient(e.to_string())),
    };
    let result = async {
        let ticket = ticket::Entity::find_by_id(row.ticket_id).one(&services.db).await.map_err(transient)?;
        let ticket = ticket.ok_or_else(|| PublishError::Refused("the ticket was deleted".into()))?;
        let post = mention::Entity::find_by_id(ticket.mention_id).one(&services.db).await.map_err(transient)?;
        let post = post.ok_or_else(|| PublishError::Refused("the post was deleted from Vigie".into()))?;
        let endpoint = credential.endpoint().await;
        let (did, handle) = credential.account().await;
        let did = did.ok_or_else(|| PublishError::Refused("the connection has no account id".into()))?;
        let existing = match row.attempts {
            // A first attempt cannot have published anything.
            0 => None,
            _ => bluesky::published(&credential, &endpoint, &did, &row.record_key).await?,
        };
        let post_ref = match existing {
            Some(found) => found,
            None => {
                let thread = bluesky::thread_of(&credential, &endpoint, &post.external_id).await?;
                bluesky::reply(&credential, &endpoint, &did, &row.record_key, &row.text, (&thread.0, &thread.1)).await?
            }
        };
        let url = bluesky::post_url(&post_ref.uri, &handle).unwrap_or_default();
        Ok((post_ref, url))
    }
    .await;
    credential.finish(result.is_ok()).await;
    result
}

fn transient(e: sea_orm::DbErr) -> PublishError {
    PublishError::Transient(format!("database: {e}"))
}

/// Records the publication, then answers the ticket with it (its first response time
/// is now, if it had none).
async fn published(services: &Services, row: &reply::Model, (post, url): (bluesky::StrongRef, String)) -> Result<()> {
    let at = now();
    // One transaction: no one sees a published reply and its ticket still unanswered.
    let txn = crate::platform::db::begin_write(&services.db).await?;
    let done = reply::Entity::update_many()
        .col_expr(reply::Column::Status, Expr::value(PUBLISHED))
        .col_expr(reply::Column::ExternalId, Expr::value(post.uri.clone()))
        .col_expr(reply::Column::Url, Expr::value(url))
        .col_expr(reply::Column::PublishedAt, Expr::value(at))
        .col_expr(reply::Column::LastError, Expr::value(Option::<String>::None))
        .col_expr(reply::Column::UpdatedAt, Expr::value(at))
        .filter(reply::Column::Id.eq(row.id))
        .filter(reply::Column::Status.eq(PENDING))
        .exec(&txn)
        .await?;
    let mut answered = None;
    if done.rows_affected == 1
        && let Some(ticket) = ticket::Entity::find_by_id(row.ticket_id).one(&txn).await?
    {
        answered =
            Some(super::tickets::record_response(&txn, ticket, row.text.clone(), row.network.clone(), at).await?);
    }
    txn.commit().await?;
    tracing::info!(reply_id = %row.id, post = %post.uri, "reply published");
    if let Some(ticket) = answered {
        super::tickets::announce(services, &ticket).await;
    }
    Ok(())
}

/// Records that the reply will not be published, and why; the ticket stays open.
async fn failed(services: &Services, row: &reply::Model, reason: &str) -> Result<()> {
    let reason: String = reason.chars().take(500).collect();
    tracing::warn!(reply_id = %row.id, %reason, "reply not published");
    reply::Entity::update_many()
        .col_expr(reply::Column::Status, Expr::value(FAILED))
        .col_expr(reply::Column::LastError, Expr::value(reason))
        .col_expr(reply::Column::UpdatedAt, Expr::value(now()))
        .filter(reply::Column::Id.eq(row.id))
        .filter(reply::Column::Status.eq(PENDING))
        .exec(&services.db)
        .await?;
    super::tickets::announce_id(services, row.agency_id, row.brand_id, row.ticket_id).await;
    Ok(())
}
