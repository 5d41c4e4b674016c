//! Live notices for GraphQL subscriptions (alert changes, inbox updates): published by
//! whichever process made the change, delivered to every api replica's subscribers.
//!
//! In the embedded mode everything runs in one process, so a `tokio::sync::broadcast`
//! channel is the bus. With Redis, notices go through one pub/sub channel (on a cluster,
//! classic pub/sub reaches every node, so a subscriber listens on any seed); each process
//! listens to it only once something subscribes (workers only publish), and forwards
//! what it hears to its local broadcast channel. Notices carry ids (and counts), never
//! data: a subscriber reloads the object with its own tenant scoping.

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OnceCell, broadcast, watch};
use uuid::Uuid;

use crate::platform::redis_client::{Connection, Patience, Redis};
use crate::{Error, Result};

/// Notices buffered per subscriber before the slowest one starts missing some.
const CAPACITY: usize = 1024;

/// What changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "topic", rename_all = "snake_case")]
pub enum Notice {
    /// An alert of the brand opened, changed or was resolved.
    Alert { agency_id: Uuid, brand_id: Uuid, alert_id: Uuid },
    /// A ticket of the brand's inbox opened or changed.
    Ticket { agency_id: Uuid, brand_id: Uuid, ticket_id: Uuid },
    /// New mentions of the brand were stored (mentions stored again are not counted):
    /// how many, and the newest publication time among them; a screen fetches them
    /// with its own filters.
    Mentions { agency_id: Uuid, brand_id: Uuid, count: u32, newest: chrono::DateTime<chrono::Utc> },
    /// Who may see what in the agency changed (a member removed, a role or brand
    /// assignment changed, a brand created or deleted): callers kept by
    /// [`crate::platform::auth::callers::Callers`] must be loaded again.
    Access { agency_id: Uuid },
    /// A topic this build does not know (published by a newer one during a rolling
    /// deploy): ignored.
    #[serde(other)]
    Unknown,
}

/// The bus shared by a process's services.
#[derive(Clone)]
pub struct Bus {
    local: broadcast::Sender<Notice>,
    redis: Option<Arc<RedisLink>>,
    /// Whether this process hears every notice published from now on: always with the
    /// in-process bus; with Redis, only while its subscription is in place (notices
    /// published while it is down are lost, which [`Bus::connected`] lets readers see).
    connected: watch::Sender<bool>,
}

struct RedisLink {
    redis: Redis,
    channel: String,
    publisher: OnceCell<Connection>,
    listening: OnceCell<()>,
}

impl Bus {
    /// An in-process bus.
    pub fn local() -> Self {
        Bus { local: broadcast::channel(CAPACITY).0, redis: None, connected: watch::channel(true).0 }
    }

    /// A bus over Redis pub/sub (`prefix` keeps deployments sharing a Redis apart).
    pub fn redis(redis: &Redis, prefix: &str) -> Self {
        let link = RedisLink {
            redis: redis.clone(),
            channel: format!("{prefix}:{{bus}}"),
            publisher: OnceCell::new(),
            listening: OnceCell::new(),
        };
        Bus { local: broadcast::channel(CAPACITY).0, redis: Some(Arc::new(link)), connected: watch::channel(false).0 }
    }

    /// Publishes a notice. A lost notice only delays a live view (clients reload on
    /// reconnect), so failures are logged, not returned.
    pub async fn publish(&self, notice: Notice) {
        match &self.redis {
            None => {
                let _ = self.local.send(notice);
            }
            Some(link) => {
                if let Err(error) = link.publish(&notice).await {
                    tracing::warn!(error = %crate::platform::error::chain(&error), ?notice, "cannot publish a live notice");
                }
            }
        }
    }

    /// Receives every notice published from now on (by any process sharing the bus).
    pub async fn subscribe(&self) -> broadcast::Receiver<Notice> {
        let receiver = self.local.subscribe();
        if let Some(link) = &self.redis {
            link.listen(self.local.clone(), self.connected.clone()).await;
        }
        receiver
    }

    /// Whether this is the in-process bus (one process: nothing to hear from others).
    pub fn is_local(&self) -> bool {
        self.redis.is_none()
    }

    /// Whether notices reach this process: `false` until a Redis subscription is in
    /// place (after [`Bus::subscribe`]) and while it is being re-established.
    pub fn connected(&self) -> watch::Receiver<bool> {
        self.connected.subscribe()
    }
}

impl RedisLink {
    async fn publish(&self, notice: &Notice) -> Result<()> {
        let publisher = self
            .publisher
            .get_or_try_init(|| async {
                self.redis.connect(Patience::STEADY).await.map_err(|e| Error::internal_from("redis", e))
            })
            .await?;
        let body = serde_json::to_string(notice).map_err(|e| Error::internal_from("cannot encode a live notice", e))?;
        let mut conn = publisher.clone();
        redis::cmd("PUBLISH")
            .arg(&self.channel)
            .arg(body)
            .query_async::<i64>(&mut conn)
            .await
            .map_err(|e| Error::internal_from("redis publish", e))?;
        Ok(())
    }

    /// Starts (once) the task that forwards the Redis channel to local subscribers. It
    /// reconnects after a failure; returns once the first subscription is in place, so
    /// that a notice published after `subscribe` returns is not missed.
    async fn listen(self: &Arc<Self>, local: broadcast::Sender<Notice>, connected: watch::Sender<bool>) {
        let link = self.clone();
        self.listening
            .get_or_init(|| async move {
                let (ready, subscribed) = tokio::sync::oneshot::channel();
                tokio::spawn(link.forward(local, connected, ready));
                let _ = tokio::time::timeout(Duration::from_secs(5), subscribed).await;
            })
            .await;
    }

    async fn forward(
        self: Arc<Self>,
        local: broadcast::Sender<Notice>,
        connected: watch::Sender<bool>,
        ready: tokio::sync::oneshot::Sender<()>,
    ) {
        let mut ready = Some(ready);
        let mut backoff = Duration::from_millis(200);
        for attempt in 0.. {
            match self.redis.pubsub(attempt).await {
                Ok(mut pubsub) => match pubsub.subscribe(&self.channel).await {
                    Ok(()) => {
                        backoff = Duration::from_millis(200);
                        connected.send_replace(true);
                        if let Some(ready) = ready.take() {
                            let _ = ready.send(());
                        }
                        let mut messages = pubsub.into_on_message();
                        while let Some(message) = messages.next().await {
                            let Ok(body) = message.get_payload::<String>() else { continue };
                            match serde_json::from_str::<Notice>(&body) {
                                Ok(notice) => {
                                    let _ = local.send(notice);
                                }
                                Err(error) => {
                                    tracing::warn!(error = %crate::platform::error::chain(&error), "unreadable live notice")
                                }
                            }
                        }
                        connected.send_replace(false);
                        tracing::warn!("live notice subscription closed; reconnecting");
                    }
                    Err(error) => {
                        tracing::warn!(error = %crate::platform::error::chain(&error), "cannot subscribe to live notices")
                    }
                },
                Err(error) => {
                    tracing::warn!(error = %crate::platform::error::chain(&error), "cannot connect for live notices")
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(10));
        }
    }
}
