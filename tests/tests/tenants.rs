//! Tenants and authentication, probed exhaustively. Two clinics, A and B, each with staff
//! logins, tokens in every status, messages, queue sessions and login sessions, and an
//! operator. For every staff and operator route of the OpenAPI document, each clinic's
//! staff (by cookie and by bearer) tries the other clinic's ids in paths, query strings and
//! bodies: every try is refused or acts on the caller's own clinic only, the other clinic's
//! rows never change, and none of its data reaches the caller. Then: session fixation,
//! expired, forged and tampered credentials; CSRF on every cookie-authenticated write;
//! login brute force per email and per IP; STAFF on every operator route; a suspended or
//! disabled clinic; the runtime role `qlink_app` against every table and the test clock;
//! and no secret in any response (every test scans what it received) or in the log of the
//! real `qlink serve` binary.

use qlink_tests::fake_whatsapp::{FakeWhatsApp, ACCESS_TOKEN as FAKE_ACCESS_TOKEN, API_VERSION, PHONE_NUMBER_ID};
use qlink_tests::probe::{
    self, client, diff, documented_error_codes, error_contract_violation, leak, log_violations, operations,
    secret_violations, stored_secrets, valid_body, Exchange, Fingerprint, Fingerprinter, Operation, ProbeApp, Recorder,
    Watched, PASSWORD, WA_APP_SECRET, WA_VERIFY_TOKEN,
};
use qlink_tests::{connect, fresh_database, sqlstate, url_as};
use reqwest::{Method, RequestBuilder};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio_postgres::Client;
use uuid::Uuid;

// ---------------------------------------------------------------------------------------
// The world: two clinics with everything a clinic has, and an operator.

/// How a request proves who it is.
#[derive(Clone, Debug)]
enum Cred {
    Bearer(String),
    /// The session cookie, sent with our own Origin (a same-site page).
    Cookie(String),
}

impl Cred {
    fn apply(&self, rb: RequestBuilder, origin: &str) -> RequestBuilder {
        match self {
            Cred::Bearer(t) => rb.bearer_auth(t),
            Cred::Cookie(s) => rb.header("cookie", format!("qlink_session={s}")).header("origin", origin),
        }
    }
    fn secret(&self) -> &str {
        match self {
            Cred::Bearer(s) | Cred::Cookie(s) => s,
        }
    }
    fn label(&self) -> &'static str {
        match self {
            Cred::Bearer(_) => "bearer",
            Cred::Cookie(_) => "cookie",
        }
    }
}

struct Tenant {
    slug: String,
    id: Uuid,
    staff_email: String,
    staff_id: Uuid,
    second_staff_id: Uuid,
    bearer: String,
    cookie: String,
    /// One token in every status: SERVED (with feedback), SKIPPED, SERVING, WAITING,
    /// PRIORITY (a waiting emergency), CANCELLED.
    tokens: BTreeMap<&'static str, Uuid>,
    /// Today's queue session.
    session_id: Uuid,
    /// The clinic's queue and room (SPEC §9).
    queue_id: Uuid,
    room_id: Uuid,
    message_ids: Vec<i64>,
    /// Everything of this clinic that the other clinic's staff must never see.
    private: Vec<String>,
}

impl Tenant {
    fn creds(&self) -> [Cred; 2] {
        [Cred::Bearer(self.bearer.clone()), Cred::Cookie(self.cookie.clone())]
    }

    /// Every id of this clinic a hostile caller could try.
    fn ids(&self) -> Vec<(String, String)> {
        let mut ids = vec![
            ("business id".to_string(), self.id.to_string()),
            ("session id".to_string(), self.session_id.to_string()),
            ("queue id".to_string(), self.queue_id.to_string()),
            ("room id".to_string(), self.room_id.to_string()),
        ];
        for (status, id) in &self.tokens {
            ids.push((format!("{status} token"), id.to_string()));
        }
        ids.push(("staff user id".into(), self.staff_id.to_string()));
        ids.push(("second staff user id".into(), self.second_staff_id.to_string()));
        for m in &self.message_ids {
            ids.push(("message id".into(), m.to_string()));
        }
        ids.push(("slug".into(), self.slug.clone()));
        ids.push(("login session digest".into(), hex::encode(qlink_server::accounts::session_digest(&self.bearer))));
        ids
    }
}

struct World {
    app: ProbeApp,
    rec: Recorder,
    fp: Fingerprinter,
    documented_codes: BTreeSet<String>,
    ops: Vec<Operation>,
    a: Tenant,
    b: Tenant,
    admin_email: String,
    admin_bearer: String,
    admin_cookie: String,
    /// Session secrets issued by logins (each may appear only in its own login response).
    sessions: Vec<String>,
    /// Passwords typed, right or wrong.
    passwords: Vec<String>,
    ip_counter: u32,
}

impl World {
    async fn new() -> World {
        let app = ProbeApp::spawn(true).await;
        let doc = probe::openapi(&app.base).await;
        let admin_email = "operator@qlink.test".to_string();
        app.user(&admin_email, "SUPER_ADMIN", None).await;
        let mut w = World {
            fp: Fingerprinter::new(&app.db).await,
            documented_codes: documented_error_codes(&doc),
            ops: operations(&doc),
            rec: Recorder::default(),
            a: placeholder_tenant(),
            b: placeholder_tenant(),
            admin_email: admin_email.clone(),
            admin_bearer: String::new(),
            admin_cookie: String::new(),
            sessions: vec![],
            passwords: vec![PASSWORD.to_string()],
            ip_counter: 0,
            app,
        };
        w.a = w.tenant("clinic-alpha", "Asha Alpha", 100).await;
        w.b = w.tenant("clinic-bravo", "Bela Bravo", 200).await;
        w.admin_bearer = w.login(&admin_email, true).await;
        w.admin_cookie = w.login(&admin_email, false).await;
        w
    }

    fn url(&self, path: &str) -> String {
        self.app.url(path)
    }

    fn next_ip(&mut self) -> String {
        self.ip_counter += 1;
        format!("10.{}.{}.{}", 200 + self.ip_counter / 65536, (self.ip_counter / 256) % 256, self.ip_counter % 256)
    }

    async fn send(&self, rb: RequestBuilder) -> Exchange {
        let x = self.rec.send(rb).await;
        assert!(x.status < 500, "a server error: {}", x.describe());
        if let Some(v) = error_contract_violation(&x, &self.documented_codes) {
            panic!("{v}: {}", x.describe());
        }
        assert_eq!(leak(&x), None, "internal text in {}", x.describe());
        x
    }

    /// A real login through the API (bearer: `issue_token`; cookie: Set-Cookie). Returns
    /// the session secret.
    async fn login(&mut self, email: &str, bearer: bool) -> String {
        let ip = self.next_ip();
        let x = self
            .send(
                client()
                    .post(self.url("/api/v1/auth/login"))
                    .header("x-forwarded-for", ip)
                    .json(&json!({"email": email, "password": PASSWORD, "issue_token": bearer})),
            )
            .await;
        assert_eq!(x.status, 200, "{}", x.describe());
        let cookie = x.header("set-cookie").expect("a session cookie");
        let secret = cookie.trim_start_matches("qlink_session=").split(';').next().unwrap().to_string();
        if bearer {
            assert_eq!(x.json().unwrap()["token"], secret.as_str());
        } else {
            assert!(!x.text().contains(&secret), "the cookie's secret is in the body");
        }
        self.sessions.push(secret.clone());
        secret
    }

    /// A clinic with two staff logins, tokens in every status, messages and a queue session.
    async fn tenant(&mut self, slug: &str, patient: &str, phone_base: u32) -> Tenant {
        let (id, staff_id) = self.app.clinic(slug, json!({})).await;
        let second_staff_id = self.app.user(&format!("desk2@{slug}.test"), "STAFF", Some(id)).await;
        let db = &self.app.db;
        let mut tokens = BTreeMap::new();
        let mut names = Vec::new();
        let mut phones = Vec::new();
        let mut create = |n: u32| {
            let name = format!("{patient} {n}");
            let phone = format!("98765{:05}", phone_base + n);
            names.push(name.clone());
            phones.push(format!("+91{phone}"));
            (name, phone)
        };
        let mut ids = Vec::new();
        for n in 0..5 {
            let (name, phone) = create(n);
            let row = db
                .query_one("SELECT token_id FROM qlink.create_token($1, $2, $3)", &[&id, &name, &phone])
                .await
                .unwrap();
            ids.push(row.get::<_, Uuid>(0));
        }
        for (action, token) in [("NEXT", None::<Uuid>), ("NEXT", None), ("SKIP", None), ("NEXT", None)] {
            db.query_one("SELECT * FROM qlink.queue_action($1, $2, $3, $4)", &[&id, &action, &token, &staff_id])
                .await
                .unwrap();
        }
        db.query_one("SELECT * FROM qlink.cancel_token($1)", &[&ids[4]]).await.unwrap();
        let feedback = format!("{patient} says thank you");
        db.query_one("SELECT qlink.submit_feedback($1, 5, $2)", &[&ids[0], &feedback]).await.unwrap();
        let (name, _) = create(9);
        let emergency: Uuid = db
            .query_one("SELECT token_id FROM qlink.create_token($1, $2, NULL, 'STAFF', NULL, true)", &[&id, &name])
            .await
            .unwrap()
            .get(0);
        tokens.insert("SERVED", ids[0]);
        tokens.insert("SKIPPED", ids[1]);
        tokens.insert("SERVING", ids[2]);
        tokens.insert("WAITING", ids[3]);
        tokens.insert("CANCELLED", ids[4]);
        tokens.insert("PRIORITY", emergency);
        for (status, token) in &tokens {
            let got: String =
                db.query_one("SELECT status FROM qlink.tokens WHERE id = $1", &[token]).await.unwrap().get(0);
            let expected = if *status == "PRIORITY" { "WAITING" } else { status };
            assert_eq!(got, expected, "set-up of {slug}");
        }
        let session_id: Uuid =
            db.query_one("SELECT id FROM qlink.sessions WHERE business_id = $1", &[&id]).await.unwrap().get(0);
        let queue_id: Uuid =
            db.query_one("SELECT id FROM qlink.queues WHERE business_id = $1", &[&id]).await.unwrap().get(0);
        let room_id: Uuid =
            db.query_one("SELECT id FROM qlink.rooms WHERE business_id = $1", &[&id]).await.unwrap().get(0);
        let message_ids: Vec<i64> = db
            .query("SELECT id FROM qlink.message_logs WHERE business_id = $1 ORDER BY id", &[&id])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert!(message_ids.len() >= 6, "messages of {slug}");
        let staff_email = format!("staff@{slug}.test");
        let bearer = self.login(&staff_email, true).await;
        let cookie = self.login(&staff_email, false).await;
        let mut private =
            vec![id.to_string(), session_id.to_string(), staff_id.to_string(), second_staff_id.to_string()];
        private.push(queue_id.to_string());
        private.push(room_id.to_string());
        private.extend(tokens.values().map(Uuid::to_string));
        private.extend(names);
        private.extend(phones);
        private.push(feedback);
        private.push(staff_email.clone());
        private.push(format!("desk2@{slug}.test"));
        private.push(slug.to_string());
        private.push(format!("Clinic {slug}"));
        Tenant {
            slug: slug.into(),
            id,
            staff_email,
            staff_id,
            second_staff_id,
            bearer,
            cookie,
            tokens,
            session_id,
            queue_id,
            room_id,
            message_ids,
            private,
        }
    }

    /// Everything of one clinic, to prove it did not change: its rows in every table, its
    /// users' login sessions and its rate-limit counters, and the operator's audit trail.
    async fn tenant_fingerprint(&self, id: Uuid) -> Fingerprint {
        let sql = "\
            SELECT 'businesses', md5(string_agg(x::text, '|' ORDER BY x::text)) FROM qlink.businesses x WHERE x.id = $1 \
            UNION ALL SELECT 'sessions', md5(string_agg(x::text, '|' ORDER BY x::text)) FROM qlink.sessions x WHERE x.business_id = $1 \
            UNION ALL SELECT 'queues', md5(string_agg(x::text, '|' ORDER BY x::text)) FROM qlink.queues x WHERE x.business_id = $1 \
            UNION ALL SELECT 'rooms', md5(string_agg(x::text, '|' ORDER BY x::text)) FROM qlink.rooms x WHERE x.business_id = $1 \
            UNION ALL SELECT 'room_queues', md5(string_agg(x::text, '|' ORDER BY x::text)) FROM qlink.room_queues x WHERE x.business_id = $1 \
            UNION ALL SELECT 'tokens', md5(string_agg(x::text, '|' ORDER BY x::text)) FROM qlink.tokens x WHERE x.business_id = $1 \
            UNION ALL SELECT 'message_logs', md5(string_agg(x::text, '|' ORDER BY x::text)) FROM qlink.message_logs x WHERE x.business_id = $1 \
            UNION ALL SELECT 'audit_logs', md5(string_agg(x::text, '|' ORDER BY x::text)) FROM qlink.audit_logs x WHERE x.business_id = $1 \
            UNION ALL SELECT 'staff_users', md5(string_agg(x::text, '|' ORDER BY x::text)) FROM qlink.staff_users x WHERE x.business_id = $1 \
            UNION ALL SELECT 'login_sessions', md5(string_agg(x::text, '|' ORDER BY x::text)) FROM qlink.login_sessions x \
                      WHERE x.staff_user_id IN (SELECT id FROM qlink.staff_users WHERE business_id = $1) \
            UNION ALL SELECT 'rate_limit_hits', md5(string_agg(x::text, '|' ORDER BY x::text)) FROM qlink.rate_limit_hits x \
                      WHERE x.key LIKE '%' || $1::text || '%' \
            UNION ALL SELECT 'admin_audit_logs', md5(string_agg(x::text, '|' ORDER BY x::text)) FROM qlink.admin_audit_logs x";
        self.app
            .db
            .query(sql, &[&id])
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get::<_, String>(0), r.get::<_, Option<String>>(1).unwrap_or_default()))
            .collect()
    }

    async fn fingerprint(&self) -> Fingerprint {
        self.fp.take(&self.app.db).await
    }

    /// Every secret this world knows, for the final scan of everything it received.
    async fn watched(&self) -> Vec<Watched> {
        let mut w = stored_secrets(&self.app.db).await;
        for s in &self.sessions {
            w.push(Watched::session("a session secret", s.clone()));
        }
        for p in &self.passwords {
            w.push(Watched::secret("a password", p.clone()));
        }
        w
    }

    /// The end of every test: no secret in anything received.
    async fn assert_no_secret_received(&self) {
        let all = self.rec.all();
        let found = secret_violations(&all, &self.watched().await);
        assert!(found.is_empty(), "secrets in responses: {found:#?}");
    }
}

fn placeholder_tenant() -> Tenant {
    Tenant {
        slug: String::new(),
        id: Uuid::nil(),
        staff_email: String::new(),
        staff_id: Uuid::nil(),
        second_staff_id: Uuid::nil(),
        bearer: String::new(),
        cookie: String::new(),
        tokens: BTreeMap::new(),
        session_id: Uuid::nil(),
        queue_id: Uuid::nil(),
        room_id: Uuid::nil(),
        message_ids: vec![],
        private: vec![],
    }
}

/// The first of `private` that the response carries and the request did not.
fn foreign_data(x: &Exchange, private: &[String]) -> Option<String> {
    let received = x.received();
    let sent = x.sent();
    private.iter().find(|p| received.contains(p.as_str()) && !sent.contains(p.as_str())).cloned()
}

/// The same request with extra query parameters.
fn with_query(path: &str, query: &[(String, String)]) -> String {
    if query.is_empty() {
        return path.to_string();
    }
    let q: Vec<String> = query.iter().map(|(k, v)| format!("{}={}", probe::pct(k), probe::pct(v))).collect();
    format!("{path}?{}", q.join("&"))
}

// ---------------------------------------------------------------------------------------
// Cross-tenant probes.

/// What a staff member of `me` sends, aimed at `other`.
struct Probe {
    op: Operation,
    what: String,
    path: String,
    body: Option<Value>,
}

/// Every way of putting `other`'s ids into a request to `op`.
fn probes_for(op: &Operation, me: &Tenant, other: &Tenant, n: &mut u64) -> Vec<Probe> {
    let mut out = Vec::new();
    let base_body = |n: u64| op.body.as_ref().map(|s| Value::Object(valid_body(s, n, &me.staff_email)));
    let query_sets: Vec<(String, String)> = vec![
        ("business_id".into(), other.id.to_string()),
        ("clinic_id".into(), other.id.to_string()),
        ("clinic".into(), other.slug.clone()),
        ("slug".into(), other.slug.clone()),
        ("token_id".into(), other.tokens["WAITING"].to_string()),
        ("session_id".into(), other.session_id.to_string()),
        ("staff_id".into(), other.staff_id.to_string()),
        ("user_id".into(), other.second_staff_id.to_string()),
        ("room_id".into(), other.room_id.to_string()),
        ("queue_id".into(), other.queue_id.to_string()),
    ];
    let has_id = op.path.contains("{id}");
    if has_id {
        // Every id of the other clinic in the path.
        for (label, value) in other.ids() {
            *n += 1;
            out.push(Probe {
                op: op.clone(),
                what: format!("{label} in the path"),
                path: op.path.replace("{id}", &probe::pct(&value)),
                body: base_body(*n),
            });
        }
    } else {
        // The other clinic named in the query string (a real request otherwise).
        for (k, v) in &query_sets {
            *n += 1;
            out.push(Probe {
                op: op.clone(),
                what: format!("?{k}= of the other clinic"),
                path: with_query(&op.path, &[(k.clone(), v.clone())]),
                body: base_body(*n),
            });
        }
        *n += 1;
        out.push(Probe {
            op: op.clone(),
            what: "all of them in the query".into(),
            path: with_query(&op.path, &query_sets),
            body: base_body(*n),
        });
    }
    if let Some(schema) = &op.body {
        // The other clinic's tokens in every id field of the body.
        let props = schema["properties"].as_object().cloned().unwrap_or_default();
        if props.contains_key("token_id") {
            for action in ["NEXT", "SERVED", "SKIP", "RECALL", "CANCEL", "UNDO"] {
                for (status, token) in &other.tokens {
                    *n += 1;
                    let mut body = valid_body(schema, *n, &me.staff_email);
                    body.insert("action".into(), json!(action));
                    body.insert("token_id".into(), json!(token));
                    out.push(Probe {
                        op: op.clone(),
                        what: format!("{action} on the other clinic's {status} token"),
                        path: op.path.replace("{id}", &other.id.to_string()),
                        body: Some(Value::Object(body)),
                    });
                }
            }
        }
        // The other clinic's queue and room in the body's own queue and room fields.
        for (field, value) in [
            ("room_id", other.room_id),
            ("queue_id", other.queue_id),
            ("target_queue_id", other.queue_id),
            ("queue_ids", other.queue_id),
        ] {
            if !props.contains_key(field) {
                continue;
            }
            *n += 1;
            let mut body = valid_body(schema, *n, &me.staff_email);
            body.insert(field.into(), if field == "queue_ids" { json!([value]) } else { json!(value) });
            if field == "target_queue_id" {
                body.insert("action".into(), json!("TRANSFER"));
                body.insert("token_id".into(), json!(me.tokens["WAITING"]));
            }
            out.push(Probe {
                op: op.clone(),
                what: format!("the other clinic's {field} in the body"),
                path: op.path.replace("{id}", &other.id.to_string()),
                body: Some(Value::Object(body)),
            });
        }
        // The other clinic in fields the body does not have.
        for field in ["business_id", "clinic_id", "clinic", "slug", "session_id", "staff_id", "user_id", "id"] {
            if props.contains_key(field) {
                continue;
            }
            let value = match field {
                "clinic" | "slug" => json!(other.slug),
                "session_id" => json!(other.session_id),
                "staff_id" | "user_id" => json!(other.staff_id),
                _ => json!(other.id),
            };
            *n += 1;
            let mut body = valid_body(schema, *n, &me.staff_email);
            body.insert(field.into(), value);
            out.push(Probe {
                op: op.clone(),
                what: format!("\"{field}\" of the other clinic in the body"),
                path: op.path.replace("{id}", &other.id.to_string()),
                body: Some(Value::Object(body)),
            });
        }
    }
    out
}

/// One direction: `me`'s staff against `other`'s data, on every staff and operator route.
async fn cross_tenant(w: &mut World, me_is_a: bool) -> (usize, usize) {
    let (me, other) = if me_is_a { (&w.a, &w.b) } else { (&w.b, &w.a) };
    let (me_id, me_slug, other_id) = (me.id, me.slug.clone(), other.id);
    let mut n = 0u64;
    let mut probes = Vec::new();
    for op in w.ops.iter().filter(|o| matches!(o.tag.as_str(), "staff" | "admin") || o.path == "/api/v1/auth/me") {
        probes.extend(probes_for(op, me, other, &mut n));
    }
    let creds = me.creds();
    let private = other.private.clone();
    let my_tokens_before: BTreeSet<Uuid> = token_ids(&w.app.db, me_id).await;
    let (mut refused, mut own) = (0, 0);
    for cred in &creds {
        for p in &probes {
            let other_before = w.tenant_fingerprint(other_id).await;
            let all_before = w.fingerprint().await;
            let mut rb = cred.apply(client().request(p.op.method.clone(), w.url(&p.path)), &w.app.base);
            if let Some(b) = &p.body {
                rb = rb.json(b);
            }
            let x = w.send(rb).await;
            let context = format!(
                "{} {} as {me_slug}'s staff ({}): {}\n{}",
                p.op.method,
                p.op.path,
                cred.label(),
                p.what,
                x.describe()
            );
            assert_eq!(w.tenant_fingerprint(other_id).await, other_before, "the other clinic changed: {context}");
            assert_eq!(foreign_data(&x, &private), None, "the other clinic's data reached the caller: {context}");
            if p.op.tag == "admin" {
                assert_eq!(x.status, 403, "{context}");
            }
            if x.status >= 400 {
                let changed = diff(&all_before, &w.fingerprint().await);
                assert!(changed.is_empty(), "a refused request changed {changed:?}: {context}");
                assert!([400, 403, 404, 409].contains(&x.status), "{context}");
                refused += 1;
                continue;
            }
            // It worked: then on the caller's own clinic, never the other.
            own += 1;
            let v = x.json().unwrap_or(Value::Null);
            match (p.op.method.as_str(), p.op.path.as_str()) {
                ("GET", "/api/v1/staff/queue") => {
                    assert_eq!(v["business_id"], me_id.to_string(), "{context}");
                    let listed: BTreeSet<Uuid> = v["tokens"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|t| Uuid::parse_str(t["token_id"].as_str().unwrap()).unwrap())
                        .collect();
                    assert!(listed.is_subset(&token_ids(&w.app.db, me_id).await), "{context}");
                }
                ("GET", "/api/v1/auth/me") => assert_eq!(v["business_id"], me_id.to_string(), "{context}"),
                ("GET", "/api/v1/staff/kiosks") => {
                    assert_eq!(v["kiosk_path"], format!("/c/{me_slug}/kiosk"), "{context}");
                    for k in v["kiosks"].as_array().unwrap() {
                        let clinic: Uuid = w
                            .app
                            .db
                            .query_one(
                                "SELECT business_id FROM qlink.kiosks WHERE id = $1::text::uuid",
                                &[&k["kiosk_id"].as_str().unwrap()],
                            )
                            .await
                            .unwrap()
                            .get(0);
                        assert_eq!(clinic, me_id, "{context}");
                    }
                }
                ("GET", "/api/v1/staff/rooms") | ("GET", "/api/v1/staff/queues") => {
                    let (list, key, table) = match v.get("rooms") {
                        Some(rooms) => (rooms, "room_id", "rooms"),
                        None => (&v["queues"], "queue_id", "queues"),
                    };
                    for item in list.as_array().unwrap() {
                        let clinic: Uuid = w
                            .app
                            .db
                            .query_one(
                                &format!("SELECT business_id FROM qlink.{table} WHERE id = $1::text::uuid"),
                                &[&item[key].as_str().unwrap()],
                            )
                            .await
                            .unwrap()
                            .get(0);
                        assert_eq!(clinic, me_id, "{context}");
                    }
                }
                ("POST", "/api/v1/staff/tokens") => {
                    let id = Uuid::parse_str(v["token_id"].as_str().unwrap()).unwrap();
                    let clinic: Uuid = w
                        .app
                        .db
                        .query_one("SELECT business_id FROM qlink.tokens WHERE id = $1", &[&id])
                        .await
                        .unwrap()
                        .get(0);
                    assert_eq!(clinic, me_id, "{context}");
                }
                ("POST", "/api/v1/staff/delay") => {
                    // The delay lands on a line of the caller's own clinic.
                    let clinic: Uuid = w
                        .app
                        .db
                        .query_one(
                            "SELECT business_id FROM qlink.queues WHERE id = $1::text::uuid",
                            &[&v["queue_id"].as_str().unwrap()],
                        )
                        .await
                        .unwrap()
                        .get(0);
                    assert_eq!(clinic, me_id, "{context}");
                }
                ("POST", "/api/v1/staff/session/close") => {
                    let clinic: Uuid = w
                        .app
                        .db
                        .query_one(
                            "SELECT business_id FROM qlink.sessions WHERE id = $1::text::uuid",
                            &[&v["session_id"].as_str().unwrap()],
                        )
                        .await
                        .unwrap()
                        .get(0);
                    assert_eq!(clinic, me_id, "{context}");
                }
                ("POST", "/api/v1/staff/queue/actions") => {
                    for key in ["serving_token_id", "affected_token_id"] {
                        if let Some(id) = v[key].as_str() {
                            assert!(
                                token_ids(&w.app.db, me_id).await.contains(&Uuid::parse_str(id).unwrap()),
                                "{context}"
                            );
                        }
                    }
                }
                other => panic!("{other:?} should have been refused: {context}"),
            }
        }
    }
    // The caller's own queue is the only one that moved; none of the other's tokens joined it.
    let mine_after = token_ids(&w.app.db, me_id).await;
    assert!(my_tokens_before.is_subset(&mine_after));
    assert!(mine_after.is_disjoint(&token_ids(&w.app.db, other_id).await));

    // Logout with the other clinic's session digest and user in the request ends only the
    // caller's own session.
    let other_sessions: i64 = w
        .app
        .db
        .query_one(
            "SELECT count(*) FROM qlink.login_sessions WHERE staff_user_id IN (SELECT id FROM qlink.staff_users WHERE business_id = $1)",
            &[&other_id],
        )
        .await
        .unwrap()
        .get(0);
    let (bearer, digest) = if me_is_a {
        (w.a.bearer.clone(), hex::encode(qlink_server::accounts::session_digest(&w.b.bearer)))
    } else {
        (w.b.bearer.clone(), hex::encode(qlink_server::accounts::session_digest(&w.a.bearer)))
    };
    let x = w
        .send(
            client()
                .post(w.url(&format!("/api/v1/auth/logout?token_hash={digest}&staff_id={other_id}")))
                .bearer_auth(&bearer)
                .json(&json!({"token_hash": digest})),
        )
        .await;
    assert_eq!(x.status, 204, "{}", x.describe());
    assert!(!w.app.session_alive(&bearer).await);
    let other_after: i64 = w
        .app
        .db
        .query_one(
            "SELECT count(*) FROM qlink.login_sessions WHERE staff_user_id IN (SELECT id FROM qlink.staff_users WHERE business_id = $1)",
            &[&other_id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(other_after, other_sessions);
    let email = if me_is_a { w.a.staff_email.clone() } else { w.b.staff_email.clone() };
    let fresh = w.login(&email, true).await;
    if me_is_a {
        w.a.bearer = fresh;
    } else {
        w.b.bearer = fresh;
    }
    (refused, own)
}

async fn token_ids(db: &Client, clinic: Uuid) -> BTreeSet<Uuid> {
    db.query("SELECT id FROM qlink.tokens WHERE business_id = $1", &[&clinic])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_clinic_reaches_another_through_any_staff_or_operator_route() {
    let mut w = World::new().await;
    let covered: Vec<String> =
        w.ops.iter().filter(|o| matches!(o.tag.as_str(), "staff" | "admin")).map(Operation::key).collect();
    assert!(covered.len() >= 12, "{covered:?}");
    let (r1, o1) = cross_tenant(&mut w, true).await;
    let (r2, o2) = cross_tenant(&mut w, false).await;
    println!(
        "cross-tenant: {} probes over {} staff and operator routes, both directions, cookie and bearer: \
         {} refused with nothing changed, {} acted on the caller's own clinic only",
        r1 + o1 + r2 + o2,
        covered.len(),
        r1 + r2,
        o1 + o2
    );
    w.assert_no_secret_received().await;
}

// ---------------------------------------------------------------------------------------
// Roles: STAFF on every operator route, the operator on every staff route.

#[tokio::test]
async fn staff_on_every_operator_route_and_the_operator_on_every_staff_route() {
    let mut w = World::new().await;
    let victim = w
        .app
        .db
        .query_one("SELECT qlink.create_business('victim-clinic', 'Victim')", &[])
        .await
        .unwrap()
        .get::<_, Uuid>(0);
    let mut probes = 0;
    let ops = w.ops.clone();
    let staff_creds: Vec<Cred> = w.a.creds().into_iter().chain(w.b.creds()).collect();
    let admin_creds = [Cred::Bearer(w.admin_bearer.clone()), Cred::Cookie(w.admin_cookie.clone())];
    for (n, op) in ops.iter().enumerate() {
        let staff_and_admin: Vec<Cred> = staff_creds.iter().chain(admin_creds.iter()).cloned().collect();
        let (creds, wanted): (&[Cred], u16) = match op.tag.as_str() {
            "admin" => (&staff_creds, 403),
            "staff" => (&admin_creds, 403),
            // The owner's routes: neither STAFF nor the operator (who has its own).
            "owner" => (&staff_and_admin, 403),
            _ => continue,
        };
        let path = op.path.replace("{id}", &victim.to_string());
        let body = op.body.as_ref().map(|s| Value::Object(valid_body(s, 5000 + n as u64, "x@y.z")));
        let forged = [
            None,
            Some(Cred::Bearer(qlink_server::accounts::new_session_secret())),
            Some(Cred::Cookie(qlink_server::accounts::new_session_secret())),
        ];
        for cred in creds.iter().map(|c| Some(c.clone())).chain(forged) {
            let before = w.fingerprint().await;
            let mut rb = client().request(op.method.clone(), w.url(&path));
            if let Some(c) = &cred {
                rb = c.apply(rb, &w.app.base);
            }
            if let Some(b) = &body {
                rb = rb.json(b);
            }
            let x = w.send(rb).await;
            let expected =
                if cred.as_ref().is_some_and(|c| w.sessions.iter().any(|s| s == c.secret())) { wanted } else { 401 };
            assert_eq!(x.status, expected, "{:?}: {}", cred.as_ref().map(Cred::label), x.describe());
            assert_eq!(diff(&before, &w.fingerprint().await), Vec::<String>::new(), "{}", x.describe());
            probes += 1;
        }
    }
    assert!(probes >= 60, "{probes}");
    // Control: the operator's own routes work with the same requests.
    let x = w.send(client().get(w.url("/api/v1/admin/clinics")).bearer_auth(&w.admin_bearer)).await;
    assert_eq!(x.status, 200);
    let email = w.admin_email.clone();
    let _ = w.login(&email, true).await;
    println!("roles: {probes} probes (STAFF on every operator route, the operator on every staff route, forged and missing credentials)");
    w.assert_no_secret_received().await;
}

// ---------------------------------------------------------------------------------------
// Sessions: fixation, expiry, forgery, tampering.

async fn me(w: &World, rb: RequestBuilder) -> Exchange {
    w.send(rb.header("origin", &w.app.base)).await
}

fn cookie_req(w: &World, value: &str) -> RequestBuilder {
    client().get(w.url("/api/v1/auth/me")).header("cookie", format!("qlink_session={value}"))
}

#[tokio::test]
async fn session_fixation_expired_forged_and_tampered_credentials() {
    let mut w = World::new().await;
    let email = w.a.staff_email.clone();

    // Fixation: a cookie planted before login is never the one after it, and stays useless.
    let planted = qlink_server::accounts::new_session_secret();
    let x = w
        .send(
            client()
                .post(w.url("/api/v1/auth/login"))
                .header("cookie", format!("qlink_session={planted}"))
                .header("x-forwarded-for", "10.1.0.1")
                .json(&json!({"email": email, "password": PASSWORD})),
        )
        .await;
    assert_eq!(x.status, 200);
    let issued =
        x.header("set-cookie").unwrap().trim_start_matches("qlink_session=").split(';').next().unwrap().to_string();
    w.sessions.push(issued.clone());
    assert_ne!(issued, planted);
    assert_eq!(me(&w, cookie_req(&w, &planted)).await.status, 401);
    assert_eq!(me(&w, cookie_req(&w, &issued)).await.status, 200);
    // A browser that logs in again (here as another clinic's staff) with a live session:
    // the old session ends, the new one is fresh and is the other user.
    let x = w
        .send(
            client()
                .post(w.url("/api/v1/auth/login"))
                .header("cookie", format!("qlink_session={issued}"))
                .header("x-forwarded-for", "10.1.0.2")
                .json(&json!({"email": w.b.staff_email, "password": PASSWORD})),
        )
        .await;
    assert_eq!(x.status, 200);
    let second =
        x.header("set-cookie").unwrap().trim_start_matches("qlink_session=").split(';').next().unwrap().to_string();
    w.sessions.push(second.clone());
    assert_ne!(second, issued);
    assert_eq!(me(&w, cookie_req(&w, &issued)).await.status, 401, "the pre-login session still works");
    let who = me(&w, cookie_req(&w, &second)).await;
    assert_eq!(who.json().unwrap()["email"], w.b.staff_email.as_str());
    // Logout clears the cookie and ends the session.
    let x = w
        .send(
            client()
                .post(w.url("/api/v1/auth/logout"))
                .header("cookie", format!("qlink_session={second}"))
                .header("origin", &w.app.base),
        )
        .await;
    assert_eq!(x.status, 204);
    let cleared = x.header("set-cookie").unwrap();
    assert!(
        cleared.starts_with("qlink_session=;") && cleared.contains("Max-Age=0") && cleared.contains("HttpOnly"),
        "{cleared}"
    );
    assert_eq!(me(&w, cookie_req(&w, &second)).await.status, 401);

    // Forged and tampered credentials: 401 every time, nothing changed.
    let real = w.a.bearer.clone();
    let digest = qlink_server::accounts::session_digest(&real);
    let flip = |s: &str, i: usize| {
        let mut b = s.as_bytes().to_vec();
        b[i] = if b[i] == b'A' { b'B' } else { b'A' };
        String::from_utf8(b).unwrap()
    };
    let mut forged: Vec<(String, String)> = vec![
        ("random secret".into(), qlink_server::accounts::new_session_secret()),
        ("the stored digest (hex)".into(), hex::encode(&digest)),
        ("the stored digest (upper-case hex)".into(), hex::encode_upper(&digest)),
        (
            "the stored digest (base64)".into(),
            w.app.db.query_one("SELECT encode($1::bytea, 'base64')", &[&digest]).await.unwrap().get(0),
        ),
        ("truncated".into(), real[..real.len() - 1].to_string()),
        ("extended".into(), format!("{real}A")),
        ("doubled".into(), format!("{real}{real}")),
        ("upper-cased".into(), real.to_uppercase()),
        ("standard base64 alphabet".into(), real.replace('-', "+").replace('_', "/")),
        ("quoted".into(), format!("\"{real}\"")),
        ("empty".into(), String::new()),
        ("10 KB".into(), "A".repeat(10_000)),
        ("SQL".into(), "' OR '1'='1".into()),
    ];
    for i in [0, 7, 21, real.len() - 1] {
        forged.push((format!("one character changed at {i}"), flip(&real, i)));
    }
    let before = w.fingerprint().await;
    let mut probes = 0;
    for (label, value) in &forged {
        if value.trim() == real {
            continue;
        }
        for rb in [
            client().get(w.url("/api/v1/staff/queue")).bearer_auth(value),
            client().get(w.url("/api/v1/staff/queue")).header("cookie", format!("qlink_session={value}")),
            client().post(w.url("/api/v1/staff/queue/actions")).bearer_auth(value).json(&json!({"action": "NEXT"})),
            client()
                .post(w.url("/api/v1/staff/queue/actions"))
                .header("cookie", format!("qlink_session={value}"))
                .header("origin", &w.app.base)
                .json(&json!({"action": "NEXT"})),
        ] {
            let x = w.send(rb).await;
            assert_eq!(x.status, 401, "{label}: {}", x.describe());
            probes += 1;
        }
    }
    // Schemes and headers that are not "Bearer <secret>".
    for auth in [
        format!("bearer {real}"),
        format!("Basic {real}"),
        format!("Token {real}"),
        format!("Bearer{real}"),
        "Bearer".into(),
    ] {
        let x = w.send(client().get(w.url("/api/v1/staff/queue")).header("authorization", auth.clone())).await;
        assert_eq!(x.status, 401, "{auth}: {}", x.describe());
        probes += 1;
    }
    // A bad bearer is not rescued by a good cookie (the bearer is what was presented);
    // a forged cookie before the real one is the one read.
    let x = w
        .send(
            client()
                .get(w.url("/api/v1/staff/queue"))
                .bearer_auth("forged")
                .header("cookie", format!("qlink_session={}", w.a.cookie)),
        )
        .await;
    assert_eq!(x.status, 401);
    let x = w
        .send(
            client()
                .get(w.url("/api/v1/staff/queue"))
                .header("cookie", format!("qlink_session=forged; qlink_session={}", w.a.cookie)),
        )
        .await;
    assert_eq!(x.status, 401);
    assert_eq!(diff(&before, &w.fingerprint().await), Vec::<String>::new());
    // The real ones still work.
    assert_eq!(w.send(client().get(w.url("/api/v1/staff/queue")).bearer_auth(&real)).await.status, 200);

    // Expired: refused, and the session row is removed on sight.
    let b_bearer = w.b.bearer.clone();
    let b_digest = qlink_server::accounts::session_digest(&b_bearer);
    w.app
        .db
        .execute(
            "UPDATE qlink.login_sessions SET expires_at = now() - interval '1 second' WHERE token_hash = $1",
            &[&b_digest],
        )
        .await
        .unwrap();
    assert_eq!(w.send(client().get(w.url("/api/v1/staff/queue")).bearer_auth(&b_bearer)).await.status, 401);
    let left: i64 = w
        .app
        .db
        .query_one("SELECT count(*) FROM qlink.login_sessions WHERE token_hash = $1", &[&b_digest])
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
    // A deactivated user's live session, and a deleted clinic's staff: refused.
    w.app
        .db
        .execute("UPDATE qlink.staff_users SET is_active = false WHERE id = $1", &[&w.a.second_staff_id])
        .await
        .unwrap();
    let x = w
        .send(
            client()
                .post(w.url("/api/v1/auth/login"))
                .json(&json!({"email": format!("desk2@{}.test", w.a.slug), "password": PASSWORD})),
        )
        .await;
    assert_eq!(x.status, 401, "a deactivated user logged in");
    let deactivated = w.app.mint_session(w.b.second_staff_id).await;
    w.app
        .db
        .execute("UPDATE qlink.staff_users SET is_active = false WHERE id = $1", &[&w.b.second_staff_id])
        .await
        .unwrap();
    assert_eq!(w.send(client().get(w.url("/api/v1/auth/me")).bearer_auth(&deactivated)).await.status, 401);
    let (gone_id, gone_staff) = w.app.clinic("gone-clinic", json!({})).await;
    let gone = w.app.mint_session(gone_staff).await;
    assert_eq!(w.send(client().get(w.url("/api/v1/staff/queue")).bearer_auth(&gone)).await.status, 200);
    let x =
        w.send(client().delete(w.url(&format!("/api/v1/admin/clinics/{gone_id}"))).bearer_auth(&w.admin_bearer)).await;
    assert_eq!(x.status, 204);
    assert_eq!(w.send(client().get(w.url("/api/v1/staff/queue")).bearer_auth(&gone)).await.status, 401);
    w.sessions.push(deactivated);
    w.sessions.push(gone);
    println!("sessions: fixation, re-login, logout, expiry, deactivation, deletion; {probes} forged or tampered credentials refused");
    w.assert_no_secret_received().await;
}

// ---------------------------------------------------------------------------------------
// CSRF.

#[tokio::test]
async fn cookie_writes_from_another_origin_are_refused_on_every_route() {
    let mut w = World::new().await;
    let port = w.app.addr.port();
    let base = w.app.base.clone();
    let writes: Vec<Operation> = w
        .ops
        .iter()
        .filter(|o| {
            o.writes() && matches!(o.tag.as_str(), "staff" | "admin" | "auth") && o.path != "/api/v1/auth/login"
        })
        .cloned()
        .collect();
    assert!(writes.len() >= 8, "{} cookie-authenticated write routes", writes.len());
    // (Origin, Referer) pairs a cross-site page, a sandboxed frame or a non-browser could send.
    let foreign: Vec<(Option<String>, Option<String>)> = vec![
        (None, None),
        (Some("https://evil.example".into()), None),
        (Some("null".into()), None),
        (Some(format!("http://127.0.0.1:{port}.evil.example")), None),
        (Some(format!("http://localhost:{port}")), None),
        (Some("http://127.0.0.1".into()), None),
        (Some(format!("http://127.0.0.1:{}", port.wrapping_add(1))), None),
        (None, Some("https://evil.example/staff".into())),
        (None, Some(format!("http://127.0.0.1:{port}.evil.example/staff"))),
        (Some("https://evil.example".into()), Some(format!("{base}/staff"))),
    ];
    let mut probes = 0;
    let mut logout = None;
    for (n, op) in writes.iter().enumerate() {
        // A clinic of its own for each operator route to patch, reset or delete (nobody waiting).
        let target: Uuid = w
            .app
            .db
            .query_one("SELECT qlink.create_business($1, 'Target')", &[&format!("csrf-target-{n}")])
            .await
            .unwrap()
            .get(0);
        let cookie = match op.tag.as_str() {
            "admin" => w.admin_cookie.clone(),
            _ => w.a.cookie.clone(),
        };
        // The target clinic's own queue, room and a login of it, for the routes that name them.
        let target_queue: Uuid =
            w.app.db.query_one("SELECT id FROM qlink.queues WHERE business_id = $1", &[&target]).await.unwrap().get(0);
        let target_room: Uuid =
            w.app.db.query_one("SELECT id FROM qlink.rooms WHERE business_id = $1", &[&target]).await.unwrap().get(0);
        let mut path = op.path.replace("{id}", &target.to_string());
        if op.path == "/api/v1/staff/kiosks/{id}" {
            // A kiosk of the desk's own clinic, to sign out.
            let kiosk: Uuid = w
                .app
                .db
                .query_one(
                    "INSERT INTO qlink.kiosks (secret_hash, business_id, opened_by, created_at, expires_at) \
                     VALUES (sha256(gen_random_uuid()::text::bytea), $1, $2, now(), now() + interval '1 hour') RETURNING id",
                    &[&w.a.id, &w.a.staff_id],
                )
                .await
                .unwrap()
                .get(0);
            path = op.path.replace("{id}", &kiosk.to_string());
        }
        path = path.replace("{queue_id}", &target_queue.to_string()).replace("{room_id}", &target_room.to_string());
        // The plan every clinic starts on; the installation's WhatsApp account.
        path = path.replace("{code}", "standard").replace("{waba_id}", "installation");
        if path.contains("{staff_id}") {
            let login = w.app.user(&format!("csrf-desk-{n}@target.test"), "STAFF", Some(target)).await;
            path = path.replace("{staff_id}", &login.to_string());
        }
        let body = op.body.as_ref().map(|s| {
            let mut b = valid_body(s, 9000 + n as u64, &w.a.staff_email);
            if op.method == Method::PATCH && op.path == "/api/v1/admin/clinics/{id}" {
                b = serde_json::Map::from_iter([("status".to_string(), json!("SUSPENDED"))]);
            }
            if b.contains_key("queue_ids") {
                b.insert("queue_ids".into(), json!([target_queue]));
            }
            if b.contains_key("role") {
                b.insert("email".into(), json!(format!("csrf-new-{n}@target.test")));
            }
            if b.contains_key("plan_code") {
                b.insert("plan_code".into(), json!("standard"));
            }
            if op.method == Method::POST && op.path == "/api/v1/admin/plans" {
                b.insert("code".into(), json!(format!("csrf-plan-{n}")));
            }
            Value::Object(b)
        });
        let request = |origin: &Option<String>, referer: &Option<String>| {
            let mut rb =
                client().request(op.method.clone(), w.url(&path)).header("cookie", format!("qlink_session={cookie}"));
            if let Some(o) = origin {
                rb = rb.header("origin", o);
            }
            if let Some(r) = referer {
                rb = rb.header("referer", r);
            }
            if let Some(b) = &body {
                rb = rb.json(b);
            }
            rb
        };
        for (origin, referer) in &foreign {
            let before = w.fingerprint().await;
            let x = w.send(request(origin, referer)).await;
            assert_eq!(
                (x.status, x.json().unwrap()["error"]["code"].clone()),
                (403, json!("forbidden")),
                "Origin {origin:?} Referer {referer:?}: {}",
                x.describe()
            );
            assert_eq!(diff(&before, &w.fingerprint().await), Vec::<String>::new(), "{}", x.describe());
            probes += 1;
        }
        assert!(w.app.session_alive(&cookie).await, "a refused cross-site logout ended the session");
        // Control: the same request from our own page works (logout last).
        if op.path == "/api/v1/auth/logout" {
            logout = Some(request(&Some(base.clone()), &None));
            continue;
        }
        let x = w.send(request(&Some(base.clone()), &None)).await;
        assert!(x.status < 300, "the same request from our origin: {}", x.describe());
        // Referer alone from our pages is accepted too (some browsers omit Origin).
        if op.method == Method::POST && op.path == "/api/v1/staff/queue/actions" {
            let x = w.send(request(&None, &Some(format!("{base}/staff")))).await;
            assert_eq!(x.status, 200, "{}", x.describe());
        }
    }
    let x = w.send(logout.expect("logout is a write route")).await;
    assert_eq!(x.status, 204);
    // Bearer clients (no cookie) need no Origin.
    let x = w
        .send(
            client()
                .post(w.url("/api/v1/staff/queue/actions"))
                .bearer_auth(&w.a.bearer)
                .json(&json!({"action": "NEXT"})),
        )
        .await;
    assert_eq!(x.status, 200);
    let _ = &mut w;
    println!("csrf: {probes} cross-site cookie writes over {} routes, each 403 with nothing changed", writes.len());
    w.assert_no_secret_received().await;
}

// ---------------------------------------------------------------------------------------
// Login brute force.

async fn attempt(w: &World, ip: &str, email: &str, password: &str) -> Exchange {
    w.send(
        client()
            .post(w.url("/api/v1/auth/login"))
            .header("x-forwarded-for", ip)
            .json(&json!({"email": email, "password": password})),
    )
    .await
}

#[tokio::test]
async fn login_brute_force_is_limited_per_address_and_slowed_per_email_never_locked() {
    let mut w = World::new().await;
    w.passwords.extend(["guess 1".to_string(), "another guess".into()]);
    let target = format!("brute@{}.test", w.a.slug);
    w.app.user(&target, "STAFF", Some(w.a.id)).await;
    let hits = |key: String| {
        let db = &w.app.db;
        async move {
            db.query_one("SELECT count(*) FROM qlink.rate_limit_hits WHERE key = $1", &[&key])
                .await
                .unwrap()
                .get::<_, i64>(0)
        }
    };
    let retry_after = |x: &Exchange| x.header("retry-after").and_then(|v| v.parse::<u64>().ok());

    // The 0.1 finding: nine wrong passwords from six addresses locked the email for 15
    // minutes for everyone. Now, after five failures, the email is only paced: of the rapid
    // guesses one per 3 s gets through (401), the rest are told to wait 3 s (429).
    let sessions_before: i64 =
        w.app.db.query_one("SELECT count(*) FROM qlink.login_sessions", &[]).await.unwrap().get(0);
    let mut statuses = Vec::new();
    for i in 0..9 {
        let x = attempt(&w, &format!("10.50.0.{}", i % 6), &target, "guess 1").await;
        if x.status == 429 {
            assert_eq!(retry_after(&x), Some(3), "{}", x.describe());
            assert_eq!(x.json().unwrap()["error"]["code"], "rate_limited");
        }
        statuses.push(x.status);
    }
    assert_eq!(&statuses[..6], [401; 6], "the first failures are answered");
    assert!(statuses[6..].iter().all(|s| *s == 429 || *s == 401), "{statuses:?}");
    assert!(statuses[6..].contains(&429), "a paced email lets rapid guesses through: {statuses:?}");
    // The right password from a new address: at worst one wait of Retry-After.
    let mut x = attempt(&w, "10.50.1.2", &target, PASSWORD).await;
    if x.status == 429 {
        let wait = retry_after(&x).expect("Retry-After");
        assert!(wait <= 3, "{}", x.describe());
        tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
        x = attempt(&w, "10.50.1.2", &target, PASSWORD).await;
    }
    assert_eq!(x.status, 200, "the right password was locked out: {}", x.describe());
    let sessions_after: i64 =
        w.app.db.query_one("SELECT count(*) FROM qlink.login_sessions", &[]).await.unwrap().get(0);
    assert_eq!(sessions_after, sessions_before + 1, "only the successful login made a session");
    assert_eq!(attempt(&w, "10.50.1.5", &w.b.staff_email, PASSWORD).await.status, 200, "another user was slowed");
    // Only real failures count, paced refusals do not (the window does not grow while paced).
    let failed = hits(format!("login:failed:{target}")).await;
    assert_eq!(failed, statuses.iter().filter(|s| **s == 401).count() as i64);

    // Per (email, address): ten attempts from one address, then that address is refused for
    // this email (also with the right password), while another address still gets in.
    let victim = format!("victim@{}.test", w.a.slug);
    w.app.user(&victim, "STAFF", Some(w.a.id)).await;
    let mut from_one = Vec::new();
    for _ in 0..10 {
        from_one.push(attempt(&w, "10.53.0.1", &victim, "guess 1").await.status);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let x = attempt(&w, "10.53.0.1", &victim, PASSWORD).await;
    assert_eq!((x.status, retry_after(&x)), (429, Some(900)), "{}", x.describe());
    assert_eq!(hits(format!("login:email-ip:{victim}:10.53.0.1")).await, 10);
    let mut other = attempt(&w, "10.53.0.2", &victim, PASSWORD).await;
    if other.status == 429 {
        tokio::time::sleep(std::time::Duration::from_secs(retry_after(&other).unwrap_or(3))).await;
        other = attempt(&w, "10.53.0.2", &victim, PASSWORD).await;
    }
    assert_eq!(other.status, 200, "another address was refused: {}", other.describe());
    // The same email in other spellings is the same email.
    let x = attempt(&w, "10.53.0.1", &format!("  {} ", victim.to_uppercase()), PASSWORD).await;
    assert_eq!(x.status, 429, "{}", x.describe());

    // An unknown email is treated exactly alike: no way to tell which emails exist.
    let ghost = format!("ghost@{}.test", w.a.slug);
    let mut ghost_statuses = Vec::new();
    for i in 0..9 {
        ghost_statuses.push(attempt(&w, &format!("10.51.0.{}", i % 6), &ghost, "guess 1").await.status);
    }
    assert_eq!(&ghost_statuses[..6], [401; 6]);
    assert!(ghost_statuses[6..].contains(&429), "{ghost_statuses:?}");

    // Per IP: 30 attempts from one address over 30 emails; the 31st from it is refused even
    // with valid credentials; from another address the same login works.
    for i in 0..30 {
        assert_eq!(attempt(&w, "10.52.0.1", &format!("nobody{i}@x.test"), "guess 1").await.status, 401);
    }
    let x = attempt(&w, "10.52.0.1", &w.b.staff_email, PASSWORD).await;
    assert_eq!(x.status, 429, "{}", x.describe());
    assert_eq!(hits("login:ip:10.52.0.1".into()).await, 30);
    assert_eq!(attempt(&w, "10.52.0.2", &w.b.staff_email, PASSWORD).await.status, 200);

    // Without a trusted proxy, X-Forwarded-For is the client's word and is ignored: 30
    // attempts with 30 invented addresses all count against the one real address.
    let direct = ProbeApp::spawn(false).await;
    direct.user("solo@x.test", "STAFF", Some(direct.clinic("solo-clinic", json!({})).await.0)).await;
    let rec = Recorder::default();
    for i in 0..30 {
        let x = rec
            .send(
                client()
                    .post(direct.url("/api/v1/auth/login"))
                    .header("x-forwarded-for", format!("203.0.113.{i}"))
                    .json(&json!({"email": format!("n{i}@x.test"), "password": "guess"})),
            )
            .await;
        assert_eq!(x.status, 401);
    }
    let x = rec
        .send(
            client()
                .post(direct.url("/api/v1/auth/login"))
                .header("x-forwarded-for", "198.51.100.7")
                .json(&json!({"email": "solo@x.test", "password": PASSWORD})),
        )
        .await;
    assert_eq!(x.status, 429, "a spoofed X-Forwarded-For escaped the per-IP limit: {}", x.describe());
    w.rec.extend(rec.all());
    for r in w.rec.all().iter().filter(|x| x.status == 200 && x.url.ends_with("/auth/login")) {
        let secret =
            r.header("set-cookie").unwrap().trim_start_matches("qlink_session=").split(';').next().unwrap().to_string();
        w.sessions.push(secret);
    }
    println!("brute force: per address (30/15 min) and per (email, address) (10/15 min), per email only slowed (after 5 failures one attempt per 3 s; the right password from a new address gets in), case and spaces folded, unknown emails alike, X-Forwarded-For only from trusted proxies");
    w.assert_no_secret_received().await;
}

// ---------------------------------------------------------------------------------------
// A suspended or disabled clinic.

#[tokio::test]
async fn a_suspended_clinic_refuses_queue_writes_and_a_disabled_ones_staff_are_shut_out() {
    let mut w = World::new().await;
    let a = w.a.id;
    let slug = w.a.slug.clone();
    let waiting = w.a.tokens["WAITING"];
    let skipped = w.a.tokens["SKIPPED"];
    let served = w.a.tokens["SERVED"];
    for status in ["SUSPENDED", "DISABLED"] {
        let x = w
            .send(
                client()
                    .patch(w.url(&format!("/api/v1/admin/clinics/{a}")))
                    .bearer_auth(&w.admin_bearer)
                    .json(&json!({"status": status})),
            )
            .await;
        assert_eq!(x.status, 200, "{}", x.describe());
        let before = w.fingerprint().await;
        let staff = w.a.bearer.clone();
        // Every queue write, by staff and by patients: 403, nothing changed. A DISABLED
        // clinic's staff are shut out altogether (SPEC §13): their logins answer 401.
        let disabled = status == "DISABLED";
        let mut writes: Vec<RequestBuilder> = Vec::new();
        for (action, token) in [
            ("NEXT", None),
            ("SERVED", None),
            ("SKIP", None),
            ("SKIP", Some(waiting)),
            ("RECALL", Some(skipped)),
            ("CANCEL", Some(waiting)),
            ("UNDO", None),
        ] {
            writes.push(
                client()
                    .post(w.url("/api/v1/staff/queue/actions"))
                    .bearer_auth(&staff)
                    .json(&json!({"action": action, "token_id": token})),
            );
        }
        writes.push(
            client().post(w.url("/api/v1/staff/tokens")).bearer_auth(&staff).json(&json!({"patient_name": "Walk-in"})),
        );
        writes.push(
            client()
                .post(w.url("/api/v1/staff/tokens"))
                .bearer_auth(&staff)
                .json(&json!({"patient_name": "Emergency", "is_priority": true})),
        );
        writes.push(client().post(w.url("/api/v1/staff/session/close")).bearer_auth(&staff));
        writes.push(
            client()
                .post(w.url(&format!("/api/v1/clinics/{slug}/tokens")))
                .header("x-forwarded-for", "10.60.0.1")
                .json(&json!({"patient_name": "New patient", "patient_phone": "9123456789"})),
        );
        writes.push(client().post(w.url(&format!("/api/v1/tokens/{waiting}/cancel"))));
        let by_staff = writes.len() - 2;
        for (n, rb) in writes.into_iter().enumerate() {
            let x = w.send(rb).await;
            let expected =
                if disabled && n < by_staff { (401, json!("unauthorized")) } else { (403, json!("forbidden")) };
            assert_eq!((x.status, x.json().unwrap()["error"]["code"].clone()), expected, "{status}: {}", x.describe());
        }
        assert_eq!(
            diff(&before, &w.fingerprint().await),
            Vec::<String>::new(),
            "{status}: a refused write changed something"
        );
        // Reads: the staff of a suspended clinic see their queue (a DISABLED one's see
        // nothing), patients see their token and the clinic's state.
        let x = w.send(client().get(w.url("/api/v1/staff/queue")).bearer_auth(&staff)).await;
        if disabled {
            assert_eq!(x.status, 401, "a disabled clinic's staff read its queue: {}", x.describe());
        } else {
            assert_eq!(x.status, 200);
            assert!(x.json().unwrap()["tokens"].as_array().unwrap().len() >= 6);
        }
        let x = w.send(client().get(w.url(&format!("/api/v1/clinics/{slug}")))).await;
        assert_eq!(x.status, 200);
        let v = x.json().unwrap();
        assert_eq!((v["status"].as_str(), v["accepting_tokens"].as_bool()), (Some(status), Some(false)));
        let x = w.send(client().get(w.url(&format!("/api/v1/tokens/{waiting}")))).await;
        assert_eq!((x.status, x.json().unwrap()["status"].clone()), (200, json!("WAITING")));
        let x = w.send(client().get(w.url("/api/v1/auth/me")).bearer_auth(&staff)).await;
        assert_eq!(x.status, if disabled { 401 } else { 200 });
        // A suspended clinic's staff can still log in (to see the queue and the notice); a
        // disabled one's cannot.
        let email = w.a.staff_email.clone();
        if disabled {
            let x = w
                .send(
                    client()
                        .post(w.url("/api/v1/auth/login"))
                        .header("x-forwarded-for", "10.61.0.1")
                        .json(&json!({"email": email, "password": PASSWORD, "issue_token": true})),
                )
                .await;
            assert_eq!(x.status, 401, "a disabled clinic's staff logged in: {}", x.describe());
        } else {
            let _ = w.login(&email, true).await;
        }
        let _ = served;
        // The other clinic is unaffected.
        let x = w
            .send(
                client()
                    .post(w.url("/api/v1/staff/queue/actions"))
                    .bearer_auth(&w.b.bearer)
                    .json(&json!({"action": "NEXT"})),
            )
            .await;
        assert_eq!(x.status, 200);
        assert_eq!(w.send(client().get(w.url(&format!("/api/v1/tokens/{}", w.b.tokens["WAITING"])))).await.status, 200);
    }
    // Reactivated: writes work again.
    let x = w
        .send(
            client()
                .patch(w.url(&format!("/api/v1/admin/clinics/{a}")))
                .bearer_auth(&w.admin_bearer)
                .json(&json!({"status": "ACTIVE"})),
        )
        .await;
    assert_eq!(x.status, 200);
    let x = w
        .send(
            client()
                .post(w.url("/api/v1/staff/queue/actions"))
                .bearer_auth(&w.a.bearer)
                .json(&json!({"action": "NEXT"})),
        )
        .await;
    assert_eq!(x.status, 200, "{}", x.describe());
    let x = w.send(client().post(w.url("/api/v1/staff/session/close")).bearer_auth(&w.a.bearer)).await;
    assert_eq!(x.status, 200, "{}", x.describe());
    w.assert_no_secret_received().await;
}

// ---------------------------------------------------------------------------------------
// The runtime role.

async fn expect_denied(db: &Client, sql: &str) {
    let result = db.batch_execute(sql).await;
    let _ = db.batch_execute("ROLLBACK").await;
    match result {
        Ok(()) => panic!("qlink_app could run: {sql}"),
        Err(e) => assert_eq!(sqlstate(&e).as_deref(), Some("42501"), "{sql}: {e}"),
    }
}

#[tokio::test]
async fn the_runtime_role_cannot_touch_any_table_or_the_clock() {
    let w = World::new().await;
    let app_url = url_as(&w.app.db_url, "qlink_app");
    let runtime = connect(&app_url).await;
    let tables: Vec<(String, String)> = w
        .app
        .db
        .query(
            "SELECT c.relname, (SELECT a.attname FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
                                 AND a.attidentity = '' AND a.attgenerated = '' ORDER BY a.attnum LIMIT 1) \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'qlink' AND c.relkind IN ('r', 'p') ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert!(tables.len() >= 9, "{tables:?}");
    let before = w.fingerprint().await;
    let mut probes = 0;
    for (table, column) in &tables {
        for sql in [
            format!("SELECT * FROM qlink.{table}"),
            format!("SELECT count(*) FROM qlink.{table}"),
            format!("INSERT INTO qlink.{table} DEFAULT VALUES"),
            format!("UPDATE qlink.{table} SET {column} = {column}"),
            format!("DELETE FROM qlink.{table}"),
            format!("TRUNCATE qlink.{table}"),
            format!("COPY qlink.{table} TO STDOUT"),
            format!("ALTER TABLE qlink.{table} DISABLE ROW LEVEL SECURITY"),
            format!("DROP TABLE qlink.{table}"),
            format!("CREATE INDEX ON qlink.{table} ({column})"),
            format!("BEGIN; LOCK TABLE qlink.{table}; COMMIT"),
        ] {
            expect_denied(&runtime, &sql).await;
            probes += 1;
        }
    }
    for sql in [
        "CREATE TABLE qlink.evil (i int)",
        "CREATE VIEW qlink.evil AS SELECT 1",
        "CREATE FUNCTION qlink.evil() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        "CREATE SEQUENCE qlink.evil",
        "CREATE TABLE public.evil (i int)",
        "CREATE SCHEMA evil",
        "ALTER SCHEMA qlink RENAME TO evil",
        "ALTER FUNCTION qlink.qlink_version() SECURITY INVOKER",
        "SET ROLE postgres",
        "SELECT nextval(pg_get_serial_sequence('qlink.audit_logs', 'id'))",
        "SELECT pg_read_file('/etc/passwd')",
        // The test clock is for superusers only: SET, SET LOCAL, set_config, role defaults.
        "SELECT qlink.qlink_version(); SET qlink.clock_override = '2020-01-01 10:00:00+00'",
        "BEGIN; SET LOCAL qlink.clock_override = '2020-01-01 10:00:00+00'; COMMIT",
        "SELECT set_config('qlink.clock_override', '2020-01-01 10:00:00+00', false)",
        "ALTER ROLE qlink_app SET qlink.clock_override = '2020-01-01 10:00:00+00'",
    ] {
        expect_denied(&runtime, sql).await;
        probes += 1;
    }
    // Set before the extension's library is loaded, the clock is only a placeholder: it is
    // discarded (with a warning) when the library loads, so the functions keep real time.
    // Also when sent as a connection option.
    let mut config: tokio_postgres::Config = app_url.parse().unwrap();
    config.options("-c qlink.clock_override=2020-01-01T10:00:00+00");
    for early in [connect(&app_url).await, {
        let (c, conn) = config.connect(tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        c
    }] {
        let _ = early.batch_execute("SET qlink.clock_override = '2020-01-01 10:00:00+00'").await;
        let row = early
            .query_one(
                "SELECT token_id FROM qlink.create_token($1, 'Clock probe', NULL, 'STAFF', \
                                                         login => sha256(convert_to($2, 'UTF8')))",
                &[&w.a.id, &w.a.bearer],
            )
            .await
            .unwrap();
        let id: Uuid = row.get(0);
        let shown: String = early.query_one("SHOW qlink.clock_override", &[]).await.unwrap().get(0);
        assert_eq!(shown, "", "qlink_app kept a test clock");
        let created_today: bool = w
            .app
            .db
            .query_one("SELECT created_at > now() - interval '1 hour' FROM qlink.tokens WHERE id = $1", &[&id])
            .await
            .unwrap()
            .get(0);
        assert!(created_today, "a token was created at the forged time");
        w.app.db.execute("DELETE FROM qlink.message_logs WHERE token_id = $1", &[&id]).await.unwrap();
        w.app.db.execute("DELETE FROM qlink.audit_logs WHERE token_id = $1", &[&id]).await.unwrap();
        w.app.db.execute("DELETE FROM qlink.tokens WHERE id = $1", &[&id]).await.unwrap();
        w.app
            .db
            .execute(
                "UPDATE qlink.sessions SET last_token_number = last_token_number - 1 WHERE business_id = $1",
                &[&w.a.id],
            )
            .await
            .unwrap();
    }
    // The functions are what it may use.
    let version: String = runtime.query_one("SELECT qlink.qlink_version()", &[]).await.unwrap().get(0);
    assert_eq!(version, env!("CARGO_PKG_VERSION"));
    let changed = diff(&before, &w.fingerprint().await);
    assert!(changed.iter().all(|c| c.starts_with("qlink.sessions")), "{changed:?}");
    println!(
        "runtime role: {probes} statements on {} tables, the schema and the clock, each refused (42501)",
        tables.len()
    );
}

// ---------------------------------------------------------------------------------------
// Secrets in responses and in the real server's log.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_in_any_response_or_in_the_server_log() {
    let bin = probe::fresh_qlink_bin();
    let db_url = fresh_database().await;
    let db = connect(&db_url).await;
    let fake = FakeWhatsApp::start().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let admin_email = "operator@qlink.test";
    let admin_password = "operator password 7f3a";
    let hash = qlink_server::accounts::hash_password(admin_password).unwrap();
    db.query_one("SELECT qlink.create_staff_user($1, $2, 'SUPER_ADMIN')", &[&admin_email, &hash]).await.unwrap();
    let mut server = Command::new(&bin)
        .arg("serve")
        .env_remove("DATABASE_URL")
        .env("DATABASE_URL", &db_url)
        .env("QLINK_BIND", format!("127.0.0.1:{port}"))
        .env("QLINK_PUBLIC_URL", &base)
        // Everything the server can log, as an operator chasing a problem would ask for.
        .env("RUST_LOG", "trace")
        .env("WHATSAPP_API_BASE", fake.base_url())
        .env("WHATSAPP_API_VERSION", API_VERSION)
        .env("WHATSAPP_PHONE_NUMBER_ID", PHONE_NUMBER_ID)
        .env("WHATSAPP_ACCESS_TOKEN", FAKE_ACCESS_TOKEN)
        .env("WHATSAPP_APP_SECRET", WA_APP_SECRET)
        .env("WHATSAPP_VERIFY_TOKEN", WA_VERIFY_TOKEN)
        .env("QLINK_WORKER_POLL_SECONDS", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start qlink serve");
    // Read the log as it is written (a full pipe would stall the server).
    let drain = |pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut pipe = pipe;
            let mut all = Vec::new();
            let _ = std::io::Read::read_to_end(&mut pipe, &mut all);
            all
        })
    };
    let stdout = drain(Box::new(server.stdout.take().unwrap()));
    let stderr = drain(Box::new(server.stderr.take().unwrap()));
    let rec = Recorder::default();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = client().get(format!("{base}/readyz")).send().await {
            if r.status() == 200 {
                break;
            }
        }
        if Instant::now() > deadline || server.try_wait().unwrap().is_some() {
            let _ = server.kill();
            let _ = server.wait();
            let log = [stdout.join().unwrap(), stderr.join().unwrap()].concat();
            panic!("qlink serve did not become ready:\n{}", String::from_utf8_lossy(&log));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let url = |p: &str| format!("{base}{p}");
    let mut sessions = Vec::new();
    let mut passwords = vec![admin_password.to_string()];
    let secret_of = |x: &Exchange| {
        x.header("set-cookie").unwrap().trim_start_matches("qlink_session=").split(';').next().unwrap().to_string()
    };

    // The operator logs in both ways and creates two clinics with their first staff logins.
    let x = rec
        .send(
            client()
                .post(url("/api/v1/auth/login"))
                .json(&json!({"email": admin_email, "password": admin_password, "issue_token": true})),
        )
        .await;
    assert_eq!(x.status, 200, "{}", x.describe());
    let admin = secret_of(&x);
    sessions.push(admin.clone());
    let x = rec
        .send(client().post(url("/api/v1/auth/login")).json(&json!({"email": admin_email, "password": admin_password})))
        .await;
    let admin_cookie = secret_of(&x);
    sessions.push(admin_cookie.clone());
    let mut staff = Vec::new();
    for slug in ["log-alpha", "log-bravo"] {
        let password = format!("{slug} staff password 91");
        passwords.push(password.clone());
        let x = rec
            .send(
                client()
                    .post(url("/api/v1/admin/clinics"))
                    .header("cookie", format!("qlink_session={admin_cookie}"))
                    .header("origin", &base)
                    .json(&json!({"slug": slug, "name": format!("Clinic {slug}"), "staff_email": format!("desk@{slug}.test"), "staff_password": password})),
            )
            .await;
        assert_eq!(x.status, 201, "{}", x.describe());
        let x = rec
            .send(
                client()
                    .post(url("/api/v1/auth/login"))
                    .json(&json!({"email": format!("desk@{slug}.test"), "password": password, "issue_token": true})),
            )
            .await;
        assert_eq!(x.status, 200);
        let s = secret_of(&x);
        sessions.push(s.clone());
        staff.push((slug, s));
    }
    // Wrong passwords, an unknown user, a bad request.
    for (email, password) in [
        ("desk@log-alpha.test", "wrong password 1"),
        ("nobody@log.test", "wrong password 2"),
        ("", "empty email password 3"),
    ] {
        passwords.push(password.to_string());
        let x = rec
            .send(client().post(url("/api/v1/auth/login")).json(&json!({"email": email, "password": password})))
            .await;
        assert!(x.status == 401 || x.status == 400);
    }
    // Patients and the desk: tokens (WELCOME messages go to the fake API with the access
    // token), NEXT (CALLED), refusals of every kind.
    for (i, (slug, s)) in staff.iter().enumerate() {
        for n in 0..3 {
            let x =
                rec.send(client().post(url(&format!("/api/v1/clinics/{slug}/tokens"))).json(
                    &json!({"patient_name": format!("Patient {n}"), "patient_phone": format!("98765{i}{n:04}")}),
                ))
                .await;
            assert_eq!(x.status, 201, "{}", x.describe());
            let id = x.json().unwrap()["token_id"].as_str().unwrap().to_string();
            rec.send(client().get(url(&format!("/api/v1/tokens/{id}")))).await;
        }
        for body in [json!({"action": "NEXT"}), json!({"action": "DANCE"}), json!({"action": "UNDO"})] {
            rec.send(client().post(url("/api/v1/staff/queue/actions")).bearer_auth(s).json(&body)).await;
        }
        rec.send(client().get(url("/api/v1/staff/queue")).bearer_auth(s)).await;
        rec.send(
            client()
                .post(url("/api/v1/staff/queue/actions"))
                .header("cookie", format!("qlink_session={s}"))
                .json(&json!({"action": "NEXT"})),
        )
        .await;
        rec.send(client().get(url("/api/v1/admin/clinics")).bearer_auth(s)).await;
    }
    rec.send(client().get(url("/api/v1/staff/queue")).bearer_auth("forged-bearer-token")).await;
    // Webhooks: the handshake with the right and a wrong verify token, signed and unsigned statuses.
    rec.send(client().get(url(&format!(
        "/api/v1/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token={WA_VERIFY_TOKEN}&hub.challenge=1158201444"
    ))))
    .await;
    rec.send(client().get(url("/api/v1/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1")))
        .await;
    // Six WELCOMEs at least (a CALLED undone before it was sent is dropped, by design),
    // then an empty outbox: every message was sent with the access token.
    fake.wait_for(Duration::from_secs(20), "the WELCOME messages", |r| r.len() >= 6).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let due: i64 = db
            .query_one("SELECT count(*) FROM qlink.message_logs WHERE status IN ('PENDING', 'FAILED')", &[])
            .await
            .unwrap()
            .get(0);
        if due == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{due} messages still unsent");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(fake.received().iter().all(|r| r.authorized), "the worker did not present the access token");
    let wamid = fake.received()[0].wamid.clone().unwrap();
    let payload = serde_json::to_vec(&json!({"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages", "value": {"statuses": [{"id": wamid, "status": "delivered"}]}}]}]})).unwrap();
    let signature = {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(WA_APP_SECRET.as_bytes()).unwrap();
        mac.update(&payload);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    };
    let x = rec
        .send(
            client()
                .post(url("/api/v1/webhooks/whatsapp"))
                .header("x-hub-signature-256", signature)
                .header("content-type", "application/json")
                .body(payload.clone()),
        )
        .await;
    assert_eq!(x.status, 200, "{}", x.describe());
    rec.send(client().post(url("/api/v1/webhooks/whatsapp")).header("x-hub-signature-256", "sha256=00").body(payload))
        .await;
    // The operator's views, metrics, OpenAPI, logout.
    for p in [
        "/api/v1/admin/clinics",
        "/api/v1/admin/messages",
        "/api/v1/admin/audit",
        "/api/v1/admin/metrics",
        "/api/v1/auth/me",
    ] {
        assert_eq!(rec.send(client().get(url(p)).bearer_auth(&admin)).await.status, 200);
    }
    for p in ["/metrics", "/readyz", "/healthz", "/api/v1/openapi.json", "/staff", "/admin"] {
        rec.send(client().get(url(p))).await;
    }
    assert_eq!(rec.send(client().post(url("/api/v1/auth/logout")).bearer_auth(&staff[0].1)).await.status, 204);

    // Everything received: no secret but a session secret in its own login response.
    let mut watched = stored_secrets(&db).await;
    watched.retain(|w| !w.label.starts_with("WhatsApp"));
    watched.push(Watched::secret("WhatsApp access token", FAKE_ACCESS_TOKEN));
    watched.push(Watched::secret("WhatsApp app secret", WA_APP_SECRET));
    watched.push(Watched::secret("WhatsApp verify token", WA_VERIFY_TOKEN));
    for s in &sessions {
        watched.push(Watched::session("a session secret", s.clone()));
        let digest = qlink_server::accounts::session_digest(s);
        watched.push(Watched::secret(
            "a session digest (as bytes)",
            format!("{digest:?}").trim_matches(|c| c == '[' || c == ']').to_string(),
        ));
    }
    for p in &passwords {
        watched.push(Watched::secret("a password", p.clone()));
    }
    let received = rec.all();
    let in_responses = secret_violations(&received, &watched);

    // Stop the server and read everything it logged.
    let pid = server.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "qlink serve did not stop on SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&stdout.join().unwrap()),
        String::from_utf8_lossy(&stderr.join().unwrap())
    );
    assert!(
        log.contains("login") && log.contains("webhook"),
        "the log is not the server's: {}",
        &log[..log.len().min(2000)]
    );
    // In the log, a session secret may not appear at all.
    let log_watched: Vec<Watched> = watched.iter().map(|w| Watched { issued_by_login: false, ..w.clone() }).collect();
    let in_log = log_violations(&log, &log_watched);
    println!(
        "secrets: {} responses and {} log lines (RUST_LOG=trace) scanned for {} secrets",
        received.len(),
        log.lines().count(),
        watched.len()
    );
    assert!(in_responses.is_empty(), "secrets in responses: {in_responses:#?}");
    assert!(in_log.is_empty(), "secrets in the server log: {in_log:#?}");
}
