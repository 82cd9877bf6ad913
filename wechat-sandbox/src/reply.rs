//! How the simulator answers: WeChat's XML, signed as WeChat signs it.

use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use wechat::messages::{MessageError, Reply, ReplyBody};
use wechat::sign::{sign_fields, verify};
use wechat::{ApiKey, FieldMap, SignType};

use crate::state::Sandbox;

/// What `wrong_key_replies` and `wrong_key_notifications` sign with.
pub const WRONG_KEY: &str = "thisisnotthemerchantsapiv2key000";

pub fn xml(text: String) -> Response {
    ([(CONTENT_TYPE, "text/xml; charset=utf-8")], text).into_response()
}

fn encode(fields: &FieldMap) -> Response {
    match fields.to_xml() {
        Ok(text) => xml(text),
        // Only fields echoed from a verified request reach here, and those
        // parsed as XML, so they encode; answer as WeChat would if not.
        Err(_) => return_fail("系统错误"),
    }
}

/// `return_code=FAIL`: refused before any business processing. WeChat sends
/// these unsigned, with a human text (`签名错误`, `XML格式错误`, …).
pub fn return_fail(msg: &str) -> Response {
    let mut fields = FieldMap::new();
    fields.set("return_code", "FAIL").set("return_msg", msg);
    encode(&fields)
}

/// The key a reply or notification is signed with: the merchant's, or a
/// wrong one when the matching fault is on.
pub fn signing_key(sandbox: &Sandbox, wrong: bool) -> ApiKey {
    if wrong {
        ApiKey::parse(WRONG_KEY)
            .unwrap_or_else(|_| unreachable!("WRONG_KEY is 32 ASCII characters"))
    } else {
        sandbox.cfg.api_key.clone()
    }
}

/// Answers one request: signed replies with the ids the API echoes (appid
/// and mch_id, or mch_appid and mchid for transfers), a nonce and the sign.
/// Built before the state lock is taken, so answering never locks.
#[derive(Debug)]
pub struct Replier {
    key: ApiKey,
    ids: [(&'static str, String); 2],
    sign_type: SignType,
}

impl Replier {
    pub fn new(sandbox: &Sandbox, ids: [&'static str; 2], sign_type: SignType) -> Self {
        Self {
            key: signing_key(sandbox, sandbox.faults().wrong_key_replies),
            ids: [
                (ids[0], sandbox.cfg.appid.clone()),
                (ids[1], sandbox.cfg.mch_id.clone()),
            ],
            sign_type,
        }
    }

    pub fn reply<T: ReplyBody>(&self, reply: Reply<T>) -> Response {
        let mut fields = reply.to_fields();
        for (name, value) in &self.ids {
            if fields.get(name).is_none() {
                fields.set(*name, value.as_str());
            }
        }
        fields.set("nonce_str", wechat::ids::nonce_str());
        sign_fields(&mut fields, &self.key, self.sign_type);
        encode(&fields)
    }

    pub fn ok<T: ReplyBody>(&self, body: T) -> Response {
        self.reply(Reply::Success(body))
    }

    /// `result_code=FAIL` with WeChat's code.
    pub fn fail(&self, err_code: &str, err_code_des: impl Into<String>) -> Response {
        self.reply::<NoBody>(Reply::ResultFail {
            err_code: err_code.into(),
            err_code_des: err_code_des.into(),
        })
    }
}

/// The body of a reply that never succeeds (refusals only).
struct NoBody;

impl ReplyBody for NoBody {
    fn read(_: wechat::messages::Fields<'_>) -> Result<Self, MessageError> {
        Ok(NoBody)
    }

    fn write(&self, _: &mut FieldMap) {}
}

/// What WeChat checks before anything else: the body is a flat XML document
/// and its signature verifies over every field with the declared sign type
/// (MD5 when absent; transfers accept only MD5).
pub fn verified_request(
    sandbox: &Sandbox,
    body: &[u8],
    md5_only: bool,
) -> Result<(FieldMap, SignType), Response> {
    let fields = FieldMap::from_xml(body).map_err(|_| return_fail("XML格式错误"))?;
    let sign_type = match fields.get("sign_type").filter(|t| !t.is_empty()) {
        None => SignType::Md5,
        Some("MD5") => SignType::Md5,
        Some("HMAC-SHA256") if !md5_only => SignType::HmacSha256,
        Some(_) => return Err(return_fail("签名类型错误")),
    };
    verify(&fields, &sandbox.cfg.api_key, sign_type).map_err(|_| return_fail("签名错误"))?;
    match fields.get("nonce_str") {
        Some(n) if !n.is_empty() && n.len() <= 32 => Ok((fields, sign_type)),
        _ => Err(return_fail("nonce_str参数错误")),
    }
}

/// WeChat's code for a request that parsed but is not well-formed.
pub fn param_error(e: &MessageError) -> (&'static str, String) {
    match e {
        MessageError::Missing { field } => ("LACK_PARAMS", format!("缺少参数 {field}")),
        MessageError::Invalid { field, reason } => {
            ("INVALID_REQUEST", format!("{field} 参数格式错误: {reason}"))
        }
    }
}

pub async fn latency(ms: u64) {
    if ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
}
