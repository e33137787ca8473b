//! From the config's `mounts` to the exact `mount(2)` calls: a pure plan.
//!
//! `mount(2)` does not take fstab options. It takes a *flags* word
//! (`MS_RDONLY | MS_NOSUID | ...`), a separate call for propagation
//! (`MS_PRIVATE`...), and a *data* string the filesystem parses itself
//! (`mode=755,size=65536k`). Splitting the OCI option list into those three
//! parts is pure logic, so it lives here, apart from the code that performs
//! the mounts ([`crate::rootfs`]), where it can be unit-tested and
//! reimplemented in the lab.

use crate::cgroups::Layout;
use crate::spec::{Mount, Spec};
use nix::mount::MsFlags;

/// One mount the container's init performs, with paths inside the container.
// ANCHOR: mount_step
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountStep {
    /// What to mount: a host path for bind mounts, a label ("proc",
    /// "tmpfs") for pseudo filesystems, shown in `/proc/mounts`.
    pub source: String,
    /// Absolute path inside the container's root.
    pub destination: String,
    /// The filesystem type; `"bind"` for bind mounts.
    pub fstype: String,
    /// Flags for `mount(2)`. For bind mounts, everything beyond
    /// `MS_BIND | MS_REC` needs a second, remounting call: the kernel ignores
    /// `MS_RDONLY` on the first bind.
    pub flags: MsFlags,
    /// Filesystem-specific options, comma-separated.
    pub data: String,
    /// Propagation to set after mounting (`MS_PRIVATE`, `MS_SLAVE`...), if any.
    pub propagation: Option<MsFlags>,
}
// ANCHOR_END: mount_step

impl MountStep {
    /// Whether this is a bind mount (of a host path) rather than a new
    /// filesystem instance.
    pub fn is_bind(&self) -> bool {
        self.flags.contains(MsFlags::MS_BIND)
    }
}

/// A mount the config asks for that cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanError {
    /// The config field, e.g. `mounts[3].destination`.
    pub field: String,
    pub problem: String,
}

/// Split fstab-style options into mount flags, propagation and data.
///
/// Unknown options are data: the filesystem decides whether it knows them,
/// exactly as `mount -o` behaves.
// ANCHOR: parse_options
pub fn parse_options(options: &[String]) -> (MsFlags, Option<MsFlags>, String) {
    let mut flags = MsFlags::empty();
    let mut propagation = None;
    let mut data = Vec::new();
    for opt in options {
        // (flag, true = set it / false = clear it)
        let flag = match opt.as_str() {
            "ro" => Some((MsFlags::MS_RDONLY, true)),
            "rw" => Some((MsFlags::MS_RDONLY, false)),
            "nosuid" => Some((MsFlags::MS_NOSUID, true)),
            "suid" => Some((MsFlags::MS_NOSUID, false)),
            "nodev" => Some((MsFlags::MS_NODEV, true)),
            "dev" => Some((MsFlags::MS_NODEV, false)),
            "noexec" => Some((MsFlags::MS_NOEXEC, true)),
            "exec" => Some((MsFlags::MS_NOEXEC, false)),
            "sync" => Some((MsFlags::MS_SYNCHRONOUS, true)),
            "async" => Some((MsFlags::MS_SYNCHRONOUS, false)),
            "dirsync" => Some((MsFlags::MS_DIRSYNC, true)),
            "noatime" => Some((MsFlags::MS_NOATIME, true)),
            "atime" => Some((MsFlags::MS_NOATIME, false)),
            "nodiratime" => Some((MsFlags::MS_NODIRATIME, true)),
            "diratime" => Some((MsFlags::MS_NODIRATIME, false)),
            "relatime" => Some((MsFlags::MS_RELATIME, true)),
            "norelatime" => Some((MsFlags::MS_RELATIME, false)),
            "strictatime" => Some((MsFlags::MS_STRICTATIME, true)),
            "nostrictatime" => Some((MsFlags::MS_STRICTATIME, false)),
            "bind" => Some((MsFlags::MS_BIND, true)),
            "rbind" => Some((MsFlags::MS_BIND | MsFlags::MS_REC, true)),
            _ => None,
        };
        let prop = match opt.as_str() {
            "private" => Some(MsFlags::MS_PRIVATE),
            "rprivate" => Some(MsFlags::MS_PRIVATE | MsFlags::MS_REC),
            "shared" => Some(MsFlags::MS_SHARED),
            "rshared" => Some(MsFlags::MS_SHARED | MsFlags::MS_REC),
            "slave" => Some(MsFlags::MS_SLAVE),
            "rslave" => Some(MsFlags::MS_SLAVE | MsFlags::MS_REC),
            "unbindable" => Some(MsFlags::MS_UNBINDABLE),
            "runbindable" => Some(MsFlags::MS_UNBINDABLE | MsFlags::MS_REC),
            _ => None,
        };
        match (flag, prop) {
            (Some((f, true)), _) => flags |= f,
            (Some((f, false)), _) => flags &= !f,
            (None, Some(p)) => propagation = Some(p),
            // "defaults" means "no options"; "tmpcopyup" is a runc extension
            // (copy the image's files into the tmpfs) that orc does not do.
            (None, None) if opt == "defaults" || opt == "tmpcopyup" => {}
            (None, None) => data.push(opt.as_str()),
        }
    }
    (flags, propagation, data.join(","))
}
// ANCHOR_END: parse_options

/// The ordered mounts the container's init performs, from the config.
///
/// Order matters and is the config's: `/dev` must be mounted before
/// `/dev/pts`, or the tmpfs would hide it. A `cgroup` mount depends on the
/// host's cgroup [`Layout`]: see [`cgroup_mount`].
// ANCHOR: mount_plan
pub fn mount_plan(spec: &Spec, cgroups: Layout) -> Result<Vec<MountStep>, PlanError> {
    spec.mounts
        .iter()
        .enumerate()
        .map(|(i, m)| plan_mount(i, m, cgroups))
        .collect()
}
// ANCHOR_END: mount_plan

/// The step for `mounts[i]`: a checked destination, the options split into
/// flags, propagation and data, and the type and source filled in.
// ANCHOR: plan_mount
fn plan_mount(i: usize, m: &Mount, cgroups: Layout) -> Result<MountStep, PlanError> {
    let field = |name: &str| format!("mounts[{i}].{name}");
    check_destination(&m.destination).map_err(|problem| PlanError {
        field: field("destination"),
        problem,
    })?;
    let (mut flags, propagation, mut data) = parse_options(&m.options);
    let mut fstype = m.kind.clone().unwrap_or_default();
    let mut source = m.source.clone().unwrap_or_default();
    if fstype == "bind" {
        // runc accepts type "bind" without a bind option; so do we.
        flags |= MsFlags::MS_BIND;
    }
    if flags.contains(MsFlags::MS_BIND) {
        fstype = "bind".into();
        if source.is_empty() {
            return Err(PlanError {
                field: field("source"),
                problem: "a bind mount needs a source path on the host".into(),
            });
        }
    } else if fstype == "cgroup" || fstype == "cgroup2" {
        (fstype, source, data) = cgroup_mount(cgroups, data);
        if cgroups == Layout::V1 {
            flags |= MsFlags::MS_RDONLY;
        }
    } else if fstype.is_empty() {
        return Err(PlanError {
            field: field("type"),
            problem:
                "missing; say which filesystem to mount (tmpfs, proc...) or add the `bind` option"
                    .into(),
        });
    }
    if source.is_empty() {
        source = fstype.clone();
    }
    Ok(MountStep {
        source,
        destination: m.destination.clone(),
        fstype,
        flags,
        data,
        propagation,
    })
}
// ANCHOR_END: plan_mount

/// What a `cgroup` (or `cgroup2`) mount becomes: `(fstype, source, data)`.
///
/// - On a **v2** host, a real `cgroup2` mount, as runc and crun do. Made
///   inside the container's cgroup namespace (created once the init is in
///   its cgroup), it shows the container's own cgroup as its root, so
///   `/sys/fs/cgroup/memory.max` is the container's limit: what JVMs and
///   Go's and Node's runtimes read to size themselves. The config's options
///   (`ro`, `nsdelegate`...) apply.
/// - On a **v1** host, an empty read-only tmpfs: exposing v1 takes one mount
///   per controller, which orc does not do (an empty directory is what a
///   container without cgroup access sees).
// ANCHOR: cgroup_mount
pub fn cgroup_mount(cgroups: Layout, data: String) -> (String, String, String) {
    match cgroups {
        Layout::V2 => ("cgroup2".into(), "cgroup".into(), data),
        Layout::V1 => ("tmpfs".into(), "cgroup".into(), "mode=755".into()),
    }
}
// ANCHOR_END: cgroup_mount

/// A destination must be absolute and must not climb with `..`.
fn check_destination(destination: &str) -> Result<(), String> {
    if !destination.starts_with('/') {
        return Err(format!("`{destination}` must be an absolute path"));
    }
    if destination.split('/').any(|part| part == "..") {
        return Err(format!("`{destination}` must not contain `..`"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Mount;

    fn opts(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options_split_into_flags_propagation_and_data() {
        let (f, p, d) = parse_options(&opts(&["nosuid", "strictatime", "mode=755", "size=65536k"]));
        assert_eq!(f, MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME);
        assert_eq!(p, None);
        assert_eq!(d, "mode=755,size=65536k");

        let (f, p, d) = parse_options(&opts(&["rbind", "ro", "rw", "rslave"]));
        assert_eq!(f, MsFlags::MS_BIND | MsFlags::MS_REC);
        assert_eq!(p, Some(MsFlags::MS_SLAVE | MsFlags::MS_REC));
        assert_eq!(d, "");
    }

    #[test]
    fn plan_follows_config_order_and_normalises() {
        let spec = Spec::example(&["sh"]);
        let plan = mount_plan(&spec, Layout::V1).unwrap();
        let dests: Vec<_> = plan.iter().map(|s| s.destination.as_str()).collect();
        assert_eq!(
            dests,
            [
                "/proc",
                "/dev",
                "/dev/pts",
                "/dev/shm",
                "/dev/mqueue",
                "/sys"
            ]
        );
        assert_eq!(
            plan[5].flags,
            MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_NODEV | MsFlags::MS_RDONLY
        );
        assert_eq!(plan[2].data, "newinstance,ptmxmode=0666,mode=0620,gid=5");

        let spec = Spec {
            mounts: vec![
                Mount {
                    destination: "/data".into(),
                    kind: Some("bind".into()),
                    source: Some("/srv/data".into()),
                    options: opts(&["ro"]),
                },
                Mount {
                    destination: "/sys/fs/cgroup".into(),
                    kind: Some("cgroup".into()),
                    source: Some("cgroup".into()),
                    options: opts(&["nosuid"]),
                },
            ],
            ..Spec::default()
        };
        let plan = mount_plan(&spec, Layout::V1).unwrap();
        assert!(plan[0].is_bind());
        assert_eq!(plan[0].fstype, "bind");
        assert_eq!(plan[1].fstype, "tmpfs");
        assert!(plan[1].flags.contains(MsFlags::MS_RDONLY));
    }

    #[test]
    fn a_cgroup_mount_is_real_cgroup2_on_a_v2_host() {
        // The failing case of issue 19: on a v2 host the container saw an
        // empty tmpfs, with no memory.max to size itself from.
        let spec = Spec {
            mounts: vec![Mount {
                destination: "/sys/fs/cgroup".into(),
                kind: Some("cgroup".into()),
                source: Some("cgroup".into()),
                options: opts(&["nosuid", "noexec", "nodev", "relatime"]),
            }],
            ..Spec::default()
        };
        let plan = mount_plan(&spec, Layout::V2).unwrap();
        assert_eq!(
            (plan[0].fstype.as_str(), plan[0].data.as_str()),
            ("cgroup2", "")
        );
        // Writable unless the config says `ro`: delegation inside is allowed.
        assert!(!plan[0].flags.contains(MsFlags::MS_RDONLY));
        assert!(plan[0].flags.contains(MsFlags::MS_NOEXEC));
        let plan = mount_plan(&spec, Layout::V1).unwrap();
        assert_eq!(
            (plan[0].fstype.as_str(), plan[0].data.as_str()),
            ("tmpfs", "mode=755")
        );
    }

    #[test]
    fn bad_mounts_name_the_field() {
        let mut spec = Spec {
            mounts: vec![Mount {
                destination: "data".into(),
                ..Mount::default()
            }],
            ..Spec::default()
        };
        assert_eq!(
            mount_plan(&spec, Layout::V1).unwrap_err().field,
            "mounts[0].destination"
        );
        spec.mounts[0].destination = "/data".into();
        spec.mounts[0].options = opts(&["bind"]);
        assert_eq!(
            mount_plan(&spec, Layout::V1).unwrap_err().field,
            "mounts[0].source"
        );
    }
}
