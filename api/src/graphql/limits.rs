//! Cost limits, checked before a query runs: depth and complexity (async-graphql's own
//! checks, configured here), and the number of mutations in one request.
//!
//! Complexity counts fields, so a mutation selecting one scalar costs 2: a thousand
//! aliased `createBrand` would pass it while doing a thousand writes. Mutations are
//! therefore counted apart, aliases and fragments included.
//!
//! Operations sent over a WebSocket are admitted here too ([`SocketLimits`]): the
//! POST handler takes a rate-limit token before the schema runs, but one graphql-ws
//! connection carries any number of queries, mutations and subscriptions.

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextPrepareRequest, NextSubscribe,
};
use async_graphql::parser::types::{ExecutableDocument, FragmentDefinition, OperationType, Selection, SelectionSet};
use async_graphql::{Name, Pos, Positioned, Request, Response, ServerError, ServerResult, Value, Variables};
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use futures_util::stream::{self, BoxStream};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use vigie_domain::Error;

use super::errors::QUERY_TOO_COMPLEX;

/// Deepest selection a query may have.
pub const MAX_DEPTH: usize = 12;
/// Highest cost a query may have; lists count `first` times their children.
pub const MAX_COMPLEXITY: usize = 2_000;
/// Most mutation fields one request may run.
pub const MAX_MUTATIONS: usize = 20;

/// Most operations (subscriptions, or queries still running) one WebSocket connection
/// may hold at once. Each open subscription holds a listener in the process.
pub const MAX_SOCKET_OPERATIONS: usize = 16;

/// Code of an operation refused because its connection already runs
/// [`MAX_SOCKET_OPERATIONS`].
pub const TOO_MANY_OPERATIONS: &str = "TOO_MANY_OPERATIONS";

/// Installs the mutation count on a schema.
pub struct MutationLimit;

impl ExtensionFactory for MutationLimit {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(MutationLimit)
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for MutationLimit {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        for (_, operation) in document.operations.iter() {
            if operation.node.ty != OperationType::Mutation {
                continue;
            }
            let count = root_fields(&operation.node.selection_set.node, &document.fragments, 0);
            if count > MAX_MUTATIONS {
                let message = format!(
                    "too many mutations in one request: {count} (at most {MAX_MUTATIONS}); send several requests"
                );
                return Err(coded(message, Some(operation.pos), QUERY_TOO_COMPLEX));
            }
        }
        Ok(document)
    }
}

/// The fields a selection set runs at its level, through fragments. `depth` stops
/// fragment cycles, which validation refuses later anyway.
fn root_fields(set: &SelectionSet, fragments: &HashMap<Name, Positioned<FragmentDefinition>>, depth: usize) -> usize {
    if depth > MAX_DEPTH {
        return MAX_MUTATIONS + 1;
    }
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(_) => 1,
            Selection::InlineFragment(fragment) => root_fields(&fragment.node.selection_set.node, fragments, depth + 1),
            Selection::FragmentSpread(spread) => fragments
                .get(&spread.node.fragment_name.node)
                .map_or(0, |fragment| root_fields(&fragment.node.selection_set.node, fragments, depth + 1)),
        })
        .fold(0, usize::saturating_add)
}

/// Takes one rate-limit token for an operation; the HTTP layer builds it from the
/// caller's quota (the agency's, or the client address's when anonymous).
pub type Admit = Arc<dyn Fn() -> BoxFuture<'static, Result<(), Error>> + Send + Sync>;

/// Session data of a WebSocket connection, set at `connection_init`: how its operations
/// are admitted, and how many are running.
pub struct SocketQuota {
    admit: Admit,
    running: Arc<AtomicUsize>,
}

impl SocketQuota {
    /// A connection's quota, drawing one token per operation from `admit`.
    pub fn new(admit: Admit) -> Self {
        SocketQuota { admit, running: Arc::default() }
    }
}

/// Installs the WebSocket admission on a schema. Requests without a [`SocketQuota`]
/// (POSTs, admitted by their handler) pass through untouched.
pub struct SocketLimits;

impl ExtensionFactory for SocketLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(SocketLimits)
    }
}

/// Gives a connection's slot back when its operation's stream is dropped: completed,
/// stopped by the client, or closed with the connection.
struct Running(Arc<AtomicUsize>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// An error refused before execution, with its `extensions.code`.
fn coded(message: String, pos: Option<Pos>, code: &str) -> ServerError {
    let mut error = ServerError::new(message, pos);
    error.extensions.get_or_insert_with(Default::default).set("code", Value::String(code.into()));
    error
}

#[async_graphql::async_trait::async_trait]
impl Extension for SocketLimits {
    /// Runs before parsing, so a refused operation costs no more than a token check.
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        if let Some(quota) = ctx.data_opt::<SocketQuota>()
            && let Err(refused) = (quota.admit)().await
        {
            let mut error = coded(refused.to_string(), None, refused.code());
            if let Error::RateLimited { retry_after } = refused {
                let seconds = vigie_domain::error::retry_after_secs(retry_after);
                error.extensions.get_or_insert_with(Default::default).set("retryAfter", Value::from(seconds));
            }
            return Err(error);
        }
        next.run(ctx, request).await
    }

    /// Holds a slot of the connection for as long as the operation's stream lives; one
    /// over the cap is answered with an error at once and never runs.
    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        let Some(quota) = ctx.data_opt::<SocketQuota>() else {
            return next.run(ctx, stream);
        };
        let running = quota.running.clone();
        if running.fetch_add(1, Ordering::AcqRel) >= MAX_SOCKET_OPERATIONS {
            running.fetch_sub(1, Ordering::AcqRel);
            let message = format!(
                "this connection already runs {MAX_SOCKET_OPERATIONS} operations: complete one before starting another"
            );
            return stream::once(async move { Response::from_errors(vec![coded(message, None, TOO_MANY_OPERATIONS)]) })
                .boxed();
        }
        let slot = Running(running);
        next.run(ctx, stream)
            .map(move |response| {
                let _slot = &slot;
                response
            })
            .boxed()
    }
}
