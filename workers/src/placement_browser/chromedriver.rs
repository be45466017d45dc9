//! chromedriver, and the Chromium it starts, die with this worker however it dies.
//!
//! chromedriver runs under a supervising shell in a process group of its own
//! (`process_group(0)`), so the group holds the shell, chromedriver and every Chromium
//! process under it. The shell's stdin is a pipe whose other end only this worker
//! holds: when the worker exits, crashes or is SIGKILLed, the kernel closes that end,
//! the shell reads end-of-file and kills the whole group. That is a parent-death
//! signal for the whole tree, without `unsafe` (`PR_SET_PDEATHSIG` would need `unsafe`
//! or `setpriv`, would fire when the spawning *thread* ends rather than the process,
//! and is not inherited by chromedriver's children).
//!
//! Should the shell itself be killed (the OOM killer, an operator), a pidfile in
//! `BROWSER_RUN_DIR` names the group; the worker holds it locked while it lives, so a
//! pidfile nobody holds locked belongs to a dead worker, and the next worker to start
//! reaps that group.

use std::fs::{File, TryLockError};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context as _;
use cartwright_shared::procs;
use tokio::process::{Child, ChildStdin, Command};

/// The supervising shell's `$0`: it names the shell in `ps` and in the reaper's check.
const SUPERVISOR: &str = "cartwright-browser-group";

/// `$1` the pidfile, `$2…` chromedriver and its arguments. Waits for stdin to close,
/// then removes the pidfile and kills its own group, itself included.
const SUPERVISE: &str = r#"pidfile="$1"; shift
command -v "$1" >/dev/null || exit 127
"$@" </dev/null &
read -r _
rm -f "$pidfile"
kill -s KILL 0"#;

/// A chromedriver this worker started, with its browsers; they end with the worker.
pub struct Chromedriver {
    pub url: String,
    /// Holding it open keeps the group alive; closing it (drop, death) ends the group.
    _lifeline: ChildStdin,
    _supervisor: Child,
    /// Locked while this worker lives; see the module's comment.
    _pidfile: File,
}

impl Chromedriver {
    /// Reaps what a dead predecessor left in `run_dir`, then starts chromedriver and
    /// waits until it listens.
    pub async fn start(binary: &str, run_dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(run_dir)
            .with_context(|| format!("creating {} (BROWSER_RUN_DIR)", run_dir.display()))?;
        reap_left_behind(run_dir, binary);
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let pidfile = run_dir.join(format!("browsers-{}.pgid", uuid::Uuid::now_v7()));
        let mut supervisor = Command::new("sh")
            .arg("-c")
            .arg(SUPERVISE)
            .arg(SUPERVISOR)
            .arg(&pidfile)
            .arg(binary)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting sh to supervise chromedriver")?;
        let lifeline = supervisor.stdin.take().context("the supervisor's stdin")?;
        let pgid = supervisor.id().context("the supervisor's pid")?;
        let pidfile = write_pidfile(&pidfile, pgid)?;
        let url = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            if let Some(status) = supervisor.try_wait()? {
                anyhow::bail!(
                    "{binary} could not start ({status}; apt-get install chromium-driver)"
                );
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Ok(Self {
                    url,
                    _lifeline: lifeline,
                    _supervisor: supervisor,
                    _pidfile: pidfile,
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        anyhow::bail!("{binary} did not listen on port {port} within 5 s")
    }
}

/// Writes "<pgid> <the supervisor's start time>" under a temporary name, locks it and
/// renames it into place, so a reaper never sees an unlocked or half-written pidfile.
fn write_pidfile(path: &Path, pgid: u32) -> anyhow::Result<File> {
    let start_time = procs::stat(pgid)
        .map(|s| s.start_time)
        .context("the supervisor ended at once")?;
    let temporary = path.with_extension("tmp");
    let mut file =
        File::create(&temporary).with_context(|| format!("creating {}", temporary.display()))?;
    file.try_lock()
        .map_err(|e| anyhow::anyhow!("locking {}: {e}", temporary.display()))?;
    writeln!(file, "{pgid} {start_time}")?;
    std::fs::rename(&temporary, path)?;
    Ok(file)
}

/// Kills the browser groups of workers that are gone: each pidfile in `run_dir` that
/// nobody holds locked. Only processes of the recorded group that are chromedriver,
/// Chromium or the supervising shell are killed, and none at all when the group's id
/// now belongs to another process (a recycled pid).
fn reap_left_behind(run_dir: &Path, chromedriver: &str) {
    let Ok(entries) = std::fs::read_dir(run_dir) else {
        return;
    };
    let pidfiles: Vec<PathBuf> = entries
        .filter_map(|entry| Some(entry.ok()?.path()))
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("browsers-") && n.ends_with(".pgid"))
        })
        .collect();
    for path in pidfiles {
        let Ok(mut file) = File::options().read(true).write(true).open(&path) else {
            continue;
        };
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => continue, // its worker is alive
            Err(TryLockError::Error(err)) => {
                tracing::warn!(pidfile = %path.display(), %err, "cannot lock a browser pidfile");
                continue;
            }
        }
        let mut text = String::new();
        let _ = file.read_to_string(&mut text);
        let pids = left_behind(&text, chromedriver);
        if !pids.is_empty() {
            tracing::warn!(pidfile = %path.display(), processes = pids.len(), "killing browsers a dead worker left behind");
            let _ = std::process::Command::new("kill")
                .args(["-s", "KILL", "--"])
                .args(pids.iter().map(u32::to_string))
                .stderr(Stdio::null())
                .status();
        }
        let _ = std::fs::remove_file(&path);
    }
}

/// The processes still running in the group a pidfile names.
fn left_behind(pidfile: &str, chromedriver: &str) -> Vec<u32> {
    let mut fields = pidfile.split_whitespace().map(str::parse::<u64>);
    let (Some(Ok(pgid)), Some(Ok(start_time))) = (fields.next(), fields.next()) else {
        return Vec::new();
    };
    let Ok(pgid) = u32::try_from(pgid) else {
        return Vec::new();
    };
    // The group's id is its supervisor's pid. While any member lives the kernel does
    // not hand that id out again; a live process under it that started at another time
    // means the group is gone and the id recycled.
    if procs::stat(pgid).is_some_and(|leader| leader.start_time != start_time) {
        return Vec::new();
    }
    let chromedriver = Path::new(chromedriver)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned());
    procs::all()
        .into_iter()
        .filter(|p| p.pgid == pgid && p.running())
        .filter(|p| {
            procs::program(p.pid).is_some_and(|program| {
                program.starts_with("chrom") || Some(&program) == chromedriver.as_ref()
            }) || procs::cmdline(p.pid).iter().any(|arg| arg == SUPERVISOR)
        })
        .map(|p| p.pid)
        .collect()
}
