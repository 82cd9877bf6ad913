//! WechatClient against a small WeChat stand-in served inside the test: the
//! real HTTP stack, real signatures, and the replies WeChat gives when things
//! go wrong.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use common::{AmountFen, OutTradeNo, PartnerTradeNo};
use wechat::client::{Api, Certainty, ErrorKind, NewOrder, NewTransfer, parse_base_url};
use wechat::messages::{
    CloseOrderSuccess, OrderQuerySuccess, Reply, TradeState, TransferInfo, TransferStatus,
    TransferSuccess, UnifiedOrderRequest, UnifiedOrderSuccess,
};
use wechat::sign::{sign_fields, verify};
use wechat::{ApiKey, AppSecret, FieldMap, SignType, WechatClient, WechatConfig};

const APPID: &str = "wx0123456789abcdef";
const MCH_ID: &str = "1900000109";
const SECRET: &str = "app-secret-never-shown";
const KEY: &str = "192006250b4c09247ec02edce69f6a2d";

type Handler = Arc<dyn Fn(&str, &FieldMap) -> Response + Send + Sync>;

#[derive(Clone)]
struct Fake {
    handler: Handler,
    sign_type: SignType,
    seen: Arc<Mutex<Vec<FieldMap>>>,
}

/// The stand-in checks what WeChat checks of every request (its signature),
/// records it, and answers with whatever the test's handler says.
async fn pay_endpoint(State(fake): State<Fake>, uri: Uri, body: Bytes) -> Response {
    let Ok(fields) = FieldMap::from_xml(&body) else {
        return xml(&[("return_code", "FAIL"), ("return_msg", "XML_FORMAT_ERROR")]);
    };
    if verify(&fields, &key(), fake.sign_type).is_err() {
        return xml(&[("return_code", "FAIL"), ("return_msg", "SIGNERROR")]);
    }
    fake.seen.lock().unwrap().push(fields.clone());
    (fake.handler)(uri.path(), &fields)
}

fn key() -> ApiKey {
    ApiKey::parse(KEY).unwrap()
}

fn xml(pairs: &[(&str, &str)]) -> Response {
    let map: FieldMap = pairs.iter().copied().collect();
    map.to_xml().unwrap().into_response()
}

fn signed<T: wechat::messages::ReplyBody>(
    reply: Reply<T>,
    sign_type: SignType,
    with: &ApiKey,
) -> Response {
    let mut fields = reply.to_fields();
    fields.set("nonce_str", wechat::ids::nonce_str());
    sign_fields(&mut fields, with, sign_type);
    fields.to_xml().unwrap().into_response()
}

async fn spawn(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

fn config(base: &str, sign_type: SignType, timeout: Duration) -> WechatConfig {
    WechatConfig {
        appid: APPID.into(),
        app_secret: AppSecret::parse(SECRET).unwrap(),
        mch_id: MCH_ID.into(),
        api_key: key(),
        sign_type,
        api_base: parse_base_url(base).unwrap(),
        pay_base: parse_base_url(base).unwrap(),
        timeout,
        client_identity: None,
    }
}

struct Setup {
    client: WechatClient,
    seen: Arc<Mutex<Vec<FieldMap>>>,
}

async fn pay_server(
    sign_type: SignType,
    handler: impl Fn(&str, &FieldMap) -> Response + Send + Sync + 'static,
) -> Setup {
    let fake = Fake {
        handler: Arc::new(handler),
        sign_type,
        seen: Arc::default(),
    };
    let seen = fake.seen.clone();
    let router = Router::new()
        .route("/pay/{api}", post(pay_endpoint))
        .route("/mmpaymkttransfers/{api}", post(pay_endpoint))
        .route("/mmpaymkttransfers/promotion/transfers", post(pay_endpoint))
        .with_state(fake);
    let base = spawn(router).await;
    Setup {
        client: WechatClient::new(config(&base, sign_type, Duration::from_secs(5))).unwrap(),
        seen,
    }
}

fn new_order() -> NewOrder {
    NewOrder {
        out_trade_no: OutTradeNo::parse("ORDER20240101000001").unwrap(),
        total_fee: AmountFen::positive(101).unwrap(),
        body: "minipay test".into(),
        openid: "oUpF8uMEb4qRXf22hE3X68TekukE".into(),
        spbill_create_ip: "127.0.0.1".parse().unwrap(),
        notify_url: "http://127.0.0.1:8000/wechat/notify/pay".into(),
        attach: None,
        time_expire: None,
    }
}

fn ordered(prepay_id: &str) -> Reply<UnifiedOrderSuccess> {
    Reply::Success(UnifiedOrderSuccess {
        appid: APPID.into(),
        mch_id: MCH_ID.into(),
        trade_type: "JSAPI".into(),
        prepay_id: prepay_id.into(),
    })
}

fn no_secret_in(err: &wechat::WechatError) {
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(SECRET), "secret leaked: {shown}");
    assert!(!shown.contains(KEY), "key leaked: {shown}");
}

#[tokio::test]
async fn unifiedorder_md5_and_hmac_signed_both_ways() {
    for sign_type in [SignType::Md5, SignType::HmacSha256] {
        let setup = pay_server(sign_type, move |path, _| {
            assert_eq!(path, "/pay/unifiedorder");
            signed(
                ordered("wx201410272009395522657a690389285100"),
                sign_type,
                &key(),
            )
        })
        .await;
        let reply = setup.client.unified_order(&new_order()).await.unwrap();
        assert_eq!(reply.prepay_id, "wx201410272009395522657a690389285100");

        let seen = setup.seen.lock().unwrap().clone();
        let request = UnifiedOrderRequest::from_fields(&seen[0]).unwrap();
        assert_eq!(request.appid, APPID);
        assert_eq!(request.mch_id, MCH_ID);
        assert_eq!(request.sign_type, sign_type);
        assert_eq!(request.total_fee.fen(), 101);
        assert_eq!(seen[0].get("nonce_str").map(str::len), Some(32));

        let params = setup.client.request_payment(&reply.prepay_id);
        let mut signed_fields: FieldMap = [
            ("appId", APPID),
            ("nonceStr", params.nonce_str.as_str()),
            ("package", params.package.as_str()),
            ("signType", params.sign_type.as_str()),
            ("timeStamp", params.time_stamp.as_str()),
        ]
        .into_iter()
        .collect();
        signed_fields.set("sign", params.pay_sign.as_str());
        assert_eq!(verify(&signed_fields, &key(), sign_type), Ok(()));
        assert_eq!(params.time_stamp.len(), 10, "seconds, not milliseconds");
    }
}

#[tokio::test]
async fn systemerror_is_unknown_and_retryable_with_the_same_order() {
    let setup = pay_server(SignType::Md5, |_, _| {
        signed::<UnifiedOrderSuccess>(
            Reply::ResultFail {
                err_code: "SYSTEMERROR".into(),
                err_code_des: "系统超时".into(),
            },
            SignType::Md5,
            &key(),
        )
    })
    .await;
    let err = setup.client.unified_order(&new_order()).await.unwrap_err();
    assert_eq!(err.api, Api::UnifiedOrder);
    assert!(matches!(&err.kind, ErrorKind::Refused { err_code, .. } if err_code == "SYSTEMERROR"));
    assert_eq!(err.certainty(), Certainty::Unknown);
    assert!(err.retry_with_same_id());
    assert_eq!(err.wechat_code().as_deref(), Some("SYSTEMERROR"));
}

#[tokio::test]
async fn a_reply_signed_with_another_key_is_not_believed() {
    let setup = pay_server(SignType::Md5, |_, _| {
        let forger = ApiKey::parse("00000000000000000000000000000000").unwrap();
        signed(ordered("wx-forged"), SignType::Md5, &forger)
    })
    .await;
    let err = setup.client.unified_order(&new_order()).await.unwrap_err();
    assert!(matches!(err.kind, ErrorKind::BadSignature(_)), "{err}");
    assert_eq!(err.certainty(), Certainty::Unknown);
    assert!(err.retry_with_same_id());
}

#[tokio::test]
async fn an_unsigned_success_is_not_believed() {
    let setup = pay_server(SignType::Md5, |_, _| {
        xml(&[
            ("return_code", "SUCCESS"),
            ("result_code", "SUCCESS"),
            ("appid", APPID),
            ("mch_id", MCH_ID),
            ("trade_type", "JSAPI"),
            ("prepay_id", "wx-unsigned"),
        ])
    })
    .await;
    let err = setup.client.unified_order(&new_order()).await.unwrap_err();
    assert_eq!(
        err.kind,
        ErrorKind::BadSignature(wechat::sign::SignError::Missing)
    );
    assert_eq!(err.certainty(), Certainty::Unknown);
}

#[tokio::test]
async fn a_signed_reply_for_another_merchant_is_not_believed() {
    let setup = pay_server(SignType::Md5, |_, _| {
        signed(
            Reply::Success(UnifiedOrderSuccess {
                appid: APPID.into(),
                mch_id: "1234567890".into(),
                trade_type: "JSAPI".into(),
                prepay_id: "wx-other".into(),
            }),
            SignType::Md5,
            &key(),
        )
    })
    .await;
    let err = setup.client.unified_order(&new_order()).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::ForeignReply { field: "mch_id" });
    assert_eq!(err.certainty(), Certainty::Unknown);
}

#[tokio::test]
async fn return_fail_is_a_definite_refusal() {
    let setup = pay_server(SignType::Md5, |_, _| {
        xml(&[("return_code", "FAIL"), ("return_msg", "签名错误")])
    })
    .await;
    let err = setup.client.unified_order(&new_order()).await.unwrap_err();
    assert_eq!(
        err.kind,
        ErrorKind::ReturnFail {
            return_msg: "签名错误".into()
        }
    );
    assert_eq!(err.certainty(), Certainty::Definite);
    assert!(!err.retry_with_same_id());
}

#[tokio::test]
async fn server_errors_and_garbage_are_unknown() {
    let setup = pay_server(SignType::Md5, |_, _| {
        (StatusCode::BAD_GATEWAY, "upstream down").into_response()
    })
    .await;
    let err = setup.client.unified_order(&new_order()).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::HttpStatus(502));
    assert_eq!(err.certainty(), Certainty::Unknown);

    let setup = pay_server(SignType::Md5, |_, _| {
        "<html>maintenance</html>".into_response()
    })
    .await;
    let err = setup.client.unified_order(&new_order()).await.unwrap_err();
    assert!(matches!(err.kind, ErrorKind::MalformedReply(_)), "{err}");
    assert_eq!(err.certainty(), Certainty::Unknown);

    let setup = pay_server(SignType::Md5, |_, _| {
        format!("<xml><a>{}</a></xml>", "x".repeat(70_000)).into_response()
    })
    .await;
    let err = setup.client.unified_order(&new_order()).await.unwrap_err();
    assert!(
        matches!(err.kind, ErrorKind::MalformedReply(ref m) if m.contains("over")),
        "{err}"
    );
}

#[tokio::test]
async fn orderquery_reads_a_paid_order_and_checks_its_number() {
    let setup = pay_server(SignType::HmacSha256, |path, request| {
        assert_eq!(path, "/pay/orderquery");
        signed(
            Reply::Success(OrderQuerySuccess {
                appid: APPID.into(),
                mch_id: MCH_ID.into(),
                out_trade_no: OutTradeNo::parse(request.get("out_trade_no").unwrap()).unwrap(),
                trade_state: TradeState::Success,
                trade_state_desc: None,
                transaction_id: Some("4200000000000000000000000001".into()),
                total_fee: Some(AmountFen::positive(101).unwrap()),
                openid: None,
                time_end: Some("20240101120000".into()),
            }),
            SignType::HmacSha256,
            &key(),
        )
    })
    .await;
    let no = OutTradeNo::parse("ORDER20240101000001").unwrap();
    let paid = setup.client.order_query(&no).await.unwrap();
    assert_eq!(paid.trade_state, TradeState::Success);
    assert_eq!(paid.total_fee.map(AmountFen::fen), Some(101));

    let setup = pay_server(SignType::Md5, |_, _| {
        signed(
            Reply::Success(OrderQuerySuccess {
                appid: APPID.into(),
                mch_id: MCH_ID.into(),
                out_trade_no: OutTradeNo::parse("SOMEONE_ELSES").unwrap(),
                trade_state: TradeState::NotPay,
                trade_state_desc: None,
                transaction_id: None,
                total_fee: None,
                openid: None,
                time_end: None,
            }),
            SignType::Md5,
            &key(),
        )
    })
    .await;
    let err = setup.client.order_query(&no).await.unwrap_err();
    assert_eq!(
        err.kind,
        ErrorKind::ForeignReply {
            field: "out_trade_no"
        }
    );
}

#[tokio::test]
async fn closeorder_success_and_orderpaid() {
    let setup = pay_server(SignType::Md5, |_, _| {
        signed(
            Reply::Success(CloseOrderSuccess {
                appid: APPID.into(),
                mch_id: MCH_ID.into(),
            }),
            SignType::Md5,
            &key(),
        )
    })
    .await;
    let no = OutTradeNo::parse("ORDER20240101000001").unwrap();
    setup.client.close_order(&no).await.unwrap();

    let setup = pay_server(SignType::Md5, |_, _| {
        signed::<CloseOrderSuccess>(
            Reply::ResultFail {
                err_code: "ORDERPAID".into(),
                err_code_des: "订单已支付".into(),
            },
            SignType::Md5,
            &key(),
        )
    })
    .await;
    let err = setup.client.close_order(&no).await.unwrap_err();
    assert_eq!(err.wechat_code().as_deref(), Some("ORDERPAID"));
    assert!(err.order_already_paid());
    assert_eq!(
        err.certainty(),
        Certainty::Unknown,
        "paid: confirm, never close"
    );

    let setup = pay_server(SignType::Md5, |_, _| {
        signed::<CloseOrderSuccess>(
            Reply::ResultFail {
                err_code: "ORDERCLOSED".into(),
                err_code_des: "订单已关闭".into(),
            },
            SignType::Md5,
            &key(),
        )
    })
    .await;
    setup.client.close_order(&no).await.unwrap();
}

fn new_transfer() -> NewTransfer {
    NewTransfer {
        partner_trade_no: PartnerTradeNo::parse("W20261204000001").unwrap(),
        openid: "oMerchantPayout".into(),
        amount: AmountFen::positive(12_345).unwrap(),
        desc: "minipay withdrawal".into(),
        re_user_name: None,
        spbill_create_ip: Some("10.0.0.1".parse().unwrap()),
    }
}

#[tokio::test]
async fn transfers_accept_wechats_unsigned_reply_and_verify_a_signed_one() {
    let setup = pay_server(SignType::Md5, |path, request| {
        assert_eq!(path, "/mmpaymkttransfers/promotion/transfers");
        assert_eq!(request.get("mch_appid"), Some(APPID));
        assert_eq!(request.get("amount"), Some("12345"));
        assert_eq!(request.get("spbill_create_ip"), Some("10.0.0.1"));
        let reply = Reply::Success(TransferSuccess {
            mch_appid: APPID.into(),
            mchid: MCH_ID.into(),
            partner_trade_no: PartnerTradeNo::parse(request.get("partner_trade_no").unwrap())
                .unwrap(),
            payment_no: "1000018301201505190181489473".into(),
            payment_time: "2015-05-19 15:26:59".into(),
        });
        reply.to_fields().to_xml().unwrap().into_response()
    })
    .await;
    let paid = setup.client.transfer(&new_transfer()).await.unwrap();
    assert_eq!(paid.payment_no, "1000018301201505190181489473");

    let setup = pay_server(SignType::Md5, |_, request| {
        let forger = ApiKey::parse("00000000000000000000000000000000").unwrap();
        signed(
            Reply::Success(TransferSuccess {
                mch_appid: APPID.into(),
                mchid: MCH_ID.into(),
                partner_trade_no: PartnerTradeNo::parse(request.get("partner_trade_no").unwrap())
                    .unwrap(),
                payment_no: "1".into(),
                payment_time: "2015-05-19 15:26:59".into(),
            }),
            SignType::Md5,
            &forger,
        )
    })
    .await;
    let err = setup.client.transfer(&new_transfer()).await.unwrap_err();
    assert!(matches!(err.kind, ErrorKind::BadSignature(_)));
    assert_eq!(err.certainty(), Certainty::Unknown);
    assert!(err.retry_with_same_id());
}

#[tokio::test]
async fn gettransferinfo_reports_a_failed_transfer() {
    let setup = pay_server(SignType::Md5, |path, request| {
        assert_eq!(path, "/mmpaymkttransfers/gettransferinfo");
        assert_eq!(request.get("appid"), Some(APPID));
        assert_eq!(request.get("mch_id"), Some(MCH_ID));
        signed(
            Reply::Success(TransferInfo {
                appid: APPID.into(),
                mch_id: MCH_ID.into(),
                partner_trade_no: PartnerTradeNo::parse(request.get("partner_trade_no").unwrap())
                    .unwrap(),
                detail_id: Some("1000000000201503283103439304".into()),
                status: TransferStatus::Failed,
                reason: Some("OPENID_ERROR".into()),
                openid: Some("oMerchantPayout".into()),
                payment_amount: Some(AmountFen::positive(12_345).unwrap()),
                transfer_time: Some("2015-04-21 20:00:00".into()),
                payment_time: None,
                desc: None,
            }),
            SignType::Md5,
            &key(),
        )
    })
    .await;
    let info = setup
        .client
        .transfer_info(&new_transfer().partner_trade_no)
        .await
        .unwrap();
    assert_eq!(info.status, TransferStatus::Failed);
    assert_eq!(info.reason.as_deref(), Some("OPENID_ERROR"));
}

#[tokio::test]
async fn the_stand_in_refuses_a_request_signed_with_the_wrong_type() {
    // The client signs with its configured type; a server expecting the
    // other one says SIGNERROR, which reaches the caller as a refusal.
    let fake = Fake {
        handler: Arc::new(|_, _| signed(ordered("x"), SignType::HmacSha256, &key())),
        sign_type: SignType::HmacSha256,
        seen: Arc::default(),
    };
    let router = Router::new()
        .route("/pay/{api}", post(pay_endpoint))
        .with_state(fake);
    let base = spawn(router).await;
    let client = WechatClient::new(config(&base, SignType::Md5, Duration::from_secs(5))).unwrap();
    let err = client.unified_order(&new_order()).await.unwrap_err();
    assert_eq!(
        err.kind,
        ErrorKind::ReturnFail {
            return_msg: "SIGNERROR".into()
        }
    );
}

async fn login_server(
    reply: impl Fn(&HashMap<String, String>) -> Response + Clone + Send + Sync + 'static,
    delay: Duration,
) -> WechatClient {
    let router = Router::new().route(
        "/sns/jscode2session",
        get(move |Query(q): Query<HashMap<String, String>>| async move {
            tokio::time::sleep(delay).await;
            reply(&q)
        }),
    );
    let base = spawn(router).await;
    WechatClient::new(config(&base, SignType::Md5, Duration::from_millis(300))).unwrap()
}

#[tokio::test]
async fn code2session_sends_the_documented_query_and_reads_the_session() {
    let client = login_server(
        |q| {
            assert_eq!(q.get("appid").map(String::as_str), Some(APPID));
            assert_eq!(q.get("secret").map(String::as_str), Some(SECRET));
            assert_eq!(
                q.get("js_code").map(String::as_str),
                Some("code+with/odd=chars")
            );
            assert_eq!(
                q.get("grant_type").map(String::as_str),
                Some("authorization_code")
            );
            axum::Json(serde_json::json!({
                "openid": "oUser1",
                "session_key": "tiihtNczf5v6AKRyjwEUhQ==",
            }))
            .into_response()
        },
        Duration::ZERO,
    )
    .await;
    let session = client.code2session("code+with/odd=chars").await.unwrap();
    assert_eq!(session.openid, "oUser1");
    assert_eq!(session.unionid, None);
    assert!(!format!("{session:?}").contains("tiihtNczf5"));
}

#[tokio::test]
async fn code2session_errcodes_are_typed() {
    for (errcode, certainty, retry) in [
        (40029, Certainty::Definite, false),
        (40163, Certainty::Definite, false),
        (45011, Certainty::Definite, true),
        (-1, Certainty::Unknown, true),
    ] {
        let client = login_server(
            move |_| {
                axum::Json(
                    serde_json::json!({"errcode": errcode, "errmsg": "invalid code, rid: 1"}),
                )
                .into_response()
            },
            Duration::ZERO,
        )
        .await;
        let err = client.code2session("c").await.unwrap_err();
        assert!(matches!(err.kind, ErrorKind::Login { errcode: e, .. } if e == errcode));
        assert_eq!(err.certainty(), certainty, "{errcode}");
        assert_eq!(err.retry_with_same_id(), retry, "{errcode}");
        no_secret_in(&err);
    }
}

#[tokio::test]
async fn code2session_refuses_a_reply_without_a_usable_session_key() {
    for body in [
        serde_json::json!({"openid": "o1"}),
        serde_json::json!({"openid": "o1", "session_key": "short"}),
        serde_json::json!({"session_key": "tiihtNczf5v6AKRyjwEUhQ=="}),
    ] {
        let client = login_server(
            move |_| axum::Json(body.clone()).into_response(),
            Duration::ZERO,
        )
        .await;
        let err = client.code2session("c").await.unwrap_err();
        assert!(matches!(err.kind, ErrorKind::MalformedReply(_)), "{err}");
        assert_eq!(err.certainty(), Certainty::Unknown);
    }
}

#[tokio::test]
async fn a_slow_wechat_is_a_timeout_that_does_not_leak_the_secret() {
    let client = login_server(
        |_| axum::Json(serde_json::json!({})).into_response(),
        Duration::from_secs(5),
    )
    .await;
    let err = client.code2session("c").await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Timeout);
    assert_eq!(err.certainty(), Certainty::Unknown);
    assert!(err.retry_with_same_id());
    no_secret_in(&err);
}

#[tokio::test]
async fn an_unreachable_wechat_is_unknown_and_does_not_leak_the_secret() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let client = WechatClient::new(config(&base, SignType::Md5, Duration::from_secs(2))).unwrap();
    let err = client.code2session("c").await.unwrap_err();
    assert!(matches!(err.kind, ErrorKind::Transport(_)), "{err}");
    assert_eq!(err.certainty(), Certainty::Unknown);
    no_secret_in(&err);
    let err = client.unified_order(&new_order()).await.unwrap_err();
    assert_eq!(err.certainty(), Certainty::Unknown);
    assert!(err.retry_with_same_id());
    no_secret_in(&err);
}

#[tokio::test]
async fn the_client_and_its_config_never_print_secrets() {
    let client = WechatClient::new(config(
        "http://127.0.0.1:1",
        SignType::Md5,
        Duration::from_secs(1),
    ))
    .unwrap();
    let shown = format!("{client:?}");
    assert!(!shown.contains(SECRET) && !shown.contains(KEY), "{shown}");
}
