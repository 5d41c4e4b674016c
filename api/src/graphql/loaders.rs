//! DataLoaders for relations, created per request with the caller's [`Actor`] so that a
//! batch never mixes tenants (a loader shared by the schema would).

use async_graphql::dataloader::Loader;
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;
use vigie_domain::entities::{
    alert_event, author, brand, brand_value, competitor, content_comment, content_review, csr_pillar, membership,
    mention, reply, source, user_account, webhook_attempt,
};
use vigie_domain::{Actor, Error, Services, brands, calendar, crises, members, mentions, webhooks};

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
/// The competitors of a brand the caller sees.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CompetitorsOfBrand(pub Uuid);
/// A public author profile, by id.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AuthorKey(pub Uuid);
/// The brands assigned to a membership, by membership id.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct BrandsOfMember(pub Uuid);

/// A mention of the caller's agency, by id (of tickets the caller has been shown).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MentionKey(pub Uuid);
/// The pillar and value ids of a content item the caller has been shown.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContentLinks(pub Uuid);
/// The comments of a content item the caller has been shown.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CommentsOf(pub Uuid);
/// The audit trail of a content item the caller has been shown.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReviewsOf(pub Uuid);
/// The CSR pillars of a brand the caller sees.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PillarsOfBrand(pub Uuid);
/// A membership of the caller's agency, by id.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MemberKey(pub Uuid);
/// The timeline of an alert the caller has already been shown, by alert id.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimelineOfAlert(pub Uuid);
/// The newest mentions linked to an alert the caller has been shown: (alert id, how many).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MentionsOfAlert(pub Uuid, pub u64);
/// The attempts of a webhook delivery the caller has already been shown, by delivery id.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AttemptsOfDelivery(pub Uuid);
/// The sources of a brand, by brand id.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SourcesOfBrand(pub Uuid);
/// The replies sent to a ticket, by ticket id.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RepliesOfTicket(pub Uuid);
/// The type of an event, by event id (of deliveries the caller has been shown).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventKind(pub Uuid);

/// Groups rows by a key, keeping their order.
fn group<K: std::hash::Hash + Eq, T>(rows: Vec<T>, key: impl Fn(&T) -> K) -> HashMap<K, Vec<T>> {
    let mut out: HashMap<K, Vec<T>> = HashMap::new();
    for row in rows {
        out.entry(key(&row)).or_default().push(row);
    }
    out
}

impl Loader<ContentLinks> for Loaders {
    type Value = (Vec<Uuid>, Vec<Uuid>);
    type Error = Arc<Error>;

    async fn load(&self, keys: &[ContentLinks]) -> Result<HashMap<ContentLinks, Self::Value>, Self::Error> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let (mut pillars, mut values) = calendar::links_of_items(&self.services.db, self.actor()?, &ids).await?;
        Ok(ids
            .into_iter()
            .map(|id| {
                let links = (pillars.remove(&id).unwrap_or_default(), values.remove(&id).unwrap_or_default());
                (ContentLinks(id), links)
            })
            .collect())
    }
}

impl Loader<CommentsOf> for Loaders {
    type Value = Vec<content_comment::Model>;
    type Error = Arc<Error>;

    async fn load(&self, keys: &[CommentsOf]) -> Result<HashMap<CommentsOf, Self::Value>, Self::Error> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let comments = calendar::comments_of(&self.services.db, self.actor()?, &ids).await?;
        Ok(group(comments, |c| CommentsOf(c.content_item_id)))
    }
}

impl Loader<ReviewsOf> for Loaders {
    type Value = Vec<content_review::Model>;
    type Error = Arc<Error>;

    async fn load(&self, keys: &[ReviewsOf]) -> Result<HashMap<ReviewsOf, Self::Value>, Self::Error> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let reviews = calendar::reviews_of(&self.services.db, self.actor()?, &ids).await?;
        Ok(group(reviews, |r| ReviewsOf(r.content_item_id)))
    }
}

impl Loader<PillarsOfBrand> for Loaders {
    type Value = Vec<csr_pillar::Model>;
    type Error = Arc<Error>;

    async fn load(&self, keys: &[PillarsOfBrand]) -> Result<HashMap<PillarsOfBrand, Self::Value>, Self::Error> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let rows = calendar::pillars_of(&self.services.db, self.actor()?, &ids).await?;
        Ok(group(rows, |p| PillarsOfBrand(p.brand_id)))
    }
}

impl Loader<MentionKey> for Loaders {
    type Value = mention::Model;
    type Error = Arc<Error>;

    async fn load(&self, keys: &[MentionKey]) -> Result<HashMap<MentionKey, Self::Value>, Self::Error> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let found = mentions::get_many(&self.services.db, self.actor()?, &ids).await?;
        Ok(found.into_iter().map(|m| (MentionKey(m.id), m)).collect())
    }
}

impl Loader<MemberKey> for Loaders {
    type Value = membership::Model;
    type Error = Arc<Error>;

    async fn load(&self, keys: &[MemberKey]) -> Result<HashMap<MemberKey, Self::Value>, Self::Error> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let found = members::get_many(&self.services.db, self.actor()?, &ids).await?;
        Ok(found.into_iter().map(|m| (MemberKey(m.id), m)).collect())
    }
}

impl Loader<TimelineOfAlert> for Loaders {
    type Value = Vec<alert_event::Model>;
    type Error = Arc<Error>;

    async fn load(&self, keys: &[TimelineOfAlert]) -> Result<HashMap<TimelineOfAlert, Self::Value>, Self::Error> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let rows = crises::timelines(&self.services.db, self.actor()?, &ids).await?;
        Ok(group(rows, |r| TimelineOfAlert(r.alert_id)))
    }
}

impl Loader<MentionsOfAlert> for Loaders {
    type Value = Vec<mention::Model>;
    type Error = Arc<Error>;

    async fn load(&self, keys: &[MentionsOfAlert]) -> Result<HashMap<MentionsOfAlert, Self::Value>, Self::Error> {
        let actor = self.actor()?;
        let mut out = HashMap::new();
        // One query per distinct `first` (a request rarely asks for two).
        let mut sizes: Vec<u64> = keys.iter().map(|k| k.1).collect();
        sizes.sort_unstable();
        sizes.dedup();
        for first in sizes {
            let ids: Vec<Uuid> = keys.iter().filter(|k| k.1 == first).map(|k| k.0).collect();
            let rows = crises::linked_mentions(&self.services.db, actor, &ids, first).await?;
            let mut grouped = group(rows, |(alert, _)| MentionsOfAlert(*alert, first));
            for id in ids {
                let key = MentionsOfAlert(id, first);
                let list = grouped.remove(&key).unwrap_or_default().into_iter().map(|(_, m)| m).collect();
                out.insert(key, list);
            }
        }
        Ok(out)
    }
}

impl Loader<AttemptsOfDelivery> for Loaders {
    type Value = Vec<webhook_attempt::Model>;
    type Error = Arc<Error>;

    async fn load(&self, keys: &[AttemptsOfDelivery]) -> Result<HashMap<AttemptsOfDelivery, Self::Value>, Self::Error> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let rows = webhooks::attempts(&self.services.db, self.actor()?, &ids).await?;
        Ok(group(rows, |r| AttemptsOfDelivery(r.delivery_id)))
    }
}

impl Loader<SourcesOfBrand> for Loaders {
    type Value = Vec<source::Model>;
    type Error = Arc<Error>;

    async fn load(&self, keys: &[SourcesOfBrand]) -> Result<HashMap<SourcesOfBrand, Self::Value>, Self::Error> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let rows = vigie_domain::sources::of_brands(&self.services.db, self.actor()?, &ids).await?;
        Ok(group(rows, |r| SourcesOfBrand(r.brand_id)))
    }
}

impl Loader<RepliesOfTicket> for Loaders {
    type Value = Vec<reply::Model>;
    type Error = Arc<Error>;

    async fn load(&self, keys: &[RepliesOfTicket]) -> Result<HashMap<RepliesOfTicket, Self::Value>, Self::Error> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let rows = vigie_domain::sla::replies::of_tickets(&self.services.db, self.actor()?, &ids).await?;
        Ok(group(rows, |r| RepliesOfTicket(r.ticket_id)))
    }
}

impl Loader<EventKind> for Loaders {
    type Value = String;
    type Error = Arc<Error>;

    async fn load(&self, keys: &[EventKind]) -> Result<HashMap<EventKind, Self::Value>, Self::Error> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let rows = webhooks::event_types(&self.services.db, self.actor()?, &ids).await?;
        Ok(rows.into_iter().map(|(id, kind)| (EventKind(id), kind)).collect())
    }
}

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
        let found = self.actor()?.brands_among(&self.services.db, &ids).await?;
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

impl Loader<CompetitorsOfBrand> for Loaders {
    type Value = Vec<competitor::Model>;
    type Error = Arc<Error>;

    async fn load(&self, keys: &[CompetitorsOfBrand]) -> Result<HashMap<CompetitorsOfBrand, Self::Value>, Self::Error> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let found = vigie_domain::competition::of_brands(&self.services.db, self.actor()?, &ids).await?;
        Ok(found.into_iter().map(|(id, list)| (CompetitorsOfBrand(id), list)).collect())
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
