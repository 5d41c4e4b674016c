//! Sources: what a brand follows (a feed, a Mastodon hashtag or search, a Bluesky
//! search) and how each is doing. A periodic dispatcher claims the sources that are due
//! and enqueues one poll job each; a poll stores what the collector brought and records
//! the source's health. Failures back off exponentially (or as long as a 429's
//! `Retry-After` asks); after [`UNHEALTHY_AFTER`] failures in a row the source is marked
//! unhealthy and a `source.unhealthy` event is written, once, until it recovers.

pub mod collectors;
pub mod ingest;
pub mod meta_webhooks;

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

use crate::System;
use crate::entities::{brand, source};
use crate::mentions::store::{self, Provenance};
use crate::platform::jobs::Registry;
use crate::platform::pagination::{self, Page, PageRequest};
use crate::platform::queue::{Envelope, JobPayload};
use crate::{Actor, Error, Network, Result, Services, new_id, now, platform::audit, platform::events};
use collectors::CollectError;

/// Failures in a row after which a source is unhealthy.
pub const UNHEALTHY_AFTER: i32 = 3;
/// Poll intervals allowed, in seconds: at most once a minute (or the operator's
/// `VIGIE_MIN_POLL_INTERVAL_SECS`), at least once a day.
pub const MIN_INTERVAL: i32 = 60;
pub const MAX_INTERVAL: i32 = 86_400;
const DEFAULT_INTERVAL: i32 = 300;
/// Longest back-off after failures.
const MAX_BACKOFF_SECS: i64 = 6 * 3600;
/// The longest wait a network's `Retry-After` can impose on a source.
const MAX_RETRY_AFTER_SECS: i64 = 24 * 3600;
/// How long a claimed source stays reserved for its poll job.
const LEASE_SECS: i64 = 600;
/// How often the dispatcher looks for due sources.
const DISPATCH_EVERY: Duration = Duration::from_secs(15);

/// What a source follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// An RSS or Atom feed URL (blogs, news, YouTube channel feeds).
    Feed,
    /// A Mastodon hashtag.
    Hashtag,
    /// A search query (Mastodon or Bluesky).
    Search,
    /// An account's own posts (Mastodon `user@host`, Bluesky handle or DID).
    Account,
    /// A community's new posts and comments (a subreddit).
    Community,
    /// Mentions pushed through `POST /ingest/mentions` (created on first push).
    Ingest,
}

impl SourceKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Feed => "feed",
            SourceKind::Hashtag => "hashtag",
            SourceKind::Search => "search",
            SourceKind::Account => "account",
            SourceKind::Community => "community",
            SourceKind::Ingest => "ingest",
        }
    }

    /// The kind of a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        [
            SourceKind::Feed,
            SourceKind::Hashtag,
            SourceKind::Search,
            SourceKind::Account,
            SourceKind::Community,
            SourceKind::Ingest,
        ]
        .into_iter()
        .find(|k| k.as_str() == name)
    }
}

/// A new source.
pub struct NewSource {
    pub brand_id: Uuid,
    pub network: Network,
    pub kind: SourceKind,
    pub target: String,
    pub endpoint: Option<String>,
    /// The agency's connection to poll with (managers only); none: anonymously.
    pub connection_id: Option<Uuid>,
    pub poll_interval_secs: Option<i32>,
    pub enabled: Option<bool>,
}

/// Changes to a source; `None` leaves a field unchanged.
#[derive(Default)]
pub struct SourcePatch {
    pub target: Option<String>,
    pub endpoint: Option<Option<String>>,
    /// `Some(None)` polls anonymously again.
    pub connection_id: Option<Option<Uuid>>,
    pub poll_interval_secs: Option<i32>,
    pub enabled: Option<bool>,
}

fn http_url(field: &str, raw: &str) -> Result<String> {
    let url = url::Url::parse(raw.trim()).map_err(|_| Error::bad_input(field, "must be an http(s) URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(Error::bad_input(field, "must be an http(s) URL"));
    }
    Ok(url.to_string())
}

/// Checks that the kind fits the network and normalises the target and endpoint.
fn validate_target(
    network: Network,
    kind: SourceKind,
    target: &str,
    endpoint: Option<&str>,
) -> Result<(String, Option<String>)> {
    let target = target.trim();
    match (kind, network) {
        (SourceKind::Feed, Network::Blog | Network::News | Network::Youtube | Network::Forum | Network::Other) => {
            if endpoint.is_some() {
                return Err(Error::bad_input("endpoint", "a feed has no endpoint: its URL is the target"));
            }
            Ok((http_url("target", target)?, None))
        }
        (SourceKind::Hashtag, Network::Mastodon) => {
            let tag = target.trim_start_matches('#');
            if tag.is_empty() || tag.len() > 100 || !tag.chars().all(|c| c.is_alphanumeric() || c == '_') {
                return Err(Error::bad_input("target", "a hashtag is letters, digits and underscores"));
            }
            let endpoint = http_url("endpoint", endpoint.unwrap_or("https://mastodon.social"))?;
            Ok((tag.to_owned(), Some(endpoint)))
        }
        (SourceKind::Search, Network::Mastodon | Network::Bluesky) => {
            if target.is_empty() || target.chars().count() > 200 {
                return Err(Error::bad_input("target", "a search query is 1 to 200 characters"));
            }
            let default =
                if network == Network::Mastodon { "https://mastodon.social" } else { "https://public.api.bsky.app" };
            Ok((target.to_owned(), Some(http_url("endpoint", endpoint.unwrap_or(default))?)))
        }
        (SourceKind::Account, Network::Mastodon | Network::Bluesky) => {
            let account = target.trim_start_matches('@');
            let valid = !account.is_empty()
                && account.len() <= 253
                && account.chars().all(|c| c.is_alphanumeric() || "_.-@:".contains(c))
                && (network == Network::Bluesky || account.matches('@').count() <= 1);
            if !valid {
                return Err(Error::bad_input(
                    "target",
                    "an account is a Mastodon `user` or `user@host`, or a Bluesky handle or DID",
                ));
            }
            let default =
                if network == Network::Mastodon { "https://mastodon.social" } else { "https://public.api.bsky.app" };
            Ok((account.to_lowercase(), Some(http_url("endpoint", endpoint.unwrap_or(default))?)))
        }
        (SourceKind::Account, Network::Youtube) => {
            // A channel id: `UC` and 22 URL-safe base64 characters.
            let channel = target.trim_start_matches("https://www.youtube.com/channel/");
            let valid = channel.len() == 24
                && channel.starts_with("UC")
                && channel.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !valid {
                return Err(Error::bad_input("target", "a YouTube channel id (UC followed by 22 characters)"));
            }
            if endpoint.is_some() {
                return Err(Error::bad_input("endpoint", "YouTube sources call the API of their connection"));
            }
            Ok((channel.to_owned(), None))
        }
        (SourceKind::Search, Network::Youtube | Network::Reddit) => {
            if target.is_empty() || target.chars().count() > 200 {
                return Err(Error::bad_input("target", "a search query is 1 to 200 characters"));
            }
            if endpoint.is_some() {
                return Err(Error::bad_input("endpoint", "these sources call the API of their connection"));
            }
            Ok((target.to_owned(), None))
        }
        (SourceKind::Search, Network::X) => {
            // X takes queries of 512 characters; Vigie adds ` -is:retweet` and brackets.
            if target.is_empty() || target.chars().count() > 490 {
                return Err(Error::bad_input("target", "an X search query is 1 to 490 characters"));
            }
            if endpoint.is_some() {
                return Err(Error::bad_input("endpoint", "these sources call the API of their connection"));
            }
            Ok((target.to_owned(), None))
        }
        (SourceKind::Account, Network::X) => {
            // A username: 1 to 15 letters, digits and underscores.
            let name = ["https://x.com/", "https://twitter.com/", "@"]
                .iter()
                .fold(target, |t, prefix| t.strip_prefix(prefix).unwrap_or(t))
                .trim_end_matches('/');
            let valid = (1..=15).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(Error::bad_input("target", "an X username (@name): 1 to 15 letters, digits and _"));
            }
            if endpoint.is_some() {
                return Err(Error::bad_input("endpoint", "these sources call the API of their connection"));
            }
            Ok((name.to_lowercase(), None))
        }
        (SourceKind::Account, Network::Google) => {
            // A location: `accounts/{account}/locations/{location}`.
            let location = target.trim_end_matches('/');
            if !crate::connections::google::is_location_name(location) {
                return Err(Error::bad_input(
                    "target",
                    "a Business Profile location: accounts/{account id}/locations/{location id}",
                ));
            }
            if endpoint.is_some() {
                return Err(Error::bad_input("endpoint", "these sources call the API of their connection"));
            }
            Ok((location.to_owned(), None))
        }
        (SourceKind::Account, Network::Facebook | Network::Instagram) => {
            // The connection's own Page or Instagram account, by its id.
            if !crate::connections::meta::is_id(target) || target.contains('_') {
                return Err(Error::bad_input("target", "the id of the connection's Page or Instagram account"));
            }
            if endpoint.is_some() {
                return Err(Error::bad_input("endpoint", "these sources call the API of their connection"));
            }
            Ok((target.to_owned(), None))
        }
        (SourceKind::Account, Network::Linkedin) => {
            // The connection's own organisation: its id, or its URN.
            let id = target.strip_prefix("urn:li:organization:").unwrap_or(target);
            if !crate::connections::linkedin::is_numeric(id) {
                return Err(Error::bad_input("target", "the id of the connection's LinkedIn organisation"));
            }
            if endpoint.is_some() {
                return Err(Error::bad_input("endpoint", "these sources call the API of their connection"));
            }
            Ok((id.to_owned(), None))
        }
        (SourceKind::Search | SourceKind::Hashtag, Network::Instagram) => {
            let tag = target.trim_start_matches('#');
            if tag.is_empty() || tag.chars().count() > 100 || !tag.chars().all(|c| c.is_alphanumeric() || c == '_') {
                return Err(Error::bad_input("target", "an Instagram hashtag: letters, digits and underscores"));
            }
            if endpoint.is_some() {
                return Err(Error::bad_input("endpoint", "these sources call the API of their connection"));
            }
            Ok((tag.to_lowercase(), None))
        }
        (SourceKind::Account, Network::Trustpilot) => {
            // A business unit's id (24 hex digits) or the domain it reviews.
            let unit = ["https://www.trustpilot.com/review/", "https://trustpilot.com/review/", "https://"]
                .iter()
                .fold(target, |t, prefix| t.strip_prefix(prefix).unwrap_or(t))
                .trim_end_matches('/')
                .to_lowercase();
            let id = unit.len() == 24 && unit.bytes().all(|b| b.is_ascii_hexdigit());
            let domain = unit.len() <= 253
                && unit.contains('.')
                && unit
                    .split('.')
                    .all(|label| !label.is_empty() && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
            if !(id || domain) {
                return Err(Error::bad_input(
                    "target",
                    "a Trustpilot business unit: its domain (verdure.example) or its id",
                ));
            }
            if endpoint.is_some() {
                return Err(Error::bad_input("endpoint", "these sources call the API of their connection"));
            }
            Ok((unit, None))
        }
        (SourceKind::Community, Network::Reddit) => {
            // A subreddit's name: 2 to 21 letters, digits and underscores.
            let name = target.trim_start_matches("https://www.reddit.com").trim_start_matches('/');
            let name = name.trim_start_matches("r/").trim_end_matches('/');
            let valid = (2..=21).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(Error::bad_input("target", "a subreddit's name (r/name): 2 to 21 letters, digits and _"));
            }
            if endpoint.is_some() {
                return Err(Error::bad_input("endpoint", "these sources call the API of their connection"));
            }
            Ok((name.to_lowercase(), None))
        }
        (SourceKind::Ingest, _) => {
            Err(Error::bad_input("kind", "the ingest source is created by the first push to /ingest/mentions"))
        }
        (kind, network) => Err(Error::bad_input(
            "kind",
            format!(
                "{} sources are not available on {}: feeds serve blog, news, youtube, forum and other; \
                 hashtags serve mastodon and instagram; searches serve mastodon, bluesky, youtube, reddit, x \
                 and instagram (a hashtag); accounts serve mastodon, bluesky, youtube, x, facebook, \
                 instagram, linkedin, trustpilot and google (reviews); communities serve reddit",
                kind.as_str(),
                network.name()
            ),
        )),
    }
}

fn interval(config: &crate::Config, raw: Option<i32>) -> Result<i32> {
    let min = config.min_poll_interval_secs.max(MIN_INTERVAL);
    let secs = raw.unwrap_or(DEFAULT_INTERVAL.max(min));
    if (min..=MAX_INTERVAL).contains(&secs) {
        Ok(secs)
    } else {
        Err(Error::bad_input("pollIntervalSecs", format!("must be between {min} and {MAX_INTERVAL} seconds")))
    }
}

/// The interval a source is polled at: its own, but never below the operator's floor
/// (which may have been raised since the source was made).
fn effective_interval(config: &crate::Config, source: &source::Model) -> i32 {
    let floor = if source.network == "youtube" && source.kind == "search" {
        // A page of YouTube search costs a hundred units of the project's day.
        crate::sources::collectors::youtube::SEARCH_INTERVAL_SECS
    } else {
        0
    };
    source.poll_interval_secs.max(config.min_poll_interval_secs).max(floor)
}

/// When an edited source may poll again: at once, unless it polled less than the
/// operator's floor ago (editing a source back and forth must not poll it faster).
fn soonest_poll(config: &crate::Config, source: &source::Model) -> DateTime<Utc> {
    let floor = ChronoDuration::seconds(config.min_poll_interval_secs.into());
    source.last_polled_at.map_or(now(), |last| (last + floor).max(now()))
}

/// Refuses a new polled source past the brand's or the agency's quota, counted under
/// the agency's lock ([`crate::agencies::lock`]).
async fn within_quota(txn: &sea_orm::DatabaseTransaction, config: &crate::Config, brand: &brand::Model) -> Result<()> {
    use sea_orm::PaginatorTrait;
    crate::agencies::lock(txn, brand.agency_id).await?;
    let polled = || {
        source::Entity::find()
            .filter(source::Column::AgencyId.eq(brand.agency_id))
            .filter(source::Column::Kind.ne(SourceKind::Ingest.as_str()))
    };
    let in_brand = polled().filter(source::Column::BrandId.eq(brand.id)).count(txn).await?;
    if in_brand >= config.sources_per_brand {
        let message = format!("a brand has at most {} sources: delete one first", config.sources_per_brand);
        return Err(Error::bad_input("brandId", message));
    }
    let in_agency = polled().count(txn).await?;
    if in_agency >= config.sources_per_agency {
        let message = format!("an agency has at most {} sources: delete one first", config.sources_per_agency);
        return Err(Error::bad_input("brandId", message));
    }
    Ok(())
}

/// A new source row, due for a poll at once.
fn new_row(
    brand: &brand::Model,
    network: Network,
    kind: SourceKind,
    target: String,
    endpoint: Option<String>,
    poll_interval_secs: i32,
    enabled: bool,
) -> source::ActiveModel {
    let at = now();
    source::ActiveModel {
        id: Set(new_id()),
        agency_id: Set(brand.agency_id),
        brand_id: Set(brand.id),
        network: Set(network.name()),
        kind: Set(kind.as_str().to_owned()),
        target: Set(target),
        endpoint: Set(endpoint),
        connection_id: Set(None),
        poll_interval_secs: Set(poll_interval_secs),
        enabled: Set(enabled),
        cursor: Set(None),
        etag: Set(None),
        last_modified: Set(None),
        next_poll_at: Set(Some(at)),
        last_polled_at: Set(None),
        last_success_at: Set(None),
        last_error: Set(None),
        consecutive_failures: Set(0),
        healthy: Set(true),
        quota_remaining: Set(None),
        quota_resets_at: Set(None),
        created_at: Set(at),
        updated_at: Set(at),
    }
}

/// The brand's `ingest` source (mentions pushed through `POST /ingest/mentions`),
/// created on first use. The unique (brand, kind, target) index makes concurrent first
/// pushes create one; the dispatcher never polls it (its kind is excluded).
pub async fn ingest_source(_: System, db: &impl ConnectionTrait, brand: &brand::Model) -> Result<source::Model> {
    let row = new_row(brand, Network::Other, SourceKind::Ingest, "http-ingest".into(), None, 0, true);
    source::Entity::insert(row)
        .on_conflict_do_nothing_on([source::Column::BrandId, source::Column::Kind, source::Column::Target])
        .exec_without_returning(db)
        .await?;
    source::Entity::find()
        .filter(source::Column::BrandId.eq(brand.id))
        .filter(source::Column::Kind.eq(SourceKind::Ingest.as_str()))
        .order_by_asc(source::Column::Id)
        .one(db)
        .await?
        .ok_or_else(|| Error::internal("the ingest source vanished"))
}

/// How long pushed mentions from a network count as that network being heard.
pub const PUSHED_HEARS_FOR: ChronoDuration = ChronoDuration::days(7);

/// Notes on the ingest source when mentions of each network were last pushed (at most
/// hourly per network), so that [`unwatched_handles`] knows which networks another
/// tool feeds. Two pushes of different networks at once may lose one's note until its
/// next push; a failure here is logged, the mentions being stored already.
pub(crate) async fn note_pushed_networks(
    db: &impl ConnectionTrait,
    ingest: &source::Model,
    networks: std::collections::BTreeSet<String>,
) {
    let at = now();
    let mut cursor =
        ingest.cursor.clone().filter(serde_json::Value::is_object).unwrap_or_else(|| serde_json::json!({}));
    let Some(root) = cursor.as_object_mut() else { return };
    let seen = root.entry("networks").or_insert_with(|| serde_json::json!({}));
    if !seen.is_object() {
        *seen = serde_json::json!({});
    }
    let Some(seen) = seen.as_object_mut() else { return };
    let mut changed = false;
    for network in networks {
        let last = seen.get(&network).and_then(|t| t.as_str()).and_then(|t| DateTime::parse_from_rfc3339(t).ok());
        if last.is_none_or(|last| at - last.with_timezone(&Utc) > ChronoDuration::hours(1)) {
            seen.insert(network, serde_json::json!(at.to_rfc3339()));
            changed = true;
        }
    }
    if changed {
        let result = source::Entity::update_many()
            .col_expr(source::Column::Cursor, Expr::value(cursor))
            .filter(source::Column::Id.eq(ingest.id))
            .exec(db)
            .await;
        if let Err(e) = result {
            tracing::warn!(source_id = %ingest.id, error = %e, "cannot note the networks pushed");
        }
    }
}

/// The brand's handles that nothing hears: no enabled, healthy search source on the
/// handle's network names it (as a whole word: `verdure`, `@verdure`,
/// `mentions:verdure`), and no mention of that network was pushed in the last
/// [`PUSHED_HEARS_FOR`]. An account source does not count: it reads the account's own
/// posts, not what customers write to it. `sources` are the brand's.
pub fn unwatched_handles(
    brand: &brand::Model,
    sources: &[source::Model],
    at: DateTime<Utc>,
) -> Vec<crate::entities::Handle> {
    let names = |target: &str| -> Vec<String> {
        target
            .split(|c: char| c.is_whitespace() || c == '"' || c == '(' || c == ')')
            .map(|word| store::normalise_handle(word.strip_prefix("mentions:").unwrap_or(word)))
            .collect()
    };
    let heard = |handle: &crate::entities::Handle| {
        let network = handle.network.name();
        let name = store::normalise_handle(&handle.handle);
        sources.iter().filter(|s| s.enabled && s.brand_id == brand.id).any(|s| match SourceKind::parse(&s.kind) {
            Some(SourceKind::Search) => s.healthy && s.network == network && names(&s.target).contains(&name),
            // The comments on the brand's videos are what YouTube users write to it, and
            // reviews what Trustpilot and Google users do.
            Some(SourceKind::Account) if matches!(network.as_str(), "youtube" | "trustpilot" | "google") => {
                s.healthy && s.network == network
            }
            // The posts that mention the account, on X.
            Some(SourceKind::Account) => s.healthy && network == "x" && s.network == network && s.target == name,
            Some(SourceKind::Ingest) => {
                s.cursor.as_ref().and_then(|c| c["networks"][&network].as_str()).is_some_and(|t| {
                    DateTime::parse_from_rfc3339(t).is_ok_and(|last| at - last.with_timezone(&Utc) <= PUSHED_HEARS_FOR)
                })
            }
            _ => false,
        })
    };
    brand.handles.0.iter().filter(|h| !heard(h)).cloned().collect()
}

/// The sources of the brands among `brand_ids` the caller may see.
pub async fn of_brands(db: &impl ConnectionTrait, actor: &Actor, brand_ids: &[Uuid]) -> Result<Vec<source::Model>> {
    let visible: Vec<Uuid> = brand_ids.iter().copied().filter(|b| actor.sees_brand(*b)).collect();
    Ok(source::Entity::find()
        .filter(source::Column::AgencyId.eq(actor.agency_id))
        .filter(source::Column::BrandId.is_in(visible))
        .order_by_asc(source::Column::Id)
        .all(db)
        .await?)
}

/// A source the caller may see (agency staff, or a client viewer of its brand).
pub async fn get(db: &impl ConnectionTrait, actor: &Actor, id: Uuid) -> Result<source::Model> {
    let found = source::Entity::find_by_id(id)
        .filter(source::Column::AgencyId.eq(actor.agency_id))
        .one(db)
        .await?
        .ok_or(Error::NotFound("source"))?;
    actor.brand(db, found.brand_id).await.map_err(|_| Error::NotFound("source"))?;
    Ok(found)
}

/// A brand's sources, oldest first.
pub async fn list(
    services: &Services,
    actor: &Actor,
    brand_id: Uuid,
    page: PageRequest,
) -> Result<Page<source::Model>> {
    let brand = actor.check_brand(&services.db, brand_id).await?;
    let select = source::Entity::find()
        .filter(source::Column::AgencyId.eq(actor.agency_id))
        .filter(source::Column::BrandId.eq(brand));
    pagination::fetch(&services.db, select, source::Column::Id, pagination::Direction::Ascending, page).await
}

/// The connection a source of `brand` may poll with: Bluesky, YouTube, Reddit, X,
/// Trustpilot and Google sources sign in, and only managers may lend a connection to a source.
async fn check_connection(
    db: &impl ConnectionTrait,
    actor: &Actor,
    id: Uuid,
    brand: Uuid,
    network: Network,
) -> Result<Uuid> {
    actor.require_manager()?;
    if !requires_connection(network, SourceKind::Account) && network != Network::Bluesky {
        return Err(Error::bad_input(
            "connectionId",
            "only Bluesky, YouTube, Reddit, X, Facebook, Instagram, LinkedIn, Trustpilot and Google sources poll \
             with a connection",
        ));
    }
    crate::connections::usable_by(db, actor, id, brand, network).await
}

/// Whether sources of `network` and `kind` must poll through a connection: YouTube's,
/// Reddit's, X's, Trustpilot's and Google's APIs answer only signed-in callers (a channel's RSS feed needs none).
fn requires_connection(network: Network, kind: SourceKind) -> bool {
    matches!(
        network,
        Network::Youtube
            | Network::Reddit
            | Network::X
            | Network::Trustpilot
            | Network::Google
            | Network::Facebook
            | Network::Instagram
            | Network::Linkedin
    ) && kind != SourceKind::Feed
}

/// A Facebook or Instagram account source reads its connection's own Page or account
/// (another one's comments are not the connection's to read or answer).
async fn check_own_account(
    db: &impl ConnectionTrait,
    network: Network,
    kind: SourceKind,
    target: &str,
    connection: Option<Uuid>,
) -> Result<()> {
    if kind != SourceKind::Account || !matches!(network, Network::Facebook | Network::Instagram | Network::Linkedin) {
        return Ok(());
    }
    let Some(id) = connection else { return Err(needs_connection()) };
    let account = crate::entities::connection::Entity::find_by_id(id).one(db).await?.and_then(|c| c.account_id);
    if account.as_deref() != Some(target) {
        return Err(Error::bad_input(
            "target",
            format!(
                "the source reads its connection's own {}: its id is {}",
                network.name(),
                account.unwrap_or_default()
            ),
        ));
    }
    Ok(())
}

fn needs_connection() -> Error {
    Error::bad_input("connectionId", "these sources poll through a connection: a manager connects the account first")
}

/// Adds a source to a brand (staff who may see the brand); it is polled at once.
pub async fn create(services: &Services, actor: &Actor, input: NewSource) -> Result<source::Model> {
    actor.require_staff()?;
    let brand = actor.brand(&services.db, input.brand_id).await?;
    let (target, endpoint) = validate_target(input.network, input.kind, &input.target, input.endpoint.as_deref())?;
    let poll_interval = interval(&services.config, input.poll_interval_secs)?;
    let connection = match input.connection_id {
        Some(id) => Some(check_connection(&services.db, actor, id, brand.id, input.network).await?),
        None if requires_connection(input.network, input.kind) => return Err(needs_connection()),
        None => None,
    };
    check_own_account(&services.db, input.network, input.kind, &target, connection).await?;
    let txn = crate::platform::db::begin_write(&services.db).await?;
    within_quota(&txn, &services.config, &brand).await?;
    let mut row =
        new_row(&brand, input.network, input.kind, target, endpoint, poll_interval, input.enabled.unwrap_or(true));
    row.connection_id = Set(connection);
    let created = row.insert(&txn).await?;
    audit::record(
        &txn,
        actor,
        "source.created",
        "source",
        Some(created.id),
        serde_json::json!({ "brandId": brand.id, "kind": created.kind, "target": created.target }),
    )
    .await?;
    txn.commit().await?;
    Ok(created)
}

/// Edits a source. A new target or endpoint starts it afresh (cursor and cache cleared).
pub async fn update(services: &Services, actor: &Actor, id: Uuid, patch: SourcePatch) -> Result<source::Model> {
    actor.require_staff()?;
    let existing = get(&services.db, actor, id).await?;
    let kind = SourceKind::parse(&existing.kind).ok_or_else(|| Error::internal("unknown source kind"))?;
    if kind == SourceKind::Ingest {
        return Err(Error::bad_input("id", "the ingest source follows API keys; revoke a key to stop pushes"));
    }
    let network = Network::parse(&existing.network).ok_or_else(|| Error::internal("unknown network"))?;
    let mut model: source::ActiveModel = existing.clone().into();
    if existing.connection_id.is_some() && (patch.target.is_some() || patch.endpoint.is_some()) {
        // What a source with a connection reads, it reads as the agency's account.
        actor.require_manager()?;
    }
    if patch.target.is_some() || patch.endpoint.is_some() {
        let target = patch.target.unwrap_or_else(|| existing.target.clone());
        let endpoint = match patch.endpoint {
            Some(endpoint) => endpoint,
            None => existing.endpoint.clone(),
        };
        let (target, endpoint) = validate_target(network, kind, &target, endpoint.as_deref())?;
        if target != existing.target || endpoint != existing.endpoint {
            model.target = Set(target);
            model.endpoint = Set(endpoint);
            model.cursor = Set(None);
            model.etag = Set(None);
            model.last_modified = Set(None);
            model.next_poll_at = Set(Some(soonest_poll(&services.config, &existing)));
        }
    }
    if let Some(connection) = patch.connection_id
        && connection != existing.connection_id
    {
        model.connection_id = Set(match connection {
            Some(id) => Some(check_connection(&services.db, actor, id, existing.brand_id, network).await?),
            None if requires_connection(network, kind) => return Err(needs_connection()),
            None => {
                actor.require_manager()?;
                None
            }
        });
    }
    if let Some(secs) = patch.poll_interval_secs {
        model.poll_interval_secs = Set(interval(&services.config, Some(secs))?);
    }
    if let Some(enabled) = patch.enabled {
        model.enabled = Set(enabled);
        if enabled && !existing.enabled {
            model.next_poll_at = Set(Some(soonest_poll(&services.config, &existing)));
        }
    }
    if model.target.is_set() || model.connection_id.is_set() {
        let connection = model.connection_id.clone().unwrap();
        check_own_account(&services.db, network, kind, model.target.as_ref(), connection).await?;
    }
    model.updated_at = Set(now());
    let txn = crate::platform::db::begin_write(&services.db).await?;
    let updated = model.update(&txn).await?;
    audit::record(&txn, actor, "source.updated", "source", Some(id), serde_json::json!({ "target": updated.target }))
        .await?;
    txn.commit().await?;
    Ok(updated)
}

/// Deletes a source and the mentions it collected. Disable it instead to keep them.
pub async fn delete(services: &Services, actor: &Actor, id: Uuid) -> Result<()> {
    actor.require_staff()?;
    let existing = get(&services.db, actor, id).await?;
    let txn = crate::platform::db::begin_write(&services.db).await?;
    source::Entity::delete_by_id(existing.id).exec(&txn).await?;
    audit::record(&txn, actor, "source.deleted", "source", Some(id), serde_json::json!({ "target": existing.target }))
        .await?;
    txn.commit().await?;
    Ok(())
}

/// Polls one source.
#[derive(Debug, Serialize, Deserialize)]
pub struct PollSource {
    pub source_id: Uuid,
}

impl JobPayload for PollSource {
    const KIND: &'static str = "sources.poll";
}

/// Looks for due sources.
#[derive(Debug, Serialize, Deserialize)]
pub struct DispatchPolls {}

impl JobPayload for DispatchPolls {
    const KIND: &'static str = "sources.dispatch";
}

/// Registers the polling jobs.
pub(crate) fn register_jobs(registry: &mut Registry) {
    meta_webhooks::register_jobs(registry);
    registry.register(|services: Arc<Services>, _meta, job: PollSource| async move {
        poll(System::new(), &services, job.source_id).await?;
        Ok(())
    });
    registry.register(|services: Arc<Services>, _meta, _job: DispatchPolls| async move {
        dispatch_due(&services).await?;
        Ok(())
    });
    registry.schedule("sources.dispatch", DISPATCH_EVERY, |_slot| Envelope::new(None, &DispatchPolls {}));
}

/// Claims the sources due for a poll and enqueues a poll job for each. The claim moves
/// `next_poll_at` a lease ahead with a conditional update, so two dispatchers never
/// enqueue the same poll; a lost job is retried when the lease runs out.
pub(crate) async fn dispatch_due(services: &Services) -> Result<usize> {
    let at = now();
    let due = source::Entity::find()
        .filter(source::Column::Enabled.eq(true))
        .filter(source::Column::Kind.ne(SourceKind::Ingest.as_str()))
        .filter(source::Column::NextPollAt.lte(at))
        .order_by_asc(source::Column::NextPollAt)
        .limit(500)
        .all(&services.db)
        .await?;
    let mut claimed = 0;
    for s in due {
        let won = source::Entity::update_many()
            .col_expr(source::Column::NextPollAt, Expr::value(at + ChronoDuration::seconds(LEASE_SECS)))
            .filter(source::Column::Id.eq(s.id))
            .filter(source::Column::NextPollAt.eq(s.next_poll_at))
            .exec(&services.db)
            .await?;
        if won.rows_affected == 1 {
            crate::platform::jobs::enqueue(services, Some(s.agency_id), &PollSource { source_id: s.id }).await?;
            claimed += 1;
        }
    }
    Ok(claimed)
}

/// What a poll did.
#[derive(Debug, PartialEq, Eq)]
pub struct PollReport {
    pub stored: usize,
    pub error: Option<String>,
}

/// Polls a source now: stores what its collector brings and records its health. The
/// network's failures are recorded on the source, not returned; only database errors are.
pub async fn poll(system: System, services: &Services, source_id: Uuid) -> Result<PollReport> {
    let Some(source) = source::Entity::find_by_id(source_id).one(&services.db).await? else {
        return Ok(PollReport { stored: 0, error: None });
    };
    let Some(brand) = brand::Entity::find_by_id(source.brand_id).one(&services.db).await? else {
        return Ok(PollReport { stored: 0, error: None });
    };
    if !source.enabled {
        return Ok(PollReport { stored: 0, error: None });
    }
    let Some(collector) = collectors::for_source(&source) else {
        return Ok(PollReport {
            stored: 0,
            error: Some(format!("no collector for {} {}", source.network, source.kind)),
        });
    };
    let started = now();
    let outcome = match crate::connections::Credential::of_source(services, &source).await {
        Ok(credential) => {
            let outcome = collector.poll(&services.http, &source, credential.as_ref()).await;
            if let Some(credential) = &credential {
                credential.finish(outcome.as_ref().is_ok_and(|poll| poll.incomplete.is_none())).await;
            }
            outcome
        }
        Err(e) => Err(CollectError::Credential(e)),
    };
    let (poll, failure) = match outcome {
        Ok(mut poll) => {
            let failure = poll.incomplete.take();
            (Some(poll), failure)
        }
        Err(e) => (None, Some(e)),
    };
    let mut stored = 0;
    let mut model: source::ActiveModel = source.clone().into();
    model.last_polled_at = Set(Some(started));
    if let Some(poll) = poll {
        stored = store::store(system, services, &brand, &source, poll.mentions, Provenance::Collected).await?;
        if let Some(cursor) = poll.cursor {
            model.cursor = Set(Some(cursor));
        }
        if let Some(quota) = poll.quota {
            model.quota_remaining = Set(Some(quota.remaining));
            model.quota_resets_at = Set(quota.resets_at);
        }
        if poll.etag.is_some() || poll.last_modified.is_some() {
            model.etag = Set(poll.etag);
            model.last_modified = Set(poll.last_modified);
        }
    }
    let error = failure.as_ref().map(ToString::to_string);
    let every = effective_interval(&services.config, &source);
    let txn = crate::platform::db::begin_write(&services.db).await?;
    match &failure {
        None => {
            model.last_success_at = Set(Some(started));
            model.last_error = Set(None);
            model.consecutive_failures = Set(0);
            model.healthy = Set(true);
            model.next_poll_at = Set(Some(started + ChronoDuration::seconds(every.into())));
        }
        // The connection's refusal is the connection's to report (one event, its
        // health): its sources wait for the reconnection, which reschedules them,
        // without counting failures of their own.
        Some(failure @ CollectError::Credential(crate::connections::CredentialError::Refused(_))) => {
            model.last_error = Set(Some(failure.to_string()));
            model.next_poll_at = Set(Some(started + ChronoDuration::seconds(every.into())));
        }
        Some(failure) => {
            let failures = source.consecutive_failures + 1;
            model.consecutive_failures = Set(failures);
            model.last_error = Set(error.clone());
            model.next_poll_at = Set(Some(next_attempt(started, every, failures, failure)));
            if failures >= UNHEALTHY_AFTER {
                model.healthy = Set(false);
                if source.healthy {
                    events::record(
                        &txn,
                        source.agency_id,
                        Some(source.brand_id),
                        events::SOURCE_UNHEALTHY,
                        serde_json::json!({
                            "brandId": source.brand_id,
                            "sourceId": source.id,
                            "network": source.network,
                            "kind": source.kind,
                            "target": source.target,
                            "consecutiveFailures": failures,
                            "lastError": error,
                        }),
                    )
                    .await?;
                }
            }
            tracing::warn!(source_id = %source.id, failures, error = %failure, "source poll failed");
        }
    }
    model.updated_at = Set(now());
    model.update(&txn).await?;
    txn.commit().await?;
    Ok(PollReport { stored, error })
}

/// When to try again after `failures` failures in a row: the interval doubled per
/// failure, capped, or what a 429 asked if that is longer.
fn next_attempt(at: DateTime<Utc>, interval_secs: i32, failures: i32, error: &CollectError) -> DateTime<Utc> {
    let backoff = i64::from(interval_secs).saturating_mul(1 << failures.clamp(0, 16)).min(MAX_BACKOFF_SECS);
    let asked = match error {
        // A remote value: bounded before it reaches a date.
        CollectError::RateLimited { retry_after: Some(d) }
        | CollectError::Credential(crate::connections::CredentialError::RateLimited { retry_after: Some(d) }) => {
            i64::try_from(d.as_secs()).unwrap_or(MAX_RETRY_AFTER_SECS).min(MAX_RETRY_AFTER_SECS)
        }
        _ => 0,
    };
    let wait = ChronoDuration::try_seconds(backoff.max(asked)).unwrap_or(ChronoDuration::seconds(MAX_BACKOFF_SECS));
    at.checked_add_signed(wait).unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_kinds_per_network() {
        assert!(validate_target(Network::Blog, SourceKind::Feed, "https://blog.example/feed.xml", None).is_ok());
        assert!(validate_target(Network::Blog, SourceKind::Feed, "ftp://x", None).is_err());
        let (tag, endpoint) = validate_target(Network::Mastodon, SourceKind::Hashtag, "#Verdure", None).unwrap();
        assert_eq!((tag.as_str(), endpoint.as_deref()), ("Verdure", Some("https://mastodon.social/")));
        assert!(validate_target(Network::Mastodon, SourceKind::Hashtag, "two words", None).is_err());
        assert!(validate_target(Network::Bluesky, SourceKind::Hashtag, "x", None).is_err());
        assert!(validate_target(Network::Tiktok, SourceKind::Search, "x", None).is_err());
        assert_eq!(
            validate_target(Network::X, SourceKind::Account, "https://x.com/Verdure_FR", None).unwrap().0,
            "verdure_fr"
        );
        assert!(validate_target(Network::X, SourceKind::Account, "verdure/../x", None).is_err());
        let location = "accounts/1/locations/2";
        assert_eq!(validate_target(Network::Google, SourceKind::Account, location, None).unwrap().0, location);
        assert!(validate_target(Network::Google, SourceKind::Account, "accounts/1/locations/2/../3", None).is_err());
        let unit = validate_target(
            Network::Trustpilot,
            SourceKind::Account,
            "https://www.trustpilot.com/review/Verdure.example",
            None,
        );
        assert_eq!(unit.unwrap().0, "verdure.example");
        assert!(validate_target(Network::Trustpilot, SourceKind::Account, "verdure.example/../x", None).is_err());
        assert!(validate_target(Network::Other, SourceKind::Ingest, "x", None).is_err());
    }

    #[test]
    fn handles_are_heard_by_searches_accounts_and_recent_pushes() {
        use crate::entities::{Handle, Handles};
        let at = Utc::now();
        let handle = |network, name: &str| Handle { network, handle: name.into() };
        let brand = brand::Model {
            id: new_id(),
            agency_id: new_id(),
            name: "Verdure".into(),
            sector: None,
            tracked_keywords: Default::default(),
            handles: Handles(vec![
                handle(Network::Bluesky, "verdure.bsky.social"),
                handle(Network::Mastodon, "verdure@mastodon.social"),
                handle(Network::X, "verdure"),
                handle(Network::Instagram, "verdure.fr"),
                handle(Network::Youtube, "@verdure"),
            ]),
            time_zone: "Europe/Paris".into(),
            language: "fr".into(),
            discovery_threshold: 60,
            crisis_z_threshold: 3.0,
            crisis_min_count: 5,
            value_gap_min_count: 3,
            hold_min_severity: "high".into(),
            escalation_emails: Default::default(),
            contact_cadence: Default::default(),
            digest_frequency: "off".into(),
            last_digest_at: None,
            mention_retention_months: 24,
            created_at: at,
            updated_at: at,
        };
        let row = |network: Network, kind: SourceKind, target: &str| {
            let mut row = new_row(&brand, network, kind, target.into(), None, 300, true);
            row.id = Set(new_id());
            sea_orm::TryIntoModel::try_into_model(row).unwrap()
        };
        let mut ingest = row(Network::Other, SourceKind::Ingest, "http-ingest");
        ingest.cursor = Some(serde_json::json!({ "networks": {
            "x": (at - ChronoDuration::days(1)).to_rfc3339(),
            "instagram": (at - ChronoDuration::days(8)).to_rfc3339(),
        } }));
        let mut disabled = row(Network::Mastodon, SourceKind::Search, "@verdure@mastodon.social");
        disabled.enabled = false;
        let mut sources =
            vec![row(Network::Bluesky, SourceKind::Search, "Verdure.bsky.social OR verdure"), disabled, ingest];
        let unwatched: Vec<String> = unwatched_handles(&brand, &sources, at).into_iter().map(|h| h.handle).collect();
        assert!(unwatched.contains(&"@verdure".to_owned()), "{unwatched:?}");
        sources.push(row(Network::Youtube, SourceKind::Account, "UCverdure000000000000001"));
        let unwatched: Vec<String> = unwatched_handles(&brand, &sources, at).into_iter().map(|h| h.handle).collect();
        assert_eq!(
            unwatched,
            ["verdure@mastodon.social", "verdure.fr"],
            "a disabled source and an old push hear nothing"
        );
    }

    #[test]
    fn backs_off_and_honours_retry_after() {
        let at = Utc::now();
        let status = CollectError::Status(500);
        assert_eq!(next_attempt(at, 60, 1, &status), at + ChronoDuration::seconds(120));
        assert_eq!(next_attempt(at, 60, 3, &status), at + ChronoDuration::seconds(480));
        assert_eq!(next_attempt(at, 3600, 10, &status), at + ChronoDuration::seconds(MAX_BACKOFF_SECS));
        let limited = CollectError::RateLimited { retry_after: Some(Duration::from_secs(900)) };
        assert_eq!(next_attempt(at, 60, 1, &limited), at + ChronoDuration::seconds(900));
        let hostile = CollectError::RateLimited { retry_after: Some(Duration::from_secs(99_999_999_999_999)) };
        assert_eq!(next_attempt(at, 60, 1, &hostile), at + ChronoDuration::seconds(MAX_RETRY_AFTER_SECS));
    }
}
