//! Rows of the networking kinds: services, endpoints, endpoint slices,
//! ingresses and ingress classes.

use serde_json::{Value, json};

use super::{AGE, Column, NAME, Printer, age, col, format_labels, items, name, text, wide};

/// Load-balancer addresses (`status.loadBalancer.ingress`): each one's IP,
/// or its host name, sorted and without repeats (Kubernetes keeps them in a
/// string set).
fn load_balancer(status: Option<&Value>) -> Vec<String> {
    let mut addresses: Vec<String> = status
        .map(|s| items(s, "/ingress"))
        .into_iter()
        .flatten()
        .filter_map(|i| match i["ip"].as_str() {
            Some(ip) if !ip.is_empty() => Some(ip),
            _ => i["hostname"].as_str(),
        })
        .filter(|a| !a.is_empty())
        .map(String::from)
        .collect();
    addresses.sort();
    addresses.dedup();
    addresses
}

/// EXTERNAL-IP: a LoadBalancer that has no address yet is `<pending>`;
/// an ExternalName service shows the name it aliases.
fn external_ip(svc: &Value) -> String {
    let external: Vec<String> = items(svc, "/spec/externalIPs")
        .filter_map(Value::as_str)
        .map(String::from)
        .collect();
    match text(svc, "/spec/type", "ClusterIP").as_str() {
        "ClusterIP" | "NodePort" if external.is_empty() => "<none>".into(),
        "ClusterIP" | "NodePort" => external.join(","),
        "LoadBalancer" => {
            let mut all = load_balancer(svc.pointer("/status/loadBalancer"));
            all.extend(external);
            if all.is_empty() {
                "<pending>".into()
            } else {
                all.join(",")
            }
        }
        "ExternalName" => text(svc, "/spec/externalName", ""),
        _ => "<unknown>".into(),
    }
}

/// PORT(S): `80/TCP`, or `80:30080/TCP` with a node port.
fn ports(svc: &Value) -> String {
    let ports: Vec<String> = items(svc, "/spec/ports")
        .map(|p| {
            let protocol = text(p, "/protocol", "TCP");
            match p.get("nodePort").and_then(Value::as_i64) {
                Some(node) if node > 0 => format!("{}:{node}/{protocol}", p["port"]),
                _ => format!("{}/{protocol}", p["port"]),
            }
        })
        .collect();
    if ports.is_empty() {
        "<none>".into()
    } else {
        ports.join(",")
    }
}

pub(super) const SERVICE: Printer = Printer {
    columns: &[
        NAME,
        col("Type", "string"),
        col("Cluster-IP", "string"),
        col("External-IP", "string"),
        col("Port(s)", "string"),
        AGE,
        wide("Selector"),
    ] as &[Column],
    cells: |svc| {
        vec![
            name(svc),
            json!(text(svc, "/spec/type", "ClusterIP")),
            json!(text(
                svc,
                "/spec/clusterIPs/0",
                &text(svc, "/spec/clusterIP", "<none>")
            )),
            json!(external_ip(svc)),
            json!(ports(svc)),
            age(svc),
            json!(format_labels(svc.pointer("/spec/selector"))),
        ]
    },
};

/// At most three `ip:port` pairs, then `+ N more...`, as kubectl shows
/// endpoints: ports outer, addresses inner. `<none>` without subsets; a
/// subset without addresses prints nothing.
fn endpoints(ep: &Value) -> String {
    if items(ep, "/subsets").next().is_none() {
        return "<none>".into();
    }
    const SHOWN: usize = 3;
    let mut all = Vec::new();
    for subset in items(ep, "/subsets") {
        let addresses: Vec<&str> = items(subset, "/addresses")
            .filter_map(|a| a["ip"].as_str())
            .collect();
        let ports: Vec<&Value> = items(subset, "/ports").collect();
        if ports.is_empty() {
            all.extend(addresses.iter().map(|ip| ip.to_string()));
        }
        for port in ports {
            all.extend(addresses.iter().map(|ip| match ip.contains(':') {
                true => format!("[{ip}]:{}", port["port"]),
                false => format!("{ip}:{}", port["port"]),
            }));
        }
    }
    match all.len() {
        n if n <= SHOWN => all.join(","),
        n => format!("{} + {} more...", all[..SHOWN].join(","), n - SHOWN),
    }
}

pub(super) const ENDPOINTS: Printer = Printer {
    columns: &[NAME, col("Endpoints", "string"), AGE],
    cells: |ep| vec![name(ep), json!(endpoints(ep)), age(ep)],
};

/// At most three items, then `+ N more...`; `<unset>` for none (the
/// form of kubectl's endpoint-slice columns, `listWithMoreString`).
fn three_then_count(all: Vec<String>) -> String {
    const SHOWN: usize = 3;
    match all.len() {
        0 => "<unset>".into(),
        n if n <= SHOWN => all.join(","),
        n => format!("{} + {} more...", all[..SHOWN].join(","), n - SHOWN),
    }
}

/// PORTS: each port's number (`*` when it has none, or its name).
fn slice_ports(slice: &Value) -> String {
    let ports = items(slice, "/ports")
        .map(|p| match (p["port"].as_i64(), p["name"].as_str()) {
            (Some(port), _) => port.to_string(),
            (None, Some(name)) => name.to_string(),
            (None, None) => "*".into(),
        })
        .collect();
    three_then_count(ports)
}

/// ENDPOINTS: every endpoint's addresses, in order.
fn slice_endpoints(slice: &Value) -> String {
    let addresses = items(slice, "/endpoints")
        .flat_map(|e| items(e, "/addresses"))
        .filter_map(Value::as_str)
        .map(String::from)
        .collect();
    three_then_count(addresses)
}

pub(super) const ENDPOINT_SLICE: Printer = Printer {
    columns: &[
        NAME,
        col("AddressType", "string"),
        col("Ports", "string"),
        col("Endpoints", "string"),
        AGE,
    ],
    cells: |slice| {
        vec![
            name(slice),
            json!(text(slice, "/addressType", "")),
            json!(slice_ports(slice)),
            json!(slice_endpoints(slice)),
            age(slice),
        ]
    },
};

/// HOSTS: the hosts of the first rules (at most three, then `+ N more...`
/// counting the other rules), or `*` when no rule names a host.
fn hosts(ing: &Value) -> String {
    let rules: Vec<&Value> = items(ing, "/spec/rules").collect();
    let hosts: Vec<&str> = rules
        .iter()
        .take(3)
        .filter_map(|r| r["host"].as_str())
        .filter(|h| !h.is_empty())
        .collect();
    match (hosts.len(), rules.len()) {
        (0, _) => "*".into(),
        (_, n) if n <= 3 => hosts.join(","),
        (_, n) => format!("{} + {} more...", hosts.join(","), n - 3),
    }
}

pub(super) const INGRESS: Printer = Printer {
    columns: &[
        NAME,
        col("Class", "string"),
        col("Hosts", "string"),
        col("Address", "string"),
        col("Ports", "string"),
        AGE,
    ],
    cells: |ing| {
        let ports = if ing.pointer("/spec/tls").is_some() {
            "80, 443"
        } else {
            "80"
        };
        vec![
            name(ing),
            json!(text(ing, "/spec/ingressClassName", "<none>")),
            json!(hosts(ing)),
            json!(load_balancer(ing.pointer("/status/loadBalancer")).join(",")),
            json!(ports),
            age(ing),
        ]
    },
};

/// PARAMETERS: `Kind.group/name` of `spec.parameters`, or `<none>`
/// (kubectl's `printIngressClass`).
fn class_parameters(class: &Value) -> String {
    let Some(params) = class.pointer("/spec/parameters").filter(|p| !p.is_null()) else {
        return "<none>".into();
    };
    let kind = text(params, "/kind", "");
    let kind = match params["apiGroup"].as_str() {
        Some(group) if !group.is_empty() => format!("{kind}.{group}"),
        _ => kind,
    };
    format!("{kind}/{}", text(params, "/name", ""))
}

pub(super) const INGRESS_CLASS: Printer = Printer {
    columns: &[
        NAME,
        col("Controller", "string"),
        col("Parameters", "string"),
        AGE,
    ],
    cells: |class| {
        vec![
            name(class),
            json!(text(class, "/spec/controller", "")),
            json!(class_parameters(class)),
            age(class),
        ]
    },
};

#[cfg(test)]
mod tests {
    use super::super::cells;
    use super::*;

    #[test]
    fn services_show_ports_and_external_addresses() {
        let svc = json!({"metadata": {"name": "web"}, "spec": {"type": "NodePort", "clusterIP": "10.96.0.10",
            "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}],
            "selector": {"app": "web"}}});
        assert_eq!(
            cells("Service", svc)[1..],
            [
                json!("NodePort"),
                json!("10.96.0.10"),
                json!("<none>"),
                json!("80:30080/TCP,53/UDP"),
                json!("<unknown>"),
                json!("app=web")
            ]
        );
        let lb = json!({"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer"}});
        assert_eq!(cells("Service", lb)[3], "<pending>");
        let alias = json!({"metadata": {"name": "db"}, "spec": {"type": "ExternalName", "externalName": "db.example.com"}});
        assert_eq!(
            cells("Service", alias)[2..4],
            [json!("<none>"), json!("db.example.com")]
        );
    }

    #[test]
    fn endpoints_show_three_then_count() {
        let ep = json!({"metadata": {"name": "web"}, "subsets": [{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}], "ports": [{"port": 80}, {"port": 443}]}]});
        assert_eq!(
            cells("Endpoints", ep)[1],
            "10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 1 more..."
        );
        assert_eq!(
            cells("Endpoints", json!({"metadata": {"name": "e"}}))[1],
            "<none>"
        );
    }

    #[test]
    fn endpoint_slices_show_type_ports_and_addresses() {
        let slice = json!({"metadata": {"name": "web-abcde"}, "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080}, {"name": "named"}],
            "endpoints": [{"addresses": ["10.244.1.2"]}, {"addresses": ["10.244.1.3"]},
                {"addresses": ["10.244.2.2"]}, {"addresses": ["10.244.2.3"]}]});
        assert_eq!(
            cells("EndpointSlice", slice)[1..4],
            [
                json!("IPv4"),
                json!("8080,named"),
                json!("10.244.1.2,10.244.1.3,10.244.2.2 + 1 more...")
            ]
        );
        let empty = json!({"metadata": {"name": "e"}, "addressType": "IPv4"});
        assert_eq!(
            cells("EndpointSlice", empty)[2..4],
            [json!("<unset>"), json!("<unset>")]
        );
    }

    #[test]
    fn ingress_classes_show_controller_and_parameters() {
        let class = json!({"metadata": {"name": "orc"}, "spec": {"controller": "orc.dev/ingress",
            "parameters": {"apiGroup": "k8s.example.com", "kind": "IngressParameters", "name": "p"}}});
        assert_eq!(
            cells("IngressClass", class)[1..3],
            [
                json!("orc.dev/ingress"),
                json!("IngressParameters.k8s.example.com/p")
            ]
        );
        let bare = json!({"metadata": {"name": "orc"}, "spec": {"controller": "orc.dev/ingress"}});
        assert_eq!(cells("IngressClass", bare)[2], "<none>");
    }

    #[test]
    fn ingresses_show_class_hosts_and_ports() {
        let ing = json!({"metadata": {"name": "web"}, "spec": {"rules": [{"host": "a.example"}], "tls": [{}]}});
        assert_eq!(
            cells("Ingress", ing)[1..5],
            [
                json!("<none>"),
                json!("a.example"),
                json!(""),
                json!("80, 443")
            ]
        );
    }
}
