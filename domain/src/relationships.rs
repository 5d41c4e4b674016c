//! The relationship CRM: for each brand influencer, a relationship status, an owner
//! (an agency member), tags and notes; the interactions logged with them; the
//! improvement ideas they bring; and a contact cadence (per tier for the influencers
//! the agency is engaged or partnered with, or per influencer) from which the next
//! contact is due, an overdue list, and a daily reminder email to each owner.

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::Condition;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use uuid::Uuid;

use crate::System;
use crate::entities::{
    Cadence, StringList, UuidList, author, brand, brand_influencer, idea, interaction, membership, mention,
    user_account,
};
use crate::platform::jobs::Registry;
use crate::platform::mail::Email;
use crate::platform::pagination::{self, Page, PageRequest};
use crate::platform::queue::{Envelope, JobPayload};
use crate::scoring::influence::Tier;
use crate::{
    Actor, Error, Result, Services, influencers, new_id, now, platform::audit, platform::mail, platform::validate,
};
use crate::{Config, platform::i18n};
use minijinja::context;

/// Where the agency stands with an influencer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelationshipStatus {
    Discovered,
    Watching,
    Engaged,
    Partner,
    Declined,
    DoNotContact,
}

impl RelationshipStatus {
    pub const ALL: [RelationshipStatus; 6] = [
        RelationshipStatus::Discovered,
        RelationshipStatus::Watching,
        RelationshipStatus::Engaged,
        RelationshipStatus::Partner,
        RelationshipStatus::Declined,
        RelationshipStatus::DoNotContact,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RelationshipStatus::Discovered => "discovered",
            RelationshipStatus::Watching => "watching",
            RelationshipStatus::Engaged => "engaged",
            RelationshipStatus::Partner => "partner",
            RelationshipStatus::Declined => "declined",
            RelationshipStatus::DoNotContact => "do_not_contact",
        }
    }

    pub fn parse(raw: &str) -> RelationshipStatus {
        Self::ALL.into_iter().find(|s| s.as_str() == raw).unwrap_or(RelationshipStatus::Discovered)
    }

    /// Whether the brand's per-tier cadence applies (the agency is in touch).
    fn in_touch(self) -> bool {
        matches!(self, RelationshipStatus::Engaged | RelationshipStatus::Partner)
    }

    /// Whether any contact is expected at all.
    fn contactable(self) -> bool {
        !matches!(self, RelationshipStatus::Declined | RelationshipStatus::DoNotContact)
    }
}

/// Where an idea stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdeaStatus {
    Proposed,
    Accepted,
    Shipped,
    Rejected,
}

impl IdeaStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            IdeaStatus::Proposed => "proposed",
            IdeaStatus::Accepted => "accepted",
            IdeaStatus::Shipped => "shipped",
            IdeaStatus::Rejected => "rejected",
        }
    }

    pub fn parse(raw: &str) -> IdeaStatus {
        match raw {
            "accepted" => IdeaStatus::Accepted,
            "shipped" => IdeaStatus::Shipped,
            "rejected" => IdeaStatus::Rejected,
            _ => IdeaStatus::Proposed,
        }
    }

    /// proposed → accepted → shipped; proposed or accepted → rejected; a rejected idea
    /// may be proposed again. Shipped is final.
    pub fn may_become(self, next: IdeaStatus) -> bool {
        use IdeaStatus::*;
        self == next
            || matches!(
                (self, next),
                (Proposed, Accepted | Rejected) | (Accepted, Shipped | Rejected) | (Rejected, Proposed)
            )
    }
}

/// Channels an interaction can take.
pub const CHANNELS: &[&str] = &["email", "dm", "comment", "call", "meeting", "event", "gift", "other"];

/// Validates a brand's per-tier cadence (tier names, 1 to 365 days).
pub fn cadence(raw: BTreeMap<String, i32>) -> Result<Cadence> {
    for (tier, days) in &raw {
        if Tier::parse(tier).is_none() {
            return Err(Error::bad_input("contactCadence", format!("unknown tier `{tier}`")));
        }
        if !(1..=365).contains(days) {
            return Err(Error::bad_input("contactCadence", "days must be between 1 and 365"));
        }
    }
    Ok(Cadence(raw))
}

fn cadence_days(field: &str, days: i32) -> Result<i32> {
    if (1..=365).contains(&days) { Ok(days) } else { Err(Error::bad_input(field, "must be between 1 and 365 days")) }
}

/// When the next contact with an influencer is due, if a cadence applies: its own, or
/// the brand's for its tier while the agency is engaged or partnered with it; counted
/// from the latest interaction, or from when it entered the CRM.
pub fn next_contact_due(brand: &brand::Model, row: &brand_influencer::Model) -> Option<DateTime<Utc>> {
    let status = RelationshipStatus::parse(&row.relationship_status);
    if !status.contactable() {
        return None;
    }
    let days = row
        .contact_cadence_days
        .or_else(|| status.in_touch().then(|| brand.contact_cadence.0.get(&row.tier).copied()).flatten())?;
    Some(row.last_contact_at.unwrap_or(row.created_at) + Duration::days(i64::from(days)))
}

/// One influencer of a brand the actor sees.
pub async fn get(db: &impl ConnectionTrait, actor: &Actor, id: Uuid) -> Result<brand_influencer::Model> {
    brand_influencer::Entity::find_by_id(id)
        .filter(brand_influencer::Column::AgencyId.eq(actor.agency_id))
        .one(db)
        .await?
        .filter(|row| actor.sees_brand(row.brand_id))
        .ok_or(Error::NotFound("influencer"))
}

/// Changes to a relationship: `None` leaves a field unchanged; `Some(None)` clears it.
#[derive(Default)]
pub struct RelationshipPatch {
    pub status: Option<RelationshipStatus>,
    pub owner_membership_id: Option<Option<Uuid>>,
    pub tags: Option<Vec<String>>,
    pub notes: Option<Option<String>>,
    pub contact_cadence_days: Option<Option<i32>>,
}

fn tags(raw: Vec<String>) -> Result<StringList> {
    let mut out: Vec<String> = Vec::new();
    for tag in raw {
        let tag = validate::name("tags", &tag, 40)?;
        if !out.iter().any(|t| t.eq_ignore_ascii_case(&tag)) {
            out.push(tag);
        }
    }
    if out.len() > 20 {
        return Err(Error::bad_input("tags", "at most 20 tags"));
    }
    Ok(StringList(out))
}

/// Checks that an owner is agency staff who sees the brand.
async fn check_owner(db: &impl ConnectionTrait, actor: &Actor, brand_id: Uuid, membership_id: Uuid) -> Result<()> {
    let member = membership::Entity::find_by_id(membership_id)
        .filter(membership::Column::AgencyId.eq(actor.agency_id))
        .one(db)
        .await?
        .ok_or(Error::NotFound("member"))?;
    let owner = Actor::from_membership(db, member).await?;
    if owner.require_staff().is_err() || !owner.sees_brand(brand_id) {
        return Err(Error::bad_input("ownerId", "the owner must be agency staff assigned to the brand"));
    }
    Ok(())
}

/// Updates an influencer's relationship (agency staff).
pub async fn update(
    services: &Services,
    actor: &Actor,
    id: Uuid,
    patch: RelationshipPatch,
) -> Result<brand_influencer::Model> {
    actor.require_staff()?;
    let txn = crate::platform::db::begin_write(&services.db).await?;
    let existing = get(&txn, actor, id).await?;
    let brand = actor.brand(&txn, existing.brand_id).await?;
    let mut changes = serde_json::Map::new();
    let mut model: brand_influencer::ActiveModel = existing.clone().into();
    if let Some(status) = patch.status {
        changes.insert("status".into(), status.as_str().into());
        model.relationship_status = Set(status.as_str().into());
    }
    if let Some(owner) = patch.owner_membership_id {
        if let Some(owner) = owner {
            check_owner(&txn, actor, brand.id, owner).await?;
        }
        changes.insert("owner".into(), serde_json::json!(owner));
        model.owner_membership_id = Set(owner);
    }
    if let Some(list) = patch.tags {
        model.tags = Set(tags(list)?);
    }
    if let Some(notes) = patch.notes {
        model.notes = Set(validate::optional_text("notes", notes.as_deref(), 10_000)?);
    }
    if let Some(days) = patch.contact_cadence_days {
        model.contact_cadence_days = Set(days.map(|d| cadence_days("contactCadenceDays", d)).transpose()?);
    }
    model.updated_at = Set(now());
    let mut updated = model.update(&txn).await?;
    updated = set_due(&txn, &brand, updated).await?;
    audit::record(&txn, actor, "influencer.relationship_updated", "brand_influencer", Some(id), changes.into()).await?;
    txn.commit().await?;
    Ok(updated)
}

/// Stores the next contact due date when it changed.
async fn set_due(
    db: &impl ConnectionTrait,
    brand: &brand::Model,
    row: brand_influencer::Model,
) -> Result<brand_influencer::Model> {
    let due = next_contact_due(brand, &row);
    if due == row.next_contact_due_at {
        return Ok(row);
    }
    let mut model: brand_influencer::ActiveModel = row.into();
    model.next_contact_due_at = Set(due);
    Ok(model.update(db).await?)
}

/// A new interaction.
pub struct NewInteraction {
    pub channel: String,
    /// `inbound` or `outbound`.
    pub outbound: bool,
    pub summary: String,
    /// Defaults to now; never in the future.
    pub occurred_at: Option<DateTime<Utc>>,
}

/// Logs a contact with an influencer and moves its next contact forward (staff).
pub async fn log_interaction(
    services: &Services,
    actor: &Actor,
    influencer_id: Uuid,
    input: NewInteraction,
) -> Result<interaction::Model> {
    actor.require_staff()?;
    let channel = input.channel.trim().to_lowercase();
    if !CHANNELS.contains(&channel.as_str()) {
        return Err(Error::bad_input("channel", format!("one of {}", CHANNELS.join(", "))));
    }
    let summary = validate::name("summary", &input.summary, 5_000)?;
    let at = now();
    let occurred_at = input.occurred_at.unwrap_or(at);
    if occurred_at > at + Duration::minutes(5) {
        return Err(Error::bad_input("occurredAt", "cannot be in the future"));
    }
    let txn = crate::platform::db::begin_write(&services.db).await?;
    let row = get(&txn, actor, influencer_id).await?;
    if input.outbound && RelationshipStatus::parse(&row.relationship_status) == RelationshipStatus::DoNotContact {
        return Err(Error::bad_input("direction", "this influencer asked not to be contacted"));
    }
    let brand = actor.brand(&txn, row.brand_id).await?;
    let logged = interaction::ActiveModel {
        id: Set(new_id()),
        agency_id: Set(actor.agency_id),
        brand_influencer_id: Set(row.id),
        channel: Set(channel),
        direction: Set(if input.outbound { "outbound" } else { "inbound" }.into()),
        summary: Set(summary),
        occurred_at: Set(occurred_at),
        created_by: Set(Some(actor.user_id)),
        created_at: Set(at),
    }
    .insert(&txn)
    .await?;
    if row.last_contact_at.is_none_or(|last| occurred_at > last) {
        let mut model: brand_influencer::ActiveModel = row.into();
        model.last_contact_at = Set(Some(occurred_at));
        model.contact_reminded_at = Set(None);
        model.updated_at = Set(at);
        let updated = model.update(&txn).await?;
        set_due(&txn, &brand, updated).await?;
    }
    txn.commit().await?;
    Ok(logged)
}

/// An influencer's interactions, newest first (staff).
pub async fn interactions(
    services: &Services,
    actor: &Actor,
    influencer_id: Uuid,
    page: PageRequest,
) -> Result<Page<interaction::Model>> {
    actor.require_staff()?;
    let row = get(&services.db, actor, influencer_id).await?;
    let select = interaction::Entity::find()
        .filter(interaction::Column::AgencyId.eq(actor.agency_id))
        .filter(interaction::Column::BrandInfluencerId.eq(row.id));
    let mut after = None;
    if let Some(cursor) = page.after {
        let select = interaction::Entity::find_by_id(cursor).filter(interaction::Column::BrandInfluencerId.eq(row.id));
        let last = pagination::cursor_row(&services.db, select, "interaction").await?;
        after = Some((last.occurred_at, last.id));
    }
    let key = (interaction::Column::OccurredAt, interaction::Column::Id);
    pagination::fetch_by_key(&services.db, select, key, pagination::Direction::Descending, after, page).await
}

/// The fields of an idea.
#[derive(Default)]
pub struct IdeaInput {
    pub title: Option<String>,
    pub detail: Option<String>,
    pub status: Option<IdeaStatus>,
    pub reported_back: Option<bool>,
    pub linked_mention_ids: Option<Vec<Uuid>>,
    pub linked_interaction_ids: Option<Vec<Uuid>>,
}

/// Checks that linked mentions are the brand's and linked interactions the influencer's.
async fn links(
    db: &impl ConnectionTrait,
    row: &brand_influencer::Model,
    mentions: Option<Vec<Uuid>>,
    interactions: Option<Vec<Uuid>>,
) -> Result<(Option<UuidList>, Option<UuidList>)> {
    async fn checked<E: EntityTrait>(
        db: &impl ConnectionTrait,
        ids: Option<Vec<Uuid>>,
        scope: Condition,
        id: impl ColumnTrait,
        what: &'static str,
    ) -> Result<Option<UuidList>>
    where
        E::Model: Send + Sync,
    {
        use sea_orm::PaginatorTrait;
        let Some(mut ids) = ids else { return Ok(None) };
        ids.sort();
        ids.dedup();
        if ids.len() > 50 {
            return Err(Error::bad_input(what, "at most 50 links"));
        }
        let found = E::find().filter(scope).filter(id.is_in(ids.iter().copied())).count(db).await?;
        if found as usize != ids.len() {
            return Err(Error::NotFound(if what == "linkedMentionIds" { "mention" } else { "interaction" }));
        }
        Ok(Some(UuidList(ids)))
    }
    let mentions = checked::<mention::Entity>(
        db,
        mentions,
        Condition::all()
            .add(mention::Column::BrandId.eq(row.brand_id))
            .add(mention::Column::AgencyId.eq(row.agency_id)),
        mention::Column::Id,
        "linkedMentionIds",
    )
    .await?;
    let interactions = checked::<interaction::Entity>(
        db,
        interactions,
        Condition::all().add(interaction::Column::BrandInfluencerId.eq(row.id)),
        interaction::Column::Id,
        "linkedInteractionIds",
    )
    .await?;
    Ok((mentions, interactions))
}

/// Records an idea an influencer brought (staff); it starts `proposed`.
pub async fn create_idea(
    services: &Services,
    actor: &Actor,
    influencer_id: Uuid,
    input: IdeaInput,
) -> Result<idea::Model> {
    actor.require_staff()?;
    let txn = crate::platform::db::begin_write(&services.db).await?;
    let row = get(&txn, actor, influencer_id).await?;
    let (mentions, interactions) = links(&txn, &row, input.linked_mention_ids, input.linked_interaction_ids).await?;
    let at = now();
    let created = idea::ActiveModel {
        id: Set(new_id()),
        agency_id: Set(actor.agency_id),
        brand_influencer_id: Set(row.id),
        title: Set(validate::name("title", input.title.as_deref().unwrap_or_default(), 200)?),
        detail: Set(validate::optional_text("detail", input.detail.as_deref(), 10_000)?.unwrap_or_default()),
        status: Set(IdeaStatus::Proposed.as_str().into()),
        reported_back: Set(false),
        linked_mention_ids: Set(mentions.unwrap_or_default()),
        linked_interaction_ids: Set(interactions.unwrap_or_default()),
        created_by: Set(Some(actor.user_id)),
        created_at: Set(at),
        updated_at: Set(at),
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(created)
}

/// Edits an idea or moves it along (staff).
pub async fn update_idea(services: &Services, actor: &Actor, id: Uuid, input: IdeaInput) -> Result<idea::Model> {
    actor.require_staff()?;
    let txn = crate::platform::db::begin_write(&services.db).await?;
    let existing = idea::Entity::find_by_id(id)
        .filter(idea::Column::AgencyId.eq(actor.agency_id))
        .one(&txn)
        .await?
        .ok_or(Error::NotFound("idea"))?;
    let row = get(&txn, actor, existing.brand_influencer_id).await.map_err(|_| Error::NotFound("idea"))?;
    let (mentions, interactions) = links(&txn, &row, input.linked_mention_ids, input.linked_interaction_ids).await?;
    let current = IdeaStatus::parse(&existing.status);
    let mut model: idea::ActiveModel = existing.into();
    if let Some(status) = input.status {
        if !current.may_become(status) {
            return Err(Error::bad_input(
                "status",
                format!("an idea cannot go from {} to {}", current.as_str(), status.as_str()),
            ));
        }
        model.status = Set(status.as_str().into());
    }
    if let Some(title) = input.title {
        model.title = Set(validate::name("title", &title, 200)?);
    }
    if let Some(detail) = input.detail {
        model.detail = Set(validate::optional_text("detail", Some(&detail), 10_000)?.unwrap_or_default());
    }
    if let Some(reported) = input.reported_back {
        model.reported_back = Set(reported);
    }
    if let Some(list) = mentions {
        model.linked_mention_ids = Set(list);
    }
    if let Some(list) = interactions {
        model.linked_interaction_ids = Set(list);
    }
    model.updated_at = Set(now());
    let updated = model.update(&txn).await?;
    txn.commit().await?;
    Ok(updated)
}

/// Filters of [`ideas`].
#[derive(Default)]
pub struct IdeaFilter {
    pub status: Option<IdeaStatus>,
    pub influencer_id: Option<Uuid>,
    pub reported_back: Option<bool>,
}

/// A brand's ideas, newest first (staff).
pub async fn ideas(
    services: &Services,
    actor: &Actor,
    brand_id: Uuid,
    filter: IdeaFilter,
    page: PageRequest,
) -> Result<Page<idea::Model>> {
    actor.require_staff()?;
    let brand = actor.check_brand(&services.db, brand_id).await?;
    let influencers = brand_influencer::Entity::find()
        .select_only()
        .column(brand_influencer::Column::Id)
        .filter(brand_influencer::Column::BrandId.eq(brand));
    let mut select = idea::Entity::find()
        .filter(idea::Column::AgencyId.eq(actor.agency_id))
        .filter(idea::Column::BrandInfluencerId.in_subquery(sea_orm::QueryTrait::into_query(influencers)));
    if let Some(status) = filter.status {
        select = select.filter(idea::Column::Status.eq(status.as_str()));
    }
    if let Some(influencer) = filter.influencer_id {
        select = select.filter(idea::Column::BrandInfluencerId.eq(influencer));
    }
    if let Some(reported) = filter.reported_back {
        select = select.filter(idea::Column::ReportedBack.eq(reported));
    }
    pagination::fetch(&services.db, select, idea::Column::Id, pagination::Direction::Descending, page).await
}

/// A brand's influencers whose next contact is due, most overdue first (staff); `owner`
/// narrows to one member's. Each comes with its author when `with_authors`, as in
/// [`influencers::list`].
pub async fn overdue(
    services: &Services,
    actor: &Actor,
    brand_id: Uuid,
    owner: Option<Uuid>,
    page: PageRequest,
    with_authors: bool,
) -> Result<Page<(brand_influencer::Model, Option<author::Model>)>> {
    actor.require_staff()?;
    let brand = actor.brand(&services.db, brand_id).await?;
    let mut select = brand_influencer::Entity::find()
        .filter(brand_influencer::Column::AgencyId.eq(actor.agency_id))
        .filter(brand_influencer::Column::BrandId.eq(brand.id))
        .filter(brand_influencer::Column::NextContactDueAt.lte(now()));
    if let Some(owner) = owner {
        select = select.filter(brand_influencer::Column::OwnerMembershipId.eq(owner));
    }
    let mut after = None;
    if let Some(cursor) = page.after {
        let last = crate::platform::db::first(
            &services.db,
            brand_influencer::Entity::find_by_id(cursor).filter(brand_influencer::Column::BrandId.eq(brand.id)),
        )
        .await?
        .and_then(|r| r.next_contact_due_at.map(|due| (due, r.id)))
        .ok_or_else(|| Error::bad_input("after", "this cursor's contact is no longer due"))?;
        after = Some(last);
    }
    let key = (brand_influencer::Column::NextContactDueAt, brand_influencer::Column::Id);
    let select = pagination::by_key(select, key, pagination::Direction::Ascending, after);
    influencers::read_with_authors(&services.db, select, page, with_authors).await
}

/// Recomputes the next contact of a brand's influencers (after its cadence changed, and
/// daily, since scoring may move an influencer to another tier); returns how many moved.
pub(crate) async fn recompute_brand(db: &impl ConnectionTrait, brand: &brand::Model) -> Result<usize> {
    let candidates = brand_influencer::Entity::find()
        .filter(brand_influencer::Column::BrandId.eq(brand.id))
        .filter(
            Condition::any()
                .add(brand_influencer::Column::ContactCadenceDays.is_not_null())
                .add(brand_influencer::Column::NextContactDueAt.is_not_null())
                .add(brand_influencer::Column::RelationshipStatus.is_in(["engaged", "partner"])),
        )
        .all(db)
        .await?;
    let mut moved = 0;
    for row in candidates {
        if next_contact_due(brand, &row) != row.next_contact_due_at {
            set_due(db, brand, row).await?;
            moved += 1;
        }
    }
    Ok(moved)
}

/// The daily reminder job.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct SendContactReminders {}

impl JobPayload for SendContactReminders {
    const KIND: &'static str = "relationships.reminders";
}

/// How often owners are reminded of overdue contacts.
const REMINDER_EVERY: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Registers the reminder job and its daily schedule.
pub(crate) fn register_jobs(registry: &mut Registry) {
    registry.register(|services: Arc<Services>, _meta, _job: SendContactReminders| async move {
        send_reminders(System::new(), &services).await?;
        Ok(())
    });
    registry.schedule("relationships.reminders", REMINDER_EVERY, |_slot| Envelope::new(None, &SendContactReminders {}));
}

/// Recomputes due dates, then emails each owner the overdue contacts not reminded in
/// the last 20 hours (so a second run the same day sends nothing); returns the number
/// of emails queued.
pub async fn send_reminders(_: System, services: &Services) -> Result<usize> {
    let db = &services.db;
    let at = now();
    let brands = brand::Entity::find().all(db).await?;
    for brand in &brands {
        recompute_brand(db, brand).await?;
    }
    let brands: HashMap<Uuid, &brand::Model> = brands.iter().map(|b| (b.id, b)).collect();
    let due = brand_influencer::Entity::find()
        .filter(brand_influencer::Column::NextContactDueAt.lte(at))
        .filter(brand_influencer::Column::OwnerMembershipId.is_not_null())
        .filter(
            Condition::any()
                .add(brand_influencer::Column::ContactRemindedAt.is_null())
                .add(brand_influencer::Column::ContactRemindedAt.lt(at - Duration::hours(20))),
        )
        .order_by_asc(brand_influencer::Column::NextContactDueAt)
        .all(db)
        .await?;
    let mut by_owner: BTreeMap<Uuid, Vec<brand_influencer::Model>> = BTreeMap::new();
    for row in due {
        if let Some(owner) = row.owner_membership_id {
            by_owner.entry(owner).or_default().push(row);
        }
    }
    let authors: HashMap<Uuid, author::Model> = author::Entity::find()
        .filter(author::Column::Id.is_in(by_owner.values().flatten().map(|r| r.author_id)))
        .all(db)
        .await?
        .into_iter()
        .map(|a| (a.id, a))
        .collect();
    let mut sent = 0;
    for (owner, rows) in by_owner {
        let Some(member) = membership::Entity::find_by_id(owner).one(db).await? else { continue };
        let Some(user) = user_account::Entity::find_by_id(member.user_id).one(db).await? else { continue };
        let lines: Vec<Overdue> = rows
            .iter()
            .filter_map(|r| {
                let brand = brands.get(&r.brand_id)?;
                let author = authors.get(&r.author_id)?;
                Some(Overdue {
                    brand: brand.name.clone(),
                    handle: author.handle.clone(),
                    network: author.network.clone(),
                    tier: r.tier.clone(),
                    status: r.relationship_status.clone(),
                    due: r.next_contact_due_at.unwrap_or(at),
                })
            })
            .collect();
        if lines.is_empty() {
            continue;
        }
        let txn = crate::platform::db::begin_write(db).await?;
        mail::enqueue(&txn, Some(member.agency_id), &user.email, reminder_email(&services.config, &lines)?).await?;
        brand_influencer::Entity::update_many()
            .col_expr(brand_influencer::Column::ContactRemindedAt, sea_orm::sea_query::Expr::value(at))
            .filter(brand_influencer::Column::Id.is_in(rows.iter().map(|r| r.id)))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        sent += 1;
    }
    if sent > 0 {
        tracing::info!(emails = sent, "contact reminders queued");
        mail::send_soon(services, None).await;
    }
    Ok(sent)
}

/// An overdue contact in a reminder.
#[derive(Serialize)]
struct Overdue {
    brand: String,
    handle: String,
    network: String,
    tier: String,
    status: String,
    #[serde(serialize_with = "day")]
    due: DateTime<Utc>,
}

fn day<S: serde::Serializer>(at: &DateTime<Utc>, serializer: S) -> std::result::Result<S::Ok, S::Error> {
    serializer.collect_str(&at.format("%Y-%m-%d"))
}

/// The daily reminder to an owner of the influencers they should contact.
fn reminder_email(config: &Config, overdue: &[Overdue]) -> Result<Email> {
    let lang = i18n::DEFAULT;
    mail::compose(
        "contact_reminder",
        i18n::text(lang, "email.reminder.subject", context! { count => overdue.len() }),
        context! { lang, overdue, link => config.public_link("graphql") },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ideas_move_forward_or_are_rejected() {
        use IdeaStatus::*;
        assert!(Proposed.may_become(Accepted) && Accepted.may_become(Shipped));
        assert!(Proposed.may_become(Rejected) && Accepted.may_become(Rejected) && Rejected.may_become(Proposed));
        assert!(!Proposed.may_become(Shipped), "an idea is accepted before it ships");
        assert!(!Shipped.may_become(Rejected) && !Shipped.may_become(Proposed), "shipped is final");
    }
}
