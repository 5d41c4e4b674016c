//! What storing a mention reads with and announces, and the jobs that finish the work:
//! the brand's [`Lexicon`] (what [`crate::scoring`] reads with) and the announcement of
//! solicitations (tickets, events), both used by [`super::store`], which scores mentions
//! as it stores them; the `mentions.score` job, which scores mentions found unscored
//! (stored by an earlier version, found by the minute sweep); and the influencer jobs.
//!
//! A mention is claimed by a conditional update (`scored_at IS NULL`), so two jobs for
//! the same brand never score a mention twice nor announce it twice; a crash before the
//! commit leaves the batch unscored for the retry.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{LockBehavior, LockType};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseTransaction, EntityTrait, QueryFilter, QuerySelect,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

use super::relevance;
use super::store::normalise_handle;
use crate::System;
use crate::competition::{self, Rivals};
use crate::entities::{UuidList, ValueStances, author, brand, brand_value, mention};
use crate::platform::db::Params;
use crate::platform::jobs::Registry;
use crate::platform::queue::{Envelope, JobPayload};
use crate::platform::text::{Folded, Phrase};
use crate::scoring::influence::Tier;
use crate::scoring::mobilisation::Calls;
use crate::scoring::sentiment::NEUTRAL_BAND;
use crate::scoring::{Analysis, Input, Priority, ValueMatcher, analyze_folded, solicitation};
use crate::sla::tickets::Solicitation;
use crate::{Result, Services, influencers, now, platform::events};

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

/// Recomputes the influence of a brand's authors marked stale by scoring.
#[derive(Debug, Serialize, Deserialize)]
pub struct RefreshInfluencers {
    pub brand_id: Uuid,
}

impl JobPayload for RefreshInfluencers {
    const KIND: &'static str = "influencers.refresh";
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

/// Finds mentions left unscored and authors left stale (their job could not be
/// enqueued, Redis being down at the time) and asks for them to be done.
#[derive(Debug, Serialize, Deserialize)]
pub struct SweepUnscored {}

impl JobPayload for SweepUnscored {
    const KIND: &'static str = "mentions.sweep";
}

const SWEEP: Duration = Duration::from_secs(60);

/// Registers the scoring jobs and the nightly rescore.
pub(crate) fn register_jobs(registry: &mut Registry) {
    registry.register(|services: Arc<Services>, meta, job: ScoreMentions| async move {
        if score_brand(System::new(), &services, job.brand_id).await? > 0 {
            // Solicitations were recorded; new negatives may be a crisis.
            crate::platform::events::dispatch_soon(&services, meta.tenant).await;
            if let Some(agency_id) = meta.tenant {
                refresh_soon(&services, agency_id, job.brand_id).await;
                crate::crises::detect::detect_soon(&services, agency_id, job.brand_id).await;
            }
        }
        Ok(())
    });
    registry.register(|services: Arc<Services>, meta, job: RefreshInfluencers| async move {
        if influencers::refresh_stale(System::new(), &services, job.brand_id).await? > 0 {
            // Discoveries may have been recorded.
            crate::platform::events::dispatch_soon(&services, meta.tenant).await;
        }
        Ok(())
    });
    registry.register(|services: Arc<Services>, _meta, job: RescoreInfluencers| async move {
        influencers::rescore_brand(System::new(), &services, job.brand_id).await?;
        Ok(())
    });
    registry.register(|services: Arc<Services>, _meta, _job: NightlyRescore| async move {
        let ids: Vec<Uuid> = brand::Entity::find()
            .select_only()
            .column(brand::Column::Id)
            .into_tuple()
            .all(&services.db)
            .await
            .map_err(crate::Error::from)?;
        for brand_id in ids {
            crate::platform::jobs::enqueue(&services, None, &RescoreInfluencers { brand_id }).await?;
        }
        Ok(())
    });
    registry.register(|services: Arc<Services>, _meta, _job: SweepUnscored| async move {
        sweep_unscored(System::new(), &services).await?;
        sweep_stale(System::new(), &services).await?;
        Ok(())
    });
    registry.schedule("influencers.nightly", NIGHTLY, |_slot| Envelope::new(None, &NightlyRescore {}));
    registry.schedule("mentions.sweep", SWEEP, |_slot| Envelope::new(None, &SweepUnscored {}));
}

/// Asks for a refresh of each brand with authors left stale for over a minute
/// (younger marks have a job on its way); returns how many brands.
pub async fn sweep_stale(_: System, services: &Services) -> Result<usize> {
    let before = now() - chrono::Duration::from_std(SWEEP).unwrap_or_default();
    let left = influencers::brands_left_stale(&services.db, before).await?;
    for (agency_id, brand_id) in &left {
        tracing::info!(%brand_id, "influencers left stale; refreshing them now");
        crate::platform::jobs::enqueue(services, Some(*agency_id), &RefreshInfluencers { brand_id: *brand_id }).await?;
    }
    Ok(left.len())
}

/// Asks for a refresh of a brand's stale authors. Failing to ask is logged: the minute
/// sweep asks again.
pub(crate) async fn refresh_soon(services: &Services, agency_id: Uuid, brand_id: Uuid) {
    if crate::simulating() {
        return;
    }
    if let Err(error) =
        crate::platform::jobs::enqueue(services, Some(agency_id), &RefreshInfluencers { brand_id }).await
    {
        tracing::warn!(error = %crate::platform::error::chain(&error), %brand_id, "cannot enqueue the influencers' refresh");
    }
}

/// Asks for scoring for each brand with mentions collected over a minute ago and still
/// unscored (storing scores them, so these come from an earlier version); returns how
/// many brands.
pub async fn sweep_unscored(_: System, services: &Services) -> Result<usize> {
    let before = now() - chrono::Duration::from_std(SWEEP).unwrap_or_default();
    let left: Vec<(Uuid, Uuid)> = mention::Entity::find()
        .select_only()
        .column(mention::Column::AgencyId)
        .column(mention::Column::BrandId)
        .distinct()
        .filter(mention::Column::ScoredAt.is_null())
        .filter(mention::Column::CollectedAt.lt(before))
        .into_tuple()
        .all(&services.db)
        .await?;
    for (agency_id, brand_id) in &left {
        tracing::info!(%brand_id, "mentions left unscored; scoring them now");
        crate::platform::jobs::enqueue(services, Some(*agency_id), &ScoreMentions { brand_id: *brand_id }).await?;
    }
    Ok(left.len())
}

/// What scoring needs of a brand, folded once for a batch: how a text names its
/// handles, its values' matchers and the terms of its relevance.
pub struct Lexicon {
    /// The brand's accounts: network name and handle, as [`normalise_handle`] writes it.
    accounts: Vec<(String, String)>,
    handle_mentions: Vec<Phrase>,
    values: Vec<ValueMatcher>,
    relevance: relevance::Terms,
    /// The brand's language, for posts whose own cannot be told.
    language: String,
    /// What names its competitors.
    rivals: Rivals,
    /// How calls to act against it read.
    calls: Calls,
}

/// What storing a mention reads in its text.
#[derive(Clone, Debug, PartialEq)]
pub struct Reading {
    pub analysis: Analysis,
    /// The priority and author tier of a solicitation.
    pub priority: Option<(Priority, Tier)>,
    /// How much it is about the brand ([`relevance`]).
    pub relevance: f64,
    /// Its folded words, for full-text search.
    pub search_text: String,
    /// Whether it is about the brand: it names the brand, is addressed to it, or names
    /// none of its competitors. A mention about competitors only solicits nothing.
    pub about_brand: bool,
    /// The competitors it names.
    pub competitors: Vec<Uuid>,
    /// Whether it calls to act against the brand ([`crate::scoring::mobilisation`]):
    /// a mention about the brand, not praising it, carrying a call.
    pub mobilises: bool,
}

impl Reading {
    /// Whether it accuses the brand of failing a value (what value gaps count).
    pub fn accuses(&self) -> bool {
        self.about_brand && self.analysis.accuses()
    }
}

impl Lexicon {
    /// The brand's lexicon (one read, its values).
    pub(crate) async fn load(db: &impl ConnectionTrait, brand: &brand::Model) -> Result<Self> {
        let values = brand_value::Entity::find()
            .filter(brand_value::Column::BrandId.eq(brand.id))
            .all(db)
            .await?
            .iter()
            .map(|v| ValueMatcher::new(v.id, &v.name, &v.keywords.0))
            .collect();
        Ok(Lexicon::new(brand, values).with_rivals(Rivals::load(db, brand.id).await?))
    }

    /// The lexicon of `brand` with its values' matchers.
    pub fn new(brand: &brand::Model, values: Vec<ValueMatcher>) -> Self {
        let handles: Vec<String> = brand.handles.0.iter().map(|h| h.handle.clone()).collect();
        Lexicon {
            accounts: brand.handles.0.iter().map(|h| (h.network.name(), normalise_handle(&h.handle))).collect(),
            handle_mentions: solicitation::handle_mentions(&handles),
            values,
            relevance: relevance::Terms::new(brand),
            language: brand.language.clone(),
            rivals: Rivals::default(),
            calls: Calls::new(&brand.name),
        }
    }

    /// Whether the brand has competitors to name.
    pub fn names_rivals(&self) -> bool {
        !self.rivals.is_empty()
    }

    /// The lexicon, naming these competitors.
    pub fn with_rivals(mut self, rivals: Rivals) -> Self {
        self.rivals = rivals;
        self
    }

    /// Whether a mention by `author` on `network` is addressed to the brand: a direct
    /// message, or a reply to one of the brand's own accounts (a reply between strangers
    /// is not, nor the brand answering itself in its own thread). Naming a handle in the
    /// text also addresses it; analysis reads that.
    pub fn addresses(
        &self,
        network: &str,
        author: Option<&str>,
        direct: bool,
        in_reply_to_author: Option<&str>,
    ) -> bool {
        let own = |handle: Option<&str>| {
            handle.map(normalise_handle).is_some_and(|h| self.accounts.iter().any(|(n, a)| n == network && *a == h))
        };
        !own(author) && (direct || own(in_reply_to_author))
    }

    /// Analyses one mention, and gives a solicitation its priority from the author's
    /// audience (unknown counts as none).
    pub fn analyze(&self, input: &Input<'_>, audience: Option<i64>) -> (Analysis, Option<(Priority, Tier)>) {
        self.analyze_folded(input, &Folded::new(input.text), audience)
    }

    /// Everything storing a mention reads in its text: [`Self::analyze`], its relevance,
    /// its words for search and whom it is about, from one folding of the text. A
    /// mention on `network` answering `in_reply_to_author` names that competitor.
    pub fn read(
        &self,
        input: &Input<'_>,
        audience: Option<i64>,
        network: &str,
        in_reply_to_author: Option<&str>,
    ) -> Reading {
        let folded = Folded::new(input.text);
        let (mut analysis, mut priority) = self.analyze_folded(input, &folded, audience);
        let competitors = self.rivals.named(&folded.text, network, in_reply_to_author);
        // A review is written to the brand, named or not.
        let to_brand = input.addressed || input.rating.is_some();
        let about_brand = competitors.is_empty() || to_brand || self.relevance.names_brand(&folded.text);
        if !about_brand {
            // A complaint to a competitor is not the brand's to answer.
            analysis.is_solicitation = false;
            priority = None;
        }
        let mobilises = about_brand && analysis.sentiment < NEUTRAL_BAND && self.calls.in_text(&folded);
        Reading {
            analysis,
            priority,
            relevance: relevance::score_folded(&self.relevance, &folded.text, to_brand),
            search_text: folded.words.join(" "),
            about_brand,
            competitors,
            mobilises,
        }
    }

    fn analyze_folded(
        &self,
        input: &Input<'_>,
        folded: &Folded,
        audience: Option<i64>,
    ) -> (Analysis, Option<(Priority, Tier)>) {
        let analysis = analyze_folded(input, folded, &self.handle_mentions, &self.values, Some(&self.language));
        let tier = Tier::of(audience.unwrap_or(0));
        let priority = analysis.is_solicitation.then(|| (solicitation::priority(tier, analysis.sentiment), tier));
        (analysis, priority)
    }
}

/// Records a `mention.solicitation` event and opens a ticket for each solicitation, in
/// the transaction that scored them; returns the tickets' ids, to announce on the bus
/// once committed. Callers pass only mentions never announced before.
pub(crate) async fn announce_solicitations(
    txn: &DatabaseTransaction,
    brand: &brand::Model,
    found: &[Solicitation<'_>],
) -> Result<Vec<Uuid>> {
    if found.is_empty() {
        return Ok(Vec::new());
    }
    let payloads = found
        .iter()
        .map(|f| {
            let m = f.mention;
            serde_json::json!({
                "brandId": brand.id,
                "mentionId": m.id,
                "network": m.network,
                "url": m.url,
                "text": m.text,
                "authorId": m.author_id,
                "priority": f.priority,
                "sentiment": f.sentiment,
                "publishedAt": m.published_at,
            })
        })
        .collect();
    events::record_many(txn, brand.agency_id, Some(brand.id), events::MENTION_SOLICITATION, payloads).await?;
    let policy = crate::sla::policy::effective(txn, brand).await?;
    crate::sla::tickets::open(txn, brand, &policy, found).await
}

/// Scores every mention of the brand left unscored (stored before scoring moved to
/// [`crate::mentions::store`], or by a path that could not score); returns how many
/// this call scored.
pub async fn score_brand(_: System, services: &Services, brand_id: Uuid) -> Result<usize> {
    let Some(brand) = brand::Entity::find_by_id(brand_id).one(&services.db).await? else {
        return Ok(0);
    };
    let lexicon = Lexicon::load(&services.db, &brand).await?;
    let mut total = 0;
    loop {
        let txn = crate::platform::db::begin_write(&services.db).await?;
        // No ORDER BY: any unscored rows will do, and sorting every unscored row of a
        // brand for each batch made scoring slower as the backlog grew.
        let mut select = mention::Entity::find()
            .filter(mention::Column::BrandId.eq(brand.id))
            .filter(mention::Column::ScoredAt.is_null())
            .limit(BATCH);
        // Concurrent jobs for one brand take disjoint batches on PostgreSQL; SQLite's
        // single writer serialises them anyway.
        if txn.get_database_backend() == DatabaseBackend::Postgres {
            select = select.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        let batch = select.all(&txn).await?;
        if batch.is_empty() {
            break;
        }
        let full = batch.len() as u64 == BATCH;
        let (scored, tickets) = score_batch(&txn, &brand, &lexicon, batch).await?;
        total += scored;
        txn.commit().await?;
        for ticket_id in tickets {
            crate::sla::tickets::announce_id(services, brand.agency_id, brand.id, ticket_id).await;
        }
        if !full {
            break;
        }
    }
    if total > 0 {
        tracing::info!(brand_id = %brand.id, scored = total, "mentions scored");
    }
    Ok(total)
}

/// A mention with what scoring read in it.
type Scored = (mention::Model, Reading);

async fn score_batch(
    txn: &DatabaseTransaction,
    brand: &brand::Model,
    lexicon: &Lexicon,
    batch: Vec<mention::Model>,
) -> Result<(usize, Vec<Uuid>)> {
    let author_ids: BTreeSet<Uuid> = batch.iter().filter_map(|m| m.author_id).collect();
    let authors: HashMap<Uuid, author::Model> = author::Entity::find()
        .filter(author::Column::Id.is_in(author_ids.iter().copied()))
        .all(txn)
        .await?
        .into_iter()
        .map(|a| (a.id, a))
        .collect();

    let at = now();
    let analysed: Vec<Scored> = batch
        .into_iter()
        .map(|m| {
            let author = m.author_id.and_then(|a| authors.get(&a));
            let handle = author.map(|a| a.handle.as_str());
            let addressed = lexicon.addresses(&m.network, handle, m.is_direct, m.in_reply_to_author.as_deref());
            let input = Input { text: &m.text, lang: m.lang.as_deref(), addressed, rating: m.rating };
            let audience = m.author_followers.or_else(|| author.map(|a| a.followers));
            let reading = lexicon.read(&input, audience, &m.network, m.in_reply_to_author.as_deref());
            (m, reading)
        })
        .collect();

    let claimed = store_analyses(txn, &analysed, at).await?;
    // A mention scored again is announced only when it becomes a solicitation.
    let found: Vec<Solicitation<'_>> = analysed
        .iter()
        .filter(|(m, _)| !m.is_solicitation && claimed.contains(&m.id))
        .filter_map(|(m, r)| {
            r.priority.map(|(priority, tier)| Solicitation {
                mention: m,
                priority,
                tier,
                sentiment: r.analysis.sentiment,
            })
        })
        .collect();
    let tickets = announce_solicitations(txn, brand, &found).await?;
    let links = analysed
        .iter()
        .filter(|(m, _)| claimed.contains(&m.id))
        .flat_map(|(m, r)| competition::links(m, r.analysis.sentiment, &r.competitors))
        .collect();
    competition::relink(txn, &[], links).await?;
    // Only the brand's own mentions make its influencers.
    let authors: Vec<Uuid> = analysed
        .iter()
        .filter(|(_, r)| r.about_brand)
        .filter_map(|(m, _)| m.author_id)
        .collect::<BTreeSet<Uuid>>()
        .into_iter()
        .collect();
    influencers::mark_stale(txn, brand.id, &authors).await?;
    Ok((claimed.len(), tickets))
}

/// Stores a batch of analyses in one statement, only on mentions still unscored, and
/// returns the ids it claimed. `WITH v(…) AS (VALUES …) UPDATE … FROM v … RETURNING`
/// reads the same on PostgreSQL and SQLite (3.35+).
async fn store_analyses(db: &impl ConnectionTrait, analysed: &[Scored], at: DateTime<Utc>) -> Result<HashSet<Uuid>> {
    let mut params = Params::new(db.get_database_backend());
    let scored_at = params.bind(at);
    let rows: Vec<String> = analysed
        .iter()
        .map(|(m, r)| {
            let (a, priority) = (&r.analysis, r.priority);
            let cells = [
                params.bind(m.id),
                params.bind(a.lang.clone()),
                params.bind(a.sentiment),
                params.bind(serde_json::to_value(UuidList(a.value_tags.clone())).unwrap_or_default()),
                params.bind(serde_json::to_value(ValueStances(a.value_stances.clone())).unwrap_or_default()),
                params.bind(r.accuses()),
                params.bind(a.is_solicitation),
                params.bind(r.about_brand),
                params.bind(r.mobilises),
                params.bind(priority.map(|(p, _)| p.as_str().to_owned())),
            ];
            format!("({})", cells.join(", "))
        })
        .collect();
    let sql = format!(
        "WITH v(id, lang, sentiment, value_tags, value_stances, accuses_value, is_solicitation, about_brand, \
         mobilises, priority) AS (VALUES {}) \
         UPDATE mention SET lang = v.lang, sentiment = v.sentiment, value_tags = v.value_tags, \
         value_stances = v.value_stances, accuses_value = v.accuses_value, \
         is_solicitation = v.is_solicitation, about_brand = v.about_brand, mobilises = v.mobilises, \
         solicitation_priority = v.priority, \
         scored_at = {scored_at} \
         FROM v WHERE mention.id = v.id AND mention.scored_at IS NULL RETURNING mention.id",
        rows.join(", ")
    );
    let claimed = db.query_all_raw(params.statement(sql)).await?;
    claimed.iter().map(|row| Ok(row.try_get::<Uuid>("", "id")?)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posts_too_short_to_tell_are_read_in_the_brand_language() {
        let mut brand = crate::mentions::relevance::tests::brand();
        let text = "Colis Verdure perdu, aucun remboursement, honteux";
        let input = Input { text, lang: None, addressed: false, rating: None };
        let (french, _) = Lexicon::new(&brand, Vec::new()).analyze(&input, None);
        assert_eq!(french.lang, None, "the stored language stays unknown");
        assert!(french.sentiment <= -crate::scoring::sentiment::NEUTRAL_BAND, "{french:?}");
        brand.language = "en".into();
        let (english, _) = Lexicon::new(&brand, Vec::new()).analyze(&input, None);
        assert!(english.sentiment > french.sentiment, "{english:?}");
    }
}
