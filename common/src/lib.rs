//! Plumbing shared by every minipay crate.
//!
//! - [`money`]: [`AmountFen`], the only type that holds an amount of money.
//! - [`ids`]: identifiers whose format WeChat dictates ([`OutTradeNo`],
//!   [`PartnerTradeNo`]) and which the ledger, the payment service and the
//!   simulator all pass around.

pub mod ids;
pub mod money;

pub use ids::{IdError, OutTradeNo, PartnerTradeNo};
pub use money::{AmountError, AmountFen};
