//! Google Business Profile through an OAuth connection (scope `business.manage`):
//! whose accounts the tokens open (Account Management API), and replies to reviews
//! (`PUT …/reviews/{id}/reply`, My Business API v4).
//!
//! A review has one reply, which a `PUT` writes or replaces: sending it twice leaves
//! one reply, so an attempt that may have gone through is simply made again.

use serde::Deserialize;

use super::oauth::Identity;
use super::{Credential, PublishError, Published};
use crate::platform::outbound::{Fetched, Http};

/// The longest reply Google takes, in bytes of UTF-8.
pub const MAX_REPLY_BYTES: usize = 4_096;

/// Whether `name` is a review's resource name (`accounts/{a}/locations/{l}/reviews/{r}`),
/// each id made of URL-safe characters only, so that it can go into a path as it is.
pub fn is_review_name(name: &str) -> bool {
    let parts: Vec<&str> = name.split('/').collect();
    parts.len() == 6
        && parts[0] == "accounts"
        && parts[2] == "locations"
        && parts[4] == "reviews"
        && [parts[1], parts[3], parts[5]].iter().all(|id| is_id(id))
}

/// Whether `target` is a location's resource name (`accounts/{a}/locations/{l}`).
pub fn is_location_name(target: &str) -> bool {
    let parts: Vec<&str> = target.split('/').collect();
    parts.len() == 4 && parts[0] == "accounts" && parts[2] == "locations" && is_id(parts[1]) && is_id(parts[3])
}

fn is_id(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Google's error body: `{"error": {"code", "message", "status"}}`.
pub(crate) fn error_of(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Body {
        error: Inner,
    }
    #[derive(Deserialize)]
    struct Inner {
        #[serde(default)]
        message: String,
        #[serde(default)]
        status: String,
    }
    serde_json::from_slice::<Body>(body)
        .map(|b| format!("{} {}", b.error.status, b.error.message))
        .map(|why| why.trim().chars().filter(|c| !c.is_control()).take(160).collect())
        .unwrap_or_default()
}

/// The Google account the access token acts as: its personal Business Profile account
/// (`accounts/{id}`).
pub(crate) async fn whoami(http: &Http, accounts_url: &url::Url, access_token: &str) -> Result<Identity, String> {
    #[derive(Deserialize)]
    struct Accounts {
        #[serde(default)]
        accounts: Vec<Account>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Account {
        name: String,
        #[serde(default)]
        account_name: String,
        #[serde(default, rename = "type")]
        kind: String,
    }
    let url = format!("{}/accounts", accounts_url.as_str().trim_end_matches('/'));
    let fetched = super::get_as(http, &url, access_token).await?;
    if fetched.status != 200 {
        return Err(format!("HTTP {} from Google {}", fetched.status, error_of(&fetched.body)).trim().to_owned());
    }
    let accounts: Accounts = serde_json::from_slice(&fetched.body).map_err(|e| format!("malformed accounts: {e}"))?;
    // The personal account is the user's own: a location group is shared by several
    // people, who would then collide as one connection.
    let account = accounts
        .accounts
        .into_iter()
        .find(|a| a.kind == "PERSONAL")
        .ok_or("Google listed no personal Business Profile account for this user")?;
    let name = if account.account_name.is_empty() { account.name.clone() } else { account.account_name };
    Ok(Identity { id: account.name, name })
}

/// Reads an answer: its body on 2xx, else a refusal or a passing failure.
fn answer(fetched: Fetched, what: &str) -> Result<Vec<u8>, PublishError> {
    match fetched.status {
        200..=299 => Ok(fetched.body),
        429 => Err(PublishError::Transient {
            reason: format!("Google rate-limited {what}"),
            retry_after: crate::platform::outbound::retry_after(&fetched.headers),
        }),
        500..=599 => Err(PublishError::transient(format!("HTTP {} from Google on {what}", fetched.status))),
        status => Err(PublishError::Refused(
            format!("HTTP {status} from Google on {what}: {}", error_of(&fetched.body))
                .trim_end_matches(": ")
                .to_owned(),
        )),
    }
}

/// The reply a review carries on Google, if any (`GET …/reviews/{id}`).
async fn current_reply(credential: &Credential<'_>, name: &str) -> Result<Option<String>, PublishError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Review {
        review_reply: Option<Reply>,
    }
    #[derive(Deserialize)]
    struct Reply {
        #[serde(default)]
        comment: String,
    }
    if !is_review_name(name) {
        return Err(PublishError::Refused("not a Google review".into()));
    }
    let endpoint = credential.endpoint().await;
    let url = format!("{}/v4/{name}", endpoint.trim_end_matches('/'));
    let body = answer(credential.request(&url, None).await?, "the review")?;
    let review: Review =
        serde_json::from_slice(&body).map_err(|_| PublishError::transient("a malformed review from Google"))?;
    Ok(review.review_reply.map(|r| r.comment))
}

/// Writes `text` as the reply to review `name`; `link` is the review's link, if any. A
/// review has one reply, which a write replaces: one the brand already gave on Google
/// (or another tool, or another agency watching the same place) is never overwritten.
pub async fn reply(
    credential: &Credential<'_>,
    name: &str,
    text: &str,
    link: Option<&str>,
) -> Result<Published, PublishError> {
    let published = || Published { id: format!("{name}/reply"), url: link.unwrap_or_default().to_owned() };
    match current_reply(credential, name).await? {
        Some(current) if current.trim() == text.trim() => return Ok(published()),
        Some(_) => {
            return Err(PublishError::Refused(
                "the review already has a reply on Google: change it there, or delete it before answering from Vigie"
                    .into(),
            ));
        }
        None => {}
    }
    let endpoint = credential.endpoint().await;
    let url = format!("{}/v4/{name}/reply", endpoint.trim_end_matches('/'));
    let body = serde_json::json!({ "comment": text });
    answer(credential.put(&url, &body).await?, "the review's reply")?;
    Ok(published())
}

/// The reply review `name` carries, if it is `text`: whether an earlier attempt went
/// through.
pub async fn find_reply(
    credential: &Credential<'_>,
    name: &str,
    text: &str,
    link: Option<&str>,
) -> Result<Option<Published>, PublishError> {
    let same = current_reply(credential, name).await?.is_some_and(|current| current.trim() == text.trim());
    Ok(same.then(|| Published { id: format!("{name}/reply"), url: link.unwrap_or_default().to_owned() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_before_they_go_into_a_path() {
        assert!(is_review_name("accounts/1123/locations/987/reviews/AbC-d_9"));
        assert!(is_location_name("accounts/1123/locations/987"));
        for bad in [
            "accounts/1123/locations/987/reviews/../../x",
            "accounts/1123/locations/987/reviews/a?b",
            "accounts//locations/987/reviews/x",
            "accounts/1/locations/2/reviews/3/reply",
        ] {
            assert!(!is_review_name(bad), "{bad}");
        }
        assert!(!is_location_name("accounts/1/locations/2%2F.."));
    }
}
