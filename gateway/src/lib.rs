//! minipay's only HTTP surface: the mini-program and merchant routes,
//! each parsed, forwarded to a gRPC service, and its answer mapped onto the
//! `{"code","msg","data"}` envelope of `docs/http-api.md`; WeChat's
//! notifications, passed to payment-service as bytes and answered with its
//! XML. No business rule lives here.
//!
//! - [`config`]: [`GatewayConfig`], the gRPC clients (auth, payment, ledger,
//!   withdrawals, merchant keys) and limits.
//! - `envelope`: the JSON envelope every response is written in.
//! - `error`: [`ApiError`], the one HTTP error type, and the single mapping
//!   from a gRPC `Status` onto it.
//! - `extract`: JSON bodies (field by field, so that `msg` names the field;
//!   amounts as integer literals), the mini-program token, the request id,
//!   the client IP (peer, or `X-Forwarded-For` from a trusted proxy).
//! - `metrics`: in-process counters (requests by route template and status,
//!   latency histograms, gRPC client calls) and the Prometheus text format.
//! - `middleware`: request ids (tower-http), the access log and the request
//!   counters.
//! - `routes`: one module per area (`mini`: login and user data; `pay`:
//!   `/pay/` and `/orders/{out_trade_no}`; `merchant`: `/merchant/...`,
//!   authenticated by a merchant API key; `wechat`: notifications; `ops`:
//!   health, readiness and `/metrics`), merged by [`router`].

pub mod config;
mod envelope;
mod error;
mod extract;
mod metrics;
mod middleware;
mod routes;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::GatewayConfig;
pub use error::ApiError;

/// Shared by every handler; cheap to clone: the configuration and this
/// gateway's counters.
#[derive(Debug, Clone)]
struct AppState(Arc<GatewayConfig>, Arc<metrics::Metrics>);

/// Every route of the gateway, with its fallbacks and layers. Serve it with
/// `into_make_service_with_connect_info::<SocketAddr>()` (as [`serve`] does):
/// `/pay/` needs the peer's address.
pub fn router(cfg: GatewayConfig) -> Router {
    let body_limit = cfg.body_limit;
    let metrics = Arc::new(metrics::Metrics::default());
    let state = AppState(Arc::new(cfg), metrics.clone());
    let routes = Router::new()
        .merge(routes::mini::routes())
        .merge(routes::pay::routes())
        .merge(routes::merchant::routes())
        .merge(routes::wechat::routes())
        .merge(routes::ops::routes())
        .fallback(routes::not_found)
        // After every route: it applies to the routes added so far.
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state);
    middleware::wrap(routes, metrics)
}

/// Serves [`router`] on `listener` until `shutdown` is cancelled, then lets
/// in-flight requests finish.
pub async fn serve(
    cfg: GatewayConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "gateway listening");
    }
    let app = router(cfg).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}
