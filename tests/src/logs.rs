//! What the code logs, captured, so that tests can check what must never be in it.

use std::sync::{Arc, Mutex};

/// What a [`capture`] collected.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// Everything logged so far, as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Captures every event logged on this thread, down to `max` level, while the guard
/// lives (a test's own body runs on its thread; tasks it spawns do not).
pub fn capture(max: tracing::Level) -> (Captured, tracing::subscriber::DefaultGuard) {
    let log = Captured::default();
    let sink = log.0.clone();
    let subscriber =
        tracing_subscriber::fmt().with_ansi(false).with_max_level(max).with_writer(move || Sink(sink.clone())).finish();
    (log, tracing::subscriber::set_default(subscriber))
}
