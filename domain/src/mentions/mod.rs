//! Mentions of a brand: pushed through HTTP ingest today (collectors come next), stored
//! once per (source, external id), listed with filters and keyset pagination.

pub mod ingest;
pub mod relevance;

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use std::collections::HashMap;
use uuid::Uuid;

use crate::entities::{author, mention};
use crate::pagination::{self, Page, PageRequest};
use crate::{Actor, Network, Result, Services, brands};

/// Filters of [`list`].
#[derive(Default)]
pub struct MentionFilter {
    pub network: Option<Network>,
    pub published_after: Option<DateTime<Utc>>,
    pub published_before: Option<DateTime<Utc>>,
}

/// The network's stored name.
pub fn network_name(network: Network) -> String {
    serde_json::to_value(network).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// A visible brand's mentions, in collection order.
pub async fn list(
    services: &Services,
    actor: &Actor,
    brand_id: Uuid,
    filter: MentionFilter,
    page: PageRequest,
) -> Result<Page<mention::Model>> {
    let brand = brands::get(&services.db, actor, brand_id).await?;
    let mut select = mention::Entity::find()
        .filter(mention::Column::AgencyId.eq(actor.agency_id))
        .filter(mention::Column::BrandId.eq(brand.id));
    if let Some(network) = filter.network {
        select = select.filter(mention::Column::Network.eq(network_name(network)));
    }
    if let Some(after) = filter.published_after {
        select = select.filter(mention::Column::PublishedAt.gte(after));
    }
    if let Some(before) = filter.published_before {
        select = select.filter(mention::Column::PublishedAt.lt(before));
    }
    pagination::fetch(&services.db, select, mention::Column::Id, page).await
}

/// Authors by id (for DataLoaders). Authors are public profiles; callers reach them only
/// through mentions they may see.
pub async fn authors(db: &impl ConnectionTrait, ids: &[Uuid]) -> Result<HashMap<Uuid, author::Model>> {
    Ok(author::Entity::find()
        .filter(author::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?
        .into_iter()
        .map(|a| (a.id, a))
        .collect())
}
