//! The gateway over the wire, in front of a scripted fake AuthService.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod getinfo;
mod helpers;
mod login;
mod logout;
mod ops;
mod routing;
