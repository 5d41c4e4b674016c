//! The job runtime shared by the worker binary and the embedded mode: a registry of
//! typed handlers, the loop that runs them with bounded concurrency, retries with
//! backoff, dead letters, and periodic tasks that run once per slot across the fleet.

pub mod failures;
pub mod metrics;
mod runtime;

pub use runtime::{Runtime, RuntimeOptions};

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

use crate::System;
use crate::platform::queue::{Envelope, JobPayload};
use crate::{Error, Result, Services};

/// How a job failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// A passing failure (network, database): try again later.
    #[error("{0}")]
    Retry(String),
    /// The job can never succeed (bad payload, missing target): dead-letter it now.
    #[error("{0}")]
    Fail(String),
    /// A dependency (the database) is down: try again later without using up an
    /// attempt, however long the outage; the job is not at fault.
    #[error("{0}")]
    Unavailable(String),
}

impl From<Error> for JobError {
    fn from(e: Error) -> Self {
        match e {
            Error::Unavailable(reason) => JobError::Unavailable(reason),
            e if e.is_internal() => {
                // The failure is shown to the agency's managers: its cause (SQL, hosts)
                // goes to the log only.
                tracing::warn!(error = %e.chain(), "a job's work failed");
                JobError::Retry(e.to_string())
            }
            e => JobError::Fail(e.to_string()),
        }
    }
}

/// What a handler knows about the job it runs.
#[derive(Clone, Debug)]
pub struct JobMeta {
    pub id: Uuid,
    pub tenant: Option<Uuid>,
    /// Attempts already made (0 on the first run).
    pub attempt: u32,
}

type BoxFuture = Pin<Box<dyn Future<Output = Result<(), JobError>> + Send>>;
type HandlerFn = dyn Fn(Arc<Services>, JobMeta, serde_json::Value) -> BoxFuture + Send + Sync;

pub(crate) struct Entry {
    pub version: u32,
    pub max_attempts: u32,
    run: Arc<HandlerFn>,
}

/// The job kinds a runtime handles.
#[derive(Default, Clone)]
pub struct Registry {
    entries: HashMap<&'static str, Arc<Entry>>,
    schedules: Vec<Schedule>,
}

impl Registry {
    /// Registers the handler of a job kind. Handlers must be idempotent: delivery is at
    /// least once.
    pub fn register<J, F, Fut>(&mut self, handler: F) -> &mut Self
    where
        J: JobPayload,
        F: Fn(Arc<Services>, JobMeta, J) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), JobError>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let run: Arc<HandlerFn> = Arc::new(move |services, meta, payload| {
            let handler = handler.clone();
            Box::pin(async move {
                let job: J =
                    serde_json::from_value(payload).map_err(|e| JobError::Fail(format!("bad payload: {e}")))?;
                handler(services, meta, job).await
            })
        });
        self.entries.insert(J::KIND, Arc::new(Entry { version: J::VERSION, max_attempts: J::MAX_ATTEMPTS, run }));
        self
    }

    /// Runs `make` every `every`, once per period across all runtimes sharing the queue;
    /// `make` gets the period's slot number (time since the epoch divided by `every`).
    pub fn schedule(
        &mut self,
        name: &'static str,
        every: Duration,
        make: impl Fn(i64) -> Result<Envelope> + Send + Sync + 'static,
    ) -> &mut Self {
        self.schedules.push(Schedule { name, every, make: Arc::new(make) });
        self
    }

    /// The registered kinds, sorted.
    pub fn kinds(&self) -> Vec<String> {
        let mut kinds: Vec<String> = self.entries.keys().map(|k| (*k).to_owned()).collect();
        kinds.sort();
        kinds
    }

    pub(crate) fn get(&self, kind: &str) -> Option<Arc<Entry>> {
        self.entries.get(kind).cloned()
    }

    pub(crate) fn schedules(&self) -> &[Schedule] {
        &self.schedules
    }
}

impl Entry {
    pub(crate) fn run(&self, services: Arc<Services>, meta: JobMeta, payload: serde_json::Value) -> BoxFuture {
        (self.run)(services, meta, payload)
    }
}

/// A periodic task.
#[derive(Clone)]
pub struct Schedule {
    pub name: &'static str,
    pub every: Duration,
    /// Builds the slot's job from the slot number (time since the epoch / `every`).
    pub(crate) make: Arc<dyn Fn(i64) -> Result<Envelope> + Send + Sync>,
}

/// Enqueues a job now. A job runs as the system, on whatever ids it carries: only the
/// domain enqueues (tests and benchmarks through [`enqueue_as`]).
pub(crate) async fn enqueue<J: JobPayload>(services: &Services, tenant: Option<Uuid>, job: &J) -> Result<Uuid> {
    let envelope = Envelope::new(tenant, job)?;
    services.queue.enqueue(&envelope).await?;
    Ok(envelope.id)
}

/// [`enqueue`] for those who hold a [`System`] token.
pub async fn enqueue_as<J: JobPayload>(_: System, services: &Services, tenant: Option<Uuid>, job: &J) -> Result<Uuid> {
    enqueue(services, tenant, job).await
}
