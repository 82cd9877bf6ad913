//! ledger-service over gRPC on 127.0.0.1:0 with a SQLite file: every RPC's
//! success and the codes and messages its callers rely on, readiness and
//! health.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use common::config::DatabaseUrl;
use ledger_service::LedgerConfig;
use ledger_service::domain::{MerchantId, MerchantStatus};
use proto::ledger::v1::ledger_service_client::LedgerServiceClient;
use proto::ledger::v1::{
    CloseOrderRequest, CreateMerchantRequest, CreateOrderRequest, GetMerchantRequest,
    GetOrderRequest, ListOrdersRequest, MarkPaidRequest, Merchant, Order, ReadinessRequest,
};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tonic::{Code, Status};

struct App {
    client: LedgerServiceClient<Channel>,
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
    let status = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "minipay.ledger.v1.LedgerService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        status.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
}
