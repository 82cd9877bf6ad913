-- Merchants, who own orders (0002) and withdraw their money. STRICT makes SQLite
-- refuse a wrong type, and the CHECKs refuse what MariaDB's column types and
-- CHECKs refuse (both count characters), so the two backends accept the same
-- rows. Money is integer fen, times are epoch milliseconds, ids are made by
-- the application.
CREATE TABLE merchants (
    merchant_id   TEXT    NOT NULL PRIMARY KEY CHECK (length(merchant_id) <= 32),
    name          TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    -- NULL until the merchant has a payout account.
    payout_openid TEXT    CHECK (length(payout_openid) BETWEEN 1 AND 128),
    status        TEXT    NOT NULL CHECK (status IN ('ACTIVE', 'SUSPENDED')),
    created_at    INTEGER NOT NULL
) STRICT;
