//! `POST /mmpaymkttransfers/promotion/transfers` and `/gettransferinfo`.
//!
//! WeChat's real transfer replies are unsigned (the client certificate
//! authenticates them); the simulator signs them with MD5 so that the
//! `wrong_key_replies` fault can show that clients verify when a sign is there.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use rand::Rng;
use wechat::SignType;
use wechat::messages::{
    GetTransferInfoRequest, TransferInfo, TransferRequest, TransferStatus, TransferSuccess,
};

use crate::reply::{Replier, latency, verified_request};
use crate::state::{Shared, Transfer, beijing, random_digits};

/// What WeChat answers for a transfer it has recorded: the payment again for
/// a success, the same refusal for a failure.
fn answer(replier: &Replier, sandbox: &Shared, transfer: Transfer) -> Response {
    match (transfer.status, transfer.payment_no) {
        (TransferStatus::Success, Some(payment_no)) => replier.ok(TransferSuccess {
            mch_appid: sandbox.cfg.appid.clone(),
            mchid: sandbox.cfg.mch_id.clone(),
            partner_trade_no: match transfer.partner_trade_no.parse() {
                Ok(no) => no,
                Err(_) => return replier.fail("SYSTEMERROR", "系统繁忙，请稍后再试。"),
            },
            payment_no,
            payment_time: transfer.transfer_time,
        }),
        _ => {
            let reason = transfer.reason.unwrap_or_else(|| "FATAL_ERROR".into());
            replier.fail(&reason, "该笔转账已失败")
        }
    }
}

pub async fn transfers(State(sandbox): State<Shared>, body: Bytes) -> Response {
    let faults = sandbox.faults();
    latency(faults.latency_ms.transfers).await;
    let (fields, _) = match verified_request(&sandbox, &body, true) {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    let replier = Replier::new(&sandbox, ["mch_appid", "mchid"], SignType::Md5);
    let cfg = &sandbox.cfg;
    let request = match TransferRequest::from_fields(&fields) {
        Ok(request) => request,
        Err(e) => return replier.fail("PARAM_ERROR", format!("参数错误: {e}")),
    };
    if request.mch_appid != cfg.appid || request.mchid != cfg.mch_id {
        return replier.fail("PARAM_ERROR", "mch_appid与mchid不匹配");
    }
    if rand::rng().random_bool(faults.transfers_systemerror_rate) {
        return replier.fail("SYSTEMERROR", "系统繁忙，请稍后再试。");
    }

    let transfer = {
        let mut inner = sandbox.lock();
        let no = request.partner_trade_no.as_str();
        if let Some(done) = inner.transfers.get(no) {
            // Idempotent: the same number with the same payee and amount is
            // the same transfer, carried out (or refused) once.
            if done.openid != request.openid || done.amount != request.amount {
                drop(inner);
                return replier.fail("PARAM_ERROR", "商户订单号重复，且参数与原单不一致");
            }
            done.clone()
        } else {
            let time = beijing(inner.wall())
                .format("%Y-%m-%d %H:%M:%S")
                .to_string();
            let mut transfer = Transfer {
                partner_trade_no: no.to_owned(),
                openid: request.openid.clone(),
                amount: request.amount,
                desc: request.desc.clone(),
                status: TransferStatus::Success,
                reason: None,
                payment_no: None,
                transfer_time: time,
                detail_id: format!("10000{}", random_digits(23)),
            };
            if !inner.users.contains(&request.openid) {
                // WeChat records the refusal: gettransferinfo reports FAILED.
                transfer.status = TransferStatus::Failed;
                transfer.reason = Some("OPENID_ERROR".into());
            } else if let Some(balance) = inner.balance.checked_sub(request.amount) {
                inner.balance = balance;
                transfer.payment_no = Some(format!("10100{}", random_digits(23)));
            } else {
                // Nothing recorded: WeChat says retry NOTENOUGH with the
                // original number once the balance is topped up.
                drop(inner);
                return replier.fail("NOTENOUGH", "余额不足");
            }
            inner.transfers.insert(no.to_owned(), transfer.clone());
            transfer
        }
    };
    if faults.transfer_reply_delay_ms > 0 && transfer.status == TransferStatus::Success {
        // The money has moved; the caller just does not hear about it in time.
        tokio::time::sleep(Duration::from_millis(faults.transfer_reply_delay_ms)).await;
    }
    answer(&replier, &sandbox, transfer)
}

pub async fn gettransferinfo(State(sandbox): State<Shared>, body: Bytes) -> Response {
    latency(sandbox.faults().latency_ms.gettransferinfo).await;
    let (fields, _) = match verified_request(&sandbox, &body, true) {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    let replier = Replier::new(&sandbox, ["appid", "mch_id"], SignType::Md5);
    let cfg = &sandbox.cfg;
    let request = match GetTransferInfoRequest::from_fields(&fields) {
        Ok(request) => request,
        Err(e) => return replier.fail("PARAM_ERROR", format!("参数错误: {e}")),
    };
    if request.appid != cfg.appid || request.mch_id != cfg.mch_id {
        return replier.fail("PARAM_ERROR", "appid与mch_id不匹配");
    }
    let found = sandbox
        .lock()
        .transfers
        .get(request.partner_trade_no.as_str())
        .cloned();
    let Some(transfer) = found else {
        return replier.fail("NOT_FOUND", "指定单号数据不存在");
    };
    let paid = transfer.status == TransferStatus::Success;
    replier.ok(TransferInfo {
        appid: cfg.appid.clone(),
        mch_id: cfg.mch_id.clone(),
        partner_trade_no: request.partner_trade_no,
        detail_id: Some(transfer.detail_id),
        status: transfer.status,
        reason: transfer.reason,
        openid: Some(transfer.openid),
        payment_amount: Some(transfer.amount),
        transfer_time: Some(transfer.transfer_time.clone()),
        payment_time: paid.then_some(transfer.transfer_time),
        desc: Some(transfer.desc),
    })
}
