use std::collections::HashMap;

use reqwest::StatusCode;
use serde_json::json;
use tonic::Code;

use crate::helpers::{
    Call, LedgerCall, Options, PaymentCall, Readiness, envelope, ok_data, spawn_app,
    spawn_app_auth_down, spawn_app_with,
};

fn all_ok() -> serde_json::Value {
    json!({
        "auth": "ok",
        "auth.sessions:redis": "ok",
        "auth.users:sqlite": "ok",
        "payment": "ok",
        "payment.payments:sqlite": "ok",
        "ledger": "ok",
        "ledger.orders:sqlite": "ok",
    })
}

#[tokio::test]
async fn healthz_is_200_with_and_without_the_slash() {
    let app = spawn_app().await;
    for path in ["/healthz", "/healthz/"] {
        assert!(ok_data(app.get(path).await).await.is_null());
    }
}

#[tokio::test]
async fn healthz_does_not_need_auth() {
    let app = spawn_app_auth_down().await;
    ok_data(app.get("/healthz").await).await;
}

#[tokio::test]
async fn readyz_is_200_when_everything_answers() {
    let app = spawn_app().await;
    for path in ["/readyz", "/readyz/"] {
        let data = ok_data(app.get(path).await).await;
        assert_eq!(data, all_ok());
    }
    let seen = app.fake.last();
    assert_eq!(seen.call, Call::Readiness);
    assert!(seen.request_id.is_some());
    assert!(seen.grpc_timeout.is_some());
    let seen = app.payment.seen().pop().unwrap();
    assert_eq!(seen.call, PaymentCall::Readiness);
    assert!(seen.request_id.is_some() && seen.grpc_timeout.is_some());
    let seen = app.ledger.seen().pop().unwrap();
    assert_eq!(seen.call, LedgerCall::Readiness);
    assert!(seen.request_id.is_some() && seen.grpc_timeout.is_some());
}

#[tokio::test]
async fn readyz_names_a_failing_payment_store_or_a_ledger_that_is_down() {
    let app = spawn_app().await;
    app.payment.set_readiness(Readiness::Deps(HashMap::from([(
        "payments:sqlite".to_owned(),
        "database is locked".to_owned(),
    )])));
    let (status, body) = envelope(app.get("/readyz").await).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["code"], 503);
    assert_eq!(body["msg"], "not ready: payment.payments:sqlite");
    let mut expected = all_ok();
    expected["payment.payments:sqlite"] = json!("database is locked");
    assert_eq!(body["data"], expected);

    let app = spawn_app_with(Options {
        ledger_up: false,
        ..Options::default()
    })
    .await;
    let (status, body) = envelope(app.get("/readyz").await).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["msg"], "not ready: ledger", "{body}");
    let data = body["data"].as_object().unwrap();
    assert_eq!(data["auth"], "ok");
    assert_eq!(data["payment"], "ok");
    assert!(!data.contains_key("ledger.orders:sqlite"));
    assert_ne!(data["ledger"], "ok");

    let app = spawn_app().await;
    app.ledger.set_readiness(Readiness::Fail(
        Code::Unavailable,
        "orders:sqlite gone".into(),
    ));
    app.payment.set_readiness(Readiness::Hang);
    let started = std::time::Instant::now();
    let (status, body) = envelope(app.get("/readyz").await).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["msg"], "not ready: ledger, payment", "{body}");
    assert!(
        body["data"]["ledger"]
            .as_str()
            .unwrap()
            .contains("orders:sqlite gone"),
        "{body}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[tokio::test]
async fn readyz_is_503_naming_a_failing_store() {
    let app = spawn_app().await;
    app.fake.set_readiness(Readiness::Deps(HashMap::from([
        ("sessions:redis".to_owned(), "connection refused".to_owned()),
        ("users:sqlite".to_owned(), "ok".to_owned()),
    ])));
    let (status, body) = envelope(app.get("/readyz").await).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["code"], 503);
    assert!(
        body["msg"]
            .as_str()
            .unwrap()
            .contains("auth.sessions:redis"),
        "{body}"
    );
    let mut expected = all_ok();
    expected["auth.sessions:redis"] = json!("connection refused");
    assert_eq!(body["data"], expected);
}

#[tokio::test]
async fn readyz_is_503_when_auth_is_down() {
    let app = spawn_app_auth_down().await;
    let (status, body) = envelope(app.get("/readyz").await).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["code"], 503);
    assert!(body["msg"].as_str().unwrap().contains("auth"), "{body}");
    let data = body["data"].as_object().unwrap();
    assert_eq!(
        data.keys().filter(|k| k.starts_with("auth")).count(),
        1,
        "{body}"
    );
    assert_eq!(data["payment"], "ok");
    assert_eq!(data["ledger"], "ok");
    let auth = data["auth"].as_str().unwrap();
    assert!(!auth.is_empty() && auth != "ok", "{body}");
}

#[tokio::test]
async fn readyz_is_503_when_auth_fails_or_hangs() {
    let app = spawn_app().await;
    app.fake
        .set_readiness(Readiness::Fail(Code::Internal, "store poisoned".into()));
    let (status, body) = envelope(app.get("/readyz").await).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        body["data"]["auth"]
            .as_str()
            .unwrap()
            .contains("store poisoned"),
        "{body}"
    );

    app.fake.set_readiness(Readiness::Hang);
    let started = std::time::Instant::now();
    let (status, body) = envelope(app.get("/readyz").await).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_ne!(body["data"]["auth"], "ok");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}
