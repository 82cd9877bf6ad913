//! What handlers take from a request: a JSON object read field by field, the
//! mini-program token, the request id.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use serde_json::{Map, Value};

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

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
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
