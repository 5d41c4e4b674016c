//! YouTube Data API v3 through an OAuth connection: whose channel the tokens open, the
//! quota units each method costs, and the error bodies Google sends.
//!
//! Google counts a quota of units per project and per day, the day ending at midnight
//! Pacific time; Vigie counts what each connection spends ([`Credential::spend`]) and
//! stops its calls when the configured budget (`VIGIE_YOUTUBE_DAILY_UNITS`) is spent,
//! or when Google answers `quotaExceeded`.

use chrono::{DateTime, TimeZone, Utc};
use reqwest::header::{AUTHORIZATION, HeaderMap};
use serde::Deserialize;

use super::Credential;
use super::oauth::Identity;
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

/// Whether an answer says the day's quota is spent.
pub fn quota_exceeded(status: u16, body: &[u8]) -> bool {
    status == 403 && matches!(error_reason(body).as_str(), "quotaExceeded" | "dailyLimitExceeded" | "rateLimitExceeded")
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
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, super::bluesky::bearer(access_token)?);
    let fetched = http.get(&url, headers).await.map_err(|e| e.to_string())?;
    if fetched.status != 200 {
        return Err(format!("HTTP {} from YouTube {}", fetched.status, error_reason(&fetched.body)).trim().to_owned());
    }
    let channels: Channels = serde_json::from_slice(&fetched.body).map_err(|e| format!("malformed channels: {e}"))?;
    let channel =
        channels.items.into_iter().next().ok_or_else(|| "this Google account has no YouTube channel".to_owned())?;
    let name = channel.snippet.custom_url.filter(|u| !u.is_empty()).unwrap_or(channel.snippet.title);
    Ok(Identity { id: channel.id, name })
}

/// Spends `units` of the connection's YouTube quota for today.
pub(crate) async fn spend(
    credential: &Credential<'_>,
    daily: i32,
    units: i32,
) -> Result<crate::platform::outbound::Quota, super::CredentialError> {
    credential.spend(units, daily, day_end).await
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
