//! The routing table built from the API's objects, whole.
//!
//! Level-triggered, as every orc controller: the table is a function of
//! all the claimed Ingresses and the Services, EndpointSlices and Pods
//! they lead to, never an edit for "what just changed". A change anywhere
//! rebuilds it, and the proxy swaps the new table in at once.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use super::backend::{self, Backend, Index};
use super::class::Claims;
use super::{HostMatch, PathType, RouteTable, Rule, tls};
use crate::balance::{ALGORITHM_ANNOTATION, Algorithm};

/// Everything the table depends on, as lists from the informers' caches.
#[derive(Debug, Clone, Default)]
pub struct Objects {
    pub ingresses: Vec<Value>,
    pub classes: Vec<Value>,
    pub services: Vec<Value>,
    pub slices: Vec<Value>,
    pub pods: Vec<Value>,
    /// Only `spec.tls` Secrets are read.
    pub secrets: Vec<Value>,
}

/// Something in an Ingress the controller cannot honour; it becomes a
/// Warning Event on the Ingress, so `kubectl describe ingress` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Problem {
    /// `namespace/name` of the Ingress.
    pub ingress: String,
    /// The Event's reason, one CamelCase word.
    pub reason: &'static str,
    pub message: String,
}

/// Backends shared between rules: one per Service port and algorithm.
type Backends = HashMap<(String, String, Algorithm), Arc<Backend>>;

// ANCHOR: build
/// The table for the Ingresses `controller` claims, and the problems found.
pub fn build(objects: &Objects, controller: &str) -> (RouteTable, Vec<Problem>) {
    let claims = Claims::new(&objects.classes, controller);
    let mut ingresses: Vec<&Value> = objects
        .ingresses
        .iter()
        .filter(|i| claims.claims(i))
        .collect();
    // The oldest Ingress wins a conflict (as ingress-nginx), the name breaks ties.
    ingresses.sort_by_key(|i| (text(i, "/metadata/creationTimestamp"), key(i)));
    let index = index(objects);
    let mut table = RouteTable::default();
    let mut problems = Vec::new();
    let mut backends = Backends::new();
    for ing in ingresses {
        certificates(ing, &objects.secrets, &mut table, &mut problems);
        let mut ctx = Context {
            ing,
            index: &index,
            backends: &mut backends,
            problems: &mut problems,
        };
        if table.default_backend.is_none()
            && let Some(default) = ing.pointer("/spec/defaultBackend").filter(|d| !d.is_null())
        {
            table.default_backend = ctx.backend(default);
            table.default_ingress = table.default_backend.as_ref().map(|_| key(ing));
        }
        for rule in items(ing, "/spec/rules") {
            let host = HostMatch::parse(rule["host"].as_str().unwrap_or_default());
            for path in items(rule, "/http/paths") {
                let Some(path_type) = path["pathType"].as_str().and_then(PathType::parse) else {
                    continue; // The API server refuses these; an old object may hold one.
                };
                let Some(backend) = ctx.backend(&path["backend"]) else {
                    continue;
                };
                let path = path["path"]
                    .as_str()
                    .filter(|p| !p.is_empty())
                    .unwrap_or("/");
                let path = path.to_string();
                table.rules.push(Rule {
                    ingress: key(ing),
                    host: host.clone(),
                    path,
                    path_type,
                    backend,
                });
            }
        }
    }
    // Stable: among equals the older Ingress's rule stays first.
    table.rules.sort_by_key(|r| {
        (
            host_rank(&r.host),
            std::cmp::Reverse(r.path.len()),
            r.path_type,
        )
    });
    (table, problems)
}
// ANCHOR_END: build

/// Adds the certificates of `ing`'s `spec.tls`, each from its Secret in
/// the Ingress's namespace; a missing or unusable Secret is a problem, and
/// its hosts are served without TLS.
fn certificates(
    ing: &Value,
    secrets: &[Value],
    table: &mut RouteTable,
    problems: &mut Vec<Problem>,
) {
    let namespace = text(ing, "/metadata/namespace");
    for entry in items(ing, "/spec/tls") {
        let problem = |reason, message| Problem {
            ingress: key(ing),
            reason,
            message,
        };
        let name = entry["secretName"].as_str().unwrap_or_default();
        let hosts: Vec<&str> = items(entry, "/hosts").filter_map(Value::as_str).collect();
        if hosts.is_empty() {
            let why = format!(
                "TLS secret {name:?} lists no hosts; orc serves a certificate only for named hosts"
            );
            problems.push(problem("UnsupportedTLS", why));
            continue;
        }
        let secret = secrets.iter().find(|s| {
            text(s, "/metadata/namespace") == namespace && text(s, "/metadata/name") == name
        });
        let Some(secret) = secret else {
            problems.push(problem(
                "SecretNotFound",
                format!("secret \"{namespace}/{name}\" not found"),
            ));
            continue;
        };
        match tls::certified_key(secret) {
            Ok(key) => hosts
                .iter()
                .for_each(|h| table.certificates.insert(h, key.clone())),
            Err(why) => problems.push(problem("InvalidSecret", why)),
        }
    }
}

/// Exact hosts first, then wildcards, then rules for any host.
fn host_rank(host: &HostMatch) -> u8 {
    match host {
        HostMatch::Exact(_) => 0,
        HostMatch::Wildcard(_) => 1,
        HostMatch::Any => 2,
    }
}

/// One Ingress being read: where its backends and problems go.
struct Context<'a, 'o> {
    ing: &'o Value,
    index: &'a Index<'o>,
    backends: &'a mut Backends,
    problems: &'a mut Vec<Problem>,
}

impl Context<'_, '_> {
    /// The shared backend for an IngressBackend; `None` for a resource
    /// backend, which orc does not route to. A Service that cannot be
    /// resolved gives a backend with no endpoints (503) and a problem.
    fn backend(&mut self, backend: &Value) -> Option<Arc<Backend>> {
        let namespace = text(self.ing, "/metadata/namespace");
        let Some(service) = backend.get("service").filter(|s| !s.is_null()) else {
            self.problem(
                "UnsupportedBackend",
                "orc routes only to Services; a resource backend is ignored".into(),
            );
            return None;
        };
        let algorithm = self.algorithm(&namespace, service);
        let name = service["name"].as_str().unwrap_or_default().to_string();
        let port = port_text(service);
        let cache_key = (format!("{namespace}/{name}"), port.clone(), algorithm);
        if let Some(found) = self.backends.get(&cache_key) {
            return Some(found.clone());
        }
        let resolved = backend::resolve(&namespace, service, self.index).unwrap_or_else(|why| {
            self.problem("BackendUnavailable", why);
            Backend {
                service: cache_key.0.clone(),
                port,
                algorithm,
                endpoints: Vec::new(),
            }
        });
        let resolved = Arc::new(Backend {
            algorithm,
            ..resolved
        });
        self.backends.insert(cache_key, resolved.clone());
        Some(resolved)
    }

    /// `orc.dev/load-balance` of the Service, else of the Ingress, else round robin.
    fn algorithm(&mut self, namespace: &str, service: &Value) -> Algorithm {
        let name = service["name"].as_str().unwrap_or_default();
        let svc = self.index.services.get(&format!("{namespace}/{name}"));
        let chosen = svc
            .and_then(|s| annotation(s, ALGORITHM_ANNOTATION))
            .or_else(|| annotation(self.ing, ALGORITHM_ANNOTATION));
        match chosen.map(Algorithm::parse) {
            None => Algorithm::default(),
            Some(Ok(algorithm)) => algorithm,
            Some(Err(why)) => {
                self.problem("InvalidAnnotation", why);
                Algorithm::default()
            }
        }
    }

    fn problem(&mut self, reason: &'static str, message: String) {
        let problem = Problem {
            ingress: key(self.ing),
            reason,
            message,
        };
        if !self.problems.contains(&problem) {
            self.problems.push(problem);
        }
    }
}

/// The objects by `namespace/name`, slices by their Service's.
fn index(objects: &Objects) -> Index<'_> {
    let mut slices: HashMap<String, Vec<&Value>> = HashMap::new();
    for slice in &objects.slices {
        let Some(service) = slice
            .pointer("/metadata/labels/kubernetes.io~1service-name")
            .and_then(Value::as_str)
        else {
            continue;
        };
        let namespace = text(slice, "/metadata/namespace");
        slices
            .entry(format!("{namespace}/{service}"))
            .or_default()
            .push(slice);
    }
    Index {
        services: objects.services.iter().map(|s| (key(s), s)).collect(),
        slices,
        pods: objects.pods.iter().map(|p| (key(p), p)).collect(),
    }
}

/// The port of an IngressServiceBackend as text: its name, else its number.
fn port_text(service: &Value) -> String {
    match (
        service.pointer("/port/name").and_then(Value::as_str),
        service.pointer("/port/number"),
    ) {
        (Some(name), _) if !name.is_empty() => name.to_string(),
        (_, Some(number)) => number.to_string(),
        _ => String::new(),
    }
}

fn key(obj: &Value) -> String {
    format!(
        "{}/{}",
        text(obj, "/metadata/namespace"),
        text(obj, "/metadata/name")
    )
}

fn text(obj: &Value, pointer: &str) -> String {
    obj.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn items<'a>(obj: &'a Value, pointer: &str) -> impl Iterator<Item = &'a Value> {
    obj.pointer(pointer)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.pointer("/metadata/annotations")?.get(key)?.as_str()
}
