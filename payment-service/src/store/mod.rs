//! Where payment-service keeps its state: payments ([`PaymentStore`]) and the
//! log of every notification received ([`NotificationLog`]), on MariaDB/MySQL
//! or SQLite, chosen once from the URL. Both backends implement both traits
//! over one pool and pass the same contract suite.

use async_trait::async_trait;
use common::OutTradeNo;

#[cfg(test)]
mod contract_tests;
mod mysql;
mod sql;
mod sqlite;

pub use mysql::MySqlPaymentStore;
pub use sql::now_millis;
pub use sqlite::SqlitePaymentStore;

use crate::domain::{NewNotification, NewPayment, Notification, NotifyOutcome, Payment};

/// What can go wrong in a store. A database that does not answer in time is
/// `Unavailable`, never a hang.
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
    /// A unique key refused the row: it exists already.
    #[error("{what} already exists")]
    Conflict { what: &'static str },
}

/// Payments and their states. Every change of state is one conditional
/// UPDATE whose answer says whether this call made it.
#[async_trait]
pub trait PaymentStore: Send + Sync + std::fmt::Debug {
    /// Records a payment as ORDERING. `Conflict` when its out_trade_no is taken.
    async fn insert(&self, payment: &NewPayment, now_ms: i64) -> Result<(), StoreError>;

    async fn get(&self, out_trade_no: &OutTradeNo) -> Result<Option<Payment>, StoreError>;

    /// ORDERING/ORDERED → ORDERED with this prepay_id (WeChat's re-entry
    /// gives a new one); clears last_error. Whether a row changed.
    async fn mark_ordered(
        &self,
        out_trade_no: &OutTradeNo,
        prepay_id: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError>;

    /// Notes why the last step failed; the state is unchanged.
    async fn record_error(
        &self,
        out_trade_no: &OutTradeNo,
        error: &str,
        now_ms: i64,
    ) -> Result<(), StoreError>;

    /// ORDERING/ORDERED → PAID. Whether a row changed.
    async fn mark_paid(
        &self,
        out_trade_no: &OutTradeNo,
        transaction_id: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError>;

    /// ORDERING/ORDERED → CLOSED. Whether a row changed.
    async fn mark_closed(&self, out_trade_no: &OutTradeNo, now_ms: i64)
    -> Result<bool, StoreError>;

    /// Any state but ANOMALY → ANOMALY, with the transaction and the reason.
    /// Whether a row changed (so each anomaly is counted once).
    async fn mark_anomaly(
        &self,
        out_trade_no: &OutTradeNo,
        transaction_id: &str,
        reason: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError>;

    /// Up to `limit` ORDERING/ORDERED payments created at or before
    /// `created_before_ms`, those checked longest ago (or never) first.
    async fn due_for_reconciliation(
        &self,
        created_before_ms: i64,
        limit: u32,
    ) -> Result<Vec<Payment>, StoreError>;

    /// Reconciliation looked at the payment at `now_ms`.
    async fn record_check(&self, out_trade_no: &OutTradeNo, now_ms: i64) -> Result<(), StoreError>;

    async fn ping(&self) -> Result<(), StoreError>;

    /// `"mysql"` or `"sqlite"`.
    fn backend(&self) -> &'static str;
}

/// Every notification body received, with what became of it.
#[async_trait]
pub trait NotificationLog: Send + Sync + std::fmt::Debug {
    /// Logs a body as RECEIVED, before anything acts on it.
    async fn record(&self, notification: &NewNotification) -> Result<(), StoreError>;

    /// Sets what became of it (and the out_trade_no, once known).
    async fn resolve(
        &self,
        id: &str,
        out_trade_no: Option<&str>,
        outcome: NotifyOutcome,
        reason: &str,
    ) -> Result<(), StoreError>;

    /// The notifications logged for an order, oldest first.
    async fn for_order(&self, out_trade_no: &str) -> Result<Vec<Notification>, StoreError>;

    /// Those logged without a readable out_trade_no, oldest first, at most `limit`.
    async fn unattributed(&self, limit: u32) -> Result<Vec<Notification>, StoreError>;
}
