//! The rules: placing a payment (ledger first, then WeChat), handling a
//! notification (log, verify, check, settle in the ledger, reply), and
//! settling a payment WeChat reports paid — shared by notifications and
//! reconciliation.

use std::sync::Arc;
use std::time::Duration;

use common::{AmountFen, OutTradeNo};
use proto::ledger::v1 as ledger_pb;
use proto::payment::v1 as pb;
use tokio::time::Instant;
use wechat::client::{Api, ErrorKind, NewOrder};
use wechat::ids::OutTradeNoGenerator;
use wechat::messages::{NotifyReply, PayNotification, PayResult, UnifiedOrderSuccess};
use wechat::xml::DEFAULT_MAX_DOCUMENT_BYTES;
use wechat::{FieldMap, WechatClient, WechatError, XmlError};

use crate::domain::{
    NewNotification, NewPayment, NotifyOutcome, Payment, PaymentMetrics, PaymentRequest,
    beijing_millis,
};
use crate::error::PaymentError;
use crate::ledger::{Ledger, LedgerError};
use crate::store::{NotificationLog, PaymentStore, now_millis};

/// The largest notification body accepted (the gateway's limit too).
pub const MAX_NOTIFY_BYTES: usize = DEFAULT_MAX_DOCUMENT_BYTES;

/// Retries of unifiedorder after an unknown outcome, with the same number.
const UNIFIED_ORDER_RETRIES: u32 = 2;
/// The pause before retry n is n times this.
const RETRY_BACKOFF: Duration = Duration::from_millis(100);
/// A retry is not started with less time than this left.
const MIN_ATTEMPT: Duration = Duration::from_millis(100);

#[derive(Debug)]
pub(crate) struct Core {
    pub wechat: WechatClient,
    pub payments: Arc<dyn PaymentStore>,
    pub notifications: Arc<dyn NotificationLog>,
    pub ledger: Ledger,
    pub notify_url: String,
    pub default_merchant: Option<String>,
    pub max_order: AmountFen,
    pub call_deadline: Duration,
    pub reconcile_after: Duration,
    pub close_after: Duration,
    pub metrics: Arc<PaymentMetrics>,
    pub out_trade_nos: OutTradeNoGenerator,
    /// Notification ids: the same shape (time first, then 75 random bits).
    pub notification_ids: OutTradeNoGenerator,
}

/// What was done about a payment WeChat reports paid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Settlement {
    /// The ledger marked it paid now.
    Applied,
    /// The ledger already had this payment.
    Duplicate,
    /// The ledger had closed the order: recorded on the payment and counted.
    Anomaly(String),
    /// The ledger refused for another reason (a defect or a forgery that
    /// passed every check): not acknowledged.
    Refused(String),
    /// The ledger or the store did not answer: try again later.
    Deferred(String),
}

/// The decision about one notification body.
#[derive(Debug)]
struct Verdict {
    outcome: NotifyOutcome,
    /// Logged and stored.
    reason: String,
    /// What WeChat is told on a FAIL.
    reply_msg: &'static str,
    http_status: u32,
    out_trade_no: Option<String>,
}

impl Verdict {
    fn new(outcome: NotifyOutcome, reason: impl Into<String>) -> Self {
        let (http_status, reply_msg) = match outcome {
            NotifyOutcome::Applied
            | NotifyOutcome::Duplicate
            | NotifyOutcome::FailedPayment
            | NotifyOutcome::Anomaly => (200, "OK"),
            NotifyOutcome::Deferred | NotifyOutcome::Received => (503, "temporarily unavailable"),
            NotifyOutcome::Refused => (400, "refused"),
        };
        Self {
            outcome,
            reason: reason.into(),
            reply_msg,
            http_status,
            out_trade_no: None,
        }
    }

    fn refused(reply_msg: &'static str, reason: impl Into<String>) -> Self {
        Self {
            reply_msg,
            ..Self::new(NotifyOutcome::Refused, reason)
        }
    }

    fn for_order(mut self, out_trade_no: &OutTradeNo) -> Self {
        self.out_trade_no = Some(out_trade_no.as_str().to_owned());
        self
    }

    fn reply(&self) -> pb::HandlePayNotifyResponse {
        let reply = if self.http_status == 200 {
            NotifyReply::Success
        } else {
            NotifyReply::Fail(self.reply_msg.to_owned())
        };
        notify_response(&reply, self.http_status)
    }
}

fn notify_response(reply: &NotifyReply, http_status: u32) -> pb::HandlePayNotifyResponse {
    // Our replies carry only fixed ASCII text, which always encodes.
    let xml = reply
        .to_xml()
        .unwrap_or_else(|_| "<xml><return_code><![CDATA[FAIL]]></return_code></xml>".to_owned());
    pb::HandlePayNotifyResponse {
        reply: xml.into_bytes(),
        http_status,
    }
}

impl Core {
    /// CreatePayment: validate, record the order in the ledger, record the
    /// payment, ask WeChat (retrying an unknown outcome with the same
    /// number while `budget` allows), sign the `wx.requestPayment` fields.
    #[tracing::instrument(skip_all, fields(request_id = %request_id))]
    pub(crate) async fn create_payment(
        &self,
        request: pb::CreatePaymentRequest,
        request_id: &str,
        budget: Duration,
    ) -> Result<pb::CreatePaymentResponse, PaymentError> {
        let deadline = Instant::now() + budget;
        let order =
            PaymentRequest::parse(request, self.default_merchant.as_deref(), self.max_order)?;
        self.ledger
            .get_merchant(&order.merchant_id, request_id)
            .await
            .map_err(|e| match e {
                // A malformed id names no merchant either.
                LedgerError::NotFound(_)
                | LedgerError::Rejected {
                    code: tonic::Code::InvalidArgument,
                    ..
                } => PaymentError::UnknownMerchant(order.merchant_id.clone()),
                other => PaymentError::Ledger(other),
            })?;
        let no = self.out_trade_nos.next();
        self.ledger
            .create_order(
                ledger_pb::CreateOrderRequest {
                    out_trade_no: no.as_str().to_owned(),
                    merchant_id: order.merchant_id.clone(),
                    payer_openid: order.openid.clone(),
                    amount_fen: order.amount.fen(),
                    description: order.description.clone(),
                },
                request_id,
            )
            .await?;
        let payment = NewPayment {
            out_trade_no: no.clone(),
            merchant_id: order.merchant_id.clone(),
            payer_openid: order.openid.clone(),
            amount: order.amount,
            sign_type: self.wechat.config().sign_type,
        };
        if let Err(e) = self.payments.insert(&payment, now_millis()).await {
            // WeChat has never heard of this number, so closing the ledger's
            // order at once is safe; otherwise nothing would ever close it.
            tracing::warn!(
                out_trade_no = %no,
                error = %e,
                "payment not recorded; closing the ledger order",
            );
            if let Err(close) = self.ledger.close_order(&no, request_id).await {
                tracing::error!(
                    out_trade_no = %no,
                    error = %close,
                    "ledger order left CREATED without a payment",
                );
            }
            return Err(e.into());
        }
        let wechat_order = NewOrder {
            out_trade_no: no.clone(),
            total_fee: order.amount,
            body: order.description,
            openid: order.openid,
            spbill_create_ip: order.client_ip,
            notify_url: self.notify_url.clone(),
            attach: None,
            time_expire: None,
        };
        match self.unified_order(&wechat_order, deadline).await {
            Ok(placed) => {
                if let Err(e) = self
                    .payments
                    .mark_ordered(&no, &placed.prepay_id, now_millis())
                    .await
                {
                    // The row stays ORDERING: a notification still finds it,
                    // and reconciliation settles it either way.
                    tracing::warn!(out_trade_no = %no, error = %e, "prepay_id not recorded");
                }
                let params = self.wechat.request_payment(&placed.prepay_id);
                tracing::info!(
                    out_trade_no = %no,
                    amount_fen = payment.amount.fen(),
                    merchant_id = %payment.merchant_id,
                    "payment ordered",
                );
                Ok(pb::CreatePaymentResponse {
                    out_trade_no: no.into_string(),
                    time_stamp: params.time_stamp,
                    nonce_str: params.nonce_str,
                    package: params.package,
                    sign_type: params.sign_type,
                    pay_sign: params.pay_sign,
                })
            }
            Err(error) => {
                tracing::warn!(
                    out_trade_no = %no,
                    error = %error,
                    "unifiedorder failed; the order stays CREATED",
                );
                if let Err(e) = self
                    .payments
                    .record_error(&no, &error.to_string(), now_millis())
                    .await
                {
                    tracing::warn!(out_trade_no = %no, error = %e, "last_error not recorded");
                }
                Err(PaymentError::Wechat {
                    out_trade_no: no,
                    error,
                })
            }
        }
    }

    /// unifiedorder, repeated with the same number (WeChat's re-entry)
    /// while the outcome is unknown, the retries last and `deadline` allows.
    async fn unified_order(
        &self,
        order: &NewOrder,
        deadline: Instant,
    ) -> Result<UnifiedOrderSuccess, WechatError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let left = deadline.saturating_duration_since(Instant::now());
            let result = tokio::time::timeout(left, self.wechat.unified_order(order))
                .await
                .unwrap_or_else(|_| Err(WechatError::new(Api::UnifiedOrder, ErrorKind::Timeout)));
            let error = match result {
                Ok(placed) => return Ok(placed),
                Err(error) => error,
            };
            let pause = RETRY_BACKOFF * attempt;
            let left = deadline.saturating_duration_since(Instant::now());
            if !error.retry_with_same_id()
                || attempt > UNIFIED_ORDER_RETRIES
                || left < pause + MIN_ATTEMPT
            {
                return Err(error);
            }
            tracing::info!(
                out_trade_no = %order.out_trade_no,
                attempt,
                error = %error,
                "unifiedorder outcome unknown; retrying with the same out_trade_no",
            );
            tokio::time::sleep(pause).await;
        }
    }

    /// HandlePayNotify: the body is logged before anything acts on it, and
    /// its outcome before the reply goes out.
    pub(crate) async fn handle_notification(
        &self,
        body: &[u8],
        request_id: &str,
    ) -> pb::HandlePayNotifyResponse {
        let parsed = if body.len() > MAX_NOTIFY_BYTES {
            Err(XmlError::TooLarge {
                len: body.len(),
                limit: MAX_NOTIFY_BYTES,
            })
        } else {
            FieldMap::from_xml(body)
        };
        // Only a label for the log until the signature is checked.
        let label = parsed
            .as_ref()
            .ok()
            .and_then(|map| map.get("out_trade_no"))
            .and_then(|no| OutTradeNo::parse(no).ok())
            .map(OutTradeNo::into_string);
        let kept = &body[..body.len().min(MAX_NOTIFY_BYTES)];
        let logged = NewNotification {
            id: self.notification_ids.next().into_string(),
            received_at_ms: now_millis(),
            out_trade_no: label,
            body_len: i64::try_from(body.len()).unwrap_or(i64::MAX),
            body: String::from_utf8_lossy(kept).into_owned(),
        };
        if let Err(e) = self.notifications.record(&logged).await {
            tracing::error!(
                request_id,
                error = %e,
                "notification not logged; asking WeChat to send it again",
            );
            self.metrics.count_notification(NotifyOutcome::Deferred);
            return Verdict::new(NotifyOutcome::Deferred, "").reply();
        }

        let verdict = match parsed {
            Ok(map) => self.decide(&map, request_id).await,
            Err(e @ XmlError::TooLarge { .. }) => Verdict {
                http_status: 413,
                ..Verdict::refused("body too large", e.to_string())
            },
            Err(e) => Verdict::refused("invalid XML", format!("not a valid document: {e}")),
        };
        if let Err(e) = self
            .notifications
            .resolve(
                &logged.id,
                verdict.out_trade_no.as_deref(),
                verdict.outcome,
                &verdict.reason,
            )
            .await
        {
            tracing::error!(
                request_id,
                notification_id = %logged.id,
                outcome = %verdict.outcome,
                error = %e,
                "notification outcome not logged; asking WeChat to send it again",
            );
            self.metrics.count_notification(NotifyOutcome::Deferred);
            return Verdict::new(NotifyOutcome::Deferred, "").reply();
        }
        self.metrics.count_notification(verdict.outcome);
        let no = verdict.out_trade_no.as_deref().unwrap_or("-");
        match verdict.outcome {
            NotifyOutcome::Applied | NotifyOutcome::Duplicate | NotifyOutcome::FailedPayment => {
                tracing::info!(
                    request_id,
                    out_trade_no = no,
                    notification_id = %logged.id,
                    outcome = %verdict.outcome,
                    reason = %verdict.reason,
                    "notification handled",
                );
            }
            NotifyOutcome::Anomaly => {
                tracing::error!(
                    request_id,
                    out_trade_no = no,
                    notification_id = %logged.id,
                    reason = %verdict.reason,
                    "notification for a closed order",
                );
            }
            NotifyOutcome::Refused | NotifyOutcome::Deferred | NotifyOutcome::Received => {
                tracing::warn!(
                    request_id,
                    out_trade_no = no,
                    notification_id = %logged.id,
                    outcome = %verdict.outcome,
                    reason = %verdict.reason,
                    "notification not acknowledged",
                );
            }
        }
        verdict.reply()
    }

    async fn decide(&self, map: &FieldMap, request_id: &str) -> Verdict {
        let Some(text) = map.get("out_trade_no").filter(|t| !t.is_empty()) else {
            return Verdict::refused("unknown order", "no out_trade_no");
        };
        let Ok(no) = OutTradeNo::parse(text) else {
            return Verdict::refused("unknown order", "out_trade_no is not a valid order number");
        };
        let payment = match self.payments.get(&no).await {
            Ok(Some(payment)) => payment,
            Ok(None) => {
                return Verdict::refused("unknown order", format!("no payment {no}"));
            }
            Err(e) => return Verdict::new(NotifyOutcome::Deferred, e.to_string()).for_order(&no),
        };
        let cfg = self.wechat.config();
        if let Err(e) = wechat::sign::verify(map, &cfg.api_key, payment.sign_type) {
            return Verdict::refused("invalid signature", format!("signature: {e}")).for_order(&no);
        }
        let notification = match PayNotification::from_fields(map) {
            Ok(n) => n,
            Err(e) => {
                return Verdict::refused("invalid notification", e.to_string()).for_order(&no);
            }
        };
        if notification.appid != cfg.appid {
            return Verdict::refused("appid mismatch", "appid is not ours").for_order(&no);
        }
        if notification.mch_id != cfg.mch_id {
            return Verdict::refused("mch_id mismatch", "mch_id is not ours").for_order(&no);
        }
        match notification.result {
            PayResult::Failed {
                err_code,
                err_code_des,
            } => Verdict::new(
                NotifyOutcome::FailedPayment,
                format!(
                    "payment failed: {} {}",
                    err_code.as_deref().unwrap_or("-"),
                    err_code_des.as_deref().unwrap_or("")
                )
                .trim_end()
                .to_owned(),
            )
            .for_order(&no),
            PayResult::Paid {
                transaction_id,
                total_fee,
                time_end,
                ..
            } => {
                if total_fee != payment.amount {
                    return Verdict::refused(
                        "amount mismatch",
                        format!(
                            "total_fee {total_fee} is not the order's {}",
                            payment.amount
                        ),
                    )
                    .for_order(&no);
                }
                let Some(paid_at_ms) = beijing_millis(&time_end) else {
                    return Verdict::refused("invalid time_end", "time_end is not yyyyMMddHHmmss")
                        .for_order(&no);
                };
                let verdict = match self
                    .settle_paid(&payment, &transaction_id, paid_at_ms, request_id)
                    .await
                {
                    Settlement::Applied => {
                        Verdict::new(NotifyOutcome::Applied, format!("paid by {transaction_id}"))
                    }
                    Settlement::Duplicate => Verdict::new(
                        NotifyOutcome::Duplicate,
                        format!("already paid by {transaction_id}"),
                    ),
                    Settlement::Anomaly(reason) => Verdict::new(NotifyOutcome::Anomaly, reason),
                    Settlement::Refused(reason) => {
                        Verdict::refused("refused by the ledger", reason)
                    }
                    Settlement::Deferred(reason) => Verdict::new(NotifyOutcome::Deferred, reason),
                };
                verdict.for_order(&no)
            }
        }
    }

    /// WeChat says `payment` was paid by `transaction_id` (a verified
    /// notification, or orderquery): the ledger decides, and the payment row
    /// follows. A payment for an order the ledger closed is an anomaly:
    /// recorded, counted once, logged at error level — never dropped.
    pub(crate) async fn settle_paid(
        &self,
        payment: &Payment,
        transaction_id: &str,
        paid_at_ms: i64,
        request_id: &str,
    ) -> Settlement {
        let no = &payment.out_trade_no;
        let refusal = match self
            .ledger
            .mark_paid(no, transaction_id, payment.amount, paid_at_ms, request_id)
            .await
        {
            Ok(reply) => {
                self.follow_ledger_paid(no, transaction_id).await;
                return if reply.already_paid {
                    Settlement::Duplicate
                } else {
                    Settlement::Applied
                };
            }
            Err(LedgerError::FailedPrecondition(message)) => message,
            Err(e @ LedgerError::Unavailable(_)) => return Settlement::Deferred(e.to_string()),
            Err(e @ (LedgerError::NotFound(_) | LedgerError::Rejected { .. })) => {
                tracing::error!(
                    out_trade_no = %no,
                    transaction_id,
                    error = %e,
                    "the ledger refused a verified payment",
                );
                return Settlement::Refused(e.to_string());
            }
        };
        // Refused because of the order's state: find out which.
        let order = match self.ledger.get_order(no, request_id).await {
            Ok(order) => order,
            Err(e @ LedgerError::Unavailable(_)) => return Settlement::Deferred(e.to_string()),
            Err(e) => return Settlement::Refused(format!("ledger refused ({refusal}); {e}")),
        };
        match order.status.as_str() {
            "CLOSED" => {
                let reason = format!(
                    "paid by {transaction_id} ({} fen) after the ledger closed the order",
                    payment.amount
                );
                self.record_anomaly(no, transaction_id, &reason).await
            }
            "PAID" | "REFUNDED" if order.transaction_id == transaction_id => {
                self.follow_ledger_paid(no, transaction_id).await;
                Settlement::Duplicate
            }
            status => {
                tracing::error!(
                    out_trade_no = %no,
                    transaction_id,
                    ledger_status = status,
                    ledger_transaction_id = %order.transaction_id,
                    refusal = %refusal,
                    "the ledger refused a verified payment",
                );
                Settlement::Refused(format!("ledger refused: {refusal} (order is {status})"))
            }
        }
    }

    /// Marks the payment an anomaly (counting it the first time).
    pub(crate) async fn record_anomaly(
        &self,
        no: &OutTradeNo,
        transaction_id: &str,
        reason: &str,
    ) -> Settlement {
        tracing::error!(
            out_trade_no = %no,
            transaction_id,
            reason,
            "ANOMALY: money received for an order that cannot take it",
        );
        match self
            .payments
            .mark_anomaly(no, transaction_id, reason, now_millis())
            .await
        {
            Ok(first) => {
                if first {
                    self.metrics.count_anomaly();
                }
                Settlement::Anomaly(reason.to_owned())
            }
            Err(e) => Settlement::Deferred(format!("anomaly not recorded: {e}")),
        }
    }

    /// The ledger has the order paid: the payment row follows.
    async fn follow_ledger_paid(&self, no: &OutTradeNo, transaction_id: &str) {
        if let Err(e) = self
            .payments
            .mark_paid(no, transaction_id, now_millis())
            .await
        {
            // Reconciliation will find it ORDERED, query, and get here again.
            tracing::warn!(out_trade_no = %no, error = %e, "payment row not marked paid");
        }
    }

    /// Each dependency and whether it answers.
    pub(crate) async fn ready(
        &self,
        request_id: &str,
    ) -> std::collections::HashMap<String, String> {
        let (store, ledger) = tokio::join!(self.payments.ping(), self.ledger.readiness(request_id));
        let store = match store {
            Ok(()) => "ok".to_owned(),
            Err(e) => e.to_string(),
        };
        [
            (format!("payments:{}", self.payments.backend()), store),
            ("ledger".to_owned(), ledger),
        ]
        .into_iter()
        .collect()
    }
}

/// The shortest of the configured budget and what the caller's deadline
/// (`grpc-timeout`) leaves, less a margin to answer in.
pub(crate) fn budget(configured: Duration, metadata: &tonic::metadata::MetadataMap) -> Duration {
    let Some(caller) = metadata
        .get("grpc-timeout")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_grpc_timeout)
    else {
        return configured;
    };
    configured.min(caller.mul_f64(0.9))
}

/// `grpc-timeout`'s format: up to 8 digits and a unit (H, M, S, m, u, n).
fn parse_grpc_timeout(text: &str) -> Option<Duration> {
    let (digits, unit) = text.split_at(text.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_parse() {
        assert_eq!(
            parse_grpc_timeout("1500000u"),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(parse_grpc_timeout("10S"), Some(Duration::from_secs(10)));
        assert_eq!(parse_grpc_timeout("2M"), Some(Duration::from_secs(120)));
        for bad in ["", "S", "123456789S", "10x", "-1S", "1.5S"] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad:?}");
        }
        let mut metadata = tonic::metadata::MetadataMap::new();
        assert_eq!(
            budget(Duration::from_secs(8), &metadata),
            Duration::from_secs(8)
        );
        metadata.insert("grpc-timeout", "1000m".parse().unwrap());
        assert_eq!(
            budget(Duration::from_secs(8), &metadata),
            Duration::from_millis(900)
        );
        assert_eq!(
            budget(Duration::from_millis(500), &metadata),
            Duration::from_millis(500)
        );
    }

    #[test]
    fn replies_are_wechat_xml_with_the_status() {
        let ok = Verdict::new(NotifyOutcome::Duplicate, "x").reply();
        assert_eq!(ok.http_status, 200);
        assert!(String::from_utf8(ok.reply).unwrap().contains("SUCCESS"));
        let refused = Verdict::refused("invalid signature", "detail").reply();
        assert_eq!(refused.http_status, 400);
        let text = String::from_utf8(refused.reply).unwrap();
        assert!(
            text.contains("FAIL") && text.contains("invalid signature") && !text.contains("detail")
        );
        assert_eq!(
            Verdict::new(NotifyOutcome::Deferred, "x")
                .reply()
                .http_status,
            503
        );
    }
}
