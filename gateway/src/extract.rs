//! What handlers take from a request: a JSON object read field by field
//! (amounts included), the mini-program token, the request id, the client IP.

use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use common::AmountFen;
use ipnet::IpNet;
use serde_json::{Map, Value};

use crate::AppState;
use crate::error::ApiError;

/// A JSON object body, whatever the content type (`wx.request` sends
/// `application/json`, other clients are less careful). An empty body reads
/// as `{}`, so that a call with its token in the header needs no body.
#[derive(Debug)]
pub(crate) struct JsonBody(Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await?;
        JsonBody::parse(&bytes)
    }
}

impl JsonBody {
    fn parse(bytes: &[u8]) -> Result<Self, ApiError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonBody(Map::new()));
        }
        match serde_json::from_slice(bytes) {
            Ok(Value::Object(fields)) => Ok(JsonBody(fields)),
            Ok(_) => Err(ApiError::InvalidParam("body must be a JSON object".into())),
            Err(_) => Err(ApiError::InvalidParam("body is not valid JSON".into())),
        }
    }

    /// A string field that must be present (`null` counts as absent).
    pub(crate) fn required_str(&self, name: &str) -> Result<String, ApiError> {
        self.optional_str(name)?
            .ok_or_else(|| ApiError::InvalidParam(format!("{name} is required")))
    }

    pub(crate) fn optional_str(&self, name: &str) -> Result<Option<String>, ApiError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(ApiError::InvalidParam(format!("{name} must be a string"))),
        }
    }

    /// An amount of fen that must be present, written as a JSON integer
    /// literal from 1 to `max` inclusive. `"1"`, `1.0`, `1e2`, `0`, `-1`,
    /// `true`, `null` and numbers beyond `i64` are all refused, naming the field.
    pub(crate) fn required_amount(
        &self,
        name: &str,
        max: AmountFen,
    ) -> Result<AmountFen, ApiError> {
        let invalid = || {
            ApiError::InvalidParam(format!(
                "{name} must be a JSON integer of fen from 1 to {max}"
            ))
        };
        let number = match self.0.get(name) {
            None | Some(Value::Null) => {
                return Err(ApiError::InvalidParam(format!("{name} is required")));
            }
            Some(Value::Number(number)) => number,
            Some(_) => return Err(invalid()),
        };
        // Without serde_json's arbitrary_precision a float never claims to
        // be an integer; with it, the literal text is what was sent. Either
        // way `1.0` and `1e2` stop here.
        let literal = number.to_string();
        if !(number.is_i64() || number.is_u64()) || literal.contains(['.', 'e', 'E']) {
            return Err(invalid());
        }
        let fen = number.as_i64().ok_or_else(invalid)?;
        if fen > max.fen() {
            return Err(invalid());
        }
        AmountFen::positive(fen).map_err(|_| invalid())
    }
}

/// The mini-program token: `Authorization: Bearer <token>` when the header
/// holds one, else the body's `token` field. Missing or empty: code 2.
pub(crate) fn token(headers: &HeaderMap, body: &JsonBody) -> Result<String, ApiError> {
    if let Some(token) = bearer(headers) {
        return Ok(token.to_owned());
    }
    match body.optional_str("token")? {
        Some(token) if !token.is_empty() => Ok(token),
        _ => Err(ApiError::Token("token is missing or empty".into())),
    }
}

/// `Authorization: Bearer <value>`, when present and non-empty.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The address to report as the payer's (`spbill_create_ip`): the socket
/// peer, or — only when the peer is one of `trusted_proxies` — the first
/// address of `X-Forwarded-For` (ignored when it does not parse).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() else {
            // `router()` served without `into_make_service_with_connect_info`.
            let request_id = crate::middleware::request_id(&parts.headers).to_owned();
            tracing::error!(%request_id, "no peer address: serve the router with connect info");
            return Err(ApiError::Internal { request_id });
        };
        Ok(ClientIp(client_ip(
            peer.ip(),
            &parts.headers,
            &app.0.trusted_proxies,
        )))
    }
}

const X_FORWARDED_FOR: &str = "x-forwarded-for";

pub(crate) fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted_proxies: &[IpNet]) -> IpAddr {
    let peer = peer.to_canonical();
    if !trusted_proxies.iter().any(|net| net.contains(&peer)) {
        return peer;
    }
    headers
        .get(X_FORWARDED_FOR)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .and_then(forwarded_ip)
        .unwrap_or(peer)
}

/// `1.2.3.4`, `2001:db8::1`, or either with a port (`1.2.3.4:80`, `[::1]:80`).
fn forwarded_ip(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|a| a.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

/// The request's id, as the request-id layer left it in the headers.
#[derive(Debug, Clone)]
pub(crate) struct RequestId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(RequestId(
            crate::middleware::request_id(&parts.headers).to_owned(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn body(json: &str) -> JsonBody {
        match JsonBody::parse(json.as_bytes()) {
            Ok(body) => body,
            Err(e) => panic!("{json}: {e}"),
        }
    }

    fn message(result: Result<impl std::fmt::Debug, ApiError>) -> String {
        match result {
            Ok(v) => panic!("expected an error, got {v:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn bodies_must_be_json_objects() {
        assert_eq!(
            message(JsonBody::parse(b"code=1")),
            "body is not valid JSON"
        );
        assert_eq!(
            message(JsonBody::parse(b"[1]")),
            "body must be a JSON object"
        );
        assert_eq!(message(JsonBody::parse(b"\xff")), "body is not valid JSON");
        assert!(JsonBody::parse(b" \n").is_ok());
    }

    #[test]
    fn field_errors_name_the_field() {
        assert_eq!(
            message(body(r#"{"code": 5}"#).required_str("code")),
            "code must be a string"
        );
        assert_eq!(message(body("{}").required_str("code")), "code is required");
        assert_eq!(
            message(body(r#"{"code": null}"#).required_str("code")),
            "code is required"
        );
        assert_eq!(
            body(r#"{"rawData": null}"#).optional_str("rawData").ok(),
            Some(None)
        );
    }

    #[test]
    fn amounts_are_integer_literals_within_bounds() {
        let max = AmountFen::positive(100).unwrap();
        let amount = |json: &str| {
            body(&format!(r#"{{"money": {json}}}"#))
                .required_amount("money", max)
                .map(AmountFen::fen)
        };
        assert_eq!(amount("1").ok(), Some(1));
        assert_eq!(amount("100").ok(), Some(100));
        assert_eq!(amount("-0").map_err(|e| e.code()).err(), Some(1));
        for bad in [
            "101",
            "0",
            "-1",
            "1.0",
            "1.5",
            "1e2",
            "1E2",
            "1e0",
            "\"1\"",
            "true",
            "false",
            "null",
            "[1]",
            "{}",
            "1e20",
            "9223372036854775808",
            "18446744073709551616",
            "-9223372036854775809",
        ] {
            match amount(bad) {
                Ok(v) => panic!("{bad} accepted as {v}"),
                Err(e) => {
                    assert_eq!(e.code(), 1, "{bad}");
                    assert!(e.to_string().contains("money"), "{bad}: {e}");
                }
            }
        }
        assert_eq!(
            message(body("{}").required_amount("money", max)),
            "money is required"
        );
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_peers() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()];
        let mut headers = HeaderMap::new();
        headers.insert(
            X_FORWARDED_FOR,
            HeaderValue::from_static(" 203.0.113.7 , 10.0.0.2"),
        );
        assert_eq!(
            client_ip(ip("10.1.2.3"), &headers, &trusted),
            ip("203.0.113.7")
        );
        assert_eq!(client_ip(ip("::1"), &headers, &trusted), ip("203.0.113.7"));
        // An IPv4 peer seen through an IPv6 socket is still that IPv4 peer.
        assert_eq!(
            client_ip(ip("::ffff:10.1.2.3"), &headers, &trusted),
            ip("203.0.113.7")
        );
        assert_eq!(
            client_ip(ip("192.0.2.1"), &headers, &trusted),
            ip("192.0.2.1")
        );
        assert_eq!(client_ip(ip("192.0.2.1"), &headers, &[]), ip("192.0.2.1"));
        assert_eq!(
            client_ip(ip("::ffff:192.0.2.1"), &headers, &[]),
            ip("192.0.2.1")
        );
        headers.insert(
            X_FORWARDED_FOR,
            HeaderValue::from_static("[2001:db8::5]:443"),
        );
        assert_eq!(
            client_ip(ip("10.0.0.1"), &headers, &trusted),
            ip("2001:db8::5")
        );
        headers.insert(
            X_FORWARDED_FOR,
            HeaderValue::from_static("198.51.100.9:8080"),
        );
        assert_eq!(
            client_ip(ip("10.0.0.1"), &headers, &trusted),
            ip("198.51.100.9")
        );
        headers.insert(
            X_FORWARDED_FOR,
            HeaderValue::from_static("unknown, 203.0.113.7"),
        );
        assert_eq!(
            client_ip(ip("10.0.0.1"), &headers, &trusted),
            ip("10.0.0.1")
        );
        assert_eq!(
            client_ip(ip("10.0.0.1"), &HeaderMap::new(), &trusted),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn the_header_wins_and_empty_is_missing() {
        let mut headers = HeaderMap::new();
        let b = body(r#"{"token": "from-body"}"#);
        assert_eq!(token(&headers, &b).ok().as_deref(), Some("from-body"));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer from-header"),
        );
        assert_eq!(token(&headers, &b).ok().as_deref(), Some("from-header"));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer  x "),
        );
        assert_eq!(token(&headers, &b).ok().as_deref(), Some("x"));
        let empty = body(r#"{"token": ""}"#);
        assert_eq!(
            token(&HeaderMap::new(), &empty).map_err(|e| e.code()).err(),
            Some(2)
        );
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(token(&headers, &empty).map_err(|e| e.code()).err(), Some(2));
        let wrong = body(r#"{"token": 7}"#);
        assert_eq!(
            token(&HeaderMap::new(), &wrong).map_err(|e| e.code()).err(),
            Some(1)
        );
    }
}
