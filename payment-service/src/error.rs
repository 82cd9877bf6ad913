use common::OutTradeNo;
use common::status::{Reason, with_out_trade_no, with_reason};
use tonic::Status;
use wechat::WechatError;
use wechat::client::Certainty;

use crate::ledger::LedgerError;
use crate::store::StoreError;

/// Why a CreatePayment call failed.
#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    #[error("{field} is required")]
    Missing { field: &'static str },
    #[error("{field} {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("merchant {0:?} does not exist")]
    UnknownMerchant(String),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// WeChat refused or failed after the order was recorded: the order
    /// stays CREATED and reconciliation settles it.
    #[error("{error} (out_trade_no {out_trade_no})")]
    Wechat {
        out_trade_no: OutTradeNo,
        error: WechatError,
    },
}

impl From<PaymentError> for Status {
    fn from(e: PaymentError) -> Status {
        let message = e.to_string();
        match e {
            PaymentError::Missing { .. } | PaymentError::Invalid { .. } => {
                Status::invalid_argument(message)
            }
            PaymentError::UnknownMerchant(_) | PaymentError::Ledger(LedgerError::NotFound(_)) => {
                Status::not_found(message)
            }
            PaymentError::Ledger(LedgerError::FailedPrecondition(_)) => {
                Status::failed_precondition(message)
            }
            PaymentError::Ledger(LedgerError::Unavailable(_))
            | PaymentError::Store(StoreError::Unavailable { .. }) => Status::unavailable(message),
            PaymentError::Ledger(LedgerError::Rejected { .. })
            | PaymentError::Store(StoreError::Corrupt { .. } | StoreError::Conflict { .. }) => {
                tracing::error!(error = %message, "internal failure");
                Status::internal("internal error")
            }
            PaymentError::Wechat {
                out_trade_no,
                error,
            } => {
                let status = match error.certainty() {
                    Certainty::Definite => Status::failed_precondition(message),
                    Certainty::Unknown => Status::unavailable(message),
                };
                with_out_trade_no(with_reason(status, Reason::Wechat), out_trade_no.as_str())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use common::status::{out_trade_no, reason};
    use tonic::Code;
    use wechat::client::{Api, ErrorKind};

    use super::*;

    #[test]
    fn wechat_failures_carry_reason_number_and_code() {
        let no = OutTradeNo::parse("20261204000000000123456789ABCDE").unwrap();
        let status = Status::from(PaymentError::Wechat {
            out_trade_no: no.clone(),
            error: WechatError::new(
                Api::UnifiedOrder,
                ErrorKind::Refused {
                    err_code: "SYSTEMERROR".into(),
                    err_code_des: "系统超时".into(),
                },
            ),
        });
        assert_eq!(status.code(), Code::Unavailable);
        assert_eq!(reason(&status), Some(Reason::Wechat));
        assert_eq!(out_trade_no(&status).as_deref(), Some(no.as_str()));
        assert!(
            status.message().contains("SYSTEMERROR"),
            "{}",
            status.message()
        );

        let status = Status::from(PaymentError::Wechat {
            out_trade_no: no,
            error: WechatError::new(
                Api::UnifiedOrder,
                ErrorKind::Refused {
                    err_code: "NOAUTH".into(),
                    err_code_des: String::new(),
                },
            ),
        });
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert!(status.message().contains("NOAUTH"));
    }

    #[test]
    fn client_faults_and_internal_faults() {
        let status = Status::from(PaymentError::Invalid {
            field: "amount_fen",
            reason: "must be positive".into(),
        });
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().starts_with("amount_fen"));
        assert_eq!(
            Status::from(PaymentError::UnknownMerchant("m".into())).code(),
            Code::NotFound
        );
        let status = Status::from(PaymentError::Store(StoreError::Corrupt {
            backend: "sqlite",
            detail: "secret detail".into(),
        }));
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("secret"));
        assert_eq!(reason(&status), None);
    }
}
