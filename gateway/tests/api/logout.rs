use serde_json::json;

use crate::helpers::{Call, GOOD_TOKEN, assert_error, ok_data, spawn_app, spawn_app_auth_down};

#[tokio::test]
async fn logout_with_the_token_in_the_body() {
    let app = spawn_app().await;
    let data = ok_data(
        app.post_json("/logout/", json!({"token": GOOD_TOKEN}))
            .await,
    )
    .await;
    assert!(data.is_null());
    assert_eq!(
        app.fake.last().call,
        Call::Logout(proto::auth::v1::LogoutRequest {
            token: GOOD_TOKEN.into()
        })
    );
}

#[tokio::test]
async fn logout_with_the_token_in_the_header_and_no_body() {
    let app = spawn_app().await;
    for path in ["/logout/", "/logout"] {
        let response = app
            .client
            .post(app.url(path))
            .bearer_auth(GOOD_TOKEN)
            .send()
            .await
            .unwrap();
        assert!(ok_data(response).await.is_null());
    }
}

#[tokio::test]
async fn logout_without_a_token_is_code_2() {
    let app = spawn_app().await;
    assert_error(
        app.post_json("/logout/", json!({})).await,
        401,
        2,
        &["token"],
    )
    .await;
    assert_error(
        app.post_json("/logout/", json!({"token": ""})).await,
        401,
        2,
        &["token"],
    )
    .await;
    let response = app.client.post(app.url("/logout/")).send().await.unwrap();
    assert_error(response, 401, 2, &["token"]).await;
    assert!(app.fake.seen().is_empty());
}

#[tokio::test]
async fn logout_of_an_unknown_token_is_code_2() {
    let app = spawn_app().await;
    assert_error(
        app.post_json("/logout/", json!({"token": "tok-revoked"}))
            .await,
        401,
        2,
        &[],
    )
    .await;
}

#[tokio::test]
async fn logout_with_a_body_that_is_not_json_is_code_1() {
    let app = spawn_app().await;
    assert_error(
        app.post_raw("/logout/", "token=abc").await,
        400,
        1,
        &["not valid JSON"],
    )
    .await;
}

#[tokio::test]
async fn logout_while_auth_is_down_is_503() {
    let app = spawn_app_auth_down().await;
    assert_error(
        app.post_json("/logout/", json!({"token": GOOD_TOKEN}))
            .await,
        503,
        503,
        &["auth-service"],
    )
    .await;
}
