//! `{"code", "msg", "data"}`: the shape of every JSON response.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The envelope code of a response, left in its extensions for the access log.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EnvelopeCode(pub u16);

#[derive(Debug)]
pub(crate) struct Envelope<T> {
    status: StatusCode,
    code: u16,
    msg: String,
    data: Option<T>,
}

#[derive(Serialize)]
struct Wire<'a, T> {
    code: u16,
    msg: &'a str,
    data: &'a Option<T>,
}

impl<T: Serialize> Envelope<T> {
    /// Code 0, HTTP 200.
    pub(crate) fn ok(data: T) -> Self {
        Self::new(StatusCode::OK, 0, "ok", Some(data))
    }

    pub(crate) fn new(
        status: StatusCode,
        code: u16,
        msg: impl Into<String>,
        data: Option<T>,
    ) -> Self {
        Self {
            status,
            code,
            msg: msg.into(),
            data,
        }
    }
}

impl<T: Serialize> IntoResponse for Envelope<T> {
    fn into_response(self) -> Response {
        let wire = Wire {
            code: self.code,
            msg: &self.msg,
            data: &self.data,
        };
        let mut response = (self.status, Json(wire)).into_response();
        response.extensions_mut().insert(EnvelopeCode(self.code));
        response
    }
}
