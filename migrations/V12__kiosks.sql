-- A kiosk at the clinic's door (SPEC §10, issue 17): a tablet on which a staff login opened
-- the clinic's intake page for patients without a phone of their own. The tablet keeps
-- only the kiosk's secret (an HttpOnly cookie); the database keeps its SHA-256. A kiosk
-- reaches no staff page or function: it can only take tokens for its own clinic, limited
-- per kiosk (the whole clinic shares the kiosk's address), and it closes when its time is
-- up, when a staff member closes it, or when the user who opened it is deactivated.
CREATE TABLE qlink.kiosks (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    secret_hash     bytea NOT NULL UNIQUE CHECK (length(secret_hash) = 32),
    business_id     uuid NOT NULL REFERENCES qlink.businesses (id) ON DELETE CASCADE,
    opened_by       uuid NOT NULL REFERENCES qlink.staff_users (id) ON DELETE CASCADE,
    -- The receipt paper its printer takes: the slip after each join is laid out for it.
    paper           text NOT NULL DEFAULT '80' CHECK (paper IN ('58', '80', 'a6')),
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL CHECK (expires_at > created_at),
    last_join_at    timestamptz,
    user_agent      text CHECK (length(user_agent) <= 300)
);
CREATE INDEX kiosks_business ON qlink.kiosks (business_id, expires_at);
CREATE INDEX kiosks_opened_by ON qlink.kiosks (opened_by);
CREATE INDEX kiosks_expires ON qlink.kiosks (expires_at);
REVOKE ALL ON qlink.kiosks FROM PUBLIC;

-- Tokens a patient took at a kiosk (the reports' tokens_kiosk is in V5's rollups).
ALTER TABLE qlink.tokens
    DROP CONSTRAINT tokens_source_check,
    ADD CONSTRAINT tokens_source_check CHECK (source IN ('QR', 'STAFF', 'API', 'WHATSAPP', 'KIOSK'));
