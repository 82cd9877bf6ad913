//! wechat-sandbox: a simulator of WeChat's login and pay servers for tests,
//! the demo and benchmarks. Strict where WeChat is strict (every signature
//! is verified with the `wechat` crate, the same code the platform uses) and
//! able to misbehave the way WeChat does.
//!
//! - [`config`]: [`SandboxConfig`] from `MINIPAY_WECHAT_*` and `MINIPAY_SANDBOX_*`.
//! - `login`: `GET /sns/jscode2session`.
//! - `pay`: `POST /pay/unifiedorder`, `/pay/orderquery`, `/pay/closeorder`.
//! - `transfer`: `POST /mmpaymkttransfers/promotion/transfers`, `/gettransferinfo`.
//! - `notify`: notification delivery on WeChat's (scaled) retry schedule.
//! - `control`: the `/sandbox/` JSON API (login codes, user info, paying,
//!   inspection, faults, the clock).
//! - [`faults`]: the fault knobs.
//! - `state`, `bounded`, `reply`: memory, bounded maps, signed replies.

// Handlers return a finished `Response` early (`Result<_, Response>`); it is
// large, but these are cold paths and boxing it would only add noise.
#![allow(clippy::result_large_err)]

mod bounded;
pub mod config;
mod control;
pub mod faults;
mod login;
mod notify;
mod pay;
mod reply;
mod state;
mod transfer;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::{
    SANDBOX_APP_SECRET, SANDBOX_APPID, SANDBOX_MCH_ID, SANDBOX_PAY_KEY, SandboxConfig,
};
pub use faults::Faults;
pub use notify::RETRY_SCHEDULE_SECS;
pub use reply::WRONG_KEY;
use state::{Sandbox, Shared};

fn router(sandbox: Shared) -> Router {
    Router::new()
        .route("/sns/jscode2session", get(login::jscode2session))
        .route("/pay/unifiedorder", post(pay::unifiedorder))
        .route("/pay/orderquery", post(pay::orderquery))
        .route("/pay/closeorder", post(pay::closeorder))
        .route(
            "/mmpaymkttransfers/promotion/transfers",
            post(transfer::transfers),
        )
        .route(
            "/mmpaymkttransfers/gettransferinfo",
            post(transfer::gettransferinfo),
        )
        .route("/sandbox/login", post(control::login))
        .route("/sandbox/userinfo", post(control::userinfo))
        .route("/sandbox/pay", post(control::pay))
        .route("/sandbox/orders/{out_trade_no}", get(control::order))
        .route("/sandbox/notifications", get(control::notifications))
        .route("/sandbox/transfers", get(control::transfers))
        .route("/sandbox/balance", post(control::set_balance))
        .route(
            "/sandbox/faults",
            get(control::get_faults)
                .post(control::set_faults)
                .delete(control::clear_faults),
        )
        .route("/sandbox/clock", post(control::advance_clock))
        .layer(DefaultBodyLimit::max(
            wechat::xml::DEFAULT_MAX_DOCUMENT_BYTES,
        ))
        .with_state(sandbox)
}

/// Serves the simulator on `listener` until `shutdown` is cancelled, then
/// stops notification deliveries and returns.
pub async fn serve(
    cfg: SandboxConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let sandbox = Sandbox::new(cfg, shutdown.clone()).map_err(std::io::Error::other)?;
    let app = router(sandbox.clone());
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.clone().cancelled_owned())
        .await?;
    shutdown.cancel();
    sandbox.tasks.close();
    sandbox.tasks.wait().await;
    Ok(())
}
