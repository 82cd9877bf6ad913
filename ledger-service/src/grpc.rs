//! The gRPC service: proto ⇄ domain at the edge, the store's outcomes
//! mapped onto replies and [`LedgerError`]s.

use std::collections::HashMap;
use std::sync::Arc;

use proto::ledger::v1 as pb;
use proto::ledger::v1::ledger_service_server::LedgerService;
use tonic::{Code, Request, Response, Status};

use crate::domain::{
    self, Cursor, Description, Merchant, MerchantId, NewMerchant, NewOrder, Openid, Order,
    OrderQuery, OrderStatus, PageLimit, Payment, TransactionId,
};
use crate::error::LedgerError;
use crate::store::{CloseOrder, CreateOrder, LedgerStore, MarkPaid, now_millis};

#[derive(Debug)]
pub struct Ledger {
    pub store: Arc<dyn LedgerStore>,
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

impl Ledger {
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
