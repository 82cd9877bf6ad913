//! The merchant routes: authenticated by a merchant API key, the merchant
//! always the key's.

use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, ok_data, spawn_app};
use crate::services::{
    CREATED_ORDER, EMPTY_MERCHANT_KEY, FAILED_WITHDRAWAL_ID, FAILURE_REASON, LedgerCall, MERCHANT,
    MERCHANT_KEY, MerchantKeyCall, NEXT_CURSOR, NO_PAYOUT_MERCHANT_KEY, OTHER_MERCHANT,
    OTHER_MERCHANT_KEY, PAID_ORDER, REPLAYED_KEY, WITHDRAWAL_ID, WithdrawalCall,
};
use proto::ledger::v1::{
    GetBalanceRequest, GetWithdrawalRequest, ListOrdersRequest, ListWithdrawalOrdersRequest,
    ListWithdrawalsRequest, WithdrawRequest,
};

const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn paying_out(merchant_id: &str) -> Value {
    json!({
        "withdrawal_id": WITHDRAWAL_ID,
        "merchant_id": merchant_id,
        "amount_fen": 1,
        "order_count": 1,
        "status": "PAYING_OUT",
        "created_at": "2025-12-04T10:00:00.123Z",
        "updated_at": "2025-12-04T10:05:00.000Z",
        "failure_reason": null,
    })
}

fn failed() -> Value {
    json!({
        "withdrawal_id": FAILED_WITHDRAWAL_ID,
        "merchant_id": MERCHANT,
        "amount_fen": 0,
        "order_count": 0,
        "status": "FAILED",
        "created_at": "2025-12-04T10:00:00.123Z",
        "updated_at": "2025-12-04T10:05:00.000Z",
        "failure_reason": FAILURE_REASON,
    })
}

fn held_order() -> Value {
    json!({
        "out_trade_no": PAID_ORDER,
        "merchant_id": MERCHANT,
        "amount_fen": 1,
        "status": "PAID",
        "created_at": "2025-12-04T10:00:00.123Z",
        "paid_at": "2025-12-04T10:01:30.000Z",
        "transaction_id": "4200000001202612040000000001",
        "withdrawal_id": WITHDRAWAL_ID,
        "description": "a coffee",
    })
}

async fn post_withdraw(
    app: &TestApp,
    path: &str,
    key: Option<&str>,
    idempotency_key: Option<&str>,
    body: &'static str,
) -> reqwest::Response {
    let mut request = app.client.post(app.url(path)).body(body);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    if let Some(idempotency_key) = idempotency_key {
        request = request.header("Idempotency-Key", idempotency_key);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn the_balance_is_the_keys_merchants() {
    let app = spawn_app().await;
    for path in ["/merchant/balance", "/merchant/balance/"] {
        let data = ok_data(app.get_with_token(path, MERCHANT_KEY).await).await;
        assert_eq!(
            data,
            json!({
                "merchant_id": MERCHANT,
                "withdrawable_fen": 300,
                "withdrawable_orders": 2,
                "withdrawn_fen": 1000,
                "paying_out_fen": 1,
            })
        );
    }
    let seen = app.withdrawals.seen();
    assert_eq!(
        seen[0].call,
        WithdrawalCall::GetBalance(GetBalanceRequest {
            merchant_id: MERCHANT.into()
        })
    );
    assert!(seen[0].request_id.is_some());
    assert!(seen[0].grpc_timeout.is_some());
    assert_eq!(
        app.merchant_keys.seen()[0].call,
        MerchantKeyCall::Resolve(proto::auth::v1::ResolveMerchantKeyRequest {
            api_key: MERCHANT_KEY.into()
        })
    );
}

#[tokio::test]
async fn a_missing_or_unknown_key_is_code_8_everywhere() {
    let app = spawn_app().await;
    let gets = [
        "/merchant/balance",
        "/merchant/withdrawals",
        &format!("/merchant/withdrawals/{WITHDRAWAL_ID}"),
        &format!("/merchant/withdrawals/{WITHDRAWAL_ID}/orders"),
        "/merchant/orders",
    ];
    for path in gets {
        assert_error(app.get(path).await, 401, 8, &[]).await;
        assert_error(app.get_with_token(path, "mk-unknown").await, 401, 8, &[]).await;
        let response = app
            .client
            .get(app.url(path))
            .header("Authorization", "Basic abc")
            .send()
            .await
            .unwrap();
        assert_error(response, 401, 8, &[]).await;
    }
    assert_error(
        post_withdraw(&app, "/merchant/withdraw", None, None, "").await,
        401,
        8,
        &["missing"],
    )
    .await;
    assert_error(
        post_withdraw(&app, "/merchant/withdraw", Some("mk-revoked"), None, "").await,
        401,
        8,
        &["revoked"],
    )
    .await;
    // Nothing reached the ledger.
    assert!(app.withdrawals.seen().is_empty());
    assert!(app.ledger.seen().is_empty());
}

#[tokio::test]
async fn the_key_service_down_is_503() {
    let app = spawn_app().await;
    let (status, body) =
        crate::helpers::envelope(app.get_with_token("/merchant/balance", "mk-down").await).await;
    assert_eq!(status.as_u16(), 503, "{body}");
}

#[tokio::test]
async fn withdraw_returns_the_withdrawal_object() {
    let app = spawn_app().await;
    for path in ["/merchant/withdraw", "/merchant/withdraw/"] {
        let response = post_withdraw(&app, path, Some(MERCHANT_KEY), None, "").await;
        assert!(response.headers().get("idempotent-replayed").is_none());
        assert_eq!(ok_data(response).await, paying_out(MERCHANT));
    }
    assert_eq!(
        app.withdrawals.calls()[0],
        WithdrawalCall::Withdraw(WithdrawRequest {
            merchant_id: MERCHANT.into(),
            idempotency_key: None,
            request_fingerprint: EMPTY_SHA256.into(),
        })
    );
}

#[tokio::test]
async fn the_merchant_comes_from_the_key_never_the_request() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/merchant/withdraw?merchant_id=m-demo"))
        .bearer_auth(OTHER_MERCHANT_KEY)
        .json(&json!({"merchant_id": MERCHANT}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok_data(response).await["merchant_id"], OTHER_MERCHANT);
    let data = ok_data(
        app.get_with_token("/merchant/orders?merchant_id=m-demo", OTHER_MERCHANT_KEY)
            .await,
    )
    .await;
    assert_eq!(data["items"][0]["merchant_id"], OTHER_MERCHANT);
    let calls = app.withdrawals.calls();
    assert!(matches!(&calls[0], WithdrawalCall::Withdraw(r) if r.merchant_id == OTHER_MERCHANT));
    assert!(matches!(
        &app.ledger.seen()[0].call,
        LedgerCall::ListOrders(r) if r.merchant_id == OTHER_MERCHANT
    ));
}

#[tokio::test]
async fn the_idempotency_key_and_body_fingerprint_are_passed_through() {
    let app = spawn_app().await;
    let response = post_withdraw(
        &app,
        "/merchant/withdraw",
        Some(MERCHANT_KEY),
        Some("key-1"),
        "{}",
    )
    .await;
    ok_data(response).await;
    let response = post_withdraw(
        &app,
        "/merchant/withdraw",
        Some(MERCHANT_KEY),
        Some(REPLAYED_KEY),
        "",
    )
    .await;
    assert_eq!(
        response
            .headers()
            .get("idempotent-replayed")
            .map(|v| v.to_str().unwrap()),
        Some("true")
    );
    assert_eq!(ok_data(response).await, paying_out(MERCHANT));
    let calls = app.withdrawals.calls();
    assert_eq!(
        calls,
        vec![
            WithdrawalCall::Withdraw(WithdrawRequest {
                merchant_id: MERCHANT.into(),
                idempotency_key: Some("key-1".into()),
                // sha256("{}")
                request_fingerprint:
                    "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a".into(),
            }),
            WithdrawalCall::Withdraw(WithdrawRequest {
                merchant_id: MERCHANT.into(),
                idempotency_key: Some(REPLAYED_KEY.into()),
                request_fingerprint: EMPTY_SHA256.into(),
            }),
        ]
    );
}

#[tokio::test]
async fn a_bad_idempotency_key_is_code_1() {
    let app = spawn_app().await;
    let long = "k".repeat(129);
    for bad in [long.as_str(), "has space", ""] {
        let response = post_withdraw(
            &app,
            "/merchant/withdraw",
            Some(MERCHANT_KEY),
            Some(bad),
            "",
        )
        .await;
        assert_error(response, 400, 1, &["Idempotency-Key"]).await;
    }
    let longest = "k".repeat(128);
    let response = post_withdraw(
        &app,
        "/merchant/withdraw",
        Some(MERCHANT_KEY),
        Some(&longest),
        "",
    )
    .await;
    ok_data(response).await;
    assert_eq!(app.withdrawals.calls().len(), 1);
}

#[tokio::test]
async fn nothing_to_withdraw_is_code_7_and_no_payout_account_code_6() {
    let app = spawn_app().await;
    let response = post_withdraw(
        &app,
        "/merchant/withdraw",
        Some(EMPTY_MERCHANT_KEY),
        Some("k"),
        "",
    )
    .await;
    assert_error(response, 409, 7, &["nothing to withdraw"]).await;
    let response = post_withdraw(
        &app,
        "/merchant/withdraw",
        Some(NO_PAYOUT_MERCHANT_KEY),
        None,
        "",
    )
    .await;
    assert_error(response, 409, 6, &["payout account"]).await;
}

#[tokio::test]
async fn withdrawals_are_listed_with_a_cursor() {
    let app = spawn_app().await;
    for path in ["/merchant/withdrawals", "/merchant/withdrawals/"] {
        let data = ok_data(app.get_with_token(path, MERCHANT_KEY).await).await;
        assert_eq!(
            data,
            json!({"items": [failed(), paying_out(MERCHANT)], "next_cursor": NEXT_CURSOR})
        );
    }
    let data = ok_data(
        app.get_with_token(
            &format!("/merchant/withdrawals?limit=500&cursor={NEXT_CURSOR}"),
            MERCHANT_KEY,
        )
        .await,
    )
    .await;
    assert_eq!(data["next_cursor"], Value::Null);
    let calls = app.withdrawals.calls();
    assert_eq!(
        calls[0],
        WithdrawalCall::ListWithdrawals(ListWithdrawalsRequest {
            merchant_id: MERCHANT.into(),
            limit: 50,
            cursor: String::new(),
        })
    );
    assert_eq!(
        calls[2],
        WithdrawalCall::ListWithdrawals(ListWithdrawalsRequest {
            merchant_id: MERCHANT.into(),
            limit: 500,
            cursor: NEXT_CURSOR.into(),
        })
    );
}

#[tokio::test]
async fn one_withdrawal_in_detail() {
    let app = spawn_app().await;
    for path in [
        format!("/merchant/withdrawals/{WITHDRAWAL_ID}"),
        format!("/merchant/withdrawals/{WITHDRAWAL_ID}/"),
    ] {
        let data = ok_data(app.get_with_token(&path, MERCHANT_KEY).await).await;
        assert_eq!(data, paying_out(MERCHANT));
    }
    let data = ok_data(
        app.get_with_token(
            &format!("/merchant/withdrawals/{FAILED_WITHDRAWAL_ID}"),
            MERCHANT_KEY,
        )
        .await,
    )
    .await;
    assert_eq!(data, failed());
    assert_eq!(
        app.withdrawals.calls()[0],
        WithdrawalCall::GetWithdrawal(GetWithdrawalRequest {
            merchant_id: MERCHANT.into(),
            withdrawal_id: WITHDRAWAL_ID.into(),
        })
    );
}

#[tokio::test]
async fn another_merchants_withdrawal_is_code_5() {
    let app = spawn_app().await;
    for path in [
        format!("/merchant/withdrawals/{WITHDRAWAL_ID}"),
        format!("/merchant/withdrawals/{WITHDRAWAL_ID}/orders"),
    ] {
        let response = app.get_with_token(&path, OTHER_MERCHANT_KEY).await;
        assert_error(response, 404, 5, &[]).await;
    }
    // The ledger was asked on the other merchant's behalf.
    for call in app.withdrawals.calls() {
        match call {
            WithdrawalCall::GetWithdrawal(r) => assert_eq!(r.merchant_id, OTHER_MERCHANT),
            WithdrawalCall::ListWithdrawalOrders(r) => assert_eq!(r.merchant_id, OTHER_MERCHANT),
            other => panic!("unexpected {other:?}"),
        }
    }
    // An id that cannot be one asks nobody.
    let response = app
        .get_with_token("/merchant/withdrawals/W%20-x", MERCHANT_KEY)
        .await;
    assert_error(response, 404, 5, &[]).await;
    assert_eq!(app.withdrawals.calls().len(), 2);
}

#[tokio::test]
async fn a_withdrawals_orders() {
    let app = spawn_app().await;
    for path in [
        format!("/merchant/withdrawals/{WITHDRAWAL_ID}/orders"),
        format!("/merchant/withdrawals/{WITHDRAWAL_ID}/orders/"),
    ] {
        let data = ok_data(app.get_with_token(&path, MERCHANT_KEY).await).await;
        assert_eq!(data, json!({"items": [held_order()], "next_cursor": null}));
    }
    let data = ok_data(
        app.get_with_token(
            &format!("/merchant/withdrawals/{FAILED_WITHDRAWAL_ID}/orders?limit=7&cursor=c"),
            MERCHANT_KEY,
        )
        .await,
    )
    .await;
    assert_eq!(data, json!({"items": [], "next_cursor": null}));
    assert_eq!(
        app.withdrawals.calls()[2],
        WithdrawalCall::ListWithdrawalOrders(ListWithdrawalOrdersRequest {
            merchant_id: MERCHANT.into(),
            withdrawal_id: FAILED_WITHDRAWAL_ID.into(),
            limit: 7,
            cursor: "c".into(),
        })
    );
}

#[tokio::test]
async fn the_merchants_orders_with_filters() {
    let app = spawn_app().await;
    for path in ["/merchant/orders", "/merchant/orders/"] {
        let data = ok_data(app.get_with_token(path, MERCHANT_KEY).await).await;
        assert_eq!(data["next_cursor"], NEXT_CURSOR);
        assert_eq!(data["items"][0], held_order());
        let created = &data["items"][1];
        assert_eq!(created["out_trade_no"], CREATED_ORDER);
        assert_eq!(created["paid_at"], Value::Null);
        assert_eq!(created["transaction_id"], Value::Null);
        assert_eq!(created["withdrawal_id"], Value::Null);
    }
    let data = ok_data(
        app.get_with_token(
            "/merchant/orders?status=paid&withdrawn=false&limit=10&cursor=abc",
            MERCHANT_KEY,
        )
        .await,
    )
    .await;
    assert_eq!(data["next_cursor"], Value::Null);
    let _ = ok_data(
        app.get_with_token("/merchant/orders?status=&withdrawn=true", MERCHANT_KEY)
            .await,
    )
    .await;
    let lists: Vec<ListOrdersRequest> = app
        .ledger
        .seen()
        .into_iter()
        .filter_map(|s| match s.call {
            LedgerCall::ListOrders(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(
        lists[0],
        ListOrdersRequest {
            merchant_id: MERCHANT.into(),
            status: String::new(),
            withdrawn: None,
            limit: 50,
            cursor: String::new(),
        }
    );
    assert_eq!(
        lists[2],
        ListOrdersRequest {
            merchant_id: MERCHANT.into(),
            status: "PAID".into(),
            withdrawn: Some(false),
            limit: 10,
            cursor: "abc".into(),
        }
    );
    assert_eq!(lists[3].status, "");
    assert_eq!(lists[3].withdrawn, Some(true));
}

#[tokio::test]
async fn pagination_and_filters_are_validated() {
    let app = spawn_app().await;
    let lists = [
        "/merchant/orders",
        "/merchant/withdrawals",
        &format!("/merchant/withdrawals/{WITHDRAWAL_ID}/orders"),
    ];
    for list in lists {
        for limit in ["0", "501", "ten", "-1", "1.5"] {
            let response = app
                .get_with_token(&format!("{list}?limit={limit}"), MERCHANT_KEY)
                .await;
            assert_error(response, 400, 1, &["limit"]).await;
        }
    }
    let response = app
        .get_with_token("/merchant/orders?status=LOST", MERCHANT_KEY)
        .await;
    assert_error(response, 400, 1, &["status"]).await;
    let response = app
        .get_with_token("/merchant/orders?withdrawn=maybe", MERCHANT_KEY)
        .await;
    assert_error(response, 400, 1, &["withdrawn"]).await;
    assert!(app.withdrawals.seen().is_empty());
    assert!(app.ledger.seen().is_empty());
    // The bounds themselves are fine.
    for limit in ["1", "500"] {
        let response = app
            .get_with_token(&format!("/merchant/orders?limit={limit}"), MERCHANT_KEY)
            .await;
        ok_data(response).await;
    }
}

#[tokio::test]
async fn a_wrong_method_is_405() {
    let app = spawn_app().await;
    assert_error(app.get("/merchant/withdraw").await, 405, 1, &[]).await;
    let response = app
        .client
        .post(app.url("/merchant/balance"))
        .bearer_auth(MERCHANT_KEY)
        .send()
        .await
        .unwrap();
    assert_error(response, 405, 1, &[]).await;
}
