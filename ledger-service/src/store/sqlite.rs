//! [`LedgerStore`] and [`WithdrawalStore`](super::WithdrawalStore) on
//! SQLite: one file, WAL, for development and single-node deployments.
//! Writes that must read their own result run in `BEGIN IMMEDIATE`
//! transactions (the write lock first, so they never need to upgrade a
//! read); a withdrawal is one of them, so a payment arriving during it waits
//! (busy timeout) and lands after its commit.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use common::OutTradeNo;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::sql::{self, MerchantRow, OrderRow};
use super::withdrawals::withdrawal_store;
use super::{CloseOrder, CreateOrder, LedgerStore, MarkPaid, StepHook, StoreError};
use crate::domain::{
    Merchant, MerchantId, MerchantStatus, NewMerchant, NewOrder, Order, OrderPage, OrderQuery,
    Payment,
};

const BACKEND: &str = "sqlite";

/// How long a statement waits for another connection's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

/// Inside `BEGIN IMMEDIATE` the connection already holds the database's one
/// write lock: the merchant's row needs no lock of its own.
const LOCK_MERCHANT: &str = super::sql::SELECT_MERCHANT;

/// A deferred transaction reads from one WAL snapshot, taken at its first
/// read, and never blocks (nor waits for) the writer.
const BEGIN_SNAPSHOT: &str = "BEGIN";
const SNAPSHOT_SETUP: &[&str] = &[];

/// The claim, on the index meant for it (see [`super::sql::claim_orders`]).
pub(crate) const CLAIM_ORDERS: &str =
    super::sql::claim_orders!("INDEXED BY orders_by_merchant_status_withdrawal");

/// The balance's free orders, on the claim's index (see
/// [`super::sql::balance_withdrawable`]).
pub(crate) const BALANCE_WITHDRAWABLE: &str =
    super::sql::balance_withdrawable!("INDEXED BY orders_by_merchant_status_withdrawal");

withdrawal_store!(
    SqliteLedgerStore,
    backend: BACKEND,
    begin_write: BEGIN_WRITE,
    lock_merchant: LOCK_MERCHANT,
    claim_orders: CLAIM_ORDERS,
    balance_withdrawable: BALANCE_WITHDRAWABLE,
    snapshot_setup: SNAPSHOT_SETUP,
    begin_snapshot: BEGIN_SNAPSHOT,
);

#[derive(Debug, Clone)]
pub struct SqliteLedgerStore {
    pool: SqlitePool,
    /// Runs between the steps of every withdrawal; tests only.
    hook: Option<StepHook>,
}

impl SqliteLedgerStore {
    /// Opens (creating it and its directory if missing) the database at
    /// `url` (`sqlite://path/to/ledger.db`, `sqlite:ledger.db`) and runs the
    /// migrations in `migrations/sqlite`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options =
            SqliteConnectOptions::from_str(url).map_err(|err| sql::store_error(BACKEND, err))?;
        Self::connect_with(options).await
    }

    /// As [`connect`](Self::connect), from options already parsed. WAL,
    /// `busy_timeout`, foreign keys and `create_if_missing` are set here
    /// whatever `options` said.
    pub async fn connect_with(options: SqliteConnectOptions) -> Result<Self, StoreError> {
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        create_parent_dir(options.get_filename())?;
        let pool = sql::bounded(
            BACKEND,
            SqlitePoolOptions::new()
                .max_connections(sql::MAX_CONNECTIONS)
                .acquire_timeout(sql::ACQUIRE_TIMEOUT)
                .connect_with(options),
        )
        .await?;
        sqlx::migrate!("migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|err| StoreError::Unavailable {
                backend: BACKEND,
                detail: format!("migrations failed: {err}"),
            })?;
        tracing::debug!("sqlite ledger store ready");
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
    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// SQLite creates a missing file but not a missing directory.
fn create_parent_dir(file: &Path) -> Result<(), StoreError> {
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.exists() => std::fs::create_dir_all(dir)
            .map_err(|err| StoreError::Unavailable {
                backend: BACKEND,
                detail: format!("cannot create {}: {err}", dir.display()),
            }),
        _ => Ok(()),
    }
}

#[async_trait]
impl LedgerStore for SqliteLedgerStore {
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
        // SQLite counts matched rows, so an unchanged status still counts.
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
