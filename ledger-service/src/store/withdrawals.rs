//! [`WithdrawalStore`] on both backends, written once: the statements are
//! shared (`sql.rs`) and only how a write transaction begins, how the
//! merchant row is locked and how a consistent snapshot begins differ, so
//! [`withdrawal_store!`] implements the trait for a backend given those.
//! The withdrawal is the one algorithm the ledger must never get wrong; it
//! lives here once, not once per backend.

/// Implements [`WithdrawalStore`](super::WithdrawalStore) for `$store`, a
/// struct with a `pool` and a `hook: Option<StepHook>`.
///
/// - `backend`: the name errors carry.
/// - `begin_write`: begins a transaction that writes (SQLite `BEGIN
///   IMMEDIATE`: the write lock first, so concurrent writers queue instead of
///   failing to upgrade).
/// - `lock_merchant`: reads the merchant row and, on MariaDB, locks it
///   (`FOR UPDATE`), so a merchant's withdrawals and payout failures run one
///   at a time and never deadlock each other on the orders they claim.
/// - `claim_orders`: the claim (`sql::claim_orders!`), with the index hint
///   the dialect writes.
/// - `balance_withdrawable`: the balance's sum of free orders
///   (`sql::balance_withdrawable!`), with the same hint.
/// - `snapshot_setup` / `begin_snapshot`: statements that begin a read-only
///   transaction whose reads all see one consistent snapshot (the balance's
///   and the audit's sums must agree with each other).
macro_rules! withdrawal_store {
    (
        $store:ty,
        backend: $backend:expr,
        begin_write: $begin_write:expr,
        lock_merchant: $lock_merchant:expr,
        claim_orders: $claim_orders:expr,
        balance_withdrawable: $balance_withdrawable:expr,
        snapshot_setup: $snapshot_setup:expr,
        begin_snapshot: $begin_snapshot:expr $(,)?
    ) => {
        #[async_trait::async_trait]
        impl $crate::store::WithdrawalStore for $store {
            async fn withdraw(
                &self,
                request: &$crate::domain::WithdrawalRequest,
                now_ms: i64,
            ) -> Result<$crate::store::Withdraw, $crate::store::StoreError> {
                use $crate::domain::{MerchantStatus, Withdrawal, WithdrawalId, WithdrawalStatus};
                use $crate::store::sql::{self, KeyedWithdrawalRow, MerchantRow, SumRow};
                use $crate::store::{StepHook, StoreError, Withdraw, WithdrawStep};

                let hook = self.hook.as_ref();
                let merchant_id = request.merchant_id.as_str();
                let key = request.idempotency_key.as_ref().map(|key| key.as_str());
                sql::bounded_tx($backend, sql::WITHDRAW_TIMEOUT, async {
                    let mut tx = self.pool.begin_with($begin_write).await?;
                    StepHook::after(hook, WithdrawStep::Begun).await;

                    let merchant = sqlx::query_as::<_, MerchantRow>($lock_merchant)
                        .bind(merchant_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                    StepHook::after(hook, WithdrawStep::MerchantLocked).await;
                    let Some(merchant) = merchant else {
                        tx.rollback().await?;
                        return Ok(Withdraw::UnknownMerchant);
                    };
                    let merchant = merchant.parse($backend)?;

                    // Under the merchant's lock: a concurrent call with the
                    // same key waits here and then sees this one's withdrawal.
                    if let Some(key) = key {
                        let bound =
                            sqlx::query_as::<_, KeyedWithdrawalRow>(sql::SELECT_WITHDRAWAL_BY_KEY)
                                .bind(merchant_id)
                                .bind(key)
                                .fetch_optional(&mut *tx)
                                .await?;
                        StepHook::after(hook, WithdrawStep::KeyChecked).await;
                        if let Some(bound) = bound {
                            tx.rollback().await?;
                            return Ok(sql::bound_key($backend, bound, request)?);
                        }
                    }
                    if merchant.status != MerchantStatus::Active {
                        tx.rollback().await?;
                        return Ok(Withdraw::MerchantNotActive(merchant.status));
                    }
                    let Some(payout_openid) = merchant.payout_openid else {
                        tx.rollback().await?;
                        return Ok(Withdraw::NoPayoutAccount);
                    };

                    let withdrawal_id = WithdrawalId::generate();
                    let id = withdrawal_id.as_str();
                    sqlx::query(sql::INSERT_WITHDRAWAL)
                        .bind(id)
                        .bind(merchant_id)
                        .bind(payout_openid.as_str())
                        .bind(key)
                        .bind(key.map(|_| request.request_hash.as_str()))
                        .bind(now_ms)
                        .bind(now_ms)
                        .execute(&mut *tx)
                        .await?;
                    StepHook::after(hook, WithdrawStep::Inserted).await;

                    let claimed = sqlx::query($claim_orders)
                        .bind(id)
                        .bind(merchant_id)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    StepHook::after(hook, WithdrawStep::Claimed).await;

                    let sum = sqlx::query_as::<_, SumRow>(sql::SUM_CLAIMED)
                        .bind(id)
                        .fetch_one(&mut *tx)
                        .await?;
                    StepHook::after(hook, WithdrawStep::Summed).await;
                    if sum.orders == 0 {
                        // Nothing recorded, no key bound.
                        tx.rollback().await?;
                        return Ok(Withdraw::NothingToWithdraw);
                    }
                    if u64::try_from(sum.orders) != Ok(claimed) {
                        tx.rollback().await?;
                        return Err(StoreError::Corrupt {
                            backend: $backend,
                            detail: format!(
                                "withdrawal {id} claimed {claimed} orders but {} carry its id",
                                sum.orders
                            ),
                        }
                        .into());
                    }
                    let amount =
                        common::AmountFen::parse(sum.fen).map_err(|err| StoreError::Corrupt {
                            backend: $backend,
                            detail: format!("withdrawal {id}: {err}"),
                        })?;

                    sqlx::query(sql::RECORD_CLAIMED)
                        .bind(sum.fen)
                        .bind(sum.orders)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    StepHook::after(hook, WithdrawStep::Recorded).await;

                    tx.commit().await?;
                    StepHook::after(hook, WithdrawStep::Committed).await;
                    Ok(Withdraw::Created(Withdrawal {
                        withdrawal_id,
                        merchant_id: request.merchant_id.clone(),
                        payout_openid,
                        amount,
                        order_count: sum.orders,
                        status: WithdrawalStatus::PayingOut,
                        failure_reason: None,
                        created_at_ms: now_ms,
                        updated_at_ms: now_ms,
                    }))
                })
                .await
            }

            async fn balance(
                &self,
                merchant_id: &$crate::domain::MerchantId,
            ) -> Result<Option<$crate::domain::Balance>, $crate::store::StoreError> {
                use sqlx::Connection as _;
                use $crate::domain::Balance;
                use $crate::store::StoreError;
                use $crate::store::sql::{self, AuditWithdrawnRow, MerchantRow, SumRow};

                let id = merchant_id.as_str();
                let found = sql::bounded_tx($backend, sql::STATEMENT_TIMEOUT, async {
                    let mut conn = self.pool.acquire().await?;
                    for setup in $snapshot_setup.iter().copied() {
                        sqlx::raw_sql(setup).execute(&mut *conn).await?;
                    }
                    let mut tx = conn.begin_with($begin_snapshot).await?;
                    let merchant = sqlx::query_as::<_, MerchantRow>(sql::SELECT_MERCHANT)
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?;
                    if merchant.is_none() {
                        tx.rollback().await?;
                        return Ok(None);
                    }
                    let free = sqlx::query_as::<_, SumRow>($balance_withdrawable)
                        .bind(id)
                        .fetch_one(&mut *tx)
                        .await?;
                    let withdrawn = sqlx::query_as::<_, AuditWithdrawnRow>(sql::AUDIT_WITHDRAWN)
                        .bind(id)
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(Some((free, withdrawn)))
                })
                .await?;
                let Some((free, withdrawn)) = found else {
                    return Ok(None);
                };
                let (paying_out, paid_out) =
                    withdrawn.map_or((0, 0), |row| (row.paying_out_fen, row.paid_out_fen));
                let fen = |what: &str, fen: i64| {
                    common::AmountFen::parse(fen).map_err(|err| StoreError::Corrupt {
                        backend: $backend,
                        detail: format!("merchant {merchant_id} {what}: {err}"),
                    })
                };
                Ok(Some(Balance {
                    merchant_id: merchant_id.clone(),
                    withdrawable: fen("withdrawable", free.fen)?,
                    withdrawable_orders: free.orders,
                    withdrawn: fen("withdrawn", paid_out)?,
                    paying_out: fen("paying out", paying_out)?,
                }))
            }

            async fn withdrawal(
                &self,
                withdrawal_id: &$crate::domain::WithdrawalId,
            ) -> Result<Option<$crate::domain::Withdrawal>, $crate::store::StoreError> {
                use $crate::store::sql::{self, WithdrawalRow};

                let query = sqlx::query_as::<_, WithdrawalRow>(sql::SELECT_WITHDRAWAL)
                    .bind(withdrawal_id.as_str());
                let row = sql::bounded($backend, query.fetch_optional(&self.pool)).await?;
                row.map(|row| row.parse($backend)).transpose()
            }

            async fn list_withdrawals(
                &self,
                merchant_id: &$crate::domain::MerchantId,
                limit: $crate::domain::PageLimit,
                after: Option<&$crate::domain::WithdrawalCursor>,
            ) -> Result<$crate::domain::WithdrawalPage, $crate::store::StoreError> {
                use $crate::store::sql::{self, WithdrawalRow};

                let (before_created, before_id) = sql::newest_first_bounds(after);
                let query = sqlx::query_as::<_, WithdrawalRow>(sql::LIST_WITHDRAWALS)
                    .bind(merchant_id.as_str())
                    .bind(before_created)
                    .bind(before_created)
                    .bind(before_id)
                    .bind(i64::from(limit.get()) + 1);
                let rows = sql::bounded($backend, query.fetch_all(&self.pool)).await?;
                sql::withdrawal_page($backend, rows, limit)
            }

            async fn list_withdrawal_orders(
                &self,
                withdrawal_id: &$crate::domain::WithdrawalId,
                limit: $crate::domain::PageLimit,
                after: Option<&$crate::domain::Cursor>,
            ) -> Result<$crate::domain::OrderPage, $crate::store::StoreError> {
                use $crate::domain::{Cursor, OrderPage};
                use $crate::store::sql::{self, OrderRow};

                let (before_created, before_no) = sql::order_bounds(after);
                let query = sqlx::query_as::<_, OrderRow>(sql::LIST_WITHDRAWAL_ORDERS)
                    .bind(withdrawal_id.as_str())
                    .bind(before_created)
                    .bind(before_created)
                    .bind(before_no)
                    .bind(i64::from(limit.get()) + 1);
                let rows = sql::bounded($backend, query.fetch_all(&self.pool)).await?;
                let mut orders = rows
                    .into_iter()
                    .map(|row| row.parse($backend))
                    .collect::<Result<Vec<_>, _>>()?;
                let max = usize::try_from(limit.get()).unwrap_or(usize::MAX);
                let next = if orders.len() > max {
                    orders.truncate(max);
                    orders.last().map(Cursor::after)
                } else {
                    None
                };
                Ok(OrderPage { orders, next })
            }

            async fn complete_payout(
                &self,
                withdrawal_id: &$crate::domain::WithdrawalId,
                now_ms: i64,
            ) -> Result<$crate::store::CompletePayout, $crate::store::StoreError> {
                use $crate::store::CompletePayout;
                use $crate::store::sql::{self, WithdrawalRow};

                let id = withdrawal_id.as_str();
                let (changed, row) = sql::bounded_tx($backend, sql::STATEMENT_TIMEOUT, async {
                    let mut tx = self.pool.begin_with($begin_write).await?;
                    let changed = sqlx::query(sql::COMPLETE_PAYOUT)
                        .bind(now_ms)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    let row = sqlx::query_as::<_, WithdrawalRow>(sql::SELECT_WITHDRAWAL)
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok((changed, row))
                })
                .await?;
                let withdrawal = row.map(|row| row.parse($backend)).transpose()?;
                Ok(match (changed, withdrawal) {
                    (1, Some(withdrawal)) => CompletePayout::Completed(withdrawal),
                    (_, withdrawal) => sql::uncompleted(withdrawal),
                })
            }

            async fn fail_payout(
                &self,
                withdrawal_id: &$crate::domain::WithdrawalId,
                reason: &$crate::domain::FailureReason,
                now_ms: i64,
            ) -> Result<$crate::store::FailPayout, $crate::store::StoreError> {
                use $crate::store::FailPayout;
                use $crate::store::sql::{self, WithdrawalRow};

                let id = withdrawal_id.as_str();
                let (changed, row) = sql::bounded_tx($backend, sql::STATEMENT_TIMEOUT, async {
                    let mut tx = self.pool.begin_with($begin_write).await?;
                    let merchant: Option<String> =
                        sqlx::query_scalar(sql::SELECT_WITHDRAWAL_MERCHANT)
                            .bind(id)
                            .fetch_optional(&mut *tx)
                            .await?;
                    let Some(merchant) = merchant else {
                        tx.rollback().await?;
                        return Ok((0, None));
                    };
                    // The merchant first, as Withdraw locks it: one order of
                    // locks for every move of a merchant's orders.
                    sqlx::query($lock_merchant)
                        .bind(merchant.as_str())
                        .fetch_optional(&mut *tx)
                        .await?;
                    let changed = sqlx::query(sql::FAIL_PAYOUT)
                        .bind(reason.as_str())
                        .bind(now_ms)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    if changed == 1 {
                        sqlx::query(sql::RELEASE_ORDERS)
                            .bind(id)
                            .execute(&mut *tx)
                            .await?;
                    }
                    let row = sqlx::query_as::<_, WithdrawalRow>(sql::SELECT_WITHDRAWAL)
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok((changed, row))
                })
                .await?;
                let withdrawal = row.map(|row| row.parse($backend)).transpose()?;
                Ok(match (changed, withdrawal) {
                    (1, Some(withdrawal)) => FailPayout::Failed(withdrawal),
                    (_, withdrawal) => sql::unfailed(withdrawal),
                })
            }

            async fn list_paying_out(
                &self,
                limit: $crate::domain::PageLimit,
                after: Option<&$crate::domain::WithdrawalCursor>,
            ) -> Result<$crate::domain::WithdrawalPage, $crate::store::StoreError> {
                use $crate::store::sql::{self, WithdrawalRow};

                let (after_created, after_id) = sql::oldest_first_bounds(after);
                let query = sqlx::query_as::<_, WithdrawalRow>(sql::LIST_PAYING_OUT)
                    .bind(after_created)
                    .bind(after_created)
                    .bind(after_id)
                    .bind(i64::from(limit.get()) + 1);
                let rows = sql::bounded($backend, query.fetch_all(&self.pool)).await?;
                sql::withdrawal_page($backend, rows, limit)
            }

            async fn audit(
                &self,
                merchant_id: Option<&$crate::domain::MerchantId>,
            ) -> Result<$crate::domain::AuditReport, $crate::store::StoreError> {
                use sqlx::Connection as _;
                use $crate::store::sql::{
                    self, AuditMisheldRow, AuditMismatchRow, AuditPaidRow, AuditRows,
                    AuditWithdrawnRow,
                };

                let (low, high) = sql::merchant_range(merchant_id);
                let limit = sql::AUDIT_VIOLATION_LIMIT + 1;
                let rows = sql::bounded_tx($backend, sql::AUDIT_TIMEOUT, async {
                    let mut conn = self.pool.acquire().await?;
                    for setup in $snapshot_setup.iter().copied() {
                        sqlx::raw_sql(setup).execute(&mut *conn).await?;
                    }
                    let mut tx = conn.begin_with($begin_snapshot).await?;
                    let merchants: Vec<String> = sqlx::query_scalar(sql::AUDIT_MERCHANTS)
                        .bind(low)
                        .bind(high)
                        .fetch_all(&mut *tx)
                        .await?;
                    let paid = sqlx::query_as::<_, AuditPaidRow>(sql::AUDIT_PAID)
                        .bind(low)
                        .bind(high)
                        .fetch_all(&mut *tx)
                        .await?;
                    let withdrawn = sqlx::query_as::<_, AuditWithdrawnRow>(sql::AUDIT_WITHDRAWN)
                        .bind(low)
                        .bind(high)
                        .fetch_all(&mut *tx)
                        .await?;
                    let mismatched = sqlx::query_as::<_, AuditMismatchRow>(sql::AUDIT_MISMATCHED)
                        .bind(low)
                        .bind(high)
                        .bind(limit)
                        .fetch_all(&mut *tx)
                        .await?;
                    let misheld = sqlx::query_as::<_, AuditMisheldRow>(sql::AUDIT_MISHELD)
                        .bind(low)
                        .bind(high)
                        .bind(limit)
                        .fetch_all(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(AuditRows {
                        merchants,
                        paid,
                        withdrawn,
                        mismatched,
                        misheld,
                    })
                })
                .await?;
                sql::audit_report($backend, rows)
            }
        }
    };
}

pub(crate) use withdrawal_store;
