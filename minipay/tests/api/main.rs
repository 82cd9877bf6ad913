//! The platform over the wire: the launcher starts the sandbox,
//! auth-service and the gateway on port 0, and the tests act as the
//! mini-program (HTTP to the gateway) and as the user's phone (the
//! sandbox's control API).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cli;
mod helpers;
mod login;
mod merchant;
mod outages;
mod pay;
