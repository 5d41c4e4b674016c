//! A GraphQL subscription client over a real WebSocket (graphql-ws protocol).

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// An open subscription.
pub struct Subscription {
    socket: WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>,
}

impl Subscription {
    /// Connects to `{base}/graphql/ws` (base is `http://host:port`), authenticates with
    /// `token` in `connection_init`, and starts `query` as operation `1`.
    pub async fn start(base: &str, token: &str, query: &str, variables: Value) -> Self {
        let mut subscription = Self::connect(base, Some(token)).await;
        subscription.subscribe("1", query, variables).await;
        subscription
    }

    /// Connects to `{base}/graphql/ws` and completes the handshake, with `token` in
    /// `connection_init` if any.
    pub async fn connect(base: &str, token: Option<&str>) -> Self {
        let mut subscription = Self::upgrade(base).await.expect("WebSocket upgrade");
        let payload = token.map_or(json!({}), |token| json!({ "Authorization": format!("Bearer {token}") }));
        let init = json!({ "type": "connection_init", "payload": payload });
        subscription.send_raw(init).await;
        assert_eq!(subscription.message().await["type"], "connection_ack");
        subscription
    }

    /// The WebSocket upgrade alone; the server's refusal as an error.
    pub async fn upgrade(base: &str) -> Result<Self, tokio_tungstenite::tungstenite::Error> {
        let url = format!("{}/graphql/ws", base.replacen("http", "ws", 1));
        let mut request = url.into_client_request().unwrap();
        request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
        let (socket, response) = tokio_tungstenite::connect_async(request).await?;
        assert_eq!(response.headers()["sec-websocket-protocol"], "graphql-transport-ws");
        Ok(Subscription { socket })
    }

    /// Starts operation `id` (a subscription, query or mutation).
    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        let start = json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } });
        self.send_raw(start).await;
    }

    /// Sends any protocol message.
    pub async fn send_raw(&mut self, message: Value) {
        self.socket.send(Message::text(message.to_string())).await.unwrap();
    }

    /// Stops operation `id`.
    pub async fn complete(&mut self, id: &str) {
        self.send_raw(json!({ "id": id, "type": "complete" })).await;
    }

    /// Waits (up to 20 s) for the server to close the connection; returns its close code.
    pub async fn closed(&mut self) -> u16 {
        loop {
            if let Message::Close(close) = self.frame("a close frame").await {
                return close.map_or(1005, |close| close.code.into());
            }
        }
    }

    /// The next protocol message (pings are answered and skipped), within 20 s.
    pub async fn message(&mut self) -> Value {
        loop {
            let Message::Text(text) = self.frame("a subscription message").await else { continue };
            let message: Value = serde_json::from_str(&text).unwrap();
            if message["type"] == "ping" {
                self.send_raw(json!({ "type": "pong" })).await;
                continue;
            }
            return message;
        }
    }

    /// The next frame, within 20 s; `expected` names it in the panic otherwise.
    async fn frame(&mut self, expected: &str) -> Message {
        tokio::time::timeout(Duration::from_secs(20), self.socket.next())
            .await
            .unwrap_or_else(|_| panic!("{expected} within 20 s"))
            .unwrap_or_else(|| panic!("{expected} before the end of the stream"))
            .expect("a readable frame")
    }

    /// The data of the next `next` message (panics on anything else).
    pub async fn next_data(&mut self) -> Value {
        let message = self.message().await;
        assert_eq!(message["type"], "next", "{message}");
        assert!(message["payload"].get("errors").is_none(), "{message}");
        message["payload"]["data"].clone()
    }
}
