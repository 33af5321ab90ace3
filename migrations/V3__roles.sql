-- The server's runtime role: it may call the qlink.* functions and nothing else. No table
-- privileges at all, so a bug or an injection in the server cannot UPDATE or DELETE rows;
-- every rule, including clinic ownership, is enforced inside the functions.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'qlink_app') THEN
        CREATE ROLE qlink_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT;
    END IF;
END
$$;

REVOKE ALL ON SCHEMA qlink FROM PUBLIC;
GRANT USAGE ON SCHEMA qlink TO qlink_app;
REVOKE ALL ON ALL TABLES IN SCHEMA qlink FROM PUBLIC, qlink_app;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA qlink FROM PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA qlink TO qlink_app;

-- Functions a later extension version adds get the same treatment.
ALTER DEFAULT PRIVILEGES IN SCHEMA qlink REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
ALTER DEFAULT PRIVILEGES IN SCHEMA qlink GRANT EXECUTE ON FUNCTIONS TO qlink_app;
