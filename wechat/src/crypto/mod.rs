//! The ciphers of the protocol: mini-program open data (AES-128-CBC), the
//! rawData signature (SHA-1), and refund notifications' `req_info`
//! (AES-256-ECB). Each failure is its own error so that the caller can tell a
//! stale session key from a malformed request.

mod raw_data;
mod refund;
mod user_data;

pub use raw_data::{raw_data_signature, verify_raw_data_signature};
pub use refund::{decrypt_refund_info, encrypt_refund_info};
pub use user_data::{UserData, decrypt_user_data, encrypt_user_data};

use crate::xml::XmlError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("{field} is not valid base64")]
    Base64 { field: &'static str },
    #[error("session_key must decode to 16 bytes, got {len}")]
    KeyLength { len: usize },
    #[error("iv must decode to 16 bytes, got {len}")]
    IvLength { len: usize },
    #[error("{field} must be a non-empty multiple of 16 bytes, got {len}")]
    CiphertextLength { field: &'static str, len: usize },
    #[error("bad PKCS#7 padding: wrong key, wrong iv or damaged ciphertext")]
    Padding,
    #[error("decrypted data is not UTF-8: wrong key or damaged ciphertext")]
    NotUtf8,
    #[error("decrypted data is not a JSON object: {0}")]
    Json(String),
    #[error("decrypted data has no watermark.appid")]
    MissingWatermark,
    #[error("watermark belongs to another app ({appid})")]
    ForeignWatermark { appid: String },
    #[error("rawData signature does not match the session")]
    RawDataSignature,
    #[error("decrypted req_info is not a valid document: {0}")]
    RefundXml(#[from] XmlError),
}
