//! Storing collected or pushed mentions: authors upserted on (network, handle), mentions
//! scored (see [`crate::scoring`]) and upserted on (source, external id) in batches,
//! solicitations announced, and the authors' influence marked for a refresh.
//!
//! Scoring happens here, before the insert, so that each mention is written once: the
//! scores are indexed, so a later update would rewrite every index entry of the row,
//! the full-text one included.
//!
//! Authors are shared by every tenant. Only collectors, which read the network itself,
//! update an author's profile and counts ([`Provenance::Collected`]); what a tenant
//! pushes ([`Provenance::Pushed`]) creates a missing author with its handle and name
//! only, and the follower count it claims stays on its own mentions
//! (`mention.author_followers`), where only its own scores read it.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{OnConflict, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, IdenStatic, QueryFilter, QuerySelect, QueryTrait,
    Set, TransactionTrait, TryIntoModel,
};
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

use super::pipeline::{Lexicon, Reading, announce_solicitations, refresh_soon};
use crate::System;
use crate::entities::{UuidList, ValueStances, author, brand, mention, mention_competitor, source, ticket};
use crate::platform::bus::Notice;
use crate::platform::db::batches;
use crate::scoring::{Input, Priority, Tier};
use crate::sla::tickets::Solicitation;
use crate::{Result, Services, new_id, now};

/// Rows per INSERT statement and values per `IN` list at the most (well under
/// PostgreSQL's 65,535 bind parameters; a power of two for [`batches`]).
const CHUNK: usize = 512;

/// Where mentions come from, which decides whether their author data is trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provenance {
    /// Read from the network by a collector.
    Collected,
    /// Pushed by a tenant through HTTP ingest.
    Pushed,
}

/// An author as a mention describes it.
#[derive(Clone, Debug)]
pub struct NewAuthor {
    /// Lower case, without `@`.
    pub handle: String,
    pub display_name: Option<String>,
    pub profile_url: Option<String>,
    /// `None` when the source does not say (Bluesky search results).
    pub followers: Option<i64>,
    pub following: Option<i64>,
    pub verified: bool,
    /// When the account was made, when the network says.
    pub account_created_at: Option<DateTime<Utc>>,
    /// Whether the profile comes from the server that hosts the account (a Mastodon
    /// instance describing its own users), so that it may update the author every
    /// tenant shares. Otherwise it only creates a missing author, and its counts stay
    /// on this tenant's mentions.
    pub authoritative: bool,
}

pub use crate::platform::text::normalise_handle;

/// A mention to store.
#[derive(Clone, Debug)]
pub struct NewMention {
    pub external_id: String,
    /// A [`crate::Network`] name.
    pub network: String,
    pub url: Option<String>,
    pub text: String,
    pub lang: Option<String>,
    pub published_at: DateTime<Utc>,
    pub author: NewAuthor,
    pub likes: i64,
    pub shares: i64,
    pub replies: i64,
    pub views: i64,
    pub in_reply_to: Option<String>,
    /// The handle of the account the reply answers (as [`NewAuthor::handle`] is written).
    pub in_reply_to_author: Option<String>,
    pub direct: bool,
    /// A review's stars (1 to 5), from a review site.
    pub rating: Option<i16>,
}

impl NewMention {
    /// Networks and pushing tools may send NUL characters, which PostgreSQL cannot store
    /// in text; they carry no meaning, so they are dropped rather than failing the batch.
    /// Links other than http(s) (`javascript:`, `data:`) are dropped too: reports and
    /// front-ends render them.
    fn sanitize(&mut self) {
        for link in [&mut self.url, &mut self.author.profile_url] {
            if link.as_deref().is_some_and(|l| !crate::platform::text::is_web_link(l)) {
                *link = None;
            }
        }
        fn clean(text: &mut String) {
            if text.contains('\0') {
                text.retain(|c| c != '\0');
            }
        }
        clean(&mut self.external_id);
        clean(&mut self.text);
        clean(&mut self.author.handle);
        let optional = [
            &mut self.url,
            &mut self.lang,
            &mut self.in_reply_to,
            &mut self.in_reply_to_author,
            &mut self.author.display_name,
            &mut self.author.profile_url,
        ];
        optional.into_iter().flatten().for_each(clean);
    }
}

/// Scores and stores mentions of `brand` from `source` (later items with the same
/// external id win), in one transaction with the announcement of new solicitations and
/// the authors' stale marks; then asks for the influence refresh and crisis detection.
/// Returns how many were stored.
pub async fn store(
    _: System,
    services: &Services,
    brand: &brand::Model,
    source: &source::Model,
    mut items: Vec<NewMention>,
    provenance: Provenance,
) -> Result<usize> {
    // One row per external id (PostgreSQL refuses to upsert the same key twice in a
    // statement), in key order: concurrent batches then lock shared rows in the same
    // order and never deadlock.
    let mut seen = std::collections::HashSet::new();
    items.iter_mut().for_each(NewMention::sanitize);
    items.reverse();
    items.retain(|m| seen.insert(m.external_id.clone()));
    items.sort_by(|a, b| a.external_id.cmp(&b.external_id));
    if items.is_empty() {
        return Ok(0);
    }
    // Authors first, outside the mentions' transaction: each statement then holds its
    // authors' row locks for itself only, where inside the transaction concurrent
    // batches naming the same authors waited for each other's whole batch.
    let authors = upsert_authors(&services.db, &items, provenance).await?;
    let lexicon = Lexicon::load(&services.db, brand).await?;
    let txn = crate::platform::db::begin_write(&services.db).await?;
    let at = now();
    let count = items.len();
    let newest = items.iter().map(|m| m.published_at).max().unwrap_or(at);
    // The rows that are solicitations, by position, with what their tickets need.
    let mut solicited: Vec<(usize, Priority, Tier, f64)> = Vec::new();
    let mut marked: Vec<Uuid> = Vec::with_capacity(items.len());
    // The rows that name competitors, by position, with the competitors.
    let mut named: Vec<(usize, Vec<Uuid>)> = Vec::new();
    let rows: Vec<mention::ActiveModel> = items
        .into_iter()
        .enumerate()
        .map(|(position, m)| {
            let addressed =
                lexicon.addresses(&m.network, Some(&m.author.handle), m.direct, m.in_reply_to_author.as_deref());
            let author = authors.get(&(m.network.clone(), m.author.handle.clone())).copied();
            // The count the mention claims first: a pushed one stays on its own mentions.
            let audience = m.author.followers.or(author.map(|(_, followers)| followers));
            let input = Input { text: &m.text, lang: m.lang.as_deref(), addressed, rating: m.rating };
            let reading = lexicon.read(&input, audience, &m.network, m.in_reply_to_author.as_deref());
            let accuses = reading.accuses();
            let Reading { analysis, priority, relevance, search_text, about_brand, competitors, mobilises } = reading;
            if let Some((priority, tier)) = priority {
                solicited.push((position, priority, tier, analysis.sentiment));
            }
            if !competitors.is_empty() {
                named.push((position, competitors));
            }
            // Only the brand's own mentions make its influencers.
            if about_brand {
                marked.extend(author.map(|(id, _)| id));
            }
            mention::ActiveModel {
                id: Set(new_id()),
                agency_id: Set(brand.agency_id),
                brand_id: Set(brand.id),
                source_id: Set(source.id),
                author_id: Set(author.map(|(id, _)| id)),
                relevance: Set(Some(relevance)),
                search_text: Set(search_text),
                external_id: Set(m.external_id),
                network: Set(m.network),
                url: Set(m.url),
                text: Set(m.text),
                lang: Set(analysis.lang),
                published_at: Set(m.published_at),
                collected_at: Set(at),
                sentiment: Set(Some(analysis.sentiment)),
                likes: Set(m.likes),
                shares: Set(m.shares),
                replies: Set(m.replies),
                views: Set(m.views),
                accuses_value: Set(accuses),
                value_tags: Set(UuidList(analysis.value_tags)),
                value_stances: Set(ValueStances(analysis.value_stances)),
                is_solicitation: Set(analysis.is_solicitation),
                about_brand: Set(about_brand),
                mobilises: Set(mobilises),
                solicitation_priority: Set(priority.map(|(p, _)| p.as_str().to_owned())),
                in_reply_to: Set(m.in_reply_to),
                in_reply_to_author: Set(m.in_reply_to_author),
                is_direct: Set(m.direct),
                scored_at: Set(Some(at)),
                author_followers: Set(m.author.followers),
                rating: Set(m.rating),
            }
        })
        .collect();
    // The solicitations as stored, to announce; their ids are the rows' own until the
    // upsert says which were there already.
    let mut solicitations: Vec<Solicited> = solicited
        .into_iter()
        .map(|(position, priority, tier, sentiment)| {
            Ok(Solicited { mention: rows[position].clone().try_into_model()?, priority, tier, sentiment })
        })
        .collect::<Result<_>>()?;
    let by_external_id: HashMap<String, usize> =
        solicitations.iter().enumerate().map(|(i, s)| (s.mention.external_id.clone(), i)).collect();
    // Each row's id as made here, to tell the rows stored before (with competitors
    // declared, their links are rewritten) from new ones, and the links of the rows
    // that name competitors.
    let rivals = lexicon.names_rivals();
    let made: HashMap<String, Uuid> =
        rows.iter().filter_map(|r| Some((r.external_id.clone().take()?, r.id.clone().take()?))).collect();
    // Rows the upsert created: what the live screen announces as new.
    let mut created = 0u32;
    let mut links: HashMap<String, Vec<mention_competitor::ActiveModel>> = HashMap::new();
    for (position, competitors) in named {
        let mention = rows[position].clone().try_into_model()?;
        let sentiment = mention.sentiment.unwrap_or(0.0);
        links.insert(mention.external_id.clone(), crate::competition::links(&mention, sentiment, &competitors));
    }
    let mut restored = Vec::new();
    // Only the mentions stored before this push can have been announced already.
    let mut seen_before = Vec::new();
    for chunk in batches(rows, CHUNK) {
        // A mention pushed again is scored again; it is announced only once (below).
        let mut upsert = mention::Entity::insert_many(chunk)
            .on_conflict(
                OnConflict::columns([mention::Column::SourceId, mention::Column::ExternalId])
                    .update_columns([
                        mention::Column::AuthorId,
                        mention::Column::Url,
                        mention::Column::Text,
                        mention::Column::SearchText,
                        mention::Column::Lang,
                        mention::Column::PublishedAt,
                        mention::Column::Relevance,
                        mention::Column::Sentiment,
                        mention::Column::Likes,
                        mention::Column::Shares,
                        mention::Column::Replies,
                        mention::Column::Views,
                        mention::Column::ValueTags,
                        mention::Column::ValueStances,
                        mention::Column::AccusesValue,
                        mention::Column::IsSolicitation,
                        mention::Column::AboutBrand,
                        mention::Column::Mobilises,
                        mention::Column::SolicitationPriority,
                        mention::Column::InReplyTo,
                        mention::Column::InReplyToAuthor,
                        mention::Column::IsDirect,
                        mention::Column::Rating,
                        mention::Column::AuthorFollowers,
                        mention::Column::ScoredAt,
                    ])
                    .to_owned(),
            )
            .into_query();
        // The upsert tells which rows it found (their ids are not the ones just made),
        // so the announcement below needs no lookup of the mentions by external id.
        upsert.returning(Query::returning().columns([
            mention::Column::ExternalId,
            mention::Column::Id,
            mention::Column::CollectedAt,
        ]));
        for row in txn.query_all_raw(txn.get_database_backend().build(&upsert)).await? {
            let external_id: String = row.try_get("", "external_id")?;
            let id: Uuid = row.try_get("", "id")?;
            if made.get(&external_id) == Some(&id) {
                created += 1;
            } else if rivals {
                restored.push(id);
            }
            for link in links.get_mut(&external_id).into_iter().flatten() {
                link.mention_id = Set(id);
            }
            let Some(&i) = by_external_id.get(&external_id) else { continue };
            let mention = &mut solicitations[i].mention;
            if id != mention.id {
                let collected_at: DateTime<Utc> = row.try_get("", "collected_at")?;
                (mention.id, mention.collected_at) = (id, collected_at);
                seen_before.push(id);
            }
        }
    }
    let tickets = announce_new_solicitations(&txn, brand, &solicitations, &seen_before).await?;
    if rivals {
        crate::competition::relink(&txn, &restored, links.into_values().flatten().collect()).await?;
    }
    marked.sort_unstable();
    marked.dedup();
    crate::influencers::mark_stale(&txn, brand.id, &marked).await?;
    txn.commit().await?;

    for ticket_id in &tickets {
        crate::sla::tickets::announce_id(services, brand.agency_id, brand.id, *ticket_id).await;
    }
    if created > 0 {
        services
            .bus
            .publish(Notice::Mentions { agency_id: brand.agency_id, brand_id: brand.id, count: created, newest })
            .await;
    }
    if !tickets.is_empty() {
        crate::platform::events::dispatch_soon(services, Some(brand.agency_id)).await;
    }
    refresh_soon(services, brand.agency_id, brand.id).await;
    // New negatives may be a crisis.
    crate::crises::detect::detect_soon(services, brand.agency_id, brand.id).await;
    Ok(count)
}

/// A stored mention that is a solicitation, with what its ticket needs.
struct Solicited {
    mention: mention::Model,
    priority: Priority,
    tier: Tier,
    sentiment: f64,
}

/// Announces the stored solicitations that were never announced: those without a
/// ticket, which only the mentions `seen_before` this push can have. A concurrent push
/// of the same mention waits for this transaction on the mention's row, then finds it
/// stored before and finds the ticket.
async fn announce_new_solicitations(
    txn: &sea_orm::DatabaseTransaction,
    brand: &brand::Model,
    solicitations: &[Solicited],
    seen_before: &[Uuid],
) -> Result<Vec<Uuid>> {
    let mut announced = std::collections::HashSet::new();
    for chunk in seen_before.chunks(CHUNK) {
        let ids: Vec<Uuid> = ticket::Entity::find()
            .select_only()
            .column(ticket::Column::MentionId)
            .filter(ticket::Column::MentionId.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(txn)
            .await?;
        announced.extend(ids);
    }
    let found: Vec<Solicitation<'_>> = solicitations
        .iter()
        .filter(|s| !announced.contains(&s.mention.id))
        .map(|s| Solicitation { mention: &s.mention, priority: s.priority, tier: s.tier, sentiment: s.sentiment })
        .collect();
    announce_solicitations(txn, brand, &found).await
}

/// Upserts the authors of `items` and returns their ids and follower counts by
/// (network, handle).
async fn upsert_authors(
    db: &DatabaseConnection,
    items: &[NewMention],
    provenance: Provenance,
) -> Result<HashMap<(String, String), (Uuid, i64)>> {
    let at = now();
    // Collected authors with counts update them; without counts (or pushed), only create.
    // Ordered maps: rows are upserted in key order (see `store`).
    let mut with_counts: BTreeMap<(String, String), author::ActiveModel> = BTreeMap::new();
    let mut without_counts: BTreeMap<(String, String), author::ActiveModel> = BTreeMap::new();
    for m in items {
        let a = &m.author;
        let trusted = provenance == Provenance::Collected && a.authoritative;
        let key = (m.network.clone(), a.handle.clone());
        let counts = if trusted { a.followers } else { None };
        let row = author::ActiveModel {
            id: Set(new_id()),
            network: Set(m.network.clone()),
            handle: Set(a.handle.clone()),
            // A profile from a source that does not vouch for the account would be the
            // first thing every tenant sees of it: only the handle is created.
            display_name: Set(a.display_name.clone().filter(|_| trusted)),
            profile_url: Set(a.profile_url.clone().filter(|_| trusted)),
            bio: Set(None),
            followers: Set(counts.unwrap_or(0)),
            following: Set(if trusted { a.following.unwrap_or(0) } else { 0 }),
            posts_count: Set(None),
            verified: Set(trusted && a.verified),
            account_created_at: Set(a.account_created_at.filter(|_| trusted)),
            created_at: Set(at),
            updated_at: Set(at),
        };
        if counts.is_some() {
            without_counts.remove(&key);
            with_counts.insert(key, row);
        } else if !with_counts.contains_key(&key) {
            without_counts.insert(key, row);
        }
    }
    let keys: Vec<(String, String)> = with_counts.keys().chain(without_counts.keys()).cloned().collect();
    let conflict = || OnConflict::columns([author::Column::Network, author::Column::Handle]).to_owned();
    let profile = [
        author::Column::DisplayName,
        author::Column::ProfileUrl,
        author::Column::Followers,
        author::Column::Following,
        author::Column::Verified,
    ];
    // An author seen again with the same profile is left alone: no new row version, no
    // index entries, and `updated_at` says when the profile last changed.
    let changed = profile
        .iter()
        .map(|column| {
            let column = column.as_str();
            format!("\"author\".\"{column}\" IS DISTINCT FROM \"excluded\".\"{column}\"")
        })
        .collect::<Vec<_>>()
        .join(" OR ");
    // An account's creation date, once known, stays when a later sighting does not say.
    let changed = format!(
        "{changed} OR (\"excluded\".\"account_created_at\" IS NOT NULL \
         AND \"author\".\"account_created_at\" IS DISTINCT FROM \"excluded\".\"account_created_at\")"
    );
    let created = sea_orm::sea_query::Expr::cust(
        "COALESCE(\"excluded\".\"account_created_at\", \"author\".\"account_created_at\")",
    );
    for chunk in batches(with_counts.into_values().collect(), CHUNK) {
        author::Entity::insert_many(chunk)
            .on_conflict(
                conflict()
                    .update_columns(profile.into_iter().chain([author::Column::UpdatedAt]))
                    .value(author::Column::AccountCreatedAt, created.clone())
                    .action_and_where(sea_orm::sea_query::Expr::cust(changed.clone()))
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    }
    for chunk in batches(without_counts.into_values().collect(), CHUNK) {
        author::Entity::insert_many(chunk)
            .on_conflict_do_nothing_on([author::Column::Network, author::Column::Handle])
            .exec_without_returning(db)
            .await?;
    }

    let mut by_network: HashMap<String, Vec<String>> = HashMap::new();
    for (network, handle) in keys {
        by_network.entry(network).or_default().push(handle);
    }
    // Read back in a transaction of its own for its plans only: a generic plan made
    // while `author` was small scans every author of the network for each lookup.
    let txn = db.begin().await?;
    crate::platform::db::plan_for_values(&txn).await?;
    let mut ids = HashMap::new();
    for (network, handles) in by_network {
        for chunk in handles.chunks(CHUNK) {
            let found = author::Entity::find()
                .filter(author::Column::Network.eq(&network))
                .filter(author::Column::Handle.is_in(chunk.iter().cloned()))
                .all(&txn)
                .await?;
            ids.extend(found.into_iter().map(|a| ((a.network, a.handle), (a.id, a.followers))));
        }
    }
    txn.commit().await?;
    Ok(ids)
}
