//! Scratch files on local disk (splits being built, merges, uploads in flight), named so that
//! the leftovers of a killed process can be told from the files of a live one and removed.
//!
//! Every scratch name starts with `hydrant-{pid}-`: [`scratch_prefix`] makes them, and
//! [`remove_stale`] deletes those whose process is gone. A process that calls it before
//! creating any scratch file of its own also deletes those carrying its own pid: they can only
//! come from an earlier process that had the same pid (Lambda reuses pids across restarts of a
//! sandbox, and `/tmp` survives them).
//!
//! ```
//! use hydrant_storage::scratch::{remove_stale, scratch_prefix};
//!
//! let root = tempfile::tempdir().unwrap();
//! // A leftover of a process that no longer runs, and a file that is not ours.
//! std::fs::create_dir(root.path().join("hydrant-999999999-split-abc")).unwrap();
//! std::fs::write(root.path().join("notes.txt"), "keep").unwrap();
//! let removed = remove_stale(root.path(), true).unwrap();
//! assert_eq!(removed, 1);
//! assert!(root.path().join("notes.txt").exists());
//! assert!(scratch_prefix("split").starts_with(&format!("hydrant-{}-", std::process::id())));
//! ```

use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// Scratch files older than this are removed whoever made them: a pid may have been reused
/// by an unrelated process, and no Hydrant process keeps a scratch file this long.
const MAX_SCRATCH_AGE: Duration = Duration::from_secs(24 * 3_600);

/// The name prefix of a scratch file or directory of `kind` made by this process.
pub fn scratch_prefix(kind: &str) -> String {
    format!("hydrant-{}-{kind}-", std::process::id())
}

/// Removes the scratch files and directories directly under `dir` whose process is gone (or
/// that are older than a day). With `including_own`, also those carrying this process's pid:
/// call it so before this process creates any. Returns how many entries were removed; a
/// missing `dir` has none.
pub fn remove_stale(dir: &Path, including_own: bool) -> io::Result<usize> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(error) => return Err(error),
    };
    let own_pid = std::process::id();
    let mut removed = 0;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(scratch_pid) else {
            continue;
        };
        let metadata = match entry.metadata() {
            Ok(metadata) => metadata,
            Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
            Err(error) => return Err(error),
        };
        let old = metadata
            .modified()
            .ok()
            .and_then(|modified| SystemTime::now().duration_since(modified).ok())
            .is_some_and(|age| age > MAX_SCRATCH_AGE);
        let stale = if pid == own_pid {
            including_own || old
        } else {
            old || process_is_gone(pid)
        };
        if !stale {
            continue;
        }
        let outcome = if metadata.is_dir() {
            std::fs::remove_dir_all(entry.path())
        } else {
            std::fs::remove_file(entry.path())
        };
        match outcome {
            Ok(()) => removed += 1,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(error),
        }
    }
    Ok(removed)
}

/// What a process calls once when it starts, before it makes any scratch file: removes what
/// stopped processes left in `dir` (this process's pid included, since a restarted process
/// may get the pid of the one that crashed) and logs what it did. A failure is logged, not
/// fatal: leftovers only cost disk.
pub fn clean_at_start(dir: &Path) {
    match remove_stale(dir, true) {
        Ok(0) => {}
        Ok(removed) => {
            let dir = dir.display();
            tracing::info!(removed, %dir, "removed scratch files of stopped processes")
        }
        Err(error) => {
            let dir = dir.display();
            tracing::warn!(%error, %dir, "cannot clean scratch files")
        }
    }
}

/// The pid in a scratch name (`hydrant-{pid}-...`).
fn scratch_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("hydrant-")?;
    let (pid, _) = rest.split_once('-')?;
    pid.parse().ok()
}

/// Whether no process has `pid`. Where `/proc` does not tell (not Linux), every process is
/// assumed alive, and only age removes scratch files.
fn process_is_gone(pid: u32) -> bool {
    Path::new("/proc/self").exists() && !Path::new(&format!("/proc/{pid}")).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_leftovers_are_removed() {
        let root = tempfile::tempdir().unwrap();
        let own = root.path().join(format!("{}abc", scratch_prefix("split")));
        let dead = root.path().join("hydrant-4000000000-merge-x");
        // The parent process is alive for as long as this test runs.
        let alive = root.path().join(format!(
            "hydrant-{}-split-y",
            std::os::unix::process::parent_id()
        ));
        for dir in [&own, &dead, &alive] {
            std::fs::create_dir_all(dir.join("index")).unwrap();
        }
        std::fs::write(root.path().join("hydrant-splits"), "not scratch").unwrap();
        assert_eq!(remove_stale(root.path(), false).unwrap(), 1);
        assert!(!dead.exists() && own.exists() && alive.exists());
        assert_eq!(remove_stale(root.path(), true).unwrap(), 1);
        assert!(!own.exists() && alive.exists());
        assert!(root.path().join("hydrant-splits").exists());
        assert_eq!(remove_stale(&root.path().join("missing"), true).unwrap(), 0);
    }
}
