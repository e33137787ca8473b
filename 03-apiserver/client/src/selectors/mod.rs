//! Selecting objects: by label and by field.
//!
//! Both kinds of selector arrive as query parameters (`labelSelector`,
//! `fieldSelector`) on list and watch requests; [`ObjectFilter`] combines
//! them with the namespace of the URL into the one predicate that list and
//! watch both apply, so a watch sees exactly what a list would.

pub mod fields;
pub mod labels;

use std::collections::BTreeMap;

use serde_json::Value;

/// Everything a list or watch filters by.
#[derive(Debug, Clone, Default)]
pub struct ObjectFilter {
    /// Only objects in this namespace (from the URL); `None` for all.
    pub namespace: Option<String>,
    /// From `?labelSelector=`.
    pub labels: labels::Selector,
    /// From `?fieldSelector=`.
    pub fields: fields::FieldSelector,
}

impl ObjectFilter {
    /// Whether `obj` passes every part of the filter.
    pub fn matches(&self, obj: &Value) -> bool {
        let meta = obj.get("metadata");
        if let Some(ns) = &self.namespace {
            let actual = meta
                .and_then(|m| m.get("namespace"))
                .and_then(Value::as_str);
            if actual != Some(ns.as_str()) {
                return false;
            }
        }
        if !self.labels.is_empty() && !self.labels.matches(&labels_of(obj)) {
            return false;
        }
        self.fields.matches(obj)
    }
}

/// The labels of an object as a map (empty when it has none).
pub fn labels_of(obj: &Value) -> BTreeMap<String, String> {
    crate::field::field(obj, &["metadata", "labels"])
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default()
}
