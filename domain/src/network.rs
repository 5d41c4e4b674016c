//! The social networks and publication kinds Vigie knows.

use serde::{Deserialize, Serialize};

/// Where a mention was published or where a brand has an account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
    Blog,
    News,
    Forum,
    Other,
}
