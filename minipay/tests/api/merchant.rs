//! The merchant API over the real services: a merchant only ever sees and
//! moves its own money.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{TestStack, spawn};

/// A merchant with one PAID order of `fen`: (merchant_id, api_key).
async fn merchant_with_paid_order(stack: &TestStack, name: &str, fen: i64) -> (String, String) {
    let (_, payee) = stack.code(None).await;
    let merchant = minipay::create_merchant(&stack.config, name, &payee)
        .await
        .unwrap();
    let (token, _) = stack.login().await;
    let pay = stack
        .post(
            "/pay/",
            json!({"money": fen, "merchant_id": merchant.0}),
            Some(&token),
        )
        .await;
    assert_eq!(pay.code(), 0, "{}", pay.body);
    let no = pay.data()["out_trade_no"].as_str().unwrap().to_owned();
    stack
        .sandbox("/sandbox/pay", json!({"out_trade_no": no}))
        .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let balance = stack.get("/merchant/balance", Some(&merchant.1)).await;
        if balance.data()["withdrawable_fen"] == fen {
            return merchant;
        }
        assert!(Instant::now() < deadline, "never paid: {}", balance.body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn merchants_see_and_move_only_their_own_money() {
    // Payouts wait: this test looks at withdrawals while they are PAYING_OUT.
    let stack = spawn(&[("MINIPAY_PAYOUT_INTERVAL_SECS", "3600")]).await;
    let (a, key_a) = merchant_with_paid_order(&stack, "Shop A", 300).await;
    let (b, key_b) = merchant_with_paid_order(&stack, "Shop B", 500).await;

    let withdraw = |key: String| {
        let stack = &stack;
        async move {
            stack
                .send(
                    reqwest::Client::new()
                        .post(format!("{}/merchant/withdraw", stack.base))
                        .bearer_auth(key)
                        .header("Idempotency-Key", "k1"),
                )
                .await
        }
    };
    let wa = withdraw(key_a.clone()).await;
    assert_eq!(wa.code(), 0, "{}", wa.body);
    assert_eq!(wa.data()["merchant_id"], a.as_str());
    assert_eq!(wa.data()["amount_fen"], 300, "A takes only A's order");
    assert_eq!(wa.data()["status"], "PAYING_OUT");
    let wa_id = wa.data()["withdrawal_id"].as_str().unwrap().to_owned();

    // The same key again: the same withdrawal, nothing moves.
    let again = withdraw(key_a.clone()).await;
    assert_eq!(again.data()["withdrawal_id"], wa_id.as_str());
    // Nothing left: code 7.
    let none = stack
        .send(
            reqwest::Client::new()
                .post(format!("{}/merchant/withdraw", stack.base))
                .bearer_auth(&key_a),
        )
        .await;
    none.assert_error(7, 409);

    // B cannot see A's withdrawal or its orders; its balance is its own.
    stack
        .get(&format!("/merchant/withdrawals/{wa_id}"), Some(&key_b))
        .await
        .assert_error(5, 404);
    stack
        .get(
            &format!("/merchant/withdrawals/{wa_id}/orders"),
            Some(&key_b),
        )
        .await
        .assert_error(5, 404);
    let balance_b = stack.get("/merchant/balance", Some(&key_b)).await;
    assert_eq!(balance_b.data()["merchant_id"], b.as_str());
    assert_eq!(balance_b.data()["withdrawable_fen"], 500);
    let orders_b = stack.get("/merchant/orders", Some(&key_b)).await;
    let items = orders_b.data()["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["merchant_id"], b.as_str());

    // A sees its own.
    let mine = stack
        .get(
            &format!("/merchant/withdrawals/{wa_id}/orders"),
            Some(&key_a),
        )
        .await;
    assert_eq!(
        mine.data()["items"].as_array().unwrap().len(),
        1,
        "{}",
        mine.body
    );
    let balance_a = stack.get("/merchant/balance", Some(&key_a)).await;
    assert_eq!(balance_a.data()["withdrawable_fen"], 0);
    assert_eq!(balance_a.data()["paying_out_fen"], 300);

    // No key, a wrong key: code 8.
    stack
        .get("/merchant/balance", None)
        .await
        .assert_error(8, 401);
    stack
        .get("/merchant/balance", Some("mk_not-a-key"))
        .await
        .assert_error(8, 401);
}
