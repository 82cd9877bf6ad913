use std::collections::HashSet;

use serde_json::json;

use crate::helpers::{assert_error, ok_data, spawn_app};

#[tokio::test]
async fn an_unknown_route_is_404_code_5() {
    let app = spawn_app().await;
    for path in [
        "/nope",
        "/login/extra",
        "/",
        "/pay/x",
        "/orders",
        "/orders/",
        "/wechat/notify",
    ] {
        assert_error(app.get(path).await, 404, 5, &[]).await;
        assert_error(app.post_json(path, json!({})).await, 404, 5, &[]).await;
    }
}

#[tokio::test]
async fn a_wrong_method_is_405_code_1() {
    let app = spawn_app().await;
    for path in ["/login/", "/login", "/getinfo/", "/logout", "/pay/", "/pay"] {
        assert_error(app.get(path).await, 405, 1, &["GET"]).await;
    }
    for path in ["/orders/ORDER-CREATED-1", "/orders/ORDER-CREATED-1/"] {
        assert_error(app.post_json(path, json!({})).await, 405, 1, &["POST"]).await;
    }
    let response = app.client.post(app.url("/healthz")).send().await.unwrap();
    assert_error(response, 405, 1, &["POST"]).await;
    let response = app.client.delete(app.url("/readyz/")).send().await.unwrap();
    assert_error(response, 405, 1, &["DELETE"]).await;
}

#[tokio::test]
async fn the_request_id_is_echoed() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "my-id-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "my-id-42");
    // Errors too.
    let response = app
        .client
        .get(app.url("/nope"))
        .header("x-request-id", "my-id-43")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "my-id-43");
}

#[tokio::test]
async fn a_request_id_is_generated_when_absent() {
    let app = spawn_app().await;
    let mut ids = HashSet::new();
    for _ in 0..5 {
        let response = app.get("/healthz").await;
        let id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(id.len(), 16, "{id}");
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
        ids.insert(id);
        ok_data(response).await;
    }
    assert_eq!(ids.len(), 5);
}

#[tokio::test]
async fn an_unusable_request_id_is_replaced() {
    let app = spawn_app().await;
    for bad in ["has space".to_owned(), "x".repeat(200)] {
        let response = app
            .client
            .get(app.url("/healthz"))
            .header("x-request-id", bad.as_str())
            .send()
            .await
            .unwrap();
        let id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_ne!(id, bad);
        assert_eq!(id.len(), 16);
    }
}

#[tokio::test]
async fn serve_returns_after_shutdown() {
    let mut app = spawn_app().await;
    ok_data(app.get("/healthz").await).await;
    app.shutdown.cancel();
    let gateway = app.gateway.take().unwrap();
    let result = tokio::time::timeout(std::time::Duration::from_secs(5), gateway).await;
    assert!(matches!(result, Ok(Ok(Ok(())))), "{result:?}");
}
