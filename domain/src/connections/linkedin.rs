//! LinkedIn organisation pages through the versioned REST API (Community Management
//! API): a member who administers pages consents (3-legged OAuth 2, the client's secret
//! in the form), and the connection is one organisation they administer
//! (`/rest/organizationAcls`), named after it. Every call names the API version
//! (`LinkedIn-Version`, `VIGIE_LINKEDIN_VERSION`) and Rest.li 2.0.
//!
//! Comments are answered as the organisation (`POST /rest/socialActions/{urn}/comments`);
//! LinkedIn threads are two levels deep, so an answer to a reply goes under its parent.
//! LinkedIn takes no idempotency key: a retry looks among the thread's comments first.

use reqwest::header::{HeaderMap, HeaderValue};
use serde::Deserialize;

use super::oauth::{Choice, Identity};
use super::{Credential, PublishError, Published};
use crate::platform::config::OAuthApp;
use crate::platform::outbound::{Fetched, Http};

/// The longest comment, in characters, as LinkedIn's pages take them.
pub const MAX_COMMENT_CHARS: usize = 1_250;
/// Organisations named at most per consent.
const MAX_ORGANISATIONS: usize = 50;

/// A URN (or any key) as Rest.li 2.0 wants it in a path or a query value: everything
/// but unreserved characters escaped, `:`, `(`, `)` and `,` included.
pub fn encode(urn: &str) -> String {
    urn.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// An organisation's URN from its numeric id.
pub fn organisation(id: &str) -> String {
    format!("urn:li:organization:{id}")
}

/// Whether `id` is a numeric id (an organisation's, a comment's).
pub fn is_numeric(id: &str) -> bool {
    (1..=24).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit())
}

/// Whether `urn` is a comment's URN: `urn:li:comment:(urn:li:{activity|ugcPost|share}:{n},{n})`.
pub fn is_comment_urn(urn: &str) -> bool {
    parts_of(urn).is_some()
}

/// A comment URN's thread (the activity or post it is on) and own id.
fn parts_of(urn: &str) -> Option<(&str, &str)> {
    let inner = urn.strip_prefix("urn:li:comment:(")?.strip_suffix(')')?;
    let (thread, id) = inner.rsplit_once(',')?;
    let kind_and_id = thread.strip_prefix("urn:li:")?;
    let (kind, number) = kind_and_id.split_once(':')?;
    let known = matches!(kind, "activity" | "ugcPost" | "share");
    (known && is_numeric(number) && is_numeric(id)).then_some((thread, id))
}

/// The headers every versioned call carries.
pub(crate) fn versioned(headers: &mut HeaderMap, version: &str) {
    if let Ok(version) = HeaderValue::from_str(version) {
        headers.insert("linkedin-version", version);
    }
    headers.insert("x-restli-protocol-version", HeaderValue::from_static("2.0.0"));
}

/// GETs a versioned URL with a token outside any connection (during a consent).
async fn get_versioned(http: &Http, url: &str, token: &str, version: &str) -> Result<Fetched, String> {
    let mut headers = HeaderMap::new();
    headers.insert(reqwest::header::AUTHORIZATION, super::bluesky::bearer(token)?);
    versioned(&mut headers, version);
    http.get(url, headers).await.map_err(|e| e.to_string())
}

/// The status LinkedIn answers `url` with, `token` checked on its own.
pub(crate) async fn check(http: &Http, url: &str, token: &str, version: &str) -> Option<u16> {
    get_versioned(http, url, token, version).await.ok().map(|answer| answer.status)
}

/// LinkedIn's error body: `{"status", "serviceErrorCode", "code", "message"}`.
fn error_of(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Body {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    serde_json::from_slice::<Body>(body)
        .map(|b| format!("{} {}", b.code, b.message))
        .map(|why| why.trim().chars().filter(|c| !c.is_control()).take(160).collect())
        .unwrap_or_default()
}

/// The organisations the consenting member administers, with their names.
pub(crate) async fn organisations(
    http: &Http,
    app: &OAuthApp,
    version: &str,
    token: &str,
) -> Result<(Vec<Choice>, Identity), String> {
    #[derive(Deserialize)]
    struct Acls {
        #[serde(default)]
        elements: Vec<Acl>,
    }
    #[derive(Deserialize)]
    struct Acl {
        #[serde(default)]
        organization: String,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Organisation {
        #[serde(default)]
        localized_name: String,
    }
    let api = app.api_url.as_str().trim_end_matches('/');
    let url = format!("{api}/organizationAcls?q=roleAssignee&role=ADMINISTRATOR&state=APPROVED&count=100");
    let fetched = get_versioned(http, &url, token, version).await?;
    if fetched.status != 200 {
        return Err(format!("HTTP {} from LinkedIn on the member's pages {}", fetched.status, error_of(&fetched.body)));
    }
    let acls: Acls = serde_json::from_slice(&fetched.body).map_err(|e| format!("malformed page roles: {e}"))?;
    let mut choices: Vec<Choice> = Vec::new();
    for acl in acls.elements.into_iter().take(MAX_ORGANISATIONS) {
        let Some(id) = acl.organization.strip_prefix("urn:li:organization:").filter(|id| is_numeric(id)) else {
            continue;
        };
        if choices.iter().any(|c| c.id == id) {
            continue;
        }
        let fetched = get_versioned(http, &format!("{api}/organizations/{id}"), token, version).await?;
        let name = match fetched.status {
            200 => serde_json::from_slice::<Organisation>(&fetched.body).map(|o| o.localized_name).unwrap_or_default(),
            _ => String::new(),
        };
        let name = if name.is_empty() { format!("organisation {id}") } else { name };
        choices.push(Choice { id: id.to_owned(), name, token: None, page_id: None });
    }
    let identity = super::oauth::identity_of(&choices, "the member administers no LinkedIn page")?;
    Ok((choices, identity))
}

/// Reads a publishing answer: its body on 2xx, else a refusal or a passing failure.
fn answer(fetched: Fetched, what: &str) -> Result<Fetched, PublishError> {
    match fetched.status {
        200..=299 => Ok(fetched),
        429 => Err(PublishError::Transient {
            reason: format!("LinkedIn rate-limited {what}"),
            // LinkedIn says nothing of when; its comment throttle is a minute.
            retry_after: crate::platform::outbound::retry_after(&fetched.headers)
                .or(Some(std::time::Duration::from_secs(60))),
        }),
        500..=599 => Err(PublishError::transient(format!("HTTP {} from LinkedIn on {what}", fetched.status))),
        status => Err(PublishError::Refused(
            format!("HTTP {status} from LinkedIn on {what}: {}", error_of(&fetched.body))
                .trim_end_matches(": ")
                .to_owned(),
        )),
    }
}

/// A comment as LinkedIn serves it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Comment {
    #[serde(default)]
    pub actor: String,
    pub comment_urn: Option<String>,
    #[serde(rename = "$URN")]
    pub urn: Option<String>,
    #[serde(default)]
    pub id: String,
    pub object: Option<String>,
    pub parent_comment: Option<String>,
    pub message: Option<Message>,
    pub created: Option<Stamp>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Message {
    #[serde(default)]
    pub text: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Stamp {
    #[serde(default)]
    pub time: i64,
}

impl Comment {
    /// Its URN: given, or made of its thread and id.
    pub fn urn(&self) -> Option<String> {
        let given = self.comment_urn.clone().or(self.urn.clone()).filter(|u| is_comment_urn(u));
        given.or_else(|| {
            let made = format!("urn:li:comment:({},{})", self.object.as_deref()?, self.id);
            is_comment_urn(&made).then_some(made)
        })
    }

    pub fn text(&self) -> &str {
        self.message.as_ref().map_or("", |m| m.text.as_str())
    }

    pub fn at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        chrono::DateTime::from_timestamp_millis(self.created.as_ref()?.time)
    }
}

/// The link of a comment: its post's page, opened at the comment.
pub fn link(comment_urn: &str) -> Option<String> {
    let (thread, _) = parts_of(comment_urn)?;
    Some(format!("https://www.linkedin.com/feed/update/{thread}/?commentUrn={}", encode(comment_urn)))
}

/// The comment an answer goes under: the comment itself, or its parent when it is a
/// reply (`parent`, as collected).
fn thread_of(comment: &str, parent: Option<&str>) -> Result<String, PublishError> {
    let target = parent.filter(|p| is_comment_urn(p)).unwrap_or(comment);
    if !is_comment_urn(target) {
        return Err(PublishError::Refused("not a LinkedIn comment".into()));
    }
    Ok(target.to_owned())
}

/// Publishes `text` as the organisation's answer to `comment` (whose parent, for a
/// reply, is `parent`).
pub async fn reply(
    credential: &Credential<'_>,
    comment: &str,
    parent: Option<&str>,
    text: &str,
) -> Result<Published, PublishError> {
    let thread = thread_of(comment, parent)?;
    let (activity, _) = parts_of(&thread).ok_or_else(|| PublishError::Refused("not a LinkedIn comment".into()))?;
    let (own, _) = credential.account().await;
    let own = own.filter(|id| is_numeric(id)).ok_or_else(|| PublishError::Refused("no organisation".into()))?;
    let endpoint = credential.endpoint().await;
    let url = format!("{}/socialActions/{}/comments", endpoint.trim_end_matches('/'), encode(&thread));
    let body = serde_json::json!({
        "actor": organisation(&own),
        "object": activity,
        "parentComment": thread,
        "message": { "text": text },
    });
    let answered = answer(credential.request(&url, Some(&body)).await?, "the answer")?;
    let created: Option<Comment> = serde_json::from_slice(&answered.body).ok();
    let urn = created.and_then(|c| c.urn()).or_else(|| {
        let id = answered.headers.get("x-restli-id")?.to_str().ok()?;
        let made = format!("urn:li:comment:({activity},{id})");
        is_comment_urn(&made).then_some(made)
    });
    let urn = urn.ok_or_else(|| PublishError::transient("LinkedIn answered with no comment id"))?;
    Ok(Published { url: link(&urn).unwrap_or_default(), id: urn })
}

/// The organisation's answer under `comment`'s thread with `text`, made since `since`
/// and not among `taken`: what an earlier attempt published.
pub async fn find_reply(
    credential: &Credential<'_>,
    comment: &str,
    parent: Option<&str>,
    text: &str,
    since: chrono::DateTime<chrono::Utc>,
    taken: &[String],
) -> Result<Option<Published>, PublishError> {
    #[derive(Deserialize)]
    struct Page {
        #[serde(default)]
        elements: Vec<Comment>,
    }
    let thread = thread_of(comment, parent)?;
    let (own, _) = credential.account().await;
    let own = organisation(&own.unwrap_or_default());
    let endpoint = credential.endpoint().await;
    let url =
        format!("{}/socialActions/{}/comments?start=0&count=100", endpoint.trim_end_matches('/'), encode(&thread));
    let answered = answer(credential.request(&url, None).await?, "the thread's comments")?;
    let page: Page = serde_json::from_slice(&answered.body)
        .map_err(|_| PublishError::transient("malformed comments from LinkedIn"))?;
    let margin = since - chrono::Duration::minutes(5);
    let found = page.elements.into_iter().find_map(|c| {
        let urn = c.urn()?;
        let mine = c.actor == own && c.text().trim() == text.trim() && c.at().is_none_or(|at| at >= margin);
        (mine && !taken.contains(&urn)).then_some(urn)
    });
    Ok(found.map(|urn| Published { url: link(&urn).unwrap_or_default(), id: urn }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urns_are_checked_and_encoded() {
        let urn = "urn:li:comment:(urn:li:activity:6631349431612559360,6643206422739898368)";
        assert!(is_comment_urn(urn));
        assert_eq!(
            encode(urn),
            "urn%3Ali%3Acomment%3A%28urn%3Ali%3Aactivity%3A6631349431612559360%2C6643206422739898368%29"
        );
        assert!(!is_comment_urn("urn:li:comment:(urn:li:activity:1/../2,3)"));
        assert!(!is_comment_urn("urn:li:comment:(urn:li:person:1,3)"));
        assert_eq!(
            link(urn).unwrap(),
            format!(
                "https://www.linkedin.com/feed/update/urn:li:activity:6631349431612559360/?commentUrn={}",
                encode(urn)
            )
        );
    }
}
