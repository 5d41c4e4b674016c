//! A headless Chromium driven over the DevTools protocol, cut off from every network
//! but loopback: pages under test must work with what the server itself serves.

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A browser with one page open.
pub struct Browser {
    child: Child,
    socket: WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>,
    session: String,
    next_id: u64,
    profile: std::path::PathBuf,
}

impl Browser {
    /// Starts Chromium (installed by `.ci/run`), which resolves no name but loopback,
    /// and opens `url` in a page that records the content-security policy's refusals
    /// in `window.cspViolations`.
    pub async fn open(url: &str) -> Self {
        let profile = std::env::temp_dir().join(format!("vigie-chromium-{}", uuid::Uuid::new_v4()));
        let mut child = Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--remote-debugging-port=0",
                "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
                "--proxy-server=http://127.0.0.1:9",
                "--proxy-bypass-list=127.0.0.1",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("chromium (tests/run installs it)");
        let stderr = child.stderr.take().expect("stderr");
        let endpoint = tokio::task::spawn_blocking(move || {
            let lines = BufReader::new(stderr).lines();
            let endpoint = lines
                .map_while(Result::ok)
                .find_map(|line| line.split_once("DevTools listening on ").map(|(_, url)| url.trim().to_owned()));
            endpoint.expect("Chromium's DevTools endpoint")
        })
        .await
        .unwrap();
        let (socket, _) = tokio_tungstenite::connect_async(endpoint).await.expect("DevTools connection");
        let mut browser = Browser { child, socket, session: String::new(), next_id: 0, profile };
        let target = browser.call(None, "Target.createTarget", json!({ "url": "about:blank" })).await;
        let attached = browser
            .call(None, "Target.attachToTarget", json!({ "targetId": target["targetId"], "flatten": true }))
            .await;
        browser.session = attached["sessionId"].as_str().expect("session").to_owned();
        let watch = "window.cspViolations = []; document.addEventListener('securitypolicyviolation', \
                     e => window.cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));";
        browser.page("Page.enable", json!({})).await;
        browser.page("Page.addScriptToEvaluateOnNewDocument", json!({ "source": watch })).await;
        browser.page("Page.navigate", json!({ "url": url })).await;
        browser
    }

    /// Evaluates `expression` in the page (awaiting a promise) and returns its value.
    pub async fn eval(&mut self, expression: &str) -> Value {
        let params = json!({ "expression": expression, "awaitPromise": true, "returnByValue": true });
        let result = self.page("Runtime.evaluate", params).await;
        assert!(result.get("exceptionDetails").is_none(), "{expression}: {result}");
        result["result"]["value"].clone()
    }

    /// Evaluates `expression` until it is truthy (at most `seconds`), and returns it.
    pub async fn wait_for(&mut self, expression: &str, seconds: u64) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
        loop {
            let value = self.eval(expression).await;
            if !matches!(value, Value::Null | Value::Bool(false)) && value != json!("") {
                return value;
            }
            assert!(tokio::time::Instant::now() < deadline, "still waiting for {expression}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn page(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        self.call(Some(&session), method, params).await
    }

    /// Sends one DevTools command and returns its result, skipping events.
    async fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut command = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            command["sessionId"] = json!(session);
        }
        self.socket.send(Message::text(command.to_string())).await.expect("DevTools send");
        let answer = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                let message = self.socket.next().await.expect("DevTools open").expect("DevTools message");
                let Message::Text(text) = message else { continue };
                let message: Value = serde_json::from_str(&text).expect("DevTools JSON");
                if message["id"] == id {
                    return message;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no answer to {method}"));
        assert!(answer.get("error").is_none(), "{method}: {answer}");
        answer["result"].clone()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
