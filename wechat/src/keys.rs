//! Secrets of the protocol. Each wraps a [`SecretString`], so `Debug` prints
//! `[REDACTED]` and the value is wiped on drop; reading one takes an explicit
//! `expose_secret()`, which is easy to find in review.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
pub use secrecy::ExposeSecret;
use secrecy::SecretString;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("{what} must be {expected}")]
    Malformed {
        what: &'static str,
        expected: &'static str,
    },
}

macro_rules! secret {
    ($(#[$doc:meta])* $name:ident, $what:literal, $expected:literal, $ok:expr) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name(SecretString);

        impl $name {
            pub fn parse(value: impl Into<String>) -> Result<Self, KeyError> {
                let value: String = value.into();
                let ok: fn(&str) -> bool = $ok;
                if !ok(&value) {
                    return Err(KeyError::Malformed {
                        what: $what,
                        expected: $expected,
                    });
                }
                Ok(Self(SecretString::from(value)))
            }
        }

        impl ExposeSecret<str> for $name {
            fn expose_secret(&self) -> &str {
                self.0.expose_secret()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "([REDACTED])"))
            }
        }
    };
}

secret!(
    /// The WeChat Pay APIv2 key set in the merchant console: 32 printable
    /// ASCII characters. It signs every v2 message and, hashed, decrypts
    /// refund notifications.
    ApiKey,
    "the WeChat Pay API key",
    "32 printable ASCII characters",
    |s| s.len() == 32 && s.bytes().all(|b| b.is_ascii_graphic())
);

secret!(
    /// The mini-program's AppSecret, sent only to code2session.
    AppSecret,
    "the app secret",
    "1 to 64 printable ASCII characters",
    |s| (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_graphic())
);

secret!(
    /// A user's session_key: base64 text of 16 bytes. The text itself (not
    /// the decoded bytes) is what the rawData signature hashes.
    SessionKey,
    "session_key",
    "base64 of 16 bytes (24 characters)",
    |s| s.len() == 24 && STANDARD.decode(s).is_ok_and(|k| k.len() == 16)
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let key = ApiKey::parse("192006250b4c09247ec02edce69f6a2d").unwrap();
        let secret = AppSecret::parse("app-secret-value").unwrap();
        let session = SessionKey::parse("tiihtNczf5v6AKRyjwEUhQ==").unwrap();
        let shown = format!("{key:?} {secret:?} {session:?} {key:#?}");
        assert!(!shown.contains("192006250b"));
        assert!(!shown.contains("app-secret-value"));
        assert!(!shown.contains("tiihtNczf5"));
        assert!(shown.contains("ApiKey([REDACTED])"));
    }

    #[test]
    fn malformed_keys_are_refused_without_echoing_them() {
        let err = ApiKey::parse("short").unwrap_err();
        assert!(!err.to_string().contains("short"));
        assert!(ApiKey::parse("x".repeat(33)).is_err());
        assert!(ApiKey::parse(format!("{} ", "x".repeat(31))).is_err());
        assert!(AppSecret::parse("").is_err());
        assert!(SessionKey::parse("not base64 at all!!!!!!!").is_err());
        assert!(SessionKey::parse("AAAAAAAAAAAAAAAAAAAAAAAAAAA=").is_err());
        assert!(SessionKey::parse("tiihtNczf5v6AKRyjwEUhQ==").is_ok());
    }
}
