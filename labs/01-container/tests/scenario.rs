//! Lab 01's walkthrough: chapter 01's container, run for real with orc's
//! runtime (the lab's `lab01-runtime` binary is exactly `orc-container`).
//!
//! The snapshots are the chapter's expected output: what a container sees
//! of itself, its OCI state, the cgroup files its limits became, the errors
//! a broken bundle gets (at load, and from the init at `create`), a missing
//! `cwd` created as runc does, and an image made from a host binary going
//! from layout to store to container.
//! Process ids, times, temp paths, ids, digests and sizes are redacted;
//! everything else is what the code does today.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use orc_container::Spec;
use orc_container::spec::{MemoryLimits, PidsLimit, Resources};
use orc_testkit::{require_root, unique_name};

/// What the container prints about itself; written into the rootfs as
/// `/look-around.sh`, so `ps` shows a short command line.
const LOOK_AROUND: &str = r#"
echo "pid:      $$"
echo "hostname: $(hostname)"
echo "user:     $(id)"
grep -E '^Cap(Eff|Bnd)' /proc/self/status
echo "processes:"
ps
echo "/:"
ls /
echo "mounts:"
while read source target type options rest; do
  # The root's type is the host's (ext4, xfs, overlay...): not the point.
  case $target in
    /) echo "  / (the bundle's rootfs)" ;;
    *) echo "  $target $type" ;;
  esac
done < /proc/self/mounts
"#;

/// A bundle (busybox rootfs + config.json) and a state root in a temp dir.
struct Lab {
    dir: tempfile::TempDir,
    id: String,
}

impl Lab {
    fn new(args: &[&str]) -> Lab {
        require_root();
        let dir = tempfile::tempdir().unwrap();
        let rootfs = dir.path().join("bundle/rootfs");
        orc_container::busybox::rootfs(&rootfs).unwrap();
        std::fs::write(rootfs.join("look-around.sh"), LOOK_AROUND).unwrap();
        let id = unique_name("lab01");
        let mut spec = Spec::example(args);
        spec.hostname = Some("lab01".into());
        let linux = spec.linux.get_or_insert_with(Default::default);
        // Directly under the root: `delete` removes it, and no parent is left.
        linux.cgroups_path = Some(format!("/{id}"));
        linux.resources = Some(Resources {
            memory: Some(MemoryLimits {
                limit: Some(64 << 20),
                swap: None,
            }),
            pids: Some(PidsLimit { limit: 32 }),
            ..Resources::default()
        });
        let lab = Lab { dir, id };
        lab.write_config(&serde_json::to_string_pretty(&spec).unwrap());
        lab
    }

    fn bundle(&self) -> PathBuf {
        self.dir.path().join("bundle")
    }

    fn write_config(&self, json: &str) {
        std::fs::write(self.bundle().join("config.json"), json).unwrap();
    }

    /// `lab01-runtime --root STATE ARGS...`, with the container's stdio
    /// (inherited by `create`) sent to a file rather than our pipes.
    fn runtime(&self, args: &[&str]) -> Output {
        let log = std::fs::File::create(self.dir.path().join("container.log")).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_lab01-runtime"));
        command
            .arg("--root")
            .arg(self.dir.path().join("state"))
            .args(args)
            .stdin(Stdio::null());
        if args.first() == Some(&"create") {
            command.stdout(log.try_clone().unwrap()).stderr(log);
        }
        command.output().unwrap()
    }

    /// Redactions for what varies between runs.
    fn settings(&self) -> insta::Settings {
        let mut settings = insta::Settings::clone_current();
        settings.add_filter(
            &regex_escape(&self.dir.path().display().to_string()),
            "[TMP]",
        );
        settings.add_filter(&regex_escape(&self.id), "[ID]");
        settings
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = self.runtime(&["delete", "--force", &self.id]);
    }
}

fn regex_escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$-".contains(c);
            special.then_some('\\').into_iter().chain([c])
        })
        .collect()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_container_sees_only_itself() {
    let lab = Lab::new(&["sh", "/look-around.sh"]);
    let output = lab.runtime(&[
        "run",
        &lab.id,
        "--bundle",
        &lab.bundle().display().to_string(),
    ]);
    assert!(
        output.status.success(),
        "run failed: {}",
        text(&output.stderr)
    );
    let seen = text(&output.stdout);
    lab.settings()
        .bind(|| insta::assert_snapshot!("what_the_container_sees", seen));
}

#[test]
fn limits_become_cgroup_files() {
    let lab = Lab::new(&["sleep", "60"]);
    let created = lab.runtime(&[
        "create",
        &lab.id,
        "--bundle",
        &lab.bundle().display().to_string(),
    ]);
    assert!(
        created.status.success(),
        "create failed: {}",
        text(&created.stderr)
    );
    let cgroup = |controller: &str, file: &str| -> String {
        let path = Path::new("/sys/fs/cgroup")
            .join(controller)
            .join(&lab.id)
            .join(file);
        let value = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        format!("{controller}/[ID]/{file}: {}", value.trim())
    };
    let files = [
        cgroup("memory", "memory.limit_in_bytes"),
        cgroup("pids", "pids.max"),
    ]
    .join("\n");
    insta::assert_snapshot!("cgroup_files", files);

    let state: serde_json::Value =
        serde_json::from_slice(&lab.runtime(&["state", &lab.id]).stdout).unwrap();
    assert!(state["pid"].as_u64().is_some_and(|pid| pid > 1));
    lab.settings().bind(|| {
        insta::assert_json_snapshot!("state_after_create", state, {
            ".pid" => "[PID]",
            ".created" => "[TIME]",
            ".stats" => "[USAGE]",
        });
    });

    let deleted = lab.runtime(&["delete", "--force", &lab.id]);
    assert!(
        deleted.status.success(),
        "delete failed: {}",
        text(&deleted.stderr)
    );
    assert!(
        !Path::new("/sys/fs/cgroup/memory").join(&lab.id).exists(),
        "delete removes the container's cgroup"
    );
}

#[test]
fn a_broken_config_is_named_precisely() {
    let lab = Lab::new(&["true"]);
    let config = std::fs::read_to_string(lab.bundle().join("config.json")).unwrap();
    lab.write_config(&config.replace(r#""cwd": "/""#, r#""cwd": 5"#));
    let output = lab.runtime(&[
        "run",
        &lab.id,
        "--bundle",
        &lab.bundle().display().to_string(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    let message = text(&output.stderr);
    lab.settings()
        .bind(|| insta::assert_snapshot!("broken_config", message));
}

/// A `cwd` the image lacks is created, as runc does (a Kubernetes pod's
/// `workingDir` need not exist in its image).
#[test]
fn a_missing_cwd_is_created() {
    let lab = Lab::new(&["sh", "-c", "pwd; stat -c '%u:%g %a' ."]);
    let config = std::fs::read_to_string(lab.bundle().join("config.json")).unwrap();
    lab.write_config(&config.replace(r#""cwd": "/""#, r#""cwd": "/srv/www""#));
    let output = lab.runtime(&[
        "run",
        &lab.id,
        "--bundle",
        &lab.bundle().display().to_string(),
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "/srv/www\n0:0 755\n");
}

/// ...but not over a file: that is an error at `create`, from the init.
#[test]
fn a_cwd_that_is_a_file_fails_at_create() {
    let lab = Lab::new(&["true"]);
    let config = std::fs::read_to_string(lab.bundle().join("config.json")).unwrap();
    lab.write_config(&config.replace(r#""cwd": "/""#, r#""cwd": "/look-around.sh""#));
    let output = lab.runtime(&[
        "create",
        &lab.id,
        "--bundle",
        &lab.bundle().display().to_string(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    // `create` shares its output with the container's, sent to the log.
    let message = std::fs::read_to_string(lab.dir.path().join("container.log")).unwrap();
    lab.settings()
        .bind(|| insta::assert_snapshot!("cwd_not_a_directory", message));
}

/// The chapter's image session: a host binary and its libraries become an
/// image in an OCI layout, the layout is imported into a store, the image
/// becomes a bundle on overlayfs and runs, and removing the tag frees what
/// nothing else uses.
#[test]
fn an_image_from_a_host_binary_runs() {
    let lab = Lab::new(&["true"]);
    let tmp = lab.dir.path();
    let store = tmp.join("store");
    let (layout, bundle) = (tmp.join("layout"), tmp.join("b1"));
    let (layout, bundle) = (layout.to_str().unwrap(), bundle.to_str().unwrap());
    let steps: [&[&str]; 7] = [
        &[
            "image",
            "build",
            layout,
            "--name",
            "echo:1",
            "--binary",
            "/usr/bin/echo",
            "--",
            "hi",
            "there",
        ],
        &["image", "import", layout],
        &["image", "list"],
        &["image", "bundle", "echo:1", bundle],
        &["run", &lab.id, "--bundle", bundle],
        &["image", "unbundle", bundle],
        &["image", "rm", "echo:1"],
    ];
    let mut session = String::new();
    for args in steps {
        let mut command = Command::new(env!("CARGO_BIN_EXE_lab01-runtime"));
        command
            .env("ORC_IMAGES", &store)
            .arg("--root")
            .arg(tmp.join("state"))
            .args(args)
            .stdin(Stdio::null());
        let output = command.output().unwrap();
        assert!(
            output.status.success(),
            "{args:?} failed: {}",
            text(&output.stderr)
        );
        session.push_str(&format!("# orc-container {}\n", args.join(" ")));
        session.push_str(&text(&output.stdout));
    }
    let mut settings = lab.settings();
    // The digests and the size depend on the host's echo and libraries.
    settings.add_filter(r"sha256:[0-9a-f]{64}", "sha256:[DIGEST]");
    // `image list` pads the digest to 14 and the size to 10: so do the tokens.
    settings.add_filter(
        r"(?m)[0-9a-f]{12} +[0-9.]+ MB$",
        "[DIGEST]           [SIZE]",
    );
    settings.bind(|| insta::assert_snapshot!("image_session", session));
}
