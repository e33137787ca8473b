//! A `kubectl get -w` in the background, for the watch snapshots.

use super::cluster::Cluster;

/// A `kubectl get -w` running in the background, its lines collected.
pub struct Watching {
    args: Vec<String>,
    child: std::process::Child,
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    seen: Vec<String>,
}

impl Watching {
    pub fn start(c: &Cluster, args: &[&str]) -> Watching {
        use std::io::{BufRead, BufReader};
        use std::process::{Command, Stdio};
        let mut child = Command::new(orc_testkit::require_command("kubectl"))
            .arg(format!("--kubeconfig={}", c.config.display()))
            .arg(format!(
                "--cache-dir={}",
                c.dir.path().join("cache").display()
            ))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        // A thread reads kubectl's lines; the test awaits them without
        // blocking the runtime the server runs on.
        let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Watching {
            args: args.iter().map(|a| a.to_string()).collect(),
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for `n` more lines (at most ten seconds each).
    pub async fn take(&mut self, n: usize) {
        for _ in 0..n {
            let next = tokio::time::timeout(std::time::Duration::from_secs(10), self.lines.recv());
            match next.await {
                Ok(Some(line)) => self.seen.push(line),
                _ => break,
            }
        }
    }

    /// Stops kubectl (our own child, by its handle) and returns the
    /// transcript. Each event is laid out on its own, as kubectl prints it;
    /// AGE is the last column, so replacing it moves nothing.
    pub fn stop(mut self, expected: usize) -> String {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        assert_eq!(self.seen.len(), expected, "{:#?}", self.seen);
        let age = regex::Regex::new(r"\S+$").unwrap();
        let lines: Vec<String> = self
            .seen
            .iter()
            .enumerate()
            .map(|(i, l)| match i {
                0 => l.clone(),
                _ => age.replace(l, "<age>").to_string(),
            })
            .collect();
        format!("$ kubectl {}\n{}\n", self.args.join(" "), lines.join("\n"))
    }
}
