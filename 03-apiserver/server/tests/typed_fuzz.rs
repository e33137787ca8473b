//! Issue 15, finding 7: every object the server accepts decodes as its
//! Kubernetes type, and no body makes it fail.
//!
//! A fixed budget of mutations (a seeded RNG, so a failure replays) of
//! real objects of six kinds: a field's value replaced by one of another
//! JSON type or an invalid one, a junk field inserted, a list grown by a
//! junk element. Each mutant is created, or merged into a stored object as
//! a patch. Whatever the server answers must not be a 5xx, and whatever
//! it accepts, read back with GET, must deserialize as the k8s-openapi
//! type of its kind (the oracle: it is what Rust clients decode with, and
//! as strict about types as client-go).

mod common;

use common::TestServer;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret, Service};
use k8s_openapi::api::networking::v1::Ingress;
use serde_json::{Value, json};

/// Mutations tried, spread over the six kinds.
const BUDGET: usize = 300;
/// The RNG's seed; change it to explore, keep it for CI.
const SEED: u64 = 15_07;

/// One kind under test: where it is served, a valid object, and the
/// oracle that decodes what the server gives back.
struct Subject {
    collection: &'static str,
    object: Value,
    decodes: fn(Value) -> Result<(), serde_json::Error>,
}

fn decodes<T: serde::de::DeserializeOwned>(v: Value) -> Result<(), serde_json::Error> {
    serde_json::from_value::<T>(v).map(|_| ())
}

fn subjects() -> Vec<Subject> {
    let pod_spec = json!({
        "restartPolicy": "Always",
        "containers": [{"name": "web", "image": "nginx:1.27", "command": ["nginx"], "args": ["-g", "daemon off;"],
            "ports": [{"containerPort": 80, "protocol": "TCP", "name": "http"}],
            "env": [{"name": "MODE", "value": "fast"}],
            "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": "100m"}},
            "livenessProbe": {"httpGet": {"path": "/", "port": 80}, "periodSeconds": 10},
            "imagePullPolicy": "IfNotPresent"}],
        "terminationGracePeriodSeconds": 30,
    });
    vec![
        Subject {
            collection: "/apis/apps/v1/namespaces/default/deployments",
            object: json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "d", "labels": {"app": "web"}, "annotations": {"note": "x"}},
                "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                    "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": "25%"}},
                    "template": {"metadata": {"labels": {"app": "web"}}, "spec": pod_spec.clone()}}}),
            decodes: decodes::<Deployment>,
        },
        Subject {
            collection: "/api/v1/namespaces/default/pods",
            object: json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "p", "labels": {"app": "web"}}, "spec": pod_spec}),
            decodes: decodes::<Pod>,
        },
        Subject {
            collection: "/api/v1/namespaces/default/services",
            object: json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
                "spec": {"selector": {"app": "web"}, "type": "ClusterIP",
                    "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]}}),
            decodes: decodes::<Service>,
        },
        Subject {
            collection: "/api/v1/namespaces/default/configmaps",
            object: json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                "data": {"mode": "fast", "port": "8080"}, "binaryData": {"blob": "aGVsbG8="}}),
            decodes: decodes::<ConfigMap>,
        },
        Subject {
            collection: "/api/v1/namespaces/default/secrets",
            object: json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"},
                "type": "Opaque", "data": {"password": "aHVudGVyMg=="}, "stringData": {"user": "admin"}}),
            decodes: decodes::<Secret>,
        },
        Subject {
            collection: "/apis/networking.k8s.io/v1/namespaces/default/ingresses",
            object: json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "i"},
                "spec": {"rules": [{"host": "web.example.com", "http": {"paths": [
                    {"path": "/", "pathType": "Prefix",
                     "backend": {"service": {"name": "s", "port": {"number": 80}}}}]}}]}}),
            decodes: decodes::<Ingress>,
        },
    ]
}

/// Values of every JSON type, and strings that are wrong in the usual ways.
fn junk(rng: &mut fastrand::Rng) -> Value {
    let pool = [
        json!("lots"),
        json!("Sometimes"),
        json!("sleep 1"),
        json!("hello world"),
        json!(""),
        json!("500m"),
        json!("aGVsbG8="),
        json!("tcp"),
        json!(1),
        json!(-1),
        json!(0),
        json!(99_999_999_999_i64),
        json!(1.5),
        json!(true),
        json!(null),
        json!([]),
        json!(["x", 1, null]),
        json!({}),
        json!({"junk": 1}),
    ];
    pool[rng.usize(..pool.len())].clone()
}

/// Field names that mean something somewhere, inserted where they may not.
const NAMES: &[&str] = &[
    "junk",
    "data",
    "command",
    "restartPolicy",
    "protocol",
    "limits",
    "cpu",
    "port",
    "type",
    "replicas",
    "labels",
];

/// A step into a JSON value.
#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

/// Every place in `v` below the top, but the ones that would only make
/// the object another object (`apiVersion`, `kind`, `metadata` itself and
/// the name).
fn places(v: &Value, at: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let top = at.is_empty();
                if (top && (k == "apiVersion" || k == "kind")) || (at.len() == 1 && k == "name") {
                    continue;
                }
                at.push(Step::Key(k.clone()));
                if !(top && k == "metadata") {
                    out.push(at.clone());
                }
                places(child, at, out);
                at.pop();
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                at.push(Step::Index(i));
                out.push(at.clone());
                places(child, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

fn at_mut<'v>(v: &'v mut Value, path: &[Step]) -> &'v mut Value {
    path.iter().fold(v, |v, step| match step {
        Step::Key(k) => &mut v[k.as_str()],
        Step::Index(i) => &mut v[*i],
    })
}

/// One mutation of `object`, and what it was (for the failure message).
fn mutate(object: &Value, rng: &mut fastrand::Rng) -> (Value, String) {
    let mut mutant = object.clone();
    let mut all = Vec::new();
    places(object, &mut Vec::new(), &mut all);
    let path = &all[rng.usize(..all.len())];
    let target = at_mut(&mut mutant, path);
    let what = match (rng.u8(..3), &mut *target) {
        (0, Value::Object(map)) => {
            let name = NAMES[rng.usize(..NAMES.len())];
            let value = junk(rng);
            let what = format!("{path:?} += {name}: {value}");
            map.insert(name.into(), value);
            what
        }
        (1, Value::Array(items)) => {
            let value = junk(rng);
            let what = format!("{path:?} push {value}");
            items.push(value);
            what
        }
        _ => {
            let value = junk(rng);
            let what = format!("{path:?} = {value}");
            *target = value;
            what
        }
    };
    (mutant, what)
}

#[tokio::test]
async fn every_accepted_object_decodes_as_its_kubernetes_type() {
    let s = TestServer::start().await;
    let subjects = subjects();
    // The originals are valid, and stored: the patches' targets.
    for subject in &subjects {
        let (code, body) = s.post(subject.collection, &subject.object).await;
        assert_eq!(code, 201, "{body}");
    }
    let mut rng = fastrand::Rng::with_seed(SEED);
    let mut answers = std::collections::BTreeMap::<u16, usize>::new();
    for i in 0..BUDGET {
        let subject = &subjects[i % subjects.len()];
        let (mut mutant, what) = mutate(&subject.object, &mut rng);
        let original = subject.object["metadata"]["name"].as_str().unwrap();
        // Every other mutant is a merge patch of the stored original.
        let (code, body, name) = if i % 2 == 0 {
            let name = format!("m{i}");
            mutant["metadata"]["name"] = json!(name);
            let (code, body) = s.post(subject.collection, &mutant).await;
            (code, body, name)
        } else {
            let path = format!("{}/{original}", subject.collection);
            let patch = serde_json::to_string(&mutant).unwrap();
            let (code, body) = s.patch(&path, "application/merge-patch+json", &patch).await;
            (code, body, original.to_string())
        };
        *answers.entry(code).or_default() += 1;
        assert!(code < 500, "mutation {i} ({what}) got {code}: {body}");
        if (200..300).contains(&code) {
            let (code, stored) = s.get(&format!("{}/{name}", subject.collection)).await;
            assert_eq!(code, 200, "{stored}");
            if let Err(e) = (subject.decodes)(stored.clone()) {
                panic!("mutation {i} ({what}) was accepted but does not decode: {e}\n{stored}");
            }
        }
    }
    // The budget exercised both sides: some accepted, some refused as
    // undecodable, some as invalid.
    for code in [200, 201, 400, 422] {
        assert!(answers.get(&code).is_some_and(|n| *n > 0), "{answers:?}");
    }
}
