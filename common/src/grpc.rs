//! Request ids across gRPC hops. The gateway sets `x-request-id`; clients
//! copy it onto every outgoing call (with the remaining deadline, set per
//! call through `tonic::Request::set_timeout`), and servers put it in their
//! logs.

use tonic::metadata::MetadataValue;

pub const REQUEST_ID: &str = "x-request-id";

/// A request to another service carrying the caller's request id and the
/// deadline left.
pub fn request<T>(message: T, request_id: &str, timeout: std::time::Duration) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Ok(value) = MetadataValue::try_from(request_id) {
        request.metadata_mut().insert(REQUEST_ID, value);
    }
    request.set_timeout(timeout);
    request
}

/// The request id a call arrived with (for logs and opaque internal errors).
pub fn request_id<T>(request: &tonic::Request<T>) -> String {
    request
        .metadata()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_deadlines_travel() {
        let request = request((), "req-1", std::time::Duration::from_millis(1500));
        assert_eq!(request_id(&request), "req-1");
        assert_eq!(
            request
                .metadata()
                .get("grpc-timeout")
                .and_then(|v| v.to_str().ok()),
            Some("1500000u")
        );
        assert_eq!(request_id(&tonic::Request::new(())), "-");
    }
}
