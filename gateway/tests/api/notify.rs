use crate::helpers::{Options, TestApp, spawn_app, spawn_app_with};
use crate::services::{REFUSED_REPLY, STORE_DOWN_REPLY, SUCCESS_REPLY};

const PATH: &str = "/wechat/notify/pay";
const TOO_LARGE: &str = "<xml><return_code><![CDATA[FAIL]]></return_code><return_msg><![CDATA[body too large]]></return_msg></xml>";

fn notification(marker: &str) -> String {
    format!(
        "<xml><appid><![CDATA[wx2421b1c4370ec43b]]></appid><attach><![CDATA[支付测试]]></attach>\
         <out_trade_no>ORDER-PAID-1</out_trade_no><result_code><![CDATA[SUCCESS]]></result_code>\
         <total_fee>1</total_fee><nonce_str><![CDATA[{marker}]]></nonce_str></xml>"
    )
}

/// Status, content type and body of a reply, checking it is never JSON.
async fn xml_reply(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    assert!(response.headers().contains_key("x-request-id"));
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.starts_with("text/xml"), "{content_type}");
    let body = response.text().await.unwrap();
    assert!(body.starts_with("<xml>"), "{body}");
    assert!(!body.contains("\"code\""), "{body}");
    (status, body)
}

async fn notify(app: &TestApp, body: impl Into<reqwest::Body>) -> (u16, String) {
    xml_reply(app.post_xml(PATH, body).await).await
}

#[tokio::test]
async fn a_success_reply_is_passed_through_with_200() {
    let app = spawn_app().await;
    let body = notification("good");
    let response = app
        .client
        .post(app.url(PATH))
        .header("x-request-id", "req-notify-1")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(xml_reply(response).await, (200, SUCCESS_REPLY.to_owned()));
    // The body reaches payment-service byte for byte.
    assert_eq!(app.payment.notifies(), vec![body.into_bytes()]);
    let seen = app.payment.seen().pop().unwrap();
    assert_eq!(seen.request_id.as_deref(), Some("req-notify-1"));
    assert!(seen.grpc_timeout.is_some());
}

#[tokio::test]
async fn a_refusal_is_passed_through_with_400() {
    let app = spawn_app().await;
    assert_eq!(
        notify(&app, notification("refuse-me")).await,
        (400, REFUSED_REPLY.to_owned())
    );
}

#[tokio::test]
async fn payment_services_own_503_is_passed_through() {
    let app = spawn_app().await;
    assert_eq!(
        notify(&app, notification("store-down")).await,
        (503, STORE_DOWN_REPLY.to_owned())
    );
}

#[tokio::test]
async fn with_the_trailing_slash_too_and_any_bytes() {
    let app = spawn_app().await;
    let bytes: Vec<u8> = b"<xml>\xff\xfe not utf-8</xml>".to_vec();
    let (status, body) = xml_reply(app.post_xml("/wechat/notify/pay/", bytes.clone()).await).await;
    assert_eq!((status, body.as_str()), (200, SUCCESS_REPLY));
    assert_eq!(app.payment.notifies(), vec![bytes]);
}

#[tokio::test]
async fn bodies_up_to_64_kib_are_read_and_larger_ones_are_413_xml() {
    let app = spawn_app().await;
    let padded = |len: usize| {
        let head = "<xml><pad>";
        let tail = "</pad></xml>";
        format!("{head}{}{tail}", "x".repeat(len - head.len() - tail.len()))
    };
    assert_eq!(notify(&app, padded(64 * 1024)).await.0, 200);
    assert_eq!(
        notify(&app, padded(64 * 1024 + 1)).await,
        (413, TOO_LARGE.to_owned())
    );
    assert_eq!(
        notify(&app, padded(1024 * 1024)).await,
        (413, TOO_LARGE.to_owned())
    );
    assert_eq!(app.payment.notifies().len(), 1);
}

#[tokio::test]
async fn the_notification_limit_does_not_follow_the_json_limit() {
    let app = spawn_app_with(Options {
        body_limit: 1024,
        ..Options::default()
    })
    .await;
    let big = notification(&"x".repeat(32 * 1024));
    assert_eq!(notify(&app, big).await.0, 200);
    let app = spawn_app_with(Options {
        body_limit: 1024 * 1024,
        ..Options::default()
    })
    .await;
    let huge = notification(&"x".repeat(128 * 1024));
    assert_eq!(notify(&app, huge).await, (413, TOO_LARGE.to_owned()));
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_413_xml_too() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let app = spawn_app().await;
    let addr = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {PATH} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: text/xml\r\n\
         transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = format!("2000\r\n{}\r\n", "x".repeat(0x2000));
    for _ in 0..10 {
        if stream.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply).await;
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    assert!(reply.ends_with(TOO_LARGE), "{reply}");
    assert!(app.payment.notifies().is_empty());
}

#[tokio::test]
async fn payment_service_down_is_503_xml_fail() {
    let app = spawn_app_with(Options {
        payment_up: false,
        ..Options::default()
    })
    .await;
    let (status, body) = notify(&app, notification("good")).await;
    assert_eq!(status, 503);
    assert!(
        body.contains("<return_code><![CDATA[FAIL]]></return_code>"),
        "{body}"
    );
}

#[tokio::test]
async fn payment_service_failures_are_xml_fail() {
    let app = spawn_app().await;
    for (marker, expected) in [
        ("grpc-unavailable", 503),
        ("grpc-internal", 503),
        ("no-reply", 503),
        ("grpc-invalid", 400),
    ] {
        let (status, body) = notify(&app, notification(marker)).await;
        assert_eq!(status, expected, "{marker}");
        assert!(
            body.contains("<return_code><![CDATA[FAIL]]></return_code>"),
            "{marker}: {body}"
        );
        assert!(!body.contains("poisoned"), "{body}");
    }
}

#[tokio::test]
async fn a_wrong_method_is_405_in_xml() {
    let app = spawn_app().await;
    let (status, body) = xml_reply(app.get(PATH).await).await;
    assert_eq!(status, 405);
    assert!(body.contains("FAIL"), "{body}");
    assert!(app.payment.seen().is_empty());
}
