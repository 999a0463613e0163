-- 006_session_settings: what the session daemon remembers across restarts
-- (today the hash of the pool file `main` last took), kept apart from
-- `settings`, which holds the token key and is for auth alone
-- (007_roles.sql, docs/SECURITY.md).
CREATE TABLE session_settings (
    key   text PRIMARY KEY,
    value text NOT NULL
);
INSERT INTO session_settings (key, value)
    SELECT key, value FROM settings WHERE key = 'main_pool_sha256';
DELETE FROM settings WHERE key = 'main_pool_sha256';
