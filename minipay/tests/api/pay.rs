use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{TestStack, spawn};

async fn order(stack: &TestStack, token: &str, no: &str) -> Value {
    let reply = stack.get(&format!("/orders/{no}"), Some(token)).await;
    assert_eq!(reply.code(), 0, "{}", reply.body);
    reply.data().clone()
}

async fn wait_paid(stack: &TestStack, token: &str, no: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let order = order(stack, token, no).await;
        if order["status"] == "PAID" {
            return order;
        }
        assert!(Instant::now() < deadline, "never paid: {order}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn pay_flow(stack: &TestStack) {
    let (token, _) = stack.login().await;
    let pay = stack
        .post("/pay/", json!({"money": 2501}), Some(&token))
        .await;
    assert_eq!(pay.code(), 0, "{}", pay.body);
    for field in [
        "timeStamp",
        "nonceStr",
        "package",
        "signType",
        "paySign",
        "out_trade_no",
    ] {
        assert!(pay.data()[field].is_string(), "{field}: {}", pay.body);
    }
    assert!(
        pay.data()["package"]
            .as_str()
            .unwrap()
            .starts_with("prepay_id=wx")
    );
    let no = pay.data()["out_trade_no"].as_str().unwrap().to_owned();

    let created = order(stack, &token, &no).await;
    assert_eq!(created["status"], "CREATED");
    assert_eq!(created["amount_fen"], 2501);
    assert_eq!(created["merchant_id"], stack.default_merchant.as_str());
    assert!(created["paid_at"].is_null());

    // Someone else cannot see it.
    let (other, _) = stack.login().await;
    stack
        .get(&format!("/orders/{no}"), Some(&other))
        .await
        .assert_error(5, 404);

    // The user pays on the phone; WeChat's notification marks it PAID.
    stack
        .sandbox("/sandbox/pay", json!({"out_trade_no": no}))
        .await;
    let paid = wait_paid(stack, &token, &no).await;
    assert!(paid["paid_at"].as_str().unwrap().ends_with('Z'), "{paid}");
}

#[tokio::test]
async fn pay_and_get_paid_on_sqlite() {
    let stack = spawn(&[]).await;
    pay_flow(&stack).await;
}

#[tokio::test]
async fn pay_and_get_paid_on_mariadb_and_redis() {
    let (Ok(mysql), Ok(redis)) = (
        std::env::var("MINIPAY_TEST_MYSQL_URL"),
        std::env::var("MINIPAY_TEST_REDIS_URL"),
    ) else {
        assert!(
            std::env::var("CI").is_err(),
            "CI must set the MariaDB and Redis URLs"
        );
        eprintln!("skipped: MINIPAY_TEST_MYSQL_URL / MINIPAY_TEST_REDIS_URL not set");
        return;
    };
    let auth = crate::outages::database(&mysql, "minipay_auth_e2e").await;
    let ledger = crate::outages::database(&mysql, "minipay_ledger_e2e").await;
    let payment = crate::outages::database(&mysql, "minipay_payment_e2e").await;
    let stack = spawn(&[
        ("MINIPAY_AUTH_DATABASE_URL", auth.as_str()),
        ("MINIPAY_LEDGER_DATABASE_URL", ledger.as_str()),
        ("MINIPAY_PAYMENT_DATABASE_URL", payment.as_str()),
        ("MINIPAY_REDIS_URL", redis.as_str()),
    ])
    .await;
    let ready = stack.get("/readyz", None).await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert_eq!(ready.data()["ledger.orders:mysql"], "ok", "{}", ready.body);
    pay_flow(&stack).await;
}

#[tokio::test]
async fn pay_refuses_bad_money_before_anything_is_recorded() {
    let stack = spawn(&[]).await;
    let (token, _) = stack.login().await;
    for money in [
        json!("1"),
        json!(1.5),
        json!(0),
        json!(-1),
        json!(1e20),
        json!(null),
    ] {
        let reply = stack
            .post("/pay/", json!({"money": money}), Some(&token))
            .await;
        reply.assert_error(1, 400);
        assert!(reply.msg().contains("money"), "{money}: {}", reply.body);
    }
    stack
        .post("/pay/", json!({}), Some(&token))
        .await
        .assert_error(1, 400);
    stack
        .post("/pay/", json!({"money": 1}), None)
        .await
        .assert_error(2, 401);
    stack
        .post(
            "/pay/",
            json!({"money": 1, "merchant_id": "MNOSUCHMERCHANT000000"}),
            Some(&token),
        )
        .await
        .assert_error(5, 404);
    stack
        .post("/pay/", json!({"money": 100_000_001}), Some(&token))
        .await
        .assert_error(1, 400);
}

#[tokio::test]
async fn wechat_trouble_on_pay_is_code_4_and_the_order_stays_created() {
    let stack = spawn(&[]).await;
    let (token, _) = stack.login().await;
    stack
        .faults(json!({"unifiedorder_systemerror_rate": 1.0}))
        .await;
    let reply = stack
        .post("/pay/", json!({"money": 10}), Some(&token))
        .await;
    assert_eq!(reply.code(), 4, "{}", reply.body);
    assert_eq!(reply.status, 502);
    assert!(reply.msg().contains("SYSTEMERROR"), "{}", reply.body);
    let no = reply.data()["out_trade_no"].as_str().unwrap().to_owned();
    assert_eq!(order(&stack, &token, &no).await["status"], "CREATED");
}

#[tokio::test]
async fn the_demo_command_walks_the_whole_story() {
    let stack = spawn(&[("MINIPAY_PAYOUT_INTERVAL_SECS", "1")]).await;
    let demo = minipay::demo::Demo::new(&stack.base, &stack.sandbox).unwrap();
    // With the default merchant: login → getinfo → pay → PAID.
    demo.run(7, None).await.unwrap();
    // With a merchant of its own: … → withdraw → paid out to its WeChat.
    let payee = demo.sandbox_user().await.unwrap();
    let merchant = minipay::create_merchant(&stack.config, "Demo shop", &payee)
        .await
        .unwrap();
    demo.run(9, Some(merchant)).await.unwrap();
    let transfers = stack.sandbox_get("/sandbox/transfers").await;
    let paid: Vec<_> = transfers["transfers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["openid"] == payee.as_str())
        .collect();
    assert_eq!(paid.len(), 1, "paid out exactly once: {transfers}");
    assert_eq!(paid[0]["amount"], 9);
}

#[tokio::test]
async fn the_default_merchant_is_created_once_and_reused() {
    let dir = std::env::temp_dir().join(crate::helpers::unique("minipay_merchant"));
    let url = format!("sqlite://{}/ledger.db", dir.display());
    let config = common::config::Config::from_lookup(|name| {
        (name == "MINIPAY_LEDGER_DATABASE_URL").then(|| url.clone())
    })
    .unwrap();
    let first = minipay::default_merchant(&config, &dir).await.unwrap();
    let again = minipay::default_merchant(&config, &dir).await.unwrap();
    assert_eq!(first, again);
    assert!(first.starts_with('M'));
    // Another ledger does not know it: a new one is made there.
    let other_url = format!("sqlite://{}/other.db", dir.display());
    let other = common::config::Config::from_lookup(|name| {
        (name == "MINIPAY_LEDGER_DATABASE_URL").then(|| other_url.clone())
    })
    .unwrap();
    assert_ne!(
        minipay::default_merchant(&other, &dir).await.unwrap(),
        first
    );
}
