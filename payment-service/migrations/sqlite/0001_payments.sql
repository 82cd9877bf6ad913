-- payment-service's own tables. STRICT makes SQLite refuse a wrong type and
-- the CHECKs refuse what MariaDB's column types refuse, so both backends
-- accept the same rows. Money is integer fen; times are epoch milliseconds.

-- One row per WeChat order (out_trade_no), written before WeChat is asked.
-- state: ORDERING (unifiedorder not yet answered with a prepay_id), ORDERED,
-- PAID, CLOSED, ANOMALY (paid in WeChat for an order the ledger had closed:
-- the money is surfaced for a person, never dropped). checked_at and checks
-- are the reconciliation's memory, so a restart resumes where it stopped.
CREATE TABLE payments (
    out_trade_no   TEXT    NOT NULL PRIMARY KEY CHECK (length(out_trade_no) BETWEEN 6 AND 32),
    merchant_id    TEXT    NOT NULL CHECK (length(merchant_id) <= 64),
    payer_openid   TEXT    NOT NULL CHECK (length(payer_openid) <= 128),
    amount_fen     INTEGER NOT NULL CHECK (amount_fen > 0),
    sign_type      TEXT    NOT NULL CHECK (sign_type IN ('MD5', 'HMAC-SHA256')),
    prepay_id      TEXT    CHECK (length(prepay_id) <= 64),
    state          TEXT    NOT NULL
                   CHECK (state IN ('ORDERING', 'ORDERED', 'PAID', 'CLOSED', 'ANOMALY')),
    transaction_id TEXT    CHECK (length(transaction_id) <= 32),
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    last_error     TEXT    CHECK (length(last_error) <= 1024),
    checked_at     INTEGER,
    checks         INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX payments_by_state ON payments (state, created_at);

-- Every notification body received, kept with what was done about it.
-- outcome: RECEIVED (while being handled; left so only by a crash), APPLIED,
-- DUPLICATE, REFUSED, FAILED_PAYMENT, DEFERRED, ANOMALY.
CREATE TABLE notifications (
    id           TEXT    NOT NULL PRIMARY KEY CHECK (length(id) <= 32),
    received_at  INTEGER NOT NULL,
    out_trade_no TEXT    CHECK (length(out_trade_no) <= 32),
    outcome      TEXT    NOT NULL
                 CHECK (outcome IN ('RECEIVED', 'APPLIED', 'DUPLICATE', 'REFUSED',
                                    'FAILED_PAYMENT', 'DEFERRED', 'ANOMALY')),
    reason       TEXT    NOT NULL CHECK (length(reason) <= 1024),
    body_len     INTEGER NOT NULL,
    body         TEXT    NOT NULL
) STRICT;

CREATE INDEX notifications_by_order ON notifications (out_trade_no, received_at);
