//! `/healthz` and `/metrics`, as kube-controller-manager serves them (on
//! its port 10257; orc's is chosen by `--listen`, as the scheduler's).
//!
//! Like the scheduler's (`04-scheduler/src/http.rs`), this is plain HTTP
//! without authentication, and off unless an address is given: give a
//! loopback one. kube-controller-manager serves both over TLS and asks the
//! API server to authorize `/metrics` (a TokenReview and a
//! SubjectAccessReview per scrape); `/healthz` it lets anyone read.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;

use crate::metrics::ControllerMetrics;

/// Binds `addr`; answers the listener (so a caller learns the port of
/// `127.0.0.1:0`) to hand to [`serve`].
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves `metrics` on `listener` until the task is dropped. The
/// endpoints answer while the manager stands by, too: a standby is
/// healthy, and its `/metrics` says it is not leading.
pub async fn serve(listener: TcpListener, metrics: Arc<ControllerMetrics>) {
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(render))
        .with_state(metrics);
    if let Err(error) = axum::serve(listener, app).await {
        tracing::warn!(%error, "the controller manager's HTTP server stopped");
    }
}

async fn render(State(metrics): State<Arc<ControllerMetrics>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        metrics.render(),
    )
}
