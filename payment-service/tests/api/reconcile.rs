//! Reconciliation: what notifications did not settle, orderquery and
//! closeorder do — paid when WeChat says paid, closed only when WeChat says
//! closed (or never had the order), and resumed after a restart.

use std::time::Duration;

use common::status::out_trade_no;
use payment_service::{NotifyOutcome, PaymentState};
use serde_json::json;

use crate::helpers::{Options, eventually, ledger_status, spawn_app};

#[tokio::test]
async fn systemerror_then_closed_in_the_ledger_because_wechat_never_took_it() {
    let app = spawn_app(Options::reconciling()).await;
    app.faults(json!({ "unifiedorder_systemerror_rate": 1.0 }))
        .await;
    let status = app.create(500).await.unwrap_err();
    let no = out_trade_no(&status).unwrap();
    // Too young to close: CREATED while a CreatePayment could still place it.
    assert_eq!(app.order(&no).await.status, "CREATED");
    ledger_status(&app, &no, "CLOSED").await;
    let payment = app.payment(&no).await;
    assert_eq!(payment.state, PaymentState::Closed);
    assert!(payment.checks >= 1);
    assert!(app.sandbox_order(&no).await.is_none());
}

#[tokio::test]
async fn a_timed_out_order_is_settled_closed() {
    let app = spawn_app(Options::reconciling()).await;
    app.faults(json!({ "latency_ms": { "unifiedorder": 600 } }))
        .await;
    let status = app.create(800).await.unwrap_err();
    assert!(status.message().contains("timeout"), "{}", status.message());
    let no = out_trade_no(&status).unwrap();
    app.faults(json!({})).await;
    app.advance_sandbox_clock(301).await;
    ledger_status(&app, &no, "CLOSED").await;
    assert_eq!(app.payment(&no).await.state, PaymentState::Closed);
    // Whether or not WeChat took it before the caller gave up, it is not
    // payable now.
    if let Some(order) = app.sandbox_order(&no).await {
        assert_eq!(order["trade_state"], "CLOSED");
    }
}

#[tokio::test]
async fn an_unpaid_order_is_closed_only_when_wechat_allows() {
    let app = spawn_app(Options::reconciling()).await;
    let no = app.create(820).await.unwrap().out_trade_no;
    // WeChat refuses closeorder for 5 minutes: the order stays CREATED.
    let payment = eventually("a refused closeorder", || async {
        let payment = app.payment(&no).await;
        payment
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("INVALID_REQUEST"))
            .then_some(payment)
    })
    .await;
    assert_eq!(payment.state, PaymentState::Ordered);
    assert_eq!(app.order(&no).await.status, "CREATED");
    // Five minutes later (WeChat's clock), closeorder passes.
    app.advance_sandbox_clock(301).await;
    ledger_status(&app, &no, "CLOSED").await;
    assert_eq!(
        app.sandbox_order(&no).await.unwrap()["trade_state"],
        "CLOSED"
    );
    assert_eq!(app.payment(&no).await.state, PaymentState::Closed);
    // The user is too late.
    let (status, _) = app
        .sandbox_post("/sandbox/pay", json!({ "out_trade_no": no }))
        .await;
    assert_eq!(status, 409);
}

#[tokio::test]
async fn wrong_key_replies_then_the_user_paid_and_reconciliation_finds_it() {
    let app = spawn_app(Options::reconciling()).await;
    app.faults(json!({ "wrong_key_replies": true })).await;
    let status = app.create(700).await.unwrap_err();
    let no = out_trade_no(&status).unwrap();
    // The user pays; every delivery of the notification is lost.
    app.faults(json!({ "notify_drop_first": 100 })).await;
    let paid = app.user_pays(json!({ "out_trade_no": no })).await;
    let order = ledger_status(&app, &no, "PAID").await;
    assert_eq!(
        order.transaction_id,
        paid["transaction_id"].as_str().unwrap()
    );
    assert_eq!(app.payment(&no).await.state, PaymentState::Paid);
    assert!(
        app.notifications(&no).await.is_empty(),
        "no notification came"
    );
    let attempts = app.sandbox_attempts(&no).await;
    assert!(attempts.iter().all(|a| a["outcome"] == "dropped"));
}

#[tokio::test]
async fn wrong_key_replies_then_unpaid_is_closed_once_replies_can_be_believed() {
    let app = spawn_app(Options::reconciling()).await;
    app.faults(json!({ "wrong_key_replies": true })).await;
    let status = app.create(700).await.unwrap_err();
    let no = out_trade_no(&status).unwrap();
    app.advance_sandbox_clock(301).await;
    // While no reply can be believed, nothing is decided.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(app.order(&no).await.status, "CREATED");
    assert!(
        app.payment(&no)
            .await
            .last_error
            .unwrap()
            .contains("signature")
    );
    app.faults(json!({})).await;
    ledger_status(&app, &no, "CLOSED").await;
    assert_eq!(
        app.sandbox_order(&no).await.unwrap()["trade_state"],
        "CLOSED"
    );
}

#[tokio::test]
async fn a_dropped_notification_is_recovered() {
    let app = spawn_app(Options::reconciling()).await;
    app.faults(json!({ "notify_drop_first": 100 })).await;
    let no = app.create(900).await.unwrap().out_trade_no;
    let paid = app.user_pays(json!({ "out_trade_no": no })).await;
    let order = ledger_status(&app, &no, "PAID").await;
    assert_eq!(
        order.transaction_id,
        paid["transaction_id"].as_str().unwrap()
    );
    assert_eq!(app.payment(&no).await.state, PaymentState::Paid);
}

#[tokio::test]
async fn a_payment_made_while_the_notify_url_is_down_is_recovered() {
    let app = spawn_app(Options {
        notify_reachable: false,
        ..Options::reconciling()
    })
    .await;
    let no = app.create(950).await.unwrap().out_trade_no;
    app.user_pays(json!({ "out_trade_no": no })).await;
    ledger_status(&app, &no, "PAID").await;
    let attempts = app.sandbox_attempts(&no).await;
    assert!(!attempts.is_empty());
    assert!(attempts.iter().all(|a| a["outcome"] == "error"));
}

#[tokio::test]
async fn a_failed_payment_is_closed() {
    let app = spawn_app(Options::reconciling()).await;
    let no = app.create(960).await.unwrap().out_trade_no;
    app.user_pays(json!({ "out_trade_no": no, "result": "FAIL" }))
        .await;
    // The notification says FAIL (acknowledged); orderquery says PAYERROR.
    ledger_status(&app, &no, "CLOSED").await;
    let logged = app.notifications(&no).await;
    assert_eq!(logged[0].outcome, NotifyOutcome::FailedPayment);
}

#[tokio::test]
async fn paid_after_closed_found_by_reconciliation_is_an_anomaly() {
    let app = spawn_app(Options::reconciling()).await;
    app.faults(json!({ "notify_drop_first": 100 })).await;
    let no = app.create(1111).await.unwrap().out_trade_no;
    app.ledger_client
        .clone()
        .close_order(proto::ledger::v1::CloseOrderRequest {
            out_trade_no: no.clone(),
        })
        .await
        .unwrap();
    let paid = app.user_pays(json!({ "out_trade_no": no })).await;
    let payment = eventually("the anomaly", || async {
        let payment = app.payment(&no).await;
        (payment.state == PaymentState::Anomaly).then_some(payment)
    })
    .await;
    assert_eq!(
        payment.transaction_id.as_deref(),
        paid["transaction_id"].as_str()
    );
    assert_eq!(app.metrics.anomalies(), 1);
    // Surfaced, and left alone after (the round that found it may still
    // be recording its look): no more checks.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let checks = app.payment(&no).await.checks;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.payment(&no).await.checks, checks);
    assert_eq!(app.metrics.anomalies(), 1);
}

#[tokio::test]
async fn reconciliation_resumes_after_a_restart() {
    // Reconciliation off: the order is left unsettled when the service stops.
    let mut app = spawn_app(Options::default()).await;
    app.faults(json!({ "unifiedorder_systemerror_rate": 1.0 }))
        .await;
    let no = out_trade_no(&app.create(500).await.unwrap_err()).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.payment(&no).await.checks, 0);

    app.restart_payment(Options::reconciling()).await;
    ledger_status(&app, &no, "CLOSED").await;
    assert_eq!(app.payment(&no).await.state, PaymentState::Closed);
}
