use serde_json::{Value, json};

use crate::helpers::{
    Call, GOOD_OPENID, GOOD_TOKEN, MAX_ORDER_FEN, Options, assert_error, envelope, ok_data,
    spawn_app, spawn_app_with,
};
use crate::services::{
    NEW_ORDER, PAYMENT_DOWN, REFUSED_ORDER, UNKNOWN_MERCHANT, WECHAT_FAILS, WECHAT_FAILS_MESSAGE,
};

#[tokio::test]
async fn pay_returns_the_request_payment_fields_all_strings() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/pay/"))
        .header("x-request-id", "req-pay-1")
        .json(&json!({"money": 1, "token": GOOD_TOKEN}))
        .send()
        .await
        .unwrap();
    let data = ok_data(response).await;
    assert_eq!(
        data,
        json!({
            "timeStamp": "1764842400",
            "nonceStr": "5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
            "package": "prepay_id=wx201410272009395522657a690389285100",
            "signType": "MD5",
            "paySign": "C380BEC2BFD727A4B6845133519F3AD6",
            "out_trade_no": NEW_ORDER,
        })
    );
    for (key, value) in data.as_object().unwrap() {
        assert!(value.is_string(), "{key} is not a string: {value}");
    }

    assert_eq!(
        app.fake.last().call,
        Call::Resolve(proto::auth::v1::ResolveTokenRequest {
            token: GOOD_TOKEN.into()
        })
    );
    let seen = app.payment.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].request_id.as_deref(), Some("req-pay-1"));
    assert_eq!(seen[0].grpc_timeout.as_deref(), Some("2000000u"));
    assert_eq!(
        app.payment.creates(),
        vec![proto::payment::v1::CreatePaymentRequest {
            openid: GOOD_OPENID.into(),
            merchant_id: String::new(),
            amount_fen: 1,
            description: String::new(),
            client_ip: "127.0.0.1".into(),
        }]
    );
}

#[tokio::test]
async fn merchant_description_and_a_header_token_are_passed_on() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/pay"))
        .bearer_auth(GOOD_TOKEN)
        .json(&json!({
            "money": MAX_ORDER_FEN,
            "merchant_id": "m-coffee",
            "description": "两杯咖啡☕",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(ok_data(response).await["out_trade_no"], NEW_ORDER);
    let create = app.payment.creates().pop().unwrap();
    assert_eq!(create.merchant_id, "m-coffee");
    assert_eq!(create.description, "两杯咖啡☕");
    assert_eq!(create.amount_fen, MAX_ORDER_FEN);
    assert_eq!(create.openid, GOOD_OPENID);
}

#[tokio::test]
async fn the_maximum_is_the_configured_one_and_inclusive() {
    let app = spawn_app_with(Options {
        max_order_fen: 500,
        ..Options::default()
    })
    .await;
    ok_data(
        app.post_json("/pay/", json!({"money": 500, "token": GOOD_TOKEN}))
            .await,
    )
    .await;
    assert_error(
        app.post_json("/pay/", json!({"money": 501, "token": GOOD_TOKEN}))
            .await,
        400,
        1,
        &["money", "500"],
    )
    .await;
    assert_eq!(app.payment.creates().len(), 1);
}

#[tokio::test]
async fn every_money_that_is_not_an_integer_literal_in_range_is_code_1() {
    let app = spawn_app().await;
    let too_much = (MAX_ORDER_FEN + 1).to_string();
    let refused = [
        "\"1\"",
        "\"100\"",
        "1.5",
        "1.0",
        "1e2",
        "1E2",
        "0",
        "-0",
        "-1",
        "1e20",
        "null",
        "true",
        "false",
        "[1]",
        "{\"fen\": 1}",
        too_much.as_str(),
        "9223372036854775807",
        "9223372036854775808",
        "18446744073709551616",
        "100000000000000000000000",
    ];
    for money in refused {
        let body = format!(r#"{{"money": {money}, "token": "{GOOD_TOKEN}"}}"#);
        let msg = assert_error(app.post_raw("/pay/", body).await, 400, 1, &["money"]).await;
        assert!(!msg.is_empty(), "{money}");
    }
    // Missing altogether.
    let msg = assert_error(
        app.post_json("/pay/", json!({"token": GOOD_TOKEN})).await,
        400,
        1,
        &["money"],
    )
    .await;
    assert_eq!(msg, "money is required");
    // Refused at the edge: neither auth nor payment was asked.
    assert_eq!(app.payment.seen().len(), 0);
    assert_eq!(app.fake.resolves(), 0);
}

#[tokio::test]
async fn merchant_id_and_description_must_be_strings() {
    let app = spawn_app().await;
    for field in ["merchant_id", "description"] {
        let mut body = json!({"money": 1, "token": GOOD_TOKEN});
        body[field] = json!(42);
        let msg = assert_error(app.post_json("/pay/", body).await, 400, 1, &[field]).await;
        assert_eq!(msg, format!("{field} must be a string"));
    }
    assert!(app.payment.seen().is_empty());
}

#[tokio::test]
async fn a_missing_empty_or_unknown_token_is_code_2() {
    let app = spawn_app().await;
    for body in [json!({"money": 1}), json!({"money": 1, "token": ""})] {
        assert_error(app.post_json("/pay/", body).await, 401, 2, &["token"]).await;
    }
    assert_eq!(app.fake.resolves(), 0);
    assert_error(
        app.post_json("/pay/", json!({"money": 1, "token": "tok-expired"}))
            .await,
        401,
        2,
        &[],
    )
    .await;
    assert_eq!(app.fake.resolves(), 1);
    assert!(app.payment.seen().is_empty());
}

#[tokio::test]
async fn an_unknown_merchant_is_code_5() {
    let app = spawn_app().await;
    assert_error(
        app.post_json(
            "/pay/",
            json!({"money": 1, "token": GOOD_TOKEN, "merchant_id": UNKNOWN_MERCHANT}),
        )
        .await,
        404,
        5,
        &["merchant"],
    )
    .await;
}

#[tokio::test]
async fn a_wechat_failure_is_code_4_with_the_recorded_out_trade_no() {
    let app = spawn_app().await;
    let (status, body) = envelope(
        app.post_json(
            "/pay/",
            json!({"money": 1, "token": GOOD_TOKEN, "merchant_id": WECHAT_FAILS}),
        )
        .await,
    )
    .await;
    assert_eq!(status.as_u16(), 502, "{body}");
    assert_eq!(body["code"], 4);
    assert_eq!(body["msg"], WECHAT_FAILS_MESSAGE);
    assert_eq!(body["data"], json!({"out_trade_no": REFUSED_ORDER}));
}

#[tokio::test]
async fn payment_service_trouble_is_503_naming_it() {
    let app = spawn_app().await;
    assert_error(
        app.post_json(
            "/pay/",
            json!({"money": 1, "token": GOOD_TOKEN, "merchant_id": PAYMENT_DOWN}),
        )
        .await,
        503,
        503,
        &["payment-service"],
    )
    .await;

    let app = spawn_app_with(Options {
        payment_up: false,
        ..Options::default()
    })
    .await;
    assert_error(
        app.post_json("/pay/", json!({"money": 1, "token": GOOD_TOKEN}))
            .await,
        503,
        503,
        &["payment-service unavailable"],
    )
    .await;
}

#[tokio::test]
async fn auth_down_is_503_before_payment_is_asked() {
    let app = spawn_app_with(Options {
        auth_up: false,
        ..Options::default()
    })
    .await;
    assert_error(
        app.post_json("/pay/", json!({"money": 1, "token": GOOD_TOKEN}))
            .await,
        503,
        503,
        &["auth-service"],
    )
    .await;
    assert!(app.payment.seen().is_empty());
}

async fn client_ip_seen(app: &crate::helpers::TestApp, forwarded_for: Option<&str>) -> String {
    let mut request = app
        .client
        .post(app.url("/pay/"))
        .json(&json!({"money": 1, "token": GOOD_TOKEN}));
    if let Some(value) = forwarded_for {
        request = request.header("x-forwarded-for", value);
    }
    ok_data(request.send().await.unwrap()).await;
    app.payment.creates().pop().unwrap().client_ip
}

#[tokio::test]
async fn x_forwarded_for_is_ignored_from_an_untrusted_peer() {
    let app = spawn_app().await;
    assert_eq!(client_ip_seen(&app, None).await, "127.0.0.1");
    assert_eq!(client_ip_seen(&app, Some("203.0.113.7")).await, "127.0.0.1");

    let app = spawn_app_with(Options {
        trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()],
        ..Options::default()
    })
    .await;
    assert_eq!(client_ip_seen(&app, Some("203.0.113.7")).await, "127.0.0.1");
}

#[tokio::test]
async fn x_forwarded_for_is_believed_from_a_trusted_proxy() {
    let app = spawn_app_with(Options {
        trusted_proxies: vec![
            "10.0.0.0/8".parse().unwrap(),
            "127.0.0.1/32".parse().unwrap(),
        ],
        ..Options::default()
    })
    .await;
    assert_eq!(
        client_ip_seen(&app, Some("203.0.113.7")).await,
        "203.0.113.7"
    );
    assert_eq!(
        client_ip_seen(&app, Some("203.0.113.8, 10.0.0.1")).await,
        "203.0.113.8"
    );
    assert_eq!(
        client_ip_seen(&app, Some("2001:db8::7")).await,
        "2001:db8::7"
    );
    // Without the header, or with one that does not parse: the peer.
    assert_eq!(client_ip_seen(&app, None).await, "127.0.0.1");
    assert_eq!(client_ip_seen(&app, Some("unknown")).await, "127.0.0.1");
}

#[tokio::test]
async fn a_pay_body_that_is_not_json_is_code_1() {
    let app = spawn_app().await;
    assert_error(
        app.post_raw("/pay/", "money=1&token=tok-good").await,
        400,
        1,
        &["not valid JSON"],
    )
    .await;
    let data: Value = ok_data(
        app.post_raw("/pay/", format!(r#"{{"money":1,"token":"{GOOD_TOKEN}"}}"#))
            .await,
    )
    .await;
    assert_eq!(data["out_trade_no"], NEW_ORDER);
}
