//! The PersistentVolume controller: binds claims to volumes, provisions
//! local-path volumes, and reclaims volumes whose claims are gone
//! (Kubernetes' `persistentvolume-binder` in kube-controller-manager, with
//! Rancher's local-path-provisioner built in).
//!
//! Three informers (volumes, claims, classes) feed one work queue of keys
//! `claim/<namespace>/<name>` and `volume/<name>`. A claim's reconcile
//! writes both halves of a binding, volume first: a crash between the two
//! leaves a volume reserved for the claim (`claimRef`), which the next
//! reconcile finds and finishes, never a claim pointing at a volume that
//! does not know it. `decide.rs` says what to do; this file does it.
//!
//! ## Layout
//!
//! - `decide.rs`: the verdicts for a claim and a volume (pure, lab 05).
//! - `local_path.rs`: the local-path provisioner: the default class and
//!   the volume it makes for a claim on the node its pod was placed on.
//! - `mod.rs`: informers, the work queue, the API writes and the events.

pub mod decide;
pub mod local_path;

use std::sync::Arc;

use orc_client::events::{Note, Recorder};
use orc_client::informer::{Cache, Notification};
use orc_client::resources::{Resource, lookup};
use orc_client::workqueue::WorkQueue;
use orc_client::{Client, ClientError};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::worker::{self, Action};
use decide::{ClaimVerdict, VolumeVerdict, text};
use orc_client::informer as informers;

/// The kind of claims, for events.
const CLAIM_KIND: (&str, &str) = ("v1", "PersistentVolumeClaim");

pub(crate) fn volumes() -> &'static Resource {
    lookup("", "v1", "persistentvolumes").expect("the resource table serves PersistentVolumes")
}

pub(crate) fn claims() -> &'static Resource {
    lookup("", "v1", "persistentvolumeclaims")
        .expect("the resource table serves PersistentVolumeClaims")
}

pub(crate) fn classes() -> &'static Resource {
    lookup("storage.k8s.io", "v1", "storageclasses")
        .expect("the resource table serves StorageClasses")
}

fn nodes() -> &'static Resource {
    lookup("", "v1", "nodes").expect("the resource table serves Nodes")
}

/// The controller. [`PersistentVolumeController::run`] starts it.
pub struct PersistentVolumeController {
    client: Client,
    /// Every PersistentVolume (keys: names).
    volumes: Arc<Cache>,
    /// Every PersistentVolumeClaim (keys `namespace/name`).
    claims: Arc<Cache>,
    /// Every StorageClass.
    classes: Arc<Cache>,
    /// Every Node: the local-path provisioner reads a node's state
    /// directory from it.
    nodes: Arc<Cache>,
    /// `claim/<ns>/<name>` and `volume/<name>` keys to look at.
    queue: Arc<WorkQueue>,
    /// Writes the claims' events (`kubectl describe pvc`).
    recorder: Recorder,
}

impl PersistentVolumeController {
    /// Follows volumes, claims and classes through `client` until dropped,
    /// with `workers` keys reconciled at once. Creates the default
    /// `local-path` StorageClass first if it is missing.
    pub async fn run(client: Client, workers: usize) {
        local_path::ensure_class(&client).await;
        let pv_informer = informers::everything(&client, volumes());
        let pvc_informer = informers::everything(&client, claims());
        let sc_informer = informers::everything(&client, classes());
        let node_informer = informers::everything(&client, nodes());
        let controller = Arc::new(PersistentVolumeController {
            volumes: pv_informer.cache(),
            claims: pvc_informer.cache(),
            classes: sc_informer.cache(),
            nodes: node_informer.cache(),
            recorder: Recorder::new(client.clone(), "persistentvolume-controller"),
            client,
            queue: Arc::new(WorkQueue::new()),
        });
        let mut tasks = JoinSet::new();
        let c = controller.clone();
        let pv_synced = informers::follow(&mut tasks, pv_informer, move |n| c.volume_changed(n));
        let c = controller.clone();
        let pvc_synced = informers::follow(&mut tasks, pvc_informer, move |n| c.claim_changed(n));
        // A class created late lets its claims go on: look at them all.
        let c = controller.clone();
        let sc_synced = informers::follow(&mut tasks, sc_informer, move |_| c.all_claims());
        let node_synced = informers::follow(&mut tasks, node_informer, |_| {});
        let c = controller.clone();
        let reconcile = move |key: String| {
            let c = c.clone();
            async move { c.reconcile(&key).await }
        };
        let queue = ("volumes", controller.queue.clone());
        let synced = vec![pv_synced, pvc_synced, sc_synced, node_synced];
        worker::run_after_sync(tasks, synced, queue, workers, reconcile).await;
    }

    /// A volume changed: it, and the claim it names, may need a look. A
    /// volume that is free to take may be what an unbound claim of its
    /// class has been waiting for: those claims get a look too (a claim
    /// seen before the volume turned Available would otherwise wait for
    /// ever; Kubernetes' binder hides this behind a 15 s resync of every
    /// claim).
    fn volume_changed(&self, notification: Notification) {
        if let Notification::Added(v)
        | Notification::Updated { new: v, .. }
        | Notification::Deleted(v) = notification
        {
            self.queue
                .add(&format!("volume/{}", text(&v, "/metadata/name")));
            if let Some(r) = v.pointer("/spec/claimRef").filter(|r| r.is_object()) {
                self.queue.add(&format!(
                    "claim/{}/{}",
                    text(r, "/namespace"),
                    text(r, "/name")
                ));
            } else if decide::free(&v) {
                for c in self.claims.list() {
                    if decide::may_take(&c, &v) {
                        self.queue.add(&format!("claim/{}", informers::key_of(&c)));
                    }
                }
            }
        }
    }

    /// A claim changed: it needs a look; once gone, so does its volume.
    fn claim_changed(&self, notification: Notification) {
        match notification {
            Notification::Added(c) | Notification::Updated { new: c, .. } => {
                self.queue.add(&format!("claim/{}", informers::key_of(&c)));
            }
            Notification::Deleted(c) => {
                for v in self.volumes.list() {
                    if decide::reserved_for(&v, &c) {
                        self.queue
                            .add(&format!("volume/{}", text(&v, "/metadata/name")));
                    }
                }
            }
            _ => {}
        }
    }

    fn all_claims(&self) {
        for c in self.claims.list() {
            self.queue.add(&format!("claim/{}", informers::key_of(&c)));
        }
    }

    /// Reconciles one `claim/...` or `volume/...` key.
    pub async fn reconcile(&self, key: &str) -> Result<Action, ClientError> {
        match key.split_once('/') {
            Some(("claim", claim)) => self.sync_claim(claim).await,
            Some(("volume", name)) => self.sync_volume(name).await,
            _ => Ok(Action::await_change()),
        }
    }

    // ANCHOR: sync_claim
    /// Acts on a claim's verdict.
    async fn sync_claim(&self, key: &str) -> Result<Action, ClientError> {
        let Some(claim) = self.claims.get(key) else {
            return Ok(Action::await_change());
        };
        let volumes = self.volumes.list();
        let class = self.classes.get(decide::class_of(&claim));
        match decide::claim_verdict(&claim, &volumes, class.as_ref()) {
            ClaimVerdict::Done => {}
            ClaimVerdict::Bind(name) => self.bind(&claim, &name).await?,
            ClaimVerdict::Provision { provisioner, node } => {
                let note = self
                    .provision(&claim, class.as_ref(), &provisioner, node.as_deref())
                    .await?;
                if let Some(note) = note {
                    self.recorder.record(&claim, CLAIM_KIND, note).await;
                }
            }
            ClaimVerdict::Wait { reason, message } => {
                let note = match reason {
                    "ProvisioningFailed" => Note::warning(reason, message),
                    _ => Note::normal(reason, message),
                };
                self.recorder.record(&claim, CLAIM_KIND, note).await;
            }
            ClaimVerdict::Lost => {
                self.set_claim_status(&claim, json!({"phase": "Lost"}))
                    .await?;
                let message =
                    "Bound claim has lost its PersistentVolume. Data on the volume is lost!";
                self.recorder
                    .record(
                        &claim,
                        CLAIM_KIND,
                        Note::warning("ClaimLost", message.into()),
                    )
                    .await;
            }
        }
        Ok(Action::await_change())
    }
    // ANCHOR_END: sync_claim

    // ANCHOR: bind
    /// Binds `claim` to volume `name`: the volume's `claimRef` and phase
    /// first, then the claim's `volumeName` and status.
    async fn bind(&self, claim: &Value, name: &str) -> Result<(), ClientError> {
        let Some(mut volume) = self.volumes.get(name) else {
            return Ok(());
        };
        if !decide::reserved_for(&volume, claim) || text(&volume, "/spec/claimRef/uid").is_empty() {
            volume["spec"]["claimRef"] = decide::claim_ref(claim);
            annotate(&mut volume, decide::BOUND_BY_CONTROLLER);
            volume = self.client.update(volumes(), None, &volume).await?;
        }
        if text(&volume, "/status/phase") != "Bound" {
            let status = json!({"status": {"phase": "Bound"}});
            self.client
                .merge_patch(volumes(), None, name, Some("status"), &status)
                .await?;
        }
        let ns = text(claim, "/metadata/namespace");
        let mut claim = claim.clone();
        if text(&claim, "/spec/volumeName").is_empty() {
            claim["spec"]["volumeName"] = json!(name);
            annotate(&mut claim, decide::BOUND_BY_CONTROLLER);
        }
        if text(
            &claim,
            &format!(
                "/metadata/annotations/{}",
                decide::BIND_COMPLETED.replace('/', "~1")
            ),
        )
        .is_empty()
        {
            annotate(&mut claim, decide::BIND_COMPLETED);
            claim = self.client.update(claims(), Some(ns), &claim).await?;
        }
        self.set_claim_status(&claim, decide::bound_claim_status(&volume))
            .await
    }
    // ANCHOR_END: bind

    async fn set_claim_status(&self, claim: &Value, status: Value) -> Result<(), ClientError> {
        if claim.get("status") == Some(&status) {
            return Ok(());
        }
        let (ns, name) = (
            text(claim, "/metadata/namespace"),
            text(claim, "/metadata/name"),
        );
        let patch = json!({"status": status});
        self.client
            .merge_patch(claims(), Some(ns), name, Some("status"), &patch)
            .await?;
        Ok(())
    }

    /// Makes a volume for `claim` if the provisioner is orc's own; for any
    /// other, says that the claim waits for it. The note is the claim's event.
    async fn provision(
        &self,
        claim: &Value,
        class: Option<&Value>,
        provisioner: &str,
        node: Option<&str>,
    ) -> Result<Option<Note>, ClientError> {
        if provisioner != local_path::PROVISIONER {
            return Ok(Some(Note::normal(
                "ExternalProvisioning",
                format!(
                    "Waiting for a volume to be created either by the external provisioner '{provisioner}' \
                     or manually by the system administrator. If volume creation is delayed, please \
                     verify that the provisioner is running and correctly registered."
                ),
            )));
        }
        let node_object = node.and_then(|n| self.nodes.get(n));
        let volume = match local_path::volume_for(claim, class, node, node_object.as_ref()) {
            Ok(volume) => volume,
            Err(why) => return Ok(Some(Note::warning("ProvisioningFailed", why))),
        };
        match self.client.create(volumes(), None, &volume).await {
            // 409: made by an earlier reconcile the cache has not seen.
            Ok(_) => {}
            Err(e) if e.code() == Some(409) => return Ok(None),
            Err(e) => return Err(e),
        }
        let message = format!(
            "Successfully provisioned volume {}",
            text(&volume, "/metadata/name")
        );
        Ok(Some(Note::normal("ProvisioningSucceeded", message)))
    }

    // ANCHOR: sync_volume
    /// Acts on a volume's verdict.
    async fn sync_volume(&self, name: &str) -> Result<Action, ClientError> {
        let Some(volume) = self.volumes.get(name) else {
            return Ok(Action::await_change());
        };
        // The claim the volume is reserved for, if it still exists (the
        // same uid: a new claim of the same name is another claim).
        let claim = volume
            .pointer("/spec/claimRef")
            .filter(|r| r.is_object())
            .and_then(|r| {
                self.claims
                    .get(&format!("{}/{}", text(r, "/namespace"), text(r, "/name")))
            })
            .filter(|c| decide::reserved_for(&volume, c));
        match decide::volume_verdict(&volume, claim.as_ref()) {
            VolumeVerdict::Done => {}
            VolumeVerdict::Phase(phase) => {
                let status = json!({"status": {"phase": phase}});
                self.client
                    .merge_patch(volumes(), None, name, Some("status"), &status)
                    .await?;
            }
            VolumeVerdict::Delete => match self.client.delete(volumes(), None, name).await {
                Ok(_) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            },
        }
        Ok(Action::await_change())
    }
    // ANCHOR_END: sync_volume
}

/// Sets annotation `key` to `"yes"`, as the binder marks what it wrote.
fn annotate(obj: &mut Value, key: &str) {
    if !obj["metadata"]["annotations"].is_object() {
        obj["metadata"]["annotations"] = json!({});
    }
    obj["metadata"]["annotations"][key] = json!("yes");
}
