//! The agency's on-call rota, which SLA escalations follow.

use async_graphql::{Context, ID, InputObject, Object, Result};
use chrono::{DateTime, Utc};
use vigie_domain::entities::on_call_shift;
use vigie_domain::sla::on_call;

use super::brands::DeletePayload;
use super::loaders::MemberKey;
use super::members::Member;
use super::node::{NodeKind, global_id};
use super::pagination::uuid;
use super::{actor, loader, services};

/// A shift of the on-call rota.
pub struct OnCallShift(pub on_call_shift::Model);

#[Object]
impl OnCallShift {
    pub(crate) async fn id(&self) -> ID {
        global_id(NodeKind::OnCallShift, self.0.id)
    }
    /// Who is on call; null when the membership has ended since.
    async fn member(&self, ctx: &Context<'_>) -> Result<Option<Member>> {
        Ok(loader(ctx).load_one(MemberKey(self.0.membership_id)).await?.map(Member))
    }
    async fn starts_at(&self) -> DateTime<Utc> {
        self.0.starts_at
    }
    async fn ends_at(&self) -> DateTime<Utc> {
        self.0.ends_at
    }
}

/// A shift to add.
#[derive(InputObject)]
pub struct AddOnCallShiftInput {
    member_id: ID,
    starts_at: DateTime<Utc>,
    /// At most 31 days after `startsAt`; shifts never overlap.
    ends_at: DateTime<Utc>,
}

#[derive(Default)]
pub struct OnCallQuery;

#[Object]
impl OnCallQuery {
    /// The rota's shifts overlapping `[from, to)` (at most 92 days), earliest first
    /// (agency staff).
    async fn on_call_shifts(
        &self,
        ctx: &Context<'_>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<OnCallShift>> {
        Ok(on_call::shifts(services(ctx), actor(ctx)?, from, to).await?.into_iter().map(OnCallShift).collect())
    }

    /// The member on call now, who gets SLA escalations (agency staff).
    async fn on_call_now(&self, ctx: &Context<'_>) -> Result<Option<Member>> {
        Ok(on_call::now_on_call(services(ctx), actor(ctx)?).await?.map(Member))
    }
}

#[derive(Default)]
pub struct OnCallMutation;

#[Object]
impl OnCallMutation {
    /// Puts a staff member on call (owners and admins).
    async fn add_on_call_shift(&self, ctx: &Context<'_>, input: AddOnCallShiftInput) -> Result<OnCallShift> {
        let member = uuid("memberId", &input.member_id)?;
        let shift = on_call::add(services(ctx), actor(ctx)?, member, input.starts_at, input.ends_at).await?;
        Ok(OnCallShift(shift))
    }

    /// Removes a shift (owners and admins).
    async fn remove_on_call_shift(&self, ctx: &Context<'_>, id: ID) -> Result<DeletePayload> {
        on_call::remove(services(ctx), actor(ctx)?, uuid("id", &id)?).await?;
        Ok(DeletePayload { deleted_id: id })
    }
}
