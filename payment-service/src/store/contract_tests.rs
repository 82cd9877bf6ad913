//! One contract for the payment store and the notification log, run against
//! SQLite always and MariaDB when `MINIPAY_TEST_MYSQL_URL` is set (in the
//! dedicated database `minipay_payment_test`). Set but unreachable fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use common::testing::{TempDir, closed_port, silent_port};
use std::str::FromStr;
use std::time::Duration;

use common::{AmountFen, OutTradeNo};
use sqlx::Connection as _;
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use wechat::SignType;

use super::*;
use crate::domain::{NewNotification, NewPayment, NotifyOutcome, PaymentState};

const MYSQL_TEST_DATABASE: &str = "minipay_payment_test";
const PATIENCE: Duration = Duration::from_secs(10);

/// A random tag so that reruns against a shared MariaDB never meet earlier
/// data: the first 14 characters of every number and id in a run.
fn run_id() -> String {
    format!("T{:013X}", rand::random::<u64>() & 0x000F_FFFF_FFFF_FFFF)
}

fn no(run: &str, name: &str) -> OutTradeNo {
    OutTradeNo::parse(format!("{run}{name}")).unwrap()
}

fn new_payment(no: &OutTradeNo, fen: i64, sign_type: SignType) -> NewPayment {
    NewPayment {
        out_trade_no: no.clone(),
        merchant_id: "m-contract".into(),
        payer_openid: "oUpF8uMEb4qRXf22hE3X68TekukE".into(),
        amount: AmountFen::positive(fen).unwrap(),
        sign_type,
    }
}

async fn contract<S: PaymentStore + NotificationLog>(store: &S, run: &str) {
    // ------------------------------------------------------------ payments
    let a = no(run, "A");
    let b = no(run, "B");
    assert_eq!(store.get(&a).await.unwrap(), None);
    store
        .insert(&new_payment(&a, 100, SignType::Md5), 1_000)
        .await
        .unwrap();
    let read = store.get(&a).await.unwrap().unwrap();
    assert_eq!(read.out_trade_no, a);
    assert_eq!(read.merchant_id, "m-contract");
    assert_eq!(read.amount.fen(), 100);
    assert_eq!(read.sign_type, SignType::Md5);
    assert_eq!(read.state, PaymentState::Ordering);
    assert_eq!(read.prepay_id, None);
    assert_eq!((read.created_at_ms, read.updated_at_ms), (1_000, 1_000));
    assert_eq!((read.checked_at_ms, read.checks), (None, 0));

    // An out_trade_no is taken once.
    assert!(matches!(
        store
            .insert(&new_payment(&a, 999, SignType::HmacSha256), 1_001)
            .await,
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(store.get(&a).await.unwrap().unwrap().amount.fen(), 100);

    // An error is noted without changing the state; a prepay_id clears it.
    store
        .record_error(
            &a,
            &format!("SYSTEMERROR: 系统超时 {}", "x".repeat(2000)),
            1_010,
        )
        .await
        .unwrap();
    let read = store.get(&a).await.unwrap().unwrap();
    assert_eq!(read.state, PaymentState::Ordering);
    let error = read.last_error.unwrap();
    assert!(error.starts_with("SYSTEMERROR: 系统超时"));
    assert_eq!(error.chars().count(), 1000, "cut to the column");
    assert!(store.mark_ordered(&a, "wx_prepay_1", 1_020).await.unwrap());
    // Re-entry gives a new prepay_id.
    assert!(store.mark_ordered(&a, "wx_prepay_2", 1_021).await.unwrap());
    let read = store.get(&a).await.unwrap().unwrap();
    assert_eq!(read.state, PaymentState::Ordered);
    assert_eq!(read.prepay_id.as_deref(), Some("wx_prepay_2"));
    assert_eq!(read.last_error, None);
    assert_eq!(read.updated_at_ms, 1_021);

    // Paid once; the state machine refuses to go back.
    assert!(store.mark_paid(&a, "4200000001", 1_030).await.unwrap());
    assert!(!store.mark_paid(&a, "4200000001", 1_031).await.unwrap());
    assert!(!store.mark_closed(&a, 1_032).await.unwrap());
    assert!(!store.mark_ordered(&a, "wx_prepay_3", 1_033).await.unwrap());
    let read = store.get(&a).await.unwrap().unwrap();
    assert_eq!(read.state, PaymentState::Paid);
    assert_eq!(read.transaction_id.as_deref(), Some("4200000001"));
    assert_eq!(read.prepay_id.as_deref(), Some("wx_prepay_2"));

    // Closed, then paid after all: an anomaly, recorded once.
    store
        .insert(&new_payment(&b, 250, SignType::HmacSha256), 2_000)
        .await
        .unwrap();
    assert!(store.mark_closed(&b, 2_010).await.unwrap());
    assert!(!store.mark_closed(&b, 2_011).await.unwrap());
    assert!(!store.mark_paid(&b, "4200000002", 2_012).await.unwrap());
    assert_eq!(
        store.get(&b).await.unwrap().unwrap().state,
        PaymentState::Closed
    );
    assert!(
        store
            .mark_anomaly(&b, "4200000002", "paid after close", 2_020)
            .await
            .unwrap()
    );
    assert!(
        !store
            .mark_anomaly(&b, "4200000002", "paid after close", 2_021)
            .await
            .unwrap()
    );
    let read = store.get(&b).await.unwrap().unwrap();
    assert_eq!(read.state, PaymentState::Anomaly);
    assert_eq!(read.sign_type, SignType::HmacSha256);
    assert_eq!(read.transaction_id.as_deref(), Some("4200000002"));
    assert_eq!(read.last_error.as_deref(), Some("paid after close"));

    // ------------------------------------------------------- reconciliation
    // Created far in the past (epoch ms near zero), so that they are due at
    // once; rows of other runs are filtered out, and closed at the end.
    let base = 100i64;
    let (c, d, e, f) = (no(run, "C"), no(run, "D"), no(run, "E"), no(run, "F"));
    for (n, at) in [
        (&c, base + 10),
        (&d, base + 20),
        (&e, base + 30),
        (&f, base + 40),
    ] {
        store
            .insert(&new_payment(n, 1, SignType::Md5), at)
            .await
            .unwrap();
    }
    store
        .mark_ordered(&d, "wx_prepay_d", base + 21)
        .await
        .unwrap();
    store.mark_closed(&f, base + 41).await.unwrap();
    let mine = |due: Vec<crate::domain::Payment>| -> Vec<String> {
        due.into_iter()
            .map(|p| p.out_trade_no.into_string())
            .filter(|n| n.starts_with(run))
            .collect()
    };
    // Created at or before the cutoff, ORDERING/ORDERED only, oldest first.
    let due = mine(store.due_for_reconciliation(base + 30, 1000).await.unwrap());
    assert_eq!(due, [c.to_string(), d.to_string(), e.to_string()]);
    let due = mine(store.due_for_reconciliation(base + 29, 1000).await.unwrap());
    assert_eq!(due, [c.to_string(), d.to_string()]);
    // Checked ones go to the back, so every payment gets its turn.
    store.record_check(&c, 5_000).await.unwrap();
    store.record_check(&c, 5_001).await.unwrap();
    let read = store.get(&c).await.unwrap().unwrap();
    assert_eq!((read.checked_at_ms, read.checks), (Some(5_001), 2));
    assert_eq!(read.updated_at_ms, base + 10, "a look is not a change");
    let due = mine(store.due_for_reconciliation(base + 30, 1000).await.unwrap());
    assert_eq!(due, [d.to_string(), e.to_string(), c.to_string()]);
    // The limit applies.
    assert!(
        store
            .due_for_reconciliation(base + 30, 1)
            .await
            .unwrap()
            .len()
            <= 1
    );

    // ------------------------------------------------------- notifications
    let body = "<xml><out_trade_no>x</out_trade_no><emoji>🐼</emoji></xml>".to_owned();
    let n1 = NewNotification {
        id: format!("{run}N1"),
        received_at_ms: 3_000,
        out_trade_no: Some(a.to_string()),
        body_len: body.len() as i64,
        body: body.clone(),
    };
    store.record(&n1).await.unwrap();
    assert!(matches!(
        store.record(&n1).await,
        Err(StoreError::Conflict { .. })
    ));
    let logged = store.for_order(a.as_str()).await.unwrap();
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0].outcome, NotifyOutcome::Received);
    assert_eq!(logged[0].body, body, "kept byte for byte");
    store
        .resolve(&n1.id, None, NotifyOutcome::Applied, "paid by 4200000001")
        .await
        .unwrap();
    let n2 = NewNotification {
        id: format!("{run}N2"),
        received_at_ms: 3_001,
        ..n1.clone()
    };
    store.record(&n2).await.unwrap();
    store
        .resolve(&n2.id, Some(a.as_str()), NotifyOutcome::Duplicate, "")
        .await
        .unwrap();
    let logged = store.for_order(a.as_str()).await.unwrap();
    let outcomes: Vec<_> = logged.iter().map(|n| (n.id.clone(), n.outcome)).collect();
    assert_eq!(
        outcomes,
        [
            (n1.id.clone(), NotifyOutcome::Applied),
            (n2.id.clone(), NotifyOutcome::Duplicate)
        ]
    );
    assert_eq!(logged[0].reason, "paid by 4200000001");
    assert_eq!(logged[0].received_at_ms, 3_000);

    // Without an order number, attributed later when one is learnt.
    let garbage = NewNotification {
        id: format!("{run}N3"),
        received_at_ms: 3_002,
        out_trade_no: None,
        body_len: 70_000,
        body: "\u{fffd}not xml".into(),
    };
    store.record(&garbage).await.unwrap();
    store
        .resolve(&garbage.id, None, NotifyOutcome::Refused, &"r".repeat(5000))
        .await
        .unwrap();
    let unattributed = store.unattributed(100_000).await.unwrap();
    let logged = unattributed.iter().find(|n| n.id == garbage.id).unwrap();
    assert_eq!(logged.outcome, NotifyOutcome::Refused);
    assert_eq!(logged.body_len, 70_000);
    assert_eq!(logged.reason.len(), 1000);
    assert_eq!(logged.body, "\u{fffd}not xml");

    // Leave nothing due for later runs.
    for n in [&c, &d, &e] {
        assert!(store.mark_closed(n, 6_000).await.unwrap());
    }
    assert!(mine(store.due_for_reconciliation(base + 30, 1000).await.unwrap()).is_empty());

    store.ping().await.unwrap();
}

#[tokio::test]
async fn sqlite_store_meets_the_contract() {
    let run = run_id();
    let dir = TempDir(std::env::temp_dir().join(format!("minipay-payment-test-{run}")));
    let url = format!("sqlite://{}", dir.0.join("db").join("payment.db").display());
    let store = SqlitePaymentStore::connect(&url).await.unwrap();
    assert_eq!(PaymentStore::backend(&store), "sqlite");
    contract(&store, &run).await;
    drop(store);

    // Reconnecting finds the data and the migrations already applied.
    let store = SqlitePaymentStore::connect(&url).await.unwrap();
    let read = store.get(&no(&run, "A")).await.unwrap().unwrap();
    assert_eq!(read.state, PaymentState::Paid);
}

fn env_url(var: &str) -> Option<String> {
    let url = std::env::var(var).ok().filter(|url| !url.is_empty());
    if url.is_none() {
        eprintln!("skipped: {var} is not set");
    }
    url
}

/// Creates the dedicated test database on the server `url` names and
/// connects to it, so migrations never meet other services'.
async fn mysql_test_store(url: &str) -> MySqlPaymentStore {
    let server = MySqlConnectOptions::from_str(url).unwrap();
    let created = tokio::time::timeout(PATIENCE, async {
        let mut conn = MySqlConnection::connect_with(&server).await?;
        sqlx::query(
            "CREATE DATABASE IF NOT EXISTS minipay_payment_test \
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
    MySqlPaymentStore::connect_with(server.database(MYSQL_TEST_DATABASE))
        .await
        .unwrap()
}

#[tokio::test]
async fn mysql_store_meets_the_contract() {
    let Some(url) = env_url("MINIPAY_TEST_MYSQL_URL") else {
        return;
    };
    let store = mysql_test_store(&url).await;
    assert_eq!(PaymentStore::backend(&store), "mysql");
    let run = run_id();
    contract(&store, &run).await;

    let again = mysql_test_store(&url).await;
    let read = again.get(&no(&run, "A")).await.unwrap().unwrap();
    assert_eq!(read.state, PaymentState::Paid);
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
    let url = format!(
        "mysql://root:{PASSWORD}@127.0.0.1:{}/minipay",
        closed_port()
    );
    let result = tokio::time::timeout(PATIENCE, MySqlPaymentStore::connect(&url)).await;
    assert_unavailable(result, "mysql");
}

#[tokio::test]
async fn silent_mysql_is_unavailable_not_a_hang() {
    let url = format!(
        "mysql://root:{PASSWORD}@127.0.0.1:{}/minipay",
        silent_port().await
    );
    let result = tokio::time::timeout(PATIENCE, MySqlPaymentStore::connect(&url)).await;
    assert_unavailable(result, "mysql");
}

#[tokio::test]
async fn sqlite_under_a_file_is_unavailable() {
    let dir = TempDir(std::env::temp_dir().join(format!("minipay-payment-test-{}", run_id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    let file = dir.0.join("a-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let url = format!("sqlite://{}", file.join("payment.db").display());
    let result = tokio::time::timeout(PATIENCE, SqlitePaymentStore::connect(&url)).await;
    assert_unavailable(result, "sqlite");
}
