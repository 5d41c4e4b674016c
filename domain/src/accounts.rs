//! Sign-up, log-in and sessions: a short-lived JWT access token plus a rotating refresh
//! token. Reusing a refresh token that was already rotated revokes its whole family (the
//! log-in it came from), because it means someone else holds a copy.

use chrono::Duration as ChronoDuration;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use uuid::Uuid;

use crate::entities::{agency, membership, refresh_token, user_account};
use crate::platform::auth::{passwords, secrets};
use crate::platform::mail::Email;
use crate::{Actor, Error, Result, Role, Services, new_id, now, platform::audit, platform::validate};
use crate::{Config, platform::i18n, platform::mail};
use minijinja::context;

/// What a successful sign-up, log-in or refresh returns.
#[derive(Debug)]
pub struct Session {
    pub access_token: String,
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    pub user: user_account::Model,
    pub actor: Actor,
}

/// Input of [`sign_up`].
pub struct SignUp {
    pub agency_name: String,
    pub name: String,
    pub email: String,
    pub password: String,
}

const INVALID_CREDENTIALS: &str = "invalid email or password";
const INVALID_REFRESH: &str = "invalid or expired refresh token";

/// Creates an agency and its owner, and opens a session.
pub async fn sign_up(services: &Services, input: SignUp) -> Result<Session> {
    let agency_name = validate::name("agencyName", &input.agency_name, 120)?;
    let name = validate::name("name", &input.name, 120)?;
    let email = validate::email("email", &input.email)?;
    passwords::validate(&input.password)?;
    let password_hash = services.passwords.hash(input.password).await?;

    let txn = crate::platform::db::begin_write(&services.db).await?;
    if find_user_by_email(&txn, &email).await?.is_some() {
        return Err(Error::Conflict("an account with this email already exists; log in instead".into()));
    }
    let at = now();
    let agency = agency::ActiveModel {
        id: Set(new_id()),
        name: Set(agency_name),
        sender_email: Set(None),
        created_at: Set(at),
        updated_at: Set(at),
    }
    .insert(&txn)
    .await?;
    let user = create_user(&txn, &email, &name, password_hash).await?;
    let membership = create_membership(&txn, agency.id, user.id, Role::Owner).await?;
    let actor = Actor::from_membership(&txn, membership).await?;
    audit::record(&txn, &actor, "agency.created", "agency", Some(agency.id), serde_json::json!({})).await?;
    let session = open_session(&txn, services, user, actor, None).await?;
    txn.commit().await?;
    tracing::info!(agency_id = %agency.id, user_id = %session.user.id, "agency signed up");
    Ok(session)
}

/// Logs in with email and password, into `agency_id` or the user's oldest membership;
/// `network` is the client's (see [`crate::platform::ratelimit`]).
///
/// An unknown email and a wrong password give the same error after the same work.
pub async fn log_in(
    services: &Services,
    email: &str,
    password: &str,
    agency_id: Option<Uuid>,
    network: &str,
) -> Result<Session> {
    let email = email.trim().to_lowercase();
    let user = find_user_by_email(&services.db, &email).await?;
    if !check_password(services, &email, network, password, user.as_ref()).await? {
        return Err(Error::Unauthenticated(INVALID_CREDENTIALS.into()));
    }
    let user = user.expect("verified against a stored hash");
    let mut memberships =
        membership::Entity::find().filter(membership::Column::UserId.eq(user.id)).order_by_asc(membership::Column::Id);
    if let Some(agency_id) = agency_id {
        memberships = memberships.filter(membership::Column::AgencyId.eq(agency_id));
    }
    let membership = memberships
        .one(&services.db)
        .await?
        .ok_or_else(|| Error::Unauthenticated("this account has no access to that agency".into()))?;
    let actor = Actor::from_membership(&services.db, membership).await?;
    let txn = crate::platform::db::begin_write(&services.db).await?;
    let session = open_session(&txn, services, user, actor, None).await?;
    txn.commit().await?;
    Ok(session)
}

/// Checks `password` against `user`'s (an unknown email costs the same work), under
/// the account's throttle: refused while failures lock it, each failure recorded, and
/// the owner told by email when they reach a burst.
pub(crate) async fn check_password(
    services: &Services,
    email: &str,
    network: &str,
    password: &str,
    user: Option<&user_account::Model>,
) -> Result<bool> {
    let attempts = services.limiter.account_attempt(email, network).await?;
    let stored = user.map(|u| u.password_hash.clone());
    let matches = password.len() <= passwords::MAX_PASSWORD_LEN * 4
        && services.passwords.verify(password.to_owned(), stored).await?;
    if matches {
        services.limiter.account_succeeded(email, network).await;
        return Ok(true);
    }
    tracing::info!(attempts, "failed log-in");
    if attempts == crate::platform::ratelimit::FAILURE_BURST
        && let Some(user) = user
    {
        let warning = failed_logins_email(&services.config, attempts)?;
        crate::platform::mail::enqueue(&services.db, None, &user.email, warning).await?;
        crate::platform::mail::send_soon(services, None).await;
        tracing::warn!(user_id = %user.id, attempts, "a burst of failed log-ins; the account's owner was told");
    }
    Ok(false)
}

/// Exchanges a refresh token for a new session; the old token can never be used again.
///
/// It all happens in one transaction that first locks the user's row, as an operator's
/// password reset does (`admin::reset_password`): a refresh racing a reset either
/// finishes first, and the reset then revokes the new token too, or waits and finds its
/// token revoked.
pub async fn refresh(services: &Services, token: &str) -> Result<Session> {
    let txn = crate::platform::db::begin_write(&services.db).await?;
    let row = refresh_token::Entity::find()
        .filter(refresh_token::Column::TokenHash.eq(secrets::hash(token)))
        .one(&txn)
        .await?
        .ok_or_else(|| Error::Unauthenticated(INVALID_REFRESH.into()))?;
    let user = user_account::Entity::find_by_id(row.user_id)
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or_else(|| Error::Unauthenticated(INVALID_REFRESH.into()))?;
    // Read again under the lock: a reset that held it has revoked the token since.
    let row = refresh_token::Entity::find_by_id(row.id)
        .one(&txn)
        .await?
        .ok_or_else(|| Error::Unauthenticated(INVALID_REFRESH.into()))?;
    if row.revoked_at.is_some() || row.expires_at <= now() {
        return Err(Error::Unauthenticated(INVALID_REFRESH.into()));
    }
    // The conditional update is the single point where a token is consumed, so two
    // concurrent uses of one token cannot both succeed.
    let consumed = refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::UsedAt, Expr::value(now()))
        .filter(refresh_token::Column::Id.eq(row.id))
        .filter(refresh_token::Column::UsedAt.is_null())
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    if consumed.rows_affected != 1 {
        revoke_family(&txn, row.family_id).await?;
        txn.commit().await?;
        tracing::warn!(user_id = %row.user_id, family_id = %row.family_id, "refresh token reused; family revoked");
        return Err(Error::Unauthenticated(
            "refresh token already used; every session of that log-in was revoked".into(),
        ));
    }
    let actor = Actor::load(&txn, row.user_id, row.agency_id).await?;
    let session = open_session(&txn, services, user, actor, Some(row.family_id)).await?;
    txn.commit().await?;
    Ok(session)
}

/// Ends the log-in a refresh token belongs to. Unknown tokens are ignored, so the
/// answer reveals nothing.
pub async fn log_out(services: &Services, token: &str) -> Result<()> {
    let row = refresh_token::Entity::find()
        .filter(refresh_token::Column::TokenHash.eq(secrets::hash(token)))
        .one(&services.db)
        .await?;
    if let Some(row) = row {
        revoke_family(&services.db, row.family_id).await?;
    }
    Ok(())
}

async fn revoke_family(db: &impl ConnectionTrait, family_id: Uuid) -> Result<()> {
    refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RevokedAt, Expr::value(now()))
        .filter(refresh_token::Column::FamilyId.eq(family_id))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Issues an access token and a new refresh token (in `family`, or a new family).
pub(crate) async fn open_session(
    db: &impl ConnectionTrait,
    services: &Services,
    user: user_account::Model,
    actor: Actor,
    family: Option<Uuid>,
) -> Result<Session> {
    let secret = secrets::generate("vgr_");
    let at = now();
    let ttl = ChronoDuration::from_std(services.config.refresh_token_ttl)
        .map_err(|e| Error::internal_from("refresh token lifetime", e))?;
    refresh_token::ActiveModel {
        id: Set(new_id()),
        agency_id: Set(actor.agency_id),
        user_id: Set(user.id),
        family_id: Set(family.unwrap_or_else(new_id)),
        token_hash: Set(secret.hash),
        expires_at: Set(at + ttl),
        used_at: Set(None),
        revoked_at: Set(None),
        created_at: Set(at),
    }
    .insert(db)
    .await?;
    Ok(Session {
        access_token: services.tokens.issue(user.id, actor.agency_id)?,
        refresh_token: secret.plain,
        expires_in: services.tokens.ttl().as_secs(),
        user,
        actor,
    })
}

pub(crate) async fn find_user_by_email(db: &impl ConnectionTrait, email: &str) -> Result<Option<user_account::Model>> {
    Ok(user_account::Entity::find().filter(user_account::Column::Email.eq(email)).one(db).await?)
}

pub(crate) async fn create_user(
    db: &impl ConnectionTrait,
    email: &str,
    name: &str,
    password_hash: String,
) -> Result<user_account::Model> {
    let at = now();
    Ok(user_account::ActiveModel {
        id: Set(new_id()),
        email: Set(email.to_owned()),
        name: Set(name.to_owned()),
        password_hash: Set(password_hash),
        created_at: Set(at),
        updated_at: Set(at),
    }
    .insert(db)
    .await?)
}

pub(crate) async fn create_membership(
    db: &impl ConnectionTrait,
    agency_id: Uuid,
    user_id: Uuid,
    role: Role,
) -> Result<membership::Model> {
    let at = now();
    Ok(membership::ActiveModel {
        id: Set(new_id()),
        agency_id: Set(agency_id),
        user_id: Set(user_id),
        role: Set(role.as_str().to_owned()),
        created_at: Set(at),
        updated_at: Set(at),
    }
    .insert(db)
    .await?)
}

/// The user behind an actor.
pub async fn user(services: &Services, actor: &Actor) -> Result<user_account::Model> {
    user_account::Entity::find_by_id(actor.user_id).one(&services.db).await?.ok_or(Error::NotFound("user"))
}

/// The agencies a user belongs to, with the role in each.
pub async fn memberships_of(services: &Services, actor: &Actor) -> Result<Vec<(membership::Model, agency::Model)>> {
    let memberships = membership::Entity::find()
        .filter(membership::Column::UserId.eq(actor.user_id))
        .order_by_asc(membership::Column::Id)
        .all(&services.db)
        .await?;
    let agencies: std::collections::HashMap<Uuid, agency::Model> = agency::Entity::find()
        .filter(agency::Column::Id.is_in(memberships.iter().map(|m| m.agency_id)))
        .all(&services.db)
        .await?
        .into_iter()
        .map(|a| (a.id, a))
        .collect();
    Ok(memberships.into_iter().filter_map(|m| agencies.get(&m.agency_id).cloned().map(|a| (m, a))).collect())
}

/// Someone failed to log in to the account `failures` times in a row.
fn failed_logins_email(config: &Config, failures: u32) -> Result<Email> {
    let lang = i18n::DEFAULT;
    mail::compose(
        "failed_logins",
        i18n::text(lang, "email.failed_logins.subject", ()),
        context! {
            lang, failures,
            url => config.public_url.as_str(),
            minutes => crate::platform::ratelimit::MAX_LOCK.as_secs() / 60,
        },
    )
}
