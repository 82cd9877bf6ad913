use std::time::Duration;

use axum::http::StatusCode;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use wechat_sandbox::SandboxConfig;

use crate::helpers::spawn_sandbox;

#[tokio::test]
async fn faults_are_validated_replaced_and_cleared() {
    let sandbox = spawn_sandbox().await;
    let (status, reply) = sandbox.post("/sandbox/faults", json!({"latency": 5})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        reply["error"].as_str().unwrap().contains("latency"),
        "{reply}"
    );
    let (status, reply) = sandbox
        .post(
            "/sandbox/faults",
            json!({"unifiedorder_systemerror_rate": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        reply["error"]
            .as_str()
            .unwrap()
            .contains("unifiedorder_systemerror_rate")
    );

    sandbox
        .set_faults(json!({"code2session_busy": true, "latency_ms": {"orderquery": 5}}))
        .await;
    let (_, faults) = sandbox.get("/sandbox/faults").await;
    assert_eq!(faults["code2session_busy"], true);
    assert_eq!(faults["latency_ms"]["orderquery"], 5);

    // A POST replaces the set: what it leaves out is off.
    sandbox.set_faults(json!({"notify_duplicates": 1})).await;
    let (_, faults) = sandbox.get("/sandbox/faults").await;
    assert_eq!(faults["code2session_busy"], false);
    assert_eq!(faults["notify_duplicates"], 1);

    let (status, _) = sandbox.delete("/sandbox/faults").await;
    assert_eq!(status, StatusCode::OK);
    let (_, faults) = sandbox.get("/sandbox/faults").await;
    assert_eq!(faults["notify_duplicates"], 0);
}

#[tokio::test]
async fn control_bodies_are_checked() {
    let sandbox = spawn_sandbox().await;
    let (status, reply) = sandbox
        .post("/sandbox/login", json!({"openid": "bad id!"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(reply["error"].as_str().unwrap().contains("openid"));
    let (status, reply) = sandbox
        .post("/sandbox/login", json!({"open_id": "x"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        reply["error"].as_str().unwrap().contains("open_id"),
        "{reply}"
    );
    let (status, _) = sandbox
        .post("/sandbox/clock", json!({"advance_secs": -1}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = sandbox.post("/sandbox/balance", json!({"fen": -5})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = sandbox.get("/sandbox/orders/NOPE_NOPE").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, reply) = sandbox
        .post("/sandbox/userinfo", json!({"openid": "x"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(reply["error"].as_str().unwrap().contains("user"), "{reply}");
}

#[tokio::test]
async fn login_with_an_openid_reuses_the_user() {
    let sandbox = spawn_sandbox().await;
    let (code_a, openid) = sandbox.login_code(Some("oChosenOpenid")).await;
    assert_eq!(openid, "oChosenOpenid");
    let (code_b, again) = sandbox.login_code(Some("oChosenOpenid")).await;
    assert_eq!(again, openid);
    assert_ne!(code_a, code_b);
    let (_, fresh) = sandbox.login_code(None).await;
    assert_ne!(fresh, openid);
    assert_eq!(fresh.len(), 28);
}

#[tokio::test]
async fn serve_returns_when_shut_down() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(wechat_sandbox::serve(
        SandboxConfig::defaults(),
        listener,
        shutdown.clone(),
    ));
    shutdown.cancel();
    let result = tokio::time::timeout(Duration::from_secs(5), server).await;
    assert!(matches!(result, Ok(Ok(Ok(())))), "{result:?}");
}

#[tokio::test]
async fn latency_faults_reach_every_pay_endpoint() {
    use common::{AmountFen, OutTradeNo, PartnerTradeNo};
    use wechat::SignType;
    use wechat::client::{Certainty, ErrorKind, NewTransfer};

    let sandbox = spawn_sandbox().await;
    sandbox
        .set_faults(json!({"latency_ms": {
            "unifiedorder": 800, "orderquery": 800, "closeorder": 800,
            "transfers": 800, "gettransferinfo": 800
        }}))
        .await;
    let client = sandbox.client_with(SignType::Md5, Duration::from_millis(150), |_| {});
    let no: OutTradeNo = "ORDER_LATENCY1".parse().unwrap();
    let partner: PartnerTradeNo = "W9".parse().unwrap();
    let errors = [
        client
            .unified_order(&crate::helpers::order(
                no.as_str(),
                1,
                "http://127.0.0.1:9/n",
            ))
            .await
            .unwrap_err(),
        client.order_query(&no).await.unwrap_err(),
        client.close_order(&no).await.unwrap_err(),
        client
            .transfer(&NewTransfer {
                partner_trade_no: partner.clone(),
                openid: "o1".into(),
                amount: AmountFen::positive(1).unwrap(),
                desc: "x".into(),
                re_user_name: None,
                spbill_create_ip: None,
            })
            .await
            .unwrap_err(),
        client.transfer_info(&partner).await.unwrap_err(),
    ];
    for err in errors {
        assert_eq!(err.kind, ErrorKind::Timeout, "{err}");
        assert_eq!(err.certainty(), Certainty::Unknown);
    }
}
