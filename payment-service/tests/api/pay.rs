//! CreatePayment: validation, the pay flow under both sign types, and how a
//! WeChat failure reaches the gateway.

use common::status::{Reason, out_trade_no, reason};
use payment_service::store::PaymentStore;
use payment_service::{NotifyOutcome, PaymentState};
use proto::payment::v1 as pb;
use serde_json::json;
use tonic::Code;
use wechat::pay_params::RequestPayment;
use wechat::{FieldMap, SignType};

use crate::helpers::{OPENID, Options, eventually, ledger_status, spawn_app};

async fn pay_flow(sign_type: SignType) {
    let app = spawn_app(Options {
        sign_type,
        ..Options::default()
    })
    .await;
    let paid = app.create(1234).await.unwrap();
    let no = paid.out_trade_no.clone();
    assert_eq!(no.len(), 32);

    // The five wx.requestPayment fields, signed with the order's sign type.
    assert_eq!(paid.sign_type, sign_type.as_str());
    let prepay_id = paid.package.strip_prefix("prepay_id=").unwrap();
    assert!(paid.time_stamp.len() == 10 && paid.time_stamp.parse::<i64>().is_ok());
    let expected = RequestPayment::build(
        &app.appid,
        prepay_id,
        sign_type,
        &app.key,
        paid.time_stamp.parse().unwrap(),
        paid.nonce_str.clone(),
    );
    assert_eq!(paid.pay_sign, expected.pay_sign);

    // Recorded CREATED in the ledger, ORDERED here, placed in WeChat.
    let order = app.order(&no).await;
    assert_eq!(order.status, "CREATED");
    assert_eq!(order.amount_fen, 1234);
    assert_eq!(order.merchant_id, app.merchant_id, "the default merchant");
    assert_eq!(order.payer_openid, OPENID);
    assert_eq!(order.description, "一杯咖啡 ☕");
    let payment = app.payment(&no).await;
    assert_eq!(payment.state, PaymentState::Ordered);
    assert_eq!(payment.prepay_id.as_deref(), Some(prepay_id));
    assert_eq!(payment.sign_type, sign_type);
    let wechat_order = app.sandbox_order(&no).await.unwrap();
    assert_eq!(wechat_order["trade_state"], "NOTPAY");
    assert_eq!(wechat_order["sign_type"], sign_type.as_str());
    assert_eq!(wechat_order["total_fee"], 1234);

    // The user pays; the notification reaches HandlePayNotify via notify_url.
    let reply = app.user_pays(json!({ "prepay_id": prepay_id })).await;
    let transaction_id = reply["transaction_id"].as_str().unwrap().to_owned();
    let order = ledger_status(&app, &no, "PAID").await;
    assert_eq!(order.transaction_id, transaction_id);
    assert!(order.paid_at_ms > 0);
    let payment = app.payment(&no).await;
    assert_eq!(payment.state, PaymentState::Paid);
    assert_eq!(
        payment.transaction_id.as_deref(),
        Some(transaction_id.as_str())
    );

    let logged = app.notifications(&no).await;
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0].outcome, NotifyOutcome::Applied);
    let raw = FieldMap::from_xml(logged[0].body.as_bytes()).unwrap();
    assert_eq!(raw.get("transaction_id"), Some(transaction_id.as_str()));
    let attempts = eventually("the sandbox to see the reply", || async {
        let attempts = app.sandbox_attempts(&no).await;
        (!attempts.is_empty()).then_some(attempts)
    })
    .await;
    assert_eq!(attempts[0]["outcome"], "acknowledged");
    assert_eq!(attempts[0]["http_status"], 200);
    assert_eq!(app.metrics.notifications(NotifyOutcome::Applied), 1);
}

#[tokio::test]
async fn pay_flow_md5() {
    pay_flow(SignType::Md5).await;
}

#[tokio::test]
async fn pay_flow_hmac_sha256() {
    pay_flow(SignType::HmacSha256).await;
}

#[tokio::test]
async fn validation_refusals_reach_neither_the_ledger_nor_wechat() {
    let app = spawn_app(Options::default()).await;
    type Change = fn(&mut pb::CreatePaymentRequest);
    let cases: Vec<(Change, &str)> = vec![
        (|r| r.amount_fen = 0, "amount_fen"),
        (|r| r.amount_fen = -1, "amount_fen"),
        (|r| r.amount_fen = 100_001, "amount_fen"),
        (|r| r.openid = String::new(), "openid"),
        (|r| r.openid = "o.with.dots".into(), "openid"),
        (|r| r.client_ip = "not-an-ip".into(), "client_ip"),
        (|r| r.client_ip = String::new(), "client_ip"),
        (|r| r.description = "字".repeat(128), "description"),
    ];
    for (change, field) in cases {
        let mut request = app.request(100);
        change(&mut request);
        let status = app
            .payment
            .clone()
            .create_payment(request)
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
        assert!(
            status.message().contains(field),
            "{field}: {}",
            status.message()
        );
        assert_eq!(out_trade_no(&status), None);
        assert_eq!(reason(&status), None);
    }
    // An unknown merchant is NotFound, straight from the ledger; so is an
    // id no merchant could have.
    for merchant_id in ["M00000000000000000000", "m-does-not-exist"] {
        let mut request = app.request(100);
        request.merchant_id = merchant_id.into();
        let status = app
            .payment
            .clone()
            .create_payment(request)
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::NotFound, "{status:?}");
        assert!(status.message().contains(merchant_id));
        assert_eq!(out_trade_no(&status), None);
    }

    // Nothing was recorded, so nothing reached WeChat: every unifiedorder
    // carries an out_trade_no the ledger recorded first.
    assert!(app.orders().await.is_empty());
    assert!(
        app.store
            .due_for_reconciliation(i64::MAX, 100)
            .await
            .unwrap()
            .is_empty()
    );

    // The inclusive limits pass.
    let mut request = app.request(100_000);
    request.description = "字".repeat(127);
    let ok = app.payment.clone().create_payment(request).await.unwrap();
    assert!(
        app.sandbox_order(&ok.into_inner().out_trade_no)
            .await
            .is_some()
    );
}

#[tokio::test]
async fn systemerror_is_a_wechat_failure_with_the_order_kept() {
    let app = spawn_app(Options::default()).await;
    app.faults(json!({ "unifiedorder_systemerror_rate": 1.0 }))
        .await;
    let status = app.create(500).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(reason(&status), Some(Reason::Wechat));
    assert!(
        status.message().contains("SYSTEMERROR"),
        "{}",
        status.message()
    );
    let no = out_trade_no(&status).unwrap();
    assert_eq!(app.order(&no).await.status, "CREATED");
    let payment = app.payment(&no).await;
    assert_eq!(payment.state, PaymentState::Ordering);
    assert!(payment.last_error.unwrap().contains("SYSTEMERROR"));
    assert!(
        app.sandbox_order(&no).await.is_none(),
        "WeChat never took it"
    );
}

#[tokio::test]
async fn a_definite_refusal_is_failed_precondition_with_wechats_code() {
    let mut app = spawn_app(Options::default()).await;
    // An appid WeChat does not know: a signed, definite refusal.
    app.appid = "wx0000000000notours".into();
    app.restart_payment(Options::default()).await;
    let status = app.create(500).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert_eq!(reason(&status), Some(Reason::Wechat));
    assert!(
        status.message().contains("APPID_NOT_EXIST"),
        "{}",
        status.message()
    );
    let no = out_trade_no(&status).unwrap();
    assert_eq!(app.order(&no).await.status, "CREATED");
}

#[tokio::test]
async fn wrong_key_replies_are_an_unknown_outcome() {
    let app = spawn_app(Options::default()).await;
    app.faults(json!({ "wrong_key_replies": true })).await;
    let status = app.create(700).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(reason(&status), Some(Reason::Wechat));
    assert!(
        status.message().contains("signature"),
        "{}",
        status.message()
    );
    let no = out_trade_no(&status).unwrap();
    assert_eq!(app.order(&no).await.status, "CREATED");
    // WeChat did take it (the reply could not be believed): re-entry with
    // the same number kept it one order.
    assert_eq!(
        app.sandbox_order(&no).await.unwrap()["trade_state"],
        "NOTPAY"
    );
}

#[tokio::test]
async fn a_timeout_is_retried_with_the_same_number_then_reported() {
    let app = spawn_app(Options {
        wechat_timeout: std::time::Duration::from_millis(300),
        call_deadline: std::time::Duration::from_millis(1500),
        ..Options::default()
    })
    .await;
    app.faults(json!({ "latency_ms": { "unifiedorder": 1000 } }))
        .await;
    let started = std::time::Instant::now();
    let status = app.create(800).await.unwrap_err();
    let took = started.elapsed();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(reason(&status), Some(Reason::Wechat));
    assert!(status.message().contains("timeout"), "{}", status.message());
    assert!(took < std::time::Duration::from_millis(2500), "{took:?}");
    assert!(
        took >= std::time::Duration::from_millis(900),
        "retried: {took:?}"
    );
    let no = out_trade_no(&status).unwrap();
    assert_eq!(app.order(&no).await.status, "CREATED");
    // One number, at most one WeChat order.
    assert_eq!(app.orders().await.len(), 1);
}

#[tokio::test]
async fn readiness_health_and_reflection() {
    let mut app = spawn_app(Options::default()).await;
    let ready = app
        .payment
        .clone()
        .readiness(pb::ReadinessRequest {})
        .await
        .unwrap()
        .into_inner()
        .dependencies;
    assert_eq!(ready.get("payments:sqlite").map(String::as_str), Some("ok"));
    assert_eq!(ready.get("ledger").map(String::as_str), Some("ok"));

    let mut health =
        tonic_health::pb::health_client::HealthClient::new(app.payment_channel.clone());
    let status = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "minipay.payment.v1.PaymentService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        status.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );

    app.ledger.stop().await;
    let ready = app
        .payment
        .clone()
        .readiness(pb::ReadinessRequest {})
        .await
        .unwrap()
        .into_inner()
        .dependencies;
    assert_eq!(ready.get("payments:sqlite").map(String::as_str), Some("ok"));
    assert_ne!(ready.get("ledger").map(String::as_str), Some("ok"));
    // With the ledger down, CreatePayment is Unavailable and asks nothing of WeChat.
    let status = app.create(100).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(reason(&status), None);
}
