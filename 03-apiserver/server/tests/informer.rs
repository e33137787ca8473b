//! The informer against a real server: sync, events, and a re-list after 410.

mod common;

use std::time::Duration;

use common::{TestServer, pod};
use orc_client::informer::{Informer, Notification};
use orc_client::resources::lookup;
use orc_client::{Client, ClientError};
use serde_json::json;
use tokio::sync::mpsc;

fn name(n: &Notification) -> String {
    let obj = match n {
        Notification::Added(o)
        | Notification::Deleted(o)
        | Notification::Updated { new: o, .. } => o,
        Notification::Synced => return "synced".into(),
    };
    obj["metadata"]["name"].as_str().unwrap_or("").to_string()
}

async fn next(rx: &mut mpsc::Receiver<Notification>) -> Notification {
    tokio::time::timeout(Duration::from_secs(15), rx.recv())
        .await
        .expect("a notification")
        .expect("informer alive")
}

#[tokio::test]
async fn informer_syncs_follows_and_relists_after_410() {
    let s = TestServer::start().await;
    let pods = lookup("", "v1", "pods").unwrap();
    let client = Client::new(format!("http://{}", s.addr));
    client
        .create(pods, Some("default"), &pod("a"))
        .await
        .unwrap();

    let mut informer = Informer::new(client.clone(), pods, Some("default"), "app=web");
    informer.watch_timeout = Duration::from_secs(1);
    let cache = informer.cache();
    let (tx, mut rx) = mpsc::channel(100);
    tokio::spawn(informer.run(tx));

    assert!(matches!(next(&mut rx).await, Notification::Added(_)));
    assert_eq!(next(&mut rx).await, Notification::Synced);
    assert_eq!(cache.len(), 1);

    client
        .create(pods, Some("default"), &pod("b"))
        .await
        .unwrap();
    let n = next(&mut rx).await;
    assert!(
        matches!(n, Notification::Added(_)) && name(&n) == "b",
        "{n:?}"
    );

    // Client errors are typed: a second create is a conflict.
    let err = client
        .create(pods, Some("default"), &pod("b"))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Api { code: 409, .. }), "{err}");

    // Move etcd past the informer's version and compact: its next watch
    // (after the 1 s timeout) gets 410, and it re-lists, reporting what it
    // missed as if they were events.
    let cms = lookup("", "v1", "configmaps").unwrap();
    let (_, latest) = s
        .post(
            "/api/v1/namespaces/default/configmaps",
            &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bump"}}),
        )
        .await;
    let rv = latest["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    s.etcdctl(&["compact", &rv]);
    client.delete(cms, Some("default"), "bump").await.unwrap();
    let mut seen = Vec::new();
    loop {
        let n = next(&mut rx).await;
        let done = n == Notification::Synced;
        seen.push(n);
        if done {
            break;
        }
    }
    assert_eq!(cache.len(), 2, "{seen:?}");
    assert!(cache.get("default/a").is_some() && cache.get("default/b").is_some());
    client.delete(pods, Some("default"), "a").await.unwrap();
    let n = next(&mut rx).await;
    assert!(
        matches!(n, Notification::Deleted(_)) && name(&n) == "a",
        "{n:?}"
    );
    assert_eq!(cache.len(), 1);
}
