//! Mastodon through an access token the account made on its own instance (Preferences →
//! Development → New application, scopes `read write:statuses`): whose account it is
//! (`/api/v1/accounts/verify_credentials`), and replies (`POST /api/v1/statuses`).
//!
//! A post collected anywhere in the fediverse is known by its ActivityPub URI; the
//! account's instance gives it a local id once asked to resolve it
//! (`/api/v2/search?resolve=true`), and that post must be by the mention's author (a
//! pushed mention's URI could be anyone's post). A reply names its author first
//! (`@user@host`), as Mastodon's clients do, so that the author is notified, and is
//! `unlisted` (in the thread and on the account, not pushed to public timelines), or
//! as private as the post it answers. Mastodon keeps an
//! `Idempotency-Key` for an hour; past that, a retry looks among the account's latest
//! statuses for an earlier attempt's reply first.

use serde::Deserialize;

use super::{Credential, PublishError, Published};
use crate::platform::outbound::{Fetched, Http};
use crate::platform::text::strip_html;

/// The longest status on a default instance, in characters.
pub const MAX_CHARS: usize = 500;
/// Pages of the account's statuses a retry looks through for an earlier attempt.
const LOOKUP_PAGES: usize = 5;

/// The account an access token acts as.
#[derive(Debug, Deserialize)]
pub(crate) struct Me {
    pub id: String,
    pub acct: String,
}

/// Why a token could not be checked.
#[derive(Debug)]
pub(crate) enum TokenCheck {
    Refused,
    RateLimited(Option<std::time::Duration>),
    Failed(String),
}

/// The account `token` opens on `endpoint`, named `user@host`.
pub(crate) async fn whoami(http: &Http, endpoint: &str, token: &str) -> Result<(String, String), TokenCheck> {
    let url = format!("{endpoint}/api/v1/accounts/verify_credentials");
    let fetched = super::get_as(http, &url, token).await.map_err(TokenCheck::Failed)?;
    match fetched.status {
        200 => {}
        401 | 403 => return Err(TokenCheck::Refused),
        429 => return Err(TokenCheck::RateLimited(crate::platform::outbound::retry_after(&fetched.headers))),
        status => return Err(TokenCheck::Failed(format!("HTTP {status} from the instance"))),
    }
    let me: Me =
        serde_json::from_slice(&fetched.body).map_err(|e| TokenCheck::Failed(format!("malformed account: {e}")))?;
    let host = url::Url::parse(endpoint).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default();
    let name = if me.acct.contains('@') { me.acct.clone() } else { format!("{}@{host}", me.acct) };
    Ok((me.id, name.to_lowercase()))
}

/// A status as the account's instance shows it.
#[derive(Debug, Deserialize)]
struct Status {
    id: String,
    uri: String,
    url: Option<String>,
    #[serde(default)]
    content: String,
    in_reply_to_id: Option<String>,
    account: Account,
    created_at: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default)]
    visibility: String,
}

/// A reply's visibility: `unlisted`, or the post's own when it is more private (a
/// reply must not show a followers-only or direct conversation on the brand's profile).
fn visibility_of(parent: &str) -> &'static str {
    match parent {
        "direct" => "direct",
        "private" => "private",
        _ => "unlisted",
    }
}

#[derive(Debug, Deserialize)]
struct Account {
    acct: String,
}

/// Reads an answer: its body on 2xx, else a refusal or a passing failure.
fn answer(fetched: Fetched, what: &str) -> Result<Vec<u8>, PublishError> {
    #[derive(Deserialize)]
    struct Failure {
        #[serde(default)]
        error: String,
    }
    match fetched.status {
        200..=299 => Ok(fetched.body),
        429 => Err(PublishError::Transient {
            reason: format!("the instance rate-limited {what}"),
            retry_after: crate::platform::outbound::retry_after(&fetched.headers).or_else(|| {
                let reset = crate::platform::outbound::quota(&fetched.headers)?.resets_at?;
                (reset - chrono::Utc::now()).to_std().ok()
            }),
        }),
        500..=599 => Err(PublishError::transient(format!("HTTP {} from the instance on {what}", fetched.status))),
        status => {
            let why = serde_json::from_slice::<Failure>(&fetched.body).map(|f| f.error).unwrap_or_default();
            let why: String = why.chars().filter(|c| !c.is_control()).take(160).collect();
            Err(PublishError::Refused(format!("HTTP {status} from the instance on {what}: {why}")))
        }
    }
}

/// The status of URI `uri` as the account's instance knows it (fetched there if new),
/// which must be by `author` (`user@host`, as Vigie stores Mastodon handles).
async fn resolve(credential: &Credential<'_>, uri: &str, author: &str) -> Result<Status, PublishError> {
    #[derive(Deserialize)]
    struct Found {
        #[serde(default)]
        statuses: Vec<Status>,
    }
    let endpoint = credential.endpoint().await;
    let mut url = url::Url::parse(&format!("{endpoint}/api/v2/search"))
        .map_err(|_| PublishError::Refused("the connection's instance is not a URL".into()))?;
    url.query_pairs_mut()
        .append_pair("q", uri)
        .append_pair("type", "statuses")
        .append_pair("resolve", "true")
        .append_pair("limit", "1");
    let body = answer(credential.request(url.as_str(), None).await?, "the post's lookup")?;
    let found: Found =
        serde_json::from_slice(&body).map_err(|_| PublishError::transient("a malformed search from the instance"))?;
    let status = found
        .statuses
        .into_iter()
        .find(|s| s.uri == uri)
        .ok_or_else(|| PublishError::Refused("the account's instance cannot reach this post".into()))?;
    // The instance names its own users without their host.
    let host = url::Url::parse(&endpoint).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default();
    let acct = status.account.acct.to_lowercase();
    let full = if acct.contains('@') { acct } else { format!("{acct}@{host}") };
    if full != author.trim_start_matches('@').to_lowercase() {
        return Err(PublishError::Refused("this post is not by the mention's author".into()));
    }
    Ok(status)
}

/// `text` as it goes out: the author's address first, unless the text already names it.
fn addressed(acct: &str, text: &str) -> String {
    let mention = format!("@{acct}");
    let named =
        text.split_whitespace().any(|word| word.trim_end_matches([',', ':', '.']).eq_ignore_ascii_case(&mention));
    if named { text.to_owned() } else { format!("{mention} {text}") }
}

/// Publishes `text` as the account's reply to the status of URI `uri`, under
/// `Idempotency-Key: key`.
pub async fn reply(
    credential: &Credential<'_>,
    (uri, author): (&str, &str),
    text: &str,
    key: &str,
) -> Result<Published, PublishError> {
    let parent = resolve(credential, uri, author).await?;
    let endpoint = credential.endpoint().await;
    let body = serde_json::json!({
        "status": addressed(&parent.account.acct, text),
        "in_reply_to_id": parent.id,
        "visibility": visibility_of(&parent.visibility),
    });
    let url = format!("{endpoint}/api/v1/statuses");
    let answer = answer(credential.post_once(&url, &body, key).await?, "the reply")?;
    let posted: Status =
        serde_json::from_slice(&answer).map_err(|_| PublishError::transient("a malformed status from the instance"))?;
    Ok(Published { url: posted.url.unwrap_or_else(|| posted.uri.clone()), id: posted.uri })
}

/// The account's reply to the status of URI `uri` with `text`, made since `since` and
/// not among `taken`: what an earlier attempt published.
pub async fn find_reply(
    credential: &Credential<'_>,
    (uri, author): (&str, &str),
    text: &str,
    since: chrono::DateTime<chrono::Utc>,
    taken: &[String],
) -> Result<Option<Published>, PublishError> {
    let parent = resolve(credential, uri, author).await?;
    let (account, _) = credential.account().await;
    let account = account.ok_or_else(|| PublishError::Refused("the connection has no account id".into()))?;
    if !account.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(PublishError::Refused("the connection's account id is not Mastodon's".into()));
    }
    let endpoint = credential.endpoint().await;
    // The account's statuses since the reply was asked for, newest first, a few pages.
    let expected = addressed(&parent.account.acct, text);
    let margin = since - chrono::Duration::minutes(5);
    let mut max_id: Option<String> = None;
    for _ in 0..LOOKUP_PAGES {
        let mut url = format!("{endpoint}/api/v1/accounts/{account}/statuses?limit=40&exclude_reblogs=true");
        if let Some(max_id) = &max_id {
            url.push_str(&format!("&max_id={max_id}"));
        }
        let body = answer(credential.request(&url, None).await?, "the account's statuses")?;
        let statuses: Vec<Status> = serde_json::from_slice(&body)
            .map_err(|_| PublishError::transient("malformed statuses from the instance"))?;
        let older = statuses.last().is_none_or(|s| s.created_at.is_some_and(|at| at < margin));
        max_id = statuses.last().map(|s| s.id.clone()).filter(|id| id.bytes().all(|b| b.is_ascii_alphanumeric()));
        let found = statuses.into_iter().find(|s| {
            s.in_reply_to_id.as_deref() == Some(parent.id.as_str())
                && same_text(&strip_html(&s.content), &expected)
                && s.created_at.is_none_or(|at| at >= margin)
                && !taken.contains(&s.uri)
        });
        if let Some(s) = found {
            return Ok(Some(Published { url: s.url.unwrap_or_else(|| s.uri.clone()), id: s.uri }));
        }
        if older || max_id.is_none() {
            break;
        }
    }
    Ok(None)
}

/// Texts compared as Mastodon renders them: a mention becomes `@user` (its host
/// dropped), spaces collapse.
fn same_text(rendered: &str, sent: &str) -> bool {
    let words = |t: &str| -> Vec<String> {
        t.split_whitespace()
            .map(|w| match w.strip_prefix('@') {
                Some(handle) => format!("@{}", handle.split('@').next().unwrap_or(handle).to_lowercase()),
                None => w.to_owned(),
            })
            .collect()
    };
    words(rendered) == words(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_name_their_author_once() {
        assert_eq!(addressed("lou@remote.example", "Merci !"), "@lou@remote.example Merci !");
        assert_eq!(
            addressed("lou@remote.example", "Merci @lou@remote.example, à bientôt"),
            "Merci @lou@remote.example, à bientôt"
        );
        assert!(same_text("@lou Merci   !", "@lou@remote.example Merci !"));
        assert!(!same_text("@lou Merci", "@lou@remote.example Merci !"));
    }

    #[test]
    fn replies_are_never_more_public_than_their_post() {
        assert_eq!(visibility_of("public"), "unlisted");
        assert_eq!(visibility_of("unlisted"), "unlisted");
        assert_eq!(visibility_of("private"), "private");
        assert_eq!(visibility_of("direct"), "direct");
    }
}
