//! The domain's one error type.
//!
//! Variants split what a client may see (`Unauthenticated` … `Conflict`, with stable
//! codes) from what is only logged (`Database`, `Internal`): the API shows a generic
//! message for the latter so that no SQL or path leaks to a caller. Those keep their
//! cause as their `source()`; logs print the whole chain ([`chain`]).

use sea_orm::DbErr;

/// Everything a domain service can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No valid credentials were presented (missing, expired or forged token, bad password).
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller is known but its role does not allow the action.
    #[error("{0}")]
    Forbidden(String),
    /// The object does not exist *for this caller*: other tenants' objects are reported
    /// exactly like missing ones, so ids cannot be probed.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The input is invalid; `field` names the offending input field.
    #[error("{field}: {message}")]
    BadInput { field: String, message: String },
    /// The input clashes with existing state (a duplicate name or email).
    #[error("{0}")]
    Conflict(String),
    /// The request is larger than the server accepts (a body, a batch of items).
    #[error("{0}")]
    TooLarge(String),
    /// Too many requests from this tenant or address; retry after the given delay.
    #[error("too many requests: retry in {} s", retry_after_secs(*.retry_after))]
    RateLimited { retry_after: std::time::Duration },
    /// A dependency (the database) cannot be reached right now; the request may be
    /// retried as is. Shown with a generic message, logged.
    #[error("{0}")]
    Unavailable(String),
    /// A database failure; logged, never shown.
    #[error("database error")]
    Database(#[source] DbErr),
    /// Any other failure that is not the caller's fault; logged, never shown. `context`
    /// says what was being done, `source` (when there is one) why it failed.
    #[error("{context}")]
    Internal {
        context: String,
        #[source]
        source: Option<Cause>,
    },
}

/// The cause kept under an internal error.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error and its causes on one line (`a: b: c`), for logs. A cause whose text its
/// parent already printed (as many libraries' messages do) is not printed twice.
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let message = cause.to_string();
        if !text.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        source = cause.source();
    }
    text
}

impl Error {
    /// The stable machine-readable code sent to clients as `extensions.code`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Unauthenticated(_) => "UNAUTHENTICATED",
            Error::Forbidden(_) => "FORBIDDEN",
            Error::NotFound(_) => "NOT_FOUND",
            Error::BadInput { .. } => "BAD_USER_INPUT",
            Error::Conflict(_) => "CONFLICT",
            Error::TooLarge(_) => "PAYLOAD_TOO_LARGE",
            Error::RateLimited { .. } => "RATE_LIMITED",
            Error::Unavailable(_) => "UNAVAILABLE",
            Error::Database(_) | Error::Internal { .. } => "INTERNAL_SERVER_ERROR",
        }
    }

    /// Whether the error is the server's fault (to be logged, and hidden from clients).
    pub fn is_internal(&self) -> bool {
        matches!(self, Error::Database(_) | Error::Internal { .. })
    }

    /// An internal error with no cause beyond its context.
    pub fn internal(context: impl Into<String>) -> Self {
        Error::Internal { context: context.into(), source: None }
    }

    /// An internal error: what was being done, and the error that stopped it.
    pub fn internal_from(context: impl Into<String>, source: impl Into<Cause>) -> Self {
        Error::Internal { context: context.into(), source: Some(source.into()) }
    }

    /// This error and its causes on one line, for logs ([`chain`]).
    pub fn chain(&self) -> String {
        chain(self)
    }

    /// Shorthand for a [`Error::BadInput`].
    pub fn bad_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::BadInput { field: field.into(), message: message.into() }
    }

    /// Shorthand for a [`Error::Forbidden`].
    pub fn forbidden(message: impl Into<String>) -> Self {
        Error::Forbidden(message.into())
    }
}

impl From<DbErr> for Error {
    /// A unique-constraint violation is a conflict with existing data (two concurrent
    /// sign-ups with one email, say) — the client's, not the server's; the services check
    /// uniqueness first for a precise message, and this covers the race.
    ///
    /// PostgreSQL refuses NUL characters in text (SQLSTATE 22021) and in `jsonb` (22P05,
    /// "unsupported Unicode escape sequence"), which SQLite and JSON accept: that is bad
    /// input too, not a server fault.
    fn from(err: DbErr) -> Self {
        match err.sql_err() {
            Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
                Error::Conflict("this conflicts with an existing record (it may have just been created)".into())
            }
            _ if matches!(sqlstate(&err).as_deref(), Some("22021" | "22P05")) => {
                Error::bad_input("input", "text must not contain NUL (\\u0000) characters")
            }
            _ if is_outage(&err) => {
                tracing::warn!(error = %err, "the database is unavailable");
                Error::Unavailable("the database is unavailable; retry in a few seconds".into())
            }
            _ => Error::Database(err),
        }
    }
}

/// Whether the database could not be reached (down, restarting, pool starved), as
/// opposed to refusing a statement: the same request will work once it is back.
fn is_outage(err: &DbErr) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    if let Some(code) = sqlstate(err) {
        // 08: connection exception; 57P: the server is shutting down or starting.
        return code.starts_with("08") || code.starts_with("57P");
    }
    match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(sea_orm::RuntimeErr::SqlxError(e)) | DbErr::Query(sea_orm::RuntimeErr::SqlxError(e)) => {
            matches!(e.as_ref(), Sqlx::Io(_) | Sqlx::PoolTimedOut | Sqlx::PoolClosed | Sqlx::WorkerCrashed)
        }
        _ => false,
    }
}

/// The SQLSTATE of a database error, if the database gave one.
fn sqlstate(err: &DbErr) -> Option<String> {
    let runtime = match err {
        DbErr::Exec(e) | DbErr::Query(e) | DbErr::Conn(e) => e,
        _ => return None,
    };
    match runtime {
        sea_orm::RuntimeErr::SqlxError(sqlx) => sqlx.as_database_error()?.code().map(|c| c.into_owned()),
        _ => None,
    }
}

/// Whole seconds to announce in `Retry-After`: rounded up, so a client that waits
/// that long finds a token.
pub fn retry_after_secs(wait: std::time::Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

/// Result alias for domain services.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn internal_errors_keep_their_cause() {
        let io = std::io::Error::other("connection reset");
        let error = Error::internal_from("redis publish", io);
        assert_eq!(error.to_string(), "redis publish");
        assert_eq!(error.source().map(ToString::to_string).as_deref(), Some("connection reset"));
        assert_eq!(error.chain(), "redis publish: connection reset");
        assert!(error.is_internal() && Error::internal("no cause").source().is_none());

        let database = Error::Database(DbErr::Custom("relation \"brand\" does not exist".into()));
        assert_eq!(database.chain(), "database error: Custom Error: relation \"brand\" does not exist");

        // A cause already spelled out by its parent is not printed twice.
        #[derive(Debug, thiserror::Error)]
        #[error("query failed: {0}")]
        struct Wrapper(#[source] std::io::Error);
        let wrapped = Error::internal_from("scoring", Wrapper(std::io::Error::other("timeout")));
        assert_eq!(wrapped.chain(), "scoring: query failed: timeout");
    }
}
