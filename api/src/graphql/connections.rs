//! The agency's connections to networks (owners and admins): the account and its
//! health, never the credentials.

use super::node::{NodeKind, global_id};
use async_graphql::connection::Connection as Page;
use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use vigie_domain::connections::{self, NewApiKeyConnection, NewBlueskyConnection};
use vigie_domain::entities::connection;

use super::brands::{Brand, DeletePayload, Network};
use super::loaders::BrandKey;
use super::pagination::{self, Cursor, uuid};
use super::{actor, loader, services};

/// An account or app credential the agency holds on a network. Its secret is sealed
/// and never returned.
pub struct Connection(pub connection::Model);

#[Object]
impl Connection {
    pub(crate) async fn id(&self) -> ID {
        global_id(NodeKind::Connection, self.0.id)
    }
    /// `bluesky`, `youtube`, `reddit`, `x`, `trustpilot`, `google`.
    async fn network(&self) -> &str {
        &self.0.network
    }
    /// `app_password`, `oauth2` or `api_key`.
    async fn kind(&self) -> &str {
        &self.0.kind
    }
    /// The account's name on the network (a Bluesky handle, a YouTube channel's handle,
    /// a Reddit or X username).
    async fn account(&self) -> &str {
        &self.0.account
    }
    /// The account's stable id (a Bluesky DID, a YouTube channel id, a Reddit `t2_…`
    /// id, an X user id).
    async fn account_id(&self) -> Option<&str> {
        self.0.account_id.as_deref()
    }
    /// Where its requests go (a Bluesky PDS or entryway, an API's base URL).
    async fn endpoint(&self) -> &str {
        &self.0.endpoint
    }
    /// The brand whose account it is; null: any brand of the agency may use it.
    async fn brand(&self, ctx: &Context<'_>) -> Result<Option<Brand>> {
        match self.0.brand_id {
            None => Ok(None),
            Some(id) => Ok(loader(ctx).load_one(BrandKey(id)).await?.map(Brand)),
        }
    }
    /// What the credentials allow, as the network names it (empty for app passwords).
    async fn scopes(&self) -> &[String] {
        &self.0.scopes.0
    }
    /// When the current access token expires (Vigie renews it before).
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.0.expires_at
    }
    /// False once the network refused the credentials (a `connection.unhealthy` event
    /// was sent): reconnect it.
    async fn healthy(&self) -> bool {
        self.0.healthy
    }
    async fn last_success_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_success_at
    }
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }
    /// Requests left in the network's current rate-limit window, as it last said; for
    /// YouTube, the quota units left today as Vigie counts them.
    async fn quota_remaining(&self) -> Option<i32> {
        self.0.quota_remaining
    }
    async fn quota_resets_at(&self) -> Option<DateTime<Utc>> {
        self.0.quota_resets_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// A Bluesky account to connect with an app password (Settings → App passwords).
#[derive(InputObject)]
pub struct ConnectBlueskyInput {
    /// The brand whose account it is; omitted: any brand of the agency may use it.
    brand_id: Option<ID>,
    /// Handle, DID or email of the account.
    identifier: String,
    /// Checked at once by signing in; kept sealed, never shown again.
    app_password: String,
    /// The account's PDS or entryway; default `https://bsky.social`.
    endpoint: Option<String>,
}

/// An API key to connect (Trustpilot).
#[derive(InputObject)]
pub struct ConnectApiKeyInput {
    network: Network,
    /// The brand it serves; omitted: any brand of the agency may use it.
    brand_id: Option<ID>,
    /// Checked at once with the network; kept sealed, never shown again. On Mastodon,
    /// an access token the account made on its instance (Preferences → Development),
    /// with the scopes `read write:statuses`.
    api_key: String,
    /// The account's instance (`https://mastodon.social`): Mastodon only.
    endpoint: Option<String>,
}

/// An account to connect through OAuth 2: YouTube, Reddit, X, Google Business Profile,
/// Facebook, Instagram or LinkedIn.
#[derive(InputObject)]
pub struct StartOAuthConnectionInput {
    network: Network,
    /// The brand whose account it is; omitted: any brand of the agency may use it.
    brand_id: Option<ID>,
}

/// Where to send the manager's browser to consent. The network sends it back to
/// `/oauth/{network}/callback`, whose ticket completes the connection.
#[derive(SimpleObject)]
#[graphql(name = "OAuthAuthorization")]
pub struct OAuthAuthorization {
    /// The network's consent page, with Vigie's state and PKCE challenge.
    url: String,
    /// After this, the callback refuses the authorisation: start again.
    expires_at: DateTime<Utc>,
}

#[derive(Default)]
pub struct ConnectionQuery;

#[Object]
impl ConnectionQuery {
    /// The agency's connections, oldest first; with `brandId`, those the brand's
    /// sources may use (owners and admins).
    #[graphql(complexity = "pagination::complexity(child_complexity, first)")]
    async fn connections(
        &self,
        ctx: &Context<'_>,
        brand_id: Option<ID>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Page<Cursor, Connection>> {
        let had_cursor = after.is_some();
        let brand = brand_id.map(|id| uuid("brandId", &id)).transpose()?;
        let page = connections::list(services(ctx), actor(ctx)?, brand, pagination::request(first, after)?).await?;
        Ok(pagination::connection(page, had_cursor, |c| Cursor(c.id), Connection))
    }

    /// The locations a Google Business Profile connection can read, from every account
    /// its user manages (owners and admins): what to offer as a `GOOGLE` `ACCOUNT`
    /// source's target.
    async fn google_locations(&self, ctx: &Context<'_>, connection_id: ID) -> Result<Vec<GoogleLocation>> {
        let id = uuid("connectionId", &connection_id)?;
        let found = connections::google::locations(services(ctx), actor(ctx)?, id).await?;
        Ok(found.into_iter().map(|l| GoogleLocation { name: l.name, title: l.title, address: l.address }).collect())
    }
}

/// A Business Profile location a connection can read.
#[derive(async_graphql::SimpleObject)]
pub struct GoogleLocation {
    /// `accounts/{account}/locations/{location}`: a source's `target`.
    name: String,
    /// Its business name.
    title: String,
    /// Its street address, on one line.
    address: Option<String>,
}

#[derive(Default)]
pub struct ConnectionMutation;

#[Object]
impl ConnectionMutation {
    /// Connects a Bluesky account with an app password, signing in at once (owners and
    /// admins). A refused password is a `BAD_INPUT` on `appPassword`.
    async fn connect_bluesky(&self, ctx: &Context<'_>, input: ConnectBlueskyInput) -> Result<Connection> {
        let created = connections::connect_bluesky(
            services(ctx),
            actor(ctx)?,
            NewBlueskyConnection {
                brand_id: input.brand_id.map(|id| uuid("brandId", &id)).transpose()?,
                identifier: input.identifier,
                app_password: input.app_password,
                endpoint: input.endpoint,
            },
        )
        .await?;
        Ok(Connection(created))
    }

    /// Keeps an API key as a connection, checked at once with the network (owners and
    /// admins): Trustpilot's, whose sources read a business unit's reviews. A refused
    /// key is a `BAD_USER_INPUT` on `apiKey`, and nothing is kept.
    async fn connect_api_key(&self, ctx: &Context<'_>, input: ConnectApiKeyInput) -> Result<Connection> {
        let created = connections::connect_api_key(
            services(ctx),
            actor(ctx)?,
            NewApiKeyConnection {
                brand_id: input.brand_id.map(|id| uuid("brandId", &id)).transpose()?,
                network: input.network.into(),
                api_key: input.api_key,
                endpoint: input.endpoint,
            },
        )
        .await?;
        Ok(Connection(created))
    }

    /// Starts connecting an account through OAuth 2 with PKCE (owners and admins): open
    /// `url` in the browser; after consent the network calls
    /// `/oauth/{network}/callback`, which gives a ticket that the same manager passes to
    /// `completeOAuthConnection`. `UNAVAILABLE` until the operator registers the
    /// network's application.
    #[graphql(name = "startOAuthConnection")]
    async fn start_oauth_connection(
        &self,
        ctx: &Context<'_>,
        input: StartOAuthConnectionInput,
    ) -> Result<OAuthAuthorization> {
        let brand = input.brand_id.map(|id| uuid("brandId", &id)).transpose()?;
        let started = connections::oauth::start(services(ctx), actor(ctx)?, input.network.into(), brand).await?;
        Ok(OAuthAuthorization { url: started.url, expires_at: started.expires_at })
    }

    /// Completes an OAuth authorisation with the ticket its callback gave (in
    /// `VIGIE_APP_URL?oauthTicket=…`, or on its page): stores the connection, or renews
    /// the tokens of the brand's connection of the same account. Only the manager who
    /// started it, within ten minutes of the callback; for anyone else the ticket is
    /// `NOT_FOUND`. When the consent granted several accounts (Facebook Pages, or the
    /// Instagram accounts linked to them), `account` names the one to connect by its id
    /// (the callback lists them); without it, a `BAD_USER_INPUT` on `account` lists
    /// them, and the ticket stays good.
    #[graphql(name = "completeOAuthConnection")]
    async fn complete_oauth_connection(
        &self,
        ctx: &Context<'_>,
        ticket: String,
        account: Option<String>,
    ) -> Result<Connection> {
        let stored = connections::oauth::complete(services(ctx), actor(ctx)?, &ticket, account.as_deref()).await?;
        Ok(Connection(stored))
    }

    /// Gives a Bluesky connection a new app password (after it was revoked); it is
    /// healthy again once Bluesky accepts it (owners and admins).
    async fn reconnect_bluesky(&self, ctx: &Context<'_>, id: ID, app_password: String) -> Result<Connection> {
        let updated =
            connections::reconnect_bluesky(services(ctx), actor(ctx)?, uuid("id", &id)?, app_password).await?;
        Ok(Connection(updated))
    }

    /// Gives an API-key connection a new key (after the old one was revoked), checked at
    /// once; it is healthy again and its sources keep it (owners and admins). A refused
    /// key is a `BAD_USER_INPUT` on `apiKey`.
    async fn reconnect_api_key(&self, ctx: &Context<'_>, id: ID, api_key: String) -> Result<Connection> {
        let updated = connections::reconnect_api_key(services(ctx), actor(ctx)?, uuid("id", &id)?, api_key).await?;
        Ok(Connection(updated))
    }

    /// Deletes a connection and its credentials; its sources poll anonymously from then
    /// on (owners and admins).
    async fn delete_connection(&self, ctx: &Context<'_>, id: ID) -> Result<DeletePayload> {
        connections::delete(services(ctx), actor(ctx)?, uuid("id", &id)?).await?;
        Ok(DeletePayload { deleted_id: id })
    }
}
