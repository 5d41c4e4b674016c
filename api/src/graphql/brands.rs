//! Brands and their declared values.

use super::node::{NodeKind, global_id};
use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, MaybeUndefined, Object, Result, SimpleObject};
use std::collections::BTreeMap;

use super::alerts::Severity;
use super::influencers::Tier;
use chrono::{DateTime, Utc};
use vigie_domain::brands::{self, BrandPatch, CrisisPatch, NewBrand, ValueInput, ValuePatch};
use vigie_domain::entities::{Handle, brand, brand_value};

use super::loaders::{CompetitorsOfBrand, SourcesOfBrand, ValuesOfBrand};
use super::pagination::{self, Cursor, uuid};
use super::{actor, loader, services};

/// A social network or publication kind.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "vigie_domain::Network")]
pub enum Network {
    X,
    Facebook,
    Instagram,
    Linkedin,
    Youtube,
    Tiktok,
    Mastodon,
    Bluesky,
    Reddit,
    /// Trustpilot reviews.
    Trustpilot,
    /// Google Business Profile: reviews on Google Search and Maps.
    Google,
    Blog,
    News,
    Forum,
    Other,
}

/// A brand's account on a network.
#[derive(SimpleObject, InputObject, Clone)]
#[graphql(input_name = "BrandHandleInput")]
pub struct BrandHandle {
    network: Network,
    /// Without the leading `@`.
    handle: String,
}

impl From<Handle> for BrandHandle {
    fn from(h: Handle) -> Self {
        BrandHandle { network: h.network.into(), handle: h.handle }
    }
}

impl From<BrandHandle> for Handle {
    fn from(h: BrandHandle) -> Self {
        Handle { network: h.network.into(), handle: h.handle }
    }
}

/// A client brand of the agency.
pub struct Brand(pub brand::Model);

#[Object]
impl Brand {
    pub(crate) async fn id(&self) -> ID {
        global_id(NodeKind::Brand, self.0.id)
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn sector(&self) -> Option<&str> {
        self.0.sector.as_deref()
    }
    /// Words and phrases that make a mention relevant to the brand.
    async fn tracked_keywords(&self) -> &[String] {
        &self.0.tracked_keywords.0
    }
    async fn handles(&self) -> Vec<BrandHandle> {
        self.0.handles.0.iter().cloned().map(Into::into).collect()
    }
    /// The handles nothing hears: no enabled search or account source on the handle's
    /// network names it, and no mention of that network was pushed in the last 7 days.
    /// Customers who write to them go unanswered: add a source, or push that network.
    async fn unwatched_handles(&self, ctx: &Context<'_>) -> Result<Vec<BrandHandle>> {
        let sources = loader(ctx).load_one(SourcesOfBrand(self.0.id)).await?.unwrap_or_default();
        let unwatched = vigie_domain::sources::unwatched_handles(&self.0, &sources, vigie_domain::now());
        Ok(unwatched.into_iter().map(Into::into).collect())
    }
    /// IANA time zone (business hours, calendar).
    async fn time_zone(&self) -> &str {
        &self.0.time_zone
    }
    /// Language of reports and digests: `en` or `fr`.
    async fn language(&self) -> &str {
        &self.0.language
    }
    /// Influence score at which an author is announced as discovered (`influencer.discovered`).
    async fn discovery_threshold(&self) -> i32 {
        self.0.discovery_threshold
    }
    /// z-score over the brand's negative baseline at which a spike opens a crisis alert.
    async fn crisis_z_threshold(&self) -> f64 {
        self.0.crisis_z_threshold
    }
    /// Negative mentions in the detection window a spike needs as well.
    async fn crisis_min_count(&self) -> i32 {
        self.0.crisis_min_count
    }
    /// The fewest accusations of one value within a day that open a value-gap alert:
    /// the floor under the brand's own baseline (one accusation from a macro or mega
    /// author opens it at once).
    async fn value_gap_min_count(&self) -> i32 {
        self.0.value_gap_min_count
    }
    /// From which severity a value-gap alert puts the calendar posts about its value on
    /// hold (default `HIGH`).
    async fn hold_min_severity(&self) -> Severity {
        vigie_domain::crises::Severity::parse(&self.0.hold_min_severity).into()
    }
    /// Days between contacts per influencer tier, for influencers the agency is engaged
    /// or partnered with.
    async fn contact_cadence(&self) -> Vec<TierCadence> {
        self.0
            .contact_cadence
            .0
            .iter()
            .filter_map(|(tier, days)| {
                vigie_domain::scoring::Tier::parse(tier).map(|t| TierCadence { tier: t.into(), days: *days })
            })
            .collect()
    }
    /// How often the brand's client viewers get the report by email: `weekly`,
    /// `monthly` or `off`.
    async fn digest_frequency(&self) -> &str {
        &self.0.digest_frequency
    }
    /// Months a mention is kept after its publication (3 to 120, default 24); older
    /// mentions are deleted with their tickets.
    async fn mention_retention_months(&self) -> i32 {
        self.0.mention_retention_months
    }
    /// Emailed when a crisis opens or its severity rises.
    async fn escalation_emails(&self, ctx: &Context<'_>) -> Result<&[String]> {
        actor(ctx)?.require_staff()?;
        Ok(&self.0.escalation_emails.0)
    }
    /// The values the brand declares.
    async fn values(&self, ctx: &Context<'_>) -> Result<Vec<BrandValue>> {
        let values = loader(ctx).load_one(ValuesOfBrand(self.0.id)).await?.unwrap_or_default();
        Ok(values.into_iter().map(BrandValue).collect())
    }
    /// The competitors it measures itself against, by name.
    async fn competitors(&self, ctx: &Context<'_>) -> Result<Vec<super::competition::Competitor>> {
        let list = loader(ctx).load_one(CompetitorsOfBrand(self.0.id)).await?.unwrap_or_default();
        Ok(list.into_iter().map(super::competition::Competitor).collect())
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// Days between contacts for one influencer tier.
#[derive(SimpleObject, InputObject, Clone)]
#[graphql(input_name = "TierCadenceInput")]
pub struct TierCadence {
    pub tier: Tier,
    /// 1–365.
    pub days: i32,
}

fn cadence(list: Vec<TierCadence>) -> BTreeMap<String, i32> {
    list.into_iter().map(|c| (vigie_domain::scoring::Tier::from(c.tier).as_str().to_owned(), c.days)).collect()
}

/// A value the brand declares, detected in mentions by its keywords.
pub struct BrandValue(pub brand_value::Model);

#[Object]
impl BrandValue {
    pub(crate) async fn id(&self) -> ID {
        global_id(NodeKind::BrandValue, self.0.id)
    }
    async fn brand_id(&self) -> ID {
        global_id(NodeKind::Brand, self.0.brand_id)
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn description(&self) -> &str {
        &self.0.description
    }
    /// Keywords in any language; matching ignores case and accents.
    async fn keywords(&self) -> &[String] {
        &self.0.keywords.0
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// A new brand.
#[derive(InputObject)]
pub struct CreateBrandInput {
    name: String,
    sector: Option<String>,
    #[graphql(default)]
    tracked_keywords: Vec<String>,
    #[graphql(default)]
    handles: Vec<BrandHandle>,
    /// IANA time zone, e.g. `Europe/Paris`.
    time_zone: String,
    /// `en` (default) or `fr`.
    language: Option<String>,
    /// Influence score (1–100, default 60) at which an author is announced as discovered.
    discovery_threshold: Option<i32>,
    /// Default 3.
    crisis_z_threshold: Option<f64>,
    /// Default 10.
    crisis_min_count: Option<i32>,
    /// Default 3.
    value_gap_min_count: Option<i32>,
    /// Default `HIGH`.
    hold_min_severity: Option<Severity>,
    #[graphql(default)]
    escalation_emails: Vec<String>,
    /// e.g. `[{tier: MACRO, days: 30}]`.
    #[graphql(default)]
    contact_cadence: Vec<TierCadence>,
    /// `weekly` (default), `monthly` or `off`.
    digest_frequency: Option<String>,
    /// Months mentions are kept, 3 to 120 (default 24).
    mention_retention_months: Option<i32>,
}

/// Changes to a brand; omitted fields are unchanged.
#[derive(InputObject)]
pub struct UpdateBrandInput {
    id: ID,
    name: Option<String>,
    /// Null clears it.
    sector: MaybeUndefined<String>,
    tracked_keywords: Option<Vec<String>>,
    handles: Option<Vec<BrandHandle>>,
    time_zone: Option<String>,
    language: Option<String>,
    discovery_threshold: Option<i32>,
    crisis_z_threshold: Option<f64>,
    crisis_min_count: Option<i32>,
    value_gap_min_count: Option<i32>,
    hold_min_severity: Option<Severity>,
    escalation_emails: Option<Vec<String>>,
    /// Replaces the whole cadence.
    contact_cadence: Option<Vec<TierCadence>>,
    /// `weekly`, `monthly` or `off`.
    digest_frequency: Option<String>,
    /// Months mentions are kept, 3 to 120; shortening it deletes older mentions within
    /// the hour.
    mention_retention_months: Option<i32>,
}

/// A new brand value.
#[derive(InputObject)]
pub struct CreateBrandValueInput {
    brand_id: ID,
    name: String,
    #[graphql(default)]
    description: String,
    /// At least one.
    keywords: Vec<String>,
}

/// Changes to a brand value.
#[derive(InputObject)]
pub struct UpdateBrandValueInput {
    id: ID,
    name: Option<String>,
    description: Option<String>,
    keywords: Option<Vec<String>>,
}

/// The id of a deleted object.
#[derive(SimpleObject)]
pub struct DeletePayload {
    pub deleted_id: ID,
}

#[derive(Default)]
pub struct BrandQuery;

#[Object]
impl BrandQuery {
    /// The brands the caller may see (all for owners and admins, assigned ones otherwise).
    #[graphql(complexity = "pagination::complexity(child_complexity, first)")]
    async fn brands(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<Cursor, Brand>> {
        let had_cursor = after.is_some();
        let page = brands::list(services(ctx), actor(ctx)?, pagination::request(first, after)?).await?;
        Ok(pagination::connection(page, had_cursor, |b| Cursor(b.id), Brand))
    }

    /// One brand, if the caller may see it.
    async fn brand(&self, ctx: &Context<'_>, id: ID) -> Result<Brand> {
        Ok(Brand(actor(ctx)?.brand(&services(ctx).db, uuid("id", &id)?).await?))
    }
}

#[derive(Default)]
pub struct BrandMutation;

#[Object]
impl BrandMutation {
    /// Adds a client brand (owners and admins).
    async fn create_brand(&self, ctx: &Context<'_>, input: CreateBrandInput) -> Result<Brand> {
        let brand = brands::create(
            services(ctx),
            actor(ctx)?,
            NewBrand {
                name: input.name,
                sector: input.sector,
                tracked_keywords: input.tracked_keywords,
                handles: input.handles.into_iter().map(Into::into).collect(),
                time_zone: input.time_zone,
                language: input.language,
                discovery_threshold: input.discovery_threshold,
                crisis: CrisisPatch {
                    z_threshold: input.crisis_z_threshold,
                    min_count: input.crisis_min_count,
                    value_gap_min_count: input.value_gap_min_count,
                    hold_min_severity: input.hold_min_severity.map(Into::into),
                },
                escalation_emails: input.escalation_emails,
                contact_cadence: cadence(input.contact_cadence),
                digest_frequency: input.digest_frequency,
                mention_retention_months: input.mention_retention_months,
            },
        )
        .await?;
        Ok(Brand(brand))
    }

    /// Edits a brand (owners, admins, and members assigned to it).
    async fn update_brand(&self, ctx: &Context<'_>, input: UpdateBrandInput) -> Result<Brand> {
        let patch = BrandPatch {
            name: input.name,
            sector: input.sector.into(),
            tracked_keywords: input.tracked_keywords,
            handles: input.handles.map(|list| list.into_iter().map(Into::into).collect()),
            time_zone: input.time_zone,
            language: input.language,
            discovery_threshold: input.discovery_threshold,
            crisis: CrisisPatch {
                z_threshold: input.crisis_z_threshold,
                min_count: input.crisis_min_count,
                value_gap_min_count: input.value_gap_min_count,
                hold_min_severity: input.hold_min_severity.map(Into::into),
            },
            escalation_emails: input.escalation_emails,
            contact_cadence: input.contact_cadence.map(cadence),
            digest_frequency: input.digest_frequency,
            mention_retention_months: input.mention_retention_months,
        };
        Ok(Brand(brands::update(services(ctx), actor(ctx)?, uuid("id", &input.id)?, patch).await?))
    }

    /// Deletes a brand and all its data (owners and admins).
    async fn delete_brand(&self, ctx: &Context<'_>, id: ID) -> Result<DeletePayload> {
        brands::delete(services(ctx), actor(ctx)?, uuid("id", &id)?).await?;
        Ok(DeletePayload { deleted_id: id })
    }

    /// Declares a value for a brand.
    async fn create_brand_value(&self, ctx: &Context<'_>, input: CreateBrandValueInput) -> Result<BrandValue> {
        let value = brands::create_value(
            services(ctx),
            actor(ctx)?,
            uuid("brandId", &input.brand_id)?,
            ValueInput { name: input.name, description: input.description, keywords: input.keywords },
        )
        .await?;
        Ok(BrandValue(value))
    }

    /// Edits a brand value.
    async fn update_brand_value(&self, ctx: &Context<'_>, input: UpdateBrandValueInput) -> Result<BrandValue> {
        let patch = ValuePatch { name: input.name, description: input.description, keywords: input.keywords };
        Ok(BrandValue(brands::update_value(services(ctx), actor(ctx)?, uuid("id", &input.id)?, patch).await?))
    }

    /// Deletes a brand value.
    async fn delete_brand_value(&self, ctx: &Context<'_>, id: ID) -> Result<DeletePayload> {
        brands::delete_value(services(ctx), actor(ctx)?, uuid("id", &id)?).await?;
        Ok(DeletePayload { deleted_id: id })
    }
}
