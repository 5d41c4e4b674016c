//! Competitors, share of voice and competitive influencers.

use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use vigie_domain::competition::prospects::{self, Prospect};
use vigie_domain::competition::share::{self, Entity, ShareOfVoice as Share, Voice as DomainVoice};
use vigie_domain::competition::{self as domain, CompetitorInput, CompetitorPatch};
use vigie_domain::entities::competitor;

use super::brands::{BrandHandle, DeletePayload, Network};
use super::influencers::{ScoreBreakdown, Stance, Tier};
use super::mentions::Author;
use super::node::{NodeKind, global_id};
use super::pagination::uuid;
use super::{actor, services};

/// A competitor a brand measures itself against. Mentions that name it (its name, a
/// keyword or a handle) count in its share of voice; those that name it and not the
/// brand open no ticket and no alert for the brand.
pub struct Competitor(pub competitor::Model);

#[Object]
impl Competitor {
    pub(crate) async fn id(&self) -> ID {
        global_id(NodeKind::Competitor, self.0.id)
    }
    async fn brand_id(&self) -> ID {
        global_id(NodeKind::Brand, self.0.brand_id)
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Its products and other words that name it; matching ignores case and accents.
    async fn keywords(&self) -> &[String] {
        &self.0.keywords.0
    }
    /// Its accounts: a mention naming one, or answering one, names the competitor.
    async fn handles(&self) -> Vec<BrandHandle> {
        self.0.handles.0.iter().cloned().map(Into::into).collect()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// A new competitor of a brand.
#[derive(InputObject)]
pub struct CreateCompetitorInput {
    brand_id: ID,
    name: String,
    #[graphql(default)]
    keywords: Vec<String>,
    #[graphql(default)]
    handles: Vec<BrandHandle>,
}

/// Changes to a competitor; omitted fields are unchanged. They apply to mentions
/// stored from then on.
#[derive(InputObject)]
pub struct UpdateCompetitorInput {
    id: ID,
    name: Option<String>,
    keywords: Option<Vec<String>>,
    handles: Option<Vec<BrandHandle>>,
}

/// The length of share-of-voice periods (UTC).
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "vigie_domain::competition::share::Granularity")]
pub enum Granularity {
    Day,
    /// ISO weeks, Monday to Sunday.
    Week,
    Month,
}

/// What was said of the brand or of one competitor in a period.
#[derive(SimpleObject)]
pub struct Voice {
    /// Null for the brand itself.
    competitor_id: Option<ID>,
    /// The brand's or the competitor's name.
    name: String,
    is_brand: bool,
    mentions: i64,
    /// Sentiment at or above 0.1.
    positive: i64,
    /// Sentiment at or below −0.1.
    negative: i64,
    /// The sum of its mentions' reach: each author's followers, 1 when unknown.
    reach: i64,
    /// Its mentions over every entity's (a mention naming two counts for both); null
    /// when nobody spoke.
    share: Option<f64>,
    /// Its reach over every entity's.
    reach_share: Option<f64>,
    /// (positive − negative) / mentions, −1 to 1; null without mentions.
    net_sentiment: Option<f64>,
    /// Its positive mentions over its mentions.
    positive_rate: Option<f64>,
    /// Its positive mentions over every entity's positive mentions.
    positive_share: Option<f64>,
}

impl Voice {
    fn of(share: &Share, v: &DomainVoice) -> Self {
        Voice {
            competitor_id: match v.entity {
                Entity::Brand => None,
                Entity::Competitor(id) => Some(global_id(NodeKind::Competitor, id)),
            },
            name: share.name_of(v.entity).to_owned(),
            is_brand: v.entity == Entity::Brand,
            mentions: v.mentions,
            positive: v.positive,
            negative: v.negative,
            reach: v.reach,
            share: v.share,
            reach_share: v.reach_share,
            net_sentiment: v.net_sentiment,
            positive_rate: v.positive_rate,
            positive_share: v.positive_share,
        }
    }
}

/// One period of share of voice.
#[derive(SimpleObject)]
pub struct VoicePeriod {
    /// The period, clipped to the requested range.
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    /// The brand first, then its competitors by name.
    voices: Vec<Voice>,
}

/// Share of voice of a brand and its competitors.
#[derive(SimpleObject)]
pub struct ShareOfVoice {
    brand_id: ID,
    periods: Vec<VoicePeriod>,
    /// Over the whole range.
    total: Vec<Voice>,
}

impl From<Share> for ShareOfVoice {
    fn from(s: Share) -> Self {
        let voices = |list: &[DomainVoice]| list.iter().map(|v| Voice::of(&s, v)).collect();
        ShareOfVoice {
            brand_id: global_id(NodeKind::Brand, s.brand.id),
            periods: s
                .periods
                .iter()
                .map(|p| VoicePeriod { start: p.start, end: p.end, voices: voices(&p.voices) })
                .collect(),
            total: voices(&s.total),
        }
    }
}

/// How often an author named one competitor.
#[derive(SimpleObject)]
pub struct CompetitorMentions {
    competitor_id: ID,
    name: String,
    mentions: i64,
}

/// An author who talks about the brand's competitors and never about the brand: a
/// prospect for the CRM, scored as influencers are, on its posts about them.
#[derive(SimpleObject)]
pub struct CompetitiveInfluencer {
    author: Author,
    /// 0–100.
    score: f64,
    tier: Tier,
    /// Towards the competitors.
    stance: Stance,
    breakdown: ScoreBreakdown,
    /// Its mentions of competitors in the period.
    mentions: i64,
    first_seen_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    /// The competitors it named, most named first.
    competitors: Vec<CompetitorMentions>,
}

impl From<Prospect> for CompetitiveInfluencer {
    fn from(p: Prospect) -> Self {
        let i = p.influence;
        CompetitiveInfluencer {
            author: Author(p.author),
            score: i.score,
            tier: i.tier.into(),
            stance: i.stance.into(),
            breakdown: i.components.into(),
            mentions: i.mention_count,
            first_seen_at: i.first_seen,
            last_seen_at: i.last_seen,
            competitors: p
                .competitors
                .into_iter()
                .map(|(c, mentions)| CompetitorMentions {
                    competitor_id: global_id(NodeKind::Competitor, c.id),
                    name: c.name,
                    mentions,
                })
                .collect(),
        }
    }
}

#[derive(Default)]
pub struct CompetitionQuery;

#[Object]
impl CompetitionQuery {
    /// A brand's share of voice against its competitors over `[from, to)` (at most 400
    /// days), per period. Competitors count from the day they were declared.
    #[graphql(complexity = "super::limits::AGGREGATE + child_complexity")]
    async fn share_of_voice(
        &self,
        ctx: &Context<'_>,
        brand_id: ID,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        #[graphql(default_with = "Granularity::Week")] by: Granularity,
        network: Option<Network>,
    ) -> Result<ShareOfVoice> {
        let brand_id = uuid("brandId", &brand_id)?;
        let network = network.map(Into::into);
        let share = share::share_of_voice(services(ctx), actor(ctx)?, brand_id, from, to, by.into(), network).await?;
        Ok(share.into())
    }

    /// The most influential authors who named the brand's competitors (or only
    /// `competitorId`) in the last `days` (1–400) and never the brand; the brand's and
    /// the competitors' own accounts left out. `first`: 1–100.
    #[graphql(complexity = "super::limits::AGGREGATE + child_complexity")]
    async fn competitive_influencers(
        &self,
        ctx: &Context<'_>,
        brand_id: ID,
        competitor_id: Option<ID>,
        #[graphql(default = 90)] days: i32,
        #[graphql(default = 20)] first: i32,
    ) -> Result<Vec<CompetitiveInfluencer>> {
        let competitor_id = competitor_id.as_ref().map(|id| uuid("competitorId", id)).transpose()?;
        let found = prospects::competitive_influencers(
            services(ctx),
            actor(ctx)?,
            uuid("brandId", &brand_id)?,
            competitor_id,
            i64::from(days),
            first,
        )
        .await?;
        Ok(found.into_iter().map(Into::into).collect())
    }
}

#[derive(Default)]
pub struct CompetitionMutation;

#[Object]
impl CompetitionMutation {
    /// Declares a competitor of a brand (staff; at most 20 per brand).
    async fn create_competitor(&self, ctx: &Context<'_>, input: CreateCompetitorInput) -> Result<Competitor> {
        let created = domain::create(
            services(ctx),
            actor(ctx)?,
            uuid("brandId", &input.brand_id)?,
            CompetitorInput {
                name: input.name,
                keywords: input.keywords,
                handles: input.handles.into_iter().map(Into::into).collect(),
            },
        )
        .await?;
        Ok(Competitor(created))
    }

    /// Edits a competitor (staff).
    async fn update_competitor(&self, ctx: &Context<'_>, input: UpdateCompetitorInput) -> Result<Competitor> {
        let patch = CompetitorPatch {
            name: input.name,
            keywords: input.keywords,
            handles: input.handles.map(|list| list.into_iter().map(Into::into).collect()),
        };
        Ok(Competitor(domain::update(services(ctx), actor(ctx)?, uuid("id", &input.id)?, patch).await?))
    }

    /// Deletes a competitor (staff); the mentions stay.
    async fn delete_competitor(&self, ctx: &Context<'_>, id: ID) -> Result<DeletePayload> {
        domain::delete(services(ctx), actor(ctx)?, uuid("id", &id)?).await?;
        Ok(DeletePayload { deleted_id: id })
    }
}
