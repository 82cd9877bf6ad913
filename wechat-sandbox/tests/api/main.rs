//! The simulator over the wire: the real `wechat` client and plain HTTP
//! against a sandbox started on port 0.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod control;
mod helpers;
mod login;
mod notify;
mod pay;
mod transfers;
