-- Orders: one row per out_trade_no, owned by a merchant; the money the
-- ledger owns. Conventions as in 0001.
CREATE TABLE orders (
    out_trade_no   TEXT    NOT NULL PRIMARY KEY CHECK (length(out_trade_no) <= 32),
    merchant_id    TEXT    NOT NULL REFERENCES merchants (merchant_id),
    payer_openid   TEXT    NOT NULL CHECK (length(payer_openid) <= 128),
    amount_fen     INTEGER NOT NULL CHECK (amount_fen > 0),
    description    TEXT    NOT NULL CHECK (length(description) <= 128),
    status         TEXT    NOT NULL CHECK (status IN ('CREATED', 'PAID', 'CLOSED', 'REFUNDED')),
    -- WeChat's id of the payment: set once, with status PAID; one order per payment.
    transaction_id TEXT    UNIQUE CHECK (length(transaction_id) <= 32),
    created_at     INTEGER NOT NULL,
    paid_at        INTEGER,
    -- The withdrawal holding the order (PAID orders only), NULL when none does.
    withdrawal_id  TEXT    CHECK (length(withdrawal_id) <= 32)
) STRICT;

-- A merchant's orders, newest first (ListOrders and its cursor).
CREATE INDEX orders_by_merchant_created ON orders (merchant_id, created_at, out_trade_no);
-- Orders in one state, oldest first (reconciliation of CREATED orders, audits of PAID ones).
CREATE INDEX orders_by_status_created ON orders (status, created_at);
-- A merchant's PAID orders that no withdrawal holds (the withdrawal claim).
CREATE INDEX orders_by_merchant_status_withdrawal ON orders (merchant_id, status, withdrawal_id);
