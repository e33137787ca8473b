//! The root CA publisher with a real API server: every namespace, those
//! there at start and those made later, holds `kube-root-ca.crt` with the
//! cluster's CA; an edit is undone and a deletion repaired.

mod common;

use common::Cluster;
use orc_controllers::RootCaPublisher;
use orc_controllers::root_ca_publisher::decide::{DESCRIPTION, DESCRIPTION_ANNOTATION};
use serde_json::{Value, json};

const CA: &str = "-----BEGIN CERTIFICATE-----\nMIIBorc\n-----END CERTIFICATE-----\n";

fn path(ns: &str) -> String {
    format!("/api/v1/namespaces/{ns}/configmaps/kube-root-ca.crt")
}

/// Whether the ConfigMap holds the CA, and only it.
fn published(cm: Option<&Value>) -> bool {
    cm.is_some_and(|cm| cm["data"] == json!({"ca.crt": CA}))
}

#[tokio::test]
async fn every_namespace_holds_the_ca_and_keeps_it() {
    let mut cluster = Cluster::start().await;
    let client = orc_client::Client::new(format!("http://{}", cluster.addr));
    cluster.spawn(RootCaPublisher::run(client, CA.to_string(), 2));

    // The namespaces that exist at start...
    for ns in ["default", "kube-system", "kube-public"] {
        let cm = cluster
            .until(&path(ns), "published", published)
            .await
            .unwrap();
        assert_eq!(
            cm["metadata"]["annotations"][DESCRIPTION_ANNOTATION],
            DESCRIPTION
        );
    }
    // ...and one made later.
    let team = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}});
    cluster.create("/api/v1/namespaces", &team).await;
    cluster.until(&path("team"), "published", published).await;

    // An edit is undone; a label someone added stays.
    let edit =
        json!({"metadata": {"labels": {"owner": "me"}}, "data": {"ca.crt": "forged", "x": "y"}});
    assert_eq!(cluster.merge_patch(&path("team"), &edit).await, 200);
    let repaired = cluster
        .until(&path("team"), "repaired", published)
        .await
        .unwrap();
    assert_eq!(repaired["metadata"]["labels"]["owner"], "me");

    // A deleted one comes back, a new object.
    let uid = repaired["metadata"]["uid"].clone();
    assert_eq!(cluster.delete(&path("team"), json!({})).await, 200);
    let back = cluster
        .until(&path("team"), "made again", |cm| {
            published(cm) && cm.is_some_and(|cm| cm["metadata"]["uid"] != uid)
        })
        .await
        .unwrap();
    assert!(back["metadata"]["labels"].get("owner").is_none(), "{back}");
}
