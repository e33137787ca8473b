//! A pod's `/etc/hosts` and its hostname, as the kubelet makes them.
//!
//! Every container of a pod sees the same `/etc/hosts`, written by the
//! node agent rather than taken from the image: `localhost`, the IPv6
//! boilerplate, one line naming the pod by its own address, then the
//! `spec.hostAliases` a manifest adds. A pod with a `subdomain` is also
//! named by its fully qualified domain name,
//! `<hostname>.<subdomain>.<namespace>.svc.<cluster domain>`: the name a
//! headless Service's DNS records give it, so the pod resolves its own
//! FQDN without asking DNS. With `setHostnameAsFQDN: true` that FQDN is
//! also the pod's kernel hostname (what `hostname` prints), which some
//! software (Kerberos, some databases) insists on.
//!
//! A container that mounts a volume at `/etc/hosts` keeps its own file:
//! the kubelet does not manage a file the manifest took over.

use std::net::IpAddr;

use crate::pod_spec::{Container, Pod};

/// Where the file is mounted in every container.
pub const PATH: &str = "/etc/hosts";

/// The longest hostname the kernel holds (`HOST_NAME_MAX` is 64).
const HOSTNAME_MAX: usize = 64;

/// The pod's domain, `<subdomain>.<namespace>.svc.<cluster domain>`, when
/// it has a subdomain and the node knows the cluster's domain.
pub fn host_domain(pod: &Pod, cluster_domain: Option<&str>) -> Option<String> {
    let subdomain = &pod.spec.subdomain;
    let domain = cluster_domain.filter(|d| !d.is_empty())?;
    (!subdomain.is_empty()).then(|| format!("{subdomain}.{}.svc.{domain}", pod.metadata.namespace))
}

// ANCHOR: kernel_hostname
/// The hostname the pod's UTS namespace gets: its hostname, or with
/// `setHostnameAsFQDN` and a domain, its fully qualified name, refused
/// when longer than the kernel allows (in the kubelet's words).
pub fn kernel_hostname(pod: &Pod, domain: Option<&str>) -> Result<String, String> {
    let short = pod.hostname();
    let Some(domain) = domain.filter(|_| pod.spec.set_hostname_as_fqdn == Some(true)) else {
        return Ok(short.to_string());
    };
    let fqdn = format!("{short}.{domain}");
    if fqdn.len() > HOSTNAME_MAX {
        return Err(format!(
            "failed to construct FQDN from pod hostname and cluster domain, FQDN {fqdn} is too long \
             ({HOSTNAME_MAX} characters is the max, {} characters requested)",
            fqdn.len()
        ));
    }
    Ok(fqdn)
}
// ANCHOR_END: kernel_hostname

// ANCHOR: managed
/// The file's text: the boilerplate, one line per pod address naming the
/// pod (by FQDN first when it has a domain), then the host aliases.
pub fn managed(pod: &Pod, addresses: &[IpAddr], domain: Option<&str>) -> String {
    let mut text = String::from(
        "# Kubernetes-managed hosts file.\n\
         127.0.0.1\tlocalhost\n\
         ::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\n\
         fe00::0\tip6-mcastprefix\n\
         fe00::1\tip6-allnodes\n\
         fe00::2\tip6-allrouters\n",
    );
    let name = pod.hostname();
    for address in addresses {
        match domain {
            Some(domain) => text.push_str(&format!("{address}\t{name}.{domain}\t{name}\n")),
            None => text.push_str(&format!("{address}\t{name}\n")),
        }
    }
    if !pod.spec.host_aliases.is_empty() {
        text.push_str("\n# Entries added by HostAliases.\n");
        for alias in &pod.spec.host_aliases {
            text.push_str(&format!("{}\t{}\n", alias.ip, alias.hostnames.join("\t")));
        }
    }
    text
}
// ANCHOR_END: managed

/// Whether the agent mounts its file into `container`: not when one of
/// the container's own volume mounts is at `/etc/hosts`.
pub fn is_managed_for(container: &Container) -> bool {
    !container
        .volume_mounts
        .iter()
        .any(|m| m.mount_path.trim_end_matches('/') == PATH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod_spec::HostAlias;

    fn pod(yaml: &str) -> Pod {
        serde_yaml::from_str(yaml).unwrap()
    }

    const WEB: &str = "
metadata: {name: web-0, namespace: shop}
spec:
  hostname: web-0
  subdomain: web
  hostAliases:
  - {ip: 10.1.2.3, hostnames: [foo.remote, bar.remote]}
  containers: [{name: c, image: busybox}]
";

    #[test]
    fn the_file_names_the_pod_by_its_fqdn_then_adds_the_aliases() {
        let p = pod(WEB);
        let domain = host_domain(&p, Some("cluster.local"));
        assert_eq!(domain.as_deref(), Some("web.shop.svc.cluster.local"));
        let text = managed(&p, &["10.244.1.5".parse().unwrap()], domain.as_deref());
        assert_eq!(
            text,
            "# Kubernetes-managed hosts file.\n\
             127.0.0.1\tlocalhost\n\
             ::1\tlocalhost ip6-localhost ip6-loopback\n\
             fe00::0\tip6-localnet\n\
             fe00::0\tip6-mcastprefix\n\
             fe00::1\tip6-allnodes\n\
             fe00::2\tip6-allrouters\n\
             10.244.1.5\tweb-0.web.shop.svc.cluster.local\tweb-0\n\
             \n\
             # Entries added by HostAliases.\n\
             10.1.2.3\tfoo.remote\tbar.remote\n"
        );
    }

    #[test]
    fn without_a_subdomain_the_pod_is_named_by_its_hostname_alone() {
        let mut p = pod(WEB);
        p.spec.subdomain.clear();
        p.spec.host_aliases = Vec::<HostAlias>::new();
        assert_eq!(host_domain(&p, Some("cluster.local")), None);
        let text = managed(&p, &["10.244.1.5".parse().unwrap()], None);
        assert!(
            text.ends_with("fe00::2\tip6-allrouters\n10.244.1.5\tweb-0\n"),
            "{text}"
        );
        assert!(!text.contains("HostAliases"));
    }

    #[test]
    fn the_kernel_hostname_is_the_fqdn_only_when_asked_and_only_if_it_fits() {
        let mut p = pod(WEB);
        let domain = host_domain(&p, Some("cluster.local"));
        assert_eq!(kernel_hostname(&p, domain.as_deref()).unwrap(), "web-0");
        p.spec.set_hostname_as_fqdn = Some(true);
        assert_eq!(
            kernel_hostname(&p, domain.as_deref()).unwrap(),
            "web-0.web.shop.svc.cluster.local"
        );
        // Without a subdomain there is no FQDN to set: the short name stays.
        assert_eq!(kernel_hostname(&p, None).unwrap(), "web-0");
        p.spec.hostname = "a".repeat(40);
        let err = kernel_hostname(&p, domain.as_deref()).unwrap_err();
        assert!(
            err.contains("is too long (64 characters is the max, 67 characters requested)"),
            "{err}"
        );
    }

    #[test]
    fn a_container_that_mounts_its_own_hosts_file_keeps_it() {
        let p = pod("
metadata: {name: p}
spec:
  containers:
  - {name: own, image: busybox, volumeMounts: [{name: h, mountPath: /etc/hosts}]}
  - {name: managed, image: busybox, volumeMounts: [{name: h, mountPath: /etc/hosts.d}]}
");
        assert!(!is_managed_for(&p.spec.containers[0]));
        assert!(is_managed_for(&p.spec.containers[1]));
    }
}
