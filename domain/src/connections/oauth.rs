//! OAuth 2 connections: the authorisation code grant with PKCE (RFC 7636), through the
//! `oauth2` crate, its requests sent by Vigie's own client (address guard, timeouts,
//! bounded bodies).
//!
//! A manager asks for an authorisation URL ([`start`]); Vigie keeps the hash of its
//! `state`, the sealed PKCE verifier, the manager and the brand for ten minutes. The
//! network sends the browser back to `GET /oauth/{network}/callback`, and [`callback`]
//! takes the grant once (a replayed `state` finds nothing), exchanges the code with the
//! verifier, asks the network whose account it is, and keeps the tokens sealed on the
//! grant with a ticket. The browser that came back may not be the manager's (a consent
//! link forwarded to a brand's staff would otherwise hand their account to whoever sent
//! it), so the connection is stored only when the manager who started it, signed in,
//! completes it with the ticket ([`complete`]): a new connection, or fresh tokens for
//! the connection of the same account (a reconnection).
//!
//! YouTube, Reddit, X and Google Business Profile connect this way.
//!
//! Access tokens are renewed with the refresh token before they expire and when the
//! network answers 401 ([`refresh`], called by the credential); `invalid_grant` means
//! the grant was revoked, which makes the connection unhealthy.

use chrono::{DateTime, Utc};
use oauth2::basic::{BasicClient, BasicErrorResponseType, BasicTokenResponse};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    RefreshToken, RequestTokenError, Scope, TokenResponse, TokenUrl,
};
use reqwest::header::HeaderMap;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect, Set};
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;
use uuid::Uuid;

use super::{Secret, require_vault, scoped, seal};
use crate::entities::{connection, oauth_grant};
use crate::platform::config::OAuthApp;
use crate::platform::outbound::{FetchError, Http, retry_after};
use crate::platform::vault::Vault;
use crate::{Actor, Error, Network, Result, Services, new_id, now, sha256_hex};

/// The kind of connections made through OAuth 2.
pub const OAUTH2: &str = "oauth2";
/// How long a started authorisation waits for its callback.
const GRANT_TTL: chrono::Duration = chrono::Duration::minutes(10);
/// Authorisations an agency may have waiting at once.
const MAX_PENDING: u64 = 50;
/// How long a token endpoint may take.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(20);
/// The most of a token endpoint's answer read.
const TOKEN_BODY: usize = 64 * 1024;

/// A network Vigie connects to with OAuth 2: its application (from the configuration),
/// the scopes it asks for, and its own parameters.
pub(crate) struct Provider<'a> {
    pub network: Network,
    pub app: &'a OAuthApp,
    scopes: &'static [&'static str],
    /// Extra parameters of the authorisation URL.
    extra: &'static [(&'static str, &'static str)],
    /// Whether the token endpoint takes the client's id and secret in the form (Meta)
    /// rather than with HTTP Basic.
    secret_in_form: bool,
    /// Whether a connection may be kept without a refresh token: Meta's Page tokens
    /// never expire, and LinkedIn gives none outside its partner programme (the
    /// connection then lasts until its token expires, and is renewed by consenting
    /// again).
    refresh_optional: bool,
}

/// The networks connected through OAuth 2.
pub const NETWORKS: &[Network] = &[
    Network::Youtube,
    Network::Reddit,
    Network::X,
    Network::Google,
    Network::Facebook,
    Network::Instagram,
    Network::Linkedin,
];

/// The provider of `network`: unavailable until the operator registers an application.
pub(crate) fn provider(config: &crate::Config, network: Network) -> Result<Provider<'_>> {
    let missing = |what: &str| {
        Error::Unavailable(format!(
            "{what} cannot be connected: the operator has not registered an OAuth application (see docs/configuration.md)"
        ))
    };
    match network {
        Network::Youtube => Ok(Provider {
            network,
            app: config.youtube.as_ref().ok_or_else(|| missing("YouTube"))?,
            // Reading comments and searching, and answering comments.
            scopes: &["https://www.googleapis.com/auth/youtube.force-ssl"],
            // A refresh token (offline), asked again on every consent so that a
            // reconnection gets one too.
            extra: &[("access_type", "offline"), ("prompt", "consent"), ("include_granted_scopes", "true")],
            secret_in_form: false,
            refresh_optional: false,
        }),
        Network::Reddit => Ok(Provider {
            network,
            app: config.reddit.as_ref().ok_or_else(|| missing("Reddit"))?,
            // Who the account is, reading, commenting, and reading its own comments
            // back (a retried reply looks for what an earlier attempt posted).
            scopes: &["identity", "read", "submit", "history"],
            // A refresh token: without it access ends after an hour.
            extra: &[("duration", "permanent")],
            secret_in_form: false,
            refresh_optional: false,
        }),
        Network::Google => Ok(Provider {
            network,
            app: config.google_business.as_ref().ok_or_else(|| missing("Google Business Profile"))?,
            // Reading reviews and replying to them.
            scopes: &["https://www.googleapis.com/auth/business.manage"],
            // No `include_granted_scopes`: this token opens reviews, nothing else.
            extra: &[("access_type", "offline"), ("prompt", "consent")],
            secret_in_form: false,
            refresh_optional: false,
        }),
        Network::X => Ok(Provider {
            network,
            app: config.x.as_ref().ok_or_else(|| missing("X"))?,
            // Reading posts and accounts, posting replies, and a refresh token
            // (`offline.access`): without it access ends after two hours.
            scopes: &["tweet.read", "users.read", "tweet.write", "offline.access"],
            extra: &[],
            secret_in_form: false,
            refresh_optional: false,
        }),
        Network::Facebook => Ok(Provider {
            network,
            app: config.meta.as_ref().ok_or_else(|| missing("Facebook"))?,
            // Listing the granted Pages, reading their posts and comments with their
            // authors, answering comments as the Page, and subscribing its webhooks.
            scopes: &[
                "pages_show_list",
                "pages_read_engagement",
                "pages_read_user_content",
                "pages_manage_engagement",
                "pages_manage_metadata",
            ],
            extra: &[],
            secret_in_form: true,
            refresh_optional: true,
        }),
        Network::Instagram => Ok(Provider {
            network,
            app: config.meta.as_ref().ok_or_else(|| missing("Instagram"))?,
            // The account linked to a granted Page: its media and comments, answering
            // them, hashtag search; the Page's webhooks carry its events.
            scopes: &[
                "instagram_basic",
                "instagram_manage_comments",
                "pages_show_list",
                "pages_read_engagement",
                "pages_manage_metadata",
            ],
            extra: &[],
            secret_in_form: true,
            refresh_optional: true,
        }),
        Network::Linkedin => Ok(Provider {
            network,
            app: config.linkedin.as_ref().ok_or_else(|| missing("LinkedIn"))?,
            // The pages the member administers, their posts, and their comments, read
            // and written as the organisation.
            scopes: &[
                "r_organization_admin",
                "r_organization_social",
                "r_organization_social_feed",
                "w_organization_social_feed",
            ],
            extra: &[],
            secret_in_form: true,
            // Refresh tokens only for LinkedIn's partners: otherwise 60 days, then a
            // new consent.
            refresh_optional: true,
        }),
        other => Err(Error::bad_input(
            "network",
            format!(
                "{} has no OAuth connection; OAuth serves {}",
                other.name(),
                NETWORKS.iter().map(|n| n.name()).collect::<Vec<_>>().join(", ")
            ),
        )),
    }
}

/// Where the network sends the browser back: `{VIGIE_PUBLIC_URL}/oauth/{network}/callback`,
/// as registered with the application.
pub fn callback_url(config: &crate::Config, network: Network) -> String {
    config.public_link(&format!("/oauth/{}/callback", network.name()))
}

type Client = oauth2::Client<
    oauth2::StandardErrorResponse<BasicErrorResponseType>,
    BasicTokenResponse,
    oauth2::StandardTokenIntrospectionResponse<oauth2::EmptyExtraTokenFields, oauth2::basic::BasicTokenType>,
    oauth2::StandardRevocableToken,
    oauth2::StandardErrorResponse<oauth2::RevocationErrorResponseType>,
    oauth2::EndpointSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
>;

fn client(config: &crate::Config, provider: &Provider<'_>) -> Result<Client> {
    let internal = |e: oauth2::url::ParseError| Error::internal_from("OAuth endpoint", e);
    let auth_type = if provider.secret_in_form { oauth2::AuthType::RequestBody } else { oauth2::AuthType::BasicAuth };
    Ok(BasicClient::new(ClientId::new(provider.app.client_id.clone()))
        .set_client_secret(ClientSecret::new(provider.app.client_secret.clone()))
        .set_auth_uri(AuthUrl::from_url(provider.app.auth_url.clone()))
        .set_token_uri(TokenUrl::from_url(provider.app.token_url.clone()))
        .set_auth_type(auth_type)
        .set_redirect_uri(RedirectUrl::new(callback_url(config, provider.network)).map_err(internal)?))
}

/// An authorisation to open in the manager's browser.
pub struct Authorization {
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

/// What a grant's verifier is bound to, as a connection's secret is.
fn grant_bound_to(id: Uuid, agency: Uuid) -> Vec<u8> {
    [b"vigie.oauth.verifier:".as_slice(), id.as_bytes(), agency.as_bytes()].concat()
}

/// Starts connecting an account on `network` for `brand_id` (none: the whole agency):
/// the URL the manager opens to consent (owners and admins).
pub async fn start(
    services: &Services,
    actor: &Actor,
    network: Network,
    brand_id: Option<Uuid>,
) -> Result<Authorization> {
    actor.require_manager()?;
    let brand_id = super::brand_of(services, actor, brand_id).await?;
    let vault = require_vault(services)?;
    let provider = provider(&services.config, network)?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let client = client(&services.config, &provider)?;
    let mut request = client.authorize_url(CsrfToken::new_random).set_pkce_challenge(challenge);
    request = if matches!(provider.network, Network::Facebook | Network::Instagram) {
        // Facebook Login reads `scope` as a comma-separated list.
        request.add_scope(Scope::new(provider.scopes.join(",")))
    } else {
        request.add_scopes(provider.scopes.iter().map(|s| Scope::new((*s).to_owned())))
    };
    for (name, value) in provider.extra {
        request = request.add_extra_param(*name, *value);
    }
    let (url, state) = request.url();
    let id = new_id();
    let at = now();
    let sealed = vault
        .seal(&grant_bound_to(id, actor.agency_id), verifier.secret().as_bytes())
        .map_err(|e| Error::internal_from("sealing a PKCE verifier", e))?;
    let txn = crate::platform::db::begin_write(&services.db).await?;
    crate::agencies::lock(&txn, actor.agency_id).await?;
    // Expired ones are the sweep's (`oauth.sweep`), which revokes what they hold.
    let pending = oauth_grant::Entity::find()
        .filter(oauth_grant::Column::AgencyId.eq(actor.agency_id))
        .filter(oauth_grant::Column::ExpiresAt.gt(at))
        .count(&txn)
        .await?;
    if pending >= MAX_PENDING {
        return Err(Error::RateLimited { retry_after: GRANT_TTL.to_std().unwrap_or(Duration::from_secs(600)) });
    }
    oauth_grant::ActiveModel {
        id: Set(id),
        agency_id: Set(actor.agency_id),
        brand_id: Set(brand_id),
        user_id: Set(actor.user_id),
        network: Set(network.name()),
        state_hash: Set(sha256_hex(state.secret())),
        verifier: Set(sealed),
        ticket_hash: Set(None),
        consent: Set(None),
        expires_at: Set(at + GRANT_TTL),
        created_at: Set(at),
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    tracing::info!(network = %network.name(), "OAuth authorisation started");
    Ok(Authorization { url: url.to_string(), expires_at: at + GRANT_TTL })
}

/// What the network sent the browser back with. No `Debug`: the code and state are
/// credentials until used.
#[derive(Default, serde::Deserialize)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    /// `access_denied` when the manager refused, or another RFC 6749 error code.
    pub error: Option<String>,
}

/// Why a callback did not authorise an account, as the manager's browser is told.
#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    #[error("this authorisation link is unknown, used or expired: start again from Vigie")]
    UnknownState,
    #[error("the account was not connected: {0}")]
    Denied(String),
    #[error("you can no longer connect accounts for this agency or brand")]
    Forbidden,
    #[error("the network did not accept the authorisation: start again from Vigie ({0})")]
    Exchange(String),
    #[error(transparent)]
    Failed(#[from] Error),
}

/// What the network authorised, waiting for its manager to complete it in Vigie.
/// Its `Debug` leaves the ticket out.
pub struct Consented {
    /// Completes it (`completeOAuthConnection`), for the manager who started it only.
    pub ticket: String,
    pub network: Network,
    /// The account's name on the network.
    pub account: String,
    /// Where it will be connected: the agency's name, and the brand's (none: every
    /// brand of the agency), so that whoever consented sees who asked.
    pub agency: String,
    pub brand: Option<String>,
    /// The accounts the consent granted, by id and name, when there are several to
    /// choose from (Facebook Pages): completing it names one.
    pub choices: Vec<(String, String)>,
}

impl std::fmt::Debug for Consented {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consented").field("network", &self.network).field("account", &self.account).finish()
    }
}

/// What a grant keeps between the callback and its completion. Never logged: no `Debug`.
#[derive(serde::Serialize, serde::Deserialize)]
struct Consent {
    access_token: String,
    refresh_token: Option<String>,
    expires_at: Option<DateTime<Utc>>,
    scopes: Vec<String>,
    account_id: String,
    account: String,
    /// The accounts granted (Meta's Pages, LinkedIn's organisations), one of which the
    /// connection keeps.
    #[serde(default)]
    choices: Vec<Choice>,
    /// The Page chosen (Meta), whose webhooks are subscribed.
    #[serde(default)]
    page: Option<String>,
}

fn consent_bound_to(id: Uuid, agency: Uuid) -> Vec<u8> {
    [b"vigie.oauth.consent:".as_slice(), id.as_bytes(), agency.as_bytes()].concat()
}

/// Handles the network's callback: takes the grant of `state` (once), exchanges the
/// code with its PKCE verifier and reads the account, and keeps the tokens sealed on
/// the grant for ten minutes. Nothing is connected yet: the browser that came back may
/// not be the manager's (a consent link sent to someone else, or opened by someone
/// else), so only the manager who started it, signed in, completes it with the ticket
/// ([`complete`]).
pub async fn callback(services: &Services, network: &str, callback: Callback) -> Result<Consented, CallbackError> {
    let network = Network::parse(network).filter(|n| NETWORKS.contains(n)).ok_or(CallbackError::UnknownState)?;
    let state = callback.state.filter(|s| !s.is_empty() && s.len() <= 512).ok_or(CallbackError::UnknownState)?;
    let grant = take_grant(services, network, &state).await?;
    let outcome = consent(services, network, &grant, callback.code, callback.error).await;
    if outcome.is_err() {
        // A refused or failed authorisation is over: its grant goes.
        oauth_grant::Entity::delete_by_id(grant.id).exec(&services.db).await.map_err(Error::from)?;
    }
    outcome
}

async fn consent(
    services: &Services,
    network: Network,
    grant: &oauth_grant::Model,
    code: Option<String>,
    error: Option<String>,
) -> Result<Consented, CallbackError> {
    if let Some(error) = error {
        let error: String = error.chars().filter(|c| c.is_ascii_graphic()).take(64).collect();
        tracing::info!(network = %network.name(), error, "OAuth authorisation refused");
        return Err(CallbackError::Denied(if error == "access_denied" {
            "the authorisation was refused".into()
        } else {
            format!("the network answered {error}")
        }));
    }
    let code = code.filter(|c| !c.is_empty() && c.len() <= 4096).ok_or(CallbackError::UnknownState)?;
    // Early word for a manager who can no longer connect accounts; checked again when
    // completed.
    let actor = manager_of(services, grant).await?;
    let agency = crate::agencies::current(services, &actor).await.map(|a| a.name).unwrap_or_default();
    let brand = match grant.brand_id {
        Some(id) => Some(actor.brand(&services.db, id).await.map_err(|_| CallbackError::Forbidden)?.name),
        None => None,
    };
    let vault = require_vault(services)?;
    let verifier = vault
        .open(&grant_bound_to(grant.id, grant.agency_id), &grant.verifier)
        .map_err(|e| Error::internal_from("opening a PKCE verifier", e))?;
    let verifier = String::from_utf8(verifier).map_err(|e| Error::internal_from("a PKCE verifier", e))?;
    let provider = provider(&services.config, network)?;
    let client = client(&services.config, &provider)?;
    let sender = TokenClient { http: &services.http, limited: Mutex::new(None) };
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(PkceCodeVerifier::new(verifier))
        .request_async(&sender)
        .await
        .map_err(|e| CallbackError::Exchange(token_error(e, network, &sender.limited).to_string()))?;
    let mut access = tokens.access_token().secret().clone();
    let mut choices = Vec::new();
    let identity = match network {
        Network::Reddit => super::reddit::whoami(&services.http, &provider.app.api_url, &access).await,
        Network::X => super::x::whoami(&services.http, &provider.app.api_url, &access).await,
        Network::Google => super::google::whoami(&services.http, &services.config.google_accounts_url, &access).await,
        Network::Facebook | Network::Instagram => match meta_accounts(services, provider.app, network, &access).await {
            Ok((long_lived, granted, identity)) => {
                access = long_lived;
                choices = granted;
                Ok(identity)
            }
            Err(e) => Err(e),
        },
        Network::Linkedin => {
            let version = &services.config.linkedin_version;
            match super::linkedin::organisations(&services.http, provider.app, version, &access).await {
                Ok((granted, identity)) => {
                    choices = granted;
                    Ok(identity)
                }
                Err(e) => Err(e),
            }
        }
        _ => super::youtube::whoami(&services.http, &provider.app.api_url, &access).await,
    };
    let identity = match identity {
        Ok(identity) => identity,
        Err(e) => {
            // The grant would stay live at the network with no one holding it.
            // No account id to check against: only a grant no connection holds yet is
            // revoked, which a fresh exchange is unless the account is connected already;
            // unknown, it is left to expire.
            tracing::info!(network = %network.name(), "the account of a fresh grant could not be read; its tokens are dropped");
            return Err(CallbackError::Exchange(format!("the account could not be read: {e}")));
        }
    };
    let scopes: Vec<String> = match tokens.scopes() {
        // LinkedIn lists them with commas.
        Some(scopes) => scopes.iter().flat_map(|s| s.split(',').map(str::to_owned).collect::<Vec<_>>()).collect(),
        None => provider.scopes.iter().map(|s| (*s).to_owned()).collect(),
    };
    let consent = Consent {
        access_token: access,
        refresh_token: tokens.refresh_token().map(|t| t.secret().clone()),
        expires_at: tokens.expires_in().and_then(|d| chrono::Duration::from_std(d).ok()).map(|d| now() + d),
        scopes,
        account_id: identity.id,
        account: identity.name.chars().take(253).collect(),
        choices,
        page: None,
    };
    let plain = serde_json::to_vec(&consent).map_err(|e| Error::internal_from("serialising a consent", e))?;
    let sealed = vault
        .seal(&consent_bound_to(grant.id, grant.agency_id), &plain)
        .map_err(|e| Error::internal_from("sealing a consent", e))?;
    let ticket = CsrfToken::new_random().secret().clone();
    let kept = oauth_grant::Entity::update_many()
        .col_expr(oauth_grant::Column::TicketHash, Expr::value(sha256_hex(&ticket)))
        .col_expr(oauth_grant::Column::Consent, Expr::value(sealed))
        .col_expr(oauth_grant::Column::ExpiresAt, Expr::value(now() + GRANT_TTL))
        .filter(oauth_grant::Column::Id.eq(grant.id))
        .exec(&services.db)
        .await
        .map_err(Error::from)?;
    if kept.rows_affected != 1 {
        // Swept while the code was exchanged: the grant would be live with no ticket.
        revoke(
            services,
            network,
            &consent.account_id,
            None,
            consent.refresh_token.as_deref().unwrap_or(&consent.access_token),
        )
        .await;
        return Err(CallbackError::UnknownState);
    }
    tracing::info!(network = %network.name(), "OAuth authorisation given; waiting for its manager");
    let choices = match consent.choices.len() {
        0 | 1 => Vec::new(),
        _ => consent.choices.iter().map(|c| (c.id.clone(), c.name.clone())).collect(),
    };
    Ok(Consented { ticket, network, account: consent.account, agency, brand, choices })
}

/// What a Facebook Login consent opens: its long-lived user token, the Pages (or
/// Instagram accounts) granted, and the identity shown until one is chosen (the only
/// one, or all of their names).
async fn meta_accounts(
    services: &Services,
    app: &OAuthApp,
    network: Network,
    short: &str,
) -> std::result::Result<(String, Vec<Choice>, Identity), String> {
    let long_lived = super::meta::long_lived(&services.http, app, short).await?;
    let choices = super::meta::choices(&services.http, app, network, &long_lived).await?;
    let none = match network {
        Network::Instagram => "none of the Pages granted has an Instagram professional account linked to it",
        _ => "no Facebook Page was granted: grant Vigie at least one Page",
    };
    let identity = identity_of(&choices, none)?;
    Ok((long_lived, choices, identity))
}

/// Who a consent shows as its account until one of `choices` is chosen: the only one,
/// or all of their names; with none, the error `none`.
pub(crate) fn identity_of(choices: &[Choice], none: &str) -> std::result::Result<Identity, String> {
    match choices {
        [] => Err(none.to_owned()),
        [only] => Ok(Identity { id: only.id.clone(), name: only.name.clone() }),
        several => Ok(Identity {
            id: String::new(),
            name: several.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", "),
        }),
    }
}

/// The manager who started a grant, as they are now: still a manager of its agency,
/// still seeing its brand.
async fn manager_of(services: &Services, grant: &oauth_grant::Model) -> Result<Actor, CallbackError> {
    let actor =
        Actor::load(&services.db, grant.user_id, grant.agency_id).await.map_err(|_| CallbackError::Forbidden)?;
    if !actor.role().is_manager() {
        return Err(CallbackError::Forbidden);
    }
    if let Some(brand) = grant.brand_id {
        actor.brand(&services.db, brand).await.map_err(|_| CallbackError::Forbidden)?;
    }
    Ok(actor)
}

/// Completes an authorisation the network gave: stores its account's connection (or
/// renews the tokens of the agency's connection of that account for that brand). Only
/// the manager who started it may: for anyone else the ticket does not exist.
pub async fn complete(
    services: &Services,
    actor: &Actor,
    ticket: &str,
    choice: Option<&str>,
) -> Result<connection::Model> {
    actor.require_manager()?;
    let unknown = || Error::NotFound("authorisation");
    if ticket.is_empty() || ticket.len() > 512 {
        return Err(unknown());
    }
    let grant = oauth_grant::Entity::find()
        .filter(oauth_grant::Column::TicketHash.eq(sha256_hex(ticket)))
        .filter(oauth_grant::Column::AgencyId.eq(actor.agency_id))
        .filter(oauth_grant::Column::UserId.eq(actor.user_id))
        .one(&services.db)
        .await?
        .ok_or_else(unknown)?;
    let vault = require_vault(services)?;
    let sealed = grant.consent.as_deref().ok_or_else(unknown)?;
    let plain = vault
        .open(&consent_bound_to(grant.id, grant.agency_id), sealed)
        .map_err(|e| Error::internal_from("opening a consent", e))?;
    let mut consent: Consent =
        serde_json::from_slice(&plain).map_err(|e| Error::internal_from("reading a consent", e))?;
    // Chosen before the grant is taken, so that a missing choice can be made again.
    choose(&mut consent, choice)?;
    // An expired one stays for the sweep, which revokes what it holds.
    let taken = oauth_grant::Entity::delete_many()
        .filter(oauth_grant::Column::Id.eq(grant.id))
        .filter(oauth_grant::Column::ExpiresAt.gt(now()))
        .exec(&services.db)
        .await?;
    if taken.rows_affected != 1 {
        return Err(unknown());
    }
    let network = Network::parse(&grant.network).ok_or_else(unknown)?;
    let provider = provider(&services.config, network)?;
    let actor = match manager_of(services, &grant).await {
        Ok(actor) => actor,
        Err(_) => {
            let token = consent.refresh_token.as_deref().unwrap_or(&consent.access_token);
            revoke(services, network, &consent.account_id, None, token).await;
            return Err(Error::Forbidden("you can no longer connect accounts for this agency or brand".into()));
        }
    };
    let account_id = consent.account_id.clone();
    let identity = Identity { id: consent.account_id, name: consent.account };
    let held = consent.refresh_token.clone().unwrap_or_else(|| consent.access_token.clone());
    let secret = Secret::OAuth { access_token: consent.access_token, refresh_token: consent.refresh_token };
    let stored =
        store(services, vault, &actor, &provider, grant.brand_id, identity, consent.scopes, consent.expires_at, secret)
            .await;
    if let (Ok(_), Some(page)) = (&stored, consent.page.as_deref()) {
        // Its events then arrive as they happen (`/webhooks/meta`).
        super::meta::subscribe(&services.http, provider.app, page, &held).await;
    }
    // Not kept for good (no refresh token, the agency's limit, the brand gone): not left
    // live. A passing failure (the database) is not a reason to revoke.
    if let Err(Error::BadInput { .. } | Error::NotFound(_) | Error::Forbidden(_)) = &stored {
        revoke(services, network, &account_id, None, &held).await;
    }
    stored
}

/// An account a consent granted, one of several the connection may be.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Choice {
    /// Its id: a Page's, an Instagram account's, an organisation's.
    pub id: String,
    /// Its name: a Page's, an Instagram username, an organisation's.
    pub name: String,
    /// Its own token, when it has one (a Page token); none: the consent's.
    pub token: Option<String>,
    /// The Page whose webhooks to subscribe (Meta).
    pub page_id: Option<String>,
}

/// Keeps, of the accounts a consent granted (Meta's Pages, LinkedIn's organisations),
/// the one `choice` names (its id), or the only one; its own token, if it has one,
/// becomes the consent's.
fn choose(consent: &mut Consent, choice: Option<&str>) -> Result<()> {
    if consent.choices.is_empty() {
        return Ok(());
    }
    let listed = || consent.choices.iter().map(|c| format!("{} ({})", c.id, c.name)).collect::<Vec<_>>().join(", ");
    let picked = match (choice, consent.choices.len()) {
        (Some(id), _) => consent.choices.iter().find(|c| c.id == id).cloned().ok_or_else(|| {
            Error::bad_input("account", format!("the consent did not grant this account; it granted {}", listed()))
        })?,
        (None, 1) => consent.choices[0].clone(),
        (None, _) => {
            return Err(Error::bad_input("account", format!("name the account to connect, one of {}", listed())));
        }
    };
    consent.account_id = picked.id;
    consent.account = picked.name.chars().take(253).collect();
    if let Some(token) = picked.token {
        consent.access_token = token;
        consent.refresh_token = None;
        // A Page token from a long-lived user token does not expire.
        consent.expires_at = None;
    }
    consent.page = picked.page_id;
    Ok(())
}

/// Takes the grant of `state` on `network` so that the state serves once: its hash is
/// replaced, by a conditional update.
async fn take_grant(services: &Services, network: Network, state: &str) -> Result<oauth_grant::Model, CallbackError> {
    let hash = sha256_hex(state);
    let grant = oauth_grant::Entity::find()
        .filter(oauth_grant::Column::StateHash.eq(hash.clone()))
        .filter(oauth_grant::Column::Network.eq(network.name()))
        .one(&services.db)
        .await
        .map_err(Error::from)?
        .ok_or(CallbackError::UnknownState)?;
    let taken = oauth_grant::Entity::update_many()
        .col_expr(oauth_grant::Column::StateHash, Expr::value(format!("used:{}", grant.id)))
        .filter(oauth_grant::Column::Id.eq(grant.id))
        .filter(oauth_grant::Column::StateHash.eq(hash))
        .exec(&services.db)
        .await
        .map_err(Error::from)?;
    if taken.rows_affected != 1 || grant.expires_at <= now() {
        return Err(CallbackError::UnknownState);
    }
    Ok(grant)
}

/// Who the tokens act as on the network.
pub(crate) struct Identity {
    /// Stable id (a YouTube channel id).
    pub id: String,
    /// Display name or handle.
    pub name: String,
}

/// Stores the tokens of `identity`: fresh tokens for the agency's connection of that
/// account for that brand (healthy again, its sources rescheduled), or a new one.
#[allow(clippy::too_many_arguments)]
async fn store(
    services: &Services,
    vault: &Vault,
    actor: &Actor,
    provider: &Provider<'_>,
    brand_id: Option<Uuid>,
    identity: Identity,
    scopes: Vec<String>,
    expires_at: Option<DateTime<Utc>>,
    secret: Secret,
) -> Result<connection::Model> {
    let account: String = identity.name.chars().take(253).collect();
    let account_id: String = identity.id.chars().take(255).collect();
    let endpoint = provider.app.api_url.as_str().trim_end_matches('/').to_owned();
    let txn = crate::platform::db::begin_write(&services.db).await?;
    crate::agencies::lock(&txn, actor.agency_id).await?;
    let mut same = scoped(actor)
        .filter(connection::Column::Network.eq(provider.network.name()))
        .filter(connection::Column::Kind.eq(OAUTH2))
        .filter(connection::Column::AccountId.eq(account_id.clone()));
    same = match brand_id {
        Some(brand) => same.filter(connection::Column::BrandId.eq(brand)),
        None => same.filter(connection::Column::BrandId.is_null()),
    };
    let at = now();
    let stored = if let Some(existing) = same.one(&txn).await? {
        // A network that sends no new refresh token leaves the one held good.
        let secret = match secret {
            Secret::OAuth { access_token, refresh_token: None } => {
                let held = match super::open(vault, &existing) {
                    Ok(Secret::OAuth { refresh_token, .. }) => refresh_token,
                    _ => None,
                };
                Secret::OAuth { access_token, refresh_token: held }
            }
            other => other,
        };
        let (sealed, key_id) = seal(vault, existing.id, existing.agency_id, &secret)?;
        super::reconnection(existing.id, sealed, key_id, account, expires_at, at)
            .col_expr(connection::Column::Version, Expr::col(connection::Column::Version).add(1))
            .col_expr(connection::Column::Endpoint, Expr::value(endpoint))
            .col_expr(connection::Column::Scopes, Expr::value(serde_json::json!(scopes)))
            .exec(&txn)
            .await?;
        super::reconnected(&txn, actor, existing.id, at).await?;
        connection::Entity::find_by_id(existing.id).one(&txn).await?.ok_or(Error::NotFound("connection"))?
    } else {
        if !provider.refresh_optional && matches!(secret, Secret::OAuth { refresh_token: None, .. }) {
            // Its access would end within the hour, for good.
            return Err(Error::bad_input(
                "ticket",
                "the network gave no refresh token: remove Vigie's access in the account's security settings, then connect again",
            ));
        }
        let account = super::Account {
            network: provider.network,
            kind: OAUTH2,
            name: account,
            id: account_id,
            endpoint,
            scopes,
            expires_at,
        };
        super::insert(&txn, vault, actor, new_id(), brand_id, account, &secret, "ticket").await?
    };
    txn.commit().await?;
    tracing::info!(connection_id = %stored.id, network = %stored.network, "OAuth connection stored");
    Ok(stored)
}

/// Revokes a refresh token (or an access token) at the network (RFC 7009), so that a
/// deleted connection, or an authorisation that went nowhere, leaves no live grant.
/// Google revokes the application's whole grant on the account, so nothing is revoked
/// while another connection (of any agency, `except` aside) holds the same account.
/// Best effort: a failure is logged, and the token expires on the network's terms.
pub(crate) async fn revoke(services: &Services, network: Network, account_id: &str, except: Option<Uuid>, token: &str) {
    use base64::Engine;
    if matches!(network, Network::Facebook | Network::Instagram | Network::Linkedin) {
        // The token is the person's, not the account's: Meta revokes a user's whole
        // grant to the app, which every Page connected through it (in any agency)
        // holds, and a LinkedIn member's token opens every page they administer. The
        // manager removes Vigie in the Page's or member's settings instead.
        return;
    }
    use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
    let mut others = connection::Entity::find()
        .filter(connection::Column::Network.eq(network.name()))
        .filter(connection::Column::AccountId.eq(account_id));
    if let Some(except) = except {
        others = others.filter(connection::Column::Id.ne(except));
    }
    match others.count(&services.db).await {
        Ok(0) => {}
        Ok(_) => return,
        Err(e) => {
            tracing::warn!(error = %e, "OAuth revocation skipped: cannot tell whether the account is still connected");
            return;
        }
    }
    let Ok(provider) = provider(&services.config, network) else { return };
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded"));
    let mut pairs = vec![("token", token), ("token_type_hint", "refresh_token")];
    if provider.secret_in_form {
        pairs.extend([("client_id", provider.app.client_id.as_str()), ("client_secret", &provider.app.client_secret)]);
    } else {
        let credentials = format!("{}:{}", provider.app.client_id, provider.app.client_secret);
        let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(credentials));
        let Ok(basic) = HeaderValue::from_str(&basic) else { return };
        headers.insert(AUTHORIZATION, basic);
    }
    let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
    let url = provider.app.revoke_url.as_str();
    match services.http.post_direct(url, headers, body.into_bytes(), TOKEN_TIMEOUT, TOKEN_BODY).await {
        Ok(answer) if (200..300).contains(&answer.status) => {
            tracing::info!(network = %network.name(), "OAuth grant revoked");
        }
        Ok(answer) => tracing::warn!(network = %network.name(), status = answer.status, "OAuth revocation refused"),
        Err(e) => tracing::warn!(network = %network.name(), error = %e, "OAuth revocation failed"),
    }
}

/// Expired authorisations deleted per sweep.
const SWEEP_BATCH: u64 = 200;

/// Deletes expired authorisations, revoking the tokens of those the network gave and
/// no manager completed (nothing else would ever use or revoke them).
pub async fn sweep(services: &Services) -> Result<usize> {
    let expired = oauth_grant::Entity::find()
        .filter(oauth_grant::Column::ExpiresAt.lte(now()))
        .limit(SWEEP_BATCH)
        .all(&services.db)
        .await?;
    for grant in &expired {
        let opened = grant.consent.as_deref().map(|sealed| {
            services
                .config
                .vault
                .open(&consent_bound_to(grant.id, grant.agency_id), sealed)
                .ok()
                .and_then(|plain| serde_json::from_slice::<Consent>(&plain).ok())
        });
        let taken = oauth_grant::Entity::delete_by_id(grant.id).exec(&services.db).await?;
        if taken.rows_affected == 1
            && let (Some(Some(consent)), Some(network)) = (opened, Network::parse(&grant.network))
        {
            let token = consent.refresh_token.as_deref().unwrap_or(&consent.access_token);
            revoke(services, network, &consent.account_id, None, token).await;
        }
    }
    if !expired.is_empty() {
        tracing::info!(swept = expired.len(), "expired OAuth authorisations deleted");
    }
    Ok(expired.len())
}

/// Why tokens could not be obtained.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The grant or refresh token is revoked or expired (`invalid_grant`).
    #[error("the network refused the grant ({0})")]
    Refused(String),
    #[error("the token endpoint rate-limited Vigie")]
    RateLimited { retry_after: Option<Duration> },
    #[error("{0}")]
    Failed(String),
}

/// New tokens from a refresh token. The network may send a new refresh token; if it does
/// not, the old one stays good.
pub(crate) async fn refresh(
    services: &Services,
    network: Network,
    refresh_token: &str,
) -> std::result::Result<(String, Option<String>, Option<DateTime<Utc>>), TokenError> {
    let provider = provider(&services.config, network).map_err(|e| TokenError::Failed(e.to_string()))?;
    let client = client(&services.config, &provider).map_err(|e| TokenError::Failed(e.to_string()))?;
    let sender = TokenClient { http: &services.http, limited: Mutex::new(None) };
    let tokens = client
        .exchange_refresh_token(&RefreshToken::new(refresh_token.to_owned()))
        .request_async(&sender)
        .await
        .map_err(|e| token_error(e, network, &sender.limited))?;
    let expires_at = tokens.expires_in().and_then(|d| chrono::Duration::from_std(d).ok()).map(|d| now() + d);
    Ok((tokens.access_token().secret().clone(), tokens.refresh_token().map(|t| t.secret().clone()), expires_at))
}

/// Reads a token endpoint's failure: `invalid_grant` is a refusal (and X's
/// `invalid_request`, its answer to a used or revoked refresh token), a 429 a wait (the
/// crate cannot say, so [`send`] noted it), anything else a passing failure.
fn token_error<E: std::error::Error + 'static>(
    error: RequestTokenError<E, oauth2::StandardErrorResponse<BasicErrorResponseType>>,
    network: Network,
    limited: &Mutex<Option<Option<Duration>>>,
) -> TokenError {
    if let Some(retry_after) = *limited.lock().unwrap_or_else(std::sync::PoisonError::into_inner) {
        return TokenError::RateLimited { retry_after };
    }
    match error {
        RequestTokenError::ServerResponse(response) => match response.error() {
            BasicErrorResponseType::InvalidGrant => TokenError::Refused("invalid_grant".into()),
            BasicErrorResponseType::InvalidRequest if network == Network::X => {
                TokenError::Refused("invalid_request".into())
            }
            other => TokenError::Failed(format!("the token endpoint answered {}", other.as_ref())),
        },
        RequestTokenError::Request(e) => TokenError::Failed(format!("the token endpoint failed: {e}")),
        RequestTokenError::Parse(_, _) => TokenError::Failed("the token endpoint's answer is malformed".into()),
        RequestTokenError::Other(why) => TokenError::Failed(format!("the token endpoint failed: {why}")),
    }
}

/// The crate's requests sent by Vigie's client; a 429 is noted in `limited`, since the
/// crate reports it only as an unreadable answer.
struct TokenClient<'a> {
    http: &'a Http,
    limited: Mutex<Option<Option<Duration>>>,
}

impl<'c> oauth2::AsyncHttpClient<'c> for TokenClient<'_> {
    type Error = FetchError;
    type Future = Pin<Box<dyn Future<Output = std::result::Result<oauth2::HttpResponse, FetchError>> + Send + 'c>>;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(send(self.http, request, &self.limited))
    }
}

/// Sends one of the crate's requests with Vigie's client.
async fn send(
    http: &Http,
    request: oauth2::HttpRequest,
    limited: &Mutex<Option<Option<Duration>>>,
) -> std::result::Result<oauth2::HttpResponse, FetchError> {
    let (parts, body) = request.into_parts();
    let mut headers = HeaderMap::new();
    for (name, value) in &parts.headers {
        headers.insert(name.clone(), value.clone());
    }
    let url = parts.uri.to_string();
    let fetched = if parts.method == oauth2::http::Method::GET {
        http.get(&url, headers).await?
    } else {
        http.post_direct(&url, headers, body, TOKEN_TIMEOUT, TOKEN_BODY).await?
    };
    if fetched.status == 429 {
        *limited.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(retry_after(&fetched.headers));
    }
    let mut response = oauth2::http::Response::builder().status(fetched.status);
    for (name, value) in &fetched.headers {
        if name != reqwest::header::CONTENT_LENGTH {
            response = response.header(name, value);
        }
    }
    response.body(with_token_type(fetched.body)).map_err(|e| FetchError::Network(format!("an unreadable answer: {e}")))
}

/// A token answer with a `token_type`: LinkedIn leaves it out, which RFC 6749 requires
/// and the crate insists on; its tokens are bearer tokens.
fn with_token_type(body: Vec<u8>) -> Vec<u8> {
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(serde_json::Value::Object(mut answer))
            if answer.contains_key("access_token") && !answer.contains_key("token_type") =>
        {
            answer.insert("token_type".into(), "bearer".into());
            serde_json::to_vec(&answer).unwrap_or(body)
        }
        _ => body,
    }
}
