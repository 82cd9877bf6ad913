//! `/healthz` (the process is up), `/readyz` (every dependency answers) and
//! `/metrics` (Prometheus text, no envelope).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use common::grpc;

use super::{PAYMENT, Rpc, both, with_deadline};
use crate::AppState;
use crate::envelope::Envelope;
use crate::extract::RequestId;
use crate::metrics::{self, Metrics};

const OK: &str = "ok";

pub(crate) fn routes() -> Router<AppState> {
    let router = both(Router::new(), "/healthz", get(healthz));
    let router = both(router, "/readyz", get(readyz));
    both(router, "/metrics", get(prometheus))
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
    let (cfg, metrics) = (&app.0, &app.1);
    let deadline = cfg.readiness_deadline();
    let (auth, payment, ledger) = tokio::join!(
        probe(metrics, "auth", Rpc::auth("Readiness"), deadline, async {
            let request = grpc::request(proto::auth::v1::ReadinessRequest {}, &rid, deadline);
            let answer = cfg.auth.clone().readiness(request).await?;
            Ok(answer.map(|a| a.dependencies))
        }),
        probe(
            metrics,
            "payment",
            Rpc::payment("Readiness"),
            deadline,
            async {
                let request =
                    grpc::request(proto::payment::v1::ReadinessRequest {}, &rid, deadline);
                let answer = cfg.payment.clone().readiness(request).await?;
                Ok(answer.map(|a| a.dependencies))
            }
        ),
        probe(
            metrics,
            "ledger",
            Rpc::ledger("Readiness"),
            deadline,
            async {
                let request = grpc::request(proto::ledger::v1::ReadinessRequest {}, &rid, deadline);
                let answer = cfg.ledger.clone().readiness(request).await?;
                Ok(answer.map(|a| a.dependencies))
            }
        ),
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
    metrics: &Metrics,
    name: &str,
    rpc: Rpc,
    deadline: Duration,
    call: impl Future<Output = Result<tonic::Response<HashMap<String, String>>, tonic::Status>>,
) -> Report {
    match with_deadline(metrics, rpc, deadline, call).await {
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

/// The gateway's counters and payment-service's, as Prometheus text. Always
/// 200: when payment-service does not answer within the short deadline its
/// series are left out and `minipay_payment_up` is 0.
async fn prometheus(State(app): State<AppState>, RequestId(rid): RequestId) -> Response {
    let (cfg, metrics) = (&app.0, &app.1);
    let deadline = cfg.metrics_deadline();
    let request = grpc::request(proto::payment::v1::MetricsRequest {}, &rid, deadline);
    let payment = with_deadline(
        metrics,
        Rpc::payment("Metrics"),
        deadline,
        cfg.payment.clone().metrics(request),
    )
    .await
    .inspect_err(|status| {
        tracing::warn!(
            dependency = PAYMENT,
            request_id = %rid,
            code = ?status.code(),
            grpc_message = status.message(),
            "no payment metrics"
        );
    })
    .ok();
    let body = metrics.render(payment.as_ref());
    ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], body).into_response()
}
