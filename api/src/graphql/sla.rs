//! SLA policies, the inbox of tickets, and compliance figures.

use super::node::{NodeKind, global_id};
use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, MaybeUndefined, Object, Result, SimpleObject, Subscription};
use chrono::{DateTime, NaiveDate, NaiveTime, Timelike, Utc};
use futures_util::Stream;
use std::sync::Arc;
use vigie_domain::entities::{reply, ticket};
use vigie_domain::platform::bus::Notice;
use vigie_domain::sla::compliance::{self, Figures};
use vigie_domain::sla::policy::{self, Opening, Policy, PolicyInput, Targets};
use vigie_domain::sla::replies;
use vigie_domain::sla::tickets::{self, TicketFilter};
use vigie_domain::{Actor, Services};

use super::brands::Network;
use super::influencers::Tier;
use super::live;
use super::loaders::{MemberKey, MentionKey, RepliesOfTicket};
use super::members::Member;
use super::mentions::{Mention, Priority};
use super::pagination::{self, Cursor, uuid};
use super::{actor, loader, services};

/// Where a ticket is in the inbox.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "vigie_domain::sla::tickets::TicketStatus")]
pub enum TicketStatus {
    Open,
    Answered,
    Closed,
}

/// Where a ticket stands against its response target.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "vigie_domain::sla::tickets::SlaState")]
pub enum SlaState {
    OnTrack,
    /// 80 % of the target has passed.
    AtRisk,
    /// Not answered by the due time.
    Breached,
    /// Answered by the due time.
    Met,
}

/// Days of the week.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum Weekday {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

const WEEK: [Weekday; 7] = [
    Weekday::Monday,
    Weekday::Tuesday,
    Weekday::Wednesday,
    Weekday::Thursday,
    Weekday::Friday,
    Weekday::Saturday,
    Weekday::Sunday,
];

/// Where a policy comes from.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "vigie_domain::sla::policy::PolicySource")]
pub enum SlaPolicySource {
    /// The brand's own.
    Brand,
    /// The agency's default.
    Agency,
    /// Vigie's: Monday to Friday 09:00–18:00; 1 h, 4 h, 1 day, 2 days.
    BuiltIn,
}

/// First-response targets per priority, in business minutes.
#[derive(SimpleObject, InputObject, Clone, Copy)]
#[graphql(input_name = "SlaTargetsInput")]
pub struct SlaTargets {
    pub urgent: i32,
    pub high: i32,
    pub normal: i32,
    pub low: i32,
}

/// A tighter target for a tier and priority.
#[derive(SimpleObject, InputObject, Clone, Copy)]
#[graphql(input_name = "TierTargetInput")]
pub struct TierTarget {
    pub tier: Tier,
    pub priority: Priority,
    pub minutes: i32,
}

/// An opening interval: `HH:MM` to `HH:MM` (`24:00` ends at midnight).
#[derive(SimpleObject, InputObject, Clone)]
#[graphql(input_name = "BusinessHoursInput")]
pub struct BusinessHours {
    pub weekday: Weekday,
    pub start: String,
    pub end: String,
}

fn clock(minutes: u32) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

fn minutes(field: &str, raw: &str) -> vigie_domain::Result<u32> {
    if raw == "24:00" {
        return Ok(24 * 60);
    }
    let time = NaiveTime::parse_from_str(raw, "%H:%M")
        .map_err(|_| vigie_domain::Error::bad_input(field, format!("`{raw}` is not a time HH:MM")))?;
    Ok(time.hour() * 60 + time.minute())
}

/// The SLA policy that applies to a brand.
pub struct SlaPolicy(Policy);

#[Object]
impl SlaPolicy {
    async fn source(&self) -> SlaPolicySource {
        self.0.source.into()
    }
    async fn targets(&self) -> SlaTargets {
        let t = self.0.targets;
        SlaTargets { urgent: t.urgent, high: t.high, normal: t.normal, low: t.low }
    }
    async fn tier_targets(&self) -> Vec<TierTarget> {
        let mut out = Vec::new();
        for (tier, targets) in &self.0.tier_targets {
            for (priority, minutes) in targets {
                if let (Some(tier), Some(priority)) =
                    (vigie_domain::scoring::Tier::parse(tier), vigie_domain::scoring::Priority::parse(priority))
                {
                    out.push(TierTarget { tier: tier.into(), priority: priority.into(), minutes: *minutes });
                }
            }
        }
        out
    }
    async fn always_open(&self) -> bool {
        self.0.always_open
    }
    async fn business_hours(&self) -> Vec<BusinessHours> {
        self.0
            .openings
            .iter()
            .map(|o| BusinessHours {
                weekday: WEEK[usize::from(o.weekday) % 7],
                start: clock(o.start),
                end: clock(o.end),
            })
            .collect()
    }
    async fn holidays(&self) -> Vec<NaiveDate> {
        self.0.holidays.clone()
    }
    /// IANA zone of the business hours.
    async fn time_zone(&self) -> &str {
        &self.0.time_zone
    }
    /// Emailed on at-risk and breached tickets (with the brand's escalation emails);
    /// empty for client viewers.
    async fn escalation_emails(&self, ctx: &Context<'_>) -> Result<&[String]> {
        let shown = super::sees_staff_details(ctx, None)?;
        Ok(if shown { &self.0.escalation_contacts } else { &[] })
    }
}

/// A policy to save.
#[derive(InputObject)]
pub struct UpsertSlaPolicyInput {
    /// Omitted: the agency's default policy.
    brand_id: Option<ID>,
    /// Omitted: the brand's zone.
    time_zone: Option<String>,
    #[graphql(default)]
    always_open: bool,
    targets: SlaTargets,
    #[graphql(default)]
    tier_targets: Vec<TierTarget>,
    #[graphql(default)]
    business_hours: Vec<BusinessHours>,
    #[graphql(default)]
    holidays: Vec<NaiveDate>,
    #[graphql(default)]
    escalation_emails: Vec<String>,
}

/// A solicitation to answer.
pub struct Ticket(pub ticket::Model);

#[Object]
impl Ticket {
    pub(crate) async fn id(&self) -> ID {
        global_id(NodeKind::Ticket, self.0.id)
    }
    async fn brand_id(&self) -> ID {
        global_id(NodeKind::Brand, self.0.brand_id)
    }
    async fn mention(&self, ctx: &Context<'_>) -> Result<Option<Mention>> {
        Ok(loader(ctx).load_one(MentionKey(self.0.mention_id)).await?.map(Mention))
    }
    async fn priority(&self) -> Option<Priority> {
        vigie_domain::scoring::Priority::parse(&self.0.priority).map(Into::into)
    }
    async fn status(&self) -> TicketStatus {
        tickets::TicketStatus::parse(&self.0.status).into()
    }
    async fn sla_state(&self) -> SlaState {
        tickets::SlaState::parse(&self.0.sla_state).into()
    }
    async fn network(&self) -> &str {
        &self.0.network
    }
    /// The author's tier when the ticket opened.
    async fn tier(&self) -> Option<Tier> {
        vigie_domain::scoring::Tier::parse(&self.0.tier).map(Into::into)
    }
    /// Null for client viewers: who handles what is the agency's business.
    async fn assignee(&self, ctx: &Context<'_>) -> Result<Option<Member>> {
        let Some(id) = self.0.assignee_membership_id else { return Ok(None) };
        if !super::sees_staff_details(ctx, None)? {
            return Ok(None);
        }
        Ok(loader(ctx).load_one(MemberKey(id)).await?.map(Member))
    }
    /// When Vigie received the solicitation: the clock starts there.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn target_minutes(&self) -> i32 {
        self.0.target_minutes
    }
    async fn at_risk_at(&self) -> DateTime<Utc> {
        self.0.at_risk_at
    }
    async fn due_at(&self) -> DateTime<Utc> {
        self.0.due_at
    }
    async fn breached(&self) -> bool {
        self.0.breached
    }
    async fn first_response_at(&self) -> Option<DateTime<Utc>> {
        self.0.first_response_at
    }
    /// Business minutes to the first response.
    async fn first_response_minutes(&self) -> Option<i32> {
        self.0.first_response_minutes
    }
    async fn response_text(&self) -> Option<&str> {
        self.0.response_text.as_deref()
    }
    async fn response_channel(&self) -> Option<&str> {
        self.0.response_channel.as_deref()
    }
    /// Answers sent from Vigie (`respondToTicket(send: true)`), oldest first, with where
    /// each stands.
    async fn replies(&self, ctx: &Context<'_>) -> Result<Vec<Reply>> {
        let rows = loader(ctx).load_one(RepliesOfTicket(self.0.id)).await?.unwrap_or_default();
        Ok(rows.into_iter().map(Reply).collect())
    }
    async fn snoozed_until(&self) -> Option<DateTime<Utc>> {
        self.0.snoozed_until
    }
    async fn closed_at(&self) -> Option<DateTime<Utc>> {
        self.0.closed_at
    }
}

/// Filters of `tickets`.
#[derive(InputObject, Default)]
pub struct TicketFilterInput {
    status: Option<TicketStatus>,
    priority: Option<Priority>,
    network: Option<Network>,
    /// Null: unassigned tickets.
    assignee_id: MaybeUndefined<ID>,
    breached: Option<bool>,
    sla_state: Option<SlaState>,
    /// Include tickets snoozed until later (default false).
    #[graphql(default)]
    include_snoozed: bool,
}

impl TicketFilterInput {
    /// The filter the domain reads.
    pub(crate) fn into_domain(self) -> Result<TicketFilter> {
        let assignee = match self.assignee_id {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => Some(None),
            MaybeUndefined::Value(id) => Some(Some(uuid("assigneeId", &id)?)),
        };
        Ok(TicketFilter {
            status: self.status.map(Into::into),
            priority: self.priority.map(Into::into),
            network: self.network.map(Into::into),
            assignee,
            breached: self.breached,
            sla_state: self.sla_state.map(Into::into),
            hide_snoozed: !self.include_snoozed,
        })
    }
}

/// Compliance of a set of tickets.
#[derive(SimpleObject)]
pub struct SlaFigures {
    pub tickets: i64,
    pub answered: i64,
    pub within_target: i64,
    /// Not answered by their due time (late, or not at all).
    pub breached: i64,
    /// withinTarget / (withinTarget + breached); null when none is decided yet.
    pub share_within_target: Option<f64>,
    /// In business minutes.
    pub median_first_response_minutes: Option<i64>,
    pub p90_first_response_minutes: Option<i64>,
}

impl From<Figures> for SlaFigures {
    fn from(f: Figures) -> Self {
        SlaFigures {
            tickets: f.tickets,
            answered: f.answered,
            within_target: f.within_target,
            breached: f.breached,
            share_within_target: f.share_within_target,
            median_first_response_minutes: f.median_first_response_minutes,
            p90_first_response_minutes: f.p90_first_response_minutes,
        }
    }
}

/// Figures for one network or priority.
#[derive(SimpleObject)]
pub struct SlaFiguresBy {
    /// The network or priority name.
    pub key: String,
    pub figures: SlaFigures,
}

/// A brand's response compliance over a period (tickets opened in it).
#[derive(SimpleObject)]
pub struct SlaCompliance {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub overall: SlaFigures,
    pub by_network: Vec<SlaFiguresBy>,
    pub by_priority: Vec<SlaFiguresBy>,
}

#[derive(Default)]
pub struct SlaQuery;

#[Object]
impl SlaQuery {
    /// The SLA policy that applies to a brand.
    async fn sla_policy(&self, ctx: &Context<'_>, brand_id: ID) -> Result<SlaPolicy> {
        Ok(SlaPolicy(policy::for_brand(services(ctx), actor(ctx)?, uuid("brandId", &brand_id)?).await?))
    }

    /// A brand's inbox, soonest due first (agency staff).
    #[graphql(complexity = "pagination::complexity(child_complexity, first)")]
    async fn tickets(
        &self,
        ctx: &Context<'_>,
        brand_id: ID,
        filter: Option<TicketFilterInput>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<Cursor, Ticket>> {
        let filter = filter.unwrap_or_default().into_domain()?;
        let had_cursor = after.is_some();
        let page = tickets::list(
            services(ctx),
            actor(ctx)?,
            uuid("brandId", &brand_id)?,
            filter,
            pagination::request(first, after)?,
        )
        .await?;
        Ok(pagination::connection(page, had_cursor, |t| Cursor(t.id), Ticket))
    }

    /// Share answered within target, median and p90 first response, for tickets opened in
    /// `[from, to)`, overall, per network and per priority.
    #[graphql(complexity = "super::limits::AGGREGATE + child_complexity")]
    async fn sla_compliance(
        &self,
        ctx: &Context<'_>,
        brand_id: ID,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<SlaCompliance> {
        let c = compliance::compliance(services(ctx), actor(ctx)?, uuid("brandId", &brand_id)?, from, to).await?;
        let by = |list: Vec<(String, Figures)>| {
            list.into_iter().map(|(key, f)| SlaFiguresBy { key, figures: f.into() }).collect()
        };
        Ok(SlaCompliance {
            from,
            to,
            overall: c.overall.into(),
            by_network: by(c.by_network),
            by_priority: by(c.by_priority),
        })
    }
}

#[derive(Default)]
pub struct SlaMutation;

#[Object]
impl SlaMutation {
    /// Saves a brand's SLA policy, or the agency's default (owners and admins).
    async fn upsert_sla_policy(&self, ctx: &Context<'_>, input: UpsertSlaPolicyInput) -> Result<SlaPolicy> {
        let mut openings = Vec::with_capacity(input.business_hours.len());
        for hours in &input.business_hours {
            let weekday = WEEK.iter().position(|d| *d == hours.weekday).unwrap_or(0) as u8;
            openings.push(Opening {
                weekday,
                start: minutes("businessHours.start", &hours.start)?,
                end: minutes("businessHours.end", &hours.end)?,
            });
        }
        let t = input.targets;
        let saved = policy::upsert(
            services(ctx),
            actor(ctx)?,
            PolicyInput {
                brand_id: input.brand_id.map(|id| uuid("brandId", &id)).transpose()?,
                time_zone: input.time_zone,
                always_open: input.always_open,
                targets: Targets { urgent: t.urgent, high: t.high, normal: t.normal, low: t.low },
                tier_targets: input
                    .tier_targets
                    .iter()
                    .map(|t| (t.tier.into(), t.priority.into(), t.minutes))
                    .collect(),
                openings,
                holidays: input.holidays,
                escalation_contacts: input.escalation_emails,
            },
        )
        .await?;
        Ok(SlaPolicy(saved))
    }

    /// Assigns a ticket to a member, or unassigns it with null (staff).
    async fn assign_ticket(&self, ctx: &Context<'_>, id: ID, assignee_id: Option<ID>) -> Result<Ticket> {
        let assignee = assignee_id.map(|a| uuid("assigneeId", &a)).transpose()?;
        Ok(Ticket(tickets::assign(services(ctx), actor(ctx)?, uuid("id", &id)?, assignee).await?))
    }

    /// Answers a ticket. `send: false` (the default) records an answer given elsewhere
    /// (its text and `channel`); the first one stops the SLA clock. `send: true`
    /// publishes `text` as a reply to the post on its network, through the brand's
    /// connection (Bluesky today): it appears in `replies`, is retried on passing
    /// failures, and counts as the response once published.
    async fn respond_to_ticket(
        &self,
        ctx: &Context<'_>,
        id: ID,
        text: String,
        channel: Option<String>,
        #[graphql(default = false)] send: bool,
    ) -> Result<Ticket> {
        Ok(Ticket(tickets::respond(services(ctx), actor(ctx)?, uuid("id", &id)?, text, channel, send).await?))
    }

    async fn close_ticket(&self, ctx: &Context<'_>, id: ID) -> Result<Ticket> {
        Ok(Ticket(tickets::close(services(ctx), actor(ctx)?, uuid("id", &id)?).await?))
    }

    async fn reopen_ticket(&self, ctx: &Context<'_>, id: ID) -> Result<Ticket> {
        Ok(Ticket(tickets::reopen(services(ctx), actor(ctx)?, uuid("id", &id)?).await?))
    }

    /// Hides a ticket from the inbox until `until` (null: now); the SLA clock runs on.
    async fn snooze_ticket(&self, ctx: &Context<'_>, id: ID, until: Option<DateTime<Utc>>) -> Result<Ticket> {
        Ok(Ticket(tickets::snooze(services(ctx), actor(ctx)?, uuid("id", &id)?, until).await?))
    }
}

/// Where a reply sent from Vigie stands.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum ReplyStatus {
    /// Waiting to be published, or being retried after a passing failure.
    Pending,
    /// On the network: `url` links to it.
    Published,
    /// Refused by the network, or every attempt failed: `lastError` says why.
    Failed,
}

/// An answer published (or being published) on the network through a connection.
pub struct Reply(reply::Model);

#[Object]
impl Reply {
    async fn text(&self) -> &str {
        &self.0.text
    }
    async fn network(&self) -> &str {
        &self.0.network
    }
    async fn status(&self) -> ReplyStatus {
        match self.0.status.as_str() {
            replies::PUBLISHED => ReplyStatus::Published,
            replies::FAILED => ReplyStatus::Failed,
            _ => ReplyStatus::Pending,
        }
    }
    /// The connection it is sent with (null once deleted).
    async fn connection_id(&self) -> Option<ID> {
        self.0.connection_id.map(|id| global_id(NodeKind::Connection, id))
    }
    async fn attempts(&self) -> i32 {
        self.0.attempts
    }
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }
    /// The published post's id on the network (a Bluesky `at://` URI).
    async fn external_id(&self) -> Option<&str> {
        self.0.external_id.as_deref()
    }
    async fn url(&self) -> Option<&str> {
        self.0.url.as_deref()
    }
    async fn published_at(&self) -> Option<DateTime<Utc>> {
        self.0.published_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

#[derive(Default)]
pub struct SlaSubscription;

#[Subscription]
impl SlaSubscription {
    /// Every ticket of the brand's inbox as it opens or changes (answered, assigned, at
    /// risk, breached…); agency staff.
    async fn inbox_updates(&self, ctx: &Context<'_>, brand_id: ID) -> Result<impl Stream<Item = Ticket> + use<>> {
        let services: Arc<Services> = services(ctx).clone();
        let actor: Actor = actor(ctx)?.clone();
        actor.require_staff()?;
        let brand = actor.check_brand(&services.db, uuid("brandId", &brand_id)?).await?;
        let agency = actor.agency_id();
        let pick = move |notice: &Notice| match notice {
            Notice::Ticket { agency_id, brand_id, ticket_id } if *agency_id == agency && *brand_id == brand => {
                Some(*ticket_id)
            }
            _ => None,
        };
        let load = |services: Arc<Services>, actor: Actor, id| async move {
            tickets::get(&services.db, &actor, id).await.ok().map(Ticket)
        };
        Ok(live::objects(services, actor, pick, load).await)
    }
}
