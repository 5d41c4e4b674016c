//! Vigie's domain: entities, services, configuration and errors, shared by the `api`
//! and `worker` crates (which never depend on each other).
//!
//! Services take an [`Actor`] (the authenticated caller) and scope every query by its
//! agency: a service cannot be called without saying whose data it touches.

pub mod accounts;
pub mod agencies;
pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod brands;
pub mod config;
pub mod db;
pub mod demo;
pub mod entities;
pub mod error;
pub mod health;
pub mod mail;
pub mod members;
pub mod network;
pub mod pagination;
pub mod runtime;
pub mod validate;

use std::sync::Arc;

pub use auth::{Actor, Role};
pub use config::Config;
pub use error::{Error, Result};
pub use network::Network;

/// The shared handles every service needs, built once at start-up.
#[derive(Clone)]
pub struct Services {
    pub db: sea_orm::DatabaseConnection,
    pub config: Arc<Config>,
    pub tokens: auth::tokens::TokenKeys,
    pub mailer: mail::Mailer,
}

impl Services {
    /// Connects to the database, applies pending migrations and prepares the mailer.
    pub async fn start(config: Arc<Config>) -> Result<Self> {
        let db = db::connect(&config.database_url).await?;
        db::migrate(&db).await?;
        Self::with_db(config, db)
    }

    /// Builds the services over an already migrated connection.
    pub fn with_db(config: Arc<Config>, db: sea_orm::DatabaseConnection) -> Result<Self> {
        let tokens = auth::tokens::TokenKeys::new(&config.jwt_secret, config.access_token_ttl);
        let mailer = mail::Mailer::new(&config)?;
        Ok(Services { db, config, tokens, mailer })
    }
}

/// A new time-ordered identifier (UUIDv7): ids sort by creation, which keyset
/// pagination relies on.
pub fn new_id() -> uuid::Uuid {
    uuid::Uuid::now_v7()
}

/// The current time, truncated to microseconds so that values read back from either
/// database compare equal to what was written.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::{SubsecRound, Utc};
    Utc::now().trunc_subsecs(6)
}
