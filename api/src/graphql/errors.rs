//! Error codes. Resolvers return domain errors with `?`; [`code_errors`] turns each into
//! a GraphQL error with a stable `extensions.code`, and replaces the message of server
//! faults with a generic one (the detail goes to the log with the request's trace).

use async_graphql::{Response, ServerError, Value};
use std::sync::Arc;
use vigie_domain::Error;

/// Code of errors raised before execution by the depth and complexity limits.
pub const QUERY_TOO_COMPLEX: &str = "QUERY_TOO_COMPLEX";

/// Gives every error of a finished response its code. The transports call it on each
/// response they send (see [`super::Gateway`]) rather than a schema extension doing
/// it: any extension puts every field of every query through async-graphql's
/// extension chain, and this needs only the finished response.
pub fn code_errors(mut response: Response) -> Response {
    for error in &mut response.errors {
        classify(error);
    }
    response
}

fn domain_error(error: &ServerError) -> Option<&Error> {
    error.source::<Error>().or_else(|| error.source::<Arc<Error>>().map(|e| e.as_ref()))
}

fn classify(error: &mut ServerError) {
    let already_coded = error.extensions.as_ref().is_some_and(|e| e.get("code").is_some());
    if already_coded {
        return;
    }
    let found = domain_error(error).map(|domain| {
        let field = match domain {
            Error::BadInput { field, .. } => Some(field.clone()),
            _ => None,
        };
        let internal = domain.is_internal().then(|| domain.to_string());
        (domain.code(), field, internal)
    });
    let code = match found {
        Some((code, field, internal)) => {
            if let Some(detail) = internal {
                tracing::error!(error = %detail, path = ?error.path, "internal error in a resolver");
                error.message = "internal server error".into();
            }
            if let Some(field) = field {
                error.extensions.get_or_insert_with(Default::default).set("field", Value::String(field));
            }
            code
        }
        // Errors without a domain source come from parsing, validation and input
        // coercion: all of them are the client's.
        None if is_limit(&error.message) => QUERY_TOO_COMPLEX,
        None => "BAD_USER_INPUT",
    };
    error.extensions.get_or_insert_with(Default::default).set("code", Value::String(code.into()));
}

fn is_limit(message: &str) -> bool {
    let lower = message.to_lowercase();
    lower.contains("nested too deep")
        || lower.contains("too complex")
        || lower.contains("too many directives")
        || lower.contains("recursion")
}
