//! Server-side Tables: the columns `kubectl get` prints.
//!
//! kubectl does not know that a pod's row shows READY, STATUS and RESTARTS.
//! It asks the server for a `Table` (`Accept: application/json;as=Table;
//! v=v1;g=meta.k8s.io`), and the server sends column definitions and
//! pre-rendered cells. That is how `kubectl get` shows the right columns
//! even for kinds it has never heard of. orc renders the columns Kubernetes'
//! printers (`pkg/printers/internalversion`) show for the kinds it serves;
//! other kinds get NAME and AGE.
//!
//! Like Kubernetes, the server always renders every column, the `-o wide`
//! ones included (priority 1); kubectl drops those unless asked for wide
//! output. So one Table answers both `get` and `get -o wide`.
//!
//! Layout: this file holds the Table itself and the cell formats shared by
//! every kind (ages, `<none>`, label lists); `tables/pod.rs` the pod's
//! status logic, `tables/workloads.rs` deployments, replica sets, daemon
//! sets, stateful sets, controller revisions and jobs, `tables/network.rs` services, endpoints, endpoint slices, ingresses and ingress classes,
//! `tables/rbac.rs` roles and bindings, `tables/storage.rs` volumes,
//! claims and storage classes, `tables/autoscaling.rs` horizontal pod
//! autoscalers, `tables/cluster.rs` the rest (pod disruption budgets among them).

mod autoscaling;
mod cluster;
mod network;
mod pod;
mod rbac;
pub(crate) mod storage;
mod workloads;

use serde_json::{Value, json};

use jiff::Timestamp;
use orc_client::time::{self, human_duration};

/// Whether an `Accept` header asks for a Table.
pub fn wants_table(accept: &str) -> bool {
    accept.contains("as=Table")
}

/// What each row carries besides its cells: `?includeObject=None`,
/// `Metadata` (the default) or `Object`. kubectl asks for whole objects
/// when it must read fields the cells do not show: `--sort-by`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RowObject {
    /// Cells only.
    None,
    /// The object's metadata as a `PartialObjectMetadata`: names and
    /// namespaces, which is what kubectl reads from a row.
    #[default]
    Metadata,
    /// The whole object.
    Object,
}

impl RowObject {
    /// The `includeObject` query parameter; anything unknown reads as the default.
    pub fn from_param(param: &str) -> RowObject {
        match param {
            "None" => RowObject::None,
            "Object" => RowObject::Object,
            _ => RowObject::Metadata,
        }
    }
}

/// One column of a kind's Table.
#[derive(Clone, Copy)]
struct Column {
    /// The header as Kubernetes spells it; kubectl upper-cases it.
    name: &'static str,
    /// The cells' type (`string`, `integer`) as Kubernetes declares it.
    ty: &'static str,
    /// 0: always shown; 1: only with `-o wide`.
    priority: u8,
}

/// A column shown by plain `kubectl get`.
const fn col(name: &'static str, ty: &'static str) -> Column {
    Column {
        name,
        ty,
        priority: 0,
    }
}

/// A column shown only by `kubectl get -o wide`.
const fn wide(name: &'static str) -> Column {
    Column {
        name,
        ty: "string",
        priority: 1,
    }
}

/// The columns of a kind and the function that renders one object's cells,
/// in the same order.
struct Printer {
    columns: &'static [Column],
    cells: fn(&Value) -> Vec<Value>,
}

const NAME: Column = col("Name", "string");
const AGE: Column = col("Age", "string");

fn printer(kind: &str) -> Printer {
    match kind {
        "Pod" => pod::PRINTER,
        "Node" => cluster::NODE,
        "Namespace" => cluster::NAMESPACE,
        "ConfigMap" => cluster::CONFIG_MAP,
        "Secret" => cluster::SECRET,
        "ServiceAccount" => cluster::SERVICE_ACCOUNT,
        "Event" => cluster::EVENT,
        "Lease" => cluster::LEASE,
        "PriorityClass" => cluster::PRIORITY_CLASS,
        "PodDisruptionBudget" => cluster::POD_DISRUPTION_BUDGET,
        "Deployment" => workloads::DEPLOYMENT,
        "ReplicaSet" => workloads::REPLICA_SET,
        "DaemonSet" => workloads::DAEMON_SET,
        "StatefulSet" => workloads::STATEFUL_SET,
        "ControllerRevision" => workloads::CONTROLLER_REVISION,
        "Job" => workloads::JOB,
        "CronJob" => workloads::CRON_JOB,
        "HorizontalPodAutoscaler" => autoscaling::HORIZONTAL_POD_AUTOSCALER,
        "Service" => network::SERVICE,
        "Endpoints" => network::ENDPOINTS,
        "EndpointSlice" => network::ENDPOINT_SLICE,
        "Ingress" => network::INGRESS,
        "Role" | "ClusterRole" => rbac::ROLE,
        "RoleBinding" | "ClusterRoleBinding" => rbac::BINDING,
        "IngressClass" => network::INGRESS_CLASS,
        "PersistentVolume" => storage::PERSISTENT_VOLUME,
        "PersistentVolumeClaim" => storage::PERSISTENT_VOLUME_CLAIM,
        "StorageClass" => storage::STORAGE_CLASS,
        _ => Printer {
            columns: &[NAME, AGE],
            cells: |obj| vec![name(obj), age(obj)],
        },
    }
}

/// How long ago an RFC 3339 timestamp at `pointer` was, or `<unknown>`
/// when it is missing (Kubernetes' `translateTimestampSince`).
fn since(obj: &Value, pointer: &str) -> String {
    time::age_at(obj, pointer, Timestamp::now())
}

fn age(obj: &Value) -> Value {
    json!(since(obj, "/metadata/creationTimestamp"))
}

fn name(obj: &Value) -> Value {
    json!(text(obj, "/metadata/name", ""))
}

/// The string (or number) at `pointer`, or `default` when missing or empty.
fn text(obj: &Value, pointer: &str, default: &str) -> String {
    match obj.pointer(pointer) {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => default.to_string(),
    }
}

/// The integer at `pointer`, 0 when missing: Go's zero value for counters.
fn int(obj: &Value, pointer: &str) -> i64 {
    obj.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

fn count(obj: &Value, pointer: &str) -> usize {
    match obj.pointer(pointer) {
        Some(Value::Array(a)) => a.len(),
        Some(Value::Object(m)) => m.len(),
        _ => 0,
    }
}

/// The items of the array at `pointer` (none when missing).
fn items<'a>(obj: &'a Value, pointer: &str) -> impl Iterator<Item = &'a Value> {
    obj.pointer(pointer)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// `a=1,b=2` from a string map, sorted by key; `<none>` when empty
/// (Kubernetes' `labels.FormatLabels`).
fn format_labels(map: Option<&Value>) -> String {
    let Some(Value::Object(map)) = map else {
        return "<none>".into();
    };
    let mut pairs: Vec<String> = map
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    pairs.sort();
    if pairs.is_empty() {
        "<none>".into()
    } else {
        pairs.join(",")
    }
}

/// A `LabelSelector` (`matchLabels` and `matchExpressions`) written as
/// `kubectl get -l` would accept it: `app=web,tier in (a,b)`, sorted by key,
/// as Kubernetes' `LabelSelectorAsSelector(...).String()`. Empty when the
/// selector selects everything.
fn format_selector(selector: Option<&Value>) -> String {
    let Some(selector) = selector else {
        return String::new();
    };
    let mut terms: Vec<(String, String)> = Vec::new();
    if let Some(Value::Object(labels)) = selector.get("matchLabels") {
        for (k, v) in labels {
            terms.push((k.clone(), format!("{k}={}", v.as_str().unwrap_or_default())));
        }
    }
    for e in items(selector, "/matchExpressions") {
        let key = e["key"].as_str().unwrap_or_default();
        let mut values: Vec<&str> = items(e, "/values").filter_map(Value::as_str).collect();
        values.sort();
        let term = match e["operator"].as_str().unwrap_or_default() {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_string(),
            _ => format!("!{key}"),
        };
        terms.push((key.to_string(), term));
    }
    terms.sort();
    terms
        .into_iter()
        .map(|(_, t)| t)
        .collect::<Vec<_>>()
        .join(",")
}

/// The CONTAINERS and IMAGES cells of a pod template: names and images,
/// comma-separated.
fn containers_and_images(pod_spec: &Value) -> [Value; 2] {
    let containers: Vec<&Value> = items(pod_spec, "/containers").collect();
    let join = |field: &str| {
        containers
            .iter()
            .map(|c| c[field].as_str().unwrap_or_default())
            .collect::<Vec<_>>()
            .join(",")
    };
    [json!(join("name")), json!(join("image"))]
}

/// The columns of one kind's Table and how to render a row: what a
/// streamed LIST (`handlers/list_body.rs`) writes row by row.
pub struct TableRows {
    printer: Printer,
}

impl TableRows {
    /// The rows of `kind`.
    pub fn of(kind: &str) -> TableRows {
        TableRows {
            printer: printer(kind),
        }
    }

    /// The `columnDefinitions`.
    pub fn column_definitions(&self) -> Value {
        let columns: Vec<Value> = self
            .printer
            .columns
            .iter()
            .map(|c| {
                let format = if c.name == "Name" { "name" } else { "" };
                json!({"name": c.name, "type": c.ty, "format": format, "description": "", "priority": c.priority})
            })
            .collect();
        Value::Array(columns)
    }

    /// One object's row: its cells, and what `row_object` asks for.
    pub fn row(&self, obj: &Value, row_object: RowObject) -> Value {
        // kubectl reads names and namespaces from the row's object;
        // unless it sorts, the metadata is all it needs
        // (`PartialObjectMetadata`).
        let object = match row_object {
            RowObject::None => Value::Null,
            RowObject::Object => obj.clone(),
            RowObject::Metadata => json!({
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj.get("metadata").cloned().unwrap_or(json!({})),
            }),
        };
        json!({"cells": (self.printer.cells)(obj), "object": object})
    }
}

/// A `Table` of `items` (objects of `kind`) read at `resource_version`,
/// each row carrying `row_object`.
pub fn table(
    kind: &str,
    items: &[Value],
    resource_version: &str,
    next: Option<&str>,
    row_object: RowObject,
) -> Value {
    let rows = TableRows::of(kind);
    let mut metadata = json!({"resourceVersion": resource_version});
    if let Some(token) = next {
        metadata["continue"] = json!(token);
    }
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": rows.column_definitions(),
        "rows": items.iter().map(|obj| rows.row(obj, row_object)).collect::<Vec<_>>(),
    })
}

/// The cells of one object, for the kinds' unit tests.
#[cfg(test)]
fn cells(kind: &str, obj: Value) -> Vec<Value> {
    let t = table(kind, &[obj], "1", None, RowObject::Metadata);
    let cells = t["rows"][0]["cells"].as_array().unwrap().clone();
    assert_eq!(
        cells.len(),
        t["columnDefinitions"].as_array().unwrap().len(),
        "one cell per column"
    );
    cells
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_and_labels_read_like_kubectl() {
        let s = json!({"matchLabels": {"app": "web"}, "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["b", "a"]},
            {"key": "canary", "operator": "DoesNotExist"}]});
        assert_eq!(format_selector(Some(&s)), "app=web,!canary,tier in (a,b)");
        assert_eq!(format_labels(Some(&json!({}))), "<none>");
        assert_eq!(format_labels(Some(&json!({"b": "2", "a": "1"}))), "a=1,b=2");
    }

    #[test]
    fn unknown_kinds_get_name_and_age() {
        let c = cells("Widget", json!({"metadata": {"name": "w"}}));
        assert_eq!(c, [json!("w"), json!("<unknown>")]);
    }
}
