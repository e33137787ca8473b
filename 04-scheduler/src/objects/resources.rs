//! Resources: what a pod asks of a node, and what a node has to give.
//!
//! The scheduler counts four resources, the ones kube-scheduler's
//! `NodeResourcesFit` checks for every pod: CPU (in millicores), memory
//! and ephemeral storage (in bytes), and the number of pods. A pod
//! *requests* (`resources.requests`); a node offers its *allocatable*
//! (`status.allocatable`: capacity minus what the system keeps). Limits
//! play no part in scheduling, as in Kubernetes.

use orc_pod::quantity;
use serde_json::Value;

/// The CPU a container without a CPU request is counted as using when
/// *scoring* (never when filtering): Kubernetes'
/// `DefaultMilliCPURequest`. Without it, a node full of best-effort pods
/// would look empty to the spreading scores.
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
/// The same for memory: Kubernetes' `DefaultMemoryRequest`, 200 MiB.
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

/// The resources the scheduler counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResourceName {
    Cpu,
    Memory,
    EphemeralStorage,
    Pods,
}

impl ResourceName {
    /// The name in a `ResourceList` and in messages (`Insufficient cpu`).
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceName::Cpu => "cpu",
            ResourceName::Memory => "memory",
            ResourceName::EphemeralStorage => "ephemeral-storage",
            ResourceName::Pods => "pods",
        }
    }
}

/// An amount of each resource: a pod's requests, a node's allocatable,
/// or the sum of the requests of the pods on a node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resources {
    /// Millicores: `"500m"` is 500, `"2"` is 2000.
    pub milli_cpu: i64,
    /// Bytes.
    pub memory: i64,
    /// Bytes.
    pub ephemeral_storage: i64,
    /// A count (only a node's allocatable has one: `"110"`).
    pub pods: i64,
}

impl Resources {
    /// The amount of `name`.
    pub fn get(&self, name: ResourceName) -> i64 {
        match name {
            ResourceName::Cpu => self.milli_cpu,
            ResourceName::Memory => self.memory,
            ResourceName::EphemeralStorage => self.ephemeral_storage,
            ResourceName::Pods => self.pods,
        }
    }

    /// Adds `other`, field by field.
    pub fn add(&mut self, other: &Resources) {
        self.milli_cpu += other.milli_cpu;
        self.memory += other.memory;
        self.ephemeral_storage += other.ephemeral_storage;
        self.pods += other.pods;
    }

    /// Subtracts `other`, field by field.
    pub fn subtract(&mut self, other: &Resources) {
        self.milli_cpu -= other.milli_cpu;
        self.memory -= other.memory;
        self.ephemeral_storage -= other.ephemeral_storage;
        self.pods -= other.pods;
    }

    /// Keeps the larger amount of each field.
    pub fn max(&mut self, other: &Resources) {
        self.milli_cpu = self.milli_cpu.max(other.milli_cpu);
        self.memory = self.memory.max(other.memory);
        self.ephemeral_storage = self.ephemeral_storage.max(other.ephemeral_storage);
        self.pods = self.pods.max(other.pods);
    }

    /// Whether every field is zero: a best-effort pod.
    pub fn is_zero(&self) -> bool {
        *self == Resources::default()
    }
}

/// A `ResourceList` (`{"cpu": "500m", "memory": "64Mi"}`); `path` names
/// it in the error. Resources the scheduler does not count (extended
/// resources such as `nvidia.com/gpu`, hugepages) are ignored. Quantities
/// may be strings or JSON numbers, as Kubernetes accepts both.
pub fn parse_list(list: &Value, path: &str) -> Result<Resources, String> {
    let mut resources = Resources::default();
    let Some(map) = list.as_object() else {
        return match list {
            Value::Null => Ok(resources),
            _ => Err(format!("{path}: must be a map of quantities")),
        };
    };
    for (name, value) in map {
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return Err(format!("{path}.{name}: {value} is not a quantity")),
        };
        let parsed = |scale| {
            quantity::parse_scaled(&text, scale)
                .map(|v| i64::try_from(v).unwrap_or(i64::MAX))
                .map_err(|e| format!("{path}.{name}: {e}"))
        };
        match name.as_str() {
            "cpu" => resources.milli_cpu = parsed(1000)?,
            "memory" => resources.memory = parsed(1)?,
            "ephemeral-storage" => resources.ephemeral_storage = parsed(1)?,
            "pods" => resources.pods = parsed(1)?,
            _ => {}
        }
    }
    Ok(resources)
}

/// What one container asks for, and whether it is a sidecar (an init
/// container with `restartPolicy: Always`, which keeps running beside the
/// app containers).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ContainerRequest {
    pub requests: Resources,
    pub sidecar: bool,
}

// ANCHOR: pod_requests
/// The requests of a whole pod, as Kubernetes' `PodRequests` computes
/// them: app containers run together, so their requests add up; init
/// containers run one at a time before them, so the pod needs at least
/// the largest of them (plus the sidecars started before it, which keep
/// running); then the runtime's `overhead` for the pod's sandbox.
pub fn pod_requests(
    containers: &[Resources],
    init_containers: &[ContainerRequest],
    overhead: &Resources,
) -> Resources {
    let mut total = Resources::default();
    for c in containers {
        total.add(c);
    }
    let mut sidecars = Resources::default();
    let mut largest_init = Resources::default();
    for init in init_containers {
        let mut during = init.requests;
        if init.sidecar {
            // A sidecar runs to the end of the pod: it adds to the total,
            // and to what every later init container runs beside.
            total.add(&init.requests);
            sidecars.add(&init.requests);
            during = sidecars;
        } else {
            during.add(&sidecars);
        }
        largest_init.max(&during);
    }
    total.max(&largest_init);
    total.add(overhead);
    total
}
// ANCHOR_END: pod_requests

/// A container's requests as the *scores* count them: a missing CPU or
/// memory request counts as [`DEFAULT_MILLI_CPU_REQUEST`] or
/// [`DEFAULT_MEMORY_REQUEST`] (Kubernetes' `NonMissingContainerRequests`).
/// `declared` says which of the two the container declared (an explicit
/// zero stays zero).
pub fn non_zero(requests: &Resources, declared: (bool, bool)) -> Resources {
    let mut r = *requests;
    if !declared.0 {
        r.milli_cpu = DEFAULT_MILLI_CPU_REQUEST;
    }
    if !declared.1 {
        r.memory = DEFAULT_MEMORY_REQUEST;
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cpu_mem(milli_cpu: i64, memory: i64) -> Resources {
        Resources {
            milli_cpu,
            memory,
            ..Resources::default()
        }
    }

    #[test]
    fn lists_parse_strings_and_numbers() {
        let r = parse_list(
            &json!({"cpu": "1.5", "memory": "64Mi", "pods": 110, "nvidia.com/gpu": "1"}),
            "spec",
        )
        .unwrap();
        assert_eq!(r.milli_cpu, 1500);
        assert_eq!(r.memory, 64 << 20);
        assert_eq!(r.pods, 110);
        let error = parse_list(&json!({"cpu": "lots"}), "requests").unwrap_err();
        assert!(error.starts_with("requests.cpu: \"lots\""), "{error}");
        assert_eq!(parse_list(&Value::Null, "x"), Ok(Resources::default()));
    }

    #[test]
    fn init_containers_count_by_their_largest() {
        let app = [cpu_mem(100, 10), cpu_mem(200, 10)];
        let init = [
            ContainerRequest {
                requests: cpu_mem(500, 5),
                sidecar: false,
            },
            ContainerRequest {
                requests: cpu_mem(50, 100),
                sidecar: false,
            },
        ];
        let total = pod_requests(&app, &init, &Resources::default());
        assert_eq!(total, cpu_mem(500, 100));
    }

    #[test]
    fn sidecars_add_up_and_overhead_is_added() {
        let app = [cpu_mem(100, 0)];
        let init = [
            ContainerRequest {
                requests: cpu_mem(50, 0),
                sidecar: true,
            },
            ContainerRequest {
                requests: cpu_mem(120, 0),
                sidecar: false,
            },
        ];
        // During the second init container: 50 (sidecar) + 120 = 170,
        // more than 100 + 50 afterwards.
        let total = pod_requests(&app, &init, &cpu_mem(10, 0));
        assert_eq!(total, cpu_mem(180, 0));
    }

    #[test]
    fn missing_requests_count_as_defaults_for_scores() {
        let r = non_zero(&cpu_mem(0, 0), (false, true));
        assert_eq!(r, cpu_mem(DEFAULT_MILLI_CPU_REQUEST, 0));
    }
}
