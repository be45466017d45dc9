//! What a test process logs, captured as text for the test to read back: the test's
//! own subscriber (nextest runs each test in its own process, so it is the only one).

use std::sync::{Arc, Mutex};

/// The captured log; clones share it.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// Installs a plain-text subscriber at `info` (lapin at `warn`) writing here.
    pub fn install() -> Self {
        let captured = Self::default();
        let writer = captured.clone();
        tracing_subscriber::fmt()
            .with_env_filter("info,lapin=warn")
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .try_init()
            .expect("this test's own subscriber (nextest runs each test in its own process)");
        captured
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}
