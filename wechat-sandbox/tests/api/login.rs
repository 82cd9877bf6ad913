use std::time::Duration;

use axum::http::StatusCode;
use serde_json::json;
use wechat::client::{Certainty, ErrorKind};
use wechat::crypto::{decrypt_user_data, verify_raw_data_signature};
use wechat::{AppSecret, ExposeSecret, SignType};

use crate::helpers::spawn_sandbox;

fn errcode(err: &wechat::WechatError) -> i64 {
    match err.kind {
        ErrorKind::Login { errcode, .. } => errcode,
        ref other => panic!("not a login error: {other:?}"),
    }
}

#[tokio::test]
async fn a_code_logs_in_once() {
    let sandbox = spawn_sandbox().await;
    let client = sandbox.client(SignType::Md5);
    let (code, openid) = sandbox.login_code(None).await;
    let session = client.code2session(&code).await.unwrap();
    assert_eq!(session.openid, openid);
    assert_eq!(session.session_key.expose_secret().len(), 24);

    let reused = client.code2session(&code).await.unwrap_err();
    assert_eq!(errcode(&reused), 40163);
    assert_eq!(reused.certainty(), Certainty::Definite);
}

#[tokio::test]
async fn unknown_and_expired_codes_are_40029() {
    let sandbox = spawn_sandbox().await;
    let client = sandbox.client(SignType::Md5);
    let err = client.code2session("no-such-code").await.unwrap_err();
    assert_eq!(errcode(&err), 40029);

    let (code, _) = sandbox.login_code(None).await;
    sandbox.advance_clock(301).await;
    let err = client.code2session(&code).await.unwrap_err();
    assert_eq!(errcode(&err), 40029);

    // A code just inside its five minutes still works.
    let (code, _) = sandbox.login_code(None).await;
    sandbox.advance_clock(299).await;
    assert!(client.code2session(&code).await.is_ok());
}

#[tokio::test]
async fn a_wrong_secret_is_40125_and_a_wrong_appid_40013() {
    let sandbox = spawn_sandbox().await;
    let (code, _) = sandbox.login_code(None).await;
    let client = sandbox.client_with(SignType::Md5, Duration::from_secs(5), |cfg| {
        cfg.app_secret = AppSecret::parse("not-the-sandbox-secret").unwrap();
    });
    assert_eq!(
        errcode(&client.code2session(&code).await.unwrap_err()),
        40125
    );
    let client = sandbox.client_with(SignType::Md5, Duration::from_secs(5), |cfg| {
        cfg.appid = "wx9999999999999999".into();
    });
    assert_eq!(
        errcode(&client.code2session(&code).await.unwrap_err()),
        40013
    );
    // Neither consumed the code.
    assert!(
        sandbox
            .client(SignType::Md5)
            .code2session(&code)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn busy_and_rate_limit_faults() {
    let sandbox = spawn_sandbox().await;
    let client = sandbox.client(SignType::Md5);
    let (code, _) = sandbox.login_code(None).await;

    sandbox.set_faults(json!({"code2session_busy": true})).await;
    let err = client.code2session(&code).await.unwrap_err();
    assert_eq!(errcode(&err), -1);
    assert!(err.retry_with_same_id());

    sandbox
        .set_faults(json!({"code2session_rate_limited": true}))
        .await;
    let err = client.code2session(&code).await.unwrap_err();
    assert_eq!(errcode(&err), 45011);
    assert!(err.retry_with_same_id());

    sandbox.delete("/sandbox/faults").await;
    assert!(
        client.code2session(&code).await.is_ok(),
        "faults did not consume the code"
    );
}

#[tokio::test]
async fn latency_fault_makes_the_client_time_out() {
    let sandbox = spawn_sandbox().await;
    sandbox
        .set_faults(json!({"latency_ms": {"jscode2session": 1000}}))
        .await;
    let client = sandbox.client_with(SignType::Md5, Duration::from_millis(200), |_| {});
    let (code, _) = sandbox.login_code(None).await;
    let err = client.code2session(&code).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Timeout);
    assert_eq!(err.certainty(), Certainty::Unknown);
}

#[tokio::test]
async fn every_login_rotates_the_session_key() {
    let sandbox = spawn_sandbox().await;
    let client = sandbox.client(SignType::Md5);
    let (code, openid) = sandbox.login_code(None).await;
    let first = client.code2session(&code).await.unwrap();
    let (code, same) = sandbox.login_code(Some(&openid)).await;
    assert_eq!(same, openid);
    let second = client.code2session(&code).await.unwrap();
    assert_eq!(second.openid, openid);
    assert_ne!(
        first.session_key.expose_secret(),
        second.session_key.expose_secret()
    );
}

#[tokio::test]
async fn userinfo_is_encrypted_under_the_current_session_key() {
    let sandbox = spawn_sandbox().await;
    let client = sandbox.client(SignType::Md5);
    let (code, openid) = sandbox.login_code(None).await;
    let old = client.code2session(&code).await.unwrap();
    let (code, _) = sandbox.login_code(Some(&openid)).await;
    let session = client.code2session(&code).await.unwrap();

    let user =
        json!({"nickName": "小明 🐼", "gender": 1, "city": "Guangzhou", "avatarUrl": "http://x/0"});
    let (status, info) = sandbox
        .post("/sandbox/userinfo", json!({"openid": openid, "user": user}))
        .await;
    assert_eq!(status, StatusCode::OK, "{info}");
    let key = session.session_key.expose_secret();
    let raw = info["rawData"].as_str().unwrap();
    let iv = info["iv"].as_str().unwrap();
    let data = info["encryptedData"].as_str().unwrap();
    assert_eq!(
        verify_raw_data_signature(raw, key, info["signature"].as_str().unwrap()),
        Ok(())
    );
    let decrypted = decrypt_user_data(key, iv, data, &sandbox.cfg.appid).unwrap();
    assert_eq!(decrypted.fields["nickName"], "小明 🐼");
    assert_eq!(decrypted.fields["openId"], openid.as_str());
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(raw).unwrap(),
        user
    );

    // The key of the earlier login no longer opens it.
    assert!(
        decrypt_user_data(
            old.session_key.expose_secret(),
            iv,
            data,
            &sandbox.cfg.appid
        )
        .is_err()
    );
    assert!(
        verify_raw_data_signature(
            raw,
            old.session_key.expose_secret(),
            info["signature"].as_str().unwrap()
        )
        .is_err()
    );
}

#[tokio::test]
async fn userinfo_can_carry_a_foreign_watermark_and_needs_a_session() {
    let sandbox = spawn_sandbox().await;
    let client = sandbox.client(SignType::Md5);
    let (code, openid) = sandbox.login_code(None).await;

    let (status, _) = sandbox
        .post("/sandbox/userinfo", json!({"openid": openid, "user": {}}))
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "no session before code2session"
    );

    let session = client.code2session(&code).await.unwrap();
    let (_, info) = sandbox
        .post(
            "/sandbox/userinfo",
            json!({"openid": openid, "user": {"nickName": "x"}, "watermark_appid": "wx1111111111111111"}),
        )
        .await;
    let err = decrypt_user_data(
        session.session_key.expose_secret(),
        info["iv"].as_str().unwrap(),
        info["encryptedData"].as_str().unwrap(),
        &sandbox.cfg.appid,
    )
    .unwrap_err();
    assert!(matches!(
        err,
        wechat::crypto::CryptoError::ForeignWatermark { .. }
    ));

    let (status, reply) = sandbox
        .post("/sandbox/userinfo", json!({"openid": "nobody", "user": {}}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{reply}");
}
