//! `minipay bench withdraw --orders N`: one merchant with N paid orders
//! withdraws them in one call, on the configured ledger backend. Printed as
//! a table and written as JSON. Speed is measured here, never asserted in
//! tests.
//!
//! Besides the withdrawal it times, in the same run, the bare claiming
//! UPDATE alone on a copy of the same data (the same N orders loaded for a
//! second merchant, in the same table): the floor no withdrawal can beat, so
//! the table says what the rest of the transaction (merchant lock, insert,
//! sum, record) costs on top.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use common::config::{Config, DatabaseUrl};
use ledger_service::domain::{NewMerchant, WithdrawalRequest};
use ledger_service::store::Withdraw;
use serde_json::json;
use sqlx::{MySqlPool, SqlitePool};

/// Rows per INSERT: MariaDB stops a recursive CTE at 1000 iterations.
const BATCH: i64 = 1000;

const INSERT_PAID: &str = "INSERT INTO orders (out_trade_no, merchant_id, payer_openid, \
     amount_fen, description, status, transaction_id, created_at, paid_at) \
     WITH RECURSIVE n(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM n WHERE i < ?) \
     SELECT CONCAT('BENCH', ?, i), ?, 'oBenchPayer', 1 + i % 100, '', 'PAID', \
            CONCAT('T', ?, i), 1000 + i, 2000 + i FROM n";
const INSERT_PAID_SQLITE: &str = "INSERT INTO orders (out_trade_no, merchant_id, payer_openid, \
     amount_fen, description, status, transaction_id, created_at, paid_at) \
     WITH RECURSIVE n(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM n WHERE i < ?) \
     SELECT 'BENCH' || ? || i, ?, 'oBenchPayer', 1 + i % 100, '', 'PAID', \
            'T' || ? || i, 1000 + i, 2000 + i FROM n";
/// The copy's withdrawal row (the claim's foreign key needs one).
const INSERT_WITHDRAWAL: &str = "INSERT INTO withdrawals (withdrawal_id, merchant_id, \
     payout_openid, amount_fen, order_count, status, created_at, updated_at) \
     VALUES (?, ?, 'oBenchPayout', 0, 0, 'PAYING_OUT', 1, 1)";
const CLAIM: &str = "UPDATE orders SET withdrawal_id = ? \
     WHERE merchant_id = ? AND status = 'PAID' AND withdrawal_id IS NULL";

enum Pool {
    Sqlite(SqlitePool),
    MySql(MySqlPool),
}

impl Pool {
    async fn connect(url: &DatabaseUrl) -> anyhow::Result<Self> {
        Ok(match url {
            DatabaseUrl::Sqlite(url) => Pool::Sqlite(SqlitePool::connect(url).await?),
            DatabaseUrl::MySql(url) => Pool::MySql(MySqlPool::connect(url).await?),
        })
    }

    async fn insert_paid(
        &self,
        tag: &str,
        merchant: &str,
        from: i64,
        to: i64,
    ) -> anyhow::Result<()> {
        match self {
            Pool::Sqlite(pool) => {
                sqlx::query(INSERT_PAID_SQLITE)
                    .bind(from)
                    .bind(to)
                    .bind(tag)
                    .bind(merchant)
                    .bind(tag)
                    .execute(pool)
                    .await?;
            }
            Pool::MySql(pool) => {
                sqlx::query(INSERT_PAID)
                    .bind(from)
                    .bind(to)
                    .bind(tag)
                    .bind(merchant)
                    .bind(tag)
                    .execute(pool)
                    .await?;
            }
        }
        Ok(())
    }

    async fn execute(&self, sql: &'static str, binds: &[&str]) -> anyhow::Result<u64> {
        Ok(match self {
            Pool::Sqlite(pool) => {
                let mut query = sqlx::query(sql);
                for b in binds {
                    query = query.bind(*b);
                }
                query.execute(pool).await?.rows_affected()
            }
            Pool::MySql(pool) => {
                let mut query = sqlx::query(sql);
                for b in binds {
                    query = query.bind(*b);
                }
                query.execute(pool).await?.rows_affected()
            }
        })
    }
}

/// The process's peak resident memory (VmHWM), in KiB, where Linux says it.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub async fn withdraw(config: &Config, orders: i64, json_path: &str) -> anyhow::Result<()> {
    if orders < 1 {
        bail!("--orders must be at least 1");
    }
    let url = &config.ledger_database_url;
    let (ledger, withdrawals) = ledger_service::store::connect_both(url)
        .await
        .context("cannot open the ledger database")?;
    let pool = Pool::connect(url).await?;
    let merchant = ledger
        .create_merchant(&NewMerchant::parse("Bench merchant", "oBenchPayout")?)
        .await?;
    let copy = ledger
        .create_merchant(&NewMerchant::parse("Bench copy", "oBenchPayout")?)
        .await?;
    let id = merchant.merchant_id.as_str().to_owned();
    let copy_id = copy.merchant_id.as_str().to_owned();

    eprintln!("loading 2 × {orders} paid orders on {} …", url.backend());
    let loading = Instant::now();
    for (merchant_id, tag) in [(&id, &id[1..9]), (&copy_id, &copy_id[1..9])] {
        let mut from = 1;
        while from <= orders {
            let to = orders.min(from + BATCH - 1);
            pool.insert_paid(tag, merchant_id, from, to).await?;
            from = to + 1;
        }
    }
    let load = loading.elapsed();
    let rss_before = peak_rss_kib();

    let request = WithdrawalRequest::parse(id.clone(), None, "")?;
    let started = Instant::now();
    let withdrawal = match withdrawals.withdraw(&request, common_now_ms()).await? {
        Withdraw::Created(w) => w,
        other => bail!("the withdrawal did not happen: {other:?}"),
    };
    let withdraw_time = started.elapsed();
    let rss_after = peak_rss_kib();
    let expected: i64 = (1..=orders).map(|i| 1 + i % 100).sum();
    if withdrawal.amount.fen() != expected || withdrawal.order_count != orders {
        bail!(
            "the withdrawal took {} fen in {} orders; {expected} fen in {orders} were paid",
            withdrawal.amount.fen(),
            withdrawal.order_count
        );
    }

    // The floor: the copy's rows claimed by the bare UPDATE alone.
    let floor_id = format!("WBENCH{}", &copy_id[1..]);
    pool.execute(INSERT_WITHDRAWAL, &[&floor_id, &copy_id])
        .await?;
    let started = Instant::now();
    let claimed = pool.execute(CLAIM, &[&floor_id, &copy_id]).await?;
    let floor = started.elapsed();
    if claimed != orders as u64 {
        bail!("the bare claim took {claimed} rows, not {orders}");
    }

    let ratio = withdraw_time.as_secs_f64() / floor.as_secs_f64().max(1e-9);
    println!("backend        {}", url.backend());
    println!("orders         {orders}");
    println!("load (2 × N)   {:>10.1} ms", ms(load));
    println!(
        "withdraw       {:>10.1} ms   (one call, one transaction)",
        ms(withdraw_time)
    );
    println!(
        "bare claim     {:>10.1} ms   (the UPDATE alone on a copy: the floor)",
        ms(floor)
    );
    println!("withdraw/floor {:>10.2}x", ratio);
    if let (Some(before), Some(after)) = (rss_before, rss_after) {
        println!("peak RSS       {before} KiB before the withdrawal, {after} KiB after");
    }
    let report = json!({
        "bench": "withdraw",
        "backend": url.backend(),
        "orders": orders,
        "amount_fen": withdrawal.amount.fen(),
        "load_ms": ms(load),
        "withdraw_ms": ms(withdraw_time),
        "bare_claim_ms": ms(floor),
        "withdraw_over_floor": ratio,
        "peak_rss_kib_before": rss_before,
        "peak_rss_kib_after": rss_after,
    });
    std::fs::write(json_path, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("cannot write {json_path}"))?;
    println!("written to {json_path}");
    Ok(())
}

fn common_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
