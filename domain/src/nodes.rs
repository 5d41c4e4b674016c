//! Any object by its kind and id, for global object identification (GraphQL's
//! `node(id:)`): each kind is read with the checks its own fields and lists apply, so
//! a node lookup shows nothing a typed field would not.

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use crate::entities::{
    agency, alert, api_key, author, brand, brand_influencer, brand_value, competitor, connection, content_comment,
    content_item, csr_pillar, idea, interaction, invitation, job_failure, membership, mention, on_call_shift,
    reply_template, report_share, source, ticket, user_account, webhook_delivery, webhook_endpoint,
};
use crate::{Actor, Error, Result, calendar, crises, members, relationships, sla, sources, webhooks};

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
    Competitor => competitor::Model,
    Connection => connection::Model,
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
    OnCallShift => on_call_shift::Model,
    ReplyTemplate => reply_template::Model,
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
    let (manager, staff) = (actor.role.is_manager(), actor.is_staff());
    macro_rules! of_agency {
        ($entity:ident) => {
            $entity::Entity::find_by_id(id).filter($entity::Column::AgencyId.eq(actor.agency_id)).one(db).await?
        };
    }
    let found = match kind {
        NodeKind::Agency if id == actor.agency_id => agency::Entity::find_by_id(id).one(db).await?.map(Node::Agency),
        NodeKind::Alert => absent(crises::get(db, actor, id).await)?.map(Node::Alert),
        NodeKind::ApiKey if manager => of_agency!(api_key).map(Node::ApiKey),
        NodeKind::Author => author_seen(db, actor, id).await?.map(Node::Author),
        NodeKind::Brand => absent(actor.brand(db, id).await)?.map(Node::Brand),
        NodeKind::OnCallShift => absent(sla::on_call::get(db, actor, id).await)?.map(Node::OnCallShift),
        NodeKind::BrandValue => of_agency!(brand_value).filter(|v| actor.sees_brand(v.brand_id)).map(Node::BrandValue),
        NodeKind::Competitor => of_agency!(competitor).filter(|c| actor.sees_brand(c.brand_id)).map(Node::Competitor),
        NodeKind::Connection if manager => of_agency!(connection).map(Node::Connection),
        NodeKind::ContentComment => match of_agency!(content_comment) {
            Some(comment) => absent(calendar::get_item(db, actor, comment.content_item_id).await)?
                .map(|_| Node::ContentComment(comment)),
            None => None,
        },
        NodeKind::ContentItem => absent(calendar::get_item(db, actor, id).await)?.map(Node::ContentItem),
        NodeKind::CsrPillar => of_agency!(csr_pillar).filter(|p| actor.sees_brand(p.brand_id)).map(Node::CsrPillar),
        NodeKind::Idea if staff => match of_agency!(idea) {
            Some(idea) => {
                absent(relationships::get(db, actor, idea.brand_influencer_id).await)?.map(|_| Node::Idea(idea))
            }
            None => None,
        },
        NodeKind::Influencer => absent(relationships::get(db, actor, id).await)?.map(Node::Influencer),
        NodeKind::Interaction if staff => match of_agency!(interaction) {
            Some(interaction) => absent(relationships::get(db, actor, interaction.brand_influencer_id).await)?
                .map(|_| Node::Interaction(interaction)),
            None => None,
        },
        NodeKind::Invitation if manager => of_agency!(invitation).map(Node::Invitation),
        NodeKind::JobFailure if manager => of_agency!(job_failure).map(Node::JobFailure),
        NodeKind::Member if staff || id == actor.membership_id => {
            absent(members::get(db, actor, id).await)?.map(Node::Member)
        }
        NodeKind::Mention => crate::mentions::get_many(db, actor, &[id]).await?.pop().map(Node::Mention),
        NodeKind::ReplyTemplate => absent(sla::templates::get(db, actor, id).await)?.map(Node::ReplyTemplate),
        NodeKind::Share if manager => of_agency!(report_share).map(Node::Share),
        NodeKind::Source => absent(sources::get(db, actor, id).await)?.map(Node::Source),
        NodeKind::Ticket => absent(sla::tickets::get(db, actor, id).await)?.map(Node::Ticket),
        NodeKind::User if staff || id == actor.user_id => {
            members::users(db, actor, &[id]).await?.remove(&id).map(Node::User)
        }
        NodeKind::WebhookDelivery if manager => of_agency!(webhook_delivery).map(Node::WebhookDelivery),
        NodeKind::WebhookEndpoint => absent(webhooks::get(db, actor, id).await)?.map(Node::WebhookEndpoint),
        // Another agency, or a role that does not see the kind.
        NodeKind::Agency
        | NodeKind::ApiKey
        | NodeKind::Connection
        | NodeKind::Idea
        | NodeKind::Interaction
        | NodeKind::Invitation
        | NodeKind::JobFailure
        | NodeKind::Member
        | NodeKind::Share
        | NodeKind::User
        | NodeKind::WebhookDelivery => None,
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
