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
    /// `token` in `connection_init`, and starts `query`.
    pub async fn start(base: &str, token: &str, query: &str, variables: Value) -> Self {
        let url = format!("{}/graphql/ws", base.replacen("http", "ws", 1));
        let mut request = url.into_client_request().unwrap();
        request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
        let (mut socket, response) = tokio_tungstenite::connect_async(request).await.expect("WebSocket upgrade");
        assert_eq!(response.headers()["sec-websocket-protocol"], "graphql-transport-ws");
        let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } });
        socket.send(Message::text(init.to_string())).await.unwrap();
        let mut subscription = Subscription { socket };
        assert_eq!(subscription.message().await["type"], "connection_ack");
        let start = json!({ "id": "1", "type": "subscribe", "payload": { "query": query, "variables": variables } });
        subscription.socket.send(Message::text(start.to_string())).await.unwrap();
        subscription
    }

    /// The next protocol message (pings are answered and skipped), within 20 s.
    pub async fn message(&mut self) -> Value {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(20), self.socket.next())
                .await
                .expect("a subscription message within 20 s")
                .expect("the socket stays open")
                .expect("a readable frame");
            let Message::Text(text) = frame else { continue };
            let message: Value = serde_json::from_str(&text).unwrap();
            if message["type"] == "ping" {
                self.socket.send(Message::text(json!({ "type": "pong" }).to_string())).await.unwrap();
                continue;
            }
            return message;
        }
    }

    /// The data of the next `next` message (panics on anything else).
    pub async fn next_data(&mut self) -> Value {
        let message = self.message().await;
        assert_eq!(message["type"], "next", "{message}");
        assert!(message["payload"].get("errors").is_none(), "{message}");
        message["payload"]["data"].clone()
    }
}
