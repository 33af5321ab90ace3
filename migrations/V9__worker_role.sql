-- Roles by duty (SPEC §13). The message worker gets a role of its own, `qlink_worker`:
-- it may claim, finish and hand back messages and run the housekeeping, and nothing else.
-- The web role `qlink_app` loses those (migrations/privileges.sql says who may call what).
-- An existing installation gives qlink_worker a password (ALTER ROLE qlink_worker PASSWORD
-- '…') and its workers QLINK_WORKER_DATABASE_URL; see README, "Upgrading".
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'qlink_worker') THEN
        CREATE ROLE qlink_worker LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT;
    END IF;
END
$$;
GRANT USAGE ON SCHEMA qlink TO qlink_worker;
REVOKE ALL ON ALL TABLES IN SCHEMA qlink FROM qlink_worker;
