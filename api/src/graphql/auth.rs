//! Sign-up, log-in, sessions and `me`.

use super::node::{NodeKind, global_id};
use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use vigie_domain::accounts::{self, Session, SignUp};
use vigie_domain::entities::{agency, user_account};
use vigie_domain::{Actor, Role, agencies};

use super::agency::Agency;
use super::{actor, services};

/// A role in an agency.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "vigie_domain::Role")]
pub enum MemberRole {
    /// Created the agency; full rights.
    Owner,
    /// Manages members, brands and keys; cannot touch owners.
    Admin,
    /// Agency staff working on assigned brands.
    Member,
    /// A client brand's staff, read-only on assigned brands.
    ClientViewer,
}

/// A person who can log in.
pub struct User(pub user_account::Model);

#[Object]
impl User {
    pub(crate) async fn id(&self) -> ID {
        global_id(NodeKind::User, self.0.id)
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Shown to agency staff and to the user; null to client viewers for anyone else.
    async fn email(&self, ctx: &Context<'_>) -> Option<&str> {
        // No caller only in the answers of logIn, signUp and the like: the user's own.
        let shown = super::sees_staff_details(ctx, Some(self.0.id)).unwrap_or(true);
        shown.then_some(self.0.email.as_str())
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// The caller: who they are, the agency they act in, and every agency they belong to.
pub struct Viewer {
    actor: Actor,
}

#[Object]
impl Viewer {
    async fn user(&self, ctx: &Context<'_>) -> Result<User> {
        Ok(User(accounts::user(services(ctx), &self.actor).await?))
    }
    /// The agency this session acts in.
    async fn agency(&self, ctx: &Context<'_>) -> Result<Agency> {
        Ok(Agency(agencies::current(services(ctx), &self.actor).await?))
    }
    async fn role(&self) -> MemberRole {
        self.actor.role().into()
    }
    /// The caller's membership id in this agency.
    async fn member_id(&self) -> ID {
        global_id(NodeKind::Member, self.actor.membership_id())
    }
    /// Every agency the caller belongs to (log in with `agencyId` to switch).
    async fn memberships(&self, ctx: &Context<'_>) -> Result<Vec<ViewerMembership>> {
        let rows = accounts::memberships_of(services(ctx), &self.actor).await?;
        Ok(rows
            .into_iter()
            .map(|(m, agency)| ViewerMembership {
                role: Role::parse(&m.role).map(Into::into).unwrap_or(MemberRole::Member),
                agency,
            })
            .collect())
    }
}

/// One of the caller's agencies.
pub struct ViewerMembership {
    role: MemberRole,
    agency: agency::Model,
}

#[Object]
impl ViewerMembership {
    async fn role(&self) -> MemberRole {
        self.role
    }
    async fn agency(&self) -> Agency {
        Agency(self.agency.clone())
    }
}

/// Tokens for a new session.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct AuthPayload {
    /// Send as `Authorization: Bearer <accessToken>`.
    access_token: String,
    /// Exchange with `refreshToken` for a new pair; single use.
    refresh_token: String,
    /// Seconds until the access token expires.
    expires_in: u64,
    #[graphql(skip)]
    user: user_account::Model,
    #[graphql(skip)]
    actor: Actor,
}

#[async_graphql::ComplexObject]
impl AuthPayload {
    async fn user(&self) -> User {
        User(self.user.clone())
    }
    async fn role(&self) -> MemberRole {
        self.actor.role().into()
    }
    async fn agency(&self, ctx: &Context<'_>) -> Result<Agency> {
        Ok(Agency(agencies::current(services(ctx), &self.actor).await?))
    }
}

impl From<Session> for AuthPayload {
    fn from(s: Session) -> Self {
        AuthPayload {
            access_token: s.access_token,
            refresh_token: s.refresh_token,
            expires_in: s.expires_in,
            user: s.user,
            actor: s.actor,
        }
    }
}

/// Creates an agency and its owner.
#[derive(InputObject)]
pub struct SignUpInput {
    agency_name: String,
    name: String,
    email: String,
    /// At least 10 characters.
    password: String,
}

/// Credentials for `logIn`.
#[derive(InputObject)]
pub struct LogInInput {
    email: String,
    password: String,
    /// The agency to act in; default: the first one the user joined.
    agency_id: Option<ID>,
}

#[derive(Default)]
pub struct AuthQuery;

#[Object]
impl AuthQuery {
    /// The authenticated caller.
    async fn me(&self, ctx: &Context<'_>) -> Result<Viewer> {
        Ok(Viewer { actor: actor(ctx)?.clone() })
    }
}

#[derive(Default)]
pub struct AuthMutation;

#[Object]
impl AuthMutation {
    /// Creates an agency with the caller as its owner, and logs in.
    async fn sign_up(&self, ctx: &Context<'_>, input: SignUpInput) -> Result<AuthPayload> {
        let session = accounts::sign_up(
            services(ctx),
            SignUp { agency_name: input.agency_name, name: input.name, email: input.email, password: input.password },
        )
        .await?;
        Ok(session.into())
    }

    /// Logs in with email and password.
    async fn log_in(&self, ctx: &Context<'_>, input: LogInInput) -> Result<AuthPayload> {
        let agency_id = input.agency_id.as_ref().map(|id| super::pagination::uuid("agencyId", id)).transpose()?;
        let network = super::client_network(ctx);
        Ok(accounts::log_in(services(ctx), &input.email, &input.password, agency_id, network).await?.into())
    }

    /// Exchanges a refresh token for a new token pair. Reusing a refresh token revokes
    /// every token of that log-in.
    async fn refresh_token(&self, ctx: &Context<'_>, refresh_token: String) -> Result<AuthPayload> {
        Ok(accounts::refresh(services(ctx), &refresh_token).await?.into())
    }

    /// Ends the log-in the refresh token belongs to. Always returns true.
    async fn log_out(&self, ctx: &Context<'_>, refresh_token: String) -> Result<bool> {
        accounts::log_out(services(ctx), &refresh_token).await?;
        Ok(true)
    }
}
