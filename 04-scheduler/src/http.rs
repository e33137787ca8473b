//! `/healthz` and `/metrics`, as kube-scheduler serves them (on its port
//! 10259; orc's is chosen in [`crate::Config`]).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;

use crate::metrics::Metrics;
use crate::queue::SchedulingQueue;

/// What the handlers read.
#[derive(Clone)]
struct Served {
    metrics: Arc<Metrics>,
    queue: Arc<SchedulingQueue>,
}

/// Binds `addr`; answers the listener (so a caller learns the port of
/// `127.0.0.1:0`) to hand to [`serve`].
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves until the task is dropped.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>, queue: Arc<SchedulingQueue>) {
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(render))
        .with_state(Served { metrics, queue });
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
