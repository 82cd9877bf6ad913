//! The launcher: every service of the platform in one process, each on its
//! own listener and talking real gRPC, under one cancellation token.
//!
//! - [`launch`]: bind every listener, start every service, return where
//!   they listen and a handle that reports which task ended and why.
//! - [`wechat_config`]: the platform's WeChat settings, or the sandbox's.

use std::net::SocketAddr;

use anyhow::Context;
use auth_service::AuthConfig;
use common::config::Config;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use wechat::WechatConfig;
use wechat_sandbox::SandboxConfig;

/// Where everything listens once started.
#[derive(Debug, Clone)]
pub struct Addresses {
    pub gateway: SocketAddr,
    pub auth: SocketAddr,
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

/// Binds every listener first (so a port in use is reported before anything
/// starts), then starts the sandbox (unless real WeChat is configured),
/// auth-service and the gateway.
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
    let auth_listener = bind("auth-service", config.auth_addr).await?;
    let gateway_listener = bind("gateway", config.gateway_addr).await?;
    let addresses = Addresses {
        gateway: gateway_listener.local_addr()?,
        auth: auth_listener.local_addr()?,
        sandbox: sandbox_listener
            .as_ref()
            .map(TcpListener::local_addr)
            .transpose()?,
    };
    let wechat = wechat_config(&lookup, addresses.sandbox)?;

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
    let auth = AuthConfig::new(config, wechat);
    let stop = shutdown.clone();
    tasks.spawn(async move {
        let result = auth_service::serve(auth, auth_listener, stop).await;
        ("auth-service", result.map_err(anyhow::Error::from))
    });
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", addresses.auth))?
        .connect_timeout(std::time::Duration::from_secs(2))
        .connect_lazy();
    let gateway = gateway::GatewayConfig {
        auth: proto_client(channel),
        deadline: config.grpc_deadline,
        body_limit: gateway::config::DEFAULT_BODY_LIMIT,
    };
    let stop = shutdown.clone();
    tasks.spawn(async move {
        let result = gateway::serve(gateway, gateway_listener, stop).await;
        ("gateway", result.map_err(anyhow::Error::from))
    });
    Ok(Stack { addresses, tasks })
}

fn proto_client(
    channel: tonic::transport::Channel,
) -> proto::auth::v1::auth_service_client::AuthServiceClient<tonic::transport::Channel> {
    proto::auth::v1::auth_service_client::AuthServiceClient::new(channel)
}
