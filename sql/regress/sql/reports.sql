-- Reports and a monthly statement (SPEC §10) from psql, as a DBA or the operator would read
-- them, over two replayed days of a two-doctor clinic with the clock pinned. Errors are
-- shown as "SQLSTATE message". Every query names this clinic: other tests share the database.
\pset null '∅'
CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'ok'; EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ' ' || SQLERRM; END $$;

-- Monday 6 April 2026, 09:00 IST.
SET qlink.clock_override = '2026-04-06 03:30:00+00';
SELECT qlink.create_business('kaveri', 'Kaveri Clinic', settings => '{"whatsapp_enabled": false}') AS clinic \gset
SELECT queue_id AS qa FROM qlink.list_queues(:'clinic') \gset
SELECT room_id AS r1 FROM qlink.list_rooms(:'clinic') \gset
SELECT qlink.create_queue(:'clinic', 'Dr. Iyer', 'B') AS qb \gset
SELECT qlink.create_room(:'clinic', 'Room 2', ARRAY[:'qb'::uuid]) AS r2 \gset

-- Four patients for the first doctor, two for the second, a few minutes apart.
SELECT token_label, eta_min_minutes, eta_max_minutes FROM qlink.create_token(:'clinic', 'Asha', '9876512301', queue_id => :'qa');
SET qlink.clock_override = '2026-04-06 03:33:00+00';
SELECT token_label, eta_min_minutes, eta_max_minutes FROM qlink.create_token(:'clinic', 'Bala', '9876512302', queue_id => :'qa');
SET qlink.clock_override = '2026-04-06 03:36:00+00';
SELECT token_label, eta_min_minutes, eta_max_minutes FROM qlink.create_token(:'clinic', 'Chitra', NULL, 'STAFF', queue_id => :'qa');
SET qlink.clock_override = '2026-04-06 03:40:00+00';
SELECT token_label FROM qlink.create_token(:'clinic', 'Deepak', '9876512304', queue_id => :'qa');
SELECT token_label FROM qlink.create_token(:'clinic', 'Esha', '9876512305', 'API', queue_id => :'qb');

-- The day (Farhan joins at 10:05): Asha waits 10 minutes and is seen for 8, Bala waits 15 and is seen for 12,
-- Chitra does not come in, Deepak leaves, Esha is seen in Room 2, Farhan is still waiting.
SET qlink.clock_override = '2026-04-06 03:40:00+00';
SELECT token_label FROM qlink.queue_action(:'clinic', 'NEXT', room_id => :'r1');
SET qlink.clock_override = '2026-04-06 03:48:00+00';
SELECT token_label FROM qlink.queue_action(:'clinic', 'SERVED', room_id => :'r1');
SELECT token_label FROM qlink.queue_action(:'clinic', 'NEXT', room_id => :'r1');
SET qlink.clock_override = '2026-04-06 04:00:00+00';
SELECT token_label FROM qlink.queue_action(:'clinic', 'SERVED', room_id => :'r1');
SELECT token_label FROM qlink.queue_action(:'clinic', 'NEXT', room_id => :'r1');
SET qlink.clock_override = '2026-04-06 04:02:00+00';
SELECT token_label FROM qlink.queue_action(:'clinic', 'SKIP', room_id => :'r1');
SELECT id AS deepak FROM qlink.tokens WHERE business_id = :'clinic' AND token_label = '4' \gset
SELECT status FROM qlink.cancel_token(:'deepak');
SET qlink.clock_override = '2026-04-06 04:10:00+00';
SELECT token_label FROM qlink.queue_action(:'clinic', 'NEXT', room_id => :'r2');
SET qlink.clock_override = '2026-04-06 04:30:00+00';
SELECT token_label FROM qlink.queue_action(:'clinic', 'SERVED', room_id => :'r2');
SET qlink.clock_override = '2026-04-06 04:35:00+00';
SELECT token_label FROM qlink.create_token(:'clinic', 'Farhan', '9876512306', queue_id => :'qb');

-- While the day runs, its figures are computed live; nothing is written yet.
SELECT day, tokens, tokens_qr, tokens_staff, tokens_api, served, skipped, cancelled, unserved, called,
       wait_p50_seconds, wait_p90_seconds, service_p50_seconds, service_p90_seconds, eta_hit_rate,
       max_waiting, live
  FROM qlink.clinic_report(:'clinic', '2026-04-06', '2026-04-06');
SELECT count(*) AS rollups FROM qlink.daily_rollups WHERE business_id = :'clinic';

-- Tuesday: the first patient of the day ends Monday for good: its rollups are written.
SET qlink.clock_override = '2026-04-07 03:30:00+00';
SELECT token_label FROM qlink.create_token(:'clinic', 'Gita', '9876512307', queue_id => :'qa');
SELECT q.name AS queue, r.tokens, r.served, r.wait_p50_seconds, r.max_waiting, r.arrivals[10] AS at_9, r.arrivals[11] AS at_10
  FROM qlink.daily_rollups r LEFT JOIN qlink.queues q ON q.id = r.queue_id
 WHERE r.business_id = :'clinic' ORDER BY r.queue_id IS NOT NULL, q.prefix;

-- Per doctor, and the clinic: Monday from its rollup, Tuesday live.
SELECT day, tokens, served, skipped, cancelled, unserved, wait_p50_seconds, service_p90_seconds, live
  FROM qlink.clinic_report(:'clinic', '2026-04-06', '2026-04-07', queue_id => :'qa');
SELECT day, tokens, served, unserved, wait_p50_seconds, live
  FROM qlink.clinic_report(:'clinic', '2026-04-05', '2026-04-07');
SELECT weekday, hour, tokens FROM qlink.hourly_arrivals(:'clinic', '2026-04-01', '2026-04-30') WHERE tokens > 0;
SELECT active_days, tokens, served, skipped, cancelled, unserved, wait_mean_seconds, service_mean_seconds, max_waiting
  FROM qlink.platform_report('2026-04-01', '2026-04-30') WHERE slug = 'kaveri';

-- Reports refuse a reversed range, one over three years, another clinic's queue.
SELECT pg_temp.try(format('SELECT * FROM qlink.clinic_report(%L, %L, %L)', :'clinic', '2026-04-07', '2026-04-06'));
SELECT pg_temp.try(format('SELECT * FROM qlink.clinic_report(%L, %L, %L)', :'clinic', '2023-01-01', '2026-04-06'));
SELECT pg_temp.try(format('SELECT * FROM qlink.clinic_report(%L, %L, %L, %L)', :'clinic', '2026-04-01', '2026-04-06', gen_random_uuid()));
SELECT pg_temp.try(format('SELECT * FROM qlink.clinic_report(%L, %L, %L)', gen_random_uuid(), '2026-04-01', '2026-04-06'));

-- A plan with little included, so the statement shows overage: 2 tokens included at ₹2 each
-- extra, ₹499 a month. The clinic moves to it on the 7th: the whole of April is billed on it.
SELECT qlink.create_plan('kaveri-small', 'Small', 49900, 2, 0, 200, 100);
SELECT qlink.set_clinic_plan(:'clinic', 'kaveri-small');
SELECT * FROM qlink.usage_statement(:'clinic', '2026-04-01');
SELECT plan_code, tokens, included_tokens, messages, amount_paise FROM qlink.platform_usage('2026-04-01') WHERE slug = 'kaveri';
-- In May the price of an extra token goes up: May is billed at it, April stays as it was.
-- March (before the clinic existed) and June (not begun) are refused.
SET qlink.clock_override = '2026-05-02 04:00:00+00';
SELECT qlink.update_plan('kaveri-small', extra_token_paise => 300);
SELECT line, amount_paise FROM qlink.usage_statement(:'clinic', '2026-04-30');
SELECT line, quantity, unit_paise, amount_paise FROM qlink.usage_statement(:'clinic', '2026-05-01');
SELECT pg_temp.try(format('SELECT * FROM qlink.usage_statement(%L, %L)', :'clinic', '2026-03-01'));
SELECT pg_temp.try(format('SELECT * FROM qlink.usage_statement(%L, %L)', :'clinic', '2026-06-01'));
SELECT pg_temp.try('SELECT qlink.create_plan(''kaveri-small'', ''Again'', 0, 0, 0, 0, 0)');
SELECT pg_temp.try('SELECT qlink.create_plan(''Bad Code'', ''Bad'', 0, 0, 0, 0, 0)');
SELECT pg_temp.try('SELECT qlink.update_plan(''kaveri-small'', monthly_fee_paise => -1)');
SELECT pg_temp.try(format('SELECT qlink.set_clinic_plan(%L, %L)', :'clinic', 'no-such-plan'));
SELECT code, monthly_fee_paise, extra_token_paise, clinics FROM qlink.list_plans() WHERE code = 'kaveri-small';
SELECT action, target_type, details FROM qlink.admin_audit_logs
 WHERE action IN ('CREATE_PLAN', 'UPDATE_PLAN', 'SET_CLINIC_PLAN') AND (target_id = 'kaveri-small' OR target_id = :'clinic')
 ORDER BY id;
