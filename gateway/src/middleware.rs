//! The layers around every route: request ids (taken or made, echoed on the
//! response), the access log and the request counters of `/metrics`.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::{Next, from_fn_with_state, map_request};
use axum::response::Response;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tracing::Instrument;

use crate::envelope::EnvelopeCode;
use crate::metrics::{Metrics, UNMATCHED};

const REQUEST_ID: &str = common::grpc::REQUEST_ID;

/// Incoming ids longer than this, or with anything but visible ASCII, are
/// replaced: they end up in logs and gRPC metadata.
const MAX_REQUEST_ID_LEN: usize = 128;

/// `router` must have all its routes and fallbacks: `Router::layer` wraps
/// each route, so the access log sees the matched route's template.
pub(crate) fn wrap(router: Router, metrics: Arc<Metrics>) -> Router {
    // The last layer added runs first.
    router
        .layer(from_fn_with_state(metrics, access_log))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(RandomRequestId))
        .layer(map_request(drop_unusable_request_id))
}

/// The request id the layers settled on ("-" cannot happen behind them).
pub(crate) fn request_id(headers: &HeaderMap) -> &str {
    headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
}

/// 16 hex digits from the thread's CSPRNG.
#[derive(Debug, Clone, Copy)]
struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let id = format!("{:016x}", rand::random::<u64>());
        HeaderValue::from_str(&id).ok().map(RequestId::new)
    }
}

fn usable(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty() && bytes.len() <= MAX_REQUEST_ID_LEN && bytes.iter().all(u8::is_ascii_graphic)
}

async fn drop_unusable_request_id(mut req: Request) -> Request {
    let unusable = req.headers().get_all(REQUEST_ID).iter().count() > 1
        || req.headers().get(REQUEST_ID).is_some_and(|v| !usable(v));
    if unusable {
        req.headers_mut().remove(REQUEST_ID);
    }
    req
}

/// One line per request: method, path (never the query), HTTP status,
/// envelope code, latency. Never headers or bodies: they hold tokens.
/// Counted by route template (never the path: its cardinality is the
/// client's choice) and HTTP status.
async fn access_log(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = req.extensions().get::<MatchedPath>().cloned();
    let span = tracing::info_span!(
        "http",
        method = %req.method(),
        path = req.uri().path(),
        request_id = request_id(req.headers()),
    );
    let response = next.run(req).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    let code = response.extensions().get::<EnvelopeCode>().map(|c| c.0);
    metrics.observe_request(
        route.as_ref().map_or(UNMATCHED, MatchedPath::as_str),
        status,
        elapsed,
    );
    span.in_scope(|| {
        tracing::info!(
            status,
            code,
            latency_ms = %format_args!("{:.3}", elapsed.as_secs_f64() * 1e3),
            "request"
        );
    });
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_short_ids_are_kept() {
        assert!(usable(&HeaderValue::from_static("abc-123_x.y:z")));
        assert!(!usable(&HeaderValue::from_static("")));
        assert!(!usable(&HeaderValue::from_static("a b")));
        let long = "a".repeat(MAX_REQUEST_ID_LEN + 1);
        assert!(HeaderValue::from_str(&long).is_ok_and(|v| !usable(&v)));
    }
}
