//! Shared reports: links for clients, and the same data in GraphQL for a token holder.

use super::node::{NodeKind, global_id};
use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use vigie_domain::reports::{self, NewShare, Report};

use super::calendar::RevokedShare;
use super::pagination::uuid;
use super::sla::{SlaFigures, SlaFiguresBy};
use super::{actor, services};

/// A report link to create.
#[derive(InputObject)]
pub struct CreateReportShareInput {
    brand_id: ID,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    /// Any of `mentions`, `influencers`, `sla`, `alerts`, `csr`; empty: all.
    #[graphql(default)]
    sections: Vec<String>,
    /// At most a year away.
    expires_at: DateTime<Utc>,
}

/// A report link, shown once.
#[derive(SimpleObject)]
pub struct ReportSharePayload {
    pub id: ID,
    /// `…/r/<token>`: the page; `…/r/<token>/<section>.csv` for each section's data.
    pub url: String,
    pub token: String,
}

/// Mentions of one day (UTC).
#[derive(SimpleObject)]
pub struct ReportDay {
    pub day: NaiveDate,
    pub mentions: i64,
    pub negative: i64,
    pub positive: i64,
    pub mean_sentiment: Option<f64>,
}

/// The period's reviews in a report.
#[derive(SimpleObject)]
pub struct ReportRatings {
    pub reviews: i64,
    /// The mean of their stars, 1 to 5.
    pub mean: f64,
    /// How many of one star, two stars… five stars.
    pub by_stars: Vec<i64>,
}

/// An influencer in a report.
#[derive(SimpleObject)]
pub struct ReportInfluencer {
    pub handle: String,
    pub network: String,
    pub score: f64,
    pub tier: String,
    pub stance: String,
    pub reach: f64,
    pub engagement: f64,
    pub relevance: f64,
    pub activity: f64,
    pub authenticity_penalty: f64,
}

/// An alert in a report.
#[derive(SimpleObject)]
pub struct ReportAlert {
    pub opened_at: DateTime<Utc>,
    pub kind: String,
    pub severity: String,
    pub status: String,
    pub summary: String,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolution_note: Option<String>,
}

/// A pillar's coverage in a report.
#[derive(SimpleObject)]
pub struct ReportPillar {
    pub name: String,
    pub posts: i64,
    pub share: f64,
    pub target_share: f64,
    pub gap: f64,
    pub silent: bool,
}

/// Response compliance in a report.
#[derive(SimpleObject)]
pub struct ReportSla {
    pub overall: SlaFigures,
    pub by_network: Vec<SlaFiguresBy>,
    pub by_priority: Vec<SlaFiguresBy>,
}

/// CSR coverage in a report.
#[derive(SimpleObject)]
pub struct ReportCsr {
    pub posts: i64,
    pub held_by_alerts: i64,
    pub pillars: Vec<ReportPillar>,
}

/// What a report link shows: one brand, one period, its sections only.
pub struct SharedReport(Report);

#[Object]
impl SharedReport {
    async fn brand_name(&self) -> &str {
        &self.0.brand.name
    }
    async fn from(&self) -> DateTime<Utc> {
        self.0.from
    }
    async fn to(&self) -> DateTime<Utc> {
        self.0.to
    }
    async fn sections(&self) -> Vec<&'static str> {
        self.0.sections.iter().map(|section| section.as_str()).collect()
    }
    async fn mentions_by_day(&self) -> Vec<ReportDay> {
        self.0
            .days
            .iter()
            .map(|d| ReportDay {
                day: d.day,
                mentions: d.mentions,
                negative: d.negative,
                positive: d.positive,
                mean_sentiment: d.mean_sentiment,
            })
            .collect()
    }
    /// The period's reviews (mentions with a star rating), with the mentions section;
    /// null when there are none.
    async fn ratings(&self) -> Option<ReportRatings> {
        self.0.ratings.as_ref().map(|r| ReportRatings {
            reviews: r.reviews,
            mean: r.mean,
            by_stars: r.by_stars.to_vec(),
        })
    }
    async fn top_influencers(&self) -> Vec<ReportInfluencer> {
        self.0
            .influencers
            .iter()
            .map(|i| ReportInfluencer {
                handle: i.handle.clone(),
                network: i.network.clone(),
                score: i.score,
                tier: i.tier.clone(),
                stance: i.stance.clone(),
                reach: i.components.reach,
                engagement: i.components.engagement,
                relevance: i.components.relevance,
                activity: i.components.activity,
                authenticity_penalty: i.components.authenticity_penalty,
            })
            .collect()
    }
    async fn sla(&self) -> Option<ReportSla> {
        let sla = self.0.sla.clone()?;
        let by = |list: Vec<(String, vigie_domain::sla::compliance::Figures)>| {
            list.into_iter().map(|(key, f)| SlaFiguresBy { key, figures: f.into() }).collect()
        };
        Some(ReportSla {
            overall: sla.overall.into(),
            by_network: by(sla.by_network),
            by_priority: by(sla.by_priority),
        })
    }
    async fn alerts(&self) -> Vec<ReportAlert> {
        self.0
            .alerts
            .iter()
            .map(|a| ReportAlert {
                opened_at: a.opened_at,
                kind: a.kind.clone(),
                severity: a.severity.clone(),
                status: a.status.clone(),
                summary: serde_json::from_value::<vigie_domain::crises::Explanation>(a.explanation.clone())
                    .unwrap_or_default()
                    .summary_in(&self.0.brand.language),
                resolved_at: a.resolved_at,
                resolution_note: a.resolution_note.clone(),
            })
            .collect()
    }
    async fn csr(&self) -> Option<ReportCsr> {
        let csr = self.0.csr.as_ref()?;
        Some(ReportCsr {
            posts: csr.posts,
            held_by_alerts: csr.held.len() as i64,
            pillars: csr
                .pillars
                .iter()
                .map(|p| ReportPillar {
                    name: p.pillar.name.clone(),
                    posts: p.posts,
                    share: p.share,
                    target_share: p.target_share,
                    gap: p.gap,
                    silent: p.silent,
                })
                .collect(),
        })
    }
    /// With the `competition` section, when the brand lists competitors: share of voice
    /// per week and over the period, and who talks about competitors and not yet about
    /// the brand.
    async fn competition(&self) -> Option<ReportCompetition> {
        let c = self.0.competition.as_ref()?;
        Some(ReportCompetition {
            share_of_voice: c.share.clone().into(),
            prospects: c
                .prospects
                .iter()
                .map(|p| ReportProspect {
                    handle: p.author.handle.clone(),
                    network: p.author.network.clone(),
                    score: p.influence.score,
                    tier: p.influence.tier.as_str().to_owned(),
                    competitors: p.competitors.iter().map(|(c, _)| c.name.clone()).collect(),
                })
                .collect(),
        })
    }
}

/// The competition section of a report.
#[derive(SimpleObject)]
pub struct ReportCompetition {
    pub share_of_voice: super::competition::ShareOfVoice,
    /// The ten most influential authors who named competitors and not the brand.
    pub prospects: Vec<ReportProspect>,
}

/// An author who talks about competitors and not yet about the brand, in a report.
#[derive(SimpleObject)]
pub struct ReportProspect {
    pub handle: String,
    pub network: String,
    pub score: f64,
    pub tier: String,
    /// The competitors it named, most named first.
    pub competitors: Vec<String>,
}

#[derive(Default)]
pub struct ReportQuery;

#[Object]
impl ReportQuery {
    /// The report behind a share token (no login); unknown, revoked or expired tokens are
    /// NOT_FOUND.
    #[graphql(complexity = "super::limits::REPORT + child_complexity")]
    async fn shared_report(&self, ctx: &Context<'_>, token: String) -> Result<SharedReport> {
        Ok(SharedReport(reports::open(services(ctx), &token).await?))
    }
}

#[derive(Default)]
pub struct ReportMutation;

#[Object]
impl ReportMutation {
    /// A read-only link to a brand's report for a period (agency staff).
    async fn create_report_share(
        &self,
        ctx: &Context<'_>,
        input: CreateReportShareInput,
    ) -> Result<ReportSharePayload> {
        let services = services(ctx);
        let (share, token) = reports::create_share(
            services,
            actor(ctx)?,
            NewShare {
                brand_id: uuid("brandId", &input.brand_id)?,
                from: input.from,
                to: input.to,
                sections: input.sections,
                expires_at: input.expires_at,
            },
        )
        .await?;
        Ok(ReportSharePayload { id: global_id(NodeKind::Share, share.id), url: reports::url(services, &token), token })
    }

    /// Ends a report link (agency staff).
    async fn revoke_report_share(&self, ctx: &Context<'_>, id: ID) -> Result<RevokedShare> {
        let share = reports::revoke_share(services(ctx), actor(ctx)?, uuid("id", &id)?).await?;
        Ok(RevokedShare { id: global_id(NodeKind::Share, share.id), revoked_at: share.revoked_at })
    }
}
