-- Merchants' API keys, kept only as the SHA-256 of the key (lowercase hex):
-- a stolen table yields no usable key. A key is verified by looking its hash
-- up through the UNIQUE index, so the comparison happens here, not in Rust.
-- merchant_id is the ledger's (no foreign key: another service's database).
-- Times are epoch milliseconds; revoked_at is NULL while the key is live.
CREATE TABLE merchant_keys (
    key_id      VARCHAR(32) NOT NULL,
    merchant_id VARCHAR(32) NOT NULL,
    key_hash    CHAR(64)    NOT NULL,
    created_at  BIGINT      NOT NULL,
    revoked_at  BIGINT      NULL,
    PRIMARY KEY (key_id),
    UNIQUE KEY merchant_keys_key_hash (key_hash),
    KEY merchant_keys_merchant_id (merchant_id, created_at),
    CONSTRAINT merchant_keys_key_hash_len CHECK (CHAR_LENGTH(key_hash) = 64)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
