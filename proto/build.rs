//! Compiles the .proto files with protox (pure Rust: no system protoc) and
//! writes the descriptor set for gRPC reflection.

use std::path::PathBuf;

const SECRET_BEARING: [&str; 6] = [
    ".minipay.auth.v1.LoginResponse",
    ".minipay.auth.v1.ResolveTokenRequest",
    ".minipay.auth.v1.DecryptUserDataRequest",
    ".minipay.auth.v1.LogoutRequest",
    ".minipay.auth.v1.CreateMerchantKeyResponse",
    ".minipay.auth.v1.ResolveMerchantKeyRequest",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/minipay/auth/v1/auth.proto",
        "proto/minipay/ledger/v1/ledger.proto",
        "proto/minipay/payment/v1/payment.proto",
    ];
    for file in files {
        println!("cargo:rerun-if-changed={file}");
    }
    let fds = protox::compile(files, ["proto"])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("minipay_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    // Messages that carry a token or an API key get a redacting Debug
    // (src/redact.rs) instead of the derived one.
    tonic_prost_build::configure()
        .skip_debug(SECRET_BEARING)
        .compile_fds(fds)?;
    Ok(())
}
