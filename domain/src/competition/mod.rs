//! Competitors: the brands a client measures itself against. Storing a mention finds
//! the competitors it names ([`Rivals`]); a mention that names competitors and not the
//! brand is kept apart from the brand's own (`mention.about_brand` false): it opens no
//! ticket and no alert, and makes no influencer of the brand. [`share`] compares the
//! brand's voice with theirs; [`prospects`] finds the authors who talk about them and
//! not yet about the brand.
//!
//! Attribution happens as mentions are stored: a competitor declared today counts from
//! today's mentions on.

pub mod prospects;
pub mod share;

use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set,
};
use std::collections::HashMap;
use uuid::Uuid;

use crate::entities::{Handle, Handles, StringList, brand, competitor, mention, mention_competitor};
use crate::platform::text::{Phrase, fold, normalise_handle};
use crate::{Actor, Error, Result, Services, new_id, now, platform::audit, platform::validate};

/// The most competitors a brand lists.
pub const MAX_COMPETITORS: u64 = 20;

/// What names a competitor.
pub struct CompetitorInput {
    pub name: String,
    pub keywords: Vec<String>,
    pub handles: Vec<Handle>,
}

/// A partial update of a competitor: `None` leaves a field unchanged.
#[derive(Default)]
pub struct CompetitorPatch {
    pub name: Option<String>,
    pub keywords: Option<Vec<String>>,
    pub handles: Option<Vec<Handle>>,
}

/// The competitors of several visible brands, by brand, in name order (for DataLoaders).
pub async fn of_brands(
    db: &impl ConnectionTrait,
    actor: &Actor,
    brand_ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<competitor::Model>>> {
    let visible: Vec<Uuid> = brand_ids.iter().copied().filter(|id| actor.sees_brand(*id)).collect();
    let rows = competitor::Entity::find()
        .filter(competitor::Column::AgencyId.eq(actor.agency_id))
        .filter(competitor::Column::BrandId.is_in(visible))
        .order_by_asc(competitor::Column::Name)
        .order_by_asc(competitor::Column::Id)
        .all(db)
        .await?;
    let mut grouped: HashMap<Uuid, Vec<competitor::Model>> = HashMap::new();
    for row in rows {
        grouped.entry(row.brand_id).or_default().push(row);
    }
    Ok(grouped)
}

/// The competitors of one brand, in name order (no visibility check: callers hold the
/// brand already).
pub(crate) async fn of_brand(db: &impl ConnectionTrait, brand_id: Uuid) -> Result<Vec<competitor::Model>> {
    Ok(competitor::Entity::find()
        .filter(competitor::Column::BrandId.eq(brand_id))
        .order_by_asc(competitor::Column::Name)
        .order_by_asc(competitor::Column::Id)
        .all(db)
        .await?)
}

/// Declares a competitor of a brand (staff who can edit the brand).
pub async fn create(
    services: &Services,
    actor: &Actor,
    brand_id: Uuid,
    input: CompetitorInput,
) -> Result<competitor::Model> {
    let brand = actor.brand(&services.db, brand_id).await?;
    actor.require_staff()?;
    let name = name_of(&brand, &input.name)?;
    let keywords = keywords(&brand, &input.keywords)?;
    let handles = handles(&brand, input.handles)?;
    let txn = crate::platform::db::begin_write(&services.db).await?;
    let count = competitor::Entity::find().filter(competitor::Column::BrandId.eq(brand.id)).count(&txn).await?;
    if count >= MAX_COMPETITORS {
        return Err(Error::bad_input("brandId", format!("a brand lists at most {MAX_COMPETITORS} competitors")));
    }
    ensure_unique(&txn, brand.id, &name, None).await?;
    let at = now();
    let model = competitor::ActiveModel {
        id: Set(new_id()),
        agency_id: Set(actor.agency_id),
        brand_id: Set(brand.id),
        name: Set(name),
        keywords: Set(StringList(keywords)),
        handles: Set(Handles(handles)),
        created_at: Set(at),
        updated_at: Set(at),
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        actor,
        "competitor.created",
        "competitor",
        Some(model.id),
        serde_json::json!({ "brandId": brand.id, "name": model.name }),
    )
    .await?;
    txn.commit().await?;
    Ok(model)
}

/// Updates a competitor; what names it applies to mentions stored from now on.
pub async fn update(services: &Services, actor: &Actor, id: Uuid, patch: CompetitorPatch) -> Result<competitor::Model> {
    let existing = get(&services.db, actor, id).await?;
    actor.require_staff()?;
    let brand = actor.brand(&services.db, existing.brand_id).await?;
    let txn = crate::platform::db::begin_write(&services.db).await?;
    let mut model: competitor::ActiveModel = existing.into();
    if let Some(name) = patch.name {
        let name = name_of(&brand, &name)?;
        ensure_unique(&txn, brand.id, &name, Some(id)).await?;
        model.name = Set(name);
    }
    if let Some(list) = patch.keywords {
        model.keywords = Set(StringList(keywords(&brand, &list)?));
    }
    if let Some(list) = patch.handles {
        model.handles = Set(Handles(handles(&brand, list)?));
    }
    model.updated_at = Set(now());
    let updated = model.update(&txn).await?;
    audit::record(
        &txn,
        actor,
        "competitor.updated",
        "competitor",
        Some(id),
        serde_json::json!({ "brandId": brand.id, "name": updated.name, "keywords": updated.keywords.0 }),
    )
    .await?;
    txn.commit().await?;
    Ok(updated)
}

/// The most keywords and handles a competitor lists: each is looked for in every
/// mention the brand stores.
const MAX_KEYWORDS: usize = 50;
const MAX_HANDLES: usize = 20;

/// The brand's own terms, folded: a competitor may not claim them, or the brand's
/// mentions would read as the competitor's.
fn brand_terms(brand: &brand::Model) -> Vec<String> {
    std::iter::once(&brand.name)
        .chain(&brand.tracked_keywords.0)
        .chain(brand.handles.0.iter().map(|h| &h.handle))
        .map(|t| fold(t.trim().trim_start_matches('@')))
        .collect()
}

fn name_of(brand: &brand::Model, raw: &str) -> Result<String> {
    let name = validate::name("name", raw, 120)?;
    if brand_terms(brand).contains(&fold(&name)) {
        return Err(Error::bad_input("name", "a brand is not its own competitor"));
    }
    Ok(name)
}

/// Keywords of three characters or more that are not the brand's: a short or shared
/// word would take the brand's own mentions away from it.
fn keywords(brand: &brand::Model, raw: &[String]) -> Result<Vec<String>> {
    let list = validate::keywords("keywords", raw)?;
    if list.len() > MAX_KEYWORDS {
        return Err(Error::bad_input("keywords", format!("at most {MAX_KEYWORDS} keywords")));
    }
    let own = brand_terms(brand);
    for keyword in &list {
        if fold(keyword).chars().filter(|c| c.is_alphanumeric()).count() < 3 {
            return Err(Error::bad_input("keywords", format!("`{keyword}` is too short to name a competitor")));
        }
        if own.contains(&fold(keyword)) {
            return Err(Error::bad_input("keywords", format!("`{keyword}` names the brand itself")));
        }
    }
    Ok(list)
}

fn handles(brand: &brand::Model, raw: Vec<Handle>) -> Result<Vec<Handle>> {
    if raw.len() > MAX_HANDLES {
        return Err(Error::bad_input("handles", format!("at most {MAX_HANDLES} handles")));
    }
    let list = crate::brands::handles(raw)?;
    let own = brand_terms(brand);
    for h in &list {
        if h.handle.chars().filter(|c| c.is_alphanumeric()).count() < 2 {
            return Err(Error::bad_input("handles", format!("`{}` is too short to name a competitor", h.handle)));
        }
        if own.contains(&fold(&h.handle)) {
            return Err(Error::bad_input("handles", format!("`{}` is one of the brand's own", h.handle)));
        }
    }
    Ok(list)
}

/// Deletes a competitor; its mentions stay, as the brand's when they name it too.
pub async fn delete(services: &Services, actor: &Actor, id: Uuid) -> Result<()> {
    let existing = get(&services.db, actor, id).await?;
    actor.require_staff()?;
    let txn = crate::platform::db::begin_write(&services.db).await?;
    competitor::Entity::delete_by_id(existing.id).exec(&txn).await?;
    audit::record(
        &txn,
        actor,
        "competitor.deleted",
        "competitor",
        Some(id),
        serde_json::json!({ "brandId": existing.brand_id, "name": existing.name }),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// One competitor of a brand the actor sees; others are "not found".
pub async fn get(db: &impl ConnectionTrait, actor: &Actor, id: Uuid) -> Result<competitor::Model> {
    competitor::Entity::find_by_id(id)
        .filter(competitor::Column::AgencyId.eq(actor.agency_id))
        .one(db)
        .await?
        .filter(|c| actor.sees_brand(c.brand_id))
        .ok_or(Error::NotFound("competitor"))
}

/// Names are unique per brand whatever their case and accents: two spellings of one
/// competitor would count its mentions twice.
async fn ensure_unique(db: &impl ConnectionTrait, brand_id: Uuid, name: &str, except: Option<Uuid>) -> Result<()> {
    let folded = fold(name);
    let clash = of_brand(db, brand_id).await?.into_iter().any(|c| Some(c.id) != except && fold(&c.name) == folded);
    if clash {
        return Err(Error::Conflict(format!("a competitor named `{name}` already exists for this brand")));
    }
    Ok(())
}

/// The rows linking a stored mention to the competitors it names.
pub(crate) fn links(
    mention: &mention::Model,
    sentiment: f64,
    competitors: &[Uuid],
) -> Vec<mention_competitor::ActiveModel> {
    competitors
        .iter()
        .map(|competitor_id| mention_competitor::ActiveModel {
            mention_id: Set(mention.id),
            competitor_id: Set(*competitor_id),
            agency_id: Set(mention.agency_id),
            brand_id: Set(mention.brand_id),
            author_id: Set(mention.author_id),
            network: Set(mention.network.clone()),
            published_at: Set(mention.published_at),
            sentiment: Set(Some(sentiment)),
            author_followers: Set(mention.author_followers),
        })
        .collect()
}

/// Replaces the competitor links of mentions stored again (`restored`, whose text may
/// have changed) and writes `links`, in the caller's transaction.
pub(crate) async fn relink(
    txn: &DatabaseTransaction,
    restored: &[Uuid],
    links: Vec<mention_competitor::ActiveModel>,
) -> Result<()> {
    for chunk in restored.chunks(500) {
        mention_competitor::Entity::delete_many()
            .filter(mention_competitor::Column::MentionId.is_in(chunk.iter().copied()))
            .exec(txn)
            .await?;
    }
    for chunk in crate::platform::db::batches(links, 512) {
        mention_competitor::Entity::insert_many(chunk)
            .on_conflict(
                OnConflict::columns([mention_competitor::Column::MentionId, mention_competitor::Column::CompetitorId])
                    .update_columns([
                        mention_competitor::Column::AuthorId,
                        mention_competitor::Column::PublishedAt,
                        mention_competitor::Column::Sentiment,
                        mention_competitor::Column::AuthorFollowers,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}

/// What names each competitor of a brand, folded once for a batch of mentions.
#[derive(Clone, Debug, Default)]
pub struct Rivals {
    rivals: Vec<Rival>,
}

#[derive(Clone, Debug)]
struct Rival {
    id: Uuid,
    /// Its name, keywords and handles (with and without `@`).
    phrases: Vec<Phrase>,
    /// Its accounts: network name and handle, as [`normalise_handle`] writes it.
    accounts: Vec<(String, String)>,
}

impl Rivals {
    /// The competitors of a brand.
    pub(crate) async fn load(db: &impl ConnectionTrait, brand_id: Uuid) -> Result<Self> {
        Ok(Rivals::new(&of_brand(db, brand_id).await?))
    }

    /// What names each of `competitors`.
    pub fn new(competitors: &[competitor::Model]) -> Self {
        let rivals = competitors
            .iter()
            .map(|c| {
                let mut phrases: Vec<Phrase> = std::iter::once(c.name.as_str())
                    .chain(c.keywords.0.iter().map(String::as_str))
                    .map(|k| Phrase::new(&fold(k)))
                    .collect();
                for h in &c.handles.0 {
                    let handle = fold(&h.handle);
                    phrases.push(Phrase::new(&format!("@{handle}")));
                    phrases.push(Phrase::new(&handle));
                }
                let accounts = c.handles.0.iter().map(|h| (h.network.name(), normalise_handle(&h.handle))).collect();
                Rival { id: c.id, phrases, accounts }
            })
            .collect();
        Rivals { rivals }
    }

    pub fn is_empty(&self) -> bool {
        self.rivals.is_empty()
    }

    /// The competitors a mention names: in its folded text, or by answering one of
    /// their accounts (`in_reply_to_author` on `network`).
    pub fn named(&self, folded: &str, network: &str, in_reply_to_author: Option<&str>) -> Vec<Uuid> {
        let answered = in_reply_to_author.map(normalise_handle);
        self.rivals
            .iter()
            .filter(|r| {
                r.phrases.iter().any(|p| p.is_in(folded))
                    || answered.as_deref().is_some_and(|a| r.accounts.iter().any(|(n, h)| n == network && h == a))
            })
            .map(|r| r.id)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Network;

    fn competitor(name: &str, keywords: &[&str], handle: &str) -> competitor::Model {
        competitor::Model {
            id: new_id(),
            agency_id: new_id(),
            brand_id: new_id(),
            name: name.into(),
            keywords: StringList(keywords.iter().map(|k| (*k).to_owned()).collect()),
            handles: Handles(vec![Handle { network: Network::X, handle: handle.into() }]),
            created_at: now(),
            updated_at: now(),
        }
    }

    #[test]
    fn names_competitors_by_words_handles_and_answers() {
        let (herba, lumen) =
            (competitor("Herbalia", &["savon solide"], "herbalia_fr"), competitor("Lumen", &[], "lumen"));
        let rivals = Rivals::new(&[herba.clone(), lumen.clone()]);
        let named = |text: &str, reply: Option<&str>| rivals.named(&fold(text), "x", reply);
        assert_eq!(named("Le SAVON SOLIDE d'Hérbalia", None), vec![herba.id]);
        assert_eq!(named("merci @herbalia_fr et Lumen", None), vec![herba.id, lumen.id]);
        assert_eq!(named("ils ont répondu vite", Some("@Herbalia_FR")), vec![herba.id]);
        assert!(named("ils ont répondu vite", None).is_empty());
        assert!(named("herbaliant, luminaire", None).is_empty(), "whole words only");
        assert!(rivals.named("merci", "mastodon", Some("herbalia_fr")).is_empty(), "another network's account");
    }
}
