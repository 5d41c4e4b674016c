//! SLA policies: first-response targets per priority (optionally tighter per influencer
//! tier), business hours per weekday with several intervals a day, holidays, or 24/7,
//! and escalation contacts. A brand's policy wins over its agency's default, which wins
//! over the built-in one (Monday to Friday, 09:00–18:00 in the brand's zone).

use chrono::NaiveDate;
use chrono_tz::Tz;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

use super::business_time::{DAY_MINUTES, Schedule};
use crate::entities::{StringList, brand, sla_policy};
use crate::scoring::Priority;
use crate::scoring::influence::Tier;
use crate::{Actor, Error, Result, Services, new_id, now, platform::audit, platform::validate};

/// Minutes to first response per priority.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Targets {
    pub urgent: i32,
    pub high: i32,
    pub normal: i32,
    pub low: i32,
}

impl Targets {
    /// The built-in targets: an hour, four hours, a day, two days (business time).
    pub const DEFAULT: Targets = Targets { urgent: 60, high: 240, normal: 1_440, low: 2_880 };

    pub fn get(&self, priority: Priority) -> i32 {
        match priority {
            Priority::Urgent => self.urgent,
            Priority::High => self.high,
            Priority::Normal => self.normal,
            Priority::Low => self.low,
        }
    }
}

/// An opening interval of a weekday (0 = Monday), in minutes from local midnight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Opening {
    pub weekday: u8,
    pub start: u32,
    pub end: u32,
}

/// Where a policy comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicySource {
    Brand,
    Agency,
    BuiltIn,
}

/// The policy that applies to a brand.
#[derive(Clone, Debug)]
pub struct Policy {
    pub source: PolicySource,
    pub targets: Targets,
    /// Tier name → priority name → minutes.
    pub tier_targets: BTreeMap<String, BTreeMap<String, i32>>,
    pub openings: Vec<Opening>,
    pub holidays: Vec<NaiveDate>,
    pub always_open: bool,
    pub time_zone: String,
    /// The policy's own contacts (the brand's escalation emails are added when sending).
    pub escalation_contacts: Vec<String>,
    pub updated_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Policy {
    fn built_in(brand: &brand::Model) -> Self {
        Policy {
            source: PolicySource::BuiltIn,
            targets: Targets::DEFAULT,
            tier_targets: BTreeMap::new(),
            openings: (0..5).map(|weekday| Opening { weekday, start: 9 * 60, end: 18 * 60 }).collect(),
            holidays: Vec::new(),
            always_open: false,
            time_zone: brand.time_zone.clone(),
            escalation_contacts: Vec::new(),
            updated_at: None,
        }
    }

    /// `zone`: the brand's time zone, used unless the policy sets its own.
    fn from_row(row: &sla_policy::Model, zone: &str) -> Self {
        Policy {
            source: if row.brand_id.is_some() { PolicySource::Brand } else { PolicySource::Agency },
            targets: serde_json::from_value(row.targets.clone()).unwrap_or(Targets::DEFAULT),
            tier_targets: serde_json::from_value(row.tier_targets.clone()).unwrap_or_default(),
            openings: serde_json::from_value(row.business_hours.clone()).unwrap_or_default(),
            holidays: row.holidays.0.iter().filter_map(|d| d.parse().ok()).collect(),
            always_open: row.always_open,
            time_zone: row.time_zone.clone().unwrap_or_else(|| zone.to_owned()),
            escalation_contacts: row.escalation_contacts.0.clone(),
            updated_at: Some(row.updated_at),
        }
    }

    /// The target of a ticket, in business minutes.
    pub fn target(&self, priority: Priority, tier: Tier) -> i32 {
        self.tier_targets
            .get(tier.as_str())
            .and_then(|t| t.get(priority.as_str()))
            .copied()
            .unwrap_or_else(|| self.targets.get(priority))
    }

    /// The business-time schedule.
    pub fn schedule(&self) -> Schedule {
        let zone: Tz = self.time_zone.parse().unwrap_or(chrono_tz::UTC);
        if self.always_open {
            return Schedule::always(zone);
        }
        let mut week: [Vec<(u32, u32)>; 7] = Default::default();
        for o in &self.openings {
            if let Some(day) = week.get_mut(usize::from(o.weekday)) {
                day.push((o.start, o.end));
            }
        }
        for day in &mut week {
            day.sort();
        }
        Schedule { zone, always_open: false, week, holidays: self.holidays.iter().copied().collect() }
    }
}

/// The policy of a brand: its own, its agency's default, or the built-in one.
pub(crate) async fn effective(db: &impl ConnectionTrait, brand: &brand::Model) -> Result<Policy> {
    let rows = sla_policy::Entity::find()
        .filter(
            sla_policy::Column::ScopeKey.is_in([scope(brand.agency_id, Some(brand.id)), scope(brand.agency_id, None)]),
        )
        .all(db)
        .await?;
    let own = rows.iter().find(|r| r.brand_id == Some(brand.id));
    let default = rows.iter().find(|r| r.brand_id.is_none());
    Ok(match own.or(default) {
        Some(row) => Policy::from_row(row, &brand.time_zone),
        None => Policy::built_in(brand),
    })
}

fn scope(agency_id: Uuid, brand_id: Option<Uuid>) -> String {
    match brand_id {
        Some(brand) => format!("brand:{brand}"),
        None => format!("agency:{agency_id}"),
    }
}

/// A policy to save.
pub struct PolicyInput {
    /// `None`: the agency's default.
    pub brand_id: Option<Uuid>,
    pub time_zone: Option<String>,
    pub always_open: bool,
    pub targets: Targets,
    /// (tier, priority, minutes).
    pub tier_targets: Vec<(Tier, Priority, i32)>,
    pub openings: Vec<Opening>,
    pub holidays: Vec<NaiveDate>,
    pub escalation_contacts: Vec<String>,
}

fn check_minutes(field: &str, minutes: i32) -> Result<()> {
    if minutes <= 0 {
        return Err(Error::bad_input(field, "a target must be a positive number of minutes"));
    }
    if minutes > 60 * 24 * 60 {
        return Err(Error::bad_input(field, "a target is at most 60 days"));
    }
    Ok(())
}

/// Validates openings: weekday 0–6, `start < end ≤ 24:00`, no overlap within a day.
pub fn check_openings(openings: &[Opening]) -> Result<()> {
    let mut days: BTreeMap<u8, Vec<(u32, u32)>> = BTreeMap::new();
    for o in openings {
        if o.weekday > 6 || o.start >= o.end || o.end > DAY_MINUTES {
            return Err(Error::bad_input("businessHours", "each interval starts before it ends, within one day"));
        }
        days.entry(o.weekday).or_default().push((o.start, o.end));
    }
    for intervals in days.values_mut() {
        intervals.sort();
        if intervals.windows(2).any(|w| w[1].0 < w[0].1) {
            return Err(Error::bad_input("businessHours", "intervals of a day overlap"));
        }
    }
    Ok(())
}

/// Creates or replaces the policy of a brand, or the agency's default (managers).
pub async fn upsert(services: &Services, actor: &Actor, input: PolicyInput) -> Result<Policy> {
    actor.require_manager()?;
    let brand = match input.brand_id {
        Some(id) => Some(actor.brand(&services.db, id).await?),
        None => None,
    };
    let t = &input.targets;
    for (field, minutes) in
        [("targets.urgent", t.urgent), ("targets.high", t.high), ("targets.normal", t.normal), ("targets.low", t.low)]
    {
        check_minutes(field, minutes)?;
    }
    let mut tier_targets: BTreeMap<String, BTreeMap<String, i32>> = BTreeMap::new();
    for (tier, priority, minutes) in &input.tier_targets {
        check_minutes("tierTargets.minutes", *minutes)?;
        tier_targets.entry(tier.as_str().into()).or_default().insert(priority.as_str().into(), *minutes);
    }
    check_openings(&input.openings)?;
    if !input.always_open && input.openings.is_empty() {
        return Err(Error::bad_input("businessHours", "give opening hours, or set alwaysOpen"));
    }
    let time_zone = input.time_zone.as_deref().map(|z| validate::time_zone("timeZone", z)).transpose()?;
    let holidays: BTreeSet<String> = input.holidays.iter().map(|d| d.to_string()).collect();
    if holidays.len() > 366 {
        return Err(Error::bad_input("holidays", "at most 366 dates"));
    }
    let mut contacts = Vec::new();
    for email in &input.escalation_contacts {
        let email = validate::email("escalationEmails", email)?;
        if !contacts.contains(&email) {
            contacts.push(email);
        }
    }
    let key = scope(actor.agency_id, input.brand_id);
    let at = now();
    let txn = crate::platform::db::begin_write(&services.db).await?;
    let existing = sla_policy::Entity::find().filter(sla_policy::Column::ScopeKey.eq(key.clone())).one(&txn).await?;
    let mut model = match &existing {
        Some(row) => row.clone().into(),
        None => sla_policy::ActiveModel {
            id: Set(new_id()),
            agency_id: Set(actor.agency_id),
            brand_id: Set(input.brand_id),
            scope_key: Set(Some(key)),
            created_at: Set(at),
            ..Default::default()
        },
    };
    model.targets = Set(serde_json::to_value(input.targets).unwrap_or_default());
    model.tier_targets = Set(serde_json::to_value(&tier_targets).unwrap_or_default());
    model.business_hours = Set(serde_json::to_value(&input.openings).unwrap_or_default());
    model.holidays = Set(StringList(holidays.into_iter().collect()));
    model.always_open = Set(input.always_open);
    model.escalation_contacts = Set(StringList(contacts));
    model.time_zone = Set(time_zone);
    model.updated_at = Set(at);
    let row = if existing.is_some() { model.update(&txn).await? } else { model.insert(&txn).await? };
    audit::record(
        &txn,
        actor,
        "sla_policy.saved",
        "sla_policy",
        Some(row.id),
        serde_json::json!({ "brandId": row.brand_id }),
    )
    .await?;
    txn.commit().await?;
    // An agency default without a zone of its own follows each brand's zone.
    let zone = brand.map_or_else(|| "UTC".to_owned(), |b| b.time_zone);
    Ok(Policy::from_row(&row, &zone))
}

/// The policy that applies to a brand the actor sees.
pub async fn for_brand(services: &Services, actor: &Actor, brand_id: Uuid) -> Result<Policy> {
    let brand = actor.brand(&services.db, brand_id).await?;
    effective(&services.db, &brand).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openings_must_not_overlap() {
        let o = |weekday, start, end| Opening { weekday, start, end };
        assert!(check_openings(&[o(0, 540, 720), o(0, 840, 1080), o(1, 540, 1080)]).is_ok());
        assert!(check_openings(&[o(0, 540, 720), o(0, 700, 1080)]).is_err(), "overlap");
        assert!(check_openings(&[o(0, 720, 540)]).is_err(), "ends before it starts");
        assert!(check_openings(&[o(7, 540, 720)]).is_err(), "no eighth day");
        assert!(check_openings(&[o(6, 0, 1440)]).is_ok(), "until midnight");
    }
}
