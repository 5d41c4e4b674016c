//! Competitive influencers: the authors who talk about a brand's competitors and never
//! about the brand, scored as influencers are ([`crate::scoring::influence`]) on what
//! they say of the competitors. They are the agency's prospects: people already
//! speaking to the brand's market who have not met the brand.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter};
use std::collections::HashMap;
use uuid::Uuid;

use crate::entities::{author, brand, competitor};
use crate::platform::db::Params;
use crate::platform::text::normalise_handle;
use crate::scoring::influence::{self, ACTIVITY_WINDOW_DAYS, Activity, Influence, Profile};
use crate::{Actor, Error, Result, Services, now};

/// The longest look back.
pub const MAX_DAYS: i64 = 400;
/// The most prospects listed.
pub const MAX_FIRST: i32 = 100;

/// An author who talks about competitors and not about the brand.
#[derive(Clone, Debug)]
pub struct Prospect {
    pub author: author::Model,
    /// Its influence from its mentions of the competitors (stance: towards them).
    pub influence: Influence,
    /// How many of its mentions name each competitor, most named first.
    pub competitors: Vec<(competitor::Model, i64)>,
}

/// One author's competitor-only mentions, summed by the database.
#[derive(Debug, FromQueryResult)]
struct Row {
    author_id: Uuid,
    count: i64,
    first_seen: DateTime<Utc>,
    last_seen: DateTime<Utc>,
    sentiment_sum: f64,
    sentiment_count: i64,
    interactions: f64,
    recent: i64,
    max_followers: Option<i64>,
}

/// Authors scored per call, the widest audiences and most frequent first: enough for
/// any `first`, and a bounded amount of work however busy the competitors are.
const CANDIDATES: usize = 1_000;

/// The `first` most influential authors who named the brand's competitors (or only
/// `competitor_id`) in the last `days` and never the brand; the brand's and the
/// competitors' own accounts are left out.
pub async fn competitive_influencers(
    services: &Services,
    actor: &Actor,
    brand_id: Uuid,
    competitor_id: Option<Uuid>,
    days: i64,
    first: i32,
) -> Result<Vec<Prospect>> {
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(Error::bad_input("days", format!("between 1 and {MAX_DAYS}")));
    }
    if !(1..=MAX_FIRST).contains(&first) {
        return Err(Error::bad_input("first", format!("between 1 and {MAX_FIRST}")));
    }
    let brand = actor.brand(&services.db, brand_id).await?;
    let competitors = super::of_brand(&services.db, brand.id).await?;
    if competitor_id.is_some_and(|id| !competitors.iter().any(|c| c.id == id)) {
        return Err(Error::NotFound("competitor"));
    }
    let own = own_accounts(&brand, &competitors);
    let since = now() - Duration::days(days);
    find(&services.db, brand.id, &competitors, &own, competitor_id, (since, now()), first as usize).await
}

/// The brand's and its competitors' accounts: network name and normalised handle.
pub(crate) fn own_accounts(brand: &brand::Model, competitors: &[competitor::Model]) -> Vec<(String, String)> {
    brand
        .handles
        .0
        .iter()
        .chain(competitors.iter().flat_map(|c| c.handles.0.iter()))
        .map(|h| (h.network.name(), normalise_handle(&h.handle)))
        .collect()
}

/// [`competitive_influencers`] of a brand already checked (reports).
pub(crate) async fn find(
    db: &impl ConnectionTrait,
    brand_id: Uuid,
    competitors: &[competitor::Model],
    own: &[(String, String)],
    competitor_id: Option<Uuid>,
    (since, until): (DateTime<Utc>, DateTime<Utc>),
    first: usize,
) -> Result<Vec<Prospect>> {
    let mut p = Params::new(db.get_database_backend());
    let (brand, start, end, recent) =
        (p.bind(brand_id), p.bind(since), p.bind(until), p.bind(until - Duration::days(ACTIVITY_WINDOW_DAYS)));
    // Mentions still naming a competitor (one deleted leaves its mentions unnamed).
    let named = match competitor_id {
        Some(id) => format!("mc.mention_id = m.id AND mc.competitor_id = {}", p.bind(id)),
        None => "mc.mention_id = m.id".to_owned(),
    };
    // `about_brand` false: the mention names competitors and not the brand. An author
    // with any mention about the brand is the brand's already.
    // Interactions are summed as doubles: pushed counts could overflow a bigint sum.
    let sql = format!(
        "SELECT author_id, COUNT(*) AS count, MIN(published_at) AS first_seen, MAX(published_at) AS last_seen, \
         CAST(SUM(COALESCE(sentiment, 0.0)) AS DOUBLE PRECISION) AS sentiment_sum, \
         COUNT(sentiment) AS sentiment_count, \
         CAST(SUM(CAST(likes AS DOUBLE PRECISION) + CAST(shares AS DOUBLE PRECISION) \
                  + CAST(replies AS DOUBLE PRECISION)) AS DOUBLE PRECISION) AS interactions, \
         CAST(SUM(CASE WHEN published_at >= {recent} THEN 1 ELSE 0 END) AS BIGINT) AS recent, \
         MAX(author_followers) AS max_followers \
         FROM mention m WHERE brand_id = {brand} AND NOT about_brand AND published_at >= {start} \
         AND published_at < {end} AND author_id IS NOT NULL \
         AND EXISTS (SELECT 1 FROM mention_competitor mc WHERE {named}) \
         AND NOT EXISTS (SELECT 1 FROM mention b WHERE b.brand_id = {brand} AND b.author_id = m.author_id \
                         AND b.about_brand) \
         GROUP BY author_id \
         ORDER BY MAX(COALESCE(author_followers, 0)) DESC, COUNT(*) DESC, author_id LIMIT {CANDIDATES}"
    );
    let rows = Row::find_by_statement(p.statement(sql)).all(db).await?;
    let mut profiles: HashMap<Uuid, author::Model> = HashMap::new();
    for chunk in rows.chunks(500) {
        let found =
            author::Entity::find().filter(author::Column::Id.is_in(chunk.iter().map(|r| r.author_id))).all(db).await?;
        profiles.extend(found.into_iter().map(|a| (a.id, a)));
    }
    let mut scored: Vec<(author::Model, Influence)> = rows
        .into_iter()
        .filter_map(|r| {
            let author = profiles.remove(&r.author_id)?;
            if own
                .iter()
                .any(|(network, handle)| *network == author.network && *handle == normalise_handle(&author.handle))
            {
                return None;
            }
            let profile =
                Profile { followers: author.followers, following: author.following, verified: author.verified };
            let activity = Activity {
                count: r.count,
                first_seen: r.first_seen,
                last_seen: r.last_seen,
                // Each of these mentions is wholly about the market the brand competes in.
                relevance_sum: r.count as f64,
                sentiment_sum: r.sentiment_sum,
                sentiment_count: r.sentiment_count,
                // A float past i64 saturates.
                interactions: r.interactions as i64,
                recent: r.recent,
                // The largest count its mentions came with (they are few per author).
                latest_followers: r.max_followers,
            };
            Some((author, influence::score(profile, &activity)))
        })
        .collect();
    scored.sort_by(|a, b| b.1.score.total_cmp(&a.1.score).then(a.0.id.cmp(&b.0.id)));
    scored.truncate(first);
    let named = named_per_author(db, brand_id, scored.iter().map(|(a, _)| a.id).collect(), (since, until)).await?;
    Ok(scored
        .into_iter()
        .map(|(author, influence)| {
            let mut counts: Vec<(competitor::Model, i64)> =
                competitors.iter().filter_map(|c| named.get(&(author.id, c.id)).map(|n| (c.clone(), *n))).collect();
            counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.name.cmp(&b.0.name)));
            Prospect { author, influence, competitors: counts }
        })
        .collect())
}

/// How many of each author's mentions since `since` name each competitor.
async fn named_per_author(
    db: &impl ConnectionTrait,
    brand_id: Uuid,
    authors: Vec<Uuid>,
    (since, until): (DateTime<Utc>, DateTime<Utc>),
) -> Result<HashMap<(Uuid, Uuid), i64>> {
    if authors.is_empty() {
        return Ok(HashMap::new());
    }
    let mut p = Params::new(db.get_database_backend());
    let sql = format!(
        "SELECT author_id, competitor_id, COUNT(*) AS n FROM mention_competitor \
         WHERE brand_id = {} AND published_at >= {} AND published_at < {} AND author_id IN ({}) \
         GROUP BY author_id, competitor_id",
        p.bind(brand_id),
        p.bind(since),
        p.bind(until),
        p.bind_all(authors)
    );
    let mut out = HashMap::new();
    for row in db.query_all_raw(p.statement(sql)).await? {
        out.insert((row.try_get("", "author_id")?, row.try_get("", "competitor_id")?), row.try_get("", "n")?);
    }
    Ok(out)
}
