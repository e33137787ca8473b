//! Objects in etcd: keys, revisions and compare-and-swap.
//!
//! etcd is a key-value store with one global, ever-increasing *revision*:
//! every write bumps it, and every key remembers the revision of its last
//! write (`mod_revision`) and of its creation (`create_revision`). Kubernetes
//! builds its whole concurrency model on these two numbers, and so does orc:
//!
//! - an object's `resourceVersion` *is* its `mod_revision`;
//! - create is a transaction "if `create_revision == 0` (the key does not
//!   exist) then put", so two creators of one name cannot both win;
//! - update is "if `mod_revision == the version the client read` then put",
//!   so a writer that read a stale object loses with 409 instead of silently
//!   overwriting someone else's change (optimistic concurrency);
//! - a list's `resourceVersion` is the revision of the read, which a watch
//!   can resume from without missing or repeating an event.
//!
//! Keys are laid out as kube-apiserver lays them out,
//! `/registry/<resource prefix>/<namespace>/<name>` (no namespace for
//! cluster-scoped kinds), where the resource prefix is the plural with a
//! few historical exceptions ([`SPECIAL_PREFIXES`]): so
//! `etcdctl get /registry/secrets/default/db` finds the same key on orc as
//! on Kubernetes. The values are plain JSON, so
//! `etcdctl get --prefix /registry` shows everything. (orc once used
//! `/registry/<group or core>/<plural>/...`; `key_migration.rs` moves a
//! data directory written that way.)
//!
//! Architecture invariant: this module is the only place in orc that talks
//! to etcd. Every other component reads and writes objects through the API,
//! where validation, admission and watch happen.

pub mod key_migration;
pub mod leases;

use etcd_client::{Compare, CompareOp, GetOptions, Txn, TxnOp, TxnOpResponse};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::encryption::{Encryption, OpenError};
pub use leases::Expiry;
use leases::LeaseManager;

use orc_client::resources::Resource;

/// The prefix every key orc writes starts with (Kubernetes' own).
pub const ROOT: &str = "/registry";

/// Why a storage operation failed; handlers turn these into `Status` errors.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// Create found the key already there.
    #[error("key exists")]
    AlreadyExists,
    /// The key is not there.
    #[error("key not found")]
    NotFound,
    /// Create found the parent key (the namespace) missing.
    #[error("parent key not found")]
    ParentNotFound,
    /// The key changed since the revision the caller expected.
    #[error(
        "the object has been modified; please apply your changes to the latest version and try again"
    )]
    Conflict,
    /// The requested revision was compacted away.
    #[error("the requested revision has been compacted")]
    Compacted,
    /// Keys a write meant to take (see [`Reservations`]) were already
    /// held by another object: the write did not happen.
    #[error("already reserved: {}", .0.join(", "))]
    Taken(Vec<String>),
    /// The stored value is not JSON (someone wrote the key by hand).
    #[error("stored value at {key} is not JSON: {error}")]
    Corrupt { key: String, error: String },
    /// The stored value is encrypted and no configured key opens it
    /// (Kubernetes' "corrupt object": the key was removed from
    /// `--encryption-provider-config` before every value it wrote was
    /// rewritten). The message keeps kube-apiserver's words and adds what
    /// to do.
    #[error(
        "StorageError: corrupt object, Code: 7, Key: {key}, ResourceVersion: {revision}, \
         AdditionalErrorMsg: data from the storage is not transformable revision={revision}: \
         {error}{}", unreadable_hint(written_with.as_deref())
    )]
    Unreadable {
        key: String,
        revision: i64,
        error: OpenError,
        /// The prefix of the key that wrote it, when it has one.
        written_with: Option<String>,
    },
    /// etcd reached its space quota and raised the NOSPACE alarm: it
    /// refuses every write until its history is compacted, its file
    /// defragmented and the alarm disarmed (reads still work). The message
    /// keeps etcd's own words (what kube-apiserver passes on) and says
    /// what to do, step by step.
    #[error(
        "etcdserver: mvcc: database space exceeded: etcd is at its space quota (its NOSPACE \
         alarm is raised) and refuses every write until space is freed; reads still work. \
         To free space, compact etcd's history, defragment it, then disarm the alarm: \
         `orc etcd defrag --compact` does all three (with etcdctl: `compact <revision>`, \
         `defrag`, `alarm disarm`), or restart etcd with a larger --quota-backend-bytes"
    )]
    NoSpace,
    /// etcd itself failed.
    #[error("etcd: {0}")]
    Etcd(etcd_client::Error),
}

/// What to do about an unreadable value written with `prefix`.
fn unreadable_hint(prefix: Option<&str>) -> String {
    let key = match prefix {
        Some(prefix) => format!("the key of prefix {prefix:?}"),
        None => "the key it was written with".into(),
    };
    format!(
        " ({key} is not in --encryption-provider-config, or has another secret there: put it \
         back and restart the API server; or, if the data is lost for good, delete the object \
         with the DeleteOptions ignoreStoreReadErrorWithClusterBreakingPotential=true)"
    )
}

impl StorageError {
    /// Whether this is a value that could not be read (undecryptable, or
    /// not JSON): the object exists but cannot be shown.
    pub fn is_unreadable(&self) -> bool {
        matches!(
            self,
            StorageError::Unreadable { .. } | StorageError::Corrupt { .. }
        )
    }
}

impl From<etcd_client::Error> for StorageError {
    fn from(error: etcd_client::Error) -> StorageError {
        if is_no_space(&error) {
            StorageError::NoSpace
        } else {
            StorageError::Etcd(error)
        }
    }
}

/// Whether etcd refused a write for lack of space (`ErrNoSpace`,
/// "etcdserver: mvcc: database space exceeded").
pub fn is_no_space(error: &etcd_client::Error) -> bool {
    error.to_string().contains("database space exceeded")
}

/// Whether `error` says etcd could not be reached at all (connection
/// refused or reset, or gRPC's `Unavailable`), rather than that it refused
/// the request: the request did nothing, and the same one may succeed in a
/// moment, when a restarted etcd is back.
pub fn is_unavailable(error: &etcd_client::Error) -> bool {
    match error {
        etcd_client::Error::TransportError(_) => true,
        etcd_client::Error::GRpcStatus(status) => status.code() == tonic::Code::Unavailable,
        _ => false,
    }
}

/// One page of a list.
#[derive(Debug)]
pub struct Page {
    /// `(key, object)` pairs in key order, each object with its resourceVersion set.
    pub items: Vec<(String, Value)>,
    /// The etcd revision the page was read at.
    pub revision: i64,
    /// Whether etcd has more keys after the last one returned.
    pub more: bool,
    /// Keys in the page whose values could not be read, and why: left out
    /// of `items`, so one undecryptable Secret does not hide the others
    /// (the handler names them in warnings).
    pub unreadable: Vec<(String, StorageError)>,
}

impl Page {
    /// The last key etcd returned, readable or not: where the next page
    /// starts.
    pub fn last_key(&self) -> Option<&str> {
        let readable = self.items.last().map(|(k, _)| k.as_str());
        let unreadable = self.unreadable.last().map(|(k, _)| k.as_str());
        readable.max(unreadable)
    }
}

/// One page of a list as etcd sent it: keys and stored bytes, not yet
/// decoded.
#[derive(Debug)]
pub struct RawPage {
    /// The keys and values in key order.
    pub kvs: Vec<etcd_client::KeyValue>,
    /// The etcd revision the page was read at.
    pub revision: i64,
    /// Whether etcd has more keys after the last one returned.
    pub more: bool,
}

/// Counts of the range reads lists make, per resource: what the test of
/// a filtered LIST with `limit` and `/metrics` read
/// (`orc_storage_list_requests_total`, `orc_storage_list_fetched_objects_total`).
#[derive(Debug, Default)]
struct ListReads {
    /// Resource plural → (range requests sent to etcd, keys they brought
    /// back). A std Mutex: held for one map update, never across an `.await`.
    counts: Mutex<BTreeMap<&'static str, (u64, u64)>>,
}

impl ListReads {
    fn count(&self, prefix: &str, keys: usize) {
        let resource = resource_at(prefix).map_or("other", |r| r.plural);
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let entry = counts.entry(resource).or_default();
        entry.0 += 1;
        entry.1 += keys as u64;
    }

    fn get(&self) -> Vec<(&'static str, u64, u64)> {
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts.iter().map(|(r, (n, k))| (*r, *n, *k)).collect()
    }
}

// ANCHOR: special_prefixes
/// The resources kube-apiserver does not store under their plural: its
/// `SpecialDefaultResourcePrefixes` (pkg/kubeapiserver), kept for the
/// names early Kubernetes gave them. Nodes were "minions"; a Service and
/// its Endpoints shared a `services/` directory; Ingresses lived in the
/// `extensions` group as `ingress`. Every other resource is stored under
/// its plural, whatever its group (k8s.io/apiserver's `ResourcePrefix`):
/// the group is not part of the key.
pub const SPECIAL_PREFIXES: &[(&str, &str, &str)] = &[
    // (group, plural, prefix under /registry)
    ("", "nodes", "minions"),
    ("", "services", "services/specs"),
    ("", "endpoints", "services/endpoints"),
    ("networking.k8s.io", "ingresses", "ingress"),
];
// ANCHOR_END: special_prefixes

/// The directory of a resource under [`ROOT`], as kube-apiserver names it:
/// `pods`, `minions`, `services/specs`.
pub fn resource_prefix(resource: &Resource) -> &'static str {
    SPECIAL_PREFIXES
        .iter()
        .find(|(group, plural, _)| *group == resource.group && *plural == resource.plural)
        .map_or(resource.plural, |(_, _, prefix)| prefix)
}

/// The stored resource whose objects live at etcd key `key` (the one
/// whose [`prefix`] it starts with; no prefix holds another), if any.
pub fn resource_at(key: &str) -> Option<&'static Resource> {
    orc_client::resources::RESOURCES
        .iter()
        .filter(|r| r.is_stored() && !r.is_review())
        .find(|r| key.starts_with(&prefix(r, None)))
}

/// The etcd key prefix of a resource, or of one namespace of it.
pub fn prefix(resource: &Resource, namespace: Option<&str>) -> String {
    let base = format!("{ROOT}/{}/", resource_prefix(resource));
    match namespace {
        Some(ns) if resource.namespaced => format!("{base}{ns}/"),
        _ => base,
    }
}

/// The etcd key of one object.
pub fn key(resource: &Resource, namespace: Option<&str>, name: &str) -> String {
    format!("{}{name}", prefix(resource, namespace))
}

/// Sets `metadata.resourceVersion` to `revision`, as every read does.
pub fn set_resource_version(obj: &mut Value, revision: i64) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert(
            "resourceVersion".into(),
            Value::String(revision.to_string()),
        );
    }
}

/// Parses a stored (plain) value and stamps its revision.
pub fn decode_plain(key: &[u8], value: &[u8], revision: i64) -> Result<Value, StorageError> {
    let mut obj: Value = serde_json::from_slice(value).map_err(|e| StorageError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        error: e.to_string(),
    })?;
    set_resource_version(&mut obj, revision);
    Ok(obj)
}

/// Whether `value` would decode ([`decode_plain`]), checked without
/// building the object: a value that is only looked at, not kept decoded,
/// costs no tree of allocations.
fn parses(key: &[u8], value: &[u8]) -> Result<(), StorageError> {
    serde_json::from_slice::<serde::de::IgnoredAny>(value)
        .map(drop)
        .map_err(|e| StorageError::Corrupt {
            key: String::from_utf8_lossy(key).into_owned(),
            error: e.to_string(),
        })
}

/// What is written to etcd: the object without its resourceVersion, which
/// would be wrong the moment the write succeeds.
fn encode_plain(obj: &Value) -> Vec<u8> {
    // A create never carries a resourceVersion (the handler clears it), so
    // the object is written as it is; only a write that has one pays for a
    // copy to leave it out. This saves one deep copy of every created
    // object (a few dozen small allocations for the benchmark's ConfigMap);
    // too little to stand out of `benches/create.rs`'s noise on its own,
    // but a copy that did nothing.
    if obj.pointer("/metadata/resourceVersion").is_none() {
        return serde_json::to_vec(obj).unwrap_or_default();
    }
    let mut obj = obj.clone();
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("resourceVersion");
    }
    serde_json::to_vec(&obj).unwrap_or_default()
}

/// The largest gRPC message orc accepts from etcd. gRPC's default of 4 MiB
/// is far below a big list (a thousand 10 KiB objects); Kubernetes lifts it
/// to 2 GiB for the same reason.
pub const MAX_ETCD_MESSAGE: usize = i32::MAX as usize;

/// orc's view of etcd. Cheap to clone: `etcd_client::Client` shares one
/// gRPC channel between clones.
#[derive(Clone)]
pub struct Store {
    client: etcd_client::Client,
    /// Which resources are encrypted at rest, with which keys (see
    /// `encryption/`); the default encrypts nothing.
    encryption: Arc<Encryption>,
    /// Range reads of lists, counted (shared by every clone).
    list_reads: Arc<ListReads>,
    /// Keys a streamed LIST met unreadable after its headers had gone out,
    /// so it could not name them in a `Warning`: every later LIST checks
    /// these before its headers (`handlers/listing.rs`). A std Mutex: held
    /// for a set operation, never across an `.await`.
    unreadable_keys: Arc<Mutex<BTreeSet<String>>>,
    /// Values that could not be opened or decoded, by resource: shared
    /// by every clone, rendered on `/metrics`.
    decode_errors: Arc<DecodeErrors>,
    /// The etcd leases of writes that expire (Events): one book for
    /// every clone, so that they all share leases (`storage/leases.rs`).
    leases: Arc<LeaseManager>,
}

/// `apiserver_storage_decode_errors_total{resource}`: Kubernetes' count
/// of stored values it could not read, here also those no key opens.
#[derive(Debug, Default)]
pub struct DecodeErrors {
    /// std's Mutex: held for one increment or one render.
    counts: std::sync::Mutex<std::collections::BTreeMap<String, u64>>,
}

impl DecodeErrors {
    /// Counts one failure for the resource of `key`
    /// (`/registry/<resource>/...`).
    fn count(&self, key: &str) {
        let resource = key
            .strip_prefix("/registry/")
            .and_then(|rest| rest.split('/').next())
            .unwrap_or("unknown")
            .to_string();
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        *counts.entry(resource).or_default() += 1;
    }

    /// The counter in Prometheus' text format.
    pub fn render(&self) -> String {
        let name = "apiserver_storage_decode_errors_total";
        let mut out = String::new();
        orc_client::prometheus::header(
            &mut out,
            name,
            "Stored values that could not be opened or decoded, by resource.",
            "counter",
        );
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        for (resource, n) in counts.iter() {
            out.push_str(&format!("{name}{{resource=\"{resource}\"}} {n}\n"));
        }
        out
    }
}

impl Store {
    /// Connects to etcd at `endpoint` (`http://127.0.0.1:2379`, or
    /// `unix:///path/to/socket`, see `etcd_socket.rs`).
    pub async fn connect(endpoint: &str) -> Result<Store, StorageError> {
        let client = crate::etcd_socket::connect(endpoint).await?;
        Ok(Store {
            client,
            encryption: Arc::default(),
            decode_errors: Arc::default(),
            list_reads: Arc::default(),
            unreadable_keys: Arc::default(),
            leases: Arc::default(),
        })
    }

    /// Encrypts what `encryption` covers from now on.
    pub fn with_encryption(mut self, encryption: Encryption) -> Store {
        self.encryption = Arc::new(encryption);
        self
    }

    /// The options of a put that expires as `expiry` says: with a lease
    /// (granted or reused, see `storage/leases.rs`), or none.
    async fn put_options(
        &self,
        expiry: Expiry,
    ) -> Result<Option<etcd_client::PutOptions>, StorageError> {
        let lease = self.leases.lease_for(&self.client, expiry).await?;
        Ok(lease.map(|id| etcd_client::PutOptions::new().with_lease(id)))
    }

    /// Runs the transaction `txn` makes of a put of `value` at `key` that
    /// expires as `expiry` says. A lease the book remembers can be gone
    /// from etcd before its time (revoked by hand, or a data directory
    /// restored from a snapshot taken before it was granted): etcd then
    /// refuses the put, and every write would fail until the book moved
    /// on. So the book forgets it and the put runs once more, on a lease
    /// granted for it.
    async fn put_txn(
        &self,
        key: &str,
        value: Vec<u8>,
        expiry: Expiry,
        txn: impl Fn(TxnOp) -> Txn,
    ) -> Result<etcd_client::TxnResponse, StorageError> {
        if expiry.seconds().is_none() {
            return Ok(self.kv().txn(txn(TxnOp::put(key, value, None))).await?);
        }
        let put = TxnOp::put(key, value.clone(), self.put_options(expiry).await?);
        match self.kv().txn(txn(put)).await {
            Err(error) if leases::is_lease_lost(&error) => {
                self.leases.forget().await;
                let put = TxnOp::put(key, value, self.put_options(expiry).await?);
                Ok(self.kv().txn(txn(put)).await?)
            }
            result => Ok(result?),
        }
    }

    /// The bytes to store for `obj` at `key`: JSON, sealed when the
    /// encryption configuration covers its resource.
    fn encode(&self, key: &str, obj: &Value) -> Vec<u8> {
        self.encryption.seal(key, &encode_plain(obj))
    }

    /// The object stored at `key`, opened if sealed, with its revision.
    /// Every failure is counted in [`Store::decode_errors`].
    pub fn decode(&self, key: &[u8], value: &[u8], revision: i64) -> Result<Value, StorageError> {
        self.counted(
            key,
            self.open_sealed(key, value, revision)
                .and_then(|plain| decode_plain(key, &plain, revision)),
        )
    }

    /// The JSON stored at `key`, opened if sealed, once it is known to
    /// decode (the object is parsed and let go): what the watch hub keeps
    /// of an event, to be decoded again by whoever needs its fields
    /// ([`decode_plain`]). Failures are counted as [`Store::decode`]'s.
    pub fn open(&self, key: &[u8], value: &[u8], revision: i64) -> Result<Vec<u8>, StorageError> {
        let opened = self.open_sealed(key, value, revision).and_then(|plain| {
            parses(key, &plain)?;
            Ok(plain)
        });
        self.counted(key, opened)
    }

    /// Whether the value stored at `key` reads: [`Store::open`] without
    /// keeping the plain bytes (the watch cache's fill, which keeps the
    /// stored ones). Failures are counted as [`Store::decode`]'s.
    pub fn check(&self, key: &[u8], value: &[u8], revision: i64) -> Result<(), StorageError> {
        let checked = self
            .open_sealed(key, value, revision)
            .and_then(|plain| parses(key, &plain));
        self.counted(key, checked)
    }

    /// The plain bytes of a stored value.
    fn open_sealed(
        &self,
        key: &[u8],
        value: &[u8],
        revision: i64,
    ) -> Result<Vec<u8>, StorageError> {
        let at = String::from_utf8_lossy(key);
        self.encryption
            .open(&at, value)
            .map_err(|error| StorageError::Unreadable {
                key: at.into_owned(),
                revision,
                error,
                written_with: crate::encryption::written_with(value),
            })
    }

    /// `read`, its failure counted against `key`'s resource.
    fn counted<T>(&self, key: &[u8], read: Result<T, StorageError>) -> Result<T, StorageError> {
        if read.is_err() {
            self.decode_errors.count(&String::from_utf8_lossy(key));
        }
        read
    }

    /// The count of values that could not be read, for `/metrics`.
    pub fn decode_errors(&self) -> &DecodeErrors {
        &self.decode_errors
    }

    /// A KV client that accepts messages up to [`MAX_ETCD_MESSAGE`].
    fn kv(&self) -> etcd_client::KvClient {
        self.client
            .kv_client()
            .max_decoding_message_size(MAX_ETCD_MESSAGE)
    }

    /// The underlying client, for the watch hub.
    pub fn client(&self) -> etcd_client::Client {
        self.client.clone()
    }

    /// Reads one object; `NotFound` if absent.
    pub async fn get(&self, key: &str) -> Result<Value, StorageError> {
        self.get_with_staleness(key).await.map(|(obj, _)| obj)
    }

    /// [`get`](Self::get), and whether the stored bytes were written with
    /// an encryption key other than the one that writes now (the
    /// configuration changed since): such an object is rewritten even by
    /// an update that changes nothing in it.
    pub async fn get_with_staleness(&self, key: &str) -> Result<(Value, bool), StorageError> {
        let response = self.kv().get(key, None).await?;
        let kv = response.kvs().first().ok_or(StorageError::NotFound)?;
        let stale = self
            .encryption
            .is_stale(&String::from_utf8_lossy(kv.key()), kv.value());
        Ok((self.decode(kv.key(), kv.value(), kv.mod_revision())?, stale))
    }

    // ANCHOR: create
    /// Writes a new object; `AlreadyExists` if the key is taken. With
    /// `parent`, the key of the object's namespace, the same transaction
    /// checks that the namespace exists: one round trip to etcd instead of
    /// two. The API server passes it only for namespaces its cache does not
    /// know yet (`namespace_lifecycle.rs`).
    ///
    /// With [`Expiry::After`], the key is put with an etcd lease and etcd
    /// deletes it when the lease runs out (Events, `storage/leases.rs`).
    ///
    /// Takes the object by value and hands the same one back with its
    /// resourceVersion set, rather than answering a copy: the caller has no
    /// further use for it.
    pub async fn create(
        &self,
        key: &str,
        mut obj: Value,
        parent: Option<&str>,
        expiry: Expiry,
    ) -> Result<Value, StorageError> {
        // create_revision is 0 only for a key that does not exist.
        let mut conditions = vec![Compare::create_revision(key, CompareOp::Equal, 0)];
        let mut on_failure = vec![TxnOp::get(key, None)];
        if let Some(parent) = parent {
            conditions.push(Compare::create_revision(parent, CompareOp::Greater, 0));
            on_failure.push(TxnOp::get(parent, None));
        }
        let txn = |put| {
            Txn::new()
                .when(conditions.clone())
                .and_then([put])
                .or_else(on_failure.clone())
        };
        let response = self
            .put_txn(key, self.encode(key, &obj), expiry, txn)
            .await?;
        if !response.succeeded() {
            let found: Vec<bool> = response
                .op_responses()
                .into_iter()
                .map(|op| matches!(op, TxnOpResponse::Get(get) if !get.kvs().is_empty()))
                .collect();
            return Err(match found.as_slice() {
                [_, false] => StorageError::ParentNotFound,
                _ => StorageError::AlreadyExists,
            });
        }
        let revision = response.header().map(|h| h.revision()).unwrap_or(0);
        set_resource_version(&mut obj, revision);
        Ok(obj)
    }
    // ANCHOR_END: create

    // ANCHOR: update
    /// Replaces an object if it is still at `revision`; `Conflict` if someone
    /// wrote it since, `NotFound` if it was deleted. The new value expires
    /// as `expiry` says, counted from now (an update of an Event gives it
    /// a whole TTL again, as in Kubernetes); [`Expiry::Never`] takes the key
    /// off any lease it had.
    pub async fn update(
        &self,
        key: &str,
        obj: &Value,
        revision: i64,
        expiry: Expiry,
    ) -> Result<Value, StorageError> {
        let txn = |put| {
            Txn::new()
                .when([Compare::mod_revision(key, CompareOp::Equal, revision)])
                .and_then([put])
                // On failure, read the key in the same transaction to tell a
                // conflict (key exists) from a deletion (key gone).
                .or_else([TxnOp::get(key, None)])
        };
        let response = self
            .put_txn(key, self.encode(key, obj), expiry, txn)
            .await?;
        if !response.succeeded() {
            return Err(self.why_failed(response.op_responses()));
        }
        let written = response.header().map(|h| h.revision()).unwrap_or(0);
        let mut stored = obj.clone();
        set_resource_version(&mut stored, written);
        Ok(stored)
    }
    // ANCHOR_END: update

    /// Deletes an object if it is still at `revision`; answers the revision
    /// of the delete, which is the resourceVersion watchers see on DELETED.
    pub async fn delete(&self, key: &str, revision: i64) -> Result<i64, StorageError> {
        let txn = Txn::new()
            .when([Compare::mod_revision(key, CompareOp::Equal, revision)])
            .and_then([TxnOp::delete(key, None)])
            .or_else([TxnOp::get(key, None)]);
        let response = self.kv().txn(txn).await?;
        if !response.succeeded() {
            return Err(self.why_failed(response.op_responses()));
        }
        Ok(response.header().map(|h| h.revision()).unwrap_or(0))
    }

    /// Deletes the object at `key` whatever its value, if it is still at
    /// the revision it has now: the unsafe delete of an object that cannot
    /// be read (so neither its finalizers nor its preconditions can be
    /// checked). Answers the revision of the delete.
    pub async fn delete_unreadable(&self, key: &str) -> Result<i64, StorageError> {
        let response = self.kv().get(key, None).await?;
        let kv = response.kvs().first().ok_or(StorageError::NotFound)?;
        self.delete(key, kv.mod_revision()).await
    }

    /// Deletes every key under `prefix` in one request; answers how many.
    pub async fn delete_prefix(&self, prefix: &str) -> Result<i64, StorageError> {
        let options = etcd_client::DeleteOptions::new().with_prefix();
        let response = self.kv().delete(prefix, Some(options)).await?;
        Ok(response.deleted())
    }

    fn why_failed(&self, ops: Vec<TxnOpResponse>) -> StorageError {
        match ops.into_iter().next() {
            Some(TxnOpResponse::Get(get)) if !get.kvs().is_empty() => StorageError::Conflict,
            _ => StorageError::NotFound,
        }
    }

    // ANCHOR: list
    /// Reads up to `limit` keys (0: all) from `start` (inclusive) to the end
    /// of `prefix`, at `revision` (0: the latest). Reading later pages at the
    /// first page's revision gives the client one consistent snapshot, the
    /// way Kubernetes' `continue` tokens do.
    pub async fn list(
        &self,
        prefix: &str,
        start: &str,
        revision: i64,
        limit: i64,
    ) -> Result<Page, StorageError> {
        let raw = self.list_raw(prefix, start, revision, limit).await?;
        let mut items = Vec::with_capacity(raw.kvs.len());
        let mut unreadable = Vec::new();
        for kv in &raw.kvs {
            let key = String::from_utf8_lossy(kv.key()).into_owned();
            match self.decode(kv.key(), kv.value(), kv.mod_revision()) {
                Ok(obj) => items.push((key, obj)),
                // Set aside, not fatal: the rest of the list is still true.
                Err(error) => unreadable.push((key, error)),
            }
        }
        Ok(Page {
            items,
            revision: raw.revision,
            more: raw.more,
            unreadable,
        })
    }
    // ANCHOR_END: list

    // ANCHOR: list_raw
    /// [`Store::list`] without decoding: the stored bytes of up to `limit`
    /// keys, for a reader that decodes one at a time and lets each go
    /// (the streamed LIST, `handlers/listing.rs`), so a page costs its
    /// bytes once rather than bytes plus a JSON tree per object.
    pub async fn list_raw(
        &self,
        prefix: &str,
        start: &str,
        revision: i64,
        limit: i64,
    ) -> Result<RawPage, StorageError> {
        let from = if start.is_empty() { prefix } else { start };
        let options = GetOptions::new()
            .with_range(prefix_end(prefix))
            .with_revision(revision)
            .with_limit(limit);
        let mut response = match self.kv().get(from, Some(options)).await {
            Ok(response) => response,
            Err(e) if is_compacted(&e) => return Err(StorageError::Compacted),
            Err(e) => return Err(e.into()),
        };
        // For a read at an old revision the header carries etcd's *current*
        // revision; the page was read at the one asked for.
        let revision = if revision > 0 {
            revision
        } else {
            response.header().map(|h| h.revision()).unwrap_or(0)
        };
        let kvs = response.take_kvs();
        self.list_reads.count(prefix, kvs.len());
        Ok(RawPage {
            kvs,
            revision,
            more: response.more(),
        })
    }
    // ANCHOR_END: list_raw

    /// Per resource plural, how many range reads lists have made and how
    /// many keys they fetched, since the server started.
    pub fn list_reads(&self) -> Vec<(&'static str, u64, u64)> {
        self.list_reads.get()
    }

    /// Remembers that the value at `key` could not be read by a LIST that
    /// had already sent its headers (see `handlers/listing.rs`).
    pub fn remember_unreadable(&self, key: &str) {
        self.unreadable_keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.to_string());
    }

    /// Forgets `key`: it is readable again, or gone.
    pub fn forget_unreadable(&self, key: &str) {
        self.unreadable_keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }

    /// The remembered unreadable keys under `prefix`, from `start` on.
    pub fn known_unreadable(&self, prefix: &str, start: &str) -> Vec<String> {
        let keys = self
            .unreadable_keys
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        keys.range(start.max(prefix).to_string()..)
            .take_while(|k| k.starts_with(prefix))
            .cloned()
            .collect()
    }

    /// The object at `key` as it was at `revision`: `Ok(None)` when the
    /// key did not exist then.
    pub async fn get_at(&self, key: &str, revision: i64) -> Result<Option<Value>, StorageError> {
        let options = GetOptions::new().with_revision(revision);
        let response = match self.kv().get(key, Some(options)).await {
            Ok(response) => response,
            Err(e) if is_compacted(&e) => return Err(StorageError::Compacted),
            Err(e) => return Err(e.into()),
        };
        match response.kvs().first() {
            None => Ok(None),
            Some(kv) => self
                .decode(kv.key(), kv.value(), kv.mod_revision())
                .map(Some),
        }
    }

    /// The current etcd revision, and whether `revision` can still be read
    /// (it has not been compacted): a watch from it is possible.
    pub async fn check_revision(&self, revision: i64) -> Result<i64, StorageError> {
        let options = GetOptions::new()
            .with_revision(revision)
            .with_limit(1)
            .with_keys_only();
        match self.kv().get(ROOT, Some(options)).await {
            Ok(response) => Ok(response.header().map(|h| h.revision()).unwrap_or(0)),
            Err(e) if is_compacted(&e) => Err(StorageError::Compacted),
            Err(e) => Err(e.into()),
        }
    }

    /// The revision of the newest write among the keys under `prefix`
    /// now (0 when there are none): the last put a watch replaying their
    /// history must deliver before it has caught up with them. etcd sorts
    /// the whole range to answer, keys only, and sends one key.
    pub async fn newest_under(&self, prefix: &str) -> Result<i64, StorageError> {
        let options = GetOptions::new()
            .with_range(prefix_end(prefix))
            .with_sort(
                etcd_client::SortTarget::Mod,
                etcd_client::SortOrder::Descend,
            )
            .with_limit(1)
            .with_keys_only();
        let response = self.kv().get(prefix, Some(options)).await?;
        Ok(response.kvs().first().map_or(0, |kv| kv.mod_revision()))
    }

    /// The current etcd revision.
    pub async fn current_revision(&self) -> Result<i64, StorageError> {
        self.check_revision(0).await
    }
}

/// One key a write holds besides its object, and the value that names the
/// holder (so a release can check it still holds it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    /// The key, e.g. `/registry/ranges/serviceips/10.96.0.12`.
    pub key: String,
    /// What is stored under it: who holds it.
    pub holder: Vec<u8>,
}

/// Keys a write takes or gives back *in the same transaction* as its
/// object.
///
/// A Service's cluster IP and node ports are such keys, one per value
/// (`services/allocator.rs`): the Service and the keys it holds are
/// written together or not at all, so two concurrent creates can never
/// both get one address, and a crash can never leave an address taken by
/// nobody. (Kubernetes kept a bitmap of the whole range in one key, then
/// one `IPAddress` object per address; a key per value is the second idea
/// without the object.)
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reservations {
    /// Keys to create; the write fails with [`StorageError::Taken`] when
    /// any of them exists.
    pub take: Vec<Reservation>,
    /// Keys to delete, each only while it still names the same holder: a
    /// key someone else holds is left alone, never freed by mistake.
    pub release: Vec<Reservation>,
}

impl Reservations {
    /// Whether there is nothing to take or release.
    pub fn is_empty(&self) -> bool {
        self.take.is_empty() && self.release.is_empty()
    }

    /// The comparisons, the extra operations and the reads that explain a
    /// failure, added to a write's own.
    fn extend(&self, when: &mut Vec<Compare>, then: &mut Vec<TxnOp>, or_else: &mut Vec<TxnOp>) {
        for take in &self.take {
            when.push(Compare::create_revision(
                take.key.as_str(),
                CompareOp::Equal,
                0,
            ));
            then.push(TxnOp::put(take.key.as_str(), take.holder.clone(), None));
            or_else.push(TxnOp::get(take.key.as_str(), None));
        }
        for release in &self.release {
            // A nested transaction: the delete happens only if the key
            // still holds this holder, and its failure fails nothing else.
            let only_if_ours = Txn::new()
                .when([Compare::value(
                    release.key.as_str(),
                    CompareOp::Equal,
                    release.holder.clone(),
                )])
                .and_then([TxnOp::delete(release.key.as_str(), None)]);
            then.push(TxnOp::txn(only_if_ours));
        }
    }

    /// The keys of `take` that the failed transaction found existing;
    /// `reads` are its `or_else` answers for them, in order.
    fn taken(&self, reads: &[TxnOpResponse]) -> Vec<String> {
        self.take
            .iter()
            .zip(reads)
            .filter(|(_, read)| matches!(read, TxnOpResponse::Get(get) if !get.kvs().is_empty()))
            .map(|(take, _)| take.key.clone())
            .collect()
    }
}

/// What a write with reservations does to its object.
#[derive(Clone, Copy)]
enum Write<'a> {
    /// Create it (the key must not exist), under `parent` if given.
    Create {
        obj: &'a Value,
        parent: Option<&'a str>,
    },
    /// Replace it if still at `revision`.
    Update { obj: &'a Value, revision: i64 },
    /// Delete it if still at `revision`.
    Delete { revision: i64 },
}

impl Store {
    // ANCHOR: reserving
    /// Writes the object at `key` and takes and releases `reservations`,
    /// all in one etcd transaction: either everything happens or nothing.
    /// Answers the revision of the write.
    async fn write_reserving(
        &self,
        key: &str,
        write: Write<'_>,
        reservations: &Reservations,
    ) -> Result<i64, StorageError> {
        let (mut when, mut then) = match &write {
            Write::Create { obj, .. } => (
                vec![Compare::create_revision(key, CompareOp::Equal, 0)],
                vec![TxnOp::put(key, self.encode(key, obj), None)],
            ),
            Write::Update { obj, revision } => (
                vec![Compare::mod_revision(key, CompareOp::Equal, *revision)],
                vec![TxnOp::put(key, self.encode(key, obj), None)],
            ),
            Write::Delete { revision } => (
                vec![Compare::mod_revision(key, CompareOp::Equal, *revision)],
                vec![TxnOp::delete(key, None)],
            ),
        };
        // On failure, read back every key a condition is about, to say which
        // one failed: the object's, the namespace's, then the reservations'.
        let mut or_else = vec![TxnOp::get(key, None)];
        let parent = match write {
            Write::Create { parent, .. } => parent,
            _ => None,
        };
        if let Some(parent) = parent {
            when.push(Compare::create_revision(parent, CompareOp::Greater, 0));
            or_else.push(TxnOp::get(parent, None));
        }
        reservations.extend(&mut when, &mut then, &mut or_else);
        let txn = Txn::new().when(when).and_then(then).or_else(or_else);
        let response = self.kv().txn(txn).await?;
        if response.succeeded() {
            return Ok(response.header().map(|h| h.revision()).unwrap_or(0));
        }
        let reads = response.op_responses();
        let found = |read: Option<&TxnOpResponse>| match read {
            Some(TxnOpResponse::Get(get)) => get.kvs().first().map(|kv| kv.mod_revision()),
            _ => None,
        };
        let object = found(reads.first());
        let object_failed = match write {
            Write::Create { .. } => object.is_some(),
            Write::Update { revision, .. } | Write::Delete { revision } => object != Some(revision),
        };
        if object_failed {
            return Err(match (write, object) {
                (Write::Create { .. }, _) => StorageError::AlreadyExists,
                (_, Some(_)) => StorageError::Conflict,
                (_, None) => StorageError::NotFound,
            });
        }
        let skip = 1 + usize::from(parent.is_some());
        if parent.is_some() && found(reads.get(1)).is_none() {
            return Err(StorageError::ParentNotFound);
        }
        Err(StorageError::Taken(
            reservations.taken(reads.get(skip..).unwrap_or_default()),
        ))
    }
    // ANCHOR_END: reserving

    /// [`Store::create`] that also takes and releases `reservations`.
    pub async fn create_reserving(
        &self,
        key: &str,
        mut obj: Value,
        parent: Option<&str>,
        reservations: &Reservations,
    ) -> Result<Value, StorageError> {
        let write = Write::Create { obj: &obj, parent };
        let revision = self.write_reserving(key, write, reservations).await?;
        set_resource_version(&mut obj, revision);
        Ok(obj)
    }

    /// [`Store::update`] that also takes and releases `reservations`.
    pub async fn update_reserving(
        &self,
        key: &str,
        obj: &Value,
        revision: i64,
        reservations: &Reservations,
    ) -> Result<Value, StorageError> {
        let write = Write::Update { obj, revision };
        let written = self.write_reserving(key, write, reservations).await?;
        let mut stored = obj.clone();
        set_resource_version(&mut stored, written);
        Ok(stored)
    }

    /// [`Store::delete`] that also releases `reservations`.
    pub async fn delete_reserving(
        &self,
        key: &str,
        revision: i64,
        reservations: &Reservations,
    ) -> Result<i64, StorageError> {
        self.write_reserving(key, Write::Delete { revision }, reservations)
            .await
    }

    /// Every key under `prefix` with its value and its last write's
    /// revision, read at `revision` (0: the latest). These are plain
    /// keys, not objects: the holders of reservations.
    pub async fn raw_range_at(
        &self,
        prefix: &str,
        revision: i64,
    ) -> Result<Vec<(String, Vec<u8>, i64)>, StorageError> {
        let options = GetOptions::new()
            .with_range(prefix_end(prefix))
            .with_revision(revision);
        let response = self.kv().get(prefix, Some(options)).await?;
        Ok(response
            .kvs()
            .iter()
            .map(|kv| {
                let key = String::from_utf8_lossy(kv.key()).into_owned();
                (key, kv.value().to_vec(), kv.mod_revision())
            })
            .collect())
    }

    /// Writes a plain key if it does not exist; whether it did.
    pub async fn put_if_absent(&self, key: &str, value: Vec<u8>) -> Result<bool, StorageError> {
        let txn = Txn::new()
            .when([Compare::create_revision(key, CompareOp::Equal, 0)])
            .and_then([TxnOp::put(key, value, None)]);
        Ok(self.kv().txn(txn).await?.succeeded())
    }

    /// Deletes a plain key if it is still at `revision`; whether it did.
    pub async fn delete_if_unchanged(
        &self,
        key: &str,
        revision: i64,
    ) -> Result<bool, StorageError> {
        let txn = Txn::new()
            .when([Compare::mod_revision(key, CompareOp::Equal, revision)])
            .and_then([TxnOp::delete(key, None)]);
        Ok(self.kv().txn(txn).await?.succeeded())
    }
}

/// Whether etcd refused a read because the revision was compacted.
pub fn is_compacted(error: &etcd_client::Error) -> bool {
    error.to_string().contains("compacted")
}

/// The first key after every key that starts with `prefix`: etcd ranges are
/// half-open `[key, range_end)`, so "all keys with this prefix" is
/// `[prefix, prefix with its last byte plus one)`.
pub fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

#[cfg(test)]
mod tests {
    use super::*;
    use orc_client::resources::{RESOURCES, lookup};

    /// Every stored resource orc serves and where kube-apiserver keeps
    /// it, each checked against Kubernetes' storage factory
    /// (`SpecialDefaultResourcePrefixes`, else the plural): `(group,
    /// plural, key of an object named "x" in namespace "ns", or of the
    /// cluster-scoped object "x")`. One row per line, as a table.
    #[rustfmt::skip]
    const KUBERNETES_KEYS: &[(&str, &str, &str)] = &[
        ("", "namespaces", "/registry/namespaces/x"),
        ("", "nodes", "/registry/minions/x"),
        ("", "pods", "/registry/pods/ns/x"),
        ("", "services", "/registry/services/specs/ns/x"),
        ("", "endpoints", "/registry/services/endpoints/ns/x"),
        ("", "configmaps", "/registry/configmaps/ns/x"),
        ("", "secrets", "/registry/secrets/ns/x"),
        ("", "events", "/registry/events/ns/x"),
        ("", "serviceaccounts", "/registry/serviceaccounts/ns/x"),
        ("", "persistentvolumes", "/registry/persistentvolumes/x"),
        ("", "persistentvolumeclaims", "/registry/persistentvolumeclaims/ns/x"),
        ("coordination.k8s.io", "leases", "/registry/leases/ns/x"),
        ("scheduling.k8s.io", "priorityclasses", "/registry/priorityclasses/x"),
        ("policy", "poddisruptionbudgets", "/registry/poddisruptionbudgets/ns/x"),
        ("apps", "deployments", "/registry/deployments/ns/x"),
        ("apps", "replicasets", "/registry/replicasets/ns/x"),
        ("apps", "daemonsets", "/registry/daemonsets/ns/x"),
        ("apps", "statefulsets", "/registry/statefulsets/ns/x"),
        ("apps", "controllerrevisions", "/registry/controllerrevisions/ns/x"),
        ("batch", "jobs", "/registry/jobs/ns/x"),
        ("batch", "cronjobs", "/registry/cronjobs/ns/x"),
        ("autoscaling", "horizontalpodautoscalers", "/registry/horizontalpodautoscalers/ns/x"),
        ("networking.k8s.io", "ingresses", "/registry/ingress/ns/x"),
        ("networking.k8s.io", "ingressclasses", "/registry/ingressclasses/x"),
        ("discovery.k8s.io", "endpointslices", "/registry/endpointslices/ns/x"),
        ("storage.k8s.io", "storageclasses", "/registry/storageclasses/x"),
        ("rbac.authorization.k8s.io", "clusterroles", "/registry/clusterroles/x"),
        ("rbac.authorization.k8s.io", "clusterrolebindings", "/registry/clusterrolebindings/x"),
        ("rbac.authorization.k8s.io", "roles", "/registry/roles/ns/x"),
        ("rbac.authorization.k8s.io", "rolebindings", "/registry/rolebindings/ns/x"),
    ];

    /// The rows etcd holds: not the reviews (never stored) nor the
    /// versions served by conversion (stored as another row).
    fn stored() -> impl Iterator<Item = &'static Resource> {
        RESOURCES.iter().filter(|r| r.is_stored() && !r.is_review())
    }

    #[test]
    fn keys_follow_the_kubernetes_layout() {
        for r in stored() {
            let expected = KUBERNETES_KEYS
                .iter()
                .find(|(group, plural, _)| *group == r.group && *plural == r.plural)
                .unwrap_or_else(|| panic!("{}/{} has no checked key: add it", r.group, r.plural))
                .2;
            assert_eq!(key(r, Some("ns"), "x"), expected, "{}", r.plural);
        }
        // And every checked row is served: the table holds no stale line.
        for (group, plural, _) in KUBERNETES_KEYS {
            assert!(
                stored().any(|r| r.group == *group && r.plural == *plural),
                "{group}/{plural}"
            );
        }
        let pods = lookup("", "v1", "pods").unwrap();
        assert_eq!(prefix(pods, None), "/registry/pods/");
        assert_eq!(prefix(pods, Some("default")), "/registry/pods/default/");
    }

    #[test]
    fn no_resource_prefix_holds_another() {
        // A list or watch of one resource's prefix must never see another's
        // keys: `/registry/services/specs/` and `/registry/services/endpoints/`
        // share a parent, but neither holds the other.
        for a in stored() {
            for b in stored().filter(|b| b != &a) {
                assert!(
                    !prefix(b, None).starts_with(&prefix(a, None)),
                    "{} inside {}",
                    prefix(b, None),
                    prefix(a, None)
                );
            }
        }
    }

    #[test]
    fn a_key_names_its_resource() {
        let at = |key: &str| resource_at(key).map(|r| (r.group, r.plural));
        assert_eq!(at("/registry/secrets/default/db"), Some(("", "secrets")));
        assert_eq!(at("/registry/minions/n1"), Some(("", "nodes")));
        assert_eq!(
            at("/registry/services/specs/default/web"),
            Some(("", "services"))
        );
        assert_eq!(
            at("/registry/services/endpoints/default/web"),
            Some(("", "endpoints"))
        );
        assert_eq!(
            at("/registry/deployments/default/web"),
            Some(("apps", "deployments"))
        );
        assert_eq!(
            at("/registry/ingress/default/i"),
            Some(("networking.k8s.io", "ingresses"))
        );
        assert_eq!(at("/registry/ranges/serviceips"), None);
        assert_eq!(at("/orc/key-layout"), None);
        // Every stored resource is found again from its own keys.
        for r in stored() {
            let found = resource_at(&key(r, Some("ns"), "x")).unwrap();
            assert_eq!((found.group, found.plural), (r.group, r.plural));
        }
    }

    #[test]
    fn prefix_end_bumps_the_last_byte() {
        assert_eq!(prefix_end("/a/"), b"/a0".to_vec());
    }
}
