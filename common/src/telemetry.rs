//! Logging, set up once per process.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// `RUST_LOG` filters (default `info`); JSON or readable text, on stderr so
/// that a CLI's stdout stays its output. Safe to call twice (tests).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
