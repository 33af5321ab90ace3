-- Who may call which qlink.* function. `qlink migrate` applies this after every run, right
-- after ALTER EXTENSION qlink UPDATE: an upgrade drops and recreates every function, and a
-- function created later would otherwise be callable by PUBLIC (default privileges set
-- IN SCHEMA, as in V3, can add grants but cannot take PUBLIC's EXECUTE away). It is not a
-- numbered migration: change a function's grants here, and every database gets them.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA qlink FROM PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA qlink TO qlink_app;
