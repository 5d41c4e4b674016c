//! Global object identification (the Relay server specification): every object with an
//! id implements `Node`, its `id` is opaque and names its type, and `node(id:)` and
//! `nodes(ids:)` fetch any object again.
//!
//! A global id is the URL-safe base64 of `Type:uuid`. Arguments that take an id accept
//! it as well as the bare UUID that ids were before, which webhook payloads and
//! shared-report links still carry ([`parse_id`]).

use async_graphql::{Context, ID, Interface, Object, Result};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::future::try_join_all;
use uuid::Uuid;
use vigie_domain::Error;
pub use vigie_domain::nodes::NodeKind;
use vigie_domain::nodes::{self, Node as Found};

use super::queue;
use super::{actor, agency, alerts, api_keys, auth, brands, calendar, competition, connections, influencers};
use super::{members, mentions, on_call};
use super::{relationships, services, shares, sla, sources, templates, webhooks};

/// Most ids one `nodes` call may ask for.
pub const MAX_NODES: usize = 100;

/// The cost of one lookup on top of what it selects: up to three statements (the
/// object, then what decides who sees it), where a field of a list reads none.
const LOOKUP: usize = 10;

/// The global id of the object of `kind` with database id `id`.
pub fn global_id(kind: NodeKind, id: Uuid) -> ID {
    ID(URL_SAFE_NO_PAD.encode(format!("{}:{id}", kind.as_str())))
}

/// The kind and database id a global id names; `None` when it is not one.
pub fn decode(id: &str) -> Option<(NodeKind, Uuid)> {
    let raw = URL_SAFE_NO_PAD.decode(id).ok()?;
    let (kind, uuid) = std::str::from_utf8(&raw).ok()?.split_once(':')?;
    Some((NodeKind::parse(kind)?, Uuid::parse_str(uuid).ok()?))
}

/// The database id an id argument names: a global id of any kind, or a bare UUID. The
/// lookup that follows is scoped to its own kind, so an id of another kind finds
/// nothing.
pub fn parse_id(id: &str) -> Option<Uuid> {
    Uuid::parse_str(id).ok().or_else(|| decode(id).map(|(_, uuid)| uuid))
}

/// An object with a global id.
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID", desc = "Opaque and global: `node(id:)` fetches the object again."))]
pub enum Node {
    Agency(agency::Agency),
    Alert(alerts::Alert),
    ApiKey(api_keys::ApiKey),
    Author(mentions::Author),
    Brand(brands::Brand),
    BrandValue(brands::BrandValue),
    Competitor(competition::Competitor),
    Connection(connections::Connection),
    ContentComment(calendar::ContentComment),
    ContentItem(calendar::ContentItem),
    CsrPillar(calendar::CsrPillar),
    Idea(relationships::Idea),
    Influencer(influencers::Influencer),
    Interaction(relationships::Interaction),
    Invitation(members::Invitation),
    JobFailure(queue::JobFailure),
    Member(members::Member),
    Mention(mentions::Mention),
    OnCallShift(on_call::OnCallShift),
    ReplyTemplate(templates::ReplyTemplate),
    Share(shares::Share),
    Source(sources::Source),
    Ticket(sla::Ticket),
    User(auth::User),
    WebhookDelivery(webhooks::WebhookDelivery),
    WebhookEndpoint(webhooks::WebhookEndpoint),
}

impl From<Found> for Node {
    fn from(found: Found) -> Self {
        match found {
            Found::Agency(m) => Node::Agency(agency::Agency(m)),
            Found::Alert(m) => Node::Alert(alerts::Alert(m)),
            Found::ApiKey(m) => Node::ApiKey(api_keys::ApiKey(m)),
            Found::Author(m) => Node::Author(mentions::Author(m)),
            Found::Brand(m) => Node::Brand(brands::Brand(m)),
            Found::BrandValue(m) => Node::BrandValue(brands::BrandValue(m)),
            Found::Competitor(m) => Node::Competitor(competition::Competitor(m)),
            Found::Connection(m) => Node::Connection(connections::Connection(m)),
            Found::ContentComment(m) => Node::ContentComment(calendar::ContentComment(m)),
            Found::ContentItem(m) => Node::ContentItem(calendar::ContentItem(m)),
            Found::CsrPillar(m) => Node::CsrPillar(calendar::CsrPillar(m)),
            Found::Idea(m) => Node::Idea(relationships::Idea(m)),
            Found::Influencer(m) => Node::Influencer(m.into()),
            Found::Interaction(m) => Node::Interaction(relationships::Interaction(m)),
            Found::Invitation(m) => Node::Invitation(members::Invitation(m)),
            Found::JobFailure(m) => Node::JobFailure(queue::JobFailure(m)),
            Found::Member(m) => Node::Member(members::Member(m)),
            Found::Mention(m) => Node::Mention(mentions::Mention(m)),
            Found::OnCallShift(m) => Node::OnCallShift(on_call::OnCallShift(m)),
            Found::ReplyTemplate(m) => Node::ReplyTemplate(templates::ReplyTemplate(m)),
            Found::Share(m) => Node::Share(shares::Share(m)),
            Found::Source(m) => Node::Source(sources::Source(m)),
            Found::Ticket(m) => Node::Ticket(sla::Ticket(m)),
            Found::User(m) => Node::User(auth::User(m)),
            Found::WebhookDelivery(m) => Node::WebhookDelivery(webhooks::WebhookDelivery(m)),
            Found::WebhookEndpoint(m) => Node::WebhookEndpoint(webhooks::WebhookEndpoint(m)),
        }
    }
}

async fn find(ctx: &Context<'_>, id: &ID) -> Result<Option<Node>> {
    let (kind, uuid) = decode(id).ok_or_else(|| {
        Error::bad_input("id", "is not a global id: pass the `id` of an object as the API returned it")
    })?;
    let found = nodes::find(&services(ctx).db, actor(ctx)?, kind, uuid).await?;
    Ok(found.map(Node::from))
}

#[derive(Default)]
pub struct NodeQuery;

#[Object]
impl NodeQuery {
    /// Any object by its global id; `null` when it does not exist or is not yours to
    /// see.
    #[graphql(complexity = "LOOKUP + child_complexity")]
    async fn node(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Node>> {
        find(ctx, &id).await
    }

    /// Objects by their global ids, in the order asked (at most 100); `null` for each
    /// that does not exist or is not yours to see.
    #[graphql(complexity = "ids.len().max(1).saturating_mul(LOOKUP + child_complexity)")]
    async fn nodes(&self, ctx: &Context<'_>, ids: Vec<ID>) -> Result<Vec<Option<Node>>> {
        if ids.len() > MAX_NODES {
            return Err(Error::bad_input("ids", format!("at most {MAX_NODES} ids")).into());
        }
        try_join_all(ids.iter().map(|id| find(ctx, id))).await
    }
}
