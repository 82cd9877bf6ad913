//! payment-service over gRPC with the real wechat-sandbox as WeChat and the
//! real ledger-service: what the gateway and the ledger rely on — payments
//! placed and paid, every notification judged and logged, and
//! reconciliation settling what notifications did not, and withdrawals
//! paid out exactly once.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod helpers;
mod metrics;
mod notify;
mod pay;
mod payout;
mod reconcile;
