use std::time::Duration;

use common::{AmountFen, PartnerTradeNo};
use serde_json::json;
use wechat::SignType;
use wechat::client::{Certainty, ErrorKind, NewTransfer};
use wechat::messages::TransferStatus;

use crate::helpers::spawn_sandbox;

fn transfer(no: &str, openid: &str, fen: i64) -> NewTransfer {
    NewTransfer {
        partner_trade_no: PartnerTradeNo::parse(no).unwrap(),
        openid: openid.into(),
        amount: AmountFen::positive(fen).unwrap(),
        desc: "minipay withdrawal".into(),
        re_user_name: None,
        spbill_create_ip: None,
    }
}

async fn balance(sandbox: &crate::helpers::TestSandbox) -> i64 {
    sandbox.get("/sandbox/transfers").await.1["balance_fen"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn a_transfer_pays_once_per_number() {
    let sandbox = spawn_sandbox().await;
    let client = sandbox.client(SignType::HmacSha256);
    let (_, payee) = sandbox.login_code(None).await;
    let before = balance(&sandbox).await;

    let first = client
        .transfer(&transfer("W0001", &payee, 12_345))
        .await
        .unwrap();
    let again = client
        .transfer(&transfer("W0001", &payee, 12_345))
        .await
        .unwrap();
    assert_eq!(first.payment_no, again.payment_no);
    assert_eq!(balance(&sandbox).await, before - 12_345);
    let (_, listed) = sandbox.get("/sandbox/transfers").await;
    assert_eq!(listed["transfers"].as_array().unwrap().len(), 1);

    let info = client
        .transfer_info(&"W0001".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(info.status, TransferStatus::Success);
    assert_eq!(info.payment_amount.map(AmountFen::fen), Some(12_345));
    assert_eq!(info.openid.as_deref(), Some(payee.as_str()));

    // The same number with another amount is not the same transfer.
    let err = client
        .transfer(&transfer("W0001", &payee, 1))
        .await
        .unwrap_err();
    assert_eq!(err.wechat_code().as_deref(), Some("PARAM_ERROR"));
    assert_eq!(balance(&sandbox).await, before - 12_345);
}

#[tokio::test]
async fn notenough_and_openid_error_move_nothing() {
    let sandbox = crate::helpers::spawn_sandbox_with(|cfg| {
        cfg.balance = AmountFen::parse(1_000).unwrap();
    })
    .await;
    let client = sandbox.client(SignType::Md5);
    let (_, payee) = sandbox.login_code(None).await;
    let err = client
        .transfer(&transfer("W0002", &payee, 1_001))
        .await
        .unwrap_err();
    assert_eq!(err.wechat_code().as_deref(), Some("NOTENOUGH"));
    assert!(
        err.retry_with_same_id(),
        "WeChat: retry NOTENOUGH with the original number"
    );
    assert_eq!(balance(&sandbox).await, 1_000);
    let err = client
        .transfer_info(&"W0002".parse().unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.wechat_code().as_deref(), Some("NOT_FOUND"));
    assert_eq!(err.certainty(), Certainty::Unknown);

    // Topped up, the same number goes through.
    sandbox
        .post("/sandbox/balance", json!({"fen": 5_000}))
        .await;
    client
        .transfer(&transfer("W0002", &payee, 1_001))
        .await
        .unwrap();
    assert_eq!(balance(&sandbox).await, 3_999);

    // A refusal the client cannot take as final on its own word (unsigned
    // in real WeChat); gettransferinfo is what says FAILED, and the number
    // keeps giving the same answer.
    let err = client
        .transfer(&transfer("W0003", "oNobody", 1))
        .await
        .unwrap_err();
    assert_eq!(err.wechat_code().as_deref(), Some("OPENID_ERROR"));
    assert_eq!(err.certainty(), Certainty::Unknown);
    assert!(!err.retry_with_same_id());
    let info = client
        .transfer_info(&"W0003".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(info.status, TransferStatus::Failed);
    assert_eq!(info.reason.as_deref(), Some("OPENID_ERROR"));
    assert_eq!(info.payment_time, None);
    let again = client
        .transfer(&transfer("W0003", "oNobody", 1))
        .await
        .unwrap_err();
    assert_eq!(again.wechat_code().as_deref(), Some("OPENID_ERROR"));
    assert_eq!(balance(&sandbox).await, 3_999);
}

#[tokio::test]
async fn systemerror_fault_pays_nothing() {
    let sandbox = spawn_sandbox().await;
    let client = sandbox.client(SignType::Md5);
    let (_, payee) = sandbox.login_code(None).await;
    let before = balance(&sandbox).await;
    sandbox
        .set_faults(json!({"transfers_systemerror_rate": 1.0}))
        .await;
    let err = client
        .transfer(&transfer("W0004", &payee, 100))
        .await
        .unwrap_err();
    assert_eq!(err.wechat_code().as_deref(), Some("SYSTEMERROR"));
    assert_eq!(err.certainty(), Certainty::Unknown);
    assert!(err.retry_with_same_id());
    assert_eq!(balance(&sandbox).await, before);
}

#[tokio::test]
async fn a_transfer_whose_reply_is_late_still_happened_once() {
    let sandbox = spawn_sandbox().await;
    let (_, payee) = sandbox.login_code(None).await;
    let before = balance(&sandbox).await;
    sandbox
        .set_faults(json!({"transfer_reply_delay_ms": 1500}))
        .await;
    let impatient = sandbox.client_with(SignType::Md5, Duration::from_millis(300), |_| {});
    let err = impatient
        .transfer(&transfer("W0005", &payee, 700))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Timeout);
    assert_eq!(err.certainty(), Certainty::Unknown);
    assert!(err.retry_with_same_id());

    // The caller queries, learns it went through, and a retry with the same
    // number pays nothing more.
    sandbox.delete("/sandbox/faults").await;
    let client = sandbox.client(SignType::Md5);
    let info = client
        .transfer_info(&"W0005".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(info.status, TransferStatus::Success);
    client
        .transfer(&transfer("W0005", &payee, 700))
        .await
        .unwrap();
    assert_eq!(balance(&sandbox).await, before - 700);
}

#[tokio::test]
async fn wrong_key_transfer_replies_are_caught() {
    let sandbox = spawn_sandbox().await;
    let client = sandbox.client(SignType::Md5);
    let (_, payee) = sandbox.login_code(None).await;
    sandbox.set_faults(json!({"wrong_key_replies": true})).await;
    let err = client
        .transfer(&transfer("W0006", &payee, 100))
        .await
        .unwrap_err();
    assert!(matches!(err.kind, ErrorKind::BadSignature(_)), "{err}");
    assert_eq!(err.certainty(), Certainty::Unknown);
    let err = client
        .transfer_info(&"W0006".parse().unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err.kind, ErrorKind::BadSignature(_)), "{err}");
}
