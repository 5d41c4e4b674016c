//! Test harness: a fresh database per test (a SQLite file, or a PostgreSQL database
//! created for the test and dropped after it) copied from one migrated once per test
//! process, the real services over it, and a real SMTP server on loopback.
//!
//! PostgreSQL and Redis must be running: tests fail (never skip) when they are not.
//! `VIGIE_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`) and
//! `VIGIE_TEST_REDIS_URL` (default `redis://127.0.0.1:6379`) point elsewhere.

mod app;
pub mod browser;
mod databases;
mod fixtures;
pub mod logs;
pub mod pg_server;
pub mod redis_server;
mod servers;
pub mod smtp;
mod waiting;
pub mod ws;

pub use app::*;
pub use databases::*;
pub use fixtures::*;
pub use servers::*;
pub use waiting::*;

/// Runs an async test body twice, as two tests named after their argument:
/// `twice!(body, sqlite => Backend::Sqlite, postgres => Backend::Postgres)`.
#[macro_export]
macro_rules! twice {
    ($name:ident, $a:ident => $arg_a:expr, $b:ident => $arg_b:expr) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $a() {
                super::$name($arg_a).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $b() {
                super::$name($arg_b).await
            }
        }
    };
}

/// Runs an async test body on both databases.
#[macro_export]
macro_rules! on_both_databases {
    ($name:ident) => {
        $crate::twice!($name, sqlite => vigie_tests::Backend::Sqlite, postgres => vigie_tests::Backend::Postgres);
    };
}

/// Runs an async test body in the embedded mode (`false`: SQLite, in-process queue,
/// bus and limiter) and in production (`true`: PostgreSQL and Redis).
#[macro_export]
macro_rules! in_both_modes {
    ($name:ident) => {
        $crate::twice!($name, embedded => false, production => true);
    };
}
