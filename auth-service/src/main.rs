//! auth-service on its own: `cargo run -p auth-service`.

use anyhow::Context;
use auth_service::AuthConfig;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = common::config::Config::from_env()?;
    common::telemetry::init(config.log_format);
    let wechat = wechat::WechatConfig::from_lookup(|name| std::env::var(name).ok())?;
    let listener = tokio::net::TcpListener::bind(config.auth_addr)
        .await
        .with_context(|| format!("cannot listen on {}", config.auth_addr))?;
    tracing::info!(addr = %config.auth_addr, "auth-service listening");
    let shutdown = common::shutdown::on_signal();
    auth_service::serve(AuthConfig::new(&config, wechat), listener, shutdown).await?;
    Ok(())
}
