-- Mirrors the PostgreSQL migration that notifies instances of signing-key changes. SQLite has
-- no notifications: its instances poll the keys every second instead. Nothing to change.
SELECT 1;
