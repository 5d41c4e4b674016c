//! Error codes. Resolvers return domain errors with `?`; [`code_errors`] turns each into
//! a GraphQL error with a stable `extensions.code`, and replaces the message of server
//! faults with a generic one (the detail goes to the log with the request's trace).

use async_graphql::{Response, ServerError, Value};
use std::sync::Arc;
use vigie_domain::Error;

/// Code of errors raised before execution by the depth and complexity limits.
pub const QUERY_TOO_COMPLEX: &str = "QUERY_TOO_COMPLEX";

/// Every `extensions.code` the API sends, in the order of the table in
/// `docs/graphql.md` (a test holds the two together). Clients branch on these: a code
/// is added, never renamed or removed.
pub const CODES: [&str; 12] = [
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "NOT_FOUND",
    "BAD_USER_INPUT",
    "CONFLICT",
    "PAYLOAD_TOO_LARGE",
    QUERY_TOO_COMPLEX,
    "RATE_LIMITED",
    super::limits::TOO_MANY_OPERATIONS,
    super::documents::PERSISTED_QUERY_NOT_FOUND,
    "UNAVAILABLE",
    "INTERNAL_SERVER_ERROR",
];

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

/// The response to a request refused before it ran (it does not parse, or passes a
/// limit), with the refusal's code.
pub fn refused(error: ServerError) -> Response {
    code_errors(Response::from_errors(vec![error]))
}

/// A response whose request failed around its execution (the server stopping, a panic),
/// with the error coded as a resolver's would be.
pub fn failed(error: Error) -> Response {
    let mut server_error = ServerError::new(error.to_string(), None);
    server_error.source = Some(Arc::new(error));
    code_errors(Response::from_errors(vec![server_error]))
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
        let internal = domain.is_internal().then(|| domain.chain());
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

/// Whether an error is one of async-graphql's refusals for a limit (depth, complexity,
/// directives, recursion), by its exact wording: other errors may well mention these
/// words (a variable named `$recursion`).
pub fn is_limit_error(error: &ServerError) -> bool {
    is_limit(&error.message)
}

fn is_limit(message: &str) -> bool {
    message == "Query is too complex."
        || message == "Query is nested too deep."
        || message.starts_with("The recursion depth of the query cannot be greater than")
        || message.starts_with("The number of directives on the field")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(response: &Response) -> Option<String> {
        let extensions = response.errors.first()?.extensions.as_ref()?;
        match extensions.get("code")? {
            Value::String(code) => Some(code.clone()),
            _ => None,
        }
    }

    #[test]
    fn a_failed_request_carries_its_code_and_hides_internal_detail() {
        let stopping = failed(Error::Unavailable("the server is stopping".into()));
        assert_eq!(code(&stopping).as_deref(), Some("UNAVAILABLE"));
        assert_eq!(stopping.errors[0].message, "the server is stopping");
        assert!(stopping.errors[0].locations.is_empty());

        let panicked = failed(Error::internal("the request's work panicked"));
        assert_eq!(code(&panicked).as_deref(), Some("INTERNAL_SERVER_ERROR"));
        assert_eq!(panicked.errors[0].message, "internal server error");
    }

    /// One error of every kind the domain has: adding a kind fails to compile here until
    /// its code is listed.
    fn every_domain_error() -> Vec<Error> {
        let all = vec![
            Error::Unauthenticated(String::new()),
            Error::Forbidden(String::new()),
            Error::NotFound("x"),
            Error::bad_input("x", "y"),
            Error::Conflict(String::new()),
            Error::TooLarge(String::new()),
            Error::RateLimited { retry_after: std::time::Duration::ZERO },
            Error::Unavailable(String::new()),
            Error::Database(sea_orm::DbErr::Custom(String::new())),
            Error::internal(""),
        ];
        for error in &all {
            match error {
                Error::Unauthenticated(_)
                | Error::Forbidden(_)
                | Error::NotFound(_)
                | Error::BadInput { .. }
                | Error::Conflict(_)
                | Error::TooLarge(_)
                | Error::RateLimited { .. }
                | Error::Unavailable(_)
                | Error::Database(_)
                | Error::Internal { .. } => {}
            }
        }
        all
    }

    #[test]
    fn error_codes_are_stable_and_documented() {
        // Pinned: renaming or removing a code breaks every client that branches on it.
        let pinned = [
            "UNAUTHENTICATED",
            "FORBIDDEN",
            "NOT_FOUND",
            "BAD_USER_INPUT",
            "CONFLICT",
            "PAYLOAD_TOO_LARGE",
            "QUERY_TOO_COMPLEX",
            "RATE_LIMITED",
            "TOO_MANY_OPERATIONS",
            "PERSISTED_QUERY_NOT_FOUND",
            "UNAVAILABLE",
            "INTERNAL_SERVER_ERROR",
        ];
        assert_eq!(CODES, pinned);
        for error in every_domain_error() {
            assert!(CODES.contains(&error.code()), "{} is not in CODES", error.code());
        }

        let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/graphql.md");
        let docs = std::fs::read_to_string(docs).expect("docs/graphql.md");
        let table = docs
            .split("<!-- error-codes:start -->")
            .nth(1)
            .and_then(|rest| rest.split("<!-- error-codes:end -->").next());
        let documented: Vec<&str> = table
            .expect("the error-code table's markers")
            .lines()
            .filter_map(|line| line.strip_prefix("| `")?.split('`').next())
            .collect();
        assert_eq!(documented, CODES, "docs/graphql.md lists the codes of CODES, in order");
    }
}
