//! Trustpilot's public API through an API key (`api.trustpilot.com/v1`, the key in an
//! `apikey` header): checking a key, and finding a business unit by its domain.

use reqwest::header::{HeaderMap, HeaderValue};
use serde::Deserialize;

use crate::platform::outbound::Http;

/// A review's page on Trustpilot.
pub fn review_link(id: &str) -> String {
    format!("https://www.trustpilot.com/reviews/{id}")
}

/// Whether `id` is a business unit's id (24 hexadecimal digits), as it may go into a
/// path.
pub fn is_unit_id(id: &str) -> bool {
    id.len() == 24 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A business unit as `/business-units/find` describes it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BusinessUnit {
    pub id: String,
    #[serde(default)]
    pub display_name: String,
}

/// Why a key was not taken.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("Trustpilot refused this API key")]
    Refused,
    #[error("Trustpilot rate-limited the check")]
    RateLimited { retry_after: Option<std::time::Duration> },
    #[error("{0}")]
    Failed(String),
}

/// Checks `key` with one call to `/business-units/find`: a refused key answers 401 or
/// 403, a good one finds (or not) the business unit named.
pub async fn check_key(http: &Http, api: &str, key: &str) -> Result<(), KeyError> {
    let mut headers = HeaderMap::new();
    let mut value = HeaderValue::from_str(key).map_err(|_| KeyError::Refused)?;
    value.set_sensitive(true);
    headers.insert("apikey", value);
    let url = format!("{}/business-units/find?name=trustpilot.com", api.trim_end_matches('/'));
    let fetched = http.get_direct(&url, headers).await.map_err(|e| KeyError::Failed(e.to_string()))?;
    match fetched.status {
        200 | 404 => Ok(()),
        401 | 403 => Err(KeyError::Refused),
        429 => Err(KeyError::RateLimited { retry_after: crate::platform::outbound::retry_after(&fetched.headers) }),
        status => Err(KeyError::Failed(format!("HTTP {status} from Trustpilot"))),
    }
}
