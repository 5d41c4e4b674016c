//! Cost limits, checked before a query runs: depth and complexity (async-graphql's own
//! checks, configured on the schema, with aggregates weighted by their cost), and the
//! root fields of one request ([`check_root_fields`]).
//!
//! Complexity counts fields, so a mutation selecting one scalar costs 2: a thousand
//! aliased `createBrand` would pass it while doing a thousand writes. Mutations are
//! therefore counted apart, aliases and fragments included; so are the credential
//! mutations, one per request, so that aliases cannot multiply password guesses; and
//! `sharedReport`, which renders a whole report, runs once per request.
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
/// The cost of an aggregate (a series, a compliance or coverage figure, the queue's
/// status) on top of its fields: it reads a period's rows where a field reads one, so
/// one request holds at most a score of them.
pub const AGGREGATE: usize = 100;
/// The cost of a shared report, which runs every aggregate of a brand at once.
pub const REPORT: usize = 500;
/// Most mutation fields one request may run.
pub const MAX_MUTATIONS: usize = 20;

/// Most operations (subscriptions, or queries still running) one WebSocket connection
/// may hold at once. Each open subscription holds a listener in the process.
pub const MAX_SOCKET_OPERATIONS: usize = 16;

/// Code of an operation refused because its connection already runs
/// [`MAX_SOCKET_OPERATIONS`].
pub const TOO_MANY_OPERATIONS: &str = "TOO_MANY_OPERATIONS";

/// The mutations that check or issue credentials: one per request, charged to the
/// client network's anonymous quota whoever calls.
pub const CREDENTIAL_MUTATIONS: [&str; 4] = ["logIn", "signUp", "acceptInvitation", "refreshToken"];

/// Root query fields that may run once per request (each renders a whole report).
const ONCE_PER_REQUEST: [&str; 1] = ["sharedReport"];

/// What [`check_root_fields`] found out about an admitted request.
#[derive(Clone, Copy, Debug, Default)]
pub struct Checked {
    /// It runs a credential mutation ([`CREDENTIAL_MUTATIONS`]).
    pub credentials: bool,
}

/// Refuses the request if one of its operations runs more than [`MAX_MUTATIONS`]
/// mutations, more than one credential mutation, a once-per-request field twice, or
/// introspection where it is off.
/// The request's document is parsed here unless the caller set it (async-graphql keeps
/// it for execution); one that does not parse is refused with the parser's error.
pub fn check_root_fields(request: &mut Request, introspection: bool) -> Result<Checked, ServerError> {
    let document = request.parsed_query()?;
    let mut checked = Checked::default();
    for (_, operation) in document.operations.iter() {
        let mut names = Vec::new();
        let mut budget = ROOT_FIELD_STEPS;
        let complete = root_fields(&operation.node.selection_set.node, &document.fragments, 0, &mut budget, &mut names);
        let pos = Some(operation.pos);
        let count = |wanted: &[&str]| names.iter().filter(|name| wanted.contains(&name.as_str())).count();
        match operation.node.ty {
            OperationType::Mutation => {
                if !complete || names.len() > MAX_MUTATIONS {
                    let message = format!(
                        "too many mutations in one request: {} (at most {MAX_MUTATIONS}); send several requests",
                        names.len()
                    );
                    return Err(coded(message, pos, QUERY_TOO_COMPLEX));
                }
                let credentials = count(&CREDENTIAL_MUTATIONS);
                if credentials > 1 {
                    let message = format!(
                        "{credentials} credential mutations ({}) in one request: send one per request",
                        CREDENTIAL_MUTATIONS.join(", ")
                    );
                    return Err(coded(message, pos, QUERY_TOO_COMPLEX));
                }
                checked.credentials |= credentials == 1;
            }
            OperationType::Query => {
                // Said plainly, where async-graphql would answer `null` without a reason.
                if !introspection && count(&["__schema", "__type"]) > 0 {
                    let message = "introspection is off on this server (VIGIE_INTROSPECTION)".to_owned();
                    return Err(coded(message, pos, "FORBIDDEN"));
                }
                for once in ONCE_PER_REQUEST {
                    if !complete || count(&[once]) > 1 {
                        let message = format!("`{once}` may be asked once per request");
                        return Err(coded(message, pos, QUERY_TOO_COMPLEX));
                    }
                }
            }
            OperationType::Subscription => {}
        }
    }
    Ok(checked)
}

/// Selections [`root_fields`] visits per operation before giving up: fragments spread
/// within fragments multiply, and this runs before validation.
const ROOT_FIELD_STEPS: usize = 1_000;

/// Collects the names of the fields a selection set runs at its level, through
/// fragments; `false` when fragments nest deeper than [`MAX_DEPTH`] (a cycle, which
/// validation refuses later anyway) or the selections visited exhaust `budget`.
fn root_fields<'a>(
    set: &'a SelectionSet,
    fragments: &'a HashMap<Name, Positioned<FragmentDefinition>>,
    depth: usize,
    budget: &mut usize,
    names: &mut Vec<&'a Name>,
) -> bool {
    if depth > MAX_DEPTH {
        return false;
    }
    set.items.iter().all(|item| {
        let Some(left) = budget.checked_sub(1) else { return false };
        *budget = left;
        match &item.node {
            Selection::Field(field) => {
                names.push(&field.node.name.node);
                true
            }
            Selection::InlineFragment(fragment) => {
                root_fields(&fragment.node.selection_set.node, fragments, depth + 1, budget, names)
            }
            Selection::FragmentSpread(spread) => {
                fragments.get(&spread.node.fragment_name.node).is_none_or(|fragment| {
                    root_fields(&fragment.node.selection_set.node, fragments, depth + 1, budget, names)
                })
            }
        }
    })
}

/// Takes one rate-limit token for an operation; the HTTP layer builds it from the
/// caller's quota (the agency's, or the client address's when anonymous).
pub type Admit = Arc<dyn Fn() -> BoxFuture<'static, Result<(), Error>> + Send + Sync>;

/// Session data of a WebSocket connection, set at `connection_init`: how its operations
/// are admitted, and how many are running.
pub struct SocketQuota {
    admit: Admit,
    admit_credentials: Option<Admit>,
    running: Arc<AtomicUsize>,
}

impl SocketQuota {
    /// A connection's quota, drawing one token per operation from `admit`, and one more
    /// from `admit_credentials` for a credential mutation (`None` when `admit` already
    /// draws on the client network's quota strictly: an anonymous connection).
    pub fn new(admit: Admit, admit_credentials: Option<Admit>) -> Self {
        SocketQuota { admit, admit_credentials, running: Arc::default() }
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

    /// What admits the connection's next operation: one token from the caller's quota,
    /// taken before the operation is parsed.
    pub fn admission(&self) -> impl Future<Output = Result<(), ServerError>> + Send + 'static {
        Self::admitted((self.admit)())
    }

    /// What a credential mutation takes on top: one token from the client network's
    /// quota.
    pub fn credentials(&self) -> impl Future<Output = Result<(), ServerError>> + Send + 'static {
        let admitted = self.admit_credentials.as_ref().map(|admit| Self::admitted(admit()));
        async move {
            match admitted {
                Some(admitted) => admitted.await,
                None => Ok(()),
            }
        }
    }

    async fn admitted(admitted: BoxFuture<'static, Result<(), Error>>) -> Result<(), ServerError> {
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
