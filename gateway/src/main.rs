//! The gateway on its own: `cargo run -p gateway`, calling auth-service at
//! `MINIPAY_AUTH_ADDR`.

use std::time::Duration;

use anyhow::Context;
use proto::auth::v1::auth_service_client::AuthServiceClient;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = common::config::Config::from_env()?;
    common::telemetry::init(config.log_format);
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", config.auth_addr))?
        .connect_timeout(Duration::from_secs(2))
        .connect_lazy();
    let gateway = gateway::GatewayConfig {
        auth: AuthServiceClient::new(channel),
        deadline: config.grpc_deadline,
        body_limit: gateway::config::DEFAULT_BODY_LIMIT,
    };
    let listener = tokio::net::TcpListener::bind(config.gateway_addr)
        .await
        .with_context(|| format!("cannot listen on {}", config.gateway_addr))?;
    let shutdown = common::shutdown::on_signal();
    gateway::serve(gateway, listener, shutdown).await?;
    Ok(())
}
