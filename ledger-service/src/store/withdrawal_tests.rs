//! The withdrawal's contract, run against SQLite always and against MariaDB
//! when `MINIPAY_TEST_MYSQL_URL` is set (set but unreachable fails):
//!
//! - the operations one by one: withdraw, idempotency, payouts, lists,
//!   balances, the audit (and that it catches each kind of corruption);
//! - a deterministic interleaving: a payment of the same merchant, on
//!   another connection, between every pair of the withdrawal's steps;
//! - a concurrent stress (writers paying orders of one merchant, four
//!   withdrawers, a payout loop), checked order by order, and the same
//!   stress with the naive three-step algorithm, which the checker must
//!   catch;
//! - the query plans of the claim and its neighbours, and a withdrawal of
//!   many orders.
//!
//! Every run uses fresh merchants, so reruns against a shared MariaDB never
//! meet earlier data; tests that corrupt data on purpose repair it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Barrier;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::contract_tests::{
    Bind, Ids, OrderFacts, PATIENCE, TestStore, WithdrawalFacts, all_pages, created, env_url, fen,
    mysql_test_store, new_merchant, new_order, payment, payout_merchant, row, temp_dir,
};
use super::*;
use crate::domain::{
    Cursor, MerchantAudit, OrderQuery, OrderStatus, ViolationKind, WithdrawalStatus,
};

fn request(merchant: &MerchantId, key: Option<&str>, fingerprint: &str) -> WithdrawalRequest {
    WithdrawalRequest::parse(merchant.as_str(), key.map(str::to_owned), fingerprint).unwrap()
}

async fn paid_order(
    store: &impl LedgerStore,
    ids: &Ids,
    name: &str,
    merchant: &MerchantId,
    amount: i64,
) -> Order {
    created(store, &new_order(ids, name, merchant, amount), 1_000).await;
    let paid = store
        .mark_paid(&payment(
            &ids.order(name),
            &ids.transaction(name),
            amount,
            2_000,
        ))
        .await
        .unwrap();
    match paid {
        MarkPaid::Paid(order) => order,
        other => panic!("{name}: {other:?}"),
    }
}

#[track_caller]
fn created_withdrawal(outcome: Withdraw) -> Withdrawal {
    match outcome {
        Withdraw::Created(withdrawal) => withdrawal,
        other => panic!("expected a new withdrawal, got {other:?}"),
    }
}

async fn balance(store: &impl WithdrawalStore, merchant: &MerchantId) -> (i64, i64, i64, i64) {
    let b = store.balance(merchant).await.unwrap().unwrap();
    assert_eq!(&b.merchant_id, merchant);
    (
        b.withdrawable.fen(),
        b.withdrawable_orders,
        b.paying_out.fen(),
        b.withdrawn.fen(),
    )
}

/// The merchant's audit, which must find nothing wrong.
async fn assert_clean(store: &impl WithdrawalStore, merchant: &MerchantId) -> MerchantAudit {
    let report = store.audit(Some(merchant)).await.unwrap();
    assert!(report.is_clean(), "{report:#?}");
    assert_eq!(report.merchants.len(), 1);
    let audit = report.merchants.into_iter().next().unwrap();
    assert_eq!(&audit.merchant_id, merchant);
    assert_eq!(
        audit.paid_fen,
        audit.withdrawable_fen + audit.live_withdrawn_fen()
    );
    audit
}

async fn held_by(store: &impl LedgerStore, no: &OutTradeNo) -> Option<WithdrawalId> {
    row(store, no).await.withdrawal_id
}

// ---------------------------------------------------------------- contract

async fn withdraw_contract<S: TestStore>(store: &S) {
    let ids = Ids::new();
    let merchant = payout_merchant(store, "withdraws").await;
    let m = &merchant.merchant_id;

    // Nothing paid: nothing to withdraw, nothing recorded.
    assert_eq!(
        store.withdraw(&request(m, None, ""), 1_000).await.unwrap(),
        Withdraw::NothingToWithdraw
    );
    // CREATED and CLOSED orders are not withdrawable.
    created(store, &new_order(&ids, "w0", m, 7), 1_000).await;
    created(store, &new_order(&ids, "w1", m, 8), 1_000).await;
    store.close_order(&ids.order("w1")).await.unwrap();
    assert_eq!(
        store.withdraw(&request(m, None, ""), 1_000).await.unwrap(),
        Withdraw::NothingToWithdraw
    );
    assert!(store.withdrawals_of(m).await.is_empty());
    assert_eq!(balance(store, m).await, (0, 0, 0, 0));

    paid_order(store, &ids, "w2", m, 100).await;
    paid_order(store, &ids, "w3", m, 250).await;
    assert_eq!(balance(store, m).await, (350, 2, 0, 0));
    let w = created_withdrawal(store.withdraw(&request(m, None, ""), 5_000).await.unwrap());
    assert_eq!(
        w,
        Withdrawal {
            withdrawal_id: w.withdrawal_id.clone(),
            merchant_id: m.clone(),
            payout_openid: merchant.payout_openid.clone().unwrap(),
            amount: fen(350),
            order_count: 2,
            status: WithdrawalStatus::PayingOut,
            failure_reason: None,
            created_at_ms: 5_000,
            updated_at_ms: 5_000,
        }
    );
    let id = w.withdrawal_id.as_str();
    assert_eq!(id.len(), 21, "{id}");
    assert!(id.starts_with('W'), "{id}");
    assert!(
        id[1..]
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()),
        "{id}"
    );
    // What it returned is what it stored.
    assert_eq!(
        store.withdrawal(&w.withdrawal_id).await.unwrap(),
        Some(w.clone())
    );
    for (name, held) in [("w0", false), ("w1", false), ("w2", true), ("w3", true)] {
        assert_eq!(
            held_by(store, &ids.order(name)).await,
            held.then(|| w.withdrawal_id.clone()),
            "{name}"
        );
    }
    assert_eq!(balance(store, m).await, (0, 0, 350, 0));
    // Everything is taken: the next call finds nothing.
    assert_eq!(
        store.withdraw(&request(m, None, ""), 6_000).await.unwrap(),
        Withdraw::NothingToWithdraw
    );

    // An order paid afterwards goes to the next withdrawal, alone.
    paid_order(store, &ids, "w4", m, 5).await;
    assert_eq!(balance(store, m).await, (5, 1, 350, 0));
    let next = created_withdrawal(store.withdraw(&request(m, None, ""), 7_000).await.unwrap());
    assert_eq!((next.amount, next.order_count), (fen(5), 1));
    assert_ne!(next.withdrawal_id, w.withdrawal_id);
    assert_eq!(
        held_by(store, &ids.order("w4")).await,
        Some(next.withdrawal_id.clone())
    );
    let audit = assert_clean(store, m).await;
    assert_eq!(
        (
            audit.paid_fen,
            audit.paid_orders,
            audit.withdrawable_fen,
            audit.paying_out_fen
        ),
        (355, 3, 0, 355)
    );

    // Refusals move nothing.
    assert_eq!(
        store
            .withdraw(&request(&MerchantId::generate(), None, ""), 1)
            .await
            .unwrap(),
        Withdraw::UnknownMerchant
    );
    assert_eq!(store.balance(&MerchantId::generate()).await.unwrap(), None);

    let plain = new_merchant(store, "no payout account").await;
    paid_order(store, &ids, "w5", &plain.merchant_id, 9).await;
    assert_eq!(
        store
            .withdraw(&request(&plain.merchant_id, Some("k"), ""), 1)
            .await
            .unwrap(),
        Withdraw::NoPayoutAccount
    );
    assert_eq!(held_by(store, &ids.order("w5")).await, None);
    assert!(store.withdrawals_of(&plain.merchant_id).await.is_empty());

    let suspended = payout_merchant(store, "suspended").await;
    paid_order(store, &ids, "w6", &suspended.merchant_id, 9).await;
    store
        .set_merchant_status(&suspended.merchant_id, MerchantStatus::Suspended)
        .await
        .unwrap();
    assert_eq!(
        store
            .withdraw(&request(&suspended.merchant_id, None, ""), 1)
            .await
            .unwrap(),
        Withdraw::MerchantNotActive(MerchantStatus::Suspended)
    );
    assert_eq!(held_by(store, &ids.order("w6")).await, None);
}

async fn idempotency_contract<S: TestStore>(store: &S) {
    let ids = Ids::new();
    let merchant = payout_merchant(store, "idempotent").await;
    let m = &merchant.merchant_id;

    // A call that finds nothing binds no key ...
    assert_eq!(
        store
            .withdraw(&request(m, Some("key-1"), ""), 1_000)
            .await
            .unwrap(),
        Withdraw::NothingToWithdraw
    );
    paid_order(store, &ids, "i1", m, 100).await;
    paid_order(store, &ids, "i2", m, 200).await;
    // ... so the same key later creates a withdrawal.
    let first = created_withdrawal(
        store
            .withdraw(&request(m, Some("key-1"), ""), 2_000)
            .await
            .unwrap(),
    );
    assert_eq!((first.amount, first.order_count), (fen(300), 2));

    // The same key and request: the same withdrawal, and nothing moves.
    paid_order(store, &ids, "i3", m, 40).await;
    assert_eq!(
        store
            .withdraw(&request(m, Some("key-1"), ""), 3_000)
            .await
            .unwrap(),
        Withdraw::Replayed(first.clone())
    );
    assert_eq!(held_by(store, &ids.order("i3")).await, None);
    assert_eq!(balance(store, m).await, (40, 1, 300, 0));
    assert_eq!(store.withdrawals_of(m).await.len(), 1);

    // The same key with another request: refused, and nothing moves.
    assert_eq!(
        store
            .withdraw(&request(m, Some("key-1"), "another-body"), 3_000)
            .await
            .unwrap(),
        Withdraw::KeyReused(first.clone())
    );
    assert_eq!(balance(store, m).await, (40, 1, 300, 0));
    assert_eq!(store.withdrawals_of(m).await.len(), 1);

    // Keys are scoped to the merchant.
    let other = payout_merchant(store, "other idempotent").await;
    paid_order(store, &ids, "i4", &other.merchant_id, 9).await;
    let theirs = created_withdrawal(
        store
            .withdraw(&request(&other.merchant_id, Some("key-1"), ""), 3_000)
            .await
            .unwrap(),
    );
    assert_eq!(theirs.amount, fen(9));
    assert_ne!(theirs.withdrawal_id, first.withdrawal_id);

    // A fingerprint is part of the request.
    let second = created_withdrawal(
        store
            .withdraw(&request(m, Some("key-2"), "sha256:abc"), 4_000)
            .await
            .unwrap(),
    );
    assert_eq!(second.amount, fen(40));
    assert_eq!(
        store
            .withdraw(&request(m, Some("key-2"), "sha256:abc"), 5_000)
            .await
            .unwrap(),
        Withdraw::Replayed(second.clone())
    );
    assert_eq!(
        store
            .withdraw(&request(m, Some("key-2"), ""), 5_000)
            .await
            .unwrap(),
        Withdraw::KeyReused(second.clone())
    );

    // A replay answers with the withdrawal as it is now, and never claims
    // again the orders a failed payout released.
    let failed = match store
        .fail_payout(
            &first.withdrawal_id,
            &FailureReason::parse("NAME_MISMATCH").unwrap(),
            6_000,
        )
        .await
        .unwrap()
    {
        FailPayout::Failed(w) => w,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        store
            .withdraw(&request(m, Some("key-1"), ""), 7_000)
            .await
            .unwrap(),
        Withdraw::Replayed(failed)
    );
    assert_eq!(balance(store, m).await, (300, 2, 40, 0));
    assert_eq!(held_by(store, &ids.order("i1")).await, None);
    assert_clean(store, m).await;
    assert_clean(store, &other.merchant_id).await;
}

async fn payout_contract<S: TestStore>(store: &S) {
    let ids = Ids::new();
    let merchant = payout_merchant(store, "payouts").await;
    let m = &merchant.merchant_id;
    paid_order(store, &ids, "o1", m, 100).await;
    paid_order(store, &ids, "o2", m, 200).await;
    let w = created_withdrawal(store.withdraw(&request(m, None, ""), 1_000).await.unwrap());

    // PAYING_OUT → PAID_OUT; again: success, nothing changes.
    let paid_out = Withdrawal {
        status: WithdrawalStatus::PaidOut,
        updated_at_ms: 2_000,
        ..w.clone()
    };
    assert_eq!(
        store
            .complete_payout(&w.withdrawal_id, 2_000)
            .await
            .unwrap(),
        CompletePayout::Completed(paid_out.clone())
    );
    assert_eq!(
        store
            .complete_payout(&w.withdrawal_id, 3_000)
            .await
            .unwrap(),
        CompletePayout::AlreadyPaidOut(paid_out.clone())
    );
    // Paid out money cannot fail: nothing is released.
    assert_eq!(
        store
            .fail_payout(
                &w.withdrawal_id,
                &FailureReason::parse("too late").unwrap(),
                3_000
            )
            .await
            .unwrap(),
        FailPayout::NotPayingOut(paid_out.clone())
    );
    assert_eq!(
        held_by(store, &ids.order("o1")).await,
        Some(w.withdrawal_id.clone())
    );
    assert_eq!(balance(store, m).await, (0, 0, 0, 300));

    // PAYING_OUT → FAILED releases its orders in the same transaction.
    paid_order(store, &ids, "o3", m, 50).await;
    paid_order(store, &ids, "o4", m, 7).await;
    let doomed = created_withdrawal(store.withdraw(&request(m, None, ""), 4_000).await.unwrap());
    assert_eq!(balance(store, m).await, (0, 0, 57, 300));
    let reason = FailureReason::parse("V2_ACCOUNT_SIMPLE_BAN: 收款账户异常").unwrap();
    let failed = Withdrawal {
        status: WithdrawalStatus::Failed,
        failure_reason: Some(reason.clone()),
        updated_at_ms: 5_000,
        ..doomed.clone()
    };
    assert_eq!(
        store
            .fail_payout(&doomed.withdrawal_id, &reason, 5_000)
            .await
            .unwrap(),
        FailPayout::Failed(failed.clone())
    );
    assert_eq!(held_by(store, &ids.order("o3")).await, None);
    assert_eq!(held_by(store, &ids.order("o4")).await, None);
    assert_eq!(balance(store, m).await, (57, 2, 0, 300));
    // Again: success, the first reason kept.
    assert_eq!(
        store
            .fail_payout(
                &doomed.withdrawal_id,
                &FailureReason::parse("another").unwrap(),
                6_000
            )
            .await
            .unwrap(),
        FailPayout::AlreadyFailed(failed.clone())
    );
    // A failed withdrawal is never paid out.
    assert_eq!(
        store
            .complete_payout(&doomed.withdrawal_id, 6_000)
            .await
            .unwrap(),
        CompletePayout::NotPayingOut(failed.clone())
    );
    let none = store
        .list_withdrawal_orders(&doomed.withdrawal_id, PageLimit::DEFAULT, None)
        .await
        .unwrap();
    assert!(none.orders.is_empty());
    // The released orders go to the next withdrawal.
    let again = created_withdrawal(store.withdraw(&request(m, None, ""), 7_000).await.unwrap());
    assert_eq!((again.amount, again.order_count), (fen(57), 2));
    assert_eq!(
        held_by(store, &ids.order("o3")).await,
        Some(again.withdrawal_id.clone())
    );
    assert_eq!(balance(store, m).await, (0, 0, 57, 300));

    let unknown = WithdrawalId::generate();
    assert_eq!(
        store.complete_payout(&unknown, 1).await.unwrap(),
        CompletePayout::UnknownWithdrawal
    );
    assert_eq!(
        store.fail_payout(&unknown, &reason, 1).await.unwrap(),
        FailPayout::UnknownWithdrawal
    );
    assert_eq!(store.withdrawal(&unknown).await.unwrap(), None);
    let audit = assert_clean(store, m).await;
    assert_eq!(
        (audit.paid_fen, audit.paying_out_fen, audit.paid_out_fen),
        (357, 57, 300)
    );
}

async fn listing_contract<S: TestStore>(store: &S) {
    let ids = Ids::new();
    let merchant = payout_merchant(store, "lists").await;
    let m = &merchant.merchant_id;
    let neighbour = payout_merchant(store, "lists neighbour").await;

    // Five withdrawals, two to a millisecond (the id breaks ties), holding
    // 1 to 5 orders; the neighbour withdraws at the same times.
    let mut mine = Vec::new();
    for k in 0..5_i64 {
        for j in 0..=k {
            let name = format!("L{k}{j}");
            created(store, &new_order(&ids, &name, m, 10 + j), 1_000 + j).await;
            store
                .mark_paid(&payment(
                    &ids.order(&name),
                    &ids.transaction(&name),
                    10 + j,
                    2_000,
                ))
                .await
                .unwrap();
        }
        let at = 10_000 + k / 2;
        mine.push(created_withdrawal(
            store.withdraw(&request(m, None, ""), at).await.unwrap(),
        ));
        paid_order(store, &ids, &format!("N{k}"), &neighbour.merchant_id, 1).await;
        created_withdrawal(
            store
                .withdraw(&request(&neighbour.merchant_id, None, ""), at)
                .await
                .unwrap(),
        );
    }
    let mut newest_first = mine.clone();
    newest_first.sort_by(|a, b| {
        (b.created_at_ms, b.withdrawal_id.as_str())
            .cmp(&(a.created_at_ms, a.withdrawal_id.as_str()))
    });

    let mut listed = Vec::new();
    let mut after: Option<WithdrawalCursor> = None;
    let mut pages = 0;
    loop {
        let page = store
            .list_withdrawals(m, PageLimit::parse(2).unwrap(), after.as_ref())
            .await
            .unwrap();
        pages += 1;
        assert!(page.withdrawals.len() <= 2);
        listed.extend(page.withdrawals);
        match page.next {
            Some(next) => after = Some(WithdrawalCursor::parse(&next.encode()).unwrap()),
            None => break,
        }
        assert!(pages < 10, "the cursor does not advance");
    }
    assert_eq!(pages, 3);
    assert_eq!(listed, newest_first);
    let whole = store
        .list_withdrawals(m, PageLimit::parse(500).unwrap(), None)
        .await
        .unwrap();
    assert_eq!(whole.withdrawals, newest_first);
    assert_eq!(whole.next, None);
    let nobody = store
        .list_withdrawals(&MerchantId::generate(), PageLimit::DEFAULT, None)
        .await
        .unwrap();
    assert!(nobody.withdrawals.is_empty());

    // A withdrawal's orders, newest first, paginated.
    let biggest = mine.last().unwrap();
    assert_eq!(biggest.order_count, 5);
    let mut pages = Vec::new();
    let mut after: Option<Cursor> = None;
    loop {
        let page = store
            .list_withdrawal_orders(
                &biggest.withdrawal_id,
                PageLimit::parse(2).unwrap(),
                after.as_ref(),
            )
            .await
            .unwrap();
        pages.push(page.orders);
        match page.next {
            Some(next) => after = Some(Cursor::parse(&next.encode()).unwrap()),
            None => break,
        }
        assert!(pages.len() < 10, "the cursor does not advance");
    }
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 1]);
    let orders: Vec<Order> = pages.into_iter().flatten().collect();
    let mut expected = Vec::new();
    for j in 0..5 {
        expected.push(row(store, &ids.order(&format!("L4{j}"))).await);
    }
    expected.reverse();
    assert_eq!(orders, expected);
    assert!(
        orders
            .iter()
            .all(|o| o.withdrawal_id.as_ref() == Some(&biggest.withdrawal_id))
    );
    // The same orders through ListOrders' held filter.
    let held: Vec<Order> = all_pages(
        store,
        OrderQuery {
            merchant_id: m.clone(),
            status: Some(OrderStatus::Paid),
            withdrawn: Some(true),
            limit: PageLimit::parse(4).unwrap(),
            after: None,
        },
    )
    .await
    .into_iter()
    .flatten()
    .collect();
    assert_eq!(held.len(), 15);

    // The payout loop's list: PAYING_OUT only, every merchant, oldest
    // first. Other runs' withdrawals may share the database, so only the
    // order and ours are checked.
    store
        .complete_payout(&mine[0].withdrawal_id, 20_000)
        .await
        .unwrap();
    store
        .fail_payout(
            &mine[1].withdrawal_id,
            &FailureReason::parse("test").unwrap(),
            20_000,
        )
        .await
        .unwrap();
    let mut after = Some(WithdrawalCursor {
        created_at_ms: 9_999,
        withdrawal_id: WithdrawalId::parse("0").unwrap(),
    });
    let mut seen: Vec<Withdrawal> = Vec::new();
    'pages: loop {
        let page = store
            .list_paying_out(PageLimit::parse(3).unwrap(), after.as_ref())
            .await
            .unwrap();
        for w in page.withdrawals {
            if w.created_at_ms > 10_002 {
                break 'pages;
            }
            assert_eq!(w.status, WithdrawalStatus::PayingOut);
            seen.push(w);
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert!(seen.windows(2).all(|pair| {
        (pair[0].created_at_ms, pair[0].withdrawal_id.as_str())
            < (pair[1].created_at_ms, pair[1].withdrawal_id.as_str())
    }));
    let ours: Vec<&WithdrawalId> = seen
        .iter()
        .filter(|w| &w.merchant_id == m)
        .map(|w| &w.withdrawal_id)
        .collect();
    let mut expected: Vec<&Withdrawal> = mine[2..].iter().collect();
    expected.sort_by_key(|w| (w.created_at_ms, w.withdrawal_id.clone()));
    let expected: Vec<&WithdrawalId> = expected.iter().map(|w| &w.withdrawal_id).collect();
    assert_eq!(ours, expected);
    assert!(seen.iter().any(|w| w.merchant_id == neighbour.merchant_id));
    assert_clean(store, m).await;
}

/// Corrupts the merchant's data one way at a time (as a bug or a hand in
/// the database would), checks that the audit names it, and repairs it.
async fn audit_contract<S: TestStore>(store: &S) {
    let ids = Ids::new();
    let merchant = payout_merchant(store, "audited").await;
    let m = &merchant.merchant_id;
    let other = payout_merchant(store, "audited too").await;
    paid_order(store, &ids, "a1", m, 100).await;
    paid_order(store, &ids, "a2", m, 200).await;
    let w = created_withdrawal(store.withdraw(&request(m, None, ""), 1_000).await.unwrap());
    paid_order(store, &ids, "a3", m, 30).await;
    paid_order(store, &ids, "a4", &other.merchant_id, 4).await;
    let theirs = created_withdrawal(
        store
            .withdraw(&request(&other.merchant_id, None, ""), 1_000)
            .await
            .unwrap(),
    );
    let clean = assert_clean(store, m).await;
    assert_eq!(
        (
            clean.paid_fen,
            clean.paid_orders,
            clean.withdrawable_fen,
            clean.withdrawable_orders,
            clean.paying_out_fen,
            clean.paid_out_fen,
            clean.live_withdrawn_fen()
        ),
        (330, 3, 30, 1, 300, 0, 300)
    );
    // Every merchant at once includes both (and, on a shared database,
    // others).
    let everyone = store.audit(None).await.unwrap();
    assert!(everyone.merchants.iter().any(|a| a == &clean));
    assert!(
        everyone
            .merchants
            .iter()
            .any(|a| a.merchant_id == other.merchant_id)
    );
    assert!(
        everyone
            .merchants
            .windows(2)
            .all(|pair| pair[0].merchant_id < pair[1].merchant_id)
    );
    // An unknown merchant has no audit.
    assert!(
        store
            .audit(Some(&MerchantId::generate()))
            .await
            .unwrap()
            .merchants
            .is_empty()
    );

    let text = |s: &str| Bind::Text(s.to_owned());
    let id = w.withdrawal_id.as_str();
    let a1 = ids.order("a1");
    type Tamper<'a> = (&'a str, Vec<Bind>, &'a str, Vec<Bind>, Vec<ViolationKind>);
    let tampers: Vec<Tamper> = vec![
        (
            "UPDATE withdrawals SET amount_fen = amount_fen + 1 WHERE withdrawal_id = ?",
            vec![text(id)],
            "UPDATE withdrawals SET amount_fen = amount_fen - 1 WHERE withdrawal_id = ?",
            vec![text(id)],
            vec![ViolationKind::WithdrawalMismatch, ViolationKind::Totals],
        ),
        (
            "UPDATE withdrawals SET order_count = 3 WHERE withdrawal_id = ?",
            vec![text(id)],
            "UPDATE withdrawals SET order_count = 2 WHERE withdrawal_id = ?",
            vec![text(id)],
            vec![ViolationKind::WithdrawalMismatch],
        ),
        (
            "UPDATE withdrawals SET status = 'FAILED', failure_reason = 'tampered' \
             WHERE withdrawal_id = ?",
            vec![text(id)],
            "UPDATE withdrawals SET status = 'PAYING_OUT', failure_reason = NULL \
             WHERE withdrawal_id = ?",
            vec![text(id)],
            vec![
                ViolationKind::HeldByFailed,
                ViolationKind::HeldByFailed,
                ViolationKind::Totals,
            ],
        ),
        (
            "UPDATE orders SET status = 'REFUNDED' WHERE out_trade_no = ?",
            vec![text(a1.as_str())],
            "UPDATE orders SET status = 'PAID' WHERE out_trade_no = ?",
            vec![text(a1.as_str())],
            vec![ViolationKind::HeldNotPaid, ViolationKind::Totals],
        ),
        (
            "UPDATE orders SET withdrawal_id = ? WHERE out_trade_no = ?",
            vec![text(theirs.withdrawal_id.as_str()), text(a1.as_str())],
            "UPDATE orders SET withdrawal_id = ? WHERE out_trade_no = ?",
            vec![text(id), text(a1.as_str())],
            // The recorded amounts still add up for this merchant: the
            // order-level checks are what catch it.
            vec![
                ViolationKind::WithdrawalMismatch,
                ViolationKind::HeldByOtherMerchant,
            ],
        ),
        (
            "UPDATE orders SET withdrawal_id = NULL WHERE out_trade_no = ?",
            vec![text(a1.as_str())],
            "UPDATE orders SET withdrawal_id = ? WHERE out_trade_no = ?",
            vec![text(id), text(a1.as_str())],
            vec![ViolationKind::WithdrawalMismatch, ViolationKind::Totals],
        ),
    ];
    for (tamper, binds, repair, repair_binds, expected) in tampers {
        assert_eq!(store.execute(tamper, binds).await.unwrap(), 1, "{tamper}");
        let report = store.audit(Some(m)).await.unwrap();
        assert!(!report.is_clean());
        let mut kinds: Vec<ViolationKind> = report.violations().map(|v| v.kind).collect();
        kinds.sort_by_key(|k| k.as_str());
        let mut expected = expected.clone();
        expected.sort_by_key(|k| k.as_str());
        assert_eq!(kinds, expected, "{tamper}: {report:#?}");
        for v in report.violations() {
            assert!(!v.detail.is_empty());
            match v.kind {
                ViolationKind::Totals => assert_eq!(v.withdrawal_id, None),
                ViolationKind::WithdrawalMismatch => {
                    assert_eq!(v.withdrawal_id.as_ref(), Some(&w.withdrawal_id));
                    assert_eq!(v.out_trade_no, None);
                }
                _ => assert!(v.out_trade_no.is_some()),
            }
        }
        assert_eq!(
            store.execute(repair, repair_binds).await.unwrap(),
            1,
            "{repair}"
        );
        assert_eq!(assert_clean(store, m).await, clean, "after {repair}");
    }
    assert_clean(store, &other.merchant_id).await;
}

async fn withdrawals_contract<S: TestStore>(store: &S) {
    withdraw_contract(store).await;
    idempotency_contract(store).await;
    payout_contract(store).await;
    listing_contract(store).await;
    audit_contract(store).await;
}

/// Concurrent calls with one key: exactly one creates, every other replays
/// it (the merchant lock orders them; the unique key stands behind it).
async fn same_key_race<S: TestStore>(store: S) {
    const RACERS: usize = 16;
    let ids = Ids::new();
    let merchant = payout_merchant(&store, "same key race").await;
    let m = merchant.merchant_id.clone();
    for j in 0..3 {
        paid_order(&store, &ids, &format!("K{j}"), &m, 10 + j).await;
    }
    let barrier = Arc::new(Barrier::new(RACERS));
    let mut tasks = Vec::new();
    for _ in 0..RACERS {
        let (store, barrier, m) = (store.clone(), barrier.clone(), m.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            store
                .withdraw(&request(&m, Some("one-key"), ""), now_millis())
                .await
        }));
    }
    let mut created = Vec::new();
    let mut replayed = Vec::new();
    for task in tasks {
        match tokio::time::timeout(PATIENCE * 3, task)
            .await
            .expect("a racer hung")
            .unwrap()
            .unwrap()
        {
            Withdraw::Created(w) => created.push(w),
            Withdraw::Replayed(w) => replayed.push(w),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(replayed.len(), RACERS - 1);
    assert!(
        replayed
            .iter()
            .all(|w| w.withdrawal_id == created[0].withdrawal_id)
    );
    assert_eq!(created[0].amount, fen(33));
    assert_eq!(store.withdrawals_of(&m).await.len(), 1);
    assert_clean(&store, &m).await;
}

// ------------------------------------------------------------ interleaving

/// Whether `step` comes before the claim (a payment committed then is
/// visible to it, on a backend where payments do not wait).
fn before_claim(step: WithdrawStep) -> bool {
    matches!(
        step,
        WithdrawStep::Begun
            | WithdrawStep::MerchantLocked
            | WithdrawStep::KeyChecked
            | WithdrawStep::Inserted
    )
}

/// A payment running on its own task.
type Paying = JoinHandle<Result<MarkPaid, StoreError>>;

/// For every step of the withdrawal, a fresh merchant with three paid
/// orders and one CREATED; the hook pays the CREATED one, on another
/// connection, right after that step, then audits what other connections
/// see. What this proves:
///
/// - MariaDB (READ COMMITTED, row locks): the payment is applied and
///   committed *while the withdrawal is open* at every step (it is never
///   blocked: it locks no row the withdrawal holds). Paid before the claim,
///   the claim takes it and the withdrawal's sum includes it; paid after
///   the claim, it stays free and withdrawable. Never lost, never counted
///   twice, and the audit is clean at every step and after.
/// - SQLite (`BEGIN IMMEDIATE`): the payment waits for the withdrawal's
///   write lock at every step before the commit (it is still pending 50 ms
///   later) and lands after the commit, free and withdrawable; the audit,
///   reading the last committed snapshot meanwhile, is clean at every step.
async fn interleaving_contract<S: TestStore>(store: S) {
    let ids = Ids::new();
    let mut outcomes = Vec::new();
    for (k, &step) in WithdrawStep::ALL.iter().enumerate() {
        let merchant = payout_merchant(&store, &format!("interleaved {k}")).await;
        let m = merchant.merchant_id.clone();
        let mut before = 0;
        for j in 0..3 {
            paid_order(&store, &ids, &format!("I{k}P{j}"), &m, 10 + j).await;
            before += 10 + j;
        }
        let target_name = format!("I{k}T");
        created(&store, &new_order(&ids, &target_name, &m, 1_000), 1_000).await;
        let target_no = ids.order(&target_name);
        let target = payment(&target_no, &ids.transaction(&target_name), 1_000, 2_500);

        let pending: Arc<Mutex<Option<Paying>>> = Arc::default();
        let audits_in_hook = Arc::new(Mutex::new(0));
        let hook = {
            let (plain, pending, audits, m) = (
                store.clone(),
                pending.clone(),
                audits_in_hook.clone(),
                m.clone(),
            );
            StepHook::new(move |at| {
                let (plain, pending, audits, m, target) = (
                    plain.clone(),
                    pending.clone(),
                    audits.clone(),
                    m.clone(),
                    target.clone(),
                );
                async move {
                    if at != step {
                        return;
                    }
                    // The notification, on another connection.
                    let paying = {
                        let plain = plain.clone();
                        tokio::spawn(async move { plain.mark_paid(&target).await })
                    };
                    if S::PAYMENTS_WAIT_FOR_WITHDRAWALS && at != WithdrawStep::Committed {
                        // Give it every chance to get through; it must not.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        assert!(
                            !paying.is_finished(),
                            "a payment got past the withdrawal's write lock after {at:?}"
                        );
                        *pending.lock().unwrap() = Some(paying);
                    } else {
                        let paid = tokio::time::timeout(PATIENCE, paying)
                            .await
                            .unwrap_or_else(|_| {
                                panic!("the withdrawal blocked a payment at {at:?}")
                            })
                            .unwrap()
                            .unwrap();
                        assert!(matches!(paid, MarkPaid::Paid(_)), "{paid:?}");
                    }
                    // The invariant holds in what everyone else sees.
                    let report = plain.audit(Some(&m)).await.unwrap();
                    assert!(report.is_clean(), "after {at:?}: {report:#?}");
                    *audits.lock().unwrap() += 1;
                }
            })
        };
        let hooked = store.with_hook(hook);
        let w = created_withdrawal(
            hooked
                .withdraw(&request(&m, Some("interleaved"), ""), now_millis())
                .await
                .unwrap(),
        );
        let waiting = pending.lock().unwrap().take();
        if let Some(paying) = waiting {
            let paid = tokio::time::timeout(PATIENCE, paying)
                .await
                .expect("the payment never got the write lock")
                .unwrap()
                .unwrap();
            assert!(matches!(paid, MarkPaid::Paid(_)), "{paid:?}");
        }
        assert_eq!(*audits_in_hook.lock().unwrap(), 1, "{step:?}");

        let claimed = !S::PAYMENTS_WAIT_FOR_WITHDRAWALS && before_claim(step);
        let expected = before + if claimed { 1_000 } else { 0 };
        assert_eq!(w.amount, fen(expected), "{step:?}");
        assert_eq!(w.order_count, if claimed { 4 } else { 3 }, "{step:?}");
        assert_eq!(row(&store, &target_no).await.status, OrderStatus::Paid);
        assert_eq!(
            held_by(&store, &target_no).await,
            claimed.then(|| w.withdrawal_id.clone()),
            "{step:?}"
        );
        let audit = assert_clean(&store, &m).await;
        assert_eq!(audit.paid_fen, before + 1_000);
        assert_eq!(audit.paying_out_fen, expected);
        assert_eq!(audit.withdrawable_fen, 1_000 + before - expected);
        outcomes.push(format!(
            "{step:?}: {}",
            if claimed {
                "paid meanwhile, claimed"
            } else if S::PAYMENTS_WAIT_FOR_WITHDRAWALS && step != WithdrawStep::Committed {
                "waited, paid after commit, withdrawable"
            } else {
                "paid meanwhile, withdrawable"
            }
        ));
    }
    eprintln!(
        "{}: payment between steps: {}",
        store.backend(),
        outcomes.join("; ")
    );
}

// ------------------------------------------------------------------ stress

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Algorithm {
    /// [`WithdrawalStore::withdraw`]: claim first, sum what was claimed.
    ClaimThenSum,
    /// The seed's three separate statements: SUM the merchant's free PAID
    /// orders; INSERT a withdrawal of that amount; UPDATE the merchant's free
    /// PAID orders to it.
    Naive,
}

/// What one call of the naive algorithm did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Naive {
    Nothing,
    Withdrew,
    /// Its UPDATE failed (MariaDB: a deadlock with another naive UPDATE,
    /// as nothing orders them) after its withdrawal was recorded.
    UpdateFailed,
}

/// The naive algorithm, on the same schema, each step its own statement.
async fn naive_withdraw<S: TestStore>(store: &S, merchant: &MerchantId) -> Naive {
    let (amount, orders) = store.free_paid(merchant).await;
    if orders == 0 {
        return Naive::Nothing;
    }
    let id = WithdrawalId::generate();
    let now = now_millis();
    store
        .execute(
            "INSERT INTO withdrawals (withdrawal_id, merchant_id, payout_openid, amount_fen, \
             order_count, status, created_at, updated_at) \
             VALUES (?, ?, 'oPayout_contract', ?, ?, 'PAYING_OUT', ?, ?)",
            vec![
                Bind::Text(id.as_str().to_owned()),
                Bind::Text(merchant.as_str().to_owned()),
                Bind::Int(amount),
                Bind::Int(orders),
                Bind::Int(now),
                Bind::Int(now),
            ],
        )
        .await
        .unwrap();
    match store
        .execute(
            "UPDATE orders SET withdrawal_id = ? \
             WHERE merchant_id = ? AND status = 'PAID' AND withdrawal_id IS NULL",
            vec![
                Bind::Text(id.as_str().to_owned()),
                Bind::Text(merchant.as_str().to_owned()),
            ],
        )
        .await
    {
        Ok(_) => Naive::Withdrew,
        Err(_) => Naive::UpdateFailed,
    }
}

/// The invariant, checked order by order from the rows themselves (not
/// from the store's audit): every PAID order free or held by exactly one
/// live withdrawal, every held order PAID, every live withdrawal's amount
/// and count those of the orders carrying its id, and the totals.
#[derive(Debug, Default)]
struct Check {
    paid_orders: i64,
    paid_fen: i64,
    withdrawable_orders: i64,
    withdrawable_fen: i64,
    live: i64,
    live_fen: i64,
    paid_out: i64,
    failed: i64,
    violations: Vec<String>,
    /// Σ of held orders a withdrawal's amount leaves out (the merchant is
    /// never paid for them).
    lost_fen: i64,
    /// Σ a withdrawal's amount counts beyond its orders (paid twice).
    double_counted_fen: i64,
}

fn check_order_by_order(orders: &[OrderFacts], withdrawals: &[WithdrawalFacts]) -> Check {
    let mut check = Check::default();
    let by_id: HashMap<&str, &WithdrawalFacts> = withdrawals
        .iter()
        .map(|w| (w.withdrawal_id.as_str(), w))
        .collect();
    let mut held: HashMap<&str, (i64, i64)> = HashMap::new();
    for o in orders {
        let paid = o.status == "PAID";
        if paid {
            check.paid_orders += 1;
            check.paid_fen += o.amount_fen;
        }
        let Some(id) = o.withdrawal_id.as_deref() else {
            if paid {
                check.withdrawable_orders += 1;
                check.withdrawable_fen += o.amount_fen;
            }
            continue;
        };
        if !paid {
            check.violations.push(format!(
                "order {} is {} but held by {id}",
                o.out_trade_no, o.status
            ));
        }
        match by_id.get(id) {
            None => check
                .violations
                .push(format!("order {} held by unknown {id}", o.out_trade_no)),
            Some(w) if w.status == "FAILED" => check
                .violations
                .push(format!("order {} held by FAILED {id}", o.out_trade_no)),
            Some(_) => {
                let entry = held.entry(id).or_default();
                entry.0 += o.amount_fen;
                entry.1 += 1;
            }
        }
    }
    for w in withdrawals {
        match w.status.as_str() {
            "FAILED" => {
                check.failed += 1;
                continue;
            }
            "PAID_OUT" => check.paid_out += 1,
            _ => {}
        }
        check.live += 1;
        check.live_fen += w.amount_fen;
        let (fen, count) = held
            .get(w.withdrawal_id.as_str())
            .copied()
            .unwrap_or_default();
        if fen != w.amount_fen || count != w.order_count {
            check.violations.push(format!(
                "withdrawal {} records {} fen / {} orders, holds {fen} fen / {count} orders",
                w.withdrawal_id, w.amount_fen, w.order_count
            ));
            if fen > w.amount_fen {
                check.lost_fen += fen - w.amount_fen;
            } else {
                check.double_counted_fen += w.amount_fen - fen;
            }
        }
    }
    if check.paid_fen != check.withdrawable_fen + check.live_fen {
        check.violations.push(format!(
            "Σ paid {} ≠ withdrawable {} + live withdrawals {}",
            check.paid_fen, check.withdrawable_fen, check.live_fen
        ));
    }
    check
}

const WRITERS: usize = 6;
const WITHDRAWERS: usize = 4;

fn stress_duration() -> Duration {
    let secs = std::env::var("MINIPAY_TEST_STRESS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    Duration::from_secs(secs)
}

/// Several writers create and pay orders of ONE merchant while four
/// withdrawers withdraw in a loop and a payout loop completes (3 in 4) or
/// fails (1 in 4, releasing the orders) what they create; for a bounded
/// time. Then the rows are checked order by order and by the audit.
async fn stress<S: TestStore>(store: S, algorithm: Algorithm) -> Check {
    let ids = Arc::new(Ids::new());
    let merchant = payout_merchant(&store, "stressed").await;
    let m = merchant.merchant_id.clone();
    let deadline = Instant::now() + stress_duration();

    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (store, ids, m) = (store.clone(), ids.clone(), m.clone());
        writers.push(tokio::spawn(async move {
            let (mut orders, mut fen_paid) = (0_i64, 0_i64);
            while Instant::now() < deadline {
                let name = format!("S{w}x{orders}");
                let amount = rand::random_range(1..=10_000);
                created(&store, &new_order(&ids, &name, &m, amount), now_millis()).await;
                let paid = store
                    .mark_paid(&payment(
                        &ids.order(&name),
                        &ids.transaction(&name),
                        amount,
                        now_millis(),
                    ))
                    .await
                    .unwrap();
                assert!(matches!(paid, MarkPaid::Paid(_)), "{paid:?}");
                orders += 1;
                fen_paid += amount;
            }
            (orders, fen_paid)
        }));
    }
    let mut withdrawers = Vec::new();
    for _ in 0..WITHDRAWERS {
        let (store, m) = (store.clone(), m.clone());
        withdrawers.push(tokio::spawn(async move {
            let (mut made, mut nothing, mut failed) = (0_i64, 0_i64, 0_i64);
            while Instant::now() < deadline {
                let outcome = match algorithm {
                    Algorithm::ClaimThenSum => {
                        match store
                            .withdraw(&request(&m, None, ""), now_millis())
                            .await
                            .unwrap()
                        {
                            Withdraw::Created(_) => Naive::Withdrew,
                            Withdraw::NothingToWithdraw => Naive::Nothing,
                            other => panic!("{other:?}"),
                        }
                    }
                    Algorithm::Naive => naive_withdraw(&store, &m).await,
                };
                match outcome {
                    Naive::Withdrew => made += 1,
                    Naive::UpdateFailed => {
                        made += 1;
                        failed += 1;
                    }
                    Naive::Nothing => {
                        nothing += 1;
                        tokio::task::yield_now().await;
                    }
                }
            }
            (made, nothing, failed)
        }));
    }
    let payouts = {
        let (store, m) = (store.clone(), m.clone());
        tokio::spawn(async move {
            let (mut completed, mut failed) = (0_i64, 0_i64);
            let reason = FailureReason::parse("stress: definite failure").unwrap();
            while Instant::now() < deadline {
                let page = store
                    .list_withdrawals(&m, PageLimit::parse(20).unwrap(), None)
                    .await
                    .unwrap();
                for w in page.withdrawals {
                    if w.status != WithdrawalStatus::PayingOut {
                        continue;
                    }
                    if rand::random_range(0..4) == 0 {
                        let done = store
                            .fail_payout(&w.withdrawal_id, &reason, now_millis())
                            .await
                            .unwrap();
                        assert!(matches!(done, FailPayout::Failed(_)), "{done:?}");
                        failed += 1;
                    } else {
                        let done = store
                            .complete_payout(&w.withdrawal_id, now_millis())
                            .await
                            .unwrap();
                        assert!(matches!(done, CompletePayout::Completed(_)), "{done:?}");
                        completed += 1;
                    }
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            (completed, failed)
        })
    };

    let patience = stress_duration() + PATIENCE * 3;
    let (mut orders, mut fen_paid, mut made, mut nothing, mut update_failed) = (0, 0, 0, 0, 0);
    for writer in writers {
        let (o, f) = tokio::time::timeout(patience, writer)
            .await
            .expect("a writer hung")
            .unwrap();
        orders += o;
        fen_paid += f;
    }
    for withdrawer in withdrawers {
        let (w, n, f) = tokio::time::timeout(patience, withdrawer)
            .await
            .expect("a withdrawer hung")
            .unwrap();
        made += w;
        nothing += n;
        update_failed += f;
    }
    let (completed, failed) = tokio::time::timeout(patience, payouts)
        .await
        .expect("the payout loop hung")
        .unwrap();

    let facts = store.orders_of(&m).await;
    let withdrawals = store.withdrawals_of(&m).await;
    let check = check_order_by_order(&facts, &withdrawals);
    let audit = store.audit(Some(&m)).await.unwrap();
    eprintln!(
        "{} {algorithm:?} stress ({:?}, {WRITERS} writers, {WITHDRAWERS} withdrawers): \
         {orders} orders paid ({fen_paid} fen); {made} withdrawals made ({update_failed} whose \
         claim failed), {nothing} calls found nothing; payouts {completed} completed, {failed} failed; at the end {} live \
         ({} fen, {} paid out), {} failed, {} orders ({} fen) withdrawable; checker: {} \
         violations, {} fen lost, {} fen double-counted; audit: {} violations",
        store.backend(),
        stress_duration(),
        check.live,
        check.live_fen,
        check.paid_out,
        check.failed,
        check.withdrawable_orders,
        check.withdrawable_fen,
        check.violations.len(),
        check.lost_fen,
        check.double_counted_fen,
        audit.violations().count(),
    );
    assert_eq!(check.paid_orders, orders);
    assert_eq!(check.paid_fen, fen_paid);
    assert!(orders > 0 && made > 0, "the stress did nothing");
    assert_eq!(check.failed, failed);

    match algorithm {
        Algorithm::ClaimThenSum => {
            assert!(check.violations.is_empty(), "{:#?}", check.violations);
            assert!(audit.is_clean(), "{audit:#?}");
            let audit = &audit.merchants[0];
            assert_eq!(audit.paid_fen, check.paid_fen);
            assert_eq!(audit.withdrawable_fen, check.withdrawable_fen);
            assert_eq!(audit.live_withdrawn_fen(), check.live_fen);
            assert_eq!(made, check.live + check.failed);
            // A final withdrawal takes exactly what is left.
            let left = store
                .withdraw(&request(&m, None, ""), now_millis())
                .await
                .unwrap();
            match left {
                Withdraw::Created(w) => assert_eq!(w.amount.fen(), check.withdrawable_fen),
                Withdraw::NothingToWithdraw => assert_eq!(check.withdrawable_fen, 0),
                other => panic!("{other:?}"),
            }
            assert_clean(&store, &m).await;
            // Tidy a shared database's payout list.
            for w in store.withdrawals_of(&m).await {
                if w.status == "PAYING_OUT" {
                    let id = WithdrawalId::parse(w.withdrawal_id).unwrap();
                    store.complete_payout(&id, now_millis()).await.unwrap();
                }
            }
        }
        Algorithm::Naive => {
            // The checker and the audit must both see the loss.
            assert!(
                !check.violations.is_empty(),
                "the naive algorithm went undetected: {check:?}"
            );
            assert!(
                !audit.is_clean(),
                "the audit missed the naive algorithm's damage"
            );
            // Undo the damage, so that a shared database stays auditable.
            let merchant = Bind::Text(m.as_str().to_owned());
            store
                .execute(
                    "UPDATE orders SET withdrawal_id = NULL WHERE merchant_id = ?",
                    vec![merchant.clone()],
                )
                .await
                .unwrap();
            store
                .execute(
                    "DELETE FROM withdrawals WHERE merchant_id = ?",
                    vec![merchant],
                )
                .await
                .unwrap();
            assert_clean(&store, &m).await;
        }
    }
    check
}

// ------------------------------------------------------- plans and volume

/// The claim and its neighbours use the indexes meant for them; MarkPaid
/// still finds its order by primary key.
async fn explain_contract<S: TestStore>(store: &S) {
    // As in production, the claimed orders are a small part of the table:
    // on an empty database a planner rightly scans a table that is all
    // one withdrawal.
    let bystander = payout_merchant(store, "bystander").await;
    store
        .bulk_paid_orders(&bystander.merchant_id, &Ids::new().run, 20_000)
        .await;
    let ids = Ids::new();
    let merchant = payout_merchant(store, "explained").await;
    let m = merchant.merchant_id.as_str().to_owned();
    store
        .bulk_paid_orders(&merchant.merchant_id, &ids.run, 2_000)
        .await;
    let w = created_withdrawal(
        store
            .withdraw(&request(&merchant.merchant_id, None, ""), now_millis())
            .await
            .unwrap(),
    );
    let text = |s: &str| Bind::Text(s.to_owned());
    let id = w.withdrawal_id.as_str();
    let plans = [
        (
            "claim",
            S::CLAIM_ORDERS,
            vec![text(id), text(&m)],
            "orders_by_merchant_status_withdrawal",
        ),
        (
            "sum of the claimed",
            sql::SUM_CLAIMED,
            vec![text(id)],
            "orders_by_withdrawal",
        ),
        (
            "balance",
            S::BALANCE_WITHDRAWABLE,
            vec![text(&m)],
            "orders_by_merchant_status_withdrawal",
        ),
        (
            "release",
            sql::RELEASE_ORDERS,
            vec![text(id)],
            "orders_by_withdrawal",
        ),
        (
            "a withdrawal's orders",
            sql::LIST_WITHDRAWAL_ORDERS,
            vec![
                text(id),
                Bind::Int(i64::MAX),
                Bind::Int(i64::MAX),
                text(""),
                Bind::Int(51),
            ],
            "orders_by_withdrawal",
        ),
        (
            "a merchant's withdrawals",
            sql::LIST_WITHDRAWALS,
            vec![
                text(&m),
                Bind::Int(i64::MAX),
                Bind::Int(i64::MAX),
                text(""),
                Bind::Int(51),
            ],
            "withdrawals_by_merchant_created",
        ),
        (
            "paying out",
            sql::LIST_PAYING_OUT,
            vec![
                Bind::Int(i64::MIN),
                Bind::Int(i64::MIN),
                text(""),
                Bind::Int(51),
            ],
            "withdrawals_by_status_created",
        ),
        (
            "mark paid",
            sql::MARK_PAID,
            vec![text("4200x"), Bind::Int(1), text("Tnone"), Bind::Int(1)],
            if store.backend() == "mysql" {
                "PRIMARY"
            } else {
                "sqlite_autoindex_orders_1"
            },
        ),
    ];
    for (what, statement, binds, index) in plans {
        let plan = store.explain(statement, binds).await;
        eprintln!("{} plan of {what}: {plan:?}", store.backend());
        assert!(
            plan.iter().any(|step| step.contains(index)),
            "{what} does not use {index}: {plan:?}"
        );
        assert!(
            !plan
                .iter()
                .any(|step| step.starts_with("SCAN orders") || step.contains("type=ALL")),
            "{what} scans a table: {plan:?}"
        );
    }
}

/// A merchant with many paid orders (`MINIPAY_TEST_WITHDRAW_ORDERS`,
/// default 20 000) withdraws them all in one call: one claim statement, one
/// sum, no order in memory.
async fn many_orders_withdraw<S: TestStore>(store: &S) {
    let n: i64 = std::env::var("MINIPAY_TEST_WITHDRAW_ORDERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    let ids = Ids::new();
    let merchant = payout_merchant(store, "many orders").await;
    let m = &merchant.merchant_id;
    let inserting = Instant::now();
    store.bulk_paid_orders(m, &ids.run, n).await;
    let inserted = inserting.elapsed();
    let expected: i64 = (1..=n).map(|i| 1 + i % 100).sum();
    assert_eq!(balance(store, m).await, (expected, n, 0, 0));

    // MariaDB: a payment of the same merchant during the withdrawal is not
    // held up by it. (SQLite: it would wait for the write lock, up to the
    // busy timeout, so it is paid afterwards.)
    created(store, &new_order(&ids, "late", m, 3), now_millis()).await;
    let everything = request(m, None, "");
    let late = payment(
        &ids.order("late"),
        &ids.transaction("late"),
        3,
        now_millis(),
    );
    let withdrawing = Instant::now();
    let (withdrawn, paid_in) = if S::PAYMENTS_WAIT_FOR_WITHDRAWALS {
        let withdrawn = store.withdraw(&everything, now_millis()).await;
        let took = withdrawing.elapsed();
        assert!(matches!(
            store.mark_paid(&late).await.unwrap(),
            MarkPaid::Paid(_)
        ));
        (withdrawn, took)
    } else {
        let paying = async {
            let started = Instant::now();
            let paid = store.mark_paid(&late).await;
            (paid, started.elapsed())
        };
        let (withdrawn, (paid, paid_in)) =
            tokio::join!(store.withdraw(&everything, now_millis()), paying);
        assert!(matches!(paid.unwrap(), MarkPaid::Paid(_)));
        (withdrawn, paid_in)
    };
    let took = withdrawing.elapsed();
    let peak = peak_memory();
    let w = created_withdrawal(withdrawn.unwrap());
    let late_claimed = held_by(store, &ids.order("late")).await.is_some();
    let expected_w = expected + if late_claimed { 3 } else { 0 };
    assert_eq!(w.amount.fen(), expected_w);
    assert_eq!(w.order_count, n + i64::from(late_claimed));
    let auditing = Instant::now();
    let audit = assert_clean(store, m).await;
    assert_eq!(audit.paid_fen, expected + 3);
    eprintln!(
        "{}: {n} paid orders ({expected} fen) inserted in {inserted:?}; withdrawn in one \
         call in {took:?} (test process peak memory then: {peak}); a payment meanwhile {} \
         {paid_in:?}; audited in {:?}",
        store.backend(),
        if S::PAYMENTS_WAIT_FOR_WITHDRAWALS {
            "would have waited"
        } else {
            "took"
        },
        auditing.elapsed()
    );
}

/// The process's peak resident memory (Linux), for the report.
fn peak_memory() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmHWM:"))
                .map(|line| line["VmHWM:".len()..].trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}

// ------------------------------------------------------------------- SQLite

async fn sqlite_store(dir: &super::contract_tests::TempDir) -> SqliteLedgerStore {
    let url = format!("sqlite://{}", dir.0.join("ledger.db").display());
    SqliteLedgerStore::connect(&url).await.unwrap()
}

#[tokio::test]
async fn sqlite_withdrawals_meet_the_contract() {
    let dir = temp_dir();
    let store = sqlite_store(&dir).await;
    withdrawals_contract(&store).await;
    // A fresh database holds only what the contract made: all of it clean.
    assert!(store.audit(None).await.unwrap().is_clean());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_same_idempotency_key_race_creates_one_withdrawal() {
    let dir = temp_dir();
    same_key_race(sqlite_store(&dir).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_payment_between_any_two_withdrawal_steps_keeps_the_invariant() {
    let dir = temp_dir();
    interleaving_contract(sqlite_store(&dir).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_withdraw_stress_loses_nothing() {
    let dir = temp_dir();
    stress(sqlite_store(&dir).await, Algorithm::ClaimThenSum).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_naive_withdraw_stress_is_caught() {
    let dir = temp_dir();
    stress(sqlite_store(&dir).await, Algorithm::Naive).await;
}

#[tokio::test]
async fn sqlite_withdrawal_statements_use_their_indexes() {
    let dir = temp_dir();
    explain_contract(&sqlite_store(&dir).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_withdraws_many_orders_in_one_call() {
    let dir = temp_dir();
    many_orders_withdraw(&sqlite_store(&dir).await).await;
}

/// Migration 0003 rebuilds SQLite's orders table (to add the foreign key):
/// every order survives as it was, a stale stamp from before withdrawals
/// existed is released, and the new foreign key holds.
#[tokio::test]
async fn sqlite_migration_0003_keeps_orders_and_adds_the_foreign_key() {
    use sqlx::sqlite::SqliteConnectOptions;
    use std::str::FromStr;

    let dir = temp_dir();
    std::fs::create_dir_all(&dir.0).unwrap();
    let url = format!("sqlite://{}", dir.0.join("ledger.db").display());
    let options = SqliteConnectOptions::from_str(&url)
        .unwrap()
        .create_if_missing(true)
        .foreign_keys(true);
    let pool = sqlx::SqlitePool::connect_with(options.clone())
        .await
        .unwrap();
    let mut before_0003 = sqlx::migrate!("migrations/sqlite");
    before_0003.migrations = before_0003
        .migrations
        .iter()
        .filter(|m| m.version < 3)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    before_0003.run(&pool).await.unwrap();
    let merchant = MerchantId::generate();
    sqlx::query(
        "INSERT INTO merchants (merchant_id, name, payout_openid, status, created_at) \
         VALUES (?, 'old', 'oPayout', 'ACTIVE', 1)",
    )
    .bind(merchant.as_str())
    .execute(&pool)
    .await
    .unwrap();
    for (no, status, tx, paid_at, stamp) in [
        ("OLD000001", "CREATED", None, None, None),
        ("OLD000002", "PAID", Some("42001"), Some(5), None),
        ("OLD000003", "PAID", Some("42002"), Some(6), Some("WSTALE")),
    ] {
        sqlx::query(
            "INSERT INTO orders (out_trade_no, merchant_id, payer_openid, amount_fen, \
             description, status, transaction_id, created_at, paid_at, withdrawal_id) \
             VALUES (?, ?, 'oPayer', 10, '旧', ?, ?, 1, ?, ?)",
        )
        .bind(no)
        .bind(merchant.as_str())
        .bind(status)
        .bind(tx)
        .bind(paid_at)
        .bind(stamp)
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;

    let store = SqliteLedgerStore::connect_with(options).await.unwrap();
    let old = |no: &str| OutTradeNo::parse(no).unwrap();
    let created_order = row(&store, &old("OLD000001")).await;
    assert_eq!(created_order.status, OrderStatus::Created);
    assert_eq!(created_order.description.as_str(), "旧");
    let paid = row(&store, &old("OLD000002")).await;
    assert_eq!(
        (paid.paid_at_ms, paid.transaction_id.unwrap().as_str()),
        (Some(5), "42001")
    );
    assert_eq!(held_by(&store, &old("OLD000003")).await, None);
    // The foreign key refuses a stamp of no withdrawal.
    let refused = store
        .execute(
            "UPDATE orders SET withdrawal_id = 'WNONE' WHERE out_trade_no = 'OLD000002'",
            vec![],
        )
        .await;
    assert!(refused.is_err(), "{refused:?}");
    // The old orders withdraw like any.
    let w = created_withdrawal(
        store
            .withdraw(&request(&merchant, None, ""), now_millis())
            .await
            .unwrap(),
    );
    assert_eq!((w.amount, w.order_count), (fen(20), 2));
    // The rebuilt table keeps its indexes (and the new one).
    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'orders' \
         ORDER BY name",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    for index in [
        "orders_by_merchant_created",
        "orders_by_merchant_status_withdrawal",
        "orders_by_status_created",
        "orders_by_withdrawal",
    ] {
        assert!(indexes.iter().any(|i| i == index), "{indexes:?}");
    }
}

// ------------------------------------------------------------------ MariaDB

async fn mysql_store() -> Option<MySqlLedgerStore> {
    let url = env_url("MINIPAY_TEST_MYSQL_URL")?;
    Some(mysql_test_store(&url).await)
}

#[tokio::test]
async fn mysql_withdrawals_meet_the_contract() {
    let Some(store) = mysql_store().await else {
        return;
    };
    withdrawals_contract(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mysql_same_idempotency_key_race_creates_one_withdrawal() {
    let Some(store) = mysql_store().await else {
        return;
    };
    same_key_race(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mysql_payment_between_any_two_withdrawal_steps_keeps_the_invariant() {
    let Some(store) = mysql_store().await else {
        return;
    };
    interleaving_contract(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mysql_withdraw_stress_loses_nothing() {
    let Some(store) = mysql_store().await else {
        return;
    };
    stress(store, Algorithm::ClaimThenSum).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mysql_naive_withdraw_stress_is_caught() {
    let Some(store) = mysql_store().await else {
        return;
    };
    stress(store, Algorithm::Naive).await;
}

#[tokio::test]
async fn mysql_withdrawal_statements_use_their_indexes() {
    let Some(store) = mysql_store().await else {
        return;
    };
    explain_contract(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_withdraws_many_orders_in_one_call() {
    let Some(store) = mysql_store().await else {
        return;
    };
    many_orders_withdraw(&store).await;
}
