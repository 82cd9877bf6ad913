//! Validated types: what a CreatePayment call may ask for, the states of a
//! payment, and what became of a notification.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use common::{AmountFen, OutTradeNo};
use wechat::SignType;

use crate::error::PaymentError;

/// WeChat's `body` limit, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 127;
/// The description when the caller gives none.
pub const DEFAULT_DESCRIPTION: &str = "minipay order";
/// WeChat's openid limit (`String(128)`).
pub const MAX_OPENID_LEN: usize = 128;
/// The `merchant_id` column's width.
pub const MAX_MERCHANT_ID_LEN: usize = 64;

/// A CreatePayment request that passed every check: nothing here can make
/// WeChat or the ledger refuse the call for its shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRequest {
    pub openid: String,
    pub merchant_id: String,
    pub amount: AmountFen,
    pub description: String,
    pub client_ip: IpAddr,
}

impl PaymentRequest {
    /// Checks the caller's fields; an empty `merchant_id` means
    /// `default_merchant`. Each error names the offending field.
    pub fn parse(
        r: proto::payment::v1::CreatePaymentRequest,
        default_merchant: Option<&str>,
        max_order: AmountFen,
    ) -> Result<Self, PaymentError> {
        let invalid = |field: &'static str, reason: String| PaymentError::Invalid { field, reason };
        let amount = AmountFen::positive(r.amount_fen)
            .ok()
            .filter(|amount| *amount <= max_order)
            .ok_or_else(|| {
                invalid(
                    "amount_fen",
                    format!("must be from 1 to {max_order} fen (got {})", r.amount_fen),
                )
            })?;
        if r.openid.is_empty() {
            return Err(PaymentError::Missing { field: "openid" });
        }
        if r.openid.len() > MAX_OPENID_LEN
            || !r
                .openid
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(invalid(
                "openid",
                format!("must be 1 to {MAX_OPENID_LEN} ASCII letters, digits, _ or -"),
            ));
        }
        let merchant_id = match (r.merchant_id.as_str(), default_merchant) {
            ("", Some(default)) => default.to_owned(),
            ("", None) => {
                return Err(invalid(
                    "merchant_id",
                    "is required: no default merchant is configured".into(),
                ));
            }
            (given, _) => given.to_owned(),
        };
        if merchant_id.len() > MAX_MERCHANT_ID_LEN
            || !merchant_id.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(invalid(
                "merchant_id",
                format!("must be 1 to {MAX_MERCHANT_ID_LEN} printable ASCII characters"),
            ));
        }
        let client_ip: IpAddr = r.client_ip.trim().parse().map_err(|_| {
            invalid(
                "client_ip",
                format!("is not an IP address: {:?}", truncate(&r.client_ip, 64)),
            )
        })?;
        let description = if r.description.trim().is_empty() {
            DEFAULT_DESCRIPTION.to_owned()
        } else {
            r.description
        };
        if description.chars().count() > MAX_DESCRIPTION_CHARS {
            return Err(invalid(
                "description",
                format!("must be at most {MAX_DESCRIPTION_CHARS} characters"),
            ));
        }
        if description.chars().any(char::is_control) {
            return Err(invalid(
                "description",
                "must not contain control characters".into(),
            ));
        }
        Ok(Self {
            openid: r.openid,
            merchant_id,
            amount,
            description,
            client_ip,
        })
    }
}

/// Where a payment stands, as payment-service sees it. The ledger's order
/// is the truth about money; this is the truth about WeChat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaymentState {
    /// Recorded; unifiedorder has not (yet) answered with a prepay_id.
    Ordering,
    /// WeChat gave a prepay_id; the user may pay.
    Ordered,
    Paid,
    /// Closed in WeChat (or never known there) and in the ledger.
    Closed,
    /// Paid in WeChat although the ledger had closed the order: a person
    /// must look at it.
    Anomaly,
}

impl PaymentState {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentState::Ordering => "ORDERING",
            PaymentState::Ordered => "ORDERED",
            PaymentState::Paid => "PAID",
            PaymentState::Closed => "CLOSED",
            PaymentState::Anomaly => "ANOMALY",
        }
    }
}

impl fmt::Display for PaymentState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PaymentState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "ORDERING" => PaymentState::Ordering,
            "ORDERED" => PaymentState::Ordered,
            "PAID" => PaymentState::Paid,
            "CLOSED" => PaymentState::Closed,
            "ANOMALY" => PaymentState::Anomaly,
            other => return Err(format!("unknown payment state {:?}", truncate(other, 32))),
        })
    }
}

/// What became of one notification body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotifyOutcome {
    /// Logged, not yet decided (a crash leaves it so).
    Received,
    /// The ledger marked the order paid because of it.
    Applied,
    /// The ledger already had this payment: acknowledged, nothing changed.
    Duplicate,
    /// Bad XML, signature, ids, amount, unknown order: FAIL, nothing changed.
    Refused,
    /// A verified `result_code=FAIL`: acknowledged, the order stays CREATED.
    FailedPayment,
    /// A dependency was down: FAIL with 503, WeChat sends it again.
    Deferred,
    /// Paid for an order the ledger had closed: acknowledged and surfaced.
    Anomaly,
}

impl NotifyOutcome {
    pub const ALL: [NotifyOutcome; 7] = [
        NotifyOutcome::Received,
        NotifyOutcome::Applied,
        NotifyOutcome::Duplicate,
        NotifyOutcome::Refused,
        NotifyOutcome::FailedPayment,
        NotifyOutcome::Deferred,
        NotifyOutcome::Anomaly,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NotifyOutcome::Received => "RECEIVED",
            NotifyOutcome::Applied => "APPLIED",
            NotifyOutcome::Duplicate => "DUPLICATE",
            NotifyOutcome::Refused => "REFUSED",
            NotifyOutcome::FailedPayment => "FAILED_PAYMENT",
            NotifyOutcome::Deferred => "DEFERRED",
            NotifyOutcome::Anomaly => "ANOMALY",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for NotifyOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for NotifyOutcome {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NotifyOutcome::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| format!("unknown notification outcome {:?}", truncate(s, 32)))
    }
}

/// A payment as first recorded, before WeChat is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPayment {
    pub out_trade_no: OutTradeNo,
    pub merchant_id: String,
    pub payer_openid: String,
    pub amount: AmountFen,
    pub sign_type: SignType,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub out_trade_no: OutTradeNo,
    pub merchant_id: String,
    pub payer_openid: String,
    pub amount: AmountFen,
    /// The sign type unifiedorder used: notifications are verified with it.
    pub sign_type: SignType,
    pub prepay_id: Option<String>,
    pub state: PaymentState,
    /// WeChat's transaction, once paid (or paid anomalously).
    pub transaction_id: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub last_error: Option<String>,
    /// When reconciliation last looked at it, and how often it has.
    pub checked_at_ms: Option<i64>,
    pub checks: i64,
}

/// A notification as logged on arrival.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotification {
    pub id: String,
    pub received_at_ms: i64,
    pub out_trade_no: Option<String>,
    /// The body's length in bytes (the stored body may be cut short).
    pub body_len: i64,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub id: String,
    pub received_at_ms: i64,
    pub out_trade_no: Option<String>,
    pub outcome: NotifyOutcome,
    pub reason: String,
    pub body_len: i64,
    pub body: String,
}

/// Counters for `/metrics`, shared with whoever started the service.
#[derive(Debug, Default)]
pub struct PaymentMetrics {
    anomalies: std::sync::atomic::AtomicU64,
    notifications: [std::sync::atomic::AtomicU64; 7],
}

impl PaymentMetrics {
    /// Payments that arrived for orders the ledger had closed.
    pub fn anomalies(&self) -> u64 {
        self.anomalies.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Notifications handled, by outcome.
    pub fn notifications(&self, outcome: NotifyOutcome) -> u64 {
        self.notifications[outcome.index()].load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn count_anomaly(&self) {
        self.anomalies
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    pub(crate) fn count_notification(&self, outcome: NotifyOutcome) {
        self.notifications[outcome.index()].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// `time_end` (`yyyyMMddHHmmss`, Beijing time) as epoch milliseconds.
pub fn beijing_millis(time_end: &str) -> Option<i64> {
    if time_end.len() != 14 || !time_end.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let naive = chrono::NaiveDateTime::parse_from_str(time_end, "%Y%m%d%H%M%S").ok()?;
    let east8 = chrono::FixedOffset::east_opt(8 * 3600)?;
    naive
        .and_local_timezone(east8)
        .single()
        .map(|t| t.timestamp_millis())
}

pub(crate) fn truncate(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::payment::v1::CreatePaymentRequest;

    fn request() -> CreatePaymentRequest {
        CreatePaymentRequest {
            openid: "oUpF8uMEb4qRXf22hE3X68TekukE".into(),
            merchant_id: String::new(),
            amount_fen: 100,
            description: String::new(),
            client_ip: "203.0.113.7".into(),
        }
    }

    fn parse(r: CreatePaymentRequest) -> Result<PaymentRequest, PaymentError> {
        PaymentRequest::parse(r, Some("m-default"), AmountFen::positive(1000).unwrap())
    }

    fn field_of(e: PaymentError) -> &'static str {
        match e {
            PaymentError::Invalid { field, .. } | PaymentError::Missing { field } => field,
            other => panic!("not a validation error: {other}"),
        }
    }

    #[test]
    fn defaults_fill_merchant_and_description() {
        let p = parse(request()).unwrap();
        assert_eq!(p.merchant_id, "m-default");
        assert_eq!(p.description, DEFAULT_DESCRIPTION);
        assert_eq!(p.client_ip.to_string(), "203.0.113.7");
        let mut r = request();
        r.merchant_id = "m-1".into();
        r.description = "一杯咖啡 ☕".into();
        r.client_ip = "2001:db8::1".into();
        let p = parse(r).unwrap();
        assert_eq!(p.merchant_id, "m-1");
        assert_eq!(p.description, "一杯咖啡 ☕");
    }

    #[test]
    fn each_bad_field_is_named() {
        type Change = fn(&mut CreatePaymentRequest);
        let cases: Vec<(Change, &str)> = vec![
            (|r| r.amount_fen = 0, "amount_fen"),
            (|r| r.amount_fen = -5, "amount_fen"),
            (|r| r.amount_fen = 1001, "amount_fen"),
            (|r| r.openid = String::new(), "openid"),
            (|r| r.openid = "o".repeat(129), "openid"),
            (|r| r.openid = "has space".into(), "openid"),
            (|r| r.openid = "o.dot".into(), "openid"),
            (|r| r.client_ip = "localhost".into(), "client_ip"),
            (|r| r.client_ip = String::new(), "client_ip"),
            (|r| r.description = "字".repeat(128), "description"),
            (|r| r.description = "tab\there".into(), "description"),
            (|r| r.merchant_id = "m".repeat(65), "merchant_id"),
        ];
        for (change, field) in cases {
            let mut r = request();
            change(&mut r);
            assert_eq!(field_of(parse(r).unwrap_err()), field);
        }
        let mut r = request();
        r.amount_fen = 1000;
        r.description = "字".repeat(127);
        assert!(parse(r).is_ok(), "the limits are inclusive");
        let none = PaymentRequest::parse(request(), None, AmountFen::positive(1000).unwrap());
        assert_eq!(field_of(none.unwrap_err()), "merchant_id");
    }

    #[test]
    fn states_and_outcomes_round_trip() {
        for s in [
            PaymentState::Ordering,
            PaymentState::Ordered,
            PaymentState::Paid,
            PaymentState::Closed,
            PaymentState::Anomaly,
        ] {
            assert_eq!(s.as_str().parse::<PaymentState>(), Ok(s));
        }
        for o in NotifyOutcome::ALL {
            assert_eq!(o.as_str().parse::<NotifyOutcome>(), Ok(o));
        }
        assert!("PENDING".parse::<PaymentState>().is_err());
        assert!("OK".parse::<NotifyOutcome>().is_err());
    }

    #[test]
    fn time_end_is_beijing_time() {
        // 2024-01-01 12:00:00 +08:00 = 04:00:00 UTC.
        assert_eq!(beijing_millis("20240101120000"), Some(1_704_081_600_000));
        for bad in [
            "",
            "2024010112000",
            "20241301120000",
            "2024010112000x",
            "+0240101120000",
        ] {
            assert_eq!(beijing_millis(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn metrics_count() {
        let m = PaymentMetrics::default();
        m.count_anomaly();
        m.count_notification(NotifyOutcome::Applied);
        m.count_notification(NotifyOutcome::Applied);
        assert_eq!(m.anomalies(), 1);
        assert_eq!(m.notifications(NotifyOutcome::Applied), 2);
        assert_eq!(m.notifications(NotifyOutcome::Refused), 0);
    }
}
