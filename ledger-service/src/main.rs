//! ledger-service on its own: `cargo run -p ledger-service`.

use anyhow::Context;
use ledger_service::LedgerConfig;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = common::config::Config::from_env()?;
    common::telemetry::init(config.log_format);
    let listener = tokio::net::TcpListener::bind(config.ledger_addr)
        .await
        .with_context(|| format!("cannot listen on {}", config.ledger_addr))?;
    tracing::info!(addr = %config.ledger_addr, "ledger-service listening");
    let shutdown = common::shutdown::on_signal();
    ledger_service::serve(LedgerConfig::new(&config), listener, shutdown).await?;
    Ok(())
}
