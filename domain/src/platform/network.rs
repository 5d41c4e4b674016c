//! The social networks and publication kinds Vigie knows.

use serde::{Deserialize, Serialize};

/// Where a mention was published or where a brand has an account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    X,
    Facebook,
    Instagram,
    Linkedin,
    Youtube,
    Tiktok,
    Mastodon,
    Bluesky,
    Reddit,
    /// Trustpilot reviews.
    Trustpilot,
    /// Google Business Profile: reviews on Google Search and Maps.
    Google,
    Blog,
    News,
    Forum,
    Other,
}

impl Network {
    /// The stored name (`x`, `mastodon`, `blog`…), as in the ingest format.
    pub fn name(self) -> String {
        serde_json::to_value(self).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
    }

    /// The network of a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(name.to_owned())).ok()
    }
}
