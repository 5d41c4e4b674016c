//! The CSR content calendar: a brand's CSR pillars (with the share of posts each should
//! get), content items per channel linked to pillars and stated values, their review
//! workflow ([`workflow`]) with comments and an audit trail, coverage figures
//! ([`coverage`]) and an iCal feed behind a share token ([`ical`]).

pub mod coverage;
pub mod ical;
pub mod workflow;

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use std::collections::HashMap;
use uuid::Uuid;

use crate::entities::Severity;
use crate::entities::{
    StringList, alert, brand_value, content_comment, content_item, content_item_pillar, content_item_value,
    content_review, csr_pillar,
};
use crate::platform::pagination::{self, Page, PageRequest};
use crate::{Actor, Error, Result, Services, new_id, now, platform::audit, platform::validate};
pub use workflow::{Action, ContentStatus};

/// Channels a content item can go out on.
pub const CHANNELS: &[&str] = &[
    "instagram",
    "facebook",
    "x",
    "linkedin",
    "tiktok",
    "youtube",
    "mastodon",
    "bluesky",
    "blog",
    "newsletter",
    "other",
];

/// A new or changed pillar.
#[derive(Default)]
pub struct PillarInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub commitments: Option<Vec<String>>,
    pub target_share: Option<f64>,
}

/// The pillars of those of several brands the actor sees, by name.
pub async fn pillars_of(
    db: &impl ConnectionTrait,
    actor: &Actor,
    brand_ids: &[Uuid],
) -> Result<Vec<csr_pillar::Model>> {
    let brand_ids: Vec<Uuid> = brand_ids.iter().copied().filter(|brand| actor.sees_brand(*brand)).collect();
    let pillars = pillars(db, &brand_ids).await?;
    Ok(pillars.into_iter().filter(|pillar| pillar.agency_id == actor.agency_id).collect())
}

/// Brands' pillars, by name, for brands already read through the actor.
pub(crate) async fn pillars(db: &impl ConnectionTrait, brand_ids: &[Uuid]) -> Result<Vec<csr_pillar::Model>> {
    Ok(csr_pillar::Entity::find()
        .filter(csr_pillar::Column::BrandId.is_in(brand_ids.iter().copied()))
        .order_by_asc(csr_pillar::Column::Name)
        .all(db)
        .await?)
}

async fn check_total_share(db: &impl ConnectionTrait, brand_id: Uuid, except: Option<Uuid>, share: f64) -> Result<()> {
    if !(0.0..=1.0).contains(&share) {
        return Err(Error::bad_input("targetShare", "a share between 0 and 1"));
    }
    let others: f64 =
        pillars(db, &[brand_id]).await?.iter().filter(|p| Some(p.id) != except).map(|p| p.target_share).sum();
    if others + share > 1.0 + 1e-9 {
        return Err(Error::bad_input(
            "targetShare",
            format!("the brand's pillars would target {:.0} % of posts", 100.0 * (others + share)),
        ));
    }
    Ok(())
}

/// Adds a CSR pillar to a brand (staff).
pub async fn create_pillar(
    services: &Services,
    actor: &Actor,
    brand_id: Uuid,
    input: PillarInput,
) -> Result<csr_pillar::Model> {
    actor.require_staff()?;
    let brand = actor.brand(&services.db, brand_id).await?;
    let name = validate::name("name", input.name.as_deref().unwrap_or_default(), 80)?;
    let share = input.target_share.unwrap_or(0.0);
    let txn = crate::platform::db::begin_write(&services.db).await?;
    check_total_share(&txn, brand.id, None, share).await?;
    if pillars(&txn, &[brand.id]).await?.iter().any(|p| p.name.eq_ignore_ascii_case(&name)) {
        return Err(Error::Conflict(format!("the brand already has a pillar named {name}")));
    }
    let at = now();
    let pillar = csr_pillar::ActiveModel {
        id: Set(new_id()),
        agency_id: Set(actor.agency_id),
        brand_id: Set(brand.id),
        name: Set(name),
        description: Set(
            validate::optional_text("description", input.description.as_deref(), 2_000)?.unwrap_or_default()
        ),
        commitments: Set(StringList(validate::keywords("commitments", &input.commitments.unwrap_or_default())?)),
        target_share: Set(share),
        created_at: Set(at),
        updated_at: Set(at),
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(pillar)
}

async fn get_pillar(db: &impl ConnectionTrait, actor: &Actor, id: Uuid) -> Result<csr_pillar::Model> {
    csr_pillar::Entity::find_by_id(id)
        .filter(csr_pillar::Column::AgencyId.eq(actor.agency_id))
        .one(db)
        .await?
        .filter(|p| actor.sees_brand(p.brand_id))
        .ok_or(Error::NotFound("CSR pillar"))
}

/// Edits a pillar (staff).
pub async fn update_pillar(
    services: &Services,
    actor: &Actor,
    id: Uuid,
    input: PillarInput,
) -> Result<csr_pillar::Model> {
    actor.require_staff()?;
    let txn = crate::platform::db::begin_write(&services.db).await?;
    let existing = get_pillar(&txn, actor, id).await?;
    let mut model: csr_pillar::ActiveModel = existing.clone().into();
    if let Some(name) = input.name {
        model.name = Set(validate::name("name", &name, 80)?);
    }
    if let Some(description) = input.description {
        model.description = Set(validate::optional_text("description", Some(&description), 2_000)?.unwrap_or_default());
    }
    if let Some(commitments) = input.commitments {
        model.commitments = Set(StringList(validate::keywords("commitments", &commitments)?));
    }
    if let Some(share) = input.target_share {
        check_total_share(&txn, existing.brand_id, Some(id), share).await?;
        model.target_share = Set(share);
    }
    model.updated_at = Set(now());
    let updated = model.update(&txn).await?;
    txn.commit().await?;
    Ok(updated)
}

/// Deletes a pillar; its items lose the link (staff).
pub async fn delete_pillar(services: &Services, actor: &Actor, id: Uuid) -> Result<()> {
    actor.require_staff()?;
    let existing = get_pillar(&services.db, actor, id).await?;
    csr_pillar::Entity::delete_by_id(existing.id).exec(&services.db).await?;
    Ok(())
}

/// The fields of a content item; `None` leaves one unchanged.
#[derive(Default)]
pub struct ItemInput {
    pub channel: Option<String>,
    pub title: Option<String>,
    pub body: Option<String>,
    pub media: Option<Vec<String>>,
    pub scheduled_at: Option<DateTime<Utc>>,
    pub pillar_ids: Option<Vec<Uuid>>,
    pub value_ids: Option<Vec<Uuid>>,
}

fn channel(raw: &str) -> Result<String> {
    let channel = raw.trim().to_lowercase();
    if CHANNELS.contains(&channel.as_str()) {
        Ok(channel)
    } else {
        Err(Error::bad_input("channel", format!("one of {}", CHANNELS.join(", "))))
    }
}

fn media(raw: Vec<String>) -> Result<serde_json::Value> {
    if raw.len() > 20 {
        return Err(Error::bad_input("media", "at most 20 links"));
    }
    let mut out = Vec::new();
    for link in raw {
        let url =
            url::Url::parse(link.trim()).map_err(|_| Error::bad_input("media", format!("`{link}` is not a URL")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::bad_input("media", "links are http(s)"));
        }
        out.push(url.to_string());
    }
    Ok(serde_json::json!(out))
}

/// Replaces an item's links to pillars and values, checking they are the brand's.
async fn set_links(
    db: &impl ConnectionTrait,
    item: &content_item::Model,
    pillar_ids: Option<Vec<Uuid>>,
    value_ids: Option<Vec<Uuid>>,
) -> Result<()> {
    if let Some(mut ids) = pillar_ids {
        ids.sort();
        ids.dedup();
        let found = pillars(db, &[item.brand_id]).await?.into_iter().filter(|p| ids.contains(&p.id)).count();
        if found != ids.len() {
            return Err(Error::NotFound("CSR pillar"));
        }
        content_item_pillar::Entity::delete_many()
            .filter(content_item_pillar::Column::ContentItemId.eq(item.id))
            .exec(db)
            .await?;
        if !ids.is_empty() {
            let rows = ids
                .iter()
                .map(|&p| content_item_pillar::ActiveModel { content_item_id: Set(item.id), csr_pillar_id: Set(p) });
            content_item_pillar::Entity::insert_many(rows).exec_without_returning(db).await?;
        }
    }
    if let Some(mut ids) = value_ids {
        ids.sort();
        ids.dedup();
        let found = brand_value::Entity::find()
            .filter(brand_value::Column::BrandId.eq(item.brand_id))
            .filter(brand_value::Column::Id.is_in(ids.iter().copied()))
            .all(db)
            .await?
            .len();
        if found != ids.len() {
            return Err(Error::NotFound("brand value"));
        }
        content_item_value::Entity::delete_many()
            .filter(content_item_value::Column::ContentItemId.eq(item.id))
            .exec(db)
            .await?;
        if !ids.is_empty() {
            let rows = ids
                .iter()
                .map(|&v| content_item_value::ActiveModel { content_item_id: Set(item.id), brand_value_id: Set(v) });
            content_item_value::Entity::insert_many(rows).exec_without_returning(db).await?;
        }
    }
    Ok(())
}

/// Records a status change in the audit trail.
pub(crate) async fn review(
    db: &impl ConnectionTrait,
    item: &content_item::Model,
    reviewer: Option<Uuid>,
    to: ContentStatus,
    note: Option<String>,
) -> Result<()> {
    content_review::ActiveModel {
        id: Set(new_id()),
        agency_id: Set(item.agency_id),
        content_item_id: Set(item.id),
        reviewer_user_id: Set(reviewer),
        from_status: Set(item.status.clone()),
        to_status: Set(to.as_str().into()),
        note: Set(note),
        created_at: Set(now()),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Drafts a content item (staff).
pub async fn create_item(
    services: &Services,
    actor: &Actor,
    brand_id: Uuid,
    input: ItemInput,
) -> Result<content_item::Model> {
    actor.require_staff()?;
    let brand = actor.brand(&services.db, brand_id).await?;
    let scheduled_at = input.scheduled_at.ok_or_else(|| Error::bad_input("scheduledAt", "required"))?;
    let at = now();
    let txn = crate::platform::db::begin_write(&services.db).await?;
    let item = content_item::ActiveModel {
        id: Set(new_id()),
        agency_id: Set(actor.agency_id),
        brand_id: Set(brand.id),
        channel: Set(channel(input.channel.as_deref().unwrap_or_default())?),
        title: Set(validate::name("title", input.title.as_deref().unwrap_or_default(), 200)?),
        body: Set(validate::optional_text("body", input.body.as_deref(), 20_000)?.unwrap_or_default()),
        media: Set(media(input.media.unwrap_or_default())?),
        scheduled_at: Set(scheduled_at),
        status: Set(ContentStatus::Draft.as_str().into()),
        published_url: Set(None),
        hold_alert_id: Set(None),
        created_by: Set(Some(actor.user_id)),
        created_at: Set(at),
        updated_at: Set(at),
    }
    .insert(&txn)
    .await?;
    set_links(&txn, &item, input.pillar_ids, input.value_ids).await?;
    txn.commit().await?;
    Ok(item)
}

/// One item of a brand the actor sees (client viewers included).
pub async fn get_item(db: &impl ConnectionTrait, actor: &Actor, id: Uuid) -> Result<content_item::Model> {
    content_item::Entity::find_by_id(id)
        .filter(content_item::Column::AgencyId.eq(actor.agency_id))
        .one(db)
        .await?
        .filter(|i| actor.sees_brand(i.brand_id))
        .ok_or(Error::NotFound("content item"))
}

fn refused(refusal: workflow::Refusal, from: ContentStatus, action: Action) -> Error {
    match refusal {
        workflow::Refusal::Role(why) => Error::forbidden(why),
        workflow::Refusal::Status => {
            Error::bad_input("id", format!("cannot {action:?} an item that is {}", from.as_str()).to_lowercase())
        }
    }
}

/// Edits an item; an item past draft goes back to draft for another review (staff).
pub async fn update_item(
    services: &Services,
    actor: &Actor,
    id: Uuid,
    input: ItemInput,
) -> Result<content_item::Model> {
    let txn = crate::platform::db::begin_write(&services.db).await?;
    let existing = get_item(&txn, actor, id).await?;
    let from = ContentStatus::parse(&existing.status);
    let to = workflow::apply(actor.role, from, Action::Edit).map_err(|r| refused(r, from, Action::Edit))?;
    let mut model: content_item::ActiveModel = existing.clone().into();
    if let Some(c) = &input.channel {
        model.channel = Set(channel(c)?);
    }
    if let Some(title) = &input.title {
        model.title = Set(validate::name("title", title, 200)?);
    }
    if let Some(body) = &input.body {
        model.body = Set(validate::optional_text("body", Some(body), 20_000)?.unwrap_or_default());
    }
    if let Some(links) = input.media {
        model.media = Set(media(links)?);
    }
    if let Some(at) = input.scheduled_at {
        model.scheduled_at = Set(at);
    }
    if to != from {
        review(&txn, &existing, Some(actor.user_id), to, Some("edited: needs another review".into())).await?;
        model.status = Set(to.as_str().into());
        model.hold_alert_id = Set(None);
    }
    model.updated_at = Set(now());
    let updated = model.update(&txn).await?;
    set_links(&txn, &updated, input.pillar_ids, input.value_ids).await?;
    txn.commit().await?;
    Ok(updated)
}

/// An open value-gap alert on one of the item's values serious enough for the brand to
/// hold its posts, if any.
pub(crate) async fn open_value_gap(db: &impl ConnectionTrait, item: &content_item::Model) -> Result<Option<Uuid>> {
    let values: Vec<Uuid> = content_item_value::Entity::find()
        .select_only()
        .column(content_item_value::Column::BrandValueId)
        .filter(content_item_value::Column::ContentItemId.eq(item.id))
        .into_tuple()
        .all(db)
        .await?;
    if values.is_empty() {
        return Ok(None);
    }
    let Some(brand) = crate::entities::brand::Entity::find_by_id(item.brand_id).one(db).await? else {
        return Ok(None);
    };
    let open = alert::Entity::find()
        .filter(alert::Column::BrandId.eq(item.brand_id))
        .filter(alert::Column::Kind.eq(crate::entities::alert::VALUE_GAP))
        .filter(alert::Column::OpenKey.is_not_null())
        .filter(alert::Column::BrandValueId.is_in(values))
        .all(db)
        .await?;
    Ok(open.into_iter().find(|a| holds_content(&brand, Severity::parse(&a.severity))).map(|a| a.id))
}

/// Whether an alert is serious enough for the brand to hold its calendar posts.
pub(crate) fn holds_content(brand: &crate::entities::brand::Model, severity: Severity) -> bool {
    severity >= Severity::parse(&brand.hold_min_severity)
}

/// Moves an item through its workflow. Approving or scheduling an item about a value
/// whose value-gap alert is open puts it on hold instead.
pub async fn transition(
    services: &Services,
    actor: &Actor,
    id: Uuid,
    action: Action,
    note: Option<String>,
    published_url: Option<String>,
) -> Result<content_item::Model> {
    let note = validate::optional_text("note", note.as_deref(), 2_000)?;
    let txn = crate::platform::db::begin_write(&services.db).await?;
    let existing = get_item(&txn, actor, id).await?;
    let from = ContentStatus::parse(&existing.status);
    let mut to = workflow::apply(actor.role, from, action).map_err(|r| refused(r, from, action))?;
    if action == Action::Reject && note.is_none() {
        return Err(Error::bad_input("note", "say why the item is rejected"));
    }
    let mut model: content_item::ActiveModel = existing.clone().into();
    let mut why = note;
    if matches!(action, Action::Approve | Action::Schedule)
        && let Some(alert) = open_value_gap(&txn, &existing).await?
    {
        to = ContentStatus::OnHold;
        model.hold_alert_id = Set(Some(alert));
        why = Some("held: a value-gap alert is open on a value this item speaks to".into());
    }
    if action == Action::Release {
        model.hold_alert_id = Set(None);
    }
    if action == Action::Publish {
        let url = published_url.ok_or_else(|| Error::bad_input("publishedUrl", "the URL of the published post"))?;
        let parsed = url::Url::parse(url.trim()).map_err(|_| Error::bad_input("publishedUrl", "not a URL"))?;
        model.published_url = Set(Some(parsed.to_string()));
    }
    review(&txn, &existing, Some(actor.user_id), to, why).await?;
    model.status = Set(to.as_str().into());
    model.updated_at = Set(now());
    let updated = model.update(&txn).await?;
    audit::record(
        &txn,
        actor,
        "content_item.status_changed",
        "content_item",
        Some(id),
        serde_json::json!({ "from": from.as_str(), "to": to.as_str() }),
    )
    .await?;
    txn.commit().await?;
    Ok(updated)
}

/// Comments on an item (anyone who sees it, client viewers included).
pub async fn comment(services: &Services, actor: &Actor, id: Uuid, body: String) -> Result<content_comment::Model> {
    let item = get_item(&services.db, actor, id).await?;
    Ok(content_comment::ActiveModel {
        id: Set(new_id()),
        agency_id: Set(actor.agency_id),
        content_item_id: Set(item.id),
        author_user_id: Set(Some(actor.user_id)),
        body: Set(validate::name("body", &body, 5_000)?),
        created_at: Set(now()),
    }
    .insert(&services.db)
    .await?)
}

/// Filters of [`items`].
#[derive(Default)]
pub struct ItemFilter {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub channel: Option<String>,
    pub pillar_id: Option<Uuid>,
    pub status: Option<ContentStatus>,
}

/// A brand's items in schedule order, keyset-paginated on (scheduled time, id).
pub async fn items(
    services: &Services,
    actor: &Actor,
    brand_id: Uuid,
    filter: ItemFilter,
    page: PageRequest,
) -> Result<Page<content_item::Model>> {
    let brand = actor.check_brand(&services.db, brand_id).await?;
    let mut select = content_item::Entity::find()
        .filter(content_item::Column::AgencyId.eq(actor.agency_id))
        .filter(content_item::Column::BrandId.eq(brand));
    if let Some(from) = filter.from {
        select = select.filter(content_item::Column::ScheduledAt.gte(from));
    }
    if let Some(to) = filter.to {
        select = select.filter(content_item::Column::ScheduledAt.lt(to));
    }
    if let Some(c) = filter.channel {
        select = select.filter(content_item::Column::Channel.eq(channel(&c)?));
    }
    if let Some(status) = filter.status {
        select = select.filter(content_item::Column::Status.eq(status.as_str()));
    }
    if let Some(pillar) = filter.pillar_id {
        let linked = content_item_pillar::Entity::find()
            .select_only()
            .column(content_item_pillar::Column::ContentItemId)
            .filter(content_item_pillar::Column::CsrPillarId.eq(pillar));
        select = select.filter(content_item::Column::Id.in_subquery(sea_orm::QueryTrait::into_query(linked)));
    }
    let mut after = None;
    if let Some(cursor) = page.after {
        let select = content_item::Entity::find_by_id(cursor).filter(content_item::Column::BrandId.eq(brand));
        let last = pagination::cursor_row(&services.db, select, "item").await?;
        after = Some((last.scheduled_at, last.id));
    }
    let key = (content_item::Column::ScheduledAt, content_item::Column::Id);
    pagination::fetch_by_key(&services.db, select, key, pagination::Direction::Ascending, after, page).await
}

/// Of several content items, those the actor sees.
async fn visible_items(db: &impl ConnectionTrait, actor: &Actor, ids: &[Uuid]) -> Result<Vec<Uuid>> {
    let (id, agency, brand) = (content_item::Column::Id, content_item::Column::AgencyId, content_item::Column::BrandId);
    actor.visible_ids::<content_item::Entity>(db, ids, id, agency, Some(brand)).await
}

/// Pillar and value ids of those of several items the actor sees.
pub async fn links_of_items(
    db: &impl ConnectionTrait,
    actor: &Actor,
    item_ids: &[Uuid],
) -> Result<(HashMap<Uuid, Vec<Uuid>>, HashMap<Uuid, Vec<Uuid>>)> {
    links_of(db, &visible_items(db, actor, item_ids).await?).await
}

/// Pillar and value ids of items already read through the actor.
pub(crate) async fn links_of(
    db: &impl ConnectionTrait,
    item_ids: &[Uuid],
) -> Result<(HashMap<Uuid, Vec<Uuid>>, HashMap<Uuid, Vec<Uuid>>)> {
    let mut pillars: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for row in content_item_pillar::Entity::find()
        .filter(content_item_pillar::Column::ContentItemId.is_in(item_ids.iter().copied()))
        .all(db)
        .await?
    {
        pillars.entry(row.content_item_id).or_default().push(row.csr_pillar_id);
    }
    let mut values: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for row in content_item_value::Entity::find()
        .filter(content_item_value::Column::ContentItemId.is_in(item_ids.iter().copied()))
        .all(db)
        .await?
    {
        values.entry(row.content_item_id).or_default().push(row.brand_value_id);
    }
    Ok((pillars, values))
}

/// Comments of those of several items the actor sees, oldest first.
pub async fn comments_of(
    db: &impl ConnectionTrait,
    actor: &Actor,
    item_ids: &[Uuid],
) -> Result<Vec<content_comment::Model>> {
    let item_ids = visible_items(db, actor, item_ids).await?;
    Ok(content_comment::Entity::find()
        .filter(content_comment::Column::ContentItemId.is_in(item_ids))
        .order_by_asc(content_comment::Column::CreatedAt)
        .order_by_asc(content_comment::Column::Id)
        .all(db)
        .await?)
}

/// Audit trails of those of several items the actor sees, oldest first.
pub async fn reviews_of(
    db: &impl ConnectionTrait,
    actor: &Actor,
    item_ids: &[Uuid],
) -> Result<Vec<content_review::Model>> {
    let item_ids = visible_items(db, actor, item_ids).await?;
    Ok(content_review::Entity::find()
        .filter(content_review::Column::ContentItemId.is_in(item_ids))
        .order_by_asc(content_review::Column::CreatedAt)
        .order_by_asc(content_review::Column::Id)
        .all(db)
        .await?)
}
