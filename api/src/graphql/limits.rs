//! Cost limits, checked before a query runs: depth and complexity (async-graphql's own
//! checks, configured here), and the number of mutations in one request.
//!
//! Complexity counts fields, so a mutation selecting one scalar costs 2: a thousand
//! aliased `createBrand` would pass it while doing a thousand writes. Mutations are
//! therefore counted apart, aliases and fragments included.

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, FragmentDefinition, OperationType, Selection, SelectionSet};
use async_graphql::{Name, Positioned, ServerError, ServerResult, Value, Variables};
use std::collections::HashMap;
use std::sync::Arc;

use super::errors::QUERY_TOO_COMPLEX;

/// Deepest selection a query may have.
pub const MAX_DEPTH: usize = 12;
/// Highest cost a query may have; lists count `first` times their children.
pub const MAX_COMPLEXITY: usize = 2_000;
/// Most mutation fields one request may run.
pub const MAX_MUTATIONS: usize = 20;

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
                let mut error = ServerError::new(
                    format!(
                        "too many mutations in one request: {count} (at most {MAX_MUTATIONS}); send several requests"
                    ),
                    Some(operation.pos),
                );
                error
                    .extensions
                    .get_or_insert_with(Default::default)
                    .set("code", Value::String(QUERY_TOO_COMPLEX.into()));
                return Err(error);
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
