//! Meta's Graph API: Facebook Pages and Instagram professional accounts, connected
//! with Facebook Login (one Meta app, `VIGIE_META_CLIENT_ID`).
//!
//! The manager's consent gives a user token, exchanged at once for a long-lived one,
//! which lists the Pages the manager granted (`/me/accounts`) with their Page tokens:
//! a Page token obtained this way does not expire, so a connection is a Page (or the
//! Instagram account linked to it) holding its Page token, and nothing needs renewing.
//! When the manager granted several, completing the connection names the one to keep.
//!
//! Every call carries `appsecret_proof` (HMAC-SHA256 of the token under the app
//! secret), so a token that leaks is useless without the secret, and the app can turn
//! "Require App Secret" on. Graph answers errors as `{"error": {"code", …}}`, mostly
//! with HTTP 400: code 190 is a token that is no longer good, codes 4, 17, 32, 613 and
//! 80001–80014 rate limits, whose wait the `X-Business-Use-Case-Usage` header tells.

use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2::Sha256;
use std::time::Duration;

use super::oauth::Choice;
use super::{Credential, PublishError, Published};
use crate::Network;
use crate::platform::config::OAuthApp;
use crate::platform::outbound::{Fetched, Http};

/// The longest Facebook comment.
pub const MAX_FACEBOOK_CHARS: usize = 8_000;
/// The longest Instagram comment.
pub const MAX_INSTAGRAM_CHARS: usize = 2_200;
/// How long a rate-limited call waits when Graph does not say.
const DEFAULT_WAIT: Duration = Duration::from_secs(600);
/// Pages of `/me/accounts` read at most.
const MAX_ACCOUNT_PAGES: usize = 5;

/// A Graph object id: digits, and `_` joining a parent's id (`{page}_{post}`).
pub fn is_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit() || b == b'_')
}

/// Graph's error body.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct GraphError {
    #[serde(default)]
    pub code: i64,
    #[serde(default)]
    pub error_subcode: i64,
    #[serde(default)]
    pub message: String,
    /// Graph's word that trying again may work.
    #[serde(default)]
    pub is_transient: bool,
}

/// The error an answer carries, if it says one.
pub(crate) fn error_of(body: &[u8]) -> Option<GraphError> {
    #[derive(Deserialize)]
    struct Body {
        error: GraphError,
    }
    serde_json::from_slice::<Body>(body).ok().map(|b| b.error)
}

impl GraphError {
    /// The access token is no longer good: expired, revoked, the password changed, the
    /// app removed, or the manager lost the Page.
    pub fn token_rejected(&self) -> bool {
        self.code == 190 || self.code == 102
    }

    /// A rate limit of the app, the user, the Page or the business use case.
    pub fn rate_limited(&self) -> bool {
        matches!(self.code, 4 | 17 | 32 | 613) || (80_001..=80_014).contains(&self.code)
    }

    /// What it says, for a person: code and message, bounded.
    pub fn describe(&self) -> String {
        let message: String = self.message.chars().filter(|c| !c.is_control()).take(160).collect();
        match self.error_subcode {
            0 => format!("Graph error {}: {message}", self.code),
            sub => format!("Graph error {}/{sub}: {message}", self.code),
        }
    }
}

/// Whether an answer says the access token is no longer good.
pub(crate) fn token_rejected(status: u16, body: &[u8]) -> bool {
    status == 401 || (status >= 400 && error_of(body).is_some_and(|e| e.token_rejected()))
}

/// How long a rate-limited caller waits: the longest `estimated_time_to_regain_access`
/// (minutes) of `X-Business-Use-Case-Usage`, else `Retry-After`, else ten minutes.
pub(crate) fn wait_of(headers: &reqwest::header::HeaderMap) -> Duration {
    let minutes = headers
        .get("x-business-use-case-usage")
        .and_then(|v| v.to_str().ok())
        .and_then(|raw| serde_json::from_str::<serde_json::Value>(raw).ok())
        .and_then(|usage| {
            usage
                .as_object()?
                .values()
                .filter_map(|uses| uses.as_array())
                .flatten()
                .filter_map(|u| u.get("estimated_time_to_regain_access")?.as_u64())
                .max()
        })
        .filter(|m| *m > 0);
    match minutes {
        Some(m) => Duration::from_secs(m.min(24 * 60) * 60),
        None => crate::platform::outbound::retry_after(headers).unwrap_or(DEFAULT_WAIT),
    }
}

/// `appsecret_proof` for `token`: its HMAC-SHA256 under the app secret, in hex.
pub(crate) fn proof(app_secret: &str, token: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).expect("HMAC takes any key");
    mac.update(token.as_bytes());
    mac.finalize().into_bytes().iter().map(|byte| format!("{byte:02x}")).collect()
}

/// `url` (a Meta connection's: its endpoint, or a next page checked to be on it) with
/// the token's `appsecret_proof`.
pub(crate) fn with_proof(config: &crate::Config, url: &str, token: &str) -> String {
    let Some(app) = &config.meta else { return url.to_owned() };
    let Ok(mut parsed) = url::Url::parse(url) else { return url.to_owned() };
    if parsed.query_pairs().any(|(k, _)| k == "appsecret_proof") {
        return url.to_owned();
    }
    parsed.query_pairs_mut().append_pair("appsecret_proof", &proof(&app.client_secret, token));
    parsed.into()
}

/// The next page Graph links to, if it is on `endpoint`'s origin (the token goes
/// nowhere else), without the credentials Graph repeats in it: the token goes in the
/// `Authorization` header, and a URL ends up in errors.
pub(crate) fn next_page(paging: Option<Paging>, endpoint: &str) -> Option<String> {
    let mut next = url::Url::parse(&paging?.next?).ok()?;
    let home = url::Url::parse(endpoint).ok()?;
    if next.origin() != home.origin() {
        return None;
    }
    let kept: Vec<(String, String)> = next
        .query_pairs()
        .filter(|(k, _)| k != "access_token" && k != "appsecret_proof")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    next.query_pairs_mut().clear().extend_pairs(kept);
    Some(next.into())
}

/// GETs a Graph URL with a token outside any connection (during a consent), with its
/// proof, and reads its JSON.
async fn graph_get<T: serde::de::DeserializeOwned>(
    http: &Http,
    app: &OAuthApp,
    url: &str,
    token: &str,
    what: &str,
) -> Result<T, String> {
    let mut url = url::Url::parse(url).map_err(|e| format!("bad Graph URL: {e}"))?;
    url.query_pairs_mut().append_pair("appsecret_proof", &proof(&app.client_secret, token));
    let fetched = super::get_as(http, url.as_str(), token).await?;
    if fetched.status != 200 {
        let why = error_of(&fetched.body).map(|e| e.describe()).unwrap_or_default();
        return Err(format!("HTTP {} from Meta on {what} {why}", fetched.status).trim().to_owned());
    }
    serde_json::from_slice(&fetched.body).map_err(|e| format!("malformed {what}: {e}"))
}

/// Exchanges a user token from Facebook Login for a long-lived one, whose Page tokens
/// do not expire.
pub(crate) async fn long_lived(http: &Http, app: &OAuthApp, short: &str) -> Result<String, String> {
    #[derive(Deserialize)]
    struct Token {
        access_token: String,
    }
    let mut url = app.token_url.clone();
    url.query_pairs_mut()
        .append_pair("grant_type", "fb_exchange_token")
        .append_pair("client_id", &app.client_id)
        .append_pair("client_secret", &app.client_secret)
        .append_pair("fb_exchange_token", short);
    // The URL carries the app secret: sent as it is, never logged.
    let fetched = http.get_direct(url.as_str(), reqwest::header::HeaderMap::new()).await.map_err(|e| e.to_string())?;
    if fetched.status != 200 {
        let why = error_of(&fetched.body).map(|e| e.describe()).unwrap_or_default();
        return Err(format!("HTTP {} from Meta on the long-lived token {why}", fetched.status).trim().to_owned());
    }
    let token: Token = serde_json::from_slice(&fetched.body).map_err(|e| format!("malformed token: {e}"))?;
    Ok(token.access_token)
}

/// The Pages the user granted (Facebook), or the Instagram professional accounts linked
/// to them (Instagram), with their Page tokens.
pub(crate) async fn choices(
    http: &Http,
    app: &OAuthApp,
    network: Network,
    user_token: &str,
) -> Result<Vec<Choice>, String> {
    #[derive(Deserialize)]
    struct Accounts {
        #[serde(default)]
        data: Vec<Page>,
        #[serde(default)]
        paging: Option<Paging>,
    }
    #[derive(Deserialize)]
    struct Page {
        id: String,
        #[serde(default)]
        name: String,
        access_token: Option<String>,
        instagram_business_account: Option<Instagram>,
    }
    #[derive(Deserialize)]
    struct Instagram {
        id: String,
        #[serde(default)]
        username: String,
    }
    let api = app.api_url.as_str().trim_end_matches('/');
    let mut url =
        format!("{api}/me/accounts?fields=id,name,access_token,instagram_business_account%7Bid,username%7D&limit=100");
    let mut found = Vec::new();
    for _ in 0..MAX_ACCOUNT_PAGES {
        let page: Accounts = graph_get(http, app, &url, user_token, "the granted Pages").await?;
        for p in page.data {
            let Some(token) = p.access_token.filter(|t| !t.is_empty()) else { continue };
            if !is_id(&p.id) {
                continue;
            }
            match (network, p.instagram_business_account) {
                // An Instagram account answers its Page's token.
                (Network::Instagram, Some(ig)) if is_id(&ig.id) => {
                    found.push(Choice { id: ig.id, name: ig.username, token: Some(token), page_id: Some(p.id) })
                }
                (Network::Instagram, _) => {}
                _ => found.push(Choice { id: p.id.clone(), name: p.name, token: Some(token), page_id: Some(p.id) }),
            }
        }
        match next_page(page.paging, api) {
            Some(next) if next != url => url = next,
            _ => break,
        }
    }
    Ok(found)
}

/// Graph's paging: `{"cursors": {"before", "after"}, "next", "previous"}`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Paging {
    pub next: Option<String>,
}

/// Subscribes the app to a Page's webhooks (`feed`: its posts and comments, which also
/// carries the linked Instagram account's events), so that they arrive at once. Best
/// effort: polling still reads them if it fails.
pub(crate) async fn subscribe(http: &Http, app: &OAuthApp, page_id: &str, page_token: &str) {
    let api = app.api_url.as_str().trim_end_matches('/');
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("subscribed_fields", "feed")
        .append_pair("appsecret_proof", &proof(&app.client_secret, page_token))
        .finish();
    let mut headers = reqwest::header::HeaderMap::new();
    let Ok(bearer) = super::bluesky::bearer(page_token) else { return };
    headers.insert(reqwest::header::AUTHORIZATION, bearer);
    headers.insert(
        reqwest::header::CONTENT_TYPE,
        reqwest::header::HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    let url = format!("{api}/{page_id}/subscribed_apps");
    match http.post(&url, headers, form.into_bytes(), Duration::from_secs(20), 64 * 1024).await {
        Ok(answer) if answer.status == 200 => tracing::info!("Meta webhooks subscribed for a Page"),
        Ok(answer) => tracing::warn!(status = answer.status, "Meta refused the webhook subscription of a Page"),
        Err(e) => tracing::warn!(error = %e, "Meta webhook subscription failed"),
    }
}

/// Reads a publishing answer: its body on 2xx, else a refusal or a passing failure.
fn answer(fetched: Fetched, what: &str) -> Result<Vec<u8>, PublishError> {
    if (200..300).contains(&fetched.status) {
        return Ok(fetched.body);
    }
    let error = error_of(&fetched.body).unwrap_or_default();
    if fetched.status == 429 || error.rate_limited() {
        return Err(PublishError::Transient {
            reason: format!("Meta rate-limited {what}"),
            retry_after: Some(wait_of(&fetched.headers)),
        });
    }
    // Codes 1 and 2 are Graph's passing failures ("please retry"); an error that is
    // not Graph's (code 0: a proxy's page) is not a refusal either.
    if fetched.status >= 500 || matches!(error.code, 0..=2) || error.is_transient {
        return Err(PublishError::transient(format!("HTTP {} from Meta on {what}", fetched.status)));
    }
    Err(PublishError::Refused(format!("HTTP {} from Meta on {what}: {}", fetched.status, error.describe())))
}

/// GETs a Graph object with the connection's token and reads it.
async fn read<T: serde::de::DeserializeOwned>(
    credential: &Credential<'_>,
    path_and_query: &str,
    what: &str,
) -> Result<T, PublishError> {
    let endpoint = credential.endpoint().await;
    let url = format!("{}/{path_and_query}", endpoint.trim_end_matches('/'));
    let body = answer(credential.request(&url, None).await?, what)?;
    serde_json::from_slice(&body).map_err(|_| PublishError::transient(format!("a malformed {what} from Meta")))
}

/// The comment a reply goes under: a comment's own thread on Facebook and Instagram is
/// one level deep, so a reply to a reply goes under its parent. A post (a visitor's on
/// the Page) takes the reply itself.
async fn thread_of(
    credential: &Credential<'_>,
    network: Network,
    comment: &str,
    is_comment: bool,
) -> Result<String, PublishError> {
    #[derive(Deserialize)]
    struct Comment {
        parent: Option<Parent>,
        parent_id: Option<String>,
    }
    #[derive(Deserialize)]
    struct Parent {
        id: String,
    }
    if !is_id(comment) {
        return Err(PublishError::Refused(format!("not a {} comment id", network.name())));
    }
    if !is_comment {
        return Ok(comment.to_owned());
    }
    let fields = if network == Network::Instagram { "parent_id" } else { "parent%7Bid%7D" };
    let found: Comment = read(credential, &format!("{comment}?fields={fields}"), "comment").await?;
    let parent = found.parent.map(|p| p.id).or(found.parent_id).filter(|id| is_id(id));
    Ok(parent.unwrap_or_else(|| comment.to_owned()))
}

/// The link of a published Facebook comment.
fn facebook_link(id: &str) -> String {
    format!("https://www.facebook.com/{id}")
}

/// Publishes `text` as the Page's (or Instagram account's) reply to `comment` (or to a
/// post, if not `is_comment`): `POST /{comment}/comments` on Facebook, `POST
/// /{comment}/replies` on Instagram.
pub async fn reply(
    credential: &Credential<'_>,
    network: Network,
    (comment, is_comment): (&str, bool),
    text: &str,
    link: Option<&str>,
) -> Result<Published, PublishError> {
    #[derive(Deserialize)]
    struct Created {
        id: String,
    }
    let thread = thread_of(credential, network, comment, is_comment).await?;
    let endpoint = credential.endpoint().await;
    let edge = if network == Network::Instagram { "replies" } else { "comments" };
    let url = format!("{}/{thread}/{edge}", endpoint.trim_end_matches('/'));
    let body = answer(credential.post_form(&url, &[("message", text)]).await?, "the reply")?;
    let created: Created =
        serde_json::from_slice(&body).map_err(|_| PublishError::transient("a malformed answer from Meta"))?;
    if !is_id(&created.id) {
        return Err(PublishError::transient("Meta answered with no comment id"));
    }
    Ok(published(network, created.id, link))
}

fn published(network: Network, id: String, link: Option<&str>) -> Published {
    let url = match network {
        // Instagram gives replies no link of their own: the post's.
        Network::Instagram => link.unwrap_or_default().to_owned(),
        _ => facebook_link(&id),
    };
    Published { id, url }
}

/// The account's reply under `comment`'s thread with `text`, made since `since` and not
/// among `taken`: what an earlier attempt published, Graph taking no idempotency key.
pub async fn find_reply(
    credential: &Credential<'_>,
    network: Network,
    (comment, is_comment): (&str, bool),
    text: &str,
    since: chrono::DateTime<chrono::Utc>,
    taken: &[String],
    link: Option<&str>,
) -> Result<Option<Published>, PublishError> {
    #[derive(Deserialize)]
    struct Replies {
        #[serde(default)]
        data: Vec<Reply>,
    }
    #[derive(Deserialize)]
    struct Reply {
        id: String,
        #[serde(default)]
        message: String,
        #[serde(default)]
        text: String,
        from: Option<From>,
        created_time: Option<String>,
        timestamp: Option<String>,
    }
    #[derive(Deserialize)]
    struct From {
        id: String,
    }
    let thread = thread_of(credential, network, comment, is_comment).await?;
    let (own, _) = credential.account().await;
    let own = own.unwrap_or_default();
    let path = match network {
        Network::Instagram => format!("{thread}/replies?fields=id,text,timestamp,from&limit=50"),
        _ => format!(
            "{thread}/comments?fields=id,message,created_time,from&filter=stream&order=reverse_chronological&limit=50"
        ),
    };
    let replies: Replies = read(credential, &path, "replies").await?;
    let margin = since - chrono::Duration::minutes(5);
    let found = replies.data.into_iter().find(|r| {
        let when = r.created_time.as_deref().or(r.timestamp.as_deref()).and_then(parse_time);
        let said = if r.message.is_empty() { &r.text } else { &r.message };
        r.from.as_ref().is_some_and(|f| f.id == own)
            && said.trim() == text.trim()
            && when.is_none_or(|at| at >= margin)
            && !taken.contains(&r.id)
            && is_id(&r.id)
    });
    Ok(found.map(|r| published(network, r.id, link)))
}

/// Graph's times: ISO 8601 with a `+0000` offset.
pub(crate) fn parse_time(raw: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S%z")
        .or_else(|_| chrono::DateTime::parse_from_rfc3339(raw))
        .ok()
        .map(|at| at.with_timezone(&chrono::Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    #[test]
    fn reads_graph_errors_and_waits() {
        let body = br#"{"error":{"message":"Error validating access token","type":"OAuthException","code":190,"error_subcode":463}}"#;
        assert!(token_rejected(400, body));
        assert!(!token_rejected(400, br#"{"error":{"code":100,"message":"bad field"}}"#));
        let limited = error_of(br#"{"error":{"code":80001,"message":"too many calls"}}"#).unwrap();
        assert!(limited.rate_limited());
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-business-use-case-usage",
            HeaderValue::from_static(
                r#"{"1234":[{"type":"pages","call_count":100,"total_cputime":5,"total_time":5,"estimated_time_to_regain_access":7}]}"#,
            ),
        );
        assert_eq!(wait_of(&headers), Duration::from_secs(420));
        assert_eq!(wait_of(&HeaderMap::new()), DEFAULT_WAIT);
    }

    #[test]
    fn ids_and_times() {
        assert!(is_id("1234_5678"));
        assert!(!is_id("12/../34"));
        assert!(!is_id(""));
        let at = parse_time("2026-12-01T10:00:00+0000").unwrap();
        assert_eq!(at.to_rfc3339(), "2026-12-01T10:00:00+00:00");
        assert_eq!(proof("secret", "token").len(), 64);
    }
}
