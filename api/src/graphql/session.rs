//! A WebSocket connection's access. A socket outlives the moment it was authorised, so
//! its credentials are kept rather than its caller: every operation resolves the caller
//! again (through the caller cache, which access changes invalidate), and a watcher
//! closes the socket when the token expires or the member's access ends or changes
//! (graphql-ws' code 4403), which also ends its running subscriptions.

use async_graphql::Data;
use std::any::TypeId;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use vigie_domain::platform::auth::tokens::Claims;
use vigie_domain::platform::bus::Notice;
use vigie_domain::{Actor, Error, Services};

/// How often a watcher reads the membership again even without a notice: notices can
/// be lost while a process's Redis subscription is down.
const RECHECK: Duration = Duration::from_secs(60);

/// Session data of a WebSocket connection, set at `connection_init`.
pub struct SocketAccess {
    services: Arc<Services>,
    credentials: Credentials,
    /// Every brand an operation of this connection was started with: a subscription
    /// keeps the access it started with, so losing any of them must end the socket,
    /// even one given after `connection_init`.
    handed_out: std::sync::Mutex<std::collections::BTreeSet<uuid::Uuid>>,
}

enum Credentials {
    /// No token: anonymous operations only.
    Anonymous,
    /// A token that did not verify: every operation is refused with this message.
    Refused(String),
    /// A verified token; the caller is resolved per operation.
    Token(Claims),
}

impl SocketAccess {
    /// The access of a connection authenticated with `token`, and its caller at
    /// `connection_init`.
    pub async fn open(services: Arc<Services>, token: Option<&str>) -> (Self, Result<Option<Actor>, Error>) {
        let credentials = match token.map(|token| services.tokens.verify(token)) {
            None => Credentials::Anonymous,
            Some(Ok(claims)) => Credentials::Token(claims),
            Some(Err(refused)) => Credentials::Refused(refused.to_string()),
        };
        let access = SocketAccess { services, credentials, handed_out: Default::default() };
        let caller = access.caller().await;
        (access, caller)
    }

    /// The access in a connection's session data (as an `Arc`, shared with the
    /// connection's watcher), if the transport put one there.
    pub fn of(session: &Data) -> Option<&Arc<SocketAccess>> {
        session.get(&TypeId::of::<Arc<SocketAccess>>()).and_then(|access| access.downcast_ref())
    }

    /// The caller of an operation starting now.
    pub async fn caller(&self) -> Result<Option<Actor>, Error> {
        match &self.credentials {
            Credentials::Anonymous => Ok(None),
            Credentials::Refused(message) => Err(Error::Unauthenticated(message.clone())),
            Credentials::Token(claims) if expired(claims) => {
                Err(Error::Unauthenticated("the access token has expired".into()))
            }
            Credentials::Token(claims) => {
                let actor = self.services.callers.actor(&self.services.db, claims).await?;
                if let Ok(mut handed) = self.handed_out.lock() {
                    handed.extend(actor.visible_brands().iter().copied());
                }
                Ok(Some(actor))
            }
        }
    }

    /// Whether `now` still sees every brand an operation was started with.
    fn keeps_handed_out(&self, now: &Actor) -> bool {
        now.role().is_manager()
            || self.handed_out.lock().is_ok_and(|handed| handed.iter().all(|brand| now.saw_brand(*brand)))
    }

    /// The services the operations run with.
    pub fn services(&self) -> &Arc<Services> {
        &self.services
    }

    /// Resolves, with the reason, when the connection must close: its token expired,
    /// or the access `initial` had has ended or changed. Never resolves for anonymous
    /// connections, which have no access to lose.
    pub async fn ended(&self, initial: Option<Actor>) -> &'static str {
        const EXPIRED: &str = "the access token has expired";
        let Credentials::Token(claims) = &self.credentials else {
            return std::future::pending().await;
        };
        let expiry = tokio::time::sleep(until(claims));
        tokio::pin!(expiry);
        // A caller that could not be loaded at `connection_init` has no access to watch
        // (its operations resolve it again), but its token still expires.
        let Some(initial) = initial else {
            expiry.await;
            return EXPIRED;
        };
        let mut notices = self.services.bus.subscribe().await;
        let mut recheck = tokio::time::interval(RECHECK);
        recheck.tick().await;
        loop {
            let changed = tokio::select! {
                _ = &mut expiry => return EXPIRED,
                notice = notices.recv() => match notice {
                    Ok(Notice::Access { agency_id }) if agency_id == initial.agency_id() => true,
                    Ok(_) => false,
                    Err(RecvError::Lagged(_)) => true,
                    Err(RecvError::Closed) => {
                        expiry.await;
                        return EXPIRED;
                    }
                },
                _ = recheck.tick() => true,
            };
            if !changed {
                continue;
            }
            // Read the membership itself: the caller cache of this process may not have
            // heard the same notice yet.
            match Actor::of(&self.services.db, claims).await {
                Ok(now) if same_access(&initial, &now) && self.keeps_handed_out(&now) => {}
                Ok(_) => return "the member's access changed: reconnect",
                Err(Error::Unauthenticated(_)) => return "the membership has ended",
                Err(error) => {
                    tracing::warn!(error = %vigie_domain::platform::error::chain(&error), "cannot check a WebSocket connection's access; will retry")
                }
            }
        }
    }
}

/// Whether an access token's expiry has passed.
fn expired(claims: &Claims) -> bool {
    claims.expires_at() <= chrono::Utc::now().timestamp()
}

/// The time left until the token expires.
fn until(claims: &Claims) -> Duration {
    let left = claims.expires_at().saturating_sub(chrono::Utc::now().timestamp());
    Duration::from_secs(u64::try_from(left).unwrap_or(0))
}

/// Whether `now` may still do all that `then` could: the same role, and for
/// non-managers at least the same brands (managers see every brand of the agency,
/// whichever exist; a member given one more brand keeps the socket).
fn same_access(then: &Actor, now: &Actor) -> bool {
    then.membership_id() == now.membership_id()
        && then.role() == now.role()
        && (now.role().is_manager() || then.visible_brands().iter().all(|brand| now.saw_brand(*brand)))
}
