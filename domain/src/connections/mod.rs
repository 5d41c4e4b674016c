//! Connections: an agency's credentials on a network, which sources poll with and
//! replies are sent with: Bluesky accounts signed in with an app password (so that
//! search keeps working where the public AppView refuses anonymous callers), accounts
//! authorised through OAuth 2 ([`oauth`]: YouTube, Reddit, X, Google Business Profile
//! with PKCE; Facebook Pages and Instagram accounts through Facebook Login; LinkedIn
//! organisations), API keys (Trustpilot) and access tokens (Mastodon).
//!
//! Credentials and tokens are sealed by the vault ([`crate::platform::vault`]) and bound
//! to their row; the API never returns them, only the account, scopes, expiry and
//! health. Managers (owners and admins) alone see and change connections. A credential
//! the network refuses marks the connection unhealthy and writes a
//! `connection.unhealthy` event, once, until it is reconnected; Vigie then stops
//! presenting it, so a revoked password is not retried into an account lock-out.

pub mod bluesky;
mod credential;
pub mod google;
pub mod linkedin;
pub mod mastodon;
pub mod meta;
pub mod oauth;
pub mod reddit;
pub mod trustpilot;
pub mod x;
pub mod youtube;

pub use credential::{Credential, CredentialError};

use chrono::Duration as ChronoDuration;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

use crate::entities::{StringList, connection, source};
use crate::platform::jobs::Registry;
use crate::platform::pagination::{self, Page, PageRequest};
use crate::platform::queue::{Envelope, JobPayload};
use crate::platform::vault::{Vault, VaultError};
use crate::{Actor, Error, Network, Result, Services, new_id, now, platform::audit};
use bluesky::SessionError;

/// The kinds of credentials.
pub const APP_PASSWORD: &str = "app_password";
pub const API_KEY: &str = "api_key";
/// An access token the account made on its own server (Mastodon), presented as a
/// bearer token and never renewed.
pub const ACCESS_TOKEN: &str = "access_token";
/// Connections an agency may hold.
pub const MAX_PER_AGENCY: u64 = 200;
/// An access token this close to its expiry is renewed before use.
pub(crate) const RENEW_BEFORE: ChronoDuration = ChronoDuration::minutes(2);
/// How often the worker looks for secrets sealed under a previous key.
const RESEAL_EVERY: Duration = Duration::from_secs(600);
/// Secrets sealed again per run.
const RESEAL_BATCH: u64 = 500;

/// What the vault keeps for a connection. Never logged: no `Debug`.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Secret {
    AppPassword {
        identifier: String,
        password: String,
        access_jwt: Option<String>,
        refresh_jwt: Option<String>,
    },
    /// OAuth 2 tokens ([`oauth`]).
    #[serde(rename = "oauth2")]
    OAuth {
        access_token: String,
        refresh_token: Option<String>,
    },
    /// A key an API takes as it is (Trustpilot).
    ApiKey {
        key: String,
    },
}

impl Secret {
    /// The access token to present, if there is one.
    fn access_token(&self) -> Option<&str> {
        match self {
            Secret::AppPassword { access_jwt, .. } => access_jwt.as_deref(),
            Secret::OAuth { access_token, .. } => Some(access_token),
            Secret::ApiKey { key } => Some(key),
        }
    }
}

/// What a connection's secret is bound to: its purpose, its row and its agency, so
/// that a sealed value moved to another row or agency does not open.
fn bound_to(id: Uuid, agency: Uuid) -> Vec<u8> {
    [b"vigie.connection.secret:".as_slice(), id.as_bytes(), agency.as_bytes()].concat()
}

fn seal(vault: &Vault, id: Uuid, agency: Uuid, secret: &Secret) -> Result<(String, String)> {
    let plain = serde_json::to_vec(secret).map_err(|e| Error::internal_from("serialising a secret", e))?;
    let sealed = vault.seal(&bound_to(id, agency), &plain).map_err(|e| Error::internal_from("sealing a secret", e))?;
    let key_id = Vault::key_id_of(&sealed).unwrap_or_default().to_owned();
    Ok((sealed, key_id))
}

fn open(vault: &Vault, row: &connection::Model) -> std::result::Result<Secret, VaultError> {
    let plain = vault.open(&bound_to(row.id, row.agency_id), &row.secret)?;
    serde_json::from_slice(&plain).map_err(|_| VaultError::Corrupt)
}

/// The brand a new connection is for, if the caller sees it (none: the whole agency).
pub(crate) async fn brand_of(services: &Services, actor: &Actor, brand_id: Option<Uuid>) -> Result<Option<Uuid>> {
    match brand_id {
        Some(id) => Ok(Some(actor.brand(&services.db, id).await?.id)),
        None => Ok(None),
    }
}

/// GETs `url` with a fresh access token, outside any connection (whose account it is).
pub(crate) async fn get_as(
    http: &crate::platform::outbound::Http,
    url: &str,
    access_token: &str,
) -> std::result::Result<crate::platform::outbound::Fetched, String> {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::AUTHORIZATION, bluesky::bearer(access_token)?);
    http.get(url, headers).await.map_err(|e| e.to_string())
}

fn require_vault(services: &Services) -> Result<&Vault> {
    let vault = &services.config.vault;
    if vault.is_configured() {
        Ok(vault)
    } else {
        Err(Error::Unavailable("connections need a secrets key: the operator sets VIGIE_SECRETS_KEY".into()))
    }
}

/// The agency's connections.
fn scoped(actor: &Actor) -> sea_orm::Select<connection::Entity> {
    connection::Entity::find().filter(connection::Column::AgencyId.eq(actor.agency_id))
}

/// A connection of the caller's agency (managers).
pub async fn get(db: &impl ConnectionTrait, actor: &Actor, id: Uuid) -> Result<connection::Model> {
    actor.require_manager()?;
    scoped(actor).filter(connection::Column::Id.eq(id)).one(db).await?.ok_or(Error::NotFound("connection"))
}

/// The agency's connections, oldest first, optionally those a brand may use (its own
/// and the agency-wide ones).
pub async fn list(
    services: &Services,
    actor: &Actor,
    brand_id: Option<Uuid>,
    page: PageRequest,
) -> Result<Page<connection::Model>> {
    actor.require_manager()?;
    let mut select = scoped(actor);
    if let Some(brand) = brand_id {
        let brand = actor.check_brand(&services.db, brand).await?;
        select = select.filter(
            sea_orm::Condition::any()
                .add(connection::Column::BrandId.eq(brand))
                .add(connection::Column::BrandId.is_null()),
        );
    }
    pagination::fetch(&services.db, select, connection::Column::Id, pagination::Direction::Ascending, page).await
}

/// A Bluesky account to connect with an app password.
pub struct NewBlueskyConnection {
    /// The brand whose account it is; none: any brand of the agency may use it.
    pub brand_id: Option<Uuid>,
    /// Handle, DID or email.
    pub identifier: String,
    pub app_password: String,
    /// The PDS or entryway; default [`bluesky::DEFAULT_ENDPOINT`].
    pub endpoint: Option<String>,
}

fn check_endpoint(raw: Option<&str>) -> Result<String> {
    let raw = raw.map(str::trim).filter(|e| !e.is_empty()).unwrap_or(bluesky::DEFAULT_ENDPOINT);
    let url = url::Url::parse(raw).map_err(|_| Error::bad_input("endpoint", "must be an http(s) URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() || !url.username().is_empty() {
        return Err(Error::bad_input("endpoint", "must be an http(s) URL without credentials"));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// Signs in with an app password to check it, as a manager asked: a refused one is an
/// input error on `appPassword`.
async fn sign_in(services: &Services, endpoint: &str, identifier: &str, password: &str) -> Result<bluesky::Session> {
    if password.is_empty() || password.len() > 256 {
        return Err(Error::bad_input("appPassword", "an app password of 1 to 256 characters"));
    }
    services.http.check_public(endpoint).await.map_err(|e| Error::bad_input("endpoint", e.to_string()))?;
    bluesky::create_session(&services.http, endpoint, identifier, password).await.map_err(|e| match e {
        SessionError::Refused(_) => Error::bad_input("appPassword", "Bluesky refused this identifier and app password"),
        SessionError::RateLimited { retry_after } => {
            Error::RateLimited { retry_after: retry_after.unwrap_or(Duration::from_secs(300)) }
        }
        other => Error::bad_input("endpoint", format!("could not sign in on this endpoint: {other}")),
    })
}

/// Signs in on Bluesky with an app password and keeps the connection (managers). The
/// password is checked at once: a refused one is an input error, and nothing is kept.
pub async fn connect_bluesky(
    services: &Services,
    actor: &Actor,
    input: NewBlueskyConnection,
) -> Result<connection::Model> {
    actor.require_manager()?;
    let vault = require_vault(services)?;
    let brand_id = brand_of(services, actor, input.brand_id).await?;
    let identifier = input.identifier.trim().trim_start_matches('@').to_owned();
    if identifier.is_empty() || identifier.chars().count() > 253 {
        return Err(Error::bad_input("identifier", "a handle, DID or email of 1 to 253 characters"));
    }
    let endpoint = check_endpoint(input.endpoint.as_deref())?;
    let session = sign_in(services, &endpoint, &identifier, &input.app_password).await?;
    let id = new_id();
    let expires_at = bluesky::expiry(&session.access_jwt);
    let secret = Secret::AppPassword {
        identifier,
        password: input.app_password,
        access_jwt: Some(session.access_jwt),
        refresh_jwt: Some(session.refresh_jwt),
    };
    let account = Account {
        network: Network::Bluesky,
        kind: APP_PASSWORD,
        name: session.handle.to_lowercase(),
        id: session.did,
        endpoint,
        scopes: Vec::new(),
        expires_at,
    };
    let txn = crate::platform::db::begin_write(&services.db).await?;
    crate::agencies::lock(&txn, actor.agency_id).await?;
    let created = insert(&txn, vault, actor, id, brand_id, account, &secret, "identifier").await?;
    txn.commit().await?;
    tracing::info!(connection_id = %created.id, network = %created.network, "connection created");
    Ok(created)
}

/// An API key or access token to connect.
pub struct NewApiKeyConnection {
    /// The brand it serves; none: any brand of the agency may use it.
    pub brand_id: Option<Uuid>,
    pub network: Network,
    pub api_key: String,
    /// The server the key belongs to (a Mastodon instance); none for Trustpilot.
    pub endpoint: Option<String>,
}

/// Checks an API key with its network (a refused one is an input error on `apiKey`)
/// and names it: its last characters, and a fingerprint that tells keys apart without
/// showing them.
async fn checked_key(services: &Services, endpoint: &str, raw: &str) -> Result<(String, String, String)> {
    let key = check_token_shape(raw)?;
    trustpilot::check_key(&services.http, endpoint, &key).await.map_err(|e| match e {
        trustpilot::KeyError::Refused => Error::bad_input("apiKey", "Trustpilot refused this API key"),
        trustpilot::KeyError::RateLimited { retry_after } => {
            Error::RateLimited { retry_after: retry_after.unwrap_or(Duration::from_secs(60)) }
        }
        trustpilot::KeyError::Failed(why) => Error::Unavailable(format!("Trustpilot could not be reached: {why}")),
    })?;
    let tail: String = key.chars().skip(key.chars().count().saturating_sub(4)).collect();
    let fingerprint = format!("key:{}", &crate::sha256_hex(&key)[..16]);
    Ok((key, format!("API key …{tail}"), fingerprint))
}

/// Keeps an API key as a connection (managers), checked with the network first: a
/// refused key is an input error, and nothing is kept. Trustpilot takes one.
pub async fn connect_api_key(
    services: &Services,
    actor: &Actor,
    input: NewApiKeyConnection,
) -> Result<connection::Model> {
    actor.require_manager()?;
    let vault = require_vault(services)?;
    let brand_id = brand_of(services, actor, input.brand_id).await?;
    match input.network {
        Network::Trustpilot if input.endpoint.is_some() => {
            return Err(Error::bad_input("endpoint", "Trustpilot keys call the configured Trustpilot API"));
        }
        Network::Trustpilot => {}
        Network::Mastodon => return connect_access_token(services, vault, actor, brand_id, input).await,
        _ => return Err(Error::bad_input("network", "API keys serve Trustpilot, access tokens Mastodon")),
    }
    let endpoint = services.config.trustpilot_api_url.as_str().trim_end_matches('/').to_owned();
    let (key, name, fingerprint) = checked_key(services, &endpoint, &input.api_key).await?;
    let account = Account {
        network: input.network,
        kind: API_KEY,
        name,
        id: fingerprint,
        endpoint,
        scopes: Vec::new(),
        expires_at: None,
    };
    let secret = Secret::ApiKey { key };
    let txn = crate::platform::db::begin_write(&services.db).await?;
    crate::agencies::lock(&txn, actor.agency_id).await?;
    let created = insert(&txn, vault, actor, new_id(), brand_id, account, &secret, "apiKey").await?;
    txn.commit().await?;
    tracing::info!(connection_id = %created.id, network = %created.network, "connection created");
    Ok(created)
}

/// A token's shape: visible ASCII, at most 256 characters.
fn check_token_shape(raw: &str) -> Result<String> {
    let token = raw.trim().to_owned();
    if token.is_empty() || token.len() > 256 || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::bad_input("apiKey", "a key or token of 1 to 256 visible ASCII characters"));
    }
    Ok(token)
}

/// Checks a Mastodon access token on its instance: the account it opens (`user@host`)
/// and its id; a refused one is an input error on `apiKey`.
async fn checked_access_token(services: &Services, endpoint: &str, raw: &str) -> Result<(String, String, String)> {
    let token = check_token_shape(raw)?;
    services.http.check_public(endpoint).await.map_err(|e| Error::bad_input("endpoint", e.to_string()))?;
    let (id, name) = mastodon::whoami(&services.http, endpoint, &token).await.map_err(|e| match e {
        mastodon::TokenCheck::Refused => Error::bad_input("apiKey", "the instance refused this access token"),
        mastodon::TokenCheck::RateLimited(wait) => {
            Error::RateLimited { retry_after: wait.unwrap_or(Duration::from_secs(300)) }
        }
        mastodon::TokenCheck::Failed(why) => Error::bad_input("endpoint", format!("could not check the token: {why}")),
    })?;
    Ok((token, id, name))
}

/// Keeps a Mastodon access token (managers): replies to Mastodon posts go out as its
/// account.
async fn connect_access_token(
    services: &Services,
    vault: &Vault,
    actor: &Actor,
    brand_id: Option<Uuid>,
    input: NewApiKeyConnection,
) -> Result<connection::Model> {
    let raw = input.endpoint.as_deref().map(str::trim).filter(|e| !e.is_empty());
    let raw = raw.ok_or_else(|| Error::bad_input("endpoint", "the account's instance (https://…)"))?;
    let endpoint = check_endpoint(Some(raw))?;
    let parsed = url::Url::parse(&endpoint).map_err(|_| Error::bad_input("endpoint", "an https URL"))?;
    let https = parsed.scheme() == "https" || services.config.allow_private_webhooks;
    if !https || parsed.query().is_some() || parsed.fragment().is_some() || parsed.path() != "/" {
        return Err(Error::bad_input("endpoint", "the instance's https URL, without a path: https://mastodon.social"));
    }
    let (token, id, name) = checked_access_token(services, &endpoint, &input.api_key).await?;
    let account = Account {
        network: Network::Mastodon,
        kind: ACCESS_TOKEN,
        name,
        id,
        endpoint,
        scopes: Vec::new(),
        expires_at: None,
    };
    let secret = Secret::OAuth { access_token: token, refresh_token: None };
    let txn = crate::platform::db::begin_write(&services.db).await?;
    crate::agencies::lock(&txn, actor.agency_id).await?;
    let created = insert(&txn, vault, actor, new_id(), brand_id, account, &secret, "apiKey").await?;
    txn.commit().await?;
    tracing::info!(connection_id = %created.id, network = %created.network, "connection created");
    Ok(created)
}

/// Gives an API-key connection a new key (after the old one was revoked), checked at
/// once; it is healthy again, and its sources keep it.
pub async fn reconnect_api_key(
    services: &Services,
    actor: &Actor,
    id: Uuid,
    api_key: String,
) -> Result<connection::Model> {
    let existing = get(&services.db, actor, id).await?;
    let vault = require_vault(services)?;
    if existing.kind == ACCESS_TOKEN {
        let (token, account_id, name) = checked_access_token(services, &existing.endpoint, &api_key).await?;
        if existing.account_id.as_deref() != Some(account_id.as_str()) {
            return Err(Error::bad_input("apiKey", "this token opens another account"));
        }
        let secret = Secret::OAuth { access_token: token, refresh_token: None };
        let (sealed, key_id) = seal(vault, existing.id, existing.agency_id, &secret)?;
        let at = now();
        let update = reconnection(existing.id, sealed, key_id, name, None, at);
        return store_reconnection(services, actor, &existing, update, at).await;
    }
    if existing.kind != API_KEY {
        return Err(Error::bad_input("id", "only API-key and access-token connections take a new key"));
    }
    let (key, name, fingerprint) = checked_key(services, &existing.endpoint, &api_key).await?;
    let (sealed, key_id) = seal(vault, existing.id, existing.agency_id, &Secret::ApiKey { key })?;
    let at = now();
    let update = reconnection(existing.id, sealed, key_id, name, None, at)
        .col_expr(connection::Column::AccountId, Expr::value(fingerprint));
    store_reconnection(services, actor, &existing, update, at).await
}

/// Stores a manager's reconnection of `existing` (`update`, from [`reconnection`]),
/// conditional on the version read, as every change to the secret: a renewal stored
/// meanwhile would otherwise keep its version and be taken for newer.
async fn store_reconnection(
    services: &Services,
    actor: &Actor,
    existing: &connection::Model,
    update: sea_orm::UpdateMany<connection::Entity>,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<connection::Model> {
    let txn = crate::platform::db::begin_write(&services.db).await?;
    let won = update
        .col_expr(connection::Column::Version, Expr::value(existing.version + 1))
        .filter(connection::Column::Version.eq(existing.version))
        .exec(&txn)
        .await?;
    if won.rows_affected == 0 {
        return Err(Error::Conflict("the connection changed meanwhile: try again".into()));
    }
    reconnected(&txn, actor, existing.id, at).await?;
    txn.commit().await?;
    get(&services.db, actor, existing.id).await
}

/// What a new connection opens.
struct Account {
    pub network: Network,
    pub kind: &'static str,
    /// Its name on the network (a handle).
    pub name: String,
    /// Its stable id (a DID, a channel id).
    pub id: String,
    pub endpoint: String,
    pub scopes: Vec<String>,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Inserts a connection `id` for `account`, its secret sealed, within the agency's
/// limit (an input error on `field`), and audits it. The caller holds the agency's
/// lock in `txn`.
#[allow(clippy::too_many_arguments)]
async fn insert(
    txn: &sea_orm::DatabaseTransaction,
    vault: &Vault,
    actor: &Actor,
    id: Uuid,
    brand_id: Option<Uuid>,
    account: Account,
    secret: &Secret,
    field: &str,
) -> Result<connection::Model> {
    use sea_orm::PaginatorTrait;
    if scoped(actor).count(txn).await? >= MAX_PER_AGENCY {
        return Err(Error::bad_input(field, format!("an agency has at most {MAX_PER_AGENCY} connections")));
    }
    let (sealed, key_id) = seal(vault, id, actor.agency_id, secret)?;
    let at = now();
    let created = connection::ActiveModel {
        id: Set(id),
        agency_id: Set(actor.agency_id),
        brand_id: Set(brand_id),
        network: Set(account.network.name()),
        kind: Set(account.kind.into()),
        account: Set(account.name.chars().take(253).collect()),
        account_id: Set(Some(account.id.chars().take(255).collect())),
        endpoint: Set(account.endpoint),
        scopes: Set(StringList(account.scopes)),
        secret: Set(sealed),
        key_id: Set(key_id),
        version: Set(0),
        expires_at: Set(account.expires_at),
        healthy: Set(true),
        consecutive_failures: Set(0),
        last_success_at: Set(Some(at)),
        last_error: Set(None),
        sign_in_after: Set(None),
        quota_remaining: Set(None),
        quota_resets_at: Set(None),
        created_at: Set(at),
        updated_at: Set(at),
    }
    .insert(txn)
    .await?;
    audit::record(
        txn,
        actor,
        "connection.created",
        "connection",
        Some(created.id),
        serde_json::json!({ "network": created.network, "account": created.account, "brandId": created.brand_id }),
    )
    .await?;
    Ok(created)
}

/// Gives a Bluesky connection a new app password (after a revocation), signing in at
/// once; it is healthy again if the password is accepted.
pub async fn reconnect_bluesky(
    services: &Services,
    actor: &Actor,
    id: Uuid,
    app_password: String,
) -> Result<connection::Model> {
    let existing = get(&services.db, actor, id).await?;
    let vault = require_vault(services)?;
    if existing.kind != APP_PASSWORD {
        return Err(Error::bad_input("id", "only app-password connections take a new password"));
    }
    // The account signs in by its DID, so a changed handle does not break it.
    let identifier = existing.account_id.clone().unwrap_or_else(|| existing.account.clone());
    let session = sign_in(services, &existing.endpoint, &identifier, &app_password).await?;
    if existing.account_id.as_deref().is_some_and(|did| did != session.did) {
        return Err(Error::bad_input("appPassword", "this app password opens another account"));
    }
    let access = session.access_jwt.clone();
    let secret = Secret::AppPassword {
        identifier,
        password: app_password,
        access_jwt: Some(session.access_jwt),
        refresh_jwt: Some(session.refresh_jwt),
    };
    let (sealed, key_id) = seal(vault, existing.id, existing.agency_id, &secret)?;
    let at = now();
    let account = session.handle.to_lowercase();
    let update = reconnection(existing.id, sealed, key_id, account, bluesky::expiry(&access), at);
    store_reconnection(services, actor, &existing, update, at).await
}

/// The update that gives connection `id` a new secret its network accepted (a
/// reconnection): healthy again, its failures and back-off forgotten. The caller adds
/// the version, and what else changed.
fn reconnection(
    id: Uuid,
    sealed: String,
    key_id: String,
    account: String,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
    at: chrono::DateTime<chrono::Utc>,
) -> sea_orm::UpdateMany<connection::Entity> {
    connection::Entity::update_many()
        .col_expr(connection::Column::Secret, Expr::value(sealed))
        .col_expr(connection::Column::KeyId, Expr::value(key_id))
        .col_expr(connection::Column::Account, Expr::value(account.chars().take(253).collect::<String>()))
        .col_expr(connection::Column::ExpiresAt, Expr::value(expires_at))
        .col_expr(connection::Column::Healthy, Expr::value(true))
        .col_expr(connection::Column::ConsecutiveFailures, Expr::value(0))
        .col_expr(connection::Column::LastError, Expr::value(Option::<String>::None))
        .col_expr(connection::Column::SignInAfter, Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None))
        .col_expr(connection::Column::LastSuccessAt, Expr::value(at))
        .col_expr(connection::Column::UpdatedAt, Expr::value(at))
        .filter(connection::Column::Id.eq(id))
}

/// After a reconnection: its sources, which skipped their polls while it was refused,
/// poll again now; and it is audited.
async fn reconnected(
    txn: &sea_orm::DatabaseTransaction,
    actor: &Actor,
    id: Uuid,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    source::Entity::update_many()
        .col_expr(source::Column::NextPollAt, Expr::value(at))
        .filter(source::Column::ConnectionId.eq(id))
        .filter(source::Column::Enabled.eq(true))
        .exec(txn)
        .await?;
    audit::record(txn, actor, "connection.reconnected", "connection", Some(id), serde_json::json!({})).await
}

/// Deletes a connection; its sources poll anonymously from then on. An OAuth grant is
/// revoked at the network too (best effort), so that no token outlives it.
pub async fn delete(services: &Services, actor: &Actor, id: Uuid) -> Result<()> {
    let existing = get(&services.db, actor, id).await?;
    if existing.kind == oauth::OAUTH2
        && let Some(network) = Network::parse(&existing.network)
        && let Ok(Secret::OAuth { access_token, refresh_token }) = open(&services.config.vault, &existing)
    {
        let account = existing.account_id.as_deref().unwrap_or_default();
        let token = refresh_token.as_deref().unwrap_or(&access_token);
        oauth::revoke(services, network, account, Some(existing.id), token).await;
    }
    let txn = crate::platform::db::begin_write(&services.db).await?;
    connection::Entity::delete_by_id(existing.id).exec(&txn).await?;
    audit::record(
        &txn,
        actor,
        "connection.deleted",
        "connection",
        Some(id),
        serde_json::json!({ "network": existing.network, "account": existing.account }),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// A reply published on a network: its id there and its link.
pub struct Published {
    pub id: String,
    pub url: String,
}

/// Why a post could not be published.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The network refused it for good (a deleted parent, a blocked account, a refused
    /// credential, an invalid record, comments turned off): retrying will not help.
    #[error("the network refused the reply: {0}")]
    Refused(String),
    /// Worth trying again later (the network, a 5xx, a rate limit), not before
    /// `retry_after` when the network said.
    #[error("{reason}")]
    Transient { reason: String, retry_after: Option<Duration> },
}

impl PublishError {
    pub(crate) fn transient(reason: impl Into<String>) -> Self {
        PublishError::Transient { reason: reason.into(), retry_after: None }
    }
}

impl From<CredentialError> for PublishError {
    fn from(e: CredentialError) -> Self {
        match e {
            CredentialError::Refused(_) => PublishError::Refused(e.to_string()),
            CredentialError::RateLimited { retry_after } => {
                PublishError::Transient { reason: e.to_string(), retry_after }
            }
            other => PublishError::transient(other.to_string()),
        }
    }
}

/// Whether a connection may serve a brand's sources: the brand's own, or agency-wide.
pub(crate) fn serves(connection: &connection::Model, brand_id: Uuid) -> bool {
    connection.brand_id.is_none_or(|own| own == brand_id)
}

/// Checks that a source of `brand_id` on `network` may poll with connection `id`: the
/// agency's, on the same network, and the brand's own or agency-wide.
pub(crate) async fn usable_by(
    db: &impl ConnectionTrait,
    actor: &Actor,
    id: Uuid,
    brand_id: Uuid,
    network: Network,
) -> Result<Uuid> {
    let found =
        scoped(actor).filter(connection::Column::Id.eq(id)).one(db).await?.ok_or(Error::NotFound("connection"))?;
    if found.network != network.name() {
        return Err(Error::bad_input(
            "connectionId",
            format!("the connection is on {}, not {}", found.network, network.name()),
        ));
    }
    if !serves(&found, brand_id) {
        return Err(Error::bad_input("connectionId", "the connection belongs to another brand"));
    }
    Ok(found.id)
}

/// Seals again, under the current key, the secrets sealed under a previous one.
#[derive(Debug, Serialize, Deserialize)]
pub struct ResealSecrets {}

impl JobPayload for ResealSecrets {
    const KIND: &'static str = "connections.reseal";
}

/// Deletes expired OAuth authorisations, revoking what they hold ([`oauth::sweep`]).
#[derive(Debug, Serialize, Deserialize)]
pub struct SweepAuthorisations {}

impl JobPayload for SweepAuthorisations {
    const KIND: &'static str = "oauth.sweep";
}

/// How often expired authorisations are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(300);

/// Registers the re-sealing job, run every ten minutes, and the authorisations' sweep.
pub(crate) fn register_jobs(registry: &mut Registry) {
    registry.register(|services: Arc<Services>, _meta, _job: ResealSecrets| async move {
        reseal(&services).await?;
        Ok(())
    });
    registry.schedule(ResealSecrets::KIND, RESEAL_EVERY, |_slot| Envelope::new(None, &ResealSecrets {}));
    registry.register(|services: Arc<Services>, _meta, _job: SweepAuthorisations| async move {
        oauth::sweep(&services).await?;
        Ok(())
    });
    registry.schedule(SweepAuthorisations::KIND, SWEEP_EVERY, |_slot| Envelope::new(None, &SweepAuthorisations {}));
}

/// What a re-sealing run did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Resealed {
    pub resealed: usize,
    /// Sealed under a key that is not configured: they cannot be used until it is.
    pub unreadable: usize,
}

/// Seals again, under the current key, every secret sealed under another, by batches
/// of [`RESEAL_BATCH`]; a secret changed meanwhile (a renewal) is left to that change,
/// which sealed it under the current key already.
pub async fn reseal(services: &Services) -> Result<Resealed> {
    let vault = &services.config.vault;
    let Some(current) = vault.current_key_id() else { return Ok(Resealed::default()) };
    let mut done = Resealed::default();
    let mut after = Uuid::nil();
    loop {
        let stale = connection::Entity::find()
            .filter(connection::Column::KeyId.ne(current))
            .filter(connection::Column::Id.gt(after))
            .order_by_asc(connection::Column::Id)
            .limit(RESEAL_BATCH)
            .all(&services.db)
            .await?;
        let Some(last) = stale.last() else { break };
        after = last.id;
        for row in stale {
            let secret = match open(vault, &row) {
                Ok(secret) => secret,
                Err(e) => {
                    done.unreadable += 1;
                    tracing::error!(connection_id = %row.id, error = %e, "a connection's secret cannot be opened with the configured keys");
                    continue;
                }
            };
            let (sealed, key_id) = seal(vault, row.id, row.agency_id, &secret)?;
            // The same secret sealed anew: its version stays, so a renewal racing it
            // still stores its tokens; it only applies if the secret is unchanged.
            let won = connection::Entity::update_many()
                .col_expr(connection::Column::Secret, Expr::value(sealed))
                .col_expr(connection::Column::KeyId, Expr::value(key_id))
                .filter(connection::Column::Id.eq(row.id))
                .filter(connection::Column::Secret.eq(row.secret.clone()))
                .exec(&services.db)
                .await?;
            done.resealed += won.rows_affected as usize;
        }
    }
    if done.resealed > 0 || done.unreadable > 0 {
        tracing::info!(resealed = done.resealed, unreadable = done.unreadable, "connection secrets sealed again");
    }
    Ok(done)
}
