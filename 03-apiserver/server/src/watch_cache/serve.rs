//! A LIST pointed at the watch cache, once the cache is fresh enough for
//! it; or left on etcd (Kubernetes' `Cacher.GetList`).
//!
//! How fresh is enough (`plan.rs`):
//!
//! - `resourceVersion=0`: filled at all. Answered at once, once the
//!   cache's fill is done (a LIST waits for it up to
//!   [`WatchCacheSettings::fill_wait`](super::WatchCacheSettings), 30 s,
//!   rather than read the collection beside it; then etcd answers).
//! - `resourceVersion=N`: at revision N. The LIST waits up to
//!   [`WatchCacheSettings::fresh_wait`](super::WatchCacheSettings) (3 s)
//!   for the cache to get there, then is refused with Kubernetes' 504
//!   `Too large resource version` (cause `ResourceVersionTooLarge`,
//!   `Retry-After: 1`): the client named a revision this server has not
//!   seen.
//! - no `resourceVersion`, a consistent read: at etcd's current
//!   revision, which costs one round trip to etcd (a quorum read of one
//!   key's header, no objects) instead of reading the collection. The
//!   cache is asked to prove it has seen that revision: etcd answers a
//!   progress request on the feed's watch stream after every event up to
//!   it. When it cannot in time (or etcd is too old to answer in order,
//!   `plan::progress_requests_supported`), etcd answers the LIST, as
//!   Kubernetes falls back.

use super::plan::{Freshness, ListPlan};
use super::{Cacher, WatchCache};
use crate::handlers::listing::Listing;
use crate::handlers::read::storage_error;
use crate::server::AppState;
use crate::status::ApiError;
use orc_client::resources::Resource;

// ANCHOR: serve
/// Points `listing` at the cache of its resource when Kubernetes 1.32
/// would answer it from there and the cache is fresh enough; leaves it on
/// etcd otherwise.
pub async fn serve(state: &AppState, listing: &mut Listing) -> Result<(), ApiError> {
    let cacher = &state.cacher;
    let ListPlan::Cache(freshness) = listing.plan() else {
        return Ok(());
    };
    if !cacher.settings.enabled {
        return Ok(());
    }
    let resource = listing.resource;
    let cache = match cacher.cache(&state.hub, resource).await {
        Ok(cache) => cache,
        Err(error) => {
            tracing::warn!(resource = resource.plural, %error, "no watch cache; the LIST reads etcd");
            return Ok(());
        }
    };
    let fresh = match freshness {
        // Once it is filled; etcd answers when the fill takes too long.
        Freshness::Any => cache
            .wait_until(1, cacher.settings.fill_wait, false)
            .await
            .is_ok(),
        Freshness::AtLeast(asked) => at_least(state, resource, &cache, asked).await?,
        Freshness::Latest => {
            let fresh = latest(state, resource, &cache).await?;
            cacher.metrics.consistent_read(resource.plural, !fresh);
            fresh
        }
    };
    if let Some(snapshot) = fresh.then(|| cache.snapshot(listing.prefix())).flatten() {
        listing.from_cache(snapshot);
        cacher.metrics.served(resource.plural);
    }
    Ok(())
}
// ANCHOR_END: serve

/// `resourceVersion=N`: whether the cache reached N in time; a 504 when
/// it did not.
async fn at_least(
    state: &AppState,
    resource: &'static Resource,
    cache: &WatchCache,
    asked: i64,
) -> Result<bool, ApiError> {
    if cache.revision() >= asked {
        return Ok(true);
    }
    let cacher: &Cacher = &state.cacher;
    let progress = cacher.progress_requests().await;
    if !progress {
        // Only the resource's own events move this cache: a revision
        // etcd has already reached may be one it never sees. etcd
        // answers that one now, as it did before the cache.
        let current = state
            .store
            .current_revision()
            .await
            .map_err(|e| storage_error(e, resource, ""))?;
        if asked <= current {
            return Ok(false);
        }
    }
    match cache
        .wait_until(asked, cacher.settings.fresh_wait, progress)
        .await
    {
        Ok(()) => Ok(true),
        Err(current) => Err(ApiError::TooLargeResourceVersion { asked, current }),
    }
}

// ANCHOR: latest
/// No `resourceVersion`: whether the cache proved, in time, that it holds
/// what etcd holds now (ConsistentListFromCache).
async fn latest(
    state: &AppState,
    resource: &'static Resource,
    cache: &WatchCache,
) -> Result<bool, ApiError> {
    let cacher: &Cacher = &state.cacher;
    // The one etcd round trip: where etcd is now.
    let current = state
        .store
        .current_revision()
        .await
        .map_err(|e| storage_error(e, resource, ""))?;
    // A cache still filling is waited for (`fill_wait`), as Kubernetes
    // before 1.31 waited for a cacher that was not ready: its fill is at
    // least as new as `current`.
    if cache
        .wait_until(1, cacher.settings.fill_wait, false)
        .await
        .is_err()
    {
        return Ok(false);
    }
    let fresh = cache.revision() >= current
        || (cacher.progress_requests().await
            && cache
                .wait_until(current, cacher.settings.fresh_wait, true)
                .await
                .is_ok());
    Ok(fresh)
}
// ANCHOR_END: latest
