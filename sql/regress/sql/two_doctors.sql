-- A two-doctor clinic day (SPEC §9) driven from psql, as a DBA would set one up and run it,
-- with the clock pinned so the output is the same on every run. Errors are shown as
-- "SQLSTATE message". Every query names this clinic: other tests share the database.
\pset null '∅'
CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'ok'; EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ' ' || SQLERRM; END $$;

-- 08:30 IST, 12 March 2026.
SET qlink.clock_override = '2026-03-12 03:00:00+00';
SELECT qlink.create_business('mehta-rao', 'Mehta & Rao Clinic') IS NOT NULL AS created;
SELECT id AS clinic FROM qlink.businesses WHERE slug = 'mehta-rao' \gset

-- A new clinic has one queue without a prefix and one room calling from it.
SELECT name, prefix, is_active, sort_order, rooms_serving FROM qlink.list_queues(:'clinic');
SELECT name, is_active, queue_names FROM qlink.list_rooms(:'clinic');
SELECT queue_id AS qa FROM qlink.list_queues(:'clinic') \gset
SELECT room_id AS r1 FROM qlink.list_rooms(:'clinic') \gset

-- The default line becomes Dr. Mehta's (labels A-…); Dr. Rao's line and a lab line join it.
SELECT qlink.update_queue(:'clinic', :'qa', name => 'Dr. Mehta', prefix => 'A') = :'qa' AS renamed;
SELECT qlink.create_queue(:'clinic', 'Dr. Rao', 'B') AS qb \gset
SELECT qlink.create_queue(:'clinic', 'Lab', 'L') AS ql \gset

-- Setup refusals change nothing.
SELECT pg_temp.try(format('SELECT qlink.create_queue(%L, %L, %L)', :'clinic', 'Dr. Second Rao', 'B'));
SELECT pg_temp.try(format('SELECT qlink.update_queue(%L, %L, prefix => %L)', :'clinic', :'ql', 'A'));
SELECT pg_temp.try(format('SELECT qlink.create_queue(%L, %L, %L)', :'clinic', 'Dr. Lower', 'b'));
SELECT pg_temp.try(format('SELECT qlink.create_queue(%L, %L, %L)', :'clinic', 'Dr. Long', 'ABCD'));
SELECT pg_temp.try(format('SELECT qlink.update_queue(%L, %L, prefix => %L)', :'clinic', :'qb', 'B2'));
SELECT pg_temp.try(format('SELECT qlink.create_queue(%L, %L, %L)', :'clinic', '   ', 'C'));
SELECT pg_temp.try(format('SELECT qlink.create_room(%L, %L, ARRAY[]::uuid[])', :'clinic', 'Empty room'));
SELECT pg_temp.try(format('SELECT qlink.create_room(%L, %L, ARRAY[gen_random_uuid()])', :'clinic', 'Nowhere'));
SELECT pg_temp.try(format('SELECT qlink.create_room(%L, %L, ARRAY[%L::uuid])', :'clinic', 'Room 1', :'qb'));

-- Dr. Rao works in Room 2; the lab has its own room.
SELECT qlink.create_room(:'clinic', 'Room 2', ARRAY[:'qb'::uuid]) AS r2 \gset
SELECT qlink.create_room(:'clinic', 'Lab', ARRAY[:'ql'::uuid]) AS rl \gset
SELECT name, prefix, is_active, sort_order, rooms_serving, waiting_count, accepting_tokens
  FROM qlink.list_queues(:'clinic');
SELECT name, is_active, sort_order, queue_names, serving_label, waiting_count FROM qlink.list_rooms(:'clinic');
SELECT count(*) AS queues FROM qlink.queues WHERE business_id = :'clinic';
SELECT count(*) AS rooms FROM qlink.rooms WHERE business_id = :'clinic';

-- 09:00: patients scan the QR code and pick a doctor; leaving the line out is refused.
SET qlink.clock_override = '2026-03-12 03:30:00+00';
SELECT pg_temp.try(format('SELECT * FROM qlink.create_token(%L, %L, %L)', :'clinic', 'Nobody', '9876512300'));
SELECT token_label, token_number, queue_name, queue_position, eta_min_minutes, eta_max_minutes
  FROM qlink.create_token(:'clinic', 'Asha', '9876512301', queue_id => :'qa');
SET qlink.clock_override = '2026-03-12 03:31:00+00';
SELECT token_label, token_number, queue_name, queue_position, eta_min_minutes, eta_max_minutes
  FROM qlink.create_token(:'clinic', 'Bhavesh', '9876512302', queue_id => :'qb');
SET qlink.clock_override = '2026-03-12 03:32:00+00';
SELECT token_label, token_number, queue_name, queue_position, eta_min_minutes, eta_max_minutes
  FROM qlink.create_token(:'clinic', 'Chitra', '9876512303', queue_id => :'qa');
SET qlink.clock_override = '2026-03-12 03:33:00+00';
SELECT token_label, token_number, queue_name, queue_position, eta_min_minutes, eta_max_minutes
  FROM qlink.create_token(:'clinic', 'Dev', '9876512304', queue_id => :'qb');
SET qlink.clock_override = '2026-03-12 03:34:00+00';
SELECT token_label, token_number, queue_name, queue_position, eta_min_minutes, eta_max_minutes
  FROM qlink.create_token(:'clinic', 'Esha', '9876512305', queue_id => :'qa');
-- The phone limit is the clinic's day, over both lines.
SELECT pg_temp.try(format('SELECT * FROM qlink.create_token(%L, %L, %L, queue_id => %L)',
                          :'clinic', 'Asha again', '9876512301', :'qb'));
-- An emergency at the desk, for Dr. Rao: first in his line.
SET qlink.clock_override = '2026-03-12 03:34:30+00';
SELECT token_label, queue_name, queue_position
  FROM qlink.create_token(:'clinic', 'Emergency', NULL, 'STAFF', NULL, true, queue_id => :'qb');
SELECT token_label, status, is_priority, queue_name, queue_position
  FROM qlink.queue_snapshot(:'clinic') ORDER BY queue_name, queue_position;

-- 09:05: the rooms start. Without a room, NEXT names the rooms to choose from.
SET qlink.clock_override = '2026-03-12 03:35:00+00';
SELECT pg_temp.try(format('SELECT * FROM qlink.queue_action(%L, %L)', :'clinic', 'NEXT'));
SELECT now_serving_number, serving_label, token_label, room_name, waiting_count
  FROM qlink.queue_action(:'clinic', 'NEXT', room_id => :'r1');
SET qlink.clock_override = '2026-03-12 03:36:00+00';
SELECT now_serving_number, serving_label, token_label, room_name, waiting_count
  FROM qlink.queue_action(:'clinic', 'NEXT', room_id => :'r2');
-- Nobody waits in the lab yet: its NEXT calls nobody.
SELECT now_serving_number, serving_label, token_label, room_name, waiting_count
  FROM qlink.queue_action(:'clinic', 'NEXT', room_id => :'rl');
SELECT name, queue_names, serving_number, serving_label, waiting_count FROM qlink.list_rooms(:'clinic');
SELECT now_serving_number, serving_label, next_labels, waiting_count, accepting_tokens,
       (SELECT jsonb_agg(r - 'room_id' ORDER BY n) FROM jsonb_array_elements(rooms) WITH ORDINALITY e(r, n)) AS rooms
  FROM qlink.display_state(:'clinic');
SELECT token_label, status, queue_name, room_name, queue_position, people_ahead, now_serving_number
  FROM qlink.token_status((SELECT id FROM qlink.tokens WHERE business_id = :'clinic' AND token_label = 'B-3'));
SELECT token_label, status, queue_name, room_name, queue_position, people_ahead, eta_min_minutes, eta_max_minutes
  FROM qlink.token_status((SELECT id FROM qlink.tokens WHERE business_id = :'clinic' AND token_label = 'B-1'));
-- Dr. Rao's room is serving: it cannot be closed, nor stop calling from his line.
SELECT pg_temp.try(format('SELECT qlink.update_room(%L, %L, is_active => false)', :'clinic', :'r2'));
SELECT pg_temp.try(format('SELECT qlink.update_room(%L, %L, queue_ids => ARRAY[%L::uuid])', :'clinic', :'r2', :'ql'));
-- Room 1 cannot act on Room 2's patient.
SELECT pg_temp.try(format('SELECT * FROM qlink.queue_action(%L, %L, %L, room_id => %L)', :'clinic', 'SERVED',
                          (SELECT id FROM qlink.tokens WHERE business_id = :'clinic' AND token_label = 'B-3'), :'r1'));

-- 09:12: Dr. Mehta sends Asha to the lab; she keeps her label and joins the lab's line.
SET qlink.clock_override = '2026-03-12 03:42:00+00';
SELECT serving_label, token_label, room_name, waiting_count
  FROM qlink.queue_action(:'clinic', 'TRANSFER', (SELECT id FROM qlink.tokens WHERE business_id = :'clinic' AND token_label = 'A-1'),
                          target_queue_id => :'ql');
SELECT token_label, status, queue_name, room_name, queue_position
  FROM qlink.token_status((SELECT id FROM qlink.tokens WHERE business_id = :'clinic' AND token_label = 'A-1'));
-- Moving her into the line she is in, or without naming where to, is refused.
SELECT pg_temp.try(format('SELECT * FROM qlink.queue_action(%L, %L, %L, target_queue_id => %L)', :'clinic', 'TRANSFER',
                          (SELECT id FROM qlink.tokens WHERE business_id = :'clinic' AND token_label = 'A-1'), :'ql'));
SELECT pg_temp.try(format('SELECT * FROM qlink.queue_action(%L, %L, %L)', :'clinic', 'TRANSFER',
                          (SELECT id FROM qlink.tokens WHERE business_id = :'clinic' AND token_label = 'A-1')));
-- The lab calls her; Room 1 calls Chitra.
SET qlink.clock_override = '2026-03-12 03:43:00+00';
SELECT serving_label, token_label, room_name, waiting_count FROM qlink.queue_action(:'clinic', 'NEXT', room_id => :'rl');
SET qlink.clock_override = '2026-03-12 03:44:00+00';
SELECT serving_label, token_label, room_name, waiting_count FROM qlink.queue_action(:'clinic', 'NEXT', room_id => :'r1');
SELECT token_label, status, queue_name, room_name FROM qlink.token_status((SELECT id FROM qlink.tokens WHERE business_id = :'clinic' AND token_label = 'A-1'));

-- Room 1's UNDO reverts Room 1's NEXT only; its next UNDO would restore Asha to Room 1,
-- but the lab has called her since: a conflict, nothing changed.
SET qlink.clock_override = '2026-03-12 03:45:00+00';
SELECT undo_action, undo_token_label FROM qlink.queue_summary(:'clinic', :'r1');
SELECT serving_label, token_label, room_name, waiting_count FROM qlink.queue_action(:'clinic', 'UNDO', room_id => :'r1');
SELECT undo_action, undo_token_label FROM qlink.queue_summary(:'clinic', :'r1');
SELECT pg_temp.try(format('SELECT * FROM qlink.queue_action(%L, %L, room_id => %L)', :'clinic', 'UNDO', :'r1'));
SELECT t.token_label, t.status, q.name AS queue, r.name AS room
  FROM qlink.tokens t JOIN qlink.queues q ON q.id = t.queue_id LEFT JOIN qlink.rooms r ON r.id = t.room_id
 WHERE t.business_id = :'clinic' AND t.token_label IN ('A-1', 'A-2') ORDER BY t.token_label;
-- Once the lab undoes its call, Room 1 can take the transfer back: Asha is Room 1's again.
SELECT serving_label, token_label, room_name, waiting_count FROM qlink.queue_action(:'clinic', 'UNDO', room_id => :'rl');
SELECT serving_label, token_label, room_name, waiting_count FROM qlink.queue_action(:'clinic', 'UNDO', room_id => :'r1');
SELECT token_label, status, queue_name, room_name, queue_position
  FROM qlink.token_status((SELECT id FROM qlink.tokens WHERE business_id = :'clinic' AND token_label = 'A-1'));
-- Room 2 kept its patient through all of it.
SELECT name, serving_label, waiting_count FROM qlink.list_rooms(:'clinic');

-- 09:20: the day goes on. Asha to the lab again; both doctors call their next patients.
SET qlink.clock_override = '2026-03-12 03:50:00+00';
SELECT token_label FROM qlink.queue_action(:'clinic', 'TRANSFER',
       (SELECT id FROM qlink.tokens WHERE business_id = :'clinic' AND token_label = 'A-1'), target_queue_id => :'ql');
SET qlink.clock_override = '2026-03-12 03:51:00+00';
SELECT serving_label, token_label, room_name FROM qlink.queue_action(:'clinic', 'NEXT', room_id => :'r1');
SET qlink.clock_override = '2026-03-12 03:52:00+00';
SELECT serving_label, token_label, room_name FROM qlink.queue_action(:'clinic', 'NEXT', room_id => :'r2');
SET qlink.clock_override = '2026-03-12 03:53:00+00';
SELECT serving_label, token_label, room_name FROM qlink.queue_action(:'clinic', 'NEXT', room_id => :'rl');
-- Dev stepped out: Room 2 skips him from the line.
SET qlink.clock_override = '2026-03-12 03:54:00+00';
SELECT token_label, waiting_count FROM qlink.queue_action(:'clinic', 'SKIP',
       (SELECT id FROM qlink.tokens WHERE business_id = :'clinic' AND token_label = 'B-2'), room_id => :'r2');
-- A second lab chair opens on the shared lab line; Dr. Rao sends Bhavesh there. The two
-- lab rooms call different patients, and the lab's wait is divided between them.
SET qlink.clock_override = '2026-03-12 03:55:00+00';
SELECT qlink.update_room(:'clinic', :'rl', name => 'Lab 1') = :'rl' AS renamed;
SELECT qlink.create_room(:'clinic', 'Lab 2', ARRAY[:'ql'::uuid]) AS rl2 \gset
SELECT serving_label, token_label, room_name FROM qlink.queue_action(:'clinic', 'TRANSFER',
       (SELECT id FROM qlink.tokens WHERE business_id = :'clinic' AND token_label = 'B-1'), target_queue_id => :'ql');
SELECT token_label, status, queue_name, queue_position, people_ahead, eta_min_minutes, eta_max_minutes
  FROM qlink.token_status((SELECT id FROM qlink.tokens WHERE business_id = :'clinic' AND token_label = 'B-1'));
SET qlink.clock_override = '2026-03-12 03:56:00+00';
SELECT serving_label, token_label, room_name, waiting_count FROM qlink.queue_action(:'clinic', 'NEXT', room_id => :'rl2');
-- A patient already seen cannot be moved.
SELECT pg_temp.try(format('SELECT * FROM qlink.queue_action(%L, %L, %L, target_queue_id => %L)', :'clinic', 'TRANSFER',
                          (SELECT id FROM qlink.tokens WHERE business_id = :'clinic' AND token_label = 'B-3'), :'ql'));
SELECT name, rooms_serving, waiting_count, eta_min_minutes, eta_max_minutes FROM qlink.list_queues(:'clinic');
SELECT name, queue_names, serving_label, waiting_count FROM qlink.list_rooms(:'clinic');
-- The lobby: the latest call first, and every room with whom it is serving.
SELECT now_serving_number, serving_label, next_labels, waiting_count,
       (SELECT jsonb_agg(r - 'room_id' ORDER BY n) FROM jsonb_array_elements(rooms) WITH ORDINALITY e(r, n)) AS rooms
  FROM qlink.display_state(:'clinic');
SELECT serving_label, next_labels, waiting_count, (SELECT jsonb_agg(r - 'room_id' ORDER BY n) FROM jsonb_array_elements(rooms) WITH ORDINALITY e(r, n)) AS rooms
  FROM qlink.display_state(:'clinic', room_id => :'rl');
SELECT session_status, now_serving_number, serving_label, waiting_count, skipped_count, served_count,
       last_token_number, undo_action, undo_token_label, room_name
  FROM qlink.queue_summary(:'clinic', :'r2');
SELECT token_label, status, queue_name, room_name, queue_position
  FROM qlink.queue_snapshot(:'clinic', :'r1');

-- Every patient's state, and what the CALLED messages told them.
SELECT t.token_label, t.token_number, t.status, t.is_priority, q.name AS queue, r.name AS room, t.line_seq
  FROM qlink.tokens t JOIN qlink.queues q ON q.id = t.queue_id LEFT JOIN qlink.rooms r ON r.id = t.room_id
 WHERE t.business_id = :'clinic' ORDER BY t.token_label;
SELECT m.payload ->> 'token_label' AS label, m.payload ->> 'room_name' AS room, m.status
  FROM qlink.message_logs m WHERE m.business_id = :'clinic' AND m.message_type = 'CALLED' ORDER BY m.id;
SELECT q.name, s.last_token_number, s.waiting_count, s.now_serving_number
  FROM qlink.sessions s JOIN qlink.queues q ON q.id = s.queue_id WHERE s.business_id = :'clinic' ORDER BY q.sort_order;

-- 13:00: the lab closes and Dr. Rao leaves; the clinic keeps its last active line.
SET qlink.clock_override = '2026-03-12 07:30:00+00';
SELECT qlink.update_queue(:'clinic', :'ql', is_active => false) = :'ql' AS lab_closed;
SELECT qlink.update_queue(:'clinic', :'qb', is_active => false) = :'qb' AS rao_closed;
SELECT pg_temp.try(format('SELECT qlink.update_queue(%L, %L, is_active => false)', :'clinic', :'qa'));
SELECT pg_temp.try(format('SELECT * FROM qlink.create_token(%L, %L, %L, queue_id => %L)', :'clinic', 'Late', '9876512309', :'qb'));
-- One active line again: a patient who names none joins Dr. Mehta's.
SELECT token_label, queue_name, queue_position FROM qlink.create_token(:'clinic', 'Late', '9876512309');
SELECT name, prefix, is_active, rooms_serving, waiting_count, accepting_tokens, refusal_reason
  FROM qlink.list_queues(:'clinic');
SELECT action, actor_email, details - 'queue_id' - 'room_id' - 'queue_ids' AS details
  FROM qlink.admin_audit_logs WHERE target_id = :'clinic' AND (action LIKE '%QUEUE' OR action LIKE '%ROOM') ORDER BY id;
RESET qlink.clock_override;
