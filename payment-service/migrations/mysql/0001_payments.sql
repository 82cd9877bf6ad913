-- payment-service's own tables, the twin of migrations/sqlite. utf8mb4_bin
-- compares bytes as SQLite does. Money is BIGINT fen; times are epoch
-- milliseconds.

-- One row per WeChat order (out_trade_no), written before WeChat is asked.
-- state: ORDERING (unifiedorder not yet answered with a prepay_id), ORDERED,
-- PAID, CLOSED, ANOMALY (paid in WeChat for an order the ledger had closed:
-- the money is surfaced for a person, never dropped). checked_at and checks
-- are the reconciliation's memory, so a restart resumes where it stopped.
CREATE TABLE payments (
    out_trade_no   VARCHAR(32)   NOT NULL,
    merchant_id    VARCHAR(64)   NOT NULL,
    payer_openid   VARCHAR(128)  NOT NULL,
    amount_fen     BIGINT        NOT NULL,
    sign_type      VARCHAR(16)   NOT NULL,
    prepay_id      VARCHAR(64)   NULL,
    state          VARCHAR(16)   NOT NULL,
    transaction_id VARCHAR(32)   NULL,
    created_at     BIGINT        NOT NULL,
    updated_at     BIGINT        NOT NULL,
    last_error     VARCHAR(1024) NULL,
    checked_at     BIGINT        NULL,
    checks         BIGINT        NOT NULL DEFAULT 0,
    PRIMARY KEY (out_trade_no),
    KEY payments_by_state (state, created_at),
    CONSTRAINT payments_amount CHECK (amount_fen > 0),
    CONSTRAINT payments_sign_type CHECK (sign_type IN ('MD5', 'HMAC-SHA256')),
    CONSTRAINT payments_state
        CHECK (state IN ('ORDERING', 'ORDERED', 'PAID', 'CLOSED', 'ANOMALY'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Every notification body received, kept with what was done about it.
-- outcome: RECEIVED (while being handled; left so only by a crash), APPLIED,
-- DUPLICATE, REFUSED, FAILED_PAYMENT, DEFERRED, ANOMALY.
CREATE TABLE notifications (
    id           VARCHAR(32)   NOT NULL,
    received_at  BIGINT        NOT NULL,
    out_trade_no VARCHAR(32)   NULL,
    outcome      VARCHAR(16)   NOT NULL,
    reason       VARCHAR(1024) NOT NULL,
    body_len     BIGINT        NOT NULL,
    body         MEDIUMTEXT    NOT NULL,
    PRIMARY KEY (id),
    KEY notifications_by_order (out_trade_no, received_at),
    CONSTRAINT notifications_outcome
        CHECK (outcome IN ('RECEIVED', 'APPLIED', 'DUPLICATE', 'REFUSED',
                           'FAILED_PAYMENT', 'DEFERRED', 'ANOMALY'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
