//! The GraphQL-over-WebSocket transport of `/graphql/ws`: actix-ws for the socket,
//! async-graphql's protocol state machine (graphql-transport-ws, or the older
//! subscriptions-transport-ws) for the messages.
//!
//! async-graphql-actix-web's own transport forwards each incoming frame through a
//! separately spawned actor future, and actix polls those in no fixed order: a burst
//! such as `subscribe` then `complete` of one id could run the other way round and leave
//! a subscription open that the client had stopped. Here frames reach the protocol in
//! the order they arrived, from one task per connection.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, Session};
use async_graphql::Data;
use async_graphql::http::{WebSocket, WebSocketProtocols, WsMessage};
use futures_util::future::{self, BoxFuture};
use futures_util::{Stream, StreamExt};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch};

use crate::graphql::Gateway;

/// How often the server pings; browsers and WebSocket libraries answer by themselves.
const HEARTBEAT: Duration = Duration::from_secs(10);
/// A client silent for this long (no message, no pong) is gone: its connection is
/// closed and its subscriptions released.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);
/// Time a client has to complete `connection_init`, as graphql-ws servers do: without
/// it, a client that only pings would hold a connection for ever.
const INIT_TIMEOUT: Duration = Duration::from_secs(5);
/// graphql-ws' close code for a connection whose access ended.
const FORBIDDEN: u16 = 4403;

/// Builds a connection's session data from the `connection_init` payload.
pub type OnInit = Box<dyn FnOnce(serde_json::Value) -> BoxFuture<'static, async_graphql::Result<Data>> + Send>;

/// Answers the upgrade and serves the connection on a task of its own, until the client
/// leaves, `closing` turns `true`, or `revoked` gives the reason its access ended
/// (closed with 4403). Messages larger than `max_message` bytes (continuation frames
/// put together) end the connection. Refuses (400) a request that offers neither
/// GraphQL sub-protocol.
pub fn start(
    gateway: Gateway,
    req: &HttpRequest,
    payload: web::Payload,
    on_init: OnInit,
    closing: watch::Receiver<bool>,
    revoked: oneshot::Receiver<&'static str>,
    max_message: usize,
) -> actix_web::Result<HttpResponse> {
    let protocol = req
        .headers()
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|value| value.to_str().ok())
        .and_then(|offered| offered.split(',').find_map(|p| p.trim().parse::<WebSocketProtocols>().ok()))
        .ok_or_else(|| {
            actix_web::error::ErrorBadRequest("offer the `graphql-transport-ws` (or `graphql-ws`) sub-protocol")
        })?;
    let (response, session, messages) =
        actix_ws::handle_with_protocols(req, payload, &[protocol.sec_websocket_protocol()])?;
    let seen = Arc::new(Mutex::new(Instant::now()));
    let incoming = incoming(messages.max_frame_size(max_message), session.clone(), seen.clone(), max_message);
    let protocol_state = WebSocket::new(gateway, incoming, protocol).on_connection_init(on_init);
    actix_web::rt::spawn(serve(protocol_state, session, seen, closing, revoked));
    Ok(response)
}

/// The client's GraphQL messages in arrival order, ending when the client closes or
/// breaks the protocol. Pings are answered on the way; every frame counts as a sign of
/// life.
fn incoming(
    messages: actix_ws::MessageStream,
    session: Session,
    seen: Arc<Mutex<Instant>>,
    max_message: usize,
) -> futures_util::stream::LocalBoxStream<'static, Vec<u8>> {
    messages
        .aggregate_continuations()
        .max_continuation_size(max_message)
        .take_while(|message| future::ready(matches!(message, Ok(m) if !matches!(m, AggregatedMessage::Close(_)))))
        .filter_map(move |message| {
            *seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Instant::now();
            let mut session = session.clone();
            async move {
                match message {
                    Ok(AggregatedMessage::Text(text)) => Some(text.as_bytes().to_vec()),
                    Ok(AggregatedMessage::Binary(bytes)) => Some(bytes.to_vec()),
                    Ok(AggregatedMessage::Ping(bytes)) => {
                        // A failed pong means the socket is closing; the stream ends next.
                        let _ = session.pong(&bytes).await;
                        None
                    }
                    _ => None,
                }
            }
        })
        .boxed_local()
}

/// Writes the protocol's answers to the socket and pings the client, until either
/// side ends the connection, the client has not completed `connection_init` within
/// [`INIT_TIMEOUT`], or the server stops. Dropping the protocol state drops the
/// connection's operations (and their slots, see `graphql::limits::SocketQuota`).
async fn serve(
    protocol: impl Stream<Item = WsMessage>,
    mut session: Session,
    seen: Arc<Mutex<Instant>>,
    mut closing: watch::Receiver<bool>,
    mut revoked: oneshot::Receiver<&'static str>,
) {
    let mut protocol = std::pin::pin!(protocol);
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    heartbeat.tick().await;
    let init_deadline = tokio::time::sleep(INIT_TIMEOUT);
    let mut init_deadline = std::pin::pin!(init_deadline);
    let mut initialised = false;
    // Without a `Stopper` (dropped), nothing will ever ask connections to close.
    let mut stoppable = true;
    // Anonymous connections have no access to lose: their sender is dropped unused.
    let mut revocable = true;
    let close = loop {
        tokio::select! {
            answer = protocol.next() => match answer {
                Some(WsMessage::Text(text)) => {
                    // Until the handshake, look at what is sent (pongs may come first).
                    initialised = initialised
                        || serde_json::from_str::<serde_json::Value>(&text)
                            .is_ok_and(|message| message["type"] == "connection_ack");
                    if session.text(text).await.is_err() {
                        return;
                    }
                }
                Some(WsMessage::Close(code, description)) => {
                    break Some(CloseReason { code: code.into(), description: Some(description) });
                }
                None => break None,
            },
            // The server is stopping: "going away" tells clients to reconnect elsewhere.
            stopping = closing.wait_for(|closing| *closing), if stoppable => {
                if stopping.is_ok() {
                    break Some(CloseReason { code: CloseCode::Away, description: Some("server shutting down".into()) });
                }
                stoppable = false;
            }
            reason = &mut revoked, if revocable => match reason {
                Ok(reason) => {
                    tracing::info!(reason, "closing a WebSocket connection whose access ended");
                    break Some(CloseReason { code: FORBIDDEN.into(), description: Some(reason.into()) });
                }
                Err(_) => revocable = false,
            },
            _ = &mut init_deadline, if !initialised => {
                // 4408: graphql-ws' code for this.
                break Some(CloseReason { code: 4408.into(), description: Some("connection initialisation timeout".into()) });
            }
            _ = heartbeat.tick() => {
                let silent = seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).elapsed();
                if silent > CLIENT_TIMEOUT {
                    tracing::debug!(?silent, "closing a silent WebSocket connection");
                    break None;
                }
                if session.ping(b"").await.is_err() {
                    return;
                }
            }
        }
    };
    let _ = session.close(close).await;
}
