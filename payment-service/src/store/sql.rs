//! What the MariaDB/MySQL and SQLite stores share: every statement (both
//! dialects read these the same way; only the DDL differs), the row types,
//! and the one mapping from `sqlx::Error` to [`StoreError`].

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{AmountFen, OutTradeNo};

use super::StoreError;
use crate::domain::{Notification, Payment, truncate};

/// How long a pool waits for a connection (and so how long an unreachable
/// database takes to be reported `Unavailable`).
pub(crate) const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// The most one statement may take, connection included.
pub(crate) const STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest `last_error` or `reason` kept, in characters (the columns
/// hold 1024).
pub(crate) const MAX_TEXT_CHARS: usize = 1000;

pub(crate) const PING: &str = "SELECT 1";

/// Binds: out_trade_no, merchant_id, payer_openid, amount_fen, sign_type,
/// created_at, updated_at.
pub(crate) const INSERT_PAYMENT: &str = "INSERT INTO payments (out_trade_no, merchant_id, \
     payer_openid, amount_fen, sign_type, state, created_at, updated_at) \
     VALUES (?, ?, ?, ?, ?, 'ORDERING', ?, ?)";

/// Binds: out_trade_no.
pub(crate) const SELECT_PAYMENT: &str = "SELECT out_trade_no, merchant_id, payer_openid, \
     amount_fen, sign_type, prepay_id, state, transaction_id, created_at, updated_at, \
     last_error, checked_at, checks FROM payments WHERE out_trade_no = ?";

/// Binds: prepay_id, updated_at, out_trade_no.
pub(crate) const MARK_ORDERED: &str = "UPDATE payments SET state = 'ORDERED', prepay_id = ?, \
     last_error = NULL, updated_at = ? \
     WHERE out_trade_no = ? AND state IN ('ORDERING', 'ORDERED')";

/// Binds: last_error, updated_at, out_trade_no.
pub(crate) const RECORD_ERROR: &str =
    "UPDATE payments SET last_error = ?, updated_at = ? WHERE out_trade_no = ?";

/// Binds: transaction_id, updated_at, out_trade_no.
pub(crate) const MARK_PAID: &str = "UPDATE payments SET state = 'PAID', transaction_id = ?, \
     last_error = NULL, updated_at = ? \
     WHERE out_trade_no = ? AND state IN ('ORDERING', 'ORDERED')";

/// Binds: updated_at, out_trade_no.
pub(crate) const MARK_CLOSED: &str = "UPDATE payments SET state = 'CLOSED', last_error = NULL, \
     updated_at = ? WHERE out_trade_no = ? AND state IN ('ORDERING', 'ORDERED')";

/// Binds: transaction_id, last_error, updated_at, out_trade_no.
pub(crate) const MARK_ANOMALY: &str = "UPDATE payments SET state = 'ANOMALY', \
     transaction_id = ?, last_error = ?, updated_at = ? \
     WHERE out_trade_no = ? AND state <> 'ANOMALY'";

/// Binds: created_at (at most), limit.
pub(crate) const DUE_FOR_RECONCILIATION: &str = "SELECT out_trade_no, merchant_id, \
     payer_openid, amount_fen, sign_type, prepay_id, state, transaction_id, created_at, \
     updated_at, last_error, checked_at, checks FROM payments \
     WHERE state IN ('ORDERING', 'ORDERED') AND created_at <= ? \
     ORDER BY COALESCE(checked_at, 0), created_at, out_trade_no LIMIT ?";

/// Binds: checked_at, out_trade_no. Leaves updated_at alone: a look is not a change.
pub(crate) const RECORD_CHECK: &str =
    "UPDATE payments SET checked_at = ?, checks = checks + 1 WHERE out_trade_no = ?";

/// Binds: id, received_at, out_trade_no, body_len, body.
pub(crate) const INSERT_NOTIFICATION: &str = "INSERT INTO notifications (id, received_at, \
     out_trade_no, outcome, reason, body_len, body) VALUES (?, ?, ?, 'RECEIVED', '', ?, ?)";

/// Binds: out_trade_no (NULL keeps the one logged), outcome, reason, id.
pub(crate) const RESOLVE_NOTIFICATION: &str = "UPDATE notifications SET \
     out_trade_no = COALESCE(?, out_trade_no), outcome = ?, reason = ? WHERE id = ?";

/// Binds: out_trade_no.
pub(crate) const NOTIFICATIONS_FOR_ORDER: &str = "SELECT id, received_at, out_trade_no, \
     outcome, reason, body_len, body FROM notifications WHERE out_trade_no = ? \
     ORDER BY received_at, id";

/// Binds: limit.
pub(crate) const UNATTRIBUTED_NOTIFICATIONS: &str = "SELECT id, received_at, out_trade_no, \
     outcome, reason, body_len, body FROM notifications WHERE out_trade_no IS NULL \
     ORDER BY received_at, id LIMIT ?";

#[derive(sqlx::FromRow)]
pub(crate) struct PaymentRow {
    out_trade_no: String,
    merchant_id: String,
    payer_openid: String,
    amount_fen: i64,
    sign_type: String,
    prepay_id: Option<String>,
    state: String,
    transaction_id: Option<String>,
    created_at: i64,
    updated_at: i64,
    last_error: Option<String>,
    checked_at: Option<i64>,
    checks: i64,
}

impl PaymentRow {
    pub(crate) fn into_payment(self, backend: &'static str) -> Result<Payment, StoreError> {
        let corrupt = |detail: String| StoreError::Corrupt { backend, detail };
        Ok(Payment {
            out_trade_no: OutTradeNo::parse(self.out_trade_no)
                .map_err(|e| corrupt(format!("payments.out_trade_no: {e}")))?,
            merchant_id: self.merchant_id,
            payer_openid: self.payer_openid,
            amount: AmountFen::positive(self.amount_fen)
                .map_err(|e| corrupt(format!("payments.amount_fen: {e}")))?,
            sign_type: self
                .sign_type
                .parse()
                .map_err(|e| corrupt(format!("payments.sign_type: {e}")))?,
            prepay_id: self.prepay_id,
            state: self
                .state
                .parse()
                .map_err(|e| corrupt(format!("payments.state: {e}")))?,
            transaction_id: self.transaction_id,
            created_at_ms: self.created_at,
            updated_at_ms: self.updated_at,
            last_error: self.last_error,
            checked_at_ms: self.checked_at,
            checks: self.checks,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct NotificationRow {
    id: String,
    received_at: i64,
    out_trade_no: Option<String>,
    outcome: String,
    reason: String,
    body_len: i64,
    body: String,
}

impl NotificationRow {
    pub(crate) fn into_notification(
        self,
        backend: &'static str,
    ) -> Result<Notification, StoreError> {
        Ok(Notification {
            id: self.id,
            received_at_ms: self.received_at,
            out_trade_no: self.out_trade_no,
            outcome: self.outcome.parse().map_err(|e| StoreError::Corrupt {
                backend,
                detail: format!("notifications.outcome: {e}"),
            })?,
            reason: self.reason,
            body_len: self.body_len,
            body: self.body,
        })
    }
}

/// Text cut to what its column holds.
pub(crate) fn fit(text: &str) -> String {
    truncate(text, MAX_TEXT_CHARS)
}

/// Milliseconds since the Unix epoch, as the tables store times.
pub fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
        })
}

/// A unique key's refusal is `Conflict`; rows that cannot be read back as
/// the types we wrote are `Corrupt`; everything else (refused or lost
/// connections, timeouts, statements the server rejects) is `Unavailable`.
pub(crate) fn store_error(
    backend: &'static str,
    what: &'static str,
    err: sqlx::Error,
) -> StoreError {
    match err {
        sqlx::Error::Database(ref db) if db.is_unique_violation() => StoreError::Conflict { what },
        sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::Decode(_)
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::ColumnIndexOutOfBounds { .. }
        | sqlx::Error::TypeNotFound { .. } => StoreError::Corrupt {
            backend,
            detail: err.to_string(),
        },
        other => StoreError::Unavailable {
            backend,
            detail: other.to_string(),
        },
    }
}

/// Runs one database operation under [`STATEMENT_TIMEOUT`]; `what` names
/// the row a unique violation is about.
pub(crate) async fn bounded<T>(
    backend: &'static str,
    what: &'static str,
    operation: impl Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, StoreError> {
    tokio::time::timeout(STATEMENT_TIMEOUT, operation)
        .await
        .map_err(|_| StoreError::Unavailable {
            backend,
            detail: format!("no answer within {} ms", STATEMENT_TIMEOUT.as_millis()),
        })?
        .map_err(|err| store_error(backend, what, err))
}

/// Implements [`PaymentStore`](super::PaymentStore) and
/// [`NotificationLog`](super::NotificationLog) for a store with a `pool`
/// field and a `BACKEND` constant in scope: the statements are the same on
/// both backends, so the code is too.
macro_rules! sql_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::PaymentStore for $store {
            async fn insert(
                &self,
                p: &$crate::domain::NewPayment,
                now_ms: i64,
            ) -> Result<(), StoreError> {
                let query = sqlx::query(sql::INSERT_PAYMENT)
                    .bind(p.out_trade_no.as_str())
                    .bind(&p.merchant_id)
                    .bind(&p.payer_openid)
                    .bind(p.amount.fen())
                    .bind(p.sign_type.as_str())
                    .bind(now_ms)
                    .bind(now_ms);
                sql::bounded(BACKEND, "payment", query.execute(&self.pool)).await?;
                Ok(())
            }

            async fn get(
                &self,
                out_trade_no: &common::OutTradeNo,
            ) -> Result<Option<$crate::domain::Payment>, StoreError> {
                let query = sqlx::query_as::<_, sql::PaymentRow>(sql::SELECT_PAYMENT)
                    .bind(out_trade_no.as_str());
                sql::bounded(BACKEND, "payment", query.fetch_optional(&self.pool))
                    .await?
                    .map(|row| row.into_payment(BACKEND))
                    .transpose()
            }

            async fn mark_ordered(
                &self,
                out_trade_no: &common::OutTradeNo,
                prepay_id: &str,
                now_ms: i64,
            ) -> Result<bool, StoreError> {
                let query = sqlx::query(sql::MARK_ORDERED)
                    .bind(prepay_id)
                    .bind(now_ms)
                    .bind(out_trade_no.as_str());
                let done = sql::bounded(BACKEND, "payment", query.execute(&self.pool)).await?;
                Ok(done.rows_affected() > 0)
            }

            async fn record_error(
                &self,
                out_trade_no: &common::OutTradeNo,
                error: &str,
                now_ms: i64,
            ) -> Result<(), StoreError> {
                let query = sqlx::query(sql::RECORD_ERROR)
                    .bind(sql::fit(error))
                    .bind(now_ms)
                    .bind(out_trade_no.as_str());
                sql::bounded(BACKEND, "payment", query.execute(&self.pool)).await?;
                Ok(())
            }

            async fn mark_paid(
                &self,
                out_trade_no: &common::OutTradeNo,
                transaction_id: &str,
                now_ms: i64,
            ) -> Result<bool, StoreError> {
                let query = sqlx::query(sql::MARK_PAID)
                    .bind(transaction_id)
                    .bind(now_ms)
                    .bind(out_trade_no.as_str());
                let done = sql::bounded(BACKEND, "payment", query.execute(&self.pool)).await?;
                Ok(done.rows_affected() > 0)
            }

            async fn mark_closed(
                &self,
                out_trade_no: &common::OutTradeNo,
                now_ms: i64,
            ) -> Result<bool, StoreError> {
                let query = sqlx::query(sql::MARK_CLOSED)
                    .bind(now_ms)
                    .bind(out_trade_no.as_str());
                let done = sql::bounded(BACKEND, "payment", query.execute(&self.pool)).await?;
                Ok(done.rows_affected() > 0)
            }

            async fn mark_anomaly(
                &self,
                out_trade_no: &common::OutTradeNo,
                transaction_id: &str,
                reason: &str,
                now_ms: i64,
            ) -> Result<bool, StoreError> {
                let query = sqlx::query(sql::MARK_ANOMALY)
                    .bind(transaction_id)
                    .bind(sql::fit(reason))
                    .bind(now_ms)
                    .bind(out_trade_no.as_str());
                let done = sql::bounded(BACKEND, "payment", query.execute(&self.pool)).await?;
                Ok(done.rows_affected() > 0)
            }

            async fn due_for_reconciliation(
                &self,
                created_before_ms: i64,
                limit: u32,
            ) -> Result<Vec<$crate::domain::Payment>, StoreError> {
                let query = sqlx::query_as::<_, sql::PaymentRow>(sql::DUE_FOR_RECONCILIATION)
                    .bind(created_before_ms)
                    .bind(i64::from(limit));
                sql::bounded(BACKEND, "payment", query.fetch_all(&self.pool))
                    .await?
                    .into_iter()
                    .map(|row| row.into_payment(BACKEND))
                    .collect()
            }

            async fn record_check(
                &self,
                out_trade_no: &common::OutTradeNo,
                now_ms: i64,
            ) -> Result<(), StoreError> {
                let query = sqlx::query(sql::RECORD_CHECK)
                    .bind(now_ms)
                    .bind(out_trade_no.as_str());
                sql::bounded(BACKEND, "payment", query.execute(&self.pool)).await?;
                Ok(())
            }

            async fn ping(&self) -> Result<(), StoreError> {
                sql::bounded(BACKEND, "ping", sqlx::query(sql::PING).execute(&self.pool)).await?;
                Ok(())
            }

            fn backend(&self) -> &'static str {
                BACKEND
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::NotificationLog for $store {
            async fn record(&self, n: &$crate::domain::NewNotification) -> Result<(), StoreError> {
                let query = sqlx::query(sql::INSERT_NOTIFICATION)
                    .bind(&n.id)
                    .bind(n.received_at_ms)
                    .bind(n.out_trade_no.as_deref())
                    .bind(n.body_len)
                    .bind(&n.body);
                sql::bounded(BACKEND, "notification", query.execute(&self.pool)).await?;
                Ok(())
            }

            async fn resolve(
                &self,
                id: &str,
                out_trade_no: Option<&str>,
                outcome: $crate::domain::NotifyOutcome,
                reason: &str,
            ) -> Result<(), StoreError> {
                let query = sqlx::query(sql::RESOLVE_NOTIFICATION)
                    .bind(out_trade_no)
                    .bind(outcome.as_str())
                    .bind(sql::fit(reason))
                    .bind(id);
                sql::bounded(BACKEND, "notification", query.execute(&self.pool)).await?;
                Ok(())
            }

            async fn for_order(
                &self,
                out_trade_no: &str,
            ) -> Result<Vec<$crate::domain::Notification>, StoreError> {
                let query = sqlx::query_as::<_, sql::NotificationRow>(sql::NOTIFICATIONS_FOR_ORDER)
                    .bind(out_trade_no);
                sql::bounded(BACKEND, "notification", query.fetch_all(&self.pool))
                    .await?
                    .into_iter()
                    .map(|row| row.into_notification(BACKEND))
                    .collect()
            }

            async fn unattributed(
                &self,
                limit: u32,
            ) -> Result<Vec<$crate::domain::Notification>, StoreError> {
                let query =
                    sqlx::query_as::<_, sql::NotificationRow>(sql::UNATTRIBUTED_NOTIFICATIONS)
                        .bind(i64::from(limit));
                sql::bounded(BACKEND, "notification", query.fetch_all(&self.pool))
                    .await?
                    .into_iter()
                    .map(|row| row.into_notification(BACKEND))
                    .collect()
            }
        }
    };
}

pub(crate) use sql_store;
