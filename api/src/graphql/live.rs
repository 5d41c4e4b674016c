//! Subscription streams over the bus: pick the notices a subscriber cares about, reload
//! each object with the subscriber's own access rights, and skip what it may not see.

use futures_util::Stream;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;
use vigie_domain::platform::bus::Notice;
use vigie_domain::{Actor, Services};

/// The objects named by the notices `pick` selects (by id, or any key), loaded by `load`.
pub(crate) async fn objects<T, K, P, L, Fut>(
    services: Arc<Services>,
    actor: Actor,
    pick: P,
    load: L,
) -> impl Stream<Item = T>
where
    T: Send + 'static,
    K: Send + 'static,
    P: Fn(&Notice) -> Option<K> + Send + Sync + 'static,
    L: Fn(Arc<Services>, Actor, K) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Option<T>> + Send,
{
    let receiver = services.bus.subscribe().await;
    let state = (receiver, services, actor, Arc::new((pick, load)));
    futures_util::stream::unfold(state, |(mut receiver, services, actor, funcs)| async move {
        loop {
            match receiver.recv().await {
                Ok(notice) => {
                    let Some(id) = (funcs.0)(&notice) else { continue };
                    if let Some(object) = (funcs.1)(services.clone(), actor.clone(), id).await {
                        return Some((object, (receiver, services, actor, funcs)));
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "a subscriber fell behind; live notices were dropped");
                }
                Err(RecvError::Closed) => return None,
            }
        }
    })
}
