//! The ledger's validated types. Every value that crosses the edge (gRPC,
//! the CLI) is parsed into one of these, and every row read back from the
//! database is parsed into them again: a value of these types is valid.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{AmountFen, IdError, OutTradeNo};
use rand::Rng as _;
use sha2::{Digest as _, Sha256};

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
        Self(random_id(MERCHANT_ID_PREFIX))
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
    /// A withdrawal's id, which is also the payout's WeChat
    /// `partner_trade_no`: letters and digits only, at most 32. The ledger
    /// makes them with [`WithdrawalId::generate`]: `W` and 20 uppercase
    /// letters or digits from the CSPRNG (about 103 bits).
    WithdrawalId
);

const WITHDRAWAL_ID_PREFIX: char = 'W';

impl WithdrawalId {
    pub fn generate() -> Self {
        Self(random_id(WITHDRAWAL_ID_PREFIX))
    }

    pub fn parse(text: impl Into<String>) -> Result<Self, Invalid> {
        const FIELD: &str = "withdrawal_id";
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

/// `prefix` and [`MERCHANT_ID_RANDOM_LEN`] characters of
/// [`MERCHANT_ID_ALPHABET`] from the thread's CSPRNG.
fn random_id(prefix: char) -> String {
    let mut rng = rand::rng();
    let mut id = String::with_capacity(1 + MERCHANT_ID_RANDOM_LEN);
    id.push(prefix);
    for _ in 0..MERCHANT_ID_RANDOM_LEN {
        let index = rng.random_range(0..MERCHANT_ID_ALPHABET.len());
        id.push(char::from(MERCHANT_ID_ALPHABET[index]));
    }
    id
}

/// 1 to `max` visible ASCII characters (`!` to `~`: no space, no control).
fn visible_ascii(field: &'static str, text: &str, max: usize) -> Result<(), Invalid> {
    if let Some(found) = text.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(Invalid::new(
            field,
            format!("may only contain visible ASCII characters; found {found:?}"),
        ));
    }
    chars_within(field, text, 1, max)
}

text_newtype!(
    /// A caller's idempotency key for Withdraw (the HTTP `Idempotency-Key`):
    /// 1 to 128 visible ASCII characters, scoped to the merchant.
    IdempotencyKey
);

impl IdempotencyKey {
    pub const MAX_LEN: usize = 128;

    pub fn parse(text: impl Into<String>) -> Result<Self, Invalid> {
        let text = text.into();
        visible_ascii("idempotency_key", &text, Self::MAX_LEN)?;
        Ok(Self(text))
    }
}

text_newtype!(
    /// What a Withdraw asked for, as a hash: the hex SHA-256 of its
    /// parameters other than the idempotency key (the merchant and the
    /// caller's request fingerprint). Stored with a bound key, so the key
    /// replayed with another request is recognised and refused.
    RequestHash
);

impl RequestHash {
    pub const LEN: usize = 64;
    pub const FINGERPRINT_MAX_LEN: usize = 128;

    /// Hashes the request's parameters. The encoding is versioned and
    /// unambiguous (each part length-prefixed), so two different requests
    /// never share a preimage.
    pub fn of(merchant_id: &MerchantId, fingerprint: &str) -> Result<Self, Invalid> {
        if !fingerprint.is_empty() {
            visible_ascii(
                "request_fingerprint",
                fingerprint,
                Self::FINGERPRINT_MAX_LEN,
            )?;
        }
        let mut hash = Sha256::new();
        hash.update(b"minipay.ledger.v1.Withdraw/1\n");
        for part in [merchant_id.as_str(), fingerprint] {
            hash.update(part.len().to_string().as_bytes());
            hash.update(b":");
            hash.update(part.as_bytes());
        }
        Ok(Self(hex::encode(hash.finalize())))
    }

    /// A hash as stored: 64 lowercase hex digits.
    pub fn parse(text: impl Into<String>) -> Result<Self, Invalid> {
        let text = text.into();
        let well_formed = text.len() == Self::LEN
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !well_formed {
            return Err(Invalid::new(
                "request_hash",
                "must be 64 lowercase hex digits",
            ));
        }
        Ok(Self(text))
    }
}

text_newtype!(
    /// Why a payout definitely failed: 1 to 256 characters, not blank, no
    /// control characters (WeChat's texts are Chinese; the column is utf8mb4).
    FailureReason
);

impl FailureReason {
    pub const MAX_CHARS: usize = 256;

    pub fn parse(text: impl Into<String>) -> Result<Self, Invalid> {
        const FIELD: &str = "reason";
        let text = text.into();
        if text.trim().is_empty() {
            return Err(Invalid::new(FIELD, "is required"));
        }
        chars_within(FIELD, &text, 1, Self::MAX_CHARS)?;
        no_control_characters(FIELD, &text)?;
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

status_enum!(
    /// `PAYING_OUT → PAID_OUT`, or `PAYING_OUT → FAILED` (its orders
    /// released). Live unless FAILED.
    WithdrawalStatus, "status" {
        PayingOut => "PAYING_OUT",
        PaidOut => "PAID_OUT",
        Failed => "FAILED",
    }
);

impl WithdrawalStatus {
    /// PAYING_OUT or PAID_OUT: the withdrawal holds its orders.
    pub fn is_live(self) -> bool {
        self != WithdrawalStatus::Failed
    }
}

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

/// A withdrawal as the ledger keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Withdrawal {
    pub withdrawal_id: WithdrawalId,
    pub merchant_id: MerchantId,
    /// Where the payout goes: the merchant's payout openid when the
    /// withdrawal was made.
    pub payout_openid: Openid,
    /// Σ of the orders stamped with its id (while live).
    pub amount: AmountFen,
    pub order_count: i64,
    pub status: WithdrawalStatus,
    /// `Some` exactly when FAILED.
    pub failure_reason: Option<FailureReason>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// What Withdraw asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WithdrawalRequest {
    pub merchant_id: MerchantId,
    pub idempotency_key: Option<IdempotencyKey>,
    pub request_hash: RequestHash,
}

impl WithdrawalRequest {
    /// From the wire: the key when given, the fingerprint possibly empty.
    pub fn parse(
        merchant_id: impl Into<String>,
        idempotency_key: Option<String>,
        fingerprint: &str,
    ) -> Result<Self, Invalid> {
        let merchant_id = MerchantId::parse(merchant_id)?;
        Ok(Self {
            request_hash: RequestHash::of(&merchant_id, fingerprint)?,
            idempotency_key: idempotency_key.map(IdempotencyKey::parse).transpose()?,
            merchant_id,
        })
    }
}

/// A merchant's money, from one snapshot: Σ PAID orders =
/// `withdrawable + paying_out + withdrawn`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balance {
    pub merchant_id: MerchantId,
    /// PAID orders that no withdrawal holds.
    pub withdrawable: AmountFen,
    pub withdrawable_orders: i64,
    /// Σ PAID_OUT withdrawals.
    pub withdrawn: AmountFen,
    /// Σ PAYING_OUT withdrawals.
    pub paying_out: AmountFen,
}

/// Where a page of withdrawals starts: just past the one with this
/// `created_at` and id (older for a merchant's list, newer for the payout
/// loop's). Opaque on the wire: base64url of `"{created_at_ms}:{id}"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WithdrawalCursor {
    pub created_at_ms: i64,
    pub withdrawal_id: WithdrawalId,
}

impl WithdrawalCursor {
    pub fn after(withdrawal: &Withdrawal) -> Self {
        Self {
            created_at_ms: withdrawal.created_at_ms,
            withdrawal_id: withdrawal.withdrawal_id.clone(),
        }
    }

    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}:{}", self.created_at_ms, self.withdrawal_id))
    }

    pub fn parse(text: &str) -> Result<Self, Invalid> {
        let invalid = || Invalid::new("cursor", "is not a cursor this service returned");
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
        let text = String::from_utf8(bytes).map_err(|_| invalid())?;
        let (created_at, withdrawal_id) = text.split_once(':').ok_or_else(invalid)?;
        Ok(Self {
            created_at_ms: created_at.parse().map_err(|_| invalid())?,
            withdrawal_id: WithdrawalId::parse(withdrawal_id).map_err(|_| invalid())?,
        })
    }

    /// An optional cursor from the wire: empty means the first page.
    pub fn parse_optional(text: &str) -> Result<Option<Self>, Invalid> {
        match text {
            "" => Ok(None),
            text => Self::parse(text).map(Some),
        }
    }
}

/// One page of withdrawals; `next` is `None` on the last page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WithdrawalPage {
    pub withdrawals: Vec<Withdrawal>,
    pub next: Option<WithdrawalCursor>,
}

/// What the invariant's check found wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ViolationKind {
    /// A live withdrawal's amount or order_count is not the sum or count of
    /// the orders carrying its id.
    WithdrawalMismatch,
    /// An order carries a FAILED withdrawal's id.
    HeldByFailed,
    /// An order a withdrawal holds is not PAID.
    HeldNotPaid,
    /// An order carries another merchant's withdrawal id.
    HeldByOtherMerchant,
    /// Σ PAID ≠ Σ withdrawable + Σ live withdrawals.
    Totals,
}

impl ViolationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ViolationKind::WithdrawalMismatch => "WITHDRAWAL_MISMATCH",
            ViolationKind::HeldByFailed => "HELD_BY_FAILED",
            ViolationKind::HeldNotPaid => "HELD_NOT_PAID",
            ViolationKind::HeldByOtherMerchant => "HELD_BY_OTHER_MERCHANT",
            ViolationKind::Totals => "TOTALS",
        }
    }
}

impl fmt::Display for ViolationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub kind: ViolationKind,
    pub withdrawal_id: Option<WithdrawalId>,
    pub out_trade_no: Option<OutTradeNo>,
    pub detail: String,
}

/// One merchant's money as the audit found it. Sums are plain `i64` fen:
/// an audit reports what it finds, even if it does not fit an [`AmountFen`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerchantAudit {
    pub merchant_id: MerchantId,
    pub paid_fen: i64,
    pub paid_orders: i64,
    pub withdrawable_fen: i64,
    pub withdrawable_orders: i64,
    pub paying_out_fen: i64,
    pub paid_out_fen: i64,
    pub violations: Vec<Violation>,
}

impl MerchantAudit {
    /// PAYING_OUT + PAID_OUT.
    pub fn live_withdrawn_fen(&self) -> i64 {
        self.paying_out_fen.saturating_add(self.paid_out_fen)
    }
}

/// The audit of one merchant or all, by merchant id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditReport {
    pub merchants: Vec<MerchantAudit>,
    /// More violations exist than were listed.
    pub truncated: bool,
}

impl AuditReport {
    pub fn violations(&self) -> impl Iterator<Item = &Violation> {
        self.merchants.iter().flat_map(|m| m.violations.iter())
    }

    pub fn is_clean(&self) -> bool {
        !self.truncated && self.violations().next().is_none()
    }
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
    fn withdrawal_ids_are_w_and_twenty_uppercase_alphanumerics() {
        let ids: Vec<WithdrawalId> = (0..100).map(|_| WithdrawalId::generate()).collect();
        for id in &ids {
            assert_eq!(id.as_str().len(), 21);
            assert!(id.as_str().starts_with('W'));
            assert!(
                id.as_str()[1..]
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            );
            // Also a valid WeChat partner_trade_no.
            assert!(common::PartnerTradeNo::parse(id.as_str()).is_ok());
            assert_eq!(WithdrawalId::parse(id.as_str()).as_ref(), Ok(id));
        }
        let distinct: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
        for bad in ["", "W-1", "W 1", "W_1", &"W".repeat(33), "Wé"] {
            assert_eq!(
                WithdrawalId::parse(bad).unwrap_err().field(),
                "withdrawal_id",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn idempotency_keys_fingerprints_and_reasons() {
        assert!(IdempotencyKey::parse("3f2a9c1e-7b7e-4c1f-9a55-5c1b2d3e4f50").is_ok());
        assert!(IdempotencyKey::parse("k".repeat(128)).is_ok());
        for bad in [String::new(), "k".repeat(129), "a b".into(), "é".into()] {
            assert_eq!(
                IdempotencyKey::parse(bad.clone()).unwrap_err().field(),
                "idempotency_key",
                "{bad:?}"
            );
        }

        let m = MerchantId::generate();
        let hash = RequestHash::of(&m, "").unwrap();
        assert_eq!(RequestHash::parse(hash.as_str()).as_ref(), Ok(&hash));
        assert_eq!(RequestHash::of(&m, "").unwrap(), hash);
        assert_ne!(RequestHash::of(&m, "sha256:1").unwrap(), hash);
        assert_ne!(RequestHash::of(&MerchantId::generate(), "").unwrap(), hash);
        assert_eq!(
            RequestHash::of(&m, "a b").unwrap_err().field(),
            "request_fingerprint"
        );
        assert!(RequestHash::parse("ABC").is_err());

        let request = WithdrawalRequest::parse(m.as_str(), Some("k-1".into()), "").unwrap();
        assert_eq!(request.idempotency_key.unwrap().as_str(), "k-1");
        assert_eq!(request.request_hash, hash);
        assert_eq!(
            WithdrawalRequest::parse(m.as_str(), Some(String::new()), "")
                .unwrap_err()
                .field(),
            "idempotency_key"
        );

        assert!(FailureReason::parse("NAME_MISMATCH: 姓名校验出错").is_ok());
        assert_eq!(FailureReason::parse(" ").unwrap_err().field(), "reason");
        assert!(FailureReason::parse("x".repeat(257)).is_err());
        assert!(FailureReason::parse("a\nb").is_err());

        for status in WithdrawalStatus::ALL {
            assert_eq!(WithdrawalStatus::parse(status.as_str()), Ok(*status));
        }
        assert!(WithdrawalStatus::PaidOut.is_live());
        assert!(!WithdrawalStatus::Failed.is_live());
    }

    #[test]
    fn withdrawal_cursors_round_trip_and_refuse_anything_else() {
        let cursor = WithdrawalCursor {
            created_at_ms: 1_733_300_000_123,
            withdrawal_id: WithdrawalId::generate(),
        };
        assert_eq!(
            WithdrawalCursor::parse(&cursor.encode()),
            Ok(cursor.clone())
        );
        assert_eq!(
            WithdrawalCursor::parse_optional(&cursor.encode()),
            Ok(Some(cursor))
        );
        assert_eq!(WithdrawalCursor::parse_optional(""), Ok(None));
        for bad in ["", "!!", "bm9wZQ", "MTIzOlctMQ"] {
            assert_eq!(
                WithdrawalCursor::parse(bad).unwrap_err().field(),
                "cursor",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn page_limits() {
        assert_eq!(PageLimit::parse(0), Ok(PageLimit::DEFAULT));
        assert_eq!(PageLimit::parse(500).map(PageLimit::get), Ok(500));
        assert_eq!(PageLimit::parse(501).unwrap_err().field(), "limit");
    }
}
