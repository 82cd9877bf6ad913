//! payment-service over gRPC with the real wechat-sandbox as WeChat and the
//! real ledger-service: what the gateway and the ledger rely on — payments
//! placed and paid, every notification judged and logged, and
//! reconciliation settling what notifications did not.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod helpers;
mod metrics;
mod notify;
mod pay;
mod reconcile;
