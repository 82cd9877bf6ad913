use std::collections::HashMap;

use reqwest::StatusCode;
use serde_json::json;
use tonic::Code;

use crate::helpers::{Call, Readiness, envelope, ok_data, spawn_app, spawn_app_auth_down};

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
        assert_eq!(
            data,
            json!({"auth": "ok", "auth.sessions:redis": "ok", "auth.users:sqlite": "ok"})
        );
    }
    let seen = app.fake.last();
    assert_eq!(seen.call, Call::Readiness);
    assert!(seen.request_id.is_some());
    assert!(seen.grpc_timeout.is_some());
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
    assert_eq!(
        body["data"],
        json!({"auth": "ok", "auth.sessions:redis": "connection refused", "auth.users:sqlite": "ok"})
    );
}

#[tokio::test]
async fn readyz_is_503_when_auth_is_down() {
    let app = spawn_app_auth_down().await;
    let (status, body) = envelope(app.get("/readyz").await).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["code"], 503);
    assert!(body["msg"].as_str().unwrap().contains("auth"), "{body}");
    let data = body["data"].as_object().unwrap();
    assert_eq!(data.len(), 1, "{body}");
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
