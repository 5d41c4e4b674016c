//! Agency members: invitations by email, roles and brand assignments.
//!
//! Rules: owners and admins manage members; only an owner may grant, change or remove
//! the owner or admin roles; an agency always keeps at least one owner; client viewers
//! must be assigned to at least one brand.

use chrono::Duration;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use std::collections::HashMap;
use uuid::Uuid;

use crate::accounts::{self, Session};
use crate::entities::{UuidList, brand, invitation, membership, membership_brand, user_account};
use crate::platform::auth::{passwords, secrets};
use crate::platform::mail::Email;
use crate::platform::pagination::{self, Page, PageRequest};
use crate::{Actor, Error, Result, Role, Services, new_id, now, platform::audit, platform::mail, platform::validate};
use crate::{Config, platform::i18n};
use minijinja::context;

/// How long an invitation can be accepted.
pub const INVITATION_TTL_DAYS: i64 = 7;

/// The agency's members (staff only: client viewers do not see the team).
pub async fn list(services: &Services, actor: &Actor, page: PageRequest) -> Result<Page<membership::Model>> {
    actor.require_staff()?;
    let select = membership::Entity::find().filter(membership::Column::AgencyId.eq(actor.agency_id));
    pagination::fetch(&services.db, select, membership::Column::Id, pagination::Direction::Ascending, page).await
}

/// Users by id (for DataLoaders); only users who are members of the actor's agency.
pub async fn users(
    db: &impl ConnectionTrait,
    actor: &Actor,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, user_account::Model>> {
    let members: Vec<Uuid> = membership::Entity::find()
        .filter(membership::Column::AgencyId.eq(actor.agency_id))
        .filter(membership::Column::UserId.is_in(ids.iter().copied()))
        .all(db)
        .await?
        .into_iter()
        .map(|m| m.user_id)
        .collect();
    Ok(user_account::Entity::find()
        .filter(user_account::Column::Id.is_in(members))
        .all(db)
        .await?
        .into_iter()
        .map(|u| (u.id, u))
        .collect())
}

/// Several memberships of the actor's agency at once (for DataLoaders).
pub async fn get_many(db: &impl ConnectionTrait, actor: &Actor, ids: &[Uuid]) -> Result<Vec<membership::Model>> {
    Ok(membership::Entity::find()
        .filter(membership::Column::AgencyId.eq(actor.agency_id))
        .filter(membership::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?)
}

/// The brands assigned to several memberships (for DataLoaders).
pub async fn assigned_brands(
    db: &impl ConnectionTrait,
    actor: &Actor,
    membership_ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<Uuid>>> {
    let rows = membership_brand::Entity::find()
        .filter(membership_brand::Column::AgencyId.eq(actor.agency_id))
        .filter(membership_brand::Column::MembershipId.is_in(membership_ids.iter().copied()))
        .all(db)
        .await?;
    let mut grouped: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for row in rows {
        grouped.entry(row.membership_id).or_default().push(row.brand_id);
    }
    Ok(grouped)
}

/// Refuses an invitation past the agency's quota over the last 24 hours: each one sends
/// an email in the platform's name, so a manager's account must not become a spam relay.
async fn within_daily_invitations(
    db: &impl ConnectionTrait,
    actor: &Actor,
    per_day: u32,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    use sea_orm::{QueryOrder, QuerySelect};
    crate::agencies::lock(db, actor.agency_id).await?;
    let window = Duration::hours(24);
    let recent: Vec<chrono::DateTime<chrono::Utc>> = invitation::Entity::find()
        .select_only()
        .column(invitation::Column::CreatedAt)
        .filter(invitation::Column::AgencyId.eq(actor.agency_id))
        .filter(invitation::Column::CreatedAt.gt(at - window))
        .order_by_desc(invitation::Column::CreatedAt)
        .limit(u64::from(per_day))
        .into_tuple()
        .all(db)
        .await?;
    if recent.len() < per_day as usize {
        return Ok(());
    }
    // The quota frees up when the oldest of the last `per_day` invitations leaves the window.
    let frees_at = recent.last().copied().unwrap_or(at) + window;
    let retry_after = (frees_at - at).to_std().unwrap_or_default().max(std::time::Duration::from_secs(1));
    tracing::info!(agency_id = %actor.agency_id, per_day, "invitation refused: daily quota reached");
    Err(Error::RateLimited { retry_after })
}

/// Input of [`invite`].
pub struct Invite {
    pub email: String,
    pub role: Role,
    pub brand_ids: Vec<Uuid>,
}

/// Invites someone by email. A pending invitation for the same address is replaced.
pub async fn invite(services: &Services, actor: &Actor, input: Invite) -> Result<invitation::Model> {
    Ok(issue(services, actor, input).await?.0)
}

/// [`invite`], with the invitation's token (emailed, never stored), for the demo.
pub(crate) async fn issue(services: &Services, actor: &Actor, input: Invite) -> Result<(invitation::Model, String)> {
    actor.require_manager()?;
    ensure_may_grant(actor, input.role)?;
    let email = validate::email("email", &input.email)?;
    let brand_ids = checked_brands(&services.db, actor, input.role, input.brand_ids).await?;
    if let Some(user) = accounts::find_user_by_email(&services.db, &email).await? {
        let already = membership::Entity::find()
            .filter(membership::Column::AgencyId.eq(actor.agency_id))
            .filter(membership::Column::UserId.eq(user.id))
            .one(&services.db)
            .await?;
        if already.is_some() {
            return Err(Error::Conflict(format!("{email} is already a member of this agency")));
        }
    }
    let secret = secrets::generate("vgi_");
    let at = now();
    let txn = crate::platform::db::begin_write(&services.db).await?;
    within_daily_invitations(&txn, actor, services.config.invitations_per_day, at).await?;
    invitation::Entity::update_many()
        .col_expr(invitation::Column::RevokedAt, Expr::value(at))
        .filter(invitation::Column::AgencyId.eq(actor.agency_id))
        .filter(invitation::Column::Email.eq(&email))
        .filter(invitation::Column::AcceptedAt.is_null())
        .filter(invitation::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    let invitation = invitation::ActiveModel {
        id: Set(new_id()),
        agency_id: Set(actor.agency_id),
        email: Set(email.clone()),
        role: Set(input.role.as_str().to_owned()),
        brand_ids: Set(UuidList(brand_ids)),
        token_hash: Set(secret.hash),
        invited_by: Set(Some(actor.user_id)),
        expires_at: Set(at + Duration::days(INVITATION_TTL_DAYS)),
        accepted_at: Set(None),
        revoked_at: Set(None),
        created_at: Set(at),
    }
    .insert(&txn)
    .await?;
    let agency = crate::agencies::current(services, actor).await?;
    let inviter = accounts::user(services, actor).await?;
    let message = invitation_email(&services.config, &agency.name, &inviter.name, input.role, &secret.plain)?;
    mail::enqueue(&txn, Some(actor.agency_id), &email, message).await?;
    audit::record(
        &txn,
        actor,
        "member.invited",
        "invitation",
        Some(invitation.id),
        serde_json::json!({ "email": email, "role": input.role.as_str() }),
    )
    .await?;
    txn.commit().await?;
    mail::send_soon(services, Some(actor.agency_id)).await;
    Ok((invitation, secret.plain))
}

/// The agency's invitations, newest last (owners and admins).
pub async fn invitations(services: &Services, actor: &Actor, page: PageRequest) -> Result<Page<invitation::Model>> {
    actor.require_manager()?;
    let select = invitation::Entity::find().filter(invitation::Column::AgencyId.eq(actor.agency_id));
    pagination::fetch(&services.db, select, invitation::Column::Id, pagination::Direction::Ascending, page).await
}

/// Withdraws a pending invitation.
pub async fn revoke_invitation(services: &Services, actor: &Actor, id: Uuid) -> Result<invitation::Model> {
    actor.require_manager()?;
    let existing = invitation::Entity::find_by_id(id)
        .filter(invitation::Column::AgencyId.eq(actor.agency_id))
        .one(&services.db)
        .await?
        .ok_or(Error::NotFound("invitation"))?;
    if existing.accepted_at.is_some() {
        return Err(Error::bad_input("id", "this invitation was already accepted"));
    }
    let mut model: invitation::ActiveModel = existing.into();
    model.revoked_at = Set(Some(now()));
    Ok(model.update(&services.db).await?)
}

/// Input of [`accept`]: a new user gives a name and a password; an existing user (same
/// email) proves it with their password.
pub struct Accept {
    pub token: String,
    pub name: Option<String>,
    pub password: String,
}

/// Accepts an invitation and opens a session in the inviting agency; `network` is the
/// client's (an existing account's password is checked under its throttle).
pub async fn accept(services: &Services, input: Accept, network: &str) -> Result<Session> {
    let invitation = invitation::Entity::find()
        .filter(invitation::Column::TokenHash.eq(secrets::hash(&input.token)))
        .one(&services.db)
        .await?
        .filter(|i| i.accepted_at.is_none() && i.revoked_at.is_none() && i.expires_at > now())
        .ok_or(Error::NotFound("invitation"))?;
    let role = Role::parse(&invitation.role)?;
    let existing = accounts::find_user_by_email(&services.db, &invitation.email).await?;
    let new_user = match &existing {
        Some(user) => {
            if !accounts::check_password(services, &user.email, network, &input.password, Some(user)).await? {
                return Err(Error::Unauthenticated("an account exists for this email: give its password".into()));
            }
            None
        }
        None => {
            let name = validate::name("name", input.name.as_deref().unwrap_or(""), 120)?;
            passwords::validate(&input.password)?;
            Some((name, services.passwords.hash(input.password.clone()).await?))
        }
    };

    let txn = crate::platform::db::begin_write(&services.db).await?;
    // Consuming the invitation with a conditional update makes acceptance single-use
    // even under concurrent requests.
    let consumed = invitation::Entity::update_many()
        .col_expr(invitation::Column::AcceptedAt, Expr::value(now()))
        .filter(invitation::Column::Id.eq(invitation.id))
        .filter(invitation::Column::AcceptedAt.is_null())
        .exec(&txn)
        .await?;
    if consumed.rows_affected != 1 {
        return Err(Error::NotFound("invitation"));
    }
    let user = match (existing, new_user) {
        (Some(user), _) => user,
        (None, Some((name, hash))) => accounts::create_user(&txn, &invitation.email, &name, hash).await?,
        (None, None) => unreachable!("a new user always has a name and a hash"),
    };
    let already = membership::Entity::find()
        .filter(membership::Column::AgencyId.eq(invitation.agency_id))
        .filter(membership::Column::UserId.eq(user.id))
        .one(&txn)
        .await?;
    if already.is_some() {
        return Err(Error::Conflict("you are already a member of this agency".into()));
    }
    let membership = accounts::create_membership(&txn, invitation.agency_id, user.id, role).await?;
    let live_brands: Vec<Uuid> = brand::Entity::find()
        .filter(brand::Column::AgencyId.eq(invitation.agency_id))
        .filter(brand::Column::Id.is_in(invitation.brand_ids.0.iter().copied()))
        .all(&txn)
        .await?
        .into_iter()
        .map(|b| b.id)
        .collect();
    assign(&txn, invitation.agency_id, membership.id, &live_brands).await?;
    let actor = Actor::from_membership(&txn, membership).await?;
    audit::record(
        &txn,
        &actor,
        "member.joined",
        "membership",
        Some(actor.membership_id),
        serde_json::json!({ "invitation": invitation.id }),
    )
    .await?;
    let session = accounts::open_session(&txn, services, user, actor, None).await?;
    txn.commit().await?;
    Ok(session)
}

/// Changes a member's role.
pub async fn update_role(
    services: &Services,
    actor: &Actor,
    membership_id: Uuid,
    role: Role,
) -> Result<membership::Model> {
    actor.require_manager()?;
    let target = get(&services.db, actor, membership_id).await?;
    let current = Role::parse(&target.role)?;
    ensure_may_grant(actor, current)?;
    ensure_may_grant(actor, role)?;
    let txn = crate::platform::db::begin_write(&services.db).await?;
    if current == Role::Owner && role != Role::Owner {
        ensure_another_owner(&txn, actor.agency_id, target.id).await?;
    }
    if role == Role::ClientViewer && assigned_brands(&txn, actor, &[target.id]).await?.is_empty() {
        return Err(Error::bad_input("role", "assign at least one brand before making this member a client viewer"));
    }
    let user_id = target.user_id;
    let mut model: membership::ActiveModel = target.into();
    model.role = Set(role.as_str().to_owned());
    model.updated_at = Set(now());
    let updated = model.update(&txn).await?;
    let brands = assigned_brands(&txn, actor, &[membership_id]).await?.remove(&membership_id).unwrap_or_default();
    let revoked = revoke_beyond(&txn, actor.agency_id, user_id, Some((role, &brands))).await?;
    audit::record(
        &txn,
        actor,
        "member.role_changed",
        "membership",
        Some(membership_id),
        serde_json::json!({
            "from": current.as_str(),
            "to": role.as_str(),
            "revoked_shares": revoked.shares,
            "revoked_api_keys": revoked.api_keys,
        }),
    )
    .await?;
    txn.commit().await?;
    services.callers.changed(actor.agency_id).await;
    Ok(updated)
}

/// What removing a member revoked with it.
#[derive(Debug, Default)]
pub struct Removed {
    /// Report links and calendar feeds the member made.
    pub shares: u64,
    /// API keys the member made.
    pub api_keys: u64,
}

/// Removes a member from the agency: their sessions in it stop working at once (the api
/// processes forget the agency's verified callers), and the report links, calendar
/// feeds, API keys and pending invitations they made are revoked (what they handed out
/// must not outlive their access).
pub async fn remove(services: &Services, actor: &Actor, membership_id: Uuid) -> Result<Removed> {
    actor.require_manager()?;
    let target = get(&services.db, actor, membership_id).await?;
    let current = Role::parse(&target.role)?;
    ensure_may_grant(actor, current)?;
    let txn = crate::platform::db::begin_write(&services.db).await?;
    if current == Role::Owner {
        ensure_another_owner(&txn, actor.agency_id, target.id).await?;
    }
    crate::entities::refresh_token::Entity::update_many()
        .col_expr(crate::entities::refresh_token::Column::RevokedAt, Expr::value(now()))
        .filter(crate::entities::refresh_token::Column::AgencyId.eq(actor.agency_id))
        .filter(crate::entities::refresh_token::Column::UserId.eq(target.user_id))
        .filter(crate::entities::refresh_token::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    let revoked = revoke_beyond(&txn, actor.agency_id, target.user_id, None).await?;
    invitation::Entity::update_many()
        .col_expr(invitation::Column::RevokedAt, Expr::value(now()))
        .filter(invitation::Column::AgencyId.eq(actor.agency_id))
        .filter(invitation::Column::InvitedBy.eq(target.user_id))
        .filter(invitation::Column::AcceptedAt.is_null())
        .filter(invitation::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    membership::Entity::delete_by_id(target.id).exec(&txn).await?;
    audit::record(
        &txn,
        actor,
        "member.removed",
        "membership",
        Some(membership_id),
        serde_json::json!({
            "user": target.user_id,
            "revoked_shares": revoked.shares,
            "revoked_api_keys": revoked.api_keys,
        }),
    )
    .await?;
    txn.commit().await?;
    services.callers.changed(actor.agency_id).await;
    Ok(revoked)
}

/// Revokes what `user_id` made in the agency that their access no longer covers: with
/// `access` `None` (they left) every share and API key; with their new role and brands,
/// the API keys unless they still manage the agency (only managers make keys), and the
/// shares of brands they no longer see (all of them for a client viewer, who cannot
/// make any).
async fn revoke_beyond(
    txn: &impl ConnectionTrait,
    agency_id: Uuid,
    user_id: Uuid,
    access: Option<(Role, &[Uuid])>,
) -> Result<Removed> {
    use crate::entities::api_key;
    let kept: &[Uuid] = match access {
        Some((role, _)) if role.is_manager() => return Ok(Removed::default()),
        Some((Role::Member, brands)) if !brands.is_empty() => brands,
        _ => &[],
    };
    let shares = crate::shares::revoke_made_by(txn, agency_id, user_id, kept).await?;
    let api_keys = api_key::Entity::update_many()
        .col_expr(api_key::Column::RevokedAt, Expr::value(now()))
        .filter(api_key::Column::AgencyId.eq(agency_id))
        .filter(api_key::Column::CreatedBy.eq(user_id))
        .filter(api_key::Column::RevokedAt.is_null())
        .exec(txn)
        .await?
        .rows_affected;
    Ok(Removed { shares, api_keys })
}

/// Replaces the brands a member or client viewer is assigned to.
pub async fn set_brands(
    services: &Services,
    actor: &Actor,
    membership_id: Uuid,
    brand_ids: Vec<Uuid>,
) -> Result<membership::Model> {
    actor.require_manager()?;
    let target = get(&services.db, actor, membership_id).await?;
    let role = Role::parse(&target.role)?;
    let brand_ids = checked_brands(&services.db, actor, role, brand_ids).await?;
    let txn = crate::platform::db::begin_write(&services.db).await?;
    membership_brand::Entity::delete_many()
        .filter(membership_brand::Column::MembershipId.eq(target.id))
        .exec(&txn)
        .await?;
    assign(&txn, actor.agency_id, target.id, &brand_ids).await?;
    let revoked = revoke_beyond(&txn, actor.agency_id, target.user_id, Some((role, &brand_ids))).await?;
    audit::record(
        &txn,
        actor,
        "member.brands_changed",
        "membership",
        Some(membership_id),
        serde_json::json!({ "brands": brand_ids, "revoked_shares": revoked.shares }),
    )
    .await?;
    txn.commit().await?;
    services.callers.changed(actor.agency_id).await;
    Ok(target)
}

/// One membership of the actor's agency.
pub async fn get(db: &impl ConnectionTrait, actor: &Actor, id: Uuid) -> Result<membership::Model> {
    membership::Entity::find_by_id(id)
        .filter(membership::Column::AgencyId.eq(actor.agency_id))
        .one(db)
        .await?
        .ok_or(Error::NotFound("member"))
}

fn ensure_may_grant(actor: &Actor, role: Role) -> Result<()> {
    if matches!(role, Role::Owner | Role::Admin) && actor.role != Role::Owner {
        return Err(Error::forbidden("only an owner may grant, change or remove the owner and admin roles"));
    }
    Ok(())
}

async fn ensure_another_owner(db: &impl ConnectionTrait, agency_id: Uuid, except: Uuid) -> Result<()> {
    let others = membership::Entity::find()
        .filter(membership::Column::AgencyId.eq(agency_id))
        .filter(membership::Column::Role.eq(Role::Owner.as_str()))
        .filter(membership::Column::Id.ne(except))
        .one(db)
        .await?;
    if others.is_none() {
        return Err(Error::bad_input("role", "an agency must keep at least one owner"));
    }
    Ok(())
}

/// Brands must belong to the actor's agency; managers need none, client viewers at least one.
async fn checked_brands(db: &impl ConnectionTrait, actor: &Actor, role: Role, ids: Vec<Uuid>) -> Result<Vec<Uuid>> {
    let mut ids = ids;
    ids.sort();
    ids.dedup();
    let found = brand::Entity::find()
        .filter(brand::Column::AgencyId.eq(actor.agency_id))
        .filter(brand::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?;
    if found.len() != ids.len() {
        return Err(Error::NotFound("brand"));
    }
    if role == Role::ClientViewer && ids.is_empty() {
        return Err(Error::bad_input("brandIds", "a client viewer must be assigned to at least one brand"));
    }
    Ok(if role.is_manager() { Vec::new() } else { ids })
}

async fn assign(db: &impl ConnectionTrait, agency_id: Uuid, membership_id: Uuid, brand_ids: &[Uuid]) -> Result<()> {
    if brand_ids.is_empty() {
        return Ok(());
    }
    let at = now();
    let rows = brand_ids.iter().map(|brand_id| membership_brand::ActiveModel {
        membership_id: Set(membership_id),
        brand_id: Set(*brand_id),
        agency_id: Set(agency_id),
        created_at: Set(at),
    });
    membership_brand::Entity::insert_many(rows).exec(db).await?;
    Ok(())
}

/// The invitation to join an agency; the token is accepted with the `acceptInvitation`
/// mutation.
fn invitation_email(config: &Config, agency: &str, inviter: &str, role: Role, token: &str) -> Result<Email> {
    let lang = i18n::DEFAULT;
    mail::compose(
        "invitation",
        i18n::text(lang, "email.invitation.subject", context! { agency }),
        context! {
            lang, agency, inviter, token,
            role => role.as_str(),
            link => config.public_link(&format!("graphql?invitation={token}")),
            days => INVITATION_TTL_DAYS,
        },
    )
}
