//! Scripted fakes of PaymentService and LedgerService: what they answer
//! depends on what they are asked (a merchant id, a marker in a notification
//! body, an order number), and each records every call it receives.

use std::sync::{Arc, Mutex};

use common::status::{Reason, with_out_trade_no, with_reason};
use proto::ledger::v1::ledger_service_server::LedgerService;
use proto::ledger::v1::{
    CloseOrderRequest, CreateMerchantRequest, CreateOrderRequest, GetMerchantRequest,
    GetOrderRequest, ListOrdersRequest, ListOrdersResponse, MarkPaidRequest, MarkPaidResponse,
    Merchant, Order,
};
use proto::payment::v1::payment_service_server::PaymentService;
use proto::payment::v1::{
    CreatePaymentRequest, CreatePaymentResponse, HandlePayNotifyRequest, HandlePayNotifyResponse,
    MetricsRequest, MetricsResponse,
};
use tonic::{Code, Request, Response, Status};

use crate::helpers::{GOOD_OPENID, OTHER_OPENID, Readiness, Recorder, Seen};

/// The order a successful CreatePayment answers with.
pub const NEW_ORDER: &str = "20261204000000000001ABCDEFGHJK";
/// The order recorded before WeChat refused (merchant [`WECHAT_FAILS`]).
pub const REFUSED_ORDER: &str = "20261204000000000002ABCDEFGHJK";
/// Merchant ids that script CreatePayment.
pub const UNKNOWN_MERCHANT: &str = "m-unknown";
pub const WECHAT_FAILS: &str = "m-wechat-fails";
pub const WECHAT_FAILS_MESSAGE: &str = "WeChat unifiedorder: SYSTEMERROR: system busy";
pub const PAYMENT_DOWN: &str = "m-payment-store-down";

pub const SUCCESS_REPLY: &str = "<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>";
pub const REFUSED_REPLY: &str = "<xml><return_code><![CDATA[FAIL]]></return_code><return_msg><![CDATA[signature mismatch]]></return_msg></xml>";
pub const STORE_DOWN_REPLY: &str = "<xml><return_code><![CDATA[FAIL]]></return_code><return_msg><![CDATA[try again]]></return_msg></xml>";

#[derive(Debug, Clone, PartialEq)]
pub enum PaymentCall {
    Create(CreatePaymentRequest),
    Notify(Vec<u8>),
    Readiness,
    Metrics,
}

/// What Metrics answers.
#[derive(Debug, Clone)]
pub enum PaymentMetrics {
    Counters(MetricsResponse),
    Fail(Code, String),
    Hang,
}

impl PaymentMetrics {
    /// Applied 3, duplicate 1, refused 2, the rest 0; anomalies 1.
    pub fn sample() -> Self {
        let counts = [
            ("RECEIVED", 0),
            ("APPLIED", 3),
            ("DUPLICATE", 1),
            ("REFUSED", 2),
            ("FAILED_PAYMENT", 0),
            ("DEFERRED", 0),
            ("ANOMALY", 1),
        ];
        PaymentMetrics::Counters(MetricsResponse {
            notifications_by_outcome: counts
                .into_iter()
                .map(|(outcome, n)| (outcome.to_owned(), n))
                .collect(),
            anomalies: 1,
        })
    }
}

#[derive(Debug, Clone)]
pub struct FakePayment {
    seen: Recorder<PaymentCall>,
    readiness: Arc<Mutex<Readiness>>,
    metrics: Arc<Mutex<PaymentMetrics>>,
}

impl Default for FakePayment {
    fn default() -> Self {
        Self {
            seen: Recorder::default(),
            readiness: Arc::new(Mutex::new(Readiness::ok(&["payments:sqlite"]))),
            metrics: Arc::new(Mutex::new(PaymentMetrics::sample())),
        }
    }
}

impl FakePayment {
    pub fn seen(&self) -> Vec<Seen<PaymentCall>> {
        self.seen.seen()
    }

    /// Every CreatePayment it answered, in order.
    pub fn creates(&self) -> Vec<CreatePaymentRequest> {
        self.seen()
            .into_iter()
            .filter_map(|s| match s.call {
                PaymentCall::Create(request) => Some(request),
                _ => None,
            })
            .collect()
    }

    pub fn notifies(&self) -> Vec<Vec<u8>> {
        self.seen()
            .into_iter()
            .filter_map(|s| match s.call {
                PaymentCall::Notify(body) => Some(body),
                _ => None,
            })
            .collect()
    }

    pub fn set_readiness(&self, readiness: Readiness) {
        *self.readiness.lock().unwrap() = readiness;
    }

    pub fn set_metrics(&self, metrics: PaymentMetrics) {
        *self.metrics.lock().unwrap() = metrics;
    }
}

#[tonic::async_trait]
impl PaymentService for FakePayment {
    async fn create_payment(
        &self,
        request: Request<CreatePaymentRequest>,
    ) -> Result<Response<CreatePaymentResponse>, Status> {
        self.seen
            .record(&request, PaymentCall::Create(request.get_ref().clone()));
        match request.get_ref().merchant_id.as_str() {
            UNKNOWN_MERCHANT => Err(Status::not_found("no such merchant: m-unknown")),
            WECHAT_FAILS => Err(with_out_trade_no(
                with_reason(Status::unavailable(WECHAT_FAILS_MESSAGE), Reason::Wechat),
                REFUSED_ORDER,
            )),
            PAYMENT_DOWN => Err(Status::unavailable("payments:sqlite unavailable")),
            _ => Ok(Response::new(CreatePaymentResponse {
                out_trade_no: NEW_ORDER.into(),
                time_stamp: "1764842400".into(),
                nonce_str: "5K8264ILTKCH16CQ2502SI8ZNMTM67VS".into(),
                package: "prepay_id=wx201410272009395522657a690389285100".into(),
                sign_type: "MD5".into(),
                pay_sign: "C380BEC2BFD727A4B6845133519F3AD6".into(),
            })),
        }
    }

    /// Scripted by a marker in the body: `refuse-me`, `store-down`,
    /// `grpc-unavailable`, `grpc-internal`, `grpc-invalid`, `no-reply`;
    /// anything else is acknowledged with SUCCESS.
    async fn handle_pay_notify(
        &self,
        request: Request<HandlePayNotifyRequest>,
    ) -> Result<Response<HandlePayNotifyResponse>, Status> {
        self.seen.record(
            &request,
            PaymentCall::Notify(request.get_ref().body.clone()),
        );
        let body = String::from_utf8_lossy(&request.get_ref().body).into_owned();
        let reply = |reply: &str, http_status| {
            Ok(Response::new(HandlePayNotifyResponse {
                reply: reply.as_bytes().to_vec(),
                http_status,
            }))
        };
        if body.contains("refuse-me") {
            reply(REFUSED_REPLY, 400)
        } else if body.contains("store-down") {
            reply(STORE_DOWN_REPLY, 503)
        } else if body.contains("grpc-unavailable") {
            Err(Status::unavailable("ledger-service unavailable"))
        } else if body.contains("grpc-internal") {
            Err(Status::internal("poisoned"))
        } else if body.contains("grpc-invalid") {
            Err(Status::invalid_argument("body is not XML"))
        } else if body.contains("no-reply") {
            reply("", 0)
        } else {
            reply(SUCCESS_REPLY, 200)
        }
    }

    async fn readiness(
        &self,
        request: Request<proto::payment::v1::ReadinessRequest>,
    ) -> Result<Response<proto::payment::v1::ReadinessResponse>, Status> {
        self.seen.record(&request, PaymentCall::Readiness);
        let readiness = self.readiness.lock().unwrap().clone();
        let dependencies = readiness.answer().await?;
        Ok(Response::new(proto::payment::v1::ReadinessResponse {
            dependencies,
        }))
    }

    async fn metrics(
        &self,
        request: Request<MetricsRequest>,
    ) -> Result<Response<MetricsResponse>, Status> {
        self.seen.record(&request, PaymentCall::Metrics);
        let script = self.metrics.lock().unwrap().clone();
        match script {
            PaymentMetrics::Counters(counters) => Ok(Response::new(counters)),
            PaymentMetrics::Fail(code, message) => Err(Status::new(code, message)),
            PaymentMetrics::Hang => {
                tokio::time::sleep(std::time::Duration::from_secs(30)).await;
                Err(Status::internal("too late"))
            }
        }
    }
}

/// Orders the fake ledger holds.
pub const CREATED_ORDER: &str = "ORDER-CREATED-1";
pub const PAID_ORDER: &str = "ORDER-PAID-1";
/// [`OTHER_OPENID`]'s order.
pub const OTHER_PAYERS_ORDER: &str = "ORDER-OTHER-1";
/// A ledger bug: this one is found whoever asks.
pub const LEAKY_ORDER: &str = "ORDER-LEAKY-1";
/// 2025-12-04T10:00:00.123Z and 2025-12-04T10:01:30.000Z.
pub const CREATED_AT_MS: i64 = 1_764_842_400_123;
pub const PAID_AT_MS: i64 = 1_764_842_490_000;

fn order(out_trade_no: &str, payer: &str, status: &str, paid_at_ms: i64) -> Order {
    Order {
        out_trade_no: out_trade_no.into(),
        merchant_id: "m-demo".into(),
        payer_openid: payer.into(),
        amount_fen: 1,
        status: status.into(),
        transaction_id: if paid_at_ms == 0 {
            String::new()
        } else {
            "4200000001202612040000000001".into()
        },
        created_at_ms: CREATED_AT_MS,
        paid_at_ms,
        withdrawal_id: String::new(),
        description: "a coffee".into(),
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum LedgerCall {
    GetOrder(GetOrderRequest),
    Readiness,
}

#[derive(Debug, Clone)]
pub struct FakeLedger {
    seen: Recorder<LedgerCall>,
    readiness: Arc<Mutex<Readiness>>,
}

impl Default for FakeLedger {
    fn default() -> Self {
        Self {
            seen: Recorder::default(),
            readiness: Arc::new(Mutex::new(Readiness::ok(&["orders:sqlite"]))),
        }
    }
}

impl FakeLedger {
    pub fn seen(&self) -> Vec<Seen<LedgerCall>> {
        self.seen.seen()
    }

    pub fn set_readiness(&self, readiness: Readiness) {
        *self.readiness.lock().unwrap() = readiness;
    }
}

fn not_used<T>() -> Result<Response<T>, Status> {
    Err(Status::unimplemented("the gateway does not call this yet"))
}

#[tonic::async_trait]
impl LedgerService for FakeLedger {
    async fn create_merchant(
        &self,
        _: Request<CreateMerchantRequest>,
    ) -> Result<Response<Merchant>, Status> {
        not_used()
    }

    async fn get_merchant(
        &self,
        _: Request<GetMerchantRequest>,
    ) -> Result<Response<Merchant>, Status> {
        not_used()
    }

    async fn create_order(
        &self,
        _: Request<CreateOrderRequest>,
    ) -> Result<Response<Order>, Status> {
        not_used()
    }

    /// Only the payer finds an order, like the real ledger (except
    /// [`LEAKY_ORDER`]).
    async fn get_order(
        &self,
        request: Request<GetOrderRequest>,
    ) -> Result<Response<Order>, Status> {
        self.seen
            .record(&request, LedgerCall::GetOrder(request.get_ref().clone()));
        let r = request.get_ref();
        let found = match r.out_trade_no.as_str() {
            CREATED_ORDER => order(CREATED_ORDER, GOOD_OPENID, "CREATED", 0),
            PAID_ORDER => order(PAID_ORDER, GOOD_OPENID, "PAID", PAID_AT_MS),
            OTHER_PAYERS_ORDER => order(OTHER_PAYERS_ORDER, OTHER_OPENID, "PAID", PAID_AT_MS),
            LEAKY_ORDER => {
                return Ok(Response::new(order(
                    LEAKY_ORDER,
                    OTHER_OPENID,
                    "PAID",
                    PAID_AT_MS,
                )));
            }
            "ORDER-LEDGER-DOWN" => return Err(Status::unavailable("orders:sqlite unavailable")),
            _ => return Err(Status::not_found("no such order")),
        };
        if found.payer_openid != r.payer_openid {
            return Err(Status::not_found("no such order"));
        }
        Ok(Response::new(found))
    }

    async fn list_orders(
        &self,
        _: Request<ListOrdersRequest>,
    ) -> Result<Response<ListOrdersResponse>, Status> {
        not_used()
    }

    async fn mark_paid(
        &self,
        _: Request<MarkPaidRequest>,
    ) -> Result<Response<MarkPaidResponse>, Status> {
        not_used()
    }

    async fn close_order(&self, _: Request<CloseOrderRequest>) -> Result<Response<Order>, Status> {
        not_used()
    }

    async fn readiness(
        &self,
        request: Request<proto::ledger::v1::ReadinessRequest>,
    ) -> Result<Response<proto::ledger::v1::ReadinessResponse>, Status> {
        self.seen.record(&request, LedgerCall::Readiness);
        let readiness = self.readiness.lock().unwrap().clone();
        let dependencies = readiness.answer().await?;
        Ok(Response::new(proto::ledger::v1::ReadinessResponse {
            dependencies,
        }))
    }
}
