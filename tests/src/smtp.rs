//! A real SMTP server on loopback (mailin-embedded) that keeps what it receives.

use mailin_embedded::{Handler, Response, Server, SslConfig, response};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A received message.
#[derive(Clone, Debug)]
pub struct Received {
    pub to: Vec<String>,
    pub from: String,
    /// The raw message (headers and body) as sent.
    pub raw: String,
}

#[derive(Clone, Default)]
struct Collect {
    inbox: Arc<Mutex<Vec<Received>>>,
    current: Option<Received>,
}

impl Handler for Collect {
    fn data_start(&mut self, _domain: &str, from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.current = Some(Received { to: to.to_vec(), from: from.to_owned(), raw: String::new() });
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        if let Some(current) = &mut self.current {
            current.raw.push_str(&String::from_utf8_lossy(buf));
        }
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        if let Some(done) = self.current.take() {
            self.inbox.lock().unwrap().push(done);
        }
        response::OK
    }
}

/// The running server.
pub struct SmtpServer {
    pub url: String,
    inbox: Arc<Mutex<Vec<Received>>>,
}

impl SmtpServer {
    /// Listens on a free loopback port.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind SMTP");
        let port = listener.local_addr().unwrap().port();
        let handler = Collect::default();
        let inbox = handler.inbox.clone();
        let mut server = Server::new(handler);
        server.with_name("vigie-test-smtp").with_ssl(SslConfig::None).expect("no TLS").with_tcp_listener(listener);
        std::thread::spawn(move || {
            let _ = server.serve();
        });
        SmtpServer { url: format!("smtp://127.0.0.1:{port}"), inbox }
    }

    /// Waits (up to 10 s) for a message to `to`.
    pub async fn wait_for(&self, to: &str) -> Received {
        self.wait_for_containing(to, "").await
    }

    /// Waits (up to 10 s) for a message to `to` whose raw text contains `text`.
    pub async fn wait_for_containing(&self, to: &str, text: &str) -> Received {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(found) = self
                .inbox
                .lock()
                .unwrap()
                .iter()
                .find(|m| m.to.iter().any(|t| t.contains(to)) && m.raw.contains(text))
                .cloned()
            {
                return found;
            }
            assert!(Instant::now() < deadline, "no email to {to} containing `{text}` within 10 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
