//! Crisis alerts: list, detail with explanation and timeline, lifecycle mutations, and
//! the live `alerts(brandId)` subscription.

use super::node::{NodeKind, global_id};
use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use futures_util::Stream;
use std::sync::Arc;
use vigie_domain::crises::{self, AlertFilter, AlertStatus as DomainStatus, Explanation, Metrics};
use vigie_domain::entities::{alert, alert_event};
use vigie_domain::platform::bus::Notice;
use vigie_domain::{Actor, Services};

use super::auth::User;
use super::brands::{Brand, BrandValue};
use super::live;
use super::loaders::{BrandKey, MentionsOfAlert, TimelineOfAlert, UserKey, ValuesOfBrand};
use super::mentions::Mention;
use super::pagination::{self, Cursor, uuid};
use super::{actor, loader, services};

/// What raised an alert.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum AlertKind {
    /// Negative mentions far above the brand's baseline.
    NegativeSpike,
    /// Mentions accusing the brand of failing a value it states, above its baseline.
    ValueGap,
    /// Calls to act against the brand (boycott, petition, "stop buying") above its
    /// baseline, or one from a macro or mega author.
    Mobilisation,
    /// Positive mentions far above the brand's baseline: praise going viral.
    PositiveSpike,
}

impl AlertKind {
    fn of(kind: &str) -> Self {
        match crises::KINDS.into_iter().find(|k| *k == kind) {
            Some(crises::VALUE_GAP) => AlertKind::ValueGap,
            Some(crises::MOBILISATION) => AlertKind::Mobilisation,
            Some(crises::POSITIVE_SPIKE) => AlertKind::PositiveSpike,
            _ => AlertKind::NegativeSpike,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            AlertKind::NegativeSpike => crises::NEGATIVE_SPIKE,
            AlertKind::ValueGap => crises::VALUE_GAP,
            AlertKind::Mobilisation => crises::MOBILISATION,
            AlertKind::PositiveSpike => crises::POSITIVE_SPIKE,
        }
    }
}

/// How serious an alert is.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "vigie_domain::crises::Severity")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

/// A manager's judgement of an alert.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "vigie_domain::crises::Verdict")]
pub enum AlertVerdict {
    /// The alert was right.
    Confirmed,
    /// Nothing was wrong: the alert is resolved and the calendar posts it held go back
    /// to the status they had.
    FalseAlarm,
}

/// How often one kind of alert was judged right.
pub struct AlertPrecision(crises::KindPrecision);

#[Object]
impl AlertPrecision {
    async fn kind(&self) -> AlertKind {
        AlertKind::of(self.0.kind)
    }
    /// Alerts of this kind opened in the period.
    async fn opened(&self) -> i64 {
        self.0.opened
    }
    /// Those with a verdict.
    async fn judged(&self) -> i64 {
        self.0.judged
    }
    async fn confirmed(&self) -> i64 {
        self.0.confirmed
    }
    async fn false_alarms(&self) -> i64 {
        self.0.false_alarms
    }
    /// `confirmed / judged`, in [0, 1]; null while none is judged.
    async fn precision(&self) -> Option<f64> {
        self.0.precision
    }
}

/// Where an alert is in its lifecycle.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "vigie_domain::crises::AlertStatus")]
pub enum AlertStatus {
    Open,
    Acknowledged,
    Resolved,
}

/// The figures behind an alert.
#[derive(SimpleObject)]
pub struct AlertMetrics {
    /// Mentions counted in the detection window: negative ones for a negative spike,
    /// positive ones for a positive spike, calls for a mobilisation (in the hour), and
    /// accusations of failing the value in a day for a value gap.
    pub negative_count: i64,
    /// Their negativity weighted by reach (1 + log10 of followers, in whole steps).
    pub reach_weighted: f64,
    /// EWMA mean and standard deviation of negative mentions per window over the last day
    /// (value gaps: of accusations per day over the four weeks before).
    pub baseline_count_mean: f64,
    pub baseline_count_std: f64,
    pub baseline_reach_mean: f64,
    pub baseline_reach_std: f64,
    pub z_count: f64,
    pub z_reach: f64,
    /// The larger z-score, compared with the brand's `crisisZThreshold`.
    pub z: f64,
    pub max_followers: i64,
    /// Mentions linked so far.
    pub evidence: i64,
}

impl From<Metrics> for AlertMetrics {
    fn from(m: Metrics) -> Self {
        AlertMetrics {
            negative_count: m.negative_count,
            reach_weighted: m.reach_weighted,
            baseline_count_mean: m.baseline_count_mean,
            baseline_count_std: m.baseline_count_std,
            baseline_reach_mean: m.baseline_reach_mean,
            baseline_reach_std: m.baseline_reach_std,
            z_count: m.z_count,
            z_reach: m.z_reach,
            z: m.z,
            max_followers: m.max_followers,
            evidence: m.evidence,
        }
    }
}

/// One of the loudest authors of an alert.
#[derive(SimpleObject)]
pub struct AlertAuthor {
    pub author_id: ID,
    pub handle: String,
    pub network: String,
    pub followers: i64,
    pub mentions: i64,
}

/// Why an alert opened.
#[derive(SimpleObject)]
pub struct AlertExplanation {
    /// One sentence with the figures.
    pub summary: String,
    pub top_terms: Vec<String>,
    pub top_authors: Vec<AlertAuthor>,
    /// Ids of a few far-reaching mentions (see `Alert.mentions` for all linked ones).
    pub sample_mention_ids: Vec<ID>,
    /// The most used hashtags of the evidence, with `#`.
    pub top_hashtags: Vec<String>,
    /// The first posts of the evidence, oldest first.
    pub first_mention_ids: Vec<ID>,
    /// The most shared and liked posts of the evidence.
    pub most_shared_mention_ids: Vec<ID>,
}

impl AlertExplanation {
    fn new(e: Explanation, language: &str) -> Self {
        AlertExplanation {
            summary: e.summary_in(language),
            top_terms: e.top_terms,
            top_authors: e
                .top_authors
                .into_iter()
                .map(|a| AlertAuthor {
                    author_id: global_id(NodeKind::Author, a.author_id),
                    handle: a.handle,
                    network: a.network,
                    followers: a.followers,
                    mentions: a.mentions,
                })
                .collect(),
            sample_mention_ids: mention_ids(e.sample_mention_ids),
            top_hashtags: e.top_hashtags,
            first_mention_ids: mention_ids(e.first_mention_ids),
            most_shared_mention_ids: mention_ids(e.most_shared_mention_ids),
        }
    }
}

/// Coordinated-campaign signals of an alert's evidence (see docs/crises-and-events.md).
#[derive(SimpleObject)]
pub struct AlertCoordination {
    /// 0–100: 0.3 freshAccounts + 0.35 nearDuplicates + 0.15 synchrony + 0.2
    /// concentration, each 0–1.
    pub score: f64,
    /// Of the authors whose network gives the account's creation date (Mastodon, X),
    /// the share whose account was made in the 30 days before they posted.
    pub fresh_accounts: f64,
    /// Share of the posts with a near duplicate (MinHash) by another author.
    pub near_duplicates: f64,
    /// How much more often than chance posts by different authors fall within 10
    /// seconds of each other.
    pub synchrony: f64,
    /// How much of the volume the most active tenth of the authors writes, beyond
    /// their tenth.
    pub concentration: f64,
    /// Posts and distinct authors assessed (at most the 1,000 latest posts).
    pub posts: i64,
    pub authors: i64,
    /// The largest group of near duplicates, at most ten posts.
    pub duplicate_mention_ids: Vec<ID>,
}

fn mention_ids(ids: Vec<uuid::Uuid>) -> Vec<ID> {
    ids.into_iter().map(|id| global_id(NodeKind::Mention, id)).collect()
}

/// A step of an alert's timeline.
pub struct AlertTimelineEntry(alert_event::Model);

#[Object]
impl AlertTimelineEntry {
    /// `opened`, `evidence_added`, `severity_raised`, `content_held`, `acknowledged`,
    /// `resolved`, `reopened` or `judged`.
    async fn kind(&self) -> &str {
        &self.0.kind
    }
    async fn occurred_at(&self) -> DateTime<Utc> {
        self.0.occurred_at
    }
    /// Who did it; null for detection, and for client viewers unless they did.
    async fn actor(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(id) = self.0.actor_user_id else { return Ok(None) };
        if !super::sees_staff_details(ctx, Some(id))? {
            return Ok(None);
        }
        Ok(loader(ctx).load_one(UserKey(id)).await?.map(User))
    }
    /// Details of the step (note, severities, counts).
    async fn detail(&self) -> async_graphql::Json<serde_json::Value> {
        async_graphql::Json(self.0.detail.clone())
    }
}

/// A crisis alert of a brand.
pub struct Alert(pub alert::Model);

#[Object]
impl Alert {
    pub(crate) async fn id(&self) -> ID {
        global_id(NodeKind::Alert, self.0.id)
    }
    async fn brand(&self, ctx: &Context<'_>) -> Result<Option<Brand>> {
        Ok(loader(ctx).load_one(BrandKey(self.0.brand_id)).await?.map(Brand))
    }
    async fn kind(&self) -> AlertKind {
        AlertKind::of(&self.0.kind)
    }
    async fn severity(&self) -> Severity {
        crises::Severity::parse(&self.0.severity).into()
    }
    async fn status(&self) -> AlertStatus {
        DomainStatus::parse(&self.0.status).into()
    }
    /// The stated value a value-gap alert is about.
    async fn value(&self, ctx: &Context<'_>) -> Result<Option<BrandValue>> {
        let Some(value_id) = self.0.brand_value_id else { return Ok(None) };
        let values = loader(ctx).load_one(ValuesOfBrand(self.0.brand_id)).await?.unwrap_or_default();
        Ok(values.into_iter().find(|v| v.id == value_id).map(BrandValue))
    }
    async fn window_start(&self) -> DateTime<Utc> {
        self.0.window_start
    }
    async fn window_end(&self) -> DateTime<Utc> {
        self.0.window_end
    }
    async fn metrics(&self) -> AlertMetrics {
        serde_json::from_value::<Metrics>(self.0.metrics.clone()).unwrap_or_default().into()
    }
    /// How much the latest detection's evidence looks like a coordinated campaign: a
    /// score with its components, never a verdict (it lowers nothing). Null on alerts
    /// opened before it was assessed.
    async fn coordination(&self) -> Option<AlertCoordination> {
        let metrics = serde_json::from_value::<Metrics>(self.0.metrics.clone()).unwrap_or_default();
        metrics.coordination.map(|c| AlertCoordination {
            score: c.score,
            fresh_accounts: c.fresh_accounts,
            near_duplicates: c.near_duplicates,
            synchrony: c.synchrony,
            concentration: c.concentration,
            posts: c.posts,
            authors: c.authors,
            duplicate_mention_ids: mention_ids(c.duplicate_mention_ids),
        })
    }
    /// Why it opened. The summary is in `language` (`en`, `fr`), by default the brand's.
    async fn explanation(&self, ctx: &Context<'_>, language: Option<String>) -> Result<AlertExplanation> {
        let language = match language {
            Some(language) if vigie_domain::platform::i18n::speaks(&language) => language,
            Some(_) => {
                let known: Vec<&str> = vigie_domain::platform::i18n::languages().collect();
                return Err(
                    vigie_domain::Error::bad_input("language", format!("must be one of {}", known.join(", "))).into()
                );
            }
            None => loader(ctx)
                .load_one(BrandKey(self.0.brand_id))
                .await?
                .map_or_else(|| vigie_domain::platform::i18n::DEFAULT.to_owned(), |brand| brand.language),
        };
        let explanation = serde_json::from_value::<Explanation>(self.0.explanation.clone()).unwrap_or_default();
        Ok(AlertExplanation::new(explanation, &language))
    }
    async fn opened_at(&self) -> DateTime<Utc> {
        self.0.opened_at
    }
    async fn acknowledged_at(&self) -> Option<DateTime<Utc>> {
        self.0.acknowledged_at
    }
    async fn resolved_at(&self) -> Option<DateTime<Utc>> {
        self.0.resolved_at
    }
    async fn resolution_note(&self) -> Option<&str> {
        self.0.resolution_note.as_deref()
    }
    /// A manager's verdict; null until judged.
    async fn verdict(&self) -> Option<AlertVerdict> {
        self.0.verdict.as_deref().and_then(crises::Verdict::parse).map(Into::into)
    }
    async fn verdict_note(&self) -> Option<&str> {
        self.0.verdict_note.as_deref()
    }
    async fn judged_at(&self) -> Option<DateTime<Utc>> {
        self.0.judged_at
    }
    /// What happened, oldest first.
    async fn timeline(&self, ctx: &Context<'_>) -> Result<Vec<AlertTimelineEntry>> {
        let steps = loader(ctx).load_one(TimelineOfAlert(self.0.id)).await?.unwrap_or_default();
        Ok(steps.into_iter().map(AlertTimelineEntry).collect())
    }
    /// The mentions linked as evidence, newest first (at most 100).
    #[graphql(complexity = "pagination::complexity(child_complexity, first)")]
    async fn mentions(&self, ctx: &Context<'_>, first: Option<i32>) -> Result<Vec<Mention>> {
        let first = first.unwrap_or(20);
        if !(1..=100).contains(&first) {
            return Err(vigie_domain::Error::bad_input("first", "must be between 1 and 100").into());
        }
        let rows = loader(ctx).load_one(MentionsOfAlert(self.0.id, first as u64)).await?.unwrap_or_default();
        Ok(rows.into_iter().map(Mention).collect())
    }
}

/// Filters of `alerts`.
#[derive(InputObject, Default)]
pub struct AlertFilterInput {
    status: Option<AlertStatus>,
    kind: Option<AlertKind>,
    /// This severity or worse.
    min_severity: Option<Severity>,
}

impl From<AlertFilterInput> for AlertFilter {
    fn from(f: AlertFilterInput) -> Self {
        AlertFilter {
            status: f.status.map(Into::into),
            kind: f.kind.map(|k| k.as_str().to_owned()),
            min_severity: f.min_severity.map(Into::into),
        }
    }
}

#[derive(Default)]
pub struct AlertQuery;

#[Object]
impl AlertQuery {
    /// A brand's crisis alerts, newest first.
    #[graphql(complexity = "pagination::complexity(child_complexity, first)")]
    async fn alerts(
        &self,
        ctx: &Context<'_>,
        brand_id: ID,
        filter: Option<AlertFilterInput>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<Cursor, Alert>> {
        let filter = filter.unwrap_or_default().into();
        let had_cursor = after.is_some();
        let page = crises::list(
            services(ctx),
            actor(ctx)?,
            uuid("brandId", &brand_id)?,
            filter,
            pagination::request(first, after)?,
        )
        .await?;
        Ok(pagination::connection(page, had_cursor, |a| Cursor(a.id), Alert))
    }

    /// One alert.
    async fn alert(&self, ctx: &Context<'_>, id: ID) -> Result<Alert> {
        Ok(Alert(crises::get(&services(ctx).db, actor(ctx)?, uuid("id", &id)?).await?))
    }

    /// Per kind, among the brand's alerts opened in `[from, to)`, the share that managers
    /// confirmed among those they judged.
    async fn alert_precision(
        &self,
        ctx: &Context<'_>,
        brand_id: ID,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<AlertPrecision>> {
        let brand = uuid("brandId", &brand_id)?;
        let found = crises::verdicts::precision(&services(ctx).db, actor(ctx)?, brand, from, to).await?;
        Ok(found.into_iter().map(AlertPrecision).collect())
    }
}

#[derive(Default)]
pub struct AlertMutation;

#[Object]
impl AlertMutation {
    /// Marks an open alert as seen (agency staff).
    async fn acknowledge_alert(&self, ctx: &Context<'_>, id: ID, note: Option<String>) -> Result<Alert> {
        Ok(Alert(crises::acknowledge(services(ctx), actor(ctx)?, uuid("id", &id)?, note).await?))
    }

    /// Resolves an alert with a note on what was done (agency staff); sends `crisis.resolved`.
    async fn resolve_alert(&self, ctx: &Context<'_>, id: ID, note: String) -> Result<Alert> {
        Ok(Alert(crises::resolve(services(ctx), actor(ctx)?, uuid("id", &id)?, note).await?))
    }

    /// Judges an alert (owners and admins); a false alarm resolves it and releases the
    /// calendar posts it held. Sends `crisis.resolved`, or `crisis.updated` with
    /// `change: "judged"`.
    async fn judge_alert(
        &self,
        ctx: &Context<'_>,
        id: ID,
        verdict: AlertVerdict,
        note: Option<String>,
    ) -> Result<Alert> {
        let judged =
            crises::verdicts::judge(services(ctx), actor(ctx)?, uuid("id", &id)?, verdict.into(), note).await?;
        Ok(Alert(judged))
    }

    /// Reopens a resolved alert, unless another of its kind is open (agency staff).
    async fn reopen_alert(&self, ctx: &Context<'_>, id: ID) -> Result<Alert> {
        Ok(Alert(crises::reopen(services(ctx), actor(ctx)?, uuid("id", &id)?).await?))
    }
}

#[derive(Default)]
pub struct AlertSubscription;

#[Subscription]
impl AlertSubscription {
    /// Every alert of the brand as it opens, changes or is resolved.
    async fn alerts(&self, ctx: &Context<'_>, brand_id: ID) -> Result<impl Stream<Item = Alert> + use<>> {
        let services: Arc<Services> = services(ctx).clone();
        let actor: Actor = actor(ctx)?.clone();
        let brand = actor.check_brand(&services.db, uuid("brandId", &brand_id)?).await?;
        let agency = actor.agency_id();
        let pick = move |notice: &Notice| match notice {
            Notice::Alert { agency_id, brand_id, alert_id } if *agency_id == agency && *brand_id == brand => {
                Some(*alert_id)
            }
            _ => None,
        };
        let load = |services: Arc<Services>, actor: Actor, id| async move {
            crises::get(&services.db, &actor, id).await.ok().map(Alert)
        };
        Ok(live::objects(services, actor, pick, load).await)
    }
}
