//! What every feature stands on and that knows no feature: configuration, errors, the
//! database and its keyset pages, the job queue and its runtime, the bus, rate limits,
//! outbound HTTP, the mail outbox, the event outbox, identity and access (`auth`),
//! audit, text folding, translations, input rules, retention and the vault of secrets
//! kept encrypted. Nothing here names a feature module (`architecture.rs` tests it);
//! features reach each other through events or narrow functions, and `lib.rs` wires
//! them to the platform.

pub mod audit;
pub mod auth;
pub mod bus;
pub mod config;
pub mod db;
pub mod error;
pub mod events;
pub mod health;
pub mod i18n;
pub mod jobs;
pub mod mail;
pub mod network;
pub mod outbound;
pub mod pagination;
pub mod persisted_queries;
pub mod queue;
pub mod ratelimit;
pub mod redis_client;
pub mod retention;
pub mod runtime;
pub mod telemetry;
pub mod text;
pub mod validate;
pub mod vault;
