//! A PostgreSQL cluster of the drill's own (initdb on a free port, in a temporary
//! directory), so it can be restarted without touching the shared server.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// Debian's server binaries of the newest installed version; `PG_BIN_DIR` overrides.
fn bin(name: &str) -> PathBuf {
    if let Ok(dir) = std::env::var("PG_BIN_DIR") {
        return Path::new(&dir).join(name);
    }
    let newest = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .max()
        .unwrap_or(15);
    Path::new("/usr/lib/postgresql")
        .join(newest.to_string())
        .join("bin")
        .join(name)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

pub struct Postgres {
    pub port: u16,
    dir: PathBuf,
    /// The server refuses to run as root: then it runs as the `postgres` user.
    as_postgres: bool,
}

impl Postgres {
    pub fn start(work: &Path) -> anyhow::Result<Self> {
        let port = crate::stack::free_port();
        let dir = work.join("pg");
        std::fs::create_dir_all(&dir)?;
        let pg = Self {
            port,
            dir,
            as_postgres: is_root(),
        };
        if pg.as_postgres {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&pg.dir)
                .status()?;
            if !status.success() {
                bail!("chown {} to postgres failed", pg.dir.display());
            }
        }
        pg.run(
            bin("initdb"),
            &[
                "-D",
                &pg.data(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        )
        .context("initdb")?;
        pg.ctl(&[
            "start",
            "-w",
            "-t",
            "60",
            "-l",
            &pg.log(),
            "-o",
            &pg.options(),
        ])
        .context("pg_ctl start")?;
        Ok(pg)
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    fn log(&self) -> String {
        self.dir.join("server.log").display().to_string()
    }

    fn options(&self) -> String {
        // The socket goes in our own directory: /var/run/postgresql belongs to the shared server.
        format!(
            "-p {} -c listen_addresses=127.0.0.1 -c max_connections=200 -k {}",
            self.port,
            self.dir.display()
        )
    }

    fn run(&self, program: PathBuf, args: &[&str]) -> anyhow::Result<()> {
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        let out = command.args(args).output()?;
        if !out.status.success() {
            bail!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    fn ctl(&self, args: &[&str]) -> anyhow::Result<()> {
        let data = self.data();
        let mut all = vec!["-D", data.as_str()];
        all.extend_from_slice(args);
        self.run(bin("pg_ctl"), &all)
    }

    /// A fast restart: open connections are cut, committed work survives.
    pub fn restart(&self) -> anyhow::Result<()> {
        self.ctl(&[
            "restart",
            "-m",
            "fast",
            "-w",
            "-t",
            "60",
            "-l",
            &self.log(),
            "-o",
            &self.options(),
        ])
    }

    pub fn stop(&self) {
        let _ = self.ctl(&["stop", "-m", "immediate", "-w", "-t", "30"]);
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}
