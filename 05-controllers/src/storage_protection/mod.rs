//! Storage object in use protection: Kubernetes' `pvc-protection` and
//! `pv-protection` controllers in kube-controller-manager.
//!
//! The API server's `StorageObjectInUseProtection` admission step gives
//! every new PersistentVolumeClaim the `kubernetes.io/pvc-protection`
//! finalizer, and every new PersistentVolume `kubernetes.io/pv-protection`.
//! `kubectl delete pvc data` on a claim a running pod mounts therefore only
//! marks it: `kubectl get pvc` shows it `Terminating`, the pod keeps its
//! storage, and the claim goes when the pod does. A volume deleted while
//! bound waits the same way until its claim is gone.
//!
//! ## Layout
//!
//! - `decide.rs`: what to do about one claim or volume, and what "in use"
//!   means (pure).
//! - `pvc.rs`: the claim controller: claims and pods, and the live list it
//!   confirms "unused" with before letting a claim go.
//! - `pv.rs`: the volume controller: volumes only.

pub mod decide;
pub mod pv;
pub mod pvc;

pub use pv::PvProtectionController;
pub use pvc::PvcProtectionController;
