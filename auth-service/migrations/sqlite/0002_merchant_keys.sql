-- Merchants' API keys, kept only as the SHA-256 of the key (lowercase hex):
-- a stolen file yields no usable key. A key is verified by looking its hash
-- up through the UNIQUE index, so the comparison happens here, not in Rust.
-- merchant_id is the ledger's (no foreign key: another service's database).
-- Times are epoch milliseconds; revoked_at is NULL while the key is live.
-- The CHECKs refuse what the MariaDB columns refuse.
CREATE TABLE merchant_keys (
    key_id      TEXT    NOT NULL PRIMARY KEY CHECK (length(key_id) <= 32),
    merchant_id TEXT    NOT NULL CHECK (length(merchant_id) <= 32),
    key_hash    TEXT    NOT NULL UNIQUE CHECK (length(key_hash) = 64),
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
) STRICT;

CREATE INDEX merchant_keys_merchant_id ON merchant_keys (merchant_id, created_at);
