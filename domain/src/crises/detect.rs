//! Detection, run after each scored batch of a brand (`mentions::store` and the `mentions.score` job enqueue it) and
//! never only on a timer, so an alert opens within seconds of the mention that tips it.
//!
//! **Spikes.** Negative mentions (sentiment ≤ −0.1) are counted in windows of
//! [`WINDOW`], with a reach-weighted negativity beside the count (each mention weighs
//! its negativity × 1 + log10 of its author's followers, in whole steps). The last
//! window is compared with an EWMA mean and variance of the day of windows before it;
//! an alert opens when the larger z-score reaches the brand's `crisis_z_threshold` and
//! the count its `crisis_min_count`. The standard deviation is floored at 1 so that a
//! brand with no history does not alarm on its first two complaints. Positive
//! mentions (≥ 0.1) are counted the same way and open a `positive_spike`: praise going
//! viral is news too (it emails no escalation contact).
//!
//! **Mobilisation.** Calls to act against the brand (`mention.mobilises`: boycott,
//! petition, "stop buying", `#BoycottBrand`, see [`crate::scoring::mobilisation`]) are
//! counted per hour, with their reach, against an EWMA of the week of hours before: an
//! alert opens from three calls in the hour when a z-score reaches the brand's
//! threshold, or at once for one call by a macro or mega author. Its evidence names the
//! leading hashtags, the first and the most shared posts, and the authors carrying it.
//!
//! **Value gap.** Only mentions that accuse the brand of failing a stated value count
//! ([`crate::scoring::values`]); complaints that merely touch its keywords do not. The
//! accusations of the last day are compared with the brand's own baseline for that
//! value: an EWMA of its daily accusations over the four weeks before, the alert opening
//! from `mean + z × std` (the brand's `crisis_z_threshold`, std floored at 1) and never
//! below `value_gap_min_count`, the floor for brands without history. One accusation
//! by a macro (500k followers) or mega author opens it at once. Severity grows with the
//! excess over the threshold and with the accusers' reach; from the brand's
//! `hold_min_severity` (high by default) upcoming calendar posts about the value are
//! put on hold, each naming the alert.
//!
//! Evidence older than the last resolution of an alert of the same kind is not counted
//! again, so resolving an alert does not reopen it from the same mentions.

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Set,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use uuid::Uuid;

use super::{
    AlertStatus, Explanation, MOBILISATION, Metrics, NEGATIVE_SPIKE, POSITIVE_SPIKE, Reason, Severity, TopAuthor,
    VALUE_GAP,
};
use crate::System;
use crate::entities::{ValueStances, alert, alert_mention, author, brand, brand_value, mention};
use crate::platform::db::{Params, batches};
use crate::platform::jobs::Registry;
use crate::platform::queue::JobPayload;
use crate::scoring::ValueStance;
use crate::scoring::influence::Tier;
use crate::scoring::sentiment::NEUTRAL_BAND;
use crate::{Result, Services, new_id, now, platform::events, platform::mail};

/// Length of a detection window (and of a baseline bucket).
pub const WINDOW: Duration = Duration::minutes(10);
/// Windows in the baseline: one day.
pub const BASELINE_WINDOWS: usize = 144;
/// Weight of the newest window in the EWMA.
const ALPHA: f64 = 0.1;
/// Floor of the baseline's standard deviation.
const MIN_STD: f64 = 1.0;
/// How far back value-gap evidence counts, and the length of a baseline bucket.
const VALUE_GAP_WINDOW: Duration = Duration::hours(24);
/// Days of value-gap baseline.
const VALUE_GAP_BASELINE_DAYS: usize = 28;
/// The window of mobilisation detection, and its baseline (a week of hours).
const MOBILISATION_WINDOW: Duration = Duration::hours(1);
const MOBILISATION_BASELINE_WINDOWS: usize = 168;
/// Calls within the hour that may open a mobilisation alert (one from a macro or mega
/// author does at once).
pub const MOBILISATION_MIN_COUNT: i64 = 3;
/// Past accusations read per detection (dates and stances only): far more than a
/// brand's baseline holds.
const ACCUSATIONS_READ: u64 = 20_000;
/// The day's accusations read whole per detection: past any threshold, and a bounded
/// amount of text however loud the day.
const EVIDENCE_READ: u64 = 2_000;
/// Mentions linked to an alert per detection, the most far-reaching first.
const LINKED_PER_DETECTION: usize = 50;

/// Looks for crises of one brand.
#[derive(Debug, Serialize, Deserialize)]
pub struct DetectCrises {
    pub brand_id: Uuid,
}

impl JobPayload for DetectCrises {
    const KIND: &'static str = "crises.detect";
}

/// Registers the detection job.
pub(crate) fn register_jobs(registry: &mut Registry) {
    registry.register(|services: Arc<Services>, _meta, job: DetectCrises| async move {
        detect(System::new(), &services, job.brand_id).await?;
        Ok(())
    });
}

/// Asks for a brand to be checked (after a scored batch). Failing to ask is logged: the
/// next batch asks again.
pub(crate) async fn detect_soon(services: &Services, agency_id: Uuid, brand_id: Uuid) {
    if crate::simulating() {
        return;
    }
    if let Err(error) = crate::platform::jobs::enqueue(services, Some(agency_id), &DetectCrises { brand_id }).await {
        tracing::warn!(error = %crate::platform::error::chain(&error), %brand_id, "cannot enqueue crisis detection");
    }
}

/// EWMA mean and standard deviation of a series, oldest first.
pub fn ewma(series: &[f64]) -> (f64, f64) {
    let Some((&first, rest)) = series.split_first() else { return (0.0, 0.0) };
    let (mut mean, mut var) = (first, 0.0);
    for &x in rest {
        let diff = x - mean;
        let incr = ALPHA * diff;
        mean += incr;
        var = (1.0 - ALPHA) * (var + diff * incr);
    }
    (mean, var.max(0.0).sqrt())
}

/// Plain mean and standard deviation of a series.
pub fn mean_std(series: &[f64]) -> (f64, f64) {
    if series.is_empty() {
        return (0.0, 0.0);
    }
    let n = series.len() as f64;
    let mean = series.iter().sum::<f64>() / n;
    let var = series.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// How many (floored) standard deviations `observed` lies above `mean`.
pub fn z_score(observed: f64, mean: f64, std: f64) -> f64 {
    (observed - mean) / std.max(MIN_STD)
}

/// Severity of a spike: how far past the threshold its z-score is, one level higher
/// when a macro or mega author is among the complainers.
pub fn spike_severity(z: f64, threshold: f64, max_followers: i64) -> Severity {
    let ratio = z / threshold.max(f64::EPSILON);
    let base = if ratio >= 3.0 {
        Severity::Critical
    } else if ratio >= 2.0 {
        Severity::High
    } else if ratio >= 1.5 {
        Severity::Medium
    } else {
        Severity::Low
    };
    if Tier::of(max_followers) >= Tier::Macro { base.raised() } else { base }
}

/// Severity of a value gap: medium at the threshold, high from twice it or a macro
/// accuser, critical from three times it or a mega accuser.
pub fn value_gap_severity(count: i64, threshold: f64, max_followers: i64) -> Severity {
    let ratio = count as f64 / threshold.max(1.0);
    let base = if ratio >= 3.0 {
        Severity::Critical
    } else if ratio >= 2.0 {
        Severity::High
    } else {
        Severity::Medium
    };
    match Tier::of(max_followers) {
        Tier::Mega => Severity::Critical,
        Tier::Macro => base.max(Severity::High),
        _ => base,
    }
}

/// The number of accusations in a day that opens a value gap: the brand's usual count
/// plus `z_threshold` (floored) standard deviations, and never below `floor`.
pub fn value_gap_threshold(mean: f64, std: f64, z_threshold: f64, floor: i64) -> f64 {
    (mean + z_threshold * std.max(MIN_STD)).max(floor as f64)
}

/// SQL weight of a mention's reach: 1 + the number of powers of ten its author's
/// followers pass (a whole-step log10, computed the same on both databases).
const REACH_WEIGHT: &str = "(1 + CASE WHEN COALESCE(author_followers, 0) >= 1000000 THEN 6 \
    WHEN COALESCE(author_followers, 0) >= 100000 THEN 5 WHEN COALESCE(author_followers, 0) >= 10000 THEN 4 \
    WHEN COALESCE(author_followers, 0) >= 1000 THEN 3 WHEN COALESCE(author_followers, 0) >= 100 THEN 2 \
    WHEN COALESCE(author_followers, 0) >= 10 THEN 1 ELSE 0 END)";

fn reach_weight(followers: i64) -> f64 {
    let mut weight = 1.0;
    let mut step = 10;
    while step <= 1_000_000 && followers >= step {
        weight += 1.0;
        step *= 10;
    }
    weight
}

/// What one detection found that deserves an alert.
struct Finding {
    kind: &'static str,
    value: Option<brand_value::Model>,
    severity: Severity,
    window_start: DateTime<Utc>,
    window_end: DateTime<Utc>,
    metrics: Metrics,
    explanation: Explanation,
    mention_ids: Vec<Uuid>,
}

/// A mention as detection reads it: negative, positive, accusing or mobilising.
#[derive(Clone, Debug, sea_orm::FromQueryResult)]
struct Evidence {
    id: Uuid,
    author_id: Option<Uuid>,
    author_followers: Option<i64>,
    sentiment: Option<f64>,
    search_text: String,
    published_at: DateTime<Utc>,
    value_stances: ValueStances,
    likes: i64,
    shares: i64,
    text: String,
}

/// What a spike counts, and how each mention weighs in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Signal {
    /// Sentiment ≤ −0.1, weighing its negativity × reach.
    Negative,
    /// Sentiment ≥ 0.1, weighing its positivity × reach.
    Positive,
    /// Calls to act against the brand, weighing their reach.
    Mobilising,
}

impl Signal {
    /// The SQL condition on a mention, with its parameters bound in `p`.
    fn condition(self, p: &mut Params) -> String {
        match self {
            Signal::Negative => format!("sentiment <= {}", p.bind(-NEUTRAL_BAND)),
            Signal::Positive => format!("sentiment >= {}", p.bind(NEUTRAL_BAND)),
            Signal::Mobilising => "mobilises".to_owned(),
        }
    }

    /// The SQL weight of a mention ([`Evidence::weight`] in SQL).
    fn weight(self) -> String {
        match self {
            Signal::Negative => format!("-sentiment * {REACH_WEIGHT}"),
            Signal::Positive => format!("sentiment * {REACH_WEIGHT}"),
            Signal::Mobilising => REACH_WEIGHT.to_owned(),
        }
    }
}

impl Evidence {
    fn followers(&self) -> i64 {
        self.author_followers.unwrap_or(0)
    }
    /// Negativity × reach weight (accusations and negative spikes).
    fn weight(&self) -> f64 {
        self.weight_for(Signal::Negative)
    }
    fn weight_for(&self, signal: Signal) -> f64 {
        let sentiment = self.sentiment.unwrap_or(0.0);
        let reach = reach_weight(self.followers());
        match signal {
            Signal::Negative => -sentiment * reach,
            Signal::Positive => sentiment * reach,
            Signal::Mobilising => reach,
        }
    }
    /// The cues of its accusation of `value`, if it accuses it.
    fn accusation(&self, value: Uuid) -> Option<&[String]> {
        self.value_stances
            .0
            .iter()
            .find(|r| r.value_id == value && r.stance == ValueStance::Accuses)
            .map(|r| r.cues.as_slice())
    }
}

/// Checks a brand for spikes (negative and positive), calls to mobilise against it and
/// value gaps; returns the alerts it opened or updated.
pub async fn detect(system: System, services: &Services, brand_id: Uuid) -> Result<Vec<Uuid>> {
    detect_at(system, services, brand_id, now()).await
}

/// [`detect`] as if it were `at`: the scenario benchmark replays weeks of traffic.
pub async fn detect_at(_: System, services: &Services, brand_id: Uuid, at: DateTime<Utc>) -> Result<Vec<Uuid>> {
    let db = &services.db;
    let Some(brand) = brand::Entity::find_by_id(brand_id).one(db).await? else { return Ok(Vec::new()) };
    let resolved = last_resolutions(db, brand.id).await?;
    let mut findings = Vec::new();
    for spec in [Spike::NEGATIVE, Spike::POSITIVE, Spike::MOBILISATION] {
        if let Some(finding) = spike(db, &brand, at, resolved.get(&(spec.kind, None)).copied(), spec).await? {
            findings.push(finding);
        }
    }
    findings.extend(value_gaps(db, &brand, at, &resolved).await?);

    let mut changed = Vec::new();
    let mut emails = false;
    for finding in findings {
        let txn = crate::platform::db::begin_write(db).await?;
        let outcome = raise(&txn, &services.config, &brand, finding, at).await?;
        txn.commit().await?;
        if let Some((alert, emailed)) = outcome {
            emails |= emailed;
            super::announce(services, &alert).await;
            changed.push(alert.id);
        }
    }
    if !changed.is_empty() {
        events::dispatch_soon(services, Some(brand.agency_id)).await;
        if emails {
            mail::send_soon(services, Some(brand.agency_id)).await;
        }
    }
    Ok(changed)
}

type ResolutionKey = (&'static str, Option<Uuid>);

/// When each kind (and value) of the brand's alerts was last resolved.
async fn last_resolutions(db: &impl ConnectionTrait, brand_id: Uuid) -> Result<HashMap<ResolutionKey, DateTime<Utc>>> {
    let rows: Vec<(String, Option<Uuid>, Option<DateTime<Utc>>)> = alert::Entity::find()
        .select_only()
        .column(alert::Column::Kind)
        .column(alert::Column::BrandValueId)
        .column_as(alert::Column::ResolvedAt.max(), "resolved_at")
        .filter(alert::Column::BrandId.eq(brand_id))
        .filter(alert::Column::Status.eq(AlertStatus::Resolved.as_str()))
        .group_by(alert::Column::Kind)
        .group_by(alert::Column::BrandValueId)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        // A kind this build does not know (written by a newer one) is left out.
        .filter_map(|(kind, value, at)| {
            let kind = crate::entities::alert::KINDS.into_iter().find(|k| *k == kind)?;
            Some(((kind, value), at?))
        })
        .collect())
}

/// What one kind of spike counts, over which windows.
#[derive(Clone, Copy, Debug)]
struct Spike {
    kind: &'static str,
    signal: Signal,
    window: Duration,
    /// Windows of baseline before the last.
    windows: usize,
    /// The fewest mentions that may open it, when the brand sets none.
    min_count: Option<i64>,
}

impl Spike {
    const NEGATIVE: Spike = Spike {
        kind: NEGATIVE_SPIKE,
        signal: Signal::Negative,
        window: WINDOW,
        windows: BASELINE_WINDOWS,
        min_count: None,
    };
    const POSITIVE: Spike = Spike {
        kind: POSITIVE_SPIKE,
        signal: Signal::Positive,
        window: WINDOW,
        windows: BASELINE_WINDOWS,
        min_count: None,
    };
    /// Calls spread over hours, not minutes: the last hour against the week before.
    const MOBILISATION: Spike = Spike {
        kind: MOBILISATION,
        signal: Signal::Mobilising,
        window: MOBILISATION_WINDOW,
        windows: MOBILISATION_BASELINE_WINDOWS,
        min_count: Some(MOBILISATION_MIN_COUNT),
    };
}

async fn spike(
    db: &impl ConnectionTrait,
    brand: &brand::Model,
    at: DateTime<Utc>,
    resolved_at: Option<DateTime<Utc>>,
    spec: Spike,
) -> Result<Option<Finding>> {
    // A minute of slack for clocks of networks running slightly ahead.
    let window_end = at + Duration::minutes(1);
    let window_start = window_end - spec.window;
    let baseline_start = window_start - spec.window * spec.windows as i32;
    let since = resolved_at.map_or(window_start, |r| r.max(window_start));
    let min_count = spec.min_count.unwrap_or(i64::from(brand.crisis_min_count));

    let (count, reach) = observed(db, brand.id, spec.signal, since, window_end).await?;
    if count == 0 {
        return Ok(None);
    }
    // Calls are few (a partial index holds them): they are read before the baseline,
    // to count their authors (one account posting three times is not three people) and
    // to find a macro or mega author among them, whose one call is news at once. Its
    // audience is the one collectors read on the network (`author.followers`), never
    // the count a pushed mention or a remote instance claims.
    let calls = match spec.signal {
        Signal::Mobilising => Some(window_mentions(db, brand.id, spec.signal, since, window_end).await?),
        _ => None,
    };
    let (voices, called_by) = match &calls {
        Some(calls) => {
            let authors: std::collections::BTreeSet<Uuid> = calls.iter().filter_map(|m| m.author_id).collect();
            let anonymous = calls.iter().filter(|m| m.author_id.is_none()).count() as i64;
            let audience = author::Entity::find()
                .select_only()
                .column_as(author::Column::Followers.max(), "followers")
                .filter(author::Column::Id.is_in(authors.iter().copied()))
                .into_tuple::<Option<i64>>()
                .one(db)
                .await?
                .flatten();
            (authors.len() as i64 + anonymous, audience.filter(|f| Tier::of(*f) >= Tier::Macro))
        }
        None => (count, None),
    };
    if voices < min_count && called_by.is_none() {
        return Ok(None);
    }
    let mut counts = vec![0.0; spec.windows];
    let mut reaches = vec![0.0; spec.windows];
    for (bucket, n, r) in baseline(db, brand.id, spec.signal, baseline_start, window_start, spec.window).await? {
        if let Ok(i) = usize::try_from(bucket)
            && i < spec.windows
        {
            counts[i] = n as f64;
            reaches[i] = r;
        }
    }
    // Spikes follow the last day closely (EWMA); calls are rare, so the whole week
    // weighs the same.
    let baseline_of = |series: &[f64]| if spec.signal == Signal::Mobilising { mean_std(series) } else { ewma(series) };
    let (count_mean, count_std) = baseline_of(&counts);
    let (reach_mean, reach_std) = baseline_of(&reaches);
    let z_count = z_score(count as f64, count_mean, count_std);
    let z_reach = z_score(reach, reach_mean, reach_std);
    let z = z_count.max(z_reach);
    if z < brand.crisis_z_threshold && called_by.is_none() {
        return Ok(None);
    }
    let evidence = match calls {
        Some(calls) => calls,
        None => window_mentions(db, brand.id, spec.signal, since, window_end).await?,
    };
    let max_followers = evidence.iter().map(Evidence::followers).max().unwrap_or(0);
    let metrics = Metrics {
        coordination: Some(assess(db, &evidence).await?),
        negative_count: count,
        reach_weighted: reach,
        baseline_count_mean: count_mean,
        baseline_count_std: count_std,
        baseline_reach_mean: reach_mean,
        baseline_reach_std: reach_std,
        z_count,
        z_reach,
        z,
        max_followers,
        ..Metrics::default()
    };
    let (minutes, mean, std, threshold) = (spec.window.num_minutes(), count_mean, count_std, brand.crisis_z_threshold);
    let reason = match (spec.signal, called_by) {
        (Signal::Mobilising, Some(followers)) if z < threshold || voices < min_count => {
            Reason::CalledByInfluencer { tier: Tier::of(followers), followers }
        }
        (Signal::Mobilising, _) => Reason::Mobilisation { count, minutes, mean, std, z, threshold },
        (Signal::Positive, _) => Reason::PositiveSpike { count, minutes, mean, std, z, threshold },
        (Signal::Negative, _) => Reason::Spike { count, minutes, mean, std, z, threshold },
    };
    let explanation = explain(db, reason, &evidence, spec.signal).await?;
    let severity = match spec.signal {
        // A call to boycott is never a small matter.
        Signal::Mobilising => spike_severity(z, threshold, max_followers).max(Severity::Medium),
        _ => spike_severity(z, threshold, max_followers),
    };
    Ok(Some(Finding {
        kind: spec.kind,
        value: None,
        severity,
        window_start,
        window_end,
        metrics,
        explanation,
        mention_ids: most_reaching(&evidence, LINKED_PER_DETECTION, spec.signal),
    }))
}

async fn value_gaps(
    db: &impl ConnectionTrait,
    brand: &brand::Model,
    at: DateTime<Utc>,
    resolved: &HashMap<ResolutionKey, DateTime<Utc>>,
) -> Result<Vec<Finding>> {
    let values = brand_value::Entity::find().filter(brand_value::Column::BrandId.eq(brand.id)).all(db).await?;
    if values.is_empty() {
        return Ok(Vec::new());
    }
    let window_start = at - VALUE_GAP_WINDOW;
    let baseline_start = window_start - VALUE_GAP_WINDOW * VALUE_GAP_BASELINE_DAYS as i32;
    // The baseline needs only when and what; the day's evidence needs the whole row.
    let past: Vec<(DateTime<Utc>, ValueStances)> = mention::Entity::find()
        .select_only()
        .columns([mention::Column::PublishedAt, mention::Column::ValueStances])
        .filter(mention::Column::BrandId.eq(brand.id))
        .filter(Expr::cust("accuses_value"))
        .filter(mention::Column::PublishedAt.gte(baseline_start))
        .filter(mention::Column::PublishedAt.lt(window_start))
        .order_by_desc(mention::Column::PublishedAt)
        .limit(ACCUSATIONS_READ)
        .into_tuple()
        .all(db)
        .await?;
    let accusing: Vec<Evidence> = evidence_query(brand.id, window_start, at + Duration::minutes(1))
        .filter(Expr::cust("accuses_value"))
        .order_by_desc(mention::Column::PublishedAt)
        .limit(EVIDENCE_READ)
        .into_model()
        .all(db)
        .await?;
    let floor = i64::from(brand.value_gap_min_count);
    let mut findings = Vec::new();
    for value in values {
        let since = resolved.get(&(VALUE_GAP, Some(value.id))).map_or(window_start, |r| (*r).max(window_start));
        let mut days = vec![0.0; VALUE_GAP_BASELINE_DAYS];
        let mut evidence: Vec<Evidence> = Vec::new();
        let mut cues: HashMap<&str, usize> = HashMap::new();
        for (published_at, stances) in &past {
            if stances.0.iter().any(|r| r.value_id == value.id && r.stance == ValueStance::Accuses) {
                let day = (*published_at - baseline_start).num_seconds() / VALUE_GAP_WINDOW.num_seconds();
                if let Some(slot) = usize::try_from(day).ok().and_then(|d| days.get_mut(d)) {
                    *slot += 1.0;
                }
            }
        }
        for m in &accusing {
            let Some(said) = m.accusation(value.id) else { continue };
            if m.published_at > since {
                // The value's own term comes first; the words after it decided.
                for cue in said.iter().skip(1) {
                    *cues.entry(cue.as_str()).or_default() += 1;
                }
                evidence.push(m.clone());
            }
        }
        let count = evidence.len() as i64;
        let max_followers = evidence.iter().map(Evidence::followers).max().unwrap_or(0);
        let (mean, std) = ewma(&days);
        let threshold = value_gap_threshold(mean, std, brand.crisis_z_threshold, floor);
        let at_once = Tier::of(max_followers) >= Tier::Macro;
        if count == 0 || ((count as f64) < threshold && !at_once) {
            continue;
        }
        let reach = evidence.iter().map(Evidence::weight).sum();
        let reason = if (count as f64) < threshold {
            Reason::AccusedByInfluencer {
                tier: Tier::of(max_followers),
                followers: max_followers,
                value: value.name.clone(),
            }
        } else {
            Reason::Accusations { count, value: value.name.clone(), mean, std, threshold }
        };
        let mut explanation = explain(db, reason, &evidence, Signal::Negative).await?;
        let mut cues: Vec<(&str, usize)> = cues.into_iter().collect();
        cues.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        explanation.top_terms = cues.into_iter().take(8).map(|(c, _)| c.to_owned()).collect();
        let z = z_score(count as f64, mean, std);
        let metrics = Metrics {
            coordination: Some(assess(db, &evidence).await?),
            negative_count: count,
            reach_weighted: reach,
            baseline_count_mean: mean,
            baseline_count_std: std,
            z_count: z,
            z,
            max_followers,
            ..Metrics::default()
        };
        findings.push(Finding {
            kind: VALUE_GAP,
            severity: value_gap_severity(count, threshold, max_followers),
            window_start: evidence.iter().map(|m| m.published_at).min().unwrap_or(window_start),
            window_end: at,
            metrics,
            explanation,
            mention_ids: most_reaching(&evidence, LINKED_PER_DETECTION, Signal::Negative),
            value: Some(value),
        });
    }
    Ok(findings)
}

/// A brand's mentions of a span, with what detection reads of them.
fn evidence_query(brand_id: Uuid, from: DateTime<Utc>, to: DateTime<Utc>) -> sea_orm::Select<mention::Entity> {
    mention::Entity::find()
        .select_only()
        .columns([
            mention::Column::Id,
            mention::Column::AuthorId,
            mention::Column::AuthorFollowers,
            mention::Column::Sentiment,
            mention::Column::SearchText,
            mention::Column::PublishedAt,
            mention::Column::ValueStances,
            mention::Column::Likes,
            mention::Column::Shares,
            mention::Column::Text,
        ])
        .filter(mention::Column::BrandId.eq(brand_id))
        // Mentions of competitors alone are not the brand's crisis.
        .filter(Expr::cust("about_brand"))
        .filter(mention::Column::PublishedAt.gte(from))
        .filter(mention::Column::PublishedAt.lt(to))
}

/// Count and weight of the brand's mentions of a signal in a span.
async fn observed(
    db: &impl ConnectionTrait,
    brand_id: Uuid,
    signal: Signal,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<(i64, f64)> {
    let mut p = Params::new(db.get_database_backend());
    let (brand, condition) = (p.bind(brand_id), signal.condition(&mut p));
    let sql = format!(
        "SELECT COUNT(*) AS n, CAST(COALESCE(SUM({}), 0) AS DOUBLE PRECISION) AS reach FROM mention \
         WHERE brand_id = {brand} AND about_brand AND {condition} AND published_at >= {} AND published_at < {}",
        signal.weight(),
        p.bind(from),
        p.bind(to)
    );
    let row = db.query_one_raw(p.statement(sql)).await?;
    Ok(match row {
        Some(row) => (row.try_get::<i64>("", "n")?, row.try_get::<f64>("", "reach").unwrap_or(0.0)),
        None => (0, 0.0),
    })
}

/// Per window of the baseline (index 0 is the oldest): count and weight of a signal,
/// aggregated by the database over the `(brand_id, published_at)` index.
async fn baseline(
    db: &impl ConnectionTrait,
    brand_id: Uuid,
    signal: Signal,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    window: Duration,
) -> Result<Vec<(i64, i64, f64)>> {
    let backend = db.get_database_backend();
    let mut p = Params::new(backend);
    let (brand, condition, start, end) = (p.bind(brand_id), signal.condition(&mut p), p.bind(from), p.bind(to));
    let seconds = window.num_seconds();
    let bucket = match backend {
        DatabaseBackend::Postgres => {
            format!(
                "CAST(FLOOR(EXTRACT(EPOCH FROM (published_at - CAST({start} AS timestamptz))) / {seconds}) AS BIGINT)"
            )
        }
        _ => format!("CAST((julianday(published_at) - julianday({start})) * 86400.0 / {seconds} AS INTEGER)"),
    };
    let sql = format!(
        "SELECT {bucket} AS bucket, COUNT(*) AS n, CAST(COALESCE(SUM({}), 0) AS DOUBLE PRECISION) AS reach \
         FROM mention WHERE brand_id = {brand} AND about_brand AND {condition} \
         AND published_at >= {start} AND published_at < {end} GROUP BY 1",
        signal.weight()
    );
    let rows = db.query_all_raw(p.statement(sql)).await?;
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get::<i64>("", "bucket")?,
                row.try_get::<i64>("", "n")?,
                row.try_get::<f64>("", "reach").unwrap_or(0.0),
            ))
        })
        .collect()
}

/// The mentions of a signal in a span, at most a few thousand (the evidence, not the
/// count).
async fn window_mentions(
    db: &impl ConnectionTrait,
    brand_id: Uuid,
    signal: Signal,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Evidence>> {
    let select = evidence_query(brand_id, from, to);
    let select = match signal {
        Signal::Negative => select.filter(mention::Column::Sentiment.lte(-NEUTRAL_BAND)),
        Signal::Positive => select.filter(mention::Column::Sentiment.gte(NEUTRAL_BAND)),
        Signal::Mobilising => select.filter(Expr::cust("mobilises")),
    };
    Ok(select.order_by_desc(mention::Column::PublishedAt).limit(5_000).into_model().all(db).await?)
}

fn most_reaching(mentions: &[Evidence], n: usize, signal: Signal) -> Vec<Uuid> {
    let mut sorted: Vec<&Evidence> = mentions.iter().collect();
    sorted.sort_by(|a, b| b.weight_for(signal).total_cmp(&a.weight_for(signal)).then(b.id.cmp(&a.id)));
    sorted.into_iter().take(n).map(|m| m.id).collect()
}

/// Top terms, top authors and samples of a set of negative mentions.
async fn explain(
    db: &impl ConnectionTrait,
    reason: Reason,
    mentions: &[Evidence],
    signal: Signal,
) -> Result<Explanation> {
    let mut terms: HashMap<&str, usize> = HashMap::new();
    for m in mentions {
        let mut seen: Vec<&str> = Vec::new();
        for word in m.search_text.split(' ') {
            if word.chars().count() >= 4
                && !crate::scoring::lang::is_function_word(word)
                && word.chars().any(char::is_alphabetic)
                && !seen.contains(&word)
            {
                seen.push(word);
                *terms.entry(word).or_default() += 1;
            }
        }
    }
    let mut terms: Vec<(&str, usize)> = terms.into_iter().filter(|(_, n)| *n >= 2 || mentions.len() < 3).collect();
    terms.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let top_terms = terms.into_iter().take(8).map(|(t, _)| t.to_owned()).collect();

    let mut per_author: BTreeMap<Uuid, (i64, i64)> = BTreeMap::new();
    for m in mentions {
        if let Some(author) = m.author_id {
            let entry = per_author.entry(author).or_default();
            entry.0 += 1;
            entry.1 = entry.1.max(m.followers());
        }
    }
    let mut loudest: Vec<(Uuid, i64, i64)> = per_author.into_iter().map(|(a, (n, f))| (a, n, f)).collect();
    loudest.sort_by_key(|a| std::cmp::Reverse((a.2, a.1)));
    loudest.truncate(5);
    let authors: HashMap<Uuid, author::Model> = author::Entity::find()
        .filter(author::Column::Id.is_in(loudest.iter().map(|a| a.0)))
        .all(db)
        .await?
        .into_iter()
        .map(|a| (a.id, a))
        .collect();
    let top_authors = loudest
        .into_iter()
        .filter_map(|(id, n, followers)| {
            authors.get(&id).map(|a| TopAuthor {
                author_id: id,
                handle: a.handle.clone(),
                network: a.network.clone(),
                followers,
                mentions: n,
            })
        })
        .collect();
    Ok(Explanation {
        summary: reason.text(crate::platform::i18n::DEFAULT),
        reason: Some(reason),
        top_terms,
        top_authors,
        sample_mention_ids: most_reaching(mentions, 5, signal),
        top_hashtags: top_hashtags(mentions),
        first_mention_ids: {
            let mut first: Vec<&Evidence> = mentions.iter().collect();
            first.sort_by_key(|m| (m.published_at, m.id));
            first.into_iter().take(5).map(|m| m.id).collect()
        },
        most_shared_mention_ids: {
            let mut shared: Vec<&Evidence> = mentions.iter().collect();
            shared.sort_by_key(|m| (std::cmp::Reverse(m.shares.saturating_add(m.likes)), m.id));
            shared.into_iter().take(5).map(|m| m.id).collect()
        },
    })
}

/// The coordination signals of the evidence, with its authors' profiles.
async fn assess(db: &impl ConnectionTrait, evidence: &[Evidence]) -> Result<super::coordination::Coordination> {
    use super::coordination::{MAX_POSTS, Post};
    let evidence = &evidence[..evidence.len().min(MAX_POSTS)];
    let ids: std::collections::BTreeSet<Uuid> = evidence.iter().filter_map(|m| m.author_id).collect();
    let mut profiles = HashMap::new();
    let ids: Vec<Uuid> = ids.into_iter().collect();
    for chunk in ids.chunks(500) {
        let found = author::Entity::find().filter(author::Column::Id.is_in(chunk.iter().copied())).all(db).await?;
        profiles.extend(found.into_iter().map(|a| (a.id, a)));
    }
    let posts: Vec<Post<'_>> = evidence
        .iter()
        .map(|m| Post { id: m.id, author_id: m.author_id, text: &m.text, published_at: m.published_at })
        .collect();
    Ok(super::coordination::assess(&posts, &profiles))
}

/// The most used hashtags of the evidence, each counted once per mention.
fn top_hashtags(mentions: &[Evidence]) -> Vec<String> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for m in mentions {
        // Folded words keep no `#`: hashtags are read in the text.
        let mut seen: Vec<String> = Vec::new();
        for tag in crate::scoring::mobilisation::hashtags(&crate::platform::text::fold(&m.text)) {
            let tag = tag.to_owned();
            if !seen.contains(&tag) {
                seen.push(tag.clone());
                *counts.entry(tag).or_default() += 1;
            }
        }
    }
    let mut tags: Vec<(String, usize)> = counts.into_iter().collect();
    tags.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    tags.into_iter().take(8).map(|(t, _)| format!("#{t}")).collect()
}

/// Opens the finding's alert, or adds its evidence to the open one. Returns the alert
/// when something changed, and whether emails were queued.
async fn raise(
    txn: &sea_orm::DatabaseTransaction,
    config: &crate::Config,
    brand: &brand::Model,
    finding: Finding,
    at: DateTime<Utc>,
) -> Result<Option<(alert::Model, bool)>> {
    let value_id = finding.value.as_ref().map(|v| v.id);
    let key = super::open_key(brand.id, finding.kind, value_id);
    let id = new_id();
    let mut metrics = finding.metrics.clone();
    metrics.evidence = finding.mention_ids.len() as i64;
    metrics.notified_evidence = metrics.evidence;
    let inserted = alert::Entity::insert(alert::ActiveModel {
        id: Set(id),
        agency_id: Set(brand.agency_id),
        brand_id: Set(brand.id),
        kind: Set(finding.kind.into()),
        severity: Set(finding.severity.as_str().into()),
        status: Set(AlertStatus::Open.as_str().into()),
        brand_value_id: Set(value_id),
        window_start: Set(finding.window_start),
        window_end: Set(finding.window_end),
        metrics: Set(serde_json::to_value(&metrics).unwrap_or_default()),
        explanation: Set(serde_json::to_value(&finding.explanation).unwrap_or_default()),
        opened_at: Set(at),
        acknowledged_at: Set(None),
        resolved_at: Set(None),
        resolution_note: Set(None),
        created_at: Set(at),
        updated_at: Set(at),
        open_key: Set(Some(key.clone())),
        verdict: Set(None),
        verdict_note: Set(None),
        judged_at: Set(None),
    })
    .on_conflict(OnConflict::column(alert::Column::OpenKey).do_nothing().to_owned())
    .exec_without_returning(txn)
    .await?;
    let value_name = finding.value.as_ref().map(|v| v.name.as_str());

    if inserted == 1 {
        let alert = alert::Entity::find_by_id(id).one(txn).await?.ok_or(crate::Error::NotFound("alert"))?;
        link(txn, id, &finding.mention_ids).await?;
        super::step(
            txn,
            id,
            "opened",
            None,
            json!({ "severity": alert.severity, "summary": finding.explanation.summary, "mentions": finding.mention_ids.len() }),
        )
        .await?;
        hold_if_serious(txn, brand, &alert, at).await?;
        let kind = match finding.kind {
            VALUE_GAP => events::VALUE_GAP_OPENED,
            MOBILISATION => events::MOBILISATION_OPENED,
            POSITIVE_SPIKE => events::POSITIVE_SPIKE_OPENED,
            _ => events::CRISIS_OPENED,
        };
        let payload = super::event_payload(txn, &alert).await?;
        events::record(txn, brand.agency_id, Some(brand.id), kind, payload).await?;
        // Escalation contacts hear of crises; good news waits for the digest.
        let emailed = finding.kind != POSITIVE_SPIKE
            && super::email_contacts(txn, config, brand, &alert, value_name, None).await? > 0;
        tracing::warn!(brand_id = %brand.id, alert_id = %id, kind = finding.kind, severity = %alert.severity, "crisis alert opened");
        return Ok(Some((alert, emailed)));
    }

    // An alert of this kind is already open: add what is new to it.
    // Locked, so that a verdict closing it meanwhile is seen (PostgreSQL; SQLite has one
    // writer at a time).
    let mut open = alert::Entity::find().filter(alert::Column::OpenKey.eq(key));
    if txn.get_database_backend() == DatabaseBackend::Postgres {
        open = open.lock_exclusive();
    }
    let Some(existing) = open.one(txn).await? else {
        return Ok(None);
    };
    let added = link(txn, existing.id, &finding.mention_ids).await?;
    // Without new links the count can still have grown past a severity (the linked
    // mentions are the most far-reaching, not the newest).
    if added == 0 && finding.severity <= Severity::parse(&existing.severity) {
        return Ok(None);
    }
    let previous: Metrics = serde_json::from_value(existing.metrics.clone()).unwrap_or_default();
    let before = Severity::parse(&existing.severity);
    let severity = before.max(finding.severity);
    metrics.evidence = previous.evidence + added as i64;
    let grown = metrics.evidence * 2 >= previous.notified_evidence.max(1) * 3;
    let worsened = severity > before;
    metrics.notified_evidence = if worsened || grown { metrics.evidence } else { previous.notified_evidence };
    let mut model: alert::ActiveModel = existing.clone().into();
    model.severity = Set(severity.as_str().into());
    model.window_end = Set(finding.window_end.max(existing.window_end));
    model.metrics = Set(serde_json::to_value(&metrics).unwrap_or_default());
    model.explanation = Set(serde_json::to_value(&finding.explanation).unwrap_or_default());
    model.updated_at = Set(at);
    let alert = model.update(txn).await?;
    if added > 0 {
        let detail = json!({ "mentions": added, "evidence": metrics.evidence });
        super::step(txn, alert.id, "evidence_added", None, detail).await?;
    }
    let mut emailed = false;
    if worsened {
        super::step(
            txn,
            alert.id,
            "severity_raised",
            None,
            json!({ "from": before.as_str(), "to": severity.as_str() }),
        )
        .await?;
        emailed = finding.kind != POSITIVE_SPIKE
            && super::email_contacts(txn, config, brand, &alert, value_name, Some(before)).await? > 0;
        hold_if_serious(txn, brand, &alert, at).await?;
    }
    if worsened || grown {
        let mut payload = super::event_payload(txn, &alert).await?;
        payload["change"] = json!(if worsened { "severity_raised" } else { "evidence_added" });
        payload["previousSeverity"] = json!(before.as_str());
        events::record(txn, brand.agency_id, Some(brand.id), events::CRISIS_UPDATED, payload).await?;
    }
    Ok(Some((alert, emailed)))
}

/// Links mentions to an alert; returns how many were not linked yet.
async fn link(db: &impl ConnectionTrait, alert_id: Uuid, mention_ids: &[Uuid]) -> Result<u64> {
    if mention_ids.is_empty() {
        return Ok(0);
    }
    let mut added = 0;
    let rows = mention_ids
        .iter()
        .map(|&mention_id| alert_mention::ActiveModel { alert_id: Set(alert_id), mention_id: Set(mention_id) })
        .collect();
    for chunk in batches(rows, 512) {
        added += alert_mention::Entity::insert_many(chunk)
            .on_conflict(
                OnConflict::columns([alert_mention::Column::AlertId, alert_mention::Column::MentionId])
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    }
    Ok(added)
}

/// Holds the upcoming posts about a value-gap alert's value when the alert reaches the
/// brand's hold severity, with a step on the alert's timeline.
pub(crate) async fn hold_if_serious(
    txn: &sea_orm::DatabaseTransaction,
    brand: &brand::Model,
    alert: &alert::Model,
    at: DateTime<Utc>,
) -> Result<()> {
    let Some(value_id) = alert.brand_value_id else { return Ok(()) };
    if !crate::calendar::holds_content(brand, Severity::parse(&alert.severity)) {
        return Ok(());
    }
    let held = hold_content(txn, brand.id, value_id, alert.id, at).await?;
    if held > 0 {
        super::step(txn, alert.id, "content_held", None, json!({ "items": held, "valueId": value_id })).await?;
    }
    Ok(())
}

/// Puts the brand's upcoming approved or scheduled posts about a value on hold, each
/// with a step in its audit trail.
async fn hold_content(
    db: &impl ConnectionTrait,
    brand_id: Uuid,
    value_id: Uuid,
    alert_id: Uuid,
    at: DateTime<Utc>,
) -> Result<u64> {
    use crate::calendar::ContentStatus;
    use crate::entities::{content_item, content_item_value};
    let about_value = content_item_value::Entity::find()
        .select_only()
        .column(content_item_value::Column::ContentItemId)
        .filter(content_item_value::Column::BrandValueId.eq(value_id));
    let items = content_item::Entity::find()
        .filter(content_item::Column::BrandId.eq(brand_id))
        .filter(
            content_item::Column::Status.is_in([ContentStatus::Approved.as_str(), ContentStatus::Scheduled.as_str()]),
        )
        .filter(content_item::Column::ScheduledAt.gte(at))
        .filter(content_item::Column::Id.in_subquery(sea_orm::QueryTrait::into_query(about_value)))
        .all(db)
        .await?;
    for item in &items {
        let note = Some(format!("held: value-gap alert {alert_id} on a value this item speaks to"));
        crate::calendar::review(db, item, None, ContentStatus::OnHold, note).await?;
        let mut model: content_item::ActiveModel = item.clone().into();
        model.status = Set(ContentStatus::OnHold.as_str().into());
        model.hold_alert_id = Set(Some(alert_id));
        model.updated_at = Set(at);
        model.update(db).await?;
    }
    Ok(items.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_calm_baseline_has_a_small_mean_and_the_floor_bounds_z() {
        let mut calm = vec![0.0; BASELINE_WINDOWS];
        for i in (0..BASELINE_WINDOWS).step_by(6) {
            calm[i] = 1.0;
        }
        let (mean, std) = ewma(&calm);
        assert!(mean < 0.5 && std < 1.0, "{mean} {std}");
        assert!(z_score(15.0, mean, std) > 14.0);
        assert!(z_score(2.0, mean, std) < 2.0, "two complaints are no crisis");
        let (mean, std) = ewma(&vec![20.0; BASELINE_WINDOWS]);
        assert!((mean - 20.0).abs() < 1e-9 && std < 1e-9);
        assert!(z_score(21.0, mean, std) < 3.0, "a busy brand's usual volume is no crisis");
    }

    #[test]
    fn severity_grows_with_z_and_reach() {
        assert_eq!(spike_severity(3.5, 3.0, 100), Severity::Low);
        assert_eq!(spike_severity(5.0, 3.0, 100), Severity::Medium);
        assert_eq!(spike_severity(7.0, 3.0, 100), Severity::High);
        assert_eq!(spike_severity(10.0, 3.0, 100), Severity::Critical);
        assert_eq!(spike_severity(3.5, 3.0, 600_000), Severity::Medium);
        assert_eq!(value_gap_severity(1, 3.0, 600_000), Severity::High);
        assert_eq!(value_gap_severity(1, 3.0, 2_000_000), Severity::Critical);
        assert_eq!(value_gap_severity(3, 3.0, 50), Severity::Medium);
        assert_eq!(value_gap_severity(6, 3.0, 50), Severity::High);
        assert_eq!(value_gap_severity(9, 3.0, 50), Severity::Critical);
        assert_eq!(value_gap_severity(9, 5.0, 50), Severity::Medium);
    }

    #[test]
    fn the_value_gap_threshold_follows_the_baseline_above_its_floor() {
        // No history: the floor decides.
        let (mean, std) = ewma(&[0.0; VALUE_GAP_BASELINE_DAYS]);
        assert_eq!(value_gap_threshold(mean, std, 3.0, 3), 3.0);
        assert_eq!(value_gap_threshold(mean, std, 3.0, 5), 5.0);
        // A brand that is accused about four times a day every day.
        let (mean, std) = ewma(&[4.0, 3.0, 5.0, 4.0, 6.0, 2.0, 4.0].repeat(4));
        let threshold = value_gap_threshold(mean, std, 3.0, 3);
        assert!(threshold > 7.0 && threshold < 10.0, "{mean} {std} {threshold}");
    }

    /// The weight computed in Rust (for the evidence) is the one the SQL computes (for
    /// detection): both are evaluated, around every step and for an unknown count.
    #[tokio::test]
    async fn reach_weight_matches_the_sql_steps() {
        use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
        let db = sea_orm::Database::connect("sqlite::memory:").await.unwrap();
        let mut counts: Vec<Option<i64>> = vec![None, Some(0), Some(5_000_000), Some(i64::from(i32::MAX))];
        for step in (1..=6).map(|p| 10i64.pow(p)) {
            counts.extend([Some(step - 1), Some(step), Some(step + 1)]);
        }
        for followers in counts {
            let value = followers.map_or("NULL".to_owned(), |n| n.to_string());
            let sql = format!("SELECT CAST({REACH_WEIGHT} AS REAL) AS w FROM (SELECT {value} AS author_followers)");
            let row = db.query_one_raw(Statement::from_string(DatabaseBackend::Sqlite, sql)).await.unwrap().unwrap();
            let in_sql: f64 = row.try_get("", "w").unwrap();
            assert_eq!(reach_weight(followers.unwrap_or(0)), in_sql, "{followers:?} followers");
        }
        assert_eq!(reach_weight(9), 1.0);
        assert_eq!(reach_weight(1_000_000), 7.0);
    }
}
