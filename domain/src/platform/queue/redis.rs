//! The Redis Streams backend, on one server or on a Redis Cluster.
//!
//! Each kind's keys share a hash tag, so the scripts and transactions below, which
//! touch one kind at a time, stay in one slot. On one server the tag is the prefix
//! (`{prefix}`), so a worker reads all its kinds in one blocking `XREADGROUP`; on a
//! cluster it is the prefix and the kind (`{prefix:kind}`), so kinds spread over the
//! shards and a worker reads each kind apart, polling (see [`RedisQueue::receive`]).
//! - `<tag>:stream:<kind>`: the jobs of a kind, read by the consumer group `workers`;
//!   entries are deleted once acknowledged, so the length is the depth;
//! - `<tag>:delayed:<kind>`: jobs waiting for a retry, scored by due time (ms);
//! - `<tag>:dead:<kind>`: the kind's dead letters (reason, raw job), its newest
//!   [`DEAD_LETTERS_KEPT`] entries; beside the stream, so a job moves there in one
//!   transaction;
//! - `{prefix}:tick:<name>:<slot>`: `SET NX` markers of periodic tasks.
//!
//! Redis without persistence forgets consumer groups when it restarts; reads that fail
//! with `NOGROUP` recreate the group and try again. Connection loss is retried by the
//! connection with backoff; callers see an error, never a panic.

use chrono::{DateTime, Utc};
use redis::streams::{
    StreamAutoClaimOptions, StreamAutoClaimReply, StreamId, StreamMaxlen, StreamRangeReply, StreamReadOptions,
    StreamReadReply,
};
use redis::{AsyncCommands, Script};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{DEAD_LETTERS_KEPT, Delivery, Envelope, KindStatus, Queue};
use crate::platform::redis_client::{Connection, Patience, Redis};
use crate::{Error, Result};

const GROUP: &str = "workers";
const FIELD: &str = "job";

/// Moves due jobs of one kind from its delayed set to its stream, atomically (so two
/// workers never promote one job twice).
const PROMOTE: &str = r#"
local items = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, raw in ipairs(items) do
  redis.call('XADD', KEYS[2], '*', 'job', raw)
  redis.call('ZREM', KEYS[1], raw)
end
return #items
"#;

/// A [`Queue`] on Redis Streams.
#[derive(Clone)]
pub struct RedisQueue {
    prefix: String,
    /// A cluster: keys tagged per kind, and kinds read one by one.
    spread: bool,
    commands: Connection,
    /// Blocking reads get their own connection so they do not hold up other commands.
    reads: Connection,
    promote: Script,
    /// Messages read past `max`, per consumer. `XREADGROUP` and `XAUTOCLAIM` count per
    /// stream, so reading several kinds at once can bring more than the caller asked
    /// for; the extra ones (already in this consumer's pending list, so a crash loses
    /// nothing) are handed out first by the next calls.
    overflow: Arc<Mutex<HashMap<String, VecDeque<Delivery>>>>,
}

fn queue_err(e: redis::RedisError) -> Error {
    Error::internal_from("redis", e)
}

impl RedisQueue {
    /// Connects to `redis`; `prefix` names the key space (tests use one per test).
    pub async fn connect(redis: &Redis, prefix: &str) -> Result<Self> {
        let commands = redis.connect(Patience::STEADY).await.map_err(queue_err)?;
        // A blocking read waits up to the worker's poll interval before it answers.
        let reads = redis
            .connect(Patience { response: Duration::from_secs(15), ..Patience::STEADY })
            .await
            .map_err(queue_err)?;
        Ok(RedisQueue {
            prefix: prefix.to_owned(),
            spread: redis.is_cluster(),
            commands,
            reads,
            promote: Script::new(PROMOTE),
            overflow: Default::default(),
        })
    }

    /// Returns at most `max` of `deliveries` and keeps the rest for `consumer`'s next call.
    fn at_most(&self, consumer: &str, max: usize, mut deliveries: Vec<Delivery>) -> Vec<Delivery> {
        if deliveries.len() > max {
            let extra = deliveries.split_off(max);
            let mut overflow = self.overflow.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            overflow.entry(consumer.to_owned()).or_default().extend(extra);
        }
        deliveries
    }

    /// Up to `max` messages read earlier past a caller's `max`.
    fn take_overflow(&self, consumer: &str, max: usize) -> Vec<Delivery> {
        let mut overflow = self.overflow.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(held) = overflow.get_mut(consumer) else { return Vec::new() };
        let taken: Vec<Delivery> = held.drain(..max.min(held.len())).collect();
        if held.is_empty() {
            overflow.remove(consumer);
        }
        taken
    }

    /// The hash tag of a kind's keys (see the module doc).
    fn tag(&self, kind: &str) -> String {
        if self.spread { format!("{{{}:{kind}}}", self.prefix) } else { format!("{{{}}}", self.prefix) }
    }

    fn stream(&self, kind: &str) -> String {
        format!("{}:stream:{kind}", self.tag(kind))
    }

    fn delayed(&self, kind: &str) -> String {
        format!("{}:delayed:{kind}", self.tag(kind))
    }

    fn dead(&self, kind: &str) -> String {
        format!("{}:dead:{kind}", self.tag(kind))
    }

    fn kind_of<'a>(&self, key: &'a str) -> &'a str {
        key.rsplit_once(":stream:").map(|(_, kind)| kind).unwrap_or(key)
    }

    /// Creates the consumer group of each kind's stream (idempotent).
    async fn ensure_groups(&self, kinds: &[String]) -> Result<()> {
        let mut conn = self.commands.clone();
        for kind in kinds {
            let created: redis::RedisResult<()> = conn.xgroup_create_mkstream(self.stream(kind), GROUP, "0").await;
            if let Err(e) = created
                && e.code() != Some("BUSYGROUP")
            {
                return Err(queue_err(e));
            }
        }
        Ok(())
    }

    fn deliveries(&self, kind: &str, entries: Vec<StreamId>) -> Vec<Delivery> {
        entries
            .into_iter()
            .map(|entry| {
                let raw: String = entry.get(FIELD).unwrap_or_default();
                Delivery::decode(entry.id, kind, raw)
            })
            .collect()
    }

    /// How many times a pending message has been delivered (`XAUTOCLAIM` counts its
    /// claims there, but answers only the entries).
    async fn delivery_count(&self, kind: &str, message_id: &str) -> Result<u32> {
        let mut conn = self.commands.clone();
        let pending: Vec<(String, String, u64, u64)> = redis::cmd("XPENDING")
            .arg(self.stream(kind))
            .arg(GROUP)
            .arg(message_id)
            .arg(message_id)
            .arg(1)
            .query_async(&mut conn)
            .await
            .map_err(queue_err)?;
        Ok(pending.first().map_or(1, |(_, _, _, count)| u32::try_from(*count).unwrap_or(u32::MAX)))
    }

    /// Adds a raw message to a kind's stream (tests use it to inject garbage).
    pub async fn push_raw(&self, kind: &str, raw: &str) -> Result<()> {
        let mut conn = self.commands.clone();
        let _: String = conn.xadd(self.stream(kind), "*", &[(FIELD, raw)]).await.map_err(queue_err)?;
        Ok(())
    }

    /// The dead letters of `kinds`, oldest first: (kind, reason, raw job).
    pub async fn dead_letters(&self, kinds: &[String]) -> Result<Vec<(String, String, String)>> {
        let mut conn = self.commands.clone();
        let mut letters = Vec::new();
        for kind in kinds {
            let reply: StreamRangeReply = conn.xrange_all(self.dead(kind)).await.map_err(queue_err)?;
            letters.extend(reply.ids.into_iter().map(|e| {
                let at =
                    e.id.split_once('-')
                        .and_then(|(ms, seq)| Some((ms.parse::<u64>().ok()?, seq.parse::<u64>().ok()?)));
                (at, (kind.clone(), e.get("reason").unwrap_or_default(), e.get(FIELD).unwrap_or_default()))
            }));
        }
        letters.sort_by_key(|(at, _)| *at);
        Ok(letters.into_iter().map(|(_, letter)| letter).collect())
    }

    /// One `XREADGROUP` over `kinds` (their streams share a slot), blocking up to
    /// `block` when it is given.
    async fn read(
        &self,
        kinds: &[String],
        consumer: &str,
        max: usize,
        block: Option<Duration>,
    ) -> redis::RedisResult<StreamReadReply> {
        let keys: Vec<String> = kinds.iter().map(|k| self.stream(k)).collect();
        let ids: Vec<&str> = kinds.iter().map(|_| ">").collect();
        let mut options = StreamReadOptions::default().group(GROUP, consumer).count(max);
        if let Some(block) = block {
            options = options.block(block.as_millis() as usize);
        }
        let mut conn = self.reads.clone();
        conn.xread_options(&keys, &ids, &options).await
    }

    /// [`RedisQueue::read`] that recreates a missing consumer group and tries again.
    async fn read_grouped(
        &self,
        kinds: &[String],
        consumer: &str,
        max: usize,
        block: Option<Duration>,
    ) -> Result<Vec<Delivery>> {
        let reply = match self.read(kinds, consumer, max, block).await {
            Err(e) if e.code() == Some("NOGROUP") => {
                tracing::warn!("consumer group missing (Redis restarted?); recreating it");
                self.ensure_groups(kinds).await?;
                self.read(kinds, consumer, max, block).await
            }
            other => other,
        }
        .map_err(queue_err)?;
        Ok(reply.keys.into_iter().flat_map(|key| self.deliveries(self.kind_of(&key.key), key.ids)).collect())
    }

    /// On a cluster each kind's stream sits in its own slot, and a blocking read would
    /// hold up the node's shared connection: every kind is read at once without
    /// blocking, then again after a pause that grows to [`POLL_PAUSE_MAX`] while
    /// nothing comes, until `block` has passed. A shard that fails holds up only its
    /// own kinds: what the others gave is handed out (it is already claimed), and the
    /// call fails only when every read did.
    async fn poll_each(&self, kinds: &[String], consumer: &str, max: usize, block: Duration) -> Result<Vec<Delivery>> {
        let deadline = Instant::now() + block;
        let mut pause = Duration::from_millis(5);
        loop {
            let reads = kinds.iter().map(|kind| self.read_grouped(std::slice::from_ref(kind), consumer, max, None));
            let mut deliveries = Vec::new();
            let mut failed = None;
            for (kind, read) in kinds.iter().zip(futures_util::future::join_all(reads).await) {
                match read {
                    Ok(read) => deliveries.extend(read),
                    Err(error) => {
                        tracing::warn!(error = %crate::platform::error::chain(&error), kind, "cannot read a kind's jobs");
                        failed = Some(error);
                    }
                }
            }
            if let Some(error) = failed
                && deliveries.is_empty()
            {
                return Err(error);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if !deliveries.is_empty() || left.is_zero() {
                return Ok(deliveries);
            }
            tokio::time::sleep(pause.min(left)).await;
            pause = (pause * 2).min(POLL_PAUSE_MAX);
        }
    }
}

/// The longest pause between two polls of an idle cluster: the most a job waits for an
/// idle worker to notice it, for a few cheap reads per kind and second.
const POLL_PAUSE_MAX: Duration = Duration::from_millis(100);

#[async_trait::async_trait]
impl Queue for RedisQueue {
    async fn enqueue(&self, job: &Envelope) -> Result<()> {
        self.push_raw(&job.kind, &job.encode()).await
    }

    async fn enqueue_at(&self, job: &Envelope, at: DateTime<Utc>) -> Result<()> {
        let mut conn = self.commands.clone();
        let _: i64 =
            conn.zadd(self.delayed(&job.kind), job.encode(), at.timestamp_millis()).await.map_err(queue_err)?;
        Ok(())
    }

    async fn receive(&self, kinds: &[String], consumer: &str, max: usize, block: Duration) -> Result<Vec<Delivery>> {
        let held = self.take_overflow(consumer, max);
        if !held.is_empty() {
            return Ok(held);
        }
        let deliveries = if self.spread {
            self.poll_each(kinds, consumer, max, block).await?
        } else {
            self.read_grouped(kinds, consumer, max, Some(block)).await?
        };
        Ok(self.at_most(consumer, max, deliveries))
    }

    async fn reclaim(&self, kinds: &[String], consumer: &str, idle: Duration, max: usize) -> Result<Vec<Delivery>> {
        let mut conn = self.commands.clone();
        let mut out = Vec::new();
        for kind in kinds {
            let options = StreamAutoClaimOptions::default().count(max);
            let reply: redis::RedisResult<StreamAutoClaimReply> = conn
                .xautoclaim_options(self.stream(kind), GROUP, consumer, idle.as_millis() as u64, "0-0", options)
                .await;
            match reply {
                Ok(reply) => {
                    let mut claimed = self.deliveries(kind, reply.claimed);
                    for delivery in &mut claimed {
                        // A claimed message must not be dropped for want of its count.
                        delivery.deliveries = match self.delivery_count(kind, &delivery.message_id).await {
                            Ok(count) => count,
                            Err(error) => {
                                tracing::warn!(error = %crate::platform::error::chain(&error), "cannot read a reclaimed job's delivery count");
                                1
                            }
                        };
                    }
                    out.extend(claimed);
                }
                Err(e) if e.code() == Some("NOGROUP") => self.ensure_groups(std::slice::from_ref(kind)).await?,
                Err(e) => return Err(queue_err(e)),
            }
        }
        Ok(self.at_most(consumer, max, out))
    }

    async fn ack(&self, delivery: &Delivery) -> Result<()> {
        let stream = self.stream(&delivery.kind);
        let mut conn = self.commands.clone();
        redis::pipe()
            .atomic()
            .xack(&stream, GROUP, &[&delivery.message_id])
            .xdel(&stream, &[&delivery.message_id])
            .query_async::<()>(&mut conn)
            .await
            .map_err(queue_err)
    }

    async fn dead_letter(&self, delivery: &Delivery, reason: &str) -> Result<()> {
        let stream = self.stream(&delivery.kind);
        let mut conn = self.commands.clone();
        // One transaction: the dead-letter copy exists before the job leaves its stream
        // (the two keys share the kind's hash tag). Exact trimming: dead letters are rare,
        // and the bound is then the documented one.
        redis::pipe()
            .atomic()
            .xadd_maxlen(
                self.dead(&delivery.kind),
                StreamMaxlen::Equals(DEAD_LETTERS_KEPT),
                "*",
                &[("reason", reason), (FIELD, delivery.raw.as_str()), ("message_id", delivery.message_id.as_str())],
            )
            .xack(&stream, GROUP, &[&delivery.message_id])
            .xdel(&stream, &[&delivery.message_id])
            .query_async::<()>(&mut conn)
            .await
            .map_err(queue_err)
    }

    async fn prepare(&self, kinds: &[String]) -> Result<()> {
        self.ensure_groups(kinds).await
    }

    async fn promote_due(&self, kinds: &[String]) -> Result<usize> {
        let mut conn = self.commands.clone();
        let now = Utc::now().timestamp_millis();
        let mut moved = 0;
        for kind in kinds {
            let count: usize = self
                .promote
                .key(self.delayed(kind))
                .key(self.stream(kind))
                .arg(now)
                .arg(500)
                .invoke_async(&mut conn)
                .await
                .map_err(queue_err)?;
            moved += count;
        }
        Ok(moved)
    }

    async fn status(&self, kinds: &[String]) -> Result<Vec<KindStatus>> {
        let mut conn = self.commands.clone();
        let mut out = Vec::new();
        for kind in kinds {
            let (depth, delayed, oldest): (u64, u64, StreamRangeReply) = redis::pipe()
                .xlen(self.stream(kind))
                .zcard(self.delayed(kind))
                .xrange_count(self.stream(kind), "-", "+", 1)
                .query_async(&mut conn)
                .await
                .map_err(queue_err)?;
            let lag_seconds = oldest
                .ids
                .first()
                .and_then(|e| e.id.split('-').next()?.parse::<i64>().ok())
                .map(|ms| ((Utc::now().timestamp_millis() - ms).max(0)) as f64 / 1000.0)
                .unwrap_or(0.0);
            out.push(KindStatus { kind: kind.clone(), depth, delayed, lag_seconds });
        }
        Ok(out)
    }

    async fn claim_tick(&self, name: &str, slot: i64, ttl: Duration) -> Result<bool> {
        let mut conn = self.commands.clone();
        let key = format!("{{{}}}:tick:{name}:{slot}", self.prefix);
        let set: Option<String> = redis::cmd("SET")
            .arg(&key)
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(ttl.as_millis().max(1) as u64)
            .query_async(&mut conn)
            .await
            .map_err(queue_err)?;
        Ok(set.is_some())
    }

    async fn ping(&self) -> Result<()> {
        let mut conn = self.commands.clone();
        redis::cmd("PING").query_async::<String>(&mut conn).await.map_err(queue_err)?;
        Ok(())
    }
}
