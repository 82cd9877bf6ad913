use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{TestStack, spawn};

fn getinfo_body(info: &Value, token: Option<&str>) -> Value {
    let mut body = json!({
        "iv": info["iv"],
        "encryptedData": info["encryptedData"],
        "rawData": info["rawData"],
        "signature": info["signature"],
    });
    if let Some(token) = token {
        body["token"] = json!(token);
    }
    body
}

async fn full_flow(stack: &TestStack) {
    let (code, openid) = stack.code(None).await;
    let login = stack.post("/login/", json!({"code": code}), None).await;
    assert_eq!(login.code(), 0, "{}", login.body);
    assert_eq!(login.status, 200);
    let token = login.data()["token"].as_str().unwrap().to_owned();
    assert!(token.len() >= 22, "at least 128 bits: {token}");
    assert_eq!(login.data()["expires_in"], 7200);
    assert!(!login.body.to_string().contains("session_key"));

    let user = json!({
        "nickName": "小明🐼‍🔥 𝒳", "gender": 2, "city": "Guangzhou", "province": "Guangdong",
        "country": "CN", "language": "zh_CN", "avatarUrl": "http://wx.qlogo.cn/x/0"
    });
    let info = stack.user_info(&openid, user.clone()).await;
    // The seed client's style: token in the body.
    let reply = stack
        .post("/getinfo/", getinfo_body(&info, Some(&token)), None)
        .await;
    assert_eq!(reply.code(), 0, "{}", reply.body);
    let got = &reply.data()["user"];
    assert_eq!(got["openid"], openid.as_str());
    assert_eq!(got["nickName"], "小明🐼‍🔥 𝒳");
    assert_eq!(got["gender"], 2);
    assert_eq!(got["city"], "Guangzhou");
    assert_eq!(got["avatarUrl"], "http://wx.qlogo.cn/x/0");

    // The header style, again: the stored user is updated in place.
    let info = stack
        .user_info(&openid, json!({"nickName": "改名了", "gender": 1}))
        .await;
    let reply = stack
        .post("/getinfo/", getinfo_body(&info, None), Some(&token))
        .await;
    assert_eq!(reply.code(), 0, "{}", reply.body);
    assert_eq!(reply.data()["user"]["nickName"], "改名了");

    let out = stack.post("/logout/", json!({}), Some(&token)).await;
    assert_eq!(out.code(), 0, "{}", out.body);
    assert!(out.data().is_null());
    let after = stack
        .post("/getinfo/", getinfo_body(&info, None), Some(&token))
        .await;
    after.assert_error(2, 401);
}

#[tokio::test]
async fn login_getinfo_logout_on_the_embedded_defaults() {
    let stack = spawn(&[]).await;
    full_flow(&stack).await;
}

#[tokio::test]
async fn login_getinfo_logout_on_redis_and_mariadb() {
    let redis = std::env::var("MINIPAY_TEST_REDIS_URL").ok();
    let mysql = std::env::var("MINIPAY_TEST_MYSQL_URL").ok();
    let (Some(redis), Some(mysql)) = (redis, mysql) else {
        assert!(
            std::env::var("CI").is_err(),
            "CI must set MINIPAY_TEST_REDIS_URL and MINIPAY_TEST_MYSQL_URL"
        );
        eprintln!("skipped: MINIPAY_TEST_REDIS_URL / MINIPAY_TEST_MYSQL_URL not set");
        return;
    };
    let mysql = crate::outages::database(&mysql, "minipay_auth_e2e").await;
    let stack = spawn(&[
        ("MINIPAY_REDIS_URL", redis.as_str()),
        ("MINIPAY_AUTH_DATABASE_URL", mysql.as_str()),
    ])
    .await;
    let ready = stack.get("/readyz", None).await;
    assert_eq!(ready.data()["auth.sessions:redis"], "ok", "{}", ready.body);
    assert_eq!(ready.data()["auth.users:mysql"], "ok", "{}", ready.body);
    full_flow(&stack).await;
}

#[tokio::test]
async fn wechat_refusals_are_code_4_with_wechats_errcode() {
    let stack = spawn(&[]).await;
    let reply = stack
        .post("/login/", json!({"code": "never-issued"}), None)
        .await;
    reply.assert_error(4, 502);
    assert!(reply.msg().contains("40029"), "{}", reply.body);

    let (code, _) = stack.code(None).await;
    assert_eq!(
        stack
            .post("/login/", json!({"code": code}), None)
            .await
            .code(),
        0
    );
    let reused = stack.post("/login/", json!({"code": code}), None).await;
    reused.assert_error(4, 502);
    assert!(reused.msg().contains("40163"), "{}", reused.body);

    stack.faults(json!({"code2session_busy": true})).await;
    let (code, _) = stack.code(None).await;
    let busy = stack.post("/login/", json!({"code": code}), None).await;
    busy.assert_error(4, 502);
    assert!(busy.msg().contains("-1"), "{}", busy.body);

    stack
        .faults(json!({"code2session_rate_limited": true}))
        .await;
    let limited = stack.post("/login/", json!({"code": code}), None).await;
    limited.assert_error(4, 502);
    assert!(limited.msg().contains("45011"), "{}", limited.body);
}

#[tokio::test]
async fn bad_bodies_are_code_1_naming_the_field() {
    let stack = spawn(&[]).await;
    let missing = stack.post("/login/", json!({}), None).await;
    missing.assert_error(1, 400);
    assert!(missing.msg().contains("code"), "{}", missing.body);

    let wrong_type = stack.post("/login/", json!({"code": 123}), None).await;
    wrong_type.assert_error(1, 400);
    assert!(wrong_type.msg().contains("code"), "{}", wrong_type.body);

    stack
        .post_raw("/login/", "code=abc")
        .await
        .assert_error(1, 400);

    let (token, openid) = stack.login().await;
    let info = stack.user_info(&openid, json!({"nickName": "x"})).await;
    let mut body = getinfo_body(&info, None);
    body.as_object_mut().unwrap().remove("iv");
    let reply = stack.post("/getinfo/", body, Some(&token)).await;
    reply.assert_error(1, 400);
    assert!(reply.msg().contains("iv"), "{}", reply.body);

    let mut body = getinfo_body(&info, None);
    body.as_object_mut().unwrap().remove("signature");
    let reply = stack.post("/getinfo/", body, Some(&token)).await;
    reply.assert_error(1, 400);
    assert!(reply.msg().contains("signature"), "{}", reply.body);

    // Decrypted fine, but longer than the users table holds: the caller's
    // error, and nothing stored.
    let long = stack
        .user_info(&openid, json!({"nickName": "名".repeat(256)}))
        .await;
    let reply = stack
        .post("/getinfo/", getinfo_body(&long, None), Some(&token))
        .await;
    reply.assert_error(1, 400);
    assert!(reply.msg().contains("nickName"), "{}", reply.body);
}

#[tokio::test]
async fn tokens_missing_unknown_or_expired_are_code_2() {
    let stack = spawn(&[("MINIPAY_SESSION_TTL_SECS", "1")]).await;
    let body = json!({"iv": "x", "encryptedData": "y"});
    stack
        .post("/getinfo/", body.clone(), None)
        .await
        .assert_error(2, 401);
    stack
        .post(
            "/getinfo/",
            json!({"iv": "x", "encryptedData": "y", "token": ""}),
            None,
        )
        .await
        .assert_error(2, 401);
    stack
        .post("/getinfo/", body.clone(), Some("not-a-token"))
        .await
        .assert_error(2, 401);

    let (token, openid) = stack.login().await;
    let info = stack.user_info(&openid, json!({"nickName": "x"})).await;
    // Used within its TTL, the token slides forward...
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        stack
            .post("/getinfo/", getinfo_body(&info, None), Some(&token))
            .await
            .code(),
        0
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        stack
            .post("/getinfo/", getinfo_body(&info, None), Some(&token))
            .await
            .code(),
        0
    );
    // ...and left alone past it, it expires.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    stack
        .post("/getinfo/", getinfo_body(&info, None), Some(&token))
        .await
        .assert_error(2, 401);
    stack
        .post("/logout/", json!({}), Some(&token))
        .await
        .assert_error(2, 401);
}

#[tokio::test]
async fn the_header_token_wins_over_the_body() {
    let stack = spawn(&[]).await;
    let (token, openid) = stack.login().await;
    let info = stack.user_info(&openid, json!({"nickName": "x"})).await;
    let reply = stack
        .post(
            "/getinfo/",
            getinfo_body(&info, Some("stale-body-token")),
            Some(&token),
        )
        .await;
    assert_eq!(reply.code(), 0, "{}", reply.body);
    let reply = stack
        .post(
            "/getinfo/",
            getinfo_body(&info, Some(&token)),
            Some("bad-header-token"),
        )
        .await;
    reply.assert_error(2, 401);
}

#[tokio::test]
async fn undecryptable_data_is_code_3() {
    let stack = spawn(&[]).await;
    let (token, openid) = stack.login().await;
    let info = stack.user_info(&openid, json!({"nickName": "x"})).await;

    // A tampered ciphertext.
    let mut body = getinfo_body(&info, None);
    let data = body["encryptedData"].as_str().unwrap().to_owned();
    let flipped = if data.starts_with('A') { "B" } else { "A" };
    body["encryptedData"] = json!(format!("{flipped}{}", &data[1..]));
    body.as_object_mut().unwrap().remove("rawData");
    body.as_object_mut().unwrap().remove("signature");
    stack
        .post("/getinfo/", body, Some(&token))
        .await
        .assert_error(3, 401);

    // Not base64 at all.
    let mut body = getinfo_body(&info, None);
    body["iv"] = json!("%%%");
    stack
        .post("/getinfo/", body, Some(&token))
        .await
        .assert_error(3, 401);

    // A bad rawData signature.
    let mut body = getinfo_body(&info, None);
    body["signature"] = json!("0000000000000000000000000000000000000000");
    stack
        .post("/getinfo/", body, Some(&token))
        .await
        .assert_error(3, 401);

    // Another app's watermark.
    let foreign = stack
        .sandbox(
            "/sandbox/userinfo",
            json!({"openid": openid, "user": {"nickName": "x"}, "watermark_appid": "wx1111111111111111"}),
        )
        .await;
    stack
        .post("/getinfo/", getinfo_body(&foreign, None), Some(&token))
        .await
        .assert_error(3, 401);

    // A new login of the same user replaces the session key: data from
    // before it no longer decrypts.
    let (code, _) = stack.code(Some(&openid)).await;
    let relogin = stack.post("/login/", json!({"code": code}), None).await;
    assert_eq!(relogin.code(), 0);
    stack
        .post("/getinfo/", getinfo_body(&info, None), Some(&token))
        .await
        .assert_error(3, 401);
    let fresh = stack.user_info(&openid, json!({"nickName": "y"})).await;
    let reply = stack
        .post("/getinfo/", getinfo_body(&fresh, None), Some(&token))
        .await;
    assert_eq!(
        reply.code(),
        0,
        "the old token decrypts with the newest key: {}",
        reply.body
    );
}

#[tokio::test]
async fn request_ids_are_echoed() {
    let stack = spawn(&[]).await;
    let reply = stack.get("/healthz", None).await;
    assert_eq!(reply.status, 200);
    assert!(reply.headers.get("x-request-id").is_some());
    let reply = stack.get("/no/such/route", None).await;
    reply.assert_error(5, 404);
}
