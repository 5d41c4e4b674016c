//! Data tests start from: mentions, ingest items, invitation codes, the crash tests' job.

use serde_json::Value;

/// The job of the crash tests' worker process (`vigie-test-worker`).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct RecordJob {
    pub n: i64,
}

impl vigie_domain::platform::queue::JobPayload for RecordJob {
    const KIND: &'static str = "test.record";
}

/// An ingest item from a macro author denouncing `brand`'s zero-plastic promise.
pub fn value_gap_item(external_id: &str) -> Value {
    serde_json::json!({
        "externalId": external_id,
        "network": "mastodon",
        "url": format!("https://mastodon.example/@star/{external_id}"),
        "text": "Verdure promet zéro plastique mais mon colis en est plein, c'est honteux !",
        "publishedAt": chrono::Utc::now().to_rfc3339(),
        "author": { "handle": "star", "displayName": "Star", "followers": 800000 },
        "metrics": { "likes": 5000, "shares": 800, "replies": 300 }
    })
}

/// Finds an invitation code (`vgi_…`) in an email body, undoing quoted-printable soft
/// line breaks.
pub fn invitation_code(body: &str) -> String {
    let joined = body.replace("=\r\n", "").replace("=\n", "");
    let start = joined.find("vgi_").expect("an invitation code in the email");
    joined[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-').collect()
}

/// A mention as a collector would bring it, published an hour ago.
pub fn new_mention(
    external_id: &str,
    handle: &str,
    text: &str,
    followers: i64,
) -> vigie_domain::mentions::store::NewMention {
    use vigie_domain::mentions::store::{NewAuthor, NewMention};
    NewMention {
        external_id: external_id.to_owned(),
        network: "mastodon".into(),
        url: Some(format!("https://mastodon.example/@{handle}/{external_id}")),
        text: text.to_owned(),
        lang: None,
        published_at: vigie_domain::now() - chrono::Duration::hours(1),
        author: NewAuthor {
            handle: handle.to_owned(),
            display_name: Some(handle.to_owned()),
            profile_url: None,
            followers: Some(followers),
            following: Some(100),
            verified: false,
            account_created_at: None,
            authoritative: true,
        },
        likes: 40,
        shares: 5,
        replies: 3,
        views: 0,
        in_reply_to: None,
        in_reply_to_author: None,
        direct: false,
        rating: None,
    }
}
