//! From an image to a bundle the runtime can run.
//!
//! ```text
//! DIR/
//!   config.json   from the image config, plus the caller's overrides
//!   rootfs/       overlayfs: lowerdir = the image's unpacked layers (shared,
//!                 read-only), upperdir + workdir = this container's own
//!   upper/ work/
//! ```
//!
//! Layers are never copied per container: overlayfs shows the stack as one
//! tree and sends every write to `upper/` (copy-up), so a hundred
//! containers of one image cost one unpacked image plus their own changes.
//! [`remove`] unmounts the root and deletes the directory.

use super::manifest::RunConfig;
use super::store::{Image, Store};
use super::unpack::unpacked_layer;
use super::{ImageError, io};
use crate::spec::{Spec, User};
use std::path::{Path, PathBuf};

/// What the caller (a pod spec, the CLI) may change in the image's config,
/// with Kubernetes' meaning:
/// `command` replaces the image's `Entrypoint` (and drops its `Cmd`),
/// `args` replaces `Cmd`, `env` entries win over the image's by name.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub command: Option<Vec<String>>,
    pub args: Option<Vec<String>>,
    pub env: Vec<String>,
}

/// A bundle made from an image.
#[derive(Debug, Clone)]
pub struct ImageBundle {
    pub dir: PathBuf,
    pub rootfs: PathBuf,
    pub spec: Spec,
    /// The image config's `User` as written (`""`, `1000`, `app:app`),
    /// before [`resolve_user`] turned it into numbers: Kubernetes'
    /// `runAsNonRoot` check refuses a user given by name, which it cannot
    /// verify without trusting the image's `/etc/passwd`.
    pub image_user: String,
}

/// Make a bundle at `dir` (which must not exist or be empty) from the image
/// `reference` in `store`.
// ANCHOR: create_bundle
pub fn create(
    store: &Store,
    reference: &str,
    dir: &Path,
    overrides: &Overrides,
) -> Result<ImageBundle, ImageError> {
    let image = store.image(reference)?;
    let image_user = image.config.config.user.clone();
    // Unpack (or find already unpacked) every layer, bottom first.
    let mut lowers = vec![];
    for (i, layer) in image.manifest.layers.iter().enumerate() {
        let diff_id = image.config.rootfs.diff_ids.get(i);
        lowers.push(unpacked_layer(store, &layer.digest, diff_id)?);
    }
    if std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some()) {
        return Err(ImageError::InvalidImage(format!(
            "bundle directory {} already exists and is not empty; remove it or pick another",
            dir.display()
        )));
    }
    let (rootfs, upper, work) = (dir.join("rootfs"), dir.join("upper"), dir.join("work"));
    for d in [&rootfs, &upper, &work] {
        std::fs::create_dir_all(d).map_err(io("creating", d))?;
    }
    mount_overlay(&lowers, &upper, &work, &rootfs)?;
    let result = (|| {
        let spec = spec_for(&image, &rootfs, overrides)?;
        let path = dir.join("config.json");
        let json = serde_json::to_vec_pretty(&spec).expect("spec serializes");
        std::fs::write(&path, json).map_err(io("writing", &path))?;
        Ok(spec)
    })();
    match result {
        Ok(spec) => Ok(ImageBundle {
            dir: dir.to_path_buf(),
            rootfs,
            spec,
            image_user,
        }),
        Err(e) => {
            let _ = remove(dir);
            Err(e)
        }
    }
}
// ANCHOR_END: create_bundle

/// Mount an overlayfs at `target`. overlayfs lists lower directories
/// *top first*, the reverse of a manifest's order.
// ANCHOR: mount_overlay
fn mount_overlay(
    lowers: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
) -> Result<(), ImageError> {
    let lowerdir: Vec<String> = lowers
        .iter()
        .rev()
        .map(|p| p.display().to_string())
        .collect();
    let options = format!(
        "lowerdir={},upperdir={},workdir={}",
        lowerdir.join(":"),
        upper.display(),
        work.display()
    );
    // The options must fit in one page; many layers with long paths do not.
    if options.len() >= 4096 {
        return Err(ImageError::Unsupported(format!(
            "{} layers make overlayfs options longer than a page; use a shorter store path",
            lowers.len()
        )));
    }
    nix::mount::mount(
        Some("overlay"),
        target,
        Some("overlay"),
        nix::mount::MsFlags::empty(),
        Some(options.as_str()),
    )
    .map_err(|source| ImageError::Sys {
        action: "mounting overlayfs on",
        path: target.to_path_buf(),
        source,
    })
}
// ANCHOR_END: mount_overlay

/// Unmount a bundle's root and delete the bundle. A bundle that was never
/// mounted (or is half made) is removed too.
pub fn remove(dir: &Path) -> Result<(), ImageError> {
    let rootfs = dir.join("rootfs");
    match nix::mount::umount(&rootfs) {
        // EINVAL: not a mount point; ENOENT: no rootfs at all.
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
        Err(source) => {
            return Err(ImageError::Sys {
                action: "unmounting (is a container still running from it?)",
                path: rootfs,
                source,
            });
        }
    }
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io("removing", dir)(e)),
        _ => Ok(()),
    }
}

/// The `config.json` for `image`: orc's default spec (namespaces, seccomp,
/// capabilities) with the process taken from the image. The root is
/// writable, since the overlay's upper layer is there to absorb writes.
// ANCHOR: spec_for
pub fn spec_for(image: &Image, rootfs: &Path, overrides: &Overrides) -> Result<Spec, ImageError> {
    let run: &RunConfig = &image.config.config;
    let args = process_args(run, overrides);
    if args.is_empty() {
        return Err(ImageError::InvalidImage(format!(
            "image {} has neither Entrypoint nor Cmd; give a command to run",
            image.name
        )));
    }
    let mut spec = Spec::example(&[]);
    let process = spec.process.as_mut().expect("example has a process");
    process.args = args;
    process.env = merge_env(&run.env, &overrides.env);
    if !run.working_dir.is_empty() {
        process.cwd = run.working_dir.clone();
    }
    process.user = resolve_user(rootfs, &run.user)?;
    spec.root.as_mut().expect("example has a root").readonly = false;
    spec.annotations.insert(
        "org.opencontainers.image.ref.name".into(),
        image.name.clone(),
    );
    spec.annotations.insert(
        "org.opencontainers.image.digest".into(),
        image.digest.to_string(),
    );
    Ok(spec)
}
// ANCHOR_END: spec_for

/// Entrypoint + Cmd, with Kubernetes' override rules.
pub fn process_args(run: &RunConfig, overrides: &Overrides) -> Vec<String> {
    let (entrypoint, cmd) = match (&overrides.command, &overrides.args) {
        (Some(command), Some(args)) => (command.clone(), args.clone()),
        (Some(command), None) => (command.clone(), vec![]),
        (None, Some(args)) => (run.entrypoint.clone(), args.clone()),
        (None, None) => (run.entrypoint.clone(), run.cmd.clone()),
    };
    entrypoint.into_iter().chain(cmd).collect()
}

/// The image's environment with `extra` applied: same name replaces, new
/// names append. An image without `PATH` gets the usual one, or nothing
/// could be found by name.
pub fn merge_env(image: &[String], extra: &[String]) -> Vec<String> {
    let key = |kv: &String| kv.split('=').next().unwrap_or("").to_string();
    let mut env: Vec<String> = image.to_vec();
    if !env.iter().any(|kv| key(kv) == "PATH") {
        env.insert(0, super::build::DEFAULT_PATH.into());
    }
    for kv in extra {
        match env.iter_mut().find(|e| key(e) == key(kv)) {
            Some(e) => *e = kv.clone(),
            None => env.push(kv.clone()),
        }
    }
    env
}

/// Turn the image's `User` (`""`, `uid`, `uid:gid`, `name`, `name:group`)
/// into numbers, reading names from the image's own `/etc/passwd` and
/// `/etc/group` (never the host's: the names differ between them).
// ANCHOR: resolve_user
pub fn resolve_user(rootfs: &Path, user: &str) -> Result<User, ImageError> {
    let bad = |problem: String| ImageError::User {
        user: user.to_string(),
        problem,
    };
    if user.is_empty() {
        return Ok(User::default());
    }
    let (name, group) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let passwd = read_db(rootfs, "etc/passwd");
    // passwd lines: name:x:uid:gid:gecos:home:shell
    let entry = passwd
        .iter()
        .find(|f| f[0] == name || (name.parse::<u32>().is_ok() && f[2] == name));
    let uid = match (name.parse::<u32>(), entry) {
        (Ok(uid), _) => uid,
        (Err(_), Some(f)) => f[2]
            .parse()
            .map_err(|_| bad(format!("bad uid `{}` in /etc/passwd", f[2])))?,
        (Err(_), None) => return Err(bad(format!("no user `{name}` in the image's /etc/passwd"))),
    };
    let gid = match group {
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => {
                let groups = read_db(rootfs, "etc/group");
                let f = groups
                    .iter()
                    .find(|f| f[0] == g)
                    .ok_or_else(|| bad(format!("no group `{g}` in the image's /etc/group")))?;
                f[2].parse()
                    .map_err(|_| bad(format!("bad gid `{}` in /etc/group", f[2])))?
            }
        },
        // No group given: the user's primary group, or root's.
        None => entry.and_then(|f| f[3].parse().ok()).unwrap_or(0),
    };
    Ok(User {
        uid,
        gid,
        additional_gids: vec![],
    })
}
// ANCHOR_END: resolve_user

/// The groups the image's `/etc/group` lists user `uid` (by its name in
/// the image's `/etc/passwd`) as a member of: what containerd adds to a
/// container's supplementary groups (Kubernetes'
/// `supplementalGroupsPolicy: Merge`). None for a uid the image does not
/// name.
pub fn member_groups(rootfs: &Path, uid: u32) -> Vec<u32> {
    let passwd = read_db(rootfs, "etc/passwd");
    let Some(name) = passwd
        .iter()
        .find(|f| f[2] == uid.to_string())
        .map(|f| f[0].clone())
    else {
        return vec![];
    };
    // group lines: name:x:gid:member,member
    read_db(rootfs, "etc/group")
        .iter()
        .filter(|f| f[3].split(',').any(|m| m == name))
        .filter_map(|f| f[2].parse().ok())
        .collect()
}

/// The `:`-separated lines of a user database with at least four fields.
/// A database reached through a symlink is ignored: through the mounted
/// root, an absolute link would be followed on the host.
fn read_db(rootfs: &Path, rel: &str) -> Vec<Vec<String>> {
    let Some(path) = super::path_inside(rootfs, Path::new(rel)) else {
        return vec![];
    };
    std::fs::read_to_string(&path)
        .unwrap_or_default()
        .lines()
        .map(|l| l.split(':').map(str::to_string).collect::<Vec<_>>())
        .filter(|f| f.len() >= 4)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(entrypoint: &[&str], cmd: &[&str]) -> RunConfig {
        RunConfig {
            entrypoint: entrypoint.iter().map(|s| s.to_string()).collect(),
            cmd: cmd.iter().map(|s| s.to_string()).collect(),
            ..RunConfig::default()
        }
    }

    fn v(items: &[&str]) -> Option<Vec<String>> {
        Some(items.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn overrides_follow_kubernetes() {
        let image = run(&["/app"], &["--port", "80"]);
        let args = |o: Overrides| process_args(&image, &o);
        assert_eq!(args(Overrides::default()), ["/app", "--port", "80"]);
        let o = Overrides {
            args: v(&["-v"]),
            ..Default::default()
        };
        assert_eq!(args(o), ["/app", "-v"]);
        let o = Overrides {
            command: v(&["sh"]),
            ..Default::default()
        };
        assert_eq!(args(o), ["sh"]);
        let o = Overrides {
            command: v(&["sh"]),
            args: v(&["-c", "true"]),
            ..Default::default()
        };
        assert_eq!(args(o), ["sh", "-c", "true"]);
    }

    #[test]
    fn env_overrides_by_name() {
        let env = merge_env(&["A=1".into(), "B=2".into()], &["B=3".into(), "C=4".into()]);
        assert_eq!(env[1..], ["A=1", "B=3", "C=4"]);
        assert!(env[0].starts_with("PATH="));
    }

    #[test]
    fn users_resolve_through_the_images_files() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("etc")).unwrap();
        std::fs::write(
            root.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(root.path().join("etc/group"), "root:x:0:\nstaff:x:50:\n").unwrap();
        let u = |s| resolve_user(root.path(), s).map(|u| (u.uid, u.gid));
        assert_eq!(u("").unwrap(), (0, 0));
        assert_eq!(u("app").unwrap(), (1000, 1001));
        assert_eq!(u("1000").unwrap(), (1000, 1001));
        assert_eq!(u("77").unwrap(), (77, 0));
        assert_eq!(u("app:staff").unwrap(), (1000, 50));
        assert_eq!(u("5:6").unwrap(), (5, 6));
        let e = u("ghost").unwrap_err().to_string();
        assert!(
            e.contains("no user `ghost` in the image's /etc/passwd"),
            "{e}"
        );
    }
}
