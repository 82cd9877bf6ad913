//! Money as integer fen (1 CNY = 100 fen). Never a float, never a decimal string.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A non-negative amount of money in fen.
///
/// Negative amounts have no meaning anywhere in minipay (a refund or a
/// withdrawal is its own record, not a negative order), so they cannot be
/// represented. Arithmetic is checked: an overflow is an error, never a wrap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize)]
#[serde(transparent)]
pub struct AmountFen(i64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("amount must not be negative (got {0})")]
    Negative(i64),
    #[error("amount must be greater than zero")]
    Zero,
    #[error("amount is not a plain decimal integer of fen: {0:?}")]
    NotAnInteger(String),
    #[error("amount overflows a 64-bit count of fen")]
    Overflow,
}

impl AmountFen {
    pub const ZERO: AmountFen = AmountFen(0);

    /// Any amount from zero up.
    pub fn parse(fen: i64) -> Result<Self, AmountError> {
        if fen < 0 {
            return Err(AmountError::Negative(fen));
        }
        Ok(Self(fen))
    }

    /// An amount someone can be charged or paid: one fen at least.
    pub fn positive(fen: i64) -> Result<Self, AmountError> {
        match Self::parse(fen)? {
            AmountFen(0) => Err(AmountError::Zero),
            amount => Ok(amount),
        }
    }

    pub fn fen(self) -> i64 {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    pub fn checked_add(self, other: AmountFen) -> Result<AmountFen, AmountError> {
        self.0
            .checked_add(other.0)
            .map(AmountFen)
            .ok_or(AmountError::Overflow)
    }

    /// `None` when the result would be negative: a shortfall is the caller's
    /// decision to report, not something to clamp.
    pub fn checked_sub(self, other: AmountFen) -> Option<AmountFen> {
        self.0
            .checked_sub(other.0)
            .filter(|fen| *fen >= 0)
            .map(AmountFen)
    }
}

impl fmt::Display for AmountFen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl TryFrom<i64> for AmountFen {
    type Error = AmountError;

    fn try_from(fen: i64) -> Result<Self, Self::Error> {
        Self::parse(fen)
    }
}

/// The wire form WeChat uses (`total_fee`, `amount`): ASCII digits only, no
/// sign, no leading zeros, no spaces — anything looser could let two texts
/// name the same amount inside a signed message.
impl FromStr for AmountFen {
    type Err = AmountError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let canonical = !s.is_empty()
            && s.bytes().all(|b| b.is_ascii_digit())
            && (s == "0" || !s.starts_with('0'));
        if !canonical {
            return Err(AmountError::NotAnInteger(s.chars().take(40).collect()));
        }
        s.parse::<i64>()
            .map_err(|_| AmountError::Overflow)
            .and_then(Self::parse)
    }
}

impl<'de> Deserialize<'de> for AmountFen {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let fen = i64::deserialize(deserializer)?;
        Self::parse(fen).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_negative_and_accepts_zero() {
        assert_eq!(AmountFen::parse(-1), Err(AmountError::Negative(-1)));
        assert_eq!(AmountFen::parse(0).map(AmountFen::fen), Ok(0));
        assert_eq!(AmountFen::positive(0), Err(AmountError::Zero));
        assert_eq!(AmountFen::positive(1).map(AmountFen::fen), Ok(1));
    }

    #[test]
    fn parses_only_canonical_decimal_text() {
        assert_eq!("1".parse::<AmountFen>().map(AmountFen::fen), Ok(1));
        assert_eq!("0".parse::<AmountFen>().map(AmountFen::fen), Ok(0));
        assert_eq!(
            "9223372036854775807"
                .parse::<AmountFen>()
                .map(AmountFen::fen),
            Ok(i64::MAX)
        );
        for bad in ["", "01", "+1", "-1", " 1", "1 ", "1.0", "1e2", "0x10", "１"] {
            assert!(
                matches!(bad.parse::<AmountFen>(), Err(AmountError::NotAnInteger(_))),
                "{bad:?} must be refused"
            );
        }
        assert_eq!(
            "9223372036854775808".parse::<AmountFen>(),
            Err(AmountError::Overflow)
        );
    }

    #[test]
    fn arithmetic_is_checked() {
        let max = AmountFen::parse(i64::MAX).unwrap();
        let one = AmountFen::positive(1).unwrap();
        assert_eq!(max.checked_add(one), Err(AmountError::Overflow));
        assert_eq!(AmountFen::ZERO.checked_sub(one), None);
        assert_eq!(one.checked_sub(one), Some(AmountFen::ZERO));
    }

    #[test]
    fn json_refuses_negative_and_non_integers() {
        assert_eq!(serde_json::from_str::<AmountFen>("5").unwrap().fen(), 5);
        assert!(serde_json::from_str::<AmountFen>("-5").is_err());
        assert!(serde_json::from_str::<AmountFen>("1.5").is_err());
        assert!(serde_json::from_str::<AmountFen>("\"5\"").is_err());
        assert_eq!(
            serde_json::to_string(&AmountFen::parse(7).unwrap()).unwrap(),
            "7"
        );
    }

    proptest::proptest! {
        #[test]
        fn text_round_trips(fen in 0i64..=i64::MAX) {
            let amount = AmountFen::parse(fen).unwrap();
            proptest::prop_assert_eq!(amount.to_string().parse::<AmountFen>(), Ok(amount));
        }
    }
}
