//! What the gateway needs from the outside: its gRPC clients and limits.

use std::time::Duration;

use common::AmountFen;
use ipnet::IpNet;
use proto::auth::v1::auth_service_client::AuthServiceClient;
use proto::auth::v1::merchant_key_service_client::MerchantKeyServiceClient;
use proto::ledger::v1::ledger_service_client::LedgerServiceClient;
use proto::ledger::v1::withdrawal_service_client::WithdrawalServiceClient;
use proto::payment::v1::payment_service_client::PaymentServiceClient;
use tonic::transport::{Channel, Endpoint};

/// JSON bodies up to this size (`docs/http-api.md`: 64 KiB).
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// WeChat's XML notification bodies up to this size (`docs/http-api.md`:
/// 64 KiB, whatever `body_limit` says about JSON).
pub const NOTIFY_BODY_LIMIT: usize = 64 * 1024;

/// The longest a `/readyz` probe waits for a service.
pub const READINESS_DEADLINE: Duration = Duration::from_secs(2);

/// The longest `/metrics` waits for payment-service's counters.
pub const METRICS_DEADLINE: Duration = Duration::from_secs(1);

/// How long a lazy channel tries to connect before the call fails.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub auth: AuthServiceClient<Channel>,
    pub payment: PaymentServiceClient<Channel>,
    pub ledger: LedgerServiceClient<Channel>,
    /// ledger-service's WithdrawalService (served on the ledger's address).
    pub withdrawals: WithdrawalServiceClient<Channel>,
    /// auth-service's MerchantKeyService (served on auth's address).
    pub merchant_keys: MerchantKeyServiceClient<Channel>,
    /// Deadline of each gRPC call (sent as `grpc-timeout`, enforced here too).
    pub deadline: Duration,
    /// Largest accepted JSON request body, in bytes.
    pub body_limit: usize,
    /// Largest `money` accepted by `/pay/` (inclusive).
    pub max_order_fen: AmountFen,
    /// Peers whose `X-Forwarded-For` is believed for the client IP.
    pub trusted_proxies: Vec<IpNet>,
}

impl GatewayConfig {
    /// A config with the documented defaults: 5 s per call, 64 KiB bodies,
    /// no trusted proxies.
    pub fn new(
        auth: AuthServiceClient<Channel>,
        payment: PaymentServiceClient<Channel>,
        ledger: LedgerServiceClient<Channel>,
        withdrawals: WithdrawalServiceClient<Channel>,
        merchant_keys: MerchantKeyServiceClient<Channel>,
        max_order_fen: AmountFen,
    ) -> Self {
        Self {
            auth,
            payment,
            ledger,
            withdrawals,
            merchant_keys,
            deadline: Duration::from_secs(5),
            body_limit: DEFAULT_BODY_LIMIT,
            max_order_fen,
            trusted_proxies: Vec::new(),
        }
    }

    /// Everything from the platform's configuration, with channels to
    /// `auth_addr` (AuthService, MerchantKeyService), `payment_addr` and
    /// `ledger_addr` (LedgerService, WithdrawalService) that connect on first
    /// use (so the gateway starts before, and survives restarts of, the
    /// services). Must run inside a Tokio runtime.
    pub fn connect_lazy(config: &common::config::Config) -> Result<Self, tonic::transport::Error> {
        let channel = |addr: std::net::SocketAddr| -> Result<Channel, tonic::transport::Error> {
            Ok(Endpoint::from_shared(format!("http://{addr}"))?
                .connect_timeout(CONNECT_TIMEOUT)
                .connect_lazy())
        };
        let auth = channel(config.auth_addr)?;
        let ledger = channel(config.ledger_addr)?;
        Ok(Self {
            auth: AuthServiceClient::new(auth.clone()),
            payment: PaymentServiceClient::new(channel(config.payment_addr)?),
            ledger: LedgerServiceClient::new(ledger.clone()),
            withdrawals: WithdrawalServiceClient::new(ledger),
            merchant_keys: MerchantKeyServiceClient::new(auth),
            deadline: config.grpc_deadline,
            body_limit: DEFAULT_BODY_LIMIT,
            max_order_fen: config.max_order_fen,
            trusted_proxies: config.trusted_proxies.clone(),
        })
    }

    /// `/readyz` probes are short: never longer than a normal call.
    pub(crate) fn readiness_deadline(&self) -> Duration {
        self.deadline.min(READINESS_DEADLINE)
    }

    /// A scrape never waits long for payment-service: it goes on without.
    pub(crate) fn metrics_deadline(&self) -> Duration {
        self.deadline.min(METRICS_DEADLINE)
    }
}
