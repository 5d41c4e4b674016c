//! Authentication and access control: who the caller is ([`Actor`]) and what its role
//! allows. Every service takes an `&Actor` and filters by `actor.agency_id`.

pub mod callers;
pub mod passwords;
pub mod secrets;
pub mod tokens;

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use uuid::Uuid;

use crate::entities::{brand, membership, membership_brand};
use crate::{Error, Result};

/// A role in an agency; see the README's "Roles" table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Created the agency; full rights, including over admins and other owners.
    Owner,
    /// Agency staff with full rights except over owners.
    Admin,
    /// Agency staff working on the brands assigned to them.
    Member,
    /// A client brand's staff: read access to the brands assigned to them.
    ClientViewer,
}

impl Role {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
            Role::ClientViewer => "client_viewer",
        }
    }

    /// Parses a stored role name.
    pub fn parse(raw: &str) -> Result<Self> {
        match raw {
            "owner" => Ok(Role::Owner),
            "admin" => Ok(Role::Admin),
            "member" => Ok(Role::Member),
            "client_viewer" => Ok(Role::ClientViewer),
            other => Err(Error::internal(format!("unknown role `{other}` in the database"))),
        }
    }

    /// Owners and admins manage the agency and see every brand.
    pub fn is_manager(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }
}

/// The system acting on its own behalf: jobs, the clocks, the demo's history and the
/// ingest path reach tenant rows with no member behind them. Functions that do so take a
/// `System`, which only this crate can make, so that the api and the worker can reach
/// them only through a job or through a service that checked its caller; tests and
/// benchmarks, which drive jobs by hand, get one from the `testing` feature.
#[derive(Clone, Copy, Debug)]
pub struct System(());

impl System {
    pub(crate) const fn new() -> Self {
        Self(())
    }

    /// A token for tests and benchmarks that run the system's work themselves.
    #[cfg(feature = "testing")]
    pub const fn for_tests() -> Self {
        Self(())
    }
}

/// The most brands a list across brands may name.
pub const MAX_BRANDS_IN_VIEW: usize = 100;

/// The authenticated caller of a request, as loaded from the database (not from token
/// claims alone, so that a removed membership or a changed role takes effect at once).
///
/// Its fields are private to the domain and it is only made from a membership read in
/// the database, found through verified token claims ([`Actor::of`]) or inside the
/// domain: outside this crate, holding an `Actor` means a member's access was checked.
#[derive(Clone, Debug)]
pub struct Actor {
    pub(crate) user_id: Uuid,
    pub(crate) agency_id: Uuid,
    pub(crate) membership_id: Uuid,
    pub(crate) role: Role,
    /// Every brand the actor could see when it was loaded, sorted: the agency's brands
    /// for managers, the assigned ones otherwise. It lets read paths check a brand
    /// without a database read ([`Actor::check_brand`]); for managers, a brand
    /// missing from it is looked up in the database, so a brand created since is still
    /// found.
    pub(crate) visible_brands: Arc<[Uuid]>,
}

impl Actor {
    /// The actor a verified access token acts as, read from its membership now; fails
    /// when the membership is gone.
    pub async fn of(db: &impl ConnectionTrait, claims: &tokens::Claims) -> Result<Self> {
        Self::load(db, claims.sub, claims.agency).await
    }

    pub fn user_id(&self) -> Uuid {
        self.user_id
    }

    pub fn agency_id(&self) -> Uuid {
        self.agency_id
    }

    pub fn membership_id(&self) -> Uuid {
        self.membership_id
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// Every brand the actor could see when it was loaded, sorted.
    pub fn visible_brands(&self) -> &[Uuid] {
        &self.visible_brands
    }

    /// Loads the actor for `user_id` in `agency_id`; fails when the membership is gone.
    pub(crate) async fn load(db: &impl ConnectionTrait, user_id: Uuid, agency_id: Uuid) -> Result<Self> {
        let membership = membership::Entity::find()
            .filter(membership::Column::UserId.eq(user_id))
            .filter(membership::Column::AgencyId.eq(agency_id));
        let membership = crate::platform::db::first(db, membership)
            .await?
            .ok_or_else(|| Error::Unauthenticated("no membership in this agency".into()))?;
        Self::from_membership(db, membership).await
    }

    /// Builds the actor of an existing membership.
    pub(crate) async fn from_membership(db: &impl ConnectionTrait, membership: membership::Model) -> Result<Self> {
        let role = Role::parse(&membership.role)?;
        // Managers see every brand of the agency; others, the brands assigned to them.
        let mut visible_brands: Vec<Uuid> = if role.is_manager() {
            brand::Entity::find()
                .select_only()
                .column(brand::Column::Id)
                .filter(brand::Column::AgencyId.eq(membership.agency_id))
                .into_tuple()
                .all(db)
                .await?
        } else {
            membership_brand::Entity::find()
                .select_only()
                .column(membership_brand::Column::BrandId)
                .filter(membership_brand::Column::MembershipId.eq(membership.id))
                .into_tuple()
                .all(db)
                .await?
        };
        visible_brands.sort_unstable();
        Ok(Actor {
            user_id: membership.user_id,
            agency_id: membership.agency_id,
            membership_id: membership.id,
            role,
            visible_brands: visible_brands.into(),
        })
    }

    /// Whether the brand was among those the actor could see when it was loaded.
    pub fn saw_brand(&self, brand_id: Uuid) -> bool {
        self.visible_brands.binary_search(&brand_id).is_ok()
    }

    /// The brands this actor may see, as a query to narrow further: the actor's agency's,
    /// and for members and client viewers only those assigned to them. Every feature
    /// reaches a brand through this scoped load, so access is decided in one place.
    pub fn brand_scope(&self) -> sea_orm::Select<brand::Entity> {
        let mut select = brand::Entity::find().filter(brand::Column::AgencyId.eq(self.agency_id));
        if let Some(ids) = self.brand_restriction() {
            select = select.filter(brand::Column::Id.is_in(ids.iter().copied()));
        }
        select
    }

    /// One brand the actor may see; other agencies' brands and unassigned ones are "not
    /// found", exactly like missing ones.
    pub async fn brand(&self, db: &impl ConnectionTrait, id: Uuid) -> Result<brand::Model> {
        crate::platform::db::first(db, self.brand_scope().filter(brand::Column::Id.eq(id)))
            .await?
            .ok_or(Error::NotFound("brand"))
    }

    /// The id of a brand the actor may see, for paths that need no more than the id: no
    /// database read when the brand was visible to the actor as loaded
    /// ([`Actor::saw_brand`]); otherwise the same lookup as [`Actor::brand`].
    pub async fn check_brand(&self, db: &impl ConnectionTrait, id: Uuid) -> Result<Uuid> {
        if self.saw_brand(id) {
            return Ok(id);
        }
        self.brand(db, id).await.map(|brand| brand.id)
    }

    /// The brands a list across brands reads: those of `wanted`, each of which the actor
    /// must see ("not found" otherwise, as for one brand), or every brand it sees when
    /// `wanted` is empty. At most [`MAX_BRANDS_IN_VIEW`] may be named.
    pub async fn brands_in_view(&self, db: &impl ConnectionTrait, wanted: &[Uuid]) -> Result<Vec<Uuid>> {
        if wanted.is_empty() {
            return Ok(self.visible_brands.to_vec());
        }
        if wanted.len() > MAX_BRANDS_IN_VIEW {
            return Err(Error::bad_input("brandIds", format!("at most {MAX_BRANDS_IN_VIEW} brands")));
        }
        let mut brands = Vec::with_capacity(wanted.len());
        for id in wanted {
            brands.push(self.check_brand(db, *id).await?);
        }
        brands.sort_unstable();
        brands.dedup();
        Ok(brands)
    }

    /// The brands among `ids` the actor may see, at once (for DataLoaders).
    pub async fn brands_among(
        &self,
        db: &impl ConnectionTrait,
        ids: &[Uuid],
    ) -> Result<std::collections::HashMap<Uuid, brand::Model>> {
        Ok(self
            .brand_scope()
            .filter(brand::Column::Id.is_in(ids.iter().copied()))
            .all(db)
            .await?
            .into_iter()
            .map(|b| (b.id, b))
            .collect())
    }

    /// Only owners and admins.
    pub fn require_manager(&self) -> Result<()> {
        if self.role.is_manager() { Ok(()) } else { Err(Error::forbidden("only agency owners and admins may do this")) }
    }

    /// Whether the actor is agency staff (everyone but client viewers).
    pub fn is_staff(&self) -> bool {
        self.role != Role::ClientViewer
    }

    /// Agency staff (everyone but client viewers).
    pub fn require_staff(&self) -> Result<()> {
        if !self.is_staff() { Err(Error::forbidden("client viewers have read-only access")) } else { Ok(()) }
    }

    /// Whether the brand is visible to this actor (the brand must also belong to the
    /// actor's agency, which the caller checks by filtering on `agency_id`).
    pub fn sees_brand(&self, brand_id: Uuid) -> bool {
        self.role.is_manager() || self.saw_brand(brand_id)
    }

    /// `None` when every brand of the agency is visible, otherwise the visible ones
    /// (sorted).
    pub fn brand_restriction(&self) -> Option<&[Uuid]> {
        if self.role.is_manager() { None } else { Some(&self.visible_brands) }
    }

    /// Of `ids`, those of rows of `E` the actor sees: rows of its agency (`agency`) and,
    /// when `brand` is given, of a brand it sees. Batch reads of what hangs off such
    /// rows (timelines, comments, attempts) start here, so that they never take ids on
    /// trust.
    pub async fn visible_ids<E: EntityTrait>(
        &self,
        db: &impl ConnectionTrait,
        ids: &[Uuid],
        id: E::Column,
        agency: E::Column,
        brand: Option<E::Column>,
    ) -> Result<Vec<Uuid>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut select =
            E::find().select_only().column(id).filter(id.is_in(ids.iter().copied())).filter(agency.eq(self.agency_id));
        if let (Some(brand), Some(visible)) = (brand, self.brand_restriction()) {
            select = select.filter(brand.is_in(visible.iter().copied()));
        }
        Ok(select.into_tuple().all(db).await?)
    }
}
