//! kube-controller-manager's eviction flags, for `orc server` and
//! `orc-controllers`: the zones' rates and thresholds ([`EvictionRates`]).

use super::zones::EvictionRates;

/// The node lifecycle controller's eviction rate limit and zone
/// thresholds, as kube-controller-manager names them.
#[derive(Debug, Clone, clap::Args)]
pub struct EvictionFlags {
    /// Nodes per second whose pods may start being evicted, in a zone
    /// whose nodes are mostly Ready (kube-controller-manager's flag; 0.1,
    /// one node every 10 s).
    #[arg(long, default_value_t = 0.1, value_parser = rate)]
    pub node_eviction_rate: f64,
    /// The same rate in a zone at least --unhealthy-zone-threshold unhealthy,
    /// when it has more than --large-cluster-size-threshold nodes; a
    /// smaller such zone evicts nothing (0.01).
    #[arg(long, default_value_t = 0.01, value_parser = rate)]
    pub secondary_node_eviction_rate: f64,
    /// The share of not-Ready nodes (when more than two) that makes a zone
    /// unhealthy, from 0 to 1 (0.55).
    #[arg(long, default_value_t = 0.55, value_parser = share)]
    pub unhealthy_zone_threshold: f64,
    /// Above this many nodes, an unhealthy zone slows evictions to
    /// --secondary-node-eviction-rate instead of stopping them (50).
    #[arg(long, default_value_t = 50)]
    pub large_cluster_size_threshold: usize,
}

impl EvictionFlags {
    /// The rates the controller takes.
    pub fn rates(&self) -> EvictionRates {
        EvictionRates {
            node_eviction_rate: self.node_eviction_rate,
            secondary_node_eviction_rate: self.secondary_node_eviction_rate,
            unhealthy_zone_threshold: self.unhealthy_zone_threshold,
            large_cluster_size_threshold: self.large_cluster_size_threshold,
        }
    }
}

/// A rate in nodes per second: a number, 0 or more.
fn rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(r) if r.is_finite() && r >= 0.0 => Ok(r),
        _ => Err(format!(
            "{text:?} is not a rate: give nodes per second, a number 0 or more (0.1 is one node every 10 s; 0 stops evictions)"
        )),
    }
}

/// A share: a number from 0 to 1.
fn share(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if (0.0..=1.0).contains(&s) => Ok(s),
        _ => Err(format!(
            "{text:?} is not a share of nodes: give a number from 0 to 1 (0.55 is 55 %)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Command {
        #[command(flatten)]
        flags: EvictionFlags,
    }

    #[test]
    fn the_defaults_are_kubernetes_and_bad_values_say_what_to_give() {
        let defaults = Command::try_parse_from(["x"]).unwrap().flags.rates();
        assert_eq!(defaults, EvictionRates::default());
        let set = Command::try_parse_from([
            "x",
            "--node-eviction-rate",
            "1",
            "--unhealthy-zone-threshold=0.3",
        ])
        .unwrap()
        .flags
        .rates();
        assert_eq!(
            (set.node_eviction_rate, set.unhealthy_zone_threshold),
            (1.0, 0.3)
        );
        let error = Command::try_parse_from(["x", "--node-eviction-rate=-1"])
            .err()
            .unwrap()
            .to_string();
        assert!(
            error.contains("--node-eviction-rate") && error.contains("0 or more"),
            "{error}"
        );
        let error = Command::try_parse_from(["x", "--unhealthy-zone-threshold", "55"])
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("from 0 to 1"), "{error}");
    }
}
