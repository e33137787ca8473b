use super::*;

fn claim(name: &str, size: &str, class: Option<&str>) -> Value {
    let mut c = json!({"metadata": {"name": name, "namespace": "shop", "uid": format!("uid-{name}")},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}},
        "status": {"phase": "Pending"}});
    if let Some(class) = class {
        c["spec"]["storageClassName"] = json!(class);
    }
    c
}

fn volume(name: &str, size: &str, class: &str) -> Value {
    json!({"metadata": {"name": name},
        "spec": {"capacity": {"storage": size}, "accessModes": ["ReadWriteOnce", "ReadOnlyMany"],
            "storageClassName": class, "persistentVolumeReclaimPolicy": "Retain",
            "hostPath": {"path": "/data"}},
        "status": {"phase": "Available"}})
}

#[test]
fn a_claim_takes_the_smallest_volume_that_fits() {
    let volumes = [
        volume("big", "10Gi", ""),
        volume("small", "1Gi", ""),
        volume("right", "2Gi", ""),
        volume("other-class", "2Gi", "fast"),
    ];
    let c = claim("data", "1500Mi", None);
    assert_eq!(
        claim_verdict(&c, &volumes, None),
        ClaimVerdict::Bind("right".into())
    );
    let mut rwx = claim("data", "1Gi", None);
    rwx["spec"]["accessModes"] = json!(["ReadWriteMany"]);
    assert!(matches!(
        claim_verdict(&rwx, &volumes, None),
        ClaimVerdict::Wait {
            reason: "FailedBinding",
            ..
        }
    ));
}

#[test]
fn a_taken_volume_is_not_offered_again() {
    let mut taken = volume("only", "1Gi", "");
    taken["spec"]["claimRef"] = json!({"namespace": "shop", "name": "first", "uid": "uid-first"});
    taken["status"]["phase"] = json!("Bound");
    let volumes = [taken];
    assert_eq!(
        claim_verdict(&claim("first", "1Gi", None), &volumes, None),
        ClaimVerdict::Bind("only".into()),
        "the claim it is reserved for finishes the pair"
    );
    assert!(matches!(
        claim_verdict(&claim("second", "1Gi", None), &volumes, None),
        ClaimVerdict::Wait { .. }
    ));
}

#[test]
fn a_free_volume_wakes_only_the_unbound_claims_it_fits() {
    let free_volume = volume("new", "2Gi", "manual");
    assert!(free(&free_volume));
    assert!(may_take(
        &claim("waiting", "1Gi", Some("manual")),
        &free_volume
    ));
    assert!(!may_take(
        &claim("too-big", "5Gi", Some("manual")),
        &free_volume
    ));
    assert!(!may_take(
        &claim("other", "1Gi", Some("fast")),
        &free_volume
    ));
    let mut bound = claim("bound", "1Gi", Some("manual"));
    bound["spec"]["volumeName"] = json!("elsewhere");
    assert!(
        !may_take(&bound, &free_volume),
        "a bound claim needs no other volume"
    );
    let mut reserved = volume("reserved", "2Gi", "manual");
    reserved["spec"]["claimRef"] = json!({"namespace": "shop", "name": "first"});
    assert!(!free(&reserved));
    let mut pending = volume("pending", "2Gi", "manual");
    pending["status"]["phase"] = json!("Pending");
    assert!(!free(&pending), "only an Available volume is offered");
}

#[test]
fn waiting_for_a_consumer_until_the_scheduler_picks_a_node() {
    let class = json!({"metadata": {"name": "local-path"}, "provisioner": "orc.dev/local-path",
        "volumeBindingMode": "WaitForFirstConsumer"});
    let mut c = claim("data", "1Gi", Some("local-path"));
    assert_eq!(
        claim_verdict(&c, &[], Some(&class)),
        ClaimVerdict::Wait {
            reason: "WaitForFirstConsumer",
            message: "waiting for first consumer to be created before binding".into()
        }
    );
    c["metadata"]["annotations"] = json!({SELECTED_NODE: "node-2"});
    assert_eq!(
        claim_verdict(&c, &[], Some(&class)),
        ClaimVerdict::Provision {
            provisioner: "orc.dev/local-path".into(),
            node: Some("node-2".into())
        }
    );
    // A volume pinned to another node does not fit; one on node-2 does.
    let pinned = |node: &str| {
        let mut v = volume("local", "1Gi", "local-path");
        v["spec"]["nodeAffinity"] = json!({"required": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": HOSTNAME_LABEL, "operator": "In", "values": [node]}]}]}});
        v
    };
    assert!(matches!(
        claim_verdict(&c, &[pinned("node-1")], Some(&class)),
        ClaimVerdict::Provision { .. }
    ));
    assert_eq!(
        claim_verdict(&c, &[pinned("node-2")], Some(&class)),
        ClaimVerdict::Bind("local".into())
    );
}

#[test]
fn a_claim_whose_volume_vanished_is_lost() {
    let mut c = claim("data", "1Gi", None);
    c["spec"]["volumeName"] = json!("gone");
    c["status"]["phase"] = json!("Bound");
    assert_eq!(claim_verdict(&c, &[], None), ClaimVerdict::Lost);
    let missing_class = claim("data", "1Gi", Some("nope"));
    assert!(matches!(
        claim_verdict(&missing_class, &[], None),
        ClaimVerdict::Wait {
            reason: "ProvisioningFailed",
            ..
        }
    ));
}

#[test]
fn a_volume_follows_its_claim_and_is_reclaimed_by_policy() {
    let c = {
        let mut c = claim("data", "1Gi", None);
        c["spec"]["volumeName"] = json!("pv");
        c
    };
    let mut v = volume("pv", "1Gi", "");
    v["status"]["phase"] = json!("Pending");
    assert_eq!(volume_verdict(&v, None), VolumeVerdict::Phase("Available"));
    v["spec"]["claimRef"] = claim_ref(&c);
    v["status"]["phase"] = json!("Available");
    assert_eq!(volume_verdict(&v, Some(&c)), VolumeVerdict::Phase("Bound"));
    v["status"]["phase"] = json!("Bound");
    assert_eq!(volume_verdict(&v, Some(&c)), VolumeVerdict::Done);
    assert_eq!(volume_verdict(&v, None), VolumeVerdict::Phase("Released"));
    v["spec"]["persistentVolumeReclaimPolicy"] = json!("Delete");
    assert_eq!(volume_verdict(&v, None), VolumeVerdict::Phase("Released"));
    v["status"]["phase"] = json!("Released");
    assert_eq!(volume_verdict(&v, None), VolumeVerdict::Delete);
}

#[test]
fn a_volume_being_deleted_is_released_but_not_deleted_again() {
    let mut v = volume("disk", "1Gi", "");
    v["spec"]["claimRef"] = json!({"namespace": "shop", "name": "data", "uid": "uid-data"});
    v["status"]["phase"] = json!("Bound");
    v["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    // Its claim is gone: Released, so pv-protection lets it go.
    assert_eq!(volume_verdict(&v, None), VolumeVerdict::Phase("Released"));
    v["status"]["phase"] = json!("Released");
    v["spec"]["persistentVolumeReclaimPolicy"] = json!("Delete");
    assert_eq!(volume_verdict(&v, None), VolumeVerdict::Done);
}
