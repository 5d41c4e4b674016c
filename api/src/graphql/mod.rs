//! The GraphQL API: one module per domain area, merged into the root types. Resolvers
//! are thin: they read the caller from the request, call a domain service and wrap the
//! result. Errors carry `extensions.code` (see [`errors`]).

mod agency;
mod alerts;
mod api_keys;
mod auth;
mod brands;
mod calendar;
mod competition;
mod connections;
mod documents;
pub mod errors;
mod influencers;
pub mod limits;
mod live;
mod loaders;
mod members;
mod mentions;
pub mod node;
mod notifications;
mod on_call;
mod pagination;
mod queue;
mod relationships;
mod reports;
mod screen;
pub mod session;
mod shares;
mod sla;
mod sources;
mod templates;
mod webhooks;

use async_graphql::dataloader::DataLoader;
use async_graphql::{
    Context, Data, Executor, MergedObject, MergedSubscription, Request, Response, Schema, SchemaBuilder, ServerError,
};
use futures_util::stream::{self, BoxStream};
use futures_util::{StreamExt, future};
use limits::{Checked, SocketQuota};
use session::SocketAccess;
use std::sync::Arc;
use vigie_domain::platform::auth::tokens::Claims;
use vigie_domain::{Actor, Error, Services};

pub use loaders::Loaders;

pub use limits::{MAX_COMPLEXITY, MAX_DEPTH, MAX_MUTATIONS};

/// Root query, merged from the domain modules.
#[derive(MergedObject, Default)]
pub struct Query(
    auth::AuthQuery,
    agency::AgencyQuery,
    brands::BrandQuery,
    competition::CompetitionQuery,
    members::MemberQuery,
    mentions::MentionQuery,
    influencers::InfluencerQuery,
    sources::SourceQuery,
    connections::ConnectionQuery,
    api_keys::ApiKeyQuery,
    queue::QueueQuery,
    alerts::AlertQuery,
    webhooks::WebhookQuery,
    relationships::RelationshipQuery,
    sla::SlaQuery,
    templates::TemplateQuery,
    calendar::CalendarQuery,
    reports::ReportQuery,
    shares::ShareQuery,
    node::NodeQuery,
    screen::ScreenQuery,
    notifications::NotificationQuery,
    on_call::OnCallQuery,
);

/// Root mutation, merged from the domain modules.
#[derive(MergedObject, Default)]
pub struct Mutation(
    auth::AuthMutation,
    agency::AgencyMutation,
    brands::BrandMutation,
    competition::CompetitionMutation,
    members::MemberMutation,
    api_keys::ApiKeyMutation,
    sources::SourceMutation,
    connections::ConnectionMutation,
    queue::QueueMutation,
    alerts::AlertMutation,
    webhooks::WebhookMutation,
    relationships::RelationshipMutation,
    sla::SlaMutation,
    templates::TemplateMutation,
    calendar::CalendarMutation,
    reports::ReportMutation,
    shares::ShareMutation,
    notifications::NotificationMutation,
    on_call::OnCallMutation,
);

/// Root subscription (graphql-ws at `/graphql/ws`).
#[derive(MergedSubscription, Default)]
pub struct Subscription(alerts::AlertSubscription, sla::SlaSubscription, screen::ScreenSubscription);

/// Vigie's schema type.
pub type VigieSchema = Schema<Query, Mutation, Subscription>;

/// The schema with its limits, without runtime data (enough to print the SDL).
pub fn schema_builder() -> SchemaBuilder<Query, Mutation, Subscription> {
    introspective_builder().limit_depth(MAX_DEPTH).limit_complexity(MAX_COMPLEXITY)
}

/// The schema without depth and complexity limits, for requests that introspect: their
/// introspection has bounds of its own and the rest of their document is measured
/// apart ([`Gateway::within_limits`]).
fn introspective_builder() -> SchemaBuilder<Query, Mutation, Subscription> {
    Schema::build(Query::default(), Mutation::default(), Subscription::default())
        .limit_recursive_depth(32)
        .limit_directives(16)
}

/// The SDL written to `schema.graphql`.
pub fn sdl() -> String {
    // With `@specifiedBy`, as introspection reports it (`specifiedByURL`).
    schema_builder().finish().sdl_with_options(async_graphql::SDLExportOptions::new().include_specified_by())
}

/// The client network a request came from (the address for IPv4, its /64 for IPv6),
/// attached by the HTTP layer to requests and sockets: log-in failures are throttled
/// per account and network.
pub struct ClientNetwork(pub String);

/// The caller's network; requests run in-process (tests, tools) share one.
pub(crate) fn client_network<'a>(ctx: &Context<'a>) -> &'a str {
    ctx.data_opt::<ClientNetwork>().map_or("in-process", |network| network.0.as_str())
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
    gateway: &Gateway,
    services: &Arc<Services>,
    bearer: Option<&str>,
    request: async_graphql::Request,
) -> async_graphql::Response {
    execute_verified(gateway, services, bearer.map(|token| services.tokens.verify(token)), request).await
}

/// [`execute`] for a token already verified (the HTTP layer verifies it once to pick
/// the rate-limit bucket).
pub async fn execute_verified(
    gateway: &Gateway,
    services: &Arc<Services>,
    claims: Option<Result<Claims, Error>>,
    mut request: async_graphql::Request,
) -> async_graphql::Response {
    match gateway.prepare(&mut request).await {
        Ok(checked) => execute_prepared(gateway, services, claims, request, checked).await,
        Err(refused) => errors::refused(refused),
    }
}

/// [`execute_verified`] for a request already through [`Gateway::prepare`] (the HTTP
/// layer prepares it to pick the rate-limit bucket of credential mutations).
pub async fn execute_prepared(
    gateway: &Gateway,
    services: &Arc<Services>,
    claims: Option<Result<Claims, Error>>,
    request: async_graphql::Request,
    checked: Checked,
) -> async_graphql::Response {
    let auth = caller(services, claims).await;
    let authenticated = matches!(auth, Ok(Some(_)));
    let request = request.data(Caller::new(services.clone(), auth));
    errors::code_errors(gateway.run(request, checked, authenticated).await)
}

/// The schema as the transports run it: the query parsed (or its parsed document
/// reused, see [`documents`]) and its mutations counted before execution, error codes
/// on every response, and over a WebSocket the connection's admission and operation
/// cap. Clones share the schema and the parsed documents.
///
/// These are not schema extensions on purpose. With any extension installed,
/// async-graphql sends every field of every query through the extension chain (a
/// registry lookup and a boxed future per extension, per field), which cost the
/// dashboard query about a tenth of its CPU; all these checks need is the request
/// before it runs or the response after.
#[derive(Clone)]
pub struct Gateway {
    schema: VigieSchema,
    /// The same schema without depth and complexity limits, for the requests that
    /// introspect; `None` when introspection is off.
    introspective: Option<VigieSchema>,
    documents: Arc<documents::Documents>,
    persisted: Arc<vigie_domain::platform::persisted_queries::PersistedQueries>,
}

impl Gateway {
    /// The schema ready to serve, sharing the domain services.
    pub fn build(services: Arc<Services>) -> Self {
        let introspection = services.config.introspection;
        let persisted = services.persisted_queries.clone();
        let builder = schema_builder().data(services.clone());
        let (schema, introspective) = if introspection {
            (builder.finish(), Some(introspective_builder().data(services).finish()))
        } else {
            // "Did you mean …" in validation errors would spell out the hidden schema.
            (builder.disable_introspection().disable_suggestions().finish(), None)
        };
        Gateway { schema, introspective, documents: Arc::default(), persisted }
    }

    /// What every request goes through before it runs: its persisted query resolved,
    /// its parsed document, and the root-field limits ([`limits::check_root_fields`]).
    pub async fn prepare(&self, request: &mut Request) -> Result<Checked, ServerError> {
        let registers = self.documents.resolve(request, &self.persisted).await?;
        let checked = limits::check_root_fields(request, self.introspective.is_some())?;
        Ok(Checked { registers, ..checked })
    }

    /// Runs a prepared request within its limits ([`Gateway::within_limits`]), then
    /// registers its persisted query if it asked to and it was a query that validated
    /// (shared with the other replicas when `share`).
    async fn run(&self, mut request: Request, checked: Checked, share: bool) -> Response {
        if let Err(refused) = self.within_limits(&mut request, checked).await {
            return errors::refused(refused);
        }
        let registers = checked.registers && limits::only_queries(&mut request);
        let text = registers.then(|| request.query.clone());
        let response = self.schema_for(checked).execute(request).await;
        if let Some(text) = text
            && response.data != async_graphql::Value::Null
        {
            self.documents.register(&text, &self.persisted, share).await;
        }
        response
    }

    fn schema_for(&self, checked: Checked) -> &VigieSchema {
        match &self.introspective {
            Some(introspective) if checked.introspects => introspective,
            _ => &self.schema,
        }
    }

    /// For a request that introspects, the depth and complexity limits applied to the
    /// rest of its document: the limited schema validates the document without its
    /// introspection fields and, asked for introspection only, resolves none of the
    /// rest. Only a limit's refusal counts here; any other error of the stripped
    /// document is the full document's too, reported when it runs.
    async fn within_limits(&self, request: &mut Request, checked: Checked) -> Result<(), ServerError> {
        if !checked.introspects {
            return Ok(());
        }
        let mut rest = Request::new(String::new()).variables(request.variables.clone()).only_introspection();
        rest.operation_name = request.operation_name.clone();
        rest.set_parsed_query(limits::without_introspection(request.parsed_query()?));
        let measured = self.schema.execute(rest).await;
        match measured.errors.into_iter().find(errors::is_limit_error) {
            Some(refused) => Err(refused),
            None => Ok(()),
        }
    }
}

fn refusal(error: ServerError) -> BoxStream<'static, Response> {
    stream::once(future::ready(errors::refused(error))).boxed()
}

impl Executor for Gateway {
    async fn execute(&self, mut request: Request) -> Response {
        match self.prepare(&mut request).await {
            Ok(checked) => errors::code_errors(self.run(request, checked, false).await),
            Err(refused) => errors::refused(refused),
        }
    }

    /// Every WebSocket operation comes here, queries and mutations included. The slot
    /// is taken at once, in the order the client's messages arrived; the rate-limit
    /// token and the caller (resolved again for each operation, see [`session`]) when
    /// the operation first runs.
    fn execute_stream(&self, mut request: Request, session: Option<Arc<Data>>) -> BoxStream<'static, Response> {
        let session = session.unwrap_or_default();
        let slot = match SocketQuota::of(&session).map(SocketQuota::hold).transpose() {
            Ok(slot) => slot,
            Err(refused) => return refusal(refused),
        };
        let (gateway, held) = (self.clone(), session.clone());
        let admitted = async move {
            let quota = SocketQuota::of(&held);
            if let Some(quota) = quota {
                quota.admission().await?;
            }
            let checked = gateway.prepare(&mut request).await?;
            gateway.within_limits(&mut request, checked).await?;
            if let Some(quota) = quota
                && checked.credentials
            {
                quota.credentials().await?;
            }
            if let Some(access) = SocketAccess::of(&held) {
                let auth = access.caller().await;
                request = request.data(Caller::new(access.services().clone(), auth));
            }
            Ok((gateway, request, checked))
        };
        stream::once(admitted)
            .flat_map(move |admitted| match admitted {
                Ok((gateway, request, checked)) => {
                    gateway.schema_for(checked).execute_stream_with_session_data(request, session.clone())
                }
                Err(refused) => refusal(refused),
            })
            .map(move |response| {
                // The slot lives as long as the stream: dropped with it, whatever ends it.
                let _slot = &slot;
                errors::code_errors(response)
            })
            .boxed()
    }
}

async fn caller(services: &Services, claims: Option<Result<Claims, Error>>) -> Result<Option<Actor>, Error> {
    let Some(claims) = claims.transpose()? else { return Ok(None) };
    services.callers.actor(&services.db, &claims).await.map(Some)
}

pub(crate) fn services<'a>(ctx: &Context<'a>) -> &'a Arc<Services> {
    ctx.data_unchecked::<Arc<Services>>()
}

/// Whether the caller sees the agency's internal details (who owns, assigned or reviewed
/// what, CRM tags and statuses): staff do, client viewers see only their own part.
pub(crate) fn sees_staff_details(ctx: &Context<'_>, about_user: Option<uuid::Uuid>) -> Result<bool, Error> {
    let actor = actor(ctx)?;
    Ok(actor.is_staff() || about_user == Some(actor.user_id()))
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
