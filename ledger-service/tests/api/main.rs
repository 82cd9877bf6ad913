//! ledger-service over gRPC on 127.0.0.1:0 with a SQLite file: every RPC's
//! success and the codes, messages and metadata its callers rely on (both
//! services: LedgerService and WithdrawalService), readiness and health.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use common::config::DatabaseUrl;
use ledger_service::LedgerConfig;
use ledger_service::domain::{MerchantId, MerchantStatus};
use proto::ledger::v1::ledger_service_client::LedgerServiceClient;
use proto::ledger::v1::withdrawal_service_client::WithdrawalServiceClient;
use proto::ledger::v1::{
    AuditRequest, CloseOrderRequest, CompletePayoutRequest, CreateMerchantRequest,
    CreateOrderRequest, FailPayoutRequest, GetBalanceRequest, GetMerchantRequest, GetOrderRequest,
    GetWithdrawalRequest, ListOrdersRequest, ListPayingOutRequest, ListWithdrawalOrdersRequest,
    ListWithdrawalsRequest, MarkPaidRequest, Merchant, Order, ReadinessRequest, WithdrawRequest,
    WithdrawResponse, Withdrawal,
};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tonic::{Code, Status};

struct App {
    client: LedgerServiceClient<Channel>,
    withdrawals: WithdrawalServiceClient<Channel>,
    channel: Channel,
    database_url: DatabaseUrl,
    db_file: PathBuf,
    shutdown: CancellationToken,
}

impl Drop for App {
    fn drop(&mut self) {
        self.shutdown.cancel();
        for suffix in ["", "-wal", "-shm"] {
            let mut file = self.db_file.clone().into_os_string();
            file.push(suffix);
            let _ = std::fs::remove_file(file);
        }
    }
}

async fn spawn_app() -> App {
    let shutdown = CancellationToken::new();
    let db_file = std::env::temp_dir().join(format!(
        "ledger_api_{}_{:016x}.db",
        std::process::id(),
        rand::random::<u64>()
    ));
    let database_url = DatabaseUrl::Sqlite(format!("sqlite://{}", db_file.display()));
    let cfg = LedgerConfig {
        database_url: database_url.clone(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(ledger_service::serve(cfg, listener, shutdown.clone()));
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_lazy();
    App {
        client: LedgerServiceClient::new(channel.clone()),
        withdrawals: WithdrawalServiceClient::new(channel.clone()),
        channel,
        database_url,
        db_file,
        shutdown,
    }
}

/// A fresh out_trade_no (WeChat's 6–32 characters).
fn trade_no() -> String {
    format!("ORDER{:016X}", rand::random::<u64>())
}

fn transaction_id() -> String {
    format!("4200{:024}", rand::random::<u64>())
}

const PAYER: &str = "oPayer_1";
const PAYOUT: &str = "oPayout_merchant-1";

#[track_caller]
fn assert_status(status: &Status, code: Code, says: &str) {
    assert_eq!(status.code(), code, "{status:?}");
    assert!(
        status.message().contains(says),
        "{:?} does not say {says:?}",
        status.message()
    );
}

impl App {
    async fn merchant(&mut self, name: &str) -> Merchant {
        self.client
            .create_merchant(CreateMerchantRequest {
                name: name.into(),
                payout_openid: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
    }

    fn order_request(&self, merchant: &Merchant, amount_fen: i64) -> CreateOrderRequest {
        CreateOrderRequest {
            out_trade_no: trade_no(),
            merchant_id: merchant.merchant_id.clone(),
            payer_openid: PAYER.into(),
            amount_fen,
            description: "一杯咖啡".into(),
        }
    }

    async fn order(&mut self, merchant: &Merchant, amount_fen: i64) -> Order {
        let request = self.order_request(merchant, amount_fen);
        self.client
            .create_order(request)
            .await
            .unwrap()
            .into_inner()
    }

    async fn pay(
        &mut self,
        order: &Order,
        transaction_id: &str,
        amount_fen: i64,
    ) -> Result<(Order, bool), Status> {
        self.client
            .mark_paid(MarkPaidRequest {
                out_trade_no: order.out_trade_no.clone(),
                transaction_id: transaction_id.into(),
                amount_fen,
                paid_at_ms: 1_733_300_000_000,
            })
            .await
            .map(|reply| {
                let reply = reply.into_inner();
                (reply.order.unwrap(), reply.already_paid)
            })
    }

    async fn payout_merchant(&mut self, name: &str) -> Merchant {
        self.client
            .create_merchant(CreateMerchantRequest {
                name: name.into(),
                payout_openid: PAYOUT.into(),
            })
            .await
            .unwrap()
            .into_inner()
    }

    /// A new order of `merchant`, paid.
    async fn paid(&mut self, merchant: &Merchant, amount_fen: i64) -> Order {
        let order = self.order(merchant, amount_fen).await;
        self.pay(&order, &transaction_id(), amount_fen)
            .await
            .unwrap()
            .0
    }

    async fn withdraw(
        &mut self,
        merchant: &Merchant,
        key: Option<&str>,
    ) -> Result<WithdrawResponse, Status> {
        self.withdrawals
            .withdraw(WithdrawRequest {
                merchant_id: merchant.merchant_id.clone(),
                idempotency_key: key.map(str::to_owned),
                request_fingerprint: String::new(),
            })
            .await
            .map(tonic::Response::into_inner)
    }

    /// (withdrawable_fen, withdrawable_orders, paying_out_fen, withdrawn_fen)
    async fn balance(&mut self, merchant: &Merchant) -> (i64, i64, i64, i64) {
        let b = self
            .withdrawals
            .get_balance(GetBalanceRequest {
                merchant_id: merchant.merchant_id.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(b.merchant_id, merchant.merchant_id);
        (
            b.withdrawable_fen,
            b.withdrawable_orders,
            b.paying_out_fen,
            b.withdrawn_fen,
        )
    }

    async fn get(&mut self, out_trade_no: &str) -> Order {
        self.client
            .get_order(GetOrderRequest {
                out_trade_no: out_trade_no.into(),
                payer_openid: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
    }
}

#[tokio::test]
async fn merchants_are_created_and_found() {
    let mut app = spawn_app().await;
    let created = app
        .client
        .create_merchant(CreateMerchantRequest {
            name: "小明的店 🐼".into(),
            payout_openid: "oPayout-1_x".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(MerchantId::parse(created.merchant_id.as_str()).is_ok());
    assert_eq!(created.name, "小明的店 🐼");
    assert_eq!(created.payout_openid, "oPayout-1_x");
    assert_eq!(created.status, "ACTIVE");
    assert!(created.created_at_ms > 1_600_000_000_000);

    let found = app
        .client
        .get_merchant(GetMerchantRequest {
            merchant_id: created.merchant_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(found, created);
    let plain = app.merchant("plain").await;
    assert_eq!(plain.payout_openid, "");
    assert_ne!(plain.merchant_id, created.merchant_id);

    let unknown = app
        .client
        .get_merchant(GetMerchantRequest {
            merchant_id: MerchantId::generate().into_string(),
        })
        .await
        .unwrap_err();
    assert_status(&unknown, Code::NotFound, "does not exist");
    let malformed = app
        .client
        .get_merchant(GetMerchantRequest {
            merchant_id: "m1".into(),
        })
        .await
        .unwrap_err();
    assert_status(&malformed, Code::InvalidArgument, "merchant_id");

    for (name, payout_openid, field) in [
        ("", "", "name"),
        (&*"店".repeat(65), "", "name"),
        ("tab\there", "", "name"),
        ("shop", "has space", "payout_openid"),
        ("shop", &*"o".repeat(129), "payout_openid"),
    ] {
        let refused = app
            .client
            .create_merchant(CreateMerchantRequest {
                name: name.into(),
                payout_openid: payout_openid.into(),
            })
            .await
            .unwrap_err();
        assert_status(&refused, Code::InvalidArgument, field);
    }
}

#[tokio::test]
async fn orders_are_created_once_for_active_merchants() {
    let mut app = spawn_app().await;
    let merchant = app.merchant("shop").await;
    let request = app.order_request(&merchant, 101);
    let order = app
        .client
        .create_order(request.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(order.out_trade_no, request.out_trade_no);
    assert_eq!(order.merchant_id, merchant.merchant_id);
    assert_eq!(order.payer_openid, PAYER);
    assert_eq!(order.amount_fen, 101);
    assert_eq!(order.description, "一杯咖啡");
    assert_eq!(order.status, "CREATED");
    assert_eq!(order.transaction_id, "");
    assert_eq!(order.paid_at_ms, 0);
    assert_eq!(order.withdrawal_id, "");
    assert!(order.created_at_ms > 1_600_000_000_000);

    let taken = app.client.create_order(request.clone()).await.unwrap_err();
    assert_status(&taken, Code::AlreadyExists, &request.out_trade_no);

    let unknown = app
        .client
        .create_order(CreateOrderRequest {
            out_trade_no: trade_no(),
            merchant_id: MerchantId::generate().into_string(),
            ..request.clone()
        })
        .await
        .unwrap_err();
    assert_status(&unknown, Code::NotFound, "merchant");

    // Suspended through the store, as an operator's tool would.
    let suspended = app.merchant("suspended").await;
    let store = ledger_service::store::connect(&app.database_url)
        .await
        .unwrap();
    assert!(
        store
            .set_merchant_status(
                &MerchantId::parse(suspended.merchant_id.as_str()).unwrap(),
                MerchantStatus::Suspended
            )
            .await
            .unwrap()
    );
    let refused = app
        .client
        .create_order(app.order_request(&suspended, 1))
        .await
        .unwrap_err();
    assert_status(&refused, Code::FailedPrecondition, "is SUSPENDED");

    let bad = |change: fn(&mut CreateOrderRequest)| {
        let mut bad = request.clone();
        bad.out_trade_no = trade_no();
        change(&mut bad);
        bad
    };
    for (bad, field) in [
        (bad(|r| r.out_trade_no = "abc".into()), "out_trade_no"),
        (bad(|r| r.out_trade_no = "order #1".into()), "out_trade_no"),
        (bad(|r| r.merchant_id = String::new()), "merchant_id"),
        (bad(|r| r.payer_openid = String::new()), "payer_openid"),
        (bad(|r| r.amount_fen = 0), "amount_fen"),
        (bad(|r| r.amount_fen = -5), "amount_fen"),
        (bad(|r| r.description = "x".repeat(129)), "description"),
    ] {
        let refused = app.client.create_order(bad).await.unwrap_err();
        assert_status(&refused, Code::InvalidArgument, field);
    }
}

#[tokio::test]
async fn an_order_is_found_by_its_number_and_only_by_its_payer() {
    let mut app = spawn_app().await;
    let merchant = app.merchant("shop").await;
    let order = app.order(&merchant, 100).await;
    assert_eq!(app.get(&order.out_trade_no).await, order);

    let as_payer = app
        .client
        .get_order(GetOrderRequest {
            out_trade_no: order.out_trade_no.clone(),
            payer_openid: PAYER.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(as_payer, order);

    let someone_else = app
        .client
        .get_order(GetOrderRequest {
            out_trade_no: order.out_trade_no.clone(),
            payer_openid: "oSomeoneElse".into(),
        })
        .await
        .unwrap_err();
    assert_status(&someone_else, Code::NotFound, &order.out_trade_no);

    let unknown = app
        .client
        .get_order(GetOrderRequest {
            out_trade_no: trade_no(),
            payer_openid: String::new(),
        })
        .await
        .unwrap_err();
    assert_status(&unknown, Code::NotFound, "does not exist");

    for (out_trade_no, payer_openid, field) in [
        ("", "", "out_trade_no"),
        ("short", "", "out_trade_no"),
        ("ORDER000001", "bad payer", "payer_openid"),
    ] {
        let refused = app
            .client
            .get_order(GetOrderRequest {
                out_trade_no: out_trade_no.into(),
                payer_openid: payer_openid.into(),
            })
            .await
            .unwrap_err();
        assert_status(&refused, Code::InvalidArgument, field);
    }
}

#[tokio::test]
async fn mark_paid_is_idempotent_and_refuses_conflicts() {
    let mut app = spawn_app().await;
    let merchant = app.merchant("shop").await;
    let order = app.order(&merchant, 101).await;
    let tx = transaction_id();

    let (paid, already) = app.pay(&order, &tx, 101).await.unwrap();
    assert!(!already);
    assert_eq!(paid.status, "PAID");
    assert_eq!(paid.transaction_id, tx);
    assert_eq!(paid.paid_at_ms, 1_733_300_000_000);
    assert_eq!(paid.amount_fen, 101);

    // The same transaction again: success, already paid, nothing changed.
    let (again, already) = app.pay(&order, &tx, 101).await.unwrap();
    assert!(already);
    assert_eq!(again, paid);
    assert_eq!(app.get(&order.out_trade_no).await, paid);

    let wrong_amount = app.pay(&order, &tx, 100).await.unwrap_err();
    assert_status(
        &wrong_amount,
        Code::FailedPrecondition,
        "amount 100 does not match the order's 101",
    );
    let other_tx = app.pay(&order, &transaction_id(), 101).await.unwrap_err();
    assert_status(
        &other_tx,
        Code::FailedPrecondition,
        "already paid by another transaction",
    );
    assert_eq!(app.get(&order.out_trade_no).await, paid);

    // A CREATED order with another amount stays CREATED.
    let open = app.order(&merchant, 101).await;
    let refused = app.pay(&open, &transaction_id(), 100).await.unwrap_err();
    assert_status(
        &refused,
        Code::FailedPrecondition,
        "amount 100 does not match the order's 101",
    );
    // One transaction pays one order.
    let reused = app.pay(&open, &tx, 101).await.unwrap_err();
    assert_status(
        &reused,
        Code::FailedPrecondition,
        "already paid another order",
    );
    assert_eq!(app.get(&open.out_trade_no).await, open);

    // A CLOSED order takes no payment.
    app.client
        .close_order(CloseOrderRequest {
            out_trade_no: open.out_trade_no.clone(),
        })
        .await
        .unwrap();
    let closed = app.pay(&open, &transaction_id(), 101).await.unwrap_err();
    assert_status(
        &closed,
        Code::FailedPrecondition,
        &format!("order {} is CLOSED", open.out_trade_no),
    );

    let unknown = app
        .client
        .mark_paid(MarkPaidRequest {
            out_trade_no: trade_no(),
            transaction_id: transaction_id(),
            amount_fen: 1,
            paid_at_ms: 1,
        })
        .await
        .unwrap_err();
    assert_status(&unknown, Code::NotFound, "does not exist");

    for (transaction_id, amount_fen, paid_at_ms, field) in [
        ("", 101, 1, "transaction_id"),
        ("4200-1", 101, 1, "transaction_id"),
        ("4200", 0, 1, "amount_fen"),
        ("4200", 101, -1, "paid_at_ms"),
    ] {
        let refused = app
            .client
            .mark_paid(MarkPaidRequest {
                out_trade_no: order.out_trade_no.clone(),
                transaction_id: transaction_id.into(),
                amount_fen,
                paid_at_ms,
            })
            .await
            .unwrap_err();
        assert_status(&refused, Code::InvalidArgument, field);
    }

    // paid_at_ms 0: the ledger's clock.
    let now_paid = app.order(&merchant, 5).await;
    let reply = app
        .client
        .mark_paid(MarkPaidRequest {
            out_trade_no: now_paid.out_trade_no.clone(),
            transaction_id: transaction_id(),
            amount_fen: 5,
            paid_at_ms: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(reply.order.unwrap().paid_at_ms >= now_paid.created_at_ms);
}

#[tokio::test]
async fn close_order_closes_created_orders_only() {
    let mut app = spawn_app().await;
    let merchant = app.merchant("shop").await;
    let order = app.order(&merchant, 100).await;
    let close = |out_trade_no: &str| CloseOrderRequest {
        out_trade_no: out_trade_no.into(),
    };

    let closed = app
        .client
        .close_order(close(&order.out_trade_no))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        closed,
        Order {
            status: "CLOSED".into(),
            ..order.clone()
        }
    );
    let again = app
        .client
        .close_order(close(&order.out_trade_no))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, closed);

    let paid = app.order(&merchant, 100).await;
    app.pay(&paid, &transaction_id(), 100).await.unwrap();
    let refused = app
        .client
        .close_order(close(&paid.out_trade_no))
        .await
        .unwrap_err();
    assert_status(
        &refused,
        Code::FailedPrecondition,
        &format!("order {} is PAID", paid.out_trade_no),
    );

    let unknown = app
        .client
        .close_order(close(&trade_no()))
        .await
        .unwrap_err();
    assert_status(&unknown, Code::NotFound, "does not exist");
    let malformed = app.client.close_order(close("no")).await.unwrap_err();
    assert_status(&malformed, Code::InvalidArgument, "out_trade_no");
}

#[tokio::test]
async fn list_orders_pages_newest_first_with_filters() {
    let mut app = spawn_app().await;
    let merchant = app.merchant("shop").await;
    let neighbour = app.merchant("neighbour").await;
    let mut created = Vec::new();
    for i in 0..7 {
        let order = app.order(&merchant, 100 + i).await;
        if i % 2 == 0 {
            app.pay(&order, &transaction_id(), 100 + i).await.unwrap();
        }
        created.push(app.get(&order.out_trade_no).await);
        app.order(&neighbour, 1).await;
    }
    created.sort_by(|a, b| {
        (b.created_at_ms, &b.out_trade_no).cmp(&(a.created_at_ms, &a.out_trade_no))
    });
    let list =
        |status: &str, withdrawn: Option<bool>, limit: u32, cursor: &str| ListOrdersRequest {
            merchant_id: merchant.merchant_id.clone(),
            status: status.into(),
            withdrawn,
            limit,
            cursor: cursor.into(),
        };

    let mut listed = Vec::new();
    let mut cursor = String::new();
    let mut pages = 0;
    loop {
        let page = app
            .client
            .list_orders(list("", None, 3, &cursor))
            .await
            .unwrap()
            .into_inner();
        pages += 1;
        assert!(page.orders.len() <= 3);
        listed.extend(page.orders);
        if page.next_cursor.is_empty() {
            break;
        }
        cursor = page.next_cursor;
    }
    assert_eq!(pages, 3);
    assert_eq!(listed, created);

    let paid = app
        .client
        .list_orders(list("PAID", None, 0, ""))
        .await
        .unwrap()
        .into_inner();
    let expected: Vec<Order> = created
        .iter()
        .filter(|o| o.status == "PAID")
        .cloned()
        .collect();
    assert_eq!(paid.orders, expected);
    assert_eq!(paid.orders.len(), 4);
    assert_eq!(paid.next_cursor, "");

    // Nothing is withdrawn yet.
    let held = app
        .client
        .list_orders(list("", Some(true), 0, ""))
        .await
        .unwrap()
        .into_inner();
    assert!(held.orders.is_empty());
    let free = app
        .client
        .list_orders(list("", Some(false), 500, ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(free.orders, created);

    for (request, field) in [
        (list("paid", None, 0, ""), "status"),
        (list("", None, 501, ""), "limit"),
        (list("", None, 0, "not-a-cursor"), "cursor"),
        (
            ListOrdersRequest {
                merchant_id: String::new(),
                ..list("", None, 0, "")
            },
            "merchant_id",
        ),
    ] {
        let refused = app.client.list_orders(request).await.unwrap_err();
        assert_status(&refused, Code::InvalidArgument, field);
    }
}

#[tokio::test]
async fn readiness_and_health() {
    let mut app = spawn_app().await;
    let ready = app
        .client
        .readiness(ReadinessRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        ready.dependencies.get("orders:sqlite").map(String::as_str),
        Some("ok")
    );
    assert_eq!(ready.dependencies.len(), 1);

    let mut health = tonic_health::pb::health_client::HealthClient::new(app.channel.clone());
    for service in [
        "minipay.ledger.v1.LedgerService",
        "minipay.ledger.v1.WithdrawalService",
    ] {
        let status = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            status.status,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32,
            "{service}"
        );
    }
}

// ------------------------------------------------------------- withdrawals

#[tokio::test]
async fn withdraw_settles_every_free_paid_order_at_once() {
    let mut app = spawn_app().await;
    let merchant = app.payout_merchant("小明的店").await;
    let a = app.paid(&merchant, 100).await;
    let b = app.paid(&merchant, 250).await;
    let open = app.order(&merchant, 7).await;
    assert_eq!(app.balance(&merchant).await, (350, 2, 0, 0));

    let reply = app.withdraw(&merchant, None).await.unwrap();
    assert!(!reply.replayed);
    let w = reply.withdrawal.unwrap();
    assert_eq!(w.withdrawal_id.len(), 21);
    assert!(w.withdrawal_id.starts_with('W'));
    assert!(
        w.withdrawal_id
            .bytes()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    );
    assert_eq!(w.merchant_id, merchant.merchant_id);
    assert_eq!((w.amount_fen, w.order_count), (350, 2));
    assert_eq!(w.status, "PAYING_OUT");
    assert_eq!(w.failure_reason, "");
    assert_eq!(w.payout_openid, PAYOUT);
    assert!(w.created_at_ms > 1_600_000_000_000);
    assert_eq!(w.updated_at_ms, w.created_at_ms);
    assert_eq!(app.balance(&merchant).await, (0, 0, 350, 0));
    for order in [&a, &b] {
        assert_eq!(
            app.get(&order.out_trade_no).await.withdrawal_id,
            w.withdrawal_id
        );
    }
    assert_eq!(app.get(&open.out_trade_no).await.withdrawal_id, "");

    let found = app
        .withdrawals
        .get_withdrawal(GetWithdrawalRequest {
            merchant_id: merchant.merchant_id.clone(),
            withdrawal_id: w.withdrawal_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(found, w);

    // Its orders, newest first, one page at a time.
    let mut listed = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = app
            .withdrawals
            .list_withdrawal_orders(ListWithdrawalOrdersRequest {
                merchant_id: merchant.merchant_id.clone(),
                withdrawal_id: w.withdrawal_id.clone(),
                limit: 1,
                cursor: cursor.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(page.orders.len() <= 1);
        listed.extend(page.orders);
        if page.next_cursor.is_empty() {
            break;
        }
        cursor = page.next_cursor;
    }
    let mut expected = vec![
        app.get(&a.out_trade_no).await,
        app.get(&b.out_trade_no).await,
    ];
    expected.sort_by(|x, y| {
        (y.created_at_ms, &y.out_trade_no).cmp(&(x.created_at_ms, &x.out_trade_no))
    });
    assert_eq!(listed, expected);

    // Held orders show in ListOrders' withdrawn filter.
    let held = app
        .client
        .list_orders(ListOrdersRequest {
            merchant_id: merchant.merchant_id.clone(),
            status: String::new(),
            withdrawn: Some(true),
            limit: 0,
            cursor: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(held.orders.len(), 2);

    // Nothing left: code, message prefix and reason.
    let nothing = app.withdraw(&merchant, None).await.unwrap_err();
    assert_status(&nothing, Code::FailedPrecondition, "");
    assert!(
        nothing
            .message()
            .starts_with(ledger_service::error::NOTHING_TO_WITHDRAW_MESSAGE),
        "{nothing:?}"
    );
    assert!(nothing.message().starts_with("nothing to withdraw"));
    assert_eq!(
        nothing
            .metadata()
            .get("x-minipay-reason")
            .and_then(|v| v.to_str().ok()),
        Some("nothing-to-withdraw")
    );

    // The audit of a fresh ledger is clean, every merchant and this one.
    let audit = app
        .withdrawals
        .audit(AuditRequest {
            merchant_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!audit.violations_truncated);
    assert!(audit.merchants.iter().all(|m| m.violations.is_empty()));
    let mine = app
        .withdrawals
        .audit(AuditRequest {
            merchant_id: merchant.merchant_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(mine.merchants.len(), 1);
    let m = &mine.merchants[0];
    assert_eq!(
        (
            m.paid_fen,
            m.paid_orders,
            m.withdrawable_fen,
            m.live_withdrawn_fen,
            m.paying_out_fen,
            m.paid_out_fen
        ),
        (350, 2, 0, 350, 350, 0)
    );
}

#[tokio::test]
async fn withdraw_refusals_carry_their_codes() {
    let mut app = spawn_app().await;

    let plain = app.merchant("no payout account").await;
    app.paid(&plain, 10).await;
    let refused = app.withdraw(&plain, None).await.unwrap_err();
    assert_status(&refused, Code::FailedPrecondition, "");
    assert!(
        refused
            .message()
            .starts_with("merchant has no payout account"),
        "{refused:?}"
    );
    assert!(refused.metadata().get("x-minipay-reason").is_none());
    assert_eq!(app.balance(&plain).await, (10, 1, 0, 0));

    let unknown = Merchant {
        merchant_id: MerchantId::generate().into_string(),
        ..plain.clone()
    };
    assert_status(
        &app.withdraw(&unknown, None).await.unwrap_err(),
        Code::NotFound,
        "does not exist",
    );
    let balance = app
        .withdrawals
        .get_balance(GetBalanceRequest {
            merchant_id: unknown.merchant_id.clone(),
        })
        .await
        .unwrap_err();
    assert_status(&balance, Code::NotFound, "does not exist");
    let listed = app
        .withdrawals
        .list_withdrawals(ListWithdrawalsRequest {
            merchant_id: unknown.merchant_id.clone(),
            limit: 0,
            cursor: String::new(),
        })
        .await
        .unwrap_err();
    assert_status(&listed, Code::NotFound, "does not exist");
    let audited = app
        .withdrawals
        .audit(AuditRequest {
            merchant_id: unknown.merchant_id.clone(),
        })
        .await
        .unwrap_err();
    assert_status(&audited, Code::NotFound, "does not exist");

    // Suspended through the store, as an operator's tool would.
    let suspended = app.payout_merchant("suspended").await;
    app.paid(&suspended, 10).await;
    let store = ledger_service::store::connect(&app.database_url)
        .await
        .unwrap();
    store
        .set_merchant_status(
            &MerchantId::parse(suspended.merchant_id.as_str()).unwrap(),
            MerchantStatus::Suspended,
        )
        .await
        .unwrap();
    assert_status(
        &app.withdraw(&suspended, None).await.unwrap_err(),
        Code::FailedPrecondition,
        "is SUSPENDED",
    );

    let merchant = app.payout_merchant("shop").await;
    for (merchant_id, key, fingerprint, field) in [
        (String::new(), None, "", "merchant_id"),
        ("m1".to_owned(), None, "", "merchant_id"),
        (
            merchant.merchant_id.clone(),
            Some(String::new()),
            "",
            "idempotency_key",
        ),
        (
            merchant.merchant_id.clone(),
            Some("has space".into()),
            "",
            "idempotency_key",
        ),
        (
            merchant.merchant_id.clone(),
            Some("k".repeat(129)),
            "",
            "idempotency_key",
        ),
        (
            merchant.merchant_id.clone(),
            None,
            "a b",
            "request_fingerprint",
        ),
        (
            merchant.merchant_id.clone(),
            None,
            &*"f".repeat(129),
            "request_fingerprint",
        ),
    ] {
        let refused = app
            .withdrawals
            .withdraw(WithdrawRequest {
                merchant_id,
                idempotency_key: key,
                request_fingerprint: fingerprint.into(),
            })
            .await
            .unwrap_err();
        assert_status(&refused, Code::InvalidArgument, field);
    }
    for (limit, cursor, field) in [(501, "", "limit"), (0, "nope", "cursor")] {
        let refused = app
            .withdrawals
            .list_withdrawals(ListWithdrawalsRequest {
                merchant_id: merchant.merchant_id.clone(),
                limit,
                cursor: cursor.into(),
            })
            .await
            .unwrap_err();
        assert_status(&refused, Code::InvalidArgument, field);
    }
}

#[tokio::test]
async fn idempotency_keys_replay_and_refuse_over_the_wire() {
    let mut app = spawn_app().await;
    let merchant = app.payout_merchant("idempotent").await;

    // Nothing to withdraw binds nothing.
    let nothing = app.withdraw(&merchant, Some("key-1")).await.unwrap_err();
    assert_status(&nothing, Code::FailedPrecondition, "nothing to withdraw");
    app.paid(&merchant, 100).await;
    let first = app.withdraw(&merchant, Some("key-1")).await.unwrap();
    assert!(!first.replayed);
    let w = first.withdrawal.unwrap();
    assert_eq!(w.amount_fen, 100);

    // A replay: the same withdrawal, replayed, nothing moved.
    app.paid(&merchant, 5).await;
    let again = app.withdraw(&merchant, Some("key-1")).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.withdrawal.unwrap(), w);
    assert_eq!(app.balance(&merchant).await, (5, 1, 100, 0));

    // The key with another request: refused.
    let reused = app
        .withdrawals
        .withdraw(WithdrawRequest {
            merchant_id: merchant.merchant_id.clone(),
            idempotency_key: Some("key-1".into()),
            request_fingerprint: "sha256:other".into(),
        })
        .await
        .unwrap_err();
    assert_status(&reused, Code::FailedPrecondition, "different request");
    assert_eq!(app.balance(&merchant).await, (5, 1, 100, 0));

    // Another merchant's key space.
    let other = app.payout_merchant("other").await;
    app.paid(&other, 9).await;
    let theirs = app.withdraw(&other, Some("key-1")).await.unwrap();
    assert!(!theirs.replayed);
    assert_eq!(theirs.withdrawal.unwrap().amount_fen, 9);
}

#[tokio::test]
async fn payouts_complete_or_fail_and_release() {
    let mut app = spawn_app().await;
    let merchant = app.payout_merchant("payouts").await;
    app.paid(&merchant, 100).await;
    let first = app
        .withdraw(&merchant, None)
        .await
        .unwrap()
        .withdrawal
        .unwrap();
    let held = app.paid(&merchant, 30).await;
    let second = app
        .withdraw(&merchant, None)
        .await
        .unwrap()
        .withdrawal
        .unwrap();
    app.paid(&merchant, 4).await;
    let third = app
        .withdraw(&merchant, None)
        .await
        .unwrap()
        .withdrawal
        .unwrap();

    // The payout loop's list: PAYING_OUT, oldest first, paginated.
    let mut paying = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = app
            .withdrawals
            .list_paying_out(ListPayingOutRequest {
                limit: 2,
                cursor: cursor.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        paying.extend(page.withdrawals);
        if page.next_cursor.is_empty() {
            break;
        }
        cursor = page.next_cursor;
    }
    let ids = |list: &[Withdrawal]| -> Vec<String> {
        list.iter().map(|w| w.withdrawal_id.clone()).collect()
    };
    let mut oldest_first = vec![first.clone(), second.clone(), third.clone()];
    oldest_first.sort_by(|a, b| {
        (a.created_at_ms, &a.withdrawal_id).cmp(&(b.created_at_ms, &b.withdrawal_id))
    });
    assert_eq!(ids(&paying), ids(&oldest_first));

    let complete = |id: &str| CompletePayoutRequest {
        withdrawal_id: id.into(),
    };
    let fail = |id: &str, reason: &str| FailPayoutRequest {
        withdrawal_id: id.into(),
        reason: reason.into(),
    };

    // Complete; again: success, unchanged.
    let done = app
        .withdrawals
        .complete_payout(complete(&first.withdrawal_id))
        .await
        .unwrap()
        .into_inner();
    assert!(!done.unchanged);
    let paid_out = done.withdrawal.unwrap();
    assert_eq!(paid_out.status, "PAID_OUT");
    let again = app
        .withdrawals
        .complete_payout(complete(&first.withdrawal_id))
        .await
        .unwrap()
        .into_inner();
    assert!(again.unchanged);
    assert_eq!(again.withdrawal.unwrap(), paid_out);
    let too_late = app
        .withdrawals
        .fail_payout(fail(&first.withdrawal_id, "SYSTEMERROR"))
        .await
        .unwrap_err();
    assert_status(&too_late, Code::FailedPrecondition, "is PAID_OUT");

    // Fail: its orders are withdrawable again, in the same call.
    let failed = app
        .withdrawals
        .fail_payout(fail(&second.withdrawal_id, "NAME_MISMATCH: 姓名校验出错"))
        .await
        .unwrap()
        .into_inner();
    assert!(!failed.unchanged);
    let failed = failed.withdrawal.unwrap();
    assert_eq!(failed.status, "FAILED");
    assert_eq!(failed.failure_reason, "NAME_MISMATCH: 姓名校验出错");
    assert_eq!(app.get(&held.out_trade_no).await.withdrawal_id, "");
    assert_eq!(app.balance(&merchant).await, (30, 1, 4, 100));
    let again = app
        .withdrawals
        .fail_payout(fail(&second.withdrawal_id, "other"))
        .await
        .unwrap()
        .into_inner();
    assert!(again.unchanged);
    assert_eq!(again.withdrawal.unwrap(), failed);
    let never = app
        .withdrawals
        .complete_payout(complete(&second.withdrawal_id))
        .await
        .unwrap_err();
    assert_status(&never, Code::FailedPrecondition, "is FAILED");

    let paying = app
        .withdrawals
        .list_paying_out(ListPayingOutRequest {
            limit: 0,
            cursor: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ids(&paying.withdrawals), vec![third.withdrawal_id.clone()]);

    // The merchant's list, newest first, shows all three as they are now.
    let listed = app
        .withdrawals
        .list_withdrawals(ListWithdrawalsRequest {
            merchant_id: merchant.merchant_id.clone(),
            limit: 0,
            cursor: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let mut newest_first = oldest_first.clone();
    newest_first.reverse();
    assert_eq!(ids(&listed.withdrawals), ids(&newest_first));
    assert_eq!(listed.next_cursor, "");
    let statuses: Vec<&str> = listed
        .withdrawals
        .iter()
        .map(|w| w.status.as_str())
        .collect();
    let expected: Vec<&str> = newest_first
        .iter()
        .map(|w| {
            if w.withdrawal_id == first.withdrawal_id {
                "PAID_OUT"
            } else if w.withdrawal_id == second.withdrawal_id {
                "FAILED"
            } else {
                "PAYING_OUT"
            }
        })
        .collect();
    assert_eq!(statuses, expected);

    for (request, code, says) in [
        (complete(""), Code::InvalidArgument, "withdrawal_id"),
        (complete("W-1"), Code::InvalidArgument, "withdrawal_id"),
        (
            complete("WNOSUCHWITHDRAWAL0000"),
            Code::NotFound,
            "does not exist",
        ),
    ] {
        let refused = app.withdrawals.complete_payout(request).await.unwrap_err();
        assert_status(&refused, code, says);
    }
    for (request, code, says) in [
        (
            fail(&third.withdrawal_id, ""),
            Code::InvalidArgument,
            "reason",
        ),
        (
            fail(&third.withdrawal_id, "a\nb"),
            Code::InvalidArgument,
            "reason",
        ),
        (
            fail("WNOSUCHWITHDRAWAL0000", "x"),
            Code::NotFound,
            "does not exist",
        ),
    ] {
        let refused = app.withdrawals.fail_payout(request).await.unwrap_err();
        assert_status(&refused, code, says);
    }
}

#[tokio::test]
async fn another_merchants_withdrawal_is_not_found() {
    let mut app = spawn_app().await;
    let owner = app.payout_merchant("owner").await;
    let stranger = app.payout_merchant("stranger").await;
    app.paid(&owner, 100).await;
    let w = app
        .withdraw(&owner, None)
        .await
        .unwrap()
        .withdrawal
        .unwrap();

    let got = app
        .withdrawals
        .get_withdrawal(GetWithdrawalRequest {
            merchant_id: stranger.merchant_id.clone(),
            withdrawal_id: w.withdrawal_id.clone(),
        })
        .await
        .unwrap_err();
    assert_status(&got, Code::NotFound, "does not exist");
    let orders = app
        .withdrawals
        .list_withdrawal_orders(ListWithdrawalOrdersRequest {
            merchant_id: stranger.merchant_id.clone(),
            withdrawal_id: w.withdrawal_id.clone(),
            limit: 0,
            cursor: String::new(),
        })
        .await
        .unwrap_err();
    assert_status(&orders, Code::NotFound, "does not exist");
    // The same answer as for a withdrawal that never existed.
    let never = app
        .withdrawals
        .get_withdrawal(GetWithdrawalRequest {
            merchant_id: owner.merchant_id.clone(),
            withdrawal_id: "WNOSUCHWITHDRAWAL0000".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(never.code(), got.code());
    let theirs = app
        .withdrawals
        .list_withdrawals(ListWithdrawalsRequest {
            merchant_id: stranger.merchant_id.clone(),
            limit: 0,
            cursor: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(theirs.withdrawals.is_empty());
    for (merchant_id, withdrawal_id, field) in [
        ("", w.withdrawal_id.as_str(), "merchant_id"),
        (owner.merchant_id.as_str(), "", "withdrawal_id"),
        (owner.merchant_id.as_str(), "W_1", "withdrawal_id"),
    ] {
        let refused = app
            .withdrawals
            .get_withdrawal(GetWithdrawalRequest {
                merchant_id: merchant_id.into(),
                withdrawal_id: withdrawal_id.into(),
            })
            .await
            .unwrap_err();
        assert_status(&refused, Code::InvalidArgument, field);
    }
}
