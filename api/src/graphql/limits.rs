//! Cost limits, checked before a query runs: depth and complexity (async-graphql's own
//! checks, configured on the schema, with aggregates weighted by their cost), and the
//! root fields of one request ([`check_root_fields`]).
//!
//! Introspection (`__schema`, `__type`) is bounded by rules of its own
//! ([`MAX_INTROSPECTION_LISTS`], [`MAX_INTROSPECTION_SELECTIONS`]) rather than by depth
//! and complexity: the standard introspection query that every GraphQL tool sends nests
//! `ofType` deeper than any query of Vigie's own types needs. The rest of a document
//! that introspects still passes depth and complexity (see [`super::Gateway`]).
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

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, Field, FragmentDefinition, OperationType, Selection, SelectionSet,
};
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

/// The root fields that introspect the schema.
pub const INTROSPECTION_FIELDS: [&str; 2] = ["__schema", "__type"];

/// Most introspection lists (`fields`, `inputFields`, `interfaces`, `possibleTypes`)
/// nested in one another, fragments included: each multiplies the answer by the size
/// of the schema. The bound and the lists are graphql-js's `MaxIntrospectionDepthRule`;
/// the standard introspection query nests one.
pub const MAX_INTROSPECTION_LISTS: usize = 3;

/// Most selections the introspection fields of one request may hold once their
/// fragments are inlined, aliases included (graphql-js's full introspection query holds
/// 240).
pub const MAX_INTROSPECTION_SELECTIONS: usize = 1_000;

const INTROSPECTION_LISTS: [&str; 4] = ["fields", "inputFields", "interfaces", "possibleTypes"];

/// What [`check_root_fields`] found out about an admitted request.
#[derive(Clone, Copy, Debug, Default)]
pub struct Checked {
    /// It runs a credential mutation ([`CREDENTIAL_MUTATIONS`]).
    pub credentials: bool,
    /// One of its queries introspects the schema (within the bounds above).
    pub introspects: bool,
    /// It sends a persisted query's text with its hash: kept once it ran (see
    /// [`super::Gateway::register`]).
    pub registers: bool,
}

/// Refuses the request if one of its operations runs more than [`MAX_MUTATIONS`]
/// mutations, more than one credential mutation, a once-per-request field twice, or
/// introspection where it is off or beyond its bounds.
/// The request's document is parsed here unless the caller set it (async-graphql keeps
/// it for execution); one that does not parse is refused with the parser's error.
pub fn check_root_fields(request: &mut Request, introspection: bool) -> Result<Checked, ServerError> {
    let document = request.parsed_query()?;
    let mut checked = Checked::default();
    for (_, operation) in document.operations.iter() {
        let mut fields = Vec::new();
        let mut budget = ROOT_FIELD_STEPS;
        let complete =
            root_fields(&operation.node.selection_set.node, &document.fragments, 0, &mut budget, &mut fields);
        let pos = Some(operation.pos);
        let named = |field: &&Positioned<Field>, wanted: &[&str]| wanted.contains(&field.node.name.node.as_str());
        let count = |wanted: &[&str]| fields.iter().filter(|field| named(field, wanted)).count();
        match operation.node.ty {
            OperationType::Mutation => {
                if !complete || fields.len() > MAX_MUTATIONS {
                    let message = format!(
                        "too many mutations in one request: {} (at most {MAX_MUTATIONS}); send several requests",
                        fields.len()
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
                let introspecting: Vec<_> = fields.iter().filter(|field| named(field, &INTROSPECTION_FIELDS)).collect();
                if !introspecting.is_empty() {
                    if !introspection {
                        let message = "introspection is off on this server (VIGIE_INTROSPECTION)".to_owned();
                        return Err(coded(message, pos, "FORBIDDEN"));
                    }
                    let mut budget = MAX_INTROSPECTION_SELECTIONS;
                    for field in introspecting {
                        within_introspection_bounds(
                            &field.node.selection_set.node,
                            &document.fragments,
                            0,
                            &mut budget,
                        )
                        .map_err(|message| coded(message, Some(field.pos), QUERY_TOO_COMPLEX))?;
                    }
                    checked.introspects = true;
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

/// Whether every operation of the request's document is a query (what may be sent in a
/// URL). The document must have been parsed ([`super::Gateway::prepare`]).
pub fn only_queries(request: &mut Request) -> bool {
    request.parsed_query().is_ok_and(|document| {
        document.operations.iter().all(|(_, operation)| operation.node.ty == OperationType::Query)
    })
}

/// Selections [`root_fields`] visits per operation before giving up: fragments spread
/// within fragments multiply, and this runs before validation.
const ROOT_FIELD_STEPS: usize = 1_000;

/// Collects the fields a selection set runs at its level, through fragments; `false`
/// when fragments nest deeper than [`MAX_DEPTH`] (a cycle, which validation refuses
/// later anyway) or the selections visited exhaust `budget`.
fn root_fields<'a>(
    set: &'a SelectionSet,
    fragments: &'a HashMap<Name, Positioned<FragmentDefinition>>,
    depth: usize,
    budget: &mut usize,
    fields: &mut Vec<&'a Positioned<Field>>,
) -> bool {
    if depth > MAX_DEPTH {
        return false;
    }
    set.items.iter().all(|item| {
        let Some(left) = budget.checked_sub(1) else { return false };
        *budget = left;
        match &item.node {
            Selection::Field(field) => {
                fields.push(field);
                true
            }
            Selection::InlineFragment(fragment) => {
                root_fields(&fragment.node.selection_set.node, fragments, depth + 1, budget, fields)
            }
            Selection::FragmentSpread(spread) => {
                fragments.get(&spread.node.fragment_name.node).is_none_or(|fragment| {
                    root_fields(&fragment.node.selection_set.node, fragments, depth + 1, budget, fields)
                })
            }
        }
    })
}

/// Checks what an introspection field selects, fragments inlined: at most
/// [`MAX_INTROSPECTION_LISTS`] lists nested (`lists` so far), and all the introspection
/// of the request within `budget` selections (which also ends fragment cycles).
fn within_introspection_bounds(
    set: &SelectionSet,
    fragments: &HashMap<Name, Positioned<FragmentDefinition>>,
    lists: usize,
    budget: &mut usize,
) -> Result<(), String> {
    for item in &set.items {
        *budget = budget.checked_sub(1).ok_or_else(|| {
            format!("introspection selects more than {MAX_INTROSPECTION_SELECTIONS} fields (fragments inlined)")
        })?;
        match &item.node {
            Selection::Field(field) => {
                let is_list = INTROSPECTION_LISTS.contains(&field.node.name.node.as_str());
                let lists = lists + usize::from(is_list);
                if lists >= MAX_INTROSPECTION_LISTS {
                    return Err(format!(
                        "introspection nests {lists} of {} in one another (at most {})",
                        INTROSPECTION_LISTS.join(", "),
                        MAX_INTROSPECTION_LISTS - 1
                    ));
                }
                within_introspection_bounds(&field.node.selection_set.node, fragments, lists, budget)?;
            }
            Selection::InlineFragment(fragment) => {
                within_introspection_bounds(&fragment.node.selection_set.node, fragments, lists, budget)?;
            }
            Selection::FragmentSpread(spread) => {
                if let Some(fragment) = fragments.get(&spread.node.fragment_name.node) {
                    within_introspection_bounds(&fragment.node.selection_set.node, fragments, lists, budget)?;
                }
            }
        }
    }
    Ok(())
}

/// The document without its introspection fields, wherever they appear: what the depth
/// and complexity limits measure in a request that introspects.
pub fn without_introspection(document: &ExecutableDocument) -> ExecutableDocument {
    fn strip(set: &mut SelectionSet) {
        set.items.retain(|item| match &item.node {
            Selection::Field(field) => !INTROSPECTION_FIELDS.contains(&field.node.name.node.as_str()),
            _ => true,
        });
        for item in &mut set.items {
            match &mut item.node {
                Selection::Field(field) => strip(&mut field.node.selection_set.node),
                Selection::InlineFragment(fragment) => strip(&mut fragment.node.selection_set.node),
                Selection::FragmentSpread(_) => {}
            }
        }
    }
    let mut document = document.clone();
    match &mut document.operations {
        DocumentOperations::Single(operation) => strip(&mut operation.node.selection_set.node),
        DocumentOperations::Multiple(operations) => {
            operations.values_mut().for_each(|operation| strip(&mut operation.node.selection_set.node));
        }
    }
    for fragment in document.fragments.values_mut() {
        strip(&mut fragment.node.selection_set.node);
    }
    document
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
                let seconds = vigie_domain::platform::error::retry_after_secs(retry_after);
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
