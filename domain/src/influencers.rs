//! Influencers: for each brand, the authors who talk about it, ranked by an explainable
//! influence score (see [`crate::scoring::influence`]). Scores are refreshed for the
//! authors of newly scored mentions and for every author nightly (activity decays).
//!
//! Scoring does not refresh in its own transaction: concurrent scoring batches of one
//! brand share many authors, and each waited for the others' influencer rows until
//! their commit. It marks the authors stale ([`mark_stale`]) and one refresher per
//! brand recomputes them ([`refresh_stale`]), each author once however many batches
//! marked it.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{OnConflict, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Select, SelectModel, SelectTwoModel, Set,
};
use std::collections::HashMap;
use uuid::Uuid;

use crate::System;
use crate::entities::{StringList, author, brand, brand_influencer, influencer_stale, mention};
use crate::platform::db::{Params, batch_sizes, batches};
use crate::platform::pagination::{self, Page, PageRequest};
use crate::scoring::influence::{self, ACTIVITY_WINDOW_DAYS, Activity, Profile, Stance, Tier};
use crate::{Actor, Result, Services, new_id, now, platform::events};

/// Filters of [`list`].
#[derive(Default)]
pub struct InfluencerFilter {
    pub tier: Option<Tier>,
    pub stance: Option<Stance>,
    pub min_score: Option<f64>,
}

/// Orders of [`list`], all descending (ties broken by id).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InfluencerOrder {
    #[default]
    Score,
    LastSeen,
    MentionCount,
}

/// A brand's influencers, keyset-paginated in `order`, each with its author when
/// `with_authors` (read in the same statement; authors are public profiles, shared by
/// every tenant). The cursor is the id of the last row seen; its sort key is read back,
/// so cursors stay opaque and typed.
pub async fn list(
    services: &Services,
    actor: &Actor,
    brand_id: Uuid,
    filter: InfluencerFilter,
    order: InfluencerOrder,
    page: PageRequest,
    with_authors: bool,
) -> Result<Page<(brand_influencer::Model, Option<author::Model>)>> {
    let brand = actor.check_brand(&services.db, brand_id).await?;
    let scoped = || {
        brand_influencer::Entity::find()
            .filter(brand_influencer::Column::AgencyId.eq(actor.agency_id))
            .filter(brand_influencer::Column::BrandId.eq(brand))
    };
    let mut select = scoped();
    if let Some(tier) = filter.tier {
        select = select.filter(brand_influencer::Column::Tier.eq(tier.as_str()));
    }
    if let Some(stance) = filter.stance {
        select = select.filter(brand_influencer::Column::Stance.eq(stance.as_str()));
    }
    if let Some(min) = filter.min_score {
        select = select.filter(brand_influencer::Column::Score.gte(min));
    }
    let column = match order {
        InfluencerOrder::Score => brand_influencer::Column::Score,
        InfluencerOrder::LastSeen => brand_influencer::Column::LastSeenAt,
        InfluencerOrder::MentionCount => brand_influencer::Column::MentionCount,
    };
    let mut after = None;
    if let Some(cursor) = page.after {
        let select = scoped().filter(brand_influencer::Column::Id.eq(cursor));
        let last = pagination::cursor_row(&services.db, select, "influencer").await?;
        let key: sea_orm::Value = match order {
            InfluencerOrder::Score => last.score.into(),
            InfluencerOrder::LastSeen => last.last_seen_at.into(),
            InfluencerOrder::MentionCount => last.mention_count.into(),
        };
        after = Some((key, cursor));
    }
    let key = (column, brand_influencer::Column::Id);
    let select = pagination::by_key(select, key, pagination::Direction::Descending, after);
    read_with_authors(&services.db, select, page, with_authors).await
}

/// The page of `select`, each influencer with its author when `with_authors` (a join,
/// so one statement either way; without it the caller's DataLoader reads the authors).
pub(crate) async fn read_with_authors(
    db: &impl ConnectionTrait,
    select: Select<brand_influencer::Entity>,
    page: PageRequest,
    with_authors: bool,
) -> Result<Page<(brand_influencer::Model, Option<author::Model>)>> {
    if with_authors {
        let query = select.find_also_related(author::Entity).into_query();
        pagination::read::<SelectTwoModel<brand_influencer::Model, author::Model>>(db, query, page).await
    } else {
        let page = pagination::read::<SelectModel<brand_influencer::Model>>(db, select.into_query(), page).await?;
        Ok(page.map(|row| (row, None)))
    }
}

#[derive(FromQueryResult)]
struct ActivityRow {
    author_id: Uuid,
    count: i64,
    first_seen: DateTime<Utc>,
    last_seen: DateTime<Utc>,
    relevance_sum: f64,
    sentiment_sum: f64,
    sentiment_count: i64,
    interactions: i64,
    recent: i64,
    latest_followers: Option<i64>,
}

/// Each author's activity about the brand, summed by the database (one row per author,
/// whatever the number of mentions).
async fn activity_of(
    db: &impl ConnectionTrait,
    brand_id: Uuid,
    author_ids: &[Uuid],
) -> Result<HashMap<Uuid, Activity>> {
    let mut params = Params::new(db.get_database_backend());
    let brand = params.bind(brand_id);
    let recent = params.bind(now() - chrono::Duration::days(ACTIVITY_WINDOW_DAYS));
    let authors = params.bind_all(author_ids.iter().copied());
    // One pass over the authors' mentions: the newest claimed follower count comes from
    // a window over the same rows (it was a correlated subquery per author, which read
    // every mention twice). SUMs are cast because PostgreSQL sums BIGINTs as NUMERIC.
    let sql = format!(
        "SELECT author_id, COUNT(*) AS count, MIN(published_at) AS first_seen, MAX(published_at) AS last_seen, \
         CAST(SUM(COALESCE(relevance, 0.0)) AS DOUBLE PRECISION) AS relevance_sum, \
         CAST(SUM(COALESCE(sentiment, 0.0)) AS DOUBLE PRECISION) AS sentiment_sum, COUNT(sentiment) AS sentiment_count, \
         CAST(SUM(likes + shares + replies) AS BIGINT) AS interactions, \
         CAST(SUM(CASE WHEN published_at >= {recent} THEN 1 ELSE 0 END) AS BIGINT) AS recent, \
         MAX(CASE WHEN newest = 1 THEN author_followers END) AS latest_followers \
         FROM (SELECT author_id, published_at, relevance, sentiment, likes, shares, replies, author_followers, \
                 ROW_NUMBER() OVER (PARTITION BY author_id \
                   ORDER BY CASE WHEN author_followers IS NULL THEN 1 ELSE 0 END, published_at DESC, id DESC) AS newest \
               FROM mention WHERE brand_id = {brand} AND about_brand AND author_id IN ({authors})) AS activity \
         GROUP BY author_id"
    );
    let rows = ActivityRow::find_by_statement(params.statement(sql)).all(db).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let activity = Activity {
                count: r.count,
                first_seen: r.first_seen,
                last_seen: r.last_seen,
                relevance_sum: r.relevance_sum,
                sentiment_sum: r.sentiment_sum,
                sentiment_count: r.sentiment_count,
                interactions: r.interactions,
                recent: r.recent,
                latest_followers: r.latest_followers,
            };
            (r.author_id, activity)
        })
        .collect())
}

/// Recomputes the influence of `author_ids` for `brand` from the brand's mentions, in
/// the caller's transaction, and records `influencer.discovered` for those whose score
/// reached the brand's threshold for the first time.
pub(crate) async fn refresh(db: &DatabaseTransaction, brand: &brand::Model, author_ids: &[Uuid]) -> Result<usize> {
    if author_ids.is_empty() {
        return Ok(0);
    }
    // The aggregate reads up to a thousand authors' mentions by an `IN` list, which a
    // generic plan made while the mentions were few would read badly.
    crate::platform::db::plan_for_values(db).await?;
    let activities = activity_of(db, brand.id, author_ids).await?;
    let profiles: HashMap<Uuid, author::Model> = author::Entity::find()
        .filter(author::Column::Id.is_in(author_ids.iter().copied()))
        .all(db)
        .await?
        .into_iter()
        .map(|a| (a.id, a))
        .collect();

    let at = now();
    let mut scored: Vec<(Uuid, influence::Influence)> = activities
        .iter()
        .map(|(author_id, activity)| {
            let profile = profiles
                .get(author_id)
                .map(|a| Profile { followers: a.followers, following: a.following, verified: a.verified })
                .unwrap_or_default();
            (*author_id, influence::score(profile, activity))
        })
        .collect();
    // In key order, so concurrent refreshes of one brand never deadlock.
    scored.sort_by_key(|(author_id, _)| *author_id);
    let count = scored.len();
    let threshold = f64::from(brand.discovery_threshold);
    let mut crossed = Vec::new();
    // Row counts of powers of two, as `db::batches` makes (each count is a statement
    // text every connection caches), with the rows kept in `scored` for `crossed`.
    let mut rest = scored.as_slice();
    for size in batch_sizes(rest.len(), 128) {
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        let models = chunk.iter().map(|(author_id, r)| brand_influencer::ActiveModel {
            id: Set(new_id()),
            agency_id: Set(brand.agency_id),
            brand_id: Set(brand.id),
            author_id: Set(*author_id),
            score: Set(r.score),
            components: Set(serde_json::to_value(&r.components).unwrap_or_default()),
            tier: Set(r.tier.as_str().to_owned()),
            stance: Set(r.stance.as_str().to_owned()),
            relationship_status: Set("discovered".to_owned()),
            owner_membership_id: Set(None),
            tags: Set(StringList::default()),
            notes: Set(None),
            mention_count: Set(i32::try_from(r.mention_count).unwrap_or(i32::MAX)),
            contact_cadence_days: Set(None),
            next_contact_due_at: Set(None),
            first_seen_at: Set(r.first_seen),
            last_seen_at: Set(r.last_seen),
            created_at: Set(at),
            updated_at: Set(at),
            discovered_at: Set(None),
            last_contact_at: Set(None),
            contact_reminded_at: Set(None),
        });
        let mut upsert = brand_influencer::Entity::insert_many(models)
            .on_conflict(
                OnConflict::columns([brand_influencer::Column::BrandId, brand_influencer::Column::AuthorId])
                    .update_columns([
                        brand_influencer::Column::Score,
                        brand_influencer::Column::Components,
                        brand_influencer::Column::Tier,
                        brand_influencer::Column::Stance,
                        brand_influencer::Column::MentionCount,
                        brand_influencer::Column::FirstSeenAt,
                        brand_influencer::Column::LastSeenAt,
                        brand_influencer::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .into_query();
        // The rows as written say which crossed the threshold unannounced, so finding
        // them costs no second read of the influencers.
        upsert.returning(Query::returning().columns([
            brand_influencer::Column::Id,
            brand_influencer::Column::AuthorId,
            brand_influencer::Column::DiscoveredAt,
        ]));
        for row in db.query_all_raw(db.get_database_backend().build(&upsert)).await? {
            let discovered_at: Option<DateTime<Utc>> = row.try_get("", "discovered_at")?;
            let author_id: Uuid = row.try_get("", "author_id")?;
            let Ok(i) = chunk.binary_search_by_key(&author_id, |(id, _)| *id) else { continue };
            if discovered_at.is_none() && chunk[i].1.score >= threshold {
                crossed.push((row.try_get::<Uuid>("", "id")?, &chunk[i]));
            }
        }
    }
    announce_discoveries(db, brand, &crossed, &profiles).await?;
    Ok(count)
}

/// Marks the influencers that reached the threshold and were never announced, and
/// records one `influencer.discovered` event each. The conditional update makes the
/// announcement happen once even when two jobs refresh the same author.
async fn announce_discoveries(
    db: &impl ConnectionTrait,
    brand: &brand::Model,
    crossed: &[(Uuid, &(Uuid, influence::Influence))],
    profiles: &HashMap<Uuid, author::Model>,
) -> Result<()> {
    for &(id, (author_id, influence)) in crossed {
        let marked = brand_influencer::Entity::update_many()
            .col_expr(brand_influencer::Column::DiscoveredAt, sea_orm::sea_query::Expr::value(now()))
            .filter(brand_influencer::Column::Id.eq(id))
            .filter(brand_influencer::Column::DiscoveredAt.is_null())
            .exec(db)
            .await?;
        if marked.rows_affected == 1 {
            let profile = profiles.get(author_id);
            events::record(
                db,
                brand.agency_id,
                Some(brand.id),
                events::INFLUENCER_DISCOVERED,
                serde_json::json!({
                    "brandId": brand.id,
                    "influencerId": id,
                    "authorId": author_id,
                    "network": profile.map(|a| &a.network),
                    "handle": profile.map(|a| &a.handle),
                    "score": influence.score,
                    "threshold": brand.discovery_threshold,
                    "tier": influence.tier.as_str(),
                    "stance": influence.stance.as_str(),
                    "components": influence.components,
                }),
            )
            .await?;
        }
    }
    Ok(())
}

/// Stale authors recomputed per refresh transaction.
const STALE_BATCH: usize = 1_000;

/// Marks `author_ids` stale for `brand_id`, in the transaction that scored their
/// mentions, so that the marks become visible together with the mentions.
pub(crate) async fn mark_stale(db: &impl ConnectionTrait, brand_id: Uuid, author_ids: &[Uuid]) -> Result<()> {
    let at = now();
    let rows = author_ids.iter().map(|&author_id| influencer_stale::ActiveModel {
        id: Set(new_id()),
        brand_id: Set(brand_id),
        author_id: Set(author_id),
        created_at: Set(at),
    });
    for chunk in batches(rows.collect(), 1024) {
        influencer_stale::Entity::insert_many(chunk).exec_without_returning(db).await?;
    }
    Ok(())
}

/// Recomputes the brand's stale authors until none is left; returns how many
/// influencers it wrote.
///
/// One refresher per brand at a time across the fleet (a transaction-scoped advisory
/// lock on PostgreSQL; SQLite has one writer anyway). A refresh that finds the brand
/// taken leaves at once: the refresher in place looks for markers again after each of
/// its transactions, its last included, so none committed meanwhile is left behind.
/// (Should two brands' lock keys ever collide, the minute sweep finds what was left.)
pub async fn refresh_stale(_: System, services: &Services, brand_id: Uuid) -> Result<usize> {
    let Some(brand) = brand::Entity::find_by_id(brand_id).one(&services.db).await? else {
        return Ok(0);
    };
    let (mut total, mut after) = (0, Uuid::nil());
    loop {
        let txn = crate::platform::db::begin_write(&services.db).await?;
        if !lock_refresh(&txn, brand_id).await? {
            return Ok(total);
        }
        let authors = take_stale(&txn, brand_id, after).await?;
        if !authors.is_empty() {
            total += refresh(&txn, &brand, &authors).await?;
        }
        txn.commit().await?;
        match authors.last() {
            Some(&last) => after = last,
            // The end of the sweep: markers committed meanwhile may lie behind it.
            None if after != Uuid::nil() => after = Uuid::nil(),
            None if !has_stale(&services.db, brand_id).await? => return Ok(total),
            None => {}
        }
    }
}

/// Takes the brand's refresh lock until the end of `txn`; `false` if another
/// transaction holds it.
async fn lock_refresh(txn: &impl ConnectionTrait, brand_id: Uuid) -> Result<bool> {
    if txn.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
        return Ok(true);
    }
    let (high, low) = brand_id.as_u64_pair();
    let mut params = Params::new(txn.get_database_backend());
    let key = params.bind((high ^ low) as i64);
    let row = txn.query_one_raw(params.statement(format!("SELECT pg_try_advisory_xact_lock({key}) AS locked"))).await?;
    Ok(row.map(|row| row.try_get::<bool>("", "locked")).transpose()?.unwrap_or(false))
}

/// Picks the brand's first [`STALE_BATCH`] stale authors after `after` in id order,
/// deletes all their markers (so each is recomputed once however many batches marked
/// it), and returns them sorted (the order rows are then written in, see [`refresh`]).
///
/// The batch is a range of the markers' key `(brand_id, author_id, id)`, read in its
/// order and deleted by its bounds, and the sweep by `after` is fair: taking the first
/// thousand authors each time, authors marked again and again could hold back those
/// further on for as long as a backlog lasted. Without statistics (autovacuum off)
/// PostgreSQL reads all the brand's markers whatever the form of the query.
async fn take_stale(txn: &impl ConnectionTrait, brand_id: Uuid, after: Uuid) -> Result<Vec<Uuid>> {
    let mut params = Params::new(txn.get_database_backend());
    let (brand, after) = (params.bind(brand_id), params.bind(after));
    let sql = format!(
        "DELETE FROM influencer_stale WHERE brand_id = {brand} AND author_id > {after} AND author_id <= \
         (SELECT author_id FROM (SELECT DISTINCT author_id FROM influencer_stale \
         WHERE brand_id = {brand} AND author_id > {after} ORDER BY author_id LIMIT {STALE_BATCH}) AS batch \
         ORDER BY author_id DESC LIMIT 1) \
         RETURNING author_id"
    );
    let rows = txn.query_all_raw(params.statement(sql)).await?;
    let mut authors =
        rows.iter().map(|row| row.try_get::<Uuid>("", "author_id")).collect::<std::result::Result<Vec<_>, _>>()?;
    authors.sort_unstable();
    authors.dedup();
    Ok(authors)
}

async fn has_stale(db: &impl ConnectionTrait, brand_id: Uuid) -> Result<bool> {
    let found = influencer_stale::Entity::find()
        .select_only()
        .column(influencer_stale::Column::Id)
        .filter(influencer_stale::Column::BrandId.eq(brand_id))
        .limit(1)
        .into_tuple::<Uuid>()
        .one(db)
        .await?;
    Ok(found.is_some())
}

/// The brands (with their agency) whose oldest stale marker is older than `before`: a
/// refresh could not be enqueued for them.
pub(crate) async fn brands_left_stale(db: &impl ConnectionTrait, before: DateTime<Utc>) -> Result<Vec<(Uuid, Uuid)>> {
    let mut params = Params::new(db.get_database_backend());
    let before = params.bind(before);
    let sql = format!(
        "SELECT DISTINCT brand.agency_id, brand.id FROM influencer_stale \
         JOIN brand ON brand.id = influencer_stale.brand_id WHERE influencer_stale.created_at < {before}"
    );
    let rows = db.query_all_raw(params.statement(sql)).await?;
    Ok(rows
        .iter()
        .map(|row| Ok((row.try_get::<Uuid>("", "agency_id")?, row.try_get::<Uuid>("", "id")?)))
        .collect::<std::result::Result<Vec<_>, sea_orm::DbErr>>()?)
}

/// Recomputes every influencer of a brand (the nightly pass), in chunks of authors.
pub async fn rescore_brand(_: System, services: &Services, brand_id: Uuid) -> Result<usize> {
    let Some(brand) = brand::Entity::find_by_id(brand_id).one(&services.db).await? else {
        return Ok(0);
    };
    let mut after: Option<Uuid> = None;
    let mut total = 0;
    loop {
        let mut select = mention::Entity::find()
            .select_only()
            .column(mention::Column::AuthorId)
            .distinct()
            .filter(mention::Column::BrandId.eq(brand.id))
            .filter(mention::Column::AboutBrand.eq(true))
            .filter(mention::Column::AuthorId.is_not_null());
        if let Some(after) = after {
            select = select.filter(mention::Column::AuthorId.gt(after));
        }
        let ids: Vec<Uuid> =
            select.order_by_asc(mention::Column::AuthorId).limit(500).into_tuple::<Uuid>().all(&services.db).await?;
        let Some(last) = ids.last().copied() else { break };
        let txn = crate::platform::db::begin_write(&services.db).await?;
        total += refresh(&txn, &brand, &ids).await?;
        txn.commit().await?;
        after = Some(last);
    }
    tracing::info!(brand_id = %brand.id, influencers = total, "influencers rescored");
    Ok(total)
}
