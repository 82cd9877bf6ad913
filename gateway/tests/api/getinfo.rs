use serde_json::{Value, json};

use crate::helpers::{Call, GOOD_TOKEN, assert_error, ok_data, spawn_app, spawn_app_auth_down};

fn body(token: &str) -> Value {
    json!({"iv": "aXYtYmFzZTY0", "encryptedData": "ZW5jcnlwdGVk", "token": token})
}

fn decrypt_call(call: Call) -> proto::auth::v1::DecryptUserDataRequest {
    match call {
        Call::Decrypt(request) => request,
        other => panic!("expected DecryptUserData, saw {other:?}"),
    }
}

#[tokio::test]
async fn getinfo_returns_the_user() {
    let app = spawn_app().await;
    let data = ok_data(app.post_json("/getinfo/", body(GOOD_TOKEN)).await).await;
    assert_eq!(
        data,
        json!({"user": {
            "openid": "o-openid-1",
            "nickName": "小明😀",
            "avatarUrl": "https://thirdwx.qlogo.cn/x/132",
            "gender": 1,
            "city": "Guangzhou",
            "province": "Guangdong",
            "country": "China",
            "language": "zh_CN",
        }})
    );
    assert!(data["user"]["gender"].is_i64());
    let request = decrypt_call(app.fake.last().call);
    assert_eq!(request.token, GOOD_TOKEN);
    assert_eq!(request.iv, "aXYtYmFzZTY0");
    assert_eq!(request.encrypted_data, "ZW5jcnlwdGVk");
    assert_eq!((request.raw_data, request.signature), (None, None));
}

#[tokio::test]
async fn getinfo_without_the_trailing_slash() {
    let app = spawn_app().await;
    ok_data(app.post_json("/getinfo", body(GOOD_TOKEN)).await).await;
}

#[tokio::test]
async fn raw_data_and_signature_travel_together() {
    let app = spawn_app().await;
    let mut b = body(GOOD_TOKEN);
    b["rawData"] = json!("{\"nickName\":\"小明😀\"}");
    b["signature"] = json!("0123abcd");
    ok_data(app.post_json("/getinfo/", b).await).await;
    let request = decrypt_call(app.fake.last().call);
    assert_eq!(
        request.raw_data.as_deref(),
        Some("{\"nickName\":\"小明😀\"}")
    );
    assert_eq!(request.signature.as_deref(), Some("0123abcd"));
}

#[tokio::test]
async fn raw_data_alone_or_signature_alone_is_code_1() {
    let app = spawn_app().await;
    let mut raw_only = body(GOOD_TOKEN);
    raw_only["rawData"] = json!("{}");
    assert_error(
        app.post_json("/getinfo/", raw_only).await,
        400,
        1,
        &["signature", "rawData"],
    )
    .await;
    let mut signature_only = body(GOOD_TOKEN);
    signature_only["signature"] = json!("abc");
    assert_error(
        app.post_json("/getinfo/", signature_only).await,
        400,
        1,
        &["rawData", "signature"],
    )
    .await;
    assert!(app.fake.seen().is_empty());
}

#[tokio::test]
async fn the_token_may_come_in_the_header() {
    let app = spawn_app().await;
    let mut b = body("");
    b.as_object_mut().unwrap().remove("token");
    let response = app
        .client
        .post(app.url("/getinfo/"))
        .bearer_auth(GOOD_TOKEN)
        .json(&b)
        .send()
        .await
        .unwrap();
    ok_data(response).await;
    assert_eq!(decrypt_call(app.fake.last().call).token, GOOD_TOKEN);
}

#[tokio::test]
async fn the_header_wins_over_the_body() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/getinfo/"))
        .bearer_auth(GOOD_TOKEN)
        .json(&body("tok-from-body"))
        .send()
        .await
        .unwrap();
    ok_data(response).await;
    assert_eq!(decrypt_call(app.fake.last().call).token, GOOD_TOKEN);

    // And the other way round: a bad header token is not rescued by the body.
    let response = app
        .client
        .post(app.url("/getinfo/"))
        .bearer_auth("tok-unknown")
        .json(&body(GOOD_TOKEN))
        .send()
        .await
        .unwrap();
    assert_error(response, 401, 2, &[]).await;
    assert_eq!(decrypt_call(app.fake.last().call).token, "tok-unknown");
}

#[tokio::test]
async fn a_missing_or_empty_token_is_code_2() {
    let app = spawn_app().await;
    let mut no_token = body("");
    no_token.as_object_mut().unwrap().remove("token");
    assert_error(
        app.post_json("/getinfo/", no_token.clone()).await,
        401,
        2,
        &["token"],
    )
    .await;
    assert_error(
        app.post_json("/getinfo/", body("")).await,
        401,
        2,
        &["token"],
    )
    .await;
    let response = app
        .client
        .post(app.url("/getinfo/"))
        .header("authorization", "Bearer ")
        .json(&body(""))
        .send()
        .await
        .unwrap();
    assert_error(response, 401, 2, &["token"]).await;
    assert!(app.fake.seen().is_empty());
}

#[tokio::test]
async fn a_token_of_the_wrong_type_is_code_1() {
    let app = spawn_app().await;
    let mut b = body("");
    b["token"] = json!(12345);
    let msg = assert_error(app.post_json("/getinfo/", b).await, 400, 1, &["token"]).await;
    assert_eq!(msg, "token must be a string");
}

#[tokio::test]
async fn an_unknown_token_is_code_2() {
    let app = spawn_app().await;
    assert_error(
        app.post_json("/getinfo/", body("tok-expired")).await,
        401,
        2,
        &[],
    )
    .await;
}

#[tokio::test]
async fn a_stale_session_key_is_code_3() {
    let app = spawn_app().await;
    assert_error(
        app.post_json("/getinfo/", body("tok-stale")).await,
        401,
        3,
        &["bad padding"],
    )
    .await;
}

#[tokio::test]
async fn missing_or_mistyped_fields_are_code_1_naming_them() {
    let app = spawn_app().await;
    let mut no_iv = body(GOOD_TOKEN);
    no_iv.as_object_mut().unwrap().remove("iv");
    assert_eq!(
        assert_error(app.post_json("/getinfo/", no_iv).await, 400, 1, &[]).await,
        "iv is required"
    );
    let mut no_data = body(GOOD_TOKEN);
    no_data.as_object_mut().unwrap().remove("encryptedData");
    assert_eq!(
        assert_error(app.post_json("/getinfo/", no_data).await, 400, 1, &[]).await,
        "encryptedData is required"
    );
    let mut typed = body(GOOD_TOKEN);
    typed["encryptedData"] = json!(42);
    assert_eq!(
        assert_error(app.post_json("/getinfo/", typed).await, 400, 1, &[]).await,
        "encryptedData must be a string"
    );
    let mut raw = body(GOOD_TOKEN);
    raw["rawData"] = json!({"nickName": "x"});
    raw["signature"] = json!("abc");
    assert_eq!(
        assert_error(app.post_json("/getinfo/", raw).await, 400, 1, &[]).await,
        "rawData must be a string"
    );
    assert!(app.fake.seen().is_empty());
}

#[tokio::test]
async fn the_services_invalid_argument_names_the_field() {
    let app = spawn_app().await;
    let mut b = body(GOOD_TOKEN);
    b["iv"] = json!("bad-iv");
    assert_error(app.post_json("/getinfo/", b).await, 400, 1, &["iv"]).await;
}

#[tokio::test]
async fn an_answer_without_a_user_is_500() {
    let app = spawn_app().await;
    assert_error(
        app.post_json("/getinfo/", body("tok-nouser")).await,
        500,
        500,
        &["request id"],
    )
    .await;
}

#[tokio::test]
async fn a_body_that_is_not_json_is_code_1() {
    let app = spawn_app().await;
    assert_error(
        app.post_raw("/getinfo/", "iv=1&token=x").await,
        400,
        1,
        &["not valid JSON"],
    )
    .await;
}

#[tokio::test]
async fn auth_service_down_is_503() {
    let app = spawn_app_auth_down().await;
    assert_error(
        app.post_json("/getinfo/", body(GOOD_TOKEN)).await,
        503,
        503,
        &["auth-service"],
    )
    .await;
}
