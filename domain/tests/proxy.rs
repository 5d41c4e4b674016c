//! Its own test binary: it sets proxy variables, which no other test may see.

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use vigie_domain::platform::outbound::Http;

fn serve() -> (u16, Arc<AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            counted.fetch_add(1, Ordering::SeqCst);
            let _ = stream.read(&mut [0u8; 4096]);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
        }
    });
    (port, hits)
}

#[tokio::test]
async fn proxies_from_the_environment_are_not_used() {
    let (proxy_port, proxy_hits) = serve();
    let (port, hits) = serve();
    // SAFETY: this binary holds one test, so nothing reads the environment meanwhile.
    unsafe {
        std::env::set_var("HTTP_PROXY", format!("http://127.0.0.1:{proxy_port}"));
        std::env::set_var("ALL_PROXY", format!("http://127.0.0.1:{proxy_port}"));
    }
    let http = Http::new(true).unwrap();
    let fetched = http.get(&format!("http://127.0.0.1:{port}/"), Default::default()).await.unwrap();
    assert_eq!(fetched.body, b"ok");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert_eq!(proxy_hits.load(Ordering::SeqCst), 0, "the request went through the proxy");
}
