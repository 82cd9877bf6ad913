//! Where the ledger keeps merchants, orders and withdrawals: [`LedgerStore`]
//! (merchants and orders) and [`WithdrawalStore`] (withdrawals, balances,
//! the audit), both on MariaDB/MySQL ([`MySqlLedgerStore`]) or SQLite
//! ([`SqliteLedgerStore`]), chosen once from the URL by [`connect`] /
//! [`connect_both`]. Every money move is decided by the database (a
//! conditional statement, a claim, a unique key), never by a read in Rust
//! followed by a write.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use common::OutTradeNo;
use common::config::DatabaseUrl;

use crate::domain::{
    AuditReport, Balance, FailureReason, Merchant, MerchantId, MerchantStatus, NewMerchant,
    NewOrder, Order, OrderPage, OrderQuery, PageLimit, Payment, Withdrawal, WithdrawalCursor,
    WithdrawalId, WithdrawalPage, WithdrawalRequest,
};

#[cfg(test)]
mod contract_tests;
mod mysql;
mod sql;
mod sqlite;
#[cfg(test)]
mod withdrawal_tests;
mod withdrawals;

pub use mysql::MySqlLedgerStore;
pub(crate) use sql::now_millis;
pub use sqlite::SqliteLedgerStore;

/// What can go wrong in a store. A backend that does not answer in time is
/// `Unavailable` (naming the backend), never a hang.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{backend} is unavailable: {detail}")]
    Unavailable {
        backend: &'static str,
        detail: String,
    },
    #[error("{backend} returned data that does not fit: {detail}")]
    Corrupt {
        backend: &'static str,
        detail: String,
    },
    /// A unique key refused a row the operation did not expect to collide.
    #[error("{backend} refused a duplicate: {detail}")]
    Conflict {
        backend: &'static str,
        detail: String,
    },
}

/// The outcome of [`LedgerStore::create_order`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateOrder {
    Created(Order),
    /// Another order already has this out_trade_no.
    OutTradeNoTaken,
    UnknownMerchant,
    MerchantNotActive(MerchantStatus),
}

/// The outcome of [`LedgerStore::mark_paid`]. Every refusal carries the
/// order as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarkPaid {
    /// CREATED → PAID, just now, by this payment.
    Paid(Order),
    /// Already paid by this very transaction and amount: nothing changed.
    AlreadyPaid(Order),
    UnknownOrder,
    /// The payment's amount is not the order's.
    AmountMismatch(Order),
    /// The order is paid by another transaction.
    OtherTransaction(Order),
    /// The order is CLOSED: no payment applies to it.
    NotPayable(Order),
    /// The transaction_id already pays another order.
    TransactionTaken,
}

/// The outcome of [`LedgerStore::close_order`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseOrder {
    /// CREATED → CLOSED, just now.
    Closed(Order),
    /// It was CLOSED before: nothing changed.
    AlreadyClosed(Order),
    UnknownOrder,
    /// PAID or REFUNDED: a paid order is never closed.
    NotClosable(Order),
}

/// Merchants and their orders, as domain operations.
#[async_trait]
pub trait LedgerStore: Send + Sync + std::fmt::Debug {
    /// Records an ACTIVE merchant under a fresh [`MerchantId`].
    async fn create_merchant(&self, merchant: &NewMerchant) -> Result<Merchant, StoreError>;

    async fn merchant(&self, merchant_id: &MerchantId) -> Result<Option<Merchant>, StoreError>;

    /// Whether the merchant exists (and now has `status`).
    async fn set_merchant_status(
        &self,
        merchant_id: &MerchantId,
        status: MerchantStatus,
    ) -> Result<bool, StoreError>;

    /// Records the order as CREATED at `created_at_ms`, in one statement
    /// that also requires its merchant to be ACTIVE.
    async fn create_order(
        &self,
        order: &NewOrder,
        created_at_ms: i64,
    ) -> Result<CreateOrder, StoreError>;

    async fn order(&self, out_trade_no: &OutTradeNo) -> Result<Option<Order>, StoreError>;

    /// One page of the merchant's orders, newest first by
    /// `(created_at, out_trade_no)`.
    async fn list_orders(&self, query: &OrderQuery) -> Result<OrderPage, StoreError>;

    /// CREATED → PAID in one conditional update (status CREATED and the
    /// amount matching); when it changes nothing, the order as it is
    /// decides between [`MarkPaid::AlreadyPaid`] and a refusal.
    async fn mark_paid(&self, payment: &Payment) -> Result<MarkPaid, StoreError>;

    /// CREATED → CLOSED in one conditional update.
    async fn close_order(&self, out_trade_no: &OutTradeNo) -> Result<CloseOrder, StoreError>;

    /// Answers when the backend answers (for readiness).
    async fn ping(&self) -> Result<(), StoreError>;

    /// `"mysql"` or `"sqlite"`.
    fn backend(&self) -> &'static str;
}

/// The outcome of [`WithdrawalStore::withdraw`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Withdraw {
    /// A new withdrawal holds every PAID order of the merchant that no
    /// withdrawal held; its amount is their sum.
    Created(Withdrawal),
    /// The idempotency key was bound to this very request: the withdrawal
    /// it created, as it is now. Nothing moved.
    Replayed(Withdrawal),
    /// The idempotency key is bound to another request (this withdrawal's).
    /// Nothing moved.
    KeyReused(Withdrawal),
    UnknownMerchant,
    MerchantNotActive(MerchantStatus),
    NoPayoutAccount,
    /// No PAID order is free: nothing was recorded, no key bound.
    NothingToWithdraw,
}

/// The outcome of [`WithdrawalStore::complete_payout`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompletePayout {
    /// PAYING_OUT → PAID_OUT, just now.
    Completed(Withdrawal),
    /// PAID_OUT before: nothing changed.
    AlreadyPaidOut(Withdrawal),
    /// FAILED: its orders were released; it can never be paid out.
    NotPayingOut(Withdrawal),
    UnknownWithdrawal,
}

/// The outcome of [`WithdrawalStore::fail_payout`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailPayout {
    /// PAYING_OUT → FAILED and its orders released, just now, together.
    Failed(Withdrawal),
    /// FAILED before: nothing changed (the first reason is kept).
    AlreadyFailed(Withdrawal),
    /// PAID_OUT: the money has left; nothing is released.
    NotPayingOut(Withdrawal),
    UnknownWithdrawal,
}

/// The steps of [`WithdrawalStore::withdraw`], in order. A [`StepHook`] runs
/// after each, inside the transaction (after `Committed`, outside it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WithdrawStep {
    /// The transaction began (SQLite: `BEGIN IMMEDIATE`, the write lock).
    Begun,
    /// The merchant row was read (MariaDB: `FOR UPDATE`, its lock).
    MerchantLocked,
    /// The idempotency key was looked up (only with a key).
    KeyChecked,
    /// The withdrawal row was inserted, amount 0.
    Inserted,
    /// The merchant's free PAID orders were stamped with its id.
    Claimed,
    /// The orders carrying its id were summed.
    Summed,
    /// The sum was written on the withdrawal.
    Recorded,
    /// The transaction committed.
    Committed,
}

impl WithdrawStep {
    pub const ALL: &[WithdrawStep] = &[
        WithdrawStep::Begun,
        WithdrawStep::MerchantLocked,
        WithdrawStep::KeyChecked,
        WithdrawStep::Inserted,
        WithdrawStep::Claimed,
        WithdrawStep::Summed,
        WithdrawStep::Recorded,
        WithdrawStep::Committed,
    ];
}

/// Code a test runs between the steps of a withdrawal (to interleave other
/// connections' work deterministically). Stores have none unless a test
/// installs one; then every withdrawal awaits it after each step.
#[derive(Clone)]
pub struct StepHook(Arc<StepFn>);

type StepFn = dyn Fn(WithdrawStep) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync;

impl StepHook {
    pub fn new<F, Fut>(hook: F) -> Self
    where
        F: Fn(WithdrawStep) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        Self(Arc::new(move |step| Box::pin(hook(step))))
    }

    pub(crate) async fn after(hook: Option<&StepHook>, step: WithdrawStep) {
        if let Some(hook) = hook {
            (hook.0)(step).await;
        }
    }
}

impl std::fmt::Debug for StepHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StepHook")
    }
}

/// Withdrawals: the atomic settlement of a merchant's paid orders, the
/// payout transitions, balances and the audit of the invariant.
#[async_trait]
pub trait WithdrawalStore: Send + Sync + std::fmt::Debug {
    /// Settles, in ONE transaction that does all the work in the database
    /// (no order id is read into memory): lock the merchant, look up the
    /// idempotency key, insert the withdrawal, stamp its id on the
    /// merchant's PAID orders that no withdrawal holds, sum the orders that
    /// carry its id, record the sum; nothing claimed → roll back.
    async fn withdraw(
        &self,
        request: &WithdrawalRequest,
        now_ms: i64,
    ) -> Result<Withdraw, StoreError>;

    /// `None` for an unknown merchant. From one consistent snapshot.
    async fn balance(&self, merchant_id: &MerchantId) -> Result<Option<Balance>, StoreError>;

    async fn withdrawal(
        &self,
        withdrawal_id: &WithdrawalId,
    ) -> Result<Option<Withdrawal>, StoreError>;

    /// One page of the merchant's withdrawals, newest first by
    /// `(created_at, withdrawal_id)`.
    async fn list_withdrawals(
        &self,
        merchant_id: &MerchantId,
        limit: PageLimit,
        after: Option<&WithdrawalCursor>,
    ) -> Result<WithdrawalPage, StoreError>;

    /// One page of the orders carrying the withdrawal's id, newest first.
    async fn list_withdrawal_orders(
        &self,
        withdrawal_id: &WithdrawalId,
        limit: PageLimit,
        after: Option<&crate::domain::Cursor>,
    ) -> Result<OrderPage, StoreError>;

    /// PAYING_OUT → PAID_OUT in one conditional update.
    async fn complete_payout(
        &self,
        withdrawal_id: &WithdrawalId,
        now_ms: i64,
    ) -> Result<CompletePayout, StoreError>;

    /// PAYING_OUT → FAILED and the release of its orders, in one
    /// transaction that locks the merchant row first (as Withdraw does).
    async fn fail_payout(
        &self,
        withdrawal_id: &WithdrawalId,
        reason: &FailureReason,
        now_ms: i64,
    ) -> Result<FailPayout, StoreError>;

    /// One page of the withdrawals still PAYING_OUT, every merchant, oldest
    /// first by `(created_at, withdrawal_id)`.
    async fn list_paying_out(
        &self,
        limit: PageLimit,
        after: Option<&WithdrawalCursor>,
    ) -> Result<WithdrawalPage, StoreError>;

    /// The invariant, checked for one merchant or every one, from one
    /// consistent snapshot.
    async fn audit(&self, merchant_id: Option<&MerchantId>) -> Result<AuditReport, StoreError>;
}

/// Opens the store `url` names, creating its tables (migrations) if needed.
/// The CLI uses this to reach the same database as a running ledger-service.
pub async fn connect(url: &DatabaseUrl) -> Result<Arc<dyn LedgerStore>, StoreError> {
    Ok(connect_both(url).await?.0)
}

/// As [`connect`], with the same store (one pool) also as a
/// [`WithdrawalStore`].
pub async fn connect_both(
    url: &DatabaseUrl,
) -> Result<(Arc<dyn LedgerStore>, Arc<dyn WithdrawalStore>), StoreError> {
    Ok(match url {
        DatabaseUrl::Sqlite(url) => {
            let store = Arc::new(SqliteLedgerStore::connect(url).await?);
            (store.clone(), store)
        }
        DatabaseUrl::MySql(url) => {
            let store = Arc::new(MySqlLedgerStore::connect(url).await?);
            (store.clone(), store)
        }
    })
}
