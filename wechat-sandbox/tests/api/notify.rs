use std::time::Duration;

use serde_json::json;
use wechat::messages::{PayNotification, PayResult};
use wechat::sign::verify;
use wechat::{ApiKey, SignType};
use wechat_sandbox::{RETRY_SCHEDULE_SECS, WRONG_KEY};

use crate::helpers::{Receiver, order, spawn_sandbox};

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn a_refused_notification_is_retried_on_the_scaled_schedule_until_success() {
    let sandbox = spawn_sandbox().await;
    let receiver = Receiver::start(3).await;
    let client = sandbox.client(SignType::HmacSha256);
    let no = "ORDER_NOTIFY_01".parse().unwrap();
    client
        .unified_order(&order("ORDER_NOTIFY_01", 4321, &receiver.url))
        .await
        .unwrap();
    let paid = sandbox.pay(&no).await;

    let received = receiver.wait_for(4, WAIT).await;
    assert_eq!(received.len(), 4);
    for (_, fields) in &received {
        assert_eq!(
            verify(fields, &sandbox.cfg.api_key, SignType::HmacSha256),
            Ok(())
        );
        let n = PayNotification::from_fields(fields).unwrap();
        assert_eq!(n.out_trade_no, no);
        let PayResult::Paid {
            total_fee,
            transaction_id,
            ..
        } = n.result
        else {
            panic!("not paid: {n:?}");
        };
        assert_eq!(total_fee.fen(), 4321);
        assert_eq!(
            Some(transaction_id.as_str()),
            paid["transaction_id"].as_str()
        );
    }
    for (i, pair) in received.windows(2).enumerate() {
        let gap = pair[1].0 - pair[0].0;
        let scheduled =
            Duration::from_secs_f64(RETRY_SCHEDULE_SECS[i] as f64 * sandbox.cfg.time_scale);
        assert!(
            gap >= scheduled,
            "retry {} came after {gap:?}, before {scheduled:?}",
            i + 1
        );
    }

    // Acknowledged: nothing more, even well past the next slot (180 ms here).
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received().len(), 4);
    let attempts = sandbox.attempts(&no).await;
    let outcomes: Vec<&str> = attempts
        .iter()
        .map(|a| a["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["refused", "refused", "refused", "acknowledged"]);
    assert_eq!(attempts[0]["http_status"], 400);
    assert_eq!(attempts[3]["url"], receiver.url.as_str());
}

#[tokio::test]
async fn an_md5_order_is_notified_like_tv7a() {
    let sandbox = spawn_sandbox().await;
    let receiver = Receiver::start(0).await;
    let no = "ORDER_NOTIFY_02".parse().unwrap();
    sandbox
        .client(SignType::Md5)
        .unified_order(&order("ORDER_NOTIFY_02", 1, &receiver.url))
        .await
        .unwrap();
    sandbox.pay(&no).await;
    let received = receiver.wait_for(1, WAIT).await;
    let fields = &received[0].1;
    assert_eq!(
        fields.get("sign_type"),
        None,
        "MD5 is the default and goes unnamed"
    );
    assert_eq!(verify(fields, &sandbox.cfg.api_key, SignType::Md5), Ok(()));
    for name in [
        "appid",
        "mch_id",
        "nonce_str",
        "openid",
        "is_subscribe",
        "trade_type",
        "bank_type",
        "total_fee",
        "fee_type",
        "cash_fee",
        "transaction_id",
        "out_trade_no",
        "time_end",
        "result_code",
        "return_code",
    ] {
        assert!(
            fields.get(name).is_some_and(|v| !v.is_empty()),
            "{name} missing"
        );
    }
    assert_eq!(fields.get("time_end").map(str::len), Some(14));
}

#[tokio::test]
async fn duplicate_deliveries_fault() {
    let sandbox = spawn_sandbox().await;
    sandbox.set_faults(json!({"notify_duplicates": 2})).await;
    let receiver = Receiver::start(0).await;
    let no = "ORDER_NOTIFY_03".parse().unwrap();
    sandbox
        .client(SignType::Md5)
        .unified_order(&order("ORDER_NOTIFY_03", 10, &receiver.url))
        .await
        .unwrap();
    sandbox.pay(&no).await;
    let received = receiver.wait_for(3, WAIT).await;
    assert_eq!(received.len(), 3);
    assert!(
        received.iter().all(|(_, f)| f == &received[0].1),
        "copies are identical"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(receiver.received().len(), 3);
}

#[tokio::test]
async fn dropped_deliveries_fault() {
    let sandbox = spawn_sandbox().await;
    sandbox.set_faults(json!({"notify_drop_first": 2})).await;
    let receiver = Receiver::start(0).await;
    let no = "ORDER_NOTIFY_04".parse().unwrap();
    sandbox
        .client(SignType::Md5)
        .unified_order(&order("ORDER_NOTIFY_04", 10, &receiver.url))
        .await
        .unwrap();
    sandbox.pay(&no).await;
    assert_eq!(receiver.wait_for(1, WAIT).await.len(), 1);
    let attempts = sandbox.attempts(&no).await;
    let outcomes: Vec<(u64, &str)> = attempts
        .iter()
        .map(|a| {
            (
                a["attempt"].as_u64().unwrap(),
                a["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [(1, "dropped"), (2, "dropped"), (3, "acknowledged")]
    );
}

#[tokio::test]
async fn out_of_order_fault_delivers_a_batch_newest_first() {
    let sandbox = spawn_sandbox().await;
    sandbox.set_faults(json!({"notify_reorder_batch": 3})).await;
    let receiver = Receiver::start(0).await;
    let client = sandbox.client(SignType::Md5);
    let numbers = ["ORDER_REORDER_A", "ORDER_REORDER_B", "ORDER_REORDER_C"];
    for no in numbers {
        client
            .unified_order(&order(no, 10, &receiver.url))
            .await
            .unwrap();
        sandbox.pay(&no.parse().unwrap()).await;
    }
    let received = receiver.wait_for(3, WAIT).await;
    let order_seen: Vec<&str> = received
        .iter()
        .map(|(_, f)| f.get("out_trade_no").unwrap())
        .collect();
    assert_eq!(
        order_seen,
        ["ORDER_REORDER_C", "ORDER_REORDER_B", "ORDER_REORDER_A"]
    );
}

#[tokio::test]
async fn clearing_faults_releases_held_notifications() {
    let sandbox = spawn_sandbox().await;
    sandbox.set_faults(json!({"notify_reorder_batch": 5})).await;
    let receiver = Receiver::start(0).await;
    let no = "ORDER_HELD_0001".parse().unwrap();
    sandbox
        .client(SignType::Md5)
        .unified_order(&order("ORDER_HELD_0001", 10, &receiver.url))
        .await
        .unwrap();
    sandbox.pay(&no).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(receiver.received().is_empty(), "held until the batch fills");
    sandbox.delete("/sandbox/faults").await;
    assert_eq!(receiver.wait_for(1, WAIT).await.len(), 1);
}

#[tokio::test]
async fn wrong_key_notifications_fault() {
    let sandbox = spawn_sandbox().await;
    sandbox
        .set_faults(json!({"wrong_key_notifications": true}))
        .await;
    let receiver = Receiver::start(0).await;
    let no = "ORDER_NOTIFY_05".parse().unwrap();
    sandbox
        .client(SignType::Md5)
        .unified_order(&order("ORDER_NOTIFY_05", 10, &receiver.url))
        .await
        .unwrap();
    sandbox.pay(&no).await;
    let received = receiver.wait_for(1, WAIT).await;
    let fields = &received[0].1;
    assert!(verify(fields, &sandbox.cfg.api_key, SignType::Md5).is_err());
    assert_eq!(
        verify(fields, &ApiKey::parse(WRONG_KEY).unwrap(), SignType::Md5),
        Ok(())
    );
}

#[tokio::test]
async fn a_failed_payment_is_notified_as_fail() {
    let sandbox = spawn_sandbox().await;
    let receiver = Receiver::start(0).await;
    let client = sandbox.client(SignType::Md5);
    let no = "ORDER_NOTIFY_06".parse().unwrap();
    client
        .unified_order(&order("ORDER_NOTIFY_06", 10, &receiver.url))
        .await
        .unwrap();
    let (status, reply) = sandbox
        .post(
            "/sandbox/pay",
            json!({"out_trade_no": "ORDER_NOTIFY_06", "result": "FAIL"}),
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["trade_state"], "PAYERROR");
    let received = receiver.wait_for(1, WAIT).await;
    let n = PayNotification::from_fields(&received[0].1).unwrap();
    assert!(matches!(n.result, PayResult::Failed { .. }), "{n:?}");
    let state = client.order_query(&no).await.unwrap().trade_state;
    assert_eq!(state, wechat::messages::TradeState::PayError);
}

#[tokio::test]
async fn an_unreachable_notify_url_is_retried_and_logged() {
    let sandbox = spawn_sandbox().await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/wechat/notify/pay",
        listener.local_addr().unwrap()
    );
    drop(listener);
    let no = "ORDER_NOTIFY_07".parse().unwrap();
    sandbox
        .client(SignType::Md5)
        .unified_order(&order("ORDER_NOTIFY_07", 10, &url))
        .await
        .unwrap();
    sandbox.pay(&no).await;
    let deadline = std::time::Instant::now() + WAIT;
    let attempts = loop {
        let attempts = sandbox.attempts(&no).await;
        if attempts.len() >= 3 || std::time::Instant::now() > deadline {
            break attempts;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(attempts.len() >= 3, "{attempts:?}");
    assert!(
        attempts
            .iter()
            .all(|a| a["outcome"] == "error" && a["http_status"].is_null())
    );
}

#[tokio::test]
async fn paying_needs_a_payable_order() {
    let sandbox = spawn_sandbox().await;
    let client = sandbox.client(SignType::Md5);
    let (status, _) = sandbox
        .post("/sandbox/pay", json!({"out_trade_no": "ORDER_MISSING1"}))
        .await;
    assert_eq!(status, 404);
    let (status, _) = sandbox.post("/sandbox/pay", json!({})).await;
    assert_eq!(status, 400);
    let (status, _) = sandbox
        .post(
            "/sandbox/pay",
            json!({"out_trade_no": "A", "prepay_id": "B"}),
        )
        .await;
    assert_eq!(status, 400);
    let (status, reply) = sandbox
        .post(
            "/sandbox/pay",
            json!({"out_trade_no": "X12345", "result": "MAYBE"}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        reply["error"].as_str().unwrap().contains("MAYBE"),
        "{reply}"
    );

    let placed = client
        .unified_order(&order("ORDER_PAYABLE01", 10, "http://127.0.0.1:9/n"))
        .await
        .unwrap();
    sandbox.advance_clock(2 * 3600 + 1).await;
    let (status, reply) = sandbox
        .post("/sandbox/pay", json!({"prepay_id": placed.prepay_id}))
        .await;
    assert_eq!(status, 409, "{reply}");
    let (status, _) = sandbox
        .post("/sandbox/pay", json!({"out_trade_no": "ORDER_PAYABLE01"}))
        .await;
    assert_eq!(status, 200);
    let (status, reply) = sandbox
        .post("/sandbox/pay", json!({"out_trade_no": "ORDER_PAYABLE01"}))
        .await;
    assert_eq!(status, 409, "paid twice: {reply}");
}
