//! Scripted fakes of PaymentService, LedgerService, WithdrawalService and
//! MerchantKeyService: what they answer
//! depends on what they are asked (a merchant id, a marker in a notification
//! body, an order number), and each records every call it receives.

use std::sync::{Arc, Mutex};

use common::status::{Reason, with_out_trade_no, with_reason};
use proto::auth::v1::merchant_key_service_server::MerchantKeyService;
use proto::auth::v1::{
    CreateMerchantKeyRequest, CreateMerchantKeyResponse, ListMerchantKeysRequest,
    ListMerchantKeysResponse, ResolveMerchantKeyRequest, ResolveMerchantKeyResponse,
    RevokeMerchantKeyRequest, RevokeMerchantKeyResponse,
};
use proto::ledger::v1::ledger_service_server::LedgerService;
use proto::ledger::v1::withdrawal_service_server::WithdrawalService;
use proto::ledger::v1::{
    AuditRequest, AuditResponse, Balance, CloseOrderRequest, CompletePayoutRequest,
    CreateMerchantRequest, CreateOrderRequest, FailPayoutRequest, GetBalanceRequest,
    GetMerchantRequest, GetOrderRequest, GetWithdrawalRequest, ListOrdersRequest,
    ListOrdersResponse, ListPayingOutRequest, ListWithdrawalOrdersRequest, ListWithdrawalsRequest,
    ListWithdrawalsResponse, MarkPaidRequest, MarkPaidResponse, Merchant, Order, PayoutResponse,
    WithdrawRequest, WithdrawResponse, Withdrawal,
};
use proto::payment::v1::payment_service_server::PaymentService;
use proto::payment::v1::{
    CreatePaymentRequest, CreatePaymentResponse, HandlePayNotifyRequest, HandlePayNotifyResponse,
    MetricsRequest, MetricsResponse,
};
use tonic::metadata::MetadataValue;
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
    ListOrders(ListOrdersRequest),
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

    /// The asking merchant's orders: one PAID and held by [`WITHDRAWAL_ID`],
    /// one CREATED; a next page unless a cursor was given.
    async fn list_orders(
        &self,
        request: Request<ListOrdersRequest>,
    ) -> Result<Response<ListOrdersResponse>, Status> {
        self.seen
            .record(&request, LedgerCall::ListOrders(request.get_ref().clone()));
        let r = request.get_ref();
        let mut held = merchant_order(&r.merchant_id, PAID_ORDER, "PAID", PAID_AT_MS);
        held.withdrawal_id = WITHDRAWAL_ID.into();
        Ok(Response::new(ListOrdersResponse {
            orders: vec![
                held,
                merchant_order(&r.merchant_id, CREATED_ORDER, "CREATED", 0),
            ],
            next_cursor: if r.cursor.is_empty() {
                NEXT_CURSOR.into()
            } else {
                String::new()
            },
        }))
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

/// Merchant API keys the fake MerchantKeyService knows, and their merchants.
pub const MERCHANT_KEY: &str = "mk-demo";
pub const MERCHANT: &str = "m-demo";
pub const OTHER_MERCHANT_KEY: &str = "mk-other";
pub const OTHER_MERCHANT: &str = "m-other";
/// A merchant with no PAID order left to withdraw.
pub const EMPTY_MERCHANT_KEY: &str = "mk-empty";
pub const EMPTY_MERCHANT: &str = "m-empty";
/// A merchant without a payout openid.
pub const NO_PAYOUT_MERCHANT_KEY: &str = "mk-no-payout";
pub const NO_PAYOUT_MERCHANT: &str = "m-no-payout";
/// [`MERCHANT`]'s withdrawals: PAYING_OUT and FAILED.
pub const WITHDRAWAL_ID: &str = "W0000000000000000000A";
pub const FAILED_WITHDRAWAL_ID: &str = "W0000000000000000000B";
pub const FAILURE_REASON: &str = "NAME_MISMATCH: real name does not match";
/// The cursor every first page hands out.
pub const NEXT_CURSOR: &str = "cursor-page-2";
/// The idempotency key Withdraw answers as a replay.
pub const REPLAYED_KEY: &str = "replay-me";
/// 2025-12-04T10:05:00.000Z.
pub const UPDATED_AT_MS: i64 = 1_764_842_700_000;

fn merchant_order(merchant_id: &str, out_trade_no: &str, status: &str, paid_at_ms: i64) -> Order {
    Order {
        merchant_id: merchant_id.into(),
        ..order(out_trade_no, GOOD_OPENID, status, paid_at_ms)
    }
}

fn raw_reason(mut status: Status, reason: &'static str) -> Status {
    status.metadata_mut().insert(
        common::status::REASON_KEY,
        MetadataValue::from_static(reason),
    );
    status
}

#[derive(Debug, Clone, PartialEq)]
pub enum MerchantKeyCall {
    Resolve(ResolveMerchantKeyRequest),
}

#[derive(Debug, Clone, Default)]
pub struct FakeMerchantKeys {
    seen: Recorder<MerchantKeyCall>,
}

impl FakeMerchantKeys {
    pub fn seen(&self) -> Vec<Seen<MerchantKeyCall>> {
        self.seen.seen()
    }
}

#[tonic::async_trait]
impl MerchantKeyService for FakeMerchantKeys {
    async fn create_merchant_key(
        &self,
        _: Request<CreateMerchantKeyRequest>,
    ) -> Result<Response<CreateMerchantKeyResponse>, Status> {
        not_used()
    }

    async fn resolve_merchant_key(
        &self,
        request: Request<ResolveMerchantKeyRequest>,
    ) -> Result<Response<ResolveMerchantKeyResponse>, Status> {
        self.seen.record(
            &request,
            MerchantKeyCall::Resolve(request.get_ref().clone()),
        );
        let merchant_id = match request.get_ref().api_key.as_str() {
            MERCHANT_KEY => MERCHANT,
            OTHER_MERCHANT_KEY => OTHER_MERCHANT,
            EMPTY_MERCHANT_KEY => EMPTY_MERCHANT,
            NO_PAYOUT_MERCHANT_KEY => NO_PAYOUT_MERCHANT,
            "mk-down" => return Err(Status::unavailable("merchant_keys:sqlite unavailable")),
            _ => {
                return Err(raw_reason(
                    Status::unauthenticated("merchant key unknown or revoked"),
                    "merchant-key",
                ));
            }
        };
        Ok(Response::new(ResolveMerchantKeyResponse {
            merchant_id: merchant_id.into(),
            key_id: "K1".into(),
        }))
    }

    async fn revoke_merchant_key(
        &self,
        _: Request<RevokeMerchantKeyRequest>,
    ) -> Result<Response<RevokeMerchantKeyResponse>, Status> {
        not_used()
    }

    async fn list_merchant_keys(
        &self,
        _: Request<ListMerchantKeysRequest>,
    ) -> Result<Response<ListMerchantKeysResponse>, Status> {
        not_used()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum WithdrawalCall {
    Withdraw(WithdrawRequest),
    GetBalance(GetBalanceRequest),
    ListWithdrawals(ListWithdrawalsRequest),
    GetWithdrawal(GetWithdrawalRequest),
    ListWithdrawalOrders(ListWithdrawalOrdersRequest),
}

#[derive(Debug, Clone, Default)]
pub struct FakeWithdrawals {
    seen: Recorder<WithdrawalCall>,
}

impl FakeWithdrawals {
    pub fn seen(&self) -> Vec<Seen<WithdrawalCall>> {
        self.seen.seen()
    }

    pub fn calls(&self) -> Vec<WithdrawalCall> {
        self.seen().into_iter().map(|s| s.call).collect()
    }
}

/// [`MERCHANT`]'s withdrawals by id.
fn withdrawal(withdrawal_id: &str, merchant_id: &str) -> Withdrawal {
    let failed = withdrawal_id == FAILED_WITHDRAWAL_ID;
    Withdrawal {
        withdrawal_id: withdrawal_id.into(),
        merchant_id: merchant_id.into(),
        amount_fen: if failed { 0 } else { 1 },
        order_count: if failed { 0 } else { 1 },
        status: if failed { "FAILED" } else { "PAYING_OUT" }.into(),
        failure_reason: if failed {
            FAILURE_REASON.into()
        } else {
            String::new()
        },
        created_at_ms: CREATED_AT_MS,
        updated_at_ms: UPDATED_AT_MS,
        payout_openid: "o-payout".into(),
    }
}

/// Only [`MERCHANT`] owns [`WITHDRAWAL_ID`] and [`FAILED_WITHDRAWAL_ID`];
/// anyone else asking is NOT_FOUND, like the real ledger.
fn owned(withdrawal_id: &str, merchant_id: &str) -> Result<Withdrawal, Status> {
    match withdrawal_id {
        WITHDRAWAL_ID | FAILED_WITHDRAWAL_ID if merchant_id == MERCHANT => {
            Ok(withdrawal(withdrawal_id, merchant_id))
        }
        _ => Err(Status::not_found(format!(
            "no such withdrawal: {withdrawal_id}"
        ))),
    }
}

#[tonic::async_trait]
impl WithdrawalService for FakeWithdrawals {
    async fn withdraw(
        &self,
        request: Request<WithdrawRequest>,
    ) -> Result<Response<WithdrawResponse>, Status> {
        self.seen.record(
            &request,
            WithdrawalCall::Withdraw(request.get_ref().clone()),
        );
        let r = request.get_ref();
        match r.merchant_id.as_str() {
            EMPTY_MERCHANT => Err(raw_reason(
                Status::failed_precondition("nothing to withdraw: no PAID order is free"),
                "nothing-to-withdraw",
            )),
            NO_PAYOUT_MERCHANT => Err(Status::failed_precondition(
                "merchant has no payout account",
            )),
            merchant_id => Ok(Response::new(WithdrawResponse {
                withdrawal: Some(withdrawal(WITHDRAWAL_ID, merchant_id)),
                replayed: r.idempotency_key.as_deref() == Some(REPLAYED_KEY),
            })),
        }
    }

    async fn get_balance(
        &self,
        request: Request<GetBalanceRequest>,
    ) -> Result<Response<Balance>, Status> {
        self.seen.record(
            &request,
            WithdrawalCall::GetBalance(request.get_ref().clone()),
        );
        Ok(Response::new(Balance {
            merchant_id: request.get_ref().merchant_id.clone(),
            withdrawable_fen: 300,
            withdrawable_orders: 2,
            withdrawn_fen: 1000,
            paying_out_fen: 1,
        }))
    }

    async fn list_withdrawals(
        &self,
        request: Request<ListWithdrawalsRequest>,
    ) -> Result<Response<ListWithdrawalsResponse>, Status> {
        self.seen.record(
            &request,
            WithdrawalCall::ListWithdrawals(request.get_ref().clone()),
        );
        let r = request.get_ref();
        let withdrawals = if r.merchant_id == MERCHANT {
            vec![
                withdrawal(FAILED_WITHDRAWAL_ID, MERCHANT),
                withdrawal(WITHDRAWAL_ID, MERCHANT),
            ]
        } else {
            Vec::new()
        };
        Ok(Response::new(ListWithdrawalsResponse {
            withdrawals,
            next_cursor: if r.cursor.is_empty() && r.merchant_id == MERCHANT {
                NEXT_CURSOR.into()
            } else {
                String::new()
            },
        }))
    }

    async fn get_withdrawal(
        &self,
        request: Request<GetWithdrawalRequest>,
    ) -> Result<Response<Withdrawal>, Status> {
        self.seen.record(
            &request,
            WithdrawalCall::GetWithdrawal(request.get_ref().clone()),
        );
        let r = request.get_ref();
        owned(&r.withdrawal_id, &r.merchant_id).map(Response::new)
    }

    async fn list_withdrawal_orders(
        &self,
        request: Request<ListWithdrawalOrdersRequest>,
    ) -> Result<Response<ListOrdersResponse>, Status> {
        self.seen.record(
            &request,
            WithdrawalCall::ListWithdrawalOrders(request.get_ref().clone()),
        );
        let r = request.get_ref();
        let w = owned(&r.withdrawal_id, &r.merchant_id)?;
        let orders = if w.status == "FAILED" {
            Vec::new()
        } else {
            let mut held = merchant_order(&r.merchant_id, PAID_ORDER, "PAID", PAID_AT_MS);
            held.withdrawal_id = w.withdrawal_id;
            vec![held]
        };
        Ok(Response::new(ListOrdersResponse {
            orders,
            next_cursor: String::new(),
        }))
    }

    async fn complete_payout(
        &self,
        _: Request<CompletePayoutRequest>,
    ) -> Result<Response<PayoutResponse>, Status> {
        not_used()
    }

    async fn fail_payout(
        &self,
        _: Request<FailPayoutRequest>,
    ) -> Result<Response<PayoutResponse>, Status> {
        not_used()
    }

    async fn list_paying_out(
        &self,
        _: Request<ListPayingOutRequest>,
    ) -> Result<Response<ListWithdrawalsResponse>, Status> {
        not_used()
    }

    async fn audit(&self, _: Request<AuditRequest>) -> Result<Response<AuditResponse>, Status> {
        not_used()
    }
}
