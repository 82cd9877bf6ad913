//! The gRPC service: proto ⇄ domain at the edge, the store's outcomes
//! mapped onto replies and [`LedgerError`]s.

use std::collections::HashMap;
use std::sync::Arc;

use proto::ledger::v1 as pb;
use proto::ledger::v1::ledger_service_server::LedgerService;
use proto::ledger::v1::withdrawal_service_server::WithdrawalService;
use tonic::{Code, Request, Response, Status};

use crate::domain::{
    self, AuditReport, Balance, Cursor, Description, FailureReason, Merchant, MerchantAudit,
    MerchantId, NewMerchant, NewOrder, Openid, Order, OrderQuery, OrderStatus, PageLimit, Payment,
    TransactionId, Violation, Withdrawal, WithdrawalCursor, WithdrawalId, WithdrawalPage,
    WithdrawalRequest,
};
use crate::error::LedgerError;
use crate::store::{
    CloseOrder, CompletePayout, CreateOrder, FailPayout, LedgerStore, MarkPaid, StoreError,
    Withdraw, WithdrawalStore, now_millis,
};

/// Both gRPC services of the ledger, on one store.
#[derive(Debug)]
pub struct Ledger {
    pub store: Arc<dyn LedgerStore>,
    pub withdrawals: Arc<dyn WithdrawalStore>,
}

impl TryFrom<pb::CreateMerchantRequest> for NewMerchant {
    type Error = domain::Invalid;

    fn try_from(r: pb::CreateMerchantRequest) -> Result<Self, Self::Error> {
        NewMerchant::parse(r.name, r.payout_openid)
    }
}

impl TryFrom<pb::CreateOrderRequest> for NewOrder {
    type Error = domain::Invalid;

    fn try_from(r: pb::CreateOrderRequest) -> Result<Self, Self::Error> {
        Ok(Self {
            out_trade_no: domain::out_trade_no("out_trade_no", r.out_trade_no)?,
            merchant_id: MerchantId::parse(r.merchant_id)?,
            payer_openid: Openid::parse(r.payer_openid).map_err(|e| e.for_field("payer_openid"))?,
            amount: domain::positive_amount("amount_fen", r.amount_fen)?,
            description: Description::parse(r.description)?,
        })
    }
}

impl TryFrom<pb::ListOrdersRequest> for OrderQuery {
    type Error = domain::Invalid;

    fn try_from(r: pb::ListOrdersRequest) -> Result<Self, Self::Error> {
        Ok(Self {
            merchant_id: MerchantId::parse(r.merchant_id)?,
            status: match r.status.as_str() {
                "" => None,
                status => Some(OrderStatus::parse(status)?),
            },
            withdrawn: r.withdrawn,
            limit: PageLimit::parse(r.limit)?,
            after: match r.cursor.as_str() {
                "" => None,
                cursor => Some(Cursor::parse(cursor)?),
            },
        })
    }
}

/// `paid_at_ms` 0 means "now, by the ledger's clock".
fn payment(r: pb::MarkPaidRequest, now_ms: i64) -> Result<Payment, domain::Invalid> {
    let paid_at_ms = match r.paid_at_ms {
        0 => now_ms,
        ms if ms > 0 => ms,
        ms => {
            return Err(domain::Invalid::new(
                "paid_at_ms",
                format!("must not be negative (got {ms})"),
            ));
        }
    };
    Ok(Payment {
        out_trade_no: domain::out_trade_no("out_trade_no", r.out_trade_no)?,
        transaction_id: TransactionId::parse(r.transaction_id)?,
        amount: domain::positive_amount("amount_fen", r.amount_fen)?,
        paid_at_ms,
    })
}

impl From<Merchant> for pb::Merchant {
    fn from(m: Merchant) -> Self {
        Self {
            merchant_id: m.merchant_id.into_string(),
            name: m.name.into_string(),
            payout_openid: m.payout_openid.map(Openid::into_string).unwrap_or_default(),
            status: m.status.as_str().to_owned(),
            created_at_ms: m.created_at_ms,
        }
    }
}

impl From<Order> for pb::Order {
    fn from(o: Order) -> Self {
        Self {
            out_trade_no: o.out_trade_no.into_string(),
            merchant_id: o.merchant_id.into_string(),
            payer_openid: o.payer_openid.into_string(),
            amount_fen: o.amount.fen(),
            status: o.status.as_str().to_owned(),
            transaction_id: o
                .transaction_id
                .map(TransactionId::into_string)
                .unwrap_or_default(),
            created_at_ms: o.created_at_ms,
            paid_at_ms: o.paid_at_ms.unwrap_or(0),
            withdrawal_id: o
                .withdrawal_id
                .map(domain::WithdrawalId::into_string)
                .unwrap_or_default(),
            description: o.description.into_string(),
        }
    }
}

impl From<Withdrawal> for pb::Withdrawal {
    fn from(w: Withdrawal) -> Self {
        Self {
            withdrawal_id: w.withdrawal_id.into_string(),
            merchant_id: w.merchant_id.into_string(),
            amount_fen: w.amount.fen(),
            order_count: w.order_count,
            status: w.status.as_str().to_owned(),
            failure_reason: w
                .failure_reason
                .map(FailureReason::into_string)
                .unwrap_or_default(),
            created_at_ms: w.created_at_ms,
            updated_at_ms: w.updated_at_ms,
            payout_openid: w.payout_openid.into_string(),
        }
    }
}

impl From<WithdrawalPage> for pb::ListWithdrawalsResponse {
    fn from(page: WithdrawalPage) -> Self {
        Self {
            withdrawals: page
                .withdrawals
                .into_iter()
                .map(pb::Withdrawal::from)
                .collect(),
            next_cursor: page.next.map(|cursor| cursor.encode()).unwrap_or_default(),
        }
    }
}

impl From<Balance> for pb::Balance {
    fn from(b: Balance) -> Self {
        Self {
            merchant_id: b.merchant_id.into_string(),
            withdrawable_fen: b.withdrawable.fen(),
            withdrawable_orders: b.withdrawable_orders,
            withdrawn_fen: b.withdrawn.fen(),
            paying_out_fen: b.paying_out.fen(),
        }
    }
}

impl From<Violation> for pb::AuditViolation {
    fn from(v: Violation) -> Self {
        Self {
            kind: v.kind.as_str().to_owned(),
            withdrawal_id: v
                .withdrawal_id
                .map(WithdrawalId::into_string)
                .unwrap_or_default(),
            out_trade_no: v
                .out_trade_no
                .map(common::OutTradeNo::into_string)
                .unwrap_or_default(),
            detail: v.detail,
        }
    }
}

impl From<MerchantAudit> for pb::MerchantAudit {
    fn from(m: MerchantAudit) -> Self {
        Self {
            live_withdrawn_fen: m.live_withdrawn_fen(),
            merchant_id: m.merchant_id.into_string(),
            paid_fen: m.paid_fen,
            paid_orders: m.paid_orders,
            withdrawable_fen: m.withdrawable_fen,
            withdrawable_orders: m.withdrawable_orders,
            paying_out_fen: m.paying_out_fen,
            paid_out_fen: m.paid_out_fen,
            violations: m
                .violations
                .into_iter()
                .map(pb::AuditViolation::from)
                .collect(),
        }
    }
}

impl From<AuditReport> for pb::AuditResponse {
    fn from(r: AuditReport) -> Self {
        Self {
            merchants: r
                .merchants
                .into_iter()
                .map(pb::MerchantAudit::from)
                .collect(),
            violations_truncated: r.truncated,
        }
    }
}

fn order_cursor(text: &str) -> Result<Option<Cursor>, domain::Invalid> {
    match text {
        "" => Ok(None),
        cursor => Cursor::parse(cursor).map(Some),
    }
}

impl Ledger {
    /// The merchant's withdrawal: another merchant's is as good as absent.
    async fn own_withdrawal(
        &self,
        merchant_id: &MerchantId,
        withdrawal_id: WithdrawalId,
    ) -> Result<Withdrawal, LedgerError> {
        match self.withdrawals.withdrawal(&withdrawal_id).await? {
            Some(w) if w.merchant_id == *merchant_id => Ok(w),
            _ => Err(LedgerError::UnknownWithdrawal(withdrawal_id)),
        }
    }

    async fn require_merchant(&self, merchant_id: &MerchantId) -> Result<(), LedgerError> {
        match self.store.merchant(merchant_id).await? {
            Some(_) => Ok(()),
            None => Err(LedgerError::UnknownMerchant(merchant_id.clone())),
        }
    }

    async fn withdraw(&self, r: pb::WithdrawRequest) -> Result<pb::WithdrawResponse, LedgerError> {
        let request =
            WithdrawalRequest::parse(r.merchant_id, r.idempotency_key, &r.request_fingerprint)?;
        let merchant_id = request.merchant_id.clone();
        let (withdrawal, replayed) = match self.withdrawals.withdraw(&request, now_millis()).await?
        {
            Withdraw::Created(w) => {
                tracing::info!(
                    merchant_id = %w.merchant_id,
                    withdrawal_id = %w.withdrawal_id,
                    amount_fen = w.amount.fen(),
                    order_count = w.order_count,
                    "withdrawal created"
                );
                (w, false)
            }
            Withdraw::Replayed(w) => {
                tracing::info!(
                    merchant_id = %w.merchant_id,
                    withdrawal_id = %w.withdrawal_id,
                    "withdrawal replayed for its idempotency key"
                );
                (w, true)
            }
            Withdraw::KeyReused(w) => {
                let Some(key) = request.idempotency_key else {
                    return Err(LedgerError::Store(StoreError::Corrupt {
                        backend: self.store.backend(),
                        detail: "a key was reused by a request without one".into(),
                    }));
                };
                return Err(LedgerError::IdempotencyKeyReused {
                    key,
                    withdrawal_id: w.withdrawal_id,
                });
            }
            Withdraw::UnknownMerchant => return Err(LedgerError::UnknownMerchant(merchant_id)),
            Withdraw::MerchantNotActive(status) => {
                return Err(LedgerError::MerchantNotActive {
                    merchant_id,
                    status,
                });
            }
            Withdraw::NoPayoutAccount => return Err(LedgerError::NoPayoutAccount(merchant_id)),
            Withdraw::NothingToWithdraw => {
                return Err(LedgerError::NothingToWithdraw(merchant_id));
            }
        };
        Ok(pb::WithdrawResponse {
            withdrawal: Some(withdrawal.into()),
            replayed,
        })
    }

    async fn get_balance(&self, r: pb::GetBalanceRequest) -> Result<pb::Balance, LedgerError> {
        let merchant_id = MerchantId::parse(r.merchant_id)?;
        match self.withdrawals.balance(&merchant_id).await? {
            Some(balance) => Ok(balance.into()),
            None => Err(LedgerError::UnknownMerchant(merchant_id)),
        }
    }

    async fn list_withdrawals(
        &self,
        r: pb::ListWithdrawalsRequest,
    ) -> Result<pb::ListWithdrawalsResponse, LedgerError> {
        let merchant_id = MerchantId::parse(r.merchant_id)?;
        let limit = PageLimit::parse(r.limit)?;
        let after = WithdrawalCursor::parse_optional(&r.cursor)?;
        self.require_merchant(&merchant_id).await?;
        let page = self
            .withdrawals
            .list_withdrawals(&merchant_id, limit, after.as_ref())
            .await?;
        Ok(page.into())
    }

    async fn get_withdrawal(
        &self,
        r: pb::GetWithdrawalRequest,
    ) -> Result<pb::Withdrawal, LedgerError> {
        let merchant_id = MerchantId::parse(r.merchant_id)?;
        let withdrawal_id = WithdrawalId::parse(r.withdrawal_id)?;
        Ok(self
            .own_withdrawal(&merchant_id, withdrawal_id)
            .await?
            .into())
    }

    async fn list_withdrawal_orders(
        &self,
        r: pb::ListWithdrawalOrdersRequest,
    ) -> Result<pb::ListOrdersResponse, LedgerError> {
        let merchant_id = MerchantId::parse(r.merchant_id)?;
        let withdrawal_id = WithdrawalId::parse(r.withdrawal_id)?;
        let limit = PageLimit::parse(r.limit)?;
        let after = order_cursor(&r.cursor)?;
        let withdrawal = self.own_withdrawal(&merchant_id, withdrawal_id).await?;
        let page = self
            .withdrawals
            .list_withdrawal_orders(&withdrawal.withdrawal_id, limit, after.as_ref())
            .await?;
        Ok(pb::ListOrdersResponse {
            orders: page.orders.into_iter().map(pb::Order::from).collect(),
            next_cursor: page.next.map(|cursor| cursor.encode()).unwrap_or_default(),
        })
    }

    async fn complete_payout(
        &self,
        r: pb::CompletePayoutRequest,
    ) -> Result<pb::PayoutResponse, LedgerError> {
        let withdrawal_id = WithdrawalId::parse(r.withdrawal_id)?;
        let (withdrawal, unchanged) = match self
            .withdrawals
            .complete_payout(&withdrawal_id, now_millis())
            .await?
        {
            CompletePayout::Completed(w) => {
                tracing::info!(
                    withdrawal_id = %w.withdrawal_id,
                    merchant_id = %w.merchant_id,
                    amount_fen = w.amount.fen(),
                    "withdrawal paid out"
                );
                (w, false)
            }
            CompletePayout::AlreadyPaidOut(w) => (w, true),
            CompletePayout::NotPayingOut(w) => {
                return Err(LedgerError::WithdrawalState {
                    withdrawal_id: w.withdrawal_id,
                    status: w.status,
                });
            }
            CompletePayout::UnknownWithdrawal => {
                return Err(LedgerError::UnknownWithdrawal(withdrawal_id));
            }
        };
        Ok(pb::PayoutResponse {
            withdrawal: Some(withdrawal.into()),
            unchanged,
        })
    }

    async fn fail_payout(
        &self,
        r: pb::FailPayoutRequest,
    ) -> Result<pb::PayoutResponse, LedgerError> {
        let withdrawal_id = WithdrawalId::parse(r.withdrawal_id)?;
        let reason = FailureReason::parse(r.reason)?;
        let (withdrawal, unchanged) = match self
            .withdrawals
            .fail_payout(&withdrawal_id, &reason, now_millis())
            .await?
        {
            FailPayout::Failed(w) => {
                tracing::warn!(
                    withdrawal_id = %w.withdrawal_id,
                    merchant_id = %w.merchant_id,
                    amount_fen = w.amount.fen(),
                    order_count = w.order_count,
                    reason = %reason,
                    "withdrawal payout failed; its orders are withdrawable again"
                );
                (w, false)
            }
            FailPayout::AlreadyFailed(w) => (w, true),
            FailPayout::NotPayingOut(w) => {
                return Err(LedgerError::WithdrawalState {
                    withdrawal_id: w.withdrawal_id,
                    status: w.status,
                });
            }
            FailPayout::UnknownWithdrawal => {
                return Err(LedgerError::UnknownWithdrawal(withdrawal_id));
            }
        };
        Ok(pb::PayoutResponse {
            withdrawal: Some(withdrawal.into()),
            unchanged,
        })
    }

    async fn list_paying_out(
        &self,
        r: pb::ListPayingOutRequest,
    ) -> Result<pb::ListWithdrawalsResponse, LedgerError> {
        let limit = PageLimit::parse(r.limit)?;
        let after = WithdrawalCursor::parse_optional(&r.cursor)?;
        let page = self
            .withdrawals
            .list_paying_out(limit, after.as_ref())
            .await?;
        Ok(page.into())
    }

    async fn audit(&self, r: pb::AuditRequest) -> Result<pb::AuditResponse, LedgerError> {
        let merchant_id = match r.merchant_id.as_str() {
            "" => None,
            id => Some(MerchantId::parse(id)?),
        };
        let report = self.withdrawals.audit(merchant_id.as_ref()).await?;
        if let Some(merchant_id) = merchant_id
            && report.merchants.is_empty()
        {
            return Err(LedgerError::UnknownMerchant(merchant_id));
        }
        if !report.is_clean() {
            tracing::error!(
                violations = report.violations().count(),
                truncated = report.truncated,
                "ledger audit found violations of the invariant"
            );
        }
        Ok(report.into())
    }

    async fn create_merchant(
        &self,
        r: pb::CreateMerchantRequest,
    ) -> Result<pb::Merchant, LedgerError> {
        let new = NewMerchant::try_from(r)?;
        let merchant = self.store.create_merchant(&new).await?;
        tracing::info!(merchant_id = %merchant.merchant_id, "merchant created");
        Ok(merchant.into())
    }

    async fn get_merchant(&self, r: pb::GetMerchantRequest) -> Result<pb::Merchant, LedgerError> {
        let merchant_id = MerchantId::parse(r.merchant_id)?;
        match self.store.merchant(&merchant_id).await? {
            Some(merchant) => Ok(merchant.into()),
            None => Err(LedgerError::UnknownMerchant(merchant_id)),
        }
    }

    async fn create_order(&self, r: pb::CreateOrderRequest) -> Result<pb::Order, LedgerError> {
        let new = NewOrder::try_from(r)?;
        match self.store.create_order(&new, now_millis()).await? {
            CreateOrder::Created(order) => {
                tracing::info!(
                    out_trade_no = %order.out_trade_no,
                    merchant_id = %order.merchant_id,
                    amount_fen = order.amount.fen(),
                    "order created"
                );
                Ok(order.into())
            }
            CreateOrder::OutTradeNoTaken => Err(LedgerError::OutTradeNoTaken(new.out_trade_no)),
            CreateOrder::UnknownMerchant => Err(LedgerError::UnknownMerchant(new.merchant_id)),
            CreateOrder::MerchantNotActive(status) => Err(LedgerError::MerchantNotActive {
                merchant_id: new.merchant_id,
                status,
            }),
        }
    }

    async fn get_order(&self, r: pb::GetOrderRequest) -> Result<pb::Order, LedgerError> {
        let out_trade_no = domain::out_trade_no("out_trade_no", r.out_trade_no)?;
        let payer = match r.payer_openid.as_str() {
            "" => None,
            payer => Some(Openid::parse(payer).map_err(|e| e.for_field("payer_openid"))?),
        };
        let order = self
            .store
            .order(&out_trade_no)
            .await?
            // Another payer's order is as good as absent: its existence is
            // not theirs to learn.
            .filter(|order| {
                payer
                    .as_ref()
                    .is_none_or(|payer| order.payer_openid == *payer)
            });
        match order {
            Some(order) => Ok(order.into()),
            None => Err(LedgerError::UnknownOrder(out_trade_no)),
        }
    }

    async fn list_orders(
        &self,
        r: pb::ListOrdersRequest,
    ) -> Result<pb::ListOrdersResponse, LedgerError> {
        let query = OrderQuery::try_from(r)?;
        let page = self.store.list_orders(&query).await?;
        Ok(pb::ListOrdersResponse {
            orders: page.orders.into_iter().map(pb::Order::from).collect(),
            next_cursor: page.next.map(|cursor| cursor.encode()).unwrap_or_default(),
        })
    }

    async fn mark_paid(&self, r: pb::MarkPaidRequest) -> Result<pb::MarkPaidResponse, LedgerError> {
        let payment = payment(r, now_millis())?;
        let (order, already_paid) = match self.store.mark_paid(&payment).await? {
            MarkPaid::Paid(order) => {
                tracing::info!(
                    out_trade_no = %order.out_trade_no,
                    transaction_id = %payment.transaction_id,
                    amount_fen = order.amount.fen(),
                    "order paid"
                );
                (order, false)
            }
            MarkPaid::AlreadyPaid(order) => (order, true),
            MarkPaid::UnknownOrder => return Err(LedgerError::UnknownOrder(payment.out_trade_no)),
            MarkPaid::AmountMismatch(order) => {
                return Err(LedgerError::AmountMismatch {
                    out_trade_no: order.out_trade_no,
                    paid: payment.amount,
                    expected: order.amount,
                });
            }
            MarkPaid::OtherTransaction(order) => {
                return Err(LedgerError::OtherTransaction(order.out_trade_no));
            }
            MarkPaid::NotPayable(order) => {
                return Err(LedgerError::OrderState {
                    out_trade_no: order.out_trade_no,
                    status: order.status,
                });
            }
            MarkPaid::TransactionTaken => {
                return Err(LedgerError::TransactionTaken(payment.transaction_id));
            }
        };
        Ok(pb::MarkPaidResponse {
            order: Some(order.into()),
            already_paid,
        })
    }

    async fn close_order(&self, r: pb::CloseOrderRequest) -> Result<pb::Order, LedgerError> {
        let out_trade_no = domain::out_trade_no("out_trade_no", r.out_trade_no)?;
        match self.store.close_order(&out_trade_no).await? {
            CloseOrder::Closed(order) => {
                tracing::info!(out_trade_no = %order.out_trade_no, "order closed");
                Ok(order.into())
            }
            CloseOrder::AlreadyClosed(order) => Ok(order.into()),
            CloseOrder::UnknownOrder => Err(LedgerError::UnknownOrder(out_trade_no)),
            CloseOrder::NotClosable(order) => Err(LedgerError::OrderState {
                out_trade_no: order.out_trade_no,
                status: order.status,
            }),
        }
    }

    /// The store and whether it answers.
    pub async fn ready(&self) -> HashMap<String, String> {
        let state = match self.store.ping().await {
            Ok(()) => "ok".to_owned(),
            Err(e) => e.to_string(),
        };
        HashMap::from([(format!("orders:{}", self.store.backend()), state)])
    }
}

/// Logs a failure with the request id before it becomes a status; an
/// internal fault reaches the caller only as the request id.
fn fail(request_id: &str, rpc: &str, e: LedgerError) -> Status {
    match &e {
        LedgerError::Store(_) => tracing::warn!(request_id, rpc, error = %e, "call failed"),
        _ => tracing::debug!(request_id, rpc, error = %e, "call refused"),
    }
    let status = Status::from(e);
    if status.code() == Code::Internal {
        Status::internal(format!("internal error (request id {request_id})"))
    } else {
        status
    }
}

macro_rules! rpc {
    ($self:ident, $request:ident, $name:literal, $method:ident) => {{
        let id = common::grpc::request_id(&$request);
        $self
            .$method($request.into_inner())
            .await
            .map(Response::new)
            .map_err(|e| fail(&id, $name, e))
    }};
}

#[tonic::async_trait]
impl LedgerService for Ledger {
    async fn create_merchant(
        &self,
        request: Request<pb::CreateMerchantRequest>,
    ) -> Result<Response<pb::Merchant>, Status> {
        rpc!(self, request, "CreateMerchant", create_merchant)
    }

    async fn get_merchant(
        &self,
        request: Request<pb::GetMerchantRequest>,
    ) -> Result<Response<pb::Merchant>, Status> {
        rpc!(self, request, "GetMerchant", get_merchant)
    }

    async fn create_order(
        &self,
        request: Request<pb::CreateOrderRequest>,
    ) -> Result<Response<pb::Order>, Status> {
        rpc!(self, request, "CreateOrder", create_order)
    }

    async fn get_order(
        &self,
        request: Request<pb::GetOrderRequest>,
    ) -> Result<Response<pb::Order>, Status> {
        rpc!(self, request, "GetOrder", get_order)
    }

    async fn list_orders(
        &self,
        request: Request<pb::ListOrdersRequest>,
    ) -> Result<Response<pb::ListOrdersResponse>, Status> {
        rpc!(self, request, "ListOrders", list_orders)
    }

    async fn mark_paid(
        &self,
        request: Request<pb::MarkPaidRequest>,
    ) -> Result<Response<pb::MarkPaidResponse>, Status> {
        rpc!(self, request, "MarkPaid", mark_paid)
    }

    async fn close_order(
        &self,
        request: Request<pb::CloseOrderRequest>,
    ) -> Result<Response<pb::Order>, Status> {
        rpc!(self, request, "CloseOrder", close_order)
    }

    async fn readiness(
        &self,
        _request: Request<pb::ReadinessRequest>,
    ) -> Result<Response<pb::ReadinessResponse>, Status> {
        Ok(Response::new(pb::ReadinessResponse {
            dependencies: self.ready().await,
        }))
    }
}

#[tonic::async_trait]
impl WithdrawalService for Ledger {
    async fn withdraw(
        &self,
        request: Request<pb::WithdrawRequest>,
    ) -> Result<Response<pb::WithdrawResponse>, Status> {
        rpc!(self, request, "Withdraw", withdraw)
    }

    async fn get_balance(
        &self,
        request: Request<pb::GetBalanceRequest>,
    ) -> Result<Response<pb::Balance>, Status> {
        rpc!(self, request, "GetBalance", get_balance)
    }

    async fn list_withdrawals(
        &self,
        request: Request<pb::ListWithdrawalsRequest>,
    ) -> Result<Response<pb::ListWithdrawalsResponse>, Status> {
        rpc!(self, request, "ListWithdrawals", list_withdrawals)
    }

    async fn get_withdrawal(
        &self,
        request: Request<pb::GetWithdrawalRequest>,
    ) -> Result<Response<pb::Withdrawal>, Status> {
        rpc!(self, request, "GetWithdrawal", get_withdrawal)
    }

    async fn list_withdrawal_orders(
        &self,
        request: Request<pb::ListWithdrawalOrdersRequest>,
    ) -> Result<Response<pb::ListOrdersResponse>, Status> {
        rpc!(
            self,
            request,
            "ListWithdrawalOrders",
            list_withdrawal_orders
        )
    }

    async fn complete_payout(
        &self,
        request: Request<pb::CompletePayoutRequest>,
    ) -> Result<Response<pb::PayoutResponse>, Status> {
        rpc!(self, request, "CompletePayout", complete_payout)
    }

    async fn fail_payout(
        &self,
        request: Request<pb::FailPayoutRequest>,
    ) -> Result<Response<pb::PayoutResponse>, Status> {
        rpc!(self, request, "FailPayout", fail_payout)
    }

    async fn list_paying_out(
        &self,
        request: Request<pb::ListPayingOutRequest>,
    ) -> Result<Response<pb::ListWithdrawalsResponse>, Status> {
        rpc!(self, request, "ListPayingOut", list_paying_out)
    }

    async fn audit(
        &self,
        request: Request<pb::AuditRequest>,
    ) -> Result<Response<pb::AuditResponse>, Status> {
        rpc!(self, request, "Audit", audit)
    }
}
