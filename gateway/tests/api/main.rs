//! The gateway over the wire, in front of scripted fakes of AuthService,
//! PaymentService and LedgerService.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod getinfo;
mod helpers;
mod login;
mod logout;
mod merchant;
mod metrics;
mod notify;
mod ops;
mod orders;
mod pay;
mod routing;
mod services;
