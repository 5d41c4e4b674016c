//! Cost limits, checked before a query runs: depth and complexity (async-graphql's own
//! checks, configured on the schema), and the number of mutations in one request
//! ([`check_mutations`]).
//!
//! Complexity counts fields, so a mutation selecting one scalar costs 2: a thousand
//! aliased `createBrand` would pass it while doing a thousand writes. Mutations are
//! therefore counted apart, aliases and fragments included.
//!
//! Operations sent over a WebSocket are admitted here too ([`SocketQuota`]): the POST
//! handler takes a rate-limit token before the schema runs, but one graphql-ws
//! connection carries any number of queries, mutations and subscriptions.
//!
//! None of this is a schema extension: see [`super::Gateway`] for why.

use async_graphql::parser::types::{FragmentDefinition, OperationType, Selection, SelectionSet};
use async_graphql::{Data, Name, Pos, Positioned, Request, ServerError, Value};
use futures_util::future::BoxFuture;
use std::any::TypeId;
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

/// Refuses the request if one of its mutation operations runs more than
/// [`MAX_MUTATIONS`] fields. The request's document is parsed here unless the caller
/// set it (async-graphql keeps it for execution); one that does not parse is refused
/// with the parser's error.
pub fn check_mutations(request: &mut Request) -> Result<(), ServerError> {
    let document = request.parsed_query()?;
    for (_, operation) in document.operations.iter() {
        if operation.node.ty != OperationType::Mutation {
            continue;
        }
        let count = root_fields(&operation.node.selection_set.node, &document.fragments, 0);
        if count > MAX_MUTATIONS {
            let message =
                format!("too many mutations in one request: {count} (at most {MAX_MUTATIONS}); send several requests");
            return Err(coded(message, Some(operation.pos), QUERY_TOO_COMPLEX));
        }
    }
    Ok(())
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

    /// The quota in a connection's session data, if the transport put one there.
    pub fn of(session: &Data) -> Option<&SocketQuota> {
        session.get(&TypeId::of::<SocketQuota>()).and_then(|quota| quota.downcast_ref())
    }

    /// Takes one of the connection's [`MAX_SOCKET_OPERATIONS`] slots for an operation,
    /// given back when the returned guard drops (the operation's stream completed,
    /// stopped by the client, or closed with the connection).
    pub fn hold(&self) -> Result<Running, ServerError> {
        if self.running.fetch_add(1, Ordering::AcqRel) >= MAX_SOCKET_OPERATIONS {
            self.running.fetch_sub(1, Ordering::AcqRel);
            let message = format!(
                "this connection already runs {MAX_SOCKET_OPERATIONS} operations: complete one before starting another"
            );
            return Err(coded(message, None, TOO_MANY_OPERATIONS));
        }
        Ok(Running(self.running.clone()))
    }

    /// What admits the connection's next operation: one token from the caller's quota.
    /// Checked before parsing, so a refused operation costs no more than the check.
    pub fn admission(&self) -> impl Future<Output = Result<(), ServerError>> + Send + 'static {
        let admitted = (self.admit)();
        async move {
            admitted.await.map_err(|refused| {
                let mut error = coded(refused.to_string(), None, refused.code());
                if let Error::RateLimited { retry_after } = refused {
                    let seconds = vigie_domain::error::retry_after_secs(retry_after);
                    error.extensions.get_or_insert_with(Default::default).set("retryAfter", Value::from(seconds));
                }
                error
            })
        }
    }
}

/// A slot of a connection's operations, held for as long as the operation's stream
/// lives.
pub struct Running(Arc<AtomicUsize>);

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
