-- Merchants, who own orders (0002) and withdraw their money. InnoDB, utf8mb4;
-- utf8mb4_bin so that ids compare and sort byte by byte, as in SQLite. Money
-- is integer fen, times are epoch milliseconds, ids are made by the
-- application.
CREATE TABLE merchants (
    merchant_id   VARCHAR(32)  NOT NULL,
    name          VARCHAR(64)  NOT NULL,
    -- NULL until the merchant has a payout account.
    payout_openid VARCHAR(128) NULL,
    status        VARCHAR(16)  NOT NULL,
    created_at    BIGINT       NOT NULL,
    PRIMARY KEY (merchant_id),
    CONSTRAINT merchants_name CHECK (CHAR_LENGTH(name) >= 1),
    CONSTRAINT merchants_payout_openid CHECK (CHAR_LENGTH(payout_openid) >= 1),
    CONSTRAINT merchants_status CHECK (status IN ('ACTIVE', 'SUSPENDED'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
