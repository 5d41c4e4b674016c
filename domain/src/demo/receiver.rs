//! The demo's webhook receiver, so the demo agency's endpoint has deliveries to show.
//! It checks each delivery as a customer's receiver should (the Standard Webhooks
//! headers, a timestamp within five minutes, a valid signature) and answers 204, or 400
//! and the reason. The api serves it at `/demo/webhooks` in demo mode; while the
//! history is written the api is not listening yet, so a loopback listener of its own
//! stands in.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::webhooks::signature;
use crate::{Actor, Result, Services};

/// Where the api serves the receiver, under its public URL.
pub const PATH: &str = "demo/webhooks";
/// How far a delivery's timestamp may be from the receiver's clock, in seconds.
const TOLERANCE: i64 = 5 * 60;
/// The largest body the stand-in reads.
const MAX_BODY: usize = 1024 * 1024;

/// The receiver's URL under the api's public URL.
pub fn url(public: &url::Url) -> String {
    format!("{}/{PATH}", public.as_str().trim_end_matches('/'))
}

/// Checks one delivery: `header` reads a request header by its lower-case name,
/// `secrets` are those the endpoint may sign with, `now` is the receiver's clock (Unix
/// seconds). The error is the reason to answer with.
pub fn check(
    header: impl Fn(&str) -> Option<String>,
    body: &[u8],
    secrets: &[String],
    now: i64,
) -> std::result::Result<(), &'static str> {
    let (Some(id), Some(timestamp), Some(signatures)) =
        (header("webhook-id"), header("webhook-timestamp"), header("webhook-signature"))
    else {
        return Err("missing webhook-id, webhook-timestamp or webhook-signature");
    };
    let timestamp: i64 = timestamp.trim().parse().map_err(|_| "webhook-timestamp is not a number")?;
    if (now - timestamp).abs() > TOLERANCE {
        return Err("webhook-timestamp is too far from now");
    }
    if secrets.iter().any(|secret| signature::verify(secret, &id, timestamp, body, &signatures)) {
        Ok(())
    } else {
        Err("no valid signature")
    }
}

/// The secrets of the demo agency's endpoints that deliver to `url`, read as its owner.
pub async fn secrets(services: &Services, url: &str) -> Result<Vec<String>> {
    let Some(owner) = owner(services).await? else { return Ok(Vec::new()) };
    let at = crate::now();
    let endpoints = crate::webhooks::list(services, &owner).await?;
    Ok(endpoints
        .into_iter()
        .filter(|e| e.url == url)
        .flat_map(|e| {
            let previous = e.previous_secret.filter(|_| e.previous_secret_expires_at.is_some_and(|until| until > at));
            std::iter::once(e.secret).chain(previous)
        })
        .collect())
}

/// The demo owner, in the demo agency.
async fn owner(services: &Services) -> Result<Option<Actor>> {
    use crate::entities::membership;
    let Some(user) = crate::accounts::find_user_by_email(&services.db, super::DEMO_EMAIL).await? else {
        return Ok(None);
    };
    let membership =
        membership::Entity::find().filter(membership::Column::UserId.eq(user.id)).one(&services.db).await?;
    match membership {
        Some(m) => Ok(Some(Actor::from_membership(&services.db, m).await?)),
        None => Ok(None),
    }
}

/// The stand-in used while the history is written: a loopback listener on a thread of
/// its own, answering 503 while `down` (a receiver's deployment, so that the history
/// shows retries).
pub(crate) struct StandIn {
    pub url: String,
    pub secrets: Arc<Mutex<Vec<String>>>,
    pub down: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    port: u16,
}

impl StandIn {
    pub fn start() -> Result<StandIn> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| crate::Error::Internal(e.to_string()))?;
        let port = listener.local_addr().map_err(|e| crate::Error::Internal(e.to_string()))?.port();
        let (secrets, down, stop) =
            (Arc::default(), Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
        let serving = (Arc::clone(&secrets), Arc::clone(&down), Arc::clone(&stop));
        std::thread::spawn(move || {
            let (secrets, down, stop) = serving;
            for stream in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    answer(stream, &secrets, &down);
                }
            }
        });
        Ok(StandIn { url: format!("http://127.0.0.1:{port}/{PATH}"), secrets, down, stop, port })
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the listener so that it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Reads one request and answers it.
fn answer(stream: TcpStream, secrets: &Mutex<Vec<String>>, down: &AtomicBool) {
    let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(5)));
    let mut reader = BufReader::new(&stream);
    let mut headers = HashMap::new();
    let mut line = String::new();
    // The request line, then the headers up to the blank line.
    while reader.by_ref().take(8 * 1024).read_line(&mut line).is_ok_and(|n| n > 0) {
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
    let mut body = vec![0u8; length.min(MAX_BODY)];
    let read = reader.read_exact(&mut body);
    let (status, text) = if down.load(Ordering::SeqCst) {
        ("503 Service Unavailable", "deploying, try again later")
    } else if read.is_err() || length > MAX_BODY {
        ("400 Bad Request", "unreadable body")
    } else {
        let secrets = secrets.lock().map(|s| s.clone()).unwrap_or_default();
        match check(|name| headers.get(name).cloned(), &body, &secrets, chrono::Utc::now().timestamp()) {
            Ok(()) => ("204 No Content", ""),
            Err(reason) => ("400 Bad Request", reason),
        }
    };
    let mut stream = &stream;
    let _ = write!(stream, "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}", text.len());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliveries_are_checked_as_a_receiver_should() {
        let secret = signature::new_secret().unwrap();
        let (body, now) = (br#"{"type":"crisis.opened"}"#.as_slice(), 1_700_000_000);
        let signed = signature::sign(&secret, "msg_1", now, body).unwrap();
        let headers = |ts: i64, sig: &str| {
            let map: HashMap<&str, String> = [
                ("webhook-id", "msg_1".into()),
                ("webhook-timestamp", ts.to_string()),
                ("webhook-signature", sig.into()),
            ]
            .into();
            move |name: &str| map.get(name).cloned()
        };
        let secrets = vec![signature::new_secret().unwrap(), secret.clone()];
        assert_eq!(check(headers(now, &signed), body, &secrets, now + 60), Ok(()));
        assert!(check(headers(now, &signed), body, &secrets, now + TOLERANCE + 1).is_err(), "replayed later");
        assert!(check(headers(now, &signed), b"{}", &secrets, now).is_err(), "another body");
        assert!(check(headers(now, &signed), body, &secrets[..1], now).is_err(), "another secret");
        assert!(check(|_| None, body, &secrets, now).is_err(), "no headers");
        assert_eq!(url(&"http://127.0.0.1:8080".parse().unwrap()), "http://127.0.0.1:8080/demo/webhooks");
        assert_eq!(url(&"https://vigie.example/app/".parse().unwrap()), "https://vigie.example/app/demo/webhooks");
    }
}
