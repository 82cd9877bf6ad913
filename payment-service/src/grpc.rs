//! The `minipay.payment.v1.PaymentService` implementation. Each call runs in
//! its own task, so a caller that gives up (its deadline passed) cannot cut
//! a payment or a notification off half-way: the work finishes, bounded by
//! its own budget, and only the answer is lost.

use std::sync::Arc;

use proto::payment::v1 as pb;
use proto::payment::v1::payment_service_server::PaymentService;
use tonic::{Request, Response, Status};

use crate::domain::{NotifyOutcome, PaymentMetrics};
use crate::error::PaymentError;
use crate::service::{Core, budget};

/// The gRPC face of the service.
#[derive(Debug, Clone)]
pub struct Payments {
    pub(crate) core: Arc<Core>,
}

fn internal(request_id: &str, rpc: &str, e: &tokio::task::JoinError) -> Status {
    tracing::error!(request_id, rpc, error = %e, "call task failed");
    Status::internal(format!("internal error (request id {request_id})"))
}

/// Logs a failure with the request id before it becomes a status; an
/// internal one carries the request id instead of its cause.
fn fail(request_id: &str, e: PaymentError) -> Status {
    match &e {
        PaymentError::Missing { .. }
        | PaymentError::Invalid { .. }
        | PaymentError::UnknownMerchant(_) => {
            tracing::debug!(request_id, error = %e, "CreatePayment refused");
        }
        PaymentError::Ledger(_) | PaymentError::Store(_) | PaymentError::Wechat { .. } => {
            tracing::warn!(request_id, error = %e, "CreatePayment failed");
        }
    }
    let status = Status::from(e);
    if status.code() == tonic::Code::Internal {
        return Status::internal(format!("internal error (request id {request_id})"));
    }
    status
}

#[tonic::async_trait]
impl PaymentService for Payments {
    async fn create_payment(
        &self,
        request: Request<pb::CreatePaymentRequest>,
    ) -> Result<Response<pb::CreatePaymentResponse>, Status> {
        let request_id = common::grpc::request_id(&request);
        let budget = budget(self.core.call_deadline, request.metadata());
        let core = self.core.clone();
        let id = request_id.clone();
        let task =
            tokio::spawn(
                async move { core.create_payment(request.into_inner(), &id, budget).await },
            );
        match task.await {
            Ok(result) => result.map(Response::new).map_err(|e| fail(&request_id, e)),
            Err(e) => Err(internal(&request_id, "CreatePayment", &e)),
        }
    }

    async fn handle_pay_notify(
        &self,
        request: Request<pb::HandlePayNotifyRequest>,
    ) -> Result<Response<pb::HandlePayNotifyResponse>, Status> {
        let request_id = common::grpc::request_id(&request);
        let core = self.core.clone();
        let id = request_id.clone();
        let task = tokio::spawn(async move {
            core.handle_notification(&request.into_inner().body, &id)
                .await
        });
        match task.await {
            Ok(reply) => Ok(Response::new(reply)),
            Err(e) => Err(internal(&request_id, "HandlePayNotify", &e)),
        }
    }

    async fn readiness(
        &self,
        request: Request<pb::ReadinessRequest>,
    ) -> Result<Response<pb::ReadinessResponse>, Status> {
        let request_id = common::grpc::request_id(&request);
        Ok(Response::new(pb::ReadinessResponse {
            dependencies: self.core.ready(&request_id).await,
        }))
    }

    async fn metrics(
        &self,
        _: Request<pb::MetricsRequest>,
    ) -> Result<Response<pb::MetricsResponse>, Status> {
        Ok(Response::new(metrics_response(&self.core.metrics)))
    }
}

/// Every outcome under its name, zeros included, so that a series exists
/// before its first event.
fn metrics_response(metrics: &PaymentMetrics) -> pb::MetricsResponse {
    pb::MetricsResponse {
        notifications_by_outcome: NotifyOutcome::ALL
            .into_iter()
            .map(|outcome| (outcome.as_str().to_owned(), metrics.notifications(outcome)))
            .collect(),
        anomalies: metrics.anomalies(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_carry_every_outcome_and_the_anomalies() {
        let metrics = PaymentMetrics::default();
        metrics.count_notification(NotifyOutcome::Applied);
        metrics.count_notification(NotifyOutcome::Applied);
        metrics.count_notification(NotifyOutcome::FailedPayment);
        metrics.count_anomaly();
        let response = metrics_response(&metrics);
        assert_eq!(response.anomalies, 1);
        let counts = &response.notifications_by_outcome;
        assert_eq!(counts.len(), NotifyOutcome::ALL.len());
        assert_eq!(counts.get("APPLIED"), Some(&2));
        assert_eq!(counts.get("FAILED_PAYMENT"), Some(&1));
        assert_eq!(counts.get("REFUSED"), Some(&0));
        assert_eq!(counts.get("RECEIVED"), Some(&0));
    }
}
