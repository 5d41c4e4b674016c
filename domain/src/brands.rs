//! Brands (an agency's clients) and the values each brand declares.

use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

use crate::entities::{Handle, Handles, StringList, brand, brand_value};
use crate::platform::pagination::{self, Page, PageRequest};
use crate::{Actor, Error, Result, Services, new_id, now, platform::audit, platform::validate};

/// The fields of a new brand.
#[derive(Default)]
pub struct NewBrand {
    pub name: String,
    pub sector: Option<String>,
    pub tracked_keywords: Vec<String>,
    pub handles: Vec<Handle>,
    pub time_zone: String,
    pub language: Option<String>,
    /// Defaults to [`DEFAULT_DISCOVERY_THRESHOLD`].
    pub discovery_threshold: Option<i32>,
    /// Crisis thresholds; omitted ones take the defaults of [`CrisisSettings`].
    pub crisis: CrisisPatch,
    pub escalation_emails: Vec<String>,
    /// Days between contacts per tier name (`macro` → 30).
    pub contact_cadence: BTreeMap<String, i32>,
    /// `weekly` (default), `monthly` or `off`.
    pub digest_frequency: Option<String>,
    /// Months mentions are kept; [`DEFAULT_MENTION_RETENTION_MONTHS`] when omitted.
    pub mention_retention_months: Option<i32>,
}

/// Changes to a brand's crisis thresholds: `None` leaves one unchanged (or default).
#[derive(Default)]
pub struct CrisisPatch {
    pub z_threshold: Option<f64>,
    pub min_count: Option<i32>,
    pub value_gap_min_count: Option<i32>,
    pub hold_min_severity: Option<crate::entities::Severity>,
}

/// Default crisis thresholds: a spike three standard deviations above the baseline with
/// at least ten negative mentions; at least three accusations of one value in a day
/// (more when the brand usually gets some); calendar posts held from a high severity.
pub struct CrisisSettings;

impl CrisisSettings {
    pub const Z_THRESHOLD: f64 = 3.0;
    pub const MIN_COUNT: i32 = 10;
    pub const VALUE_GAP_MIN_COUNT: i32 = 3;
    pub const HOLD_MIN_SEVERITY: crate::entities::Severity = crate::entities::Severity::High;
}

fn apply_crisis(model: &mut brand::ActiveModel, patch: CrisisPatch) -> Result<()> {
    if let Some(z) = patch.z_threshold {
        if !(1.0..=20.0).contains(&z) {
            return Err(Error::bad_input("crisisZThreshold", "must be between 1 and 20"));
        }
        model.crisis_z_threshold = Set(z);
    }
    if let Some(n) = patch.min_count {
        if !(1..=100_000).contains(&n) {
            return Err(Error::bad_input("crisisMinCount", "must be between 1 and 100000"));
        }
        model.crisis_min_count = Set(n);
    }
    if let Some(n) = patch.value_gap_min_count {
        if !(1..=100_000).contains(&n) {
            return Err(Error::bad_input("valueGapMinCount", "must be between 1 and 100000"));
        }
        model.value_gap_min_count = Set(n);
    }
    if let Some(severity) = patch.hold_min_severity {
        model.hold_min_severity = Set(severity.as_str().into());
    }
    Ok(())
}

fn escalation_emails(raw: &[String]) -> Result<StringList> {
    if raw.len() > 20 {
        return Err(Error::bad_input("escalationEmails", "at most 20 addresses"));
    }
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for email in raw {
        let email = validate::email("escalationEmails", email)?;
        if !out.contains(&email) {
            out.push(email);
        }
    }
    Ok(StringList(out))
}

/// A partial update of a brand: `None` leaves a field unchanged.
#[derive(Default)]
pub struct BrandPatch {
    pub name: Option<String>,
    /// `Some(None)` clears the sector.
    pub sector: Option<Option<String>>,
    pub tracked_keywords: Option<Vec<String>>,
    pub handles: Option<Vec<Handle>>,
    pub time_zone: Option<String>,
    pub language: Option<String>,
    pub discovery_threshold: Option<i32>,
    pub crisis: CrisisPatch,
    pub escalation_emails: Option<Vec<String>>,
    pub contact_cadence: Option<BTreeMap<String, i32>>,
    pub digest_frequency: Option<String>,
    pub mention_retention_months: Option<i32>,
}

/// The influence score at which an author is announced as discovered, unless the brand
/// sets its own.
pub const DEFAULT_DISCOVERY_THRESHOLD: i32 = 60;

/// How long mentions are kept unless the brand says otherwise: two years, enough to
/// compare a season with the same one a year before.
pub const DEFAULT_MENTION_RETENTION_MONTHS: i32 = 24;

/// Mentions are kept at least as long as influence looks back (90 days), and at most
/// ten years.
fn mention_retention(months: i32) -> Result<i32> {
    if (3..=120).contains(&months) {
        Ok(months)
    } else {
        Err(Error::bad_input("mentionRetentionMonths", "must be between 3 and 120 months"))
    }
}

fn discovery_threshold(raw: i32) -> Result<i32> {
    if (1..=100).contains(&raw) {
        Ok(raw)
    } else {
        Err(Error::bad_input("discoveryThreshold", "must be between 1 and 100"))
    }
}

fn digest_frequency(raw: &str) -> Result<String> {
    let value = raw.trim().to_lowercase();
    if ["weekly", "monthly", "off"].contains(&value.as_str()) {
        Ok(value)
    } else {
        Err(Error::bad_input("digestFrequency", "weekly, monthly or off"))
    }
}

/// A language reports, digests and alert emails can be written in (one with a message
/// catalogue).
fn language(raw: &str) -> Result<String> {
    crate::platform::i18n::language("language", raw)
}

/// The most handles a brand lists (each network's accounts, regional ones included).
pub const MAX_HANDLES: usize = 50;
/// Longest value description.
pub const MAX_VALUE_DESCRIPTION: usize = 2_000;

pub(crate) fn handles(raw: Vec<Handle>) -> Result<Vec<Handle>> {
    if raw.len() > MAX_HANDLES {
        return Err(Error::bad_input("handles", format!("at most {MAX_HANDLES} handles")));
    }
    let mut out: Vec<Handle> = Vec::with_capacity(raw.len());
    for h in raw {
        let handle = validate::name("handles.handle", h.handle.trim().trim_start_matches('@'), 253)?;
        if !out.iter().any(|o| o.network == h.network && o.handle.eq_ignore_ascii_case(&handle)) {
            out.push(Handle { network: h.network, handle });
        }
    }
    Ok(out)
}

/// The brands the actor may see, in creation order.
pub async fn list(services: &Services, actor: &Actor, page: PageRequest) -> Result<Page<brand::Model>> {
    pagination::fetch(&services.db, actor.brand_scope(), brand::Column::Id, pagination::Direction::Ascending, page)
        .await
}

/// Creates a brand (owners and admins).
pub async fn create(services: &Services, actor: &Actor, input: NewBrand) -> Result<brand::Model> {
    actor.require_manager()?;
    let at = now();
    let model = brand::ActiveModel {
        id: Set(new_id()),
        agency_id: Set(actor.agency_id),
        name: Set(validate::name("name", &input.name, 120)?),
        sector: Set(validate::optional_text("sector", input.sector.as_deref(), 120)?),
        tracked_keywords: Set(StringList(validate::keywords("trackedKeywords", &input.tracked_keywords)?)),
        handles: Set(Handles(handles(input.handles)?)),
        time_zone: Set(validate::time_zone("timeZone", &input.time_zone)?),
        language: Set(language(input.language.as_deref().unwrap_or("en"))?),
        discovery_threshold: Set(discovery_threshold(
            input.discovery_threshold.unwrap_or(DEFAULT_DISCOVERY_THRESHOLD),
        )?),
        crisis_z_threshold: Set(CrisisSettings::Z_THRESHOLD),
        crisis_min_count: Set(CrisisSettings::MIN_COUNT),
        value_gap_min_count: Set(CrisisSettings::VALUE_GAP_MIN_COUNT),
        hold_min_severity: Set(CrisisSettings::HOLD_MIN_SEVERITY.as_str().into()),
        escalation_emails: Set(escalation_emails(&input.escalation_emails)?),
        contact_cadence: Set(crate::relationships::cadence(input.contact_cadence)?),
        digest_frequency: Set(digest_frequency(input.digest_frequency.as_deref().unwrap_or("weekly"))?),
        last_digest_at: Set(None),
        mention_retention_months: Set(mention_retention(
            input.mention_retention_months.unwrap_or(DEFAULT_MENTION_RETENTION_MONTHS),
        )?),
        created_at: Set(at),
        updated_at: Set(at),
    };
    let mut model = model;
    apply_crisis(&mut model, input.crisis)?;
    let txn = crate::platform::db::begin_write(&services.db).await?;
    ensure_unique_name(&txn, actor.agency_id, model.name.as_ref(), None).await?;
    let brand = model.insert(&txn).await?;
    audit::record(&txn, actor, "brand.created", "brand", Some(brand.id), serde_json::json!({ "name": brand.name }))
        .await?;
    txn.commit().await?;
    // Managers' verified callers list the agency's brands; they are reloaded with it.
    services.callers.changed(actor.agency_id).await;
    Ok(brand)
}

/// Updates a brand (managers, or members assigned to it).
pub async fn update(services: &Services, actor: &Actor, id: Uuid, patch: BrandPatch) -> Result<brand::Model> {
    let existing = actor.brand(&services.db, id).await?;
    actor.require_staff()?;
    if patch.crisis.hold_min_severity.is_some() {
        // Holds are released by managers only; so is the line that sets them off.
        actor.require_manager()?;
    }
    let mut model: brand::ActiveModel = existing.into();
    if let Some(name) = patch.name {
        let name = validate::name("name", &name, 120)?;
        ensure_unique_name(&services.db, actor.agency_id, &name, Some(id)).await?;
        model.name = Set(name);
    }
    if let Some(sector) = patch.sector {
        model.sector = Set(validate::optional_text("sector", sector.as_deref(), 120)?);
    }
    if let Some(keywords) = patch.tracked_keywords {
        model.tracked_keywords = Set(StringList(validate::keywords("trackedKeywords", &keywords)?));
    }
    if let Some(list) = patch.handles {
        model.handles = Set(Handles(handles(list)?));
    }
    if let Some(tz) = patch.time_zone {
        model.time_zone = Set(validate::time_zone("timeZone", &tz)?);
    }
    if let Some(lang) = patch.language {
        model.language = Set(language(&lang)?);
    }
    if let Some(threshold) = patch.discovery_threshold {
        model.discovery_threshold = Set(discovery_threshold(threshold)?);
    }
    apply_crisis(&mut model, patch.crisis)?;
    if let Some(emails) = patch.escalation_emails {
        model.escalation_emails = Set(escalation_emails(&emails)?);
    }
    if let Some(frequency) = patch.digest_frequency {
        model.digest_frequency = Set(digest_frequency(&frequency)?);
    }
    if let Some(months) = patch.mention_retention_months {
        model.mention_retention_months = Set(mention_retention(months)?);
    }
    let cadence_changed = patch.contact_cadence.is_some();
    if let Some(cadence) = patch.contact_cadence {
        model.contact_cadence = Set(crate::relationships::cadence(cadence)?);
    }
    model.updated_at = Set(now());
    let txn = crate::platform::db::begin_write(&services.db).await?;
    let updated = model.update(&txn).await?;
    if cadence_changed {
        crate::relationships::recompute_brand(&txn, &updated).await?;
    }
    txn.commit().await?;
    Ok(updated)
}

/// Deletes a brand and everything attached to it (owners and admins).
pub async fn delete(services: &Services, actor: &Actor, id: Uuid) -> Result<()> {
    let existing = actor.brand(&services.db, id).await?;
    actor.require_manager()?;
    let txn = crate::platform::db::begin_write(&services.db).await?;
    brand::Entity::delete_by_id(existing.id).exec(&txn).await?;
    audit::record(&txn, actor, "brand.deleted", "brand", Some(id), serde_json::json!({ "name": existing.name }))
        .await?;
    txn.commit().await?;
    services.callers.changed(actor.agency_id).await;
    Ok(())
}

async fn ensure_unique_name(
    db: &impl ConnectionTrait,
    agency_id: Uuid,
    name: &str,
    except: Option<Uuid>,
) -> Result<()> {
    let clash = brand::Entity::find()
        .filter(brand::Column::AgencyId.eq(agency_id))
        .filter(brand::Column::Name.eq(name))
        .one(db)
        .await?;
    match clash {
        Some(other) if Some(other.id) != except => {
            Err(Error::Conflict(format!("a brand named `{name}` already exists")))
        }
        _ => Ok(()),
    }
}

/// The fields of a brand value.
pub struct ValueInput {
    pub name: String,
    pub description: String,
    pub keywords: Vec<String>,
}

/// A partial update of a brand value.
#[derive(Default)]
pub struct ValuePatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub keywords: Option<Vec<String>>,
}

/// The values of several visible brands, grouped by brand (for DataLoaders).
pub async fn values_of(
    db: &impl ConnectionTrait,
    actor: &Actor,
    brand_ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<brand_value::Model>>> {
    let visible: Vec<Uuid> = brand_ids.iter().copied().filter(|id| actor.sees_brand(*id)).collect();
    let rows = brand_value::Entity::find()
        .filter(brand_value::Column::AgencyId.eq(actor.agency_id))
        .filter(brand_value::Column::BrandId.is_in(visible))
        .order_by_asc(brand_value::Column::Id)
        .all(db)
        .await?;
    let mut grouped: HashMap<Uuid, Vec<brand_value::Model>> = HashMap::new();
    for row in rows {
        grouped.entry(row.brand_id).or_default().push(row);
    }
    Ok(grouped)
}

/// Declares a value for a brand (staff who can edit the brand).
pub async fn create_value(
    services: &Services,
    actor: &Actor,
    brand_id: Uuid,
    input: ValueInput,
) -> Result<brand_value::Model> {
    let brand = actor.brand(&services.db, brand_id).await?;
    actor.require_staff()?;
    let name = validate::name("name", &input.name, 120)?;
    ensure_unique_value(&services.db, brand.id, &name, None).await?;
    let at = now();
    Ok(brand_value::ActiveModel {
        id: Set(new_id()),
        agency_id: Set(actor.agency_id),
        brand_id: Set(brand.id),
        name: Set(name),
        description: Set(validate::text("description", &input.description, MAX_VALUE_DESCRIPTION)?),
        keywords: Set(StringList(value_keywords(&input.keywords)?)),
        created_at: Set(at),
        updated_at: Set(at),
    }
    .insert(&services.db)
    .await?)
}

/// Updates a brand value.
pub async fn update_value(
    services: &Services,
    actor: &Actor,
    id: Uuid,
    patch: ValuePatch,
) -> Result<brand_value::Model> {
    let existing = get_value(&services.db, actor, id).await?;
    actor.require_staff()?;
    let brand_id = existing.brand_id;
    let mut model: brand_value::ActiveModel = existing.into();
    if let Some(name) = patch.name {
        let name = validate::name("name", &name, 120)?;
        ensure_unique_value(&services.db, brand_id, &name, Some(id)).await?;
        model.name = Set(name);
    }
    if let Some(description) = patch.description {
        model.description = Set(validate::text("description", &description, MAX_VALUE_DESCRIPTION)?);
    }
    if let Some(keywords) = patch.keywords {
        model.keywords = Set(StringList(value_keywords(&keywords)?));
    }
    model.updated_at = Set(now());
    Ok(model.update(&services.db).await?)
}

/// Deletes a brand value.
pub async fn delete_value(services: &Services, actor: &Actor, id: Uuid) -> Result<()> {
    let existing = get_value(&services.db, actor, id).await?;
    actor.require_staff()?;
    brand_value::Entity::delete_by_id(existing.id).exec(&services.db).await?;
    Ok(())
}

async fn get_value(db: &impl ConnectionTrait, actor: &Actor, id: Uuid) -> Result<brand_value::Model> {
    brand_value::Entity::find_by_id(id)
        .filter(brand_value::Column::AgencyId.eq(actor.agency_id))
        .one(db)
        .await?
        .filter(|v| actor.sees_brand(v.brand_id))
        .ok_or(Error::NotFound("brand value"))
}

/// A value is detected in mentions by its keywords, so it needs at least one.
fn value_keywords(raw: &[String]) -> Result<Vec<String>> {
    let keywords = validate::keywords("keywords", raw)?;
    if keywords.is_empty() {
        return Err(Error::bad_input("keywords", "a value needs at least one keyword to be detected in mentions"));
    }
    Ok(keywords)
}

async fn ensure_unique_value(
    db: &impl ConnectionTrait,
    brand_id: Uuid,
    name: &str,
    except: Option<Uuid>,
) -> Result<()> {
    let clash = brand_value::Entity::find()
        .filter(brand_value::Column::BrandId.eq(brand_id))
        .filter(brand_value::Column::Name.eq(name))
        .one(db)
        .await?;
    match clash {
        Some(other) if Some(other.id) != except => {
            Err(Error::Conflict(format!("this brand already has a value named `{name}`")))
        }
        _ => Ok(()),
    }
}
