//! What the gateway needs from the outside: its gRPC clients and limits.

use std::time::Duration;

use proto::auth::v1::auth_service_client::AuthServiceClient;
use tonic::transport::Channel;

/// JSON bodies up to this size (`docs/http-api.md`: 64 KiB).
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// The longest a `/readyz` probe waits for a service.
pub const READINESS_DEADLINE: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub auth: AuthServiceClient<Channel>,
    /// Deadline of each gRPC call (sent as `grpc-timeout`, enforced here too).
    pub deadline: Duration,
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
}

impl GatewayConfig {
    /// A config with the documented defaults: 5 s per call, 64 KiB bodies.
    pub fn new(auth: AuthServiceClient<Channel>) -> Self {
        Self {
            auth,
            deadline: Duration::from_secs(5),
            body_limit: DEFAULT_BODY_LIMIT,
        }
    }

    /// `/readyz` probes are short: never longer than a normal call.
    pub(crate) fn readiness_deadline(&self) -> Duration {
        self.deadline.min(READINESS_DEADLINE)
    }
}
