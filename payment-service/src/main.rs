//! payment-service on its own: `cargo run -p payment-service`.

use anyhow::Context;
use payment_service::PaymentConfig;
use proto::ledger::v1::ledger_service_client::LedgerServiceClient;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = common::config::Config::from_env()?;
    common::telemetry::init(config.log_format);
    let wechat = wechat::WechatConfig::from_lookup(|name| std::env::var(name).ok())?;
    let ledger = tonic::transport::Endpoint::from_shared(format!("http://{}", config.ledger_addr))?
        .connect_lazy();
    let listener = tokio::net::TcpListener::bind(config.payment_addr)
        .await
        .with_context(|| format!("cannot listen on {}", config.payment_addr))?;
    tracing::info!(addr = %config.payment_addr, "payment-service listening");
    let shutdown = common::shutdown::on_signal();
    let cfg = PaymentConfig::new(&config, wechat, LedgerServiceClient::new(ledger));
    payment_service::serve(cfg, listener, shutdown).await?;
    Ok(())
}
