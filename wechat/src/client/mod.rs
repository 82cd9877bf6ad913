//! [`WechatClient`]: WeChat's login and v2 pay APIs over reqwest.
//!
//! Every call has a timeout. Every reply that claims success is verified
//! (signature over all fields, our appid and mch_id, the id we asked about)
//! before it is believed; anything that cannot be believed is an error whose
//! [`Certainty`] is `Unknown`, so the caller queries instead of guessing.

mod config;
mod error;

pub use config::{ConfigError, WECHAT_API_BASE, WECHAT_PAY_BASE, WechatConfig, parse_base_url};
pub use error::{Api, Certainty, ErrorKind, WechatError};

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use common::{AmountFen, OutTradeNo, PartnerTradeNo};
use reqwest::{StatusCode, Url, redirect};
use serde::Deserialize;

use crate::ids::nonce_str;
use crate::keys::{ExposeSecret, SessionKey};
use crate::messages::{
    CloseOrderRequest, CloseOrderSuccess, GetTransferInfoRequest, OrderQueryRequest,
    OrderQuerySuccess, Reply, ReplyBody, TransferInfo, TransferRequest, TransferSuccess,
    UnifiedOrderRequest, UnifiedOrderSuccess, seal,
};
use crate::pay_params::RequestPayment;
use crate::sign::{SignType, verify};
use crate::xml::{DEFAULT_MAX_DOCUMENT_BYTES, FieldMap};

/// code2session's answer. The session_key stays inside the auth service.
#[derive(Debug, Clone)]
pub struct Session {
    pub openid: String,
    pub unionid: Option<String>,
    pub session_key: SessionKey,
}

/// What the platform asks for when it places an order; the client adds the
/// app, merchant and sign type from its configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    pub out_trade_no: OutTradeNo,
    pub total_fee: AmountFen,
    pub body: String,
    pub openid: String,
    pub spbill_create_ip: IpAddr,
    pub notify_url: String,
    pub attach: Option<String>,
    pub time_expire: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTransfer {
    pub partner_trade_no: PartnerTradeNo,
    pub openid: String,
    pub amount: AmountFen,
    pub desc: String,
    pub re_user_name: Option<String>,
    /// The server's IP as registered with WeChat, when the merchant's
    /// account requires it.
    pub spbill_create_ip: Option<IpAddr>,
}

#[derive(Debug, Clone)]
pub struct WechatClient {
    http: reqwest::Client,
    /// For the APIs that demand the merchant certificate (transfers); the
    /// same as `http` when none is configured.
    mtls: reqwest::Client,
    cfg: Arc<WechatConfig>,
}

/// The largest code2session reply we read; real ones are ~150 bytes.
const MAX_JSON_REPLY_BYTES: usize = 16 * 1024;

impl WechatClient {
    pub fn new(cfg: WechatConfig) -> Result<Self, WechatError> {
        let builder = || {
            reqwest::Client::builder()
                .timeout(cfg.timeout)
                .connect_timeout(cfg.timeout)
                // A redirect would carry code2session's secret to another host.
                .redirect(redirect::Policy::none())
                .user_agent(concat!("minipay/", env!("CARGO_PKG_VERSION")))
        };
        let build_error =
            |api, e: reqwest::Error| WechatError::new(api, ErrorKind::InvalidRequest(describe(&e)));
        let http = builder()
            .build()
            .map_err(|e| build_error(Api::Code2Session, e))?;
        let mtls = match &cfg.client_identity {
            None => http.clone(),
            Some(identity) => builder()
                .identity(identity.clone())
                .build()
                .map_err(|e| build_error(Api::Transfers, e))?,
        };
        Ok(Self {
            http,
            mtls,
            cfg: Arc::new(cfg),
        })
    }

    pub fn config(&self) -> &WechatConfig {
        &self.cfg
    }

    /// Exchanges a `wx.login` code for the user's openid and session_key.
    #[tracing::instrument(skip_all, name = "wechat.code2session")]
    pub async fn code2session(&self, js_code: &str) -> Result<Session, WechatError> {
        let api = Api::Code2Session;
        let fail = |kind| WechatError::new(api, kind);
        let url = join(&self.cfg.api_base, "sns/jscode2session");
        let response = self
            .http
            .get(url)
            .query(&[
                ("appid", self.cfg.appid.as_str()),
                ("secret", self.cfg.app_secret.expose_secret()),
                ("js_code", js_code),
                ("grant_type", "authorization_code"),
            ])
            .send()
            .await
            .map_err(|e| fail(transport(e)))?;
        let body = read_body(api, response, MAX_JSON_REPLY_BYTES).await?;

        #[derive(Deserialize)]
        struct Reply {
            openid: Option<String>,
            session_key: Option<String>,
            unionid: Option<String>,
            errcode: Option<i64>,
            errmsg: Option<String>,
        }
        let reply: Reply = serde_json::from_slice(&body).map_err(|e| {
            fail(ErrorKind::MalformedReply(format!(
                "not the expected JSON: {e}"
            )))
        })?;
        if let Some(errcode) = reply.errcode.filter(|c| *c != 0) {
            return Err(fail(ErrorKind::Login {
                errcode,
                errmsg: reply.errmsg.unwrap_or_default(),
            }));
        }
        let openid = reply
            .openid
            .filter(|o| !o.is_empty() && o.len() <= 128)
            .ok_or_else(|| fail(ErrorKind::MalformedReply("no openid".into())))?;
        let session_key = reply
            .session_key
            .ok_or_else(|| fail(ErrorKind::MalformedReply("no session_key".into())))
            .and_then(|k| {
                SessionKey::parse(k).map_err(|e| fail(ErrorKind::MalformedReply(e.to_string())))
            })?;
        Ok(Session {
            openid,
            unionid: reply.unionid.filter(|u| !u.is_empty()),
            session_key,
        })
    }

    /// Places the order with WeChat and returns its prepay_id. Calling again
    /// with the same order is WeChat's documented re-entry: same parameters,
    /// new prepay_id.
    #[tracing::instrument(skip_all, name = "wechat.unifiedorder", fields(out_trade_no = %order.out_trade_no))]
    pub async fn unified_order(
        &self,
        order: &NewOrder,
    ) -> Result<UnifiedOrderSuccess, WechatError> {
        let request = UnifiedOrderRequest {
            appid: self.cfg.appid.clone(),
            mch_id: self.cfg.mch_id.clone(),
            sign_type: self.cfg.sign_type,
            body: order.body.clone(),
            attach: order.attach.clone(),
            out_trade_no: order.out_trade_no.clone(),
            total_fee: order.total_fee,
            spbill_create_ip: order.spbill_create_ip,
            time_start: None,
            time_expire: order.time_expire.clone(),
            notify_url: order.notify_url.clone(),
            openid: order.openid.clone(),
        };
        let reply: UnifiedOrderSuccess = self
            .call(
                Api::UnifiedOrder,
                "pay/unifiedorder",
                request.to_fields(),
                self.cfg.sign_type,
            )
            .await?;
        self.check_ids(Api::UnifiedOrder, &reply.appid, &reply.mch_id)?;
        Ok(reply)
    }

    #[tracing::instrument(skip_all, name = "wechat.orderquery", fields(out_trade_no = %out_trade_no))]
    pub async fn order_query(
        &self,
        out_trade_no: &OutTradeNo,
    ) -> Result<OrderQuerySuccess, WechatError> {
        let request = OrderQueryRequest {
            appid: self.cfg.appid.clone(),
            mch_id: self.cfg.mch_id.clone(),
            sign_type: self.cfg.sign_type,
            out_trade_no: out_trade_no.clone(),
        };
        let reply: OrderQuerySuccess = self
            .call(
                Api::OrderQuery,
                "pay/orderquery",
                request.to_fields(),
                self.cfg.sign_type,
            )
            .await?;
        self.check_ids(Api::OrderQuery, &reply.appid, &reply.mch_id)?;
        if reply.out_trade_no != *out_trade_no {
            return Err(WechatError::new(
                Api::OrderQuery,
                ErrorKind::ForeignReply {
                    field: "out_trade_no",
                },
            ));
        }
        Ok(reply)
    }

    /// Closes an unpaid order. WeChat refuses within 5 minutes of ordering.
    /// An order already closed is what was asked for: `Ok`. `ORDERPAID`
    /// comes back as an error with [`WechatError::order_already_paid`].
    #[tracing::instrument(skip_all, name = "wechat.closeorder", fields(out_trade_no = %out_trade_no))]
    pub async fn close_order(&self, out_trade_no: &OutTradeNo) -> Result<(), WechatError> {
        let request = CloseOrderRequest {
            appid: self.cfg.appid.clone(),
            mch_id: self.cfg.mch_id.clone(),
            sign_type: self.cfg.sign_type,
            out_trade_no: out_trade_no.clone(),
        };
        let result: Result<CloseOrderSuccess, WechatError> = self
            .call(
                Api::CloseOrder,
                "pay/closeorder",
                request.to_fields(),
                self.cfg.sign_type,
            )
            .await;
        match result {
            Ok(reply) => self.check_ids(Api::CloseOrder, &reply.appid, &reply.mch_id),
            // Verified like every reply: already closed is what was asked.
            Err(e) if e.wechat_code().as_deref() == Some("ORDERCLOSED") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Pays `amount` to a user's change. Idempotent on partner_trade_no: on an
    /// `Unknown` error, query with [`transfer_info`](Self::transfer_info) and
    /// retry with the same number.
    #[tracing::instrument(skip_all, name = "wechat.transfers", fields(partner_trade_no = %transfer.partner_trade_no))]
    pub async fn transfer(&self, transfer: &NewTransfer) -> Result<TransferSuccess, WechatError> {
        let request = TransferRequest {
            mch_appid: self.cfg.appid.clone(),
            mchid: self.cfg.mch_id.clone(),
            partner_trade_no: transfer.partner_trade_no.clone(),
            openid: transfer.openid.clone(),
            re_user_name: transfer.re_user_name.clone(),
            amount: transfer.amount,
            desc: transfer.desc.clone(),
            spbill_create_ip: transfer.spbill_create_ip,
        };
        let reply: TransferSuccess = self
            .call(
                Api::Transfers,
                "mmpaymkttransfers/promotion/transfers",
                request.to_fields(),
                SignType::Md5,
            )
            .await?;
        self.check_ids(Api::Transfers, &reply.mch_appid, &reply.mchid)?;
        if reply.partner_trade_no != transfer.partner_trade_no {
            return Err(WechatError::new(
                Api::Transfers,
                ErrorKind::ForeignReply {
                    field: "partner_trade_no",
                },
            ));
        }
        Ok(reply)
    }

    #[tracing::instrument(skip_all, name = "wechat.gettransferinfo", fields(partner_trade_no = %partner_trade_no))]
    pub async fn transfer_info(
        &self,
        partner_trade_no: &PartnerTradeNo,
    ) -> Result<TransferInfo, WechatError> {
        let request = GetTransferInfoRequest {
            appid: self.cfg.appid.clone(),
            mch_id: self.cfg.mch_id.clone(),
            partner_trade_no: partner_trade_no.clone(),
        };
        let reply: TransferInfo = self
            .call(
                Api::GetTransferInfo,
                "mmpaymkttransfers/gettransferinfo",
                request.to_fields(),
                SignType::Md5,
            )
            .await?;
        self.check_ids(Api::GetTransferInfo, &reply.appid, &reply.mch_id)?;
        if reply.partner_trade_no != *partner_trade_no {
            return Err(WechatError::new(
                Api::GetTransferInfo,
                ErrorKind::ForeignReply {
                    field: "partner_trade_no",
                },
            ));
        }
        Ok(reply)
    }

    /// The `wx.requestPayment` fields for a prepay_id, signed with the
    /// configured sign type (the one unifiedorder used).
    pub fn request_payment(&self, prepay_id: &str) -> RequestPayment {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        RequestPayment::build(
            &self.cfg.appid,
            prepay_id,
            self.cfg.sign_type,
            &self.cfg.api_key,
            now,
            nonce_str(),
        )
    }

    fn check_ids(&self, api: Api, appid: &str, mch_id: &str) -> Result<(), WechatError> {
        let field = if appid != self.cfg.appid {
            "appid"
        } else if mch_id != self.cfg.mch_id {
            "mch_id"
        } else {
            return Ok(());
        };
        Err(WechatError::new(api, ErrorKind::ForeignReply { field }))
    }

    async fn call<T: ReplyBody>(
        &self,
        api: Api,
        path: &str,
        fields: FieldMap,
        sign_type: SignType,
    ) -> Result<T, WechatError> {
        let fail = |kind| WechatError::new(api, kind);
        let body = seal(fields, &self.cfg.api_key, sign_type)
            .map_err(|e| fail(ErrorKind::InvalidRequest(e.to_string())))?;
        tracing::debug!(api = api.as_str(), "calling WeChat");
        let http = match api {
            Api::Transfers | Api::GetTransferInfo => &self.mtls,
            _ => &self.http,
        };
        let response = http
            .post(join(&self.cfg.pay_base, path))
            .header(reqwest::header::CONTENT_TYPE, "text/xml; charset=utf-8")
            .body(body)
            .send()
            .await
            .map_err(|e| fail(transport(e)))?;
        let bytes = read_body(api, response, DEFAULT_MAX_DOCUMENT_BYTES).await?;
        let map = FieldMap::from_xml(&bytes)
            .map_err(|e| fail(ErrorKind::MalformedReply(e.to_string())))?;

        // return_code=FAIL replies are unsigned by design; everything else is
        // checked before a single field is believed. WeChat's transfer
        // replies carry no sign (the client certificate authenticates them),
        // so for those a sign is verified when present.
        let unsigned_ok = matches!(api, Api::Transfers | Api::GetTransferInfo);
        if map.get("return_code") != Some("FAIL") && (map.get("sign").is_some() || !unsigned_ok) {
            verify(&map, &self.cfg.api_key, sign_type).map_err(|e| {
                tracing::warn!(api = api.as_str(), error = %e, "WeChat reply failed verification");
                fail(ErrorKind::BadSignature(e))
            })?;
        }
        match Reply::<T>::from_fields(&map)
            .map_err(|e| fail(ErrorKind::MalformedReply(e.to_string())))?
        {
            Reply::Success(body) => Ok(body),
            Reply::ReturnFail { return_msg } => Err(fail(ErrorKind::ReturnFail { return_msg })),
            Reply::ResultFail {
                err_code,
                err_code_des,
            } => Err(fail(ErrorKind::Refused {
                err_code,
                err_code_des,
            })),
        }
    }
}

fn join(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    let joined = format!("{}/{}", base.path().trim_end_matches('/'), path);
    url.set_path(&joined);
    url
}

/// The error and its causes, without the URL (code2session's carries the
/// app secret in its query).
fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn transport(e: reqwest::Error) -> ErrorKind {
    if e.is_timeout() {
        ErrorKind::Timeout
    } else {
        ErrorKind::Transport(describe(&e.without_url()))
    }
}

async fn read_body(
    api: Api,
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, WechatError> {
    let fail = |kind| WechatError::new(api, kind);
    if response.status() != StatusCode::OK {
        return Err(fail(ErrorKind::HttpStatus(response.status().as_u16())));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| fail(transport(e)))? {
        if body.len() + chunk.len() > limit {
            return Err(fail(ErrorKind::MalformedReply(format!(
                "reply is over {limit} bytes"
            ))));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_keeps_a_base_path() {
        let base = parse_base_url("http://127.0.0.1:8900/wx/").unwrap();
        assert_eq!(
            join(&base, "pay/unifiedorder").as_str(),
            "http://127.0.0.1:8900/wx/pay/unifiedorder"
        );
        let base = parse_base_url("https://api.mch.weixin.qq.com").unwrap();
        assert_eq!(
            join(&base, "pay/orderquery").as_str(),
            "https://api.mch.weixin.qq.com/pay/orderquery"
        );
    }
}
