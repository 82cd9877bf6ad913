use serde_json::json;
use wechat::client::{Certainty, ErrorKind};
use wechat::messages::{TradeState, seal};
use wechat::sign::verify;
use wechat::{ApiKey, FieldMap, SignType};

use crate::helpers::{order, spawn_sandbox};

const NOTIFY: &str = "http://127.0.0.1:9/wechat/notify/pay";

fn code(err: &wechat::WechatError) -> String {
    err.wechat_code()
        .unwrap_or_else(|| panic!("no WeChat code: {err}"))
}

#[tokio::test]
async fn unifiedorder_with_both_sign_types() {
    let sandbox = spawn_sandbox().await;
    for (sign_type, no) in [
        (SignType::Md5, "ORDER_MD5_0001"),
        (SignType::HmacSha256, "ORDER_HMAC_0001"),
    ] {
        let client = sandbox.client(sign_type);
        let reply = client.unified_order(&order(no, 101, NOTIFY)).await.unwrap();
        assert!(reply.prepay_id.starts_with("wx") && reply.prepay_id.len() <= 64);
        let (_, stored) = sandbox.get(&format!("/sandbox/orders/{no}")).await;
        assert_eq!(stored["sign_type"], sign_type.as_str());
        assert_eq!(stored["trade_state"], "NOTPAY");
        assert_eq!(stored["total_fee"], 101);
    }
}

#[tokio::test]
async fn reentry_same_parameters_new_prepay_id_different_parameters_refused() {
    let sandbox = spawn_sandbox().await;
    let client = sandbox.client(SignType::Md5);
    let first = client
        .unified_order(&order("ORDER_REENTRY1", 500, NOTIFY))
        .await
        .unwrap();
    let again = client
        .unified_order(&order("ORDER_REENTRY1", 500, NOTIFY))
        .await
        .unwrap();
    assert_ne!(first.prepay_id, again.prepay_id);

    let err = client
        .unified_order(&order("ORDER_REENTRY1", 501, NOTIFY))
        .await
        .unwrap_err();
    assert_eq!(code(&err), "OUT_TRADE_NO_USED");
    assert!(!err.retry_with_same_id());

    sandbox
        .post("/sandbox/pay", json!({"prepay_id": first.prepay_id}))
        .await;
    let err = client
        .unified_order(&order("ORDER_REENTRY1", 500, NOTIFY))
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ORDERPAID");
}

fn unifiedorder_fields(sandbox: &crate::helpers::TestSandbox) -> FieldMap {
    let mut fields: FieldMap = [
        ("appid", sandbox.cfg.appid.as_str()),
        ("mch_id", sandbox.cfg.mch_id.as_str()),
        ("sign_type", "MD5"),
        ("body", "raw"),
        ("out_trade_no", "ORDER_RAW_0001"),
        ("total_fee", "1"),
        ("spbill_create_ip", "127.0.0.1"),
        ("notify_url", NOTIFY),
        ("trade_type", "JSAPI"),
        ("openid", "oRaw"),
    ]
    .into_iter()
    .collect();
    fields.set("nonce_str", "ibuaiVcKdpRxkhJA");
    fields
}

#[tokio::test]
async fn bad_xml_and_bad_signatures_are_refused_as_wechat_does() {
    let sandbox = spawn_sandbox().await;
    for path in [
        "/pay/unifiedorder",
        "/pay/orderquery",
        "/pay/closeorder",
        "/mmpaymkttransfers/promotion/transfers",
        "/mmpaymkttransfers/gettransferinfo",
    ] {
        for garbage in [
            "not xml",
            "<xml><a><b>1</b></a></xml>",
            "<!DOCTYPE x><xml></xml>",
        ] {
            let reply = sandbox.raw(path, garbage).await;
            assert_eq!(reply.get("return_code"), Some("FAIL"), "{path}");
            assert_eq!(reply.get("return_msg"), Some("XML格式错误"), "{path}");
            assert_eq!(
                reply.get("sign"),
                None,
                "return_code=FAIL replies are unsigned"
            );
        }
        let forged = seal(
            unifiedorder_fields(&sandbox),
            &ApiKey::parse("00000000000000000000000000000000").unwrap(),
            SignType::Md5,
        )
        .unwrap();
        let reply = sandbox.raw(path, forged).await;
        assert_eq!(reply.get("return_code"), Some("FAIL"), "{path}");
        assert_eq!(reply.get("return_msg"), Some("签名错误"), "{path}");
    }
    // An unsigned field added after signing breaks the signature too.
    let mut fields = unifiedorder_fields(&sandbox);
    wechat::sign::sign_fields(&mut fields, &sandbox.cfg.api_key, SignType::Md5);
    fields.set("attach", "added later");
    let reply = sandbox
        .raw("/pay/unifiedorder", fields.to_xml().unwrap())
        .await;
    assert_eq!(reply.get("return_msg"), Some("签名错误"));
    // HMAC-declared but MD5-signed.
    let mut fields = unifiedorder_fields(&sandbox);
    fields.set("sign_type", "HMAC-SHA256");
    fields.set(
        "sign",
        wechat::sign::sign(&fields, &sandbox.cfg.api_key, SignType::Md5),
    );
    let reply = sandbox
        .raw("/pay/unifiedorder", fields.to_xml().unwrap())
        .await;
    assert_eq!(reply.get("return_msg"), Some("签名错误"));
}

#[tokio::test]
async fn unifiedorder_checks_fields_and_signs_its_refusals() {
    let sandbox = spawn_sandbox().await;
    let key = sandbox.cfg.api_key.clone();
    let cases: [(&str, Option<&str>, &str); 7] = [
        ("openid", None, "LACK_PARAMS"),
        ("total_fee", Some("0"), "INVALID_REQUEST"),
        ("total_fee", Some("1.5"), "INVALID_REQUEST"),
        ("trade_type", Some("NATIVE"), "INVALID_REQUEST"),
        ("out_trade_no", Some("has space"), "INVALID_REQUEST"),
        ("appid", Some("wx9999999999999999"), "APPID_NOT_EXIST"),
        ("mch_id", Some("1234567890"), "MCHID_NOT_EXIST"),
    ];
    for (field, value, expected) in cases {
        let mut fields = unifiedorder_fields(&sandbox);
        match value {
            Some(value) => fields.set(field, value),
            None => {
                fields.remove(field);
                &mut fields
            }
        };
        let reply = sandbox
            .raw(
                "/pay/unifiedorder",
                seal(fields, &key, SignType::Md5).unwrap(),
            )
            .await;
        assert_eq!(reply.get("return_code"), Some("SUCCESS"), "{field}");
        assert_eq!(reply.get("result_code"), Some("FAIL"), "{field}");
        assert_eq!(reply.get("err_code"), Some(expected), "{field}={value:?}");
        assert_eq!(
            verify(&reply, &key, SignType::Md5),
            Ok(()),
            "refusals are signed"
        );
    }
    let (status, _) = sandbox.get("/sandbox/orders/ORDER_RAW_0001").await;
    assert_eq!(status, 404, "no refused request created an order");
}

#[tokio::test]
async fn systemerror_fault_creates_nothing_and_a_retry_succeeds() {
    let sandbox = spawn_sandbox().await;
    let client = sandbox.client(SignType::Md5);
    sandbox
        .set_faults(json!({"unifiedorder_systemerror_rate": 1.0}))
        .await;
    let err = client
        .unified_order(&order("ORDER_SYSERR01", 100, NOTIFY))
        .await
        .unwrap_err();
    assert_eq!(code(&err), "SYSTEMERROR");
    assert_eq!(err.certainty(), Certainty::Unknown);
    assert!(err.retry_with_same_id());
    let (status, _) = sandbox.get("/sandbox/orders/ORDER_SYSERR01").await;
    assert_eq!(status, 404);

    sandbox.set_faults(json!({})).await;
    client
        .unified_order(&order("ORDER_SYSERR01", 100, NOTIFY))
        .await
        .unwrap();
}

#[tokio::test]
async fn wrong_key_replies_are_caught_by_the_client() {
    let sandbox = spawn_sandbox().await;
    let client = sandbox.client(SignType::HmacSha256);
    sandbox.set_faults(json!({"wrong_key_replies": true})).await;
    let err = client
        .unified_order(&order("ORDER_WRONGKEY1", 100, NOTIFY))
        .await
        .unwrap_err();
    assert!(matches!(err.kind, ErrorKind::BadSignature(_)), "{err}");
    assert_eq!(err.certainty(), Certainty::Unknown);
    let err = client
        .order_query(&"ORDER_WRONGKEY1".parse().unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err.kind, ErrorKind::BadSignature(_)), "{err}");
}

#[tokio::test]
async fn orderquery_follows_the_order() {
    let sandbox = spawn_sandbox().await;
    let client = sandbox.client(SignType::Md5);
    let no = "ORDER_QUERY_001".parse().unwrap();
    let err = client.order_query(&no).await.unwrap_err();
    assert_eq!(code(&err), "ORDERNOTEXIST");

    client
        .unified_order(&order(no.as_str(), 2500, NOTIFY))
        .await
        .unwrap();
    let unpaid = client.order_query(&no).await.unwrap();
    assert_eq!(unpaid.trade_state, TradeState::NotPay);
    assert_eq!(unpaid.transaction_id, None);

    let paid = sandbox.pay(&no).await;
    let queried = client.order_query(&no).await.unwrap();
    assert_eq!(queried.trade_state, TradeState::Success);
    assert_eq!(queried.total_fee.map(|f| f.fen()), Some(2500));
    assert_eq!(
        queried.transaction_id.as_deref(),
        paid["transaction_id"].as_str()
    );
    assert_eq!(queried.transaction_id.as_deref().map(str::len), Some(28));
}

#[tokio::test]
async fn closeorder_waits_five_minutes_and_refuses_paid_orders() {
    let sandbox = spawn_sandbox().await;
    let client = sandbox.client(SignType::Md5);
    let young: common::OutTradeNo = "ORDER_CLOSE_001".parse().unwrap();
    client
        .unified_order(&order(young.as_str(), 100, NOTIFY))
        .await
        .unwrap();
    let err = client.close_order(&young).await.unwrap_err();
    assert_eq!(code(&err), "INVALID_REQUEST");
    assert_eq!(
        client.order_query(&young).await.unwrap().trade_state,
        TradeState::NotPay
    );

    sandbox.advance_clock(300).await;
    client.close_order(&young).await.unwrap();
    assert_eq!(
        client.order_query(&young).await.unwrap().trade_state,
        TradeState::Closed
    );
    // Closing again: WeChat says ORDERCLOSED, which the client reports as done.
    client.close_order(&young).await.unwrap();
    let mut fields: FieldMap = [
        ("appid", sandbox.cfg.appid.as_str()),
        ("mch_id", sandbox.cfg.mch_id.as_str()),
        ("out_trade_no", young.as_str()),
    ]
    .into_iter()
    .collect();
    fields.set("sign_type", "MD5");
    let reply = sandbox
        .raw(
            "/pay/closeorder",
            seal(fields, &sandbox.cfg.api_key, SignType::Md5).unwrap(),
        )
        .await;
    assert_eq!(reply.get("err_code"), Some("ORDERCLOSED"));
    let (status, _) = sandbox
        .post("/sandbox/pay", json!({"out_trade_no": young.as_str()}))
        .await;
    assert_eq!(status, 409, "a closed order cannot be paid");
    let err = client
        .unified_order(&order(young.as_str(), 100, NOTIFY))
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ORDERCLOSED");

    let paid: common::OutTradeNo = "ORDER_CLOSE_002".parse().unwrap();
    client
        .unified_order(&order(paid.as_str(), 100, NOTIFY))
        .await
        .unwrap();
    sandbox.pay(&paid).await;
    sandbox.advance_clock(300).await;
    let err = client.close_order(&paid).await.unwrap_err();
    assert_eq!(code(&err), "ORDERPAID");
    assert!(err.order_already_paid());

    let err = client
        .close_order(&"ORDER_NOWHERE1".parse().unwrap())
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ORDERNOTEXIST");
}

#[tokio::test]
async fn the_close_rule_knob_shortens_the_wait() {
    let sandbox = crate::helpers::spawn_sandbox_with(|cfg| {
        cfg.close_min_age = std::time::Duration::ZERO;
    })
    .await;
    let client = sandbox.client(SignType::Md5);
    let no: common::OutTradeNo = "ORDER_CLOSE_NOW".parse().unwrap();
    client
        .unified_order(&order(no.as_str(), 100, NOTIFY))
        .await
        .unwrap();
    client.close_order(&no).await.unwrap();
}
