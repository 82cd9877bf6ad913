//! `/healthz` (the process is up) and `/readyz` (every dependency answers).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use common::grpc;

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
/// ones that do not, with the whole report in `data` either way. The three
/// services are asked at once.
async fn readyz(State(app): State<AppState>, RequestId(rid): RequestId) -> Envelope<Report> {
    let cfg = &app.0;
    let deadline = cfg.readiness_deadline();
    let (auth, payment, ledger) = tokio::join!(
        probe("auth", deadline, async {
            let request = grpc::request(proto::auth::v1::ReadinessRequest {}, &rid, deadline);
            let answer = cfg.auth.clone().readiness(request).await?;
            Ok(answer.map(|a| a.dependencies))
        }),
        probe("payment", deadline, async {
            let request = grpc::request(proto::payment::v1::ReadinessRequest {}, &rid, deadline);
            let answer = cfg.payment.clone().readiness(request).await?;
            Ok(answer.map(|a| a.dependencies))
        }),
        probe("ledger", deadline, async {
            let request = grpc::request(proto::ledger::v1::ReadinessRequest {}, &rid, deadline);
            let answer = cfg.ledger.clone().readiness(request).await?;
            Ok(answer.map(|a| a.dependencies))
        }),
    );
    let report: Report = auth.into_iter().chain(payment).chain(ledger).collect();
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

/// `name` itself, and each store it reports as `name.<store>`.
async fn probe(
    name: &str,
    deadline: Duration,
    call: impl Future<Output = Result<tonic::Response<HashMap<String, String>>, tonic::Status>>,
) -> Report {
    match with_deadline(deadline, call).await {
        Ok(dependencies) => std::iter::once((name.to_owned(), OK.to_owned()))
            .chain(
                dependencies
                    .into_iter()
                    .map(|(store, state)| (format!("{name}.{store}"), state)),
            )
            .collect(),
        Err(status) => Report::from([(
            name.to_owned(),
            format!("{:?}: {}", status.code(), status.message()),
        )]),
    }
}
