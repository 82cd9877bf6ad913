//! `/healthz` (the process is up) and `/readyz` (every dependency answers).

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use common::grpc;
use proto::auth::v1::ReadinessRequest;

use super::{both, with_deadline};
use crate::AppState;
use crate::envelope::Envelope;
use crate::extract::RequestId;

const OK: &str = "ok";

pub(crate) fn routes() -> Router<AppState> {
    let router = both(Router::new(), "/healthz", get(healthz));
    both(router, "/readyz", get(readyz))
}

async fn healthz() -> Envelope<()> {
    Envelope::ok(())
}

/// Dependency name → "ok" or why not.
type Report = BTreeMap<String, String>;

/// 200 when every dependency says "ok"; otherwise 503 (code 503) naming the
/// ones that do not, with the whole report in `data` either way.
async fn readyz(State(app): State<AppState>, RequestId(rid): RequestId) -> Envelope<Report> {
    let report = auth(&app, &rid).await;
    let failing: Vec<&str> = report
        .iter()
        .filter(|(_, state)| state.as_str() != OK)
        .map(|(name, _)| name.as_str())
        .collect();
    if failing.is_empty() {
        return Envelope::ok(report);
    }
    let msg = format!("not ready: {}", failing.join(", "));
    tracing::warn!(%msg, "readiness");
    Envelope::new(StatusCode::SERVICE_UNAVAILABLE, 503, msg, Some(report))
}

/// `auth` itself, and each store it reports as `auth.<name>`.
async fn auth(app: &AppState, rid: &str) -> Report {
    let deadline = app.0.readiness_deadline();
    let mut client = app.0.auth.clone();
    let call = client.readiness(grpc::request(ReadinessRequest {}, rid, deadline));
    match with_deadline(deadline, call).await {
        Ok(answer) => std::iter::once(("auth".to_owned(), OK.to_owned()))
            .chain(
                answer
                    .dependencies
                    .into_iter()
                    .map(|(name, state)| (format!("auth.{name}"), state)),
            )
            .collect(),
        Err(status) => Report::from([(
            "auth".to_owned(),
            format!("{:?}: {}", status.code(), status.message()),
        )]),
    }
}
