//! Lab 07's tasks: one test per function in `src/student.rs`; the pickers'
//! traces are compared with snapshots (`tests/snapshots/`), the same traces
//! chapter 07 walks through.

use lab_07::{
    Candidate, HostMatch, PathType, host_matches, least_connections, path_matches, round_robin,
    smooth_weighted, weighted_least_connections,
};

fn weighted(weights: &[u32]) -> Vec<Candidate> {
    weights
        .iter()
        .map(|&weight| Candidate {
            weight,
            in_flight: 0,
            available: true,
        })
        .collect()
}

/// `n` picks as letters; with `hold`, every chosen request stays in flight.
fn trace(
    candidates: &mut [Candidate],
    n: usize,
    hold: bool,
    mut pick: impl FnMut(&[Candidate]) -> Option<usize>,
) -> String {
    (0..n)
        .map(|_| {
            let i = pick(candidates).expect("a candidate is available");
            if hold {
                candidates[i].in_flight += 1;
            }
            char::from(b'a' + i as u8)
        })
        .collect()
}

#[test]
fn task_1_match_paths() {
    use PathType::*;
    assert!(path_matches(Exact, "/foo", "/foo"));
    assert!(
        !path_matches(Exact, "/foo", "/foo/"),
        "Exact is the whole path"
    );
    assert!(path_matches(Prefix, "/foo", "/foo/bar"));
    assert!(
        path_matches(Prefix, "/foo/", "/foo"),
        "a trailing slash makes no difference"
    );
    assert!(
        !path_matches(Prefix, "/foo", "/foobar"),
        "Prefix compares whole elements"
    );
    assert!(!path_matches(Prefix, "/aaa/bb", "/aaa/bbb"));
    assert!(path_matches(Prefix, "/", "/anything"));
    assert!(
        path_matches(ImplementationSpecific, "", "/x"),
        "orc reads it as Prefix; empty is /"
    );
}

#[test]
fn task_2_match_hosts() {
    let wild = HostMatch::parse("*.example.com");
    assert_eq!(host_matches(&wild, "bar.example.com"), Some(1));
    assert_eq!(
        host_matches(&wild, "example.com"),
        None,
        "the * stands for one label"
    );
    assert_eq!(host_matches(&wild, "a.b.example.com"), None, "and only one");
    assert_eq!(
        host_matches(&HostMatch::parse("foo.example.com"), "foo.example.com"),
        Some(0)
    );
    assert_eq!(
        host_matches(&HostMatch::parse("foo.example.com"), "bar.example.com"),
        None
    );
    assert_eq!(host_matches(&HostMatch::Any, "foo.example.com"), Some(2));
}

#[test]
fn task_3_round_robin() {
    let mut next = 0;
    let mut c = weighted(&[1, 1, 1]);
    let mut traces = vec![trace(&mut c, 6, false, |c| round_robin(&mut next, c))];
    c[1].available = false;
    traces.push(trace(&mut c, 4, false, |c| round_robin(&mut next, c)));
    c.iter_mut().for_each(|c| c.available = false);
    assert_eq!(
        round_robin(&mut next, &c),
        None,
        "nothing available, nothing picked"
    );
    insta::assert_snapshot!("round_robin", traces.join("\n"));
}

#[test]
fn task_4_smooth_weighted_round_robin() {
    let mut current = Vec::new();
    let mut c = weighted(&[5, 1, 1]);
    let mut steps = Vec::new();
    for _ in 0..7 {
        let i = smooth_weighted(&mut current, &c).unwrap();
        steps.push(format!("{} {:?}", char::from(b'a' + i as u8), current));
    }
    let mut current = Vec::new();
    let cycle = trace(&mut c, 14, false, |c| smooth_weighted(&mut current, c));
    insta::assert_snapshot!("smooth_weighted", format!("{}\n{cycle}", steps.join("\n")));
}

#[test]
fn task_5_least_connections() {
    let mut next = 0;
    let mut c = weighted(&[1, 1, 1]);
    let idle = trace(&mut c, 3, false, |c| least_connections(&mut next, c));
    c[1].in_flight = 2;
    let busy_b = trace(&mut c, 6, true, |c| least_connections(&mut next, c));
    insta::assert_snapshot!("least_connections", format!("{idle}\n{busy_b}"));
}

#[test]
fn task_6_weighted_least_connections() {
    let mut next = 0;
    let mut c = weighted(&[1, 2]);
    let held = trace(&mut c, 6, true, |c| {
        weighted_least_connections(&mut next, c)
    });
    let mut c = weighted(&[1, 2, 3]);
    let picks = trace(&mut c, 600, true, |c| {
        weighted_least_connections(&mut next, c)
    });
    let count = |n: u8| picks.bytes().filter(|&p| p == b'a' + n).count();
    insta::assert_snapshot!(
        "weighted_least_connections",
        format!(
            "{held}\nof 600 held: a {} b {} c {}",
            count(0),
            count(1),
            count(2)
        )
    );
}
