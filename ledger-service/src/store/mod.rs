//! Where the ledger keeps merchants and orders: [`LedgerStore`], on
//! MariaDB/MySQL ([`MySqlLedgerStore`]) or SQLite ([`SqliteLedgerStore`]),
//! chosen once from the URL by [`connect`]. Every money move is one
//! conditional statement: the database decides, never a read in Rust
//! followed by a write.

use std::sync::Arc;

use async_trait::async_trait;
use common::OutTradeNo;
use common::config::DatabaseUrl;

use crate::domain::{
    Merchant, MerchantId, MerchantStatus, NewMerchant, NewOrder, Order, OrderPage, OrderQuery,
    Payment,
};

#[cfg(test)]
mod contract_tests;
mod mysql;
mod sql;
mod sqlite;

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

/// Opens the store `url` names, creating its tables (migrations) if needed.
/// The CLI uses this to reach the same database as a running ledger-service.
pub async fn connect(url: &DatabaseUrl) -> Result<Arc<dyn LedgerStore>, StoreError> {
    Ok(match url {
        DatabaseUrl::Sqlite(url) => Arc::new(SqliteLedgerStore::connect(url).await?),
        DatabaseUrl::MySql(url) => Arc::new(MySqlLedgerStore::connect(url).await?),
    })
}
