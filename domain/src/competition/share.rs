//! Share of voice: per period (UTC days, ISO weeks from Monday, calendar months), how
//! many mentions name the brand and each competitor, their reach, net sentiment and
//! positives. The database counts per entity and day (the brand's side over its
//! `(brand_id, published_at)` index, the competitors' over `mention_competitor`);
//! days roll up into weeks and months here.
//!
//! A mention that names the brand and a competitor counts for both; one that names
//! nobody counts for no one. A mention's reach is its author's followers as the
//! mention came with them, and 1 without (so that every mention weighs something).

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseBackend};
use std::collections::HashMap;
use uuid::Uuid;

use crate::entities::{brand, competitor};
use crate::platform::db::Params;
use crate::scoring::sentiment::NEUTRAL_BAND;
use crate::{Actor, Error, Network, Result, Services};

/// The longest range, as the brand's own series.
pub const MAX_DAYS: i64 = 400;

/// The length of a share-of-voice period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Granularity {
    Day,
    /// ISO weeks, Monday to Sunday.
    Week,
    Month,
}

impl Granularity {
    /// The first day of the period holding `day`.
    fn start(self, day: NaiveDate) -> NaiveDate {
        match self {
            Granularity::Day => day,
            Granularity::Week => {
                day.checked_sub_signed(Duration::days(i64::from(day.weekday().num_days_from_monday()))).unwrap_or(day)
            }
            Granularity::Month => day.with_day(1).unwrap_or(day),
        }
    }

    /// The first day of the period after the one starting on `start`.
    fn next(self, start: NaiveDate) -> NaiveDate {
        match self {
            Granularity::Day => start.checked_add_signed(Duration::days(1)),
            Granularity::Week => start.checked_add_signed(Duration::days(7)),
            Granularity::Month => start.checked_add_months(chrono::Months::new(1)),
        }
        // The last representable day ends every range.
        .unwrap_or(NaiveDate::MAX)
    }
}

/// Whose voice a figure measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Entity {
    Brand,
    Competitor(Uuid),
}

/// What was said about one entity in one period (or the whole range).
#[derive(Clone, Debug, PartialEq)]
pub struct Voice {
    pub entity: Entity,
    pub mentions: i64,
    pub positive: i64,
    pub negative: i64,
    /// The sum of its mentions' reach.
    pub reach: i64,
    /// Its mentions over every entity's in the period; `None` when nobody spoke.
    pub share: Option<f64>,
    /// Its reach over every entity's.
    pub reach_share: Option<f64>,
    /// (positive − negative) / mentions, in [−1, 1]; `None` without mentions.
    pub net_sentiment: Option<f64>,
    /// Its positive mentions over its mentions.
    pub positive_rate: Option<f64>,
    /// Its positive mentions over every entity's positive mentions.
    pub positive_share: Option<f64>,
}

/// One period of share of voice.
#[derive(Clone, Debug, PartialEq)]
pub struct Period {
    /// The period, clipped to the requested range.
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// The brand first, then its competitors in name order.
    pub voices: Vec<Voice>,
}

/// Share of voice of a brand and its competitors over a range.
#[derive(Clone, Debug)]
pub struct ShareOfVoice {
    pub brand: brand::Model,
    pub competitors: Vec<competitor::Model>,
    pub periods: Vec<Period>,
    /// The whole range.
    pub total: Vec<Voice>,
}

impl ShareOfVoice {
    /// The name of the brand or competitor a figure is about.
    pub fn name_of(&self, entity: Entity) -> &str {
        match entity {
            Entity::Brand => &self.brand.name,
            Entity::Competitor(id) => self.competitors.iter().find(|c| c.id == id).map_or("", |c| c.name.as_str()),
        }
    }
}

/// Counts of one entity on one day.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Counts {
    mentions: i64,
    positive: i64,
    negative: i64,
    reach: i64,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, other: Counts) {
        self.mentions += other.mentions;
        self.positive += other.positive;
        self.negative += other.negative;
        self.reach = self.reach.saturating_add(other.reach);
    }
}

/// The share of voice of a brand the caller may see, over `[from, to)`.
pub async fn share_of_voice(
    services: &Services,
    actor: &Actor,
    brand_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    by: Granularity,
    network: Option<Network>,
) -> Result<ShareOfVoice> {
    if to <= from || to - from > Duration::days(MAX_DAYS) {
        return Err(Error::bad_input("to", format!("must be after `from`, at most {MAX_DAYS} days later")));
    }
    let brand = actor.brand(&services.db, brand_id).await?;
    compute(&services.db, brand, from, to, by, network).await
}

/// [`share_of_voice`] of a brand already checked (reports).
pub(crate) async fn compute(
    db: &impl ConnectionTrait,
    brand: brand::Model,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    by: Granularity,
    network: Option<Network>,
) -> Result<ShareOfVoice> {
    let competitors = super::of_brand(db, brand.id).await?;
    let daily = daily(db, brand.id, from, to, network).await?;
    let entities: Vec<Entity> =
        std::iter::once(Entity::Brand).chain(competitors.iter().map(|c| Entity::Competitor(c.id))).collect();
    let mut periods = Vec::new();
    let mut total: HashMap<Entity, Counts> = HashMap::new();
    let last = (to - Duration::nanoseconds(1)).date_naive();
    let mut start = by.start(from.date_naive());
    while start <= last {
        let next = by.next(start);
        let mut counts: HashMap<Entity, Counts> = HashMap::new();
        for ((entity, day), c) in &daily {
            if (start..next).contains(day) {
                *counts.entry(*entity).or_default() += *c;
                *total.entry(*entity).or_default() += *c;
            }
        }
        let bound = |day: NaiveDate| day.and_time(NaiveTime::MIN).and_utc();
        periods.push(Period {
            start: bound(start).max(from),
            end: bound(next).min(to),
            voices: voices(&entities, &counts),
        });
        if next <= start {
            break;
        }
        start = next;
    }
    Ok(ShareOfVoice { total: voices(&entities, &total), brand, competitors, periods })
}

fn ratio(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

fn voices(entities: &[Entity], counts: &HashMap<Entity, Counts>) -> Vec<Voice> {
    let mut all = Counts::default();
    counts.values().for_each(|c| all += *c);
    entities
        .iter()
        .map(|entity| {
            let c = counts.get(entity).copied().unwrap_or_default();
            Voice {
                entity: *entity,
                mentions: c.mentions,
                positive: c.positive,
                negative: c.negative,
                reach: c.reach,
                share: ratio(c.mentions, all.mentions),
                reach_share: ratio(c.reach, all.reach),
                net_sentiment: ratio(c.positive - c.negative, c.mentions),
                positive_rate: ratio(c.positive, c.mentions),
                positive_share: ratio(c.positive, all.positive),
            }
        })
        .collect()
}

/// Counts per entity and UTC day, from the database.
async fn daily(
    db: &impl ConnectionTrait,
    brand_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    network: Option<Network>,
) -> Result<HashMap<(Entity, NaiveDate), Counts>> {
    let backend = db.get_database_backend();
    let mut p = Params::new(backend);
    let (brand, start, end, band) = (p.bind(brand_id), p.bind(from), p.bind(to), p.bind(NEUTRAL_BAND));
    let on_network = network.map(|n| format!(" AND network = {}", p.bind(n.name()))).unwrap_or_default();
    // Grouped by the day itself (a date on PostgreSQL; on SQLite, whose UTC timestamps
    // are text, their first ten characters) and formatted once per day, as the brand's
    // own series does.
    let (day, label) = match backend {
        DatabaseBackend::Postgres => ("(published_at AT TIME ZONE 'UTC')::date", "to_char(day, 'YYYY-MM-DD')"),
        _ => ("substr(published_at, 1, 10)", "day"),
    };
    // Reach is summed as a double: pushed follower counts are the pusher's to choose,
    // and a bigint sum of them could overflow and fail the whole report.
    let figures = format!(
        "COUNT(*) AS mentions, \
         CAST(SUM(CASE WHEN sentiment >= {band} THEN 1 ELSE 0 END) AS BIGINT) AS positive, \
         CAST(SUM(CASE WHEN sentiment <= -{band} THEN 1 ELSE 0 END) AS BIGINT) AS negative, \
         CAST(SUM(CASE WHEN author_followers > 0 THEN CAST(author_followers AS DOUBLE PRECISION) ELSE 1.0 END) \
           AS DOUBLE PRECISION) AS reach"
    );
    let range = format!("brand_id = {brand} AND published_at >= {start} AND published_at < {end}{on_network}");
    let columns = "sentiment, author_followers";
    // The brand's voice is what names it, answers it or reviews it (relevance 0.3 and
    // up, see `mentions::relevance`), as the competitors' is what names them: posts
    // that name nobody count for no one.
    let sql = format!(
        "SELECT entity AS competitor_id, {label} AS day, {figures} FROM ( \
           SELECT NULL AS entity, {day} AS day, {columns} FROM mention \
           WHERE {range} AND about_brand AND relevance >= {named} \
           UNION ALL \
           SELECT competitor_id AS entity, {day} AS day, {columns} FROM mention_competitor WHERE {range} \
         ) AS voices GROUP BY entity, day",
        named = p.bind(0.3)
    );
    let mut out = HashMap::new();
    for row in db.query_all_raw(p.statement(sql)).await? {
        let competitor: Option<Uuid> = row.try_get("", "competitor_id")?;
        let raw: String = row.try_get("", "day")?;
        let Ok(day) = raw.parse::<NaiveDate>() else { continue };
        let entity = competitor.map_or(Entity::Brand, Entity::Competitor);
        let counts = Counts {
            mentions: row.try_get("", "mentions")?,
            positive: row.try_get::<Option<i64>>("", "positive")?.unwrap_or(0),
            negative: row.try_get::<Option<i64>>("", "negative")?.unwrap_or(0),
            // A float past i64 saturates.
            reach: row.try_get::<Option<f64>>("", "reach")?.unwrap_or(0.0) as i64,
        };
        *out.entry((entity, day)).or_default() += counts;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_start_on_mondays_and_firsts() {
        let day = NaiveDate::from_ymd_opt(2026, 12, 6).unwrap(); // a Sunday
        assert_eq!(Granularity::Week.start(day), NaiveDate::from_ymd_opt(2026, 11, 30).unwrap());
        assert_eq!(Granularity::Month.start(day), NaiveDate::from_ymd_opt(2026, 12, 1).unwrap());
        assert_eq!(Granularity::Month.next(NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()).to_string(), "2027-01-01");
    }

    #[test]
    fn shares_add_up_per_period() {
        let rival = Entity::Competitor(Uuid::nil());
        let counts = HashMap::from([
            (Entity::Brand, Counts { mentions: 3, positive: 2, negative: 1, reach: 300 }),
            (rival, Counts { mentions: 1, positive: 0, negative: 1, reach: 100 }),
        ]);
        let v = voices(&[Entity::Brand, rival], &counts);
        assert_eq!(v[0].share, Some(0.75));
        assert_eq!(v[0].reach_share, Some(0.75));
        assert_eq!(v[0].net_sentiment, Some(1.0 / 3.0));
        assert_eq!(v[0].positive_share, Some(1.0));
        assert_eq!(v[1].net_sentiment, Some(-1.0));
        assert_eq!(v[1].positive_share, Some(0.0));
        let empty = voices(&[Entity::Brand], &HashMap::new());
        assert_eq!((empty[0].mentions, empty[0].share, empty[0].net_sentiment), (0, None, None));
    }
}
