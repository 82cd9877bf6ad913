-- Withdrawals: a merchant's settlement of the PAID orders that carry its id
-- (orders.withdrawal_id), paid out to the merchant by WeChat transfer.
-- Conventions as in 0001.
CREATE TABLE withdrawals (
    -- Letters and digits, at most 32: it is also WeChat's partner_trade_no.
    withdrawal_id   TEXT    NOT NULL PRIMARY KEY
                    CHECK (length(withdrawal_id) BETWEEN 1 AND 32
                           AND withdrawal_id NOT GLOB '*[^A-Za-z0-9]*'),
    merchant_id     TEXT    NOT NULL REFERENCES merchants (merchant_id),
    -- The merchant's payout openid when the withdrawal was made: every retry
    -- of the payout goes to the same account.
    payout_openid   TEXT    NOT NULL CHECK (length(payout_openid) BETWEEN 1 AND 128),
    -- Σ and count of the orders carrying its id (while live; 0 only inside
    -- the transaction that creates it).
    amount_fen      INTEGER NOT NULL CHECK (amount_fen >= 0),
    order_count     INTEGER NOT NULL CHECK (order_count >= 0),
    status          TEXT    NOT NULL CHECK (status IN ('PAYING_OUT', 'PAID_OUT', 'FAILED')),
    -- Set exactly when FAILED.
    failure_reason  TEXT    CHECK (length(failure_reason) BETWEEN 1 AND 256),
    -- The caller's Idempotency-Key, bound only by a call that created the
    -- withdrawal, with the hash of that call's request.
    idempotency_key TEXT    CHECK (length(idempotency_key) BETWEEN 1 AND 128),
    request_hash    TEXT    CHECK (length(request_hash) = 64),
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    CHECK ((status = 'FAILED') = (failure_reason IS NOT NULL)),
    CHECK ((idempotency_key IS NULL) = (request_hash IS NULL))
) STRICT;

-- A key is scoped to its merchant (NULLs never collide).
CREATE UNIQUE INDEX withdrawals_idempotency ON withdrawals (merchant_id, idempotency_key);
-- A merchant's withdrawals, newest first (ListWithdrawals and its cursor).
CREATE INDEX withdrawals_by_merchant_created ON withdrawals (merchant_id, created_at, withdrawal_id);
-- Withdrawals in one state, oldest first (the payout loop's PAYING_OUT).
CREATE INDEX withdrawals_by_status_created ON withdrawals (status, created_at, withdrawal_id);

-- SQLite adds no foreign key to an existing table: orders is rebuilt with
-- withdrawal_id referencing withdrawals, and its indexes recreated. Nothing
-- references orders, so dropping the old table with foreign keys on is safe.
-- Before this migration no withdrawal existed and nothing but test support
-- wrote orders.withdrawal_id: a value found now holds no money, and the copy
-- releases it (NULL).
CREATE TABLE orders_0003 (
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
    withdrawal_id  TEXT    REFERENCES withdrawals (withdrawal_id)
                           CHECK (length(withdrawal_id) <= 32)
) STRICT;

INSERT INTO orders_0003 (out_trade_no, merchant_id, payer_openid, amount_fen, description,
                         status, transaction_id, created_at, paid_at, withdrawal_id)
SELECT out_trade_no, merchant_id, payer_openid, amount_fen, description,
       status, transaction_id, created_at, paid_at, NULL
FROM orders;

DROP TABLE orders;
ALTER TABLE orders_0003 RENAME TO orders;

-- As in 0002.
CREATE INDEX orders_by_merchant_created ON orders (merchant_id, created_at, out_trade_no);
CREATE INDEX orders_by_status_created ON orders (status, created_at);
CREATE INDEX orders_by_merchant_status_withdrawal ON orders (merchant_id, status, withdrawal_id);
-- The foreign key's index; also the withdrawal's sum of what it claimed, the
-- release of a failed payout and the list of a withdrawal's orders.
CREATE INDEX orders_by_withdrawal ON orders (withdrawal_id, created_at, out_trade_no);
