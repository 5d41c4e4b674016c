//! YouTube Data API v3 through an OAuth connection: whose channel the tokens open, the
//! quota units each method costs, and the error bodies Google sends.
//!
//! Google counts a quota of units per project and per day, the day ending at midnight
//! Pacific time, which every connection shares. Vigie counts it before each call
//! ([`spend`]): the project's budget (`VIGIE_YOUTUBE_DAILY_UNITS`, in `quota_budget`),
//! of which reads leave a tenth to replies, and each connection's share of it
//! (`VIGIE_YOUTUBE_CONNECTION_UNITS`), so that no tenant spends everyone's day. A
//! `quotaExceeded` answer spends the rest of the day for all; a short-term
//! `rateLimitExceeded` only waits a few minutes.

use chrono::{DateTime, TimeZone, Utc};
use serde::Deserialize;

use super::oauth::Identity;
use super::{Credential, PublishError, Published};
use crate::entities::quota_budget;
use crate::platform::outbound::Http;

/// `channels.list`, `commentThreads.list`, `comments.list`: one unit.
pub const LIST_COST: i32 = 1;
/// `search.list`: a hundred units a page.
pub const SEARCH_COST: i32 = 100;
/// `comments.insert`: fifty units.
pub const INSERT_COST: i32 = 50;

/// When the quota day that contains `at` ends: the next midnight in Los Angeles.
pub fn day_end(at: DateTime<Utc>) -> DateTime<Utc> {
    let pacific = chrono_tz::America::Los_Angeles;
    let date = at.with_timezone(&pacific).date_naive() + chrono::Days::new(1);
    let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    // Midnight exists on both daylight-saving changes in Los Angeles (they happen at 2 am).
    pacific
        .from_local_datetime(&midnight)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(at + chrono::Days::new(1))
}

/// An error body: `{"error": {"code": 403, "message": "…", "errors": [{"reason": "quotaExceeded"}]}}`.
#[derive(Debug, Default, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    error: ErrorDetail,
}

#[derive(Debug, Default, Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    errors: Vec<ErrorItem>,
}

#[derive(Debug, Default, Deserialize)]
struct ErrorItem {
    #[serde(default)]
    reason: String,
}

/// The first `reason` of an error body (`quotaExceeded`, `commentsDisabled`,
/// `forbidden`…), empty if the body says none.
pub fn error_reason(body: &[u8]) -> String {
    serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .and_then(|b| b.error.errors.into_iter().next())
        .map(|e| e.reason.chars().filter(|c| c.is_ascii_alphanumeric()).take(64).collect())
        .unwrap_or_default()
}

/// Whether an answer says the project's quota for the day is spent.
pub fn quota_exceeded(status: u16, body: &[u8]) -> bool {
    status == 403 && matches!(error_reason(body).as_str(), "quotaExceeded" | "dailyLimitExceeded")
}

/// How long a short-term rate limit (`rateLimitExceeded`, `userRateLimitExceeded`,
/// which Google answers with a 403) asks to wait, if the answer is one.
pub fn rate_limited(status: u16, body: &[u8]) -> Option<std::time::Duration> {
    let limited = status == 403 && matches!(error_reason(body).as_str(), "rateLimitExceeded" | "userRateLimitExceeded");
    limited.then_some(std::time::Duration::from_secs(300))
}

#[derive(Debug, Deserialize)]
struct Channels {
    #[serde(default)]
    items: Vec<Channel>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Channel {
    id: String,
    snippet: ChannelSnippet,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChannelSnippet {
    #[serde(default)]
    title: String,
    custom_url: Option<String>,
}

/// The channel the access token acts as (`channels.list?mine=true`): its id, and its
/// handle (`@name`) or else its title.
pub(crate) async fn whoami(http: &Http, api: &url::Url, access_token: &str) -> Result<Identity, String> {
    let base = api.as_str().trim_end_matches('/');
    let url = format!("{base}/channels?part=snippet&mine=true");
    let fetched = super::get_as(http, &url, access_token).await?;
    if fetched.status != 200 {
        return Err(format!("HTTP {} from YouTube {}", fetched.status, error_reason(&fetched.body)).trim().to_owned());
    }
    let channels: Channels = serde_json::from_slice(&fetched.body).map_err(|e| format!("malformed channels: {e}"))?;
    let channel =
        channels.items.into_iter().next().ok_or_else(|| "this Google account has no YouTube channel".to_owned())?;
    let name = channel.snippet.custom_url.filter(|u| !u.is_empty()).unwrap_or(channel.snippet.title);
    Ok(Identity { id: channel.id, name })
}

/// What a call is for: reads leave a tenth of the project's day to replies.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Use {
    Read,
    Write,
}

/// Spends `units` of today's quota for a call with `credential`: from the project's
/// budget, then from the connection's share (the project's units given back when the
/// share is spent).
pub(crate) async fn spend(
    credential: &Credential<'_>,
    units: i32,
    purpose: Use,
) -> Result<Spent, super::CredentialError> {
    let (daily, share) =
        credential.config().youtube.as_ref().map_or((10_000, 2_500), |a| (a.daily_units, a.connection_units));
    let reserve = reserve_of(daily, purpose);
    let db = &credential.services().db;
    let day = take_from_project(db, units, daily, reserve).await?;
    match credential.spend(units, share, reserve_of(share, purpose), day_end).await {
        Ok(quota) => Ok(Spent { quota, day }),
        Err(e) => {
            give_back(db, units, day).await;
            Err(e)
        }
    }
}

/// What reads leave of a budget to replies: a tenth.
fn reserve_of(budget: i32, purpose: Use) -> i32 {
    if purpose == Use::Read { budget / 10 } else { 0 }
}

/// Units spent: the connection's quota after the call, and the project's day they
/// were taken from.
pub(crate) struct Spent {
    pub quota: crate::platform::outbound::Quota,
    pub day: DateTime<Utc>,
}

const PROJECT: &str = "youtube";

fn db_failed(e: sea_orm::DbErr) -> super::CredentialError {
    tracing::warn!(error = %e, "counting YouTube's quota");
    super::CredentialError::Failed("counting quota units: a database error (logged)".into())
}

/// Takes `units` from the project's budget for today, keeping `reserve` back; each step
/// a conditional update, so concurrent calls never spend the same units. Gives the end
/// of the day they were taken from.
async fn take_from_project(
    db: &sea_orm::DatabaseConnection,
    units: i32,
    daily: i32,
    reserve: i32,
) -> Result<DateTime<Utc>, super::CredentialError> {
    use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let at = Utc::now();
    let take = || {
        quota_budget::Entity::update_many()
            .col_expr(quota_budget::Column::Remaining, Expr::col(quota_budget::Column::Remaining).sub(units))
            .filter(quota_budget::Column::Network.eq(PROJECT))
            .filter(quota_budget::Column::ResetsAt.gt(at))
            .filter(quota_budget::Column::Remaining.gte(units + reserve))
    };
    let day = || async {
        let row = quota_budget::Entity::find_by_id(PROJECT.to_owned()).one(db).await.map_err(db_failed)?;
        Ok::<_, super::CredentialError>(row.map_or_else(|| day_end(at), |row| row.resets_at))
    };
    if take().exec(db).await.map_err(db_failed)?.rows_affected == 1 {
        return day().await;
    }
    if units + reserve <= daily {
        // A new day (or the first call ever): this call opens it.
        let opened = quota_budget::Entity::update_many()
            .col_expr(quota_budget::Column::Remaining, Expr::value(daily - units))
            .col_expr(quota_budget::Column::ResetsAt, Expr::value(day_end(at)))
            .filter(quota_budget::Column::Network.eq(PROJECT))
            .filter(quota_budget::Column::ResetsAt.lte(at))
            .exec(db)
            .await
            .map_err(db_failed)?
            .rows_affected
            == 1;
        if opened {
            return Ok(day_end(at));
        }
        let first = quota_budget::ActiveModel {
            network: sea_orm::Set(PROJECT.into()),
            remaining: sea_orm::Set(daily - units),
            resets_at: sea_orm::Set(day_end(at)),
        };
        let inserted = quota_budget::Entity::insert(first)
            .on_conflict(OnConflict::column(quota_budget::Column::Network).do_nothing().to_owned())
            .exec_without_returning(db)
            .await
            .map_err(db_failed)?;
        // Another call opened the day first: take from it.
        if inserted == 1 {
            return Ok(day_end(at));
        }
        if take().exec(db).await.map_err(db_failed)?.rows_affected == 1 {
            return day().await;
        }
    }
    let resets = quota_budget::Entity::find_by_id(PROJECT.to_owned()).one(db).await.map_err(db_failed)?;
    let wait =
        resets.and_then(|row| (row.resets_at - at).to_std().ok()).unwrap_or(std::time::Duration::from_secs(3600));
    Err(super::CredentialError::RateLimited { retry_after: Some(wait) })
}

/// Gives `units` back to the project's day that ends at `day` (a call that did not go
/// out): a day that has ended meanwhile is not given them.
async fn give_back(db: &sea_orm::DatabaseConnection, units: i32, day: DateTime<Utc>) {
    use sea_orm::sea_query::{Expr, ExprTrait};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let result = quota_budget::Entity::update_many()
        .col_expr(quota_budget::Column::Remaining, Expr::col(quota_budget::Column::Remaining).add(units))
        .filter(quota_budget::Column::Network.eq(PROJECT))
        .filter(quota_budget::Column::ResetsAt.eq(day))
        .exec(db)
        .await;
    if let Err(e) = result {
        tracing::warn!(error = %e, "cannot give quota units back");
    }
}

/// Google said the project's quota is spent: the rest of the day the call's units were
/// taken from is, for every connection (and this one's share too).
pub(crate) async fn exhaust(credential: &Credential<'_>, spent: &Spent) {
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    credential.exhaust(spent.quota.resets_at).await;
    let day = spent.day;
    if day <= Utc::now() {
        return;
    }
    let result = quota_budget::Entity::update_many()
        .col_expr(quota_budget::Column::Remaining, Expr::value(0))
        .filter(quota_budget::Column::Network.eq(PROJECT))
        .filter(quota_budget::Column::ResetsAt.eq(day))
        .exec(&credential.services().db)
        .await;
    if let Err(e) = result {
        tracing::warn!(error = %e, "cannot record YouTube's spent quota");
    }
}

/// YouTube's longest comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 10_000;

/// The top-level comment a reply goes under: YouTube threads have one level, and a
/// reply's id is `TOP.REPLY`.
pub fn thread_of(comment_id: &str) -> &str {
    comment_id.split('.').next().unwrap_or(comment_id)
}

/// The video of a comment's link (`…/watch?v=VIDEO&lc=COMMENT`).
pub fn video_of(url: Option<&str>) -> Option<String> {
    query_param(url, "v")
}

/// The comment a link points to (`lc=`), if it points to one.
pub fn comment_of(url: Option<&str>) -> Option<String> {
    query_param(url, "lc")
}

fn query_param(url: Option<&str>, name: &str) -> Option<String> {
    let url = url::Url::parse(url?).ok()?;
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned()).filter(|v| !v.is_empty())
}

fn comment_url(video: Option<&str>, id: &str) -> String {
    match video {
        Some(video) => format!("https://www.youtube.com/watch?v={video}&lc={id}"),
        None => format!("https://www.youtube.com/comment?lc={id}"),
    }
}

/// Reads an answer to a write or a lookup: its body on 2xx, else a refusal or a
/// passing failure (`quotaExceeded` spends the day and waits for the next).
async fn answer(
    credential: &Credential<'_>,
    fetched: crate::platform::outbound::Fetched,
    spent: &Spent,
    what: &str,
) -> Result<Vec<u8>, PublishError> {
    if quota_exceeded(fetched.status, &fetched.body) {
        exhaust(credential, spent).await;
        let wait = (day_end(Utc::now()) - Utc::now()).to_std().ok();
        return Err(PublishError::Transient { reason: "YouTube's quota is spent for today".into(), retry_after: wait });
    }
    if let Some(wait) = rate_limited(fetched.status, &fetched.body) {
        return Err(PublishError::Transient {
            reason: format!("YouTube rate-limited {what}"),
            retry_after: Some(wait),
        });
    }
    match fetched.status {
        200..=299 => Ok(fetched.body),
        429 => Err(PublishError::Transient {
            reason: format!("YouTube rate-limited {what}"),
            retry_after: crate::platform::outbound::retry_after(&fetched.headers),
        }),
        500..=599 => Err(PublishError::transient(format!("HTTP {} from YouTube on {what}", fetched.status))),
        status => {
            let reason = error_reason(&fetched.body);
            let reason = if reason.is_empty() { String::new() } else { format!(" {reason}") };
            Err(PublishError::Refused(format!("HTTP {status}{reason} on {what}")))
        }
    }
}

#[derive(Deserialize)]
struct CommentResource {
    id: String,
    #[serde(default)]
    snippet: CommentSnippet,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CommentSnippet {
    author_channel_id: Option<ChannelId>,
    #[serde(default)]
    text_original: String,
    #[serde(default)]
    text_display: String,
    published_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct ChannelId {
    #[serde(default)]
    value: String,
}

/// Publishes `text` as the connection's reply under comment `parent`
/// (`comments.insert`, fifty units).
pub async fn reply(
    credential: &Credential<'_>,
    parent: &str,
    video: Option<&str>,
    text: &str,
) -> Result<Published, PublishError> {
    let spent = spend(credential, INSERT_COST, Use::Write).await?;
    let endpoint = credential.endpoint().await;
    let url = format!("{}/comments?part=snippet", endpoint.trim_end_matches('/'));
    let body = serde_json::json!({ "snippet": { "parentId": thread_of(parent), "textOriginal": text } });
    let fetched = credential.request(&url, Some(&body)).await?;
    let body = answer(credential, fetched, &spent, "comments.insert").await?;
    let created: CommentResource = serde_json::from_slice(&body)
        .map_err(|_| PublishError::transient("a malformed comments.insert answer from YouTube"))?;
    Ok(Published { url: comment_url(video, &created.id), id: created.id })
}

/// The connection's reply under comment `parent` with `text`, published since `since`
/// and not among the ids `taken` by other replies, if there is one (`comments.list`, a
/// unit a page): YouTube takes no key from the caller, so this is how a retry knows
/// that an earlier attempt went through.
pub async fn find_reply(
    credential: &Credential<'_>,
    parent: &str,
    video: Option<&str>,
    text: &str,
    since: DateTime<Utc>,
    taken: &[String],
) -> Result<Option<Published>, PublishError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Comments {
        #[serde(default)]
        items: Vec<CommentResource>,
        next_page_token: Option<String>,
    }
    let (channel, _) = credential.account().await;
    let Some(channel) = channel else { return Ok(None) };
    let endpoint = credential.endpoint().await;
    let same = |a: &str| a.replace("\r\n", "\n").trim() == text.replace("\r\n", "\n").trim();
    let mut page: Option<String> = None;
    // Replies come oldest first: a few pages reach the newest of a long thread.
    for _ in 0..5 {
        let spent = spend(credential, LIST_COST, Use::Write).await?;
        let mut url = url::Url::parse(&format!("{}/comments", endpoint.trim_end_matches('/')))
            .map_err(|e| PublishError::Refused(format!("bad endpoint: {e}")))?;
        url.query_pairs_mut()
            .append_pair("part", "snippet")
            .append_pair("parentId", thread_of(parent))
            .append_pair("maxResults", "100")
            .append_pair("textFormat", "plainText");
        if let Some(token) = &page {
            url.query_pairs_mut().append_pair("pageToken", token);
        }
        let fetched = credential.request(url.as_str(), None).await?;
        let body = answer(credential, fetched, &spent, "comments.list").await?;
        let comments: Comments = serde_json::from_slice(&body)
            .map_err(|_| PublishError::transient("a malformed comments.list answer from YouTube"))?;
        let found = comments.items.into_iter().find(|c| {
            !taken.contains(&c.id)
                && c.snippet.author_channel_id.as_ref().is_some_and(|a| a.value == channel)
                && c.snippet.published_at.is_none_or(|at| at >= since - chrono::Duration::minutes(1))
                && (same(&c.snippet.text_original) || same(&c.snippet.text_display))
        });
        if let Some(found) = found {
            return Ok(Some(Published { url: comment_url(video, &found.id), id: found.id }));
        }
        match comments.next_page_token {
            Some(token) => page = Some(token),
            None => break,
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_days_end_at_midnight_in_los_angeles() {
        // Winter: UTC−8.
        let at = Utc.with_ymd_and_hms(2026, 12, 6, 7, 59, 0).unwrap();
        assert_eq!(day_end(at), Utc.with_ymd_and_hms(2026, 12, 6, 8, 0, 0).unwrap());
        let at = Utc.with_ymd_and_hms(2026, 12, 6, 8, 0, 0).unwrap();
        assert_eq!(day_end(at), Utc.with_ymd_and_hms(2026, 12, 7, 8, 0, 0).unwrap());
        // Summer: UTC−7.
        let at = Utc.with_ymd_and_hms(2026, 7, 1, 12, 0, 0).unwrap();
        assert_eq!(day_end(at), Utc.with_ymd_and_hms(2026, 7, 2, 7, 0, 0).unwrap());
    }

    #[test]
    fn reads_error_reasons() {
        let body =
            br#"{"error":{"code":403,"message":"x","errors":[{"domain":"youtube.quota","reason":"quotaExceeded"}]}}"#;
        assert!(quota_exceeded(403, body));
        assert!(!quota_exceeded(403, br#"{"error":{"errors":[{"reason":"commentsDisabled"}]}}"#));
        assert_eq!(error_reason(b"<html>"), "");
    }
}
