//! The relationship CRM: relationship status, owner, tags, notes and cadence of an
//! influencer; interactions; ideas; the overdue contacts.

use super::node::{NodeKind, global_id};
use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, MaybeUndefined, Object, Result};
use chrono::{DateTime, Utc};
use vigie_domain::entities::{idea, interaction};
use vigie_domain::relationships::{self, IdeaFilter, IdeaInput, NewInteraction, RelationshipPatch};

use super::auth::User;
use super::influencers::{Influencer, asks_for_authors};
use super::loaders::UserKey;
use super::pagination::{self, Cursor, uuid};
use super::{actor, loader, services};

/// Where the agency stands with an influencer.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "vigie_domain::relationships::RelationshipStatus")]
pub enum RelationshipStatus {
    /// Found by scoring; nobody has looked yet.
    Discovered,
    Watching,
    /// In contact.
    Engaged,
    Partner,
    Declined,
    /// Asked not to be contacted: outbound interactions are refused.
    DoNotContact,
}

/// Where an idea stands: proposed → accepted → shipped, or rejected.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "vigie_domain::relationships::IdeaStatus")]
pub enum IdeaStatus {
    Proposed,
    Accepted,
    Shipped,
    Rejected,
}

/// Who reached out.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum InteractionDirection {
    /// The influencer did.
    Inbound,
    /// The agency did.
    Outbound,
}

/// A contact with an influencer.
pub struct Interaction(pub interaction::Model);

#[Object]
impl Interaction {
    pub(crate) async fn id(&self) -> ID {
        global_id(NodeKind::Interaction, self.0.id)
    }
    async fn influencer_id(&self) -> ID {
        global_id(NodeKind::Influencer, self.0.brand_influencer_id)
    }
    /// `email`, `dm`, `comment`, `call`, `meeting`, `event`, `gift` or `other`.
    async fn channel(&self) -> &str {
        &self.0.channel
    }
    async fn direction(&self) -> InteractionDirection {
        if self.0.direction == "outbound" { InteractionDirection::Outbound } else { InteractionDirection::Inbound }
    }
    async fn summary(&self) -> &str {
        &self.0.summary
    }
    async fn occurred_at(&self) -> DateTime<Utc> {
        self.0.occurred_at
    }
    /// Who logged it.
    async fn logged_by(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(id) = self.0.created_by else { return Ok(None) };
        Ok(loader(ctx).load_one(UserKey(id)).await?.map(User))
    }
}

/// An improvement idea an influencer raised.
pub struct Idea(pub idea::Model);

#[Object]
impl Idea {
    pub(crate) async fn id(&self) -> ID {
        global_id(NodeKind::Idea, self.0.id)
    }
    async fn influencer_id(&self) -> ID {
        global_id(NodeKind::Influencer, self.0.brand_influencer_id)
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn detail(&self) -> &str {
        &self.0.detail
    }
    async fn status(&self) -> IdeaStatus {
        relationships::IdeaStatus::parse(&self.0.status).into()
    }
    /// Whether the influencer was told what became of it.
    async fn reported_back(&self) -> bool {
        self.0.reported_back
    }
    async fn linked_mention_ids(&self) -> Vec<ID> {
        self.0.linked_mention_ids.0.iter().map(|id| global_id(NodeKind::Mention, *id)).collect()
    }
    async fn linked_interaction_ids(&self) -> Vec<ID> {
        self.0.linked_interaction_ids.0.iter().map(|id| global_id(NodeKind::Interaction, *id)).collect()
    }
    async fn created_by(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(id) = self.0.created_by else { return Ok(None) };
        Ok(loader(ctx).load_one(UserKey(id)).await?.map(User))
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// Changes to a relationship; omitted fields are unchanged, null clears.
#[derive(InputObject)]
pub struct UpdateInfluencerRelationshipInput {
    influencer_id: ID,
    status: Option<RelationshipStatus>,
    /// A member (staff assigned to the brand).
    owner_id: MaybeUndefined<ID>,
    tags: Option<Vec<String>>,
    notes: MaybeUndefined<String>,
    /// Days between contacts for this influencer (1–365), over the brand's per-tier cadence.
    contact_cadence_days: MaybeUndefined<i32>,
}

/// A contact to log.
#[derive(InputObject)]
pub struct LogInteractionInput {
    influencer_id: ID,
    /// `email`, `dm`, `comment`, `call`, `meeting`, `event`, `gift` or `other`.
    channel: String,
    direction: InteractionDirection,
    summary: String,
    /// Default now; never in the future.
    occurred_at: Option<DateTime<Utc>>,
}

/// A new idea.
#[derive(InputObject)]
pub struct CreateIdeaInput {
    influencer_id: ID,
    title: String,
    detail: Option<String>,
    /// Mentions of the brand where the idea came up.
    #[graphql(default)]
    linked_mention_ids: Vec<ID>,
    /// Interactions with this influencer where it came up.
    #[graphql(default)]
    linked_interaction_ids: Vec<ID>,
}

/// Changes to an idea; omitted fields are unchanged.
#[derive(InputObject)]
pub struct UpdateIdeaInput {
    id: ID,
    title: Option<String>,
    detail: Option<String>,
    status: Option<IdeaStatus>,
    reported_back: Option<bool>,
    linked_mention_ids: Option<Vec<ID>>,
    linked_interaction_ids: Option<Vec<ID>>,
}

/// Filters of `ideas`.
#[derive(InputObject, Default)]
pub struct IdeaFilterInput {
    status: Option<IdeaStatus>,
    influencer_id: Option<ID>,
    reported_back: Option<bool>,
}

fn ids(field: &str, raw: Vec<ID>) -> Result<Vec<uuid::Uuid>> {
    Ok(raw.iter().map(|id| uuid(field, id)).collect::<vigie_domain::Result<_>>()?)
}

fn optional_id(field: &str, raw: MaybeUndefined<ID>) -> Result<Option<Option<uuid::Uuid>>> {
    Ok(match raw {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(id) => Some(Some(uuid(field, &id)?)),
    })
}

#[derive(Default)]
pub struct RelationshipQuery;

#[Object]
impl RelationshipQuery {
    /// An influencer's interactions, newest first (agency staff).
    #[graphql(complexity = "pagination::complexity(child_complexity, first)")]
    async fn interactions(
        &self,
        ctx: &Context<'_>,
        influencer_id: ID,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<Cursor, Interaction>> {
        let had_cursor = after.is_some();
        let page = relationships::interactions(
            services(ctx),
            actor(ctx)?,
            uuid("influencerId", &influencer_id)?,
            pagination::request(first, after)?,
        )
        .await?;
        Ok(pagination::connection(page, had_cursor, |i| Cursor(i.id), Interaction))
    }

    /// A brand's improvement ideas from influencers, newest first (agency staff).
    #[graphql(complexity = "pagination::complexity(child_complexity, first)")]
    async fn ideas(
        &self,
        ctx: &Context<'_>,
        brand_id: ID,
        filter: Option<IdeaFilterInput>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<Cursor, Idea>> {
        let filter = filter.unwrap_or_default();
        let had_cursor = after.is_some();
        let page = relationships::ideas(
            services(ctx),
            actor(ctx)?,
            uuid("brandId", &brand_id)?,
            IdeaFilter {
                status: filter.status.map(Into::into),
                influencer_id: filter.influencer_id.map(|id| uuid("influencerId", &id)).transpose()?,
                reported_back: filter.reported_back,
            },
            pagination::request(first, after)?,
        )
        .await?;
        Ok(pagination::connection(page, had_cursor, |i| Cursor(i.id), Idea))
    }

    /// A brand's influencers whose next contact is due, most overdue first (agency staff).
    #[graphql(complexity = "pagination::complexity(child_complexity, first)")]
    async fn overdue_contacts(
        &self,
        ctx: &Context<'_>,
        brand_id: ID,
        owner_id: Option<ID>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<Cursor, Influencer>> {
        let had_cursor = after.is_some();
        let page = relationships::overdue(
            services(ctx),
            actor(ctx)?,
            uuid("brandId", &brand_id)?,
            owner_id.map(|id| uuid("ownerId", &id)).transpose()?,
            pagination::request(first, after)?,
            asks_for_authors(ctx),
        )
        .await?;
        Ok(pagination::connection(page, had_cursor, |(row, _)| Cursor(row.id), Influencer::from))
    }
}

#[derive(Default)]
pub struct RelationshipMutation;

#[Object]
impl RelationshipMutation {
    /// Sets an influencer's relationship status, owner, tags, notes or cadence (staff).
    async fn update_influencer_relationship(
        &self,
        ctx: &Context<'_>,
        input: UpdateInfluencerRelationshipInput,
    ) -> Result<Influencer> {
        let patch = RelationshipPatch {
            status: input.status.map(Into::into),
            owner_membership_id: optional_id("ownerId", input.owner_id)?,
            tags: input.tags,
            notes: input.notes.into(),
            contact_cadence_days: input.contact_cadence_days.into(),
        };
        let updated =
            relationships::update(services(ctx), actor(ctx)?, uuid("influencerId", &input.influencer_id)?, patch)
                .await?;
        Ok(Influencer::from(updated))
    }

    /// Logs a contact with an influencer; its next contact is due a cadence later (staff).
    async fn log_interaction(&self, ctx: &Context<'_>, input: LogInteractionInput) -> Result<Interaction> {
        let logged = relationships::log_interaction(
            services(ctx),
            actor(ctx)?,
            uuid("influencerId", &input.influencer_id)?,
            NewInteraction {
                channel: input.channel,
                outbound: input.direction == InteractionDirection::Outbound,
                summary: input.summary,
                occurred_at: input.occurred_at,
            },
        )
        .await?;
        Ok(Interaction(logged))
    }

    /// Records an improvement idea an influencer brought (staff).
    async fn create_idea(&self, ctx: &Context<'_>, input: CreateIdeaInput) -> Result<Idea> {
        let created = relationships::create_idea(
            services(ctx),
            actor(ctx)?,
            uuid("influencerId", &input.influencer_id)?,
            IdeaInput {
                title: Some(input.title),
                detail: input.detail,
                linked_mention_ids: Some(ids("linkedMentionIds", input.linked_mention_ids)?),
                linked_interaction_ids: Some(ids("linkedInteractionIds", input.linked_interaction_ids)?),
                ..IdeaInput::default()
            },
        )
        .await?;
        Ok(Idea(created))
    }

    /// Edits an idea or moves it along (staff).
    async fn update_idea(&self, ctx: &Context<'_>, input: UpdateIdeaInput) -> Result<Idea> {
        let updated = relationships::update_idea(
            services(ctx),
            actor(ctx)?,
            uuid("id", &input.id)?,
            IdeaInput {
                title: input.title,
                detail: input.detail,
                status: input.status.map(Into::into),
                reported_back: input.reported_back,
                linked_mention_ids: input.linked_mention_ids.map(|l| ids("linkedMentionIds", l)).transpose()?,
                linked_interaction_ids: input
                    .linked_interaction_ids
                    .map(|l| ids("linkedInteractionIds", l))
                    .transpose()?,
            },
        )
        .await?;
        Ok(Idea(updated))
    }
}
