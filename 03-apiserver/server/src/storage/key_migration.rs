//! A one-time move of a data directory from orc's first key layout to
//! Kubernetes'.
//!
//! orc used to store objects at `/registry/<group or core>/<plural>/...`
//! (`/registry/core/secrets/default/db`); kube-apiserver stores them at
//! `/registry/<resource prefix>/...` (`/registry/secrets/default/db`, see
//! [`SPECIAL_PREFIXES`](super::SPECIAL_PREFIXES)). An API server started
//! on etcd data written the old way runs [`migrate`] before anything else
//! reads etcd: each object moves to its new key in one transaction, the
//! value byte for byte (a sealed Secret stays sealed: orc's cipher does not
//! bind a value to its key), and a marker key records that the move is
//! done, so later starts skip it after one read.
//!
//! What moving costs: a moved object's resourceVersion changes (it is the
//! new key's etcd revision). No watch can span the move (the migration
//! runs while the server does not serve yet), but a client that kept a
//! resourceVersion, a continue token or an informer's cache across the
//! restart finds them stale: an update with an old resourceVersion gets 409
//! and is retried on a fresh read; a watch resumed from an old revision
//! sees every moved object once more as ADDED; an old continue token is
//! refused and the list starts again. The old keys' history stays in etcd
//! until the next compaction.

use etcd_client::{Compare, CompareOp, GetOptions, Txn, TxnOp, TxnOpResponse};

use super::{ROOT, StorageError, Store, prefix, prefix_end};
use orc_client::resources::{RESOURCES, Resource};

/// The key that says the data is in Kubernetes' layout. It lives outside
/// `/registry`, so `etcdctl get --prefix /registry` lists what it lists on
/// Kubernetes.
pub const MARKER: &str = "/orc/key-layout";

/// The marker's value: the name of the layout.
pub const LAYOUT: &str = "kubernetes";

/// How many keys one read of the old layout takes.
const PAGE: i64 = 500;

/// Where orc's first layout kept a resource: `/registry/core/pods/`,
/// `/registry/apps/deployments/`.
pub fn old_prefix(resource: &Resource) -> String {
    let group = if resource.group.is_empty() {
        "core"
    } else {
        resource.group
    };
    format!("{ROOT}/{group}/{}/", resource.plural)
}

/// What [`migrate`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Migration {
    /// The marker was there: nothing else was read or written.
    pub already_done: bool,
    /// Each resource that had keys in the old layout.
    pub moved: Vec<Moved>,
    /// Old keys left where they were because their new key already held
    /// an object (someone wrote the new layout by hand): the one at the
    /// new key is what the API serves; the old one is kept, not lost.
    pub kept: Vec<String>,
}

/// One resource's move.
#[derive(Debug, PartialEq, Eq)]
pub struct Moved {
    /// `/registry/core/nodes/`
    pub from: String,
    /// `/registry/minions/`
    pub to: String,
    /// How many objects moved.
    pub count: usize,
}

/// How one key's move ended.
enum Step {
    Moved,
    /// Another API server on the same etcd moved (or deleted) it first.
    Gone,
    /// The new key holds an object already.
    Occupied,
}

// ANCHOR: migrate
/// Moves every object still in the old layout to Kubernetes' layout, then
/// writes [`MARKER`]; does nothing if the marker is there. Safe to run from
/// several API servers at once, and to run again after a crash half-way
/// (the marker is written last).
pub async fn migrate(store: &Store) -> Result<Migration, StorageError> {
    let mut migration = Migration::default();
    if !store.kv().get(MARKER, None).await?.kvs().is_empty() {
        migration.already_done = true;
        return Ok(migration);
    }
    // Every row etcd holds; the reviews are never stored, and an older
    // version served by conversion is stored as its storage version's row.
    for resource in RESOURCES.iter().filter(|r| r.is_stored() && !r.is_review()) {
        let (from, to) = (old_prefix(resource), prefix(resource, None));
        let count = move_prefix(store, &from, &to, &mut migration.kept).await?;
        if count > 0 {
            tracing::info!(%from, %to, count, "moved objects to Kubernetes' key layout");
            migration.moved.push(Moved { from, to, count });
        }
    }
    // Written only if absent: a second server racing this one writes it once.
    let mark = Txn::new()
        .when([Compare::create_revision(MARKER, CompareOp::Equal, 0)])
        .and_then([TxnOp::put(MARKER, LAYOUT, None)]);
    store.kv().txn(mark).await?;
    Ok(migration)
}
// ANCHOR_END: migrate

/// Moves every key under `from` to the same path under `to`, a page at a
/// time; answers how many moved.
async fn move_prefix(
    store: &Store,
    from: &str,
    to: &str,
    kept: &mut Vec<String>,
) -> Result<usize, StorageError> {
    let mut count = 0;
    let mut start = from.as_bytes().to_vec();
    loop {
        let options = GetOptions::new()
            .with_range(prefix_end(from))
            .with_limit(PAGE);
        let page = store.kv().get(start.clone(), Some(options)).await?;
        for kv in page.kvs() {
            let old = String::from_utf8_lossy(kv.key()).into_owned();
            let new = format!("{to}{}", &old[from.len()..]);
            match move_key(store, &old, &new, kv.value(), kv.mod_revision()).await? {
                Step::Moved => count += 1,
                Step::Gone => {}
                Step::Occupied => {
                    tracing::warn!(
                        %old, %new,
                        "not moved: the new key already holds an object; the old key is kept \
                         (compare them with etcdctl get and delete the one you do not want)"
                    );
                    kept.push(old);
                }
            }
        }
        // Kept keys stay in the range: the next page starts after the last.
        match page.kvs().last() {
            Some(last) if page.more() => {
                start = last.key().to_vec();
                start.push(0);
            }
            _ => return Ok(count),
        }
    }
}

// ANCHOR: move_key
/// Moves one object in one transaction: "if the old key is still at the
/// revision read and the new key does not exist, put the value at the new
/// key and delete the old one". Either both happen or neither, so a crash
/// never leaves an object twice or nowhere.
async fn move_key(
    store: &Store,
    old: &str,
    new: &str,
    value: &[u8],
    revision: i64,
) -> Result<Step, StorageError> {
    let (mut value, mut revision) = (value.to_vec(), revision);
    loop {
        let txn = Txn::new()
            .when([
                Compare::mod_revision(old, CompareOp::Equal, revision),
                Compare::create_revision(new, CompareOp::Equal, 0),
            ])
            .and_then([
                TxnOp::put(new, value.clone(), None),
                TxnOp::delete(old, None),
            ])
            // On failure, read both keys to tell why.
            .or_else([TxnOp::get(new, None), TxnOp::get(old, None)]);
        let response = store.kv().txn(txn).await?;
        if response.succeeded() {
            return Ok(Step::Moved);
        }
        let found: Vec<Option<(Vec<u8>, i64)>> = response
            .op_responses()
            .into_iter()
            .map(|op| match op {
                TxnOpResponse::Get(get) => get
                    .kvs()
                    .first()
                    .map(|kv| (kv.value().to_vec(), kv.mod_revision())),
                _ => None,
            })
            .collect();
        match found.as_slice() {
            [_, None] => return Ok(Step::Gone),
            [Some(_), Some(_)] => return Ok(Step::Occupied),
            // The old key changed since it was read: move what it holds now.
            [None, Some((current, at))] => (value, revision) = (current.clone(), *at),
            _ => return Ok(Step::Gone),
        }
    }
}
// ANCHOR_END: move_key

#[cfg(test)]
mod tests {
    use super::*;
    use orc_client::resources::lookup;

    #[test]
    fn old_prefixes_name_the_group_or_core() {
        let secrets = lookup("", "v1", "secrets").unwrap();
        assert_eq!(old_prefix(secrets), "/registry/core/secrets/");
        let deploys = lookup("apps", "v1", "deployments").unwrap();
        assert_eq!(old_prefix(deploys), "/registry/apps/deployments/");
    }

    #[test]
    fn no_old_prefix_overlaps_a_new_one() {
        // Moving must never read back a key it has just written, nor a
        // list of the new layout see an unmoved key.
        let stored = || RESOURCES.iter().filter(|r| r.is_stored() && !r.is_review());
        for a in stored() {
            for b in stored() {
                let (old, new) = (old_prefix(a), prefix(b, None));
                assert!(
                    !old.starts_with(&new) && !new.starts_with(&old),
                    "{old} and {new}"
                );
            }
        }
    }
}
