//! minipay's gRPC contracts, generated at build time from `proto/`.

#![allow(missing_debug_implementations, clippy::all, clippy::pedantic)]

pub mod auth {
    pub mod v1 {
        tonic::include_proto!("minipay.auth.v1");
    }
}

pub mod ledger {
    pub mod v1 {
        tonic::include_proto!("minipay.ledger.v1");
    }
}

pub mod payment {
    pub mod v1 {
        tonic::include_proto!("minipay.payment.v1");
    }
}

mod redact;

/// Every service's descriptors, for tonic-reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/minipay_descriptor.bin"));
