//! API keys for machine ingest.

use super::node::{NodeKind, global_id};
use async_graphql::connection::Connection;
use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use vigie_domain::api_keys;
use vigie_domain::entities::api_key;

use super::brands::Brand;
use super::loaders::BrandKey;
use super::pagination::{self, Cursor, uuid};
use super::{actor, loader, services};

/// A machine credential (its secret is only shown at creation).
pub struct ApiKey(pub api_key::Model);

#[Object]
impl ApiKey {
    pub(crate) async fn id(&self) -> ID {
        global_id(NodeKind::ApiKey, self.0.id)
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// The first characters of the secret, to recognise the key.
    async fn prefix(&self) -> &str {
        &self.0.prefix
    }
    /// The brand the key is limited to; null for an agency-wide key.
    async fn brand(&self, ctx: &Context<'_>) -> Result<Option<Brand>> {
        match self.0.brand_id {
            None => Ok(None),
            Some(id) => Ok(loader(ctx).load_one(BrandKey(id)).await?.map(Brand)),
        }
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn last_used_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_used_at
    }
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.revoked_at
    }
}

/// A new key and its secret.
#[derive(SimpleObject)]
pub struct CreateApiKeyPayload {
    api_key: ApiKey,
    /// Shown once: store it now.
    secret: String,
}

/// A new API key.
#[derive(InputObject)]
pub struct CreateApiKeyInput {
    name: String,
    /// Limit the key to one brand.
    brand_id: Option<ID>,
}

#[derive(Default)]
pub struct ApiKeyQuery;

#[Object]
impl ApiKeyQuery {
    /// The agency's API keys (owners and admins).
    #[graphql(complexity = "pagination::complexity(child_complexity, first)")]
    async fn api_keys(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<Cursor, ApiKey>> {
        let had_cursor = after.is_some();
        let page = api_keys::list(services(ctx), actor(ctx)?, pagination::request(first, after)?).await?;
        Ok(pagination::connection(page, had_cursor, |k| Cursor(k.id), ApiKey))
    }
}

#[derive(Default)]
pub struct ApiKeyMutation;

#[Object]
impl ApiKeyMutation {
    /// Creates an API key (owners and admins).
    async fn create_api_key(&self, ctx: &Context<'_>, input: CreateApiKeyInput) -> Result<CreateApiKeyPayload> {
        let brand_id = input.brand_id.as_ref().map(|id| uuid("brandId", id)).transpose()?;
        let (key, secret) = api_keys::create(services(ctx), actor(ctx)?, &input.name, brand_id).await?;
        Ok(CreateApiKeyPayload { api_key: ApiKey(key), secret })
    }

    /// Revokes an API key.
    async fn revoke_api_key(&self, ctx: &Context<'_>, id: ID) -> Result<ApiKey> {
        Ok(ApiKey(api_keys::revoke(services(ctx), actor(ctx)?, uuid("id", &id)?).await?))
    }
}
