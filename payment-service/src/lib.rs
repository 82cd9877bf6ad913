//! payment-service: everything that speaks WeChat Pay. It places orders
//! (ledger first, then unifiedorder), signs the `wx.requestPayment` fields,
//! verifies and logs every payment notification and forwards it to the
//! ledger, and reconciles orders whose notification never came.
//!
//! - [`serve`]: the gRPC server, the reconciliation loop and the payout loop,
//!   until shutdown.
//! - [`PaymentConfig`]: what it needs; [`PaymentMetrics`]: its counters,
//!   also answered over gRPC (`Metrics`) for the gateway's `/metrics`.
//! - `domain`: validated requests, payment states, notification outcomes.
//! - `service`: the rules (CreatePayment, notifications, settling a payment).
//! - `reconcile`: orderquery / closeorder for orders left unsettled.
//! - `payout`: the payout loop, paying PAYING_OUT withdrawals with WeChat's
//!   transfers (gettransferinfo first, the same partner_trade_no always).
//! - `grpc`: the `minipay.payment.v1.PaymentService` implementation.
//! - `ledger`: the ledger client with deadlines and sorted failures.
//! - `error`: [`PaymentError`] and its one mapping onto `tonic::Status`.
//! - [`store`]: [`store::PaymentStore`] and [`store::NotificationLog`] on
//!   MariaDB/MySQL or SQLite, with their migrations.

mod domain;
mod error;
mod grpc;
mod ledger;
mod payout;
mod reconcile;
mod service;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use common::AmountFen;
use common::config::DatabaseUrl;
use proto::ledger::v1::ledger_service_client::LedgerServiceClient;
use proto::ledger::v1::withdrawal_service_client::WithdrawalServiceClient;
use proto::payment::v1::payment_service_server::PaymentServiceServer;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use wechat::ids::OutTradeNoGenerator;
use wechat::{WechatClient, WechatConfig};

pub use domain::{
    DEFAULT_DESCRIPTION, MAX_DESCRIPTION_CHARS, NewNotification, NewPayment, Notification,
    NotifyOutcome, Payment, PaymentMetrics, PaymentState,
};
pub use error::PaymentError;
use grpc::Payments;
pub use ledger::LedgerError;
use service::Core;
pub use service::MAX_NOTIFY_BYTES;
use store::{MySqlPaymentStore, NotificationLog, PaymentStore, SqlitePaymentStore};

/// The path WeChat posts payment notifications to, on the gateway.
pub const NOTIFY_PATH: &str = "/wechat/notify/pay";

/// WeChat refuses closeorder within 5 minutes of ordering.
pub const WECHAT_CLOSE_MIN_AGE: Duration = Duration::from_secs(300);

#[derive(Debug, Clone)]
pub struct PaymentConfig {
    pub wechat: WechatConfig,
    pub database_url: DatabaseUrl,
    pub ledger: LedgerServiceClient<Channel>,
    /// The ledger's WithdrawalService, for the payout loop.
    /// [`PaymentConfig::new`] connects it (lazily) to `ledger_addr`; set it
    /// when the ledger listens elsewhere (e.g. on a port chosen at bind time).
    pub withdrawals: WithdrawalServiceClient<Channel>,
    /// `public_base_url` + [`NOTIFY_PATH`] (see [`notify_url`]).
    pub notify_url: String,
    /// For CreatePayment calls without a merchant_id.
    pub default_merchant: Option<String>,
    pub max_order_fen: AmountFen,
    /// How often reconciliation runs.
    pub reconcile_interval: Duration,
    /// How old an unsettled payment must be before WeChat is asked about it.
    pub reconcile_after: Duration,
    /// How old an unpaid order must be before it is closed (WeChat: 5 min).
    pub close_after: Duration,
    /// How often the payout loop pays PAYING_OUT withdrawals.
    pub payout_interval: Duration,
    /// The most CreatePayment spends on WeChat (retries included) and the
    /// deadline of each ledger call.
    pub call_deadline: Duration,
    /// Counters, shared with whoever serves `/metrics`.
    pub metrics: Arc<PaymentMetrics>,
}

impl PaymentConfig {
    /// The platform's configuration with the service's defaults: reconcile
    /// every minute, orders older than 2 minutes, close after WeChat's 5
    /// minutes (plus a margin), pay out every 5 s, 8 s for WeChat in CreatePayment.
    pub fn new(
        common: &common::config::Config,
        wechat: WechatConfig,
        ledger: LedgerServiceClient<Channel>,
    ) -> Self {
        Self {
            wechat,
            database_url: common.payment_database_url.clone(),
            ledger,
            withdrawals: WithdrawalServiceClient::new(lazy_channel(common.ledger_addr)),
            notify_url: notify_url(&common.public_base_url),
            default_merchant: common.default_merchant.clone(),
            max_order_fen: common.max_order_fen,
            reconcile_interval: Duration::from_secs(60),
            reconcile_after: Duration::from_secs(120),
            close_after: WECHAT_CLOSE_MIN_AGE + Duration::from_secs(30),
            payout_interval: Duration::from_secs(5),
            call_deadline: common.grpc_deadline.mul_f64(0.8),
            metrics: Arc::default(),
        }
    }
}

/// A channel to `addr`, connected on first use.
fn lazy_channel(addr: std::net::SocketAddr) -> Channel {
    #[allow(clippy::expect_used)]
    // "http://" and a socket address always make a valid URI.
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("http:// and a socket address make a valid URI");
    endpoint.connect_lazy()
}

/// The notify_url WeChat is given: `public_base_url` + [`NOTIFY_PATH`].
pub fn notify_url(public_base_url: &str) -> String {
    format!("{}{NOTIFY_PATH}", public_base_url.trim_end_matches('/'))
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot start payment-service: {0}")]
    Config(String),
    #[error("cannot start payment-service: {0}")]
    Store(#[from] store::StoreError),
    #[error("cannot start payment-service: {0}")]
    Wechat(#[from] wechat::WechatError),
    #[error("payment-service stopped: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("payment-service reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
}

fn check(cfg: &PaymentConfig) -> Result<(), ServeError> {
    let url = &cfg.notify_url;
    if !(url.starts_with("http://") || url.starts_with("https://"))
        || url.contains('?')
        || url.len() > 256
    {
        return Err(ServeError::Config(format!(
            "notify_url must be an http(s) URL of at most 256 characters without a query, got {url:?}"
        )));
    }
    for (name, value) in [
        ("reconcile_interval", cfg.reconcile_interval),
        ("payout_interval", cfg.payout_interval),
        ("call_deadline", cfg.call_deadline),
    ] {
        if value.is_zero() {
            return Err(ServeError::Config(format!("{name} must be above zero")));
        }
    }
    Ok(())
}

/// Connects the store (running migrations), starts reconciliation and the
/// payout loop, then serves gRPC on `listener` until `shutdown` is
/// cancelled; health turns NOT_SERVING first, and both loops stop before
/// this returns.
pub async fn serve(
    cfg: PaymentConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    check(&cfg)?;
    let (payments, notifications): (Arc<dyn PaymentStore>, Arc<dyn NotificationLog>) =
        match &cfg.database_url {
            DatabaseUrl::Sqlite(url) => {
                let store = Arc::new(SqlitePaymentStore::connect(url).await?);
                (store.clone(), store)
            }
            DatabaseUrl::MySql(url) => {
                let store = Arc::new(MySqlPaymentStore::connect(url).await?);
                (store.clone(), store)
            }
        };
    tracing::info!(
        payments = payments.backend(),
        sign_type = %cfg.wechat.sign_type,
        notify_url = %cfg.notify_url,
        "payment-service store ready"
    );
    let wechat = WechatClient::new(cfg.wechat)?;
    let payouts = payout::Payouts {
        wechat: wechat.clone(),
        withdrawals: cfg.withdrawals,
        timeout: cfg.call_deadline,
    };
    let core = Arc::new(Core {
        wechat,
        payments,
        notifications,
        ledger: ledger::Ledger::new(cfg.ledger, cfg.call_deadline),
        notify_url: cfg.notify_url,
        default_merchant: cfg.default_merchant,
        max_order: cfg.max_order_fen,
        call_deadline: cfg.call_deadline,
        reconcile_after: cfg.reconcile_after,
        close_after: cfg.close_after,
        metrics: cfg.metrics,
        out_trade_nos: OutTradeNoGenerator::new(),
        notification_ids: OutTradeNoGenerator::new(),
    });

    let stop_reconciling = shutdown.child_token();
    let reconciler = tokio::spawn(reconcile::run(
        core.clone(),
        cfg.reconcile_interval,
        stop_reconciling.clone(),
    ));
    let payer = tokio::spawn(payout::run(
        payouts,
        cfg.payout_interval,
        stop_reconciling.clone(),
    ));

    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<PaymentServiceServer<Payments>>().await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let stop = {
        let shutdown = shutdown.clone();
        async move {
            shutdown.cancelled().await;
            health
                .set_not_serving::<PaymentServiceServer<Payments>>()
                .await;
        }
    };
    let served = tonic::transport::Server::builder()
        .timeout(Duration::from_secs(30))
        .add_service(health_service)
        .add_service(reflection)
        .add_service(PaymentServiceServer::new(Payments { core }))
        .serve_with_incoming_shutdown(tonic::transport::server::TcpIncoming::from(listener), stop)
        .await;
    stop_reconciling.cancel();
    if let Err(e) = reconciler.await {
        tracing::error!(error = %e, "reconciliation task failed");
    }
    if let Err(e) = payer.await {
        tracing::error!(error = %e, "payout task failed");
    }
    served?;
    Ok(())
}
