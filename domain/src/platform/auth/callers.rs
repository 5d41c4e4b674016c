//! Verified callers kept for a few seconds, so that a request does not read the
//! membership and its brands again when the same person calls again.
//!
//! A removed member must lose access at once, so the cache is invalidated, not merely
//! aged: every change to who may see what in an agency (member removed, role or brand
//! assignment changed, brand created or deleted) calls [`Callers::changed`] after its
//! commit, which forgets the agency's callers here and tells the other processes over
//! the bus ([`Notice::Access`]). Over Redis, a process keeps callers only while its bus
//! subscription is in place: a notice lost during a disconnection cannot leave a stale
//! caller behind, because the cache is emptied and stays off until it is back. The TTL
//! bounds what a lost publish (Redis reachable by subscribers, not by the publisher)
//! could leave, and the generation counter keeps a load that raced an invalidation
//! from being stored.

use sea_orm::ConnectionTrait;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Once, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

use super::Actor;
use super::tokens::Claims;
use crate::Result;
use crate::platform::bus::{Bus, Notice};

/// More callers than this and the cache is emptied rather than grown (each entry is a
/// few hundred bytes; a busy api sees far fewer distinct callers within a TTL).
const MAX_ENTRIES: usize = 100_000;

/// The callers verified recently by this process.
pub struct Callers {
    state: Arc<State>,
    bus: Bus,
    follow: Once,
}

struct State {
    ttl: Duration,
    /// Whether invalidations from other processes reach this one (see the module doc).
    live: AtomicBool,
    entries: RwLock<Entries>,
}

#[derive(Default)]
struct Entries {
    /// Bumped by every invalidation, so a load that started before it is not stored.
    generation: u64,
    by_caller: HashMap<(Uuid, Uuid), (Actor, Instant)>,
}

impl Callers {
    /// Callers kept for `ttl` (zero keeps none: every request reads the membership).
    pub fn new(bus: Bus, ttl: Duration) -> Self {
        // Over Redis the follower turns the cache on once it hears the bus.
        let live = bus.is_local();
        let state = State { ttl, live: AtomicBool::new(live), entries: RwLock::default() };
        Callers { state: Arc::new(state), bus, follow: Once::new() }
    }

    /// The actor a verified access token acts as, from the cache or the database.
    pub async fn actor(&self, db: &impl ConnectionTrait, claims: &Claims) -> Result<Actor> {
        let (user_id, agency_id) = (claims.sub, claims.agency);
        if self.state.ttl.is_zero() {
            return Actor::load(db, user_id, agency_id).await;
        }
        if !self.bus.is_local() {
            self.follow.call_once(|| self.start_following());
        }
        let generation = {
            let entries = self.state.entries.read().unwrap_or_else(|e| e.into_inner());
            if let Some((actor, at)) = entries.by_caller.get(&(user_id, agency_id))
                && at.elapsed() < self.state.ttl
            {
                return Ok(actor.clone());
            }
            entries.generation
        };
        let actor = Actor::load(db, user_id, agency_id).await?;
        if self.state.live.load(Ordering::Acquire) {
            let mut entries = self.state.entries.write().unwrap_or_else(|e| e.into_inner());
            if entries.generation == generation {
                if entries.by_caller.len() >= MAX_ENTRIES {
                    entries.by_caller.clear();
                }
                entries.by_caller.insert((user_id, agency_id), (actor.clone(), Instant::now()));
            }
        }
        Ok(actor)
    }

    /// How many callers are kept (for metrics and tests).
    pub fn cached(&self) -> usize {
        self.state.entries.read().unwrap_or_else(|e| e.into_inner()).by_caller.len()
    }

    /// To call once a change to the agency's access has been committed: forgets its
    /// callers here at once, and in the other processes through the bus.
    pub(crate) async fn changed(&self, agency_id: Uuid) {
        self.state.forget(Some(agency_id));
        self.bus.publish(Notice::Access { agency_id }).await;
    }

    /// Listens to the bus for other processes' invalidations and for the state of the
    /// subscription itself.
    fn start_following(&self) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else { return };
        let (state, bus) = (self.state.clone(), self.bus.clone());
        handle.spawn(async move {
            let mut notices = bus.subscribe().await;
            let mut connected = bus.connected();
            state.live.store(*connected.borrow_and_update(), Ordering::Release);
            loop {
                tokio::select! {
                    notice = notices.recv() => match notice {
                        Ok(Notice::Access { agency_id }) => state.forget(Some(agency_id)),
                        Ok(_) => {}
                        Err(RecvError::Lagged(_)) => state.forget(None),
                        Err(RecvError::Closed) => break,
                    },
                    changed = connected.changed() => {
                        if changed.is_err() {
                            break;
                        }
                        // Whatever was published while the subscription was down is
                        // lost: start again from an empty cache. Off before forgetting,
                        // on after, so no load can slip a caller in between.
                        if *connected.borrow_and_update() {
                            state.forget(None);
                            state.live.store(true, Ordering::Release);
                        } else {
                            state.live.store(false, Ordering::Release);
                            state.forget(None);
                        }
                    }
                }
            }
            state.live.store(false, Ordering::Release);
            state.forget(None);
        });
    }
}

impl State {
    /// Forgets one agency's callers, or all of them.
    fn forget(&self, agency_id: Option<Uuid>) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        entries.generation += 1;
        match agency_id {
            Some(agency_id) => entries.by_caller.retain(|(_, agency), _| *agency != agency_id),
            None => entries.by_caller.clear(),
        }
    }
}
