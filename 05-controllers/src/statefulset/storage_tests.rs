use super::*;

fn set(replicas: i64, when_deleted: &str, when_scaled: &str) -> Value {
    json!({"metadata": {"name": "web", "namespace": "shop", "uid": "set-uid"},
        "spec": {"replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": when_deleted, "whenScaled": when_scaled},
            "volumeClaimTemplates": [{"metadata": {"name": "data", "labels": {"tier": "db", "app": "other"},
                    "annotations": {"note": "kept"}},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}})
}

fn pod(ordinal: i64) -> Value {
    json!({"metadata": {"name": format!("web-{ordinal}"), "namespace": "shop",
        "uid": format!("pod-{ordinal}")}})
}

fn claim(refs: Value) -> Value {
    json!({"metadata": {"name": "data-web-1", "namespace": "shop", "ownerReferences": refs}})
}

fn uids(refs: &[Value]) -> Vec<&str> {
    refs.iter()
        .map(|r| r["uid"].as_str().unwrap_or(""))
        .collect()
}

#[test]
fn a_pod_gets_one_claim_per_template_named_after_its_ordinal() {
    let sts = set(3, "Retain", "Retain");
    let claims = new_claims(&sts, 2);
    assert_eq!(claims.len(), 1);
    let c = &claims[0];
    assert_eq!(c["metadata"]["name"], "data-web-2");
    assert_eq!(c["metadata"]["namespace"], "shop");
    // The template's labels, the selector's winning where they meet.
    assert_eq!(c["metadata"]["labels"], json!({"tier": "db", "app": "web"}));
    assert_eq!(c["metadata"]["annotations"]["note"], "kept");
    assert_eq!(c["spec"]["resources"]["requests"]["storage"], "1Gi");
    assert!(
        c["metadata"]["ownerReferences"].is_null(),
        "Retain: no owner"
    );
    let deleting = new_claims(&set(3, "Delete", "Retain"), 0);
    let refs = deleting[0]["metadata"]["ownerReferences"]
        .as_array()
        .unwrap();
    assert_eq!(uids(refs), ["set-uid"]);
    assert_eq!(refs[0]["controller"], true);
}

#[test]
fn the_pods_volume_of_the_templates_name_is_its_claim() {
    let sts = set(3, "Retain", "Retain");
    let mut spec = json!({"volumes": [{"name": "data", "emptyDir": {}},
        {"name": "cache", "emptyDir": {}}]});
    attach(&sts, &mut spec, 1);
    assert_eq!(
        spec["volumes"],
        json!([{"name": "data", "persistentVolumeClaim": {"claimName": "data-web-1"}},
            {"name": "cache", "emptyDir": {}}])
    );
    let mut bare = json!({"containers": []});
    attach(&json!({"metadata": {"name": "web"}}), &mut bare, 0);
    assert!(bare.get("volumes").is_none(), "no templates, no volumes");
}

#[test]
fn owners_follow_each_policy_for_wanted_and_scaled_away_pods() {
    // (whenDeleted, whenScaled, replicas) -> the owners of web-1's claim.
    let cases = [
        ("Retain", "Retain", 3, vec![]),
        ("Retain", "Retain", 1, vec![]),
        ("Delete", "Retain", 3, vec!["set-uid"]),
        ("Delete", "Retain", 1, vec!["set-uid"]),
        ("Retain", "Delete", 3, vec![]),
        ("Retain", "Delete", 1, vec!["pod-1"]),
        ("Delete", "Delete", 3, vec!["set-uid"]),
        ("Delete", "Delete", 1, vec!["pod-1"]),
    ];
    for (deleted, scaled, replicas, want) in cases {
        let sts = set(replicas, deleted, scaled);
        let bare = claim(json!([]));
        let refs = wanted_owners(&bare, &sts, &pod(1));
        assert_eq!(uids(&refs), want, "{deleted}/{scaled}, {replicas} replicas");
        assert!(refs.iter().all(|r| r["controller"] == true));
        let fixed = claim(json!(refs));
        assert!(
            owners_up_to_date(&fixed, &sts, &pod(1)),
            "{deleted}/{scaled}"
        );
        assert_eq!(
            owners_up_to_date(&bare, &sts, &pod(1)),
            want.is_empty(),
            "{deleted}/{scaled}"
        );
    }
}

#[test]
fn stale_foreign_and_loose_references_are_handled_as_kubernetes_does() {
    let sts = set(3, "Delete", "Retain");
    // A reference to an earlier set of the same name: left alone.
    let stale = claim(json!([{"apiVersion": "apps/v1", "kind": "StatefulSet",
        "name": "web", "uid": "old-uid", "controller": true}]));
    assert!(owners_up_to_date(&stale, &sts, &pod(1)));
    // Another controller: ours are not added.
    let foreign = claim(json!([{"apiVersion": "v1", "kind": "ConfigMap",
        "name": "x", "uid": "x-uid", "controller": true}]));
    assert!(owners_up_to_date(&foreign, &sts, &pod(1)));
    assert_eq!(uids(&wanted_owners(&foreign, &sts, &pod(1))), ["x-uid"]);
    // Ours without `controller: true`: rewritten as the controller.
    let loose = claim(json!([{"apiVersion": "apps/v1", "kind": "StatefulSet",
        "name": "web", "uid": "set-uid"}]));
    assert!(!owners_up_to_date(&loose, &sts, &pod(1)));
    let refs = wanted_owners(&loose, &sts, &pod(1));
    assert_eq!(refs.len(), 1);
    assert_eq!(refs[0]["controller"], true);
    // Another owner (not a controller) is kept beside ours.
    let shared =
        claim(json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": "x-uid"}]));
    assert_eq!(
        uids(&wanted_owners(&shared, &sts, &pod(1))),
        ["x-uid", "set-uid"]
    );
}

#[test]
fn fixes_name_only_existing_claims_that_differ() {
    let sts = set(1, "Retain", "Delete");
    let pods = [pod(0), pod(1)];
    let kept = json!({"metadata": {"name": "data-web-0"}});
    let condemned = claim(json!([]));
    let lookup = |name: &str| match name {
        "data-web-0" => Some(&kept),
        "data-web-1" => Some(&condemned),
        _ => None,
    };
    let fixes = retention_fixes(&sts, &pods, lookup);
    assert_eq!(fixes.len(), 1, "web-0 is wanted: its claim has no owner");
    assert_eq!(fixes[0].0["metadata"]["name"], "data-web-1");
    assert_eq!(uids(&fixes[0].1), ["pod-1"]);
    assert!(retention_fixes(&sts, &[pod(2)], lookup).is_empty());
}
