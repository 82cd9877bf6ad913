//! Plumbing shared by every minipay crate.
//!
//! - [`money`]: [`AmountFen`], the only type that holds an amount of money.
//! - [`ids`]: identifiers whose format WeChat dictates ([`OutTradeNo`],
//!   [`PartnerTradeNo`]).
//! - [`config`]: the environment variables, validated once at start.
//! - [`telemetry`]: tracing set-up; [`shutdown`]: the process's cancellation.
//! - [`grpc`]: request ids and deadlines across gRPC hops; [`status`]: the
//!   reason a service attaches to a failed call for the gateway to map.

pub mod config;
pub mod grpc;
pub mod ids;
pub mod money;
#[cfg(feature = "mysql")]
pub mod mysql;
pub mod shutdown;
pub mod status;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;

pub use ids::{IdError, OutTradeNo, PartnerTradeNo};
pub use money::{AmountError, AmountFen};
