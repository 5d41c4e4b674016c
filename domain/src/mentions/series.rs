//! A brand's mentions day by day: how many, how many negative and positive, and the mean
//! sentiment, for dashboards and reports.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use sea_orm::{ConnectionTrait, DatabaseBackend};
use std::collections::HashMap;
use uuid::Uuid;

use crate::platform::db::Params;
use crate::scoring::sentiment::NEUTRAL_BAND;
use crate::{Actor, Error, Result, Services};

/// The longest period a series covers.
pub const MAX_DAYS: i64 = 400;

/// Mentions of one day (UTC).
#[derive(Clone, Debug, PartialEq)]
pub struct Day {
    pub day: NaiveDate,
    pub mentions: i64,
    pub negative: i64,
    pub positive: i64,
    pub mean_sentiment: Option<f64>,
}

/// The daily series of a brand the caller may see, over `[from, to)`.
pub async fn sentiment_series(
    services: &Services,
    actor: &Actor,
    brand_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Day>> {
    if to <= from || to - from > Duration::days(MAX_DAYS) {
        return Err(Error::bad_input("to", format!("must be after `from`, at most {MAX_DAYS} days later")));
    }
    let brand = actor.check_brand(&services.db, brand_id).await?;
    daily(&services.db, brand, from, to).await
}

/// Mentions per UTC day, counted by the database from the `(brand_id, published_at)`
/// index alone (it carries `sentiment`).
pub(crate) async fn daily(
    db: &impl ConnectionTrait,
    brand_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Day>> {
    let backend = db.get_database_backend();
    let mut p = Params::new(backend);
    let (brand, start, end, band) = (p.bind(brand_id), p.bind(from), p.bind(to), p.bind(NEUTRAL_BAND));
    // Grouped by the day itself (a date on PostgreSQL; on SQLite, whose UTC timestamps
    // are text, their first ten characters) and formatted once per day, not per row.
    let day = match backend {
        DatabaseBackend::Postgres => "(published_at AT TIME ZONE 'UTC')::date",
        _ => "substr(published_at, 1, 10)",
    };
    let label = match backend {
        DatabaseBackend::Postgres => "to_char(day, 'YYYY-MM-DD')",
        _ => "day",
    };
    let sql = format!(
        "SELECT {label} AS day, COUNT(*) AS mentions, \
         CAST(SUM(CASE WHEN sentiment <= -{band} THEN 1 ELSE 0 END) AS BIGINT) AS negative, \
         CAST(SUM(CASE WHEN sentiment >= {band} THEN 1 ELSE 0 END) AS BIGINT) AS positive, \
         CAST(AVG(sentiment) AS DOUBLE PRECISION) AS mean_sentiment \
         FROM (SELECT {day} AS day, sentiment FROM mention \
               WHERE brand_id = {brand} AND about_brand AND published_at >= {start} AND published_at < {end}) AS m \
         GROUP BY m.day ORDER BY m.day"
    );
    let rows = db.query_all_raw(p.statement(sql)).await?;
    let mut by_day: HashMap<NaiveDate, Day> = HashMap::new();
    for row in rows {
        let raw: String = row.try_get("", "day")?;
        let Ok(day) = raw.parse::<NaiveDate>() else { continue };
        by_day.insert(
            day,
            Day {
                day,
                mentions: row.try_get("", "mentions")?,
                negative: row.try_get::<Option<i64>>("", "negative")?.unwrap_or(0),
                positive: row.try_get::<Option<i64>>("", "positive")?.unwrap_or(0),
                mean_sentiment: row.try_get("", "mean_sentiment").ok().flatten(),
            },
        );
    }
    // Every day of the period, empty ones too, so charts keep their time axis.
    let mut out = Vec::new();
    let mut day = from.date_naive();
    while day < to.date_naive() || (day == to.date_naive() && to.time() > chrono::NaiveTime::MIN) {
        out.push(by_day.remove(&day).unwrap_or(Day {
            day,
            mentions: 0,
            negative: 0,
            positive: 0,
            mean_sentiment: None,
        }));
        let Some(next) = day.succ_opt() else { break };
        day = next;
        if out.len() > 400 {
            break;
        }
    }
    Ok(out)
}
