use common::AmountFen;
use common::OutTradeNo;
use tonic::Status;

use crate::domain::{Invalid, MerchantId, MerchantStatus, OrderStatus, TransactionId};
use crate::store::StoreError;

/// Why a ledger call did not do what it asked.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error("merchant {0} does not exist")]
    UnknownMerchant(MerchantId),
    #[error("merchant {merchant_id} is {status}")]
    MerchantNotActive {
        merchant_id: MerchantId,
        status: MerchantStatus,
    },
    #[error("order {0} does not exist")]
    UnknownOrder(OutTradeNo),
    #[error("out_trade_no {0} is already taken")]
    OutTradeNoTaken(OutTradeNo),
    /// The order's state does not allow the change (a CLOSED order paid, a
    /// PAID order closed).
    #[error("order {out_trade_no} is {status}")]
    OrderState {
        out_trade_no: OutTradeNo,
        status: OrderStatus,
    },
    #[error("order {out_trade_no}: amount {paid} does not match the order's {expected}")]
    AmountMismatch {
        out_trade_no: OutTradeNo,
        paid: AmountFen,
        expected: AmountFen,
    },
    #[error("order {0} is already paid by another transaction")]
    OtherTransaction(OutTradeNo),
    #[error("transaction {0} already paid another order")]
    TransactionTaken(TransactionId),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<LedgerError> for Status {
    fn from(e: LedgerError) -> Status {
        let message = e.to_string();
        match e {
            LedgerError::Invalid(_) => Status::invalid_argument(message),
            LedgerError::UnknownMerchant(_) | LedgerError::UnknownOrder(_) => {
                Status::not_found(message)
            }
            LedgerError::OutTradeNoTaken(_) => Status::already_exists(message),
            LedgerError::MerchantNotActive { .. }
            | LedgerError::OrderState { .. }
            | LedgerError::AmountMismatch { .. }
            | LedgerError::OtherTransaction(_)
            | LedgerError::TransactionTaken(_) => Status::failed_precondition(message),
            LedgerError::Store(StoreError::Unavailable { .. }) => Status::unavailable(message),
            LedgerError::Store(StoreError::Conflict { .. }) => Status::already_exists(message),
            LedgerError::Store(StoreError::Corrupt { .. }) => {
                tracing::error!(error = %message, "store returned corrupt data");
                Status::internal("internal error")
            }
        }
    }
}
