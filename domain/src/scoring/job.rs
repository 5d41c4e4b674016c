//! The scoring job: reads a brand's unscored mentions in batches, stores what
//! [`super::analyze`] finds, records `mention.solicitation` events, and refreshes the
//! influence of the batch's authors. Ingest and collectors enqueue it after storing.
//!
//! A mention is claimed by a conditional update (`scored_at IS NULL`), so two jobs for
//! the same brand never score a mention twice nor announce it twice; a crash before the
//! commit leaves the batch unscored for the retry.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

use super::influence::Tier;
use super::{Input, ValueMatcher, analyze, solicitation};
use crate::entities::{UuidList, author, brand, brand_value, mention};
use crate::jobs::{JobError, Registry};
use crate::queue::{Envelope, JobPayload};
use crate::{Result, Services, events, influencers, now};

/// Mentions scored per transaction.
const BATCH: u64 = 500;

/// Scores a brand's unscored mentions.
#[derive(Debug, Serialize, Deserialize)]
pub struct ScoreMentions {
    pub brand_id: Uuid,
}

impl JobPayload for ScoreMentions {
    const KIND: &'static str = "mentions.score";
}

/// Recomputes every influencer of one brand.
#[derive(Debug, Serialize, Deserialize)]
pub struct RescoreInfluencers {
    pub brand_id: Uuid,
}

impl JobPayload for RescoreInfluencers {
    const KIND: &'static str = "influencers.rescore";
}

/// The nightly pass: enqueues a [`RescoreInfluencers`] per brand, so the work spreads
/// over the workers.
#[derive(Debug, Serialize, Deserialize)]
pub struct NightlyRescore {}

impl JobPayload for NightlyRescore {
    const KIND: &'static str = "influencers.nightly";
}

const NIGHTLY: Duration = Duration::from_secs(24 * 3600);

/// Registers the scoring jobs and the nightly rescore.
pub fn register_jobs(registry: &mut Registry) {
    registry.register(|services: Arc<Services>, _meta, job: ScoreMentions| async move {
        score_brand(&services, job.brand_id).await?;
        Ok(())
    });
    registry.register(|services: Arc<Services>, _meta, job: RescoreInfluencers| async move {
        influencers::rescore_brand(&services, job.brand_id).await?;
        Ok(())
    });
    registry.register(|services: Arc<Services>, _meta, _job: NightlyRescore| async move {
        let ids: Vec<Uuid> = brand::Entity::find()
            .select_only()
            .column(brand::Column::Id)
            .into_tuple()
            .all(&services.db)
            .await
            .map_err(|e| JobError::Retry(e.to_string()))?;
        for brand_id in ids {
            crate::jobs::enqueue(&services, None, &RescoreInfluencers { brand_id }).await?;
        }
        Ok(())
    });
    registry.schedule("influencers.nightly", NIGHTLY, || Envelope::new(None, &NightlyRescore {}));
}

/// Asks for a brand's new mentions to be scored. Failing to ask is logged: the mentions
/// stay unscored until the next batch of the brand or the next request.
pub async fn score_soon(services: &Services, agency_id: Uuid, brand_id: Uuid) {
    if let Err(error) = crate::jobs::enqueue(services, Some(agency_id), &ScoreMentions { brand_id }).await {
        tracing::warn!(%error, %brand_id, "cannot enqueue scoring");
    }
}

/// Scores every unscored mention of the brand; returns how many this call scored.
pub async fn score_brand(services: &Services, brand_id: Uuid) -> Result<usize> {
    let Some(brand) = brand::Entity::find_by_id(brand_id).one(&services.db).await? else {
        return Ok(0);
    };
    let values: Vec<ValueMatcher> = brand_value::Entity::find()
        .filter(brand_value::Column::BrandId.eq(brand.id))
        .all(&services.db)
        .await?
        .iter()
        .map(|v| ValueMatcher::new(v.id, &v.name, &v.keywords.0))
        .collect();
    let handles: Vec<String> = brand.handles.0.iter().map(|h| h.handle.clone()).collect();
    let mut total = 0;
    loop {
        let batch = mention::Entity::find()
            .filter(mention::Column::BrandId.eq(brand.id))
            .filter(mention::Column::ScoredAt.is_null())
            .order_by_asc(mention::Column::Id)
            .limit(BATCH)
            .all(&services.db)
            .await?;
        if batch.is_empty() {
            break;
        }
        let full = batch.len() as u64 == BATCH;
        total += score_batch(services, &brand, &handles, &values, batch).await?;
        if !full {
            break;
        }
    }
    if total > 0 {
        tracing::info!(brand_id = %brand.id, scored = total, "mentions scored");
    }
    Ok(total)
}

async fn score_batch(
    services: &Services,
    brand: &brand::Model,
    handles: &[String],
    values: &[ValueMatcher],
    batch: Vec<mention::Model>,
) -> Result<usize> {
    let author_ids: BTreeSet<Uuid> = batch.iter().filter_map(|m| m.author_id).collect();
    let followers: HashMap<Uuid, i64> = author::Entity::find()
        .filter(author::Column::Id.is_in(author_ids.iter().copied()))
        .all(&services.db)
        .await?
        .into_iter()
        .map(|a| (a.id, a.followers))
        .collect();

    let txn = crate::db::begin_write(&services.db).await?;
    let at = now();
    let mut scored = 0;
    for m in batch {
        let analysis = analyze(
            &Input { text: &m.text, lang: m.lang.as_deref(), addressed: m.is_direct || m.in_reply_to.is_some() },
            handles,
            values,
        );
        let audience = m.author_followers.or_else(|| m.author_id.and_then(|a| followers.get(&a).copied()));
        let priority = analysis
            .is_solicitation
            .then(|| solicitation::priority(Tier::of(audience.unwrap_or(0)), analysis.sentiment));
        let claimed = mention::Entity::update_many()
            .col_expr(mention::Column::Lang, Expr::value(analysis.lang.clone()))
            .col_expr(mention::Column::Sentiment, Expr::value(analysis.sentiment))
            .col_expr(mention::Column::ValueTags, Expr::value(UuidList(analysis.value_tags.clone())))
            .col_expr(mention::Column::IsSolicitation, Expr::value(analysis.is_solicitation))
            .col_expr(mention::Column::SolicitationPriority, Expr::value(priority.map(|p| p.as_str().to_owned())))
            .col_expr(mention::Column::ScoredAt, Expr::value(at))
            .filter(mention::Column::Id.eq(m.id))
            .filter(mention::Column::ScoredAt.is_null())
            .exec(&txn)
            .await?;
        if claimed.rows_affected == 0 {
            continue;
        }
        scored += 1;
        // A re-pushed mention is scored again; it is announced only when it becomes one.
        if let Some(priority) = priority
            && !m.is_solicitation
        {
            events::record(
                &txn,
                brand.agency_id,
                Some(brand.id),
                events::MENTION_SOLICITATION,
                serde_json::json!({
                    "brandId": brand.id,
                    "mentionId": m.id,
                    "network": m.network,
                    "url": m.url,
                    "text": m.text,
                    "authorId": m.author_id,
                    "priority": priority,
                    "sentiment": analysis.sentiment,
                    "publishedAt": m.published_at,
                }),
            )
            .await?;
        }
    }
    let authors: Vec<Uuid> = author_ids.into_iter().collect();
    influencers::refresh(&txn, brand, &authors).await?;
    txn.commit().await?;
    Ok(scored)
}
