//! Payouts: PAYING_OUT withdrawals paid with WeChat's transfers, the
//! withdrawal_id as partner_trade_no — paid exactly once through
//! SYSTEMERROR, late replies and restarts; released only when
//! gettransferinfo reports FAILED.

use std::time::Duration;

use proto::ledger::v1 as ledger_pb;
use serde_json::{Value, json};

use crate::helpers::{App, Options, eventually, ledger_status, spawn_app};

/// Short intervals; WeChat calls time out after 400 ms.
fn paying() -> Options {
    Options {
        wechat_timeout: Duration::from_millis(400),
        call_deadline: Duration::from_secs(2),
        payout_interval: Duration::from_millis(100),
        ..Options::default()
    }
}

fn new_openid() -> String {
    format!("oPayee{:022}", rand::random::<u64>())
}

impl App {
    /// Makes `openid` a sandbox user (a valid transfer payee).
    async fn sandbox_user(&self, openid: &str) {
        let (status, reply) = self
            .sandbox_post("/sandbox/login", json!({ "openid": openid }))
            .await;
        assert_eq!(status, 200, "{reply}");
    }

    async fn clear_faults(&self) {
        let status = self
            .http
            .delete(format!("{}/sandbox/faults", self.sandbox))
            .send()
            .await
            .unwrap()
            .status();
        assert!(status.is_success(), "{status}");
    }

    /// `GET /sandbox/transfers`: the balance and the transfers made under
    /// `partner_trade_no`.
    async fn sandbox_transfers(&self, partner_trade_no: &str) -> (i64, Vec<Value>) {
        let reply: Value = self
            .http
            .get(format!("{}/sandbox/transfers", self.sandbox))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let transfers = reply["transfers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["partner_trade_no"] == partner_trade_no)
            .cloned()
            .collect();
        (reply["balance_fen"].as_i64().unwrap(), transfers)
    }

    async fn set_balance(&self, fen: i64) {
        let (status, reply) = self
            .sandbox_post("/sandbox/balance", json!({ "fen": fen }))
            .await;
        assert_eq!(status, 200, "{reply}");
    }

    /// A merchant paying out to `payout_openid` with PAID orders of
    /// `amounts`.
    async fn merchant_with_paid_orders(&self, payout_openid: &str, amounts: &[i64]) -> String {
        let merchant_id = self
            .ledger_client
            .clone()
            .create_merchant(ledger_pb::CreateMerchantRequest {
                name: "Payout Tea".into(),
                payout_openid: payout_openid.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .merchant_id;
        for &amount in amounts {
            let mut request = self.request(amount);
            request.merchant_id = merchant_id.clone();
            let no = self
                .payment
                .clone()
                .create_payment(request)
                .await
                .unwrap()
                .into_inner()
                .out_trade_no;
            self.user_pays(json!({ "out_trade_no": no })).await;
            ledger_status(self, &no, "PAID").await;
        }
        merchant_id
    }

    async fn withdraw(&self, merchant_id: &str) -> ledger_pb::Withdrawal {
        self.withdrawals
            .clone()
            .withdraw(ledger_pb::WithdrawRequest {
                merchant_id: merchant_id.into(),
                idempotency_key: None,
                request_fingerprint: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
            .withdrawal
            .unwrap()
    }

    async fn withdrawal(&self, merchant_id: &str, id: &str) -> ledger_pb::Withdrawal {
        self.withdrawals
            .clone()
            .get_withdrawal(ledger_pb::GetWithdrawalRequest {
                merchant_id: merchant_id.into(),
                withdrawal_id: id.into(),
            })
            .await
            .unwrap()
            .into_inner()
    }

    async fn balance(&self, merchant_id: &str) -> ledger_pb::Balance {
        self.withdrawals
            .clone()
            .get_balance(ledger_pb::GetBalanceRequest {
                merchant_id: merchant_id.into(),
            })
            .await
            .unwrap()
            .into_inner()
    }

    async fn withdrawal_status(
        &self,
        merchant_id: &str,
        id: &str,
        status: &str,
    ) -> ledger_pb::Withdrawal {
        eventually(&format!("withdrawal {id} {status}"), || async {
            let w = self.withdrawal(merchant_id, id).await;
            (w.status == status).then_some(w)
        })
        .await
    }

    /// Exactly one SUCCESS transfer of `amount` to `openid`, and the sandbox
    /// balance dropped by `amount` once.
    async fn paid_once(&self, id: &str, openid: &str, amount: i64, balance_before: i64) {
        let (balance, transfers) = self.sandbox_transfers(id).await;
        assert_eq!(transfers.len(), 1, "{transfers:?}");
        assert_eq!(transfers[0]["status"], "SUCCESS");
        assert_eq!(transfers[0]["openid"], openid);
        assert_eq!(transfers[0]["amount"].as_i64(), Some(amount));
        assert_eq!(balance, balance_before - amount);
    }
}

#[tokio::test]
async fn a_withdrawal_is_paid_out_once() {
    let app = spawn_app(paying()).await;
    let openid = new_openid();
    app.sandbox_user(&openid).await;
    let merchant = app.merchant_with_paid_orders(&openid, &[500, 700]).await;
    let (before, _) = app.sandbox_transfers("").await;
    let w = app.withdraw(&merchant).await;
    assert_eq!(w.status, "PAYING_OUT");
    assert_eq!(w.amount_fen, 1200);
    app.withdrawal_status(&merchant, &w.withdrawal_id, "PAID_OUT")
        .await;
    // More rounds change nothing.
    tokio::time::sleep(Duration::from_millis(500)).await;
    app.paid_once(&w.withdrawal_id, &openid, 1200, before).await;
    let balance = app.balance(&merchant).await;
    assert_eq!(balance.withdrawn_fen, 1200);
    assert_eq!(balance.paying_out_fen, 0);
    assert_eq!(balance.withdrawable_fen, 0);
}

#[tokio::test]
async fn systemerror_keeps_it_paying_out_until_wechat_answers() {
    let app = spawn_app(paying()).await;
    let openid = new_openid();
    app.sandbox_user(&openid).await;
    let merchant = app.merchant_with_paid_orders(&openid, &[300]).await;
    app.faults(json!({ "transfers_systemerror_rate": 1.0 }))
        .await;
    let (before, _) = app.sandbox_transfers("").await;
    let w = app.withdraw(&merchant).await;
    // Several rounds of SYSTEMERROR: never failed, never paid.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        app.withdrawal(&merchant, &w.withdrawal_id).await.status,
        "PAYING_OUT"
    );
    assert!(app.sandbox_transfers(&w.withdrawal_id).await.1.is_empty());
    assert_eq!(app.balance(&merchant).await.paying_out_fen, 300);

    app.clear_faults().await;
    app.withdrawal_status(&merchant, &w.withdrawal_id, "PAID_OUT")
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.paid_once(&w.withdrawal_id, &openid, 300, before).await;
}

#[tokio::test]
async fn a_late_reply_is_found_by_gettransferinfo_and_never_paid_twice() {
    let app = spawn_app(paying()).await;
    let openid = new_openid();
    app.sandbox_user(&openid).await;
    let merchant = app.merchant_with_paid_orders(&openid, &[900]).await;
    // Paid, but the reply comes 5 s later, long after the client's 400 ms.
    app.faults(json!({ "transfer_reply_delay_ms": 5000 })).await;
    let (before, _) = app.sandbox_transfers("").await;
    let w = app.withdraw(&merchant).await;
    eventually("the transfer in the sandbox", || async {
        (!app.sandbox_transfers(&w.withdrawal_id).await.1.is_empty()).then_some(())
    })
    .await;
    let seen = tokio::time::Instant::now();
    app.withdrawal_status(&merchant, &w.withdrawal_id, "PAID_OUT")
        .await;
    // Resolved by gettransferinfo while WeChat's reply was still on its way.
    assert!(
        seen.elapsed() < Duration::from_secs(4),
        "{:?}",
        seen.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    app.paid_once(&w.withdrawal_id, &openid, 900, before).await;
    assert_eq!(app.balance(&merchant).await.withdrawn_fen, 900);
}

#[tokio::test]
async fn notenough_waits_for_the_balance_with_the_same_number() {
    let app = spawn_app(paying()).await;
    let openid = new_openid();
    app.sandbox_user(&openid).await;
    let merchant = app.merchant_with_paid_orders(&openid, &[400]).await;
    app.set_balance(100).await;
    let w = app.withdraw(&merchant).await;
    // NOTENOUGH is not recorded (gettransferinfo NOT_FOUND) and not
    // definite: the withdrawal keeps its orders.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        app.withdrawal(&merchant, &w.withdrawal_id).await.status,
        "PAYING_OUT"
    );
    assert!(app.sandbox_transfers(&w.withdrawal_id).await.1.is_empty());

    app.set_balance(10_000).await;
    app.withdrawal_status(&merchant, &w.withdrawal_id, "PAID_OUT")
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.paid_once(&w.withdrawal_id, &openid, 400, 10_000).await;
}

#[tokio::test]
async fn openid_error_fails_the_payout_and_releases_the_orders() {
    let app = spawn_app(paying()).await;
    // Not a sandbox user: WeChat records the transfer FAILED (OPENID_ERROR).
    let openid = new_openid();
    let merchant = app.merchant_with_paid_orders(&openid, &[250, 350]).await;
    let (before, _) = app.sandbox_transfers("").await;
    let w = app.withdraw(&merchant).await;
    assert_eq!(app.balance(&merchant).await.withdrawable_fen, 0);
    let failed = app
        .withdrawal_status(&merchant, &w.withdrawal_id, "FAILED")
        .await;
    assert!(
        failed.failure_reason.contains("OPENID_ERROR"),
        "{}",
        failed.failure_reason
    );
    let balance = app.balance(&merchant).await;
    assert_eq!(balance.withdrawable_fen, 600);
    assert_eq!(balance.withdrawable_orders, 2);
    assert_eq!(balance.paying_out_fen, 0);
    assert_eq!(balance.withdrawn_fen, 0);
    let (after, transfers) = app.sandbox_transfers(&w.withdrawal_id).await;
    assert_eq!(after, before, "no money moved");
    assert_eq!(transfers.len(), 1);
    assert_eq!(transfers[0]["status"], "FAILED");
}

#[tokio::test]
async fn a_restart_after_a_late_reply_resolves_it_once() {
    let mut app = spawn_app(paying()).await;
    let openid = new_openid();
    app.sandbox_user(&openid).await;
    let merchant = app.merchant_with_paid_orders(&openid, &[800]).await;
    app.faults(json!({ "transfer_reply_delay_ms": 3000 })).await;
    let (before, _) = app.sandbox_transfers("").await;
    let w = app.withdraw(&merchant).await;
    eventually("the transfer in the sandbox", || async {
        (!app.sandbox_transfers(&w.withdrawal_id).await.1.is_empty()).then_some(())
    })
    .await;
    // Stopped before it learnt the outcome; the reply is still pending.
    app.restart_payment(Options {
        payout_interval: Duration::from_millis(1000),
        ..paying()
    })
    .await;
    assert_eq!(
        app.withdrawal(&merchant, &w.withdrawal_id).await.status,
        "PAYING_OUT"
    );
    app.withdrawal_status(&merchant, &w.withdrawal_id, "PAID_OUT")
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.paid_once(&w.withdrawal_id, &openid, 800, before).await;
}
