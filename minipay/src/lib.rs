//! The launcher: every service of the platform in one process, each on its
//! own listener and talking real gRPC, under one cancellation token.
//!
//! - [`launch`]: bind every listener, start every service, return where
//!   they listen and a handle that reports which task ended and why.
//! - [`wechat_config`]: the platform's WeChat settings, or the sandbox's.
//! - [`default_merchant`]: the demo merchant, created on first start.
//! - [`demo`]: `minipay demo`, the whole story against a running stack.
//! - [`audit`]: `minipay audit`, the ledger's invariant per merchant.

pub mod audit;
pub mod bench;
pub mod demo;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use auth_service::AuthConfig;
use common::config::Config;
use ledger_service::domain::{MerchantId, NewMerchant};
use payment_service::PaymentConfig;
use proto::auth::v1::auth_service_client::AuthServiceClient;
use proto::ledger::v1::ledger_service_client::LedgerServiceClient;
use proto::ledger::v1::withdrawal_service_client::WithdrawalServiceClient;
use proto::payment::v1::payment_service_client::PaymentServiceClient;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use wechat::WechatConfig;
use wechat_sandbox::SandboxConfig;

/// Where everything listens once started.
#[derive(Debug, Clone)]
pub struct Addresses {
    pub gateway: SocketAddr,
    pub auth: SocketAddr,
    pub payment: SocketAddr,
    pub ledger: SocketAddr,
    /// Payments without `merchant_id` go to this merchant.
    pub default_merchant: String,
    /// `None` when real WeChat (`MINIPAY_WECHAT_API_BASE`) is configured.
    pub sandbox: Option<SocketAddr>,
}

impl Addresses {
    /// The mini-program base URL: code builds `baseurl + "login/"`.
    pub fn base_url(&self) -> String {
        format!("http://{}/", self.gateway)
    }
}

/// The running platform: the tasks of every service.
#[derive(Debug)]
pub struct Stack {
    pub addresses: Addresses,
    pub tasks: JoinSet<(&'static str, anyhow::Result<()>)>,
}

impl Stack {
    /// Waits for the first service to stop, cancels the rest, waits for
    /// them, and reports the first that stopped and why.
    pub async fn run_until_exit(mut self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let first = self.tasks.join_next().await;
        shutdown.cancel();
        while let Some(rest) = self.tasks.join_next().await {
            report(rest);
        }
        match first {
            None => Ok(()),
            Some(Ok((name, Ok(())))) if shutdown.is_cancelled() => {
                tracing::info!(service = name, "stopped");
                Ok(())
            }
            Some(Ok((name, Ok(())))) => anyhow::bail!("{name} stopped unexpectedly"),
            Some(Ok((name, Err(e)))) => Err(e.context(format!("{name} failed"))),
            Some(Err(e)) => Err(anyhow::anyhow!("a service task panicked: {e}")),
        }
    }
}

fn report(result: Result<(&'static str, anyhow::Result<()>), tokio::task::JoinError>) {
    match result {
        Ok((name, Ok(()))) => tracing::info!(service = name, "stopped"),
        Ok((name, Err(e))) => tracing::error!(service = name, error = %format!("{e:#}"), "failed"),
        Err(e) => tracing::error!(error = %e, "a service task panicked"),
    }
}

/// The platform's WeChat settings. Without `MINIPAY_WECHAT_API_BASE` the
/// launcher's sandbox plays WeChat: its credentials are the defaults and
/// both base URLs point at it.
pub fn wechat_config(
    lookup: impl Fn(&str) -> Option<String>,
    sandbox: Option<SocketAddr>,
) -> Result<WechatConfig, wechat::client::ConfigError> {
    let Some(sandbox) = sandbox else {
        return WechatConfig::from_lookup(lookup);
    };
    let base = format!("http://{sandbox}");
    WechatConfig::from_lookup(|name| {
        let value = lookup(name).filter(|v| !v.is_empty());
        match name {
            "MINIPAY_WECHAT_API_BASE" | "MINIPAY_WECHAT_PAY_BASE" => Some(base.clone()),
            "MINIPAY_WECHAT_APPID" => value.or(Some(wechat_sandbox::SANDBOX_APPID.into())),
            "MINIPAY_WECHAT_APP_SECRET" => {
                value.or(Some(wechat_sandbox::SANDBOX_APP_SECRET.into()))
            }
            "MINIPAY_WECHAT_MCH_ID" => value.or(Some(wechat_sandbox::SANDBOX_MCH_ID.into())),
            "MINIPAY_WECHAT_PAY_KEY" => value.or(Some(wechat_sandbox::SANDBOX_PAY_KEY.into())),
            _ => value,
        }
    })
}

async fn bind(what: &str, addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("{what} cannot listen on {addr}"))
}

/// The merchant `/pay/` uses without `merchant_id`: the configured one, or
/// the demo merchant this launcher created on its first start (its id is
/// kept in `<data dir>/default_merchant` and reused while the ledger knows it).
pub async fn default_merchant(config: &Config, data_dir: &Path) -> anyhow::Result<String> {
    if let Some(id) = &config.default_merchant {
        return Ok(id.clone());
    }
    let marker = data_dir.join("default_merchant");
    let store = ledger_service::store::connect(&config.ledger_database_url).await?;
    if let Ok(text) = std::fs::read_to_string(&marker)
        && let Ok(id) = MerchantId::parse(text.trim())
        && store.merchant(&id).await?.is_some()
    {
        return Ok(id.as_str().to_owned());
    }
    let merchant = store
        .create_merchant(&NewMerchant::parse("Demo merchant", "")?)
        .await?;
    let id = merchant.merchant_id.as_str().to_owned();
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    std::fs::write(&marker, &id).with_context(|| format!("cannot write {}", marker.display()))?;
    tracing::info!(merchant_id = %id, "created the demo merchant");
    Ok(id)
}

/// A merchant for `minipay demo`: created in the ledger with `payout_openid`
/// and given an API key, straight in the configured databases (as
/// `minipay merchant create` does). Returns `(merchant_id, api_key)`.
pub async fn create_merchant(
    config: &Config,
    name: &str,
    payout_openid: &str,
) -> anyhow::Result<(String, String)> {
    let ledger = ledger_service::store::connect(&config.ledger_database_url)
        .await
        .context("cannot open the ledger database")?;
    let keys = auth_service::merchant_keys(&config.auth_database_url)
        .await
        .context("cannot open the auth database")?;
    let created = ledger
        .create_merchant(&NewMerchant::parse(name, payout_openid)?)
        .await?;
    let id = auth_service::MerchantId::parse(created.merchant_id.as_str())?;
    let key = keys.create(&id).await?;
    Ok((
        created.merchant_id.as_str().to_owned(),
        key.api_key.expose_secret().to_owned(),
    ))
}

fn lazy_channel(addr: SocketAddr) -> anyhow::Result<Channel> {
    Ok(
        tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?
            .connect_timeout(Duration::from_secs(2))
            .connect_lazy(),
    )
}

/// Binds every listener first (so a port in use is reported before anything
/// starts), makes sure the default merchant exists, then starts the sandbox
/// (unless real WeChat is configured), ledger-service, auth-service,
/// payment-service and the gateway.
pub async fn launch(
    config: &Config,
    lookup: impl Fn(&str) -> Option<String>,
    shutdown: CancellationToken,
) -> anyhow::Result<Stack> {
    let use_sandbox = lookup("MINIPAY_WECHAT_API_BASE")
        .filter(|v| !v.is_empty())
        .is_none();
    let sandbox_listener = match use_sandbox {
        true => Some(bind("wechat-sandbox", config.sandbox_addr).await?),
        false => None,
    };
    let ledger_listener = bind("ledger-service", config.ledger_addr).await?;
    let auth_listener = bind("auth-service", config.auth_addr).await?;
    let payment_listener = bind("payment-service", config.payment_addr).await?;
    let gateway_listener = bind("gateway", config.gateway_addr).await?;
    let data_dir = PathBuf::from(lookup("MINIPAY_DATA_DIR").unwrap_or_else(|| "data".into()));
    let addresses = Addresses {
        gateway: gateway_listener.local_addr()?,
        auth: auth_listener.local_addr()?,
        payment: payment_listener.local_addr()?,
        ledger: ledger_listener.local_addr()?,
        default_merchant: default_merchant(config, &data_dir).await?,
        sandbox: sandbox_listener
            .as_ref()
            .map(TcpListener::local_addr)
            .transpose()?,
    };
    let wechat = wechat_config(&lookup, addresses.sandbox)?;
    // WeChat reaches the gateway at MINIPAY_PUBLIC_BASE_URL; unset, at the
    // address the gateway really bound (port 0 in tests).
    let public_base_url = match lookup("MINIPAY_PUBLIC_BASE_URL").filter(|v| !v.is_empty()) {
        Some(_) => config.public_base_url.clone(),
        None => format!("http://{}", addresses.gateway),
    };

    let mut tasks = JoinSet::new();
    if let Some(listener) = sandbox_listener {
        let mut sandbox = SandboxConfig::from_lookup(&lookup)?;
        // The sandbox must accept exactly the credentials the platform uses.
        sandbox.appid = wechat.appid.clone();
        sandbox.app_secret = wechat.app_secret.clone();
        sandbox.mch_id = wechat.mch_id.clone();
        sandbox.api_key = wechat.api_key.clone();
        let stop = shutdown.clone();
        tasks.spawn(async move {
            let result = wechat_sandbox::serve(sandbox, listener, stop).await;
            ("wechat-sandbox", result.map_err(anyhow::Error::from))
        });
    }
    let ledger = ledger_service::LedgerConfig::new(config);
    let stop = shutdown.clone();
    tasks.spawn(async move {
        let result = ledger_service::serve(ledger, ledger_listener, stop).await;
        ("ledger-service", result.map_err(anyhow::Error::from))
    });
    let auth = AuthConfig::new(config, wechat.clone());
    let stop = shutdown.clone();
    tasks.spawn(async move {
        let result = auth_service::serve(auth, auth_listener, stop).await;
        ("auth-service", result.map_err(anyhow::Error::from))
    });
    let ledger_client = LedgerServiceClient::new(lazy_channel(addresses.ledger)?);
    let mut payment = PaymentConfig::new(config, wechat, ledger_client.clone());
    payment.notify_url = payment_service::notify_url(&public_base_url);
    payment.default_merchant = Some(addresses.default_merchant.clone());
    payment.withdrawals = WithdrawalServiceClient::new(lazy_channel(addresses.ledger)?);
    if let Some(secs) = lookup("MINIPAY_PAYOUT_INTERVAL_SECS").and_then(|v| v.parse().ok()) {
        payment.payout_interval = Duration::from_secs(secs);
    }
    if let Some(secs) = lookup("MINIPAY_RECONCILE_INTERVAL_SECS").and_then(|v| v.parse().ok()) {
        payment.reconcile_interval = Duration::from_secs(secs);
    }
    let stop = shutdown.clone();
    tasks.spawn(async move {
        let result = payment_service::serve(payment, payment_listener, stop).await;
        ("payment-service", result.map_err(anyhow::Error::from))
    });
    let gateway = gateway::GatewayConfig {
        auth: AuthServiceClient::new(lazy_channel(addresses.auth)?),
        payment: PaymentServiceClient::new(lazy_channel(addresses.payment)?),
        ledger: ledger_client,
        withdrawals: proto::ledger::v1::withdrawal_service_client::WithdrawalServiceClient::new(
            lazy_channel(addresses.ledger)?,
        ),
        merchant_keys: proto::auth::v1::merchant_key_service_client::MerchantKeyServiceClient::new(
            lazy_channel(addresses.auth)?,
        ),
        deadline: config.grpc_deadline,
        body_limit: gateway::config::DEFAULT_BODY_LIMIT,
        max_order_fen: config.max_order_fen,
        trusted_proxies: config.trusted_proxies.clone(),
    };
    let stop = shutdown.clone();
    tasks.spawn(async move {
        let result = gateway::serve(gateway, gateway_listener, stop).await;
        ("gateway", result.map_err(anyhow::Error::from))
    });
    Ok(Stack { addresses, tasks })
}
