//! Members, invitations and brand assignments.

use super::node::{NodeKind, global_id};
use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use uuid::Uuid;
use vigie_domain::entities::{invitation, membership};
use vigie_domain::members::{self, Accept, Invite};
use vigie_domain::{Role, now};

use super::auth::{AuthPayload, MemberRole, User};
use super::brands::Brand;
use super::loaders::{BrandKey, BrandsOfMember, UserKey};
use super::pagination::{self, Cursor, uuid};
use super::{actor, loader, services};

/// A person's membership in the agency.
pub struct Member(pub membership::Model);

#[Object]
impl Member {
    pub(crate) async fn id(&self) -> ID {
        global_id(NodeKind::Member, self.0.id)
    }
    async fn user(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        Ok(loader(ctx).load_one(UserKey(self.0.user_id)).await?.map(User))
    }
    async fn role(&self) -> Result<MemberRole> {
        Ok(Role::parse(&self.0.role)?.into())
    }
    /// Brands a member or client viewer works on (owners and admins see all brands).
    async fn brands(&self, ctx: &Context<'_>) -> Result<Vec<Brand>> {
        let ids = loader(ctx).load_one(BrandsOfMember(self.0.id)).await?.unwrap_or_default();
        let found = loader(ctx).load_many(ids.iter().copied().map(BrandKey)).await?;
        Ok(ids.into_iter().filter_map(|id| found.get(&BrandKey(id)).cloned()).map(Brand).collect())
    }
    async fn joined_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// Where an invitation stands.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum InvitationStatus {
    Pending,
    Accepted,
    Revoked,
    Expired,
}

/// An invitation sent by email.
pub struct Invitation(pub invitation::Model);

#[Object]
impl Invitation {
    pub(crate) async fn id(&self) -> ID {
        global_id(NodeKind::Invitation, self.0.id)
    }
    async fn email(&self) -> &str {
        &self.0.email
    }
    async fn role(&self) -> Result<MemberRole> {
        Ok(Role::parse(&self.0.role)?.into())
    }
    async fn status(&self) -> InvitationStatus {
        let i = &self.0;
        if i.accepted_at.is_some() {
            InvitationStatus::Accepted
        } else if i.revoked_at.is_some() {
            InvitationStatus::Revoked
        } else if i.expires_at <= now() {
            InvitationStatus::Expired
        } else {
            InvitationStatus::Pending
        }
    }
    /// Brands the new member will be assigned to.
    async fn brands(&self, ctx: &Context<'_>) -> Result<Vec<Brand>> {
        let found = loader(ctx).load_many(self.0.brand_ids.0.iter().copied().map(BrandKey)).await?;
        Ok(self.0.brand_ids.0.iter().filter_map(|id| found.get(&BrandKey(*id)).cloned()).map(Brand).collect())
    }
    async fn expires_at(&self) -> DateTime<Utc> {
        self.0.expires_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// Invite someone by email.
#[derive(InputObject)]
pub struct InviteMemberInput {
    email: String,
    role: MemberRole,
    /// Brands to assign (required for client viewers; ignored for owners and admins).
    #[graphql(default)]
    brand_ids: Vec<ID>,
}

/// Accept an invitation with the code received by email.
#[derive(InputObject)]
pub struct AcceptInvitationInput {
    token: String,
    /// Required when no account exists for the invited email.
    name: Option<String>,
    /// A new password, or the existing account's password.
    password: String,
}

fn ids(field: &str, raw: &[ID]) -> Result<Vec<Uuid>, vigie_domain::Error> {
    raw.iter().map(|id| uuid(field, id)).collect()
}

#[derive(Default)]
pub struct MemberQuery;

#[Object]
impl MemberQuery {
    /// The agency's members (agency staff only).
    #[graphql(complexity = "pagination::complexity(child_complexity, first)")]
    async fn members(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<Cursor, Member>> {
        let had_cursor = after.is_some();
        let page = members::list(services(ctx), actor(ctx)?, pagination::request(first, after)?).await?;
        Ok(pagination::connection(page, had_cursor, |m| Cursor(m.id), Member))
    }

    /// The agency's invitations (owners and admins).
    #[graphql(complexity = "pagination::complexity(child_complexity, first)")]
    async fn invitations(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<Cursor, Invitation>> {
        let had_cursor = after.is_some();
        let page = members::invitations(services(ctx), actor(ctx)?, pagination::request(first, after)?).await?;
        Ok(pagination::connection(page, had_cursor, |i| Cursor(i.id), Invitation))
    }
}

/// A removed member, and what was revoked with them.
#[derive(SimpleObject)]
pub struct RemoveMemberPayload {
    deleted_id: ID,
    /// Report links and calendar feeds the member had made.
    revoked_shares: u64,
    /// API keys the member had made.
    revoked_api_keys: u64,
}

#[derive(Default)]
pub struct MemberMutation;

#[Object]
impl MemberMutation {
    /// Invites someone by email (owners and admins; only owners grant owner or admin).
    async fn invite_member(&self, ctx: &Context<'_>, input: InviteMemberInput) -> Result<Invitation> {
        let invite =
            Invite { email: input.email, role: input.role.into(), brand_ids: ids("brandIds", &input.brand_ids)? };
        Ok(Invitation(members::invite(services(ctx), actor(ctx)?, invite).await?))
    }

    /// Withdraws a pending invitation.
    async fn revoke_invitation(&self, ctx: &Context<'_>, id: ID) -> Result<Invitation> {
        Ok(Invitation(members::revoke_invitation(services(ctx), actor(ctx)?, uuid("id", &id)?).await?))
    }

    /// Joins the inviting agency and logs in there.
    async fn accept_invitation(&self, ctx: &Context<'_>, input: AcceptInvitationInput) -> Result<AuthPayload> {
        let accept = Accept { token: input.token, name: input.name, password: input.password };
        Ok(members::accept(services(ctx), accept, super::client_network(ctx)).await?.into())
    }

    /// Changes a member's role.
    async fn update_member_role(&self, ctx: &Context<'_>, member_id: ID, role: MemberRole) -> Result<Member> {
        Ok(Member(members::update_role(services(ctx), actor(ctx)?, uuid("memberId", &member_id)?, role.into()).await?))
    }

    /// Removes a member from the agency, ends their sessions in it, and revokes the
    /// report links, calendar feeds and API keys they made.
    async fn remove_member(&self, ctx: &Context<'_>, member_id: ID) -> Result<RemoveMemberPayload> {
        let removed = members::remove(services(ctx), actor(ctx)?, uuid("memberId", &member_id)?).await?;
        Ok(RemoveMemberPayload {
            deleted_id: member_id,
            revoked_shares: removed.shares,
            revoked_api_keys: removed.api_keys,
        })
    }

    /// Replaces the brands a member or client viewer is assigned to.
    async fn set_member_brands(&self, ctx: &Context<'_>, member_id: ID, brand_ids: Vec<ID>) -> Result<Member> {
        let brand_ids = ids("brandIds", &brand_ids)?;
        Ok(Member(members::set_brands(services(ctx), actor(ctx)?, uuid("memberId", &member_id)?, brand_ids).await?))
    }
}
