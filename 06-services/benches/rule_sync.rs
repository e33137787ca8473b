//! Rule sync after one endpoint change, at 1,000, 5,000 and 10,000
//! Services × 2 endpoints: orc-proxy's real sync (render + one
//! `iptables-restore`), full and partial, beside the same rules applied
//! one `iptables` call per chain and per rule.
//!
//! ```text
//! sudo cargo bench -p orc-services --bench rule_sync
//! ```
//!
//! Each size runs in a network namespace of its own (created and deleted
//! here), so the host's tables are never touched. Per size: a first full
//! sync programs every Service; then, per round, one endpoint of one
//! Service moves to a new address and the proxy syncs, once partially
//! (only that Service's chains: kube-proxy's behaviour since 1.28) and
//! once fully (the periodic resync). Medians of the rounds are reported,
//! with render (pure) and apply (iptables-restore) apart.
//!
//! The peer: the payloads a sync would restore, replayed as one
//! `iptables` call per chain and per rule, what a proxy without
//! iptables-restore would do (kube-proxy's old userspace mode did close
//! to it). Replaying the first full sync at 10,000 Services would take
//! hours, so the peer runs at 1,000 Services only (set
//! `ORC_BENCH_PER_RULE_SERVICES` to change that, 0 for none; `ORC_BENCH_SIZES`
//! picks the sizes, e.g. `1000,5000`).

mod common;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::process::Command;
use std::time::{Duration, Instant};

use orc_services::ProxyConfig;
use orc_services::proxy::Proxy;
use orc_services::proxy::model::{Endpoint, Routed};
use orc_services::proxy::payload::{self, Scope};
use orc_services::proxy::render::{self, RenderConfig};
use orc_testkit::NetnsHost;

const SIZES: [usize; 3] = [1_000, 5_000, 10_000];
const ROUNDS: usize = 5;
const CLUSTER_CIDR: &str = "10.244.0.0/16";

fn main() {
    orc_testkit::require_root();
    orc_testkit::require_command("iptables-restore");
    let per_rule_services = std::env::var("ORC_BENCH_PER_RULE_SERVICES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000);
    // A busy machine may not get through 10,000: `ORC_BENCH_SIZES=1000,5000`.
    let sizes: Vec<usize> = match std::env::var("ORC_BENCH_SIZES") {
        Ok(list) => list
            .split(',')
            .filter_map(|n| n.trim().parse().ok())
            .collect(),
        Err(_) => SIZES.to_vec(),
    };
    println!(
        "rule sync after one endpoint change, Services x 2 endpoints, median of {ROUNDS} rounds"
    );
    println!(
        "{:>9} {:>6} {:>11} {:>11} {:>11} {:>11} {:>11}",
        "services", "rules", "first full", "partial", "(render)", "full", "(render)"
    );
    for n in sizes {
        let row = measure(n);
        println!(
            "{n:>9} {:>6} {:>11} {:>11} {:>11} {:>11} {:>11}",
            row.rules,
            ms(row.first_full),
            ms(row.partial),
            ms(row.partial_render),
            ms(row.full),
            ms(row.full_render),
        );
    }
    println!();
    if per_rule_services == 0 {
        // ORC_BENCH_PER_RULE_SERVICES=0: no peer (it takes minutes).
        return;
    }
    println!(
        "the same rules, one iptables call per chain and per rule, at {per_rule_services} Services:"
    );
    println!(
        "{:<28} {:>8} {:>12} {:>12} {:>10}",
        "", "calls", "orc restore", "per rule", "per rule/orc"
    );
    let peer = per_rule(per_rule_services);
    for (label, calls, orc, per_rule) in [
        (
            "first full sync",
            peer.full_calls,
            peer.orc_full,
            peer.per_rule_full,
        ),
        (
            "one endpoint change",
            peer.change_calls,
            peer.orc_change,
            peer.per_rule_change,
        ),
    ] {
        println!(
            "{label:<28} {calls:>8} {:>12} {:>12} {:>9.0}x",
            ms(orc),
            ms(per_rule),
            per_rule.as_secs_f64() / orc.as_secs_f64()
        );
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// `n` Services, each one port with two ready endpoints (cluster IPs
/// from 10.96.0.0/12, pods from 10.244.0.0/16, none repeated).
fn services(n: usize) -> Vec<Routed> {
    (0..n)
        .map(|i| {
            let i = i as u32;
            let cluster_ip = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 96, 0, 0)) + 10 + i);
            let port = common::service_port(&format!("svc-{i}"), cluster_ip);
            let endpoints = (0..2).map(|e| endpoint(2 * i + e)).collect();
            (port, endpoints)
        })
        .collect()
}

/// The `k`-th pod address in 10.244.0.0/16, skipping `.0`, `.1` of each /24.
fn endpoint(k: u32) -> Endpoint {
    let base = u32::from(Ipv4Addr::new(10, 244, 0, 0));
    common::ready_endpoint(Ipv4Addr::from(base + (k / 250) * 256 + 2 + k % 250))
}

/// One endpoint of Service `round` moves to a fresh address (as when a
/// pod is replaced).
fn change_one_endpoint(routes: &mut [Routed], round: usize) {
    let fresh = endpoint(2 * routes.len() as u32 + round as u32);
    let (_, endpoints) = &mut routes[round % routes.len()];
    endpoints[1] = fresh;
}

fn proxy_in(host: &NetnsHost) -> Proxy {
    Proxy::new(ProxyConfig {
        cluster_cidr: Some(CLUSTER_CIDR.parse().unwrap()),
        netns: host.path().into(),
        ..ProxyConfig::new("bench-node")
    })
}

fn render_config() -> RenderConfig {
    RenderConfig {
        cluster_cidr: Some(CLUSTER_CIDR.into()),
    }
}

struct Row {
    rules: usize,
    first_full: Duration,
    partial: Duration,
    partial_render: Duration,
    full: Duration,
    full_render: Duration,
}

/// Times orc-proxy's own sync at `n` Services.
fn measure(n: usize) -> Row {
    let host = NetnsHost::new();
    let mut proxy = proxy_in(&host);
    let mut routes = services(n);
    let started = Instant::now();
    proxy
        .sync(&routes, true)
        .expect("the first full sync applies");
    let first_full = started.elapsed();
    let rules = host
        .run("iptables-save", &["-t", "nat"])
        .lines()
        .filter(|l| l.starts_with("-A"))
        .count();

    let (mut partial, mut partial_render, mut full, mut full_render) =
        (vec![], vec![], vec![], vec![]);
    for round in 0..ROUNDS {
        change_one_endpoint(&mut routes, 2 * round);
        partial_render.push(time_render(&routes));
        let started = Instant::now();
        proxy.sync(&routes, false).expect("a partial sync applies");
        partial.push(started.elapsed());

        change_one_endpoint(&mut routes, 2 * round + 1);
        full_render.push(time_render(&routes));
        let started = Instant::now();
        proxy.sync(&routes, true).expect("a full sync applies");
        full.push(started.elapsed());
    }
    // What the proxy applied is in the kernel: the last moved endpoint.
    let moved = endpoint(2 * n as u32 + 2 * ROUNDS as u32 - 1).address();
    let saved = host.run("iptables-save", &["-t", "nat"]);
    assert!(
        saved.contains(&format!("--to-destination {moved}")),
        "the last change is applied"
    );
    Row {
        rules,
        first_full,
        partial: median(partial),
        partial_render: median(partial_render),
        full: median(full),
        full_render: median(full_render),
    }
}

/// How long rendering `routes` takes (the pure half of a sync).
fn time_render(routes: &[Routed]) -> Duration {
    let started = Instant::now();
    std::hint::black_box(render::render(routes, &render_config()));
    started.elapsed()
}

struct PerRule {
    full_calls: usize,
    orc_full: Duration,
    per_rule_full: Duration,
    change_calls: usize,
    orc_change: Duration,
    per_rule_change: Duration,
}

/// The first full sync and one endpoint change at `n` Services: orc's
/// iptables-restore of each payload against the same payload replayed as
/// one `iptables` call per line, each in a fresh namespace.
fn per_rule(n: usize) -> PerRule {
    let before = services(n);
    let mut after = before.clone();
    change_one_endpoint(&mut after, 0);
    let (first, next) = (
        render::render(&before, &render_config()),
        render::render(&after, &render_config()),
    );
    let full_payload = payload::payload(&first, Scope::Full, &BTreeSet::new());
    let change_payload = payload::partial(&next, &first).expect("an endpoint moved");

    // orc: iptables-restore, the full payload then the change.
    let host = NetnsHost::new();
    let restore = |text: &str| {
        let started = Instant::now();
        let mut child = host
            .command("iptables-restore")
            .args(["-w", "5", "--noflush"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("iptables-restore runs");
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success(), "iptables-restore applies");
        started.elapsed()
    };
    let orc_full = restore(&full_payload);
    let orc_change = restore(&change_payload);
    drop(host);

    // Per rule: the same two payloads, line by line.
    let host = NetnsHost::new();
    let mut existing = BTreeSet::new();
    let full_calls = calls(&full_payload, &mut existing);
    let change_calls = calls(&change_payload, &mut existing);
    let per_rule_full = host.enter(|| run_calls(&full_calls));
    let per_rule_change = host.enter(|| run_calls(&change_calls));
    // Both ways end with the same rules.
    let moved = endpoint(2 * n as u32).address();
    assert!(
        host.run("iptables-save", &["-t", "nat"])
            .contains(&format!("--to-destination {moved}")),
        "the per-rule replay applied the change"
    );
    PerRule {
        full_calls: full_calls.len(),
        orc_full,
        per_rule_full,
        change_calls: change_calls.len(),
        orc_change,
        per_rule_change,
    }
}

/// A restore payload as `iptables` argument lists: `:CHAIN` creates the
/// chain (`-N`) or empties it (`-F`) if `existing` has it, `-A` and `-X`
/// lines are passed on as they are.
fn calls(payload: &str, existing: &mut BTreeSet<(String, String)>) -> Vec<Vec<String>> {
    let mut table = String::new();
    let mut out = Vec::new();
    for line in payload.lines() {
        let mut args = vec!["-w".to_string(), "5".into(), "-t".into(), table.clone()];
        if let Some(name) = line.strip_prefix('*') {
            table = name.to_string();
            continue;
        } else if let Some(decl) = line.strip_prefix(':') {
            let chain = decl.split_whitespace().next().unwrap_or("").to_string();
            let op = if existing.insert((table.clone(), chain.clone())) {
                "-N"
            } else {
                "-F"
            };
            args.extend([op.to_string(), chain]);
        } else if line.starts_with("-A") || line.starts_with("-X") {
            args.extend(shlex::split(line).expect("rules quote their comments"));
        } else {
            continue; // COMMIT
        }
        out.push(args);
    }
    out
}

/// Runs each argument list as one `iptables` process, on this thread's
/// namespace; the total time.
fn run_calls(calls: &[Vec<String>]) -> Duration {
    let started = Instant::now();
    for args in calls {
        let status = Command::new("iptables")
            .args(args)
            .status()
            .expect("iptables runs");
        assert!(status.success(), "iptables {}", args.join(" "));
    }
    started.elapsed()
}
