//! [`LedgerStore`] and [`WithdrawalStore`](super::WithdrawalStore) on
//! MariaDB/MySQL: InnoDB, utf8mb4 end to end. Every connection runs at READ
//! COMMITTED (each statement sees the latest commits, no gap locks: the
//! measured best shape for the withdrawal's claim, and payments inserted
//! meanwhile are never deadlock victims), and counts matched rather than
//! changed rows, as SQLite does.

use std::str::FromStr;

use async_trait::async_trait;
use common::OutTradeNo;
use sqlx::MySqlPool;
use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};

use super::sql::{self, MerchantRow, OrderRow};
use super::withdrawals::withdrawal_store;
use super::{CloseOrder, CreateOrder, LedgerStore, MarkPaid, StepHook, StoreError};
use crate::domain::{
    Merchant, MerchantId, MerchantStatus, NewMerchant, NewOrder, Order, OrderPage, OrderQuery,
    Payment,
};

const BACKEND: &str = "mysql";

/// The connection's character set and collation. `_bin` compares bytes,
/// as SQLite does, so ids sort the same on both backends.
const CHARSET: &str = "utf8mb4";
const COLLATION: &str = "utf8mb4_bin";

const READ_COMMITTED: &str = "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED";

const BEGIN_WRITE: &str = "BEGIN";

/// The merchant's row, locked until the transaction ends: a merchant's
/// withdrawals and payout failures run one at a time, each claiming with
/// nothing else of the merchant's in flight (without it, concurrent claims
/// deadlock each other). Payments never lock the merchant row (MarkPaid
/// changes no foreign key column), so they are not held up.
const LOCK_MERCHANT: &str = "SELECT merchant_id, name, payout_openid, status, \
     created_at FROM merchants WHERE merchant_id = ? FOR UPDATE";

/// Reads that must agree with each other (balance, audit) run in one
/// REPEATABLE READ consistent snapshot, read only: no locks taken, none
/// waited for. `SET TRANSACTION` (no SESSION) applies to the next
/// transaction only; the connection returns to READ COMMITTED after it.
const SNAPSHOT_SETUP: &[&str] = &["SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"];
const BEGIN_SNAPSHOT: &str = "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY";

/// The claim, on the index meant for it (see [`super::sql::claim_orders`]).
pub(crate) const CLAIM_ORDERS: &str =
    super::sql::claim_orders!("FORCE INDEX (orders_by_merchant_status_withdrawal)");

/// The balance's free orders, on the claim's index (see
/// [`super::sql::balance_withdrawable`]).
pub(crate) const BALANCE_WITHDRAWABLE: &str =
    super::sql::balance_withdrawable!("FORCE INDEX (orders_by_merchant_status_withdrawal)");

withdrawal_store!(
    MySqlLedgerStore,
    backend: BACKEND,
    begin_write: BEGIN_WRITE,
    lock_merchant: LOCK_MERCHANT,
    claim_orders: CLAIM_ORDERS,
    balance_withdrawable: BALANCE_WITHDRAWABLE,
    snapshot_setup: SNAPSHOT_SETUP,
    begin_snapshot: BEGIN_SNAPSHOT,
);

#[derive(Debug, Clone)]
pub struct MySqlLedgerStore {
    pool: MySqlPool,
    /// Runs between the steps of every withdrawal; tests only.
    hook: Option<StepHook>,
}

impl MySqlLedgerStore {
    /// Connects to `url` (`mysql://user:password@host:3306/database`) and
    /// runs the migrations in `migrations/mysql`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options =
            MySqlConnectOptions::from_str(url).map_err(|err| sql::store_error(BACKEND, err))?;
        Self::connect_with(options).await
    }

    /// As [`connect`](Self::connect), from options already parsed. The
    /// charset, matched-row counting and the isolation level are set here
    /// whatever `options` said.
    pub async fn connect_with(options: MySqlConnectOptions) -> Result<Self, StoreError> {
        let options = options
            .charset(CHARSET)
            .collation(COLLATION)
            .found_rows(true);
        let pool = sql::bounded(
            BACKEND,
            MySqlPoolOptions::new()
                .max_connections(sql::MAX_CONNECTIONS)
                .acquire_timeout(sql::ACQUIRE_TIMEOUT)
                .after_connect(|conn, _meta| {
                    Box::pin(async move {
                        sqlx::raw_sql(READ_COMMITTED).execute(conn).await?;
                        Ok(())
                    })
                })
                .connect_with(options.clone()),
        )
        .await?;
        migrate(&pool).await?;
        tracing::debug!(
            host = options.get_host(),
            port = options.get_port(),
            database = options.get_database().unwrap_or_default(),
            "mysql ledger store ready"
        );
        Ok(Self { pool, hook: None })
    }

    async fn read_order(&self, out_trade_no: &OutTradeNo) -> Result<Option<Order>, StoreError> {
        let query = sqlx::query_as::<_, OrderRow>(sql::SELECT_ORDER).bind(out_trade_no.as_str());
        let row = sql::bounded(BACKEND, query.fetch_optional(&self.pool)).await?;
        row.map(|row| row.parse(BACKEND)).transpose()
    }

    /// Test support: the same store (and pool), running `hook` between
    /// the steps of every withdrawal it makes.
    #[cfg(test)]
    pub(crate) fn with_step_hook(&self, hook: StepHook) -> Self {
        Self {
            pool: self.pool.clone(),
            hook: Some(hook),
        }
    }

    /// Test support: the pool, for statements no operation makes.
    #[cfg(test)]
    pub(crate) fn pool(&self) -> &MySqlPool {
        &self.pool
    }
}

/// How long a process waits for another one's migrations.
/// Runs the migrations one process at a time (see `common::mysql`).
async fn migrate(pool: &MySqlPool) -> Result<(), StoreError> {
    common::mysql::migrate_locked(
        pool,
        &sqlx::migrate!("migrations/mysql"),
        "ledger",
        std::time::Duration::from_secs(60),
    )
    .await
    .map_err(|detail| StoreError::Unavailable {
        backend: BACKEND,
        detail,
    })
}

#[async_trait]
impl LedgerStore for MySqlLedgerStore {
    async fn create_merchant(&self, merchant: &NewMerchant) -> Result<Merchant, StoreError> {
        let merchant = Merchant {
            merchant_id: MerchantId::generate(),
            name: merchant.name.clone(),
            payout_openid: merchant.payout_openid.clone(),
            status: MerchantStatus::Active,
            created_at_ms: sql::now_millis(),
        };
        let query = sqlx::query(sql::INSERT_MERCHANT)
            .bind(merchant.merchant_id.as_str())
            .bind(merchant.name.as_str())
            .bind(
                merchant
                    .payout_openid
                    .as_ref()
                    .map(|openid| openid.as_str()),
            )
            .bind(merchant.status.as_str())
            .bind(merchant.created_at_ms);
        sql::bounded(BACKEND, query.execute(&self.pool)).await?;
        Ok(merchant)
    }

    async fn merchant(&self, merchant_id: &MerchantId) -> Result<Option<Merchant>, StoreError> {
        let query =
            sqlx::query_as::<_, MerchantRow>(sql::SELECT_MERCHANT).bind(merchant_id.as_str());
        let row = sql::bounded(BACKEND, query.fetch_optional(&self.pool)).await?;
        row.map(|row| row.parse(BACKEND)).transpose()
    }

    async fn set_merchant_status(
        &self,
        merchant_id: &MerchantId,
        status: MerchantStatus,
    ) -> Result<bool, StoreError> {
        let query = sqlx::query(sql::UPDATE_MERCHANT_STATUS)
            .bind(status.as_str())
            .bind(merchant_id.as_str());
        let done = sql::bounded(BACKEND, query.execute(&self.pool)).await?;
        // Matched rows (found_rows), so an unchanged status still counts.
        Ok(done.rows_affected() == 1)
    }

    async fn create_order(
        &self,
        order: &NewOrder,
        created_at_ms: i64,
    ) -> Result<CreateOrder, StoreError> {
        let query = sqlx::query(sql::INSERT_ORDER)
            .bind(order.out_trade_no.as_str())
            .bind(order.payer_openid.as_str())
            .bind(order.amount.fen())
            .bind(order.description.as_str())
            .bind(created_at_ms)
            .bind(order.merchant_id.as_str());
        match sql::bounded(BACKEND, query.execute(&self.pool)).await {
            Err(StoreError::Conflict { .. }) => return Ok(CreateOrder::OutTradeNoTaken),
            Err(err) => return Err(err),
            Ok(done) if done.rows_affected() == 1 => {}
            Ok(_) => {
                let merchant = self.merchant(&order.merchant_id).await?;
                return sql::uninserted(BACKEND, &order.merchant_id, merchant);
            }
        }
        match self.read_order(&order.out_trade_no).await? {
            Some(created) => Ok(CreateOrder::Created(created)),
            None => Err(StoreError::Corrupt {
                backend: BACKEND,
                detail: format!("order {} vanished after its insert", order.out_trade_no),
            }),
        }
    }

    async fn order(&self, out_trade_no: &OutTradeNo) -> Result<Option<Order>, StoreError> {
        self.read_order(out_trade_no).await
    }

    async fn list_orders(&self, query: &OrderQuery) -> Result<OrderPage, StoreError> {
        let status = query.status.map_or("", |status| status.as_str());
        let withdrawn = sql::withdrawn_filter(query);
        let (before_created, before_no) = sql::list_bounds(query);
        let statement = sqlx::query_as::<_, OrderRow>(sql::LIST_ORDERS)
            .bind(query.merchant_id.as_str())
            .bind(status)
            .bind(status)
            .bind(withdrawn)
            .bind(withdrawn)
            .bind(withdrawn)
            .bind(before_created)
            .bind(before_created)
            .bind(before_no)
            .bind(i64::from(query.limit.get()) + 1);
        let rows = sql::bounded(BACKEND, statement.fetch_all(&self.pool)).await?;
        let orders = rows
            .into_iter()
            .map(|row| row.parse(BACKEND))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(sql::page(orders, query))
    }

    async fn mark_paid(&self, payment: &Payment) -> Result<MarkPaid, StoreError> {
        let no = payment.out_trade_no.as_str();
        let applied = sql::bounded(BACKEND, async {
            let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
            let changed = sqlx::query(sql::MARK_PAID)
                .bind(payment.transaction_id.as_str())
                .bind(payment.paid_at_ms)
                .bind(no)
                .bind(payment.amount.fen())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            let row = sqlx::query_as::<_, OrderRow>(sql::SELECT_ORDER)
                .bind(no)
                .fetch_optional(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok((changed, row))
        })
        .await;
        let (changed, row) = match applied {
            // The only unique key an UPDATE of transaction_id can meet.
            Err(StoreError::Conflict { .. }) => return Ok(MarkPaid::TransactionTaken),
            other => other?,
        };
        let order = row.map(|row| row.parse(BACKEND)).transpose()?;
        match (changed, order) {
            (1, Some(order)) => Ok(MarkPaid::Paid(order)),
            (_, order) => sql::unapplied_payment(BACKEND, order, payment),
        }
    }

    async fn close_order(&self, out_trade_no: &OutTradeNo) -> Result<CloseOrder, StoreError> {
        let no = out_trade_no.as_str();
        let (changed, row) = sql::bounded(BACKEND, async {
            let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
            let changed = sqlx::query(sql::CLOSE_ORDER)
                .bind(no)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            let row = sqlx::query_as::<_, OrderRow>(sql::SELECT_ORDER)
                .bind(no)
                .fetch_optional(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok((changed, row))
        })
        .await?;
        let order = row.map(|row| row.parse(BACKEND)).transpose()?;
        match (changed, order) {
            (1, Some(order)) => Ok(CloseOrder::Closed(order)),
            (_, order) => sql::unclosed(BACKEND, order),
        }
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sql::bounded(BACKEND, sqlx::query(sql::PING).execute(&self.pool)).await?;
        Ok(())
    }

    fn backend(&self) -> &'static str {
        BACKEND
    }
}
