//! HandlePayNotify: every body is judged, logged with its outcome, and
//! answered with WeChat's XML and the HTTP status the gateway passes on.

use payment_service::store::NotificationLog;
use payment_service::{MAX_NOTIFY_BYTES, NotifyOutcome, PaymentState};
use serde_json::json;
use wechat::sign::sign_fields;
use wechat::{ApiKey, SignType};

use crate::helpers::{Options, eventually, ledger_status, return_code, spawn_app};

#[tokio::test]
async fn duplicates_are_acknowledged_and_change_nothing() {
    let app = spawn_app(Options::default()).await;
    // Each delivery is sent three times at once.
    app.faults(json!({ "notify_duplicates": 2 })).await;
    let no = app.create(300).await.unwrap().out_trade_no;
    app.user_pays(json!({ "out_trade_no": no })).await;
    let paid = ledger_status(&app, &no, "PAID").await;

    let logged = eventually("three logged deliveries", || async {
        let logged = app.notifications(&no).await;
        (logged.len() == 3 && logged.iter().all(|n| n.outcome != NotifyOutcome::Received))
            .then_some(logged)
    })
    .await;
    let mut outcomes: Vec<_> = logged.iter().map(|n| n.outcome).collect();
    outcomes.sort_by_key(|o| o.as_str());
    assert_eq!(
        outcomes,
        [
            NotifyOutcome::Applied,
            NotifyOutcome::Duplicate,
            NotifyOutcome::Duplicate
        ]
    );

    // A late repeat of the same body: SUCCESS, DUPLICATE, nothing moves.
    let reply = app.notify(logged[0].body.clone()).await;
    assert_eq!(
        (reply.http_status, return_code(&reply).as_str()),
        (200, "SUCCESS")
    );
    assert_eq!(app.order(&no).await, paid);
    assert_eq!(app.payment(&no).await.state, PaymentState::Paid);
    let logged = app.notifications(&no).await;
    assert_eq!(logged.len(), 4);
    assert_eq!(logged[3].outcome, NotifyOutcome::Duplicate);
    assert_eq!(app.metrics.notifications(NotifyOutcome::Applied), 1);
}

#[tokio::test]
async fn forged_malformed_and_mismatched_notifications_are_refused() {
    let app = spawn_app(Options::default()).await;
    let no = app.create(100).await.unwrap().out_trade_no;
    let tid = "4200000000000000000000000777";

    let wrong_key = ApiKey::parse(wechat_sandbox::WRONG_KEY).unwrap();
    let forged = {
        let mut fields = app.notification(&no, 100, tid);
        sign_fields(&mut fields, &wrong_key, SignType::Md5);
        fields.to_xml().unwrap().into_bytes()
    };
    let tampered = String::from_utf8(app.signed(app.notification(&no, 1, tid)))
        .unwrap()
        .replace(
            "<total_fee><![CDATA[1]]></total_fee>",
            "<total_fee><![CDATA[100]]></total_fee>",
        )
        .into_bytes();
    assert!(String::from_utf8_lossy(&tampered).contains("[100]]></total_fee>"));
    let unsigned_field_added = {
        let mut text = String::from_utf8(app.signed(app.notification(&no, 100, tid))).unwrap();
        text = text.replace("</xml>", "<coupon_fee><![CDATA[1]]></coupon_fee></xml>");
        text.into_bytes()
    };
    let with = |name: &'static str, value: &'static str| {
        let mut fields = app.notification(&no, 100, tid);
        fields.set(name, value);
        app.signed(fields)
    };
    let hmac_declared = {
        let mut fields = app.notification(&no, 100, tid);
        fields.set("sign_type", "HMAC-SHA256");
        sign_fields(&mut fields, &app.key, SignType::HmacSha256);
        fields.to_xml().unwrap().into_bytes()
    };
    let unknown_order = app.signed(app.notification("20261204000000000NOTANORDER0000", 100, tid));
    let doctype = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE xml [<!ENTITY x \"{no}\">]><xml><out_trade_no>&x;</out_trade_no></xml>"
    )
    .into_bytes();
    let oversized = {
        let mut text = String::from_utf8(app.signed(app.notification(&no, 100, tid))).unwrap();
        text = text.replace(
            "</xml>",
            &format!("<pad>{}</pad></xml>", "x".repeat(MAX_NOTIFY_BYTES)),
        );
        text.into_bytes()
    };

    let cases: Vec<(&str, Vec<u8>, u32)> = vec![
        ("forged signature", forged, 400),
        ("amount changed after signing", tampered, 400),
        ("unsigned field added", unsigned_field_added, 400),
        (
            "amount mismatch",
            app.signed(app.notification(&no, 99, tid)),
            400,
        ),
        ("foreign appid", with("appid", "wx1111111111111111"), 400),
        ("foreign mch_id", with("mch_id", "1900000999"), 400),
        ("a weaker sign type than the order's", hmac_declared, 400),
        ("unknown order", unknown_order, 400),
        ("DOCTYPE", doctype, 400),
        ("garbage", b"\x00\xffnot xml at all".to_vec(), 400),
        ("empty", Vec::new(), 400),
        ("oversized", oversized, 413),
    ];
    for (what, body, http_status) in cases {
        let reply = app.notify(body).await;
        assert_eq!(reply.http_status, http_status, "{what}");
        assert_eq!(return_code(&reply), "FAIL", "{what}");
    }
    assert_eq!(app.order(&no).await.status, "CREATED");
    assert_eq!(app.payment(&no).await.state, PaymentState::Ordered);
    assert_eq!(app.metrics.notifications(NotifyOutcome::Refused), 12);

    // Every one was kept with its outcome: those naming the order under it.
    let logged = app.notifications(&no).await;
    assert_eq!(logged.len(), 7, "{logged:#?}");
    assert!(logged.iter().all(|n| n.outcome == NotifyOutcome::Refused));
    assert!(logged.iter().any(|n| n.reason.contains("total_fee 99")));
    assert!(logged.iter().any(|n| n.reason.contains("signature")));
    let others = app.store.unattributed(100).await.unwrap();
    assert_eq!(
        others.len(),
        4,
        "DOCTYPE, garbage, empty, oversized: {others:#?}"
    );
    assert!(others.iter().all(|n| n.outcome == NotifyOutcome::Refused));
    let oversized = others
        .iter()
        .find(|n| n.body_len > MAX_NOTIFY_BYTES as i64)
        .expect("the oversized body is logged");
    assert_eq!(oversized.body.len(), MAX_NOTIFY_BYTES, "cut to the limit");

    // A verified failed payment: acknowledged, the order stays CREATED.
    let mut failed = app.notification(&no, 100, tid);
    failed
        .set("result_code", "FAIL")
        .set("err_code", "NOTENOUGH")
        .set("err_code_des", "余额不足");
    failed.remove("transaction_id");
    failed.remove("time_end");
    let reply = app.notify(app.signed(failed)).await;
    assert_eq!(
        (reply.http_status, return_code(&reply).as_str()),
        (200, "SUCCESS")
    );
    assert_eq!(app.order(&no).await.status, "CREATED");
    let last = app.notifications(&no).await.pop().unwrap();
    assert_eq!(last.outcome, NotifyOutcome::FailedPayment);
    assert!(last.reason.contains("NOTENOUGH"));

    // Fields we have never heard of are signed too, and verified with the rest.
    let mut extra = app.notification(&no, 100, tid);
    extra
        .set("coupon_count", "1")
        .set("coupon_fee_0", "0")
        .set("coupon_id_0", "C001")
        .set("a_field_wechat_added_yesterday", "新");
    let reply = app.notify(app.signed(extra)).await;
    assert_eq!(
        (reply.http_status, return_code(&reply).as_str()),
        (200, "SUCCESS")
    );
    let order = ledger_status(&app, &no, "PAID").await;
    assert_eq!(order.transaction_id, tid);
    // 2026-12-04 12:00:00 Beijing time.
    assert_eq!(order.paid_at_ms, 1_796_356_800_000);
    assert_eq!(app.payment(&no).await.state, PaymentState::Paid);

    // Another transaction for a paid order: the ledger refuses, so do we.
    let reply = app
        .notify(app.signed(app.notification(&no, 100, "4200000000000000000000000888")))
        .await;
    assert_eq!(
        (reply.http_status, return_code(&reply).as_str()),
        (400, "FAIL")
    );
    assert_eq!(app.order(&no).await.transaction_id, tid);
}

#[tokio::test]
async fn hmac_notifications_verify_with_the_orders_sign_type() {
    let app = spawn_app(Options {
        sign_type: SignType::HmacSha256,
        ..Options::default()
    })
    .await;
    let no = app.create(100).await.unwrap().out_trade_no;
    let tid = "4200000000000000000000000999";
    // MD5 over the same fields is refused for an HMAC-SHA256 order.
    let mut md5 = app.notification(&no, 100, tid);
    md5.remove("sign_type");
    sign_fields(&mut md5, &app.key, SignType::Md5);
    let reply = app.notify(md5.to_xml().unwrap()).await;
    assert_eq!(reply.http_status, 400);
    let reply = app
        .notify(app.signed(app.notification(&no, 100, tid)))
        .await;
    assert_eq!(reply.http_status, 200);
    ledger_status(&app, &no, "PAID").await;
}

#[tokio::test]
async fn a_ledger_outage_defers_with_503_and_the_retry_applies() {
    let mut app = spawn_app(Options::default()).await;
    let no = app.create(100).await.unwrap().out_trade_no;
    let body = app.signed(app.notification(&no, 100, "4200000000000000000000000555"));
    app.ledger.stop().await;
    let reply = app.notify(body.clone()).await;
    assert_eq!(
        (reply.http_status, return_code(&reply).as_str()),
        (503, "FAIL")
    );
    app.ledger.restart().await;
    assert_eq!(app.order(&no).await.status, "CREATED");
    let reply = app.notify(body).await;
    assert_eq!(
        (reply.http_status, return_code(&reply).as_str()),
        (200, "SUCCESS")
    );
    assert_eq!(app.order(&no).await.status, "PAID");
    let outcomes: Vec<_> = app
        .notifications(&no)
        .await
        .into_iter()
        .map(|n| n.outcome)
        .collect();
    assert_eq!(outcomes, [NotifyOutcome::Deferred, NotifyOutcome::Applied]);
}

#[tokio::test]
async fn a_payment_for_a_closed_order_is_an_anomaly_surfaced_once() {
    let app = spawn_app(Options::default()).await;
    let no = app.create(4321).await.unwrap().out_trade_no;
    // The ledger closes the order; the user pays in the same instant.
    app.ledger_client
        .clone()
        .close_order(proto::ledger::v1::CloseOrderRequest {
            out_trade_no: no.clone(),
        })
        .await
        .unwrap();
    let paid = app.user_pays(json!({ "out_trade_no": no })).await;
    let transaction_id = paid["transaction_id"].as_str().unwrap().to_owned();

    let payment = eventually("the anomaly", || async {
        let payment = app.payment(&no).await;
        (payment.state == PaymentState::Anomaly).then_some(payment)
    })
    .await;
    assert_eq!(
        payment.transaction_id.as_deref(),
        Some(transaction_id.as_str())
    );
    assert!(payment.last_error.unwrap().contains(&transaction_id));
    assert_eq!(app.metrics.anomalies(), 1);
    assert_eq!(
        app.order(&no).await.status,
        "CLOSED",
        "the ledger is not overruled"
    );
    // WeChat was told SUCCESS: it must stop; the money is with a person now.
    let attempts = eventually("the acknowledgement", || async {
        let attempts = app.sandbox_attempts(&no).await;
        (!attempts.is_empty()).then_some(attempts)
    })
    .await;
    assert_eq!(attempts[0]["outcome"], "acknowledged");
    let logged = eventually("the logged outcome", || async {
        let logged = app.notifications(&no).await;
        logged
            .first()
            .filter(|n| n.outcome != NotifyOutcome::Received)
            .cloned()
    })
    .await;
    assert_eq!(logged.outcome, NotifyOutcome::Anomaly);

    // The same notification again: acknowledged, counted once.
    let reply = app.notify(logged.body.clone()).await;
    assert_eq!(
        (reply.http_status, return_code(&reply).as_str()),
        (200, "SUCCESS")
    );
    assert_eq!(app.metrics.anomalies(), 1);
    assert_eq!(app.payment(&no).await.state, PaymentState::Anomaly);
}
