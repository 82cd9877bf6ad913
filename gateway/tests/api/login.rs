use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{
    Call, GOOD_TOKEN, Options, USED_CODE_MESSAGE, assert_error, ok_data, spawn_app,
    spawn_app_auth_down, spawn_app_with,
};

#[tokio::test]
async fn a_good_code_logs_in() {
    let app = spawn_app().await;
    let data = ok_data(app.post_json("/login/", json!({"code": "good"})).await).await;
    assert_eq!(data, json!({"token": GOOD_TOKEN, "expires_in": 7200}));
    assert!(data["expires_in"].is_i64());
    assert_eq!(
        app.fake.last().call,
        Call::Login(proto::auth::v1::LoginRequest {
            code: "good".into()
        })
    );
}

#[tokio::test]
async fn login_without_the_trailing_slash() {
    let app = spawn_app().await;
    let data = ok_data(app.post_json("/login", json!({"code": "good"})).await).await;
    assert_eq!(data["token"], GOOD_TOKEN);
}

#[tokio::test]
async fn any_content_type_is_read_as_json() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/login/"))
        .header("content-type", "text/plain")
        .body(r#"{"code": "good"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(ok_data(response).await["token"], GOOD_TOKEN);
}

#[tokio::test]
async fn a_used_code_is_code_4_with_wechats_errcode() {
    let app = spawn_app().await;
    let msg = assert_error(
        app.post_json("/login/", json!({"code": "used"})).await,
        502,
        4,
        &["40163"],
    )
    .await;
    assert_eq!(msg, USED_CODE_MESSAGE);
}

#[tokio::test]
async fn wechat_quota_is_code_4_whatever_the_grpc_code() {
    let app = spawn_app().await;
    assert_error(
        app.post_json("/login/", json!({"code": "quota"})).await,
        502,
        4,
        &["45011"],
    )
    .await;
}

#[tokio::test]
async fn invalid_argument_is_code_1_with_the_services_message() {
    let app = spawn_app().await;
    assert_error(
        app.post_json("/login/", json!({"code": ""})).await,
        400,
        1,
        &["code must not be empty"],
    )
    .await;
}

#[tokio::test]
async fn a_code_of_the_wrong_type_is_code_1_naming_it() {
    let app = spawn_app().await;
    for code in [json!(5), json!(true), json!(["good"]), json!({"x": 1})] {
        let msg = assert_error(
            app.post_json("/login/", json!({ "code": code })).await,
            400,
            1,
            &["code"],
        )
        .await;
        assert_eq!(msg, "code must be a string");
    }
    assert!(app.fake.seen().is_empty(), "nothing reached auth-service");
}

#[tokio::test]
async fn a_missing_code_is_code_1_naming_it() {
    let app = spawn_app().await;
    assert_error(
        app.post_json("/login/", json!({})).await,
        400,
        1,
        &["code is required"],
    )
    .await;
    assert_error(
        app.post_json("/login/", json!({"code": null})).await,
        400,
        1,
        &["code"],
    )
    .await;
    assert_error(app.post_raw("/login/", "").await, 400, 1, &["code"]).await;
}

#[tokio::test]
async fn a_body_that_is_not_json_is_code_1() {
    let app = spawn_app().await;
    for body in ["code=good", "{\"code\": \"good\"", "\u{feff}", "nul"] {
        let msg = assert_error(app.post_raw("/login/", body).await, 400, 1, &[]).await;
        assert_eq!(msg, "body is not valid JSON", "{body:?}");
    }
    assert_error(
        app.post_raw("/login/", "[\"good\"]").await,
        400,
        1,
        &["JSON object"],
    )
    .await;
    assert_error(
        app.post_raw("/login/", "\"good\"").await,
        400,
        1,
        &["JSON object"],
    )
    .await;
    assert!(app.fake.seen().is_empty());
}

#[tokio::test]
async fn unauthenticated_without_a_reason_is_code_2() {
    let app = spawn_app().await;
    assert_error(
        app.post_json("/login/", json!({"code": "anon"})).await,
        401,
        2,
        &["who are you"],
    )
    .await;
}

#[tokio::test]
async fn not_found_is_code_5() {
    let app = spawn_app().await;
    assert_error(
        app.post_json("/login/", json!({"code": "missing"})).await,
        404,
        5,
        &["no such thing"],
    )
    .await;
}

#[tokio::test]
async fn conflicts_are_code_6() {
    let app = spawn_app().await;
    for code in ["conflict", "aborted"] {
        assert_error(
            app.post_json("/login/", json!({ "code": code })).await,
            409,
            6,
            &[],
        )
        .await;
    }
}

#[tokio::test]
async fn resource_exhausted_is_code_9() {
    let app = spawn_app().await;
    assert_error(
        app.post_json("/login/", json!({"code": "limited"})).await,
        429,
        9,
        &[],
    )
    .await;
}

#[tokio::test]
async fn an_internal_failure_is_500_with_the_request_id_and_no_cause() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/login/"))
        .header("x-request-id", "req-internal-1")
        .json(&json!({"code": "boom"}))
        .send()
        .await
        .unwrap();
    let msg = assert_error(response, 500, 500, &["req-internal-1"]).await;
    assert!(!msg.contains("password"), "{msg}");
}

#[tokio::test]
async fn a_service_reporting_unavailable_is_503_naming_it() {
    let app = spawn_app().await;
    let msg = assert_error(
        app.post_json("/login/", json!({"code": "down"})).await,
        503,
        503,
        &["auth-service"],
    )
    .await;
    assert_eq!(msg, "auth-service unavailable: sessions:redis unavailable");
}

#[tokio::test]
async fn auth_service_down_is_503_naming_it() {
    let app = spawn_app_auth_down().await;
    let msg = assert_error(
        app.post_json("/login/", json!({"code": "good"})).await,
        503,
        503,
        &["auth-service unavailable"],
    )
    .await;
    assert!(msg.len() > "auth-service unavailable: ".len(), "{msg}");
}

#[tokio::test]
async fn a_slow_auth_service_is_503_at_the_deadline() {
    let app = spawn_app_with(Options {
        deadline: Duration::from_millis(300),
        ..Options::default()
    })
    .await;
    let started = Instant::now();
    assert_error(
        app.post_json("/login/", json!({"code": "slow"})).await,
        503,
        503,
        &["auth-service unavailable"],
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn the_call_carries_the_request_id_and_a_deadline() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/login/"))
        .header("x-request-id", "req-abc-123")
        .json(&json!({"code": "good"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "req-abc-123");
    ok_data(response).await;
    let seen = app.fake.last();
    assert_eq!(seen.request_id.as_deref(), Some("req-abc-123"));
    // tonic writes the 2 s deadline in microseconds.
    assert_eq!(seen.grpc_timeout.as_deref(), Some("2000000u"));
}

#[tokio::test]
async fn a_generated_request_id_reaches_the_service_too() {
    let app = spawn_app().await;
    let response = app.post_json("/login/", json!({"code": "good"})).await;
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    ok_data(response).await;
    assert_eq!(app.fake.last().request_id, Some(id));
}

#[tokio::test]
async fn bodies_up_to_64_kib_are_read_and_larger_ones_are_413_code_10() {
    let app = spawn_app().await;
    let body = |len: usize| {
        let head = r#"{"code": "good", "pad": ""#;
        let tail = r#""}"#;
        format!("{head}{}{tail}", "x".repeat(len - head.len() - tail.len()))
    };
    let at_limit = body(64 * 1024);
    assert_eq!(at_limit.len(), 65536);
    ok_data(app.post_raw("/login/", at_limit).await).await;
    assert_error(
        app.post_raw("/login/", body(64 * 1024 + 1)).await,
        413,
        10,
        &["too large"],
    )
    .await;
    assert_error(
        app.post_raw("/login/", body(1024 * 1024)).await,
        413,
        10,
        &[],
    )
    .await;
    assert_eq!(app.fake.seen().len(), 1);
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_413_too() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let app = spawn_app().await;
    let addr = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /login/ HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
         transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = format!("2000\r\n{}\r\n", " ".repeat(0x2000));
    // The server may answer (and stop reading) before the last chunk.
    for _ in 0..10 {
        if stream.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply).await;
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    assert!(reply.contains(r#""code":10"#), "{reply}");
    assert!(
        reply.to_ascii_lowercase().contains("x-request-id:"),
        "{reply}"
    );
    assert!(app.fake.seen().is_empty());
}
