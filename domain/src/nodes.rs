//! Any object by its kind and id, for global object identification (GraphQL's
//! `node(id:)`): each kind is read with the checks its own fields and lists apply, so
//! a node lookup shows nothing a typed field would not.

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use crate::entities::{
    agency, alert, api_key, author, brand, brand_influencer, brand_value, content_comment, content_item, csr_pillar,
    idea, interaction, invitation, job_failure, membership, mention, report_share, source, ticket, user_account,
    webhook_delivery, webhook_endpoint,
};
use crate::{Actor, Error, Result, brands, calendar, crises, members, relationships, sla, sources, webhooks};

macro_rules! kinds {
    ($($kind:ident => $model:ty),* $(,)?) => {
        /// The kinds of objects that have a global id.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum NodeKind { $($kind),* }

        impl NodeKind {
            /// Every kind, in declaration order.
            pub const ALL: &[NodeKind] = &[$(NodeKind::$kind),*];

            /// The kind's name, which is also its GraphQL type's name.
            pub fn as_str(self) -> &'static str {
                match self { $(NodeKind::$kind => stringify!($kind)),* }
            }

            pub fn parse(name: &str) -> Option<NodeKind> {
                match name { $(stringify!($kind) => Some(NodeKind::$kind),)* _ => None }
            }
        }

        /// An object found by [`find`].
        #[derive(Clone, Debug)]
        pub enum Node { $($kind($model)),* }
    };
}

kinds! {
    Agency => agency::Model,
    Alert => alert::Model,
    ApiKey => api_key::Model,
    Author => author::Model,
    Brand => brand::Model,
    BrandValue => brand_value::Model,
    ContentComment => content_comment::Model,
    ContentItem => content_item::Model,
    CsrPillar => csr_pillar::Model,
    Idea => idea::Model,
    Influencer => brand_influencer::Model,
    Interaction => interaction::Model,
    Invitation => invitation::Model,
    JobFailure => job_failure::Model,
    Member => membership::Model,
    Mention => mention::Model,
    Share => report_share::Model,
    Source => source::Model,
    Ticket => ticket::Model,
    User => user_account::Model,
    WebhookDelivery => webhook_delivery::Model,
    WebhookEndpoint => webhook_endpoint::Model,
}

/// The object of `kind` with `id`, if the actor may see it; `None` when it does not
/// exist or is not the actor's to see, whether for its tenant, its brand or the
/// actor's role (the cases are not told apart, so that one lookup among many cannot
/// fail the others).
pub async fn find(db: &impl ConnectionTrait, actor: &Actor, kind: NodeKind, id: Uuid) -> Result<Option<Node>> {
    let found = match kind {
        NodeKind::Agency => {
            let own = id == actor.agency_id;
            if own { agency::Entity::find_by_id(id).one(db).await?.map(Node::Agency) } else { None }
        }
        NodeKind::Alert => absent(crises::get(db, actor, id).await)?.map(Node::Alert),
        NodeKind::ApiKey => {
            if !actor.role.is_manager() {
                return Ok(None);
            }
            api_key::Entity::find_by_id(id)
                .filter(api_key::Column::AgencyId.eq(actor.agency_id))
                .one(db)
                .await?
                .map(Node::ApiKey)
        }
        NodeKind::Author => author_seen(db, actor, id).await?.map(Node::Author),
        NodeKind::Brand => absent(brands::get(db, actor, id).await)?.map(Node::Brand),
        NodeKind::BrandValue => brand_value::Entity::find_by_id(id)
            .filter(brand_value::Column::AgencyId.eq(actor.agency_id))
            .one(db)
            .await?
            .filter(|value| actor.sees_brand(value.brand_id))
            .map(Node::BrandValue),
        NodeKind::ContentComment => {
            let comment = content_comment::Entity::find_by_id(id)
                .filter(content_comment::Column::AgencyId.eq(actor.agency_id))
                .one(db)
                .await?;
            match comment {
                Some(comment) => absent(calendar::get_item(db, actor, comment.content_item_id).await)?
                    .map(|_| Node::ContentComment(comment)),
                None => None,
            }
        }
        NodeKind::ContentItem => absent(calendar::get_item(db, actor, id).await)?.map(Node::ContentItem),
        NodeKind::CsrPillar => csr_pillar::Entity::find_by_id(id)
            .filter(csr_pillar::Column::AgencyId.eq(actor.agency_id))
            .one(db)
            .await?
            .filter(|pillar| actor.sees_brand(pillar.brand_id))
            .map(Node::CsrPillar),
        NodeKind::Idea => {
            if !actor.is_staff() {
                return Ok(None);
            }
            let idea = idea::Entity::find_by_id(id).filter(idea::Column::AgencyId.eq(actor.agency_id)).one(db).await?;
            match idea {
                Some(idea) => {
                    absent(relationships::get(db, actor, idea.brand_influencer_id).await)?.map(|_| Node::Idea(idea))
                }
                None => None,
            }
        }
        NodeKind::Influencer => absent(relationships::get(db, actor, id).await)?.map(Node::Influencer),
        NodeKind::Interaction => {
            if !actor.is_staff() {
                return Ok(None);
            }
            let interaction = interaction::Entity::find_by_id(id)
                .filter(interaction::Column::AgencyId.eq(actor.agency_id))
                .one(db)
                .await?;
            match interaction {
                Some(interaction) => absent(relationships::get(db, actor, interaction.brand_influencer_id).await)?
                    .map(|_| Node::Interaction(interaction)),
                None => None,
            }
        }
        NodeKind::Invitation => {
            if !actor.role.is_manager() {
                return Ok(None);
            }
            invitation::Entity::find_by_id(id)
                .filter(invitation::Column::AgencyId.eq(actor.agency_id))
                .one(db)
                .await?
                .map(Node::Invitation)
        }
        NodeKind::JobFailure => {
            if !actor.role.is_manager() {
                return Ok(None);
            }
            job_failure::Entity::find_by_id(id)
                .filter(job_failure::Column::AgencyId.eq(actor.agency_id))
                .one(db)
                .await?
                .map(Node::JobFailure)
        }
        NodeKind::Member => {
            let seen = actor.is_staff() || id == actor.membership_id;
            if seen { absent(members::get(db, actor, id).await)?.map(Node::Member) } else { None }
        }
        NodeKind::Mention => crate::mentions::get_many(db, actor, &[id]).await?.pop().map(Node::Mention),
        NodeKind::Share => {
            if !actor.role.is_manager() {
                return Ok(None);
            }
            report_share::Entity::find_by_id(id)
                .filter(report_share::Column::AgencyId.eq(actor.agency_id))
                .one(db)
                .await?
                .map(Node::Share)
        }
        NodeKind::Source => absent(sources::get(db, actor, id).await)?.map(Node::Source),
        NodeKind::Ticket => absent(sla::tickets::get(db, actor, id).await)?.map(Node::Ticket),
        NodeKind::User => {
            let seen = actor.is_staff() || id == actor.user_id;
            if seen { members::users(db, actor, &[id]).await?.remove(&id).map(Node::User) } else { None }
        }
        NodeKind::WebhookDelivery => {
            if !actor.role.is_manager() {
                return Ok(None);
            }
            webhook_delivery::Entity::find_by_id(id)
                .filter(webhook_delivery::Column::AgencyId.eq(actor.agency_id))
                .one(db)
                .await?
                .map(Node::WebhookDelivery)
        }
        NodeKind::WebhookEndpoint => absent(webhooks::get(db, actor, id).await)?.map(Node::WebhookEndpoint),
    };
    Ok(found)
}

/// A lookup's `NotFound` or `Forbidden` as `None`; other errors (the database) stay.
fn absent<T>(found: Result<T>) -> Result<Option<T>> {
    match found {
        Ok(found) => Ok(Some(found)),
        Err(Error::NotFound(_) | Error::Forbidden(_)) => Ok(None),
        Err(error) => Err(error),
    }
}

/// An author is a public profile shared by every tenant: the actor sees one that wrote
/// a mention of a brand it sees. The brands are named so that the `(brand_id,
/// author_id)` index answers, one probe per brand.
async fn author_seen(db: &impl ConnectionTrait, actor: &Actor, id: Uuid) -> Result<Option<author::Model>> {
    let brands: Vec<Uuid> = match actor.brand_restriction() {
        Some(brands) => brands.to_vec(),
        None => {
            brand::Entity::find()
                .select_only()
                .column(brand::Column::Id)
                .filter(brand::Column::AgencyId.eq(actor.agency_id))
                .into_tuple()
                .all(db)
                .await?
        }
    };
    let wrote = mention::Entity::find()
        .select_only()
        .column(mention::Column::Id)
        .filter(mention::Column::AgencyId.eq(actor.agency_id))
        .filter(mention::Column::BrandId.is_in(brands))
        .filter(mention::Column::AuthorId.eq(id))
        .into_tuple::<Uuid>()
        .one(db)
        .await?;
    if wrote.is_none() {
        return Ok(None);
    }
    Ok(author::Entity::find_by_id(id).one(db).await?)
}
