-- Who may call which qlink.* function. `qlink migrate` applies this after every run, right
-- after ALTER EXTENSION qlink UPDATE: an upgrade drops and recreates every function, and a
-- function created later would otherwise be callable by PUBLIC (default privileges set
-- IN SCHEMA, as in V3, can add grants but cannot take PUBLIC's EXECUTE away). It is not a
-- numbered migration: change a function's grants here, and every database gets them.
--
-- Roles by duty (neither has any table privilege; the owner keeps every function, for
-- psql):
-- - qlink_app, the web role (`qlink serve`): the patients' functions, the webhook's, the
--   login (`qlink.login`, which checks the password inside), and the clinics', owners' and
--   operator's functions, each of which acts only for the login session it is given
--   (`login => digest`; pg_ext/src/login.rs): with this role's password alone nobody can
--   read or change a clinic. It cannot read password hashes, start a session without the
--   password, set a password, or touch the rate-limit counters;
-- - qlink_worker (`qlink worker`, and the worker inside `qlink serve`): the outbox and the
--   housekeeping, and nothing that reads or changes a clinic's queue;
-- - qlink_webhook (WhatsApp's webhook in `qlink serve`, after Meta's signature is checked):
--   what Meta delivers, messages and delivery statuses, and nothing else.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA qlink FROM PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA qlink TO qlink_app;
REVOKE EXECUTE ON FUNCTION
    qlink.claim_messages, qlink.finish_message, qlink.release_message, qlink.outbox_lag_seconds,
    qlink.expire_holds, qlink.write_rollups, qlink.purge_tokens, qlink.prune_login_sessions,
    qlink.prune_rate_limits, qlink.staff_for_login, qlink.create_login_session, qlink.set_staff_password,
    qlink.check_rate_limit, qlink.rate_limit_count, qlink.handle_inbound, qlink.apply_delivery_status
    FROM qlink_app;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA qlink FROM qlink_worker;
GRANT EXECUTE ON FUNCTION
    qlink.claim_messages, qlink.finish_message, qlink.release_message, qlink.outbox_lag_seconds,
    qlink.expire_holds, qlink.write_rollups, qlink.purge_tokens, qlink.prune_login_sessions,
    qlink.prune_rate_limits, qlink.sender_backlog, qlink.qlink_version
    TO qlink_worker;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA qlink FROM qlink_webhook;
GRANT EXECUTE ON FUNCTION qlink.handle_inbound, qlink.apply_delivery_status, qlink.qlink_version TO qlink_webhook;
