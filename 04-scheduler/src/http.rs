//! `/healthz` and `/metrics`, as kube-scheduler serves them (on its port
//! 10259; orc's is chosen in [`crate::Config`]), and orc's own
//! `/explain/pods/{namespace}/{name}`: the last decision about a pod, as
//! an [`Explanation`] in JSON, which `orc explain pod` prints.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;

use crate::cache::Cache;
use crate::explain::{Explanation, explain, fix};
use crate::framework::{Outcome, Profile};
use crate::metrics::Metrics;
use crate::queue::SchedulingQueue;
use crate::scheduler::Decisions;

/// What the handlers read.
#[derive(Clone)]
pub struct Served {
    pub metrics: Arc<Metrics>,
    pub queue: Arc<SchedulingQueue>,
    pub decisions: Arc<Decisions>,
    /// For the fixes of a pending pod, checked against the cluster now.
    pub cache: Arc<Mutex<Cache>>,
    pub profile: Profile,
}

/// Binds `addr`; answers the listener (so a caller learns the port of
/// `127.0.0.1:0`) to hand to [`serve`].
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves until the task is dropped.
pub async fn serve(listener: TcpListener, served: Served) {
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(render))
        .route("/explain/pods/{namespace}/{name}", get(explain_pod))
        .with_state(served);
    if let Err(error) = axum::serve(listener, app).await {
        tracing::warn!(%error, "the scheduler's HTTP server stopped");
    }
}

async fn render(State(s): State<Served>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(s.queue.pending()),
    )
}

// ANCHOR: explain_pod
/// The last decision about a pod, laid out; for a pending pod, with the
/// changes that would let it fit in the cluster as it is now.
async fn explain_pod(
    State(s): State<Served>,
    Path((namespace, name)): Path<(String, String)>,
) -> Result<Json<Explanation>, (StatusCode, String)> {
    let key = format!("{namespace}/{name}");
    let Some((pod, decision)) = s.decisions.last(&key) else {
        return Err((
            StatusCode::NOT_FOUND,
            format!(
                "this scheduler has made no decision about pod {key}: it may not exist, name \
                 another scheduler, have been placed before this scheduler started, be \
                 waiting in the queue, or have been placed long enough ago that its decision \
                 was let go (the scheduler keeps the newest {} MB of decisions)",
                crate::scheduler::KEPT_BYTES >> 20
            ),
        ));
    };
    let fixes = match decision.outcome {
        Outcome::Selected(_) => Vec::new(),
        _ => {
            let snapshot = s.cache.lock().unwrap_or_else(|p| p.into_inner()).snapshot();
            fix::fixes(&s.profile, &pod, &snapshot)
        }
    };
    Ok(Json(explain(&key, &decision, fixes)))
}
// ANCHOR_END: explain_pod
