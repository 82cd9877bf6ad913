//! Identifiers whose shape WeChat Pay dictates.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{what} must be {min} to {max} characters long (got {len})")]
    Length {
        what: &'static str,
        min: usize,
        max: usize,
        len: usize,
    },
    #[error("{what} may only contain {allowed}; found {found:?}")]
    Charset {
        what: &'static str,
        allowed: &'static str,
        found: char,
    },
}

fn check(
    s: &str,
    what: &'static str,
    (min, max): (usize, usize),
    allowed: &'static str,
    ok: fn(u8) -> bool,
) -> Result<(), IdError> {
    if let Some(found) = s.chars().find(|c| !c.is_ascii() || !ok(*c as u8)) {
        return Err(IdError::Charset {
            what,
            allowed,
            found,
        });
    }
    if !(min..=max).contains(&s.len()) {
        return Err(IdError::Length {
            what,
            min,
            max,
            len: s.len(),
        });
    }
    Ok(())
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $what:literal, $range:expr, $allowed:literal, $ok:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn parse(s: impl Into<String>) -> Result<Self, IdError> {
                let s = s.into();
                check(&s, $what, $range, $allowed, $ok)?;
                Ok(Self(s))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                Self::parse(String::deserialize(d)?).map_err(serde::de::Error::custom)
            }
        }
    };
}

string_id!(
    /// A merchant order number: 6–32 characters of `[0-9A-Za-z_-|*]`, unique
    /// per mch_id. WeChat's newer pages add the 6-character minimum; honouring
    /// it costs nothing and keeps us valid under both readings.
    OutTradeNo,
    "out_trade_no",
    (6, 32),
    "ASCII letters, digits and _-|*",
    |b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'|' | b'*')
);

string_id!(
    /// The merchant's number for an enterprise transfer: letters and digits
    /// only, at most 32. Once sent it is never abandoned, so it must be stable
    /// (minipay uses the withdrawal id).
    PartnerTradeNo,
    "partner_trade_no",
    (1, 32),
    "ASCII letters and digits",
    |b| b.is_ascii_alphanumeric()
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_trade_no_accepts_the_whole_charset() {
        assert!(OutTradeNo::parse("ORDER20240101000001").is_ok());
        assert!(OutTradeNo::parse("aZ09_-|*").is_ok());
        assert!(OutTradeNo::parse("a".repeat(32)).is_ok());
    }

    #[test]
    fn out_trade_no_refuses_bad_length_and_chars() {
        assert!(matches!(
            OutTradeNo::parse("abc12"),
            Err(IdError::Length { len: 5, .. })
        ));
        assert!(matches!(
            OutTradeNo::parse("a".repeat(33)),
            Err(IdError::Length { len: 33, .. })
        ));
        for (bad, found) in [("order 123", ' '), ("order#123", '#'), ("订单123456", '订')] {
            assert_eq!(
                OutTradeNo::parse(bad).unwrap_err(),
                IdError::Charset {
                    what: "out_trade_no",
                    allowed: "ASCII letters, digits and _-|*",
                    found
                }
            );
        }
    }

    #[test]
    fn partner_trade_no_is_alphanumeric_only() {
        assert!(PartnerTradeNo::parse("W20261204abc").is_ok());
        assert!(PartnerTradeNo::parse("W_1").is_err());
        assert!(PartnerTradeNo::parse("").is_err());
        assert!(PartnerTradeNo::parse("a".repeat(33)).is_err());
    }

    #[test]
    fn json_validates_on_the_way_in() {
        assert!(serde_json::from_str::<OutTradeNo>("\"ORDER1234\"").is_ok());
        assert!(serde_json::from_str::<OutTradeNo>("\"bad no\"").is_err());
    }
}
