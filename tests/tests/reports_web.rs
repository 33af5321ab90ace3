//! Reports, usage and billing on the web (SPEC §10), end to end: clinic days replayed in the
//! past with `qlink.clock_override` (the superuser connection), then read back over REST as
//! the clinic's owner and as the operator, as CSV, and in headless Chromium on the report
//! pages. Who may read what: an owner its own clinic only, never the operator's routes; a
//! receptionist no reports; nobody without a login. Bad input answers 400 with the reason
//! and changes nothing.

use qlink_tests::app::{assert_error, assert_refusal, plain, spawn_app, TestApp, PASSWORD};
use qlink_tests::browser::{Browser, PHONE};
use reqwest::Client;
use serde_json::{json, Value};
use uuid::Uuid;

const ZONE: &str = "Asia/Kolkata";

async fn ok(r: reqwest::Response, status: u16) -> Value {
    let got = r.status().as_u16();
    let body = r.text().await.unwrap();
    assert_eq!(got, status, "body: {body}");
    serde_json::from_str(&body).unwrap_or(Value::Null)
}

async fn owner(app: &TestApp, email: &str, clinic: Uuid) {
    let hash = qlink_server::accounts::hash_password(PASSWORD).unwrap();
    app.db.query_one("SELECT qlink.create_staff_user($1, $2, 'OWNER', $3)", &[&email, &hash, &clinic]).await.unwrap();
}

/// A clinic-local date `days_ago` days before today, `YYYY-MM-DD`.
async fn day(app: &TestApp, days_ago: i32) -> String {
    app.db
        .query_one("SELECT ((now() AT TIME ZONE $1)::date - $2::int)::text", &[&ZONE, &days_ago])
        .await
        .unwrap()
        .get(0)
}

async fn at(app: &TestApp, day: &str, minute: u32) {
    app.db.batch_execute(&format!("SET qlink.clock_override = '{day} 10:{minute:02}:00+05:30'")).await.unwrap();
}

/// A clinic created 40 days ago (so that its past months can have statements), with its
/// receptionist `staff@<slug>.test` and owner `owner@<slug>.test`.
async fn clinic(app: &TestApp, slug: &str) -> Uuid {
    let created = day(app, 40).await;
    at(app, &created, 0).await;
    let id = app.clinic(slug).await;
    app.db.batch_execute("RESET qlink.clock_override").await.unwrap();
    owner(app, &format!("owner@{slug}.test"), id).await;
    id
}

/// Patients on the `k`-th replayed day: 3, 4 or 5.
fn patients(k: i32) -> i32 {
    3 + k % 3
}

/// One clinic day `k` days ago, at 10:00 clinic time: `patients(k)` join by QR; the last
/// cancels at 10:05; from 10:10 the desk calls them one by one every 5 minutes (each NEXT
/// serves the one before); the last one called does not come (SKIP). So: served n − 2,
/// skipped 1, cancelled 1, the first wait 10 minutes.
async fn replay_day(app: &TestApp, clinic: Uuid, k: i32) -> String {
    let day = day(app, k).await;
    let n = patients(k);
    at(app, &day, 0).await;
    let mut ids: Vec<Uuid> = Vec::new();
    for i in 0..n {
        let row = app
            .db
            .query_one(
                "SELECT token_id FROM qlink.create_token($1, $2, $3)",
                &[&clinic, &format!("Patient {k}-{i}"), &format!("98765{:05}", i)],
            )
            .await
            .unwrap();
        ids.push(row.get(0));
    }
    at(app, &day, 5).await;
    app.db
        .query_one("SELECT 1 FROM qlink.queue_action($1, 'CANCEL', $2)", &[&clinic, &ids[n as usize - 1]])
        .await
        .unwrap();
    for j in 0..(n - 1) {
        at(app, &day, 10 + 5 * j as u32).await;
        app.db.query_one("SELECT 1 FROM qlink.queue_action($1, 'NEXT')", &[&clinic]).await.unwrap();
    }
    at(app, &day, 11 + 5 * (n - 2) as u32).await;
    app.db.query_one("SELECT 1 FROM qlink.queue_action($1, 'SKIP')", &[&clinic]).await.unwrap();
    app.db.batch_execute("RESET qlink.clock_override").await.unwrap();
    day
}

/// RFC 4180, as the server writes it.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(field.is_empty() && row.is_empty(), "the CSV does not end with a line break");
    rows
}

/// What the CSV must say for a JSON value: text as it is (a leading quote before a formula
/// character), numbers as JSON writes them, null empty.
fn csv_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) if s.starts_with(['=', '+', '-', '@']) => format!("'{s}"),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Downloads `url` as CSV and checks it is the JSON `rows`, column for column.
async fn csv_matches(who: &Client, url: &str, rows: &Value) -> Vec<Vec<String>> {
    let r = who.get(url).send().await.unwrap();
    assert_eq!(r.status(), 200, "{url}");
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("text/csv"), "{ct}");
    let cd = r.headers()["content-disposition"].to_str().unwrap().to_string();
    assert!(cd.starts_with("attachment; filename=\"qlink-") && cd.ends_with(".csv\""), "{cd}");
    let csv = parse_csv(&r.text().await.unwrap());
    let rows = rows.as_array().unwrap();
    assert_eq!(csv.len(), rows.len() + 1, "{url}: header and a line per row");
    let header = &csv[0];
    for (line, row) in csv[1..].iter().zip(rows) {
        assert_eq!(line.len(), header.len());
        for (name, field) in header.iter().zip(line) {
            assert_eq!(field, &csv_text(&row[name]), "{url}: {name} of {row}");
        }
    }
    csv
}

struct Two {
    a: Uuid,
    b: Uuid,
    days: Vec<(String, i32)>,
    admin: Client,
    owner_a: Client,
}

/// Clinics A (three replayed days) and B (one), their owners and the operator.
async fn two_clinics(app: &TestApp) -> Two {
    let a = clinic(app, "clinic-a").await;
    let b = clinic(app, "clinic-b").await;
    let mut days = Vec::new();
    for k in [3, 2, 1] {
        days.push((replay_day(app, a, k).await, patients(k)));
    }
    replay_day(app, b, 2).await;
    let admin_email = app.admin_user().await;
    Two { a, b, days, admin: app.login(&admin_email).await, owner_a: app.login("owner@clinic-a.test").await }
}

fn total(days: &Value, key: &str) -> i64 {
    days.as_array().unwrap().iter().map(|d| d[key].as_i64().unwrap()).sum()
}

#[tokio::test]
async fn the_owner_reads_its_clinic_as_json_and_csv() {
    let app = spawn_app().await;
    let t = two_clinics(&app).await;
    let today = day(&app, 0).await;
    let first = day(&app, 29).await;

    // The last 30 days by default, today included (clinic-local).
    let report = ok(t.owner_a.get(app.url("/api/v1/staff/reports")).send().await.unwrap(), 200).await;
    assert_eq!((report["from"].as_str(), report["to"].as_str()), (Some(first.as_str()), Some(today.as_str())));
    assert_eq!(report["queue_id"], Value::Null);
    let days = report["days"].as_array().unwrap();
    assert_eq!(days.len(), 30);
    assert_eq!(days.last().unwrap()["day"], today);
    assert_eq!(report["hourly"].as_array().unwrap().len(), 168);
    assert_eq!(report["queues"].as_array().unwrap().len(), 1);
    let queue = report["queues"][0]["queue_id"].as_str().unwrap().to_string();

    // The replayed days, as they went.
    let expected: i64 = t.days.iter().map(|(_, n)| i64::from(*n)).sum();
    assert_eq!(total(&report["days"], "tokens"), expected, "{report}");
    for (date, n) in &t.days {
        let d = days.iter().find(|d| d["day"] == date.as_str()).unwrap_or_else(|| panic!("no {date}"));
        let n = i64::from(*n);
        assert_eq!(
            (d["tokens"].as_i64(), d["served"].as_i64(), d["skipped"].as_i64(), d["cancelled"].as_i64()),
            (Some(n), Some(n - 2), Some(1), Some(1)),
            "{d}"
        );
        assert_eq!(d["tokens_qr"].as_i64(), Some(n), "{d}");
        assert_eq!(d["called"].as_i64(), Some(n - 1), "{d}");
        assert_eq!(d["wait_p50_seconds"].as_i64().map(|w| w >= 600), Some(true), "{d}");
    }
    let arrivals: i64 = report["hourly"].as_array().unwrap().iter().map(|h| h["tokens"].as_i64().unwrap()).sum();
    assert_eq!(arrivals, expected);
    assert!(report["hourly"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["tokens"].as_i64() > Some(0))
        .all(|h| h["hour"] == 10));

    // A range, and one queue.
    let (from, to) = (&t.days[0].0, &t.days[2].0);
    let range = format!("from={from}&to={to}");
    let ranged = ok(t.owner_a.get(app.url(&format!("/api/v1/staff/reports?{range}"))).send().await.unwrap(), 200).await;
    assert_eq!(ranged["days"].as_array().unwrap().len(), 3);
    assert_eq!(total(&ranged["days"], "tokens"), expected);
    let one = ok(
        t.owner_a.get(app.url(&format!("/api/v1/staff/reports?{range}&queue_id={queue}"))).send().await.unwrap(),
        200,
    )
    .await;
    assert_eq!(one["queue_id"], queue.as_str());
    assert_eq!(total(&one["days"], "served"), total(&ranged["days"], "served"));

    // Each table as CSV: the same rows as the JSON.
    csv_matches(&t.owner_a, &app.url(&format!("/api/v1/staff/reports?{range}&format=csv")), &ranged["days"]).await;
    let csv = csv_matches(
        &t.owner_a,
        &app.url(&format!("/api/v1/staff/reports?{range}&format=csv&table=days")),
        &ranged["days"],
    )
    .await;
    assert_eq!(csv[0][0], "day");
    csv_matches(
        &t.owner_a,
        &app.url(&format!("/api/v1/staff/reports?{range}&format=csv&table=hourly")),
        &ranged["hourly"],
    )
    .await;

    // The operator reads the same for this clinic.
    let theirs =
        ok(t.admin.get(app.url(&format!("/api/v1/admin/clinics/{}/reports?{range}", t.a))).send().await.unwrap(), 200)
            .await;
    assert_eq!(theirs["days"], ranged["days"]);
    assert_eq!(theirs["hourly"], ranged["hourly"]);
}

#[tokio::test]
async fn who_may_read_what() {
    let app = spawn_app().await;
    let t = two_clinics(&app).await;
    let staff = app.staff("clinic-a").await;
    let owner_b = app.login("owner@clinic-b.test").await;
    let queue_b: Uuid =
        app.db.query_one("SELECT id FROM qlink.queues WHERE business_id = $1", &[&t.b]).await.unwrap().get(0);
    let (a, b) = (t.a, t.b);

    let reads = [
        "/api/v1/staff/reports".to_string(),
        "/api/v1/admin/reports".into(),
        "/api/v1/admin/usage".into(),
        "/api/v1/admin/plans".into(),
        format!("/api/v1/admin/clinics/{b}/reports"),
        format!("/api/v1/admin/clinics/{b}/statement"),
    ];
    for path in &reads {
        assert_error(plain().get(app.url(path)).send().await.unwrap(), 401, "unauthorized").await;
        assert_error(plain().get(app.url(&format!("{path}?format=csv"))).send().await.unwrap(), 401, "unauthorized")
            .await;
    }
    // A receptionist reads no reports; the operator uses its own routes.
    assert_error(staff.get(app.url("/api/v1/staff/reports")).send().await.unwrap(), 403, "forbidden").await;
    assert_error(t.admin.get(app.url("/api/v1/staff/reports")).send().await.unwrap(), 403, "forbidden").await;
    // An owner is never the operator: not even for its own clinic.
    for path in reads
        .iter()
        .skip(1)
        .chain([format!("/api/v1/admin/clinics/{a}/reports"), format!("/api/v1/admin/clinics/{a}/statement")].iter())
    {
        assert_error(t.owner_a.get(app.url(path)).send().await.unwrap(), 403, "forbidden").await;
        assert_error(staff.get(app.url(path)).send().await.unwrap(), 403, "forbidden").await;
    }
    let plan = json!({"code": "gold", "name": "Gold", "monthly_fee_paise": 1, "included_tokens": 1,
                      "included_messages": 1, "extra_token_paise": 1, "extra_message_paise": 1});
    assert_error(t.owner_a.post(app.url("/api/v1/admin/plans")).json(&plan).send().await.unwrap(), 403, "forbidden")
        .await;
    assert_error(
        t.owner_a
            .patch(app.url("/api/v1/admin/plans/standard"))
            .json(&json!({"monthly_fee_paise": 0}))
            .send()
            .await
            .unwrap(),
        403,
        "forbidden",
    )
    .await;
    assert_error(
        t.owner_a
            .put(app.url(&format!("/api/v1/admin/clinics/{a}/plan")))
            .json(&json!({"plan_code": "standard"}))
            .send()
            .await
            .unwrap(),
        403,
        "forbidden",
    )
    .await;
    assert_error(plain().post(app.url("/api/v1/admin/plans")).json(&plan).send().await.unwrap(), 401, "unauthorized")
        .await;

    // Owner A asks for clinic B's queue: not a queue of A's, whatever the format.
    for format in ["json", "csv"] {
        let r = t
            .owner_a
            .get(app.url(&format!("/api/v1/staff/reports?queue_id={queue_b}&format={format}")))
            .send()
            .await
            .unwrap();
        assert_refusal(r, 404, "not_found", "queue_not_found").await;
    }
    // B's owner sees B's patients only.
    let mine = ok(owner_b.get(app.url("/api/v1/staff/reports")).send().await.unwrap(), 200).await;
    assert_eq!(total(&mine["days"], "tokens"), i64::from(patients(2)));
    // The operator: any clinic; an unknown one is not found.
    ok(
        t.admin.get(app.url(&format!("/api/v1/admin/clinics/{b}/reports?queue_id={queue_b}"))).send().await.unwrap(),
        200,
    )
    .await;
    let nobody = Uuid::new_v4();
    for path in [format!("/api/v1/admin/clinics/{nobody}/reports"), format!("/api/v1/admin/clinics/{nobody}/statement")]
    {
        assert_error(t.admin.get(app.url(&path)).send().await.unwrap(), 404, "not_found").await;
    }
    assert_error(
        t.admin
            .put(app.url(&format!("/api/v1/admin/clinics/{nobody}/plan")))
            .json(&json!({"plan_code": "standard"}))
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn bad_input_is_refused_with_the_reason() {
    let app = spawn_app().await;
    let t = two_clinics(&app).await;
    let a = t.a;
    let bad_dates =
        ["from=2026-3-01", "to=2026-02-30", "from=yesterday", "to=", "from=1999-12-31", "to=2026-03-01T00:00"];
    for q in bad_dates {
        let msg = assert_error(
            t.owner_a.get(app.url(&format!("/api/v1/staff/reports?{q}"))).send().await.unwrap(),
            400,
            "invalid_input",
        )
        .await;
        assert!(msg.contains("from") || msg.contains("to"), "{q}: {msg}");
        assert_error(
            t.admin.get(app.url(&format!("/api/v1/admin/reports?{q}"))).send().await.unwrap(),
            400,
            "invalid_input",
        )
        .await;
    }
    for q in ["format=xml", "format=csv&table=weeks", "queue_id=not-a-uuid"] {
        assert_error(
            t.owner_a.get(app.url(&format!("/api/v1/staff/reports?{q}"))).send().await.unwrap(),
            400,
            "invalid_input",
        )
        .await;
    }
    assert_error(
        t.admin.get(app.url("/api/v1/admin/reports?format=csv&table=days")).send().await.unwrap(),
        400,
        "invalid_input",
    )
    .await;
    // The extension's own range rule: in order, at most three years.
    for q in ["from=2026-03-10&to=2026-03-01", "from=2020-01-01&to=2026-01-01"] {
        assert_refusal(
            t.owner_a.get(app.url(&format!("/api/v1/staff/reports?{q}"))).send().await.unwrap(),
            400,
            "invalid_input",
            "invalid_range",
        )
        .await;
        assert_refusal(
            t.admin.get(app.url(&format!("/api/v1/admin/reports?{q}"))).send().await.unwrap(),
            400,
            "invalid_input",
            "invalid_range",
        )
        .await;
        assert_refusal(
            t.admin.get(app.url(&format!("/api/v1/admin/clinics/{a}/reports?{q}&format=csv"))).send().await.unwrap(),
            400,
            "invalid_input",
            "invalid_range",
        )
        .await;
    }
    // Months: written YYYY-MM, not after the current one.
    for q in ["month=2026-13", "month=2026-3", "month=2026-03-01", "month="] {
        assert_error(
            t.admin.get(app.url(&format!("/api/v1/admin/usage?{q}"))).send().await.unwrap(),
            400,
            "invalid_input",
        )
        .await;
        assert_error(
            t.admin.get(app.url(&format!("/api/v1/admin/clinics/{a}/statement?{q}"))).send().await.unwrap(),
            400,
            "invalid_input",
        )
        .await;
    }
    let next_year: String =
        app.db.query_one("SELECT to_char(now() + interval '1 year', 'YYYY-MM')", &[]).await.unwrap().get(0);
    assert_refusal(
        t.admin.get(app.url(&format!("/api/v1/admin/usage?month={next_year}"))).send().await.unwrap(),
        400,
        "invalid_input",
        "invalid_month",
    )
    .await;
    assert_refusal(
        t.admin.get(app.url(&format!("/api/v1/admin/clinics/{a}/statement?month={next_year}"))).send().await.unwrap(),
        400,
        "invalid_input",
        "invalid_month",
    )
    .await;
}

#[tokio::test]
async fn plans_change_only_as_asked_and_are_audited() {
    let app = spawn_app().await;
    let t = two_clinics(&app).await;
    let plans = |c: &Client| {
        let c = c.clone();
        let url = app.url("/api/v1/admin/plans");
        async move { ok(c.get(url).send().await.unwrap(), 200).await }
    };
    let before = plans(&t.admin).await;
    let standard = before["plans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["code"] == "standard")
        .expect("the standard plan")
        .clone();
    assert_eq!(standard["monthly_fee_paise"], 99_900, "{standard}");

    let gold = json!({"code": "gold", "name": "Gold", "monthly_fee_paise": 149_900, "included_tokens": 5000,
                      "included_messages": 4000, "extra_token_paise": 40, "extra_message_paise": 80});
    // Refused, and nothing changes: a negative price, a price above the bound, a bad code,
    // a blank name, a fraction, an unknown field.
    let mut negative = gold.clone();
    negative["extra_token_paise"] = json!(-1);
    assert_refusal(
        t.admin.post(app.url("/api/v1/admin/plans")).json(&negative).send().await.unwrap(),
        400,
        "invalid_input",
        "invalid_price",
    )
    .await;
    for (field, value) in [
        ("monthly_fee_paise", json!(10_000_000_001i64)),
        ("code", json!("Gold!")),
        ("name", json!("   ")),
        ("included_tokens", json!(1.5)),
        ("surprise", json!(1)),
    ] {
        let mut body = gold.clone();
        body[field] = value;
        assert_error(
            t.admin.post(app.url("/api/v1/admin/plans")).json(&body).send().await.unwrap(),
            400,
            "invalid_input",
        )
        .await;
    }
    assert_refusal(
        t.admin
            .patch(app.url("/api/v1/admin/plans/standard"))
            .json(&json!({"monthly_fee_paise": -5}))
            .send()
            .await
            .unwrap(),
        400,
        "invalid_input",
        "invalid_price",
    )
    .await;
    let after = plans(&t.admin).await;
    assert_eq!(after, before, "a refused change changed the plans");

    // Created, then a duplicate is a conflict.
    let created = ok(t.admin.post(app.url("/api/v1/admin/plans")).json(&gold).send().await.unwrap(), 201).await;
    assert_eq!(
        (created["code"].as_str(), created["monthly_fee_paise"].as_i64(), created["clinics"].as_i64()),
        (Some("gold"), Some(149_900), Some(0))
    );
    assert_refusal(
        t.admin.post(app.url("/api/v1/admin/plans")).json(&gold).send().await.unwrap(),
        409,
        "conflict",
        "plan_code_taken",
    )
    .await;
    // Only what is given changes.
    let changed = ok(
        t.admin
            .patch(app.url("/api/v1/admin/plans/gold"))
            .json(&json!({"extra_message_paise": 75}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(
        (changed["extra_message_paise"].as_i64(), changed["included_tokens"].as_i64(), changed["name"].as_str()),
        (Some(75), Some(5000), Some("Gold"))
    );
    assert_error(
        t.admin.patch(app.url("/api/v1/admin/plans/platinum")).json(&json!({"name": "P"})).send().await.unwrap(),
        404,
        "not_found",
    )
    .await;

    // A clinic moves to it; an unknown plan is refused with the reason.
    let moved = ok(
        t.admin
            .put(app.url(&format!("/api/v1/admin/clinics/{}/plan", t.a)))
            .json(&json!({"plan_code": "gold"}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(moved["plan_code"], "gold");
    assert_refusal(
        t.admin
            .put(app.url(&format!("/api/v1/admin/clinics/{}/plan", t.b)))
            .json(&json!({"plan_code": "platinum"}))
            .send()
            .await
            .unwrap(),
        400,
        "invalid_input",
        "unknown_plan",
    )
    .await;
    let usage = ok(t.admin.get(app.url("/api/v1/admin/usage")).send().await.unwrap(), 200).await;
    let plan_of = |id: Uuid| {
        usage["clinics"].as_array().unwrap().iter().find(|c| c["business_id"] == id.to_string()).unwrap()["plan_code"]
            .clone()
    };
    assert_eq!((plan_of(t.a), plan_of(t.b)), (json!("gold"), json!("standard")));
    let listed = plans(&t.admin).await;
    let gold_now = listed["plans"].as_array().unwrap().iter().find(|p| p["code"] == "gold").unwrap().clone();
    assert_eq!(gold_now["clinics"], 1);

    // Each change is in the operator's audit trail, with who and from where.
    let audit = ok(t.admin.get(app.url("/api/v1/admin/audit")).send().await.unwrap(), 200).await;
    let mine: Vec<&Value> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["actor_email"] == "root@qlink.test"
                && (e["target_id"] == "gold" || e["details"].to_string().contains("gold"))
        })
        .collect();
    assert!(mine.len() >= 3, "create, update and the clinic's move: {audit}");
    assert!(mine.iter().all(|e| e["actor_ip"].as_str().is_some_and(|ip| ip.starts_with("127.0.0.1"))), "{mine:?}");
}

#[tokio::test]
async fn usage_statements_and_the_platform_agree() {
    let app = spawn_app().await;
    let t = two_clinics(&app).await;
    // A clinic whose name a spreadsheet would run as a formula.
    app.db
        .query_one("SELECT qlink.update_business($1, name => '=HYPERLINK(\"http://evil.test\",\"x\")')", &[&t.b])
        .await
        .unwrap();

    let (from, to) = (&t.days[0].0, &t.days[2].0);
    let range = format!("from={from}&to={to}");
    let platform = ok(t.admin.get(app.url(&format!("/api/v1/admin/reports?{range}"))).send().await.unwrap(), 200).await;
    assert_eq!((platform["from"].as_str(), platform["to"].as_str()), (Some(from.as_str()), Some(to.as_str())));
    let row = |id: Uuid| {
        platform["clinics"].as_array().unwrap().iter().find(|c| c["business_id"] == id.to_string()).unwrap().clone()
    };
    let expected_a: i64 = t.days.iter().map(|(_, n)| i64::from(*n)).sum();
    assert_eq!((row(t.a)["tokens"].as_i64(), row(t.a)["active_days"].as_i64()), (Some(expected_a), Some(3)));
    assert_eq!(row(t.b)["tokens"].as_i64(), Some(i64::from(patients(2))));
    assert_eq!(total(&platform["trend"], "tokens"), expected_a + i64::from(patients(2)));
    assert_eq!(platform["trend"].as_array().unwrap().len(), 3);
    let clinics_csv =
        csv_matches(&t.admin, &app.url(&format!("/api/v1/admin/reports?{range}&format=csv")), &platform["clinics"])
            .await;
    let name_at = clinics_csv[0].iter().position(|h| h == "name").unwrap();
    assert!(clinics_csv.iter().any(|r| r[name_at] == "'=HYPERLINK(\"http://evil.test\",\"x\")"), "{clinics_csv:?}");
    csv_matches(
        &t.admin,
        &app.url(&format!("/api/v1/admin/reports?{range}&format=csv&table=trend")),
        &platform["trend"],
    )
    .await;
    // The default range is the last 30 days.
    let default = ok(t.admin.get(app.url("/api/v1/admin/reports")).send().await.unwrap(), 200).await;
    assert_eq!(default["trend"].as_array().unwrap().len(), 30);

    // The statement of the month of yesterday: its tokens are the days' tokens of that month.
    let month = t.days[2].0[..7].to_string();
    let in_month: i64 = t.days.iter().filter(|(d, _)| d.starts_with(&month)).map(|(_, n)| i64::from(*n)).sum();
    let statement = ok(
        t.admin.get(app.url(&format!("/api/v1/admin/clinics/{}/statement?month={month}", t.a))).send().await.unwrap(),
        200,
    )
    .await;
    assert_eq!(statement["month"], month.as_str());
    let lines = statement["lines"].as_array().unwrap();
    let names: Vec<&str> = lines.iter().map(|l| l["line"].as_str().unwrap()).collect();
    assert_eq!(names, ["plan", "tokens", "messages", "total"]);
    assert_eq!(lines[0]["amount_paise"], 99_900, "the standard plan's fee: {statement}");
    assert_eq!(lines[1]["quantity"].as_i64(), Some(in_month), "{statement}");
    assert_eq!(lines[1]["extra"], 0);
    let sum: i64 = lines[..3].iter().map(|l| l["amount_paise"].as_i64().unwrap()).sum();
    assert_eq!(lines[3]["amount_paise"].as_i64(), Some(sum));
    csv_matches(
        &t.admin,
        &app.url(&format!("/api/v1/admin/clinics/{}/statement?month={month}&format=csv", t.a)),
        &statement["lines"],
    )
    .await;

    // The month's usage says the same.
    let usage =
        ok(t.admin.get(app.url(&format!("/api/v1/admin/usage?month={month}"))).send().await.unwrap(), 200).await;
    let mine =
        usage["clinics"].as_array().unwrap().iter().find(|c| c["business_id"] == t.a.to_string()).unwrap().clone();
    assert_eq!((mine["tokens"].as_i64(), mine["amount_paise"].as_i64()), (Some(in_month), Some(sum)));
    let csv =
        csv_matches(&t.admin, &app.url(&format!("/api/v1/admin/usage?month={month}&format=csv")), &usage["clinics"])
            .await;
    assert!(csv.iter().any(|r| r.iter().any(|f| f.starts_with("'=HYPERLINK"))), "{csv:?}");
    // This month by default.
    let this_month: String =
        app.db.query_one("SELECT to_char(now() AT TIME ZONE $1, 'YYYY-MM')", &[&ZONE]).await.unwrap().get(0);
    let now = ok(t.admin.get(app.url("/api/v1/admin/usage")).send().await.unwrap(), 200).await;
    assert_eq!(now["month"], this_month.as_str());
}

// The pages, in headless Chromium.

async fn log_in(b: &Browser, app: &TestApp, page: &str, email: &str, ready: &str) {
    b.goto(&app.url(page)).await;
    b.wait_visible("#login").await;
    b.fill("#email", email).await;
    b.fill("#password", PASSWORD).await;
    b.click("#login-button").await;
    b.wait_until("logged in", &format!("!!document.querySelector('{ready}')")).await;
}

/// Fetches a link of the page with the page's own login (a synchronous XHR: what the
/// download would get).
async fn fetch_link(b: &Browser, css: &str) -> (u64, String, String) {
    let v = b
        .js(
            "var a = document.querySelector(arguments[0]); if (!a || !a.hasAttribute('download')) return null; \
             var x = new XMLHttpRequest(); x.open('GET', a.href, false); x.send(); \
             return [x.status, x.getResponseHeader('content-disposition') || '', x.responseText];",
            vec![json!(css)],
        )
        .await;
    assert!(!v.is_null(), "no download link {css}");
    (v[0].as_u64().unwrap(), v[1].as_str().unwrap().to_string(), v[2].as_str().unwrap().to_string())
}

#[tokio::test]
async fn the_owner_reads_a_replayed_month_on_a_phone() {
    let app = spawn_app().await;
    let a = clinic(&app, "clinic-a").await;
    let mut served_days = 0;
    // Oldest first, as the days happened.
    for k in (1..=20).rev() {
        replay_day(&app, a, k).await;
        served_days += 1;
    }
    let b = Browser::start("owner-reports", PHONE).await;
    log_in(&b, &app, "/staff/reports", "owner@clinic-a.test", "#days-table").await;
    b.assert_fits(PHONE.width).await;
    assert_eq!(b.js("return document.querySelectorAll('#days-table tbody tr').length;", vec![]).await, 30);
    // The charts: drawn, with the days' data, each saying what it shows, within the phone.
    for chart in ["patients", "waits", "eta", "arrivals"] {
        let v = b
            .js(
                "var s = document.querySelector('svg.chart[data-chart=\"' + arguments[0] + '\"]'); if (!s) return null; \
                 return [s.getAttribute('aria-label') || '', s.querySelector('title') ? s.querySelector('title').textContent : '', \
                         s.getBoundingClientRect().width, window.innerWidth];",
                vec![json!(chart)],
            )
            .await;
        assert!(!v.is_null(), "no {chart} chart");
        assert!(!v[0].as_str().unwrap().is_empty() && v[0] == v[1], "{chart}: {v}");
        assert!(v[2].as_f64().unwrap() > 200.0 && v[2].as_f64().unwrap() <= v[3].as_f64().unwrap(), "{chart}: {v}");
    }
    let served_bars = b
        .js("return document.querySelectorAll('svg[data-chart=patients] rect[fill=\"#0B6E4F\"]').length;", vec![])
        .await;
    for part in ["chart-patients", "chart-waits", "chart-eta", "chart-arrivals", "days"] {
        b.js("document.getElementById(arguments[0]).scrollIntoView();", vec![json!(part)]).await;
        b.screenshot(&format!("owner-reports-phone-{part}")).await;
    }
    let fills = b
        .js("return Array.prototype.map.call(document.querySelectorAll('svg[data-chart=patients] rect'), function (r) { return r.getAttribute('fill') + ' ' + r.getAttribute('height'); }).join(',');", vec![])
        .await;
    assert_eq!(served_bars, served_days, "a served bar for every replayed day: {fills}");
    let skipped_bars = b
        .js("return document.querySelectorAll('svg[data-chart=patients] rect[fill=\"#E09A10\"]').length;", vec![])
        .await;
    assert_eq!(skipped_bars, served_days);
    let wait_lines = b.js("return document.querySelectorAll('svg[data-chart=waits] polyline[stroke=\"#0B6E4F\"][stroke-width=\"3\"]').length;", vec![]).await;
    assert!(wait_lines.as_u64() >= Some(1), "{wait_lines}");
    let cells = b.js("return document.querySelectorAll('svg[data-chart=arrivals] rect').length;", vec![]).await;
    assert!(cells.as_u64() >= Some(2), "the 10 o'clock cells over the background: {cells}");
    b.screenshot("owner-reports-phone").await;

    // The days' CSV downloads with the page's login, and says what the table says.
    let (status, disposition, body) = fetch_link(&b, "#csv-days").await;
    assert_eq!(status, 200);
    assert!(disposition.starts_with("attachment"), "{disposition}");
    let csv = parse_csv(&body);
    assert_eq!(csv.len(), 31);
    let tokens_at = csv[0].iter().position(|h| h == "tokens").unwrap();
    let csv_total: i64 = csv[1..].iter().map(|r| r[tokens_at].parse::<i64>().unwrap()).sum();
    let page_total: i64 = b.text("#total-tokens").await.trim().parse().unwrap();
    let expected: i64 = (1..=20).map(|k| i64::from(patients(k))).sum();
    assert_eq!((csv_total, page_total), (expected, expected));
    let (status, _, body) = fetch_link(&b, "#csv-hourly").await;
    assert_eq!((status, parse_csv(&body).len()), (200, 169));

    // A shorter range from the form.
    let from = day(&app, 6).await;
    let to = day(&app, 1).await;
    b.js(
        "document.getElementById('from').value = arguments[0]; document.getElementById('to').value = arguments[1];",
        vec![json!(from), json!(to)],
    )
    .await;
    b.click("#range-show").await;
    b.wait_until("six days", "document.querySelectorAll('#days-table tbody tr').length === 6").await;
    b.close().await;
}

#[tokio::test]
async fn the_operator_sees_the_statement_the_api_gives_and_edits_plans() {
    let app = spawn_app().await;
    let t = two_clinics(&app).await;
    let month = t.days[2].0[..7].to_string();
    let statement = ok(
        t.admin.get(app.url(&format!("/api/v1/admin/clinics/{}/statement?month={month}", t.a))).send().await.unwrap(),
        200,
    )
    .await;

    let b = Browser::start("operator-reports", PHONE).await;
    log_in(&b, &app, &format!("/admin/reports?statement={}&month={month}", t.a), "root@qlink.test", "#statement-table")
        .await;
    b.assert_fits(PHONE.width).await;
    for line in statement["lines"].as_array().unwrap() {
        let name = line["line"].as_str().unwrap();
        let shown = b
            .js(
                "var r = document.querySelector('#statement-table tr[data-line=\"' + arguments[0] + '\"]'); \
                 return r ? [r.querySelector('.quantity').textContent, r.querySelector('.amount').getAttribute('data-paise'), \
                             r.querySelector('.amount').textContent] : null;",
                vec![json!(name)],
            )
            .await;
        assert!(!shown.is_null(), "no {name} line");
        assert_eq!(
            shown[0].as_str().unwrap(),
            line["quantity"].as_i64().map(|q| q.to_string()).unwrap_or_default(),
            "{name}"
        );
        let paise = line["amount_paise"].as_i64().unwrap();
        assert_eq!(shown[1].as_str().unwrap(), paise.to_string(), "{name}");
        assert_eq!(shown[2].as_str().unwrap(), qlink_server::http::reports::rupees(paise), "{name}");
    }
    assert!(b.js("return !!document.querySelector('svg.chart[data-chart=trend]');", vec![]).await.as_bool().unwrap());
    let (status, _, body) = fetch_link(&b, "#csv-statement").await;
    assert_eq!((status, parse_csv(&body).len()), (200, 5));

    // A plan created from the form, in rupees, saved in paise.
    b.fill("#plan-code", "gold").await;
    b.fill("#plan-name", "Gold").await;
    b.fill("#plan-fee", "1499.5").await;
    b.fill("#plan-tokens", "5000").await;
    b.fill("#plan-messages", "4000").await;
    b.fill("#plan-extra-token", "0.40").await;
    b.fill("#plan-extra-message", "1").await;
    b.click("#add-plan-button").await;
    b.wait_for_text("#notice", "Plan created.").await;
    let plans = ok(t.admin.get(app.url("/api/v1/admin/plans")).send().await.unwrap(), 200).await;
    let gold = plans["plans"].as_array().unwrap().iter().find(|p| p["code"] == "gold").expect("gold").clone();
    assert_eq!(
        (gold["monthly_fee_paise"].as_i64(), gold["extra_token_paise"].as_i64(), gold["extra_message_paise"].as_i64()),
        (Some(149_950), Some(40), Some(100))
    );
    // Its terms edited in the table: only the fee changes.
    b.js("document.querySelector('tr[data-code=gold] input[name=monthly_fee]').value = '1999';", vec![]).await;
    b.js("document.querySelector('#plan-gold button').click();", vec![]).await;
    b.wait_for_text("#notice", "Plan saved").await;
    let plans = ok(t.admin.get(app.url("/api/v1/admin/plans")).send().await.unwrap(), 200).await;
    let gold = plans["plans"].as_array().unwrap().iter().find(|p| p["code"] == "gold").expect("gold").clone();
    assert_eq!((gold["monthly_fee_paise"].as_i64(), gold["included_tokens"].as_i64()), (Some(199_900), Some(5000)));
    // The clinic moves to it from the form.
    b.js("var s = document.getElementById('move-clinic-id'); s.value = arguments[0];", vec![json!(t.a.to_string())])
        .await;
    b.js("document.getElementById('move-plan').value = 'gold';", vec![]).await;
    b.click("#move-clinic-button").await;
    b.wait_for_text("#notice", "Clinic moved").await;
    let usage = ok(t.admin.get(app.url("/api/v1/admin/usage")).send().await.unwrap(), 200).await;
    let a = usage["clinics"].as_array().unwrap().iter().find(|c| c["business_id"] == t.a.to_string()).unwrap().clone();
    assert_eq!(a["plan_code"], "gold");
    b.screenshot("operator-reports-phone").await;
    b.close().await;
}

#[tokio::test]
async fn the_pages_are_for_their_logins() {
    let app = spawn_app().await;
    let t = two_clinics(&app).await;
    // Without a login: the login form. A receptionist: "owner only". The operator on the
    // owner's page goes to its own. An owner on the operator's: "operator only".
    let page = |c: Client, path: &str| {
        let url = app.url(path);
        async move {
            let r = c.get(url).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (s, body) = page(plain(), "/staff/reports").await;
    assert!(s == 200 && body.contains("id=\"login\""), "{s}");
    let (s, body) = page(plain(), "/admin/reports").await;
    assert!(s == 200 && body.contains("id=\"login\"") && !body.contains("statement-table"), "{s}");
    let staff = app.staff("clinic-a").await;
    let (_, body) = page(staff.clone(), "/staff/reports").await;
    assert!(body.contains("id=\"wrong-login\"") && !body.contains("days-table"));
    let (_, body) = page(t.owner_a.clone(), "/admin/reports").await;
    assert!(body.contains("id=\"wrong-login\"") && !body.contains("usage-table"));
    let r = t.admin.get(app.url("/staff/reports")).send().await.unwrap();
    assert!(r.url().path().ends_with("/admin/reports"), "{}", r.url());
    // The owner finds its reports from its pages; the operator from the panel.
    let (_, body) = page(t.owner_a.clone(), "/staff").await;
    assert!(body.contains("href=\"/staff/reports\""));
    let (_, body) = page(t.owner_a.clone(), "/owner").await;
    assert!(body.contains("href=\"/staff/reports\""));
    let (_, body) = page(staff, "/staff").await;
    assert!(!body.contains("href=\"/staff/reports\""), "a receptionist has no reports link");
    let (_, body) = page(t.admin.clone(), "/admin").await;
    assert!(body.contains("href=\"/admin/reports\""));
    // Strings from the database are escaped on the page.
    app.db.query_one("SELECT qlink.update_business($1, name => '<script>alert(1)</script>')", &[&t.b]).await.unwrap();
    let (_, body) = page(t.admin.clone(), "/admin/reports").await;
    assert!(body.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !body.contains("<script>alert(1)"));
    // A bad range on the page: the form again, with the reason.
    let (s, body) = page(t.owner_a.clone(), "/staff/reports?from=2026-03-10&to=2026-03-01").await;
    assert_eq!(s, 400);
    assert!(body.contains("id=\"range\"") && body.contains("id=\"message\""), "{body}");
}

/// The document says what the report routes take and give: dates and months by pattern,
/// the closed lists, CSV beside JSON, and the plan bodies' bounds.
#[tokio::test]
async fn the_document_describes_the_report_routes() {
    let app = spawn_app().await;
    let doc = ok(plain().get(app.url("/api/v1/openapi.json")).send().await.unwrap(), 200).await;
    let param = |path: &str, name: &str| -> Value {
        doc["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap_or_else(|| panic!("no parameters on {path}"))
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no {name} on {path}"))["schema"]
            .clone()
    };
    for path in ["/api/v1/staff/reports", "/api/v1/admin/reports", "/api/v1/admin/clinics/{id}/reports"] {
        for name in ["from", "to"] {
            let s = param(path, name);
            assert_eq!(
                (s["format"].as_str(), s["pattern"].as_str()),
                (Some("date"), Some(qlink_server::http::rules::REPORT_DATE)),
                "{path} {name}"
            );
        }
        assert_eq!(param(path, "format")["enum"], json!(["json", "csv"]));
        let csv = &doc["paths"][path]["get"]["responses"]["200"]["content"];
        assert!(csv.get("application/json").is_some() && csv.get("text/csv").is_some(), "{path}: {csv}");
    }
    assert_eq!(param("/api/v1/staff/reports", "table")["enum"], json!(["days", "hourly"]));
    assert_eq!(param("/api/v1/staff/reports", "queue_id")["format"], "uuid");
    assert_eq!(param("/api/v1/admin/reports", "table")["enum"], json!(["clinics", "trend"]));
    for path in ["/api/v1/admin/usage", "/api/v1/admin/clinics/{id}/statement"] {
        assert_eq!(param(path, "month")["pattern"], qlink_server::http::rules::REPORT_MONTH);
    }
    for (path, method) in [
        ("/api/v1/admin/plans", "get"),
        ("/api/v1/admin/plans", "post"),
        ("/api/v1/admin/plans/{code}", "patch"),
        ("/api/v1/admin/clinics/{id}/plan", "put"),
    ] {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path}");
        assert!(op["responses"]["401"].is_object() && op["responses"]["403"].is_object(), "{method} {path}");
    }
    let new_plan = &doc["components"]["schemas"]["NewPlan"]["properties"];
    assert_eq!(new_plan["monthly_fee_paise"]["maximum"], 10_000_000_000i64);
    assert_eq!(new_plan["included_tokens"]["maximum"], 1_000_000_000);
}

/// A plan body is an object: serde would also read one from an array of its fields.
#[tokio::test]
async fn plan_bodies_are_objects() {
    let app = spawn_app().await;
    let email = app.admin_user().await;
    let admin = app.login(&email).await;
    for body in [json!([null, null]), json!(["gold", "Gold", 1, 1, 1, 1, 1]), json!("gold")] {
        assert_error(
            admin.patch(app.url("/api/v1/admin/plans/standard")).json(&body).send().await.unwrap(),
            400,
            "invalid_input",
        )
        .await;
        assert_error(
            admin.post(app.url("/api/v1/admin/plans")).json(&body).send().await.unwrap(),
            400,
            "invalid_input",
        )
        .await;
    }
    let plans = ok(admin.get(app.url("/api/v1/admin/plans")).send().await.unwrap(), 200).await;
    assert_eq!(plans["plans"].as_array().unwrap().len(), 1, "{plans}");
}
