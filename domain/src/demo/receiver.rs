//! The demo's webhook receiver, so the demo agency's endpoint has deliveries to show.
//! It checks each delivery as a customer's receiver should (the Standard Webhooks
//! headers, a timestamp within five minutes, a valid signature) and answers 204, or 400
//! and the reason. The api serves it at `/demo/webhooks` in demo mode; while the
//! history is written the api is not listening yet, so a loopback listener of its own
//! stands in.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::entities::{membership, webhook_endpoint};
use crate::webhooks::{self, signature};
use crate::{Result, Role, Services};

/// Where the api serves the receiver, under its public URL.
pub const PATH: &str = "demo/webhooks";
/// How far a delivery's timestamp may be from the receiver's clock, in seconds.
const TOLERANCE: u64 = 5 * 60;
/// The largest body the receiver reads (the api's route has the same limit).
pub const MAX_BODY: usize = 64 * 1024;

/// The receiver's URL under the api's public URL (a base without a trailing slash is
/// read as a directory, as operators write it).
pub fn url(public: &url::Url) -> String {
    let mut base = public.clone();
    if !base.path().ends_with('/') {
        base.set_path(&format!("{}/", base.path()));
    }
    base.join(PATH).map_or_else(|_| format!("{}/{PATH}", public.as_str().trim_end_matches('/')), String::from)
}

/// Why a delivery is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("missing webhook-id, webhook-timestamp or webhook-signature")]
    MissingHeaders,
    #[error("webhook-timestamp is not a number")]
    BadTimestamp,
    #[error("webhook-timestamp is more than five minutes from now")]
    Stale,
    #[error("no valid signature")]
    BadSignature,
}

/// A delivery's signing headers, read and checked for freshness before any secret is.
pub struct Signed {
    id: String,
    timestamp: i64,
    signatures: String,
}

impl Signed {
    /// Reads the headers (`header` gives one by its lower-case name) against the
    /// receiver's clock `now` (Unix seconds).
    pub fn read(header: impl Fn(&str) -> Option<String>, now: i64) -> std::result::Result<Signed, Refusal> {
        let (Some(id), Some(timestamp), Some(signatures)) =
            (header("webhook-id"), header("webhook-timestamp"), header("webhook-signature"))
        else {
            return Err(Refusal::MissingHeaders);
        };
        let timestamp: i64 = timestamp.trim().parse().map_err(|_| Refusal::BadTimestamp)?;
        if now.abs_diff(timestamp) > TOLERANCE {
            return Err(Refusal::Stale);
        }
        Ok(Signed { id, timestamp, signatures })
    }

    /// Whether one of `secrets` signed `body` under these headers.
    pub fn verify(&self, body: &[u8], secrets: &[String]) -> std::result::Result<(), Refusal> {
        let signed = |secret: &String| signature::verify(secret, &self.id, self.timestamp, body, &self.signatures);
        if secrets.iter().any(signed) { Ok(()) } else { Err(Refusal::BadSignature) }
    }
}

/// The secrets the demo agency's endpoints at `url` sign with now.
pub async fn secrets(services: &Services, url: &str) -> Result<Vec<String>> {
    let Some(agency_id) = agency(services).await? else { return Ok(Vec::new()) };
    let wanted = url::Url::parse(url).ok();
    let at = crate::now();
    let endpoints = webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::AgencyId.eq(agency_id))
        .all(&services.db)
        .await?;
    Ok(endpoints
        .iter()
        .filter(|e| wanted.is_some() && url::Url::parse(&e.url).ok() == wanted)
        .flat_map(|e| webhooks::signing_secrets(e, at).map(str::to_owned))
        .collect())
}

/// The demo agency: the one the demo owner created (its first owner membership).
async fn agency(services: &Services) -> Result<Option<uuid::Uuid>> {
    let Some(user) = crate::accounts::find_user_by_email(&services.db, super::DEMO_EMAIL).await? else {
        return Ok(None);
    };
    let owned = membership::Entity::find()
        .filter(membership::Column::UserId.eq(user.id))
        .filter(membership::Column::Role.eq(Role::Owner.as_str()))
        .order_by_asc(membership::Column::CreatedAt)
        .one(&services.db)
        .await?;
    Ok(owned.map(|m| m.agency_id))
}

/// The stand-in used while the history is written: a loopback listener answering
/// 503 while `down` (a receiver's deployment, so that the history shows retries).
pub(crate) struct StandIn {
    pub url: String,
    pub secrets: Arc<Mutex<Vec<String>>>,
    pub down: Arc<AtomicBool>,
    task: tokio::task::AbortHandle,
}

impl StandIn {
    pub async fn start() -> Result<StandIn> {
        let io = |e: std::io::Error| crate::Error::internal_from("the demo's receiver", e);
        let listener = TcpListener::bind("127.0.0.1:0").await.map_err(io)?;
        let port = listener.local_addr().map_err(io)?.port();
        let (secrets, down) = (Arc::<Mutex<Vec<String>>>::default(), Arc::new(AtomicBool::new(false)));
        let (serving, refusing) = (Arc::clone(&secrets), Arc::clone(&down));
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let secrets = serving.lock().map(|s| s.clone()).unwrap_or_default();
                let down = refusing.load(Ordering::SeqCst);
                // One request a connection, within a deadline, so a stuck one holds nothing.
                tokio::spawn(tokio::time::timeout(Duration::from_secs(5), answer(stream, secrets, down)));
            }
        });
        Ok(StandIn { url: format!("http://127.0.0.1:{port}/{PATH}"), secrets, down, task: task.abort_handle() })
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one request and answers it.
async fn answer(stream: TcpStream, secrets: Vec<String>, down: bool) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read.take(16 * 1024 + MAX_BODY as u64));
    let mut headers = std::collections::HashMap::new();
    let mut line = String::new();
    // The request line, then the headers up to the blank line.
    while reader.read_line(&mut line).await? > 0 && headers.len() < 64 {
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        if let Some((name, value)) = trimmed.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
        line.clear();
    }
    let length = headers.get("content-length").and_then(|l| l.parse::<usize>().ok()).unwrap_or(0);
    let (status, text) = if down {
        ("503 Service Unavailable", "deploying, try again later".to_owned())
    } else if length > MAX_BODY {
        ("413 Payload Too Large", "too large".to_owned())
    } else {
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body).await?;
        let checked = Signed::read(|name| headers.get(name).cloned(), chrono::Utc::now().timestamp())
            .and_then(|signed| signed.verify(&body, &secrets));
        match checked {
            Ok(()) => ("204 No Content", String::new()),
            Err(refusal) => ("400 Bad Request", refusal.to_string()),
        }
    };
    let response = format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}", text.len());
    write.write_all(response.as_bytes()).await?;
    write.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliveries_are_checked_as_a_receiver_should() {
        let secret = signature::new_secret().unwrap();
        let (body, now) = (br#"{"type":"crisis.opened"}"#.as_slice(), 1_700_000_000);
        let signed = signature::sign(&secret, "msg_1", now, body).unwrap();
        let headers = |ts: &str, sig: &str| {
            let map: std::collections::HashMap<&str, String> =
                [("webhook-id", "msg_1".into()), ("webhook-timestamp", ts.into()), ("webhook-signature", sig.into())]
                    .into();
            move |name: &str| map.get(name).cloned()
        };
        let secrets = vec![signature::new_secret().unwrap(), secret.clone()];
        let check = |ts: &str, sig: &str, body: &[u8], secrets: &[String], now: i64| {
            Signed::read(headers(ts, sig), now).and_then(|s| s.verify(body, secrets))
        };
        let ts = now.to_string();
        assert_eq!(check(&ts, &signed, body, &secrets, now + 60), Ok(()));
        assert_eq!(check(&ts, &signed, body, &secrets, now + 301), Err(Refusal::Stale), "replayed later");
        assert_eq!(check(&ts, &signed, b"{}", &secrets, now), Err(Refusal::BadSignature), "another body");
        assert_eq!(check(&ts, &signed, body, &secrets[..1], now), Err(Refusal::BadSignature), "another secret");
        assert_eq!(check("-9223372036854775808", &signed, body, &secrets, now), Err(Refusal::Stale));
        assert_eq!(check("soon", &signed, body, &secrets, now), Err(Refusal::BadTimestamp));
        assert!(matches!(Signed::read(|_| None, now), Err(Refusal::MissingHeaders)));
        assert_eq!(url(&"http://127.0.0.1:8080".parse().unwrap()), "http://127.0.0.1:8080/demo/webhooks");
        assert_eq!(url(&"https://vigie.example/app".parse().unwrap()), "https://vigie.example/app/demo/webhooks");
        assert_eq!(url(&"https://vigie.example/app/".parse().unwrap()), "https://vigie.example/app/demo/webhooks");
    }
}
