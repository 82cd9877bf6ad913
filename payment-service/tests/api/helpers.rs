//! `spawn_app`: the real wechat-sandbox, the real ledger-service, and
//! payment-service on port 0
//! (each with its own SQLite file), and a tiny notify_url server that hands each
//! notification to HandlePayNotify and answers with its reply and status —
//! what the gateway does in production.

use common::testing::{TempDir, closed_port};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use common::config::DatabaseUrl;
use common::{AmountFen, OutTradeNo};
use ledger_service::LedgerConfig;
use payment_service::store::{NotificationLog, PaymentStore, SqlitePaymentStore};
use payment_service::{Notification, Payment, PaymentConfig, PaymentMetrics};
use proto::ledger::v1 as ledger_pb;
use proto::ledger::v1::ledger_service_client::LedgerServiceClient;
use proto::ledger::v1::withdrawal_service_client::WithdrawalServiceClient;
use proto::payment::v1 as pb;
use proto::payment::v1::payment_service_client::PaymentServiceClient;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Channel, Endpoint};
use wechat::client::parse_base_url;
use wechat::sign::sign_fields;
use wechat::{ApiKey, FieldMap, SignType, WechatConfig};
use wechat_sandbox::SandboxConfig;

/// How long anything eventual may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(20);
pub const OPENID: &str = "oTestPayer000000000000000001";

#[derive(Debug, Clone)]
pub struct Options {
    pub sign_type: SignType,
    pub wechat_timeout: Duration,
    pub call_deadline: Duration,
    pub reconcile_interval: Duration,
    pub reconcile_after: Duration,
    pub close_after: Duration,
    pub payout_interval: Duration,
    /// Whether the notify_url answers (else it names a closed port).
    pub notify_reachable: bool,
}

impl Default for Options {
    /// Reconciliation effectively off: nothing is old enough for it.
    fn default() -> Self {
        Self {
            sign_type: SignType::Md5,
            wechat_timeout: Duration::from_secs(3),
            call_deadline: Duration::from_secs(4),
            reconcile_interval: Duration::from_millis(100),
            reconcile_after: Duration::from_secs(3600),
            close_after: Duration::from_secs(3600),
            payout_interval: Duration::from_millis(100),
            notify_reachable: true,
        }
    }
}

impl Options {
    /// Fast reconciliation: due after 300 ms, closable after 1 s (the
    /// sandbox's own 5-minute rule is met by advancing its clock), and
    /// ORDERNOTEXIST closable after 2 × the 1 s call deadline.
    pub fn reconciling() -> Self {
        Self {
            wechat_timeout: Duration::from_millis(400),
            call_deadline: Duration::from_secs(1),
            reconcile_after: Duration::from_millis(300),
            close_after: Duration::from_secs(1),
            ..Self::default()
        }
    }
}

/// The real ledger-service on its own SQLite file, which can be stopped
/// and started again on the same address with the same orders.
pub struct Ledger {
    addr: SocketAddr,
    database_url: String,
    running: Option<(CancellationToken, JoinHandle<()>)>,
}

impl Ledger {
    async fn start(database_url: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut ledger = Ledger {
            addr: listener.local_addr().unwrap(),
            database_url,
            running: None,
        };
        ledger.run(listener);
        ledger
    }

    fn run(&mut self, listener: tokio::net::TcpListener) {
        let token = CancellationToken::new();
        let cfg = LedgerConfig {
            database_url: DatabaseUrl::Sqlite(self.database_url.clone()),
        };
        let serve = ledger_service::serve(cfg, listener, token.clone());
        let handle = tokio::spawn(async move { serve.await.unwrap() });
        self.running = Some((token, handle));
    }

    pub async fn stop(&mut self) {
        if let Some((token, handle)) = self.running.take() {
            token.cancel();
            handle.await.unwrap();
        }
    }

    pub async fn restart(&mut self) {
        self.stop().await;
        let listener = tokio::net::TcpListener::bind(self.addr).await.unwrap();
        self.run(listener);
    }
}

impl Drop for Ledger {
    fn drop(&mut self) {
        if let Some((token, _)) = &self.running {
            token.cancel();
        }
    }
}

pub struct App {
    pub payment: PaymentServiceClient<Channel>,
    pub payment_channel: Channel,
    pub ledger_client: LedgerServiceClient<Channel>,
    pub withdrawals: WithdrawalServiceClient<Channel>,
    pub ledger: Ledger,
    pub sandbox: String,
    pub http: reqwest::Client,
    pub merchant_id: String,
    pub metrics: Arc<PaymentMetrics>,
    pub store: SqlitePaymentStore,
    pub key: ApiKey,
    pub appid: String,
    pub mch_id: String,
    pub options: Options,
    payment_addr: SocketAddr,
    notify_url: String,
    database_url: String,
    payment_run: Option<(CancellationToken, JoinHandle<()>)>,
    shutdown: CancellationToken,
    _dir: TempDir,
}

impl Drop for App {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some((token, _)) = &self.payment_run {
            token.cancel();
        }
    }
}

/// The notify_url: what the gateway does with a notification.
async fn forward(State(client): State<PaymentServiceClient<Channel>>, body: Bytes) -> Response {
    let reply = client
        .clone()
        .handle_pay_notify(pb::HandlePayNotifyRequest {
            body: body.to_vec(),
        })
        .await;
    match reply {
        Ok(reply) => {
            let reply = reply.into_inner();
            let status = StatusCode::from_u16(reply.http_status as u16).unwrap();
            (
                status,
                [(CONTENT_TYPE, "text/xml; charset=utf-8")],
                reply.reply,
            )
                .into_response()
        }
        Err(status) => (StatusCode::SERVICE_UNAVAILABLE, status.to_string()).into_response(),
    }
}

fn channel(addr: SocketAddr) -> Channel {
    Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_lazy()
}

pub async fn spawn_app(options: Options) -> App {
    // Logs show with a failing test's output (RUST_LOG filters; default info).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_test_writer()
        .try_init();
    let shutdown = CancellationToken::new();

    let sandbox_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sandbox = format!("http://{}", sandbox_listener.local_addr().unwrap());
    let sandbox_cfg = SandboxConfig::defaults();
    let (key, appid, mch_id) = (
        sandbox_cfg.api_key.clone(),
        sandbox_cfg.appid.clone(),
        sandbox_cfg.mch_id.clone(),
    );
    tokio::spawn(wechat_sandbox::serve(
        sandbox_cfg,
        sandbox_listener,
        shutdown.clone(),
    ));

    let dir = TempDir(std::env::temp_dir().join(format!(
        "minipay-payment-api-{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    )));
    let database_url = format!("sqlite://{}", dir.0.join("payment.db").display());
    let ledger = Ledger::start(format!("sqlite://{}", dir.0.join("ledger.db").display())).await;
    let mut ledger_client = LedgerServiceClient::new(channel(ledger.addr));
    let withdrawals = WithdrawalServiceClient::new(channel(ledger.addr));
    let merchant_id = ledger_client
        .create_merchant(ledger_pb::CreateMerchantRequest {
            name: "Test Coffee".into(),
            payout_openid: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .merchant_id;

    let payment_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let payment_addr = payment_listener.local_addr().unwrap();
    let payment_channel = channel(payment_addr);
    let payment = PaymentServiceClient::new(payment_channel.clone());

    let notify_url = if options.notify_reachable {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}{}",
            listener.local_addr().unwrap(),
            payment_service::NOTIFY_PATH
        );
        let router = axum::Router::new()
            .route(payment_service::NOTIFY_PATH, axum::routing::post(forward))
            .with_state(payment.clone());
        let stop = shutdown.clone();
        tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await
        });
        url
    } else {
        format!(
            "http://127.0.0.1:{}{}",
            closed_port(),
            payment_service::NOTIFY_PATH
        )
    };

    let metrics = Arc::new(PaymentMetrics::default());
    let mut app = App {
        payment,
        payment_channel,
        ledger_client,
        withdrawals,
        ledger,
        sandbox,
        http: reqwest::Client::new(),
        merchant_id,
        metrics,
        // Replaced once the service has created the database.
        store: SqlitePaymentStore::connect(&database_url).await.unwrap(),
        key,
        appid,
        mch_id,
        options,
        payment_addr,
        notify_url,
        database_url,
        payment_run: None,
        shutdown,
        _dir: dir,
    };
    app.run_payment(payment_listener);
    app
}

impl App {
    fn config(&self) -> PaymentConfig {
        let o = &self.options;
        PaymentConfig {
            wechat: WechatConfig {
                appid: self.appid.clone(),
                app_secret: SandboxConfig::defaults().app_secret,
                mch_id: self.mch_id.clone(),
                api_key: self.key.clone(),
                sign_type: o.sign_type,
                api_base: parse_base_url(&self.sandbox).unwrap(),
                pay_base: parse_base_url(&self.sandbox).unwrap(),
                timeout: o.wechat_timeout,
                client_identity: None,
            },
            database_url: DatabaseUrl::Sqlite(self.database_url.clone()),
            ledger: self.ledger_client.clone(),
            withdrawals: self.withdrawals.clone(),
            notify_url: self.notify_url.clone(),
            default_merchant: Some(self.merchant_id.clone()),
            max_order_fen: AmountFen::positive(100_000).unwrap(),
            reconcile_interval: o.reconcile_interval,
            reconcile_after: o.reconcile_after,
            close_after: o.close_after,
            payout_interval: o.payout_interval,
            call_deadline: o.call_deadline,
            metrics: self.metrics.clone(),
        }
    }

    fn run_payment(&mut self, listener: tokio::net::TcpListener) {
        let token = self.shutdown.child_token();
        let serve = payment_service::serve(self.config(), listener, token.clone());
        let handle = tokio::spawn(async move { serve.await.unwrap() });
        self.payment_run = Some((token, handle));
    }

    /// Stops payment-service and starts it again on the same database and
    /// address, with `options`.
    pub async fn restart_payment(&mut self, options: Options) {
        if let Some((token, handle)) = self.payment_run.take() {
            token.cancel();
            handle.await.unwrap();
        }
        self.options = options;
        let listener = tokio::net::TcpListener::bind(self.payment_addr)
            .await
            .unwrap();
        self.run_payment(listener);
    }

    pub fn request(&self, amount_fen: i64) -> pb::CreatePaymentRequest {
        pb::CreatePaymentRequest {
            openid: OPENID.into(),
            merchant_id: String::new(),
            amount_fen,
            description: "一杯咖啡 ☕".into(),
            client_ip: "203.0.113.9".into(),
        }
    }

    pub async fn create(
        &self,
        amount_fen: i64,
    ) -> Result<pb::CreatePaymentResponse, tonic::Status> {
        self.payment
            .clone()
            .create_payment(self.request(amount_fen))
            .await
            .map(tonic::Response::into_inner)
    }

    pub async fn notify(&self, body: impl Into<Vec<u8>>) -> pb::HandlePayNotifyResponse {
        self.payment
            .clone()
            .handle_pay_notify(pb::HandlePayNotifyRequest { body: body.into() })
            .await
            .unwrap()
            .into_inner()
    }

    pub async fn order(&self, no: &str) -> ledger_pb::Order {
        self.ledger_client
            .clone()
            .get_order(ledger_pb::GetOrderRequest {
                out_trade_no: no.into(),
                payer_openid: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
    }

    pub async fn orders(&self) -> Vec<ledger_pb::Order> {
        self.ledger_client
            .clone()
            .list_orders(ledger_pb::ListOrdersRequest {
                merchant_id: self.merchant_id.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .orders
    }

    pub async fn payment(&self, no: &str) -> Payment {
        self.store
            .get(&OutTradeNo::parse(no).unwrap())
            .await
            .unwrap()
            .unwrap()
    }

    pub async fn notifications(&self, no: &str) -> Vec<Notification> {
        self.store.for_order(no).await.unwrap()
    }

    pub async fn sandbox_post(&self, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.sandbox))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Replaces the sandbox's faults.
    pub async fn faults(&self, faults: Value) {
        let (status, reply) = self.sandbox_post("/sandbox/faults", faults).await;
        assert_eq!(status, 200, "{reply}");
    }

    pub async fn advance_sandbox_clock(&self, secs: u64) {
        let (status, reply) = self
            .sandbox_post("/sandbox/clock", json!({ "advance_secs": secs }))
            .await;
        assert_eq!(status, 200, "{reply}");
    }

    /// The user pays (or fails to): `{"out_trade_no"}` or `{"prepay_id"}`.
    pub async fn user_pays(&self, body: Value) -> Value {
        let (status, reply) = self.sandbox_post("/sandbox/pay", body).await;
        assert_eq!(status, 200, "{reply}");
        reply
    }

    /// The order as the sandbox sees it; `None` when WeChat never took it.
    pub async fn sandbox_order(&self, no: &str) -> Option<Value> {
        let response = self
            .http
            .get(format!("{}/sandbox/orders/{no}", self.sandbox))
            .send()
            .await
            .unwrap();
        match response.status().as_u16() {
            404 => None,
            200 => Some(response.json().await.unwrap()),
            other => panic!("sandbox order: HTTP {other}"),
        }
    }

    pub async fn sandbox_attempts(&self, no: &str) -> Vec<Value> {
        let reply: Value = self
            .http
            .get(format!(
                "{}/sandbox/notifications?out_trade_no={no}",
                self.sandbox
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        reply["attempts"].as_array().unwrap().clone()
    }

    /// A notification for `no` as WeChat would send it (before signing).
    pub fn notification(&self, no: &str, total_fee: i64, transaction_id: &str) -> FieldMap {
        let mut fields = FieldMap::new();
        fields
            .set("return_code", "SUCCESS")
            .set("return_msg", "OK")
            .set("appid", self.appid.as_str())
            .set("mch_id", self.mch_id.as_str())
            .set("nonce_str", wechat::ids::nonce_str())
            .set("result_code", "SUCCESS")
            .set("openid", OPENID)
            .set("is_subscribe", "N")
            .set("trade_type", "JSAPI")
            .set("bank_type", "OTHERS")
            .set("total_fee", total_fee.to_string())
            .set("fee_type", "CNY")
            .set("cash_fee", total_fee.to_string())
            .set("transaction_id", transaction_id)
            .set("out_trade_no", no)
            .set("time_end", "20261204120000");
        if self.options.sign_type == SignType::HmacSha256 {
            fields.set("sign_type", "HMAC-SHA256");
        }
        fields
    }

    /// Signed with the merchant's key and the configured sign type.
    pub fn signed(&self, mut fields: FieldMap) -> Vec<u8> {
        sign_fields(&mut fields, &self.key, self.options.sign_type);
        fields.to_xml().unwrap().into_bytes()
    }
}

/// Polls `check` until it yields `Some`, failing the test after [`PATIENCE`].
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let give_up = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < give_up,
            "gave up waiting for {what} after {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the ledger's order has `status`.
pub async fn ledger_status(app: &App, no: &str, status: &str) -> ledger_pb::Order {
    eventually(&format!("order {no} {status} in the ledger"), || async {
        let order = app.order(no).await;
        (order.status == status).then_some(order)
    })
    .await
}

/// The reply's return_code.
pub fn return_code(reply: &pb::HandlePayNotifyResponse) -> String {
    let map = FieldMap::from_xml(&reply.reply).unwrap();
    map.get("return_code").unwrap().to_owned()
}
