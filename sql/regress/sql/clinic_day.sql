-- A whole clinic day driven from psql, as a DBA would, with the clock pinned so the
-- output is the same on every run. Errors are shown as "SQLSTATE message".
\pset null '∅'
CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'ok'; EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ' ' || SQLERRM; END $$;

-- 09:00 IST, 10 March 2026.
SET qlink.clock_override = '2026-03-10 03:30:00+00';
SELECT qlink.create_business('sharma-clinic', 'Dr. Sharma''s Clinic',
       settings => '{"reminder_at_position": 2, "daily_message_limit": 100}') IS NOT NULL AS created;
SELECT id AS clinic FROM qlink.businesses WHERE slug = 'sharma-clinic' \gset

-- Patients scan the QR code.
SELECT token_number, status, queue_position, eta_min_minutes, eta_max_minutes
  FROM qlink.create_token(:'clinic', 'Asha Rao', '98765 43210', client_ip => '203.0.113.7');
SELECT token_number, queue_position, eta_min_minutes, eta_max_minutes
  FROM qlink.create_token(:'clinic', 'आशा वर्मा', '+91 98765-43211', language => 'hi');
SELECT token_number, queue_position FROM qlink.create_token(:'clinic', 'Ravi', '098765 43212');
SELECT token_number, queue_position FROM qlink.create_token(:'clinic', 'Meena', '919876543213');
SELECT patient_name, patient_phone, language, source FROM qlink.tokens ORDER BY token_number;

-- Bad input and limits: clear errors, nothing stored.
SELECT pg_temp.try($q$SELECT * FROM qlink.create_token('$q$ || :'clinic' || $q$', '', '9876543214')$q$);
SELECT pg_temp.try($q$SELECT * FROM qlink.create_token('$q$ || :'clinic' || $q$', 'Bad phone', '12345')$q$);
SELECT pg_temp.try($q$SELECT * FROM qlink.create_token('$q$ || :'clinic' || $q$', 'Again', '9876543210')$q$);
SELECT pg_temp.try($q$SELECT * FROM qlink.create_token(gen_random_uuid(), 'Nobody', '9876543215')$q$);
SELECT count(*) AS tokens FROM qlink.tokens;

-- The receptionist starts. NEXT calls Asha.
SET qlink.clock_override = '2026-03-10 03:35:00+00';
SELECT now_serving_number, waiting_count FROM qlink.queue_action(:'clinic', 'NEXT');
SELECT token_number, status, queue_position, people_ahead, now_serving_number, eta_min_minutes, eta_max_minutes
  FROM qlink.token_status((SELECT id FROM qlink.tokens WHERE token_number = 4));

-- An emergency arrives and goes to the front.
SELECT token_number, queue_position
  FROM qlink.create_token(:'clinic', 'Emergency', NULL, 'STAFF', NULL, true);
SELECT token_number, status, is_priority, queue_position FROM qlink.queue_snapshot(:'clinic');

-- Asha done after 7 minutes; the emergency is called.
SET qlink.clock_override = '2026-03-10 03:42:00+00';
SELECT now_serving_number, waiting_count FROM qlink.queue_action(:'clinic', 'NEXT');
-- Ravi stepped out: skip him, then recall him when he is back (he goes next).
SELECT now_serving_number, waiting_count
  FROM qlink.queue_action(:'clinic', 'SKIP', (SELECT id FROM qlink.tokens WHERE token_number = 3));
SELECT now_serving_number, waiting_count
  FROM qlink.queue_action(:'clinic', 'RECALL', (SELECT id FROM qlink.tokens WHERE token_number = 3));
SELECT token_number, status, is_priority, queue_position FROM qlink.queue_snapshot(:'clinic');

-- UNDO twice walks back RECALL and SKIP; a third UNDO would revert the NEXT.
SELECT undo_action, undo_token_number FROM qlink.queue_summary(:'clinic');
SELECT now_serving_number, waiting_count FROM qlink.queue_action(:'clinic', 'UNDO');
SELECT now_serving_number, waiting_count FROM qlink.queue_action(:'clinic', 'UNDO');
SELECT token_number, status, previous_status, is_priority FROM qlink.tokens ORDER BY token_number;

-- State conflicts.
SELECT pg_temp.try($q$SELECT * FROM qlink.queue_action('$q$ || :'clinic' || $q$', 'RECALL', (SELECT id FROM qlink.tokens WHERE token_number = 1))$q$);
SELECT pg_temp.try($q$SELECT * FROM qlink.queue_action('$q$ || :'clinic' || $q$', 'DANCE')$q$);
SELECT pg_temp.try($q$SELECT * FROM qlink.reset_session('$q$ || :'clinic' || $q$')$q$);

-- A patient cancels from their page.
SELECT * FROM qlink.cancel_token((SELECT id FROM qlink.tokens WHERE token_number = 4));

-- The rest of the morning. Services took 7, 4, 6, 8 and 10 minutes: from five on, the
-- ETA uses their p25/p75 (6 and 8 minutes per person) instead of the clinic's 6–15.
SET qlink.clock_override = '2026-03-10 03:46:00+00';
SELECT now_serving_number, waiting_count FROM qlink.queue_action(:'clinic', 'NEXT');
SET qlink.clock_override = '2026-03-10 03:52:00+00';
SELECT now_serving_number, waiting_count FROM qlink.queue_action(:'clinic', 'NEXT');
SELECT token_number FROM qlink.create_token(:'clinic', 'Late 1', '9876543216');
SELECT token_number FROM qlink.create_token(:'clinic', 'Late 2', '9876543217');
SET qlink.clock_override = '2026-03-10 04:00:00+00';
SELECT now_serving_number, waiting_count FROM qlink.queue_action(:'clinic', 'NEXT');
SET qlink.clock_override = '2026-03-10 04:10:00+00';
SELECT now_serving_number, waiting_count FROM qlink.queue_action(:'clinic', 'NEXT');
SELECT service_p25_minutes, service_p75_minutes FROM qlink.sessions;
SELECT token_number, status, queue_position, people_ahead, eta_min_minutes, eta_max_minutes
  FROM qlink.token_status((SELECT id FROM qlink.tokens WHERE token_number = 7));

-- The outbox: WELCOME for each patient, REMINDER near the front, CALLED when called.
-- (token 4's REMINDER was dropped when the SKIP that triggered it was undone)
SELECT t.token_number, m.message_type, m.status, m.reason, m.language, m.payload->>'people_ahead' AS people_ahead
  FROM qlink.message_logs m JOIN qlink.tokens t ON t.id = m.token_id ORDER BY m.id;

-- The worker's protocol.
SELECT count(*) AS claimed FROM qlink.claim_messages(5, '30 seconds');
SELECT status, attempts FROM qlink.finish_message(1, 'SENT', 'whatsapp', 'wamid.demo1');
SELECT status, attempts FROM qlink.finish_message(2, 'RETRY');
SELECT status, attempts FROM qlink.finish_message(3, 'FAILED', provider_response => '{"error": {"code": 131026}}');
SELECT qlink.apply_delivery_status('wamid.demo1', 'read') AS applied;
SELECT qlink.apply_delivery_status('wamid.demo1', 'delivered') AS applied;
SELECT status FROM qlink.message_logs WHERE id = 1;

-- Close the day: QR intake is refused, the receptionist can still add.
SELECT status FROM qlink.close_session(:'clinic');
SELECT pg_temp.try($q$SELECT * FROM qlink.create_token('$q$ || :'clinic' || $q$', 'Too late', '9876543218')$q$);
SELECT token_number FROM qlink.create_token(:'clinic', 'Walk-in', NULL, 'STAFF');
SELECT session_status, waiting_count, served_count, cancelled_count, last_token_number FROM qlink.queue_summary(:'clinic');

-- The next morning the clinic starts again from token 1 (clinic-local date: 00:30 IST).
SET qlink.clock_override = '2026-03-10 19:00:00+00';
SELECT token_number FROM qlink.create_token(:'clinic', 'Early bird', '9876543219');
SELECT date, status, last_token_number FROM qlink.sessions ORDER BY date;

-- Operator: metrics, settings, suspension.
SELECT * FROM qlink.admin_metrics();
SELECT pg_temp.try($q$SELECT qlink.update_business('$q$ || :'clinic' || $q$', settings => '{"daily_token_limit": "lots"}')$q$);
SELECT qlink.update_business(:'clinic', status => 'SUSPENDED') ->> 'daily_token_limit' AS limit_kept;
SELECT pg_temp.try($q$SELECT * FROM qlink.queue_action('$q$ || :'clinic' || $q$', 'NEXT')$q$);
SELECT pg_temp.try($q$SELECT qlink.delete_business('$q$ || :'clinic' || $q$')$q$);

-- Rate limits and retention.
SELECT qlink.check_rate_limit('login:ip:198.51.100.1', 2, '1 minute') AS a,
       qlink.check_rate_limit('login:ip:198.51.100.1', 2, '1 minute') AS b,
       qlink.check_rate_limit('login:ip:198.51.100.1', 2, '1 minute') AS c;
SET qlink.clock_override = '2026-07-01 00:00:00+00';
SELECT qlink.purge_tokens() AS purged;
SELECT count(*) FILTER (WHERE patient_name IS NULL) AS anonymised, count(*) AS kept FROM qlink.tokens;
RESET qlink.clock_override;
