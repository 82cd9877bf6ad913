-- Orders: one row per out_trade_no, owned by a merchant; the money the
-- ledger owns. Conventions as in 0001.
CREATE TABLE orders (
    out_trade_no   VARCHAR(32)  NOT NULL,
    merchant_id    VARCHAR(32)  NOT NULL,
    payer_openid   VARCHAR(128) NOT NULL,
    amount_fen     BIGINT       NOT NULL,
    description    VARCHAR(128) NOT NULL,
    status         VARCHAR(16)  NOT NULL,
    -- WeChat's id of the payment: set once, with status PAID; one order per payment.
    transaction_id VARCHAR(32)  NULL,
    created_at     BIGINT       NOT NULL,
    paid_at        BIGINT       NULL,
    -- The withdrawal holding the order (PAID orders only), NULL when none does.
    withdrawal_id  VARCHAR(32)  NULL,
    PRIMARY KEY (out_trade_no),
    UNIQUE KEY orders_transaction_id (transaction_id),
    -- A merchant's orders, newest first (ListOrders and its cursor).
    KEY orders_by_merchant_created (merchant_id, created_at, out_trade_no),
    -- Orders in one state, oldest first (reconciliation of CREATED orders, audits of PAID ones).
    KEY orders_by_status_created (status, created_at),
    -- A merchant's PAID orders that no withdrawal holds (the withdrawal claim).
    KEY orders_by_merchant_status_withdrawal (merchant_id, status, withdrawal_id),
    CONSTRAINT orders_merchant FOREIGN KEY (merchant_id) REFERENCES merchants (merchant_id),
    CONSTRAINT orders_amount CHECK (amount_fen > 0),
    CONSTRAINT orders_status CHECK (status IN ('CREATED', 'PAID', 'CLOSED', 'REFUNDED'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
