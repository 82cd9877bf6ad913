use common::status::{Reason, with_reason};
use tonic::Status;
use wechat::WechatError;
use wechat::client::Certainty;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{field} is required")]
    Missing { field: &'static str },
    #[error("{field} is invalid: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("token is missing, unknown or expired")]
    UnknownToken,
    /// Decryption or a signature check failed under the session's key: the
    /// client must `wx.login` again and retry.
    #[error("session key is stale: {0}")]
    StaleSessionKey(String),
    #[error("{0}")]
    Wechat(#[from] WechatError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<AuthError> for Status {
    fn from(e: AuthError) -> Status {
        let message = e.to_string();
        match e {
            AuthError::Missing { .. } | AuthError::Invalid { .. } => {
                Status::invalid_argument(message)
            }
            AuthError::UnknownToken => with_reason(Status::unauthenticated(message), Reason::Token),
            AuthError::StaleSessionKey(_) => {
                with_reason(Status::unauthenticated(message), Reason::SessionKey)
            }
            AuthError::Wechat(e) => {
                let status = match e.certainty() {
                    Certainty::Definite => Status::failed_precondition(message),
                    Certainty::Unknown => Status::unavailable(message),
                };
                with_reason(status, Reason::Wechat)
            }
            AuthError::Store(StoreError::Unavailable { .. }) => Status::unavailable(message),
            AuthError::Store(StoreError::Corrupt { .. }) => {
                tracing::error!(error = %message, "store returned corrupt data");
                Status::internal("internal error")
            }
        }
    }
}
