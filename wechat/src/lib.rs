//! The WeChat Mini Program login and WeChat Pay v2 protocol, with no I/O
//! policy and no business rules. Used by auth-service, payment-service and
//! the simulator, so both sides of every exchange share one implementation.
//!
//! - [`sign`]: v2 signatures (MD5, HMAC-SHA256), constant-time verification
//!   over every received field.
//! - [`xml`]: the flat `<xml>` codec ([`FieldMap`]), strict on input.
//! - [`messages`]: typed requests, replies and notifications over [`FieldMap`].
//! - [`crypto`]: open-data decryption, the rawData signature, refund `req_info`.
//! - [`pay_params`]: the `wx.requestPayment` fields and `paySign`.
//! - [`ids`]: nonces and the `out_trade_no` generator.
//! - [`keys`]: the secrets, redacted in `Debug`.
//! - [`client`]: [`WechatClient`], a typed reqwest client whose errors say
//!   whether WeChat's answer is definite and whether a retry is safe.

pub mod client;
pub mod crypto;
#[doc(hidden)]
pub mod fuzzing;
pub mod ids;
pub mod keys;
pub mod messages;
pub mod pay_params;
pub mod sign;
pub mod xml;

pub use client::{WechatClient, WechatConfig, WechatError};
pub use keys::{ApiKey, AppSecret, ExposeSecret, SessionKey};
pub use sign::SignType;
pub use xml::{FieldMap, XmlError};
