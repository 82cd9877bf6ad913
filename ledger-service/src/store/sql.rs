//! What the MariaDB/MySQL and SQLite ledger stores share: every statement
//! (both dialects read them the same way), the row types and their parsing
//! back into domain types, the decisions taken after a conditional update
//! changed nothing, and the one mapping from `sqlx::Error` to [`StoreError`].

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{AmountFen, OutTradeNo};

use super::{CloseOrder, CreateOrder, MarkPaid, StoreError};
use crate::domain::{
    Cursor, Description, Invalid, Merchant, MerchantId, MerchantName, MerchantStatus, Openid,
    Order, OrderQuery, OrderStatus, Payment, TransactionId, WithdrawalId,
};

/// How long a pool waits for a connection (and so how long an unreachable
/// database takes to be reported `Unavailable`).
pub(crate) const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// The most one operation may take, connection and transaction included,
/// before the store gives up and reports the database `Unavailable`.
pub(crate) const STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections per pool: concurrent payments run side by side.
pub(crate) const MAX_CONNECTIONS: u32 = 10;

pub(crate) const PING: &str = "SELECT 1";

/// Binds: merchant_id, name, payout_openid, status, created_at.
pub(crate) const INSERT_MERCHANT: &str = "INSERT INTO merchants \
     (merchant_id, name, payout_openid, status, created_at) VALUES (?, ?, ?, ?, ?)";

pub(crate) const SELECT_MERCHANT: &str = "SELECT merchant_id, name, payout_openid, status, \
     created_at FROM merchants WHERE merchant_id = ?";

/// Binds: status, merchant_id.
pub(crate) const UPDATE_MERCHANT_STATUS: &str =
    "UPDATE merchants SET status = ? WHERE merchant_id = ?";

/// Inserts the order only if its merchant exists and is ACTIVE, in the same
/// statement (no read in Rust first). Binds: out_trade_no, payer_openid,
/// amount_fen, description, created_at, merchant_id.
pub(crate) const INSERT_ORDER: &str = "INSERT INTO orders \
     (out_trade_no, merchant_id, payer_openid, amount_fen, description, status, created_at) \
     SELECT ?, merchant_id, ?, ?, ?, 'CREATED', ? FROM merchants \
     WHERE merchant_id = ? AND status = 'ACTIVE'";

macro_rules! order_columns {
    () => {
        "out_trade_no, merchant_id, payer_openid, amount_fen, description, status, \
         transaction_id, created_at, paid_at, withdrawal_id"
    };
}

pub(crate) const SELECT_ORDER: &str = concat!(
    "SELECT ",
    order_columns!(),
    " FROM orders WHERE out_trade_no = ?"
);

/// A merchant's orders, newest first, strictly after a cursor: the range
/// `created_at <= ?` seeks in the (merchant_id, created_at, out_trade_no)
/// index. Filters are parameters, not SQL text: status `''` means any;
/// withdrawn is `'any'`, `'held'` or `'free'`. Binds: merchant_id, status,
/// status, withdrawn, withdrawn, withdrawn, cursor created_at, cursor
/// created_at, cursor out_trade_no, limit. The first page binds the cursor
/// as `(i64::MAX, '')`.
pub(crate) const LIST_ORDERS: &str = concat!(
    "SELECT ",
    order_columns!(),
    " FROM orders WHERE merchant_id = ? \
     AND (? = '' OR status = ?) \
     AND (? = 'any' OR (? = 'held' AND withdrawal_id IS NOT NULL) \
          OR (? = 'free' AND withdrawal_id IS NULL)) \
     AND created_at <= ? AND (created_at < ? OR out_trade_no < ?) \
     ORDER BY created_at DESC, out_trade_no DESC LIMIT ?"
);

/// The payment applies only to a CREATED order of the same amount.
/// Binds: transaction_id, paid_at, out_trade_no, amount_fen.
pub(crate) const MARK_PAID: &str = "UPDATE orders \
     SET status = 'PAID', transaction_id = ?, paid_at = ? \
     WHERE out_trade_no = ? AND status = 'CREATED' AND amount_fen = ?";

/// Binds: out_trade_no.
pub(crate) const CLOSE_ORDER: &str =
    "UPDATE orders SET status = 'CLOSED' WHERE out_trade_no = ? AND status = 'CREATED'";

/// Test support: what a withdrawal will do to the orders it takes.
#[cfg(test)]
pub(crate) const STAMP_WITHDRAWAL: &str =
    "UPDATE orders SET withdrawal_id = ? WHERE out_trade_no = ?";

/// The binds of [`LIST_ORDERS`] that say where the page starts.
pub(crate) fn list_bounds(query: &OrderQuery) -> (i64, &str) {
    match &query.after {
        Some(cursor) => (cursor.created_at_ms, cursor.out_trade_no.as_str()),
        None => (i64::MAX, ""),
    }
}

pub(crate) fn withdrawn_filter(query: &OrderQuery) -> &'static str {
    match query.withdrawn {
        None => "any",
        Some(true) => "held",
        Some(false) => "free",
    }
}

/// Rows come back as `limit + 1` so that a full page knows whether another
/// follows.
pub(crate) fn page(mut orders: Vec<Order>, query: &OrderQuery) -> crate::domain::OrderPage {
    let limit = usize::try_from(query.limit.get()).unwrap_or(usize::MAX);
    let next = if orders.len() > limit {
        orders.truncate(limit);
        orders.last().map(Cursor::after)
    } else {
        None
    };
    crate::domain::OrderPage { orders, next }
}

#[derive(sqlx::FromRow)]
pub(crate) struct MerchantRow {
    merchant_id: String,
    name: String,
    payout_openid: Option<String>,
    status: String,
    created_at: i64,
}

fn corrupt(backend: &'static str, what: &str, err: &Invalid) -> StoreError {
    StoreError::Corrupt {
        backend,
        detail: format!("{what}: {err}"),
    }
}

impl MerchantRow {
    pub(crate) fn parse(self, backend: &'static str) -> Result<Merchant, StoreError> {
        let what = format!("merchant {}", self.merchant_id);
        let bad = |err: Invalid| corrupt(backend, &what, &err);
        Ok(Merchant {
            merchant_id: MerchantId::parse(self.merchant_id.clone()).map_err(bad)?,
            name: MerchantName::parse(self.name).map_err(bad)?,
            payout_openid: self
                .payout_openid
                .map(Openid::parse)
                .transpose()
                .map_err(bad)?,
            status: MerchantStatus::parse(&self.status).map_err(bad)?,
            created_at_ms: self.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct OrderRow {
    out_trade_no: String,
    merchant_id: String,
    payer_openid: String,
    amount_fen: i64,
    description: String,
    status: String,
    transaction_id: Option<String>,
    created_at: i64,
    paid_at: Option<i64>,
    withdrawal_id: Option<String>,
}

impl OrderRow {
    pub(crate) fn parse(self, backend: &'static str) -> Result<Order, StoreError> {
        let what = format!("order {}", self.out_trade_no);
        let bad = |err: Invalid| corrupt(backend, &what, &err);
        Ok(Order {
            out_trade_no: OutTradeNo::parse(self.out_trade_no.clone())
                .map_err(|err| bad(Invalid::id("out_trade_no", &err)))?,
            merchant_id: MerchantId::parse(self.merchant_id).map_err(bad)?,
            payer_openid: Openid::parse(self.payer_openid).map_err(bad)?,
            amount: AmountFen::positive(self.amount_fen)
                .map_err(|err| bad(Invalid::new("amount_fen", err.to_string())))?,
            description: Description::parse(self.description).map_err(bad)?,
            status: OrderStatus::parse(&self.status).map_err(bad)?,
            transaction_id: self
                .transaction_id
                .map(TransactionId::parse)
                .transpose()
                .map_err(bad)?,
            created_at_ms: self.created_at,
            paid_at_ms: self.paid_at,
            withdrawal_id: self
                .withdrawal_id
                .map(WithdrawalId::parse)
                .transpose()
                .map_err(bad)?,
        })
    }
}

/// The decision when [`INSERT_ORDER`] inserted nothing, from the merchant
/// as it is now.
pub(crate) fn uninserted(
    backend: &'static str,
    merchant_id: &MerchantId,
    merchant: Option<Merchant>,
) -> Result<CreateOrder, StoreError> {
    match merchant.map(|merchant| merchant.status) {
        None => Ok(CreateOrder::UnknownMerchant),
        Some(MerchantStatus::Active) => Err(StoreError::Unavailable {
            backend,
            detail: format!("merchant {merchant_id} became ACTIVE during the insert; retry"),
        }),
        Some(status) => Ok(CreateOrder::MerchantNotActive(status)),
    }
}

/// The decision when [`MARK_PAID`] changed no row, from the order as it is
/// now (read in the same transaction).
pub(crate) fn unapplied_payment(
    backend: &'static str,
    order: Option<Order>,
    payment: &Payment,
) -> Result<MarkPaid, StoreError> {
    let Some(order) = order else {
        return Ok(MarkPaid::UnknownOrder);
    };
    Ok(match order.status {
        OrderStatus::Created if order.amount != payment.amount => MarkPaid::AmountMismatch(order),
        // An order never returns to CREATED, so a matching payment that did
        // not apply means the read and the update disagree: say so, retryable.
        OrderStatus::Created => {
            return Err(StoreError::Unavailable {
                backend,
                detail: format!(
                    "order {} is CREATED but the payment did not apply; retry",
                    order.out_trade_no
                ),
            });
        }
        OrderStatus::Paid | OrderStatus::Refunded => {
            if order.transaction_id.as_ref() != Some(&payment.transaction_id) {
                MarkPaid::OtherTransaction(order)
            } else if order.amount != payment.amount {
                MarkPaid::AmountMismatch(order)
            } else {
                MarkPaid::AlreadyPaid(order)
            }
        }
        OrderStatus::Closed => MarkPaid::NotPayable(order),
    })
}

/// The decision when [`CLOSE_ORDER`] changed no row.
pub(crate) fn unclosed(
    backend: &'static str,
    order: Option<Order>,
) -> Result<CloseOrder, StoreError> {
    let Some(order) = order else {
        return Ok(CloseOrder::UnknownOrder);
    };
    Ok(match order.status {
        OrderStatus::Closed => CloseOrder::AlreadyClosed(order),
        OrderStatus::Paid | OrderStatus::Refunded => CloseOrder::NotClosable(order),
        OrderStatus::Created => {
            return Err(StoreError::Unavailable {
                backend,
                detail: format!(
                    "order {} is CREATED but did not close; retry",
                    order.out_trade_no
                ),
            });
        }
    })
}

/// Milliseconds since the Unix epoch, as the tables store times.
pub(crate) fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
        })
}

/// A unique key's refusal is `Conflict`; rows that cannot be read back as
/// the types we wrote are `Corrupt`; everything else (refused or lost
/// connections, timeouts, statements the server rejects) is `Unavailable`.
pub(crate) fn store_error(backend: &'static str, err: sqlx::Error) -> StoreError {
    match err {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict {
            backend,
            detail: db.to_string(),
        },
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

/// Runs one database operation under [`STATEMENT_TIMEOUT`].
pub(crate) async fn bounded<T>(
    backend: &'static str,
    operation: impl Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, StoreError> {
    within(backend, STATEMENT_TIMEOUT, operation)
        .await?
        .map_err(|err| store_error(backend, err))
}

/// `Unavailable` when `operation` has not finished after `limit`.
pub(crate) async fn within<T>(
    backend: &'static str,
    limit: Duration,
    operation: impl Future<Output = T>,
) -> Result<T, StoreError> {
    tokio::time::timeout(limit, operation)
        .await
        .map_err(|_| StoreError::Unavailable {
            backend,
            detail: format!("no answer within {} ms", limit.as_millis()),
        })
}
