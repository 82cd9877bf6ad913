//! `POST /pay/unifiedorder`, `/pay/orderquery` and `/pay/closeorder`.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use rand::Rng;
use wechat::FieldMap;
use wechat::messages::{
    CloseOrderRequest, CloseOrderSuccess, OrderQueryRequest, OrderQuerySuccess, TradeState,
    UnifiedOrderRequest, UnifiedOrderSuccess,
};

use crate::reply::{Replier, latency, param_error, verified_request};
use crate::state::{Order, Sandbox, Shared, beijing, random_hex};

/// What every pay endpoint checks first: XML, signature, then that the
/// request is for this app and merchant. Returns the fields and the replier
/// that answers in the request's sign type.
fn accept(sandbox: &Sandbox, body: &[u8]) -> Result<(FieldMap, Replier), Response> {
    let (fields, sign_type) = verified_request(sandbox, body, false)?;
    let replier = Replier::new(sandbox, ["appid", "mch_id"], sign_type);
    if fields.get("appid") != Some(sandbox.cfg.appid.as_str()) {
        return Err(replier.fail("APPID_NOT_EXIST", "appid不存在"));
    }
    if fields.get("mch_id") != Some(sandbox.cfg.mch_id.as_str()) {
        return Err(replier.fail("MCHID_NOT_EXIST", "mch_id不存在"));
    }
    Ok((fields, replier))
}

/// The parts of a request that re-entry must repeat.
fn params(fields: &FieldMap) -> BTreeMap<String, String> {
    fields
        .iter()
        .filter(|(name, _)| !matches!(*name, "nonce_str" | "sign"))
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect()
}

pub async fn unifiedorder(State(sandbox): State<Shared>, body: Bytes) -> Response {
    let faults = sandbox.faults();
    latency(faults.latency_ms.unifiedorder).await;
    let (fields, replier) = match accept(&sandbox, &body) {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    let fail = |code: &str, des: String| replier.fail(code, des);
    let request = match UnifiedOrderRequest::from_fields(&fields) {
        Ok(request) => request,
        Err(e) => {
            let (code, des) = param_error(&e);
            return fail(code, des);
        }
    };
    if rand::rng().random_bool(faults.unifiedorder_systemerror_rate) {
        return fail("SYSTEMERROR", "系统超时".into());
    }

    let prepay_id = {
        let mut inner = sandbox.lock();
        let now = inner.now();
        let wall = inner.wall();
        let prepay_id = format!(
            "wx{}{}",
            beijing(wall).format("%Y%m%d%H%M%S"),
            random_hex(20)
        );
        let no = request.out_trade_no.as_str();
        match inner.orders.get_mut(no) {
            Some(order) => {
                match order.trade_state {
                    TradeState::Success | TradeState::Refund => {
                        return fail("ORDERPAID", "该订单已支付".into());
                    }
                    TradeState::Closed | TradeState::Revoked | TradeState::PayError => {
                        return fail("ORDERCLOSED", "该订单已关闭".into());
                    }
                    TradeState::NotPay | TradeState::UserPaying | TradeState::Accept => {}
                }
                if order.params != params(&fields) {
                    return fail("OUT_TRADE_NO_USED", "201 商户订单号重复".into());
                }
                order.prepay_ids.push(prepay_id.clone());
            }
            None => {
                let order = Order {
                    out_trade_no: no.to_owned(),
                    sign_type: request.sign_type,
                    total_fee: request.total_fee,
                    openid: request.openid.clone(),
                    body: request.body.clone(),
                    attach: request.attach.clone(),
                    notify_url: request.notify_url.clone(),
                    trade_state: TradeState::NotPay,
                    transaction_id: None,
                    time_end: None,
                    prepay_ids: vec![prepay_id.clone()],
                    created_at: wall.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    params: params(&fields),
                    created: now,
                };
                inner.orders.insert(no.to_owned(), order);
            }
        }
        inner.prepay.insert(prepay_id.clone(), (no.to_owned(), now));
        prepay_id
    };
    replier.ok(UnifiedOrderSuccess {
        appid: sandbox.cfg.appid.clone(),
        mch_id: sandbox.cfg.mch_id.clone(),
        trade_type: "JSAPI".into(),
        prepay_id,
    })
}

fn trade_state_desc(state: TradeState) -> &'static str {
    match state {
        TradeState::Success => "支付成功",
        TradeState::Refund => "转入退款",
        TradeState::NotPay => "订单未支付",
        TradeState::Closed => "已关闭",
        TradeState::Revoked => "已撤销",
        TradeState::UserPaying => "用户支付中",
        TradeState::PayError => "支付失败",
        TradeState::Accept => "已接收，等待扣款",
    }
}

pub async fn orderquery(State(sandbox): State<Shared>, body: Bytes) -> Response {
    latency(sandbox.faults().latency_ms.orderquery).await;
    let (fields, replier) = match accept(&sandbox, &body) {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    let fail = |code: &str, des: String| replier.fail(code, des);
    let request = match OrderQueryRequest::from_fields(&fields) {
        Ok(request) => request,
        Err(e) => {
            let (code, des) = param_error(&e);
            return fail(code, des);
        }
    };
    let order = sandbox
        .lock()
        .orders
        .get(request.out_trade_no.as_str())
        .cloned();
    let Some(order) = order else {
        return fail("ORDERNOTEXIST", "订单不存在".into());
    };
    let paid = order.trade_state.is_paid();
    replier.ok(OrderQuerySuccess {
        appid: sandbox.cfg.appid.clone(),
        mch_id: sandbox.cfg.mch_id.clone(),
        out_trade_no: request.out_trade_no,
        trade_state: order.trade_state,
        trade_state_desc: Some(trade_state_desc(order.trade_state).into()),
        transaction_id: order.transaction_id,
        total_fee: paid.then_some(order.total_fee),
        openid: Some(order.openid),
        time_end: order.time_end,
    })
}

pub async fn closeorder(State(sandbox): State<Shared>, body: Bytes) -> Response {
    latency(sandbox.faults().latency_ms.closeorder).await;
    let (fields, replier) = match accept(&sandbox, &body) {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    let fail = |code: &str, des: String| replier.fail(code, des);
    let request = match CloseOrderRequest::from_fields(&fields) {
        Ok(request) => request,
        Err(e) => {
            let (code, des) = param_error(&e);
            return fail(code, des);
        }
    };
    {
        let mut inner = sandbox.lock();
        let now = inner.now();
        let Some(order) = inner.orders.get_mut(request.out_trade_no.as_str()) else {
            return fail("ORDERNOTEXIST", "订单不存在".into());
        };
        match order.trade_state {
            TradeState::Success | TradeState::Refund => {
                return fail("ORDERPAID", "订单已支付，不能发起关单".into());
            }
            TradeState::Closed | TradeState::Revoked => {
                return fail("ORDERCLOSED", "订单已关闭，无需继续调用".into());
            }
            _ => {}
        }
        if now.duration_since(order.created) < sandbox.cfg.close_min_age {
            return fail(
                "INVALID_REQUEST",
                "订单生成后不能马上调用关单接口，最短调用时间间隔为5分钟".into(),
            );
        }
        order.trade_state = TradeState::Closed;
    }
    replier.ok(CloseOrderSuccess {
        appid: sandbox.cfg.appid.clone(),
        mch_id: sandbox.cfg.mch_id.clone(),
    })
}
