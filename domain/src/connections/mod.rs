//! Connections: an agency's credentials on a network, which sources poll with (and, to
//! come, replies are sent with). Today: Bluesky accounts signed in with an app
//! password, so that search keeps working where the public AppView refuses anonymous
//! callers.
//!
//! Credentials and tokens are sealed by the vault ([`crate::platform::vault`]) and bound
//! to their row; the API never returns them, only the account, scopes, expiry and
//! health. Managers (owners and admins) alone see and change connections. A credential
//! the network refuses marks the connection unhealthy and writes a
//! `connection.unhealthy` event, once, until it is reconnected; Vigie then stops
//! presenting it, so a revoked password is not retried into an account lock-out.

pub mod bluesky;

use chrono::Duration as ChronoDuration;
use reqwest::header::HeaderMap;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::entities::{StringList, connection};
use crate::platform::jobs::Registry;
use crate::platform::pagination::{self, Page, PageRequest};
use crate::platform::queue::{Envelope, JobPayload};
use crate::platform::vault::{Vault, VaultError};
use crate::{Actor, Error, Network, Result, Services, new_id, now, platform::audit, platform::events};
use bluesky::SessionError;

/// The kinds of credentials.
pub const APP_PASSWORD: &str = "app_password";
/// Connections an agency may hold.
pub const MAX_PER_AGENCY: u64 = 200;
/// An access token this close to its expiry is renewed before use.
const RENEW_BEFORE: ChronoDuration = ChronoDuration::minutes(2);
/// How often the worker looks for secrets sealed under a previous key.
const RESEAL_EVERY: Duration = Duration::from_secs(600);
/// Secrets sealed again per run.
const RESEAL_BATCH: u64 = 500;

/// What the vault keeps for a connection. Never logged: no `Debug`.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Secret {
    AppPassword { identifier: String, password: String, access_jwt: Option<String>, refresh_jwt: Option<String> },
}

fn seal(vault: &Vault, id: Uuid, secret: &Secret) -> Result<(String, String)> {
    let plain = serde_json::to_vec(secret).map_err(|e| Error::internal_from("serialising a secret", e))?;
    let sealed = vault.seal(id.as_bytes(), &plain).map_err(|e| Error::internal_from("sealing a secret", e))?;
    let key_id = Vault::key_id_of(&sealed).unwrap_or_default().to_owned();
    Ok((sealed, key_id))
}

fn open(vault: &Vault, row: &connection::Model) -> std::result::Result<Secret, VaultError> {
    let plain = vault.open(row.id.as_bytes(), &row.secret)?;
    serde_json::from_slice(&plain).map_err(|_| VaultError::Corrupt)
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

/// What a refused or failed sign-in tells the caller.
fn sign_in_error(e: SessionError) -> Error {
    match e {
        SessionError::Refused(_) => Error::bad_input("appPassword", "Bluesky refused this identifier and app password"),
        SessionError::RateLimited { retry_after } => {
            Error::RateLimited { retry_after: retry_after.unwrap_or(Duration::from_secs(300)) }
        }
        other => Error::bad_input("endpoint", format!("could not sign in on this endpoint: {other}")),
    }
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
    let brand_id = match input.brand_id {
        Some(id) => Some(actor.brand(&services.db, id).await?.id),
        None => None,
    };
    let identifier = input.identifier.trim().trim_start_matches('@').to_owned();
    if identifier.is_empty() || identifier.chars().count() > 253 {
        return Err(Error::bad_input("identifier", "a handle, DID or email of 1 to 253 characters"));
    }
    if input.app_password.is_empty() || input.app_password.len() > 256 {
        return Err(Error::bad_input("appPassword", "an app password of 1 to 256 characters"));
    }
    let endpoint = check_endpoint(input.endpoint.as_deref())?;
    services.http.check_public(&endpoint).await.map_err(|e| Error::bad_input("endpoint", e.to_string()))?;
    let session = bluesky::create_session(&services.http, &endpoint, &identifier, &input.app_password)
        .await
        .map_err(sign_in_error)?;
    let id = new_id();
    let expires_at = bluesky::expiry(&session.access_jwt);
    let secret = Secret::AppPassword {
        identifier,
        password: input.app_password,
        access_jwt: Some(session.access_jwt),
        refresh_jwt: Some(session.refresh_jwt),
    };
    let (sealed, key_id) = seal(vault, id, &secret)?;
    let at = now();
    let row = connection::ActiveModel {
        id: Set(id),
        agency_id: Set(actor.agency_id),
        brand_id: Set(brand_id),
        network: Set(Network::Bluesky.name()),
        kind: Set(APP_PASSWORD.into()),
        account: Set(session.handle.to_lowercase().chars().take(253).collect()),
        account_id: Set(Some(session.did.chars().take(255).collect())),
        endpoint: Set(endpoint),
        scopes: Set(StringList::default()),
        secret: Set(sealed),
        key_id: Set(key_id),
        version: Set(0),
        expires_at: Set(expires_at),
        healthy: Set(true),
        consecutive_failures: Set(0),
        last_success_at: Set(Some(at)),
        last_error: Set(None),
        quota_remaining: Set(None),
        quota_resets_at: Set(None),
        created_at: Set(at),
        updated_at: Set(at),
    };
    let txn = crate::platform::db::begin_write(&services.db).await?;
    crate::agencies::lock(&txn, actor.agency_id).await?;
    use sea_orm::PaginatorTrait;
    if scoped(actor).count(&txn).await? >= MAX_PER_AGENCY {
        return Err(Error::bad_input("identifier", format!("an agency has at most {MAX_PER_AGENCY} connections")));
    }
    let created = row.insert(&txn).await?;
    audit::record(
        &txn,
        actor,
        "connection.created",
        "connection",
        Some(created.id),
        serde_json::json!({ "network": created.network, "account": created.account, "brandId": created.brand_id }),
    )
    .await?;
    txn.commit().await?;
    tracing::info!(connection_id = %created.id, network = %created.network, "connection created");
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
    if app_password.is_empty() || app_password.len() > 256 {
        return Err(Error::bad_input("appPassword", "an app password of 1 to 256 characters"));
    }
    // The account signs in by its DID, so a changed handle does not break it.
    let identifier = existing.account_id.clone().unwrap_or_else(|| existing.account.clone());
    services.http.check_public(&existing.endpoint).await.map_err(|e| Error::bad_input("endpoint", e.to_string()))?;
    let session = bluesky::create_session(&services.http, &existing.endpoint, &identifier, &app_password)
        .await
        .map_err(sign_in_error)?;
    if existing.account_id.as_deref().is_some_and(|did| did != session.did) {
        return Err(Error::bad_input("appPassword", "this app password opens another account"));
    }
    let secret = Secret::AppPassword {
        identifier,
        password: app_password,
        access_jwt: Some(session.access_jwt.clone()),
        refresh_jwt: Some(session.refresh_jwt),
    };
    let (sealed, key_id) = seal(vault, existing.id, &secret)?;
    let mut model: connection::ActiveModel = existing.clone().into();
    model.secret = Set(sealed);
    model.key_id = Set(key_id);
    model.version = Set(existing.version + 1);
    model.account = Set(session.handle.to_lowercase().chars().take(253).collect());
    model.expires_at = Set(bluesky::expiry(&session.access_jwt));
    model.healthy = Set(true);
    model.consecutive_failures = Set(0);
    model.last_error = Set(None);
    model.last_success_at = Set(Some(now()));
    model.updated_at = Set(now());
    let txn = crate::platform::db::begin_write(&services.db).await?;
    let updated = model.update(&txn).await?;
    audit::record(&txn, actor, "connection.reconnected", "connection", Some(id), serde_json::json!({})).await?;
    txn.commit().await?;
    Ok(updated)
}

/// Deletes a connection; its sources poll anonymously from then on.
pub async fn delete(services: &Services, actor: &Actor, id: Uuid) -> Result<()> {
    let existing = get(&services.db, actor, id).await?;
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
    if found.brand_id.is_some_and(|b| b != brand_id) {
        return Err(Error::bad_input("connectionId", "the connection belongs to another brand"));
    }
    Ok(found.id)
}

/// Why a credential could not be presented.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// The network refused it; the connection is unhealthy until reconnected.
    #[error("the connection's credentials were refused: reconnect it ({0})")]
    Refused(String),
    #[error("the network rate-limited the sign-in")]
    RateLimited { retry_after: Option<Duration> },
    /// Anything else (the network, the vault, the database): the poll fails, the
    /// connection stays as it was.
    #[error("{0}")]
    Failed(String),
}

/// A connection as one poll uses it: its tokens, renewed when they expire or are
/// refused, and what the network said of the quota. Dropped at the end of the poll,
/// after [`Credential::finish`].
pub struct Credential<'a> {
    services: &'a Services,
    state: Mutex<(connection::Model, Secret)>,
    /// The headers of the network's last answer, for its quota.
    last_headers: std::sync::Mutex<Option<HeaderMap>>,
}

impl<'a> Credential<'a> {
    /// The credential of a source's connection; `None` when the source has none (or it
    /// was deleted). A connection that cannot be opened or is unhealthy is an error, so
    /// that the source does not silently poll anonymously.
    pub async fn of_source(
        services: &'a Services,
        source: &crate::entities::source::Model,
    ) -> std::result::Result<Option<Self>, CredentialError> {
        let Some(id) = source.connection_id else { return Ok(None) };
        let row = connection::Entity::find_by_id(id)
            .filter(connection::Column::AgencyId.eq(source.agency_id))
            .one(&services.db)
            .await
            .map_err(|e| CredentialError::Failed(format!("reading the connection: {e}")))?;
        let Some(row) = row else { return Ok(None) };
        if !row.healthy {
            return Err(CredentialError::Refused(row.last_error.clone().unwrap_or_else(|| "unhealthy".into())));
        }
        let secret = open(&services.config.vault, &row).map_err(|e| {
            tracing::error!(connection_id = %row.id, error = %e, "a connection's secret cannot be opened");
            CredentialError::Failed(format!("the connection's secret cannot be opened: {e}"))
        })?;
        Ok(Some(Credential { services, state: Mutex::new((row, secret)), last_headers: Default::default() }))
    }

    /// Where the connection's requests go.
    pub async fn endpoint(&self) -> String {
        self.state.lock().await.0.endpoint.clone()
    }

    /// The access token to present, renewed first if it is about to expire.
    pub async fn bearer(&self) -> std::result::Result<String, CredentialError> {
        let stale = {
            let state = self.state.lock().await;
            let Secret::AppPassword { access_jwt, .. } = &state.1;
            match access_jwt {
                Some(token) if state.0.expires_at.is_none_or(|at| at - RENEW_BEFORE > now()) => {
                    return Ok(token.clone());
                }
                _ => state.0.version,
            }
        };
        self.renew(stale).await
    }

    /// A new access token after the network refused the current one: the refresh token
    /// first, the app password if that is refused too. `seen` is the version the
    /// refused token came from: if another poll renewed it meanwhile, its token is used.
    pub async fn renewed(&self) -> std::result::Result<String, CredentialError> {
        let seen = self.state.lock().await.0.version;
        self.renew(seen).await
    }

    async fn renew(&self, seen: i32) -> std::result::Result<String, CredentialError> {
        let mut state = self.state.lock().await;
        // Another process may have renewed it: its row is newer than ours.
        if let Some(token) = self.reload_if_newer(&mut state, seen).await? {
            return Ok(token);
        }
        let endpoint = state.0.endpoint.clone();
        let Secret::AppPassword { identifier, password, refresh_jwt, .. } = &state.1;
        let (identifier, password, refresh_jwt) = (identifier.clone(), password.clone(), refresh_jwt.clone());
        let http = &self.services.http;
        let refreshed = match refresh_jwt {
            Some(refresh) => bluesky::refresh_session(http, &endpoint, &refresh).await,
            None => Err(SessionError::Refused("no refresh token".into())),
        };
        let session = match refreshed {
            Ok(session) => session,
            Err(SessionError::Refused(_)) => {
                // A refresh token revoked by a concurrent renewal is not a revoked account.
                if let Some(token) = self.reload_if_newer(&mut state, seen).await? {
                    return Ok(token);
                }
                match bluesky::create_session(http, &endpoint, &identifier, &password).await {
                    Ok(session) => session,
                    Err(SessionError::Refused(why)) => {
                        self.mark_refused(&state.0, &why).await?;
                        return Err(CredentialError::Refused(why));
                    }
                    Err(e) => return Err(session_failure(e)),
                }
            }
            Err(e) => return Err(session_failure(e)),
        };
        let access = session.access_jwt.clone();
        let secret = Secret::AppPassword {
            identifier,
            password,
            access_jwt: Some(session.access_jwt),
            refresh_jwt: Some(session.refresh_jwt),
        };
        let row = state.0.clone();
        let (sealed, key_id) =
            seal(&self.services.config.vault, row.id, &secret).map_err(|e| CredentialError::Failed(e.to_string()))?;
        let expires_at = bluesky::expiry(&access);
        let won = connection::Entity::update_many()
            .col_expr(connection::Column::Secret, Expr::value(sealed.clone()))
            .col_expr(connection::Column::KeyId, Expr::value(key_id.clone()))
            .col_expr(connection::Column::Version, Expr::value(row.version + 1))
            .col_expr(connection::Column::ExpiresAt, Expr::value(expires_at))
            .col_expr(connection::Column::UpdatedAt, Expr::value(now()))
            .filter(connection::Column::Id.eq(row.id))
            .filter(connection::Column::Version.eq(row.version))
            .exec(&self.services.db)
            .await
            .map_err(|e| CredentialError::Failed(format!("storing renewed tokens: {e}")))?;
        if won.rows_affected == 0 {
            // Another poll stored its own renewal first: use it, ours is dropped.
            if let Some(token) = self.reload_if_newer(&mut state, seen).await? {
                return Ok(token);
            }
        }
        tracing::info!(connection_id = %row.id, "connection tokens renewed");
        let mut updated = row;
        updated.secret = sealed;
        updated.key_id = key_id;
        updated.version += 1;
        updated.expires_at = expires_at;
        *state = (updated, secret);
        Ok(access)
    }

    /// Reads the row again; when another renewal stored newer tokens than version
    /// `seen`, takes them and returns the access token.
    async fn reload_if_newer(
        &self,
        state: &mut (connection::Model, Secret),
        seen: i32,
    ) -> std::result::Result<Option<String>, CredentialError> {
        let row = connection::Entity::find_by_id(state.0.id)
            .one(&self.services.db)
            .await
            .map_err(|e| CredentialError::Failed(format!("reading the connection: {e}")))?
            .ok_or_else(|| CredentialError::Failed("the connection was deleted".into()))?;
        if row.version <= seen {
            return Ok(None);
        }
        if !row.healthy {
            return Err(CredentialError::Refused(row.last_error.clone().unwrap_or_else(|| "unhealthy".into())));
        }
        let secret = open(&self.services.config.vault, &row).map_err(|e| CredentialError::Failed(e.to_string()))?;
        let Secret::AppPassword { access_jwt, .. } = &secret;
        let token = access_jwt.clone();
        *state = (row, secret);
        Ok(token)
    }

    /// Marks the connection unhealthy and, if it was healthy, writes the event.
    async fn mark_refused(&self, row: &connection::Model, why: &str) -> std::result::Result<(), CredentialError> {
        let failed = |e: Error| CredentialError::Failed(format!("marking the connection unhealthy: {e}"));
        let error = format!("the network refused the credentials ({why}): reconnect the account");
        let txn = crate::platform::db::begin_write(&self.services.db).await.map_err(failed)?;
        let changed = connection::Entity::update_many()
            .col_expr(connection::Column::Healthy, Expr::value(false))
            .col_expr(connection::Column::LastError, Expr::value(error.clone()))
            .col_expr(
                connection::Column::ConsecutiveFailures,
                Expr::col(connection::Column::ConsecutiveFailures).add(Expr::value(1)),
            )
            .col_expr(connection::Column::UpdatedAt, Expr::value(now()))
            .filter(connection::Column::Id.eq(row.id))
            .filter(connection::Column::Healthy.eq(true))
            .exec(&txn)
            .await
            .map_err(|e| failed(e.into()))?;
        if changed.rows_affected == 1 {
            events::record(
                &txn,
                row.agency_id,
                row.brand_id,
                events::CONNECTION_UNHEALTHY,
                serde_json::json!({
                    "connectionId": row.id,
                    "brandId": row.brand_id,
                    "network": row.network,
                    "account": row.account,
                    "lastError": error,
                }),
            )
            .await
            .map_err(failed)?;
        }
        txn.commit().await.map_err(|e| failed(e.into()))?;
        if changed.rows_affected == 1 {
            tracing::warn!(connection_id = %row.id, network = %row.network, "connection refused by its network: unhealthy");
            events::dispatch_soon(self.services, Some(row.agency_id)).await;
        }
        Ok(())
    }

    /// Keeps the headers of an answer the network gave with this credential.
    pub fn observe(&self, headers: &HeaderMap) {
        *self.last_headers.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(headers.clone());
    }

    /// Records how the poll went: the quota the network's last answer reported and,
    /// on success, the time.
    pub async fn finish(&self, succeeded: bool) {
        let state = self.state.lock().await;
        let quota = self
            .last_headers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .and_then(bluesky::quota);
        let mut update = connection::Entity::update_many().col_expr(connection::Column::UpdatedAt, Expr::value(now()));
        if let Some((remaining, resets_at)) = quota {
            update = update
                .col_expr(connection::Column::QuotaRemaining, Expr::value(remaining))
                .col_expr(connection::Column::QuotaResetsAt, Expr::value(resets_at));
        }
        if succeeded {
            update = update
                .col_expr(connection::Column::LastSuccessAt, Expr::value(now()))
                .col_expr(connection::Column::ConsecutiveFailures, Expr::value(0))
                .col_expr(connection::Column::LastError, Expr::value(Option::<String>::None));
        }
        let result = update
            .filter(connection::Column::Id.eq(state.0.id))
            .filter(connection::Column::Healthy.eq(true))
            .exec(&self.services.db)
            .await;
        if let Err(e) = result {
            tracing::warn!(connection_id = %state.0.id, error = %e, "cannot record a connection's health");
        }
    }
}

fn session_failure(e: SessionError) -> CredentialError {
    match e {
        SessionError::RateLimited { retry_after } => CredentialError::RateLimited { retry_after },
        other => CredentialError::Failed(other.to_string()),
    }
}

/// Seals again, under the current key, the secrets sealed under a previous one.
#[derive(Debug, Serialize, Deserialize)]
pub struct ResealSecrets {}

impl JobPayload for ResealSecrets {
    const KIND: &'static str = "connections.reseal";
}

/// Registers the re-sealing job, run every ten minutes.
pub(crate) fn register_jobs(registry: &mut Registry) {
    registry.register(|services: Arc<Services>, _meta, _job: ResealSecrets| async move {
        reseal(&services).await?;
        Ok(())
    });
    registry.schedule(ResealSecrets::KIND, RESEAL_EVERY, |_slot| Envelope::new(None, &ResealSecrets {}));
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
            let (sealed, key_id) = seal(vault, row.id, &secret)?;
            let won = connection::Entity::update_many()
                .col_expr(connection::Column::Secret, Expr::value(sealed))
                .col_expr(connection::Column::KeyId, Expr::value(key_id))
                .col_expr(connection::Column::Version, Expr::value(row.version + 1))
                .filter(connection::Column::Id.eq(row.id))
                .filter(connection::Column::Version.eq(row.version))
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
