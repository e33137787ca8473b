//! [`Registry`]: Debian's `docker-registry` (distribution 2.8) on a free
//! loopback port, in a temp dir, killed on drop; images pushed with
//! `skopeo`. Chapter 01 pulls from it, and the node agent's
//! `imagePullPolicy` tests move a tag on it.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A real OCI registry on loopback.
pub struct Registry {
    child: Child,
    /// `127.0.0.1:PORT`, the registry part of the images it holds.
    pub addr: String,
    _dir: tempfile::TempDir,
}

impl Registry {
    /// Starts one; with `user`, it requires Basic auth from an htpasswd file.
    pub fn start(user: Option<(&str, &str)>) -> Registry {
        let bin = crate::require_command("docker-registry");
        let dir = tempfile::tempdir().unwrap();
        let addr = format!("127.0.0.1:{}", crate::ports::free_port());
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
            dir.path().join("data").display()
        );
        if let Some((u, p)) = user {
            crate::require_command("htpasswd");
            let out = Command::new("htpasswd")
                .args(["-Bbn", u, p])
                .output()
                .unwrap();
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, out.stdout).unwrap();
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: orc-test\n    path: {}\n",
                file.display()
            ));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let child = Command::new(bin)
            .arg("serve")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "docker-registry did not start on {addr}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Registry {
            child,
            addr,
            _dir: dir,
        }
    }

    /// Pushes `oci:LAYOUT:NAME` to `REGISTRY/repo` with skopeo.
    pub fn push(&self, layout: &Path, name: &str, repo: &str, extra: &[&str]) {
        let out = Command::new(crate::require_command("skopeo"))
            .args([
                "--insecure-policy",
                "copy",
                "--quiet",
                "--dest-tls-verify=false",
            ])
            .args(extra)
            .arg(format!("oci:{}:{name}", layout.display()))
            .arg(format!("docker://{}/{repo}", self.addr))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "skopeo: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
