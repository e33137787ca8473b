//! An etcd left behind on our data directory.
//!
//! etcd locks its write-ahead log, so a second etcd on the same data
//! directory waits for the lock and never answers. Before this check, an
//! `orc server` killed with SIGKILL left its etcd running (nothing told the
//! child its parent was gone), and the next start failed after 20 s with
//! "etcd did not answer". Now the child dies with its parent (see
//! `supervisor.rs`), and a start first looks for any process still using
//! the directory (one left by an older orc, or a hand-started etcd) and
//! names it.

use std::path::Path;

/// The pids among `processes` (pid and command-line arguments) that run
/// with `--data-dir=<data_dir>`: an etcd holding our data.
pub fn holders<'a>(
    processes: impl IntoIterator<Item = (u32, Vec<String>)> + 'a,
    data_dir: &Path,
) -> Vec<u32> {
    let flag = format!("--data-dir={}", data_dir.display());
    processes
        .into_iter()
        .filter(|(_, args)| {
            args.contains(&flag)
                || args
                    .windows(2)
                    .any(|w| w[0] == "--data-dir" && Path::new(&w[1]) == data_dir)
        })
        .map(|(pid, _)| pid)
        .collect()
}

/// Every process of this machine (of this pid namespace) and its
/// arguments, as `/proc/<pid>/cmdline` lists them. Processes that end
/// while we read are skipped.
pub fn processes() -> Vec<(u32, Vec<String>)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    entries
        .filter_map(|entry| {
            let pid = entry.ok()?.file_name().to_str()?.parse::<u32>().ok()?;
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let args = cmdline
                .split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            Some((pid, args))
        })
        .collect()
}

/// The error for a data directory another process holds: what, where,
/// and what to do.
pub fn message(pids: &[u32], data_dir: &Path) -> String {
    let list: Vec<String> = pids.iter().map(u32::to_string).collect();
    format!(
        "etcd (pid {}) is already running on the data directory {}: another `orc server` \
         on it is still running, or a killed one left its etcd behind. Stop it \
         (`kill {}`) and start again, or choose another --data-dir",
        list.join(", "),
        data_dir.display(),
        list.join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split(' ').map(str::to_string).collect()
    }

    #[test]
    fn an_etcd_on_our_data_dir_is_found_in_either_flag_form() {
        let dir = Path::new("/var/lib/orc/server/etcd");
        let processes = vec![
            (
                10,
                args("etcd --name=orc --data-dir=/var/lib/orc/server/etcd"),
            ),
            (11, args("etcd --data-dir /var/lib/orc/server/etcd")),
            (12, args("etcd --data-dir=/var/lib/orc/server/etcd2")),
            (13, args("bash -c etcd")),
        ];
        assert_eq!(holders(processes, dir), vec![10, 11]);
    }

    #[test]
    fn the_message_names_the_pid_the_directory_and_the_fix() {
        let text = message(&[42], Path::new("/d/etcd"));
        assert!(text.contains("pid 42"), "{text}");
        assert!(text.contains("/d/etcd"), "{text}");
        assert!(text.contains("kill 42"), "{text}");
    }
}
