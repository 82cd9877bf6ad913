//! The ledger as payment-service calls it: every call carries the request
//! id and a deadline, and every failure is sorted by what the caller may do
//! about it.

use std::time::Duration;

use common::{AmountFen, OutTradeNo};
use proto::ledger::v1 as pb;
use proto::ledger::v1::ledger_service_client::LedgerServiceClient;
use tonic::Code;
use tonic::transport::Channel;

/// Why a ledger call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error("ledger: {0}")]
    NotFound(String),
    /// The ledger refused because of the order's or merchant's state.
    #[error("ledger refused: {0}")]
    FailedPrecondition(String),
    /// The ledger found the request itself wrong: a defect on our side.
    #[error("ledger rejected the request ({code:?}): {message}")]
    Rejected { code: Code, message: String },
    /// No answer, or no usable one: try again later.
    #[error("ledger is unavailable: {0}")]
    Unavailable(String),
}

impl From<tonic::Status> for LedgerError {
    fn from(status: tonic::Status) -> Self {
        let message = status.message().to_owned();
        match status.code() {
            Code::NotFound => LedgerError::NotFound(message),
            Code::FailedPrecondition => LedgerError::FailedPrecondition(message),
            code @ (Code::InvalidArgument
            | Code::AlreadyExists
            | Code::OutOfRange
            | Code::PermissionDenied
            | Code::Unauthenticated
            | Code::Unimplemented) => LedgerError::Rejected { code, message },
            Code::Ok
            | Code::Cancelled
            | Code::Unknown
            | Code::DeadlineExceeded
            | Code::ResourceExhausted
            | Code::Aborted
            | Code::Internal
            | Code::Unavailable
            | Code::DataLoss => LedgerError::Unavailable(format!("{:?}: {message}", status.code())),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Ledger {
    client: LedgerServiceClient<Channel>,
    timeout: Duration,
}

impl Ledger {
    pub(crate) fn new(client: LedgerServiceClient<Channel>, timeout: Duration) -> Self {
        Self { client, timeout }
    }

    fn request<T>(&self, message: T, request_id: &str) -> tonic::Request<T> {
        common::grpc::request(message, request_id, self.timeout)
    }

    pub(crate) async fn get_merchant(
        &self,
        merchant_id: &str,
        request_id: &str,
    ) -> Result<pb::Merchant, LedgerError> {
        let request = self.request(
            pb::GetMerchantRequest {
                merchant_id: merchant_id.to_owned(),
            },
            request_id,
        );
        Ok(self
            .client
            .clone()
            .get_merchant(request)
            .await?
            .into_inner())
    }

    pub(crate) async fn create_order(
        &self,
        order: pb::CreateOrderRequest,
        request_id: &str,
    ) -> Result<pb::Order, LedgerError> {
        let request = self.request(order, request_id);
        Ok(self
            .client
            .clone()
            .create_order(request)
            .await?
            .into_inner())
    }

    pub(crate) async fn get_order(
        &self,
        out_trade_no: &OutTradeNo,
        request_id: &str,
    ) -> Result<pb::Order, LedgerError> {
        let request = self.request(
            pb::GetOrderRequest {
                out_trade_no: out_trade_no.as_str().to_owned(),
                payer_openid: String::new(),
            },
            request_id,
        );
        Ok(self.client.clone().get_order(request).await?.into_inner())
    }

    pub(crate) async fn mark_paid(
        &self,
        out_trade_no: &OutTradeNo,
        transaction_id: &str,
        amount: AmountFen,
        paid_at_ms: i64,
        request_id: &str,
    ) -> Result<pb::MarkPaidResponse, LedgerError> {
        let request = self.request(
            pb::MarkPaidRequest {
                out_trade_no: out_trade_no.as_str().to_owned(),
                transaction_id: transaction_id.to_owned(),
                amount_fen: amount.fen(),
                paid_at_ms,
            },
            request_id,
        );
        Ok(self.client.clone().mark_paid(request).await?.into_inner())
    }

    pub(crate) async fn close_order(
        &self,
        out_trade_no: &OutTradeNo,
        request_id: &str,
    ) -> Result<pb::Order, LedgerError> {
        let request = self.request(
            pb::CloseOrderRequest {
                out_trade_no: out_trade_no.as_str().to_owned(),
            },
            request_id,
        );
        Ok(self.client.clone().close_order(request).await?.into_inner())
    }

    /// "ok" when the ledger answers that all its dependencies are ok, else
    /// what is wrong.
    pub(crate) async fn readiness(&self, request_id: &str) -> String {
        let request = common::grpc::request(
            pb::ReadinessRequest {},
            request_id,
            self.timeout.min(Duration::from_secs(2)),
        );
        match self.client.clone().readiness(request).await {
            Err(status) => LedgerError::from(status).to_string(),
            Ok(reply) => {
                let broken: Vec<String> = reply
                    .into_inner()
                    .dependencies
                    .into_iter()
                    .filter(|(_, state)| state != "ok")
                    .map(|(name, state)| format!("{name}: {state}"))
                    .collect();
                if broken.is_empty() {
                    "ok".to_owned()
                } else {
                    broken.join("; ")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_sorted_by_what_the_caller_may_do() {
        assert_eq!(
            LedgerError::from(tonic::Status::not_found("no merchant")),
            LedgerError::NotFound("no merchant".into())
        );
        assert!(matches!(
            LedgerError::from(tonic::Status::failed_precondition("closed")),
            LedgerError::FailedPrecondition(_)
        ));
        assert!(matches!(
            LedgerError::from(tonic::Status::invalid_argument("x")),
            LedgerError::Rejected {
                code: Code::InvalidArgument,
                ..
            }
        ));
        for status in [
            tonic::Status::unavailable("x"),
            tonic::Status::deadline_exceeded("x"),
            tonic::Status::internal("x"),
            tonic::Status::cancelled("x"),
        ] {
            assert!(matches!(
                LedgerError::from(status),
                LedgerError::Unavailable(_)
            ));
        }
    }
}
