-- Roles by duty (SPEC §13). WhatsApp's webhook gets a role of its own, `qlink_webhook`: it
-- may store what Meta delivers (`handle_inbound`, `apply_delivery_status`), and nothing
-- else. The web role `qlink_app` loses both, so its password alone cannot pass for a
-- patient's WhatsApp number (join, cancel or opt out in the patient's name) or mark a
-- message delivered. The server checks Meta's signature before it uses this role.
-- An existing installation gives qlink_webhook a password (ALTER ROLE qlink_webhook
-- PASSWORD '…') and its servers QLINK_WEBHOOK_DATABASE_URL; see README, "Upgrading".
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'qlink_webhook') THEN
        CREATE ROLE qlink_webhook LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT;
    END IF;
END
$$;
GRANT USAGE ON SCHEMA qlink TO qlink_webhook;
REVOKE ALL ON ALL TABLES IN SCHEMA qlink FROM qlink_webhook;
