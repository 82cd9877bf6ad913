//! The simulator on its own: `cargo run -p wechat-sandbox`.

use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;
use wechat_sandbox::SandboxConfig;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cfg = match SandboxConfig::from_env() {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("configuration error: {e}");
            std::process::exit(2);
        }
    };
    let listener = tokio::net::TcpListener::bind(cfg.addr).await?;
    tracing::info!(addr = %listener.local_addr()?, appid = %cfg.appid, mch_id = %cfg.mch_id, "wechat-sandbox listening");
    let shutdown = CancellationToken::new();
    let on_signal = shutdown.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_signal.cancel();
        }
    });
    wechat_sandbox::serve(cfg, listener, shutdown).await
}
