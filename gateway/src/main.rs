//! The gateway on its own: `cargo run -p gateway`, calling auth-service
//! (AuthService, MerchantKeyService), payment-service and ledger-service
//! (LedgerService, WithdrawalService) at `MINIPAY_AUTH_ADDR`,
//! `MINIPAY_PAYMENT_ADDR` and `MINIPAY_LEDGER_ADDR` (connected on first use).

use anyhow::Context;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = common::config::Config::from_env()?;
    common::telemetry::init(config.log_format);
    let gateway = gateway::GatewayConfig::connect_lazy(&config)?;
    let listener = tokio::net::TcpListener::bind(config.gateway_addr)
        .await
        .with_context(|| format!("cannot listen on {}", config.gateway_addr))?;
    let shutdown = common::shutdown::on_signal();
    gateway::serve(gateway, listener, shutdown).await?;
    Ok(())
}
