//! The `minipay.auth.v1.MerchantKeyService` implementation: merchants' API
//! keys, proto ⇄ domain at the edge. A key leaves this service only in the
//! reply to CreateMerchantKey; it is never logged.

use std::sync::Arc;

use proto::auth::v1 as pb;
use proto::auth::v1::merchant_key_service_server::MerchantKeyService;
use tonic::{Request, Response, Status};

use crate::domain::{KeyId, MerchantApiKey, MerchantId};
use crate::error::AuthError;
use crate::service::fail;
use crate::store::{MerchantKeyStore, Revoke};

#[derive(Debug)]
pub struct MerchantKeys {
    pub store: Arc<dyn MerchantKeyStore>,
}

impl MerchantKeys {
    async fn create(
        &self,
        r: pb::CreateMerchantKeyRequest,
    ) -> Result<pb::CreateMerchantKeyResponse, AuthError> {
        let merchant_id = MerchantId::parse(r.merchant_id)?;
        let created = self.store.create(&merchant_id).await?;
        tracing::info!(
            merchant_id = %created.merchant_id,
            key_id = %created.key_id,
            "merchant key created"
        );
        Ok(pb::CreateMerchantKeyResponse {
            key_id: created.key_id.as_str().to_owned(),
            api_key: created.api_key.expose_secret().to_owned(),
            created_at_ms: created.created_at_ms,
        })
    }

    /// Every presented key, empty or malformed included, is judged by the
    /// same hash lookup.
    async fn resolve(
        &self,
        r: pb::ResolveMerchantKeyRequest,
    ) -> Result<pb::ResolveMerchantKeyResponse, AuthError> {
        let key = MerchantApiKey::presented(r.api_key);
        let owner = self
            .store
            .resolve(&key)
            .await?
            .ok_or(AuthError::UnknownMerchantKey)?;
        Ok(pb::ResolveMerchantKeyResponse {
            merchant_id: owner.merchant_id.as_str().to_owned(),
            key_id: owner.key_id.as_str().to_owned(),
        })
    }

    async fn revoke(
        &self,
        r: pb::RevokeMerchantKeyRequest,
    ) -> Result<pb::RevokeMerchantKeyResponse, AuthError> {
        let which = match (r.key_id.is_empty(), r.merchant_id.is_empty()) {
            (true, true) => {
                return Err(AuthError::Missing {
                    field: "key_id or merchant_id",
                });
            }
            (false, true) => Revoke::Key(KeyId::parse(r.key_id)?),
            (true, false) => Revoke::Merchant(MerchantId::parse(r.merchant_id)?),
            (false, false) => {
                Revoke::MerchantKey(MerchantId::parse(r.merchant_id)?, KeyId::parse(r.key_id)?)
            }
        };
        let revoked = self.store.revoke(&which).await?;
        tracing::info!(?which, revoked, "merchant keys revoked");
        Ok(pb::RevokeMerchantKeyResponse {
            revoked: i64::try_from(revoked).unwrap_or(i64::MAX),
        })
    }

    async fn list(
        &self,
        r: pb::ListMerchantKeysRequest,
    ) -> Result<pb::ListMerchantKeysResponse, AuthError> {
        let merchant_id = MerchantId::parse(r.merchant_id)?;
        let keys = self.store.list(&merchant_id).await?;
        Ok(pb::ListMerchantKeysResponse {
            keys: keys
                .into_iter()
                .map(|key| pb::MerchantKey {
                    key_id: key.key_id.as_str().to_owned(),
                    created_at_ms: key.created_at_ms,
                    revoked_at_ms: key.revoked_at_ms,
                })
                .collect(),
        })
    }
}

#[tonic::async_trait]
impl MerchantKeyService for MerchantKeys {
    async fn create_merchant_key(
        &self,
        request: Request<pb::CreateMerchantKeyRequest>,
    ) -> Result<Response<pb::CreateMerchantKeyResponse>, Status> {
        let id = common::grpc::request_id(&request);
        self.create(request.into_inner())
            .await
            .map(Response::new)
            .map_err(|e| fail(&id, "CreateMerchantKey", e))
    }

    async fn resolve_merchant_key(
        &self,
        request: Request<pb::ResolveMerchantKeyRequest>,
    ) -> Result<Response<pb::ResolveMerchantKeyResponse>, Status> {
        let id = common::grpc::request_id(&request);
        self.resolve(request.into_inner())
            .await
            .map(Response::new)
            .map_err(|e| fail(&id, "ResolveMerchantKey", e))
    }

    async fn revoke_merchant_key(
        &self,
        request: Request<pb::RevokeMerchantKeyRequest>,
    ) -> Result<Response<pb::RevokeMerchantKeyResponse>, Status> {
        let id = common::grpc::request_id(&request);
        self.revoke(request.into_inner())
            .await
            .map(Response::new)
            .map_err(|e| fail(&id, "RevokeMerchantKey", e))
    }

    async fn list_merchant_keys(
        &self,
        request: Request<pb::ListMerchantKeysRequest>,
    ) -> Result<Response<pb::ListMerchantKeysResponse>, Status> {
        let id = common::grpc::request_id(&request);
        self.list(request.into_inner())
            .await
            .map(Response::new)
            .map_err(|e| fail(&id, "ListMerchantKeys", e))
    }
}
