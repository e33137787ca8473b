//! Loading and checking an OCI bundle.
//!
//! All the checks that can be done without touching the kernel happen here,
//! in the `create` command's own process, before any namespace exists. A typo
//! in `config.json` therefore comes back as one line naming the file, the
//! field and the fix, instead of as a half-created container.

use crate::cgroups::Layout;
use crate::error::{Error, Result};
use crate::spec::{NamespaceType, Spec};
use crate::{capabilities, mounts, process, seccomp};
use std::path::{Path, PathBuf};

/// A loaded bundle: the directory, its parsed config, and the resolved root.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// Absolute bundle directory, recorded in `state`.
    pub dir: PathBuf,
    pub spec: Spec,
    /// Absolute path of the root filesystem on the host.
    pub rootfs: PathBuf,
}

impl Bundle {
    /// Read `DIR/config.json`, parse it, and validate it.
    pub fn load(dir: &Path) -> Result<Bundle> {
        let dir = std::fs::canonicalize(dir).map_err(|error| Error::ReadConfig {
            path: dir.to_path_buf(),
            error,
        })?;
        let path = dir.join("config.json");
        let text = std::fs::read_to_string(&path).map_err(|error| Error::ReadConfig {
            path: path.clone(),
            error,
        })?;
        let spec = parse_spec(&path, &text)?;
        let root = spec
            .root
            .as_ref()
            .ok_or_else(|| invalid(&path, "root", "missing; set it to {\"path\": \"rootfs\"}"))?;
        // Canonical, so that paths resolved inside it compare sanely.
        let rootfs = std::fs::canonicalize(dir.join(&root.path)).unwrap_or(dir.join(&root.path));
        if !rootfs.is_dir() {
            return Err(invalid(
                &path,
                "root.path",
                &format!(
                    "{} is not a directory; create the root filesystem there",
                    rootfs.display()
                ),
            ));
        }
        validate(&path, &spec)?;
        Ok(Bundle { dir, spec, rootfs })
    }
}

/// Parse `config.json` text. `path` only labels errors.
///
/// serde_path_to_error wraps the deserializer to remember which field it was
/// in when it failed, so the error names `process.user.uid` and not just
/// "line 7 column 19".
pub fn parse_spec(path: &Path, text: &str) -> Result<Spec> {
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        let message = inner.to_string();
        // serde_json appends " at line L column C"; we print it in front.
        let message = match message.rfind(" at line ") {
            Some(i) => message[..i].to_string(),
            None => message,
        };
        Error::ParseConfig {
            path: path.to_path_buf(),
            field,
            line: inner.line(),
            column: inner.column(),
            message,
        }
    })
}

fn invalid(path: &Path, field: &str, problem: &str) -> Error {
    Error::InvalidConfig {
        path: path.to_path_buf(),
        field: field.to_string(),
        problem: problem.to_string(),
    }
}

/// Check what serde's types cannot express: required values, absolute paths,
/// known names, and combinations orc does not support.
pub fn validate(path: &Path, spec: &Spec) -> Result<()> {
    let bad = |field: &str, problem: &str| Err(invalid(path, field, problem));
    let Some(proc) = &spec.process else {
        return bad("process", "missing; a container needs a process to run");
    };
    if proc.args.is_empty() {
        return bad("process.args", "empty; give at least the program to run");
    }
    if proc.terminal {
        return bad(
            "process.terminal",
            "orc passes stdio through and has no console support; set it to false",
        );
    }
    if !proc.cwd.starts_with('/') {
        return bad(
            "process.cwd",
            "must be an absolute path inside the container",
        );
    }
    if let Some(caps) = &proc.capabilities {
        for (set, names) in [
            ("bounding", &caps.bounding),
            ("effective", &caps.effective),
            ("inheritable", &caps.inheritable),
            ("permitted", &caps.permitted),
            ("ambient", &caps.ambient),
        ] {
            if let Err(name) = capabilities::mask(names) {
                return bad(
                    &format!("process.capabilities.{set}"),
                    &format!("unknown capability `{name}`; names look like CAP_NET_ADMIN"),
                );
            }
        }
    }
    for (i, r) in proc.rlimits.iter().enumerate() {
        if process::rlimit_resource(&r.kind).is_none() {
            return bad(
                &format!("process.rlimits[{i}].type"),
                &format!("unknown rlimit `{}`; names look like RLIMIT_NOFILE", r.kind),
            );
        }
    }
    if let Err(e) = mounts::mount_plan(spec, crate::cgroups::Layout::of_host()) {
        return bad(&e.field, &e.problem);
    }
    let linux = spec.linux_or_default();
    let mut seen = Vec::new();
    for (i, ns) in linux.namespaces.iter().enumerate() {
        if seen.contains(&ns.kind) {
            return bad(
                &format!("linux.namespaces[{i}]"),
                "namespace type listed twice",
            );
        }
        seen.push(ns.kind);
        if ns.path.is_some()
            && matches!(
                ns.kind,
                NamespaceType::Pid | NamespaceType::Mount | NamespaceType::User
            )
        {
            return bad(
                &format!("linux.namespaces[{i}].path"),
                "orc joins only network, ipc, uts and cgroup namespaces by path; remove the path to create a new one",
            );
        }
    }
    if linux.namespace(NamespaceType::Mount).is_none() {
        return bad(
            "linux.namespaces",
            "no mount namespace; orc needs one to pivot_root without touching the host's mounts",
        );
    }
    let has_user = linux.namespace(NamespaceType::User).is_some();
    if !has_user && (!linux.uid_mappings.is_empty() || !linux.gid_mappings.is_empty()) {
        return bad(
            "linux.uidMappings",
            "mappings need a user namespace; add {\"type\": \"user\"} to linux.namespaces",
        );
    }
    if has_user && (linux.uid_mappings.is_empty() || linux.gid_mappings.is_empty()) {
        return bad(
            "linux.uidMappings",
            "a user namespace needs both uidMappings and gidMappings, or nobody is root inside",
        );
    }
    if spec.hostname.is_some() && linux.namespace(NamespaceType::Uts).is_none() {
        return bad(
            "hostname",
            "setting a hostname needs a uts namespace, or it would rename the host",
        );
    }
    if let Some(s) = &linux.seccomp {
        if let Err(e) = seccomp::compile(s) {
            return bad("linux.seccomp", &e.to_string());
        }
    }
    if let Some(r) = &linux.resources {
        if let Err((key, problem)) = check_unified(&r.unified, Layout::of_host()) {
            return bad(&format!("linux.resources.unified.{key}"), &problem);
        }
    }
    Ok(())
}

/// `linux.resources.unified` names cgroup v2 files of the container's own
/// cgroup: `<controller>.<name>`, no directories. A v1 host has no such
/// files, and writing them elsewhere would be silent, so it is refused.
pub fn check_unified(
    unified: &std::collections::BTreeMap<String, String>,
    layout: Layout,
) -> std::result::Result<(), (String, String)> {
    for key in unified.keys() {
        let well_formed = key
            .split_once('.')
            .is_some_and(|(controller, name)| !controller.is_empty() && !name.is_empty())
            && !key.contains('/');
        if !well_formed {
            return Err((
                key.clone(),
                "not a cgroup v2 file name; use `<controller>.<file>`, such as memory.oom.group"
                    .into(),
            ));
        }
        if layout == Layout::V1 {
            return Err((
                key.clone(),
                "unified settings are cgroup v2 files, and this host's cgroups are v1; \
                 remove them, or run on a cgroup v2 host"
                    .into(),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        match parse_spec(Path::new("/b/config.json"), text)
            .and_then(|s| validate(Path::new("/b/config.json"), &s))
        {
            Ok(_) => panic!("expected an error for {text}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn unified_settings_are_v2_file_names_and_refused_on_v1() {
        use std::collections::BTreeMap;
        let one = |k: &str| BTreeMap::from([(k.to_string(), "1".to_string())]);
        assert_eq!(check_unified(&one("memory.oom.group"), Layout::V2), Ok(()));
        assert_eq!(check_unified(&BTreeMap::new(), Layout::V1), Ok(()));
        for bad in ["oom", "../memory.max", "a/memory.max", ".max", "memory."] {
            let (key, problem) = check_unified(&one(bad), Layout::V2).unwrap_err();
            assert_eq!(key, bad);
            assert!(problem.contains("<controller>.<file>"), "{problem}");
        }
        let (_, problem) = check_unified(&one("memory.oom.group"), Layout::V1).unwrap_err();
        assert!(problem.contains("this host's cgroups are v1"), "{problem}");
    }

    #[test]
    fn type_errors_name_file_line_and_field() {
        let msg = err(r#"{"ociVersion": "1.0.2",
            "process": {"args": ["sh"], "user": {"uid": "root", "gid": 0}}}"#);
        assert!(msg.starts_with("/b/config.json:2:"), "{msg}");
        assert!(msg.contains("field `process.user.uid`"), "{msg}");
        assert!(msg.contains("expected u32"), "{msg}");
    }

    #[test]
    fn unknown_namespace_type_lists_the_known_ones() {
        let msg = err(r#"{"ociVersion": "1", "linux": {"namespaces": [{"type": "time"}]}}"#);
        assert!(msg.contains("linux.namespaces[0].type"), "{msg}");
        assert!(msg.contains("network"), "{msg}");
    }

    #[test]
    fn unknown_fields_are_accepted() {
        let mut spec = Spec::example(&["sh"]);
        let mut v = serde_json::to_value(&spec).unwrap();
        v["hooks"] = serde_json::json!({"prestart": []});
        v["process"]["oomScoreAdj"] = serde_json::json!(100);
        let back = parse_spec(Path::new("c"), &v.to_string()).unwrap();
        spec.annotations.clear();
        assert_eq!(back, spec);
        validate(Path::new("c"), &back).unwrap();
    }

    #[test]
    fn semantic_errors_say_what_to_do() {
        let mut spec = Spec::example(&["sh"]);
        spec.process.as_mut().unwrap().args.clear();
        let v = serde_json::to_string(&spec).unwrap();
        assert!(err(&v).contains("field `process.args`: empty"));

        let mut spec = Spec::example(&["sh"]);
        spec.process
            .as_mut()
            .unwrap()
            .capabilities
            .as_mut()
            .unwrap()
            .effective = vec!["CAP_FLY".into()];
        let v = serde_json::to_string(&spec).unwrap();
        assert!(err(&v).contains("unknown capability `CAP_FLY`"));

        let mut spec = Spec::example(&["sh"]);
        spec.process.as_mut().unwrap().terminal = true;
        let v = serde_json::to_string(&spec).unwrap();
        assert!(err(&v).contains("process.terminal"));
    }
}
