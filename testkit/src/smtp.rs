//! A real SMTP server for tests: `testkit/smtp_sink.py` (aiosmtpd) on a free port,
//! storing each message it accepts as a `.eml` file. A recipient `…+tempfail@…` is
//! answered 451 once, `…+reject@…` always 550; [`SmtpSink::refuse`] makes it answer
//! 451 to everything for a while.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::broker::eventually;

pub struct SmtpSink {
    pub port: u16,
    pub dir: PathBuf,
    child: Child,
}

impl SmtpSink {
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let dir = std::env::temp_dir().join(format!("cwt-smtp-{port}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("sink dir");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/smtp_sink.py");
        let child = Command::new("python3")
            .arg(script)
            .arg("--port")
            .arg(port.to_string())
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("start the SMTP sink (python3 with aiosmtpd: scripts/services installs it)");
        let addr = format!("127.0.0.1:{port}");
        eventually(
            Duration::from_secs(20),
            "the SMTP sink to listen",
            || async { tokio::net::TcpStream::connect(&addr).await.is_ok() },
        )
        .await;
        Self { port, dir, child }
    }

    /// `SMTP_HOST`, `SMTP_PORT` and `SMTP_TLS` for this server.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("SMTP_HOST".into(), "127.0.0.1".into()),
            ("SMTP_PORT".into(), self.port.to_string()),
            ("SMTP_TLS".into(), "none".into()),
        ]
    }

    /// While on, every message is refused with 451 at MAIL FROM (a transient failure).
    pub fn refuse(&self, on: bool) {
        let flag = self.dir.join("refuse");
        if on {
            std::fs::write(&flag, b"").expect("write the refuse flag");
        } else {
            let _ = std::fs::remove_file(&flag);
        }
    }

    /// Every message received so far, raw, in arrival order.
    pub fn messages(&self) -> Vec<Vec<u8>> {
        read_eml_dir(&self.dir)
    }
}

/// The `.eml` files of a directory, raw, sorted by name.
pub fn read_eml_dir(dir: &std::path::Path) -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
        .iter()
        .map(|p| std::fs::read(p).expect("read .eml"))
        .collect()
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
