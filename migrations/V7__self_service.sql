-- Patient self-service (SPEC §12): stepping out and coming back, the patient's own reminder
-- position, a doctor's delay, the calibrated ETA's service-time model, eight languages.

-- The eight languages patients, the lobby display and messages use.
ALTER TABLE qlink.tokens
    DROP CONSTRAINT tokens_language_check,
    ADD CONSTRAINT tokens_language_check CHECK (language IN ('en', 'hi', 'ta', 'te', 'mr', 'bn', 'kn', 'gu'));
ALTER TABLE qlink.message_logs
    ADD CONSTRAINT message_logs_language_check CHECK (language IN ('en', 'hi', 'ta', 'te', 'mr', 'bn', 'kn', 'gu'));

-- A hold: the token stays WAITING in its place until held_until; NEXT passes over it. Kept
-- after the hold ran out (the token is then SKIPPED) so the page can say when; cleared when
-- the patient is back, recalled, skipped by staff or cancels.
ALTER TABLE qlink.tokens
    ADD COLUMN held_at            timestamptz,
    ADD COLUMN held_until         timestamptz,
    ADD COLUMN reminder_position  smallint CHECK (reminder_position BETWEEN 1 AND 10),
    ADD CONSTRAINT tokens_hold_check CHECK ((held_at IS NULL) = (held_until IS NULL) AND held_until >= held_at);

-- The housekeeping finds running holds without reading the day's tokens.
CREATE INDEX tokens_held ON qlink.tokens (held_until) WHERE held_until IS NOT NULL AND status = 'WAITING';

-- A doctor's delay on a line: every ETA of the line moves by what is still to run of it,
-- until a room calls the line's next patient or staff clear it.
ALTER TABLE qlink.sessions
    ADD COLUMN delay_minutes      integer CHECK (delay_minutes BETWEEN 1 AND 240),
    ADD COLUMN delay_note         text CHECK (length(delay_note) <= 200),
    ADD COLUMN delay_announced_at timestamptz,
    ADD CONSTRAINT sessions_delay_check CHECK ((delay_minutes IS NULL) = (delay_announced_at IS NULL)),
    -- The service-time model the ETA is computed from (mean and standard deviation of the
    -- latest samples, in seconds): kept by every action, so no reader aggregates samples.
    ADD COLUMN service_mean_seconds double precision CHECK (service_mean_seconds >= 0),
    ADD COLUMN service_sd_seconds   double precision CHECK (service_sd_seconds >= 0);

-- Days already under way keep their model from their samples (the actions keep it from now on).
UPDATE qlink.sessions s SET service_mean_seconds = m.mean, service_sd_seconds = m.sd
FROM (SELECT id, avg(ms) / 1000.0 AS mean, coalesce(stddev_samp(ms), 0) / 1000.0 AS sd
      FROM qlink.sessions, unnest(service_ms) AS ms
      WHERE cardinality(service_ms) >= 5 GROUP BY id) m
WHERE s.id = m.id;
