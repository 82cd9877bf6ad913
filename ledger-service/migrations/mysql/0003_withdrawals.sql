-- Withdrawals: a merchant's settlement of the PAID orders that carry its id
-- (orders.withdrawal_id), paid out to the merchant by WeChat transfer.
-- Conventions as in 0001.
CREATE TABLE withdrawals (
    -- Letters and digits, at most 32: it is also WeChat's partner_trade_no.
    withdrawal_id   VARCHAR(32)  NOT NULL,
    merchant_id     VARCHAR(32)  NOT NULL,
    -- The merchant's payout openid when the withdrawal was made: every retry
    -- of the payout goes to the same account.
    payout_openid   VARCHAR(128) NOT NULL,
    -- Σ and count of the orders carrying its id (while live; 0 only inside
    -- the transaction that creates it).
    amount_fen      BIGINT       NOT NULL,
    order_count     BIGINT       NOT NULL,
    status          VARCHAR(16)  NOT NULL,
    -- Set exactly when FAILED.
    failure_reason  VARCHAR(256) NULL,
    -- The caller's Idempotency-Key, bound only by a call that created the
    -- withdrawal, with the hash of that call's request.
    idempotency_key VARCHAR(128) NULL,
    request_hash    CHAR(64)     NULL,
    created_at      BIGINT       NOT NULL,
    updated_at      BIGINT       NOT NULL,
    PRIMARY KEY (withdrawal_id),
    -- A key is scoped to its merchant (NULLs never collide).
    UNIQUE KEY withdrawals_idempotency (merchant_id, idempotency_key),
    -- A merchant's withdrawals, newest first (ListWithdrawals and its cursor).
    KEY withdrawals_by_merchant_created (merchant_id, created_at, withdrawal_id),
    -- Withdrawals in one state, oldest first (the payout loop's PAYING_OUT).
    KEY withdrawals_by_status_created (status, created_at, withdrawal_id),
    CONSTRAINT withdrawals_merchant FOREIGN KEY (merchant_id) REFERENCES merchants (merchant_id),
    CONSTRAINT withdrawals_id CHECK (withdrawal_id REGEXP '^[A-Za-z0-9]{1,32}$'),
    CONSTRAINT withdrawals_payout_openid CHECK (CHAR_LENGTH(payout_openid) >= 1),
    CONSTRAINT withdrawals_amount CHECK (amount_fen >= 0),
    CONSTRAINT withdrawals_order_count CHECK (order_count >= 0),
    CONSTRAINT withdrawals_status CHECK (status IN ('PAYING_OUT', 'PAID_OUT', 'FAILED')),
    CONSTRAINT withdrawals_failure_reason CHECK ((status = 'FAILED') = (failure_reason IS NOT NULL)),
    CONSTRAINT withdrawals_idempotency_key CHECK (CHAR_LENGTH(idempotency_key) >= 1),
    CONSTRAINT withdrawals_request_hash CHECK ((idempotency_key IS NULL) = (request_hash IS NULL))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Before this migration no withdrawal existed and nothing but test support
-- wrote orders.withdrawal_id: a value found now holds no money, and is
-- released so that the foreign key can be added.
UPDATE orders SET withdrawal_id = NULL WHERE withdrawal_id IS NOT NULL;

-- The withdrawal holding an order must exist. The index serves the foreign
-- key, the withdrawal's sum of what it claimed, the release of a failed
-- payout and the list of a withdrawal's orders (newest first).
ALTER TABLE orders
    ADD KEY orders_by_withdrawal (withdrawal_id, created_at, out_trade_no),
    ADD CONSTRAINT orders_withdrawal FOREIGN KEY (withdrawal_id) REFERENCES withdrawals (withdrawal_id);
