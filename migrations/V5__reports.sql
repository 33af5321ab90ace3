-- Reports, usage and billing (SPEC §10): a summary of every clinic day that outlives the
-- personal-data purge, the plans clinics are billed on, and what the reports need recorded
-- while the day runs (the ETA each patient was first shown, the longest the line grew).

-- The ETA range a patient was shown on joining (NULL for tokens of 0.1, which did not keep
-- it): the ETA accuracy of the reports compares the actual wait with it.
ALTER TABLE qlink.tokens
    ADD COLUMN eta_first_min_minutes integer CHECK (eta_first_min_minutes >= 0),
    ADD COLUMN eta_first_max_minutes integer CHECK (eta_first_max_minutes >= eta_first_min_minutes);

-- The longest the line was that day, kept by every queue function with waiting_count.
ALTER TABLE qlink.sessions ADD COLUMN max_waiting integer NOT NULL DEFAULT 0 CHECK (max_waiting >= 0);
-- Days recorded before this column: replay the arrivals and departures (joining, then being
-- called or cancelling) to find the peak.
UPDATE qlink.sessions s SET max_waiting = greatest(s.waiting_count, p.peak)
FROM (SELECT session_id, max(level)::int AS peak
      FROM (SELECT session_id, sum(delta) OVER (PARTITION BY session_id ORDER BY at, delta
                                                ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS level
            FROM (SELECT session_id, created_at AS at, 1 AS delta FROM qlink.tokens
                  UNION ALL
                  SELECT session_id, coalesce(called_at, cancelled_at), -1 FROM qlink.tokens
                  WHERE coalesce(called_at, cancelled_at) IS NOT NULL) e) l
      GROUP BY session_id) p
WHERE p.session_id = s.id;

-- One row per queue and clinic-local day, and one for the whole clinic that day (queue_id
-- NULL). No names, phones or comments: kept after the purge. Written by qlink.write_rollups
-- and the functions that end a day; sql/API.md defines every figure.
CREATE TABLE qlink.daily_rollups (
    business_id         uuid NOT NULL REFERENCES qlink.businesses (id) ON DELETE CASCADE,
    queue_id            uuid,
    day                 date NOT NULL,
    tokens              integer NOT NULL CHECK (tokens >= 0),
    tokens_qr           integer NOT NULL CHECK (tokens_qr >= 0),
    tokens_staff        integer NOT NULL CHECK (tokens_staff >= 0),
    tokens_api          integer NOT NULL CHECK (tokens_api >= 0),
    served              integer NOT NULL CHECK (served >= 0),
    skipped             integer NOT NULL CHECK (skipped >= 0),
    cancelled           integer NOT NULL CHECK (cancelled >= 0),
    unserved            integer NOT NULL CHECK (unserved >= 0),
    called              integer NOT NULL CHECK (called >= 0),
    wait_p50_seconds    integer,
    wait_p90_seconds    integer,
    -- Sums, so that means over many days are exact (percentiles do not add up).
    wait_sum_seconds    bigint NOT NULL,
    service_p50_seconds integer,
    service_p90_seconds integer,
    service_count       integer NOT NULL,
    service_sum_seconds bigint NOT NULL,
    eta_shown           integer NOT NULL CHECK (eta_shown >= 0),
    eta_hits            integer NOT NULL CHECK (eta_hits BETWEEN 0 AND eta_shown),
    messages_sent       integer NOT NULL CHECK (messages_sent >= 0),
    messages_failed     integer NOT NULL CHECK (messages_failed >= 0),
    messages            jsonb NOT NULL CHECK (jsonb_typeof(messages) = 'object'),
    max_waiting         integer NOT NULL CHECK (max_waiting >= 0),
    arrivals            integer[] NOT NULL CHECK (cardinality(arrivals) = 24),
    -- Tokens joined by WhatsApp (SPEC §11), kept last like the result column.
    tokens_whatsapp     integer NOT NULL DEFAULT 0 CHECK (tokens_whatsapp >= 0),
    -- Tokens taken at a kiosk at the door (issue 17); here, not in V12, for the same reason:
    -- 0.2.0 is unreleased and this migration's backfill runs this build's rollup writer.
    tokens_kiosk        integer NOT NULL DEFAULT 0 CHECK (tokens_kiosk >= 0),
    computed_at         timestamptz NOT NULL,
    FOREIGN KEY (business_id, queue_id) REFERENCES qlink.queues (business_id, id) ON DELETE CASCADE,
    CONSTRAINT daily_rollups_day_key UNIQUE NULLS NOT DISTINCT (business_id, day, queue_id)
);
-- The platform's view of a range of days: the clinic rows with the sums it adds up (read
-- from the index alone), and the days computed live.
CREATE INDEX daily_rollups_clinic_days ON qlink.daily_rollups (day, business_id)
    INCLUDE (tokens, served, skipped, cancelled, unserved, called, wait_sum_seconds, service_count,
             service_sum_seconds, eta_shown, eta_hits, messages_sent, messages_failed, max_waiting)
    WHERE queue_id IS NULL;
CREATE INDEX sessions_date ON qlink.sessions (date);

-- Each clinic's days before complete_before all have their rollups; the reports compute the
-- days from it on (today, and any the housekeeping has not reached yet).
CREATE TABLE qlink.rollup_marks (
    business_id     uuid PRIMARY KEY REFERENCES qlink.businesses (id) ON DELETE CASCADE,
    complete_before date NOT NULL
);

CREATE TABLE qlink.plans (
    code                text PRIMARY KEY CHECK (code ~ '^[a-z0-9][a-z0-9_-]{0,31}$'),
    name                text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 80),
    monthly_fee_paise   bigint NOT NULL CHECK (monthly_fee_paise >= 0),
    included_tokens     integer NOT NULL CHECK (included_tokens >= 0),
    included_messages   integer NOT NULL CHECK (included_messages >= 0),
    extra_token_paise   bigint NOT NULL CHECK (extra_token_paise >= 0),
    extra_message_paise bigint NOT NULL CHECK (extra_message_paise >= 0),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

-- Every version of a plan's terms from the moment it applied: a month is billed at the
-- terms in force at its end, so a price change never rewrites a month already over.
CREATE TABLE qlink.plan_terms (
    code                text NOT NULL REFERENCES qlink.plans (code),
    valid_from          timestamptz NOT NULL,
    monthly_fee_paise   bigint NOT NULL CHECK (monthly_fee_paise >= 0),
    included_tokens     integer NOT NULL CHECK (included_tokens >= 0),
    included_messages   integer NOT NULL CHECK (included_messages >= 0),
    extra_token_paise   bigint NOT NULL CHECK (extra_token_paise >= 0),
    extra_message_paise bigint NOT NULL CHECK (extra_message_paise >= 0),
    PRIMARY KEY (code, valid_from)
);

INSERT INTO qlink.plans (code, name, monthly_fee_paise, included_tokens, included_messages,
                         extra_token_paise, extra_message_paise)
VALUES ('standard', 'Standard', 99900, 3000, 3000, 50, 100);
INSERT INTO qlink.plan_terms (code, valid_from, monthly_fee_paise, included_tokens, included_messages,
                              extra_token_paise, extra_message_paise)
SELECT code, '-infinity', monthly_fee_paise, included_tokens, included_messages, extra_token_paise,
       extra_message_paise
FROM qlink.plans;

ALTER TABLE qlink.businesses
    ADD COLUMN plan_code text NOT NULL DEFAULT 'standard' REFERENCES qlink.plans (code);

-- Which plan each clinic was on from when. A clinic with no row has been on
-- businesses.plan_code all along.
CREATE TABLE qlink.clinic_plans (
    business_id uuid NOT NULL REFERENCES qlink.businesses (id) ON DELETE CASCADE,
    valid_from  timestamptz NOT NULL,
    plan_code   text NOT NULL REFERENCES qlink.plans (code),
    PRIMARY KEY (business_id, valid_from)
);

ALTER TABLE qlink.daily_rollups ENABLE ROW LEVEL SECURITY;
ALTER TABLE qlink.rollup_marks  ENABLE ROW LEVEL SECURITY;
ALTER TABLE qlink.plans         ENABLE ROW LEVEL SECURITY;
ALTER TABLE qlink.plan_terms    ENABLE ROW LEVEL SECURITY;
ALTER TABLE qlink.clinic_plans  ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON qlink.daily_rollups, qlink.rollup_marks, qlink.plans, qlink.plan_terms, qlink.clinic_plans FROM PUBLIC;

-- The days already stored.
SELECT qlink.write_rollups();
