use serde_json::{Value, json};

use super::*;

fn pod(spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec})
}

fn container(extra: Value) -> Value {
    let mut c = json!({"name": "c", "image": "busybox"});
    c.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    pod(json!({"containers": [c]}))
}

/// The refusal of `obj`, which must be undecodable.
fn refused(mut obj: Value) -> (String, String) {
    let e = check(&mut obj).expect_err("undecodable");
    (e.message, e.field)
}

#[test]
fn a_value_of_the_wrong_json_type_is_gos_unmarshal_error() {
    let config_map = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
        "data": {"port": 8080}});
    assert_eq!(
        refused(config_map),
        (
            "json: cannot unmarshal number into Go struct field ConfigMap.data of type string"
                .into(),
            "data[port]".into()
        )
    );
    assert_eq!(
        refused(container(json!({"command": "sleep 1"}))),
        (
            "json: cannot unmarshal string into Go struct field Container.spec.containers.command \
             of type []string"
                .into(),
            "spec.containers[0].command".into()
        )
    );
    // An element of a list: the element's type.
    assert_eq!(
        refused(container(json!({"args": ["a", 1]}))).0,
        "json: cannot unmarshal number into Go struct field Container.spec.containers.args of type string"
    );
    // A struct where a string is wanted, a string where a struct is.
    assert_eq!(
        refused(pod(json!({"containers": [], "nodeName": {"a": 1}}))).0,
        "json: cannot unmarshal object into Go struct field PodSpec.spec.nodeName of type string"
    );
    assert_eq!(
        refused(pod(json!("web"))).0,
        "json: cannot unmarshal string into Go struct field Pod.spec of type v1.PodSpec"
    );
    assert_eq!(
        refused(pod(json!({"containers": [], "hostNetwork": "true"}))).0,
        "json: cannot unmarshal string into Go struct field PodSpec.spec.hostNetwork of type bool"
    );
    let labels = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": ["a"]}});
    assert_eq!(
        refused(labels).0,
        "json: cannot unmarshal array into Go struct field ObjectMeta.metadata.labels of type map[string]string"
    );
}

#[test]
fn numbers_must_be_integers_that_fit() {
    let port = |n: Value| container(json!({"ports": [{"containerPort": n}]}));
    assert_eq!(
        refused(port(json!(99_999_999_999_i64))),
        (
            "json: cannot unmarshal number 99999999999 into Go struct field \
             ContainerPort.spec.containers.ports.containerPort of type int32"
                .into(),
            "spec.containers[0].ports[0].containerPort".into()
        )
    );
    assert_eq!(
        refused(port(json!(1.5))).0,
        "json: cannot unmarshal number 1.5 into Go struct field \
         ContainerPort.spec.containers.ports.containerPort of type int32"
    );
    assert!(check(&mut port(json!(8080))).unwrap().is_empty());
    // int64 holds what int32 cannot.
    let mut grace =
        pod(json!({"containers": [], "terminationGracePeriodSeconds": 99_999_999_999_i64}));
    assert!(check(&mut grace).is_ok());
}

#[test]
fn quantities_parse_as_go_parses_them() {
    let limits = |cpu: Value| container(json!({"resources": {"limits": {"cpu": cpu}}}));
    assert_eq!(
        refused(limits(json!("lots"))),
        (
            quantity::FORMAT_WRONG.to_string(),
            "spec.containers[0].resources.limits[cpu]".into()
        )
    );
    assert_eq!(refused(limits(json!("192i"))).0, quantity::SUFFIX);
    assert_eq!(refused(limits(json!(true))).0, quantity::FORMAT_WRONG);
    // Go reads a number's own text: `cpu: 1` is one CPU.
    for ok in [json!("500m"), json!(1), json!(0.5), json!("2Gi")] {
        assert!(check(&mut limits(ok.clone())).is_ok(), "{ok}");
    }
}

#[test]
fn bytes_are_base64_as_go_reads_it_and_stored_canonical() {
    let secret = |data: Value| json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": data});
    assert_eq!(
        refused(secret(json!({"password": "hello world"}))),
        (
            "illegal base64 data at input byte 5".into(),
            "data[password]".into()
        )
    );
    assert_eq!(
        refused(secret(json!({"password": 42}))).0,
        "json: cannot unmarshal number into Go struct field Secret.data of type []uint8"
    );
    // Line breaks and stray low bits are Go's leniency; what is stored is
    // what Go would write.
    let mut lenient = secret(json!({"a": "aGVs\nbG8=", "b": "aB=="}));
    assert!(check(&mut lenient).unwrap().is_empty());
    assert_eq!(lenient["data"], json!({"a": "aGVsbG8=", "b": "aA=="}));
}

#[test]
fn nested_go_types_answer_like_their_unmarshallers() {
    let probe = |port: Value| container(json!({"livenessProbe": {"httpGet": {"port": port}}}));
    assert!(check(&mut probe(json!("http"))).is_ok());
    assert!(check(&mut probe(json!(8080))).is_ok());
    assert_eq!(
        refused(probe(json!(true))),
        (
            "json: cannot unmarshal bool into Go value of type int32".into(),
            "spec.containers[0].livenessProbe.httpGet.port".into()
        )
    );
    let mut stamped = pod(json!({"containers": []}));
    stamped["metadata"]["creationTimestamp"] = json!("yesterday");
    assert_eq!(
        refused(stamped).0,
        "parsing time \"yesterday\" as \"2006-01-02T15:04:05Z07:00\": cannot parse \"yesterday\" as \"2006\""
    );
    // An embedded struct's fields (Volume's VolumeSource) belong to the
    // object that embeds it.
    let volume =
        pod(json!({"containers": [], "volumes": [{"name": "v", "hostPath": {"path": 5}}]}));
    assert_eq!(
        refused(volume).0,
        "json: cannot unmarshal number into Go struct field HostPathVolumeSource.\
         spec.volumes.hostPath.path of type string"
    );
}

#[test]
fn nulls_are_zero_values_as_in_go() {
    let mut obj = container(json!({"args": ["a", null], "ports": null, "env": [null]}));
    obj["metadata"]["creationTimestamp"] = Value::Null;
    obj["metadata"]["labels"] = json!({"app": null});
    assert_eq!(check(&mut obj), Ok(Vec::new()));
    assert_eq!(obj["spec"]["containers"][0]["args"], json!(["a", ""]));
    assert_eq!(obj["spec"]["containers"][0]["env"], json!([{}]));
    assert_eq!(obj["metadata"]["labels"], json!({"app": ""}));
    assert_eq!(obj["spec"]["containers"][0]["ports"], Value::Null);
}

#[test]
fn enums_no_other_check_covers_are_invalid_with_their_path() {
    let mut obj = pod(json!({"restartPolicy": "Sometimes",
        "containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80, "protocol": "tcp"}]}]}));
    let causes = check(&mut obj).unwrap();
    let found: Vec<String> = causes
        .iter()
        .map(|c| format!("{}: {}", c.field, c.message))
        .collect();
    assert_eq!(
        found,
        [
            r#"spec.containers[0].ports[0].protocol: Unsupported value: "tcp": supported values: "SCTP", "TCP", "UDP""#,
            r#"spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never""#,
        ]
    );
    assert!(causes.iter().all(|c| c.reason == "FieldValueNotSupported"));
    let mut deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
        "spec": {"strategy": {"type": "BlueGreen"}}});
    assert_eq!(
        check(&mut deployment).unwrap()[0].message,
        r#"Unsupported value: "BlueGreen": supported values: "Recreate", "RollingUpdate""#
    );
}

#[test]
fn annotations_are_capped_at_256_kib_in_total() {
    let annotated = |size: usize| {
        // Two keys of one byte: the cap counts keys and values.
        let half = size / 2 - 1;
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c",
            "annotations": {"a": "x".repeat(half), "b": "y".repeat(size - half - 2)}}})
    };
    assert!(check(&mut annotated(ANNOTATIONS_LIMIT)).unwrap().is_empty());
    let causes = check(&mut annotated(ANNOTATIONS_LIMIT + 1)).unwrap();
    assert_eq!(causes.len(), 1);
    assert_eq!(
        (
            causes[0].field.as_str(),
            causes[0].message.as_str(),
            causes[0].reason
        ),
        (
            "metadata.annotations",
            "Too long: must have at most 262144 bytes",
            "FieldValueTooLong"
        )
    );
    // A pod template's metadata is an ObjectMeta too.
    let big = "x".repeat(ANNOTATIONS_LIMIT);
    let mut deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
        "spec": {"template": {"metadata": {"annotations": {"a": big}}}}});
    assert_eq!(
        check(&mut deployment).unwrap()[0].field,
        "spec.template.metadata.annotations"
    );
}

#[test]
fn unknown_fields_and_kinds_are_left_alone() {
    let mut obj = container(json!({"colour": {"any": ["thing", 1]}}));
    let before = obj.clone();
    assert_eq!(check(&mut obj), Ok(Vec::new()));
    assert_eq!(obj, before);
    let mut foreign = json!({"apiVersion": "example.com/v1", "kind": "Widget", "spec": 5});
    assert_eq!(check(&mut foreign), Ok(Vec::new()));
}
