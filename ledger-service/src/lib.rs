//! ledger-service: the single owner of money. Merchants, their orders and
//! the orders' states (`CREATED → PAID → (REFUNDED)`, `CREATED → CLOSED`),
//! and withdrawals (`PAYING_OUT → PAID_OUT | FAILED`): the atomic settlement
//! of a merchant's paid orders, claim first and sum what was claimed. No
//! other service writes these tables.
//!
//! - [`serve`]: start the gRPC server on a listener until shutdown.
//! - [`domain`]: the validated types every input is parsed into.
//! - `grpc`: the `minipay.ledger.v1.LedgerService` and `WithdrawalService`
//!   implementations (proto ⇄ domain at the edge).
//! - [`error`]: [`LedgerError`] and its one mapping onto `tonic::Status`
//!   (with the refusal messages and reason callers match on).
//! - [`store`]: [`store::LedgerStore`] and [`store::WithdrawalStore`] on
//!   MariaDB/MySQL or SQLite, with their migrations; [`store::connect`] for
//!   tools that share the database.

pub mod domain;
pub mod error;
mod grpc;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use common::config::DatabaseUrl;
use proto::ledger::v1::ledger_service_server::LedgerServiceServer;
use proto::ledger::v1::withdrawal_service_server::WithdrawalServiceServer;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use error::LedgerError;
use grpc::Ledger;

/// The longest any call may run before the server answers DEADLINE_EXCEEDED.
const SERVER_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct LedgerConfig {
    pub database_url: DatabaseUrl,
}

impl LedgerConfig {
    pub fn new(common: &common::config::Config) -> Self {
        Self {
            database_url: common.ledger_database_url.clone(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot start ledger-service: {0}")]
    Store(#[from] store::StoreError),
    #[error("ledger-service stopped: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("ledger-service reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
}

/// Connects the store (running migrations), then serves gRPC on `listener`
/// until `shutdown` is cancelled; health turns NOT_SERVING first.
pub async fn serve(
    cfg: LedgerConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let (store, withdrawals) = store::connect_both(&cfg.database_url).await?;
    tracing::info!(orders = store.backend(), "ledger-service store ready");
    let ledger = Arc::new(Ledger { store, withdrawals });

    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<LedgerServiceServer<Ledger>>().await;
    health
        .set_serving::<WithdrawalServiceServer<Ledger>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .build_v1()?;

    let stop = {
        let shutdown = shutdown.clone();
        async move {
            shutdown.cancelled().await;
            health
                .set_not_serving::<LedgerServiceServer<Ledger>>()
                .await;
            health
                .set_not_serving::<WithdrawalServiceServer<Ledger>>()
                .await;
        }
    };
    tonic::transport::Server::builder()
        .timeout(SERVER_TIMEOUT)
        .add_service(health_service)
        .add_service(reflection)
        .add_service(LedgerServiceServer::from_arc(ledger.clone()))
        .add_service(WithdrawalServiceServer::from_arc(ledger))
        .serve_with_incoming_shutdown(tonic::transport::server::TcpIncoming::from(listener), stop)
        .await?;
    Ok(())
}
