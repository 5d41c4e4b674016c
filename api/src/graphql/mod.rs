//! The GraphQL API: one module per domain area, merged into the root types. Resolvers
//! are thin: they read the caller from the request, call a domain service and wrap the
//! result. Errors carry `extensions.code` (see [`errors`]).

mod agency;
mod alerts;
mod api_keys;
mod auth;
mod brands;
mod calendar;
pub mod errors;
mod influencers;
pub mod limits;
mod live;
mod loaders;
mod members;
mod mentions;
mod pagination;
mod queue;
mod relationships;
mod reports;
mod sla;
mod sources;
mod webhooks;

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, MergedObject, MergedSubscription, Schema, SchemaBuilder};
use std::sync::Arc;
use vigie_domain::auth::tokens::Claims;
use vigie_domain::{Actor, Error, Services};

pub use loaders::Loaders;

pub use limits::{MAX_COMPLEXITY, MAX_DEPTH, MAX_MUTATIONS};

/// Root query, merged from the domain modules.
#[derive(MergedObject, Default)]
pub struct Query(
    auth::AuthQuery,
    agency::AgencyQuery,
    brands::BrandQuery,
    members::MemberQuery,
    mentions::MentionQuery,
    influencers::InfluencerQuery,
    sources::SourceQuery,
    api_keys::ApiKeyQuery,
    queue::QueueQuery,
    alerts::AlertQuery,
    webhooks::WebhookQuery,
    relationships::RelationshipQuery,
    sla::SlaQuery,
    calendar::CalendarQuery,
    reports::ReportQuery,
);

/// Root mutation, merged from the domain modules.
#[derive(MergedObject, Default)]
pub struct Mutation(
    auth::AuthMutation,
    agency::AgencyMutation,
    brands::BrandMutation,
    members::MemberMutation,
    api_keys::ApiKeyMutation,
    sources::SourceMutation,
    queue::QueueMutation,
    alerts::AlertMutation,
    webhooks::WebhookMutation,
    relationships::RelationshipMutation,
    sla::SlaMutation,
    calendar::CalendarMutation,
    reports::ReportMutation,
);

/// Root subscription (graphql-ws at `/graphql/ws`).
#[derive(MergedSubscription, Default)]
pub struct Subscription(alerts::AlertSubscription, sla::SlaSubscription);

/// Vigie's schema type.
pub type VigieSchema = Schema<Query, Mutation, Subscription>;

/// The schema with its limits and extensions, without runtime data (enough to print
/// the SDL).
pub fn schema_builder() -> SchemaBuilder<Query, Mutation, Subscription> {
    Schema::build(Query::default(), Mutation::default(), Subscription::default())
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .limit_recursive_depth(32)
        .limit_directives(16)
        .extension(errors::ErrorCodes)
        .extension(limits::MutationLimit)
        .extension(limits::SocketLimits)
}

/// The schema ready to serve, sharing the domain services.
pub fn build_schema(services: Arc<Services>) -> VigieSchema {
    let introspection = services.config.introspection;
    let builder = schema_builder().data(services);
    if introspection { builder.finish() } else { builder.disable_introspection().finish() }
}

/// The SDL written to `schema.graphql`.
pub fn sdl() -> String {
    schema_builder().finish().sdl()
}

/// Who is calling, attached to each request by the HTTP layer.
pub struct Caller {
    /// `Ok(None)`: no credentials; `Err`: credentials that did not verify (expired,
    /// forged…), reported by the first field that needs them.
    pub auth: Result<Option<Actor>, Error>,
    pub loader: DataLoader<Loaders>,
}

impl Caller {
    /// A caller with a per-request DataLoader (never shared between tenants).
    pub fn new(services: Arc<Services>, auth: Result<Option<Actor>, Error>) -> Self {
        let actor = auth.as_ref().ok().cloned().flatten();
        Caller { auth, loader: DataLoader::new(Loaders::new(services, actor), tokio::spawn) }
    }
}

/// Runs one GraphQL request for the holder of `bearer` (an access token, if any). The
/// HTTP handler and the tests both go through here.
pub async fn execute(
    schema: &VigieSchema,
    services: &Arc<Services>,
    bearer: Option<&str>,
    request: async_graphql::Request,
) -> async_graphql::Response {
    execute_verified(schema, services, bearer.map(|token| services.tokens.verify(token)), request).await
}

/// [`execute`] for a token already verified (the HTTP layer verifies it once to pick
/// the rate-limit bucket).
pub async fn execute_verified(
    schema: &VigieSchema,
    services: &Arc<Services>,
    claims: Option<Result<Claims, Error>>,
    request: async_graphql::Request,
) -> async_graphql::Response {
    let auth = caller(services, claims).await;
    schema.execute(request.data(Caller::new(services.clone(), auth))).await
}

/// Authenticates a bearer access token into the caller's [`Actor`].
pub async fn authenticate(services: &Services, bearer: Option<&str>) -> Result<Option<Actor>, Error> {
    caller(services, bearer.map(|token| services.tokens.verify(token))).await
}

async fn caller(services: &Services, claims: Option<Result<Claims, Error>>) -> Result<Option<Actor>, Error> {
    let Some(claims) = claims.transpose()? else { return Ok(None) };
    services.callers.actor(&services.db, claims.sub, claims.agency).await.map(Some)
}

pub(crate) fn services<'a>(ctx: &Context<'a>) -> &'a Arc<Services> {
    ctx.data_unchecked::<Arc<Services>>()
}

/// The authenticated actor, or `UNAUTHENTICATED`.
pub(crate) fn actor<'a>(ctx: &Context<'a>) -> Result<&'a Actor, Error> {
    match ctx.data_opt::<Caller>().map(|c| &c.auth) {
        Some(Ok(Some(actor))) => Ok(actor),
        Some(Err(Error::Unauthenticated(message))) => Err(Error::Unauthenticated(message.clone())),
        // The token may well be valid: a client must retry, not drop it and log out.
        Some(Err(Error::Unavailable(message))) => Err(Error::Unavailable(message.clone())),
        Some(Err(_)) => Err(Error::Unauthenticated("authentication failed".into())),
        _ => Err(Error::Unauthenticated("log in first: send `Authorization: Bearer <accessToken>`".into())),
    }
}

pub(crate) fn loader<'a>(ctx: &Context<'a>) -> &'a DataLoader<Loaders> {
    &ctx.data_unchecked::<Caller>().loader
}
