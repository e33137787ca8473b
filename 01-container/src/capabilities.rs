//! Linux capabilities: root's privileges, split into ~40 pieces.
//!
//! A process has five sets (capabilities(7)):
//! - **bounding**: the ceiling; nothing outside it can ever be gained again,
//!   even by executing a setuid-root binary. Dropped with `PR_CAPBSET_DROP`.
//! - **permitted**: what the process may put into effective.
//! - **effective**: what the kernel actually checks.
//! - **inheritable** and **ambient**: what survives `execve`. Ambient is the
//!   one that matters for a non-root process: without it, a uid 1000 process
//!   loses every capability at exec.
//!
//! The order of the calls is the lesson: bounding first (it needs
//! CAP_SETPCAP, which we are about to lose), then the uid switch with
//! `PR_SET_KEEPCAPS` (without it, setuid away from 0 clears permitted), then
//! `capset` for effective/permitted/inheritable, then ambient (which must be
//! a subset of permitted and inheritable).

use crate::error::{Context, Result};
use crate::spec::Capabilities;

/// Capability names in kernel number order: `CAPS[n]` is capability `n`.
const CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

// ANCHOR: default_capabilities
/// The capabilities containerd gives a container that asks for nothing
/// else (its `DefaultUnixCaps`, Docker's list): enough for an image's
/// root to chown files, bind port 80 and switch users, far short of
/// root on the host (no CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_SYS_PTRACE...).
pub const CONTAINERD_DEFAULT: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];
// ANCHOR_END: default_capabilities

/// Every capability name orc knows, in kernel number order: what
/// `add: [ALL]` grants, and the names a pod may add or drop.
pub fn all_names() -> &'static [&'static str] {
    CAPS
}

/// Turn capability names into a bit mask (bit `n` = capability `n`).
///
/// Returns the first unknown name as the error. This is the form the kernel
/// wants and the form `/proc/PID/status` prints (`CapEff: 00000000a80425fb`).
// ANCHOR: mask
pub fn mask(names: &[String]) -> Result<u64, String> {
    let mut bits = 0u64;
    for name in names {
        let upper = name.to_ascii_uppercase();
        match CAPS.iter().position(|c| *c == upper) {
            Some(n) => bits |= 1 << n,
            None => return Err(name.clone()),
        }
    }
    Ok(bits)
}
// ANCHOR_END: mask

/// The highest capability number this kernel knows; older kernels refuse
/// `PR_CAPBSET_DROP` for numbers they have never heard of.
fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(CAPS.len() as u32 - 1)
}

/// Drop every capability outside `bounding` from the bounding set.
pub(crate) fn drop_bounding(caps: &Capabilities) -> Result<()> {
    let keep = mask(&caps.bounding).unwrap_or(0);
    for cap in 0..=last_cap().min(63) {
        if keep & (1 << cap) == 0 {
            // SAFETY: prctl with integer arguments only; no memory is shared.
            let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
            if rc != 0 {
                return Err(std::io::Error::last_os_error())
                    .context(|| format!("dropping capability {cap} from the bounding set"));
            }
        }
    }
    Ok(())
}

/// The v3 `capset(2)` header and data, as in `<linux/capability.h>`. v3
/// carries 64 bits per set in two 32-bit halves.
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// Set effective, permitted and inheritable, then raise the ambient set.
/// Call after the uid switch.
pub(crate) fn apply(caps: &Capabilities) -> Result<()> {
    let eff = mask(&caps.effective).unwrap_or(0);
    let perm = mask(&caps.permitted).unwrap_or(0);
    let inh = mask(&caps.inheritable).unwrap_or(0);
    let mut header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [
        CapData {
            effective: eff as u32,
            permitted: perm as u32,
            inheritable: inh as u32,
        },
        CapData {
            effective: (eff >> 32) as u32,
            permitted: (perm >> 32) as u32,
            inheritable: (inh >> 32) as u32,
        },
    ];
    // SAFETY: header and data are valid repr(C) structs of the layout the v3
    // ABI expects (one header, two data elements) and outlive the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_capset,
            &mut header as *mut CapHeader,
            data.as_ptr(),
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error()).context(|| "capset".into());
    }
    let ambient = mask(&caps.ambient).unwrap_or(0);
    for cap in 0..64u64 {
        if ambient & (1 << cap) != 0 {
            // SAFETY: prctl with integer arguments only.
            let rc = unsafe {
                libc::prctl(
                    libc::PR_CAP_AMBIENT,
                    libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
                    cap as libc::c_ulong,
                    0,
                    0,
                )
            };
            // The kernel refuses ambient caps not in both permitted and
            // inheritable (EPERM). runc ignores that too: configs written for
            // Docker list ambient caps without inheritable ones.
            if rc != 0 {
                let err = std::io::Error::last_os_error();
                if err.raw_os_error() != Some(libc::EPERM) {
                    return Err(err).context(|| format!("raising ambient capability {cap}"));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_matches_kernel_numbers() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(mask(&names(&["CAP_CHOWN"])), Ok(1));
        assert_eq!(mask(&names(&["CAP_SYS_ADMIN"])), Ok(1 << 21));
        // Docker's default set, as /proc/PID/status prints it.
        let docker = names(&CONTAINERD_DEFAULT);
        assert_eq!(mask(&docker), Ok(0xa80425fb));
        assert_eq!(
            mask(&names(&["cap_bpf", "CAP_NOPE"])),
            Err("CAP_NOPE".into())
        );
    }
}
