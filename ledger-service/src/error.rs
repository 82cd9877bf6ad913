use common::AmountFen;
use common::OutTradeNo;
use tonic::Status;

use crate::domain::{
    IdempotencyKey, Invalid, MerchantId, MerchantStatus, OrderStatus, TransactionId, WithdrawalId,
    WithdrawalStatus,
};
use crate::store::StoreError;

/// The message of a Withdraw that found nothing to withdraw starts with
/// this; the status also carries [`REASON_KEY`]: [`NOTHING_TO_WITHDRAW`].
pub const NOTHING_TO_WITHDRAW_MESSAGE: &str = "nothing to withdraw";

/// The `x-minipay-reason` metadata key (as `common::status` names it).
pub const REASON_KEY: &str = common::status::REASON_KEY;

/// The reason a Withdraw that found nothing to withdraw carries (the
/// gateway's code 7).
pub const NOTHING_TO_WITHDRAW: &str = "nothing-to-withdraw";

/// The message of a Withdraw for a merchant without a payout openid starts
/// with this.
pub const NO_PAYOUT_ACCOUNT_MESSAGE: &str = "merchant has no payout account";

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
    #[error("withdrawal {0} does not exist")]
    UnknownWithdrawal(WithdrawalId),
    #[error("nothing to withdraw: merchant {0} has no PAID order that no withdrawal holds")]
    NothingToWithdraw(MerchantId),
    #[error("merchant has no payout account: give merchant {0} a payout openid first")]
    NoPayoutAccount(MerchantId),
    #[error(
        "idempotency key {key:?} was used for a different request (withdrawal {withdrawal_id}); \
         use a new key"
    )]
    IdempotencyKeyReused {
        key: IdempotencyKey,
        withdrawal_id: WithdrawalId,
    },
    /// The withdrawal's state does not allow the payout transition.
    #[error("withdrawal {withdrawal_id} is {status}")]
    WithdrawalState {
        withdrawal_id: WithdrawalId,
        status: WithdrawalStatus,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<LedgerError> for Status {
    fn from(e: LedgerError) -> Status {
        let message = e.to_string();
        match e {
            LedgerError::Invalid(_) => Status::invalid_argument(message),
            LedgerError::UnknownMerchant(_)
            | LedgerError::UnknownOrder(_)
            | LedgerError::UnknownWithdrawal(_) => Status::not_found(message),
            LedgerError::OutTradeNoTaken(_) => Status::already_exists(message),
            LedgerError::NothingToWithdraw(_) => {
                let mut status = Status::failed_precondition(message);
                status.metadata_mut().insert(
                    REASON_KEY,
                    tonic::metadata::MetadataValue::from_static(NOTHING_TO_WITHDRAW),
                );
                status
            }
            LedgerError::MerchantNotActive { .. }
            | LedgerError::OrderState { .. }
            | LedgerError::AmountMismatch { .. }
            | LedgerError::OtherTransaction(_)
            | LedgerError::TransactionTaken(_)
            | LedgerError::NoPayoutAccount(_)
            | LedgerError::IdempotencyKeyReused { .. }
            | LedgerError::WithdrawalState { .. } => Status::failed_precondition(message),
            LedgerError::Store(StoreError::Unavailable { .. }) => Status::unavailable(message),
            LedgerError::Store(StoreError::Conflict { .. }) => Status::already_exists(message),
            LedgerError::Store(StoreError::Corrupt { .. }) => {
                tracing::error!(error = %message, "store returned corrupt data");
                Status::internal("internal error")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use tonic::Code;

    use super::*;

    #[test]
    fn withdrawal_refusals_keep_their_codes_messages_and_reason() {
        let merchant = MerchantId::generate();
        let nothing = Status::from(LedgerError::NothingToWithdraw(merchant.clone()));
        assert_eq!(nothing.code(), Code::FailedPrecondition);
        assert!(nothing.message().starts_with(NOTHING_TO_WITHDRAW_MESSAGE));
        assert_eq!(
            nothing
                .metadata()
                .get(REASON_KEY)
                .unwrap()
                .to_str()
                .unwrap(),
            NOTHING_TO_WITHDRAW
        );

        let no_payout = Status::from(LedgerError::NoPayoutAccount(merchant.clone()));
        assert_eq!(no_payout.code(), Code::FailedPrecondition);
        assert!(no_payout.message().starts_with(NO_PAYOUT_ACCOUNT_MESSAGE));
        assert!(no_payout.metadata().get(REASON_KEY).is_none());

        let reused = Status::from(LedgerError::IdempotencyKeyReused {
            key: IdempotencyKey::parse("k-1").unwrap(),
            withdrawal_id: WithdrawalId::generate(),
        });
        assert_eq!(reused.code(), Code::FailedPrecondition);
        assert!(reused.message().contains("different request"));

        let state = Status::from(LedgerError::WithdrawalState {
            withdrawal_id: WithdrawalId::generate(),
            status: WithdrawalStatus::PaidOut,
        });
        assert_eq!(state.code(), Code::FailedPrecondition);
        assert!(state.message().ends_with("is PAID_OUT"));

        let unknown = Status::from(LedgerError::UnknownWithdrawal(WithdrawalId::generate()));
        assert_eq!(unknown.code(), Code::NotFound);

        let down = Status::from(LedgerError::Store(StoreError::Unavailable {
            backend: "mysql",
            detail: "gone".into(),
        }));
        assert_eq!(down.code(), Code::Unavailable);
    }
}
