//! The `ServiceAccount` admission step: every pod runs as a
//! ServiceAccount, and gets that account's token mounted.
//!
//! kube-apiserver's `ServiceAccount` admission plugin does three things
//! to a pod being created, and so does this step:
//!
//! 1. A pod that names no `spec.serviceAccountName` runs as `default`.
//! 2. The ServiceAccount it names must exist, or the create is refused
//!    (`pods "web" is forbidden: error looking up service account
//!    team/robot: serviceaccount "robot" not found`). A namespace's
//!    `default` account is made by chapter 05's ServiceAccounts controller
//!    just after the namespace: a pod created in that gap would be refused
//!    for nothing, so for `default` the step looks again for a while
//!    before it gives up, as Kubernetes does.
//! 3. Unless `automountServiceAccountToken: false` (on the pod, or else on
//!    the account), the pod gets a projected volume `kube-api-access-<5>`
//!    holding a token of its account, the cluster CA and its namespace,
//!    mounted read-only at `/var/run/secrets/kubernetes.io/serviceaccount`
//!    in every container and init container (one that already mounts
//!    something there keeps its own). The node agent fills the volume: it
//!    asks TokenRequest for a token bound to the pod and refreshes it.
//!
//! The step runs only where pods can be given tokens: on a server with a
//! service account key, unless `--disable-admission-plugins
//! ServiceAccount` (`Config::service_account_admission`). Like
//! Kubernetes, it runs on creates only.

use std::time::Duration;

use serde_json::{Value, json};

use crate::status::ApiError;
use crate::storage::{self, StorageError, Store};
use orc_client::resources::lookup;

/// The account a pod runs as when it names none.
pub const DEFAULT_ACCOUNT: &str = "default";

/// Where the token, CA and namespace are mounted in every container.
pub const MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The prefix of the projected volume's name (Kubernetes'
/// `kube-api-access-`, then five random characters).
pub const VOLUME_PREFIX: &str = "kube-api-access-";

/// The token's lifetime. Kubernetes asks for 3607 s, a value no one
/// would pick by hand, so that the API server can tell tokens the kubelet
/// mounts from the rest (see the chapter).
pub const TOKEN_EXPIRATION_SECONDS: i64 = 3607;

/// The ConfigMap chapter 05's root CA publisher keeps in every namespace.
pub const ROOT_CA_CONFIG_MAP: &str = "kube-root-ca.crt";

/// How many times a missing `default` account is looked for, and how long
/// apart: Kubernetes' plugin tries 10 times, 100 to 200 ms apart, so a pod
/// created right after its namespace waits for the controller rather
/// than failing.
const DEFAULT_ACCOUNT_ATTEMPTS: u32 = 10;
const RETRY_INTERVAL: Duration = Duration::from_millis(150);

// ANCHOR: admit
/// Admits pod `pod` being created in `ns`: its account named, checked to
/// exist, and its token volume added unless automounting is off.
pub async fn admit_pod(store: &Store, ns: &str, pod: &mut Value) -> Result<(), ApiError> {
    let account_name = default_account_name(pod);
    let account = match find_account(store, ns, &account_name).await {
        Ok(account) => account,
        Err(why) => {
            let name = pod
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("");
            return Err(ApiError::Forbidden(format!(
                "pods \"{name}\" is forbidden: error looking up service account \
                 {ns}/{account_name}: {why}"
            )));
        }
    };
    if should_automount(pod, &account) {
        mount_token(pod, &orc_client::names::random_suffix());
    }
    Ok(())
}
// ANCHOR_END: admit

/// Sets `spec.serviceAccountName` to `default` when empty, and the
/// deprecated `spec.serviceAccount` to the same (the v1 API shows both);
/// answers the name.
pub fn default_account_name(pod: &mut Value) -> String {
    let named = pod
        .pointer("/spec/serviceAccountName")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .unwrap_or(DEFAULT_ACCOUNT)
        .to_string();
    if let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) {
        spec.insert("serviceAccountName".into(), json!(named));
        spec.insert("serviceAccount".into(), json!(named));
    }
    named
}

/// ServiceAccount `ns/name` from etcd. `default` is looked for again a
/// few times (its controller may not have made it yet); any other
/// account once. `Err` is the reason, in Kubernetes' words.
async fn find_account(store: &Store, ns: &str, name: &str) -> Result<Value, String> {
    let accounts = lookup("", "v1", "serviceaccounts")
        .ok_or_else(|| "the resource table has no serviceaccounts".to_string())?;
    let key = storage::key(accounts, Some(ns), name);
    let attempts = if name == DEFAULT_ACCOUNT {
        DEFAULT_ACCOUNT_ATTEMPTS
    } else {
        1
    };
    for attempt in 0..attempts {
        if attempt > 0 {
            // Kubernetes' own bounded retry of a direct read: the account
            // is made by another component, which nothing here can watch
            // for more cheaply than etcd answers a read.
            tokio::time::sleep(RETRY_INTERVAL).await;
        }
        match store.get(&key).await {
            Ok(account) => return Ok(account),
            Err(StorageError::NotFound) => continue,
            Err(e) => return Err(e.to_string()),
        }
    }
    Err(format!("serviceaccount \"{name}\" not found"))
}

// ANCHOR: should_automount
/// Whether the pod gets its token: the pod's
/// `automountServiceAccountToken` if set, else the account's, else yes.
pub fn should_automount(pod: &Value, account: &Value) -> bool {
    let flag = |object: &Value, path: &str| object.pointer(path).and_then(Value::as_bool);
    flag(pod, "/spec/automountServiceAccountToken")
        .or_else(|| flag(account, "/automountServiceAccountToken"))
        .unwrap_or(true)
}
// ANCHOR_END: should_automount

// ANCHOR: mount_token
/// Mounts the token volume in every container and init container that has
/// nothing at [`MOUNT_PATH`] yet, and adds the volume if one does (named
/// `kube-api-access-<suffix>`, unless the pod already has such a volume).
pub fn mount_token(pod: &mut Value, suffix: &str) {
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let existing = spec
        .get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.get("name").and_then(Value::as_str))
        .find(|name| name.starts_with(VOLUME_PREFIX))
        .map(str::to_string);
    let volume_name = existing
        .clone()
        .unwrap_or_else(|| format!("{VOLUME_PREFIX}{suffix}"));
    let mount = json!({"name": volume_name, "readOnly": true, "mountPath": MOUNT_PATH});
    let mut mounted = false;
    for list in ["initContainers", "containers"] {
        let containers = spec.get_mut(list).and_then(Value::as_array_mut);
        for container in containers.into_iter().flatten() {
            mounted |= add_mount(container, &mount);
        }
    }
    if mounted && existing.is_none() {
        let volumes = spec.entry("volumes").or_insert_with(|| json!([]));
        if volumes.is_null() {
            *volumes = json!([]);
        }
        if let Some(volumes) = volumes.as_array_mut() {
            volumes.push(token_volume(&volume_name));
        }
    }
}
// ANCHOR_END: mount_token

/// Adds `mount` to `container` unless something is mounted at
/// [`MOUNT_PATH`] already; answers whether it did.
fn add_mount(container: &mut Value, mount: &Value) -> bool {
    let Some(container) = container.as_object_mut() else {
        return false;
    };
    let mounts = container.entry("volumeMounts").or_insert_with(|| json!([]));
    if mounts.is_null() {
        *mounts = json!([]);
    }
    let Some(mounts) = mounts.as_array_mut() else {
        return false;
    };
    let taken = mounts
        .iter()
        .any(|m| m.get("mountPath").and_then(Value::as_str) == Some(MOUNT_PATH));
    if !taken {
        mounts.push(mount.clone());
    }
    !taken
}

// ANCHOR: token_volume
/// The projected volume Kubernetes gives every pod: a token, the CA that
/// signed the API server's certificate, and the pod's namespace.
pub fn token_volume(name: &str) -> Value {
    json!({
        "name": name,
        "projected": {
            "defaultMode": 0o644,
            "sources": [
                {"serviceAccountToken": {
                    "expirationSeconds": TOKEN_EXPIRATION_SECONDS,
                    "path": "token",
                }},
                {"configMap": {
                    "name": ROOT_CA_CONFIG_MAP,
                    "items": [{"key": "ca.crt", "path": "ca.crt"}],
                }},
                {"downwardAPI": {
                    "items": [{
                        "path": "namespace",
                        "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                    }],
                }},
            ],
        },
    })
}
// ANCHOR_END: token_volume

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(spec: Value) -> Value {
        json!({"metadata": {"name": "web"}, "spec": spec})
    }

    #[test]
    fn a_pod_without_an_account_runs_as_default() {
        let mut p = pod(json!({"containers": [{"name": "a"}]}));
        assert_eq!(default_account_name(&mut p), "default");
        assert_eq!(p["spec"]["serviceAccountName"], "default");
        assert_eq!(p["spec"]["serviceAccount"], "default");
        let mut named = pod(json!({"serviceAccountName": "robot", "containers": []}));
        assert_eq!(default_account_name(&mut named), "robot");
        assert_eq!(named["spec"]["serviceAccount"], "robot");
    }

    #[test]
    fn the_pod_flag_wins_over_the_account_flag() {
        let sa = |flag: Value| json!({"metadata": {"name": "default"}, "automountServiceAccountToken": flag});
        let p = |flag: Value| pod(json!({"automountServiceAccountToken": flag, "containers": []}));
        assert!(should_automount(&p(Value::Null), &sa(Value::Null)));
        assert!(!should_automount(&p(Value::Null), &sa(json!(false))));
        assert!(should_automount(&p(json!(true)), &sa(json!(false))));
        assert!(!should_automount(&p(json!(false)), &sa(json!(true))));
    }

    #[test]
    fn every_container_mounts_the_token_volume() {
        let mut p = pod(json!({
            "initContainers": [{"name": "init"}],
            "containers": [
                {"name": "a", "volumeMounts": [{"name": "data", "mountPath": "/data"}]},
                {"name": "b"},
            ],
            "volumes": [{"name": "data", "emptyDir": {}}],
        }));
        mount_token(&mut p, "x7k2p");
        let volumes = p["spec"]["volumes"].as_array().unwrap();
        assert_eq!(volumes.len(), 2);
        assert_eq!(volumes[1], token_volume("kube-api-access-x7k2p"));
        let sources = &volumes[1]["projected"]["sources"];
        assert_eq!(sources[0]["serviceAccountToken"]["expirationSeconds"], 3607);
        assert_eq!(volumes[1]["projected"]["defaultMode"], 420);
        let expected =
            json!({"name": "kube-api-access-x7k2p", "readOnly": true, "mountPath": MOUNT_PATH});
        assert_eq!(p["spec"]["initContainers"][0]["volumeMounts"][0], expected);
        assert_eq!(p["spec"]["containers"][0]["volumeMounts"][1], expected);
        assert_eq!(p["spec"]["containers"][1]["volumeMounts"][0], expected);
    }

    #[test]
    fn a_container_with_its_own_mount_there_keeps_it() {
        let own = json!({"name": "mine", "mountPath": MOUNT_PATH});
        let mut p = pod(json!({"containers": [{"name": "a", "volumeMounts": [own]}]}));
        mount_token(&mut p, "abcde");
        // Nobody needs the volume: it is not added.
        assert!(p["spec"].get("volumes").is_none());
        assert_eq!(p["spec"]["containers"][0]["volumeMounts"], json!([own]));
    }

    #[test]
    fn an_existing_token_volume_is_reused() {
        let mut p = pod(json!({
            "containers": [{"name": "a"}],
            "volumes": [{"name": "kube-api-access-old00", "emptyDir": {}}],
        }));
        mount_token(&mut p, "new00");
        assert_eq!(p["spec"]["volumes"].as_array().unwrap().len(), 1);
        assert_eq!(
            p["spec"]["containers"][0]["volumeMounts"][0]["name"],
            "kube-api-access-old00"
        );
    }
}
