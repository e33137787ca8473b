//! `subPath`: one file or directory of a volume mounted instead of its
//! root; `subPathExpr`, the same with `$(VAR)` from the container's
//! environment ([`expand_expr`]), so that each pod of a Deployment can
//! write under its own name in a shared volume.
//!
//! The path is checked to stay inside the volume twice: as written (no
//! absolute path, no `..`), and as resolved on the node, because a
//! container can leave a symlink in an `emptyDir` that points anywhere
//! (`ln -s / data/escape`); following it would mount the node's own root
//! into the next container (CVE-2017-1002101). The resolved path is what
//! gets bind-mounted, so a symlink changed after the check is not followed
//! again. (The kubelet goes further and opens each element with
//! `O_NOFOLLOW`; a symlink swapped between the check and the mount is a
//! race orc does not close.)

use std::path::{Path, PathBuf};

use super::projection::check_path;

// ANCHOR: resolve
/// The node path to bind for `sub_path` of the volume at `volume_dir`.
/// A missing path is made a directory, as the kubelet does (so `subPath:
/// data` of an `emptyDir` just works).
pub fn resolve(volume_dir: &Path, sub_path: &str) -> Result<PathBuf, String> {
    check_path(sub_path.trim_end_matches('/'))?;
    let wanted = volume_dir.join(sub_path);
    if std::fs::symlink_metadata(&wanted).is_err() {
        std::fs::create_dir_all(&wanted)
            .map_err(|e| format!("creating {}: {e}", wanted.display()))?;
    }
    let root = volume_dir
        .canonicalize()
        .map_err(|e| format!("{}: {e}", volume_dir.display()))?;
    let resolved = wanted
        .canonicalize()
        .map_err(|e| format!("{}: {e}", wanted.display()))?;
    if !resolved.starts_with(&root) {
        return Err(format!(
            "subPath {sub_path:?} resolves to {} outside the volume",
            resolved.display()
        ));
    }
    Ok(resolved)
}
// ANCHOR_END: resolve

// ANCHOR: expand_expr
/// A `subPathExpr` with each `$(VAR)` replaced by the container's variable
/// (`env`, resolved as the container will see it), as the kubelet's
/// `ExpandContainerVolumeMounts`: a variable that is missing *or empty* is
/// an error naming it, since an empty segment would mount the volume's
/// root where one directory was meant.
pub fn expand_expr(expr: &str, env: &[(String, String)]) -> Result<String, String> {
    let missing = std::cell::RefCell::new(std::collections::BTreeSet::new());
    let expanded = crate::env::expand(expr, |name| {
        let value = env.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
        if value.as_deref().unwrap_or("").is_empty() {
            missing.borrow_mut().insert(name.to_string());
        }
        Some(value.unwrap_or_default())
    });
    let missing = missing.into_inner();
    if !missing.is_empty() {
        let names: Vec<String> = missing.into_iter().collect();
        return Err(format!("missing value for {}", names.join(", ")));
    }
    Ok(expanded)
}
// ANCHOR_END: expand_expr

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_path_exprs_expand_from_the_env() {
        let env = vec![
            ("POD_NAME".to_string(), "web-1".to_string()),
            ("EMPTY".to_string(), String::new()),
        ];
        assert_eq!(expand_expr("logs/$(POD_NAME)", &env).unwrap(), "logs/web-1");
        // `$$` is a literal `$`, as in command and args.
        assert_eq!(expand_expr("a$$(POD_NAME)", &env).unwrap(), "a$(POD_NAME)");
        assert_eq!(
            expand_expr("$(NODE)/$(EMPTY)/$(POD_NAME)", &env).unwrap_err(),
            "missing value for EMPTY, NODE"
        );
    }

    #[test]
    fn sub_paths_stay_inside_their_volume() {
        let dir = tempfile::tempdir().unwrap();
        let v = dir.path().join("v");
        std::fs::create_dir(&v).unwrap();
        std::fs::write(v.join("file"), "x").unwrap();
        assert_eq!(
            resolve(&v, "file").unwrap(),
            v.canonicalize().unwrap().join("file")
        );
        // Missing: made a directory.
        assert!(resolve(&v, "data/logs").unwrap().is_dir());
        assert!(resolve(&v, "../v").unwrap_err().contains("'..'"));
        assert!(resolve(&v, "/etc").unwrap_err().contains("relative"));
        // A symlink a container left behind does not lead out.
        std::os::unix::fs::symlink("/", v.join("escape")).unwrap();
        assert!(
            resolve(&v, "escape")
                .unwrap_err()
                .contains("outside the volume")
        );
    }
}
