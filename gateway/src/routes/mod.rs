//! Routes by area, each `parse → call → map`. Every path is served with and
//! without its trailing slash.

pub(crate) mod mini;
pub(crate) mod ops;
pub(crate) mod pay;
pub(crate) mod wechat;

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::http::Method;
use axum::routing::MethodRouter;

use crate::AppState;
use crate::error::ApiError;

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

/// Waits for a gRPC call at most `deadline`, whatever the channel's own
/// timeouts (the same deadline also travels as `grpc-timeout`).
async fn with_deadline<T>(
    deadline: Duration,
    call: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<T, tonic::Status> {
    match tokio::time::timeout(deadline, call).await {
        Ok(Ok(response)) => Ok(response.into_inner()),
        Ok(Err(status)) => Err(status),
        Err(_) => Err(tonic::Status::deadline_exceeded("deadline exceeded")),
    }
}

/// [`with_deadline`], with a failure mapped onto the envelope.
async fn call<T>(
    dependency: &'static str,
    deadline: Duration,
    request_id: &str,
    call: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<T, ApiError> {
    with_deadline(deadline, call)
        .await
        .map_err(|status| ApiError::from_status(dependency, &status, request_id))
}

pub(crate) async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}

pub(crate) async fn method_not_allowed(method: Method) -> ApiError {
    ApiError::MethodNotAllowed(method.to_string())
}
