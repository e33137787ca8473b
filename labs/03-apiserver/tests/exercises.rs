//! Lab 03's tasks: one test per function in `src/student.rs`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use lab_03::{
    BASE_DELAY, MAX_DELAY, Notification, Requirement, Selector, backoff, matches, parse,
    relist_changes,
};
use serde_json::{Value, json};

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| v.to_string()).collect()
}

#[test]
fn task_1_parse_label_selector() {
    use Requirement::*;
    let parsed = parse(
        "app=web, tier == frontend,env!=prod , track in (stable,canary),zone notin ( a ),gpu,!spot",
    )
    .unwrap();
    assert_eq!(
        parsed.requirements,
        vec![
            Equals("app".into(), "web".into()),
            Equals("tier".into(), "frontend".into()),
            NotEquals("env".into(), "prod".into()),
            In("track".into(), strings(&["stable", "canary"])),
            NotIn("zone".into(), strings(&["a"])),
            Exists("gpu".into()),
            DoesNotExist("spot".into()),
        ]
    );
    assert_eq!(
        parse("app.kubernetes.io/name=orc").unwrap().requirements,
        vec![Equals("app.kubernetes.io/name".into(), "orc".into())],
        "keys may have a prefix"
    );
    assert_eq!(parse("").unwrap(), Selector::default());
    assert_eq!(parse("   ").unwrap(), Selector::default());
    for bad in [
        "app=web,",
        "tier in (fe",
        "tier in fe",
        "!",
        "a=b c",
        "=web",
        "app=we b",
    ] {
        let error = parse(bad).expect_err(bad);
        assert_eq!(error.input, bad, "the error names the input");
        assert!(
            error.position <= bad.len(),
            "{bad:?}: position {}",
            error.position
        );
    }
    assert_eq!(
        parse("app=web,").unwrap_err().position,
        8,
        "the missing requirement is at the end"
    );
}

#[test]
fn task_2_match_labels() {
    let web = labels(&[("app", "web"), ("tier", "frontend")]);
    let db = labels(&[("app", "db")]);
    let nothing = labels(&[]);
    let check = |selector: &str, object: &BTreeMap<String, String>| {
        matches(&parse_with_orc(selector), object)
    };
    assert!(check("app=web", &web));
    assert!(!check("app=web", &db));
    assert!(
        check("app=web,tier=frontend", &web),
        "every requirement holds"
    );
    assert!(!check("app=web,tier=backend", &web), "one fails: no match");
    assert!(check("app!=web", &db));
    assert!(check("app!=web", &nothing), "a missing label is not equal");
    assert!(check("app in (db,cache)", &db));
    assert!(!check("app in (db,cache)", &nothing), "in needs the label");
    assert!(check("app notin (web)", &nothing), "notin does not");
    assert!(!check("app notin (web)", &web));
    assert!(check("tier", &web) && !check("tier", &db));
    assert!(check("!tier", &db) && !check("!tier", &web));
    assert!(check("", &nothing), "the empty selector matches everything");
}

/// Task 2 is tested on selectors built by orc's parser, so it does not depend
/// on task 1.
fn parse_with_orc(selector: &str) -> Selector {
    orc_client::selectors::labels::parse(selector).unwrap()
}

fn pod(name: &str, version: &str) -> (String, Arc<Value>) {
    (
        format!("default/{name}"),
        Arc::new(
            json!({"metadata": {"name": name, "namespace": "default", "resourceVersion": version}}),
        ),
    )
}

#[test]
fn task_3_relist_changes() {
    let cached: BTreeMap<String, Arc<Value>> = [pod("a", "1"), pod("b", "1"), pod("c", "1")].into();
    let fresh: BTreeMap<String, Arc<Value>> = [pod("b", "1"), pod("c", "7"), pod("d", "8")].into();
    assert_eq!(
        relist_changes(&cached, &fresh),
        vec![
            Notification::Deleted(pod("a", "1").1),
            Notification::Updated {
                old: pod("c", "1").1,
                new: pod("c", "7").1
            },
            Notification::Added(pod("d", "8").1),
        ]
    );
    assert_eq!(relist_changes(&fresh, &fresh), vec![], "nothing was missed");
    assert_eq!(
        relist_changes(&BTreeMap::new(), &fresh).len(),
        3,
        "a first list adds everything"
    );
}

#[test]
fn task_4_retry_backoff() {
    assert_eq!(backoff(1), BASE_DELAY);
    assert_eq!(backoff(2), BASE_DELAY * 2);
    assert_eq!(backoff(4), BASE_DELAY * 8);
    assert_eq!(backoff(40), MAX_DELAY, "capped");
    assert_eq!(backoff(u32::MAX), MAX_DELAY, "no overflow");
    let delays: Vec<Duration> = (1..30).map(backoff).collect();
    assert!(delays.windows(2).all(|w| w[0] <= w[1]), "never shrinks");
}
