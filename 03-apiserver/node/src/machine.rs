//! What the node reports about the machine it runs on.
//!
//! The kubelet learns these facts from cAdvisor and the container runtime
//! and puts them in the Node's status: `capacity` (what the machine has),
//! `allocatable` (what pods may use; equal here, since orc reserves nothing
//! for system daemons) and `nodeInfo` (kernel, OS, architecture, versions).
//! The scheduler of chapter 04 fits pods into `allocatable`; `kubectl get
//! nodes -o wide` prints the kernel and OS image.
//!
//! Everything is read from `/proc` and `/etc`, as cAdvisor does.

use std::path::Path;

/// The machine's facts, read once per status update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    /// Logical CPUs this process may run on.
    pub cpus: usize,
    /// `MemTotal` of `/proc/meminfo`, in KiB.
    pub memory_kib: u64,
    /// `/proc/sys/kernel/osrelease`, e.g. `6.1.0-18-amd64`.
    pub kernel_version: String,
    /// `PRETTY_NAME` of `/etc/os-release`, e.g. `Debian GNU/Linux 12 (bookworm)`.
    pub os_image: String,
    /// Go's name for the architecture (`amd64`, `arm64`): Kubernetes reports
    /// `runtime.GOARCH`, and the `kubernetes.io/arch` label uses it too.
    pub architecture: String,
    /// `/etc/machine-id`, empty when absent.
    pub machine_id: String,
    /// `/proc/sys/kernel/random/boot_id`: changes at every boot, which is how
    /// Kubernetes notices a node rebooted.
    pub boot_id: String,
}

impl Machine {
    /// Reads the facts of this machine; a missing file gives an empty value
    /// rather than an error (a container may lack `/etc/machine-id`).
    pub fn read() -> Machine {
        let text = |path: &str| {
            std::fs::read_to_string(path)
                .map(|t| t.trim().to_string())
                .unwrap_or_default()
        };
        Machine {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_kib: mem_total_kib(&text("/proc/meminfo")).unwrap_or(0),
            kernel_version: text("/proc/sys/kernel/osrelease"),
            os_image: os_image(Path::new("/etc/os-release")),
            architecture: go_arch(std::env::consts::ARCH).to_string(),
            machine_id: text("/etc/machine-id"),
            boot_id: text("/proc/sys/kernel/random/boot_id"),
        }
    }
}

/// `MemTotal:  16318412 kB` → 16318412. (The kernel's "kB" is KiB.)
pub fn mem_total_kib(meminfo: &str) -> Option<u64> {
    meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"` → the name, unquoted.
fn os_image(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_else(|| "Linux".into())
}

/// Rust's architecture names to Go's, which Kubernetes uses everywhere.
pub fn go_arch(rust_arch: &str) -> &str {
    match rust_arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_and_arch() {
        let meminfo = "MemTotal:       16318412 kB\nMemFree:         1234 kB\n";
        assert_eq!(mem_total_kib(meminfo), Some(16_318_412));
        assert_eq!(mem_total_kib("nothing"), None);
        assert_eq!(go_arch("x86_64"), "amd64");
        assert_eq!(go_arch("riscv64"), "riscv64");
    }

    #[test]
    fn this_machine_has_cpus_and_memory() {
        let m = Machine::read();
        assert!(m.cpus >= 1);
        assert!(m.memory_kib > 0, "{m:?}");
        assert!(!m.kernel_version.is_empty());
    }
}
