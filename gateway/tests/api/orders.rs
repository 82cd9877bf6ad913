use chrono::DateTime;
use serde_json::json;

use crate::helpers::{
    GOOD_OPENID, GOOD_TOKEN, OTHER_OPENID, OTHER_TOKEN, Options, assert_error, ok_data, spawn_app,
    spawn_app_with,
};
use crate::services::{CREATED_ORDER, LEAKY_ORDER, LedgerCall, OTHER_PAYERS_ORDER, PAID_ORDER};

fn assert_rfc3339_utc_z(value: &serde_json::Value) {
    let text = value.as_str().unwrap();
    assert!(text.ends_with('Z'), "{text}");
    let parsed = DateTime::parse_from_rfc3339(text).unwrap();
    assert_eq!(parsed.offset().local_minus_utc(), 0, "{text}");
}

#[tokio::test]
async fn the_payer_sees_a_created_order_with_paid_at_null() {
    let app = spawn_app().await;
    let data = ok_data(
        app.get_with_token(&format!("/orders/{CREATED_ORDER}"), GOOD_TOKEN)
            .await,
    )
    .await;
    assert_eq!(
        data,
        json!({
            "out_trade_no": CREATED_ORDER,
            "merchant_id": "m-demo",
            "amount_fen": 1,
            "status": "CREATED",
            "created_at": "2025-12-04T10:00:00.123Z",
            "paid_at": null,
        })
    );
    assert!(data["amount_fen"].is_i64());
    assert_rfc3339_utc_z(&data["created_at"]);
    let seen = app.ledger.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].call,
        LedgerCall::GetOrder(proto::ledger::v1::GetOrderRequest {
            out_trade_no: CREATED_ORDER.into(),
            payer_openid: GOOD_OPENID.into(),
        })
    );
    assert!(seen[0].request_id.is_some());
    assert!(seen[0].grpc_timeout.is_some());
}

#[tokio::test]
async fn a_paid_order_has_both_times_with_and_without_the_slash() {
    let app = spawn_app().await;
    for path in [
        format!("/orders/{PAID_ORDER}"),
        format!("/orders/{PAID_ORDER}/"),
    ] {
        let data = ok_data(app.get_with_token(&path, GOOD_TOKEN).await).await;
        assert_eq!(data["status"], "PAID");
        assert_eq!(data["created_at"], "2025-12-04T10:00:00.123Z");
        assert_eq!(data["paid_at"], "2025-12-04T10:01:30.000Z");
        assert_rfc3339_utc_z(&data["created_at"]);
        assert_rfc3339_utc_z(&data["paid_at"]);
    }
}

#[tokio::test]
async fn the_token_may_come_in_the_body() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url(&format!("/orders/{CREATED_ORDER}")))
        .json(&json!({"token": GOOD_TOKEN}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok_data(response).await["out_trade_no"], CREATED_ORDER);
}

#[tokio::test]
async fn another_payers_order_is_code_5() {
    let app = spawn_app().await;
    assert_error(
        app.get_with_token(&format!("/orders/{OTHER_PAYERS_ORDER}"), GOOD_TOKEN)
            .await,
        404,
        5,
        &[],
    )
    .await;
    // Its payer sees it.
    let data = ok_data(
        app.get_with_token(&format!("/orders/{OTHER_PAYERS_ORDER}"), OTHER_TOKEN)
            .await,
    )
    .await;
    assert_eq!(data["out_trade_no"], OTHER_PAYERS_ORDER);
    let payers: Vec<String> = app
        .ledger
        .seen()
        .into_iter()
        .map(|s| match s.call {
            LedgerCall::GetOrder(r) => r.payer_openid,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(payers, [GOOD_OPENID, OTHER_OPENID]);
}

#[tokio::test]
async fn an_order_the_ledger_should_not_have_shown_is_code_5() {
    let app = spawn_app().await;
    assert_error(
        app.get_with_token(&format!("/orders/{LEAKY_ORDER}"), GOOD_TOKEN)
            .await,
        404,
        5,
        &[],
    )
    .await;
}

#[tokio::test]
async fn an_unknown_order_is_code_5() {
    let app = spawn_app().await;
    assert_error(
        app.get_with_token("/orders/ORDER-NOPE-0001", GOOD_TOKEN)
            .await,
        404,
        5,
        &[],
    )
    .await;
    assert_eq!(app.ledger.seen().len(), 1);
}

#[tokio::test]
async fn a_malformed_out_trade_no_is_code_5_and_asks_nobody() {
    let app = spawn_app().await;
    for no in [
        "abc",
        "x".repeat(33).as_str(),
        "has%20space",
        "%E8%AE%A2%E5%8D%95123456",
        "semi;colon1",
    ] {
        assert_error(
            app.get_with_token(&format!("/orders/{no}"), GOOD_TOKEN)
                .await,
            404,
            5,
            &[],
        )
        .await;
    }
    assert!(app.ledger.seen().is_empty());
    assert_eq!(app.fake.resolves(), 0);
}

#[tokio::test]
async fn orders_need_a_known_token() {
    let app = spawn_app().await;
    assert_error(
        app.get(&format!("/orders/{CREATED_ORDER}")).await,
        401,
        2,
        &["token"],
    )
    .await;
    assert_error(
        app.get_with_token(&format!("/orders/{CREATED_ORDER}"), "tok-expired")
            .await,
        401,
        2,
        &[],
    )
    .await;
    assert!(app.ledger.seen().is_empty());
}

#[tokio::test]
async fn ledger_trouble_is_503_naming_it() {
    let app = spawn_app().await;
    assert_error(
        app.get_with_token("/orders/ORDER-LEDGER-DOWN", GOOD_TOKEN)
            .await,
        503,
        503,
        &["ledger-service"],
    )
    .await;
    let app = spawn_app_with(Options {
        ledger_up: false,
        ..Options::default()
    })
    .await;
    assert_error(
        app.get_with_token(&format!("/orders/{CREATED_ORDER}"), GOOD_TOKEN)
            .await,
        503,
        503,
        &["ledger-service unavailable"],
    )
    .await;
}
