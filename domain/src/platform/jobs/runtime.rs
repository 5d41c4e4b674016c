//! The loop that takes jobs from the queue and runs them.

use chrono::Utc;
use futures_util::FutureExt;
use sea_orm::{ActiveModelTrait, Set};
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tracing::Instrument;

use super::metrics::JobMetrics;
use super::{JobError, JobMeta, Registry};
use crate::entities::job_failure;
use crate::platform::queue::{Delivery, retry_delay};
use crate::{Services, new_id, now};

/// How a runtime behaves.
#[derive(Clone, Debug)]
pub struct RuntimeOptions {
    /// Jobs run at once by this process.
    pub concurrency: usize,
    /// A job held longer than this by a consumer is handed to another one; also the
    /// longest a job may run (it is cut off at 80 % of it, so that it is never run twice
    /// at once).
    pub visibility: Duration,
    /// How long a shutdown waits for jobs in hand before leaving them to be reclaimed.
    pub shutdown_grace: Duration,
    /// This consumer's name, unique across the fleet.
    pub consumer: String,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            concurrency: 8,
            visibility: Duration::from_secs(120),
            shutdown_grace: Duration::from_secs(20),
            consumer: format!("{}-{}", std::process::id(), new_id().simple()),
        }
    }
}

impl RuntimeOptions {
    /// The options the configuration sets (`VIGIE_WORKER_CONCURRENCY`,
    /// `VIGIE_JOB_VISIBILITY_SECS`).
    pub fn from_config(config: &crate::Config) -> Self {
        RuntimeOptions { concurrency: config.worker_concurrency, visibility: config.job_visibility, ..Self::default() }
    }
}

/// A job runtime over the services' queue.
pub struct Runtime {
    services: Arc<Services>,
    registry: Arc<Registry>,
    options: RuntimeOptions,
}

impl Runtime {
    pub fn new(services: Arc<Services>, registry: Registry, options: RuntimeOptions) -> Self {
        Runtime { services, registry: Arc::new(registry), options }
    }

    fn metrics(&self) -> &JobMetrics {
        &self.services.job_metrics
    }

    /// Runs until `shutdown` turns true (or its sender is dropped): then stops reading,
    /// waits up to the grace period for the jobs in hand, and leaves any still running
    /// to be reclaimed by another worker.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let this = Arc::new(self);
        let kinds = this.registry.kinds();
        tracing::info!(consumer = %this.options.consumer, ?kinds, concurrency = this.options.concurrency, "job runtime started");
        let mut delay = Duration::from_millis(100);
        while let Err(error) = this.services.queue.prepare(&kinds).await {
            tracing::warn!(error = %crate::platform::error::chain(&error), "queue not ready; retrying");
            if wait_or_stop(&mut shutdown, delay).await {
                return;
            }
            delay = (delay * 2).min(Duration::from_secs(5));
        }
        let permits = Arc::new(Semaphore::new(this.options.concurrency));
        let mut tasks = JoinSet::new();
        let maintenance = tokio::spawn(this.clone().maintain(kinds.clone(), shutdown.clone()));
        let mut backoff = Duration::from_millis(100);
        let reclaim_every = (this.options.visibility / 4).max(Duration::from_millis(250));
        let mut last_reclaim = tokio::time::Instant::now();
        loop {
            if *shutdown.borrow() {
                break;
            }
            // Wait for a free slot (or the stop signal) before reading, so that a busy
            // worker leaves new jobs to idle ones.
            let first = tokio::select! {
                permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
                _ = shutdown.changed() => break,
            };
            let mut slots = vec![first];
            while let Ok(permit) = permits.clone().try_acquire_owned() {
                slots.push(permit);
            }
            // Jobs a crashed or hung consumer held past the visibility timeout come
            // first; checked here, with the free slots in hand, so an idle worker
            // always takes them over.
            let received = if last_reclaim.elapsed() >= reclaim_every {
                last_reclaim = tokio::time::Instant::now();
                match this
                    .services
                    .queue
                    .reclaim(&kinds, &this.options.consumer, this.options.visibility, slots.len())
                    .await
                {
                    Ok(reclaimed) if !reclaimed.is_empty() => {
                        tracing::info!(count = reclaimed.len(), "took over jobs from an unresponsive worker");
                        Ok(Some(reclaimed))
                    }
                    Ok(_) => this.receive(&kinds, slots.len(), &mut shutdown).await,
                    Err(e) => Err(e),
                }
            } else {
                this.receive(&kinds, slots.len(), &mut shutdown).await
            };
            let Some(received) = received.transpose() else { break };
            match received {
                Ok(deliveries) => {
                    backoff = Duration::from_millis(100);
                    for delivery in deliveries {
                        let permit = slots.pop().expect("never more deliveries than slots");
                        let this = this.clone();
                        tasks.spawn(async move {
                            this.process(delivery).await;
                            drop(permit);
                        });
                    }
                }
                Err(error) => {
                    tracing::warn!(error = %crate::platform::error::chain(&error), "cannot read the queue; retrying");
                    drop(slots);
                    if wait_or_stop(&mut shutdown, backoff).await {
                        break;
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
            while tasks.try_join_next().is_some() {}
        }
        tracing::info!(in_hand = tasks.len(), "job runtime stopping");
        let drained =
            tokio::time::timeout(this.options.shutdown_grace, async { while tasks.join_next().await.is_some() {} })
                .await;
        if drained.is_err() {
            tracing::warn!(left = tasks.len(), "jobs still running at the deadline are left for other workers");
            tasks.abort_all();
        }
        maintenance.abort();
        tracing::info!("job runtime stopped");
    }

    /// Reads new jobs; `Ok(None)` when told to stop while waiting.
    async fn receive(
        &self,
        kinds: &[String],
        max: usize,
        shutdown: &mut watch::Receiver<bool>,
    ) -> crate::Result<Option<Vec<Delivery>>> {
        tokio::select! {
            received = self.services.queue.receive(kinds, &self.options.consumer, max, Duration::from_secs(1)) => received.map(Some),
            _ = shutdown.changed() => Ok(None),
        }
    }

    /// Promotes due retries, fires periodic tasks and samples queue metrics.
    async fn maintain(self: Arc<Self>, kinds: Vec<String>, mut shutdown: watch::Receiver<bool>) {
        let queue = &self.services.queue;
        let mut last_slot: HashMap<&'static str, i64> = HashMap::new();
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        let mut last_sample = tokio::time::Instant::now() - Duration::from_secs(10);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.changed() => return,
            }
            if let Err(error) = queue.promote_due(&kinds).await {
                tracing::warn!(error = %crate::platform::error::chain(&error), "cannot promote delayed jobs");
            }
            for schedule in self.registry.schedules() {
                let every_ms = schedule.every.as_millis().max(1) as i64;
                let slot = Utc::now().timestamp_millis() / every_ms;
                if last_slot.get(schedule.name).is_some_and(|last| *last >= slot) {
                    continue;
                }
                last_slot.insert(schedule.name, slot);
                match queue.claim_tick(schedule.name, slot, schedule.every * 2).await {
                    Ok(true) => match (schedule.make)(slot) {
                        Ok(job) => {
                            if let Err(error) = queue.enqueue(&job).await {
                                tracing::warn!(error = %crate::platform::error::chain(&error), task = schedule.name, "cannot enqueue a periodic job");
                            }
                        }
                        Err(error) => {
                            tracing::error!(error = %crate::platform::error::chain(&error), task = schedule.name, "cannot build a periodic job")
                        }
                    },
                    Ok(false) => {}
                    Err(error) => {
                        // Try this slot again on the next tick.
                        last_slot.remove(schedule.name);
                        tracing::warn!(error = %crate::platform::error::chain(&error), task = schedule.name, "cannot claim a periodic slot");
                    }
                }
            }
            if last_sample.elapsed() >= Duration::from_secs(5) {
                last_sample = tokio::time::Instant::now();
                if let Ok(statuses) = queue.status(&kinds).await {
                    for status in statuses {
                        let label = JobMetrics::label(&status.kind);
                        self.metrics().depth.get_or_create(&label).set(status.depth as i64);
                        self.metrics().delayed.get_or_create(&label).set(status.delayed as i64);
                        self.metrics().lag_seconds.get_or_create(&label).set(status.lag_seconds);
                    }
                }
            }
        }
    }

    /// Runs one delivery to its outcome: acknowledged, retried later, or dead-lettered.
    async fn process(&self, delivery: Delivery) {
        let label = JobMetrics::label(&delivery.kind);
        if delivery.deliveries > MAX_DELIVERIES {
            // Each earlier delivery ended without an outcome: the job crashed or hung its
            // worker every time, and would go on doing so.
            let reason = format!(
                "delivered {} times without finishing: it crashed or stalled its worker each time",
                delivery.deliveries - 1
            );
            let tenant = delivery.envelope.as_ref().ok().and_then(|e| e.tenant);
            let attempts = delivery.envelope.as_ref().map_or(0, |e| e.attempt);
            return self.bury(&delivery, tenant, reason, attempts).await;
        }
        let envelope = match &delivery.envelope {
            Ok(envelope) => envelope.clone(),
            Err(reason) => return self.bury(&delivery, None, reason.clone(), 0).await,
        };
        let Some(entry) = self.registry.get(&envelope.kind) else {
            return self
                .bury(&delivery, envelope.tenant, format!("unknown job kind `{}`", envelope.kind), envelope.attempt)
                .await;
        };
        if envelope.version > entry.version {
            let reason = format!(
                "payload version {} is newer than this worker understands ({}); deploy the new worker, then retry",
                envelope.version, entry.version
            );
            return self.bury(&delivery, envelope.tenant, reason, envelope.attempt).await;
        }
        let meta = JobMeta { id: envelope.id, tenant: envelope.tenant, attempt: envelope.attempt };
        let limit = self.options.visibility.mul_f64(0.8);
        self.metrics().in_flight.get_or_create(&label).inc();
        // A panic is the job's failure, not the worker's: caught, it is retried and
        // dead-lettered like any other rather than redelivered for ever.
        let span =
            tracing::info_span!("job", otel.name = %envelope.kind, job = %envelope.id, attempt = envelope.attempt);
        crate::platform::telemetry::continue_trace(&span, envelope.trace.as_deref());
        let running = AssertUnwindSafe(entry.run(self.services.clone(), meta, envelope.payload.clone()))
            .catch_unwind()
            .instrument(span);
        let outcome = match tokio::time::timeout(limit, running).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(panic)) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|m| (*m).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "no message".into());
                tracing::error!(kind = %envelope.kind, job = %envelope.id, %message, "a job panicked");
                Err(JobError::Retry(format!("the job panicked: {message}")))
            }
            Err(_) => Err(JobError::Retry(format!("timed out after {limit:?}"))),
        };
        self.metrics().in_flight.get_or_create(&label).dec();
        // What to run again, and when; `None` when the job is done.
        let again = match outcome {
            Ok(()) => {
                self.metrics().done.get_or_create(&label).inc();
                None
            }
            Err(JobError::Unavailable(reason)) => {
                let delay = OUTAGE_RETRY / 2 + crate::platform::queue::jitter(OUTAGE_RETRY / 2);
                tracing::info!(kind = %envelope.kind, job = %envelope.id, ?delay, %reason, "dependency down; job will run again");
                Some((envelope.clone(), delay))
            }
            Err(JobError::Retry(reason)) if envelope.attempt + 1 < entry.max_attempts => {
                let delay = retry_delay(envelope.attempt);
                tracing::info!(kind = %envelope.kind, job = %envelope.id, attempt = envelope.attempt + 1, ?delay, %reason, "job failed; will retry");
                Some((envelope.next_attempt(), delay))
            }
            Err(JobError::Retry(reason)) => {
                let reason = format!("gave up after {} attempts: {reason}", envelope.attempt + 1);
                return self.bury(&delivery, envelope.tenant, reason, envelope.attempt + 1).await;
            }
            Err(JobError::Fail(reason)) => {
                return self.bury(&delivery, envelope.tenant, reason, envelope.attempt + 1).await;
            }
        };
        let queue = &self.services.queue;
        let result = match again {
            None => queue.ack(&delivery).await,
            Some((next, delay)) => {
                self.metrics().retried.get_or_create(&label).inc();
                // The retry is stored before the acknowledgement: a crash in between
                // runs the job twice rather than never.
                let at = now() + chrono::Duration::from_std(delay).unwrap_or_default();
                match queue.enqueue_at(&next, at).await {
                    Ok(()) => queue.ack(&delivery).await,
                    Err(e) => Err(e),
                }
            }
        };
        if let Err(error) = result {
            // The job stays pending and is reclaimed after the visibility timeout.
            tracing::warn!(error = %crate::platform::error::chain(&error), kind = %delivery.kind, "cannot settle a job; it will be delivered again");
        }
    }

    /// Dead-letters a job: a `job_failure` row for admins, then the dead-letter stream.
    async fn bury(&self, delivery: &Delivery, tenant: Option<uuid::Uuid>, reason: String, attempts: u32) {
        tracing::warn!(kind = %delivery.kind, message = %delivery.message_id, %reason, "job dead-lettered");
        self.metrics().failed.get_or_create(&JobMetrics::label(&delivery.kind)).inc();
        let payload = serde_json::from_str::<serde_json::Value>(&delivery.raw)
            .unwrap_or_else(|_| serde_json::Value::String(delivery.raw.clone()));
        let job_id =
            delivery.envelope.as_ref().map(|e| e.id.to_string()).unwrap_or_else(|_| delivery.message_id.clone());
        let row = job_failure::ActiveModel {
            id: Set(new_id()),
            agency_id: Set(tenant),
            job_id: Set(job_id),
            kind: Set(delivery.kind.clone()),
            payload: Set(payload),
            error: Set(reason.clone()),
            attempts: Set(attempts as i32),
            failed_at: Set(now()),
            resolved_at: Set(None),
            resolution: Set(None),
        };
        if let Err(error) = row.insert(&self.services.db).await {
            tracing::error!(error = %crate::platform::error::chain(&error), "cannot record a job failure; the job stays pending and will be retried");
            return;
        }
        if let Err(error) = self.services.queue.dead_letter(delivery, &reason).await {
            tracing::warn!(error = %crate::platform::error::chain(&error), "cannot move a job to the dead letters; it will be delivered again");
        }
    }
}

/// Deliveries of one message without an outcome before it is dead-lettered.
pub const MAX_DELIVERIES: u32 = 5;

/// How long a job waits when a dependency is down (half of it, plus up to half as
/// jitter, so that the jobs of an outage do not all come back at once).
const OUTAGE_RETRY: Duration = Duration::from_secs(5);

/// Sleeps `delay` unless told to stop first; returns whether to stop.
async fn wait_or_stop(shutdown: &mut watch::Receiver<bool>, delay: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(delay) => *shutdown.borrow(),
        _ = shutdown.changed() => true,
    }
}
