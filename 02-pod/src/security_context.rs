//! A pod's and a container's `securityContext`, and what it becomes in the
//! container's OCI spec.
//!
//! Kubernetes splits the work in two: the kubelet merges the pod's and the
//! container's settings (the container's win) and checks `runAsNonRoot`
//! against the image's user; the runtime (containerd) turns the result into
//! `config.json`: the user and its groups, the capability sets, seccomp,
//! `no_new_privs`, a read-only root. orc's agent does both here, and
//! chapter 01's runtime applies the spec with the kernel calls that
//! chapter teaches. The table in chapter 02 ("What securityContext
//! becomes") maps each field to its mechanism.
//!
//! What a node cannot honour (a privileged container, a seccomp profile
//! from a file, an unmasked `/proc`) is refused with the container's
//! `CreateContainerConfigError`: the API server refuses it first, but a
//! static pod's manifest never passes through the API server.

use std::collections::BTreeSet;
use std::path::Path;

use orc_container::image::bundle::{member_groups, resolve_user};
use orc_container::seccomp;
use orc_container::spec::{Capabilities as OciCapabilities, Spec, User};
use serde::{Deserialize, Serialize};

use crate::pod_spec::{Container, Pod};

/// `spec.securityContext`: what applies to every container of the pod,
/// and the pod-only fields (groups, volume ownership).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSecurityContext {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as_user: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as_group: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as_non_root: Option<bool>,
    /// Extra groups of every container's first process, after its
    /// primary group and the groups the image gives its user.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supplemental_groups: Vec<i64>,
    /// The group that owns the pod's writable volumes (and that every
    /// container is a member of): see [`crate::volumes::ownership`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fs_group: Option<i64>,
    /// `Always` (the default) or `OnRootMismatch`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fs_group_change_policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp_profile: Option<SeccompProfile>,
}

/// `containers[].securityContext`. The user fields and `seccompProfile`
/// override the pod's; the rest exist only here.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityContext {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as_user: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as_group: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as_non_root: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<CapabilityChanges>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privileged: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_privilege_escalation: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only_root_filesystem: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proc_mount: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp_profile: Option<SeccompProfile>,
}

/// `capabilities: {add: [NET_ADMIN], drop: [ALL]}`, names without `CAP_`
/// as Kubernetes writes them (with it is accepted too).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CapabilityChanges {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drop: Vec<String>,
}

/// `seccompProfile: {type: RuntimeDefault}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeccompProfile {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub localhost_profile: Option<String>,
}

/// The capabilities a container that asks for nothing else gets: see
/// [`orc_container::capabilities::CONTAINERD_DEFAULT`].
pub use orc_container::capabilities::CONTAINERD_DEFAULT as DEFAULT_CAPABILITIES;

/// The settings that apply to one container: the container's, else the
/// pod's (the kubelet's `DetermineEffectiveSecurityContext`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Effective {
    pub run_as_user: Option<i64>,
    pub run_as_group: Option<i64>,
    pub run_as_non_root: bool,
    pub seccomp: Option<SeccompProfile>,
}

/// Merges `container`'s security context over `pod`'s.
pub fn effective(pod: &Pod, container: &Container) -> Effective {
    let p = pod.spec.security_context.clone().unwrap_or_default();
    let c = container.security_context.clone().unwrap_or_default();
    Effective {
        run_as_user: c.run_as_user.or(p.run_as_user),
        run_as_group: c.run_as_group.or(p.run_as_group),
        run_as_non_root: c.run_as_non_root.or(p.run_as_non_root) == Some(true),
        seccomp: c.seccomp_profile.or(p.seccomp_profile),
    }
}

/// `name_namespace(uid)`: how the kubelet names a pod in its messages
/// (its `format.Pod`).
fn kubelet_pod_name(pod: &Pod) -> String {
    let m = &pod.metadata;
    format!("{}_{}({})", m.name, m.namespace, m.uid)
}

// ANCHOR: verify_run_as_non_root
/// The kubelet's `verifyRunAsNonRoot`: with `runAsNonRoot`, a container
/// that would run as uid 0 does not start. The uid is `runAsUser`, else
/// the image's `User` (`""` is root), which must then be numeric: a
/// name could be anyone in the image's `/etc/passwd`. Messages are the
/// kubelet's, word for word.
pub fn verify_run_as_non_root(
    pod: &Pod,
    container: &Container,
    image_user: &str,
) -> Result<(), String> {
    let sc = effective(pod, container);
    if !sc.run_as_non_root {
        return Ok(());
    }
    let (pod_name, name) = (kubelet_pod_name(pod), &container.name);
    if let Some(uid) = sc.run_as_user {
        return match uid {
            0 => Err(format!(
                "container's runAsUser breaks non-root policy (pod: {pod_name:?}, container: {name})"
            )),
            _ => Ok(()),
        };
    }
    let user = image_user.split(':').next().unwrap_or("");
    match user.parse::<u32>() {
        _ if user.is_empty() => Err(format!(
            "container has runAsNonRoot and image will run as root (pod: {pod_name:?}, container: {name})"
        )),
        Ok(0) => Err(format!(
            "container has runAsNonRoot and image will run as root (pod: {pod_name:?}, container: {name})"
        )),
        Ok(_) => Ok(()),
        Err(_) => Err(format!(
            "container has runAsNonRoot and image has non-numeric user ({user}), cannot verify user is non-root (pod: {pod_name:?}, container: {name})"
        )),
    }
}
// ANCHOR_END: verify_run_as_non_root

// ANCHOR: capabilities
/// The capability sets from containerd's defaults and the container's
/// `add`/`drop`, in containerd's order: `add: [ALL]` grants every
/// capability, `drop: [ALL]` removes every one, then single names are
/// added, then single names are dropped (`add: [ALL], drop: [CHOWN]` is
/// everything but CAP_CHOWN). Bounding, effective and permitted get the
/// result; inheritable and ambient stay empty, so a non-root process
/// keeps none of them across `execve` (capabilities(7)), exactly as in
/// Kubernetes.
pub fn capabilities(changes: Option<&CapabilityChanges>) -> Result<OciCapabilities, String> {
    let all = orc_container::capabilities::all_names();
    let mut set: BTreeSet<String> = DEFAULT_CAPABILITIES.iter().map(|c| c.to_string()).collect();
    let changes = changes.cloned().unwrap_or_default();
    let is_all = |c: &String| c.eq_ignore_ascii_case("ALL");
    if changes.add.iter().any(is_all) {
        set = all.iter().map(|c| c.to_string()).collect();
    }
    if changes.drop.iter().any(is_all) {
        set.clear();
    }
    let full_name = |c: &String| -> Result<String, String> {
        let upper = c.to_ascii_uppercase();
        let name = match upper.strip_prefix("CAP_") {
            Some(_) => upper,
            None => format!("CAP_{upper}"),
        };
        match all.contains(&name.as_str()) {
            true => Ok(name),
            false => Err(format!(
                "unknown capability {c:?} in securityContext.capabilities: use a name from capabilities(7), such as NET_ADMIN"
            )),
        }
    };
    for c in changes.add.iter().filter(|c| !is_all(c)) {
        set.insert(full_name(c)?);
    }
    for c in changes.drop.iter().filter(|c| !is_all(c)) {
        set.remove(&full_name(c)?);
    }
    let list: Vec<String> = set.into_iter().collect();
    Ok(OciCapabilities {
        bounding: list.clone(),
        effective: list.clone(),
        permitted: list,
        inheritable: vec![],
        ambient: vec![],
    })
}
// ANCHOR_END: capabilities

/// What a node cannot do, refused before anything is built.
fn refuse_unsupported(sc: &SecurityContext, eff: &Effective) -> Result<(), String> {
    if sc.privileged == Some(true) {
        return Err("securityContext.privileged: orc does not run privileged containers (every device and capability of the host); add only the capabilities the container needs".into());
    }
    if let Some(m) = sc.proc_mount.as_deref().filter(|m| *m != "Default") {
        return Err(format!(
            "securityContext.procMount: {m:?} is not supported by orc (it needs user namespaces): use Default"
        ));
    }
    if let Some(p) = &eff.seccomp {
        if !matches!(p.kind.as_str(), "RuntimeDefault" | "Unconfined") {
            return Err(format!(
                "securityContext.seccompProfile.type: {:?} is not supported by orc: use RuntimeDefault or Unconfined",
                p.kind
            ));
        }
    }
    Ok(())
}

// ANCHOR: user
/// The process's identity, as containerd builds it:
/// - uid: `runAsUser`, else the image's user;
/// - gid: `runAsGroup`; else, with `runAsUser`, that uid's group in the
///   image's `/etc/passwd` (0 if it has none); else the image's group;
/// - supplementary groups: the gid itself, the groups the image's
///   `/etc/group` makes the user a member of (`supplementalGroupsPolicy:
///   Merge`, the default), `supplementalGroups` and `fsGroup`, sorted as
///   the kernel keeps them.
pub fn user(pod: &Pod, container: &Container, image: &User, rootfs: &Path) -> Result<User, String> {
    let eff = effective(pod, container);
    let id = |v: i64, field: &str| -> Result<u32, String> {
        u32::try_from(v)
            .ok()
            .filter(|v| *v <= i32::MAX as u32)
            .ok_or_else(|| {
                format!("securityContext.{field}: {v} must be between 0 and 2147483647, inclusive")
            })
    };
    let uid = match eff.run_as_user {
        Some(u) => id(u, "runAsUser")?,
        None => image.uid,
    };
    let gid = match (eff.run_as_group, eff.run_as_user) {
        (Some(g), _) => id(g, "runAsGroup")?,
        (None, Some(_)) => resolve_user(rootfs, &uid.to_string())
            .map(|u| u.gid)
            .unwrap_or(0),
        (None, None) => image.gid,
    };
    let p = pod.spec.security_context.clone().unwrap_or_default();
    let mut groups: BTreeSet<u32> = BTreeSet::from([gid]);
    groups.extend(member_groups(rootfs, uid));
    for g in &p.supplemental_groups {
        groups.insert(id(*g, "supplementalGroups")?);
    }
    if let Some(g) = p.fs_group {
        groups.insert(id(g, "fsGroup")?);
    }
    Ok(User {
        uid,
        gid,
        additional_gids: groups.into_iter().collect(),
    })
}
// ANCHOR_END: user

// ANCHOR: apply
/// Writes `container`'s security context into `spec`, the container's
/// OCI config made from its image (whose process user is the image's).
pub fn apply(
    pod: &Pod,
    container: &Container,
    rootfs: &Path,
    spec: &mut Spec,
) -> Result<(), String> {
    let sc = container.security_context.clone().unwrap_or_default();
    let eff = effective(pod, container);
    refuse_unsupported(&sc, &eff)?;
    let process = spec
        .process
        .as_mut()
        .ok_or("the image's spec has no process")?;
    process.user = user(pod, container, &process.user, rootfs)?;
    process.capabilities = Some(capabilities(sc.capabilities.as_ref())?);
    // The kubelet sets no_new_privs only when asked: a setuid binary (su,
    // ping on old images) keeps working unless `allowPrivilegeEscalation`
    // is false.
    process.no_new_privileges = sc.allow_privilege_escalation == Some(false);
    if let Some(root) = spec.root.as_mut() {
        root.readonly = sc.read_only_root_filesystem == Some(true);
    }
    // No profile given is RuntimeDefault, as on a kubelet with
    // `seccompDefault: true` (see the chapter): orc never ran a container
    // unconfined by accident.
    let unconfined = eff.seccomp.as_ref().is_some_and(|p| p.kind == "Unconfined");
    if let Some(linux) = spec.linux.as_mut() {
        linux.seccomp = (!unconfined).then(seccomp::default_profile);
    }
    Ok(())
}
// ANCHOR_END: apply

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(yaml: &str) -> Pod {
        serde_yaml::from_str(yaml).unwrap()
    }

    const BASE: &str = "metadata: {name: web, namespace: shop, uid: u1}\nspec:\n";

    #[test]
    fn the_container_overrides_the_pod() {
        let p = pod(&format!(
            "{BASE}  securityContext: {{runAsUser: 1000, runAsGroup: 3000, runAsNonRoot: true}}\n  containers:\n  - name: a\n    image: i\n    securityContext: {{runAsUser: 2000}}\n"
        ));
        let e = effective(&p, &p.spec.containers[0]);
        assert_eq!(
            (e.run_as_user, e.run_as_group, e.run_as_non_root),
            (Some(2000), Some(3000), true)
        );
    }

    #[test]
    fn run_as_non_root_has_the_kubelet_words() {
        let p = pod(&format!(
            "{BASE}  securityContext: {{runAsNonRoot: true}}\n  containers:\n  - {{name: a, image: i}}\n  - {{name: b, image: i, securityContext: {{runAsUser: 0}}}}\n  - {{name: c, image: i, securityContext: {{runAsUser: 5}}}}\n"
        ));
        let [a, b, c] = [0, 1, 2].map(|i| &p.spec.containers[i]);
        assert_eq!(
            verify_run_as_non_root(&p, a, "").unwrap_err(),
            "container has runAsNonRoot and image will run as root (pod: \"web_shop(u1)\", container: a)"
        );
        assert!(verify_run_as_non_root(&p, a, "0:0").is_err());
        assert_eq!(verify_run_as_non_root(&p, a, "1000:1000"), Ok(()));
        assert_eq!(
            verify_run_as_non_root(&p, a, "nobody").unwrap_err(),
            "container has runAsNonRoot and image has non-numeric user (nobody), cannot verify user is non-root (pod: \"web_shop(u1)\", container: a)"
        );
        assert_eq!(
            verify_run_as_non_root(&p, b, "1000").unwrap_err(),
            "container's runAsUser breaks non-root policy (pod: \"web_shop(u1)\", container: b)"
        );
        assert_eq!(verify_run_as_non_root(&p, c, ""), Ok(()));
        let free = pod(&format!("{BASE}  containers:\n  - {{name: a, image: i}}\n"));
        assert_eq!(
            verify_run_as_non_root(&free, &free.spec.containers[0], ""),
            Ok(())
        );
    }

    fn caps(yaml: &str) -> Vec<String> {
        let changes: CapabilityChanges = serde_yaml::from_str(yaml).unwrap();
        capabilities(Some(&changes)).unwrap().effective
    }

    #[test]
    fn capabilities_follow_containerd() {
        let default = capabilities(None).unwrap();
        assert_eq!(default.bounding.len(), 14);
        assert!(default.ambient.is_empty() && default.inheritable.is_empty());
        assert_eq!(caps("{drop: [ALL]}"), Vec::<String>::new());
        assert_eq!(
            caps("{drop: [ALL], add: [NET_BIND_SERVICE]}"),
            ["CAP_NET_BIND_SERVICE"]
        );
        let admin = caps("{add: [NET_ADMIN, cap_sys_time], drop: [CAP_CHOWN]}");
        assert!(admin.contains(&"CAP_NET_ADMIN".into()) && admin.contains(&"CAP_SYS_TIME".into()));
        assert!(!admin.contains(&"CAP_CHOWN".into()));
        assert_eq!(admin.len(), 15);
        let all_but = caps("{add: [ALL], drop: [CHOWN]}");
        assert!(
            all_but.contains(&"CAP_SYS_ADMIN".into()) && !all_but.contains(&"CAP_CHOWN".into())
        );
        let bad = CapabilityChanges {
            add: vec!["FLY".into()],
            drop: vec![],
        };
        assert!(capabilities(Some(&bad)).unwrap_err().contains("\"FLY\""));
    }

    #[test]
    fn users_and_groups_follow_containerd() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("etc")).unwrap();
        std::fs::write(
            root.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            root.path().join("etc/group"),
            "root:x:0:\napp:x:1001:\nvideo:x:44:app,other\n",
        )
        .unwrap();
        let image = User {
            uid: 0,
            gid: 0,
            additional_gids: vec![],
        };
        let p = pod(&format!(
            "{BASE}  securityContext: {{runAsUser: 1000, supplementalGroups: [4000], fsGroup: 2000}}\n  containers:\n  - {{name: a, image: i}}\n  - {{name: b, image: i, securityContext: {{runAsGroup: 3000}}}}\n"
        ));
        let a = user(&p, &p.spec.containers[0], &image, root.path()).unwrap();
        // The gid comes from the image's passwd for uid 1000; the image's
        // /etc/group adds 44.
        assert_eq!(
            (a.uid, a.gid, a.additional_gids),
            (1000, 1001, vec![44, 1001, 2000, 4000])
        );
        let b = user(&p, &p.spec.containers[1], &image, root.path()).unwrap();
        assert_eq!((b.uid, b.gid), (1000, 3000));
        // Nothing set: the image's user, untouched.
        let plain = pod(&format!("{BASE}  containers:\n  - {{name: a, image: i}}\n"));
        let img = User {
            uid: 7,
            gid: 8,
            additional_gids: vec![],
        };
        let u = user(&plain, &plain.spec.containers[0], &img, root.path()).unwrap();
        assert_eq!((u.uid, u.gid, u.additional_gids), (7, 8, vec![8]));
    }

    #[test]
    fn the_spec_gets_every_setting_and_refuses_what_orc_cannot_do() {
        let root = tempfile::tempdir().unwrap();
        let p = pod(&format!(
            "{BASE}  securityContext: {{seccompProfile: {{type: Unconfined}}}}\n  containers:\n  - name: a\n    image: i\n    securityContext: {{allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {{drop: [ALL]}}}}\n  - {{name: b, image: i, securityContext: {{seccompProfile: {{type: RuntimeDefault}}}}}}\n  - {{name: c, image: i, securityContext: {{privileged: true}}}}\n  - {{name: d, image: i, securityContext: {{procMount: Unmasked}}}}\n  - {{name: e, image: i, securityContext: {{seccompProfile: {{type: Localhost, localhostProfile: x.json}}}}}}\n"
        ));
        let mut spec = Spec::example(&["true"]);
        apply(&p, &p.spec.containers[0], root.path(), &mut spec).unwrap();
        let process = spec.process.as_ref().unwrap();
        assert!(process.no_new_privileges);
        assert!(spec.root.as_ref().unwrap().readonly);
        assert_eq!(
            process.capabilities.as_ref().unwrap().bounding,
            Vec::<String>::new()
        );
        assert!(spec.linux.as_ref().unwrap().seccomp.is_none(), "Unconfined");
        let mut spec = Spec::example(&["true"]);
        apply(&p, &p.spec.containers[1], root.path(), &mut spec).unwrap();
        assert!(
            !spec.process.as_ref().unwrap().no_new_privileges,
            "allowed unless false"
        );
        assert!(!spec.root.as_ref().unwrap().readonly);
        assert!(
            spec.linux.as_ref().unwrap().seccomp.is_some(),
            "RuntimeDefault"
        );
        for (i, word) in [(2, "privileged"), (3, "procMount"), (4, "Localhost")] {
            let err = apply(&p, &p.spec.containers[i], root.path(), &mut spec).unwrap_err();
            assert!(err.contains(word), "{err}");
        }
    }
}
