//! Which processes a test's worker started, and whether any outlived it.

use cartwright_shared::procs::{self, Stat};

/// `root` and every process under it, by parent pid, as they are now.
pub fn tree(root: u32) -> Vec<Stat> {
    let all = procs::all();
    let mut found: Vec<Stat> = all.iter().filter(|p| p.pid == root).cloned().collect();
    let mut next = 0;
    while next < found.len() {
        let parent = found[next].pid;
        found.extend(all.iter().filter(|p| p.ppid == parent).cloned());
        next += 1;
    }
    found
}

/// Processes whose environment holds `name=value`: what a process started with that
/// variable set, and what those started, wherever they were re-parented (Chromium's
/// renderers get a scrubbed environment; [`tree`] finds those).
pub fn with_env(name: &str, value: &str) -> Vec<Stat> {
    let needle = format!("{name}={value}");
    procs::all()
        .into_iter()
        .filter(|p| {
            std::fs::read(format!("/proc/{}/environ", p.pid))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|var| var == needle.as_bytes()))
        })
        .collect()
}

/// Those of `known` that still run: the same pid with the same start time, and not a
/// zombie.
pub fn still_running(known: &[Stat]) -> Vec<Stat> {
    known
        .iter()
        .filter(|p| {
            procs::stat(p.pid).is_some_and(|now| now.start_time == p.start_time && now.running())
        })
        .cloned()
        .collect()
}

/// A readable list: pid and program.
pub fn describe(list: &[Stat]) -> String {
    list.iter()
        .map(|p| format!("{} {}", p.pid, procs::program(p.pid).unwrap_or_default()))
        .collect::<Vec<_>>()
        .join(", ")
}
