//! Issue 18's SSRF: whoever can write a Node chose where the API server's
//! log and exec relay connects. A Node naming a URL, a path or a port in
//! an address is refused at validation, and the relay dials only an IP
//! address from the Node, never a hostname.

mod common;

use common::{TestServer, pod};
use serde_json::json;
use tokio::net::TcpListener;

#[tokio::test]
async fn a_node_cannot_aim_the_log_relay_elsewhere() {
    let s = TestServer::start().await;
    // Where an attacker would aim the relay: a listener that counts.
    let victim = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = victim.local_addr().unwrap().port();

    let forged = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "evil"},
        "status": {"addresses": [{"type": "InternalIP", "address": format!("127.0.0.1:{port}/steal?")}],
                   "daemonEndpoints": {"kubeletEndpoint": {"Port": 70000}}}});
    let (code, status) = s.post("/api/v1/nodes", &forged).await;
    assert_eq!(code, 422, "{status}");
    let message = status["message"].as_str().unwrap();
    assert!(message.contains("status.addresses[0].address"), "{message}");
    assert!(
        message.contains("status.daemonEndpoints.kubeletEndpoint.Port"),
        "{message}"
    );

    // 0.0.0.0 is no one's address, and Linux dials it as this host.
    let everywhere = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "all"},
        "status": {"addresses": [{"type": "InternalIP", "address": "0.0.0.0"}],
                   "daemonEndpoints": {"kubeletEndpoint": {"Port": port}}}});
    let (code, status) = s.post("/api/v1/nodes", &everywhere).await;
    assert_eq!(code, 422, "{status}");

    // A valid hostname is accepted, but the relay never dials a name.
    let named = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "named"},
        "status": {"addresses": [{"type": "Hostname", "address": "localhost"}],
                   "daemonEndpoints": {"kubeletEndpoint": {"Port": port}}}});
    assert_eq!(s.post("/api/v1/nodes", &named).await.0, 201);
    let mut bound = pod("p");
    bound["spec"]["nodeName"] = json!("named");
    assert_eq!(
        s.post("/api/v1/namespaces/default/pods", &bound).await.0,
        201
    );
    let (code, answer) = s.get("/api/v1/namespaces/default/pods/p/log").await;
    assert_eq!(code, 500, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("no InternalIP"),
        "{answer}"
    );

    // The status subresource is validated too.
    let (_, mut stored) = s.get("/api/v1/nodes/named").await;
    stored["status"]["addresses"] = json!([{"type": "InternalIP", "address": "http://127.0.0.1/"}]);
    assert_eq!(s.put("/api/v1/nodes/named/status", &stored).await.0, 422);

    // Nothing ever connected to the victim: accept() finds no one waiting.
    let waiting = tokio::time::timeout(std::time::Duration::ZERO, victim.accept()).await;
    assert!(waiting.is_err(), "the relay connected to the victim");
}
