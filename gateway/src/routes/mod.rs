//! Routes by area, each `parse → call → map`. Every path is served with and
//! without its trailing slash.

pub(crate) mod merchant;
pub(crate) mod mini;
pub(crate) mod ops;
pub(crate) mod pay;
pub(crate) mod wechat;

use std::future::Future;
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::Method;
use axum::routing::MethodRouter;

use crate::AppState;
use crate::error::ApiError;
use crate::metrics::Metrics;

/// Name the services in 503 messages and logs.
pub(crate) const AUTH: &str = "auth-service";
pub(crate) const PAYMENT: &str = "payment-service";
pub(crate) const LEDGER: &str = "ledger-service";

/// Adds `path` and `path/` (pass it without the slash).
fn both(router: Router<AppState>, path: &str, route: MethodRouter<AppState>) -> Router<AppState> {
    router
        .route(&format!("{path}/"), route.clone())
        .route(path, route)
}

/// One gRPC method of a dependency, as `/metrics` labels its calls.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rpc {
    /// [`AUTH`], [`PAYMENT`] or [`LEDGER`].
    pub(crate) service: &'static str,
    /// The method's name in the proto, e.g. `"ResolveToken"`.
    pub(crate) method: &'static str,
}

impl Rpc {
    pub(crate) const fn auth(method: &'static str) -> Self {
        Self {
            service: AUTH,
            method,
        }
    }

    pub(crate) const fn payment(method: &'static str) -> Self {
        Self {
            service: PAYMENT,
            method,
        }
    }

    pub(crate) const fn ledger(method: &'static str) -> Self {
        Self {
            service: LEDGER,
            method,
        }
    }
}

/// Waits for a gRPC call at most `deadline`, whatever the channel's own
/// timeouts (the same deadline also travels as `grpc-timeout`), and counts
/// it with its latency under `rpc`. Every gRPC call of the gateway goes
/// through here.
async fn with_deadline<T>(
    metrics: &Metrics,
    rpc: Rpc,
    deadline: Duration,
    call: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<T, tonic::Status> {
    let started = Instant::now();
    let result = match tokio::time::timeout(deadline, call).await {
        Ok(Ok(response)) => Ok(response.into_inner()),
        Ok(Err(status)) => Err(status),
        Err(_) => Err(tonic::Status::deadline_exceeded("deadline exceeded")),
    };
    let code = result
        .as_ref()
        .map_or_else(metrics_code, |_| tonic::Code::Ok);
    metrics.observe_call(rpc.service, rpc.method, code, started.elapsed());
    result
}

/// A failed call's code as `/metrics` counts it. tonic reports its own
/// enforcement of `grpc-timeout` as Cancelled ("Timeout expired"), keeping
/// the cause as the source: that is a deadline, not a cancellation.
fn metrics_code(status: &tonic::Status) -> tonic::Code {
    let mut source = std::error::Error::source(status);
    while let Some(cause) = source {
        if cause.is::<tonic::TimeoutExpired>() {
            return tonic::Code::DeadlineExceeded;
        }
        source = cause.source();
    }
    status.code()
}

/// [`with_deadline`] with the configured deadline, a failure mapped onto
/// the envelope.
async fn call<T>(
    app: &AppState,
    rpc: Rpc,
    request_id: &str,
    call: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<T, ApiError> {
    with_deadline(&app.1, rpc, app.0.deadline, call)
        .await
        .map_err(|status| ApiError::from_status(rpc.service, &status, request_id))
}

pub(crate) async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}

pub(crate) async fn method_not_allowed(method: Method) -> ApiError {
    ApiError::MethodNotAllowed(method.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tonics_own_timeout_counts_as_a_deadline() {
        let expired = tonic::Status::from_error(Box::new(tonic::TimeoutExpired(())));
        assert_eq!(expired.code(), tonic::Code::Cancelled);
        assert_eq!(metrics_code(&expired), tonic::Code::DeadlineExceeded);
        let cancelled = tonic::Status::cancelled("client went away");
        assert_eq!(metrics_code(&cancelled), tonic::Code::Cancelled);
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        let reset = tonic::Status::from_error(Box::new(io));
        assert_eq!(metrics_code(&reset), tonic::Code::Unknown);
    }
}
