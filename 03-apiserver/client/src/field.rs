//! [`field`]: the value at a path of object fields in a JSON object,
//! found without allocating.
//!
//! Objects are `serde_json::Value`s (see [`crate::client`]), and every
//! component reads a few fields of them on every event. serde_json's own
//! `Value::pointer("/a/b")` allocates two `String`s for every step of the
//! path (it unescapes `~0` and `~1` in each token first), which cost the
//! scheduler about 2,600 instructions a call (chapter 04, the callgrind
//! section). [`field`] takes the path as its steps instead.

use serde_json::Value;

// ANCHOR: field
/// The value at `path` under `value`, one object field at a time: what
/// `value.pointer("/a/b")` finds for `&["a", "b"]`, without the two
/// `String`s serde_json's `pointer` allocates for every step. A key
/// holding `/` or `~` is one step as it is, where `pointer` needs it
/// escaped (`~1`, `~0`); array indexes are not steps.
pub fn field<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(value, |v, key| v.get(key))
}
// ANCHOR_END: field

#[cfg(test)]
mod tests {
    use super::field;
    use serde_json::json;

    #[test]
    fn field_finds_what_pointer_finds() {
        let pod = json!({"spec": {"nodeName": "n1", "containers": [{"name": "c"}]},
            "metadata": {"labels": {"a/b": "x"}}, "status": null});
        for path in [
            &["spec", "nodeName"][..],
            &["spec"],
            &["spec", "missing"],
            &["status", "startTime"],
            &["spec", "nodeName", "deeper"],
            &["metadata", "labels"],
        ] {
            assert_eq!(
                field(&pod, path),
                pod.pointer(&format!("/{}", path.join("/"))),
                "{path:?}"
            );
        }
        // A key holding `/` is one step, where `pointer` needs `~1`.
        assert_eq!(
            field(&pod, &["metadata", "labels", "a/b"]),
            Some(&json!("x"))
        );
        assert_eq!(pod.pointer("/metadata/labels/a~1b"), Some(&json!("x")));
    }
}
