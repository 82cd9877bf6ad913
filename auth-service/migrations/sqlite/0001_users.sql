-- Mini-program users, one row per openid, upserted on every decrypted
-- wx.getUserInfo. STRICT makes SQLite refuse a wrong type, and the CHECKs
-- refuse what MariaDB's VARCHAR(n) refuses (both count characters), so the
-- two backends accept the same rows. Times are epoch milliseconds.
CREATE TABLE users (
    openid     TEXT    NOT NULL PRIMARY KEY CHECK (length(openid) <= 128),
    nick_name  TEXT    NOT NULL CHECK (length(nick_name) <= 255),
    avatar_url TEXT    NOT NULL CHECK (length(avatar_url) <= 1024),
    gender     INTEGER NOT NULL,
    city       TEXT    NOT NULL CHECK (length(city) <= 255),
    province   TEXT    NOT NULL CHECK (length(province) <= 255),
    country    TEXT    NOT NULL CHECK (length(country) <= 255),
    language   TEXT    NOT NULL CHECK (length(language) <= 32),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
