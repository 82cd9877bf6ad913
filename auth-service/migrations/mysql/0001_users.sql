-- Mini-program users, one row per openid, upserted on every decrypted
-- wx.getUserInfo. utf8mb4 so emoji nicknames survive byte-identical;
-- utf8mb4_bin because openids are case-sensitive and so that MariaDB
-- compares text the way SQLite does. Times are epoch milliseconds.
CREATE TABLE users (
    openid     VARCHAR(128)  NOT NULL,
    nick_name  VARCHAR(255)  NOT NULL,
    avatar_url VARCHAR(1024) NOT NULL,
    gender     INT           NOT NULL,
    city       VARCHAR(255)  NOT NULL,
    province   VARCHAR(255)  NOT NULL,
    country    VARCHAR(255)  NOT NULL,
    language   VARCHAR(32)   NOT NULL,
    created_at BIGINT        NOT NULL,
    updated_at BIGINT        NOT NULL,
    PRIMARY KEY (openid)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
