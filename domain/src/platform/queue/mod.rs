//! The job queue: one trait, two backends.
//!
//! - [`redis::RedisQueue`] (production): a Redis stream per job kind read by a consumer
//!   group; messages a crashed worker held are taken over after a visibility timeout
//!   (`XAUTOCLAIM`); retries wait in a delayed sorted set; exhausted jobs go to a
//!   dead-letter stream.
//! - [`memory::MemoryQueue`] (embedded mode and tests): the same semantics in process.
//!
//! Delivery is at least once: a job may run twice (a worker killed after the work but
//! before the acknowledgement), so every handler is idempotent.

pub mod memory;
pub mod redis;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use uuid::Uuid;

use crate::{Error, Result, new_id, now};

/// A job as it travels through the queue: a typed payload with its kind, version,
/// tenant and attempt count.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub id: Uuid,
    pub kind: String,
    /// The payload's schema version; a worker refuses versions newer than it knows.
    pub version: u32,
    /// The agency the job works for (`None` for system jobs).
    pub tenant: Option<Uuid>,
    /// Attempts already made (0 on the first run).
    pub attempt: u32,
    pub enqueued_at: DateTime<Utc>,
    pub payload: serde_json::Value,
    /// The W3C `traceparent` of the work that enqueued it: the job's span continues
    /// that trace (absent when traces are off, and in jobs from older releases).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
}

/// A typed job payload.
pub trait JobPayload: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The kind, which is also the stream the job travels on.
    const KIND: &'static str;
    /// The newest payload version this code writes and understands.
    const VERSION: u32 = 1;
    /// Runs before the job is dead-lettered.
    const MAX_ATTEMPTS: u32 = 5;
}

impl Envelope {
    /// Wraps a payload for `tenant`.
    pub fn new<J: JobPayload>(tenant: Option<Uuid>, job: &J) -> Result<Self> {
        Ok(Envelope {
            id: new_id(),
            kind: J::KIND.to_owned(),
            version: J::VERSION,
            tenant,
            attempt: 0,
            enqueued_at: now(),
            payload: serde_json::to_value(job).map_err(|e| Error::internal_from("cannot encode a job", e))?,
            trace: crate::platform::telemetry::traceparent(),
        })
    }

    /// The JSON carried by the queue.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("an envelope always serialises")
    }

    /// The same job, for its next attempt.
    pub fn next_attempt(&self) -> Self {
        Envelope { attempt: self.attempt + 1, ..self.clone() }
    }
}

/// A message handed to a worker. `envelope` is an error when the message cannot be
/// decoded; the runtime dead-letters it with that reason.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// The backend's id of the message (a stream entry id on Redis).
    pub message_id: String,
    /// The kind of the stream it came from.
    pub kind: String,
    pub raw: String,
    pub envelope: std::result::Result<Envelope, String>,
    /// How many times the message has been delivered, this time included: more than
    /// one when it was reclaimed from a consumer that never settled it.
    pub deliveries: u32,
}

impl Delivery {
    /// Decodes a raw message read from the stream of `kind`.
    pub fn decode(message_id: String, kind: &str, raw: String) -> Self {
        let envelope = match serde_json::from_str::<Envelope>(&raw) {
            Err(e) => Err(format!("undecodable job: {e}")),
            Ok(env) if env.kind != kind => Err(format!("job of kind `{}` found on the `{kind}` stream", env.kind)),
            Ok(env) => Ok(env),
        };
        Delivery { message_id, kind: kind.to_owned(), raw, envelope, deliveries: 1 }
    }
}

/// What a queue holds for one kind.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct KindStatus {
    pub kind: String,
    /// Jobs waiting or running.
    pub depth: u64,
    /// Jobs waiting for a retry.
    pub delayed: u64,
    /// Age of the oldest job waiting or running, in seconds.
    pub lag_seconds: f64,
}

/// The dead letters a backend keeps, the newest: every one is also a `job_failure` row,
/// so the backend's copy is for diagnosing recent failures and must not grow forever.
pub const DEAD_LETTERS_KEPT: usize = 1_000;

/// A job queue backend.
#[async_trait::async_trait]
pub trait Queue: Send + Sync + 'static {
    /// Makes a job available now.
    async fn enqueue(&self, job: &Envelope) -> Result<()>;
    /// Makes a job available at `at` (retries).
    async fn enqueue_at(&self, job: &Envelope, at: DateTime<Utc>) -> Result<()>;
    /// Takes up to `max` jobs of the given kinds for `consumer`, waiting up to `block`.
    async fn receive(&self, kinds: &[String], consumer: &str, max: usize, block: Duration) -> Result<Vec<Delivery>>;
    /// Takes over jobs of the given kinds that another consumer has held longer than
    /// `idle` (it crashed or hangs).
    async fn reclaim(&self, kinds: &[String], consumer: &str, idle: Duration, max: usize) -> Result<Vec<Delivery>>;
    /// Acknowledges a job: it is done and removed.
    async fn ack(&self, delivery: &Delivery) -> Result<()>;
    /// Copies a job to the dead letters with its reason (keeping the newest
    /// [`DEAD_LETTERS_KEPT`], of each kind on Redis), then acknowledges it.
    async fn dead_letter(&self, delivery: &Delivery, reason: &str) -> Result<()>;
    /// Prepares the queue to carry these kinds (creates Redis consumer groups).
    async fn prepare(&self, kinds: &[String]) -> Result<()>;
    /// Moves delayed jobs of these kinds whose time has come to their streams; returns
    /// how many.
    async fn promote_due(&self, kinds: &[String]) -> Result<usize>;
    /// Depth, delayed count and lag per kind.
    async fn status(&self, kinds: &[String]) -> Result<Vec<KindStatus>>;
    /// Takes the slot `slot` of the periodic task `name`; only one caller across the
    /// fleet gets `true`.
    async fn claim_tick(&self, name: &str, slot: i64, ttl: Duration) -> Result<bool>;
    /// Checks the backend answers.
    async fn ping(&self) -> Result<()>;
}

/// Exponential backoff with full jitter: about 1 s, 2 s, 4 s… capped at 10 minutes.
pub fn retry_delay(attempt: u32) -> Duration {
    let base = Duration::from_millis(1_000u64.saturating_mul(1u64 << attempt.min(20)).min(600_000));
    base / 2 + jitter(base / 2)
}

/// A random delay in `[0, up_to]` (millisecond steps), so that retries spread out.
pub fn jitter(up_to: Duration) -> Duration {
    let mut bytes = [0u8; 4];
    let _ = getrandom::fill(&mut bytes);
    let up_to_ms = up_to.as_millis() as u64;
    Duration::from_millis(u64::from(u32::from_le_bytes(bytes)) % (up_to_ms + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_within_bounds() {
        for attempt in 0..6 {
            let base = 1_000u64 << attempt;
            for _ in 0..50 {
                let d = retry_delay(attempt).as_millis() as u64;
                assert!(d >= base / 2 && d <= base, "attempt {attempt}: {d} ms");
            }
        }
        assert!(retry_delay(40) <= Duration::from_secs(600));
    }

    #[test]
    fn decoding_names_the_problem() {
        let bad = Delivery::decode("1-0".into(), "email", "{not json".into());
        assert!(bad.envelope.unwrap_err().contains("undecodable"));
        let env = Envelope {
            id: new_id(),
            kind: "other".into(),
            version: 1,
            tenant: None,
            attempt: 0,
            enqueued_at: now(),
            payload: serde_json::json!({}),
            trace: None,
        };
        let wrong = Delivery::decode("1-0".into(), "email", env.encode());
        assert!(wrong.envelope.unwrap_err().contains("`other`"));
    }
}
