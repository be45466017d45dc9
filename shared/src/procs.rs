//! What Linux's `/proc` says about a process: its parent, its process group, whether
//! it is a zombie, when it started and its command line. The browser worker uses it to
//! reap the browsers a dead predecessor left behind, and the tests to prove none are
//! left. A pid alone can be recycled, so a process is named by its pid *and* its start
//! time.

use std::path::Path;

/// One line of `/proc/<pid>/stat`, the fields that matter here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    pub pid: u32,
    /// `R`, `S`, `D`, `Z` (zombie: dead, waiting to be reaped), …
    pub state: char,
    pub ppid: u32,
    pub pgid: u32,
    /// Clock ticks after boot: with the pid, names the process for good.
    pub start_time: u64,
}

impl Stat {
    /// Whether it still runs (a zombie holds no memory and runs nothing).
    pub fn running(&self) -> bool {
        self.state != 'Z' && self.state != 'X'
    }
}

/// `None` when there is no such process (any more).
pub fn stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may itself hold spaces or parentheses.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state (3rd field of the line), ppid (4th), pgrp (5th), …,
    // starttime (22nd).
    Some(Stat {
        pid,
        state: fields.first()?.chars().next()?,
        ppid: fields.get(1)?.parse().ok()?,
        pgid: fields.get(2)?.parse().ok()?,
        start_time: fields.get(19)?.parse().ok()?,
    })
}

/// Every process there is now.
pub fn all() -> Vec<Stat> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .filter_map(stat)
        .collect()
}

/// Its arguments, argv\[0\] first (empty when it is gone or a kernel thread).
pub fn cmdline(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|raw| {
            raw.split(|b| *b == 0)
                .filter(|arg| !arg.is_empty())
                .map(|arg| String::from_utf8_lossy(arg).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The file name of the program, from argv\[0\]. Chromium rewrites its command line
/// into one string, so only the first word counts.
pub fn program(pid: u32) -> Option<String> {
    let argv0 = cmdline(pid).into_iter().next()?;
    let first = argv0.split_whitespace().next()?.to_owned();
    Path::new(&first)
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let me = stat(std::process::id()).expect("own stat");
        assert!(me.running());
        assert_eq!(me.ppid, stat(me.pid).unwrap().ppid);
        assert!(me.start_time > 0);
        assert!(all().iter().any(|p| p.pid == me.pid));
        assert!(!cmdline(me.pid).is_empty());
    }

    #[test]
    fn a_missing_process_has_no_stat() {
        assert_eq!(stat(u32::MAX), None);
    }
}
