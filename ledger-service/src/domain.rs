//! The ledger's validated types. Every value that crosses the edge (gRPC,
//! the CLI) is parsed into one of these, and every row read back from the
//! database is parsed into them again: a value of these types is valid.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{AmountFen, IdError, OutTradeNo};
use rand::Rng as _;

/// A value that does not fit its field. Displays as `"{field} {problem}"`,
/// e.g. `name must be 1 to 64 characters long (got 65)`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {problem}")]
pub struct Invalid {
    field: &'static str,
    problem: String,
}

impl Invalid {
    pub(crate) fn new(field: &'static str, problem: impl Into<String>) -> Self {
        Self {
            field,
            problem: problem.into(),
        }
    }

    /// The request field at fault.
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// The same problem, reported against another field (an [`Openid`] is
    /// a `payer_openid` in one request and a `payout_openid` in another).
    pub fn for_field(self, field: &'static str) -> Self {
        Self { field, ..self }
    }

    pub(crate) fn id(field: &'static str, err: &IdError) -> Self {
        let problem = match err {
            IdError::Length { min, max, len, .. } => {
                format!("must be {min} to {max} characters long (got {len})")
            }
            IdError::Charset { allowed, found, .. } => {
                format!("may only contain {allowed}; found {found:?}")
            }
        };
        Self::new(field, problem)
    }
}

/// `field` as an [`OutTradeNo`].
pub fn out_trade_no(field: &'static str, text: impl Into<String>) -> Result<OutTradeNo, Invalid> {
    let text = text.into();
    if text.is_empty() {
        return Err(Invalid::new(field, "is required"));
    }
    OutTradeNo::parse(text).map_err(|err| Invalid::id(field, &err))
}

/// `field` as an amount someone can pay: one fen at least.
pub fn positive_amount(field: &'static str, fen: i64) -> Result<AmountFen, Invalid> {
    AmountFen::positive(fen).map_err(|err| Invalid::new(field, format!("is invalid: {err}")))
}

/// Length in characters (Unicode scalar values), as both MariaDB's
/// `VARCHAR(n)` and SQLite's `length()` count them.
fn chars_within(field: &'static str, text: &str, min: usize, max: usize) -> Result<(), Invalid> {
    let len = text.chars().count();
    if (min..=max).contains(&len) {
        Ok(())
    } else {
        Err(Invalid::new(
            field,
            format!("must be {min} to {max} characters long (got {len})"),
        ))
    }
}

fn no_control_characters(field: &'static str, text: &str) -> Result<(), Invalid> {
    match text.chars().find(|c| c.is_control()) {
        Some(found) => Err(Invalid::new(
            field,
            format!("must not contain control characters; found {found:?}"),
        )),
        None => Ok(()),
    }
}

macro_rules! text_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
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

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

text_newtype!(
    /// A merchant's id: `M` and 20 uppercase letters or digits, made by
    /// [`MerchantId::generate`] from the CSPRNG (about 103 bits).
    MerchantId
);

const MERCHANT_ID_PREFIX: char = 'M';
const MERCHANT_ID_RANDOM_LEN: usize = 20;
const MERCHANT_ID_ALPHABET: &[u8; 36] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

impl MerchantId {
    pub fn generate() -> Self {
        let mut rng = rand::rng();
        let mut id = String::with_capacity(1 + MERCHANT_ID_RANDOM_LEN);
        id.push(MERCHANT_ID_PREFIX);
        for _ in 0..MERCHANT_ID_RANDOM_LEN {
            let index = rng.random_range(0..MERCHANT_ID_ALPHABET.len());
            id.push(char::from(MERCHANT_ID_ALPHABET[index]));
        }
        Self(id)
    }

    pub fn parse(text: impl Into<String>) -> Result<Self, Invalid> {
        const FIELD: &str = "merchant_id";
        let text = text.into();
        if text.is_empty() {
            return Err(Invalid::new(FIELD, "is required"));
        }
        let well_formed = text.len() == 1 + MERCHANT_ID_RANDOM_LEN
            && text.starts_with(MERCHANT_ID_PREFIX)
            && text[1..]
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if !well_formed {
            return Err(Invalid::new(
                FIELD,
                "must be M followed by 20 uppercase letters or digits",
            ));
        }
        Ok(Self(text))
    }
}

text_newtype!(
    /// A merchant's display name: 1 to 64 characters, not blank, no control
    /// characters. Any script and emoji are fine (the column is utf8mb4).
    MerchantName
);

impl MerchantName {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(text: impl Into<String>) -> Result<Self, Invalid> {
        const FIELD: &str = "name";
        let text = text.into();
        if text.trim().is_empty() {
            return Err(Invalid::new(FIELD, "is required"));
        }
        chars_within(FIELD, &text, 1, Self::MAX_CHARS)?;
        no_control_characters(FIELD, &text)?;
        Ok(Self(text))
    }
}

text_newtype!(
    /// A WeChat openid: 1 to 128 of `[A-Za-z0-9_-]`. Case matters.
    Openid
);

impl Openid {
    pub const MAX_LEN: usize = 128;

    /// Errors name the field `openid`; see [`Invalid::for_field`].
    pub fn parse(text: impl Into<String>) -> Result<Self, Invalid> {
        const FIELD: &str = "openid";
        let text = text.into();
        if text.is_empty() {
            return Err(Invalid::new(FIELD, "is required"));
        }
        if let Some(found) = text
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
        {
            return Err(Invalid::new(
                FIELD,
                format!("may only contain ASCII letters, digits, _ and -; found {found:?}"),
            ));
        }
        chars_within(FIELD, &text, 1, Self::MAX_LEN)?;
        Ok(Self(text))
    }
}

text_newtype!(
    /// WeChat Pay's id of a payment: 1 to 32 ASCII letters or digits.
    TransactionId
);

impl TransactionId {
    pub fn parse(text: impl Into<String>) -> Result<Self, Invalid> {
        const FIELD: &str = "transaction_id";
        let text = text.into();
        if text.is_empty() {
            return Err(Invalid::new(FIELD, "is required"));
        }
        if let Some(found) = text.chars().find(|c| !c.is_ascii_alphanumeric()) {
            return Err(Invalid::new(
                FIELD,
                format!("may only contain ASCII letters and digits; found {found:?}"),
            ));
        }
        chars_within(FIELD, &text, 1, 32)?;
        Ok(Self(text))
    }
}

text_newtype!(
    /// What an order is for (WeChat's `body`): up to 128 characters, no
    /// control characters; may be empty.
    Description
);

impl Description {
    pub const MAX_CHARS: usize = 128;

    pub fn parse(text: impl Into<String>) -> Result<Self, Invalid> {
        const FIELD: &str = "description";
        let text = text.into();
        chars_within(FIELD, &text, 0, Self::MAX_CHARS)?;
        no_control_characters(FIELD, &text)?;
        Ok(Self(text))
    }
}

text_newtype!(
    /// The id of the withdrawal holding an order (withdrawals come next; the
    /// ledger only carries the column so far). Up to 32 characters.
    WithdrawalId
);

impl WithdrawalId {
    pub fn parse(text: impl Into<String>) -> Result<Self, Invalid> {
        const FIELD: &str = "withdrawal_id";
        let text = text.into();
        if let Some(found) = text.chars().find(|c| !c.is_ascii_alphanumeric()) {
            return Err(Invalid::new(
                FIELD,
                format!("may only contain ASCII letters and digits; found {found:?}"),
            ));
        }
        chars_within(FIELD, &text, 1, 32)?;
        Ok(Self(text))
    }
}

macro_rules! status_enum {
    ($(#[$doc:meta])* $name:ident, $field:literal { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($variant),+
        }

        impl $name {
            pub const ALL: &[$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            pub fn parse(text: &str) -> Result<Self, Invalid> {
                match text {
                    $($text => Ok($name::$variant),)+
                    _ => Err(Invalid::new(
                        $field,
                        format!(
                            "must be one of {}; got {:?}",
                            [$($text),+].join(", "),
                            text.chars().take(32).collect::<String>()
                        ),
                    )),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

status_enum!(
    /// Only an ACTIVE merchant takes new orders.
    MerchantStatus, "status" {
        Active => "ACTIVE",
        Suspended => "SUSPENDED",
    }
);

status_enum!(
    /// `CREATED → PAID → (REFUNDED)`, or `CREATED → CLOSED`.
    OrderStatus, "status" {
        Created => "CREATED",
        Paid => "PAID",
        Closed => "CLOSED",
        Refunded => "REFUNDED",
    }
);

/// A merchant as the ledger keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merchant {
    pub merchant_id: MerchantId,
    pub name: MerchantName,
    /// `None` until the merchant has a payout account.
    pub payout_openid: Option<Openid>,
    pub status: MerchantStatus,
    pub created_at_ms: i64,
}

/// What CreateMerchant (or `minipay merchant create`) asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMerchant {
    pub name: MerchantName,
    pub payout_openid: Option<Openid>,
}

impl NewMerchant {
    /// From the wire's strings: an empty `payout_openid` means none.
    pub fn parse(
        name: impl Into<String>,
        payout_openid: impl Into<String>,
    ) -> Result<Self, Invalid> {
        let payout_openid = payout_openid.into();
        Ok(Self {
            name: MerchantName::parse(name)?,
            payout_openid: if payout_openid.is_empty() {
                None
            } else {
                Some(Openid::parse(payout_openid).map_err(|e| e.for_field("payout_openid"))?)
            },
        })
    }
}

/// An order as the ledger keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub out_trade_no: OutTradeNo,
    pub merchant_id: MerchantId,
    pub payer_openid: Openid,
    pub amount: AmountFen,
    pub description: Description,
    pub status: OrderStatus,
    /// Set when the order is paid.
    pub transaction_id: Option<TransactionId>,
    pub created_at_ms: i64,
    pub paid_at_ms: Option<i64>,
    /// Set while a withdrawal holds the order.
    pub withdrawal_id: Option<WithdrawalId>,
}

/// What CreateOrder records, as CREATED.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    pub out_trade_no: OutTradeNo,
    pub merchant_id: MerchantId,
    pub payer_openid: Openid,
    pub amount: AmountFen,
    pub description: Description,
}

/// A payment WeChat reported for an order (MarkPaid).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub out_trade_no: OutTradeNo,
    pub transaction_id: TransactionId,
    pub amount: AmountFen,
    pub paid_at_ms: i64,
}

/// Where a page of a merchant's orders starts: just after (older than) the
/// row with this `created_at` and `out_trade_no`. Opaque on the wire:
/// base64url of `"{created_at_ms}:{out_trade_no}"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub created_at_ms: i64,
    pub out_trade_no: OutTradeNo,
}

impl Cursor {
    pub fn after(order: &Order) -> Self {
        Self {
            created_at_ms: order.created_at_ms,
            out_trade_no: order.out_trade_no.clone(),
        }
    }

    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}:{}", self.created_at_ms, self.out_trade_no))
    }

    pub fn parse(text: &str) -> Result<Self, Invalid> {
        let invalid = || Invalid::new("cursor", "is not a cursor this service returned");
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
        let text = String::from_utf8(bytes).map_err(|_| invalid())?;
        let (created_at, out_trade_no) = text.split_once(':').ok_or_else(invalid)?;
        Ok(Self {
            created_at_ms: created_at.parse().map_err(|_| invalid())?,
            out_trade_no: OutTradeNo::parse(out_trade_no).map_err(|_| invalid())?,
        })
    }
}

/// How many orders a page holds: 1 to [`PageLimit::MAX`], 0 on the wire
/// meaning [`PageLimit::DEFAULT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimit(u32);

impl PageLimit {
    pub const DEFAULT: PageLimit = PageLimit(50);
    pub const MAX: u32 = 500;

    pub fn parse(limit: u32) -> Result<Self, Invalid> {
        match limit {
            0 => Ok(Self::DEFAULT),
            1..=Self::MAX => Ok(Self(limit)),
            _ => Err(Invalid::new(
                "limit",
                format!("must be at most {} (got {limit})", Self::MAX),
            )),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

/// Which of a merchant's orders to list, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderQuery {
    pub merchant_id: MerchantId,
    /// `None`: every status.
    pub status: Option<OrderStatus>,
    /// `None`: both; `Some(true)`: held by a withdrawal; `Some(false)`: not held.
    pub withdrawn: Option<bool>,
    pub limit: PageLimit,
    /// `None`: the first page.
    pub after: Option<Cursor>,
}

/// One page of orders; `next` is `None` on the last page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderPage {
    pub orders: Vec<Order>,
    pub next: Option<Cursor>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn merchant_ids_are_m_and_twenty_uppercase_alphanumerics() {
        let ids: Vec<MerchantId> = (0..100).map(|_| MerchantId::generate()).collect();
        for id in &ids {
            assert_eq!(MerchantId::parse(id.as_str()).as_ref(), Ok(id));
        }
        let distinct: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
        for bad in [
            "",
            "M",
            "MABCDEFGHIJKLMNOPQRS",
            "MABCDEFGHIJKLMNOPQRSTU",
            "Mabcdefghijklmnopqrst1",
            "XABCDEFGHIJKLMNOPQRST1",
            "MABCDEFGHIJKLMNOPQRS-1",
            "MABCDEFGHIJKLMNOPQRSÉ1",
        ] {
            let err = MerchantId::parse(bad).unwrap_err();
            assert_eq!(err.field(), "merchant_id", "{bad:?}");
        }
    }

    #[test]
    fn names_are_one_to_sixty_four_characters_of_any_script() {
        assert!(MerchantName::parse("小明的店 🐼").is_ok());
        assert!(MerchantName::parse("店".repeat(64)).is_ok());
        let long = MerchantName::parse("店".repeat(65)).unwrap_err();
        assert_eq!(
            long.to_string(),
            "name must be 1 to 64 characters long (got 65)"
        );
        assert_eq!(
            MerchantName::parse("  ").unwrap_err().to_string(),
            "name is required"
        );
        assert_eq!(MerchantName::parse("a\nb").unwrap_err().field(), "name");
    }

    #[test]
    fn openids_are_ascii_word_characters() {
        assert!(Openid::parse("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o").is_ok());
        assert!(Openid::parse("a".repeat(128)).is_ok());
        assert!(Openid::parse("a".repeat(129)).is_err());
        assert!(Openid::parse("o 1").is_err());
        assert!(Openid::parse("").is_err());
        let payout = NewMerchant::parse("shop", "bad openid").unwrap_err();
        assert_eq!(payout.field(), "payout_openid");
        assert_eq!(NewMerchant::parse("shop", "").unwrap().payout_openid, None);
    }

    #[test]
    fn transaction_ids_descriptions_and_amounts() {
        assert!(TransactionId::parse("4200000000000000000000000001").is_ok());
        assert!(TransactionId::parse("4".repeat(33)).is_err());
        assert!(TransactionId::parse("42-1").is_err());
        assert!(Description::parse("").is_ok());
        assert!(Description::parse("x".repeat(129)).is_err());
        assert_eq!(
            positive_amount("amount_fen", 0).unwrap_err().field(),
            "amount_fen"
        );
        assert!(positive_amount("amount_fen", -1).is_err());
        assert_eq!(
            out_trade_no("out_trade_no", "abc").unwrap_err().to_string(),
            "out_trade_no must be 6 to 32 characters long (got 3)"
        );
        assert_eq!(
            out_trade_no("out_trade_no", "").unwrap_err().to_string(),
            "out_trade_no is required"
        );
    }

    #[test]
    fn statuses_round_trip_and_name_the_choices() {
        for status in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(status.as_str()), Ok(*status));
        }
        for status in MerchantStatus::ALL {
            assert_eq!(MerchantStatus::parse(status.as_str()), Ok(*status));
        }
        assert_eq!(
            OrderStatus::parse("paid").unwrap_err().to_string(),
            "status must be one of CREATED, PAID, CLOSED, REFUNDED; got \"paid\""
        );
    }

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        let cursor = Cursor {
            created_at_ms: 1_733_300_000_123,
            out_trade_no: OutTradeNo::parse("ORDER_1|*-x").unwrap(),
        };
        assert_eq!(Cursor::parse(&cursor.encode()), Ok(cursor));
        for bad in ["", "!!", "bm9wZQ", "MTIzOmFi"] {
            assert_eq!(Cursor::parse(bad).unwrap_err().field(), "cursor", "{bad:?}");
        }
    }

    #[test]
    fn page_limits() {
        assert_eq!(PageLimit::parse(0), Ok(PageLimit::DEFAULT));
        assert_eq!(PageLimit::parse(500).map(PageLimit::get), Ok(500));
        assert_eq!(PageLimit::parse(501).unwrap_err().field(), "limit");
    }
}
