//! The rendered rules on the real kernel, in a throwaway network
//! namespace: iptables-restore accepts every payload (full and partial),
//! the jumps are hooked once however often a full sync runs, and
//! `--cleanup` leaves the tables exactly as they were.

use std::collections::BTreeSet;

use orc_services::proxy::iptables::Tables;
use orc_services::proxy::model::{self, Routed};
use orc_services::proxy::payload::{self, Scope};
use orc_services::proxy::render::{self, RenderConfig, RuleSet};
use orc_testkit::{NetnsHost, require_command};
use serde_json::{Value, json};

fn services() -> Vec<Value> {
    vec![
        json!({"metadata": {"namespace": "default", "name": "web"},
            "spec": {"type": "NodePort", "clusterIP": "10.96.0.20", "sessionAffinity": "ClientIP",
                "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}},
                "ports": [{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30080}]}}),
        json!({"metadata": {"namespace": "default", "name": "empty"},
            "spec": {"type": "NodePort", "clusterIP": "10.96.0.21", "externalTrafficPolicy": "Local",
                "ports": [{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30081}]}}),
    ]
}

fn slice(ips: &[&str]) -> Value {
    let endpoints: Vec<Value> = ips
        .iter()
        .map(|ip| json!({"addresses": [ip], "nodeName": "node-1", "conditions": {"ready": true}}))
        .collect();
    json!({"metadata": {"namespace": "default", "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": endpoints})
}

fn rules(ips: &[&str]) -> RuleSet {
    let routes: Vec<Routed> = model::routes(&services(), &[slice(ips)], "node-1");
    render::render(
        &routes,
        &RenderConfig {
            cluster_cidr: Some("10.244.0.0/16".into()),
        },
    )
}

/// `iptables-save` without its timestamped comment lines and counters.
fn save(host: &NetnsHost) -> String {
    host.run("iptables-save", &[])
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split(" [").next().unwrap_or(l).to_string() + "\n")
        .collect()
}

#[test]
fn payloads_apply_and_cleanup_restores_the_tables() {
    require_command("iptables-restore");
    let host = NetnsHost::new();
    // Something that is not orc-proxy's, which must survive everything.
    host.run("iptables", &["-t", "nat", "-N", "SOMEONE-ELSE"]);
    host.run(
        "iptables",
        &["-t", "nat", "-A", "POSTROUTING", "-j", "SOMEONE-ELSE"],
    );
    // The filter table exists once anything used it (nftables makes
    // tables on first use); make it exist before the baseline.
    host.run(
        "iptables",
        &["-t", "filter", "-A", "INPUT", "-i", "lo", "-j", "ACCEPT"],
    );
    let before = save(&host);
    let tables = Tables::new(host.path());

    let first = rules(&["10.244.1.2", "10.244.1.3"]);
    tables
        .restore(&payload::payload(&first, Scope::Full, &BTreeSet::new()))
        .unwrap();
    tables.ensure_jumps().unwrap();
    tables.ensure_jumps().unwrap();
    let applied = save(&host);
    for expected in [
        "-A PREROUTING -m comment --comment \"orc service portals\" -j ORC-SERVICES",
        "-A POSTROUTING -m comment --comment \"orc postrouting rules\" -j ORC-PROXY-POSTROUTING",
        "--probability 0.50000000000 -j ORC-SEP-",
        "-m recent --rcheck --seconds 60 --reap --name ORC-SEP-",
        "--dport 30081 -j REJECT",
        "-A POSTROUTING -j SOMEONE-ELSE",
    ] {
        assert!(applied.contains(expected), "{expected} missing:\n{applied}");
    }
    assert_eq!(
        applied.matches("-j ORC-PROXY-POSTROUTING").count(),
        1,
        "a jump is hooked once:\n{applied}"
    );

    // One endpoint leaves: a partial payload, its chain deleted.
    let second = rules(&["10.244.1.2"]);
    let text = payload::partial(&second, &first).expect("changed");
    tables.restore(&text).unwrap();
    let after = save(&host);
    assert_eq!(after.matches(":ORC-SEP-").count(), 1, "{after}");
    assert!(!after.contains("10.244.1.3"), "{after}");

    tables.cleanup().unwrap();
    assert_eq!(
        save(&host),
        before,
        "cleanup removed exactly orc-proxy's rules"
    );
}
