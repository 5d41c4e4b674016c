//! A connection as one piece of work (a poll, a reply) uses it: its access token,
//! renewed before it expires and when the network refuses it, the sign-in backing off
//! after failures, and what the network said of the quota.
//!
//! Every change to the sealed secret is a conditional update on `version`, so two
//! processes renewing at once keep one renewal (the other adopts its tokens), and a
//! refusal seen with an old secret cannot undo a reconnection made meanwhile.

use chrono::{DateTime, Utc};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::Mutex;
use uuid::Uuid;

use super::bluesky::{self, SessionError};
use super::{RENEW_BEFORE, Secret, oauth, open, seal};
use crate::entities::{connection, source};
use crate::platform::events;
use crate::platform::outbound::{FetchError, Fetched, MAX_BODY};
use crate::{Services, now};

/// How long a request made with a credential may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The first wait after a failed sign-in; it doubles with each failure in a row.
const SIGN_IN_BACKOFF: chrono::Duration = chrono::Duration::minutes(5);
/// How long a refused refresh token waits for a concurrent renewal to store the
/// tokens that replaced it, before the grant is taken for revoked.
const ROTATION_GRACE: Duration = Duration::from_secs(2);
/// The longest wait between sign-ins.
const MAX_SIGN_IN_BACKOFF: chrono::Duration = chrono::Duration::hours(6);

/// Why a credential could not be presented.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// The network refused it; the connection is unhealthy until reconnected.
    #[error("the connection's credentials were refused: reconnect it ({0})")]
    Refused(String),
    /// The network asked to wait, or an earlier sign-in failed and the next one is not
    /// due yet.
    #[error("the connection cannot sign in before {}", .retry_after.map(|d| format!("{} s", d.as_secs())).unwrap_or_else(|| "later".into()))]
    RateLimited { retry_after: Option<Duration> },
    /// Anything else (the network, the vault, the database): the work fails, the
    /// connection stays as it was.
    #[error("{0}")]
    Failed(String),
    #[error(transparent)]
    Fetch(#[from] FetchError),
}

/// A database failure: its details go to the log, not to the `lastError` of sources
/// and replies, which members and client viewers read.
fn db_failed(what: &str) -> impl Fn(sea_orm::DbErr) -> CredentialError + '_ {
    move |e| {
        tracing::warn!(error = %e, "{what}");
        CredentialError::Failed(format!("{what}: a database error (logged)"))
    }
}

/// The secret of a healthy connection; an unhealthy one is refused, and one the
/// configured keys cannot open is a failure (its details go to the log).
fn usable_secret(services: &Services, row: &connection::Model) -> Result<Secret, CredentialError> {
    if !row.healthy {
        return Err(CredentialError::Refused("the connection is unhealthy".into()));
    }
    open(&services.config.vault, row).map_err(|e| {
        tracing::error!(connection_id = %row.id, error = %e, "a connection's secret cannot be opened");
        CredentialError::Failed("the connection's secret cannot be opened with the configured keys".into())
    })
}

fn is_meta(row: &connection::Model) -> bool {
    row.network == "facebook" || row.network == "instagram"
}

/// What a renewal brought: tokens another process stored meanwhile, or new ones.
enum Renewed {
    Adopted(String),
    New { secret: Secret, expires_at: Option<DateTime<Utc>> },
}

/// A connection in use. Dropped at the end of the work, after [`Credential::finish`].
pub struct Credential<'a> {
    services: &'a Services,
    state: Mutex<(connection::Model, Secret)>,
    /// Set once the token was renewed: a token that still looks stale after a renewal
    /// (a skewed clock, a short-lived token) is used rather than renewed on every call.
    renewed: AtomicBool,
    /// The headers of the network's last answer, for its quota.
    last_headers: std::sync::Mutex<Option<HeaderMap>>,
}

impl<'a> Credential<'a> {
    /// The credential of a source's connection; `None` when the source has none (or it
    /// was deleted). A connection that cannot be opened, is unhealthy or belongs to
    /// another brand is an error, so that the source does not silently poll
    /// anonymously.
    pub async fn of_source(services: &'a Services, source: &source::Model) -> Result<Option<Self>, CredentialError> {
        let Some(id) = source.connection_id else { return Ok(None) };
        let credential = Self::of_connection(services, source.agency_id, id).await?;
        if let Some(credential) = &credential
            && !super::serves(&credential.state.lock().await.0, source.brand_id)
        {
            return Err(CredentialError::Failed("the source's connection belongs to another brand".into()));
        }
        Ok(credential)
    }

    /// The credential of connection `id` of agency `agency`; `None` when there is none.
    pub async fn of_connection(
        services: &'a Services,
        agency: Uuid,
        id: Uuid,
    ) -> Result<Option<Self>, CredentialError> {
        let row = connection::Entity::find_by_id(id)
            .filter(connection::Column::AgencyId.eq(agency))
            .one(&services.db)
            .await
            .map_err(db_failed("reading the connection"))?;
        let Some(row) = row else { return Ok(None) };
        let secret = usable_secret(services, &row)?;
        Ok(Some(Credential {
            services,
            state: Mutex::new((row, secret)),
            renewed: AtomicBool::new(false),
            last_headers: Default::default(),
        }))
    }

    /// The configuration the work runs under.
    pub fn config(&self) -> &crate::Config {
        &self.services.config
    }

    /// The services the work runs with.
    pub(crate) fn services(&self) -> &Services {
        self.services
    }

    /// Where the connection's requests go.
    pub async fn endpoint(&self) -> String {
        self.state.lock().await.0.endpoint.clone()
    }

    /// The account's stable id on the network (a Bluesky DID) and its name.
    pub async fn account(&self) -> (Option<String>, String) {
        let state = self.state.lock().await;
        (state.0.account_id.clone(), state.0.account.clone())
    }

    /// Sends a request with the access token (a GET, or a POST of `json`), renewing the
    /// token first when it is about to expire, and once more when the network answers
    /// that it is no longer good. The answer's status is the caller's to read.
    pub async fn request(&self, url: &str, json: Option<&serde_json::Value>) -> Result<Fetched, CredentialError> {
        let body = json.map(|body| ("application/json", body.to_string().into_bytes()));
        self.send(url, body, false, None).await
    }

    /// POSTs `json` under an `Idempotency-Key` (Mastodon's), as [`Credential::request`]
    /// does: the network answers a repeated key with what it did the first time.
    pub async fn post_once(&self, url: &str, json: &serde_json::Value, key: &str) -> Result<Fetched, CredentialError> {
        self.send(url, Some(("application/json", json.to_string().into_bytes())), false, Some(key)).await
    }

    /// PUTs `json` with the access token, as [`Credential::request`] does.
    pub async fn put(&self, url: &str, json: &serde_json::Value) -> Result<Fetched, CredentialError> {
        self.send(url, Some(("application/json", json.to_string().into_bytes())), true, None).await
    }

    /// POSTs an HTML form (`application/x-www-form-urlencoded`) with the access token,
    /// as [`Credential::request`] does.
    pub async fn post_form(&self, url: &str, form: &[(&str, &str)]) -> Result<Fetched, CredentialError> {
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        self.send(url, Some(("application/x-www-form-urlencoded", body.into_bytes())), false, None).await
    }

    /// Sends a GET, or with a body a POST (a PUT if `put`), with `Idempotency-Key:
    /// idempotency` if given.
    async fn send(
        &self,
        url: &str,
        body: Option<(&'static str, Vec<u8>)>,
        put: bool,
        idempotency: Option<&str>,
    ) -> Result<Fetched, CredentialError> {
        let http = &self.services.http;
        let mut token = self.bearer().await?;
        let mut renewed = false;
        let meta = self.is_meta().await;
        loop {
            // Meta's calls prove the app's secret with the token.
            let signed;
            let url = if meta {
                signed = super::meta::with_proof(&self.services.config, url, &token);
                signed.as_str()
            } else {
                url
            };
            let mut headers = HeaderMap::new();
            if self.state.lock().await.0.network == "linkedin" {
                super::linkedin::versioned(&mut headers, &self.services.config.linkedin_version);
            }
            if let Some(key) = idempotency {
                let key = HeaderValue::from_str(key)
                    .map_err(|_| CredentialError::Failed("an idempotency key that is not a header value".into()))?;
                headers.insert("idempotency-key", key);
            }
            let api_key = self.is_api_key().await;
            if api_key {
                let mut value = HeaderValue::from_str(&token)
                    .map_err(|_| CredentialError::Failed("the API key is not a valid header value".into()))?;
                value.set_sensitive(true);
                headers.insert("apikey", value);
            } else {
                headers.insert(AUTHORIZATION, bluesky::bearer(&token).map_err(CredentialError::Failed)?);
            }
            let fetched = match &body {
                // A redirect would carry the key's header to another host.
                None if api_key => http.get_direct(url, headers).await?,
                None => http.get(url, headers).await?,
                Some((content_type, body)) => {
                    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
                    if put {
                        http.put(url, headers, body.clone(), REQUEST_TIMEOUT, MAX_BODY).await?
                    } else {
                        http.post(url, headers, body.clone(), REQUEST_TIMEOUT, MAX_BODY).await?
                    }
                }
            };
            self.observe(&fetched.headers);
            if !renewed && self.token_rejected(fetched.status, &fetched.body).await {
                let seen = self.state.lock().await.0.version;
                token = self.renew(seen).await?;
                renewed = true;
                continue;
            }
            return Ok(fetched);
        }
    }

    /// Whether an answer says the access token is no longer good: Bluesky names it,
    /// OAuth 2 resource servers answer 401 (RFC 6750), and so do APIs refusing a key.
    async fn token_rejected(&self, status: u16, body: &[u8]) -> bool {
        let state = self.state.lock().await;
        match &state.1 {
            Secret::AppPassword { .. } => bluesky::token_rejected(status, body),
            // Graph answers a bad token with code 190, mostly under HTTP 400.
            Secret::OAuth { .. } if is_meta(&state.0) => super::meta::token_rejected(status, body),
            Secret::OAuth { .. } | Secret::ApiKey { .. } => status == 401,
        }
    }

    /// Whether the connection is a Meta one (a Facebook Page, an Instagram account).
    async fn is_meta(&self) -> bool {
        is_meta(&self.state.lock().await.0)
    }

    /// Whether the connection presents an API key (in an `apikey` header) rather than a
    /// bearer token.
    async fn is_api_key(&self) -> bool {
        matches!(self.state.lock().await.1, Secret::ApiKey { .. })
    }

    /// The access token to present, renewed first if it is about to expire (once).
    async fn bearer(&self) -> Result<String, CredentialError> {
        let seen = {
            let state = self.state.lock().await;
            let fresh = state.0.expires_at.is_none_or(|at| at - RENEW_BEFORE > now());
            // A token that cannot be renewed serves until it has expired.
            let lasting = matches!(state.1, Secret::OAuth { refresh_token: None, .. })
                && state.0.expires_at.is_none_or(|at| at > now());
            match state.1.access_token() {
                Some(token) if lasting => return Ok(token.to_owned()),
                Some(token) if fresh || self.renewed.load(Ordering::Relaxed) => return Ok(token.to_owned()),
                _ => state.0.version,
            }
        };
        self.renew(seen).await
    }

    /// A new access token: for an app password, the refresh token first, the password
    /// if that is refused too; for OAuth 2, the refresh token. `seen` is the version the
    /// current token came from: if another process renewed it since, its token is used.
    async fn renew(&self, seen: i32) -> Result<String, CredentialError> {
        let mut state = self.state.lock().await;
        self.renewed.store(true, Ordering::Relaxed);
        if let Some(token) = self.reload_if_newer(&mut state, seen).await? {
            return Ok(token);
        }
        let row = state.0.clone();
        let renewed = match &state.1 {
            Secret::AppPassword { identifier, password, refresh_jwt, .. } => {
                let (identifier, password, refresh_jwt) = (identifier.clone(), password.clone(), refresh_jwt.clone());
                self.renew_session(&mut state, seen, &row, identifier, password, refresh_jwt).await?
            }
            Secret::OAuth { refresh_token, .. } => {
                let refresh_token = refresh_token.clone();
                self.renew_oauth(&mut state, seen, &row, refresh_token).await?
            }
            // A key is not renewed: refused again when checked on its own (not a passing
            // 401 from a gateway), it was revoked.
            Secret::ApiKey { key } => {
                let key = key.clone();
                return match super::trustpilot::check_key(&self.services.http, &row.endpoint, &key).await {
                    Err(super::trustpilot::KeyError::Refused) => {
                        self.mark_refused(&row, "the API key was refused").await?;
                        Err(CredentialError::Refused("the API key was refused".into()))
                    }
                    _ => Err(CredentialError::Failed("the network refused the API key once".into())),
                };
            }
        };
        let (secret, expires_at) = match renewed {
            Renewed::Adopted(token) => return Ok(token),
            Renewed::New { secret, expires_at } => (secret, expires_at),
        };
        let access = secret.access_token().unwrap_or_default().to_owned();
        let (sealed, key_id) = seal(&self.services.config.vault, row.id, row.agency_id, &secret)
            .map_err(|e| CredentialError::Failed(e.to_string()))?;
        let won = connection::Entity::update_many()
            .col_expr(connection::Column::Secret, Expr::value(sealed.clone()))
            .col_expr(connection::Column::KeyId, Expr::value(key_id.clone()))
            .col_expr(connection::Column::Version, Expr::value(row.version + 1))
            .col_expr(connection::Column::ExpiresAt, Expr::value(expires_at))
            .col_expr(connection::Column::SignInAfter, Expr::value(Option::<DateTime<Utc>>::None))
            // Tokens the network just gave are good, whatever a concurrent renewal that
            // lost the rotation concluded meanwhile.
            .col_expr(connection::Column::Healthy, Expr::value(true))
            .col_expr(connection::Column::UpdatedAt, Expr::value(now()))
            .filter(connection::Column::Id.eq(row.id))
            .filter(connection::Column::Version.eq(row.version))
            .exec(&self.services.db)
            .await
            .map_err(db_failed("storing renewed tokens"))?;
        if won.rows_affected == 0
            && let Some(token) = self.reload_if_newer(&mut state, seen).await?
        {
            // Another process stored its renewal first: its tokens are used, ours dropped.
            return Ok(token);
        }
        tracing::info!(connection_id = %row.id, "connection tokens renewed");
        let mut updated = row;
        updated.secret = sealed;
        updated.key_id = key_id;
        updated.version += 1;
        updated.expires_at = expires_at;
        updated.sign_in_after = None;
        *state = (updated, secret);
        Ok(access)
    }

    /// New OAuth 2 tokens from the refresh token; a revoked grant marks the connection
    /// unhealthy, a passing failure backs off as a failed sign-in does.
    async fn renew_oauth(
        &self,
        state: &mut (connection::Model, Secret),
        seen: i32,
        row: &connection::Model,
        refresh_token: Option<String>,
    ) -> Result<Renewed, CredentialError> {
        let network = crate::Network::parse(&row.network)
            .ok_or_else(|| CredentialError::Failed(format!("unknown network {}", row.network)))?;
        if let Some(at) = row.sign_in_after.filter(|at| *at > now()) {
            return Err(CredentialError::RateLimited { retry_after: (at - now()).to_std().ok() });
        }
        let refreshed = match &refresh_token {
            Some(refresh) => oauth::refresh(self.services, network, refresh).await,
            // A token that cannot be renewed (Meta's Page tokens, Mastodon's, LinkedIn's
            // outside its partners) is given up only once expired or refused again when
            // checked on its own: one 401 from a proxy would otherwise end it for good.
            None => {
                let access = state.1.access_token().unwrap_or_default().to_owned();
                match self.confirm_refused(row, network, &access).await {
                    Some(why) => Err(oauth::TokenError::Refused(why)),
                    None => return Err(CredentialError::Failed("the network refused the token once".into())),
                }
            }
        };
        match refreshed {
            Ok((access_token, new_refresh, expires_at)) => Ok(Renewed::New {
                secret: Secret::OAuth { access_token, refresh_token: new_refresh.or(refresh_token) },
                expires_at,
            }),
            Err(oauth::TokenError::Refused(why)) => {
                // A refresh token rotated by a concurrent renewal is not a revoked grant
                // (X's serve once): that renewal may still be storing its tokens.
                if let Some(token) = self.reload_if_newer(state, seen).await? {
                    return Ok(Renewed::Adopted(token));
                }
                tokio::time::sleep(ROTATION_GRACE).await;
                if let Some(token) = self.reload_if_newer(state, seen).await? {
                    return Ok(Renewed::Adopted(token));
                }
                self.mark_refused(row, &why).await?;
                Err(CredentialError::Refused(why))
            }
            Err(oauth::TokenError::RateLimited { retry_after }) => {
                self.sign_in_failed(row, "the token endpoint rate-limited Vigie", retry_after).await;
                Err(CredentialError::RateLimited { retry_after })
            }
            Err(oauth::TokenError::Failed(why)) => {
                self.sign_in_failed(row, &why, None).await;
                Err(CredentialError::Failed(why))
            }
        }
    }

    /// Why a token that cannot be renewed is over, if it is: expired, or refused again
    /// by a call that only checks it. `None`: it is still good (the refusal passed).
    async fn confirm_refused(&self, row: &connection::Model, network: crate::Network, token: &str) -> Option<String> {
        use crate::Network;
        if row.expires_at.is_some_and(|at| at <= now()) {
            return Some("the access token expired: consent again".into());
        }
        let http = &self.services.http;
        let endpoint = row.endpoint.trim_end_matches('/');
        let refused = match network {
            Network::Mastodon => {
                matches!(
                    super::mastodon::whoami(http, endpoint, token).await,
                    Err(super::mastodon::TokenCheck::Refused)
                )
            }
            Network::Facebook | Network::Instagram => {
                let url = super::meta::with_proof(&self.services.config, &format!("{endpoint}/me?fields=id"), token);
                match super::get_as(http, &url, token).await {
                    Ok(answer) => super::meta::token_rejected(answer.status, &answer.body),
                    Err(_) => false,
                }
            }
            Network::Linkedin => {
                let url =
                    format!("{endpoint}/organizationAcls?q=roleAssignee&role=ADMINISTRATOR&state=APPROVED&count=1");
                let version = &self.services.config.linkedin_version;
                super::linkedin::check(http, &url, token, version).await == Some(401)
            }
            _ => true,
        };
        refused.then(|| match network {
            Network::Facebook | Network::Instagram => {
                "Meta refused the Page token: the app was removed, the password changed or the Page lost".into()
            }
            _ => "the access token was refused and cannot be renewed".into(),
        })
    }

    /// A new Bluesky session: the refresh token first, the app password if that is
    /// refused too.
    async fn renew_session(
        &self,
        state: &mut (connection::Model, Secret),
        seen: i32,
        row: &connection::Model,
        identifier: String,
        password: String,
        refresh_jwt: Option<String>,
    ) -> Result<Renewed, CredentialError> {
        let http = &self.services.http;
        let refreshed = match &refresh_jwt {
            Some(refresh) => bluesky::refresh_session(http, &row.endpoint, refresh).await,
            None => Err(SessionError::Refused("no refresh token".into())),
        };
        let session = match refreshed {
            Ok(session) => session,
            Err(SessionError::Refused(_)) => {
                // A refresh token revoked by a concurrent renewal is not a revoked account.
                if let Some(token) = self.reload_if_newer(state, seen).await? {
                    return Ok(Renewed::Adopted(token));
                }
                if let Some(at) = row.sign_in_after.filter(|at| *at > now()) {
                    return Err(CredentialError::RateLimited { retry_after: (at - now()).to_std().ok() });
                }
                match bluesky::create_session(http, &row.endpoint, &identifier, &password).await {
                    Ok(session) => session,
                    Err(SessionError::Refused(why)) => {
                        self.mark_refused(row, &why).await?;
                        return Err(CredentialError::Refused(why));
                    }
                    Err(e) => {
                        let asked = match &e {
                            SessionError::RateLimited { retry_after } => *retry_after,
                            _ => None,
                        };
                        self.sign_in_failed(row, &e.to_string(), asked).await;
                        return Err(match e {
                            SessionError::RateLimited { retry_after } => CredentialError::RateLimited { retry_after },
                            other => CredentialError::Failed(other.to_string()),
                        });
                    }
                }
            }
            Err(SessionError::RateLimited { retry_after }) => return Err(CredentialError::RateLimited { retry_after }),
            Err(e) => return Err(CredentialError::Failed(e.to_string())),
        };
        let expires_at = bluesky::expiry(&session.access_jwt);
        let secret = Secret::AppPassword {
            identifier,
            password,
            access_jwt: Some(session.access_jwt),
            refresh_jwt: Some(session.refresh_jwt),
        };
        Ok(Renewed::New { secret, expires_at })
    }

    /// Reads the row again; when a renewal or a reconnection stored newer tokens than
    /// version `seen`, takes them and returns the access token.
    async fn reload_if_newer(
        &self,
        state: &mut (connection::Model, Secret),
        seen: i32,
    ) -> Result<Option<String>, CredentialError> {
        let row = connection::Entity::find_by_id(state.0.id)
            .one(&self.services.db)
            .await
            .map_err(db_failed("reading the connection"))?
            .ok_or_else(|| CredentialError::Failed("the connection was deleted".into()))?;
        if row.version <= seen {
            return Ok(None);
        }
        let secret = usable_secret(self.services, &row)?;
        let token = secret.access_token().map(str::to_owned);
        *state = (row, secret);
        Ok(token)
    }

    /// Marks the connection unhealthy and writes the event, if its secret is still the
    /// one that was refused (a reconnection since wins).
    async fn mark_refused(&self, row: &connection::Model, why: &str) -> Result<(), CredentialError> {
        let error = format!("the network refused the credentials ({why}): reconnect the account");
        let txn = crate::platform::db::begin_write(&self.services.db).await.map_err(|e| {
            tracing::warn!(error = %e, "marking the connection unhealthy");
            CredentialError::Failed("marking the connection unhealthy: a database error (logged)".into())
        })?;
        let failed = db_failed("marking the connection unhealthy");
        let changed = connection::Entity::update_many()
            .col_expr(connection::Column::Healthy, Expr::value(false))
            .col_expr(connection::Column::LastError, Expr::value(error.clone()))
            .col_expr(
                connection::Column::ConsecutiveFailures,
                Expr::col(connection::Column::ConsecutiveFailures).add(1),
            )
            .col_expr(connection::Column::UpdatedAt, Expr::value(now()))
            .filter(connection::Column::Id.eq(row.id))
            .filter(connection::Column::Version.eq(row.version))
            .filter(connection::Column::Healthy.eq(true))
            .exec(&txn)
            .await
            .map_err(&failed)?;
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
            .map_err(|e| {
                tracing::warn!(error = %e, "recording the connection's event");
                CredentialError::Failed("recording the event: a database error (logged)".into())
            })?;
        }
        txn.commit().await.map_err(&failed)?;
        if changed.rows_affected == 1 {
            tracing::warn!(connection_id = %row.id, network = %row.network, "connection refused by its network: unhealthy");
            events::dispatch_soon(self.services, Some(row.agency_id)).await;
        }
        Ok(())
    }

    /// Records a sign-in that failed for a passing reason, and when the next one may be
    /// tried: the network's `Retry-After`, or a wait doubling with each failure.
    async fn sign_in_failed(&self, row: &connection::Model, error: &str, retry_after: Option<Duration>) {
        let failures = row.consecutive_failures.saturating_add(1);
        let doublings = Ord::min(u32::try_from(failures - 1).unwrap_or(0), 8);
        let backoff = SIGN_IN_BACKOFF * 2i32.pow(doublings);
        let asked = retry_after
            .map(|d| chrono::Duration::from_std(d).unwrap_or(MAX_SIGN_IN_BACKOFF))
            .unwrap_or_else(chrono::Duration::zero);
        let after = now() + Ord::min(Ord::max(backoff, asked), MAX_SIGN_IN_BACKOFF);
        let result = connection::Entity::update_many()
            .col_expr(connection::Column::ConsecutiveFailures, Expr::value(failures))
            .col_expr(connection::Column::LastError, Expr::value(format!("sign-in failed: {error}")))
            .col_expr(connection::Column::SignInAfter, Expr::value(after))
            .col_expr(connection::Column::UpdatedAt, Expr::value(now()))
            .filter(connection::Column::Id.eq(row.id))
            .filter(connection::Column::Version.eq(row.version))
            .exec(&self.services.db)
            .await;
        if let Err(e) = result {
            tracing::warn!(connection_id = %row.id, error = %e, "cannot record a failed sign-in");
        }
    }

    /// Counts `units` of a network's daily quota against the connection before a call
    /// that costs them (YouTube's units): `daily` per quota day, the day ending at
    /// `day_end(now)`, keeping `reserve` back. When too few are left, the call waits
    /// for the next day. Each step is a conditional update, so concurrent polls never
    /// spend the same units.
    pub async fn spend(
        &self,
        units: i32,
        daily: i32,
        reserve: i32,
        day_end: impl Fn(DateTime<Utc>) -> DateTime<Utc>,
    ) -> Result<crate::platform::outbound::Quota, CredentialError> {
        let id = self.state.lock().await.0.id;
        let db = &self.services.db;
        let failed = db_failed("counting quota units");
        let at = now();
        let take = || {
            connection::Entity::update_many()
                .col_expr(connection::Column::QuotaRemaining, Expr::col(connection::Column::QuotaRemaining).sub(units))
                .filter(connection::Column::Id.eq(id))
                .filter(connection::Column::QuotaResetsAt.gt(at))
                .filter(connection::Column::QuotaRemaining.gte(units + reserve))
        };
        let mut spent = take().exec(db).await.map_err(&failed)?.rows_affected == 1;
        if !spent && units + reserve <= daily {
            // A new quota day (or the first call): this call opens it.
            spent = connection::Entity::update_many()
                .col_expr(connection::Column::QuotaRemaining, Expr::value(daily - units))
                .col_expr(connection::Column::QuotaResetsAt, Expr::value(day_end(at)))
                .filter(connection::Column::Id.eq(id))
                .filter(
                    sea_orm::Condition::any()
                        .add(connection::Column::QuotaResetsAt.is_null())
                        .add(connection::Column::QuotaResetsAt.lte(at))
                        .add(connection::Column::QuotaRemaining.is_null()),
                )
                .exec(db)
                .await
                .map_err(&failed)?
                .rows_affected
                == 1;
            // Another call opened the day first: take from it.
            if !spent {
                spent = take().exec(db).await.map_err(&failed)?.rows_affected == 1;
            }
        }
        let row = connection::Entity::find_by_id(id)
            .one(db)
            .await
            .map_err(&failed)?
            .ok_or_else(|| CredentialError::Failed("the connection was deleted".into()))?;
        if !spent {
            let wait = row.quota_resets_at.and_then(|reset| (reset - at).to_std().ok());
            return Err(CredentialError::RateLimited { retry_after: wait.or(Some(Duration::from_secs(3600))) });
        }
        Ok(crate::platform::outbound::Quota {
            remaining: row.quota_remaining.unwrap_or(0),
            resets_at: row.quota_resets_at,
        })
    }

    /// Spends what is left of the quota day that ends at `day`: the network said the
    /// quota is exhausted (its count and Vigie's differ when others share it). A day
    /// that has ended meanwhile is left alone, so a refusal answered just after
    /// midnight does not cost the new day.
    pub async fn exhaust(&self, day: Option<DateTime<Utc>>) {
        let id = self.state.lock().await.0.id;
        let Some(day) = day.filter(|day| *day > now()) else { return };
        let result = connection::Entity::update_many()
            .col_expr(connection::Column::QuotaRemaining, Expr::value(0))
            .filter(connection::Column::Id.eq(id))
            .filter(connection::Column::QuotaResetsAt.eq(day))
            .exec(&self.services.db)
            .await;
        if let Err(e) = result {
            tracing::warn!(connection_id = %id, error = %e, "cannot record an exhausted quota");
        }
    }

    /// Keeps the headers of an answer the network gave with this credential, when they
    /// say what is left of the quota (an error page from a proxy may not).
    fn observe(&self, headers: &HeaderMap) {
        if crate::platform::outbound::quota(headers).is_some() {
            *self.last_headers.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(headers.clone());
        }
    }

    /// Records how the work went: the quota the network's last answer reported and, on
    /// success, the time (a success also forgets failed sign-ins).
    pub async fn finish(&self, succeeded: bool) {
        let state = self.state.lock().await;
        let quota = self
            .last_headers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .and_then(crate::platform::outbound::quota);
        let mut update = connection::Entity::update_many().col_expr(connection::Column::UpdatedAt, Expr::value(now()));
        if let Some(quota) = quota {
            update = update
                .col_expr(connection::Column::QuotaRemaining, Expr::value(quota.remaining))
                .col_expr(connection::Column::QuotaResetsAt, Expr::value(quota.resets_at));
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
