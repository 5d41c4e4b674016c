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

/// A location a Business Profile connection can read: a source's target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// `accounts/{account}/locations/{location}`, as a source takes it.
    pub name: String,
    pub title: String,
    /// Its street address, on one line, if it has one.
    pub address: Option<String>,
}

/// Pages of accounts, and of each account's locations, read at most.
const LIST_PAGES: usize = 5;
/// Accounts whose locations are listed at most.
const MAX_ACCOUNTS: usize = 20;

/// The locations Google Business Profile connection `id` can read, by account (managers):
/// what a front-end offers as a location source's target.
pub async fn locations(
    services: &crate::Services,
    actor: &crate::Actor,
    id: uuid::Uuid,
) -> crate::Result<Vec<Location>> {
    use crate::Error;
    let row = super::get(&services.db, actor, id).await?;
    if row.network != crate::Network::Google.name() {
        return Err(Error::bad_input("connectionId", "not a Google Business Profile connection"));
    }
    let credential = match Credential::of_connection(services, actor.agency_id, id).await {
        Ok(Some(credential)) => credential,
        Ok(None) => return Err(Error::NotFound("connection")),
        Err(super::CredentialError::Refused(_)) => {
            return Err(Error::bad_input("connectionId", "Google refused the connection: reconnect it"));
        }
        Err(e) => return Err(Error::Unavailable(format!("Google could not be reached: {e}"))),
    };
    let listed = list(&credential, &services.config).await;
    credential.finish(listed.is_ok()).await;
    listed.map_err(|e| match e {
        PublishError::Refused(why) => Error::bad_input("connectionId", why),
        PublishError::Transient { reason, .. } => Error::Unavailable(reason),
    })
}

/// The connection's accounts, then each one's locations, following `nextPageToken`.
async fn list(credential: &Credential<'_>, config: &crate::Config) -> Result<Vec<Location>, PublishError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Accounts {
        #[serde(default)]
        accounts: Vec<Account>,
        next_page_token: Option<String>,
    }
    #[derive(Deserialize)]
    struct Account {
        name: String,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Locations {
        #[serde(default)]
        locations: Vec<Found>,
        next_page_token: Option<String>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Found {
        name: String,
        #[serde(default)]
        title: String,
        storefront_address: Option<Address>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Address {
        #[serde(default)]
        address_lines: Vec<String>,
        #[serde(default)]
        postal_code: String,
        #[serde(default)]
        locality: String,
    }
    async fn page<T: serde::de::DeserializeOwned>(
        credential: &Credential<'_>,
        base: &url::Url,
        path: &str,
        query: &[(&str, &str)],
        token: Option<&str>,
    ) -> Result<T, PublishError> {
        let mut url = url::Url::parse(&format!("{}/{path}", base.as_str().trim_end_matches('/')))
            .map_err(|_| PublishError::Refused("a bad Google endpoint".into()))?;
        url.query_pairs_mut().extend_pairs(query);
        if let Some(token) = token {
            url.query_pairs_mut().append_pair("pageToken", token);
        }
        let body = answer(credential.request(url.as_str(), None).await?, "the locations")?;
        serde_json::from_slice(&body).map_err(|_| PublishError::transient("a malformed list from Google"))
    }
    let mut accounts = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..LIST_PAGES {
        let found: Accounts =
            page(credential, &config.google_accounts_url, "accounts", &[("pageSize", "20")], token.as_deref()).await?;
        accounts.extend(
            found.accounts.into_iter().map(|a| a.name).filter(|n| n.strip_prefix("accounts/").is_some_and(is_id)),
        );
        token = found.next_page_token.filter(|t| !t.is_empty());
        if token.is_none() || accounts.len() >= MAX_ACCOUNTS {
            break;
        }
    }
    let mut locations = Vec::new();
    for account in accounts.iter().take(MAX_ACCOUNTS) {
        let query = [("readMask", "name,title,storefrontAddress"), ("pageSize", "100")];
        let mut token: Option<String> = None;
        for _ in 0..LIST_PAGES {
            let path = format!("{account}/locations");
            let found: Locations = page(credential, &config.google_info_url, &path, &query, token.as_deref()).await?;
            for location in found.locations {
                let name = format!("{account}/{}", location.name);
                if !is_location_name(&name) || locations.iter().any(|l: &Location| l.name == name) {
                    continue;
                }
                let address = location.storefront_address.map(|a| {
                    let mut parts = a.address_lines;
                    parts.push(format!("{} {}", a.postal_code, a.locality).trim().to_owned());
                    parts.retain(|p| !p.is_empty());
                    parts.join(", ")
                });
                locations.push(Location { name, title: location.title, address: address.filter(|a| !a.is_empty()) });
            }
            token = found.next_page_token.filter(|t| !t.is_empty());
            if token.is_none() {
                break;
            }
        }
    }
    Ok(locations)
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
