//! The name table from the cluster's objects: which records each
//! Service, EndpointSlice and pod gives, as the Kubernetes DNS
//! specification lists them. Pure: objects in, [`Records`] out.
//!
//! | object | name | records |
//! | --- | --- | --- |
//! | Service with a cluster IP | `<svc>.<ns>.svc.<zone>` | A: the cluster IP; PTR back |
//! | headless Service | `<svc>.<ns>.svc.<zone>` | A: each ready endpoint (none: NXDOMAIN) |
//! | headless endpoint | `<hostname or a-b-c-d>.<svc>.<ns>.svc.<zone>` | A: its address; PTR back |
//! | named port | `_<port>._<proto>.<svc>.<ns>.svc.<zone>` | SRV: the port and the name behind it |
//! | ExternalName Service | `<svc>.<ns>.svc.<zone>` | CNAME: the external name |
//! | pod | `<a-b-c-d>.<ns>.pod.<zone>` | A: its address |

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde_json::Value;

use super::records::{Rdata, Records};

/// The text at `pointer`, or `""`.
fn text<'a>(obj: &'a Value, pointer: &str) -> &'a str {
    obj.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// `10.244.1.5` as a DNS label: `10-244-1-5`.
pub fn dashed(ip: Ipv4Addr) -> String {
    ip.to_string().replace('.', "-")
}

/// One endpoint of a headless Service, from its slices.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Backend {
    ip: Ipv4Addr,
    hostname: Option<String>,
    ready: bool,
    /// Its ports by (name, protocol): what the SRV records point at.
    ports: BTreeMap<(String, String), u16>,
}

/// Every endpoint of every Service, by (namespace, Service) and address,
/// merged over the Service's slices (the same address in two slices
/// mid-move: the readier one counts).
fn backends(slices: &[Value]) -> BTreeMap<(String, String), BTreeMap<Ipv4Addr, Backend>> {
    let mut all: BTreeMap<(String, String), BTreeMap<Ipv4Addr, Backend>> = BTreeMap::new();
    for slice in slices.iter().filter(|s| s["addressType"] == "IPv4") {
        let service = text(slice, "/metadata/labels/kubernetes.io~1service-name");
        if service.is_empty() {
            continue;
        }
        let key = (
            text(slice, "/metadata/namespace").to_string(),
            service.to_string(),
        );
        let ports: BTreeMap<(String, String), u16> = slice["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| {
                let name = p["name"].as_str().unwrap_or("").to_string();
                let protocol = p["protocol"].as_str().unwrap_or("TCP").to_ascii_lowercase();
                Some(((name, protocol), u16::try_from(p["port"].as_u64()?).ok()?))
            })
            .collect();
        let found = all.entry(key).or_default();
        for endpoint in slice["endpoints"].as_array().into_iter().flatten() {
            let Some(ip) = endpoint["addresses"][0]
                .as_str()
                .and_then(|a| a.parse().ok())
            else {
                continue;
            };
            let candidate = Backend {
                ip,
                hostname: endpoint["hostname"].as_str().map(str::to_ascii_lowercase),
                // Unset reads as ready (Kubernetes' rule for consumers).
                ready: endpoint["conditions"]["ready"].as_bool().unwrap_or(true),
                ports: ports.clone(),
            };
            if found
                .get(&ip)
                .is_none_or(|old| candidate.ready && !old.ready)
            {
                found.insert(ip, candidate);
            }
        }
    }
    all
}

// ANCHOR: build
/// The cluster's names under `zone` (`cluster.local`) from its Services,
/// EndpointSlices and pods.
pub fn records(zone: &str, services: &[Value], slices: &[Value], pods: &[Value]) -> Records {
    let mut table = Records::new(zone);
    let zone = table.zone().to_string();
    let backends = backends(slices);
    for svc in services {
        let (ns, name) = (
            text(svc, "/metadata/namespace"),
            text(svc, "/metadata/name"),
        );
        let fqdn = format!("{name}.{ns}.svc.{zone}");
        if text(svc, "/spec/type") == "ExternalName" {
            let target = text(svc, "/spec/externalName");
            if !target.is_empty() {
                table.add(&fqdn, Rdata::Cname(super::records::absolute(target)));
            }
            continue;
        }
        let ports = named_ports(svc);
        match text(svc, "/spec/clusterIP") {
            "None" => {
                let publish_all = svc["spec"]["publishNotReadyAddresses"] == true;
                let empty = BTreeMap::new();
                let endpoints = backends.get(&(ns.to_string(), name.to_string()));
                let chosen: Vec<&Backend> = endpoints
                    .unwrap_or(&empty)
                    .values()
                    .filter(|b| b.ready || publish_all)
                    .collect();
                headless(&mut table, &fqdn, &chosen, &ports);
            }
            ip => {
                // Not yet allocated (or not an IPv4 address): no record yet.
                let Ok(ip) = ip.parse::<Ipv4Addr>() else {
                    continue;
                };
                table.add(&fqdn, Rdata::A(ip));
                table.add_reverse(ip, &fqdn);
                for (port_name, protocol, port) in &ports {
                    table.add(
                        &format!("_{port_name}._{protocol}.{fqdn}"),
                        Rdata::Srv {
                            priority: 0,
                            weight: 100,
                            port: *port,
                            target: fqdn.clone(),
                        },
                    );
                }
            }
        }
    }
    for pod in pods {
        if let Ok(ip) = text(pod, "/status/podIP").parse::<Ipv4Addr>() {
            let ns = text(pod, "/metadata/namespace");
            table.add(&format!("{}.{ns}.pod.{zone}", dashed(ip)), Rdata::A(ip));
        }
    }
    table
}
// ANCHOR_END: build

/// A Service's named ports: (name, lower-case protocol, port).
fn named_ports(svc: &Value) -> Vec<(String, String, u16)> {
    svc.pointer("/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let name = p["name"].as_str().filter(|n| !n.is_empty())?;
            let protocol = p["protocol"].as_str().unwrap_or("TCP").to_ascii_lowercase();
            Some((
                name.to_string(),
                protocol,
                u16::try_from(p["port"].as_u64()?).ok()?,
            ))
        })
        .collect()
}

/// A headless Service's records: its name has every chosen endpoint's
/// address, each endpoint has a name of its own (its hostname, or its
/// address dashed, as CoreDNS names them) pointing back, and each named
/// port has one SRV record per endpoint, on the endpoint's own port.
fn headless(table: &mut Records, fqdn: &str, chosen: &[&Backend], ports: &[(String, String, u16)]) {
    for backend in chosen {
        let host = backend
            .hostname
            .clone()
            .unwrap_or_else(|| dashed(backend.ip));
        let own = format!("{host}.{fqdn}");
        table.add(fqdn, Rdata::A(backend.ip));
        table.add(&own, Rdata::A(backend.ip));
        table.add_reverse(backend.ip, &own);
        for (port_name, protocol, _) in ports {
            let Some(port) = backend.ports.get(&(port_name.clone(), protocol.clone())) else {
                continue;
            };
            table.add(
                &format!("_{port_name}._{protocol}.{fqdn}"),
                Rdata::Srv {
                    priority: 0,
                    // Spread evenly, as CoreDNS does: 100 shared out.
                    weight: (100 / chosen.len()).max(1) as u16,
                    port: *port,
                    target: super::records::absolute(&own),
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::records::{Answer, Kind, Record};
    use super::*;
    use serde_json::json;

    fn service(name: &str, spec: Value) -> Value {
        json!({"metadata": {"namespace": "shop", "name": name}, "spec": spec})
    }

    fn slice(service: &str, endpoints: Value) -> Value {
        json!({"metadata": {"namespace": "shop", "name": format!("{service}-x"),
                "labels": {"kubernetes.io/service-name": service}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": endpoints})
    }

    fn cluster() -> Records {
        let services = [
            service(
                "web",
                json!({"clusterIP": "10.96.0.20",
                "ports": [{"name": "http", "port": 80, "protocol": "TCP"}, {"port": 81}]}),
            ),
            service(
                "db",
                json!({"clusterIP": "None",
                "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}),
            ),
            service("empty", json!({"clusterIP": "None"})),
            service(
                "ext",
                json!({"type": "ExternalName", "externalName": "Example.ORG"}),
            ),
            service("pending", json!({"clusterIP": ""})),
        ];
        let slices = [
            slice(
                "db",
                json!([
                {"addresses": ["10.244.1.5"], "conditions": {"ready": true}, "hostname": "db-0"},
                {"addresses": ["10.244.2.6"], "conditions": {"ready": true}},
                {"addresses": ["10.244.2.7"], "conditions": {"ready": false}}]),
            ),
            slice(
                "empty",
                json!([{"addresses": ["10.244.2.8"], "conditions": {"ready": false}}]),
            ),
        ];
        let pods = [
            json!({"metadata": {"namespace": "shop", "name": "p"}, "status": {"podIP": "10.244.1.5"}}),
            json!({"metadata": {"namespace": "shop", "name": "pending"}, "status": {}}),
        ];
        records("cluster.local", &services, &slices, &pods)
    }

    fn data(answer: Answer) -> Vec<Rdata> {
        match answer {
            Answer::Records(r) => r.into_iter().map(|Record { data, .. }| data).collect(),
            other => panic!("expected records, got {other:?}"),
        }
    }

    fn a(ip: &str) -> Rdata {
        Rdata::A(ip.parse().unwrap())
    }

    #[test]
    fn a_cluster_ip_service_has_an_a_record_and_a_ptr() {
        let t = cluster();
        assert_eq!(
            data(t.answer("web.shop.svc.cluster.local", Kind::A)),
            [a("10.96.0.20")]
        );
        assert_eq!(
            data(t.answer("20.0.96.10.in-addr.arpa", Kind::Ptr)),
            [Rdata::Ptr("web.shop.svc.cluster.local.".into())]
        );
    }

    #[test]
    fn named_ports_have_srv_records_and_unnamed_ones_none() {
        let t = cluster();
        assert_eq!(
            data(t.answer("_http._tcp.web.shop.svc.cluster.local", Kind::Srv)),
            [Rdata::Srv {
                priority: 0,
                weight: 100,
                port: 80,
                target: "web.shop.svc.cluster.local.".into()
            }]
        );
        assert_eq!(
            t.answer("_http._udp.web.shop.svc.cluster.local", Kind::Srv),
            Answer::NoSuchName
        );
    }

    #[test]
    fn a_headless_service_has_every_ready_endpoint_and_each_its_own_name() {
        let t = cluster();
        assert_eq!(
            data(t.answer("db.shop.svc.cluster.local", Kind::A)),
            [a("10.244.1.5"), a("10.244.2.6")],
            "the not-ready 10.244.2.7 is left out"
        );
        assert_eq!(
            data(t.answer("db-0.db.shop.svc.cluster.local", Kind::A)),
            [a("10.244.1.5")]
        );
        assert_eq!(
            data(t.answer("10-244-2-6.db.shop.svc.cluster.local", Kind::A)),
            [a("10.244.2.6")]
        );
        assert_eq!(
            data(t.answer("5.1.244.10.in-addr.arpa", Kind::Ptr)),
            [Rdata::Ptr("db-0.db.shop.svc.cluster.local.".into())]
        );
        let srv = data(t.answer("_http._tcp.db.shop.svc.cluster.local", Kind::Srv));
        assert_eq!(srv.len(), 2);
        assert!(srv.contains(&Rdata::Srv {
            priority: 0,
            weight: 50,
            port: 8080,
            target: "db-0.db.shop.svc.cluster.local.".into()
        }));
    }

    #[test]
    fn a_headless_service_without_ready_endpoints_is_nxdomain() {
        let t = cluster();
        assert_eq!(
            t.answer("empty.shop.svc.cluster.local", Kind::A),
            Answer::NoSuchName
        );
        let services = [service(
            "empty",
            json!({"clusterIP": "None", "publishNotReadyAddresses": true}),
        )];
        let slices = [slice(
            "empty",
            json!([{"addresses": ["10.244.2.8"], "conditions": {"ready": false}}]),
        )];
        let t = records("cluster.local", &services, &slices, &[]);
        assert_eq!(
            data(t.answer("empty.shop.svc.cluster.local", Kind::A)),
            [a("10.244.2.8")],
            "publishNotReadyAddresses publishes them all"
        );
    }

    #[test]
    fn an_external_name_is_a_cname() {
        assert_eq!(
            data(cluster().answer("ext.shop.svc.cluster.local", Kind::A)),
            [Rdata::Cname("example.org.".into())]
        );
    }

    #[test]
    fn pods_have_dashed_names_in_their_namespace_only() {
        let t = cluster();
        assert_eq!(
            data(t.answer("10-244-1-5.shop.pod.cluster.local", Kind::A)),
            [a("10.244.1.5")]
        );
        assert_eq!(
            t.answer("10-244-1-5.other.pod.cluster.local", Kind::A),
            Answer::NoSuchName
        );
    }

    #[test]
    fn a_service_without_its_cluster_ip_yet_has_no_name() {
        assert_eq!(
            cluster().answer("pending.shop.svc.cluster.local", Kind::A),
            Answer::NoSuchName
        );
    }

    #[test]
    fn another_cluster_domain_is_honoured() {
        let services = [service("web", json!({"clusterIP": "10.96.0.20"}))];
        let t = records("corp.example", &services, &[], &[]);
        assert_eq!(
            data(t.answer("web.shop.svc.corp.example", Kind::A)),
            [a("10.96.0.20")]
        );
        assert_eq!(
            t.answer("web.shop.svc.cluster.local", Kind::A),
            Answer::Forward
        );
    }
}
