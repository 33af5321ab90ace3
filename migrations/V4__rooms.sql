-- Rooms (SPEC §9): a clinic has queues (lines of patients, each with its own day, numbering
-- and learned ETA) and rooms (where patients are called to, each calling from some queues).
-- Every existing clinic gets one queue with prefix '' and one room, so nothing changes for
-- a single-doctor clinic: its numbering, its history and its UNDO stack carry over.
--
-- The extension is updated in the same transaction (the DO block at the end): the 0.1
-- functions cannot work on these tables, so no moment exists where they would have to.

CREATE TABLE qlink.queues (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    business_id uuid NOT NULL REFERENCES qlink.businesses (id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 80),
    -- Labels read "A-12"; '' gives a plain "12".
    prefix      text NOT NULL DEFAULT '' CHECK (prefix ~ '^[A-Z]{0,3}$'),
    is_active   boolean NOT NULL DEFAULT true,
    sort_order  integer NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    -- Two lines of one clinic never print the same label.
    UNIQUE (business_id, prefix),
    -- The target of the composite keys below: a row can only point at its own clinic's queue.
    UNIQUE (business_id, id)
);

CREATE TABLE qlink.rooms (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    business_id uuid NOT NULL REFERENCES qlink.businesses (id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 40),
    is_active   boolean NOT NULL DEFAULT true,
    sort_order  integer NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (business_id, name),
    UNIQUE (business_id, id)
);

-- The queues each room calls from.
CREATE TABLE qlink.room_queues (
    business_id uuid NOT NULL,
    room_id     uuid NOT NULL,
    queue_id    uuid NOT NULL,
    PRIMARY KEY (room_id, queue_id),
    FOREIGN KEY (business_id, room_id) REFERENCES qlink.rooms (business_id, id) ON DELETE CASCADE,
    FOREIGN KEY (business_id, queue_id) REFERENCES qlink.queues (business_id, id) ON DELETE CASCADE
);
CREATE INDEX room_queues_queue ON qlink.room_queues (queue_id);

INSERT INTO qlink.queues (business_id, name, created_at, updated_at)
SELECT id, 'General', created_at, created_at FROM qlink.businesses;
INSERT INTO qlink.rooms (business_id, name, created_at, updated_at)
SELECT id, 'Room 1', created_at, created_at FROM qlink.businesses;
INSERT INTO qlink.room_queues (business_id, room_id, queue_id)
SELECT r.business_id, r.id, q.id FROM qlink.rooms r JOIN qlink.queues q USING (business_id);

-- Sessions: one per queue per clinic-local date.
ALTER TABLE qlink.sessions
    ADD COLUMN queue_id uuid,
    -- The line's ticket counter: a token entering this line (joining, or transferred in)
    -- takes the next one, so the call order within a line is its arrival order.
    ADD COLUMN last_line_seq integer NOT NULL DEFAULT 0 CHECK (last_line_seq >= 0),
    -- When the latest token entered the line; never goes back, so that ordering several
    -- lines by arrival time keeps each line's own order.
    ADD COLUMN last_line_at timestamptz;
UPDATE qlink.sessions s SET queue_id = q.id, last_line_seq = s.last_token_number,
       last_line_at = (SELECT max(t.created_at) FROM qlink.tokens t WHERE t.session_id = s.id)
FROM qlink.queues q WHERE q.business_id = s.business_id;
ALTER TABLE qlink.sessions
    ALTER COLUMN queue_id SET NOT NULL,
    DROP CONSTRAINT sessions_business_id_date_key,
    ADD CONSTRAINT sessions_queue_date_key UNIQUE (queue_id, date),
    ADD CONSTRAINT sessions_queue_fkey FOREIGN KEY (business_id, queue_id)
        REFERENCES qlink.queues (business_id, id) ON DELETE CASCADE;
CREATE INDEX sessions_business_date ON qlink.sessions (business_id, date);

-- Tokens: their line, the room that called them, their label.
ALTER TABLE qlink.tokens
    ADD COLUMN queue_id uuid,
    ADD COLUMN room_id uuid,
    -- Printed at joining ("A-12") and kept when the token is transferred to another line.
    ADD COLUMN token_label text,
    -- The ticket in the current line (see sessions.last_line_seq) and when it was taken.
    ADD COLUMN line_seq integer,
    ADD COLUMN line_at timestamptz,
    -- The clinic-local date of the token's day: one SERVING token per room and day.
    ADD COLUMN day date;
-- A line's arrival times never go back (see sessions.last_line_at): a token's is the latest
-- creation time up to its number, since a transaction that started earlier may have taken
-- a later number.
UPDATE qlink.tokens t SET queue_id = s.queue_id, token_label = t.token_number::text,
       line_seq = t.token_number, line_at = a.line_at, day = s.date,
       room_id = CASE WHEN t.called_at IS NOT NULL OR t.status = 'SERVING' THEN r.id END
FROM qlink.sessions s, qlink.rooms r,
     (SELECT id, max(created_at) OVER (PARTITION BY session_id ORDER BY token_number) AS line_at
      FROM qlink.tokens) a
WHERE s.id = t.session_id AND r.business_id = t.business_id AND a.id = t.id;
ALTER TABLE qlink.tokens
    ALTER COLUMN queue_id SET NOT NULL,
    ALTER COLUMN token_label SET NOT NULL,
    ALTER COLUMN line_seq SET NOT NULL,
    ALTER COLUMN line_at SET NOT NULL,
    ALTER COLUMN day SET NOT NULL,
    ADD CONSTRAINT tokens_label_check CHECK (token_label ~ '^([A-Z]{1,3}-)?[1-9][0-9]*$'),
    ADD CONSTRAINT tokens_line_seq_check CHECK (line_seq > 0),
    -- A token of a transferred line keeps its number, so numbers are unique per line
    -- ticket, not per session.
    DROP CONSTRAINT tokens_session_id_token_number_key,
    ADD CONSTRAINT tokens_session_line_seq_key UNIQUE (session_id, line_seq),
    ADD CONSTRAINT tokens_serving_has_room CHECK (status <> 'SERVING' OR room_id IS NOT NULL),
    ADD CONSTRAINT tokens_queue_fkey FOREIGN KEY (business_id, queue_id)
        REFERENCES qlink.queues (business_id, id) ON DELETE CASCADE,
    ADD CONSTRAINT tokens_room_fkey FOREIGN KEY (business_id, room_id)
        REFERENCES qlink.rooms (business_id, id) ON DELETE CASCADE;

-- At most one patient per room is called at a time, whatever happens above.
DROP INDEX qlink.tokens_one_serving_per_session;
CREATE UNIQUE INDEX tokens_one_serving_per_room ON qlink.tokens (room_id, day) WHERE status = 'SERVING';
CREATE INDEX tokens_serving_session ON qlink.tokens (session_id) WHERE status = 'SERVING';
DROP INDEX qlink.tokens_waiting_call_order;
CREATE INDEX tokens_waiting_call_order
    ON qlink.tokens (session_id, is_priority DESC, line_seq) WHERE status = 'WAITING';

-- Audit entries remember the room they were made in: UNDO works per room. An entry with
-- no room is a clinic-wide act (made without naming a room in a clinic with several).
ALTER TABLE qlink.audit_logs ADD COLUMN room_id uuid REFERENCES qlink.rooms (id) ON DELETE SET NULL;
UPDATE qlink.audit_logs a SET room_id = r.id FROM qlink.rooms r
WHERE r.business_id = a.business_id AND a.session_id IS NOT NULL;

-- A login may be pinned to one room; OWNER runs one clinic.
ALTER TABLE qlink.staff_users
    ADD COLUMN room_id uuid,
    DROP CONSTRAINT staff_users_role_check,
    ADD CONSTRAINT staff_users_role_check CHECK (role IN ('STAFF', 'OWNER', 'SUPER_ADMIN')),
    DROP CONSTRAINT staff_users_check,
    ADD CONSTRAINT staff_users_clinic_check CHECK ((role = 'SUPER_ADMIN') = (business_id IS NULL)),
    ADD CONSTRAINT staff_users_room_fkey FOREIGN KEY (business_id, room_id)
        REFERENCES qlink.rooms (business_id, id) ON DELETE SET NULL (room_id);

-- Messages name the line and room they are about (the CALLED message says where to go).
ALTER TABLE qlink.message_logs ADD COLUMN room_id uuid REFERENCES qlink.rooms (id) ON DELETE SET NULL;

ALTER TABLE qlink.queues      ENABLE ROW LEVEL SECURITY;
ALTER TABLE qlink.rooms       ENABLE ROW LEVEL SECURITY;
ALTER TABLE qlink.room_queues ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON qlink.queues, qlink.rooms, qlink.room_queues FROM PUBLIC;

-- The 0.1 functions cannot work on these tables: update them in this same transaction.
DO $$
BEGIN
    IF (SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'qlink') = '0.1.0' THEN
        ALTER EXTENSION qlink UPDATE TO '0.2.0';
    END IF;
END
$$;
