//! A pod's `/etc/resolv.conf`, as the kubelet writes it from the pod's
//! `dnsPolicy` and `dnsConfig` (Kubernetes' `pkg/kubelet/network/dns`):
//!
//! - `ClusterFirst` (the default): the cluster DNS server, the search list
//!   `<ns>.svc.<domain> svc.<domain> <domain>` followed by the host's own,
//!   and `options ndots:5`, so that `web` is tried as
//!   `web.<ns>.svc.cluster.local` before anything else;
//! - `Default`: the host's file (the policy's name is Kubernetes' own
//!   oddity: it is not the default);
//! - `None`: nothing but what `dnsConfig` says.
//!
//! `dnsConfig` is then merged in: its nameservers and searches appended
//! (each kept once), its options replacing those of the same name. Pure:
//! the agent writes the result next to the pod and mounts it.

use serde::{Deserialize, Serialize};

/// The three lines of a resolv.conf that matter to a pod.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvConf {
    pub nameservers: Vec<String>,
    pub searches: Vec<String>,
    /// `ndots:5`, `edns0`: name, then `:value` if it has one.
    pub options: Vec<String>,
}

/// `spec.dnsConfig`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodDnsConfig {
    #[serde(default)]
    pub nameservers: Vec<String>,
    #[serde(default)]
    pub searches: Vec<String>,
    #[serde(default)]
    pub options: Vec<PodDnsOption>,
}

/// One `spec.dnsConfig.options` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodDnsOption {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// `spec.dnsPolicy`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum DnsPolicy {
    #[default]
    ClusterFirst,
    ClusterFirstWithHostNet,
    Default,
    None,
}

/// The cluster's DNS, as the agent's `--cluster-dns` and
/// `--cluster-domain` give it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterDns {
    /// The `kube-dns` Service's address (`10.96.0.10`).
    pub nameserver: String,
    /// `cluster.local`.
    pub domain: String,
}

impl ResolvConf {
    /// The `nameserver`, `search` (or `domain`) and `options` lines of a
    /// resolv.conf; comments and other lines are skipped.
    pub fn parse(text: &str) -> ResolvConf {
        let mut conf = ResolvConf::default();
        for line in text.lines() {
            let line = line.split(['#', ';']).next().unwrap_or("");
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") => conf.nameservers.extend(words.next().map(String::from)),
                // The last search or domain line wins, as in glibc.
                Some("search" | "domain") => conf.searches = words.map(String::from).collect(),
                Some("options") => conf.options.extend(words.map(String::from)),
                _ => {}
            }
        }
        conf
    }

    /// The file's text.
    pub fn render(&self) -> String {
        let mut text = String::new();
        for server in &self.nameservers {
            text.push_str(&format!("nameserver {server}\n"));
        }
        if !self.searches.is_empty() {
            text.push_str(&format!("search {}\n", self.searches.join(" ")));
        }
        if !self.options.is_empty() {
            text.push_str(&format!("options {}\n", self.options.join(" ")));
        }
        text
    }
}

// ANCHOR: pod_resolv_conf
/// The resolv.conf of a pod in `namespace` with `policy` and `config`,
/// on a host whose own file is `host`.
pub fn pod_resolv_conf(
    policy: DnsPolicy,
    config: Option<&PodDnsConfig>,
    namespace: &str,
    host: &ResolvConf,
    cluster: Option<&ClusterDns>,
) -> ResolvConf {
    let mut conf = match (policy, cluster) {
        (DnsPolicy::ClusterFirst | DnsPolicy::ClusterFirstWithHostNet, Some(cluster)) => {
            let domain = &cluster.domain;
            let mut searches = vec![
                format!("{namespace}.svc.{domain}"),
                format!("svc.{domain}"),
                domain.clone(),
            ];
            searches.extend(host.searches.iter().cloned());
            ResolvConf {
                nameservers: vec![cluster.nameserver.clone()],
                searches: once_each(searches),
                options: vec!["ndots:5".into()],
            }
        }
        // No cluster DNS configured: the kubelet falls back to the host's
        // file for ClusterFirst pods too (and says so; the agent warns).
        (DnsPolicy::ClusterFirst | DnsPolicy::ClusterFirstWithHostNet | DnsPolicy::Default, _) => {
            host.clone()
        }
        (DnsPolicy::None, _) => ResolvConf::default(),
    };
    if let Some(extra) = config {
        conf.nameservers = once_each(
            conf.nameservers
                .into_iter()
                .chain(extra.nameservers.iter().cloned()),
        );
        conf.searches = once_each(
            conf.searches
                .into_iter()
                .chain(extra.searches.iter().cloned()),
        );
        for option in &extra.options {
            let text = match &option.value {
                Some(value) => format!("{}:{value}", option.name),
                None => option.name.clone(),
            };
            let same = |o: &String| o.split(':').next() == Some(option.name.as_str());
            match conf.options.iter().position(same) {
                Some(i) => conf.options[i] = text,
                None => conf.options.push(text),
            }
        }
    }
    conf
}
// ANCHOR_END: pod_resolv_conf

/// `items` with each kept once, at its first place.
fn once_each(items: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut seen = Vec::new();
    for item in items {
        if !seen.contains(&item) {
            seen.push(item);
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> ResolvConf {
        ResolvConf::parse(
            "# made by hand\nnameserver 192.0.2.53\nnameserver 192.0.2.54 ; second\nsearch corp.example\noptions edns0 ndots:1\n",
        )
    }

    fn cluster() -> ClusterDns {
        ClusterDns {
            nameserver: "10.96.0.10".into(),
            domain: "cluster.local".into(),
        }
    }

    #[test]
    fn the_hosts_file_is_read() {
        let h = host();
        assert_eq!(h.nameservers, ["192.0.2.53", "192.0.2.54"]);
        assert_eq!(h.searches, ["corp.example"]);
        assert_eq!(h.options, ["edns0", "ndots:1"]);
    }

    #[test]
    fn cluster_first_puts_the_cluster_dns_and_the_namespace_first() {
        let conf = pod_resolv_conf(
            DnsPolicy::ClusterFirst,
            None,
            "shop",
            &host(),
            Some(&cluster()),
        );
        assert_eq!(
            conf.render(),
            "nameserver 10.96.0.10\nsearch shop.svc.cluster.local svc.cluster.local cluster.local corp.example\noptions ndots:5\n"
        );
    }

    #[test]
    fn default_is_the_hosts_file_and_so_is_cluster_first_without_a_cluster_dns() {
        let conf = pod_resolv_conf(DnsPolicy::Default, None, "shop", &host(), Some(&cluster()));
        assert_eq!(conf, host());
        let conf = pod_resolv_conf(DnsPolicy::ClusterFirst, None, "shop", &host(), None);
        assert_eq!(conf, host());
    }

    #[test]
    fn none_is_only_the_dns_config() {
        let config = PodDnsConfig {
            nameservers: vec!["192.0.2.1".into()],
            searches: vec!["ns1.example".into()],
            options: vec![PodDnsOption {
                name: "ndots".into(),
                value: Some("2".into()),
            }],
        };
        let conf = pod_resolv_conf(
            DnsPolicy::None,
            Some(&config),
            "shop",
            &host(),
            Some(&cluster()),
        );
        assert_eq!(
            conf.render(),
            "nameserver 192.0.2.1\nsearch ns1.example\noptions ndots:2\n"
        );
    }

    #[test]
    fn dns_config_is_merged_into_cluster_first() {
        let config = PodDnsConfig {
            nameservers: vec!["10.96.0.10".into(), "192.0.2.1".into()],
            searches: vec!["cluster.local".into(), "extra.example".into()],
            options: vec![
                PodDnsOption {
                    name: "ndots".into(),
                    value: Some("2".into()),
                },
                PodDnsOption {
                    name: "edns0".into(),
                    value: None,
                },
            ],
        };
        let conf = pod_resolv_conf(
            DnsPolicy::ClusterFirst,
            Some(&config),
            "shop",
            &ResolvConf::default(),
            Some(&cluster()),
        );
        assert_eq!(
            conf.nameservers,
            ["10.96.0.10", "192.0.2.1"],
            "each kept once"
        );
        assert_eq!(
            conf.searches,
            [
                "shop.svc.cluster.local",
                "svc.cluster.local",
                "cluster.local",
                "extra.example"
            ]
        );
        assert_eq!(
            conf.options,
            ["ndots:2", "edns0"],
            "same name replaced, new appended"
        );
    }
}
