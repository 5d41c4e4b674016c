//! Replies sent from the inbox: an answer to a ticket published on the network, as a
//! reply to the post, through the brand's own connection (Bluesky posts and YouTube
//! comments).
//!
//! Asking stores a `pending` reply (one per ticket at a time: a unique index) and
//! enqueues `replies.send`. The job claims the reply (its attempt count and a lease,
//! by a conditional update), publishes it, records the post's id and link, and only
//! then marks the ticket answered (the first response time is the publication's).
//! A passing failure (the network, 5xx, 429) schedules the next attempt with a growing
//! wait, or the network's `Retry-After`; `replies.sweep` enqueues the replies due, and
//! those whose attempt died with its worker when the lease runs out. A refusal (a
//! deleted post, a refused credential, a closed ticket, an author who left the brand),
//! or the last attempt failing, leaves the reply `failed` with its reason.
//!
//! Before posting again, and before recording a failure, Vigie looks for what an
//! earlier attempt may have published, so a reply is never posted twice nor shown
//! failed while it is live: on Bluesky by the record key each reply gets once (the
//! network refuses a second post under it), on YouTube, which takes no key, among the
//! connection's replies under the comment since the reply was asked for.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use unicode_segmentation::UnicodeSegmentation;
use uuid::Uuid;

use super::tickets::TicketStatus;
use crate::connections::{
    Credential, PublishError, Published, bluesky, google, linkedin, mastodon, meta, reddit, x, youtube,
};
use crate::entities::{connection, membership, mention, reply, ticket};
use crate::platform::jobs::{JobError, Registry};
use crate::platform::queue::{Envelope, JobPayload};
use crate::{Actor, Error, Network, Result, Services, new_id, now};

pub const PENDING: &str = "pending";
pub const PUBLISHED: &str = "published";
pub const FAILED: &str = "failed";
/// Bluesky's longest post, in graphemes.
const BLUESKY_MAX_GRAPHEMES: usize = 300;
/// The waits before each new attempt after a passing failure; past the last, the reply
/// fails (about two hours after it was asked for).
const RETRY_WAITS: [i64; 7] = [30, 60, 120, 300, 600, 1_800, 3_600];
/// How long an attempt holds its reply: one that outlives it died with its worker.
const LEASE: chrono::Duration = chrono::Duration::minutes(5);
/// An attempt ends well within its lease.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(180);
const SWEEP_EVERY: Duration = Duration::from_secs(30);

/// Asks for `text` to be published as the brand's reply to the ticket's post (staff
/// who may see the ticket; the caller checked it).
pub(crate) async fn send(
    services: &Services,
    actor: &Actor,
    ticket: &ticket::Model,
    text: &str,
) -> Result<reply::Model> {
    actor.require_staff()?;
    let post = post_of(&services.db, ticket).await?.ok_or(Error::NotFound("mention"))?;
    let network = Network::parse(&post.network);
    match network {
        Some(Network::Bluesky) => {
            if !post.external_id.starts_with("at://") {
                return Err(Error::bad_input("send", "this post has no Bluesky id (at://…) to reply to"));
            }
            if text.graphemes(true).count() > BLUESKY_MAX_GRAPHEMES {
                return Err(Error::bad_input(
                    "text",
                    format!("a Bluesky reply has at most {BLUESKY_MAX_GRAPHEMES} characters"),
                ));
            }
        }
        Some(Network::Youtube) => {
            // A comment's link names it (`lc=`) and its id starts `Ug`; a video (found by
            // a search) takes a comment, not a reply, and would spend 50 units for a
            // refusal.
            let comment = youtube::comment_of(post.url.as_deref()).is_some() || post.external_id.starts_with("Ug");
            if !comment {
                return Err(Error::bad_input("send", "Vigie answers YouTube comments, not videos: comment there"));
            }
            if text.chars().count() > youtube::MAX_COMMENT_CHARS {
                return Err(Error::bad_input(
                    "text",
                    format!("a YouTube comment has at most {} characters", youtube::MAX_COMMENT_CHARS),
                ));
            }
        }
        Some(Network::Reddit) => {
            if !(post.external_id.starts_with("t1_") || post.external_id.starts_with("t3_")) {
                return Err(Error::bad_input("send", "this post has no Reddit id (t1_… or t3_…) to reply to"));
            }
            if text.chars().count() > reddit::MAX_COMMENT_CHARS {
                return Err(Error::bad_input(
                    "text",
                    format!("a Reddit comment has at most {} characters", reddit::MAX_COMMENT_CHARS),
                ));
            }
        }
        Some(Network::Google) => {
            // Only a review one of the brand's own location sources collected: a name
            // pushed through ingest could be any place the connection's user manages.
            let source = collecting_account(&services.db, ticket, &post).await?;
            let watched = source.is_some_and(|s| {
                post.external_id.strip_prefix(s.target.as_str()).is_some_and(|r| r.starts_with("/reviews/"))
            });
            if !google::is_review_name(&post.external_id) || !watched {
                return Err(Error::bad_input(
                    "send",
                    "Vigie answers the Google reviews its own location sources collected: answer this one on Google",
                ));
            }
            if text.len() > google::MAX_REPLY_BYTES {
                return Err(Error::bad_input(
                    "text",
                    format!("a reply to a Google review has at most {} bytes", google::MAX_REPLY_BYTES),
                ));
            }
        }
        Some(network @ (Network::Facebook | Network::Instagram)) => {
            // Only what one of the brand's own Page or account sources collected: the
            // connection that answers must own the post it is under.
            let source = collecting_account(&services.db, ticket, &post).await?;
            // Comments, and on Facebook visitors' posts on the Page itself; not posts
            // elsewhere that tag it, nor Instagram media (the account's or tagging it).
            let answerable = post.in_reply_to.is_some()
                || (network == Network::Facebook
                    && source.as_ref().is_some_and(|s| post.external_id.starts_with(&format!("{}_", s.target))));
            if !meta::is_id(&post.external_id) || source.is_none() || !answerable {
                return Err(Error::bad_input(
                    "send",
                    "Vigie answers the comments its own Page and Instagram sources collected: answer this one there",
                ));
            }
            let max = if network == Network::Facebook { meta::MAX_FACEBOOK_CHARS } else { meta::MAX_INSTAGRAM_CHARS };
            if text.chars().count() > max {
                return Err(Error::bad_input("text", format!("a comment there has at most {max} characters")));
            }
        }
        Some(Network::Linkedin) => {
            // A comment one of the brand's organisation sources collected: only that
            // organisation may answer under its post.
            let source = collecting_account(&services.db, ticket, &post).await?;
            if !linkedin::is_comment_urn(&post.external_id) || source.is_none() {
                return Err(Error::bad_input(
                    "send",
                    "Vigie answers the comments its own LinkedIn page sources collected: answer this one there",
                ));
            }
            if text.chars().count() > linkedin::MAX_COMMENT_CHARS {
                return Err(Error::bad_input(
                    "text",
                    format!("a LinkedIn comment has at most {} characters", linkedin::MAX_COMMENT_CHARS),
                ));
            }
        }
        Some(Network::Mastodon) => {
            // Its ActivityPub URI, which the account's instance resolves.
            if !post.external_id.starts_with("https://") || !crate::platform::text::is_web_link(&post.external_id) {
                return Err(Error::bad_input("send", "this post has no Mastodon URI (https://…) to reply to"));
            }
            // The author's address goes first: the text keeps room for it.
            if text.chars().count() + 64 > mastodon::MAX_CHARS {
                return Err(Error::bad_input(
                    "text",
                    format!("a Mastodon reply has at most {} characters with its @address", mastodon::MAX_CHARS - 64),
                ));
            }
        }
        Some(Network::X) => {
            if !x::is_id(&post.external_id) {
                return Err(Error::bad_input("send", "this post has no X id (digits) to reply to"));
            }
            if x::weighted_length(text) > x::MAX_POST_WEIGHT {
                return Err(Error::bad_input(
                    "text",
                    format!(
                        "an X post has at most {} characters (links count 23, emoji and CJK characters 2)",
                        x::MAX_POST_WEIGHT
                    ),
                ));
            }
        }
        _ => {
            return Err(Error::bad_input(
                "send",
                format!("Vigie cannot publish replies on {} yet: answer there and record it", post.network),
            ));
        }
    }
    let network = network.unwrap_or(Network::Other);
    let connection = reply_connection(&services.db, ticket, &post, network).await?.ok_or_else(|| {
        let name = match network {
            Network::Youtube => "YouTube",
            Network::Reddit => "Reddit",
            Network::X => "X",
            Network::Google => "Google Business Profile",
            Network::Facebook => "Facebook",
            Network::Instagram => "Instagram",
            Network::Mastodon => "Mastodon",
            Network::Linkedin => "LinkedIn",
            _ => "Bluesky",
        };
        Error::bad_input(
            "send",
            format!("the brand has no healthy {name} connection of its own: a manager connects its account"),
        )
    })?;
    let at = now();
    let mut clock = [0u8; 2];
    getrandom::fill(&mut clock).map_err(|e| Error::internal_from("the random generator", e))?;
    let txn = crate::platform::db::begin_write(&services.db).await?;
    let in_flight = reply::Entity::find()
        .filter(reply::Column::TicketId.eq(ticket.id))
        .filter(reply::Column::Status.eq(PENDING))
        .one(&txn)
        .await?;
    if in_flight.is_some() {
        return Err(Error::Conflict("a reply to this ticket is being sent: wait for it".into()));
    }
    // Two requests racing past the check above meet the unique index (a `CONFLICT`).
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
        next_attempt_at: Set(Some(at)),
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
    // Should this fail, the sweep enqueues it within a minute.
    if let Err(e) =
        crate::platform::jobs::enqueue(services, Some(ticket.agency_id), &SendReply { reply_id: created.id }).await
    {
        tracing::warn!(reply_id = %created.id, error = %crate::platform::error::chain(&e), "cannot enqueue a reply; the sweep will");
    }
    super::tickets::announce(services, ticket).await;
    Ok(created)
}

/// The brand's own account source, on the post's network, that collected `post`: on
/// the networks where a pushed id could name any place or post (Google, Meta,
/// LinkedIn), only what such a source collected is answered.
async fn collecting_account(
    db: &impl ConnectionTrait,
    ticket: &ticket::Model,
    post: &mention::Model,
) -> Result<Option<crate::entities::source::Model>> {
    use crate::entities::source;
    Ok(source::Entity::find_by_id(post.source_id)
        .filter(source::Column::AgencyId.eq(ticket.agency_id))
        .filter(source::Column::BrandId.eq(ticket.brand_id))
        .filter(source::Column::Network.eq(post.network.clone()))
        .filter(source::Column::Kind.eq("account"))
        .one(db)
        .await?)
}

/// The ticket's post.
async fn post_of(db: &impl ConnectionTrait, ticket: &ticket::Model) -> Result<Option<mention::Model>> {
    Ok(mention::Entity::find_by_id(ticket.mention_id)
        .filter(mention::Column::AgencyId.eq(ticket.agency_id))
        .one(db)
        .await?)
}

/// The connection a reply to `post` goes out through: the one that collected it, when
/// it is the brand's own (a brand may hold several channels, and a comment is answered
/// from the one it was made on), else the brand's first.
async fn reply_connection(
    db: &impl ConnectionTrait,
    ticket: &ticket::Model,
    post: &mention::Model,
    network: Network,
) -> Result<Option<connection::Model>> {
    let collected_with = crate::entities::source::Entity::find_by_id(post.source_id)
        .filter(crate::entities::source::Column::AgencyId.eq(ticket.agency_id))
        .one(db)
        .await?
        .and_then(|source| source.connection_id);
    if let Some(id) = collected_with {
        let own = connection::Entity::find_by_id(id)
            .filter(connection::Column::AgencyId.eq(ticket.agency_id))
            .filter(connection::Column::BrandId.eq(ticket.brand_id))
            .filter(connection::Column::Network.eq(network.name()))
            .filter(connection::Column::Healthy.eq(true))
            .one(db)
            .await?;
        if own.is_some() {
            return Ok(own);
        }
    }
    if matches!(network, Network::Facebook | Network::Instagram | Network::Linkedin) {
        // A comment is answered by the Page, account or organisation it was made on.
        return Ok(None);
    }
    own_connection(db, ticket, network).await
}

/// The brand's own healthy connection on `network`: a reply speaks as the brand, so
/// never through an agency-wide account, which may be another brand's or the agency's.
async fn own_connection(
    db: &impl ConnectionTrait,
    ticket: &ticket::Model,
    network: Network,
) -> Result<Option<connection::Model>> {
    Ok(connection::Entity::find()
        .filter(connection::Column::AgencyId.eq(ticket.agency_id))
        .filter(connection::Column::BrandId.eq(ticket.brand_id))
        .filter(connection::Column::Network.eq(network.name()))
        .filter(connection::Column::Healthy.eq(true))
        .order_by_asc(connection::Column::Id)
        .one(db)
        .await?)
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

/// Publishes one pending reply, if it is due.
#[derive(Debug, Serialize, Deserialize)]
pub struct SendReply {
    pub reply_id: Uuid,
}

impl JobPayload for SendReply {
    const KIND: &'static str = "replies.send";
}

/// Enqueues the pending replies that are due.
#[derive(Debug, Serialize, Deserialize)]
pub struct SweepReplies {}

impl JobPayload for SweepReplies {
    const KIND: &'static str = "replies.sweep";
}

pub(crate) fn register_jobs(registry: &mut Registry) {
    registry.register(|services: Arc<Services>, _meta, job: SendReply| async move {
        publish(&services, job.reply_id).await.map_err(JobError::from)
    });
    registry.register(|services: Arc<Services>, _meta, _job: SweepReplies| async move {
        sweep(&services).await?;
        Ok(())
    });
    registry.schedule(SweepReplies::KIND, SWEEP_EVERY, |_slot| Envelope::new(None, &SweepReplies {}));
}

/// Enqueues the pending replies whose next attempt is due (or whose attempt's lease
/// ran out); the job's claim keeps a reply enqueued twice from being tried twice.
pub async fn sweep(services: &Services) -> Result<usize> {
    let due = reply::Entity::find()
        .filter(reply::Column::Status.eq(PENDING))
        .filter(reply::Column::NextAttemptAt.lte(now()))
        .order_by_asc(reply::Column::NextAttemptAt)
        .limit(200)
        .all(&services.db)
        .await?;
    for row in &due {
        crate::platform::jobs::enqueue(services, Some(row.agency_id), &SendReply { reply_id: row.id }).await?;
    }
    Ok(due.len())
}

/// Makes one attempt at publishing reply `id`, if it is pending and due.
pub async fn publish(services: &Services, id: Uuid) -> Result<()> {
    let Some(row) = reply::Entity::find_by_id(id).one(&services.db).await? else { return Ok(()) };
    let at = now();
    if row.status != PENDING || row.next_attempt_at.is_some_and(|due| due > at) {
        return Ok(());
    }
    // Attempts that died without an answer (a crash, a cut-off job) end here too, once
    // the last one's post is known not to exist.
    if row.attempts as usize > RETRY_WAITS.len() {
        return match last_look(services, &row).await {
            Ok(Some(post)) => published(services, &row, row.attempts, post).await,
            Ok(None) => failed(services, &row, row.attempts, &format!("gave up after {} attempts", row.attempts)).await,
            Err(PublishError::Refused(reason)) => failed(services, &row, row.attempts, &reason).await,
            // Not known yet: looked for again after a lease's time.
            Err(PublishError::Transient { .. }) => {
                reply::Entity::update_many()
                    .col_expr(reply::Column::NextAttemptAt, Expr::value(at + LEASE))
                    .filter(reply::Column::Id.eq(row.id))
                    .filter(reply::Column::Status.eq(PENDING))
                    .filter(reply::Column::Attempts.eq(row.attempts))
                    .exec(&services.db)
                    .await?;
                Ok(())
            }
        };
    }
    // The claim: one attempt at a time, even with the reply enqueued twice.
    let claimed = reply::Entity::update_many()
        .col_expr(reply::Column::Attempts, Expr::value(row.attempts + 1))
        .col_expr(reply::Column::NextAttemptAt, Expr::value(at + LEASE))
        .col_expr(reply::Column::UpdatedAt, Expr::value(at))
        .filter(reply::Column::Id.eq(row.id))
        .filter(reply::Column::Status.eq(PENDING))
        .filter(reply::Column::Attempts.eq(row.attempts))
        .exec(&services.db)
        .await?;
    if claimed.rows_affected == 0 {
        return Ok(());
    }
    let attempts = row.attempts + 1;
    match attempt(services, &row).await {
        Ok(post) => published(services, &row, attempts, post).await,
        Err(PublishError::Refused(reason)) => failed(services, &row, attempts, &reason).await,
        Err(PublishError::Transient { reason, .. }) if attempts as usize > RETRY_WAITS.len() => {
            failed(services, &row, attempts, &format!("gave up after {attempts} attempts: {reason}")).await
        }
        Err(PublishError::Transient { reason, retry_after }) => {
            let wait = chrono::Duration::seconds(RETRY_WAITS[(attempts as usize - 1).min(RETRY_WAITS.len() - 1)]);
            let asked = retry_after.and_then(|d| chrono::Duration::from_std(d).ok()).unwrap_or_default();
            let next = now() + wait.max(asked).min(chrono::Duration::hours(6));
            tracing::info!(reply_id = %row.id, attempts, %reason, %next, "reply not published yet; will retry");
            reply::Entity::update_many()
                .col_expr(reply::Column::LastError, Expr::value(reason))
                .col_expr(reply::Column::NextAttemptAt, Expr::value(next))
                .col_expr(reply::Column::UpdatedAt, Expr::value(now()))
                .filter(reply::Column::Id.eq(row.id))
                .filter(reply::Column::Status.eq(PENDING))
                .filter(reply::Column::Attempts.eq(attempts))
                .exec(&services.db)
                .await?;
            Ok(())
        }
    }
}

/// What a passing database failure shows on the reply; the details go to the log.
fn database(e: impl std::fmt::Display) -> PublishError {
    tracing::warn!(error = %e, "a reply's attempt met a database error");
    PublishError::Transient { reason: "a database error (logged)".into(), retry_after: None }
}

/// One attempt at publishing: the post's reference and link.
async fn attempt(services: &Services, row: &reply::Model) -> std::result::Result<Published, PublishError> {
    let db = &services.db;
    let ticket = ticket_of(services, row).await?;
    if TicketStatus::parse(&ticket.status) == TicketStatus::Closed {
        return Err(PublishError::Refused("the ticket was closed before the reply went out".into()));
    }
    // The reply speaks for whoever asked: they must still work on the brand.
    let author = match row.author_membership_id {
        Some(id) => membership::Entity::find_by_id(id).one(db).await.map_err(database)?,
        None => None,
    };
    let author = match author {
        Some(member) => Some(Actor::from_membership(db, member).await.map_err(database)?),
        None => None,
    };
    if !author.is_some_and(|a| a.is_staff() && a.sees_brand(row.brand_id)) {
        return Err(PublishError::Refused("its author no longer works on the brand".into()));
    }
    let post = post_of(db, &ticket).await.map_err(database)?;
    let post = post.ok_or_else(|| PublishError::Refused("the post was deleted from Vigie".into()))?;
    let connection = row.connection_id.ok_or_else(|| PublishError::Refused("its connection was deleted".into()))?;
    let credential = match Credential::of_connection(services, row.agency_id, connection).await {
        Ok(Some(credential)) => credential,
        Ok(None) => return Err(PublishError::Refused("its connection was deleted".into())),
        Err(e) => return Err(e.into()),
    };
    // Within its lease, so that no second attempt starts while this one runs. A token
    // renewal cut short here may lose its new tokens: the next attempt then signs in
    // again (backing off on failures). The credential's health is always recorded.
    let work = async {
        match Network::parse(&row.network) {
            Some(Network::Bluesky) => on_bluesky(&credential, row, &post).await,
            network if keyless(network) => on_keyless(&credential, row, &post).await,
            _ => Err(PublishError::Refused(format!("Vigie cannot publish on {}", row.network))),
        }
    };
    let result = match tokio::time::timeout(ATTEMPT_TIMEOUT, work).await {
        Ok(result) => result,
        Err(_) => Err(PublishError::Transient { reason: "the attempt timed out".into(), retry_after: None }),
    };
    credential.finish(result.is_ok()).await;
    result
}

/// Whether Vigie publishes on `network` without a key of its own to find an earlier
/// attempt by (all but Bluesky, whose record key is one).
fn keyless(network: Option<Network>) -> bool {
    matches!(
        network,
        Some(
            Network::Youtube
                | Network::Reddit
                | Network::X
                | Network::Google
                | Network::Facebook
                | Network::Instagram
                | Network::Mastodon
                | Network::Linkedin
        )
    )
}

/// A reply on Bluesky under its record key: the post found under it (an earlier
/// attempt's), or a new one.
async fn on_bluesky(
    credential: &Credential<'_>,
    row: &reply::Model,
    post: &mention::Model,
) -> std::result::Result<Published, PublishError> {
    let endpoint = credential.endpoint().await;
    let (did, handle) = credential.account().await;
    let did = did.ok_or_else(|| PublishError::Refused("the connection has no account id".into()))?;
    let expected = format!("at://{did}/app.bsky.feed.post/{}", row.record_key);
    // A previous attempt may have published it before its worker died.
    let found = match row.attempts {
        0 => None,
        _ => bluesky::find_post(credential, &endpoint, &did, &row.record_key).await?,
    };
    let post_ref = match found {
        Some(found) => found,
        None => {
            let thread = bluesky::thread_of(credential, &endpoint, &post.external_id).await?;
            let posted =
                bluesky::reply(credential, &endpoint, &did, &row.record_key, &row.text, (&thread.0, &thread.1)).await;
            match posted {
                Ok(post_ref) => post_ref,
                // The call may have gone through (a timeout, a second attempt racing
                // the first): the key says whether the post exists.
                Err(e) => match bluesky::find_post(credential, &endpoint, &did, &row.record_key).await {
                    Ok(Some(found)) => found,
                    _ => return Err(e),
                },
            }
        }
    };
    if post_ref.uri != expected {
        return Err(PublishError::Refused("Bluesky answered with the id of another post".into()));
    }
    let url = bluesky::post_url(&post_ref.uri, &handle).unwrap_or_default();
    Ok(Published { id: post_ref.uri, url })
}

/// A reply on a network that takes no idempotency key (YouTube comments, Reddit, X), or
/// whose one reply a retry would overwrite (Google reviews): the
/// account's reply to the post with this text, made since the reply was asked for (an
/// earlier attempt's), or a new one.
async fn on_keyless(
    credential: &Credential<'_>,
    row: &reply::Model,
    post: &mention::Model,
) -> std::result::Result<Published, PublishError> {
    let taken = recorded(credential.services(), row).await?;
    if row.attempts > 0
        && let Some(found) = find_keyless(credential, row, post, &taken).await?
    {
        return Ok(found);
    }
    let posted = match Network::parse(&row.network) {
        Some(Network::Youtube) => {
            let video = youtube::video_of(post.url.as_deref());
            youtube::reply(credential, &post.external_id, video.as_deref(), &row.text).await
        }
        Some(Network::X) => x::reply(credential, &post.external_id, &row.text).await,
        Some(Network::Google) => google::reply(credential, &post.external_id, &row.text, post.url.as_deref()).await,
        Some(network @ (Network::Facebook | Network::Instagram)) => {
            let target = (post.external_id.as_str(), post.in_reply_to.is_some());
            meta::reply(credential, network, target, &row.text, post.url.as_deref()).await
        }
        // Mastodon takes a key for an hour: the reply's id.
        Some(Network::Mastodon) => {
            let author = author_of(credential.services(), post).await?;
            mastodon::reply(credential, (&post.external_id, &author), &row.text, &row.id.to_string()).await
        }
        Some(Network::Linkedin) => {
            linkedin::reply(credential, &post.external_id, post.in_reply_to.as_deref(), &row.text).await
        }
        _ => reddit::reply(credential, &post.external_id, &row.text).await,
    };
    match posted {
        Ok(published) => Ok(published),
        // The call may have gone through (a timeout), or an earlier one did that the
        // look before missed (X then refuses the same text as a duplicate): look again
        // before failing.
        Err(e) => match find_keyless(credential, row, post, &taken).await {
            Ok(Some(found)) => Ok(found),
            _ => Err(e),
        },
    }
}

/// What an earlier attempt at `row` published on a network that takes no key: the
/// account's reply to `post` with the same text since the reply was asked for, not
/// among the ids `taken` by other replies.
async fn find_keyless(
    credential: &Credential<'_>,
    row: &reply::Model,
    post: &mention::Model,
    taken: &[String],
) -> std::result::Result<Option<Published>, PublishError> {
    match Network::parse(&row.network) {
        Some(Network::Youtube) => {
            let video = youtube::video_of(post.url.as_deref());
            youtube::find_reply(credential, &post.external_id, video.as_deref(), &row.text, row.created_at, taken).await
        }
        Some(Network::X) => x::find_reply(credential, &post.external_id, &row.text, row.created_at, taken).await,
        // A review has one reply: the one it carries is this one if its text is.
        Some(Network::Google) => {
            google::find_reply(credential, &post.external_id, &row.text, post.url.as_deref()).await
        }
        Some(network @ (Network::Facebook | Network::Instagram)) => {
            let link = post.url.as_deref();
            let target = (post.external_id.as_str(), post.in_reply_to.is_some());
            meta::find_reply(credential, network, target, &row.text, row.created_at, taken, link).await
        }
        Some(Network::Mastodon) => {
            let author = author_of(credential.services(), post).await?;
            mastodon::find_reply(credential, (&post.external_id, &author), &row.text, row.created_at, taken).await
        }
        Some(Network::Linkedin) => {
            let parent = post.in_reply_to.as_deref();
            linkedin::find_reply(credential, &post.external_id, parent, &row.text, row.created_at, taken).await
        }
        _ => reddit::find_reply(credential, &post.external_id, &row.text, row.created_at, taken).await,
    }
}

/// Whether a reply whose attempts are spent went out after all (its worker died after
/// the post was made): what an earlier attempt published, if anything.
async fn last_look(services: &Services, row: &reply::Model) -> std::result::Result<Option<Published>, PublishError> {
    let connection = row.connection_id.ok_or_else(|| PublishError::Refused("its connection was deleted".into()))?;
    let Some(credential) = Credential::of_connection(services, row.agency_id, connection).await? else {
        return Ok(None);
    };
    let found = match Network::parse(&row.network) {
        network if keyless(network) => {
            match post_of(&services.db, &ticket_of(services, row).await?).await.map_err(database)? {
                Some(post) => find_keyless(&credential, row, &post, &recorded(services, row).await?).await,
                None => Ok(None),
            }
        }
        _ => {
            let endpoint = credential.endpoint().await;
            let (did, handle) = credential.account().await;
            let Some(did) = did else { return Ok(None) };
            bluesky::find_post(&credential, &endpoint, &did, &row.record_key).await.map(|found| {
                found.map(|post| Published {
                    url: bluesky::post_url(&post.uri, &handle).unwrap_or_default(),
                    id: post.uri,
                })
            })
        }
    };
    credential.finish(found.is_ok()).await;
    found
}

/// The handle of a post's author, as stored.
async fn author_of(services: &Services, post: &mention::Model) -> std::result::Result<String, PublishError> {
    let id = post.author_id.ok_or_else(|| PublishError::Refused("the post has no author".into()))?;
    let author = crate::entities::author::Entity::find_by_id(id).one(&services.db).await.map_err(database)?;
    author.map(|a| a.handle).ok_or_else(|| PublishError::Refused("the post's author is unknown".into()))
}

/// The ids other replies of the brand recorded since a day before `row`: a lookup for
/// `row`'s comment must not take one of theirs (two tickets in one thread answered
/// with the same template).
async fn recorded(services: &Services, row: &reply::Model) -> std::result::Result<Vec<String>, PublishError> {
    let ids: Vec<Option<String>> = reply::Entity::find()
        .select_only()
        .column(reply::Column::ExternalId)
        .filter(reply::Column::BrandId.eq(row.brand_id))
        .filter(reply::Column::Id.ne(row.id))
        .filter(reply::Column::ExternalId.is_not_null())
        .filter(reply::Column::CreatedAt.gte(row.created_at - chrono::Duration::days(1)))
        .into_tuple()
        .all(&services.db)
        .await
        .map_err(database)?;
    Ok(ids.into_iter().flatten().collect())
}

/// The ticket a reply answers.
async fn ticket_of(services: &Services, row: &reply::Model) -> std::result::Result<ticket::Model, PublishError> {
    ticket::Entity::find_by_id(row.ticket_id)
        .one(&services.db)
        .await
        .map_err(database)?
        .ok_or_else(|| PublishError::Refused("the ticket was deleted".into()))
}

/// Records the publication and answers the ticket with it, in one transaction (its
/// first response time is now, if it had none).
async fn published(services: &Services, row: &reply::Model, attempts: i32, post: Published) -> Result<()> {
    let at = now();
    let txn = crate::platform::db::begin_write(&services.db).await?;
    let done = settle(row.id, attempts, PUBLISHED)
        .col_expr(reply::Column::ExternalId, Expr::value(post.id.clone()))
        .col_expr(reply::Column::Url, Expr::value(post.url))
        .col_expr(reply::Column::PublishedAt, Expr::value(at))
        .col_expr(reply::Column::LastError, Expr::value(Option::<String>::None))
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
    tracing::info!(reply_id = %row.id, post = %post.id, "reply published");
    if let Some(ticket) = answered {
        super::tickets::announce(services, &ticket).await;
    }
    Ok(())
}

/// Records that the reply will not be published, and why; the ticket stays open.
async fn failed(services: &Services, row: &reply::Model, attempts: i32, reason: &str) -> Result<()> {
    let reason: String = reason.chars().take(300).collect();
    tracing::warn!(reply_id = %row.id, %reason, "reply not published");
    settle(row.id, attempts, FAILED).col_expr(reply::Column::LastError, Expr::value(reason)).exec(&services.db).await?;
    super::tickets::announce_id(services, row.agency_id, row.brand_id, row.ticket_id).await;
    Ok(())
}

/// The update that moves a pending reply to `status`, once, from the attempt that holds
/// it (`attempts` is its number: a later attempt's claim makes this one's stale).
fn settle(id: Uuid, attempts: i32, status: &str) -> sea_orm::UpdateMany<reply::Entity> {
    reply::Entity::update_many()
        .col_expr(reply::Column::Status, Expr::value(status))
        .col_expr(reply::Column::NextAttemptAt, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(reply::Column::UpdatedAt, Expr::value(now()))
        .filter(reply::Column::Id.eq(id))
        .filter(reply::Column::Status.eq(PENDING))
        .filter(reply::Column::Attempts.eq(attempts))
}
