//! Hardening (SPEC §13): each finding of the 0.1 review, shown closed against the real
//! server. Every test here failed before its fix.

use qlink_server::config::{Secret, WhatsAppArgs};
use qlink_tests::app::{assert_error, no_whatsapp, plain, TestApp};
use qlink_tests::fake_whatsapp::sign;
use qlink_tests::{fresh_database, url_as};
use serde_json::{json, Value};

/// Behind a proxy that appends its own X-Forwarded-For line, the line the client wrote
/// cannot give it a fresh address for every request: the per-address intake limit holds.
#[tokio::test]
async fn a_forwarded_for_line_the_client_wrote_does_not_escape_the_address_limit() {
    let app = TestApp::builder().trusting_loopback_proxy().spawn().await;
    app.clinic("proxied").await;
    let url = app.url("/api/v1/clinics/proxied/tokens");
    let mut statuses = Vec::new();
    for n in 0..6u32 {
        let r = plain()
            .post(&url)
            .header("x-forwarded-for", format!("198.51.100.{}", n + 1))
            .header("x-forwarded-for", "203.0.113.7")
            .json(&json!({"patient_name": format!("Patient {n}"), "patient_phone": format!("98765{:05}", n)}))
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    // ip_tokens_per_10min is 3 by default, counted for the proxy's address of the client.
    assert_eq!(statuses, [201, 201, 201, 429, 429, 429]);
    let tokens: i64 = app.db.query_one("SELECT count(*) FROM qlink.tokens", &[]).await.unwrap().get(0);
    assert_eq!(tokens, 3);
}

/// Fake patients cannot fill a clinic's day, or clinic after clinic, from one network: an
/// IPv6 address counts by its /64 (a phone picks any address in it), and a source's tokens
/// at other clinics count against the installation's window; a refused number still costs
/// the source its attempt, so probing numbers is not free.
#[tokio::test]
async fn ipv6_networks_and_other_clinics_count_against_one_source() {
    let app = TestApp::builder().trusting_loopback_proxy().spawn().await;
    for slug in ["six-a", "six-b", "six-c"] {
        app.clinic(slug).await;
    }
    let join = |slug: &str, from: &str, phone: String| {
        let request = plain()
            .post(app.url(&format!("/api/v1/clinics/{slug}/tokens")))
            .header("x-forwarded-for", from)
            .json(&json!({"patient_name": "Patient", "patient_phone": phone}));
        async move {
            let r = request.send().await.unwrap();
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap();
            (status, body["error"]["reason"].as_str().unwrap_or_default().to_string())
        }
    };
    let mut seen = Vec::new();
    for (n, from) in
        ["2001:db8:5:6::1", "2001:db8:5:6::2", "2001:db8:5:6:aaaa::3", "2001:db8:5:6:ffff::4"].iter().enumerate()
    {
        seen.push(join("six-a", from, format!("98765000{n:02}")).await);
    }
    let ok = (201, String::new());
    let limited = (429, "ip_limit".to_string());
    assert_eq!(seen, [ok.clone(), ok.clone(), ok.clone(), limited.clone()], "one /64 is one source");
    assert_eq!(join("six-a", "2001:db8:5:7::1", "9876500010".into()).await, ok, "the next /64 is another");

    // Across clinics: at most 2 of a source's tokens at the other clinics in 10 minutes.
    app.db.query_one("SELECT qlink.set_intake_limit_across_clinics(2)", &[]).await.unwrap();
    assert_eq!(join("six-b", "2001:db8:9::1", "9876500020".into()).await, ok);
    assert_eq!(join("six-b", "2001:db8:9::2", "9876500021".into()).await, ok);
    assert_eq!(join("six-c", "2001:db8:9::3", "9876500022".into()).await, limited, "a third clinic's token");
    // A probe of a number that has its token already costs the source an attempt.
    assert_eq!(join("six-c", "198.51.100.9", "9876500010".into()).await.0, 201);
    assert_eq!(join("six-c", "198.51.100.9", "9876500010".into()).await.1, "phone_limit");
    assert_eq!(join("six-c", "198.51.100.9", "9876500010".into()).await.1, "phone_limit");
    assert_eq!(join("six-c", "198.51.100.9", "9876500031".into()).await, limited, "the probes were free");
    let tokens: i64 = app.db.query_one("SELECT count(*) FROM qlink.tokens", &[]).await.unwrap().get(0);
    assert_eq!(tokens, 7);
}

/// Roles by duty: the web role can no longer claim, finish or purge messages or run the
/// housekeeping (the 0.1 runtime role could do all of it), and the worker's role can do
/// exactly that and nothing that reads or changes a clinic.
#[tokio::test]
async fn the_web_role_cannot_claim_or_purge_and_the_worker_role_touches_no_clinic() {
    let owner_url = fresh_database().await;
    let owner = qlink_tests::connect(&owner_url).await;
    let clinic = qlink_tests::create_clinic(&owner, "duties", json!({})).await;
    owner.query_one("SELECT * FROM qlink.create_token($1, 'Asha', '9876543210')", &[&clinic]).await.unwrap();
    let web = qlink_tests::connect(&url_as(&owner_url, "qlink_app")).await;
    let worker = qlink_tests::connect(&url_as(&owner_url, "qlink_worker")).await;
    let code = |e: tokio_postgres::Error| e.code().map(|c| c.code().to_string());
    let worker_only = [
        "SELECT * FROM qlink.claim_messages(10, interval '30 seconds')",
        "SELECT * FROM qlink.finish_message(1, 'SENT')",
        "SELECT qlink.release_message(1)",
        "SELECT qlink.outbox_lag_seconds()",
        "SELECT qlink.expire_holds()",
        "SELECT qlink.write_rollups()",
        "SELECT qlink.purge_tokens()",
        "SELECT qlink.prune_login_sessions()",
        "SELECT qlink.prune_rate_limits()",
    ];
    for sql in worker_only {
        let refused = web.query(sql, &[]).await.expect_err(sql);
        assert_eq!(code(refused), Some("42501".into()), "the web role ran {sql}");
    }
    let claimed = worker.query("SELECT id FROM qlink.claim_messages(10, interval '30 seconds')", &[]).await.unwrap();
    assert_eq!(claimed.len(), 1, "the worker claims the WELCOME");
    for sql in ["SELECT qlink.purge_tokens()", "SELECT qlink.write_rollups()", "SELECT * FROM qlink.sender_backlog()"] {
        worker.query(sql, &[]).await.unwrap_or_else(|e| panic!("the worker cannot run {sql}: {e}"));
    }
    let clinic_text = clinic.to_string();
    let clinic_work = [
        format!("SELECT * FROM qlink.queue_action('{clinic_text}', 'NEXT')"),
        format!("SELECT * FROM qlink.create_token('{clinic_text}', 'Fake', '9876543211')"),
        format!("SELECT * FROM qlink.queue_snapshot('{clinic_text}')"),
        format!("SELECT * FROM qlink.clinic_staff('{clinic_text}')"),
        "SELECT * FROM qlink.staff_for_login('staff@duties.test')".to_string(),
        "SELECT qlink.create_staff_user('evil@x.test', 'hash', 'SUPER_ADMIN')".to_string(),
        "SELECT * FROM qlink.admin_clinics()".to_string(),
        "SELECT * FROM qlink.token_status(gen_random_uuid())".to_string(),
    ];
    for sql in &clinic_work {
        let refused = worker.query(sql.as_str(), &[]).await.expect_err(sql);
        assert_eq!(code(refused), Some("42501".into()), "the worker role ran {sql}");
    }
    for table in ["tokens", "staff_users", "login_sessions", "message_logs"] {
        let sql = format!("SELECT count(*) FROM qlink.{table}");
        assert!(worker.query(sql.as_str(), &[]).await.is_err(), "the worker role read {table}");
    }
}

/// The functions the web role may run without a login: the patients', the public pages'
/// and the login's own. Every other function it may run takes a `login`.
const PUBLIC_FUNCTIONS: [&str; 25] = [
    "cancel_token",
    "charge_refused_intake",
    "clinic_by_slug",
    "clinic_sender",
    "clinic_slug",
    "clinic_today",
    "create_token",
    "display_state",
    "end_login_session",
    "eta_interval",
    "hold_token",
    // A kiosk's secret is its credential: it takes tokens for its own clinic only.
    "kiosk_create_token",
    "kiosk_session",
    "list_queues",
    "list_rooms",
    "login",
    "login_session_user",
    // Checks a desk login's password, as qlink.login does.
    "open_kiosk",
    "qlink_version",
    "return_token",
    "sender_backlog",
    "set_reminder_position",
    "settings_schema",
    "submit_feedback",
    "token_status",
];

/// With the web role's password alone nobody can read or change a clinic: every function
/// it may run either is a patient's (on the list above, so a new function must be sorted)
/// or refuses without a live login session, whatever clinic it is given; a login acts on
/// its own clinic only and within its role; the web role can neither read a password hash
/// nor start a session without the password, nor pass for a patient's WhatsApp number; and
/// the webhook's role may store what Meta delivers and nothing else (0.1's runtime role
/// could do all of it).
#[tokio::test]
async fn the_web_role_alone_reads_and_changes_no_clinic() {
    let owner_url = fresh_database().await;
    let owner = qlink_tests::connect(&owner_url).await;
    let clinic = qlink_tests::create_clinic(&owner, "tenant-a", json!({})).await;
    let other = qlink_tests::create_clinic(&owner, "tenant-b", json!({})).await;
    owner.query_one("SELECT * FROM qlink.create_token($1, 'Asha', '9876543210')", &[&clinic]).await.unwrap();
    let hash = qlink_server::accounts::hash_password("right horse battery").unwrap();
    let staff_of = |business: uuid::Uuid, email: &'static str, role: &'static str| {
        let owner = &owner;
        let hash = hash.clone();
        async move {
            let id: uuid::Uuid = owner
                .query_one("SELECT qlink.create_staff_user($1, $2, $3, $4)", &[&email, &hash, &role, &business])
                .await
                .unwrap()
                .get(0);
            let digest: Vec<u8> = owner
                .query_one(
                    "SELECT d FROM sha256(convert_to($1, 'UTF8')) d, qlink.create_login_session(d, $2, interval '1 hour')",
                    &[&email, &id],
                )
                .await
                .unwrap()
                .get(0);
            digest
        }
    };
    let desk_a = staff_of(clinic, "desk@a.test", "STAFF").await;
    let desk_b = staff_of(other, "desk@b.test", "STAFF").await;
    let web = qlink_tests::connect(&url_as(&owner_url, "qlink_app")).await;
    let refusal = |e: tokio_postgres::Error| {
        let db = e.as_db_error().map(|d| (d.code().code().to_string(), d.detail().unwrap_or_default().to_string()));
        db.unwrap_or_else(|| panic!("not a database error: {e}"))
    };

    // Every function the web role may run, with its arguments all NULL but the clinic's.
    let functions = web
        .query(
            "SELECT p.proname::text, \
                    coalesce((SELECT string_agg(CASE WHEN a.n = 'business_id' THEN quote_literal($1::text) || '::uuid' \
                                                     ELSE 'NULL::' || format_type(a.t, NULL) END, ', ' ORDER BY a.i) \
                              FROM unnest(p.proargtypes::oid[], p.proargnames[1:p.pronargs]) WITH ORDINALITY a(t, n, i)), '') \
             FROM pg_proc p JOIN pg_namespace ns ON ns.oid = p.pronamespace \
             WHERE ns.nspname = 'qlink' AND has_function_privilege('qlink_app', p.oid, 'EXECUTE') ORDER BY 1",
            &[&clinic.to_string()],
        )
        .await
        .unwrap();
    let mut guarded = Vec::new();
    for row in &functions {
        let (name, args): (String, String) = (row.get(0), row.get(1));
        if PUBLIC_FUNCTIONS.contains(&name.as_str()) {
            continue;
        }
        assert!(args.ends_with("NULL::bytea"), "{name}({args}) is neither a patient's function nor takes a login");
        let sql = format!("SELECT * FROM qlink.{name}({args})");
        let refused = web.query(sql.as_str(), &[]).await.expect_err(&sql);
        assert_eq!(refusal(refused), ("42501".into(), "qlink:login_required".into()), "{sql}");
        let forged = sql.replace("NULL::bytea)", "sha256('forged')::bytea)");
        let refused = web.query(forged.as_str(), &[]).await.expect_err(&forged);
        assert_eq!(refusal(refused).1, "qlink:login_required", "{forged}");
        guarded.push(name);
    }
    for name in
        ["queue_action", "queue_snapshot", "clinic_staff", "create_staff_user", "admin_clinics", "clinic_report"]
    {
        assert!(guarded.iter().any(|g| g == name), "{name} is not guarded: {guarded:?}");
    }
    // A desk token, or a priority one, is the desk's too.
    let desk_token = "SELECT * FROM qlink.create_token($1, 'Fake', '9876543211', 'STAFF')";
    assert_eq!(refusal(web.query(desk_token, &[&clinic]).await.unwrap_err()).1, "qlink:login_required");

    // The web role reads no hash, starts no session, sets no password, resets no counter.
    for sql in [
        "SELECT * FROM qlink.staff_for_login('desk@a.test')",
        "SELECT qlink.create_login_session(sha256('x'), gen_random_uuid(), interval '1 hour')",
        "SELECT qlink.set_staff_password('desk@a.test', '$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA')",
        "SELECT qlink.check_rate_limit('login:ip:203.0.113.1', 1000, interval '1 minute')",
        // Nor pass for a patient's WhatsApp number (that is the webhook role's, below).
        "SELECT * FROM qlink.handle_inbound('1', '919876543210', 'CANCEL', NULL, 'wamid.forged', now())",
        "SELECT qlink.apply_delivery_status('wamid.forged', 'delivered')",
    ] {
        assert_eq!(refusal(web.query(sql, &[]).await.expect_err(sql)).0, "42501", "{sql}");
    }

    // The webhook's role stores what Meta delivers, and reads or changes nothing else.
    let webhook = qlink_tests::connect(&url_as(&owner_url, "qlink_webhook")).await;
    let help = webhook
        .query_one(
            "SELECT handled FROM qlink.handle_inbound('1', '919876543210', 'HELP', NULL, 'wamid.h1', now())",
            &[],
        )
        .await
        .unwrap();
    assert!(help.get::<_, bool>(0), "the webhook role stores an inbound message");
    webhook.query_one("SELECT qlink.apply_delivery_status('wamid.none', 'delivered')", &[]).await.unwrap();
    for sql in [
        format!("SELECT * FROM qlink.queue_snapshot('{clinic}', login => sha256('x'))"),
        format!("SELECT * FROM qlink.create_token('{clinic}', 'Fake', '9876543212')"),
        "SELECT * FROM qlink.token_status(gen_random_uuid())".to_string(),
        "SELECT * FROM qlink.claim_messages(10, interval '30 seconds')".to_string(),
        "SELECT count(*) FROM qlink.tokens".to_string(),
    ] {
        assert_eq!(refusal(webhook.query(sql.as_str(), &[]).await.expect_err(&sql)).0, "42501", "{sql}");
    }

    // A login acts on its own clinic, as itself, within its role.
    let snapshot = "SELECT count(*) FROM qlink.queue_snapshot($1, login => $2)";
    let mine: i64 = web.query_one(snapshot, &[&clinic, &desk_a]).await.unwrap().get(0);
    assert_eq!(mine, 1, "clinic A's desk sees its patient");
    assert_eq!(refusal(web.query(snapshot, &[&clinic, &desk_b]).await.unwrap_err()).1, "qlink:clinic_not_found");
    let next = "SELECT * FROM qlink.queue_action($1, 'NEXT', login => $2)";
    assert_eq!(refusal(web.query(next, &[&clinic, &desk_b]).await.unwrap_err()).1, "qlink:clinic_not_found");
    let as_another = "SELECT * FROM qlink.queue_action($1, 'NEXT', staff_id => gen_random_uuid(), login => $2)";
    assert_eq!(refusal(web.query(as_another, &[&clinic, &desk_a]).await.unwrap_err()).1, "qlink:login_forbidden");
    for sql in ["SELECT * FROM qlink.admin_clinics(login => $1)", "SELECT * FROM qlink.clinic_staff(NULL, login => $1)"]
    {
        assert_eq!(refusal(web.query(sql, &[&desk_a]).await.unwrap_err()).1, "qlink:login_forbidden", "{sql}");
    }
    let called = web.query_one(next, &[&clinic, &desk_a]).await.unwrap();
    assert_eq!(called.get::<_, Option<i32>>("now_serving_number"), Some(1));
    let by: Option<uuid::Uuid> = owner
        .query_one("SELECT staff_id FROM qlink.audit_logs WHERE action = 'NEXT'", &[])
        .await
        .map(|r| r.get(0))
        .unwrap_or(None);
    let desk_a_id: uuid::Uuid =
        owner.query_one("SELECT id FROM qlink.staff_users WHERE email = 'desk@a.test'", &[]).await.unwrap().get(0);
    assert_eq!(by, Some(desk_a_id), "the NEXT is the login's, though no staff_id was given");
    let b_tokens: i64 =
        owner.query_one("SELECT count(*) FROM qlink.tokens WHERE business_id = $1", &[&other]).await.unwrap().get(0);
    assert_eq!(b_tokens, 0);

    // The login itself: the right password starts the session asked for, a wrong one not.
    let login = "SELECT outcome, role, business_id FROM qlink.login($1, $2, sha256(convert_to($3, 'UTF8')), interval '1 hour', '203.0.113.5')";
    let wrong = web.query_one(login, &[&"desk@a.test", &"wrong horse", &"s1"]).await.unwrap();
    assert_eq!(wrong.get::<_, String>(0), "wrong");
    let nobody = web.query_one(login, &[&"nobody@a.test", &"right horse battery", &"s2"]).await.unwrap();
    assert_eq!(nobody.get::<_, String>(0), "wrong", "an unknown email answers as a wrong password");
    let right = web.query_one(login, &[&"desk@a.test", &"right horse battery", &"s3"]).await.unwrap();
    assert_eq!((right.get::<_, String>(0), right.get::<_, Option<uuid::Uuid>>(2)), ("ok".into(), Some(clinic)));
    let sessions: Vec<String> = web
        .query(
            "SELECT s FROM unnest(ARRAY['s1', 's2', 's3']) s WHERE EXISTS (SELECT 1 FROM qlink.login_session_user(sha256(convert_to(s, 'UTF8'))))",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(sessions, ["s3"]);
}

/// A client's request id is echoed (and logged) only when it is one plain id; anything else
/// is replaced by a fresh UUID.
#[tokio::test]
async fn request_ids_are_kept_only_when_plain() {
    let app = TestApp::builder().spawn().await;
    let id_for = |given: Vec<&'static str>| {
        let url = app.url("/healthz");
        async move {
            let mut request = plain().get(url);
            for g in given {
                request = request.header("x-request-id", g);
            }
            let r = request.send().await.unwrap();
            r.headers().get("x-request-id").unwrap().to_str().unwrap().to_string()
        }
    };
    assert_eq!(id_for(vec!["lb-7f3a.91_x"]).await, "lb-7f3a.91_x");
    for hostile in [vec!["a b"], vec!["<script>alert(1)</script>"], vec![&*"x".repeat(65).leak()], vec!["one", "two"]] {
        let echoed = id_for(hostile.clone()).await;
        assert!(uuid::Uuid::parse_str(&echoed).is_ok(), "{hostile:?} → {echoed}");
    }
}

/// Answers with patients' names and phones are never kept by a cache; the patient's own
/// status poll still revalidates with its ETag.
#[tokio::test]
async fn staff_and_operator_answers_are_never_cached() {
    let app = TestApp::builder().spawn().await;
    app.clinic("private").await;
    let token = app.take_token("private", "Meena", "9876543210").await;
    let staff = app.staff("private").await;
    let operator = app.login(&app.admin_user().await).await;
    for (client, path) in [
        (&staff, "/api/v1/staff/queue"),
        (&staff, "/api/v1/staff/rooms"),
        (&staff, "/api/v1/auth/me"),
        (&operator, "/api/v1/admin/clinics"),
    ] {
        let r = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers().get("cache-control").unwrap(), "no-store", "{path}");
    }
    let unauthorized = plain().get(app.url("/api/v1/staff/queue")).send().await.unwrap();
    assert_eq!(unauthorized.headers().get("cache-control").unwrap(), "no-store");
    assert_error(unauthorized, 401, "unauthorized").await;
    let id = token["token_id"].as_str().unwrap();
    let poll = plain().get(app.url(&format!("/api/v1/tokens/{id}"))).send().await.unwrap();
    assert_eq!(poll.headers().get("cache-control").unwrap(), "no-cache");
    assert!(poll.headers().contains_key("etag"));
}

/// `WHATSAPP_APP_SECRET=` (set, but empty) is no secret: a post signed with the empty key is
/// refused like any unsigned one, and nothing is stored.
#[tokio::test]
async fn an_empty_app_secret_checks_no_signature() {
    let whatsapp = WhatsAppArgs { whatsapp_app_secret: Some(Secret::new("")), ..no_whatsapp() };
    let app = TestApp::builder().with_whatsapp(whatsapp).spawn().await;
    app.clinic("unsigned").await;
    let body = serde_json::to_vec(&json!({"object": "whatsapp_business_account", "entry": []})).unwrap();
    let r = plain()
        .post(app.url("/api/v1/webhooks/whatsapp"))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", sign("", &body))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_error(r, 401, "unauthorized").await;
    let stored: i64 = app.db.query_one("SELECT count(*) FROM qlink.inbound_messages", &[]).await.unwrap().get(0);
    assert_eq!(stored, 0);
}

/// Readiness runs one of the queue's functions as the server's own role: when that role may
/// no longer run them (an upgrade recreated them before their grants were restored), every
/// request fails, and /readyz says so instead of "ready".
#[tokio::test]
async fn readiness_fails_when_the_queue_functions_cannot_be_run() {
    let owner = fresh_database().await;
    let app = TestApp::builder().with_database(owner.clone(), Some(url_as(&owner, "qlink_app"))).spawn().await;
    let ready = |app: &TestApp| {
        let url = app.url("/readyz");
        async move {
            let r = plain().get(url).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    assert_eq!(ready(&app).await.0, 200);
    app.db.batch_execute("REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA qlink FROM qlink_app").await.unwrap();
    let (status, body) = ready(&app).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "not_ready");
    assert!(body["reason"].as_str().unwrap().contains("cannot be run"), "{body}");
    app.db.batch_execute("GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA qlink TO qlink_app").await.unwrap();
    assert_eq!(ready(&app).await.0, 200);
}

/// Disabling a clinic shuts its staff out at once: their open sessions read nothing more and
/// they cannot log in again until the operator enables the clinic. Other clinics and the
/// operator are untouched.
#[tokio::test]
async fn a_disabled_clinics_staff_read_nothing() {
    let app = TestApp::builder().spawn().await;
    let closed = app.clinic("closed").await;
    app.clinic("open").await;
    app.take_token("closed", "Meena", "9876543210").await;
    let staff = app.staff("closed").await;
    let other = app.staff("open").await;
    let operator = app.login(&app.admin_user().await).await;
    let queue = |client: &reqwest::Client| client.get(app.url("/api/v1/staff/queue")).send();
    assert_eq!(queue(&staff).await.unwrap().status(), 200);
    app.db.query_one("SELECT qlink.update_business($1, status => 'DISABLED')", &[&closed]).await.unwrap();
    assert_error(queue(&staff).await.unwrap(), 401, "unauthorized").await;
    let again = plain()
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": "staff@closed.test", "password": qlink_tests::app::PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_error(again, 401, "unauthorized").await;
    assert_eq!(queue(&other).await.unwrap().status(), 200);
    assert_eq!(operator.get(app.url("/api/v1/admin/clinics")).send().await.unwrap().status(), 200);
    app.db.query_one("SELECT qlink.update_business($1, status => 'ACTIVE')", &[&closed]).await.unwrap();
    assert_eq!(queue(&app.staff("closed").await).await.unwrap().status(), 200);
}

/// Another site cannot post the intake form in its visitors' names (each post would take a
/// token and send a WhatsApp message): a post naming another origin is refused and creates
/// nothing; our own page's post, and a program's that names no origin, are taken.
#[tokio::test]
async fn the_intake_form_is_taken_only_from_our_own_page() {
    let app = TestApp::builder().spawn().await;
    app.clinic("forms").await;
    let url = app.url("/c/forms");
    let tokens =
        || async { app.db.query_one("SELECT count(*) FROM qlink.tokens", &[]).await.unwrap().get::<_, i64>(0) };
    let no_redirect = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let post = |phone: &'static str, header: Option<(&'static str, String)>| {
        let mut request = no_redirect.post(&url).form(&[("patient_name", "Meena"), ("patient_phone", phone)]);
        if let Some((name, value)) = header {
            request = request.header(name, value);
        }
        request.send()
    };
    for forged in [
        ("origin", "https://evil.example".to_string()),
        ("referer", "https://evil.example/win".to_string()),
        ("origin", "null".to_string()),
    ] {
        let r = post("9876500001", Some(forged.clone())).await.unwrap();
        assert_eq!(r.status(), 403, "{forged:?}");
        let page = r.text().await.unwrap();
        assert!(page.contains("href=\"/c/forms\""), "the refusal links our own form: {page}");
    }
    assert_eq!(tokens().await, 0, "a forged post creates nothing");
    let ours = post("9876500002", Some(("origin", app.base.clone()))).await.unwrap();
    assert_eq!(ours.status(), 303);
    let program = post("9876500003", None).await.unwrap();
    assert_eq!(program.status(), 303);
    assert_eq!(tokens().await, 2);
}

/// Opens a TCP connection and sends half a request header, never the blank line that ends it.
async fn half_a_header(app: &TestApp) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: qlink.test\r\nX-Slow: ").await.unwrap();
    stream
}

/// A connection to the app from another loopback address (Linux routes all of 127/8 to
/// loopback), which the server counts as another client.
async fn connect_from(app: &TestApp, address: &str) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{address}:0").parse().unwrap()).unwrap();
    socket.connect(app.addr).await.unwrap()
}

/// Seconds until the server closes `stream` (reads EOF or a reset), at most `limit`.
async fn closed_within(stream: &mut tokio::net::TcpStream, limit: std::time::Duration) -> Option<std::time::Duration> {
    use tokio::io::AsyncReadExt;
    let started = std::time::Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(limit.saturating_sub(started.elapsed()), stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            // The server may answer 408 before it closes.
            Ok(Ok(_)) => continue,
        }
    }
}

/// Slowloris: 20 connections that send half a header are closed once the header timeout
/// runs out (here 2 s; production's is 10 s), as is a kept-alive connection left idle, and
/// the server answers everyone else meanwhile.
#[tokio::test]
async fn slow_clients_cannot_hold_connections_open() {
    use tokio::io::AsyncWriteExt;
    let app = TestApp::builder().with_connection_limits(2, 2048).spawn().await;
    let mut slow = Vec::new();
    for _ in 0..20 {
        slow.push(half_a_header(&app).await);
    }
    let r = plain().get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200, "the server answers while slow clients wait");
    let limit = std::time::Duration::from_secs(8);
    for stream in &mut slow {
        let closed = closed_within(stream, limit).await;
        assert!(closed.is_some(), "a half-sent header held its connection for {limit:?}");
    }
    // A kept-alive connection that sends nothing more is closed too.
    let mut idle = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: qlink.test\r\n\r\n").await.unwrap();
    assert!(closed_within(&mut idle, limit).await.is_some(), "an idle kept-alive connection stayed open");
}

/// The connection cap: with every slot held by a slow client, one more connection is closed
/// at once; when the slow ones time out, requests are served again.
#[tokio::test]
async fn connections_beyond_the_cap_are_closed_at_once() {
    let app = TestApp::builder().with_connection_limits(3, 5).spawn().await;
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(half_a_header(&app).await);
    }
    // Let the server accept all five before the sixth arrives.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mut extra = half_a_header(&app).await;
    let closed = closed_within(&mut extra, std::time::Duration::from_secs(2)).await;
    assert!(closed.is_some(), "a connection over the cap was kept");
    for stream in &mut held {
        assert!(closed_within(stream, std::time::Duration::from_secs(8)).await.is_some());
    }
    let r = plain().get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let metrics = plain().get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("qlink_http_connections_refused_total"), "the refusal is counted");
}

/// With every place held by slow clients for over a second, a patient's connection takes
/// the place of the oldest of them and is answered (`qlink-bench slowloris`: slow clients
/// from 16 addresses filling the cap failed every poll before).
#[tokio::test]
async fn a_cap_full_of_slow_clients_makes_room_for_a_real_request() {
    let app = TestApp::builder().with_connection_limits(10, 5).spawn().await;
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(half_a_header(&app).await);
    }
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    // One plain connection (an HTTP client library may retry on a second one).
    let started = std::time::Instant::now();
    let answer = {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut patient = tokio::net::TcpStream::connect(app.addr).await.unwrap();
        patient.write_all(b"GET /healthz HTTP/1.1\r\nHost: qlink.test\r\nConnection: close\r\n\r\n").await.unwrap();
        let mut answer = String::new();
        tokio::time::timeout(std::time::Duration::from_secs(5), patient.read_to_string(&mut answer))
            .await
            .expect("an answer to the patient")
            .unwrap();
        answer
    };
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(started.elapsed() < std::time::Duration::from_secs(2), "answered after {:?}", started.elapsed());
    let closed = closed_within(&mut held[0], std::time::Duration::from_secs(1)).await;
    assert!(closed.is_some(), "the oldest slow client kept its place");
    for (n, stream) in held.iter_mut().enumerate().skip(1) {
        let kept = closed_within(stream, std::time::Duration::from_millis(200)).await;
        assert!(kept.is_none(), "the younger slow client {n} was closed too");
    }
    let metrics = plain().get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("qlink_http_connections_evicted_total"), "{metrics}");
}

/// Slow clients from another address that fill every place, however fresh, make room for a
/// patient at once: they can only push each other out.
#[tokio::test]
async fn slow_clients_of_another_address_make_room_at_once() {
    use tokio::io::AsyncWriteExt;
    let app = TestApp::builder().with_connection_limits(10, 5).spawn().await;
    let mut held = Vec::new();
    for _ in 0..5 {
        let mut stream = connect_from(&app, "127.0.0.2").await;
        stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: qlink.test\r\nX-Slow: ").await.unwrap();
        held.push(stream);
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let r = plain().get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200, "a patient was shut out by young slow clients of another address");
    let mut closed = 0;
    for stream in &mut held {
        if closed_within(stream, std::time::Duration::from_millis(300)).await.is_some() {
            closed += 1;
        }
    }
    assert_eq!(closed, 1, "exactly one slow client made room");
}

/// One address cannot take every connection (`qlink-bench slowloris` found that slow
/// clients over the total cap shut everyone out): beyond `QLINK_MAX_CONNECTIONS_PER_IP`
/// its next connection is closed at once, while another address is served.
#[tokio::test]
async fn one_address_cannot_fill_the_connection_cap() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::builder().with_connection_limits(5, 100).with_per_address_limit(3).spawn().await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(half_a_header(&app).await);
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mut fourth = half_a_header(&app).await;
    let closed = closed_within(&mut fourth, std::time::Duration::from_secs(2)).await;
    assert!(closed.is_some(), "a fourth connection from one address was kept");
    let mut other = connect_from(&app, "127.0.0.2").await;
    other.write_all(b"GET /healthz HTTP/1.1\r\nHost: qlink.test\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(std::time::Duration::from_secs(5), other.read_to_string(&mut answer))
        .await
        .expect("an answer to the other address")
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    for stream in &mut held {
        assert!(closed_within(stream, std::time::Duration::from_secs(10)).await.is_some());
    }
    let metrics = plain().get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("qlink_http_connections_refused_total{limit=\"per_ip\"}"), "{metrics}");
}

/// With `QLINK_METRICS_BIND`, `/metrics` is served on that internal listener only: the
/// public one answers 404 and shows nothing of the server's insides.
#[tokio::test]
async fn metrics_can_live_on_their_own_listener() {
    let app = TestApp::builder().with_metrics_listener().spawn().await;
    let internal = app.metrics_addr.expect("a metrics listener");
    assert_ne!(internal, app.addr);
    assert_eq!(plain().get(app.url("/healthz")).send().await.unwrap().status(), 200);
    let public = plain().get(app.url("/metrics")).send().await.unwrap();
    let text = assert_error(public, 404, "not_found").await;
    assert!(!text.contains("qlink_http_requests_total"), "{text}");
    let r = plain().get(format!("http://{internal}/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("qlink_http_requests_total"));
    let elsewhere = plain().get(format!("http://{internal}/api/v1/openapi.json")).send().await.unwrap();
    assert_eq!(elsewhere.status(), 404, "the internal listener serves /metrics alone");
}
