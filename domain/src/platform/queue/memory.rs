//! The in-process queue of the embedded mode and of unit tests: the Redis backend's
//! semantics (visibility timeout, delayed retries, dead letters, tick slots) in memory.
//! It lives as long as the process; the embedded mode accepts that, since its api and
//! workers share the process (the outbox tables keep what must survive a restart).

use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

use super::{DEAD_LETTERS_KEPT, Delivery, Envelope, KindStatus, Queue};
use crate::{Result, now};

#[derive(Default)]
struct State {
    next_id: u64,
    ready: HashMap<String, VecDeque<(String, String)>>,
    /// Delivered, not yet acknowledged: message id → (kind, raw, consumer, since,
    /// deliveries).
    in_flight: HashMap<String, (String, String, String, Instant, u32)>,
    /// Due time → raw jobs (with their kinds).
    delayed: BTreeMap<(DateTime<Utc>, u64), (String, String)>,
    /// The most recent dead letters (the `job_failure` table keeps them all).
    dead: VecDeque<(Delivery, String)>,
    /// The last slot taken per periodic task.
    ticks: HashMap<String, i64>,
    first_seen: HashMap<String, Instant>,
}

/// An in-process [`Queue`].
#[derive(Default)]
pub struct MemoryQueue {
    state: Mutex<State>,
    arrived: Notify,
}

impl MemoryQueue {
    pub fn new() -> Self {
        Self::default()
    }

    /// The dead-lettered jobs and their reasons (for tests and diagnostics).
    pub fn dead_letters(&self) -> Vec<(Delivery, String)> {
        self.state().dead.iter().cloned().collect()
    }

    /// Pushes a raw message on a kind's stream (tests use it to inject garbage).
    pub fn push_raw(&self, kind: &str, raw: &str) {
        let mut state = self.state();
        let id = state.next_message_id();
        state.ready.entry(kind.to_owned()).or_default().push_back((id.clone(), raw.to_owned()));
        state.first_seen.insert(id, Instant::now());
        drop(state);
        self.arrived.notify_waiters();
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn take(&self, kinds: &[String], consumer: &str, max: usize) -> Vec<Delivery> {
        let mut state = self.state();
        let mut out = Vec::new();
        for kind in kinds {
            while out.len() < max {
                let Some((id, raw)) = state.ready.get_mut(kind).and_then(VecDeque::pop_front) else { break };
                state.in_flight.insert(id.clone(), (kind.clone(), raw.clone(), consumer.to_owned(), Instant::now(), 1));
                out.push(Delivery::decode(id, kind, raw));
            }
        }
        out
    }
}

impl State {
    fn next_message_id(&mut self) -> String {
        self.next_id += 1;
        format!("{}-0", self.next_id)
    }
}

#[async_trait::async_trait]
impl Queue for MemoryQueue {
    async fn enqueue(&self, job: &Envelope) -> Result<()> {
        self.push_raw(&job.kind, &job.encode());
        Ok(())
    }

    async fn enqueue_at(&self, job: &Envelope, at: DateTime<Utc>) -> Result<()> {
        let mut state = self.state();
        state.next_id += 1;
        let seq = state.next_id;
        state.delayed.insert((at, seq), (job.kind.clone(), job.encode()));
        Ok(())
    }

    async fn receive(&self, kinds: &[String], consumer: &str, max: usize, block: Duration) -> Result<Vec<Delivery>> {
        let deadline = Instant::now() + block;
        loop {
            let notified = self.arrived.notified();
            let taken = self.take(kinds, consumer, max);
            if !taken.is_empty() || Instant::now() >= deadline {
                return Ok(taken);
            }
            let _ = tokio::time::timeout(deadline - Instant::now(), notified).await;
        }
    }

    async fn reclaim(&self, kinds: &[String], consumer: &str, idle: Duration, max: usize) -> Result<Vec<Delivery>> {
        let mut state = self.state();
        let stale: Vec<String> = state
            .in_flight
            .iter()
            .filter(|(_, (kind, _, _, since, _))| kinds.contains(kind) && since.elapsed() >= idle)
            .map(|(id, _)| id.clone())
            .take(max)
            .collect();
        let mut out = Vec::new();
        for id in stale {
            if let Some(entry) = state.in_flight.get_mut(&id) {
                entry.2 = consumer.to_owned();
                entry.3 = Instant::now();
                entry.4 += 1;
                let mut delivery = Delivery::decode(id.clone(), &entry.0.clone(), entry.1.clone());
                delivery.deliveries = entry.4;
                out.push(delivery);
            }
        }
        Ok(out)
    }

    async fn ack(&self, delivery: &Delivery) -> Result<()> {
        let mut state = self.state();
        state.in_flight.remove(&delivery.message_id);
        state.first_seen.remove(&delivery.message_id);
        Ok(())
    }

    async fn dead_letter(&self, delivery: &Delivery, reason: &str) -> Result<()> {
        {
            let mut state = self.state();
            if state.dead.len() >= DEAD_LETTERS_KEPT {
                state.dead.pop_front();
            }
            state.dead.push_back((delivery.clone(), reason.to_owned()));
        }
        self.ack(delivery).await
    }

    async fn prepare(&self, _kinds: &[String]) -> Result<()> {
        Ok(())
    }

    async fn promote_due(&self, kinds: &[String]) -> Result<usize> {
        let due: Vec<(String, String)> = {
            let mut state = self.state();
            let now = now();
            let keys: Vec<_> = state
                .delayed
                .range(..=(now, u64::MAX))
                .filter(|(_, (kind, _))| kinds.contains(kind))
                .map(|(k, _)| *k)
                .collect();
            keys.into_iter().filter_map(|k| state.delayed.remove(&k)).collect()
        };
        for (kind, raw) in &due {
            self.push_raw(kind, raw);
        }
        Ok(due.len())
    }

    async fn status(&self, kinds: &[String]) -> Result<Vec<KindStatus>> {
        let state = self.state();
        Ok(kinds
            .iter()
            .map(|kind| {
                let ready = state
                    .ready
                    .get(kind)
                    .map(|q| q.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>())
                    .unwrap_or_default();
                let running: Vec<String> =
                    state.in_flight.iter().filter(|(_, v)| &v.0 == kind).map(|(id, _)| id.clone()).collect();
                let oldest = ready
                    .iter()
                    .chain(running.iter())
                    .filter_map(|id| state.first_seen.get(id))
                    .map(|t| t.elapsed().as_secs_f64())
                    .fold(0.0, f64::max);
                KindStatus {
                    kind: kind.clone(),
                    depth: (ready.len() + running.len()) as u64,
                    delayed: state.delayed.values().filter(|(k, _)| k == kind).count() as u64,
                    lag_seconds: oldest,
                }
            })
            .collect())
    }

    async fn claim_tick(&self, name: &str, slot: i64, _ttl: Duration) -> Result<bool> {
        let mut state = self.state();
        let last = state.ticks.entry(name.to_owned()).or_insert(i64::MIN);
        if slot > *last {
            *last = slot;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    async fn ping(&self) -> Result<()> {
        Ok(())
    }
}
