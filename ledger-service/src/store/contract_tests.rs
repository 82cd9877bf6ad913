//! One contract for [`LedgerStore`], run against SQLite always and against
//! MariaDB when `MINIPAY_TEST_MYSQL_URL` is set (set but unreachable fails
//! the test). Every run uses fresh ids, so reruns against a shared MariaDB
//! never meet earlier data.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub(super) use common::testing::TempDir;
use common::testing::{closed_port, silent_port};
use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use common::{AmountFen, OutTradeNo};
use sqlx::Connection as _;
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use tokio::sync::Barrier;

use super::*;
use crate::domain::{
    Cursor, Description, MerchantName, Openid, OrderStatus, PageLimit, TransactionId,
    WithdrawalRequest,
};

pub(super) const MYSQL_TEST_DATABASE: &str = "minipay_ledger_test";
/// A bound on everything a test waits for, so a broken backend fails the
/// test instead of hanging it.
pub(super) const PATIENCE: Duration = Duration::from_secs(10);
const EMOJI_NAME: &str = "小明的店 🐼‍🔥";

/// 16 hex digits that tag everything one run creates.
pub(super) fn run_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

pub(super) fn env_url(var: &str) -> Option<String> {
    let url = std::env::var(var).ok().filter(|url| !url.is_empty());
    if url.is_none() {
        eprintln!("skipped: {var} is not set");
    }
    url
}

/// A bind of [`TestStore::execute`].
#[derive(Debug, Clone)]
pub(super) enum Bind {
    Text(String),
    Int(i64),
}

/// An order as the order-by-order checker reads it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(super) struct OrderFacts {
    pub out_trade_no: String,
    pub status: String,
    pub amount_fen: i64,
    pub withdrawal_id: Option<String>,
}

/// A withdrawal as the order-by-order checker reads it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(super) struct WithdrawalFacts {
    pub withdrawal_id: String,
    pub status: String,
    pub amount_fen: i64,
    pub order_count: i64,
}

/// What the suites need beyond the store traits: the same store with a
/// step hook, statements no operation makes (tampering, the naive
/// algorithm, EXPLAIN, bulk rows), and the rows as they are.
pub(super) trait TestStore: LedgerStore + WithdrawalStore + Clone + 'static {
    /// Whether a payment waits for a withdrawal in progress (SQLite: one
    /// writer at a time) or is applied meanwhile (MariaDB: row locks).
    const PAYMENTS_WAIT_FOR_WITHDRAWALS: bool;

    /// The dialect's claim and balance statements.
    const CLAIM_ORDERS: &'static str;
    const BALANCE_WITHDRAWABLE: &'static str;

    fn with_hook(&self, hook: StepHook) -> Self;

    /// Runs one statement; the rows it changed.
    fn execute(
        &self,
        statement: &str,
        binds: Vec<Bind>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    fn orders_of(&self, merchant: &MerchantId) -> impl Future<Output = Vec<OrderFacts>> + Send;

    fn withdrawals_of(
        &self,
        merchant: &MerchantId,
    ) -> impl Future<Output = Vec<WithdrawalFacts>> + Send;

    /// Σ and count of the merchant's PAID orders that no withdrawal holds,
    /// read on their own (the naive algorithm's first step).
    fn free_paid(&self, merchant: &MerchantId) -> impl Future<Output = (i64, i64)> + Send;

    /// The query plan of `statement`, one line per step (SQLite's EXPLAIN
    /// QUERY PLAN details; MariaDB's EXPLAIN rows as `table key type extra`).
    fn explain(
        &self,
        statement: &str,
        binds: Vec<Bind>,
    ) -> impl Future<Output = Vec<String>> + Send;

    /// `n` PAID orders of `merchant`, free, inserted by one statement.
    fn bulk_paid_orders(
        &self,
        merchant: &MerchantId,
        tag: &str,
        n: i64,
    ) -> impl Future<Output = ()> + Send;
}

macro_rules! bind_all {
    ($query:expr, $binds:expr) => {{
        let mut query = $query;
        for bind in $binds {
            query = match bind {
                Bind::Text(text) => query.bind(text),
                Bind::Int(int) => query.bind(int),
            };
        }
        query
    }};
}

macro_rules! test_store_common {
    ($backend:literal) => {
        fn with_hook(&self, hook: StepHook) -> Self {
            self.with_step_hook(hook)
        }

        async fn execute(&self, statement: &str, binds: Vec<Bind>) -> Result<u64, StoreError> {
            let query = bind_all!(
                sqlx::query(sqlx::AssertSqlSafe(statement.to_owned())),
                binds
            );
            query
                .execute(self.pool())
                .await
                .map(|done| done.rows_affected())
                .map_err(|err| super::sql::store_error($backend, err))
        }

        async fn orders_of(&self, merchant: &MerchantId) -> Vec<OrderFacts> {
            sqlx::query_as::<_, OrderFacts>(
                "SELECT out_trade_no, status, amount_fen, withdrawal_id FROM orders \
                 WHERE merchant_id = ? ORDER BY out_trade_no",
            )
            .bind(merchant.as_str())
            .fetch_all(self.pool())
            .await
            .unwrap()
        }

        async fn free_paid(&self, merchant: &MerchantId) -> (i64, i64) {
            let sum = sqlx::query_as::<_, super::sql::SumRow>(Self::BALANCE_WITHDRAWABLE)
                .bind(merchant.as_str())
                .fetch_one(self.pool())
                .await
                .unwrap();
            (sum.fen, sum.orders)
        }

        async fn withdrawals_of(&self, merchant: &MerchantId) -> Vec<WithdrawalFacts> {
            sqlx::query_as::<_, WithdrawalFacts>(
                "SELECT withdrawal_id, status, amount_fen, order_count FROM withdrawals \
                 WHERE merchant_id = ? ORDER BY withdrawal_id",
            )
            .bind(merchant.as_str())
            .fetch_all(self.pool())
            .await
            .unwrap()
        }
    };
}

impl TestStore for SqliteLedgerStore {
    const PAYMENTS_WAIT_FOR_WITHDRAWALS: bool = true;
    const CLAIM_ORDERS: &'static str = super::sqlite::CLAIM_ORDERS;
    const BALANCE_WITHDRAWABLE: &'static str = super::sqlite::BALANCE_WITHDRAWABLE;

    test_store_common!("sqlite");

    async fn explain(&self, statement: &str, binds: Vec<Bind>) -> Vec<String> {
        let query = bind_all!(
            sqlx::query_as::<_, (i64, i64, i64, String)>(sqlx::AssertSqlSafe(format!(
                "EXPLAIN QUERY PLAN {statement}"
            ))),
            binds
        );
        query
            .fetch_all(self.pool())
            .await
            .unwrap()
            .into_iter()
            .map(|(_, _, _, detail)| detail)
            .collect()
    }

    async fn bulk_paid_orders(&self, merchant: &MerchantId, tag: &str, n: i64) {
        sqlx::query(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) \
             INSERT INTO orders (out_trade_no, merchant_id, payer_openid, amount_fen, \
                                 description, status, transaction_id, created_at, paid_at) \
             SELECT 'B' || ? || i, ?, 'oBulkPayer', 1 + i % 100, '', 'PAID', \
                    'X' || ? || i, 1000 + i, 2000 + i FROM n",
        )
        .bind(n)
        .bind(tag)
        .bind(merchant.as_str())
        .bind(tag)
        .execute(self.pool())
        .await
        .unwrap();
    }
}

impl TestStore for MySqlLedgerStore {
    const PAYMENTS_WAIT_FOR_WITHDRAWALS: bool = false;
    const CLAIM_ORDERS: &'static str = super::mysql::CLAIM_ORDERS;
    const BALANCE_WITHDRAWABLE: &'static str = super::mysql::BALANCE_WITHDRAWABLE;

    test_store_common!("mysql");

    async fn explain(&self, statement: &str, binds: Vec<Bind>) -> Vec<String> {
        // Fresh statistics: bulk inserts just changed the tables.
        sqlx::raw_sql("ANALYZE TABLE orders, withdrawals")
            .execute(self.pool())
            .await
            .unwrap();
        let query = bind_all!(
            sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN {statement}"))),
            binds
        );
        let rows = query.fetch_all(self.pool()).await.unwrap();
        rows.iter()
            .map(|row| {
                use sqlx::Row as _;
                let text = |column: &str| {
                    row.try_get::<Option<String>, _>(column)
                        .unwrap()
                        .unwrap_or_else(|| "NULL".into())
                };
                format!(
                    "{} key={} type={} extra={}",
                    text("table"),
                    text("key"),
                    text("type"),
                    text("Extra")
                )
            })
            .collect()
    }

    /// In statements of 1000 rows: MariaDB stops a recursive CTE at
    /// `max_recursive_iterations` (1000 on this server), MySQL at
    /// `cte_max_recursion_depth` (1000 by default).
    async fn bulk_paid_orders(&self, merchant: &MerchantId, tag: &str, n: i64) {
        const BATCH: i64 = 1000;
        let mut done = 0;
        while done < n {
            sqlx::query(
                "INSERT INTO orders (out_trade_no, merchant_id, payer_openid, amount_fen, \
                                     description, status, transaction_id, created_at, paid_at) \
                 WITH RECURSIVE n(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM n WHERE i < ?) \
                 SELECT CONCAT('B', ?, i), ?, 'oBulkPayer', 1 + i % 100, '', 'PAID', \
                        CONCAT('X', ?, i), 1000 + i, 2000 + i FROM n",
            )
            .bind(done + 1)
            .bind(n.min(done + BATCH))
            .bind(tag)
            .bind(merchant.as_str())
            .bind(tag)
            .execute(self.pool())
            .await
            .unwrap();
            done += BATCH;
        }
    }
}

/// Names for one run's rows.
pub(super) struct Ids {
    pub(super) run: String,
}

impl Ids {
    pub(super) fn new() -> Self {
        Self { run: run_id() }
    }

    /// `T` + run + name: at most 32 characters for names up to 15.
    pub(super) fn order(&self, name: &str) -> OutTradeNo {
        OutTradeNo::parse(format!("T{}{name}", self.run)).unwrap()
    }

    pub(super) fn transaction(&self, name: &str) -> TransactionId {
        TransactionId::parse(format!("4200{}{name}", self.run)).unwrap()
    }

    pub(super) fn payer(&self, name: &str) -> Openid {
        Openid::parse(format!("o-{}-{name}", self.run)).unwrap()
    }
}

pub(super) fn fen(amount: i64) -> AmountFen {
    AmountFen::positive(amount).unwrap()
}

pub(super) async fn new_merchant(store: &impl LedgerStore, name: &str) -> Merchant {
    store
        .create_merchant(&NewMerchant::parse(name, "").unwrap())
        .await
        .unwrap()
}

/// A merchant with a payout account: one that can withdraw.
pub(super) async fn payout_merchant(store: &impl LedgerStore, name: &str) -> Merchant {
    store
        .create_merchant(&NewMerchant::parse(name, "oPayout_contract").unwrap())
        .await
        .unwrap()
}

pub(super) fn new_order(ids: &Ids, name: &str, merchant: &MerchantId, amount: i64) -> NewOrder {
    NewOrder {
        out_trade_no: ids.order(name),
        merchant_id: merchant.clone(),
        payer_openid: ids.payer("payer"),
        amount: fen(amount),
        description: Description::parse(format!("order {name}")).unwrap(),
    }
}

pub(super) async fn created(store: &impl LedgerStore, order: &NewOrder, at_ms: i64) -> Order {
    match store.create_order(order, at_ms).await.unwrap() {
        CreateOrder::Created(order) => order,
        other => panic!("{}: {other:?}", order.out_trade_no),
    }
}

pub(super) fn payment(
    out_trade_no: &OutTradeNo,
    transaction: &TransactionId,
    amount: i64,
    at_ms: i64,
) -> Payment {
    Payment {
        out_trade_no: out_trade_no.clone(),
        transaction_id: transaction.clone(),
        amount: fen(amount),
        paid_at_ms: at_ms,
    }
}

pub(super) async fn row(store: &impl LedgerStore, out_trade_no: &OutTradeNo) -> Order {
    store.order(out_trade_no).await.unwrap().unwrap()
}

async fn merchants_contract(store: &impl TestStore) {
    let with_payout = NewMerchant {
        name: MerchantName::parse(EMOJI_NAME).unwrap(),
        payout_openid: Some(Openid::parse("oPayout_1-x").unwrap()),
    };
    let merchant = store.create_merchant(&with_payout).await.unwrap();
    assert_eq!(merchant.name.as_str().as_bytes(), EMOJI_NAME.as_bytes());
    assert_eq!(merchant.payout_openid, with_payout.payout_openid);
    assert_eq!(merchant.status, MerchantStatus::Active);
    assert!(
        merchant.created_at_ms > 1_600_000_000_000,
        "{} is not epoch milliseconds",
        merchant.created_at_ms
    );
    assert_eq!(
        MerchantId::parse(merchant.merchant_id.as_str()).unwrap(),
        merchant.merchant_id
    );
    assert_eq!(
        store.merchant(&merchant.merchant_id).await.unwrap(),
        Some(merchant.clone())
    );

    let plain = new_merchant(store, "plain").await;
    assert_ne!(plain.merchant_id, merchant.merchant_id);
    assert_eq!(plain.payout_openid, None);
    assert_eq!(
        store.merchant(&plain.merchant_id).await.unwrap(),
        Some(plain.clone())
    );

    let unknown = MerchantId::generate();
    assert_eq!(store.merchant(&unknown).await.unwrap(), None);

    // Suspension (twice: an unchanged status still finds the merchant).
    for _ in 0..2 {
        assert!(
            store
                .set_merchant_status(&plain.merchant_id, MerchantStatus::Suspended)
                .await
                .unwrap()
        );
    }
    assert_eq!(
        store
            .merchant(&plain.merchant_id)
            .await
            .unwrap()
            .unwrap()
            .status,
        MerchantStatus::Suspended
    );
    assert!(
        !store
            .set_merchant_status(&unknown, MerchantStatus::Suspended)
            .await
            .unwrap()
    );
}

async fn create_order_contract(store: &impl TestStore, ids: &Ids) {
    let merchant = new_merchant(store, "orders").await;
    let order = new_order(ids, "c1", &merchant.merchant_id, 101);
    let first = created(store, &order, 1_000).await;
    assert_eq!(
        first,
        Order {
            out_trade_no: order.out_trade_no.clone(),
            merchant_id: merchant.merchant_id.clone(),
            payer_openid: order.payer_openid.clone(),
            amount: fen(101),
            description: order.description.clone(),
            status: OrderStatus::Created,
            transaction_id: None,
            created_at_ms: 1_000,
            paid_at_ms: None,
            withdrawal_id: None,
        }
    );
    assert_eq!(
        store.order(&order.out_trade_no).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(store.order(&ids.order("never")).await.unwrap(), None);

    // An out_trade_no is taken once, whatever else differs.
    let other = new_merchant(store, "other").await;
    let again = NewOrder {
        merchant_id: other.merchant_id.clone(),
        amount: fen(5),
        ..order.clone()
    };
    assert_eq!(
        store.create_order(&again, 2_000).await.unwrap(),
        CreateOrder::OutTradeNoTaken
    );
    assert_eq!(row(store, &order.out_trade_no).await, first);

    // Unknown and suspended merchants record nothing.
    let orphan = new_order(ids, "c2", &MerchantId::generate(), 1);
    assert_eq!(
        store.create_order(&orphan, 1_000).await.unwrap(),
        CreateOrder::UnknownMerchant
    );
    assert_eq!(store.order(&orphan.out_trade_no).await.unwrap(), None);
    store
        .set_merchant_status(&other.merchant_id, MerchantStatus::Suspended)
        .await
        .unwrap();
    let suspended = new_order(ids, "c3", &other.merchant_id, 1);
    assert_eq!(
        store.create_order(&suspended, 1_000).await.unwrap(),
        CreateOrder::MerchantNotActive(MerchantStatus::Suspended)
    );
    assert_eq!(store.order(&suspended.out_trade_no).await.unwrap(), None);
}

async fn mark_paid_contract(store: &impl TestStore, ids: &Ids) {
    let merchant = new_merchant(store, "payments").await;
    let m = &merchant.merchant_id;
    let no = ids.order("p1");
    created(store, &new_order(ids, "p1", m, 100), 1_000).await;
    let tx = ids.transaction("p1");

    // CREATED → PAID.
    let paid = match store
        .mark_paid(&payment(&no, &tx, 100, 5_000))
        .await
        .unwrap()
    {
        MarkPaid::Paid(order) => order,
        other => panic!("{other:?}"),
    };
    assert_eq!(paid.status, OrderStatus::Paid);
    assert_eq!(paid.transaction_id.as_ref(), Some(&tx));
    assert_eq!(paid.paid_at_ms, Some(5_000));
    assert_eq!(paid.amount, fen(100));
    assert_eq!(row(store, &no).await, paid);

    // The same transaction again: success, and nothing changes (not even
    // paid_at, though this report carries another time).
    assert_eq!(
        store
            .mark_paid(&payment(&no, &tx, 100, 9_000))
            .await
            .unwrap(),
        MarkPaid::AlreadyPaid(paid.clone())
    );
    assert_eq!(row(store, &no).await, paid);

    // The same transaction with another amount, or another transaction.
    assert_eq!(
        store
            .mark_paid(&payment(&no, &tx, 101, 9_000))
            .await
            .unwrap(),
        MarkPaid::AmountMismatch(paid.clone())
    );
    assert_eq!(
        store
            .mark_paid(&payment(&no, &ids.transaction("p1b"), 100, 9_000))
            .await
            .unwrap(),
        MarkPaid::OtherTransaction(paid.clone())
    );
    assert_eq!(row(store, &no).await, paid);

    // A CREATED order refuses another amount and stays CREATED.
    let no2 = ids.order("p2");
    let open = created(store, &new_order(ids, "p2", m, 101), 1_000).await;
    assert_eq!(
        store
            .mark_paid(&payment(&no2, &ids.transaction("p2"), 100, 5_000))
            .await
            .unwrap(),
        MarkPaid::AmountMismatch(open.clone())
    );
    assert_eq!(row(store, &no2).await, open);

    // One transaction pays one order only.
    assert_eq!(
        store
            .mark_paid(&payment(&no2, &tx, 101, 5_000))
            .await
            .unwrap(),
        MarkPaid::TransactionTaken
    );
    assert_eq!(row(store, &no2).await, open);

    // A CLOSED order takes no payment.
    let no3 = ids.order("p3");
    created(store, &new_order(ids, "p3", m, 100), 1_000).await;
    let closed = match store.close_order(&no3).await.unwrap() {
        CloseOrder::Closed(order) => order,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        store
            .mark_paid(&payment(&no3, &ids.transaction("p3"), 100, 5_000))
            .await
            .unwrap(),
        MarkPaid::NotPayable(closed.clone())
    );
    assert_eq!(row(store, &no3).await, closed);

    assert_eq!(
        store
            .mark_paid(&payment(&ids.order("never"), &ids.transaction("nv"), 1, 1))
            .await
            .unwrap(),
        MarkPaid::UnknownOrder
    );
}

async fn close_order_contract(store: &impl TestStore, ids: &Ids) {
    let merchant = new_merchant(store, "closing").await;
    let m = &merchant.merchant_id;

    let no = ids.order("x1");
    let open = created(store, &new_order(ids, "x1", m, 100), 1_000).await;
    let closed = match store.close_order(&no).await.unwrap() {
        CloseOrder::Closed(order) => order,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        closed,
        Order {
            status: OrderStatus::Closed,
            ..open
        }
    );
    assert_eq!(row(store, &no).await, closed);
    // Closing again is fine and changes nothing.
    assert_eq!(
        store.close_order(&no).await.unwrap(),
        CloseOrder::AlreadyClosed(closed.clone())
    );
    assert_eq!(row(store, &no).await, closed);

    // A paid order is never closed.
    let no2 = ids.order("x2");
    created(store, &new_order(ids, "x2", m, 100), 1_000).await;
    store
        .mark_paid(&payment(&no2, &ids.transaction("x2"), 100, 2_000))
        .await
        .unwrap();
    let paid = row(store, &no2).await;
    assert_eq!(
        store.close_order(&no2).await.unwrap(),
        CloseOrder::NotClosable(paid.clone())
    );
    assert_eq!(row(store, &no2).await, paid);

    assert_eq!(
        store.close_order(&ids.order("never")).await.unwrap(),
        CloseOrder::UnknownOrder
    );
}

/// Every page of `query`, following the cursors.
pub(super) async fn all_pages(store: &impl LedgerStore, mut query: OrderQuery) -> Vec<Vec<Order>> {
    let mut pages = Vec::new();
    loop {
        let page = store.list_orders(&query).await.unwrap();
        assert!(page.orders.len() <= query.limit.get() as usize);
        pages.push(page.orders);
        match page.next {
            // The cursor is what the wire will carry.
            Some(next) => query.after = Some(Cursor::parse(&next.encode()).unwrap()),
            None => return pages,
        }
        assert!(pages.len() < 100, "the cursor does not advance");
    }
}

async fn list_orders_contract(store: &impl TestStore, ids: &Ids) {
    let merchant = payout_merchant(store, "listing").await;
    let m = &merchant.merchant_id;
    let neighbour = new_merchant(store, "neighbour").await;

    // 23 orders, three to a millisecond (so out_trade_no breaks ties), in a
    // mix of states; half the paid ones held by a withdrawal (paid before
    // it, the others after).
    let mut names = Vec::new();
    let pay = |i: i64| {
        let name = format!("L{i:02}");
        let no = ids.order(&name);
        let at = 10_000 + i / 3;
        async move {
            store
                .mark_paid(&payment(&no, &ids.transaction(&name), 100 + i, at + 1))
                .await
                .unwrap();
        }
    };
    for i in 0..23 {
        let name = format!("L{i:02}");
        let at = 10_000 + i / 3;
        created(store, &new_order(ids, &name, m, 100 + i), at).await;
        let no = ids.order(&name);
        if i % 3 != 1 {
            if i % 2 == 0 {
                pay(i).await;
            }
        } else if i % 2 == 0 {
            store.close_order(&no).await.unwrap();
        }
        names.push(name);
        // The neighbour's orders share the times and never show up.
        created(
            store,
            &new_order(ids, &format!("N{i:02}"), &neighbour.merchant_id, 1),
            at,
        )
        .await;
    }
    let request = WithdrawalRequest::parse(m.as_str(), None, "").unwrap();
    let Withdraw::Created(withdrawal) = store.withdraw(&request, 20_000).await.unwrap() else {
        panic!("the held orders were not withdrawn");
    };
    assert_eq!(withdrawal.order_count, 8);
    for i in (0..23).filter(|i| i % 3 != 1 && i % 2 != 0) {
        pay(i).await;
    }
    let mut everything = Vec::new();
    for name in &names {
        everything.push(row(store, &ids.order(name)).await);
    }
    everything.sort_by(|a, b| {
        (b.created_at_ms, b.out_trade_no.as_str()).cmp(&(a.created_at_ms, a.out_trade_no.as_str()))
    });

    let statuses = [
        None,
        Some(OrderStatus::Created),
        Some(OrderStatus::Paid),
        Some(OrderStatus::Closed),
        Some(OrderStatus::Refunded),
    ];
    for status in statuses {
        for withdrawn in [None, Some(true), Some(false)] {
            let expected: Vec<Order> = everything
                .iter()
                .filter(|o| status.is_none_or(|s| o.status == s))
                .filter(|o| withdrawn.is_none_or(|w| o.withdrawal_id.is_some() == w))
                .cloned()
                .collect();
            let query = OrderQuery {
                merchant_id: m.clone(),
                status,
                withdrawn,
                limit: PageLimit::parse(3).unwrap(),
                after: None,
            };
            let pages = all_pages(store, query.clone()).await;
            let listed: Vec<Order> = pages.iter().flatten().cloned().collect();
            assert_eq!(
                listed, expected,
                "status {status:?}, withdrawn {withdrawn:?}"
            );
            // Full pages until the last; an empty page only when nothing matches.
            let (last, full) = pages.split_last().unwrap();
            assert!(full.iter().all(|page| page.len() == 3));
            assert_eq!(last.is_empty(), expected.is_empty());
            if status.is_none() && withdrawn.is_none() {
                assert_eq!(pages.len(), 8, "23 orders in pages of 3");
            }
            if status == Some(OrderStatus::Paid) && withdrawn.is_some() {
                assert!(pages.len() > 2, "{} pages", pages.len());
            }

            // One big page holds them all, with no cursor after it.
            let whole = store
                .list_orders(&OrderQuery {
                    limit: PageLimit::parse(500).unwrap(),
                    ..query
                })
                .await
                .unwrap();
            assert_eq!(whole.orders, expected);
            assert_eq!(whole.next, None);
        }
    }

    // A page that ends exactly at the last order has no next cursor.
    let exact = store
        .list_orders(&OrderQuery {
            merchant_id: m.clone(),
            status: None,
            withdrawn: None,
            limit: PageLimit::parse(23).unwrap(),
            after: None,
        })
        .await
        .unwrap();
    assert_eq!(exact.orders.len(), 23);
    assert_eq!(exact.next, None);

    // An unknown merchant has no orders.
    let none = store
        .list_orders(&OrderQuery {
            merchant_id: MerchantId::generate(),
            status: None,
            withdrawn: None,
            limit: PageLimit::DEFAULT,
            after: None,
        })
        .await
        .unwrap();
    assert!(none.orders.is_empty());
    assert_eq!(none.next, None);
}

async fn ledger_store_contract(store: &impl TestStore) {
    let ids = Ids::new();
    merchants_contract(store).await;
    create_order_contract(store, &ids).await;
    mark_paid_contract(store, &ids).await;
    close_order_contract(store, &ids).await;
    list_orders_contract(store, &ids).await;
    store.ping().await.unwrap();
}

/// How one racing MarkPaid differs from the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Racer {
    /// The same transaction and amount as every other `Same`.
    Same,
    /// Its own transaction id, the right amount.
    OtherTransaction(usize),
    /// The shared transaction id, a wrong amount.
    WrongAmount,
}

/// ~50 concurrent MarkPaid calls on one order, several rounds: exactly one
/// fresh transition; every call identical to the winner's succeeds as
/// already paid; every other is refused; the row ends paid by the winner.
async fn mark_paid_race<S: TestStore>(store: Arc<S>) {
    const RACERS: usize = 50;
    const ROUNDS: usize = 4;
    let ids = Ids::new();
    let merchant = new_merchant(&*store, "race").await;
    let mut winners = Vec::new();
    for round in 0..ROUNDS {
        let name = format!("R{round}");
        let no = ids.order(&name);
        created(
            &*store,
            &new_order(&ids, &name, &merchant.merchant_id, 100),
            1_000,
        )
        .await;
        let shared = ids.transaction(&format!("{name}S"));
        let barrier = Arc::new(Barrier::new(RACERS));
        let mut tasks = Vec::new();
        for i in 0..RACERS {
            // The last round has no rival transaction: the shared one must win.
            let racer = match (i % 4, round == ROUNDS - 1) {
                (0 | 2, _) => Racer::Same,
                (1, false) => Racer::OtherTransaction(i),
                _ => Racer::WrongAmount,
            };
            let p = match racer {
                Racer::Same => payment(&no, &shared, 100, 2_000 + i as i64),
                Racer::OtherTransaction(i) => {
                    payment(&no, &ids.transaction(&format!("{name}O{i}")), 100, 2_000)
                }
                Racer::WrongAmount => payment(&no, &shared, 99, 2_000),
            };
            let store = Arc::clone(&store);
            let barrier = Arc::clone(&barrier);
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                (racer, p.clone(), store.mark_paid(&p).await)
            }));
        }
        let mut results = Vec::new();
        for task in tasks {
            let (racer, p, result) = tokio::time::timeout(PATIENCE * 3, task)
                .await
                .expect("a racer hung")
                .unwrap();
            results.push((racer, p, result.unwrap()));
        }

        let fresh: Vec<_> = results
            .iter()
            .filter_map(|(racer, p, outcome)| match outcome {
                MarkPaid::Paid(order) => Some((*racer, p.clone(), order.clone())),
                _ => None,
            })
            .collect();
        let fresh_racers: Vec<Racer> = fresh.iter().map(|(racer, _, _)| *racer).collect();
        assert_eq!(
            fresh.len(),
            1,
            "round {round}: fresh transitions by {fresh_racers:?}"
        );
        let (winner, won, paid) = fresh.into_iter().next().unwrap();
        let final_row = row(&*store, &no).await;
        assert_eq!(final_row, paid, "round {round}");
        assert_eq!(final_row.status, OrderStatus::Paid);
        assert_eq!(final_row.transaction_id.as_ref(), Some(&won.transaction_id));
        assert_eq!(final_row.paid_at_ms, Some(won.paid_at_ms));
        assert_eq!(final_row.amount, fen(100));

        let mut already = 0;
        for (racer, p, outcome) in &results {
            if matches!(outcome, MarkPaid::Paid(_)) {
                continue;
            }
            let identical = p.transaction_id == won.transaction_id && p.amount == won.amount;
            match outcome {
                MarkPaid::AlreadyPaid(order) if identical => {
                    assert_eq!(order, &final_row);
                    already += 1;
                }
                // Refused before the winner (the order still CREATED) or after.
                MarkPaid::AmountMismatch(order) if p.amount != won.amount => {
                    assert!(
                        order == &final_row || order.status == OrderStatus::Created,
                        "{order:?}"
                    );
                }
                MarkPaid::OtherTransaction(order) if p.transaction_id != won.transaction_id => {
                    assert_eq!(order, &final_row);
                }
                other => panic!("round {round}: {racer:?} {p:?} got {other:?} (winner {won:?})"),
            }
        }
        let identical_calls = results
            .iter()
            .filter(|(_, p, _)| p.transaction_id == won.transaction_id && p.amount == won.amount)
            .count();
        assert_eq!(already, identical_calls - 1, "round {round}");
        if round == ROUNDS - 1 {
            assert_eq!(winner, Racer::Same);
            assert_eq!(already, RACERS / 2 - 1);
        }
        winners.push(winner);
    }
    eprintln!("race winners by round: {winners:?}");
}

pub(super) fn temp_dir() -> TempDir {
    TempDir(std::env::temp_dir().join(format!("minipay-ledger-test-{}", run_id())))
}

#[tokio::test]
async fn sqlite_ledger_store_meets_the_contract() {
    let dir = temp_dir();
    // A directory that does not exist yet: connect creates it.
    let url = format!("sqlite://{}", dir.0.join("db").join("ledger.db").display());
    let store = SqliteLedgerStore::connect(&url).await.unwrap();
    assert_eq!(store.backend(), "sqlite");
    ledger_store_contract(&store).await;
    let merchant = new_merchant(&store, "kept").await;
    drop(store);

    // Reconnecting (through the CLI's entry point) finds the data and the
    // migrations already applied.
    let again = connect(&DatabaseUrl::Sqlite(url)).await.unwrap();
    assert_eq!(again.backend(), "sqlite");
    assert_eq!(
        again.merchant(&merchant.merchant_id).await.unwrap(),
        Some(merchant)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn sqlite_mark_paid_race_has_one_winner() {
    let dir = temp_dir();
    let url = format!("sqlite://{}", dir.0.join("ledger.db").display());
    let store = Arc::new(SqliteLedgerStore::connect(&url).await.unwrap());
    mark_paid_race(store).await;
}

/// Creates the dedicated test database on the server `url` names and
/// connects the store to it, so migrations never meet other services'.
pub(super) async fn mysql_test_store(url: &str) -> MySqlLedgerStore {
    let server = MySqlConnectOptions::from_str(url).unwrap();
    let created = tokio::time::timeout(PATIENCE, async {
        let mut conn = MySqlConnection::connect_with(&server).await?;
        sqlx::query(
            "CREATE DATABASE IF NOT EXISTS minipay_ledger_test \
             CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
        )
        .execute(&mut conn)
        .await?;
        conn.close().await
    })
    .await;
    match created {
        Ok(Ok(())) => {}
        Ok(Err(err)) => panic!("MINIPAY_TEST_MYSQL_URL is set but MariaDB is unreachable: {err}"),
        Err(_) => panic!("MINIPAY_TEST_MYSQL_URL is set but MariaDB does not answer"),
    }
    MySqlLedgerStore::connect_with(server.database(MYSQL_TEST_DATABASE))
        .await
        .unwrap()
}

#[tokio::test]
async fn mysql_ledger_store_meets_the_contract() {
    let Some(url) = env_url("MINIPAY_TEST_MYSQL_URL") else {
        return;
    };
    let store = mysql_test_store(&url).await;
    assert_eq!(store.backend(), "mysql");
    ledger_store_contract(&store).await;
    let merchant = new_merchant(&store, "kept").await;

    // Reconnecting finds the migrations already applied.
    let again = mysql_test_store(&url).await;
    assert_eq!(
        again.merchant(&merchant.merchant_id).await.unwrap(),
        Some(merchant)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn mysql_mark_paid_race_has_one_winner() {
    let Some(url) = env_url("MINIPAY_TEST_MYSQL_URL") else {
        return;
    };
    mark_paid_race(Arc::new(mysql_test_store(&url).await)).await;
}

// ------------------------------------------------------ unreachable backends

const PASSWORD: &str = "pw-must-not-leak";

fn assert_unavailable<T: std::fmt::Debug>(
    result: Result<Result<T, StoreError>, tokio::time::error::Elapsed>,
    expected: &str,
) {
    let err = match result {
        Err(_) => panic!("{expected}: still waiting after {PATIENCE:?}"),
        Ok(Ok(store)) => panic!("{expected}: connected to nothing: {store:?}"),
        Ok(Err(err)) => err,
    };
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(PASSWORD), "{shown}");
    match err {
        StoreError::Unavailable { backend, .. } => assert_eq!(backend, expected),
        other => panic!("{expected}: {other}"),
    }
}

#[tokio::test]
async fn unreachable_mysql_is_unavailable() {
    let url = DatabaseUrl::MySql(format!(
        "mysql://root:{PASSWORD}@127.0.0.1:{}/minipay",
        closed_port()
    ));
    let result = tokio::time::timeout(PATIENCE, connect(&url)).await;
    assert_unavailable(result, "mysql");
}

#[tokio::test]
async fn silent_mysql_is_unavailable_not_a_hang() {
    let url = format!(
        "mysql://root:{PASSWORD}@127.0.0.1:{}/minipay",
        silent_port().await
    );
    let result = tokio::time::timeout(PATIENCE, MySqlLedgerStore::connect(&url)).await;
    assert_unavailable(result, "mysql");
}

#[tokio::test]
async fn sqlite_under_a_file_is_unavailable() {
    let dir = temp_dir();
    std::fs::create_dir_all(&dir.0).unwrap();
    let file = dir.0.join("a-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let url = format!("sqlite://{}", file.join("ledger.db").display());
    let result = tokio::time::timeout(PATIENCE, SqliteLedgerStore::connect(&url)).await;
    assert_unavailable(result, "sqlite");
}
