//! DataLoaders for relations, created per request with the caller's [`Actor`] so that a
//! batch never mixes tenants (a loader shared by the schema would).

use async_graphql::dataloader::Loader;
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;
use vigie_domain::entities::{author, brand, brand_value, user_account};
use vigie_domain::{Actor, Error, Services, brands, members, mentions};

/// The request's loaders.
pub struct Loaders {
    services: Arc<Services>,
    actor: Option<Actor>,
}

impl Loaders {
    pub fn new(services: Arc<Services>, actor: Option<Actor>) -> Self {
        Loaders { services, actor }
    }

    fn actor(&self) -> Result<&Actor, Arc<Error>> {
        self.actor.as_ref().ok_or_else(|| Arc::new(Error::Unauthenticated("log in first".into())))
    }
}

/// A user, by id.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct UserKey(pub Uuid);
/// A brand, by id.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct BrandKey(pub Uuid);
/// The values of a brand, by brand id.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ValuesOfBrand(pub Uuid);
/// A public author profile, by id.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AuthorKey(pub Uuid);
/// The brands assigned to a membership, by membership id.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct BrandsOfMember(pub Uuid);

impl Loader<UserKey> for Loaders {
    type Value = user_account::Model;
    type Error = Arc<Error>;

    async fn load(&self, keys: &[UserKey]) -> Result<HashMap<UserKey, Self::Value>, Self::Error> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let found = members::users(&self.services.db, self.actor()?, &ids).await?;
        Ok(found.into_iter().map(|(id, user)| (UserKey(id), user)).collect())
    }
}

impl Loader<BrandKey> for Loaders {
    type Value = brand::Model;
    type Error = Arc<Error>;

    async fn load(&self, keys: &[BrandKey]) -> Result<HashMap<BrandKey, Self::Value>, Self::Error> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let found = brands::get_many(&self.services.db, self.actor()?, &ids).await?;
        Ok(found.into_iter().map(|(id, brand)| (BrandKey(id), brand)).collect())
    }
}

impl Loader<ValuesOfBrand> for Loaders {
    type Value = Vec<brand_value::Model>;
    type Error = Arc<Error>;

    async fn load(&self, keys: &[ValuesOfBrand]) -> Result<HashMap<ValuesOfBrand, Self::Value>, Self::Error> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let found = brands::values_of(&self.services.db, self.actor()?, &ids).await?;
        Ok(found.into_iter().map(|(id, values)| (ValuesOfBrand(id), values)).collect())
    }
}

impl Loader<BrandsOfMember> for Loaders {
    type Value = Vec<Uuid>;
    type Error = Arc<Error>;

    async fn load(&self, keys: &[BrandsOfMember]) -> Result<HashMap<BrandsOfMember, Self::Value>, Self::Error> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let found = members::assigned_brands(&self.services.db, self.actor()?, &ids).await?;
        Ok(found.into_iter().map(|(id, brands)| (BrandsOfMember(id), brands)).collect())
    }
}

impl Loader<AuthorKey> for Loaders {
    type Value = author::Model;
    type Error = Arc<Error>;

    async fn load(&self, keys: &[AuthorKey]) -> Result<HashMap<AuthorKey, Self::Value>, Self::Error> {
        self.actor()?;
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let found = mentions::authors(&self.services.db, &ids).await?;
        Ok(found.into_iter().map(|(id, author)| (AuthorKey(id), author)).collect())
    }
}
