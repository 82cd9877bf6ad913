//! What the MariaDB/MySQL and SQLite ledger stores share: every statement
//! (both dialects read them the same way), the row types and their parsing
//! back into domain types, the decisions taken after a conditional update
//! changed nothing, and the one mapping from `sqlx::Error` to [`StoreError`].

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{AmountFen, OutTradeNo};

use super::{CloseOrder, CompletePayout, CreateOrder, FailPayout, MarkPaid, StoreError, Withdraw};
use crate::domain::{
    AuditReport, Cursor, Description, FailureReason, Invalid, Merchant, MerchantAudit, MerchantId,
    MerchantName, MerchantStatus, Openid, Order, OrderQuery, OrderStatus, PageLimit, Payment,
    TransactionId, Violation, ViolationKind, Withdrawal, WithdrawalCursor, WithdrawalId,
    WithdrawalPage, WithdrawalRequest, WithdrawalStatus,
};

/// How long a pool waits for a connection (and so how long an unreachable
/// database takes to be reported `Unavailable`).
pub(crate) const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// The most one operation may take, connection and transaction included,
/// before the store gives up and reports the database `Unavailable`.
pub(crate) const STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);

/// The most a withdrawal may take: its claim is one statement over all of
/// the merchant's free PAID orders (a million takes seconds), and it may
/// wait for the merchant's previous withdrawal. Below the server's 30 s.
pub(crate) const WITHDRAW_TIMEOUT: Duration = Duration::from_secs(25);

/// The most an audit may take: it reads every order it checks.
pub(crate) const AUDIT_TIMEOUT: Duration = Duration::from_secs(25);

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

macro_rules! withdrawal_columns {
    () => {
        "withdrawal_id, merchant_id, payout_openid, amount_fen, order_count, status, \
         failure_reason, created_at, updated_at"
    };
}

/// Binds: withdrawal_id.
pub(crate) const SELECT_WITHDRAWAL: &str = concat!(
    "SELECT ",
    withdrawal_columns!(),
    " FROM withdrawals WHERE withdrawal_id = ?"
);

/// The withdrawal an idempotency key is bound to, with the hash of the
/// request that bound it. Binds: merchant_id, idempotency_key.
pub(crate) const SELECT_WITHDRAWAL_BY_KEY: &str = concat!(
    "SELECT ",
    withdrawal_columns!(),
    ", request_hash FROM withdrawals WHERE merchant_id = ? AND idempotency_key = ?"
);

/// A withdrawal with a provisional amount of 0, replaced by the sum of what
/// it claims before its transaction commits. Binds: withdrawal_id,
/// merchant_id, payout_openid, idempotency_key, request_hash, created_at,
/// updated_at.
pub(crate) const INSERT_WITHDRAWAL: &str = "INSERT INTO withdrawals \
     (withdrawal_id, merchant_id, payout_openid, amount_fen, order_count, status, \
      failure_reason, idempotency_key, request_hash, created_at, updated_at) \
     VALUES (?, ?, ?, 0, 0, 'PAYING_OUT', NULL, ?, ?, ?, ?)";

/// The claim: the withdrawal's id on exactly the merchant's PAID orders
/// that no withdrawal holds, in one statement over one range of the
/// `(merchant_id, status, withdrawal_id)` index. An order paid a moment
/// later is not stamped and waits for the next withdrawal; two withdrawals
/// never stamp the same order. Binds: withdrawal_id, merchant_id.
///
/// Written per dialect, with the index named: the statement updates a
/// column of that very index, and MariaDB's optimizer then sometimes prefers
/// a full scan of the table (seen right after a big claim, while the index
/// still holds the moved entries unpurged), which would read every
/// merchant's orders. `FORCE INDEX` (MariaDB) and `INDEXED BY` (SQLite,
/// which refuses the statement rather than scan) keep it to the range.
macro_rules! claim_orders {
    ($hint:literal) => {
        concat!(
            "UPDATE orders ",
            $hint,
            " SET withdrawal_id = ? \
             WHERE merchant_id = ? AND status = 'PAID' AND withdrawal_id IS NULL"
        )
    };
}
pub(crate) use claim_orders;

/// What the withdrawal claimed, summed from the rows that carry its id (the
/// `(withdrawal_id, …)` index). MariaDB's SUM is DECIMAL, hence the cast.
/// Binds: withdrawal_id.
pub(crate) const SUM_CLAIMED: &str = "SELECT \
     CAST(COALESCE(SUM(amount_fen), 0) AS SIGNED) AS fen, COUNT(*) AS orders \
     FROM orders WHERE withdrawal_id = ?";

/// Binds: amount_fen, order_count, withdrawal_id.
pub(crate) const RECORD_CLAIMED: &str =
    "UPDATE withdrawals SET amount_fen = ?, order_count = ? WHERE withdrawal_id = ?";

/// A merchant's withdrawals, newest first, strictly after a cursor (a range
/// of the (merchant_id, created_at, withdrawal_id) index). Binds:
/// merchant_id, cursor created_at, cursor created_at, cursor withdrawal_id,
/// limit; the first page binds `(i64::MAX, '')`.
pub(crate) const LIST_WITHDRAWALS: &str = concat!(
    "SELECT ",
    withdrawal_columns!(),
    " FROM withdrawals WHERE merchant_id = ? \
     AND created_at <= ? AND (created_at < ? OR withdrawal_id < ?) \
     ORDER BY created_at DESC, withdrawal_id DESC LIMIT ?"
);

/// Withdrawals still PAYING_OUT, oldest first, strictly after a cursor (a
/// range of the (status, created_at, withdrawal_id) index). Binds: cursor
/// created_at, cursor created_at, cursor withdrawal_id, limit; the first
/// page binds `(i64::MIN, '')`.
pub(crate) const LIST_PAYING_OUT: &str = concat!(
    "SELECT ",
    withdrawal_columns!(),
    " FROM withdrawals WHERE status = 'PAYING_OUT' \
     AND created_at >= ? AND (created_at > ? OR withdrawal_id > ?) \
     ORDER BY created_at, withdrawal_id LIMIT ?"
);

/// The orders carrying a withdrawal's id, newest first, strictly after a
/// cursor (a range of the (withdrawal_id, created_at, out_trade_no) index).
/// Binds: withdrawal_id, cursor created_at, cursor created_at, cursor
/// out_trade_no, limit; the first page binds `(i64::MAX, '')`.
pub(crate) const LIST_WITHDRAWAL_ORDERS: &str = concat!(
    "SELECT ",
    order_columns!(),
    " FROM orders WHERE withdrawal_id = ? \
     AND created_at <= ? AND (created_at < ? OR out_trade_no < ?) \
     ORDER BY created_at DESC, out_trade_no DESC LIMIT ?"
);

/// Binds: updated_at, withdrawal_id.
pub(crate) const COMPLETE_PAYOUT: &str = "UPDATE withdrawals \
     SET status = 'PAID_OUT', updated_at = ? \
     WHERE withdrawal_id = ? AND status = 'PAYING_OUT'";

/// Binds: failure_reason, updated_at, withdrawal_id.
pub(crate) const FAIL_PAYOUT: &str = "UPDATE withdrawals \
     SET status = 'FAILED', failure_reason = ?, updated_at = ? \
     WHERE withdrawal_id = ? AND status = 'PAYING_OUT'";

/// A failed payout's orders become withdrawable again. Binds: withdrawal_id.
pub(crate) const RELEASE_ORDERS: &str =
    "UPDATE orders SET withdrawal_id = NULL WHERE withdrawal_id = ?";

/// Binds: withdrawal_id.
pub(crate) const SELECT_WITHDRAWAL_MERCHANT: &str =
    "SELECT merchant_id FROM withdrawals WHERE withdrawal_id = ?";

/// A merchant's free PAID orders: the claim's range, and index (MariaDB
/// otherwise tends to read all of the merchant's orders through its
/// `(merchant_id, created_at, …)` index). Binds: merchant_id.
macro_rules! balance_withdrawable {
    ($hint:literal) => {
        concat!(
            "SELECT CAST(COALESCE(SUM(amount_fen), 0) AS SIGNED) AS fen, COUNT(*) AS orders \
             FROM orders ",
            $hint,
            " WHERE merchant_id = ? AND status = 'PAID' AND withdrawal_id IS NULL"
        )
    };
}
pub(crate) use balance_withdrawable;

/// Audits and balances read merchants in a range of ids: `(id, id)` for
/// one, [`ALL_MERCHANTS`] for every one (ids are ASCII letters and digits,
/// all between the two), so that one statement serves both and still seeks
/// an index for one merchant.
pub(crate) const ALL_MERCHANTS: (&str, &str) = ("", "~");

/// Binds: the merchant range.
pub(crate) const AUDIT_MERCHANTS: &str =
    "SELECT merchant_id FROM merchants WHERE merchant_id BETWEEN ? AND ? ORDER BY merchant_id";

/// Per merchant: Σ and count of PAID orders, and of those no withdrawal
/// holds. Binds: the merchant range.
pub(crate) const AUDIT_PAID: &str = "SELECT merchant_id, \
     CAST(COALESCE(SUM(amount_fen), 0) AS SIGNED) AS paid_fen, \
     COUNT(*) AS paid_orders, \
     CAST(COALESCE(SUM(CASE WHEN withdrawal_id IS NULL THEN amount_fen ELSE 0 END), 0) \
          AS SIGNED) AS withdrawable_fen, \
     CAST(COALESCE(SUM(CASE WHEN withdrawal_id IS NULL THEN 1 ELSE 0 END), 0) \
          AS SIGNED) AS withdrawable_orders \
     FROM orders WHERE merchant_id BETWEEN ? AND ? AND status = 'PAID' \
     GROUP BY merchant_id";

/// Per merchant: Σ PAYING_OUT and Σ PAID_OUT withdrawals. Binds: the
/// merchant range.
pub(crate) const AUDIT_WITHDRAWN: &str = "SELECT merchant_id, \
     CAST(COALESCE(SUM(CASE WHEN status = 'PAYING_OUT' THEN amount_fen ELSE 0 END), 0) \
          AS SIGNED) AS paying_out_fen, \
     CAST(COALESCE(SUM(CASE WHEN status = 'PAID_OUT' THEN amount_fen ELSE 0 END), 0) \
          AS SIGNED) AS paid_out_fen \
     FROM withdrawals WHERE merchant_id BETWEEN ? AND ? \
     GROUP BY merchant_id";

/// Live withdrawals whose amount or order_count is not the sum or count of
/// the orders carrying their id. Binds: the merchant range, limit.
pub(crate) const AUDIT_MISMATCHED: &str = "SELECT w.withdrawal_id, w.merchant_id, \
     w.amount_fen, w.order_count, \
     CAST(COALESCE(SUM(o.amount_fen), 0) AS SIGNED) AS held_fen, \
     COUNT(o.out_trade_no) AS held_orders \
     FROM withdrawals w LEFT JOIN orders o ON o.withdrawal_id = w.withdrawal_id \
     WHERE w.merchant_id BETWEEN ? AND ? AND w.status <> 'FAILED' \
     GROUP BY w.withdrawal_id, w.merchant_id, w.amount_fen, w.order_count \
     HAVING w.amount_fen <> COALESCE(SUM(o.amount_fen), 0) \
         OR w.order_count <> COUNT(o.out_trade_no) \
     ORDER BY w.merchant_id, w.withdrawal_id LIMIT ?";

/// Held orders that no withdrawal may hold: held by a FAILED withdrawal,
/// not PAID, or held by another merchant's withdrawal. Binds: the merchant
/// range, limit.
pub(crate) const AUDIT_MISHELD: &str = "SELECT o.merchant_id, o.out_trade_no, o.status, \
     o.amount_fen, o.withdrawal_id, w.status AS withdrawal_status, \
     w.merchant_id AS withdrawal_merchant_id \
     FROM orders o JOIN withdrawals w ON w.withdrawal_id = o.withdrawal_id \
     WHERE o.merchant_id BETWEEN ? AND ? \
     AND (w.status = 'FAILED' OR o.status <> 'PAID' OR w.merchant_id <> o.merchant_id) \
     ORDER BY o.merchant_id, o.out_trade_no LIMIT ?";

/// How many violations of each query an audit lists.
pub(crate) const AUDIT_VIOLATION_LIMIT: i64 = 1000;

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

#[derive(sqlx::FromRow)]
pub(crate) struct WithdrawalRow {
    withdrawal_id: String,
    merchant_id: String,
    payout_openid: String,
    amount_fen: i64,
    order_count: i64,
    status: String,
    failure_reason: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl WithdrawalRow {
    pub(crate) fn parse(self, backend: &'static str) -> Result<Withdrawal, StoreError> {
        let what = format!("withdrawal {}", self.withdrawal_id);
        let bad = |err: Invalid| corrupt(backend, &what, &err);
        let status = WithdrawalStatus::parse(&self.status).map_err(bad)?;
        let failure_reason = self
            .failure_reason
            .map(FailureReason::parse)
            .transpose()
            .map_err(bad)?;
        if (status == WithdrawalStatus::Failed) != failure_reason.is_some() {
            return Err(bad(Invalid::new(
                "failure_reason",
                format!("is set on a {status} withdrawal, or missing on a FAILED one"),
            )));
        }
        Ok(Withdrawal {
            withdrawal_id: WithdrawalId::parse(self.withdrawal_id.clone()).map_err(bad)?,
            merchant_id: MerchantId::parse(self.merchant_id).map_err(bad)?,
            payout_openid: Openid::parse(self.payout_openid).map_err(bad)?,
            amount: AmountFen::parse(self.amount_fen)
                .map_err(|err| bad(Invalid::new("amount_fen", err.to_string())))?,
            order_count: self.order_count,
            status,
            failure_reason,
            created_at_ms: self.created_at,
            updated_at_ms: self.updated_at,
        })
    }
}

/// [`SELECT_WITHDRAWAL_BY_KEY`]'s row.
#[derive(sqlx::FromRow)]
pub(crate) struct KeyedWithdrawalRow {
    #[sqlx(flatten)]
    withdrawal: WithdrawalRow,
    request_hash: Option<String>,
}

/// [`SUM_CLAIMED`]'s and `balance_withdrawable!`'s row.
#[derive(sqlx::FromRow)]
pub(crate) struct SumRow {
    pub(crate) fen: i64,
    pub(crate) orders: i64,
}

/// The decision when an idempotency key is already bound: the same request
/// is a replay, another is refused. Nothing moves either way.
pub(crate) fn bound_key(
    backend: &'static str,
    row: KeyedWithdrawalRow,
    request: &WithdrawalRequest,
) -> Result<Withdraw, StoreError> {
    let same = row.request_hash.as_deref() == Some(request.request_hash.as_str());
    let withdrawal = row.withdrawal.parse(backend)?;
    Ok(if same {
        Withdraw::Replayed(withdrawal)
    } else {
        Withdraw::KeyReused(withdrawal)
    })
}

/// The decision when [`COMPLETE_PAYOUT`] changed no row.
pub(crate) fn uncompleted(withdrawal: Option<Withdrawal>) -> CompletePayout {
    match withdrawal {
        None => CompletePayout::UnknownWithdrawal,
        Some(w) if w.status == WithdrawalStatus::PaidOut => CompletePayout::AlreadyPaidOut(w),
        // PAYING_OUT cannot be (the update would have applied), but if it
        // were, refusing is the safe answer: the caller retries.
        Some(w) => CompletePayout::NotPayingOut(w),
    }
}

/// The decision when [`FAIL_PAYOUT`] changed no row.
pub(crate) fn unfailed(withdrawal: Option<Withdrawal>) -> FailPayout {
    match withdrawal {
        None => FailPayout::UnknownWithdrawal,
        Some(w) if w.status == WithdrawalStatus::Failed => FailPayout::AlreadyFailed(w),
        Some(w) => FailPayout::NotPayingOut(w),
    }
}

/// The binds of [`LIST_WITHDRAWALS`] that say where the page starts.
pub(crate) fn newest_first_bounds(after: Option<&WithdrawalCursor>) -> (i64, &str) {
    match after {
        Some(cursor) => (cursor.created_at_ms, cursor.withdrawal_id.as_str()),
        None => (i64::MAX, ""),
    }
}

/// The binds of [`LIST_PAYING_OUT`] that say where the page starts.
pub(crate) fn oldest_first_bounds(after: Option<&WithdrawalCursor>) -> (i64, &str) {
    match after {
        Some(cursor) => (cursor.created_at_ms, cursor.withdrawal_id.as_str()),
        None => (i64::MIN, ""),
    }
}

/// The binds of [`LIST_WITHDRAWAL_ORDERS`] that say where the page starts.
pub(crate) fn order_bounds(after: Option<&Cursor>) -> (i64, &str) {
    match after {
        Some(cursor) => (cursor.created_at_ms, cursor.out_trade_no.as_str()),
        None => (i64::MAX, ""),
    }
}

/// Rows come back as `limit + 1` so that a full page knows whether another
/// follows.
pub(crate) fn withdrawal_page(
    backend: &'static str,
    rows: Vec<WithdrawalRow>,
    limit: PageLimit,
) -> Result<WithdrawalPage, StoreError> {
    let mut withdrawals = rows
        .into_iter()
        .map(|row| row.parse(backend))
        .collect::<Result<Vec<_>, _>>()?;
    let limit = usize::try_from(limit.get()).unwrap_or(usize::MAX);
    let next = if withdrawals.len() > limit {
        withdrawals.truncate(limit);
        withdrawals.last().map(WithdrawalCursor::after)
    } else {
        None
    };
    Ok(WithdrawalPage { withdrawals, next })
}

/// The merchant range of the audit statements.
pub(crate) fn merchant_range(merchant_id: Option<&MerchantId>) -> (&str, &str) {
    match merchant_id {
        Some(id) => (id.as_str(), id.as_str()),
        None => ALL_MERCHANTS,
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct AuditPaidRow {
    merchant_id: String,
    paid_fen: i64,
    paid_orders: i64,
    withdrawable_fen: i64,
    withdrawable_orders: i64,
}

#[derive(sqlx::FromRow)]
pub(crate) struct AuditWithdrawnRow {
    merchant_id: String,
    pub(crate) paying_out_fen: i64,
    pub(crate) paid_out_fen: i64,
}

#[derive(sqlx::FromRow)]
pub(crate) struct AuditMismatchRow {
    withdrawal_id: String,
    merchant_id: String,
    amount_fen: i64,
    order_count: i64,
    held_fen: i64,
    held_orders: i64,
}

#[derive(sqlx::FromRow)]
pub(crate) struct AuditMisheldRow {
    merchant_id: String,
    out_trade_no: String,
    status: String,
    amount_fen: i64,
    withdrawal_id: String,
    withdrawal_status: String,
    withdrawal_merchant_id: String,
}

/// What one snapshot of the audit statements returned.
pub(crate) struct AuditRows {
    pub(crate) merchants: Vec<String>,
    pub(crate) paid: Vec<AuditPaidRow>,
    pub(crate) withdrawn: Vec<AuditWithdrawnRow>,
    pub(crate) mismatched: Vec<AuditMismatchRow>,
    pub(crate) misheld: Vec<AuditMisheldRow>,
}

/// The report from the audit's rows: totals per merchant, the totals check,
/// and every violation the statements found.
pub(crate) fn audit_report(
    backend: &'static str,
    rows: AuditRows,
) -> Result<AuditReport, StoreError> {
    let limit = usize::try_from(AUDIT_VIOLATION_LIMIT).unwrap_or(usize::MAX);
    let truncated = rows.mismatched.len() > limit || rows.misheld.len() > limit;
    let merchant = |id: String| {
        MerchantId::parse(id.clone())
            .map_err(|err| corrupt(backend, &format!("merchant {id}"), &err))
    };
    let mut report: std::collections::BTreeMap<String, MerchantAudit> =
        std::collections::BTreeMap::new();
    for id in rows.merchants {
        let merchant_id = merchant(id.clone())?;
        report.insert(
            id,
            MerchantAudit {
                merchant_id,
                paid_fen: 0,
                paid_orders: 0,
                withdrawable_fen: 0,
                withdrawable_orders: 0,
                paying_out_fen: 0,
                paid_out_fen: 0,
                violations: Vec::new(),
            },
        );
    }
    // Rows of merchants that do not exist cannot be: foreign keys.
    for row in rows.paid {
        if let Some(audit) = report.get_mut(&row.merchant_id) {
            audit.paid_fen = row.paid_fen;
            audit.paid_orders = row.paid_orders;
            audit.withdrawable_fen = row.withdrawable_fen;
            audit.withdrawable_orders = row.withdrawable_orders;
        }
    }
    for row in rows.withdrawn {
        if let Some(audit) = report.get_mut(&row.merchant_id) {
            audit.paying_out_fen = row.paying_out_fen;
            audit.paid_out_fen = row.paid_out_fen;
        }
    }
    let withdrawal = |id: String| {
        WithdrawalId::parse(id.clone())
            .map_err(|err| corrupt(backend, &format!("withdrawal {id}"), &err))
    };
    for row in rows.mismatched.into_iter().take(limit) {
        let Some(audit) = report.get_mut(&row.merchant_id) else {
            continue;
        };
        audit.violations.push(Violation {
            kind: ViolationKind::WithdrawalMismatch,
            detail: format!(
                "withdrawal {} records {} fen in {} orders; the orders carrying its id \
                 hold {} fen in {} orders",
                row.withdrawal_id, row.amount_fen, row.order_count, row.held_fen, row.held_orders
            ),
            withdrawal_id: Some(withdrawal(row.withdrawal_id)?),
            out_trade_no: None,
        });
    }
    for row in rows.misheld.into_iter().take(limit) {
        let Some(audit) = report.get_mut(&row.merchant_id) else {
            continue;
        };
        let out_trade_no = OutTradeNo::parse(row.out_trade_no.clone()).map_err(|err| {
            corrupt(
                backend,
                &format!("order {}", row.out_trade_no),
                &Invalid::id("out_trade_no", &err),
            )
        })?;
        let withdrawal_id = withdrawal(row.withdrawal_id.clone())?;
        let mut add = |kind, detail: String| {
            audit.violations.push(Violation {
                kind,
                withdrawal_id: Some(withdrawal_id.clone()),
                out_trade_no: Some(out_trade_no.clone()),
                detail,
            });
        };
        if row.withdrawal_status == WithdrawalStatus::Failed.as_str() {
            add(
                ViolationKind::HeldByFailed,
                format!(
                    "order {} ({} fen) carries the id of FAILED withdrawal {}",
                    row.out_trade_no, row.amount_fen, row.withdrawal_id
                ),
            );
        }
        if row.status != OrderStatus::Paid.as_str() {
            add(
                ViolationKind::HeldNotPaid,
                format!(
                    "order {} ({} fen) is {} but withdrawal {} holds it",
                    row.out_trade_no, row.amount_fen, row.status, row.withdrawal_id
                ),
            );
        }
        if row.withdrawal_merchant_id != row.merchant_id {
            add(
                ViolationKind::HeldByOtherMerchant,
                format!(
                    "order {} ({} fen) is held by withdrawal {} of merchant {}",
                    row.out_trade_no, row.amount_fen, row.withdrawal_id, row.withdrawal_merchant_id
                ),
            );
        }
    }
    for audit in report.values_mut() {
        let accounted = i128::from(audit.withdrawable_fen)
            + i128::from(audit.paying_out_fen)
            + i128::from(audit.paid_out_fen);
        if i128::from(audit.paid_fen) != accounted {
            audit.violations.push(Violation {
                kind: ViolationKind::Totals,
                withdrawal_id: None,
                out_trade_no: None,
                detail: format!(
                    "PAID orders hold {} fen but withdrawable {} + paying out {} + paid out {} \
                     = {accounted} fen",
                    audit.paid_fen,
                    audit.withdrawable_fen,
                    audit.paying_out_fen,
                    audit.paid_out_fen
                ),
            });
        }
    }
    Ok(AuditReport {
        merchants: report.into_values().collect(),
        truncated,
    })
}

/// An error inside a store transaction: the database's, or the store's own
/// (a row that does not parse). Lets one `?` serve both.
pub(crate) enum TxError {
    Db(sqlx::Error),
    Store(StoreError),
}

impl From<sqlx::Error> for TxError {
    fn from(err: sqlx::Error) -> Self {
        TxError::Db(err)
    }
}

impl From<StoreError> for TxError {
    fn from(err: StoreError) -> Self {
        TxError::Store(err)
    }
}

/// Runs one transaction under `limit`, as [`bounded`] runs a statement.
pub(crate) async fn bounded_tx<T>(
    backend: &'static str,
    limit: Duration,
    operation: impl Future<Output = Result<T, TxError>>,
) -> Result<T, StoreError> {
    match within(backend, limit, operation).await? {
        Ok(value) => Ok(value),
        Err(TxError::Db(err)) => Err(store_error(backend, err)),
        Err(TxError::Store(err)) => Err(err),
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
