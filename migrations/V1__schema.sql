-- QLink data model (SPEC §2). The queue rules live in the `qlink` extension (pg_ext/),
-- created by V2; this file only holds data, constraints and indexes.
-- It is also replayed by the extension's #[pg_test]s, so it must not depend on roles.

CREATE SCHEMA IF NOT EXISTS qlink;

CREATE TABLE qlink.businesses (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    slug          text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
    name          text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 120),
    address       text CHECK (length(address) <= 300),
    contact_phone text CHECK (length(contact_phone) <= 20),
    timezone      text NOT NULL DEFAULT 'Asia/Kolkata',
    settings      jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(settings) = 'object'),
    status        text NOT NULL DEFAULT 'ACTIVE'
                  CHECK (status IN ('ACTIVE', 'SUSPENDED', 'DISABLED', 'TRIAL')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- One queue per clinic per clinic-local date. Its row is the per-clinic lock of every
-- queue operation (SELECT ... FOR UPDATE), so clinics never wait for each other.
CREATE TABLE qlink.sessions (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    business_id        uuid NOT NULL REFERENCES qlink.businesses (id) ON DELETE CASCADE,
    date               date NOT NULL,
    status             text NOT NULL DEFAULT 'OPEN' CHECK (status IN ('OPEN', 'CLOSED')),
    last_token_number  integer NOT NULL DEFAULT 0 CHECK (last_token_number >= 0),
    now_serving_number integer,
    -- Messages queued (not SKIPPED) today: the daily_message_limit budget.
    messages_queued    integer NOT NULL DEFAULT 0 CHECK (messages_queued >= 0),
    -- p25/p75 of today's service minutes once there are 5 samples, kept by every action
    -- so that the patients' polls never compute percentiles.
    service_p25_minutes integer,
    service_p75_minutes integer,
    -- The latest service durations (ms) they are learned from, oldest first.
    service_ms         integer[] NOT NULL DEFAULT '{}',
    last_action_at     timestamptz,
    -- WAITING tokens now; kept by every queue function so no action counts the line.
    waiting_count      integer NOT NULL DEFAULT 0 CHECK (waiting_count >= 0),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    closed_at          timestamptz,
    UNIQUE (business_id, date)
);

CREATE TABLE qlink.tokens (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    session_id      uuid NOT NULL REFERENCES qlink.sessions (id) ON DELETE CASCADE,
    business_id     uuid NOT NULL REFERENCES qlink.businesses (id) ON DELETE CASCADE,
    token_number    integer NOT NULL CHECK (token_number > 0),
    status          text NOT NULL DEFAULT 'WAITING'
                    CHECK (status IN ('WAITING', 'SERVING', 'SERVED', 'SKIPPED', 'CANCELLED')),
    previous_status text
                    CHECK (previous_status IN ('WAITING', 'SERVING', 'SERVED', 'SKIPPED', 'CANCELLED')),
    is_priority     boolean NOT NULL DEFAULT false,
    patient_name    text CHECK (length(patient_name) <= 80),
    patient_phone   text CHECK (patient_phone ~ '^\+[1-9][0-9]{7,14}$'),
    source          text NOT NULL DEFAULT 'QR' CHECK (source IN ('QR', 'STAFF', 'API')),
    language        text NOT NULL DEFAULT 'en' CHECK (language IN ('en', 'hi')),
    rating          smallint CHECK (rating BETWEEN 1 AND 5),
    feedback        text CHECK (length(feedback) <= 1000),
    -- People ahead when the token was created: the start of the patient's progress bar.
    joined_people_ahead integer NOT NULL DEFAULT 0,
    -- The REMINDER is queued at most once per token.
    reminder_queued boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    called_at       timestamptz,
    served_at       timestamptz,
    cancelled_at    timestamptz,
    purged_at       timestamptz,
    UNIQUE (session_id, token_number),
    CHECK (purged_at IS NOT NULL OR patient_name IS NOT NULL)
);

-- At most one patient is called at a time, whatever happens above.
CREATE UNIQUE INDEX tokens_one_serving_per_session
    ON qlink.tokens (session_id) WHERE status = 'SERVING';
-- Call order over the waiting line.
CREATE INDEX tokens_waiting_call_order
    ON qlink.tokens (session_id, is_priority DESC, token_number) WHERE status = 'WAITING';
-- Today's service times (the learned ETA).
CREATE INDEX tokens_served_recent
    ON qlink.tokens (session_id, served_at DESC) WHERE status = 'SERVED';
-- Per-phone daily limit.
CREATE INDEX tokens_session_phone ON qlink.tokens (session_id, patient_phone);
-- Retention purge.
CREATE INDEX tokens_unpurged_created ON qlink.tokens (created_at) WHERE purged_at IS NULL;
CREATE INDEX tokens_business ON qlink.tokens (business_id);

CREATE TABLE qlink.staff_users (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    business_id   uuid REFERENCES qlink.businesses (id) ON DELETE CASCADE,
    email         text NOT NULL CHECK (email = lower(email) AND email ~ '^[^@\s]+@[^@\s]+$'),
    password_hash text NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    role          text NOT NULL CHECK (role IN ('STAFF', 'SUPER_ADMIN')),
    is_active     boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_login_at timestamptz,
    UNIQUE (email),
    -- STAFF belongs to exactly one clinic; a SUPER_ADMIN to none.
    CHECK ((role = 'STAFF') = (business_id IS NOT NULL))
);
CREATE INDEX staff_users_business ON qlink.staff_users (business_id);

-- Server-side login sessions; only a SHA-256 of the secret the browser holds is stored.
CREATE TABLE qlink.login_sessions (
    token_hash    bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    staff_user_id uuid NOT NULL REFERENCES qlink.staff_users (id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    ip            inet,
    user_agent    text
);
CREATE INDEX login_sessions_user ON qlink.login_sessions (staff_user_id);
CREATE INDEX login_sessions_expires ON qlink.login_sessions (expires_at);

-- Every staff action with the state before and after it: enough to undo it exactly.
CREATE TABLE qlink.audit_logs (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    business_id   uuid NOT NULL REFERENCES qlink.businesses (id) ON DELETE CASCADE,
    session_id    uuid REFERENCES qlink.sessions (id) ON DELETE CASCADE,
    staff_id      uuid REFERENCES qlink.staff_users (id) ON DELETE SET NULL,
    actor         text NOT NULL DEFAULT 'STAFF' CHECK (actor IN ('STAFF', 'PATIENT', 'ADMIN', 'SYSTEM')),
    action        text NOT NULL,
    token_id      uuid,
    before_state  jsonb,
    after_state   jsonb,
    undoable      boolean NOT NULL DEFAULT false,
    undone_at     timestamptz,
    undone_by     bigint REFERENCES qlink.audit_logs (id),
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_logs_undo_stack
    ON qlink.audit_logs (session_id, id DESC) WHERE undoable AND undone_at IS NULL;
CREATE INDEX audit_logs_business_created ON qlink.audit_logs (business_id, created_at);

CREATE TABLE qlink.admin_audit_logs (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    actor_email text NOT NULL,
    actor_ip    inet,
    action      text NOT NULL,
    target_type text,
    target_id   text,
    details     jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX admin_audit_logs_created ON qlink.admin_audit_logs (created_at DESC);

-- The outbox. Rows are written by the queue functions in the queue transaction and sent
-- later by the worker, outside any transaction.
CREATE TABLE qlink.message_logs (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    business_id         uuid NOT NULL REFERENCES qlink.businesses (id) ON DELETE CASCADE,
    token_id            uuid REFERENCES qlink.tokens (id) ON DELETE SET NULL,
    audit_log_id        bigint,
    message_type        text NOT NULL CHECK (message_type IN ('WELCOME', 'REMINDER', 'CALLED')),
    provider            text,
    to_phone            text,
    language            text NOT NULL DEFAULT 'en',
    payload             jsonb NOT NULL DEFAULT '{}'::jsonb,
    provider_message_id text,
    provider_response   jsonb,
    status              text NOT NULL DEFAULT 'PENDING'
                        CHECK (status IN ('PENDING', 'SENT', 'DELIVERED', 'READ', 'FAILED',
                                          'PERMANENTLY_FAILED', 'SKIPPED')),
    reason              text,
    attempts            integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at     timestamptz NOT NULL DEFAULT now(),
    locked_until        timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
-- What the worker claims: due rows that still need a send.
CREATE INDEX message_logs_due
    ON qlink.message_logs (next_attempt_at) WHERE status IN ('PENDING', 'FAILED');
CREATE UNIQUE INDEX message_logs_provider_message_id
    ON qlink.message_logs (provider_message_id) WHERE provider_message_id IS NOT NULL;
CREATE INDEX message_logs_business_created ON qlink.message_logs (business_id, created_at);
CREATE INDEX message_logs_token ON qlink.message_logs (token_id);
CREATE INDEX message_logs_status_created ON qlink.message_logs (status, created_at);

-- Sliding-window rate limits: one row per accepted hit.
CREATE TABLE qlink.rate_limit_hits (
    key    text NOT NULL,
    hit_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rate_limit_hits_key_time ON qlink.rate_limit_hits (key, hit_at);
CREATE INDEX rate_limit_hits_time ON qlink.rate_limit_hits (hit_at);

-- Row-level security on every table. The qlink.* functions run as the owner; the
-- server's runtime role gets no table access at all (see V3), so RLS with no policy is a
-- second wall behind the missing grants.
ALTER TABLE qlink.businesses       ENABLE ROW LEVEL SECURITY;
ALTER TABLE qlink.sessions         ENABLE ROW LEVEL SECURITY;
ALTER TABLE qlink.tokens           ENABLE ROW LEVEL SECURITY;
ALTER TABLE qlink.staff_users      ENABLE ROW LEVEL SECURITY;
ALTER TABLE qlink.login_sessions   ENABLE ROW LEVEL SECURITY;
ALTER TABLE qlink.audit_logs       ENABLE ROW LEVEL SECURITY;
ALTER TABLE qlink.admin_audit_logs ENABLE ROW LEVEL SECURITY;
ALTER TABLE qlink.message_logs     ENABLE ROW LEVEL SECURITY;
ALTER TABLE qlink.rate_limit_hits  ENABLE ROW LEVEL SECURITY;
