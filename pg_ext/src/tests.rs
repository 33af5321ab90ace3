//! `#[pg_test]`s: every rule and every error code of SPEC §3, run inside PostgreSQL.
//! Each test replays the schema migration in its own (rolled back) transaction, pins the
//! clock with `qlink.clock_override`, and checks "nothing changed" after each refusal by
//! comparing a fingerprint of every table.

use pgrx::prelude::*;

#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    const SCHEMA: &str = include_str!("../../migrations/V1__schema.sql");
    const ROOMS: &str = include_str!("../../migrations/V4__rooms.sql");
    const REPORTS: &str = include_str!("../../migrations/V5__reports.sql");
    const CONVERSATIONS: &str = include_str!("../../migrations/V6__conversations.sql");
    const SELF_SERVICE: &str = include_str!("../../migrations/V7__self_service.sql");
    const INTAKE_LIMITS: &str = include_str!("../../migrations/V8__intake_limits.sql");
    const KIOSKS: &str = include_str!("../../migrations/V12__kiosks.sql");

    /// Schema, a SQLSTATE-catching helper, and the clock at 10:00 IST on 10 March 2026.
    fn setup() {
        Spi::run(SCHEMA).expect("schema");
        Spi::run(ROOMS).expect("rooms");
        Spi::run(REPORTS).expect("reports");
        Spi::run(CONVERSATIONS).expect("conversations");
        Spi::run(SELF_SERVICE).expect("self service");
        Spi::run(INTAKE_LIMITS).expect("intake limits");
        Spi::run(KIOSKS).expect("kiosks");
        Spi::run(
            "CREATE FUNCTION pg_temp.sqlstate_of(q text) RETURNS text LANGUAGE plpgsql AS $f$ \
             BEGIN EXECUTE q; RETURN NULL; EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ' ' || SQLERRM; END $f$",
        )
        .expect("helper");
        Spi::run(
            "CREATE FUNCTION pg_temp.reason_of(q text) RETURNS text LANGUAGE plpgsql AS $f$ \
             DECLARE d text; BEGIN EXECUTE q; RETURN NULL; \
             EXCEPTION WHEN OTHERS THEN GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL; \
             RETURN SQLSTATE || ' ' || coalesce(d, ''); END $f$",
        )
        .expect("helper");
        at("2026-03-10 04:30:00+00");
    }

    fn at(ts: &str) {
        Spi::run(&format!("SET LOCAL qlink.clock_override = '{ts}'")).expect("clock");
    }

    fn q<T: IntoDatum + FromDatum>(sql: &str) -> Option<T> {
        Spi::get_one::<T>(sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    fn s(sql: &str) -> String {
        q::<String>(sql).unwrap_or_else(|| panic!("{sql} returned NULL"))
    }

    fn i(sql: &str) -> i64 {
        q::<i64>(sql).unwrap_or_else(|| panic!("{sql} returned NULL"))
    }

    /// The SQLSTATE (and message) the statement fails with, or None when it succeeds.
    fn err(sql: &str) -> Option<String> {
        Spi::get_one_with_args::<String>("SELECT pg_temp.sqlstate_of($1)", &[sql.into()]).unwrap()
    }

    fn assert_code(sql: &str, code: &str) {
        let got = err(sql);
        assert!(got.as_deref().is_some_and(|g| g.starts_with(code)), "{sql}\n expected SQLSTATE {code}, got {got:?}");
    }

    /// A digest of every row the rules can change.
    fn fingerprint() -> String {
        s("SELECT md5(concat_ws('|', \
             (SELECT string_agg(t::text, ',' ORDER BY id) FROM qlink.businesses t), \
             (SELECT string_agg(t::text, ',' ORDER BY id) FROM qlink.sessions t), \
             (SELECT string_agg(t::text, ',' ORDER BY id) FROM qlink.tokens t), \
             (SELECT string_agg(t::text, ',' ORDER BY id) FROM qlink.message_logs t), \
             (SELECT string_agg(t::text, ',' ORDER BY id) FROM qlink.audit_logs t), \
             (SELECT string_agg(t::text, ',' ORDER BY key, hit_at) FROM qlink.rate_limit_hits t), \
             (SELECT string_agg(t::text, ',' ORDER BY id) FROM qlink.kiosks t)))")
    }

    /// The SQL fails with `code` and leaves every table as it was.
    fn refused(sql: &str, code: &str) {
        let before = fingerprint();
        assert_code(sql, code);
        assert_eq!(before, fingerprint(), "{sql} changed data although it was refused");
    }

    /// The SQL fails with `code`, names `reason` in its DETAIL (`qlink:<reason>`) and leaves
    /// every table as it was.
    fn refused_for(sql: &str, code: &str, reason: &str) {
        let before = fingerprint();
        let got = Spi::get_one_with_args::<String>("SELECT pg_temp.reason_of($1)", &[sql.into()]).unwrap();
        assert_eq!(got.as_deref(), Some(format!("{code} qlink:{reason}").as_str()), "{sql}");
        assert_eq!(before, fingerprint(), "{sql} changed data although it was refused");
    }

    fn clinic(slug: &str) -> String {
        s(&format!("SELECT qlink.create_business('{slug}', 'Clinic {slug}')::text"))
    }

    fn clinic_with(slug: &str, settings: &str) -> String {
        s(&format!("SELECT qlink.create_business('{slug}', 'Clinic {slug}', settings => '{settings}')::text"))
    }

    fn token(b: &str, name: &str, phone: &str) -> String {
        s(&format!("SELECT token_id::text FROM qlink.create_token('{b}', '{name}', '{phone}')"))
    }

    fn staff_token(b: &str, name: &str, priority: bool) -> String {
        s(&format!("SELECT token_id::text FROM qlink.create_token('{b}', '{name}', NULL, 'STAFF', NULL, {priority})"))
    }

    /// Every session's kept line length equals the real one.
    fn line_length_is_kept(b: &str) {
        let drifted = i(&format!(
            "SELECT count(*) FROM qlink.sessions s WHERE s.business_id = '{b}' AND s.waiting_count <> \
             (SELECT count(*) FROM qlink.tokens t WHERE t.session_id = s.id AND t.status = 'WAITING')"
        ));
        assert_eq!(drifted, 0, "sessions.waiting_count drifted");
    }

    fn act(b: &str, action: &str) -> Option<String> {
        let affected =
            q::<String>(&format!("SELECT affected_token_id::text FROM qlink.queue_action('{b}', '{action}')"));
        line_length_is_kept(b);
        affected
    }

    fn act_on(b: &str, action: &str, t: &str) {
        Spi::run(&format!("SELECT * FROM qlink.queue_action('{b}', '{action}', '{t}')")).unwrap();
        line_length_is_kept(b);
    }

    fn status(t: &str) -> String {
        s(&format!("SELECT status FROM qlink.tokens WHERE id = '{t}'"))
    }

    fn serving_count(b: &str) -> i64 {
        i(&format!("SELECT count(*) FROM qlink.tokens WHERE business_id = '{b}' AND status = 'SERVING'"))
    }

    fn phone(n: u32) -> String {
        format!("98765{n:05}")
    }

    #[pg_test]
    fn version_is_reported() {
        assert_eq!(q::<String>("SELECT qlink.qlink_version()"), Some(env!("CARGO_PKG_VERSION").to_string()));
    }

    #[pg_test]
    fn create_token_numbers_positions_and_phone_normalisation() {
        setup();
        let b = clinic("numbers");
        let row = |sql: &str| Spi::get_three::<i32, i32, i32>(sql).unwrap();
        let r1 = row(&format!(
            "SELECT token_number, queue_position, eta_max_minutes FROM qlink.create_token('{b}', ' Asha ', '9876500001')"
        ));
        assert_eq!(r1, (Some(1), Some(1), Some(0)));
        let r2 = row(&format!(
            "SELECT token_number, queue_position, eta_max_minutes FROM qlink.create_token('{b}', 'Ravi', '+91 98765-00002')"
        ));
        assert_eq!(r2, (Some(2), Some(2), Some(24)));
        let r3 = row(&format!(
            "SELECT token_number, queue_position, eta_min_minutes FROM qlink.create_token('{b}', 'Meena', '098765 00003')"
        ));
        assert_eq!(r3, (Some(3), Some(3), Some(9)));
        assert_eq!(
            s("SELECT string_agg(patient_phone || ':' || patient_name, ',' ORDER BY token_number) FROM qlink.tokens"),
            "+919876500001:Asha,+919876500002:Ravi,+919876500003:Meena"
        );
        // Emergency goes to the front.
        let e = s(&format!(
            "SELECT queue_position::text FROM qlink.create_token('{b}', 'Emergency', NULL, 'STAFF', NULL, true)"
        ));
        assert_eq!(e, "1");
        assert_eq!(i("SELECT count(*) FROM qlink.sessions"), 1);
        assert_eq!(i("SELECT last_token_number::bigint FROM qlink.sessions"), 4);
        // A Devanagari name is stored as typed.
        token(&b, "आशा राव", "9876500005");
        assert_eq!(s("SELECT patient_name FROM qlink.tokens WHERE token_number = 5"), "आशा राव");
    }

    #[pg_test]
    fn create_token_checks_in_order_and_changes_nothing_when_refused() {
        setup();
        let b = clinic("order");
        token(&b, "First", "9876500001");
        // 1. unknown clinic
        refused("SELECT * FROM qlink.create_token('00000000-0000-4000-8000-000000000000', 'A', '9876500002')", "P0002");
        refused("SELECT * FROM qlink.create_token(NULL, 'A', '9876500002')", "P0002");
        // 2. suspended beats bad input
        Spi::run(&format!("SELECT qlink.update_business('{b}', status => 'SUSPENDED')")).unwrap();
        refused(&format!("SELECT * FROM qlink.create_token('{b}', '', 'bad')"), "42501");
        Spi::run(&format!("SELECT qlink.update_business('{b}', status => 'DISABLED')")).unwrap();
        refused(&format!("SELECT * FROM qlink.create_token('{b}', 'A', '9876500002')"), "42501");
        Spi::run(&format!("SELECT qlink.update_business('{b}', status => 'TRIAL')")).unwrap();
        token(&b, "Trial works", "9876500003");
        // 3. QR intake off beats bad input; staff can still add
        Spi::run(&format!("SELECT qlink.update_business('{b}', settings => '{{\"qr_intake_enabled\": false}}')"))
            .unwrap();
        refused(&format!("SELECT * FROM qlink.create_token('{b}', '', 'bad')"), "42501");
        staff_token(&b, "Walk-in", false);
        Spi::run(&format!("SELECT qlink.update_business('{b}', settings => '{{\"qr_intake_enabled\": true}}')"))
            .unwrap();
        // 4. bad name / phone / source / language
        for (name, phone) in [
            ("''", "'9876500004'"),
            ("'   '", "'9876500004'"),
            ("NULL", "'9876500004'"),
            (&format!("'{}'", "x".repeat(81)), "'9876500004'"),
            ("E'tab\\there'", "'9876500004'"),
            ("'Good'", "'12345'"),
            ("'Good'", "NULL"),
            ("'Good'", "'5876500004'"),
        ] {
            refused(&format!("SELECT * FROM qlink.create_token('{b}', {name}, {phone})"), "22023");
        }
        refused(&format!("SELECT * FROM qlink.create_token('{b}', 'A', '9876500004', 'EMAIL')"), "22023");
        refused(&format!("SELECT * FROM qlink.create_token('{b}', 'A', '9876500004', language => 'fr')"), "22023");
        assert_eq!(i("SELECT count(*) FROM qlink.tokens"), 3);
    }

    #[pg_test]
    fn intake_limits_ip_phone_daily() {
        setup();
        let b = clinic_with("limits", r#"{"daily_token_limit": 6, "ip_tokens_per_10min": 3}"#);
        let from_ip =
            |n: u32| format!("SELECT * FROM qlink.create_token('{b}', 'P{n}', '{}', 'QR', '10.0.0.1')", phone(n));
        for n in 1..=3 {
            Spi::run(&from_ip(n)).unwrap();
        }
        refused(&from_ip(4), "54000");
        // Another IP is fine; the same IP after 10 minutes too.
        Spi::run(&format!("SELECT * FROM qlink.create_token('{b}', 'P4', '{}', 'QR', '10.0.0.2')", phone(4))).unwrap();
        at("2026-03-10 04:41:00+00");
        Spi::run(&from_ip(5)).unwrap();
        // Per phone per day (cancelled tokens don't count).
        refused(&format!("SELECT * FROM qlink.create_token('{b}', 'Again', '{}')", phone(1)), "54000");
        let t = s(&format!("SELECT id::text FROM qlink.tokens WHERE patient_phone = '+91{}'", phone(2)));
        Spi::run(&format!("SELECT * FROM qlink.cancel_token('{t}')")).unwrap();
        token(&b, "Back again", &phone(2));
        // Clinic daily limit (6): staff may still add.
        refused(&format!("SELECT * FROM qlink.create_token('{b}', 'Seventh', '{}')", phone(7)), "54000");
        staff_token(&b, "At the desk", false);
        // Check order: a bad phone is reported before the limits.
        assert_code(&format!("SELECT * FROM qlink.create_token('{b}', 'X', '1')"), "22023");
    }

    #[pg_test]
    fn next_served_skip_recall_cancel() {
        setup();
        let b = clinic("actions");
        let t1 = token(&b, "One", "9876500001");
        let t2 = token(&b, "Two", "9876500002");
        let t3 = token(&b, "Three", "9876500003");
        let t4 = token(&b, "Four", "9876500004");

        assert_eq!(act(&b, "NEXT").as_deref(), Some(t1.as_str()));
        assert_eq!(status(&t1), "SERVING");
        assert_eq!(i("SELECT now_serving_number::bigint FROM qlink.sessions"), 1);
        // NEXT serves the current one and calls the next.
        act(&b, "NEXT");
        assert_eq!((status(&t1), status(&t2)), ("SERVED".into(), "SERVING".into()));
        // SERVED: nobody is called.
        act(&b, "SERVED");
        assert_eq!(status(&t2), "SERVED");
        assert_eq!(serving_count(&b), 0);
        assert_eq!(q::<i32>("SELECT now_serving_number FROM qlink.sessions"), None);
        // SKIP a waiting token, and the serving one by default.
        act_on(&b, "SKIP", &t4);
        assert_eq!(status(&t4), "SKIPPED");
        act(&b, "NEXT");
        assert_eq!(status(&t3), "SERVING");
        act(&b, "SKIP");
        assert_eq!(status(&t3), "SKIPPED");
        assert_eq!(s(&format!("SELECT previous_status FROM qlink.tokens WHERE id = '{t3}'")), "SERVING");
        // RECALL: back to WAITING with priority, called next.
        let t5 = token(&b, "Five", "9876500005");
        act_on(&b, "RECALL", &t4);
        assert_eq!(status(&t4), "WAITING");
        assert!(q::<bool>(&format!("SELECT is_priority FROM qlink.tokens WHERE id = '{t4}'")).unwrap());
        assert_eq!(act(&b, "NEXT").as_deref(), Some(t4.as_str()));
        // CANCEL a waiting token.
        act_on(&b, "CANCEL", &t5);
        assert_eq!(status(&t5), "CANCELLED");
        assert!(q::<bool>(&format!("SELECT cancelled_at IS NOT NULL FROM qlink.tokens WHERE id = '{t5}'")).unwrap());
        // Nobody waiting: NEXT succeeds with nobody serving.
        assert_eq!(act(&b, "NEXT"), None);
        assert_eq!(serving_count(&b), 0);
        assert_eq!(q::<i32>("SELECT now_serving_number FROM qlink.sessions"), None);
        // Every action is audited.
        assert_eq!(i("SELECT count(*) FROM qlink.audit_logs WHERE actor = 'STAFF' AND undoable"), 10);
    }

    #[pg_test]
    fn call_order_is_priority_then_number() {
        setup();
        let b = clinic("order-call");
        let a = token(&b, "A", "9876500001");
        let c = token(&b, "C", "9876500002");
        let e1 = staff_token(&b, "E1", true);
        let e2 = staff_token(&b, "E2", true);
        let got: Vec<String> = (0..4).map(|_| act(&b, "NEXT").unwrap()).collect();
        assert_eq!(got, vec![e1, e2, a, c]);
    }

    #[pg_test]
    fn queue_action_errors_change_nothing() {
        setup();
        let b = clinic("errs");
        let other = clinic("other");
        let t = token(&b, "One", "9876500001");
        let theirs = token(&other, "Theirs", "9876500009");
        refused(&format!("SELECT * FROM qlink.queue_action('{b}', 'JUMP')"), "22023");
        refused(&format!("SELECT * FROM qlink.queue_action('{b}', NULL)"), "22023");
        refused(&format!("SELECT * FROM qlink.queue_action('{b}', 'RECALL')"), "22023");
        refused(&format!("SELECT * FROM qlink.queue_action('{b}', 'NEXT', '{t}')"), "22023");
        refused("SELECT * FROM qlink.queue_action('00000000-0000-4000-8000-000000000000', 'NEXT')", "P0002");
        // Another clinic's token is "not found", whatever the action.
        for action in ["SKIP", "RECALL", "CANCEL", "SERVED"] {
            refused(&format!("SELECT * FROM qlink.queue_action('{b}', '{action}', '{theirs}')"), "P0002");
        }
        refused(&format!("SELECT * FROM qlink.queue_action('{b}', 'CANCEL', gen_random_uuid())"), "P0002");
        refused(&format!("SELECT * FROM qlink.queue_action('{b}', 'SERVED')"), "55000");
        refused(&format!("SELECT * FROM qlink.queue_action('{b}', 'SKIP')"), "55000");
        refused(&format!("SELECT * FROM qlink.queue_action('{b}', 'RECALL', '{t}')"), "55000");
        refused(&format!("SELECT * FROM qlink.queue_action('{b}', 'UNDO')"), "55000");
        act(&b, "NEXT");
        refused(&format!("SELECT * FROM qlink.queue_action('{b}', 'CANCEL', '{t}')"), "55000");
        // Suspended clinic: every action refused.
        Spi::run(&format!("SELECT qlink.update_business('{b}', status => 'SUSPENDED')")).unwrap();
        refused(&format!("SELECT * FROM qlink.queue_action('{b}', 'NEXT')"), "42501");
        refused(&format!("SELECT * FROM qlink.queue_action('{b}', 'UNDO')"), "42501");
        refused(&format!("SELECT * FROM qlink.close_session('{b}')"), "42501");
        // Yesterday's token is not in today's queue.
        Spi::run(&format!("SELECT qlink.update_business('{b}', status => 'ACTIVE')")).unwrap();
        at("2026-03-11 04:30:00+00");
        refused(&format!("SELECT * FROM qlink.queue_action('{b}', 'SKIP', '{t}')"), "P0002");
    }

    #[pg_test]
    fn staff_ids_are_checked_and_recorded() {
        setup();
        let b = clinic("staffed");
        let other = clinic("staffed-other");
        let mine = s(&format!(
            "INSERT INTO qlink.staff_users (business_id, email, password_hash, role) \
             VALUES ('{b}', 'r@x.in', '$argon2id$v=19$x', 'STAFF') RETURNING id::text"
        ));
        let theirs = s(&format!(
            "INSERT INTO qlink.staff_users (business_id, email, password_hash, role) \
             VALUES ('{other}', 'o@x.in', '$argon2id$v=19$x', 'STAFF') RETURNING id::text"
        ));
        token(&b, "One", "9876500001");
        Spi::run(&format!("SELECT * FROM qlink.queue_action('{b}', 'NEXT', NULL, '{mine}')")).unwrap();
        assert_eq!(s("SELECT staff_id::text FROM qlink.audit_logs WHERE action = 'NEXT'"), mine);
        refused(&format!("SELECT * FROM qlink.queue_action('{b}', 'SERVED', NULL, '{theirs}')"), "42501");
        refused(&format!("SELECT * FROM qlink.queue_action('{b}', 'SERVED', NULL, gen_random_uuid())"), "P0002");
    }

    /// A full picture of the queue state that UNDO must restore exactly.
    fn state(b: &str) -> String {
        s(&format!(
            "SELECT concat_ws('|', \
               (SELECT concat_ws(',', status, closed_at, now_serving_number, service_p25_minutes, service_p75_minutes) \
                FROM qlink.sessions WHERE business_id = '{b}'), \
               (SELECT string_agg(concat_ws(',', token_number, status, previous_status, is_priority, \
                                            called_at, served_at, cancelled_at), ';' ORDER BY token_number) \
                FROM qlink.tokens WHERE business_id = '{b}'))"
        ))
    }

    #[pg_test]
    fn undo_walks_back_every_action_exactly() {
        setup();
        let b = clinic("undo");
        let t1 = token(&b, "One", "9876500001");
        let t2 = token(&b, "Two", "9876500002");
        let t3 = token(&b, "Three", "9876500003");
        let mut states = vec![state(&b)];
        let mut minute = 31;
        let mut step = |f: &dyn Fn()| {
            minute += 1;
            at(&format!("2026-03-10 04:{minute}:00+00"));
            f();
            states.push(state(&b));
        };
        step(&|| {
            act(&b, "NEXT");
        });
        step(&|| {
            act(&b, "NEXT");
        });
        step(&|| act_on(&b, "SKIP", &t3));
        step(&|| act_on(&b, "RECALL", &t3));
        step(&|| {
            act(&b, "SERVED");
        });
        step(&|| {
            act(&b, "NEXT");
        });
        step(&|| {
            act(&b, "SKIP");
        });
        step(&|| act_on(&b, "RECALL", &t3));
        step(&|| act_on(&b, "CANCEL", &t3));
        step(&|| {
            Spi::run(&format!("SELECT * FROM qlink.close_session('{b}')")).unwrap();
        });
        let _ = (&t1, &t2);
        // Undo everything, one level at a time, checking each intermediate state.
        states.pop();
        while let Some(expected) = states.pop() {
            act(&b, "UNDO");
            assert_eq!(state(&b), expected);
        }
        refused(&format!("SELECT * FROM qlink.queue_action('{b}', 'UNDO')"), "55000");
        assert_eq!(i("SELECT count(*) FROM qlink.audit_logs WHERE action = 'UNDO'"), 10);
        assert_eq!(status(&t1), "WAITING");
        // Undone CALLED messages that were never sent are dropped.
        assert_eq!(
            i("SELECT count(*) FROM qlink.message_logs WHERE message_type = 'CALLED' AND status = 'PENDING'"),
            0
        );
    }

    #[pg_test]
    fn undo_refuses_when_a_patient_changed_the_token_since() {
        setup();
        let b = clinic("drift");
        let t1 = token(&b, "One", "9876500001");
        let t2 = token(&b, "Two", "9876500002");
        act(&b, "NEXT");
        act_on(&b, "SKIP", &t2);
        act_on(&b, "RECALL", &t2);
        Spi::run(&format!("SELECT * FROM qlink.cancel_token('{t2}')")).unwrap();
        refused(&format!("SELECT * FROM qlink.queue_action('{b}', 'UNDO')"), "55000");
        assert_eq!(status(&t1), "SERVING");
    }

    #[pg_test]
    fn eta_learns_from_todays_service_times() {
        setup();
        let b = clinic("eta");
        for n in 1..=8 {
            token(&b, &format!("P{n}"), &phone(n));
        }
        let watcher = s("SELECT id::text FROM qlink.tokens WHERE token_number = 8");
        let eta = || {
            Spi::get_two::<i32, i32>(&format!(
                "SELECT eta_min_minutes, eta_max_minutes FROM qlink.token_status('{watcher}')"
            ))
            .unwrap()
        };
        let pure = |ahead: i32, ms: &str| {
            Spi::get_two::<i32, i32>(&format!(
                "SELECT eta_min_minutes, eta_max_minutes FROM qlink.eta_interval({ahead}, 1, '{ms}', 6, 15)"
            ))
            .unwrap()
        };
        // The clinic's range (6–15 per person) alone until 5 services are seen. 7 ahead.
        assert_eq!(eta(), pure(7, "{}"));
        assert_eq!(eta(), (Some(44), Some(133)));
        // Service durations 2, 4, 6, 8, 10 minutes.
        let mut minute = 0;
        at("2026-03-10 05:00:00+00");
        act(&b, "NEXT");
        for d in [2, 4, 6, 8, 10] {
            minute += d;
            at(&format!("2026-03-10 05:{minute:02}:00+00"));
            act(&b, "NEXT");
        }
        // Now: 5 samples (mean 6 min, sd 3.2); token 6 serving, 7 waiting ahead of 8.
        assert_eq!(i(&format!("SELECT people_ahead::bigint FROM qlink.token_status('{watcher}')")), 2);
        let day = "{120000,240000,360000,480000,600000}";
        assert_eq!(eta(), pure(2, day));
        assert_ne!(pure(2, day), pure(2, "{}"));
        assert_eq!(
            s("SELECT round(service_mean_seconds) || ',' || round(service_sd_seconds) FROM qlink.sessions"),
            "360,190"
        );
        // Clamped to 1–60 minutes per person.
        at("2026-03-10 09:00:00+00");
        act(&b, "NEXT");
        at("2026-03-10 13:00:00+00");
        act(&b, "SERVED");
        let p75 = i("SELECT service_p75_minutes::bigint FROM qlink.sessions");
        assert!(p75 <= 60, "p75 {p75} not clamped");
    }

    #[pg_test]
    fn today_is_the_clinics_local_date() {
        setup();
        let b = clinic("tz");
        // 19:00 UTC on 10 March is 00:30 IST on 11 March.
        at("2026-03-10 19:00:00+00");
        token(&b, "Night owl", "9876500001");
        assert_eq!(s("SELECT date::text FROM qlink.sessions"), "2026-03-11");
        // Still the same IST day at 18:00 UTC on the 11th (23:30 IST)...
        at("2026-03-11 18:00:00+00");
        token(&b, "Late", "9876500002");
        assert_eq!(i("SELECT count(*) FROM qlink.sessions"), 1);
        // ...and a new day, numbered from 1, half an hour later.
        at("2026-03-11 18:31:00+00");
        let row =
            Spi::get_one::<i32>(&format!("SELECT token_number FROM qlink.create_token('{b}', 'Early', '9876500003')"))
                .unwrap();
        assert_eq!(row, Some(1));
        assert_eq!(s("SELECT string_agg(date::text, ',' ORDER BY date) FROM qlink.sessions"), "2026-03-11,2026-03-12");
        // A clinic in another zone follows its own clock.
        let ny = s("SELECT qlink.create_business('ny', 'NY', 'America/New_York')::text");
        token(&ny, "Evening", "+12125550100");
        assert_eq!(s(&format!("SELECT date::text FROM qlink.sessions WHERE business_id = '{ny}'")), "2026-03-11");
    }

    #[pg_test]
    fn messages_welcome_reminder_called() {
        setup();
        let b = clinic_with("msgs", r#"{"reminder_at_position": 2}"#);
        for n in 1..=5 {
            token(&b, &format!("P{n}"), &phone(n));
        }
        let types = |n: i32| {
            q::<String>(&format!(
                "SELECT string_agg(m.message_type, ',' ORDER BY m.id) FROM qlink.message_logs m \
                 JOIN qlink.tokens t ON t.id = m.token_id WHERE t.token_number = {n}"
            ))
            .unwrap_or_default()
        };
        assert_eq!(types(1), "WELCOME");
        act(&b, "NEXT"); // 1 called; 2 and 3 now at positions 1–2 → 3 reminded (2 was close at join)
        assert_eq!(types(1), "WELCOME,CALLED");
        assert_eq!(types(2), "WELCOME");
        assert_eq!(types(3), "WELCOME,REMINDER");
        act(&b, "NEXT");
        assert_eq!(types(4), "WELCOME,REMINDER");
        act(&b, "NEXT");
        act(&b, "NEXT");
        assert_eq!(types(4), "WELCOME,REMINDER,CALLED");
        assert_eq!(types(5), "WELCOME,REMINDER");
        // People ahead in the reminder payload: token 5 was reminded second in line, 3 serving.
        assert_eq!(
            i("SELECT (payload->>'people_ahead')::bigint FROM qlink.message_logs m JOIN qlink.tokens t ON t.id = m.token_id \
               WHERE t.token_number = 5 AND message_type = 'REMINDER'"),
            2
        );
        // Staff walk-ins without a phone get no messages.
        staff_token(&b, "No phone", false);
        assert_eq!(i("SELECT count(*) FROM qlink.message_logs WHERE to_phone IS NULL"), 0);
        assert_eq!(i("SELECT count(*) FROM qlink.message_logs WHERE status <> 'PENDING'"), 0);
    }

    #[pg_test]
    fn messages_skipped_when_whatsapp_off_or_budget_spent() {
        setup();
        let b = clinic_with("budget", r#"{"daily_message_limit": 2}"#);
        for n in 1..=3 {
            token(&b, &format!("P{n}"), &phone(n));
        }
        assert_eq!(
            s("SELECT string_agg(status || ':' || coalesce(reason, ''), ',' ORDER BY id) FROM qlink.message_logs"),
            "PENDING:,PENDING:,SKIPPED:daily_message_limit"
        );
        let off = clinic_with("quiet", r#"{"whatsapp_enabled": false}"#);
        token(&off, "Q", "9876500009");
        assert_eq!(
            s(&format!("SELECT status || ':' || reason FROM qlink.message_logs WHERE business_id = '{off}'")),
            "SKIPPED:whatsapp_disabled"
        );
    }

    #[pg_test]
    fn outbox_claim_lease_retry_and_terminal_states() {
        setup();
        let b = clinic("outbox");
        for n in 1..=3 {
            token(&b, &format!("P{n}"), &phone(n));
        }
        at("2026-03-10 04:30:10+00");
        assert_eq!(q::<f64>("SELECT qlink.outbox_lag_seconds()"), Some(10.0));
        at("2026-03-10 04:30:00+00");
        assert_eq!(i("SELECT count(*) FROM qlink.claim_messages(2, '30 seconds')"), 2);
        // Leased rows are not claimed again until the lease runs out.
        assert_eq!(i("SELECT count(*) FROM qlink.claim_messages(10, '30 seconds')"), 1);
        assert_eq!(i("SELECT count(*) FROM qlink.claim_messages(10, '30 seconds')"), 0);
        at("2026-03-10 04:30:31+00");
        assert_eq!(i("SELECT count(*) FROM qlink.claim_messages(10, '30 seconds')"), 3);
        // SENT with the wamid.
        Spi::run("SELECT * FROM qlink.finish_message(1, 'SENT', 'whatsapp', 'wamid.1', '{}')").unwrap();
        assert_eq!(
            s("SELECT status || ':' || attempts || ':' || provider_message_id FROM qlink.message_logs WHERE id = 1"),
            "SENT:1:wamid.1"
        );
        // Transient failures back off 2 s, then 4 s; the third is permanent.
        assert_eq!(s("SELECT status || ':' || attempts || ':' || (next_attempt_at - '2026-03-10 04:30:31+00')::text FROM qlink.finish_message(2, 'RETRY')"), "FAILED:1:00:00:02");
        assert_eq!(i("SELECT count(*) FROM qlink.claim_messages(10, '30 seconds')"), 0);
        at("2026-03-10 04:30:33+00");
        assert_eq!(i("SELECT count(*) FROM qlink.claim_messages(10, '30 seconds') WHERE id = 2"), 1);
        assert_eq!(s("SELECT status || ':' || (next_attempt_at - '2026-03-10 04:30:33+00')::text FROM qlink.finish_message(2, 'RETRY')"), "FAILED:00:00:04");
        assert_eq!(s("SELECT status FROM qlink.finish_message(2, 'RETRY')"), "PERMANENTLY_FAILED");
        // Throttling defers without spending an attempt; a permanent error ends at once.
        assert_eq!(s("SELECT status || ':' || attempts FROM qlink.finish_message(3, 'THROTTLED', retry_after => '10 seconds')"), "PENDING:0");
        assert_eq!(s("SELECT status || ':' || attempts FROM qlink.finish_message(3, 'FAILED', provider_response => '{\"error\":{\"code\":131026}}')"), "PERMANENTLY_FAILED:1");
        // A late failure never moves a SENT message back.
        assert_eq!(s("SELECT status FROM qlink.finish_message(1, 'RETRY')"), "SENT");
        refused("SELECT * FROM qlink.finish_message(1, 'MAYBE')", "22023");
        refused("SELECT * FROM qlink.finish_message(999, 'SENT')", "P0002");
        refused("SELECT * FROM qlink.claim_messages(0, '30 seconds')", "22023");
        // Delivery statuses: forward only, idempotent, unknown ids ignored.
        let apply = |st: &str| q::<bool>(&format!("SELECT qlink.apply_delivery_status('wamid.1', '{st}')")).unwrap();
        assert!(apply("read"));
        assert!(apply("delivered"));
        assert!(apply("read"));
        assert_eq!(s("SELECT status FROM qlink.message_logs WHERE id = 1"), "READ");
        assert!(!q::<bool>("SELECT qlink.apply_delivery_status('wamid.unknown', 'read')").unwrap());
        refused("SELECT qlink.apply_delivery_status('wamid.1', 'exploded')", "22023");
    }

    #[pg_test]
    fn a_claimed_message_handed_back_is_claimed_again_at_once_with_nothing_spent() {
        setup();
        let b = clinic("handback");
        token(&b, "P1", &phone(1));
        at("2026-03-10 04:30:00+00");
        let id = i("SELECT id FROM qlink.claim_messages(1, '30 seconds')");
        assert_eq!(i("SELECT count(*) FROM qlink.claim_messages(10, '30 seconds')"), 0, "leased");
        assert_eq!(q::<bool>(&format!("SELECT qlink.release_message({id})")), Some(true));
        // Claimable again now, not when the lease would have ended; no attempt spent.
        assert_eq!(i("SELECT count(*) FROM qlink.claim_messages(10, '30 seconds')"), 1);
        assert_eq!(
            s(&format!("SELECT status || ':' || attempts FROM qlink.message_logs WHERE id = {id}")),
            "PENDING:0"
        );
        // A finished message is not handed back; an unknown one is refused and changes nothing.
        Spi::run(&format!("SELECT * FROM qlink.finish_message({id}, 'SENT', 'whatsapp', 'wamid.h1')")).unwrap();
        assert_eq!(q::<bool>(&format!("SELECT qlink.release_message({id})")), Some(false));
        assert_eq!(s(&format!("SELECT status FROM qlink.message_logs WHERE id = {id}")), "SENT");
        refused_for("SELECT qlink.release_message(999999)", "P0002", "message_not_found");
    }

    #[pg_test]
    fn close_and_reset_session() {
        setup();
        let b = clinic("closing");
        let t1 = token(&b, "One", "9876500001");
        let t2 = token(&b, "Two", "9876500002");
        Spi::run(&format!("SELECT * FROM qlink.close_session('{b}')")).unwrap();
        refused(&format!("SELECT * FROM qlink.create_token('{b}', 'Late', '9876500003')"), "42501");
        staff_token(&b, "Staff may add", false);
        // Closing twice is harmless.
        Spi::run(&format!("SELECT * FROM qlink.close_session('{b}')")).unwrap();
        act(&b, "NEXT");
        refused(&format!("SELECT * FROM qlink.reset_session('{b}')"), "55000");
        act(&b, "SERVED");
        act_on(&b, "SKIP", &t2);
        assert_eq!(i(&format!("SELECT cancelled_count::bigint FROM qlink.reset_session('{b}')")), 2);
        assert_eq!((status(&t1), status(&t2)), ("SERVED".into(), "CANCELLED".into()));
        assert_eq!(s("SELECT status FROM qlink.sessions"), "OPEN");
        // Numbers are never reused after a reset.
        assert_eq!(i(&format!("SELECT token_number::bigint FROM qlink.create_token('{b}', 'New', '9876500004')")), 4);
        // Reset can be undone like any staff action.
        let state_before_undo = s("SELECT count(*)::text FROM qlink.tokens WHERE status = 'CANCELLED'");
        assert_eq!(state_before_undo, "2");
        act(&b, "UNDO");
        assert_eq!(status(&t2), "SKIPPED");
        assert_eq!(s("SELECT status FROM qlink.sessions"), "CLOSED");
        refused("SELECT * FROM qlink.close_session(gen_random_uuid())", "P0002");
    }

    #[pg_test]
    fn patient_cancel_and_feedback() {
        setup();
        let b = clinic("patient");
        let t1 = token(&b, "One", "9876500001");
        let t2 = token(&b, "Two", "9876500002");
        Spi::run(&format!("SELECT * FROM qlink.cancel_token('{t2}')")).unwrap();
        assert_eq!(status(&t2), "CANCELLED");
        assert_eq!(s("SELECT actor FROM qlink.audit_logs WHERE action = 'CANCEL'"), "PATIENT");
        refused(&format!("SELECT * FROM qlink.cancel_token('{t2}')"), "55000");
        refused("SELECT * FROM qlink.cancel_token(gen_random_uuid())", "P0002");
        refused(&format!("SELECT qlink.submit_feedback('{t1}', 5)"), "55000");
        act(&b, "NEXT");
        act(&b, "NEXT");
        refused(&format!("SELECT qlink.submit_feedback('{t1}', 6)"), "22023");
        refused(&format!("SELECT qlink.submit_feedback('{t1}', 0)"), "22023");
        assert!(q::<bool>(&format!("SELECT qlink.submit_feedback('{t1}', 4, 'Quick, thank you')")).unwrap());
        refused(&format!("SELECT qlink.submit_feedback('{t1}', 5)"), "55000");
        assert_eq!(
            s(&format!("SELECT rating || ':' || feedback FROM qlink.tokens WHERE id = '{t1}'")),
            "4:Quick, thank you"
        );
    }

    #[pg_test]
    fn token_status_and_snapshot() {
        setup();
        let b = clinic("status");
        let t1 = token(&b, "One", "9876500001");
        let t2 = token(&b, "Two", "9876500002");
        let t3 = token(&b, "Three", "9876500003");
        act(&b, "NEXT");
        let st = |t: &str| {
            s(&format!(
                "SELECT concat_ws(',', token_number, status, queue_position, people_ahead, now_serving_number, \
                        eta_min_minutes, eta_max_minutes, business_name, business_slug) FROM qlink.token_status('{t}')"
            ))
        };
        assert_eq!(st(&t1), "1,SERVING,1,Clinic status,status");
        assert_eq!(st(&t2), "2,WAITING,1,1,1,3,24,Clinic status,status");
        assert_eq!(st(&t3), "3,WAITING,2,2,1,9,43,Clinic status,status");
        refused("SELECT * FROM qlink.token_status(gen_random_uuid())", "P0002");
        refused("SELECT * FROM qlink.token_status(NULL)", "P0002");
        let e = staff_token(&b, "Emergency", true);
        assert_eq!(st(&t3), "3,WAITING,3,3,1,16,62,Clinic status,status");
        assert_eq!(
            s(&format!(
                "SELECT string_agg(token_number || ':' || status || ':' || coalesce(queue_position::text, '-'), ',') \
                 FROM qlink.queue_snapshot('{b}')"
            )),
            "1:SERVING:-,4:WAITING:1,2:WAITING:2,3:WAITING:3"
        );
        let _ = e;
        assert_eq!(
            s(&format!(
                "SELECT concat_ws(',', waiting_count, now_serving_number, undo_action) FROM qlink.queue_summary('{b}')"
            )),
            "3,1,NEXT"
        );
        refused("SELECT * FROM qlink.queue_snapshot(gen_random_uuid())", "P0002");
    }

    #[pg_test]
    fn check_rate_limit_sliding_window() {
        setup();
        let hit = || q::<bool>("SELECT qlink.check_rate_limit('login:a@b.in', 2, '1 minute')").unwrap();
        assert!(hit());
        assert!(hit());
        assert!(!hit());
        at("2026-03-10 04:31:01+00");
        assert!(hit());
        refused("SELECT qlink.check_rate_limit('', 2, '1 minute')", "22023");
        refused("SELECT qlink.check_rate_limit('k', -1, '1 minute')", "22023");
        refused("SELECT qlink.check_rate_limit('k', 1, '0 seconds')", "22023");
        at("2026-03-12 04:31:01+00");
        assert_eq!(i("SELECT qlink.prune_rate_limits()"), 3);
    }

    #[pg_test]
    fn purge_removes_personal_data_past_retention_only() {
        setup();
        let b = clinic("purge");
        let old = token(&b, "Old", "9876500001");
        at("2026-06-20 04:30:00+00");
        let new = token(&b, "New", "9876500002");
        refused("SELECT qlink.purge_tokens('1 hour')", "22023");
        assert_eq!(i("SELECT qlink.purge_tokens()"), 1);
        assert_eq!(
            s(&format!("SELECT concat_ws(',', patient_name, patient_phone, purged_at IS NOT NULL) FROM qlink.tokens WHERE id = '{old}'")),
            "t"
        );
        assert_eq!(s(&format!("SELECT patient_name FROM qlink.tokens WHERE id = '{new}'")), "New");
        assert_eq!(
            i(&format!("SELECT count(*) FROM qlink.message_logs WHERE token_id = '{old}' AND to_phone IS NULL")),
            1
        );
        assert_eq!(i("SELECT qlink.purge_tokens()"), 0);
    }

    #[pg_test]
    fn admin_clinic_lifecycle_and_settings_validation() {
        setup();
        refused("SELECT qlink.create_business('Bad Slug', 'X')", "22023");
        refused("SELECT qlink.create_business('a', 'X')", "22023");
        refused("SELECT qlink.create_business('ok-slug', '')", "22023");
        refused("SELECT qlink.create_business('ok-slug', 'X', 'Mars/Olympus')", "22023");
        refused("SELECT qlink.create_business('ok-slug', 'X', status => 'GONE')", "22023");
        refused("SELECT qlink.create_business('ok-slug', 'X', settings => '{\"colour\": \"red\"}')", "22023");
        refused(
            "SELECT qlink.create_business('ok-slug', 'X', settings => '{\"daily_token_limit\": \"many\"}')",
            "22023",
        );
        let b = clinic("ok-slug");
        refused("SELECT qlink.create_business('ok-slug', 'Again')", "55000");
        assert_eq!(
            i(&format!("SELECT (settings->>'daily_token_limit')::bigint FROM qlink.businesses WHERE id = '{b}'")),
            200
        );
        refused(&format!("SELECT qlink.update_business('{b}', settings => '{{\"whatsapp_enabled\": 1}}')"), "22023");
        refused(&format!("SELECT qlink.update_business('{b}', settings => '{{\"eta_min_minutes\": 50}}')"), "22023");
        refused(&format!("SELECT qlink.update_business('{b}', status => 'PAUSED')"), "22023");
        refused("SELECT qlink.update_business(gen_random_uuid(), status => 'ACTIVE')", "P0002");
        Spi::run(&format!("SELECT qlink.update_business('{b}', settings => '{{\"daily_token_limit\": 20}}')")).unwrap();
        assert_eq!(
            s(&format!("SELECT concat_ws(',', settings->>'daily_token_limit', settings->>'ip_tokens_per_10min') FROM qlink.businesses WHERE id = '{b}'")),
            "20,3"
        );
        // Delete is refused while patients wait, allowed once the queue is done.
        let t = token(&b, "One", "9876500001");
        refused(&format!("SELECT qlink.delete_business('{b}')"), "55000");
        act_on(&b, "CANCEL", &t);
        assert!(q::<bool>(&format!("SELECT qlink.delete_business('{b}')")).unwrap());
        assert_eq!(i("SELECT count(*) FROM qlink.tokens"), 0);
        let m = Spi::get_two::<i64, i64>("SELECT tokens_today, active_queues FROM qlink.admin_metrics()").unwrap();
        assert_eq!(m, (Some(0), Some(0)));
    }

    #[pg_test]
    fn admin_metrics_count_today() {
        setup();
        let a = clinic("ma");
        let b = clinic("mb");
        token(&a, "A1", "9876500001");
        token(&a, "A2", "9876500002");
        let bt = token(&b, "B1", "9876500003");
        act_on(&b, "CANCEL", &bt);
        Spi::run("SELECT * FROM qlink.claim_messages(10, '1 minute')").unwrap();
        Spi::run("SELECT * FROM qlink.finish_message(1, 'FAILED')").unwrap();
        assert_eq!(
            s("SELECT concat_ws(',', tokens_today, active_sessions, active_queues, failed_messages_today) FROM qlink.admin_metrics()"),
            "3,2,1,1"
        );
        assert_eq!(
            s("SELECT concat_ws(',', name, status, session_status, waiting_count) FROM qlink.clinic_by_slug('ma')"),
            "Clinic ma,ACTIVE,OPEN,2"
        );
        refused("SELECT * FROM qlink.clinic_by_slug('nope')", "P0002");
    }

    #[pg_test]
    fn intake_limits_count_an_ipv6_slash_64_and_every_clinic_and_refused_phones_pay() {
        setup();
        let a = clinic_with("net-a", r#"{"ip_tokens_per_10min": 2}"#);
        let b = clinic_with("net-b", r#"{"ip_tokens_per_10min": 2}"#);
        let ct = |b: &str, name: &str, phone: &str, ip: &str| {
            format!("SELECT * FROM qlink.create_token('{b}', '{name}', '{phone}', 'QR', '{ip}')")
        };
        // Any two addresses of one IPv6 /64 are one source; the next /64 is another.
        Spi::run(&ct(&a, "A", "9876500001", "2001:db8:1:2::1")).unwrap();
        Spi::run(&ct(&a, "B", "9876500002", "2001:db8:1:2:ffff:ffff:ffff:9")).unwrap();
        refused_for(&ct(&a, "C", "9876500003", "2001:db8:1:2::abcd"), "54000", "ip_limit");
        Spi::run(&ct(&a, "C", "9876500003", "2001:db8:1:3::1")).unwrap();
        // An IPv4-mapped address is its IPv4 address.
        Spi::run(&ct(&a, "D", "9876500004", "10.1.1.1")).unwrap();
        Spi::run(&ct(&a, "E", "9876500005", "::ffff:10.1.1.1")).unwrap();
        refused_for(&ct(&a, "F", "9876500006", "10.1.1.1"), "54000", "ip_limit");

        // Across clinics: the source's tokens at the other clinics stay under the
        // installation's window, whatever each clinic allows.
        let c = clinic_with("net-c", r#"{"ip_tokens_per_10min": 2}"#);
        assert_eq!(q::<i32>("SELECT qlink.set_intake_limit_across_clinics(3)"), Some(3));
        assert_eq!(
            s("SELECT details::text FROM qlink.admin_audit_logs WHERE action = 'INTAKE_LIMIT_SET'"),
            r#"{"to": 3, "from": 20}"#
        );
        Spi::run(&ct(&a, "G", "9876500007", "10.2.2.2")).unwrap();
        Spi::run(&ct(&a, "H", "9876500008", "10.2.2.2")).unwrap();
        Spi::run(&ct(&b, "I", "9876500009", "10.2.2.2")).unwrap();
        refused_for(&ct(&c, "J", "9876500010", "10.2.2.2"), "54000", "ip_limit");
        Spi::run(&ct(&b, "J", "9876500010", "10.2.2.2")).unwrap();
        Spi::run(&ct(&c, "J2", "9876500020", "10.3.3.3")).unwrap();
        // A clinic's own kiosk (every patient from its Wi-Fi) is the clinic's own limit.
        let kiosk = clinic_with("net-kiosk", r#"{"ip_tokens_per_10min": 50}"#);
        for n in 0..8 {
            Spi::run(&ct(&kiosk, "K", &format!("98765011{n:02}"), "10.9.9.9")).unwrap();
        }
        for bad in ["0", "100001", "NULL"] {
            refused_for(&format!("SELECT qlink.set_intake_limit_across_clinics({bad})"), "22023", "invalid_argument");
        }

        // A refused attempt charged by the server counts in both windows.
        assert!(q::<bool>(&format!("SELECT qlink.charge_refused_intake('{b}', '10.4.4.4')")).unwrap());
        assert!(q::<bool>(&format!("SELECT qlink.charge_refused_intake('{b}', '2001:db8:9:9::1')")).unwrap());
        Spi::run(&ct(&b, "K", "9876500011", "10.4.4.4")).unwrap();
        refused_for(&ct(&b, "L", "9876500012", "10.4.4.4"), "54000", "ip_limit");
        Spi::run(&ct(&b, "L", "9876500012", "2001:db8:9:9::2")).unwrap();
        refused_for(&ct(&b, "M", "9876500013", "2001:db8:9:9::3"), "54000", "ip_limit");
        assert_eq!(i("SELECT qlink.rate_limit_count('create_token:any:2001:db8:9:9::/64', interval '10 minutes')"), 2);
    }

    #[pg_test]
    fn refusals_carry_their_reason() {
        setup();
        let b = clinic_with("reasons", r#"{"daily_token_limit": 3, "ip_tokens_per_10min": 1}"#);
        let ct = |args: &str| format!("SELECT * FROM qlink.create_token({args})");
        refused_for(&ct("gen_random_uuid(), 'A', '9876500001'"), "P0002", "clinic_not_found");
        refused_for(&ct(&format!("'{b}', '', '9876500001'")), "22023", "invalid_name");
        refused_for(&ct(&format!("'{b}', 'A', '12345'")), "22023", "invalid_phone");
        refused_for(&ct(&format!("'{b}', 'A', NULL")), "22023", "invalid_phone");
        refused_for(&ct(&format!("'{b}', 'A', '9876500001', 'EMAIL'")), "22023", "invalid_source");
        refused_for(&ct(&format!("'{b}', 'A', '9876500001', language => 'fr'")), "22023", "invalid_language");
        Spi::run(&ct(&format!("'{b}', 'A', '9876500001', 'QR', '10.0.0.1'"))).unwrap();
        refused_for(&ct(&format!("'{b}', 'B', '9876500002', 'QR', '10.0.0.1'")), "54000", "ip_limit");
        refused_for(&ct(&format!("'{b}', 'A', '9876500001'")), "54000", "phone_limit");
        token(&b, "B", "9876500002");
        token(&b, "C", "9876500003");
        refused_for(&ct(&format!("'{b}', 'D', '9876500004'")), "54000", "daily_token_limit");
        Spi::run(&format!("SELECT qlink.update_business('{b}', settings => '{{\"qr_intake_enabled\": false}}')"))
            .unwrap();
        refused_for(&ct(&format!("'{b}', 'D', '9876500004'")), "42501", "qr_intake_off");
        Spi::run(&format!("SELECT qlink.update_business('{b}', settings => '{{\"qr_intake_enabled\": true}}')"))
            .unwrap();
        Spi::run(&format!("SELECT * FROM qlink.close_session('{b}')")).unwrap();
        refused_for(&ct(&format!("'{b}', 'D', '9876500004'")), "42501", "session_closed");
        Spi::run(&format!("SELECT qlink.update_business('{b}', status => 'SUSPENDED')")).unwrap();
        refused_for(&ct(&format!("'{b}', 'D', '9876500004'")), "42501", "clinic_suspended");
        Spi::run(&format!("SELECT qlink.update_business('{b}', status => 'DISABLED')")).unwrap();
        refused_for(&ct(&format!("'{b}', 'D', '9876500004'")), "42501", "clinic_disabled");
        Spi::run(&format!("SELECT qlink.update_business('{b}', status => 'ACTIVE')")).unwrap();

        let qa = |args: &str| format!("SELECT * FROM qlink.queue_action('{b}', {args})");
        let t = s("SELECT id::text FROM qlink.tokens WHERE token_number = 1");
        refused_for(&qa("'JUMP'"), "22023", "invalid_action");
        refused_for(&qa(&format!("'NEXT', '{t}'")), "22023", "action_takes_no_token");
        refused_for(&qa("'RECALL'"), "22023", "action_needs_token");
        refused_for(&qa("'CANCEL', gen_random_uuid()"), "P0002", "token_not_found");
        refused_for(&qa("'SERVED'"), "55000", "nobody_serving");
        refused_for(&qa(&format!("'RECALL', '{t}'")), "55000", "not_recallable");
        act(&b, "NEXT");
        refused_for(&qa(&format!("'CANCEL', '{t}'")), "55000", "not_cancellable");
        refused_for(&format!("SELECT * FROM qlink.reset_session('{b}')"), "55000", "reset_while_serving");
        refused_for(&format!("SELECT qlink.submit_feedback('{t}', 5)"), "55000", "feedback_too_early");
        refused_for(&format!("SELECT qlink.submit_feedback('{t}', 9)"), "22023", "invalid_rating");
        refused_for(&format!("SELECT qlink.delete_business('{b}')"), "55000", "delete_live_queue");
        refused_for("SELECT qlink.create_business('reasons', 'Again')", "55000", "slug_taken");
        refused_for("SELECT qlink.create_business('Bad Slug', 'X')", "22023", "invalid_slug");
        refused_for(
            &format!("SELECT qlink.update_business('{b}', settings => '{{\"colour\": 1}}')"),
            "22023",
            "unknown_setting",
        );
        refused_for(
            &format!("SELECT qlink.update_business('{b}', settings => '{{\"daily_token_limit\": 0}}')"),
            "22023",
            "invalid_setting",
        );
        refused_for("SELECT * FROM qlink.token_status(gen_random_uuid())", "P0002", "token_not_found");
        refused_for("SELECT * FROM qlink.clinic_by_slug('nope')", "P0002", "clinic_not_found");
        refused_for("SELECT qlink.check_rate_limit('', 2, '1 minute')", "22023", "invalid_argument");
        let other = clinic("reasons-empty");
        refused_for(&format!("SELECT * FROM qlink.queue_action('{other}', 'UNDO')"), "55000", "nothing_to_undo");
    }

    #[pg_test]
    fn clinic_by_slug_says_whether_it_takes_qr_tokens_as_create_token_does() {
        setup();
        let b = clinic_with("accepting", r#"{"daily_token_limit": 2}"#);
        let mut n = 0;
        // What clinic_by_slug says, and what a QR create_token by a new patient answers.
        let mut both = || {
            let says = s("SELECT concat_ws(',', accepting_tokens::text, coalesce(refusal_reason, '-')) \
                          FROM qlink.clinic_by_slug('accepting')");
            n += 1;
            let sql = format!("SELECT * FROM qlink.create_token('{b}', 'P{n}', '{}', 'QR', '10.0.{n}.1')", phone(n));
            let reason = q::<String>(&format!("SELECT pg_temp.reason_of($${sql}$$)"));
            let did = match reason {
                None => "true,-".to_string(),
                Some(r) => format!("false,{}", r.split_once(" qlink:").map(|(_, r)| r).unwrap_or(&r)),
            };
            (says, did)
        };
        let (says, did) = both();
        assert_eq!((says.as_str(), did.as_str()), ("true,-", "true,-"));
        let (says, did) = both();
        assert_eq!((says.as_str(), did.as_str()), ("true,-", "true,-"));
        // The daily limit of 2 is reached.
        let (says, did) = both();
        assert_eq!((says.as_str(), did.as_str()), ("false,daily_token_limit", "false,daily_token_limit"));
        Spi::run(&format!("SELECT qlink.update_business('{b}', settings => '{{\"daily_token_limit\": 50}}')")).unwrap();
        for (change, reason) in [
            ("settings => '{\"qr_intake_enabled\": false}'", "qr_intake_off"),
            ("settings => '{\"qr_intake_enabled\": true}', status => 'SUSPENDED'", "clinic_suspended"),
            ("status => 'DISABLED'", "clinic_disabled"),
        ] {
            Spi::run(&format!("SELECT qlink.update_business('{b}', {change})")).unwrap();
            let (says, did) = both();
            assert_eq!(says, format!("false,{reason}"));
            assert_eq!(says, did);
        }
        Spi::run(&format!("SELECT qlink.update_business('{b}', status => 'TRIAL')")).unwrap();
        let (says, did) = both();
        assert_eq!((says.as_str(), did.as_str()), ("true,-", "true,-"));
        Spi::run(&format!("SELECT * FROM qlink.close_session('{b}')")).unwrap();
        let (says, did) = both();
        assert_eq!((says.as_str(), did.as_str()), ("false,session_closed", "false,session_closed"));
        // Existing columns keep their names and order; the new ones trail.
        assert_eq!(
            s("SELECT string_agg(a, ',' ORDER BY o) FROM unnest((SELECT proargnames FROM pg_proc \
               WHERE proname = 'clinic_by_slug')) WITH ORDINALITY u(a, o)"),
            "slug,business_id,slug,name,status,timezone,settings,session_status,now_serving_number,waiting_count,\
             accepting_tokens,refusal_reason,queue_count"
        );
    }

    #[pg_test]
    fn display_state_shows_numbers_in_call_order_and_no_names() {
        setup();
        let b = clinic_with("lobby", r#"{"daily_token_limit": 4}"#);
        let ds = || {
            s(&format!(
                "SELECT concat_ws('|', clinic_name, coalesce(now_serving_number::text, '-'), next_numbers::text, \
                        waiting_count, accepting_tokens::text, coalesce(refusal_reason, '-')) \
                 FROM qlink.display_state('{b}', 2)"
            ))
        };
        // Before the day's first token: no session yet, and none is opened.
        assert_eq!(ds(), "Clinic lobby|-|{}|0|true|-");
        assert_eq!(i("SELECT count(*) FROM qlink.sessions"), 0);
        token(&b, "One", "9876500001");
        token(&b, "Two", "9876500002");
        token(&b, "Three", "9876500003");
        staff_token(&b, "Emergency", true);
        assert_eq!(ds(), "Clinic lobby|-|{4,1}|4|false|daily_token_limit");
        act(&b, "NEXT");
        assert_eq!(ds(), "Clinic lobby|4|{1,2}|3|false|daily_token_limit");
        // Only numbers and labels: no patient's name or phone; the rooms' names and labels
        // trail the 0.1 columns.
        assert_eq!(
            s("SELECT string_agg(a, ',' ORDER BY o) FROM unnest((SELECT proargnames FROM pg_proc \
               WHERE proname = 'display_state')) WITH ORDINALITY u(a, o)"),
            "business_id,max_next,room_id,clinic_name,now_serving_number,next_numbers,waiting_count,accepting_tokens,\
             refusal_reason,serving_label,next_labels,rooms,away_labels,display_languages,lines"
        );
        let shown = s(&format!(
            "SELECT concat_ws('|', serving_label, next_labels::text, rooms::text) FROM qlink.display_state('{b}', 2)"
        ));
        let room = first_room(&b);
        let expected = format!(
            r#"4|{{1,2}}|[{{"room_id": "{room}", "room_name": "Room 1", "serving_label": "4", "serving_number": 4}}]"#
        );
        assert_eq!(shown, expected);
        refused_for("SELECT * FROM qlink.display_state(gen_random_uuid())", "P0002", "clinic_not_found");
    }

    /// `progress_percent` and `overtaken_by` of a token, as "progress/overtaken/people_ahead".
    fn progress(t: &str) -> String {
        s(&format!(
            "SELECT concat_ws('/', progress_percent, overtaken_by, coalesce(people_ahead::text, '-')) \
             FROM qlink.token_status('{t}')"
        ))
    }

    #[pg_test]
    fn token_status_progress_is_one_rule() {
        setup();
        let b = clinic("progress");
        let t: Vec<String> = (1..=4).map(|n| token(&b, &format!("P{n}"), &phone(n))).collect();
        // Joined with 3 ahead.
        assert_eq!(progress(&t[3]), "0/0/3");
        act(&b, "NEXT");
        assert_eq!(progress(&t[3]), "0/0/3");
        act(&b, "NEXT");
        assert_eq!(progress(&t[3]), "33/0/2");
        act(&b, "NEXT");
        // 2 of 3 people gone: 66 (rounded down: 100 only when nobody is ahead).
        assert_eq!(progress(&t[3]), "66/0/1");
        act(&b, "NEXT");
        assert_eq!(progress(&t[3]), "100/0/-");
        act(&b, "SKIP");
        assert_eq!(progress(&t[3]), "0/0/-");
        // Nobody ahead on joining: 100 while still nobody is ahead.
        let lone = clinic("progress-lone");
        let first = token(&lone, "First", &phone(10));
        assert_eq!(progress(&first), "100/0/0");
        staff_token(&lone, "Emergency", true);
        assert_eq!(progress(&first), "0/1/1");
    }

    #[pg_test]
    fn overtaken_by_counts_emergencies_and_recalls_after_joining() {
        setup();
        let b = clinic("overtaken");
        // Each step a minute later: "before" and "after" joining are told by time.
        let mut minute = 30;
        let mut tick = || {
            minute += 1;
            at(&format!("2026-03-10 04:{minute}:00+00"));
        };
        let skipped_early = token(&b, "Skipped before", &phone(1));
        tick();
        act_on(&b, "SKIP", &skipped_early);
        tick();
        let waiting = token(&b, "In line", &phone(2));
        tick();
        let me = token(&b, "Me", &phone(3));
        assert_eq!(progress(&me), "0/0/1");
        // Someone ahead of me when I joined, skipped and recalled since: not put ahead of me.
        tick();
        act_on(&b, "SKIP", &waiting);
        tick();
        act_on(&b, "RECALL", &waiting);
        assert_eq!(progress(&me), "0/0/1");
        // Skipped before I joined, recalled since: put ahead of me.
        tick();
        act_on(&b, "RECALL", &skipped_early);
        assert_eq!(progress(&me), "0/1/2");
        // An emergency after I joined.
        tick();
        staff_token(&b, "Emergency", true);
        assert_eq!(progress(&me), "0/2/3");
        // Being served, the recalled patient is still ahead of me (and still counted).
        tick();
        assert_eq!(act(&b, "NEXT").as_deref(), Some(skipped_early.as_str()));
        assert_eq!(progress(&me), "0/2/3");
        // UNDO of that NEXT and of the RECALL: that recall never happened.
        tick();
        act(&b, "UNDO");
        assert_eq!(progress(&me), "0/2/3");
        act(&b, "UNDO");
        assert_eq!(status(&skipped_early), "SKIPPED");
        assert_eq!(progress(&me), "0/1/2");
        // A later patient, behind everyone, was overtaken by nobody.
        tick();
        let later = token(&b, "Later", &phone(4));
        assert_eq!(s(&format!("SELECT overtaken_by::text FROM qlink.token_status('{later}')")), "0");
    }

    #[pg_test]
    fn an_empty_next_is_not_undone() {
        setup();
        let b = clinic("empty-next");
        // Nothing ever happened: an empty NEXT leaves UNDO nothing to undo.
        assert_eq!(act(&b, "NEXT"), None);
        refused_for(&format!("SELECT * FROM qlink.queue_action('{b}', 'UNDO')"), "55000", "nothing_to_undo");
        // UNDO after an empty NEXT reverts the action before it.
        let t = token(&b, "One", "9876500001");
        act(&b, "NEXT");
        at("2026-03-10 04:31:00+00");
        act(&b, "SERVED");
        at("2026-03-10 04:32:00+00");
        assert_eq!(act(&b, "NEXT"), None);
        assert_eq!(s(&format!("SELECT coalesce(undo_action, '-') FROM qlink.queue_summary('{b}')")), "SERVED");
        act(&b, "UNDO");
        assert_eq!(status(&t), "SERVING");
        assert_eq!(i("SELECT count(*) FROM qlink.audit_logs WHERE action = 'NEXT' AND undoable"), 1);
        // The empty NEXTs are still in the trail, as staff actions that cannot be undone.
        assert_eq!(i("SELECT count(*) FROM qlink.audit_logs WHERE action = 'NEXT' AND NOT undoable"), 2);
    }

    #[pg_test]
    fn settings_schema_is_what_update_business_accepts() {
        setup();
        let b = clinic("schema");
        assert_eq!(
            s("SELECT string_agg(concat_ws(':', name, kind, min_value, max_value, default_value, choices), ' ') \
               FROM qlink.settings_schema()"),
            "whatsapp_enabled:boolean:true qr_intake_enabled:boolean:true \
             daily_token_limit:integer:1:10000:200 daily_message_limit:integer:0:100000:300 \
             max_tokens_per_phone_per_day:integer:1:50:1 ip_tokens_per_10min:integer:1:10000:3 \
             kiosk_tokens_per_10min:integer:1:10000:30 eta_min_minutes:integer:1:240:6 eta_max_minutes:integer:1:240:15 \
             stall_warning_minutes:integer:1:240:5 reminder_at_position:integer:0:50:2 \
             default_language:language:\"en\":{en,hi,ta,te,mr,bn,kn,gu} hold_minutes:integer:0:120:20 \
             notify_delays:boolean:false display_languages:languages:[\"en\", \"hi\"]:{en,hi,ta,te,mr,bn,kn,gu}"
        );
        // Each integer setting takes its bounds and refuses one beyond them; the defaults are
        // what a new clinic gets.
        let table = Spi::connect(|c| {
            c.select("SELECT name, min_value, max_value FROM qlink.settings_schema() WHERE kind = 'integer'", None, &[])
                .unwrap()
                .map(|r| {
                    (
                        r.get::<String>(1).unwrap().unwrap(),
                        r.get::<i64>(2).unwrap().unwrap(),
                        r.get::<i64>(3).unwrap().unwrap(),
                    )
                })
                .collect::<Vec<_>>()
        });
        assert_eq!(table.len(), 10);
        for (key, lo, hi) in table {
            // eta_min ≤ eta_max holds at the bounds when both move together.
            let pair = |v: i64| match key.as_str() {
                "eta_min_minutes" | "eta_max_minutes" => {
                    format!("{{\"eta_min_minutes\": {v}, \"eta_max_minutes\": {v}}}")
                }
                _ => format!("{{\"{key}\": {v}}}"),
            };
            for v in [lo, hi] {
                Spi::run(&format!("SELECT qlink.update_business('{b}', settings => '{}')", pair(v))).unwrap();
            }
            refused_for(
                &format!("SELECT qlink.update_business('{b}', settings => '{}')", pair(lo - 1)),
                "22023",
                "invalid_setting",
            );
            refused_for(
                &format!("SELECT qlink.update_business('{b}', settings => '{}')", pair(hi + 1)),
                "22023",
                "invalid_setting",
            );
        }
        clinic("schema-new");
        assert_eq!(
            s("SELECT count(*)::text FROM qlink.settings_schema() s \
               WHERE s.default_value = (SELECT settings -> s.name FROM qlink.businesses WHERE slug = 'schema-new')"),
            "15"
        );
    }

    /// The operator's audit trail, oldest first: "actor|ip|action|target|details".
    fn admin_trail() -> String {
        s("SELECT coalesce(string_agg(concat_ws('|', actor_email, coalesce(host(actor_ip), '-'), action, \
                  target_id, details), E'\\n' ORDER BY id), '') FROM qlink.admin_audit_logs")
    }

    #[pg_test]
    fn admin_writes_are_audited_by_the_extension() {
        setup();
        // The login and its client address (TCP in these tests; none over a Unix socket).
        let me = format!("{}|{}", s("SELECT session_user::text"), s("SELECT coalesce(host(inet_client_addr()), '-')"));
        // From psql, without an actor: the database login is the actor.
        let b = clinic("audited");
        Spi::run(&format!("SELECT qlink.update_business('{b}', status => 'SUSPENDED')")).unwrap();
        Spi::run(&format!("SELECT qlink.update_business('{b}', 'ACTIVE')")).unwrap();
        Spi::run(&format!("SELECT qlink.update_business('{b}', settings => '{{\"daily_token_limit\": 9}}')")).unwrap();
        Spi::run(&format!("SELECT * FROM qlink.reset_session('{b}')")).unwrap();
        assert_eq!(
            admin_trail(),
            format!(
                "{me}|CREATE_CLINIC|{b}|{{\"name\": \"Clinic audited\", \"slug\": \"audited\"}}\n\
                 {me}|SUSPEND_CLINIC|{b}|{{\"status\": \"SUSPENDED\"}}\n\
                 {me}|ACTIVATE_CLINIC|{b}|{{\"status\": \"ACTIVE\"}}\n\
                 {me}|UPDATE_CLINIC|{b}|{{\"settings\": {{\"daily_token_limit\": 9}}}}\n\
                 {me}|RESET_SESSION|{b}|{{\"cancelled\": 0}}"
            )
        );
        // With an actor (the server passes the operator's login and address).
        Spi::run("DELETE FROM qlink.admin_audit_logs").unwrap();
        let c = s("SELECT qlink.create_business('by-op', 'By operator', actor_email => 'op@x.in', \
                   actor_ip => '203.0.113.7')::text");
        Spi::run(&format!(
            "SELECT * FROM qlink.reset_session('{c}', actor_email => 'op@x.in', actor_ip => '203.0.113.7')"
        ))
        .unwrap();
        Spi::run(&format!("SELECT qlink.delete_business('{c}', 'op@x.in', '203.0.113.7')")).unwrap();
        assert_eq!(
            admin_trail(),
            format!(
                "op@x.in|203.0.113.7|CREATE_CLINIC|{c}|{{\"name\": \"By operator\", \"slug\": \"by-op\"}}\n\
                 op@x.in|203.0.113.7|RESET_SESSION|{c}|{{\"cancelled\": 0}}\n\
                 op@x.in|203.0.113.7|DELETE_CLINIC|{c}|{{\"name\": \"By operator\", \"slug\": \"by-op\"}}"
            )
        );
        // Refused: nothing changes and nothing is audited.
        Spi::run("DELETE FROM qlink.admin_audit_logs").unwrap();
        token(&b, "Waiting", "9876500001");
        refused_for(&format!("SELECT qlink.delete_business('{b}', 'op@x.in')"), "55000", "delete_live_queue");
        refused_for(
            &format!("SELECT qlink.update_business('{b}', status => 'GONE')"),
            "22023",
            "invalid_clinic_status",
        );
        refused_for("SELECT qlink.create_business('audited', 'Again')", "55000", "slug_taken");
        act(&b, "NEXT");
        refused_for(&format!("SELECT * FROM qlink.reset_session('{b}')"), "55000", "reset_while_serving");
        assert_eq!(admin_trail(), "");
    }

    // ---- Rooms (SPEC §9) ----

    fn queue(b: &str, name: &str, prefix: &str) -> String {
        s(&format!("SELECT qlink.create_queue('{b}', '{name}', '{prefix}')::text"))
    }

    fn room(b: &str, name: &str, queues: &[&str]) -> String {
        let list = queues.iter().map(|q| format!("'{q}'::uuid")).collect::<Vec<_>>().join(",");
        s(&format!("SELECT qlink.create_room('{b}', '{name}', ARRAY[{list}])::text"))
    }

    fn first_queue(b: &str) -> String {
        s(&format!("SELECT queue_id::text FROM qlink.list_queues('{b}') LIMIT 1"))
    }

    fn first_room(b: &str) -> String {
        s(&format!("SELECT room_id::text FROM qlink.list_rooms('{b}') LIMIT 1"))
    }

    fn token_in(b: &str, name: &str, phone: &str, q: &str) -> String {
        s(&format!("SELECT token_id::text FROM qlink.create_token('{b}', '{name}', '{phone}', queue_id => '{q}')"))
    }

    /// An action in a room; the token it affected.
    fn act_in(b: &str, action: &str, r: &str) -> Option<String> {
        let affected = q::<String>(&format!(
            "SELECT affected_token_id::text FROM qlink.queue_action('{b}', '{action}', room_id => '{r}')"
        ));
        line_length_is_kept(b);
        affected
    }

    fn label(t: &str) -> String {
        s(&format!("SELECT token_label FROM qlink.tokens WHERE id = '{t}'"))
    }

    fn room_of(t: &str) -> String {
        s(&format!("SELECT coalesce(r.name, '-') FROM qlink.tokens t LEFT JOIN qlink.rooms r ON r.id = t.room_id WHERE t.id = '{t}'"))
    }

    /// At most one SERVING token per room, whatever happened.
    fn one_serving_per_room(b: &str) {
        let over = i(&format!(
            "SELECT count(*) FROM (SELECT room_id FROM qlink.tokens WHERE business_id = '{b}' AND status = 'SERVING' \
             GROUP BY room_id, day HAVING count(*) > 1) x"
        ));
        assert_eq!(over, 0, "a room serves two patients");
    }

    #[pg_test]
    fn a_new_clinic_has_one_queue_and_one_room_and_plain_numbers() {
        setup();
        let b = clinic("single");
        assert_eq!(
            s(&format!(
                "SELECT string_agg(name || '|' || prefix || '|' || is_active, ',') FROM qlink.list_queues('{b}')"
            )),
            "General||true"
        );
        assert_eq!(
            s(&format!(
                "SELECT string_agg(name || '|' || array_length(queue_ids, 1), ',') FROM qlink.list_rooms('{b}')"
            )),
            "Room 1|1"
        );
        let t1 = token(&b, "One", "9876500001");
        assert_eq!(label(&t1), "1");
        assert_eq!(act(&b, "NEXT").as_deref(), Some(t1.as_str()));
        assert_eq!(room_of(&t1), "Room 1");
        assert_eq!(
            s(&format!("SELECT concat_ws(',', token_label, queue_name, room_name) FROM qlink.token_status('{t1}')")),
            "1,General,Room 1"
        );
        // One room: the CALLED message reads as in 0.1 (the room is recorded, not named).
        let payload = s("SELECT payload::text FROM qlink.message_logs WHERE message_type = 'CALLED'");
        assert!(payload.contains(r#""room_name": null"#) && payload.contains(r#""token_label": "1""#), "{payload}");
        assert_eq!(
            s("SELECT r.name FROM qlink.message_logs m JOIN qlink.rooms r ON r.id = m.room_id WHERE m.message_type = 'CALLED'"),
            "Room 1"
        );
    }

    #[pg_test]
    fn two_doctors_have_their_own_lines_numbers_and_rooms() {
        setup();
        let b = clinic("two-docs");
        let qa = first_queue(&b);
        Spi::run(&format!("SELECT qlink.update_queue('{b}', '{qa}', name => 'Dr. A', prefix => 'A')")).unwrap();
        let qb = queue(&b, "Dr. B", "B");
        let r1 = first_room(&b);
        let r2 = room(&b, "Room 2", &[&qb]);
        // Leaving the queue out names the choices; nothing is stored.
        let before = fingerprint();
        let msg = err(&format!("SELECT * FROM qlink.create_token('{b}', 'X', '9876500009')")).unwrap();
        assert!(msg.starts_with("22023") && msg.contains("Dr. A and Dr. B"), "{msg}");
        assert_eq!(before, fingerprint());
        refused_for(&format!("SELECT * FROM qlink.create_token('{b}', 'X', '9876500009')"), "22023", "queue_required");

        let a1 = token_in(&b, "A one", "9876500001", &qa);
        let b1 = token_in(&b, "B one", "9876500002", &qb);
        let a2 = token_in(&b, "A two", "9876500003", &qa);
        let b2 = token_in(&b, "B two", "9876500004", &qb);
        assert_eq!([label(&a1), label(&b1), label(&a2), label(&b2)], ["A-1", "B-1", "A-2", "B-2"]);
        // Each line counts its own: A-2 is second in Dr. A's line.
        assert_eq!(i(&format!("SELECT queue_position::bigint FROM qlink.token_status('{a2}')")), 2);
        assert_eq!(i(&format!("SELECT queue_position::bigint FROM qlink.token_status('{b2}')")), 2);
        // The phone limit is the clinic's day, over both lines.
        refused_for(
            &format!("SELECT * FROM qlink.create_token('{b}', 'Again', '9876500001', queue_id => '{qb}')"),
            "54000",
            "phone_limit",
        );

        refused_for(&format!("SELECT * FROM qlink.queue_action('{b}', 'NEXT')"), "22023", "room_required");
        let msg = err(&format!("SELECT * FROM qlink.queue_action('{b}', 'NEXT')")).unwrap();
        assert!(msg.contains("Room 1 and Room 2"), "{msg}");
        assert_eq!(act_in(&b, "NEXT", &r2).as_deref(), Some(b1.as_str()));
        assert_eq!(act_in(&b, "NEXT", &r1).as_deref(), Some(a1.as_str()));
        assert_eq!((room_of(&a1), room_of(&b1)), ("Room 1".to_string(), "Room 2".to_string()));
        assert_eq!(
            s(&format!(
                "SELECT concat_ws(',', token_label, queue_name, room_name, status) FROM qlink.token_status('{b1}')"
            )),
            "B-1,Dr. B,Room 2,SERVING"
        );
        assert_eq!(s(&format!("SELECT now_serving_label FROM qlink.token_status('{b2}')")), "B-1");
        assert_eq!(
            s(&format!(
                "SELECT concat_ws(',', now_serving_number, serving_label, room_name, waiting_count) \
                 FROM qlink.queue_action('{b}', 'NEXT', room_id => '{r2}')"
            )),
            "2,B-2,Room 2,0"
        );
        assert_eq!(status(&b1), "SERVED");
        let called =
            s("SELECT string_agg(payload ->> 'token_label' || '>' || (payload ->> 'room_name'), ',' ORDER BY id) \
                        FROM qlink.message_logs WHERE message_type = 'CALLED'");
        assert_eq!(called, "B-1>Room 2,A-1>Room 1,B-2>Room 2");
        // The dashboard of a room sees its lines; the display every room.
        assert_eq!(
            s(&format!(
                "SELECT string_agg(token_label, ',' ORDER BY token_label) FROM qlink.queue_snapshot('{b}', '{r1}')"
            )),
            "A-1,A-2"
        );
        assert_eq!(
            s(&format!(
                "SELECT concat_ws(',', serving_label, room_name, waiting_count, undo_action, undo_token_label) \
                 FROM qlink.queue_summary('{b}', '{r2}')"
            )),
            "B-2,Room 2,0,NEXT,B-2"
        );
        let rooms = s(&format!("SELECT rooms::text FROM qlink.display_state('{b}')"));
        assert!(rooms.contains(r#""room_name": "Room 1", "serving_label": "A-1""#), "{rooms}");
        assert!(rooms.contains(r#""room_name": "Room 2", "serving_label": "B-2""#), "{rooms}");
        assert_eq!(s(&format!("SELECT array_to_string(next_labels, ',') FROM qlink.display_state('{b}')")), "A-2");
        one_serving_per_room(&b);
        // Room 2's UNDO reverts only Room 2's NEXT.
        act_in(&b, "UNDO", &r2);
        assert_eq!((status(&b1), status(&b2), status(&a1)), ("SERVING".into(), "WAITING".into(), "SERVING".into()));
    }

    #[pg_test]
    fn rooms_sharing_a_line_call_different_patients_and_divide_its_eta() {
        setup();
        let b = clinic("dental");
        let q = first_queue(&b);
        let r1 = first_room(&b);
        let r2 = room(&b, "Chair 2", &[&q]);
        let ts: Vec<String> = (1..=5).map(|n| token(&b, &format!("P{n}"), &phone(n))).collect();
        // Five people ahead of a new patient, the clinic's 6–15 min each, two chairs: 14–49 min
        // (the 80% range of the calibrated ETA, qlink.eta_interval(5, 2, '{}', 6, 15)).
        assert_eq!(
            s(&format!(
                "SELECT concat_ws(',', eta_min_minutes, eta_max_minutes) FROM qlink.create_token('{b}', 'P6', '{}')",
                phone(6)
            )),
            "14,49"
        );
        assert_eq!(act_in(&b, "NEXT", &r1).as_deref(), Some(ts[0].as_str()));
        assert_eq!(act_in(&b, "NEXT", &r2).as_deref(), Some(ts[1].as_str()));
        one_serving_per_room(&b);
        // P3 now has two being served and nobody waiting ahead: 2 people, 2 chairs.
        assert_eq!(
            s(&format!("SELECT concat_ws(',', queue_position, people_ahead, eta_min_minutes, eta_max_minutes) FROM qlink.token_status('{}')", ts[2])),
            "1,2,4,22"
        );
        at("2026-03-10 04:40:00+00");
        assert_eq!(act_in(&b, "NEXT", &r1).as_deref(), Some(ts[2].as_str()));
        assert_eq!(status(&ts[0]), "SERVED");
        assert_eq!(status(&ts[1]), "SERVING");
        // The line's pointer is the latest call; when Chair 1's patient leaves, Chair 2's shows.
        assert_eq!(i(&format!("SELECT now_serving_number::bigint FROM qlink.sessions WHERE business_id = '{b}'")), 3);
        act_in(&b, "SERVED", &r1);
        assert_eq!(i(&format!("SELECT now_serving_number::bigint FROM qlink.sessions WHERE business_id = '{b}'")), 2);
        // Per-room UNDO: Chair 1's SERVED, then its NEXT; Chair 2 keeps its patient.
        act_in(&b, "UNDO", &r1);
        assert_eq!(status(&ts[2]), "SERVING");
        act_in(&b, "UNDO", &r1);
        assert_eq!(
            (status(&ts[0]), status(&ts[2]), status(&ts[1])),
            ("SERVING".into(), "WAITING".into(), "SERVING".into())
        );
        assert_eq!(i(&format!("SELECT now_serving_number::bigint FROM qlink.sessions WHERE business_id = '{b}'")), 2);
        one_serving_per_room(&b);
        // A chair cannot act on the other chair's patient.
        refused_for(
            &format!("SELECT * FROM qlink.queue_action('{b}', 'SERVED', '{}', room_id => '{r1}')", ts[1]),
            "55000",
            "not_the_serving_patient",
        );
        // Chair 2's UNDO conflicts when a later action elsewhere changed what it would restore.
        act_in(&b, "NEXT", &r2); // P2 served, P3 called to Chair 2
        Spi::run(&format!("SELECT * FROM qlink.queue_action('{b}', 'SKIP', '{}', room_id => '{r1}')", ts[3])).unwrap();
        Spi::run(&format!("SELECT * FROM qlink.queue_action('{b}', 'RECALL', '{}', room_id => '{r2}')", ts[3]))
            .unwrap();
        refused_for(
            &format!("SELECT * FROM qlink.queue_action('{b}', 'UNDO', room_id => '{r1}')"),
            "55000",
            "undo_tokens_changed",
        );
    }

    #[pg_test]
    fn transfer_moves_a_patient_to_the_end_of_another_line_keeping_the_label() {
        setup();
        let b = clinic("lab");
        let qa = first_queue(&b);
        Spi::run(&format!("SELECT qlink.update_queue('{b}', '{qa}', prefix => 'A')")).unwrap();
        let ql = queue(&b, "Lab", "L");
        let r1 = first_room(&b);
        let rl = room(&b, "Lab room", &[&ql]);
        let a1 = token_in(&b, "Asha", "9876500001", &qa);
        let l1 = token_in(&b, "Lab one", "9876500002", &ql);
        let a2 = token_in(&b, "Ravi", "9876500003", &qa);
        act_in(&b, "NEXT", &r1);
        let before = state_all(&b);
        // The doctor sends Asha to the lab: she leaves Room 1 and joins the lab's line last.
        let out = s(&format!(
            "SELECT concat_ws(',', token_label, serving_token_id IS NULL, room_name) \
             FROM qlink.queue_action('{b}', 'TRANSFER', '{a1}', target_queue_id => '{ql}')"
        ));
        assert_eq!(out, "A-1,t,Room 1");
        line_length_is_kept(&b);
        assert_eq!(status(&a1), "WAITING");
        assert_eq!(label(&a1), "A-1");
        assert_eq!(
            s(&format!("SELECT concat_ws(',', queue_name, queue_position) FROM qlink.token_status('{a1}')")),
            "Lab,2"
        );
        assert_eq!(act_in(&b, "NEXT", &rl).as_deref(), Some(l1.as_str()));
        assert_eq!(act_in(&b, "NEXT", &rl).as_deref(), Some(a1.as_str()));
        assert_eq!(room_of(&a1), "Lab room");
        // Undo the lab's two calls, then Room 1's transfer: exactly as before.
        act_in(&b, "UNDO", &rl);
        act_in(&b, "UNDO", &rl);
        act_in(&b, "UNDO", &r1);
        assert_eq!(state_all(&b), before);
        // Refusals change nothing.
        refused_for(
            &format!("SELECT * FROM qlink.queue_action('{b}', 'TRANSFER', '{a2}')"),
            "22023",
            "transfer_needs_queue",
        );
        refused_for(
            &format!("SELECT * FROM qlink.queue_action('{b}', 'TRANSFER', '{a2}', target_queue_id => '{qa}')"),
            "55000",
            "transfer_same_queue",
        );
        refused_for(
            &format!(
                "SELECT * FROM qlink.queue_action('{b}', 'TRANSFER', '{a2}', target_queue_id => gen_random_uuid())"
            ),
            "P0002",
            "queue_not_found",
        );
        refused_for(
            &format!("SELECT * FROM qlink.queue_action('{b}', 'NEXT', room_id => '{r1}', target_queue_id => '{ql}')"),
            "22023",
            "action_takes_no_queue",
        );
        act_in(&b, "NEXT", &r1);
        act_in(&b, "NEXT", &r1);
        assert_eq!(status(&a1), "SERVED");
        refused_for(
            &format!("SELECT * FROM qlink.queue_action('{b}', 'TRANSFER', '{a1}', target_queue_id => '{ql}')"),
            "55000",
            "not_transferable",
        );
        // A priority patient transferred goes to the front of the other line.
        let l2 = token_in(&b, "Lab two", "9876500004", &ql);
        let a3 = s(&format!(
            "SELECT token_id::text FROM qlink.create_token('{b}', 'Urgent', NULL, 'STAFF', NULL, true, queue_id => '{qa}')"
        ));
        Spi::run(&format!("SELECT * FROM qlink.queue_action('{b}', 'TRANSFER', '{a3}', target_queue_id => '{ql}')"))
            .unwrap();
        assert_eq!(i(&format!("SELECT queue_position::bigint FROM qlink.token_status('{a3}')")), 1);
        assert_eq!(i(&format!("SELECT queue_position::bigint FROM qlink.token_status('{l1}')")), 2);
        assert_eq!(i(&format!("SELECT queue_position::bigint FROM qlink.token_status('{l2}')")), 3);
    }

    /// Every token's line, room and state, for comparing before and after.
    fn state_all(b: &str) -> String {
        s(&format!(
            "SELECT concat_ws('|', \
               (SELECT string_agg(concat_ws(',', queue_id, status, closed_at, now_serving_number, waiting_count, \
                                            service_p25_minutes), ';' ORDER BY queue_id) \
                FROM qlink.sessions WHERE business_id = '{b}'), \
               (SELECT string_agg(concat_ws(',', token_label, status, previous_status, is_priority, called_at, \
                                            served_at, cancelled_at, session_id, queue_id, room_id, line_seq, line_at), \
                                  ';' ORDER BY token_label) \
                FROM qlink.tokens WHERE business_id = '{b}'))"
        ))
    }

    #[pg_test]
    fn queue_and_room_setup_refuses_bad_input_and_changes_nothing() {
        setup();
        let b = clinic("setup");
        let other = clinic("other");
        let q = first_queue(&b);
        let r = first_room(&b);
        let their_q = first_queue(&other);
        let their_r = first_room(&other);
        for bad in ["a", "ABCD", "A1", "É"] {
            refused_for(&format!("SELECT qlink.create_queue('{b}', 'X', '{bad}')"), "22023", "invalid_prefix");
        }
        refused_for(&format!("SELECT qlink.create_queue('{b}', '', 'B')"), "22023", "invalid_queue_name");
        refused_for(&format!("SELECT qlink.create_queue('{b}', 'Second general', '')"), "55000", "prefix_taken");
        let qb = queue(&b, "Dr. B", "B");
        refused_for(&format!("SELECT qlink.update_queue('{b}', '{q}', prefix => 'B')"), "55000", "prefix_taken");
        refused_for(
            &format!("SELECT qlink.create_room('{b}', 'Empty', ARRAY[]::uuid[])"),
            "22023",
            "room_without_queues",
        );
        refused_for(
            &format!("SELECT qlink.create_room('{b}', 'Theirs', ARRAY['{their_q}'::uuid])"),
            "P0002",
            "queue_not_found",
        );
        refused_for(
            &format!("SELECT qlink.create_room('{b}', 'Room 1', ARRAY['{q}'::uuid])"),
            "55000",
            "room_name_taken",
        );
        refused_for(&format!("SELECT qlink.create_room('{b}', '', ARRAY['{q}'::uuid])"), "22023", "invalid_room_name");
        refused_for(
            &format!("SELECT qlink.update_room('{b}', '{r}', queue_ids => ARRAY[]::uuid[])"),
            "22023",
            "room_without_queues",
        );
        refused_for(
            &format!("SELECT qlink.update_room('{b}', '{their_r}', name => 'Mine')"),
            "P0002",
            "room_not_found",
        );
        refused_for(
            &format!("SELECT qlink.update_queue('{b}', '{their_q}', name => 'Mine')"),
            "P0002",
            "queue_not_found",
        );
        // Other clinics' ids never reach their data.
        refused_for(
            &format!("SELECT * FROM qlink.queue_action('{b}', 'NEXT', room_id => '{their_r}')"),
            "P0002",
            "room_not_found",
        );
        refused_for(&format!("SELECT * FROM qlink.queue_snapshot('{b}', '{their_r}')"), "P0002", "room_not_found");
        refused_for(
            &format!("SELECT * FROM qlink.create_token('{b}', 'X', '9876500001', queue_id => '{their_q}')"),
            "P0002",
            "queue_not_found",
        );
        // The last active queue stays; a room serving someone stays active and keeps that line.
        Spi::run(&format!("SELECT qlink.update_queue('{b}', '{qb}', is_active => false)")).unwrap();
        refused_for(
            &format!("SELECT qlink.update_queue('{b}', '{q}', is_active => false)"),
            "55000",
            "last_active_queue",
        );
        refused_for(
            &format!("SELECT * FROM qlink.create_token('{b}', 'X', '9876500001', queue_id => '{qb}')"),
            "55000",
            "queue_inactive",
        );
        // A line no active room calls takes nobody; the last active room stays.
        let qc = queue(&b, "Dr. C", "C");
        refused_for(
            &format!("SELECT * FROM qlink.create_token('{b}', 'X', '9876500001', queue_id => '{qc}')"),
            "55000",
            "queue_without_room",
        );
        assert_eq!(
            s(&format!("SELECT refusal_reason FROM qlink.list_queues('{b}') WHERE queue_id = '{qc}'")),
            "queue_without_room"
        );
        refused_for(
            &format!("SELECT qlink.update_room('{b}', '{r}', is_active => false)"),
            "55000",
            "last_active_room",
        );
        Spi::run(&format!("SELECT qlink.update_queue('{b}', '{qc}', is_active => false)")).unwrap();
        // One active queue again: a call without a queue gets it.
        let t = token(&b, "One", "9876500001");
        Spi::run(&format!("SELECT qlink.update_room('{b}', '{r}', queue_ids => ARRAY['{q}'::uuid, '{qb}'::uuid])"))
            .unwrap();
        act(&b, "NEXT");
        assert_eq!(status(&t), "SERVING");
        refused_for(&format!("SELECT qlink.update_room('{b}', '{r}', is_active => false)"), "55000", "room_serving");
        refused_for(
            &format!("SELECT qlink.update_room('{b}', '{r}', queue_ids => ARRAY['{qb}'::uuid])"),
            "55000",
            "room_serving",
        );
        // Every change is in the operator's trail.
        assert_eq!(
            s("SELECT string_agg(action, ',' ORDER BY id) FROM qlink.admin_audit_logs WHERE action LIKE '%QUEUE' OR action LIKE '%ROOM'"),
            "CREATE_QUEUE,UPDATE_QUEUE,CREATE_QUEUE,UPDATE_QUEUE,UPDATE_ROOM"
        );
    }

    #[pg_test]
    fn owners_manage_their_clinics_logins_and_some_settings() {
        setup();
        let b = clinic("owned");
        let other = clinic("not-owned");
        let r1 = first_room(&b);
        let r2 = room(&b, "Room 2", &[&first_queue(&b)]);
        let hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";
        refused_for(&format!("SELECT qlink.create_staff_user('o@x.in', '{hash}', 'OWNER')"), "22023", "invalid_role");
        let owner = s(&format!("SELECT qlink.create_staff_user('o@x.in', '{hash}', 'OWNER', '{b}')::text"));
        let desk = s(&format!("SELECT qlink.create_staff_user('d@x.in', '{hash}', 'STAFF', '{b}', '{r2}')::text"));
        let theirs = s(&format!("SELECT qlink.create_staff_user('t@x.in', '{hash}', 'STAFF', '{other}')::text"));
        refused_for(
            &format!("SELECT qlink.create_staff_user('e@x.in', '{hash}', 'STAFF', '{b}', '{}')", first_room(&other)),
            "P0002",
            "room_not_found",
        );
        assert_eq!(
            s(&format!("SELECT string_agg(concat_ws(',', email, role, coalesce(room_name, '-')), ';' ORDER BY email) FROM qlink.clinic_staff('{b}')")),
            "d@x.in,STAFF,Room 2;o@x.in,OWNER,-"
        );
        // The pinned login works in its room, by default and never in another.
        let t = token(&b, "One", "9876500001");
        Spi::run(&format!("SELECT * FROM qlink.queue_action('{b}', 'NEXT', staff_id => '{desk}')")).unwrap();
        assert_eq!(room_of(&t), "Room 2");
        refused_for(
            &format!("SELECT * FROM qlink.queue_action('{b}', 'NEXT', staff_id => '{desk}', room_id => '{r1}')"),
            "42501",
            "staff_pinned_elsewhere",
        );
        // Disabling ends the login's sessions; another clinic's login is not found.
        Spi::run(&format!(
            "SELECT qlink.create_login_session(decode(repeat('ab', 32), 'hex'), '{desk}', interval '1 hour')"
        ))
        .unwrap();
        assert_eq!(i(&format!("SELECT qlink.update_staff_user('{b}', '{desk}', is_active => false)")), 1);
        assert_eq!(i("SELECT count(*) FROM qlink.login_session_user(decode(repeat('ab', 32), 'hex'))"), 0);
        refused_for(
            &format!("SELECT qlink.update_staff_user('{b}', '{theirs}', is_active => false)"),
            "P0002",
            "user_not_found",
        );
        refused_for(&format!("SELECT qlink.end_staff_sessions('{b}', '{theirs}')"), "P0002", "user_not_found");
        refused_for(
            &format!("SELECT qlink.reset_staff_password('{b}', '{theirs}', '{hash}')"),
            "P0002",
            "user_not_found",
        );
        Spi::run(&format!("SELECT qlink.update_staff_user('{b}', '{desk}', unpin => true)")).unwrap();
        assert_eq!(s(&format!("SELECT coalesce(room_id::text, '-') FROM qlink.staff_users WHERE id = '{desk}'")), "-");
        let _ = owner;
        // Settings: how the clinic works, not the operator's limits.
        refused_for(
            &format!(r#"SELECT qlink.update_clinic_settings('{b}', '{{"daily_token_limit": 9999}}')"#),
            "42501",
            "owner_setting_forbidden",
        );
        let after = s(&format!(
            r#"SELECT (qlink.update_clinic_settings('{b}', '{{"eta_min_minutes": 3}}') ->> 'eta_min_minutes')"#
        ));
        assert_eq!(after, "3");
        assert_eq!(
            s("SELECT string_agg(name, ',' ORDER BY name) FROM qlink.settings_schema() WHERE owner_editable"),
            "default_language,display_languages,eta_max_minutes,eta_min_minutes,hold_minutes,notify_delays,qr_intake_enabled,reminder_at_position,stall_warning_minutes,whatsapp_enabled"
        );
    }

    #[pg_test]
    fn the_clinics_day_spans_its_lines_limits_close_and_reset() {
        setup();
        let b = clinic_with("day-wide", r#"{"daily_token_limit": 3, "daily_message_limit": 2}"#);
        let qa = first_queue(&b);
        let qb = queue(&b, "Dr. B", "B");
        // One room calling from both lines: a call without a room still finds it.
        let r = first_room(&b);
        Spi::run(&format!("SELECT qlink.update_room('{b}', '{r}', queue_ids => ARRAY['{qa}'::uuid, '{qb}'::uuid])"))
            .unwrap();
        let a1 = token_in(&b, "A one", "9876500001", &qa);
        at("2026-03-10 04:31:00+00");
        let b1 = token_in(&b, "B one", "9876500002", &qb);
        at("2026-03-10 04:32:00+00");
        token_in(&b, "A two", "9876500003", &qa);
        // The daily token limit and the message budget are the clinic's, over both lines.
        refused_for(
            &format!("SELECT * FROM qlink.create_token('{b}', 'B two', '9876500004', queue_id => '{qb}')"),
            "54000",
            "daily_token_limit",
        );
        assert_eq!(
            s(&format!("SELECT string_agg(status || ':' || coalesce(reason, '-'), ',' ORDER BY id) FROM qlink.message_logs WHERE business_id = '{b}'")),
            "PENDING:-,PENDING:-,SKIPPED:daily_message_limit"
        );
        let answer = s("SELECT concat_ws(',', accepting_tokens, refusal_reason, queue_count) FROM qlink.clinic_by_slug('day-wide')");
        assert_eq!(answer, "f,daily_token_limit,2");
        // Earliest arrival first over the room's two lines.
        assert_eq!(act(&b, "NEXT").as_deref(), Some(a1.as_str()));
        assert_eq!(act(&b, "NEXT").as_deref(), Some(b1.as_str()));
        // Close one line, then the whole clinic; UNDO reopens it in one step.
        assert_eq!(
            s(&format!("SELECT string_agg(status, ',') FROM qlink.close_session('{b}', queue_id => '{qb}')")),
            "CLOSED"
        );
        assert_eq!(s("SELECT session_status FROM qlink.clinic_by_slug('day-wide')"), "OPEN");
        assert_eq!(s(&format!("SELECT string_agg(status, ',') FROM qlink.close_session('{b}')")), "CLOSED,CLOSED");
        assert_eq!(s("SELECT session_status FROM qlink.clinic_by_slug('day-wide')"), "CLOSED");
        act(&b, "UNDO");
        assert_eq!(
            s(&format!("SELECT string_agg(s.status, ',' ORDER BY q.sort_order) FROM qlink.sessions s JOIN qlink.queues q ON q.id = s.queue_id WHERE s.business_id = '{b}'")),
            "OPEN,CLOSED"
        );
        // Reset is refused while anyone in scope is served; per line, it empties that line only.
        refused_for(&format!("SELECT * FROM qlink.reset_session('{b}')"), "55000", "reset_while_serving");
        act(&b, "SERVED");
        assert_eq!(
            s(&format!(
                "SELECT string_agg(cancelled_count::text, ',') FROM qlink.reset_session('{b}', queue_id => '{qa}')"
            )),
            "1"
        );
        line_length_is_kept(&b);
        assert_eq!(
            s(&format!(
                "SELECT concat_ws(',', waiting_count, served_count, cancelled_count) FROM qlink.queue_summary('{b}')"
            )),
            "0,2,1"
        );
    }

    #[pg_test]
    fn an_idle_room_cannot_skip_or_move_another_rooms_patient() {
        setup();
        let b = clinic("idle-room");
        let q = first_queue(&b);
        let lab = queue(&b, "Lab", "L");
        let r1 = first_room(&b);
        let r2 = room(&b, "Chair 2", &[&q]);
        room(&b, "Lab desk", &[&lab]);
        let t1 = token_in(&b, "X", "9876599001", &q);
        token_in(&b, "Z", "9876599002", &q);
        act_in(&b, "NEXT", &r1);
        refused_for(
            &format!("SELECT * FROM qlink.queue_action('{b}', 'SKIP', '{t1}', room_id => '{r2}')"),
            "55000",
            "not_the_serving_patient",
        );
        refused_for(
            &format!("SELECT * FROM qlink.queue_action('{b}', 'TRANSFER', '{t1}', room_id => '{r2}', target_queue_id => '{lab}')"),
            "55000",
            "not_the_serving_patient",
        );
        // Without a room, the patient's own room acts.
        Spi::run(&format!("SELECT * FROM qlink.queue_action('{b}', 'SKIP', '{t1}')")).unwrap();
        assert_eq!(status(&t1), "SKIPPED");
        act_in(&b, "UNDO", &r1);
        assert_eq!(status(&t1), "SERVING");
    }

    // ---- WhatsApp conversations (SPEC §11) ----

    /// The installation's number (any id that is not a clinic's own sender).
    const HOUSE: &str = "100200300";

    /// One message from a patient: (handled, command, outcome).
    fn inbound(
        number: &str,
        from: &str,
        text: Option<&str>,
        button: Option<&str>,
        wamid: &str,
    ) -> (bool, String, String) {
        let row = Spi::get_three_with_args::<bool, String, String>(
            "SELECT handled, command, outcome FROM qlink.handle_inbound($1, $2, $3, $4, $5, \
             NULL, 'Asha Rao')",
            &[number.into(), from.into(), text.into(), button.into(), wamid.into()],
        )
        .unwrap();
        (row.0.unwrap(), row.1.unwrap(), row.2.unwrap())
    }

    fn outcome(number: &str, from: &str, text: &str, wamid: &str) -> String {
        inbound(number, from, Some(text), None, wamid).2
    }

    /// The kind (and refusal reason) of the latest reply to `phone`.
    fn last_reply(phone: &str) -> (String, Option<String>) {
        let row = Spi::get_two_with_args::<String, String>(
            "SELECT payload ->> 'kind', payload ->> 'reason' FROM qlink.message_logs \
             WHERE message_type = 'REPLY' AND to_phone = $1 ORDER BY id DESC LIMIT 1",
            &[phone.into()],
        )
        .unwrap();
        (row.0.expect("a reply"), row.1)
    }

    fn replies(phone: &str) -> i64 {
        i(&format!("SELECT count(*) FROM qlink.message_logs WHERE message_type = 'REPLY' AND to_phone = '{phone}'"))
    }

    #[pg_test]
    fn join_by_whatsapp_gives_one_token_for_the_verified_number_and_replies() {
        setup();
        let b = clinic("sunrise");
        assert_eq!(
            inbound(HOUSE, "919876500001", Some("JOIN sunrise"), None, "wamid.A"),
            (true, "JOIN".into(), "joined".into())
        );
        // Meta delivers the same message again: acted on once.
        assert_eq!(
            inbound(HOUSE, "919876500001", Some("JOIN sunrise"), None, "wamid.A"),
            (false, "JOIN".into(), "joined".into())
        );
        assert_eq!(
            i(&format!(
                "SELECT count(*) FROM qlink.tokens WHERE business_id = '{b}' AND source = 'WHATSAPP' \
                        AND patient_phone = '+919876500001' AND patient_name = 'Asha Rao'"
            )),
            1
        );
        // The reply replaces the WELCOME template, and carries what the patient needs.
        assert_eq!(i("SELECT count(*) FROM qlink.message_logs WHERE message_type = 'WELCOME'"), 0);
        assert_eq!(replies("+919876500001"), 1);
        assert_eq!(
            s("SELECT concat_ws(',', payload->>'kind', payload->>'token_label', payload->>'position', \
               payload->>'clinic_name', payload ? 'token_id') FROM qlink.message_logs WHERE message_type = 'REPLY'"),
            "joined,1,1,Clinic sunrise,t"
        );
        // A second JOIN the same day is the phone limit, said in the reply; no token.
        at("2026-03-10 04:31:00+00");
        assert_eq!(outcome(HOUSE, "919876500001", "join SUNRISE", "wamid.B"), "refused");
        assert_eq!(last_reply("+919876500001"), ("refused".into(), Some("phone_limit".into())));
        assert_eq!(i("SELECT count(*) FROM qlink.tokens"), 1);
        // Hindi: the same command, a Hindi reply.
        assert_eq!(outcome(HOUSE, "919876500002", "जुड़ें sunrise", "wamid.C"), "joined");
        assert_eq!(s("SELECT language FROM qlink.tokens WHERE patient_phone = '+919876500002'"), "hi");
        // Reports count them by source; the replies are not billed messages.
        assert_eq!(
            s(&format!("SELECT tokens || ',' || tokens_whatsapp || ',' || tokens_qr FROM qlink.clinic_report('{b}', '2026-03-10', '2026-03-10')")),
            "2,2,0"
        );
        assert_eq!(
            s("SELECT language FROM qlink.message_logs WHERE to_phone = '+919876500002' ORDER BY id DESC LIMIT 1"),
            "hi"
        );
    }

    #[pg_test]
    fn a_join_that_cannot_be_served_says_why_and_creates_nothing() {
        setup();
        let b = clinic("sunrise");
        let closed = clinic("closed");
        Spi::run(&format!("SELECT * FROM qlink.close_session('{closed}')")).unwrap();
        let suspended = clinic("paused");
        Spi::run(&format!("SELECT qlink.update_business('{suspended}', status => 'SUSPENDED')")).unwrap();
        let tokens = || i("SELECT count(*) FROM qlink.tokens");
        let before = tokens();
        for (n, (text, reason)) in [
            ("JOIN nowhere", "unknown_clinic"),
            ("JOIN", "unknown_clinic"),
            ("JOIN closed", "session_closed"),
            ("JOIN paused", "clinic_suspended"),
            ("JOIN sunrise/ZZ", "queue_not_found"),
        ]
        .into_iter()
        .enumerate()
        {
            assert_eq!(outcome(HOUSE, "919876500010", text, &format!("wamid.R{n}")), "refused", "{text}");
            assert_eq!(last_reply("+919876500010"), ("refused".into(), Some(reason.into())), "{text}");
        }
        // A business-scoped user id is not a phone: no token without a number.
        assert_eq!(outcome(HOUSE, "IN.abcdef0123456789", "JOIN sunrise", "wamid.R9"), "refused");
        assert_eq!(last_reply("IN.abcdef0123456789").1.as_deref(), Some("no_phone"));
        assert_eq!(tokens(), before);
        let _ = b;
    }

    #[pg_test]
    fn status_cancel_stop_start_and_help_do_what_they_say() {
        setup();
        let b = clinic("sunrise");
        let p = "+919876500020";
        assert_eq!(outcome(HOUSE, "919876500020", "JOIN sunrise", "w1"), "joined");
        let t = s(&format!("SELECT id::text FROM qlink.tokens WHERE patient_phone = '{p}'"));
        assert_eq!(outcome(HOUSE, "919876500020", "Status?", "w2"), "status");
        assert_eq!(
            s("SELECT concat_ws(',', payload->>'status', payload->>'position') FROM qlink.message_logs \
               WHERE message_type = 'REPLY' ORDER BY id DESC LIMIT 1"),
            "WAITING,1"
        );
        assert_eq!(outcome(HOUSE, "919876500020", "HELP", "w3"), "help");
        // Anything else gets help once an hour, then silence.
        assert_eq!(outcome(HOUSE, "919876500020", "hello?", "w4"), "quiet");
        at("2026-03-10 05:40:00+00");
        assert_eq!(outcome(HOUSE, "919876500020", "hello?", "w5"), "help");
        // STOP: recorded for this clinic; then only START and HELP act, silently otherwise.
        assert_eq!(inbound(HOUSE, "919876500020", None, Some("STOP"), "w6").2, "stopped");
        assert_eq!(i(&format!("SELECT count(*) FROM qlink.opt_outs WHERE business_id = '{b}' AND phone = '{p}'")), 1);
        let replies_before = replies(p);
        assert_eq!(outcome(HOUSE, "919876500020", "STATUS", "w7"), "opted_out");
        assert_eq!(outcome(HOUSE, "919876500020", "CANCEL", "w8"), "opted_out");
        assert_eq!(replies(p), replies_before);
        assert_eq!(status(&t), "WAITING");
        // Every later message of the clinic to that phone is skipped.
        act(&b, "NEXT");
        assert_eq!(
            s(&format!("SELECT status || ':' || reason FROM qlink.message_logs WHERE message_type = 'CALLED' AND to_phone = '{p}'")),
            "SKIPPED:opted_out"
        );
        assert_eq!(outcome(HOUSE, "919876500020", "START", "w9"), "started");
        assert_eq!(i("SELECT count(*) FROM qlink.opt_outs"), 0);
        // CANCEL of a token being served is refused in the reply; a waiting one is cancelled.
        assert_eq!(inbound(HOUSE, "919876500020", None, Some("CANCEL"), "w10").2, "not_cancellable");
        assert_eq!(outcome(HOUSE, "919876500021", "JOIN sunrise", "w11"), "joined");
        assert_eq!(outcome(HOUSE, "919876500021", "रद्द", "w12"), "cancelled");
        assert_eq!(s("SELECT status FROM qlink.tokens WHERE patient_phone = '+919876500021'"), "CANCELLED");
        assert_eq!(outcome(HOUSE, "919876500021", "LATE", "w13"), "hold_refused");
        assert_eq!(last_reply("+919876500021"), ("hold_refused".to_string(), Some("not_holdable".to_string())));
        assert_eq!(outcome(HOUSE, "919876500099", "STATUS", "w14"), "no_token");
    }

    #[pg_test]
    fn a_stop_drops_the_messages_already_queued_for_that_clinic() {
        setup();
        let b = clinic("sunrise");
        token(&b, "Ravi", &phone(30));
        let p = s("SELECT patient_phone FROM qlink.tokens LIMIT 1");
        assert_eq!(outcome(HOUSE, p.trim_start_matches('+'), "STOP", "w1"), "stopped");
        let claimed = i("SELECT count(*) FROM qlink.claim_messages(10, '30 s') WHERE message_type = 'WELCOME'");
        assert_eq!(claimed, 0);
        assert_eq!(
            s("SELECT status || ':' || reason FROM qlink.message_logs WHERE message_type = 'WELCOME'"),
            "SKIPPED:opted_out"
        );
        // The STOP's own confirmation still goes.
        assert_eq!(i("SELECT count(*) FROM qlink.message_logs WHERE message_type = 'REPLY' AND status = 'PENDING'"), 1);
    }

    #[pg_test]
    fn a_message_to_one_clinics_number_never_acts_on_another_clinic() {
        setup();
        let a = clinic("alpha");
        let b = clinic("beta");
        Spi::run(&format!("SELECT qlink.set_clinic_sender('{a}', '5550001', '+919800000001', '77770001')")).unwrap();
        // beta uses the installation's number. Its slug on alpha's number is unknown.
        assert_eq!(outcome("5550001", "919876500040", "JOIN beta", "t1"), "refused");
        assert_eq!(last_reply("+919876500040").1.as_deref(), Some("unknown_clinic"));
        // And alpha's slug on the installation's number too.
        assert_eq!(outcome(HOUSE, "919876500040", "JOIN alpha", "t2"), "refused");
        assert_eq!(outcome(HOUSE, "919876500040", "JOIN beta", "t3"), "joined");
        // A STATUS, CANCEL or STOP to alpha's number does not see the beta token.
        assert_eq!(outcome("5550001", "919876500040", "STATUS", "t4"), "no_token");
        assert_eq!(outcome("5550001", "919876500040", "CANCEL", "t5"), "no_token");
        assert_eq!(outcome("5550001", "919876500040", "STOP", "t6"), "stopped");
        assert_eq!(s("SELECT string_agg(business_id::text, ',') FROM qlink.opt_outs"), a);
        assert_eq!(s("SELECT status FROM qlink.tokens WHERE patient_phone = '+919876500040'"), "WAITING");
        // Replies leave from the number written to.
        assert_eq!(
            s("SELECT coalesce(sender_phone_number_id, '-') FROM qlink.message_logs WHERE message_type = 'REPLY' ORDER BY id DESC LIMIT 1"),
            "5550001"
        );
        assert_eq!(outcome("5550001", "919876500041", "JOIN alpha", "t7"), "joined");
        assert_eq!(i(&format!("SELECT count(*) FROM qlink.tokens WHERE business_id = '{a}'")), 1);
        assert_eq!(i(&format!("SELECT count(*) FROM qlink.tokens WHERE business_id = '{b}'")), 1);
    }

    #[pg_test]
    fn any_text_is_stored_short_and_whole() {
        setup();
        clinic("sunrise");
        let long = "مرحبا 😀 ".repeat(500);
        inbound(HOUSE, "919876500050", Some(&long), None, "x1");
        inbound(HOUSE, "919876500050", Some("a\u{0}b"), Some(&"P".repeat(400)), "x2");
        assert_eq!(i("SELECT char_length(body) FROM qlink.inbound_messages WHERE wamid = 'x1'"), 1000);
        assert_eq!(s("SELECT body FROM qlink.inbound_messages WHERE wamid = 'x2'"), "ab");
        assert_eq!(i("SELECT char_length(button_payload) FROM qlink.inbound_messages WHERE wamid = 'x2'"), 256);
        assert_code("SELECT * FROM qlink.handle_inbound('1', '2', 'x', NULL, NULL, NULL)", "22023");
        assert_code("SELECT * FROM qlink.handle_inbound(NULL, '2', 'x', NULL, 'w', NULL)", "22023");
    }

    #[pg_test]
    fn replies_to_one_number_are_capped_per_hour() {
        setup();
        clinic("sunrise");
        for n in 0..25 {
            inbound(HOUSE, "919876500060", Some("STATUS"), None, &format!("r{n}"));
        }
        assert_eq!(replies("+919876500060"), 20);
        assert_eq!(s("SELECT outcome FROM qlink.inbound_messages WHERE wamid = 'r24'"), "reply_limit");
        at("2026-03-10 05:31:00+00");
        assert_eq!(outcome(HOUSE, "919876500060", "STATUS", "r99"), "no_token");
        assert_eq!(replies("+919876500060"), 21);
    }

    #[pg_test]
    fn the_daily_recipient_cap_defers_new_recipients_and_spares_open_windows() {
        setup();
        let b = clinic("sunrise");
        Spi::run("SELECT qlink.set_recipient_limit('installation', 2)").unwrap();
        for n in 1..=3 {
            token(&b, "P", &phone(70 + n));
        }
        // Someone who wrote to us has their own window: not counted.
        assert_eq!(outcome(HOUSE, "919876500080", "HELP", "h1"), "help");
        token(&b, "Q", &phone(80));
        let claimed = s("SELECT string_agg(to_phone, ',' ORDER BY id) FROM qlink.claim_messages(50, '30 s')");
        assert_eq!(claimed, "+919876500071,+919876500072,+919876500080,+919876500080");
        let held = s("SELECT string_agg(to_phone || ':' || status || ':' || reason, ',') FROM qlink.message_logs WHERE reason IS NOT NULL");
        assert_eq!(held, "+919876500073:PENDING:daily_recipient_limit");
        assert_eq!(i("SELECT deferred FROM qlink.sender_backlog() WHERE phone_number_id IS NULL"), 1);
        // A second message to a recipient already counted goes at once.
        act(&b, "NEXT");
        assert_eq!(i("SELECT count(*) FROM qlink.claim_messages(50, '30 s') WHERE message_type = 'CALLED'"), 1);
        // (What was claimed was sent.)
        Spi::run("UPDATE qlink.message_logs SET status = 'SENT', locked_until = NULL WHERE locked_until IS NOT NULL")
            .unwrap();
        // 24 hours after the first window opened, the held message goes.
        at("2026-03-11 04:30:01+00");
        assert_eq!(
            s("SELECT string_agg(to_phone, ',') FROM qlink.claim_messages(50, '30 s') WHERE message_type = 'WELCOME'"),
            "+919876500073"
        );
        assert_eq!(i("SELECT count(*) FROM qlink.message_logs WHERE reason = 'daily_recipient_limit'"), 0);
    }

    #[pg_test]
    fn senders_are_set_by_the_operator_with_clear_refusals() {
        setup();
        let b = clinic("sunrise");
        let ok = |pid: &str, display: &str, waba: &str| {
            format!("SELECT qlink.set_clinic_sender('{b}', '{pid}', '{display}', '{waba}')")
        };
        refused_for(&ok("12ab", "+919800000001", "777001"), "22023", "invalid_phone_number_id");
        refused_for(&ok("1234567", "12", "777001"), "22023", "invalid_phone");
        refused_for(&ok("1234567", "+919800000001", "x"), "22023", "invalid_waba_id");
        refused_for(
            "SELECT qlink.set_clinic_sender(gen_random_uuid(), '1234567', '+919800000001', '777001')",
            "P0002",
            "clinic_not_found",
        );
        refused_for("SELECT qlink.set_recipient_limit('installation', 0)", "22023", "invalid_recipient_limit");
        refused_for("SELECT qlink.set_recipient_limit('99999999', 10)", "P0002", "account_not_found");
        assert_eq!(i("SELECT count(*) FROM qlink.whatsapp_senders"), 0);
        Spi::run(&format!(
            "SELECT qlink.set_clinic_sender('{b}', '1234567', '98000 00001', '777001', '\\x0a0b'::bytea)"
        ))
        .unwrap();
        assert_eq!(
            s(&format!("SELECT concat_ws(',', own_sender, phone_number_id, display_number, waba_id, has_access_token, daily_recipient_limit) FROM qlink.clinic_sender('{b}')")),
            "t,1234567,+919800000001,777001,t,250"
        );
        // Updating without a token keeps it; clearing removes it; the audit never holds it.
        Spi::run(&format!("SELECT qlink.set_clinic_sender('{b}', '1234567', '+919800000002', '777001')")).unwrap();
        assert_eq!(s(&format!("SELECT has_access_token::text FROM qlink.clinic_sender('{b}')")), "true");
        Spi::run(&format!(
            "SELECT qlink.set_clinic_sender('{b}', '1234567', '+919800000002', '777001', clear_access_token => true)"
        ))
        .unwrap();
        assert_eq!(s(&format!("SELECT has_access_token::text FROM qlink.clinic_sender('{b}')")), "false");
        assert_eq!(i("SELECT count(*) FROM qlink.admin_audit_logs WHERE action = 'CLINIC_SENDER_SET' AND details::text LIKE '%0a0b%'"), 0);
        assert_eq!(q::<bool>(&format!("SELECT qlink.clear_clinic_sender('{b}')")), Some(true));
        assert_eq!(q::<bool>(&format!("SELECT qlink.clear_clinic_sender('{b}')")), Some(false));
        assert_eq!(s(&format!("SELECT own_sender::text FROM qlink.clinic_sender('{b}')")), "false");
        // A clinic's messages leave from its sender, fixed when they are queued.
        Spi::run(&format!("SELECT qlink.set_clinic_sender('{b}', '1234567', '+919800000002', '777001')")).unwrap();
        token(&b, "Ravi", &phone(90));
        assert_eq!(
            s("SELECT sender_phone_number_id FROM qlink.message_logs WHERE message_type = 'WELCOME'"),
            "1234567"
        );
        assert_eq!(s("SELECT waba_id FROM qlink.sender_backlog() WHERE phone_number_id = '1234567'"), "777001");
    }

    // ---- Patient self-service (SPEC §12) ----

    fn hold(t: &str) -> String {
        s(&format!("SELECT held_until::text FROM qlink.hold_token('{t}')"))
    }

    fn back(t: &str) -> String {
        s(&format!("SELECT outcome FROM qlink.return_token('{t}')"))
    }

    fn hold_state(t: &str) -> Option<String> {
        q::<String>(&format!("SELECT hold_state FROM qlink.token_status('{t}')"))
    }

    fn audits(action: &str) -> i64 {
        i(&format!("SELECT count(*) FROM qlink.audit_logs WHERE action = '{action}'"))
    }

    #[pg_test]
    fn a_held_patient_is_passed_over_and_comes_back_to_their_place_or_the_front() {
        setup();
        let b = clinic("holds");
        let a = token(&b, "A", &phone(1));
        let bb = token(&b, "B", &phone(2));
        let c = token(&b, "C", &phone(3));
        let d = token(&b, "D", &phone(4));
        assert_eq!(act(&b, "NEXT"), Some(a.clone()));
        // B steps out for the clinic's 20 minutes and keeps position 1.
        assert_eq!(hold(&bb), "2026-03-10 04:50:00+00");
        assert_eq!(hold_state(&bb).as_deref(), Some("HELD"));
        assert_eq!(s(&format!("SELECT queue_position::text FROM qlink.token_status('{bb}')")), "1");
        assert_eq!(status(&bb), "WAITING");
        // NEXT passes over B; the display shows B away, not next.
        assert_eq!(act(&b, "NEXT"), Some(c.clone()));
        assert_eq!(
            s(&format!("SELECT array_to_string(away_labels, ',') || '|' || array_to_string(next_labels, ',') FROM qlink.display_state('{b}')")),
            "2|4"
        );
        assert_eq!(i(&format!("SELECT held_count::bigint FROM qlink.queue_summary('{b}')")), 1);
        // B's turn passed while away: back at the front.
        at("2026-03-10 04:40:00+00");
        assert_eq!(back(&bb), "front");
        assert_eq!(hold_state(&bb), None);
        assert_eq!(s(&format!("SELECT is_priority::text FROM qlink.tokens WHERE id = '{bb}'")), "true");
        assert_eq!(act(&b, "NEXT"), Some(bb.clone()));
        // D steps out and back before anyone is called after them: same place.
        hold(&d);
        assert_eq!(back(&d), "returned");
        assert_eq!(s(&format!("SELECT is_priority::text FROM qlink.tokens WHERE id = '{d}'")), "false");
        assert_eq!(audits("HOLD"), 2);
        assert_eq!(audits("RETURN"), 2);
        assert_eq!(i("SELECT count(*) FROM qlink.audit_logs WHERE action IN ('HOLD', 'RETURN') AND actor = 'PATIENT' AND NOT undoable"), 4);
        line_length_is_kept(&b);
    }

    #[pg_test]
    fn a_hold_that_runs_out_skips_the_token_once_by_whichever_comes_first() {
        setup();
        let b = clinic("expiry");
        let a = token(&b, "A", &phone(1));
        let bb = token(&b, "B", &phone(2));
        let c = token(&b, "C", &phone(3));
        Spi::run(&format!("SELECT * FROM qlink.hold_token('{a}', 5)")).unwrap();
        Spi::run(&format!("SELECT * FROM qlink.hold_token('{bb}', 10)")).unwrap();
        at("2026-03-10 04:36:00+00");
        // Run out but not yet processed: the page already says so.
        assert_eq!(hold_state(&a).as_deref(), Some("EXPIRED"));
        assert_eq!(status(&a), "WAITING");
        // The housekeeping expires it once; again, nothing.
        assert_eq!(q::<i64>("SELECT qlink.expire_holds()"), Some(1));
        assert_eq!(q::<i64>("SELECT qlink.expire_holds()"), Some(0));
        assert_eq!(status(&a), "SKIPPED");
        assert_eq!(hold_state(&a).as_deref(), Some("EXPIRED"));
        assert_eq!(audits("HOLD_EXPIRED"), 1);
        assert_eq!(s("SELECT actor FROM qlink.audit_logs WHERE action = 'HOLD_EXPIRED'"), "SYSTEM");
        // BACK too late says so and changes nothing more.
        assert_eq!(back(&a), "expired");
        assert_eq!(status(&a), "SKIPPED");
        // B's hold runs out; the next action (NEXT) expires it before it calls anyone.
        at("2026-03-10 04:41:00+00");
        assert_eq!(act(&b, "NEXT"), Some(c.clone()));
        assert_eq!(status(&bb), "SKIPPED");
        assert_eq!(audits("HOLD_EXPIRED"), 2);
        assert_eq!(q::<i64>("SELECT qlink.expire_holds()"), Some(0));
        // RECALL brings a patient back and ends the record of the hold.
        act_on(&b, "RECALL", &a);
        assert_eq!(status(&a), "WAITING");
        assert_eq!(hold_state(&a), None);
        assert_eq!(q::<String>(&format!("SELECT held_until::text FROM qlink.tokens WHERE id = '{a}'")), None);
        line_length_is_kept(&b);
    }

    #[pg_test]
    fn undo_restores_holds_exactly_and_skips_the_patients_own_acts() {
        setup();
        let b = clinic("undoholds");
        let a = token(&b, "A", &phone(1));
        let bb = token(&b, "B", &phone(2));
        hold(&a);
        // NEXT passes over A; UNDO puts B back, A still held.
        assert_eq!(act(&b, "NEXT"), Some(bb.clone()));
        act(&b, "UNDO");
        assert_eq!(status(&bb), "WAITING");
        assert_eq!(hold_state(&a).as_deref(), Some("HELD"));
        // A staff SKIP ends the hold; its UNDO restores it exactly.
        let before = s(&format!("SELECT held_at::text || held_until::text FROM qlink.tokens WHERE id = '{a}'"));
        act_on(&b, "SKIP", &a);
        assert_eq!(q::<String>(&format!("SELECT held_until::text FROM qlink.tokens WHERE id = '{a}'")), None);
        act(&b, "UNDO");
        assert_eq!(status(&a), "WAITING");
        assert_eq!(s(&format!("SELECT held_at::text || held_until::text FROM qlink.tokens WHERE id = '{a}'")), before);
        // HOLD is the patient's: UNDO has nothing of its own to revert.
        refused_for(&format!("SELECT * FROM qlink.queue_action('{b}', 'UNDO')"), "55000", "nothing_to_undo");
        // An expired hold recalled, then the RECALL undone: SKIPPED again, as it was.
        at("2026-03-10 05:00:00+00");
        assert_eq!(q::<i64>("SELECT qlink.expire_holds()"), Some(1));
        act_on(&b, "RECALL", &a);
        act(&b, "UNDO");
        assert_eq!(status(&a), "SKIPPED");
        assert_eq!(hold_state(&a).as_deref(), Some("EXPIRED"));
        line_length_is_kept(&b);
    }

    #[pg_test]
    fn self_service_refuses_bad_input_and_changes_nothing() {
        setup();
        let b = clinic("badself");
        let a = token(&b, "A", &phone(1));
        let bb = token(&b, "B", &phone(2));
        act(&b, "NEXT");
        let none = "00000000-0000-4000-8000-000000000000";
        refused_for(&format!("SELECT * FROM qlink.hold_token('{a}')"), "55000", "not_holdable");
        refused_for(&format!("SELECT * FROM qlink.hold_token('{none}')"), "P0002", "token_not_found");
        refused_for(&format!("SELECT * FROM qlink.hold_token('{bb}', 0)"), "22023", "invalid_hold_minutes");
        refused_for(&format!("SELECT * FROM qlink.hold_token('{bb}', 21)"), "22023", "invalid_hold_minutes");
        refused_for(&format!("SELECT * FROM qlink.return_token('{bb}')"), "55000", "not_held");
        hold(&bb);
        refused_for(&format!("SELECT * FROM qlink.hold_token('{bb}')"), "55000", "already_held");
        refused_for(&format!("SELECT qlink.set_reminder_position('{bb}', 0)"), "22023", "invalid_reminder_position");
        refused_for(&format!("SELECT qlink.set_reminder_position('{bb}', 11)"), "22023", "invalid_reminder_position");
        refused_for(&format!("SELECT qlink.set_reminder_position('{a}', 3)"), "55000", "not_waiting");
        refused_for(&format!("SELECT * FROM qlink.announce_delay('{b}', NULL, -1)"), "22023", "invalid_delay");
        refused_for(&format!("SELECT * FROM qlink.announce_delay('{b}', NULL, 241)"), "22023", "invalid_delay");
        refused_for(&format!("SELECT * FROM qlink.announce_delay('{b}', NULL, NULL)"), "22023", "invalid_delay");
        let long = "x".repeat(201);
        refused_for(
            &format!("SELECT * FROM qlink.announce_delay('{b}', NULL, 10, '{long}')"),
            "22023",
            "invalid_delay_note",
        );
        refused_for(
            &format!("SELECT * FROM qlink.create_token('{b}', 'C', '{}', language => 'fr')", phone(3)),
            "22023",
            "invalid_language",
        );
        // A clinic that holds no places, or sends no reminders, says so.
        let off = clinic_with("noholds", r#"{"hold_minutes": 0, "reminder_at_position": 0}"#);
        let t = token(&off, "D", &phone(4));
        refused_for(&format!("SELECT * FROM qlink.hold_token('{t}')"), "55000", "holds_disabled");
        refused_for(&format!("SELECT qlink.set_reminder_position('{t}', 3)"), "55000", "reminders_off");
        // Every one of the eight languages is taken.
        for lang in ["en", "hi", "ta", "te", "mr", "bn", "kn", "gu"] {
            let id = s(&format!(
                "SELECT token_id::text FROM qlink.create_token('{off}', 'L', NULL, 'STAFF', language => '{lang}')"
            ));
            assert_eq!(s(&format!("SELECT language FROM qlink.tokens WHERE id = '{id}'")), lang);
        }
        Spi::run(&format!("SELECT qlink.update_business('{off}', settings => '{{\"display_languages\": [\"ta\", \"en\"], \"default_language\": \"gu\"}}')")).unwrap();
        assert_eq!(
            s(&format!("SELECT array_to_string(display_languages, ',') FROM qlink.display_state('{off}')")),
            "ta,en"
        );
    }

    #[pg_test]
    fn a_patient_chooses_when_to_be_reminded() {
        setup();
        let b = clinic("remind");
        let ids: Vec<String> = (1..=6).map(|n| token(&b, "P", &phone(n))).collect();
        let reminders = |t: &str| {
            i(&format!("SELECT count(*) FROM qlink.message_logs WHERE token_id = '{t}' AND message_type = 'REMINDER'"))
        };
        // Position 6, clinic reminds at 2: asking for 6 reminds now, once.
        assert_eq!(q::<i32>(&format!("SELECT qlink.set_reminder_position('{}', 6)", ids[5])), Some(6));
        assert_eq!(reminders(&ids[5]), 1);
        assert_eq!(s(&format!("SELECT reminder_position::text FROM qlink.token_status('{}')", ids[5])), "6");
        // Position 5 asks for 1: no reminder at 2 ahead, only when first.
        Spi::run(&format!("SELECT qlink.set_reminder_position('{}', 1)", ids[4])).unwrap();
        for _ in 0..3 {
            act(&b, "NEXT");
        }
        assert_eq!(reminders(&ids[4]), 0);
        act(&b, "NEXT");
        assert_eq!(reminders(&ids[4]), 1);
        assert_eq!(s(&format!("SELECT reminder_position::text FROM qlink.token_status('{}')", ids[0])), "2");
    }

    #[pg_test]
    fn a_doctors_delay_moves_every_eta_until_the_next_call() {
        setup();
        let b = clinic_with("delay", r#"{"notify_delays": true}"#);
        let a = token(&b, "A", &phone(1));
        let bb = token(&b, "B", &phone(2));
        staff_token(&b, "No phone", false);
        let eta =
            |t: &str| s(&format!("SELECT eta_min_minutes || '-' || eta_max_minutes FROM qlink.token_status('{t}')"));
        let before = eta(&bb);
        let row = s(&format!(
            "SELECT concat_ws(',', delay_minutes, delay_until, messages_queued) FROM qlink.announce_delay('{b}', NULL, 30, '  Stuck in traffic ')"
        ));
        assert_eq!(row, "30,2026-03-10 05:00:00+00,2");
        let (lo, hi) = before.split_once('-').unwrap();
        let shifted = format!("{}-{}", lo.parse::<i32>().unwrap() + 30, hi.parse::<i32>().unwrap() + 30);
        assert_eq!(eta(&bb), shifted);
        assert_eq!(
            s(&format!("SELECT concat_ws(',', delay_minutes, delay_note) FROM qlink.token_status('{a}')")),
            "30,Stuck in traffic"
        );
        assert_eq!(
            s("SELECT string_agg(payload ->> 'delay_minutes' || ':' || (payload ->> 'note'), ',') FROM qlink.message_logs WHERE message_type = 'DELAY'"),
            "30:Stuck in traffic,30:Stuck in traffic"
        );
        // Ten minutes on, 20 are still to run.
        at("2026-03-10 04:40:00+00");
        assert_eq!(s(&format!("SELECT delay_minutes::text FROM qlink.token_status('{a}')")), "20");
        assert_eq!(s(&format!("SELECT delay_minutes::text FROM qlink.list_queues('{b}')")), "20");
        // The doctor calls the next patient: the delay is over; UNDO brings it back.
        act(&b, "NEXT");
        assert_eq!(q::<i32>(&format!("SELECT delay_minutes FROM qlink.token_status('{bb}')")), None);
        act(&b, "UNDO");
        assert_eq!(s(&format!("SELECT delay_note FROM qlink.token_status('{bb}')")), "Stuck in traffic");
        // UNDO of the announcement itself drops its unsent messages.
        act(&b, "UNDO");
        assert_eq!(q::<i32>(&format!("SELECT delay_minutes FROM qlink.token_status('{bb}')")), None);
        assert_eq!(i("SELECT count(*) FROM qlink.message_logs WHERE message_type = 'DELAY' AND status = 'PENDING'"), 0);
        // 0 clears; without notify_delays no message goes.
        Spi::run(&format!("SELECT qlink.update_business('{b}', settings => '{{\"notify_delays\": false}}')")).unwrap();
        assert_eq!(s(&format!("SELECT messages_queued::text FROM qlink.announce_delay('{b}', NULL, 15)")), "0");
        assert_eq!(q::<i32>(&format!("SELECT delay_minutes FROM qlink.announce_delay('{b}', NULL, 0)")), None);
        assert_eq!(q::<i32>(&format!("SELECT delay_minutes FROM qlink.token_status('{bb}')")), None);
    }

    #[pg_test]
    fn the_eta_is_one_rule_for_the_page_the_intake_and_the_pure_function() {
        setup();
        let b = clinic("calibrated");
        for n in 1..=4 {
            token(&b, "P", &phone(n));
        }
        let t = token(&b, "Q", &phone(5));
        let pure = |ahead: i32| {
            s(&format!(
                "SELECT eta_min_minutes || '-' || eta_max_minutes FROM qlink.eta_interval({ahead}, 1, '{{}}', 6, 15)"
            ))
        };
        assert_eq!(pure(0), "0-0");
        assert_eq!(
            s(&format!("SELECT eta_min_minutes || '-' || eta_max_minutes FROM qlink.token_status('{t}')")),
            pure(4)
        );
        assert_eq!(
            s(&format!(
                "SELECT eta_first_min_minutes || '-' || eta_first_max_minutes FROM qlink.tokens WHERE id = '{t}'"
            )),
            pure(4)
        );
        assert_eq!(
            s(&format!("SELECT eta_min_minutes || '-' || eta_max_minutes FROM qlink.list_queues('{b}')")),
            pure(5)
        );
        // The next patient's range is wider than one service's quartiles (6–15).
        let one: Vec<i32> = pure(1).split('-').map(|x| x.parse().unwrap()).collect();
        assert!(one[0] < 6 && one[1] > 15, "{one:?}");
        assert_eq!(
            s("SELECT eta_min_minutes || '-' || eta_max_minutes FROM qlink.eta_interval(3, 1, '{}', 6, 15, 30)"),
            {
                let base: Vec<i32> = pure(3).split('-').map(|x| x.parse().unwrap()).collect();
                format!("{}-{}", base[0] + 30, base[1] + 30)
            }
        );
    }

    #[pg_test]
    fn late_and_back_by_whatsapp_hold_and_return_the_patients_token() {
        setup();
        clinic("sunrise");
        assert_eq!(outcome(HOUSE, "919876500030", "JOIN sunrise", "h1"), "joined");
        let t = s("SELECT id::text FROM qlink.tokens WHERE patient_phone = '+919876500030'");
        assert_eq!(outcome(HOUSE, "919876500030", "LATE", "h2"), "held");
        assert_eq!(hold_state(&t).as_deref(), Some("HELD"));
        assert_eq!(s("SELECT payload ->> 'hold_minutes' FROM qlink.message_logs WHERE message_type = 'REPLY' ORDER BY id DESC LIMIT 1"), "20");
        assert_eq!(outcome(HOUSE, "919876500030", "देर", "h3"), "hold_refused");
        assert_eq!(last_reply("+919876500030"), ("hold_refused".to_string(), Some("already_held".to_string())));
        assert_eq!(outcome(HOUSE, "919876500030", "back", "h4"), "returned");
        assert_eq!(s("SELECT payload ->> 'return_outcome' FROM qlink.message_logs WHERE message_type = 'REPLY' ORDER BY id DESC LIMIT 1"), "returned");
        assert_eq!(outcome(HOUSE, "919876500030", "BACK", "h5"), "return_refused");
        assert_eq!(last_reply("+919876500030"), ("return_refused".to_string(), Some("not_held".to_string())));
        assert_eq!(outcome(HOUSE, "919876500031", "LATE", "h6"), "no_token");
    }

    /// A staff user whose password is "dummy" (the login's own dummy hash).
    fn desk_user(b: &str, email: &str, role: &str) -> String {
        s(&format!(
            "INSERT INTO qlink.staff_users (business_id, email, password_hash, role) \
             VALUES ({b}, '{email}', '$argon2id$v=19$m=19456,t=2,p=1$OmChZ+XpZkqIoOyeuAxWfw$s94PCUouTQdP4CuHFxZtVwycPnZ4uEcPDquwWXjIiHs', \
                     '{role}') RETURNING id::text"
        ))
    }

    /// Opens a kiosk of `b` with the secret digest `sha256(secret)`; the outcome.
    fn open_kiosk(b: &str, email: &str, password: &str, secret: &str) -> String {
        s(&format!(
            "SELECT outcome FROM qlink.open_kiosk('{email}', '{password}', sha256('{secret}'), '{b}', \
                                                  interval '12 hours', '58', '10.7.7.7', 'Tablet')"
        ))
    }

    fn kiosk_join(secret: &str, name: &str, phone: &str) -> String {
        format!("SELECT token_label FROM qlink.kiosk_create_token(sha256('{secret}'), '{name}', {phone})")
    }

    #[pg_test]
    fn a_kiosk_takes_tokens_for_its_own_clinic_with_its_own_window() {
        setup();
        let b = clinic_with("door", r#"{"kiosk_tokens_per_10min": 3, "ip_tokens_per_10min": 1}"#);
        let other = clinic("door-other");
        desk_user(&format!("'{b}'"), "desk@door.in", "STAFF");
        desk_user(&format!("'{other}'"), "desk@other.in", "STAFF");
        desk_user("NULL", "op@qlink.in", "SUPER_ADMIN");
        // Only the clinic's own desk opens its kiosk; the answer is a row, like a login's.
        assert_eq!(open_kiosk(&b, "desk@door.in", "wrong", "k1"), "wrong");
        assert_eq!(open_kiosk(&b, "desk@other.in", "dummy", "k1"), "not_this_clinic");
        assert_eq!(open_kiosk(&b, "op@qlink.in", "dummy", "k1"), "not_this_clinic");
        assert_eq!(i("SELECT count(*) FROM qlink.kiosks"), 0);
        assert_eq!(open_kiosk(&b, " Desk@Door.in ", "dummy", "k1"), "ok");
        assert_eq!(s("SELECT slug || ' ' || paper FROM qlink.kiosk_session(sha256('k1'))"), "door 58");
        assert_eq!(i("SELECT count(*) FROM qlink.kiosk_session(sha256('nope'))"), 0);
        for bad in [
            "qlink.open_kiosk('desk@door.in', 'dummy', 'short', '{b}', interval '1 hour')",
            "qlink.open_kiosk('desk@door.in', 'dummy', sha256('k9'), '{b}', interval '8 days')",
            "qlink.open_kiosk('desk@door.in', 'dummy', sha256('k9'), '{b}', interval '1 hour', 'A4')",
            "qlink.open_kiosk('', 'dummy', sha256('k9'), '{b}', interval '1 hour')",
        ] {
            refused_for(&format!("SELECT * FROM {}", bad.replace("{b}", &b)), "22023", "invalid_argument");
        }
        refused_for(
            "SELECT * FROM qlink.open_kiosk('desk@door.in', 'dummy', sha256('k9'), gen_random_uuid(), interval '1 hour')",
            "P0002",
            "clinic_not_found",
        );

        // Joins without a phone; the number, when given, is checked and limited as ever.
        assert_eq!(s(&kiosk_join("k1", "Amma", "NULL")), "1");
        assert_eq!(s(&kiosk_join("k1", "Appa", "'98765 00001'")), "2");
        assert_eq!(
            s("SELECT string_agg(source || ':' || coalesce(patient_phone, '-'), ',' ORDER BY token_number) FROM qlink.tokens"),
            "KIOSK:-,KIOSK:+919876500001"
        );
        // Only the token with a number gets a WhatsApp welcome.
        assert_eq!(i("SELECT count(*) FROM qlink.message_logs WHERE message_type = 'WELCOME'"), 1);
        refused_for(&kiosk_join("k1", "Again", "'9876500001'"), "54000", "phone_limit");
        refused_for(&kiosk_join("k1", "Bad", "'12345'"), "22023", "invalid_phone");
        refused_for(&kiosk_join("k1", "", "NULL"), "22023", "invalid_name");
        // The kiosk's window (3 in 10 minutes), not the address's (1): a second kiosk of the
        // clinic, and a phone on the clinic's Wi-Fi, have their own.
        assert_eq!(s(&kiosk_join("k1", "Three", "NULL")), "3");
        refused_for(&kiosk_join("k1", "Four", "NULL"), "54000", "kiosk_limit");
        assert_eq!(open_kiosk(&b, "desk@door.in", "dummy", "k2"), "ok");
        assert_eq!(s(&kiosk_join("k2", "Four", "NULL")), "4");
        Spi::run(&format!("SELECT * FROM qlink.create_token('{b}', 'Phone', '9876500005', 'QR', '10.7.7.7')")).unwrap();
        at("2026-03-10 04:41:00+00");
        assert_eq!(s(&kiosk_join("k1", "Later", "NULL")), "6");

        // A kiosk is signed out by its desk, at its time, or with its opener.
        assert!(q::<bool>(&format!(
            "SELECT qlink.close_kiosk((SELECT kiosk_id FROM qlink.kiosk_session(sha256('k2'))), '{b}')"
        ))
        .unwrap());
        refused_for(&kiosk_join("k2", "Gone", "NULL"), "42501", "kiosk_signed_out");
        refused_for(&kiosk_join("never", "Gone", "NULL"), "42501", "kiosk_signed_out");
        refused_for("SELECT * FROM qlink.kiosk_create_token(NULL, 'Gone')", "42501", "kiosk_signed_out");
        assert_eq!(i(&format!("SELECT count(*) FROM qlink.list_kiosks('{b}')")), 1);
        assert_eq!(i(&format!("SELECT count(*) FROM qlink.list_kiosks('{other}')")), 0);
        // A suspended clinic, a closed day: the clear reason, nothing taken.
        Spi::run(&format!("SELECT qlink.update_business('{b}', status => 'SUSPENDED')")).unwrap();
        refused_for(&kiosk_join("k1", "Suspended", "NULL"), "42501", "clinic_suspended");
        Spi::run(&format!("SELECT qlink.update_business('{b}', status => 'ACTIVE')")).unwrap();
        Spi::run(&format!("SELECT * FROM qlink.close_session('{b}')")).unwrap();
        refused_for(&kiosk_join("k1", "Closed", "NULL"), "42501", "session_closed");
        Spi::run("UPDATE qlink.staff_users SET is_active = false WHERE email = 'desk@door.in'").unwrap();
        assert_eq!(i("SELECT count(*) FROM qlink.kiosk_session(sha256('k1'))"), 0);
        Spi::run("UPDATE qlink.staff_users SET is_active = true WHERE email = 'desk@door.in'").unwrap();
        at("2026-03-10 16:41:00+00");
        refused_for(&kiosk_join("k1", "Expired", "NULL"), "42501", "kiosk_signed_out");
        assert_eq!(i("SELECT qlink.prune_login_sessions()"), 1);
        assert_eq!(i("SELECT count(*) FROM qlink.kiosks"), 0);
        assert_eq!(
            s(&format!(
                "SELECT tokens_kiosk || ',' || tokens_qr FROM qlink.clinic_report('{b}', '2026-03-10', '2026-03-10')"
            )),
            "5,1"
        );
    }

    #[pg_test]
    fn the_lobby_lists_each_lines_waiting_labels_with_its_rooms() {
        setup();
        let b = clinic("two-rooms");
        let general = s(&format!("SELECT id::text FROM qlink.queues WHERE business_id = '{b}'"));
        let rao = s(&format!("SELECT qlink.create_queue('{b}', 'Dr. Rao', 'B')::text"));
        Spi::run(&format!("SELECT qlink.create_room('{b}', 'Room 2', ARRAY['{rao}'::uuid])")).unwrap();
        for (n, q) in [(1, &general), (2, &rao), (3, &rao), (4, &general)] {
            Spi::run(&format!("SELECT * FROM qlink.create_token('{b}', 'P{n}', '98765000{n:02}', queue_id => '{q}')"))
                .unwrap();
        }
        let lines = || {
            s(&format!(
                "SELECT string_agg(concat_ws(':', l ->> 'queue_name', l -> 'rooms', l -> 'waiting_labels'), ' | ' ORDER BY n) \
                 FROM qlink.display_state('{b}'), jsonb_array_elements(lines) WITH ORDINALITY e(l, n)"
            ))
        };
        assert_eq!(lines(), r#"General:["Room 1"]:["1", "2"] | Dr. Rao:["Room 2"]:["B-1", "B-2"]"#);
        // Called and stepped-out patients leave the list; no names anywhere.
        let room2 = s(&format!("SELECT id::text FROM qlink.rooms WHERE business_id = '{b}' AND name = 'Room 2'"));
        Spi::run(&format!("SELECT * FROM qlink.queue_action('{b}', 'NEXT', room_id => '{room2}')")).unwrap();
        assert_eq!(lines(), r#"General:["Room 1"]:["1", "2"] | Dr. Rao:["Room 2"]:["B-2"]"#);
        assert_eq!(i(&format!("SELECT count(*) FROM qlink.display_state('{b}') WHERE lines::text LIKE '%P1%'")), 0);
        // A room's own screen lists its own lines only.
        assert_eq!(
            s(&format!(
                "SELECT string_agg(l ->> 'queue_name', ',') FROM qlink.display_state('{b}', room_id => '{room2}'), \
                 jsonb_array_elements(lines) l"
            )),
            "Dr. Rao"
        );
    }
}
