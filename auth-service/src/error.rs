use common::status::{REASON_KEY, Reason, with_reason};
use tonic::Status;
use tonic::metadata::MetadataValue;
use wechat::WechatError;
use wechat::client::Certainty;

use crate::store::StoreError;

/// The `x-minipay-reason` metadata value on an UNAUTHENTICATED status whose
/// cause is a missing, unknown or revoked merchant API key (the gateway's
/// envelope code 8). `common::status::Reason` does not know it yet; read it
/// with `status.metadata().get(common::status::REASON_KEY)`.
pub const MERCHANT_KEY_REASON: &str = "merchant-key";

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{field} is required")]
    Missing { field: &'static str },
    #[error("{field} is invalid: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("token is missing, unknown or expired")]
    UnknownToken,
    /// The presented merchant API key is empty, not stored, or revoked. The
    /// message never carries the key.
    #[error("merchant API key is missing, unknown or revoked")]
    UnknownMerchantKey,
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
            AuthError::UnknownMerchantKey => {
                let mut status = Status::unauthenticated(message);
                status
                    .metadata_mut()
                    .insert(REASON_KEY, MetadataValue::from_static(MERCHANT_KEY_REASON));
                status
            }
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
