//! The inbox: every solicitation becomes a ticket with a first-response due time in
//! business time; agency staff assign, answer, close, reopen and snooze them; the SLA
//! clock ([`run_clock`]) marks them at risk at 80 % of the target and breached at the
//! due time, with an event and an email to the escalation contacts each, once.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Condition, Expr, OnConflict};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

use super::policy::{self, Policy};
use crate::entities::{brand, membership, mention, ticket, user_account};
use crate::platform::db::batches;
use crate::platform::jobs::Registry;
use crate::platform::mail::Email;
use crate::platform::pagination::{self, Page, PageRequest};
use crate::platform::queue::{Envelope, JobPayload};
use crate::scoring::Priority;
use crate::scoring::influence::Tier;
use crate::{
    Actor, Error, Network, Result, Services, new_id, now, platform::events, platform::mail, platform::validate,
};
use crate::{Config, platform::i18n};
use minijinja::context;

/// Where a ticket is in the inbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TicketStatus {
    Open,
    Answered,
    Closed,
}

impl TicketStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TicketStatus::Open => "open",
            TicketStatus::Answered => "answered",
            TicketStatus::Closed => "closed",
        }
    }
    pub fn parse(raw: &str) -> TicketStatus {
        match raw {
            "answered" => TicketStatus::Answered,
            "closed" => TicketStatus::Closed,
            _ => TicketStatus::Open,
        }
    }
}

/// Where a ticket stands against its target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlaState {
    OnTrack,
    AtRisk,
    Breached,
    /// Answered within the target.
    Met,
}

impl SlaState {
    pub fn as_str(self) -> &'static str {
        match self {
            SlaState::OnTrack => "on_track",
            SlaState::AtRisk => "at_risk",
            SlaState::Breached => "breached",
            SlaState::Met => "met",
        }
    }
    pub fn parse(raw: &str) -> SlaState {
        match raw {
            "at_risk" => SlaState::AtRisk,
            "breached" => SlaState::Breached,
            "met" => SlaState::Met,
            _ => SlaState::OnTrack,
        }
    }
}

/// A solicitation found by scoring, to become a ticket (and a `mention.solicitation`
/// event, which carries its sentiment).
pub struct Solicitation<'a> {
    pub mention: &'a mention::Model,
    pub priority: Priority,
    pub tier: Tier,
    pub sentiment: f64,
}

/// Opens a ticket per solicitation (once per mention), in the scoring transaction. The
/// clock starts when Vigie received the mention: the agency could not answer before.
pub(crate) async fn open(
    db: &impl ConnectionTrait,
    brand: &brand::Model,
    policy: &Policy,
    solicitations: &[Solicitation<'_>],
) -> Result<Vec<Uuid>> {
    if solicitations.is_empty() {
        return Ok(Vec::new());
    }
    let schedule = policy.schedule();
    let at = now();
    let rows: Vec<ticket::ActiveModel> = solicitations
        .iter()
        .map(|s| {
            let start = s.mention.collected_at;
            let target = policy.target(s.priority, s.tier);
            let due = schedule.add(start, i64::from(target)).unwrap_or(start);
            let at_risk = schedule.add(start, i64::from(target) * 4 / 5).unwrap_or(due);
            ticket::ActiveModel {
                id: Set(new_id()),
                agency_id: Set(brand.agency_id),
                brand_id: Set(brand.id),
                mention_id: Set(s.mention.id),
                priority: Set(s.priority.as_str().into()),
                status: Set(TicketStatus::Open.as_str().into()),
                assignee_membership_id: Set(None),
                due_at: Set(due),
                at_risk_at: Set(at_risk),
                first_response_at: Set(None),
                response_text: Set(None),
                response_channel: Set(None),
                breached: Set(false),
                snoozed_until: Set(None),
                closed_at: Set(None),
                created_at: Set(start),
                updated_at: Set(at),
                network: Set(s.mention.network.clone()),
                tier: Set(s.tier.as_str().into()),
                sla_state: Set(SlaState::OnTrack.as_str().into()),
                target_minutes: Set(target),
                first_response_minutes: Set(None),
            }
        })
        .collect();
    let ids = rows.iter().filter_map(|r| r.id.clone().take()).collect();
    for chunk in batches(rows, 256) {
        ticket::Entity::insert_many(chunk)
            .on_conflict(OnConflict::column(ticket::Column::MentionId).do_nothing().to_owned())
            .exec_without_returning(db)
            .await?;
    }
    Ok(ids)
}

/// Tells live inbox subscribers that a ticket opened or changed.
pub(crate) async fn announce(services: &Services, ticket: &ticket::Model) {
    announce_id(services, ticket.agency_id, ticket.brand_id, ticket.id).await;
}

/// [`announce`] by ids.
pub(crate) async fn announce_id(services: &Services, agency_id: Uuid, brand_id: Uuid, ticket_id: Uuid) {
    services.bus.publish(crate::platform::bus::Notice::Ticket { agency_id, brand_id, ticket_id }).await;
}

/// Saves a change to a ticket and announces it.
async fn save(services: &Services, model: ticket::ActiveModel) -> Result<ticket::Model> {
    let saved = model.update(&services.db).await?;
    announce(services, &saved).await;
    Ok(saved)
}

/// One ticket of a brand the actor works on (staff).
pub async fn get(db: &impl ConnectionTrait, actor: &Actor, id: Uuid) -> Result<ticket::Model> {
    actor.require_staff()?;
    ticket::Entity::find_by_id(id)
        .filter(ticket::Column::AgencyId.eq(actor.agency_id))
        .one(db)
        .await?
        .filter(|t| actor.sees_brand(t.brand_id))
        .ok_or(Error::NotFound("ticket"))
}

/// Filters of [`list`].
#[derive(Default)]
pub struct TicketFilter {
    pub status: Option<TicketStatus>,
    pub priority: Option<Priority>,
    pub network: Option<Network>,
    /// `Some(None)`: unassigned tickets.
    pub assignee: Option<Option<Uuid>>,
    pub breached: Option<bool>,
    pub sla_state: Option<SlaState>,
    /// Leave out tickets snoozed until later (default behaviour of the inbox).
    pub hide_snoozed: bool,
}

/// A brand's tickets, soonest due first, keyset-paginated on (due time, id) (staff).
pub async fn list(
    services: &Services,
    actor: &Actor,
    brand_id: Uuid,
    filter: TicketFilter,
    page: PageRequest,
) -> Result<Page<ticket::Model>> {
    actor.require_staff()?;
    let brand = actor.check_brand(&services.db, brand_id).await?;
    list_across(services, actor, &[brand], filter, page).await
}

/// The tickets of several brands (`brand_ids` as [`Actor::brands_in_view`] gives them),
/// soonest due first: the agency's inbox (staff).
pub async fn list_across(
    services: &Services,
    actor: &Actor,
    brand_ids: &[Uuid],
    filter: TicketFilter,
    page: PageRequest,
) -> Result<Page<ticket::Model>> {
    actor.require_staff()?;
    let brands = || ticket::Column::BrandId.is_in(brand_ids.iter().copied());
    // The brands go on last: one per branch when pages are merged.
    let mut select = ticket::Entity::find().filter(ticket::Column::AgencyId.eq(actor.agency_id));
    if let Some(status) = filter.status {
        select = select.filter(ticket::Column::Status.eq(status.as_str()));
    }
    if let Some(priority) = filter.priority {
        select = select.filter(ticket::Column::Priority.eq(priority.as_str()));
    }
    if let Some(network) = filter.network {
        select = select.filter(ticket::Column::Network.eq(network.name()));
    }
    match filter.assignee {
        Some(Some(member)) => select = select.filter(ticket::Column::AssigneeMembershipId.eq(member)),
        Some(None) => select = select.filter(ticket::Column::AssigneeMembershipId.is_null()),
        None => {}
    }
    if let Some(breached) = filter.breached {
        select = select.filter(ticket::Column::Breached.eq(breached));
    }
    if let Some(state) = filter.sla_state {
        select = select.filter(ticket::Column::SlaState.eq(state.as_str()));
    }
    if filter.hide_snoozed {
        select = select.filter(
            Condition::any().add(ticket::Column::SnoozedUntil.is_null()).add(ticket::Column::SnoozedUntil.lte(now())),
        );
    }
    let mut after = None;
    if let Some(cursor) = page.after {
        let select = ticket::Entity::find_by_id(cursor).filter(brands());
        let last = pagination::cursor_row(&services.db, select, "ticket").await?;
        after = Some((last.due_at, last.id));
    }
    let key = (ticket::Column::DueAt, ticket::Column::Id);
    let soonest = pagination::Direction::Ascending;
    if brand_ids.len() == 1 || brand_ids.len() > pagination::MAX_MERGED {
        return pagination::fetch_by_key(&services.db, select.filter(brands()), key, soonest, after, page).await;
    }
    // Each brand's page from its own `(brand_id, …, due_at)` index, merged.
    let per_brand = brand_ids.iter().map(|b| select.clone().filter(ticket::Column::BrandId.eq(*b))).collect();
    pagination::fetch_merged_by_key(&services.db, per_brand, key, soonest, after, page).await
}

/// Assigns a ticket to a member (staff assigned to the brand), or unassigns it.
pub async fn assign(services: &Services, actor: &Actor, id: Uuid, member: Option<Uuid>) -> Result<ticket::Model> {
    let existing = get(&services.db, actor, id).await?;
    if let Some(member) = member {
        let row = membership::Entity::find_by_id(member)
            .filter(membership::Column::AgencyId.eq(actor.agency_id))
            .one(&services.db)
            .await?
            .ok_or(Error::NotFound("member"))?;
        let assignee = Actor::from_membership(&services.db, row).await?;
        if assignee.require_staff().is_err() || !assignee.sees_brand(existing.brand_id) {
            return Err(Error::bad_input("assigneeId", "the assignee must be agency staff assigned to the brand"));
        }
    }
    let mut model: ticket::ActiveModel = existing.into();
    model.assignee_membership_id = Set(member);
    model.updated_at = Set(now());
    save(services, model).await
}

/// Records the first (or a later) response given outside Vigie (`send: false`), or
/// sends it as a reply on the network through the brand's connection (`send: true`):
/// then it counts as the response only once published (see [`super::replies`]).
pub async fn respond(
    services: &Services,
    actor: &Actor,
    id: Uuid,
    text: String,
    channel: Option<String>,
    send: bool,
) -> Result<ticket::Model> {
    let existing = get(&services.db, actor, id).await?;
    let text = validate::name("text", &text, 10_000)?;
    if TicketStatus::parse(&existing.status) == TicketStatus::Closed {
        return Err(Error::bad_input("id", "the ticket is closed: reopen it first"));
    }
    if send {
        super::replies::send(services, actor, &existing, &text).await?;
        return get(&services.db, actor, id).await;
    }
    let channel = channel.ok_or_else(|| Error::bad_input("channel", "where the answer was given (unless sent)"))?;
    let channel = validate::name("channel", &channel, 40)?.to_lowercase();
    let saved = record_response(&services.db, existing, text, channel, now()).await?;
    announce(services, &saved).await;
    Ok(saved)
}

/// Marks a ticket answered with `text` on `channel` at `at`; the first response stops
/// the SLA clock, and meets the SLA if it came by the due time. The caller announces it.
pub(crate) async fn record_response(
    db: &impl ConnectionTrait,
    existing: ticket::Model,
    text: String,
    channel: String,
    at: DateTime<Utc>,
) -> Result<ticket::Model> {
    let mut model: ticket::ActiveModel = existing.clone().into();
    model.response_text = Set(Some(text));
    model.response_channel = Set(Some(channel));
    if TicketStatus::parse(&existing.status) == TicketStatus::Open {
        model.status = Set(TicketStatus::Answered.as_str().into());
    }
    if existing.first_response_at.is_none() {
        let brand = brand::Entity::find_by_id(existing.brand_id).one(db).await?.ok_or(Error::NotFound("brand"))?;
        let policy = policy::effective(db, &brand).await?;
        let minutes = policy.schedule().minutes_between(existing.created_at, at);
        model.first_response_at = Set(Some(at));
        model.first_response_minutes = Set(Some(i32::try_from(minutes).unwrap_or(i32::MAX)));
        if at <= existing.due_at {
            model.sla_state = Set(SlaState::Met.as_str().into());
        }
    }
    model.updated_at = Set(at);
    Ok(model.update(db).await?)
}

/// Closes a ticket.
pub async fn close(services: &Services, actor: &Actor, id: Uuid) -> Result<ticket::Model> {
    let existing = get(&services.db, actor, id).await?;
    let mut model: ticket::ActiveModel = existing.into();
    model.status = Set(TicketStatus::Closed.as_str().into());
    model.closed_at = Set(Some(now()));
    model.updated_at = Set(now());
    save(services, model).await
}

/// Reopens a closed or answered ticket (its SLA outcome stays what it was).
pub async fn reopen(services: &Services, actor: &Actor, id: Uuid) -> Result<ticket::Model> {
    let existing = get(&services.db, actor, id).await?;
    if TicketStatus::parse(&existing.status) == TicketStatus::Open {
        return Err(Error::bad_input("id", "the ticket is already open"));
    }
    let mut model: ticket::ActiveModel = existing.into();
    model.status = Set(TicketStatus::Open.as_str().into());
    model.closed_at = Set(None);
    model.updated_at = Set(now());
    save(services, model).await
}

/// Hides a ticket from the inbox until `until` (at most 30 days); the clock runs on.
pub async fn snooze(
    services: &Services,
    actor: &Actor,
    id: Uuid,
    until: Option<DateTime<Utc>>,
) -> Result<ticket::Model> {
    let existing = get(&services.db, actor, id).await?;
    if let Some(until) = until
        && (until <= now() || until > now() + chrono::Duration::days(30))
    {
        return Err(Error::bad_input("until", "must be in the next 30 days"));
    }
    let mut model: ticket::ActiveModel = existing.into();
    model.snoozed_until = Set(until);
    model.updated_at = Set(now());
    save(services, model).await
}

/// The SLA clock.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct SlaClock {}

impl JobPayload for SlaClock {
    const KIND: &'static str = "sla.clock";
}

/// How often the clock ticks: tickets change state within this of their due time.
const TICK: Duration = Duration::from_secs(2);

/// Registers the clock.
pub(crate) fn register_jobs(registry: &mut Registry) {
    registry.register(|services: Arc<Services>, _meta, _job: SlaClock| async move {
        run_clock(&services).await?;
        Ok(())
    });
    registry.schedule("sla.clock", TICK, |_slot| Envelope::new(None, &SlaClock {}));
}

/// Moves open tickets to at risk and to breached; returns how many moved. Each move is a
/// conditional update, so two clocks never announce a ticket twice.
pub(crate) async fn run_clock(services: &Services) -> Result<usize> {
    let at = now();
    let mut moved = 0;
    for (from, to, due_column, kind) in [
        (&[SlaState::OnTrack][..], SlaState::AtRisk, ticket::Column::AtRiskAt, events::SLA_AT_RISK),
        (&[SlaState::OnTrack, SlaState::AtRisk][..], SlaState::Breached, ticket::Column::DueAt, events::SLA_BREACHED),
    ] {
        let states: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
        let due = ticket::Entity::find()
            .filter(ticket::Column::SlaState.is_in(states.clone()))
            .filter(ticket::Column::FirstResponseAt.is_null())
            .filter(ticket::Column::Status.eq(TicketStatus::Open.as_str()))
            .filter(due_column.lte(at))
            .order_by_asc(due_column)
            .limit(200)
            .all(&services.db)
            .await?;
        for ticket in due {
            let txn = crate::platform::db::begin_write(&services.db).await?;
            let mut update = ticket::Entity::update_many()
                .col_expr(ticket::Column::SlaState, Expr::value(to.as_str()))
                .col_expr(ticket::Column::UpdatedAt, Expr::value(at))
                .filter(ticket::Column::Id.eq(ticket.id))
                .filter(ticket::Column::SlaState.is_in(states.clone()))
                .filter(ticket::Column::FirstResponseAt.is_null());
            if to == SlaState::Breached {
                update = update.col_expr(ticket::Column::Breached, Expr::value(true));
            }
            if update.exec(&txn).await?.rows_affected != 1 {
                continue;
            }
            let Some(brand) = brand::Entity::find_by_id(ticket.brand_id).one(&txn).await? else { continue };
            let mention = mention::Entity::find_by_id(ticket.mention_id).one(&txn).await?;
            // The member on call answers for the ticket when it may: staff who sees the
            // brand. It gets the email, and the ticket if nobody has it.
            let on_call = match super::on_call::on_call_at(&txn, ticket.agency_id, at).await? {
                Some(member) => match Actor::from_membership(&txn, member.clone()).await {
                    Ok(actor) if actor.is_staff() && actor.sees_brand(ticket.brand_id) => Some(member),
                    _ => None,
                },
                None => None,
            };
            let mut assignee = ticket.assignee_membership_id;
            if let (Some(member), None) = (&on_call, assignee) {
                let taken = ticket::Entity::update_many()
                    .col_expr(ticket::Column::AssigneeMembershipId, Expr::value(member.id))
                    .filter(ticket::Column::Id.eq(ticket.id))
                    .filter(ticket::Column::AssigneeMembershipId.is_null())
                    .exec(&txn)
                    .await?;
                if taken.rows_affected == 1 {
                    assignee = Some(member.id);
                }
            }
            let mut payload = json!({
                "ticket": {
                    "id": ticket.id, "brandId": ticket.brand_id, "mentionId": ticket.mention_id,
                    "priority": ticket.priority, "network": ticket.network, "tier": ticket.tier,
                    "createdAt": ticket.created_at, "atRiskAt": ticket.at_risk_at, "dueAt": ticket.due_at,
                    "targetMinutes": ticket.target_minutes, "slaState": to.as_str(),
                    "assigneeId": assignee,
                },
                "onCallMemberId": on_call.as_ref().map(|m| m.id),
            });
            if let Some(m) = &mention {
                payload["mention"] = json!({ "url": m.url, "text": m.text, "publishedAt": m.published_at });
            }
            events::record(&txn, ticket.agency_id, Some(ticket.brand_id), kind, payload).await?;
            let policy = policy::effective(&txn, &brand).await?;
            let mut contacts = policy.escalation_contacts.clone();
            if let Some(member) = &on_call
                && let Some(user) = user_account::Entity::find_by_id(member.user_id).one(&txn).await?
                && !contacts.contains(&user.email)
            {
                contacts.push(user.email);
            }
            for email in &brand.escalation_emails.0 {
                if !contacts.contains(email) {
                    contacts.push(email.clone());
                }
            }
            // A failed email must not stop the clock for the other tickets.
            match alert_email(&services.config, &brand, &ticket, mention.as_ref(), kind) {
                Ok(email) => {
                    for to_address in &contacts {
                        mail::enqueue(&txn, Some(brand.agency_id), to_address, email.clone()).await?;
                    }
                }
                Err(error) => {
                    tracing::error!(error = %crate::platform::error::chain(&error), ticket_id = %ticket.id, "the SLA email could not be written")
                }
            }
            txn.commit().await?;
            announce(services, &ticket).await;
            tracing::warn!(ticket_id = %ticket.id, state = to.as_str(), "SLA state changed");
            moved += 1;
        }
    }
    if moved > 0 {
        events::dispatch_soon(services, None).await;
        mail::send_soon(services, None).await;
    }
    Ok(moved)
}

/// A ticket at risk of missing (or having missed) its response target, for the brand's
/// escalation contacts.
fn alert_email(
    config: &Config,
    brand: &brand::Model,
    ticket: &crate::entities::ticket::Model,
    mention: Option<&crate::entities::mention::Model>,
    kind: &str,
) -> Result<Email> {
    let lang = brand.language.as_str();
    let key = if kind == events::SLA_BREACHED { "email.sla.subject_breached" } else { "email.sla.subject_due" };
    let priority = i18n::text(lang, &format!("priority.{}", ticket.priority), ());
    mail::compose(
        "sla_alert",
        i18n::text(lang, key, context! { brand => brand.name, priority }),
        context! {
            lang,
            network => ticket.network,
            due => ticket.due_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            url => mention.and_then(|m| m.url.clone()).unwrap_or_default(),
            text => mention.map(|m| m.text.chars().take(500).collect::<String>()).unwrap_or_default(),
            link => config.public_link(&format!("graphql?ticket={}", ticket.id)),
        },
    )
}
