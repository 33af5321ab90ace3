//! The staff side of patient self-service (SPEC §12) through the real server: a doctor's
//! delay announced at the desk moves every waiting patient's ETA and shows its note, is
//! refused with a clear reason for bad input (nothing changed), ends with the next call;
//! patients who stepped out are marked in the staff list and shown apart on the lobby
//! display, which NEXT passes over.

use qlink_tests::app::{assert_refusal, json_body, plain, spawn_app, TestApp};
use serde_json::{json, Value};

async fn ok(r: reqwest::Response, status: u16) -> Value {
    json_body(r, status).await
}

async fn status(app: &TestApp, token: &str) -> Value {
    ok(plain().get(app.url(&format!("/api/v1/tokens/{token}"))).send().await.unwrap(), 200).await
}

fn eta(v: &Value) -> (i64, i64) {
    (v["eta_min_minutes"].as_i64().unwrap(), v["eta_max_minutes"].as_i64().unwrap())
}

#[tokio::test]
async fn a_delay_from_the_desk_moves_every_waiting_eta_until_the_next_call() {
    let app = spawn_app().await;
    let clinic = app.clinic("late-doctor").await;
    app.db
        .query_one("SELECT qlink.update_business($1, settings => '{\"ip_tokens_per_10min\": 100}')", &[&clinic])
        .await
        .unwrap();
    let staff = app.staff("late-doctor").await;
    let mut tokens = Vec::new();
    for n in 0..3 {
        let t = app.take_token("late-doctor", &format!("P{n}"), &format!("98765100{n:02}")).await;
        tokens.push(t["token_id"].as_str().unwrap().to_string());
    }
    let before: Vec<(i64, i64)> = {
        let mut v = Vec::new();
        for t in &tokens {
            v.push(eta(&status(&app, t).await));
        }
        v
    };
    let fingerprint = || async {
        let r = app
            .db
            .query_one(
                "SELECT md5(string_agg(s::text, ',' ORDER BY id)) FROM qlink.sessions s WHERE business_id = $1",
                &[&clinic],
            )
            .await
            .unwrap();
        r.get::<_, Option<String>>(0)
    };
    // Bad input: a clear reason, and nothing changed.
    let unchanged = fingerprint().await;
    for (body, reason) in [
        (json!({"minutes": -1}), "invalid_delay"),
        (json!({"minutes": 241}), "invalid_delay"),
        (json!({"minutes": 10, "note": "x".repeat(201)}), "invalid_delay_note"),
    ] {
        let r = staff.post(app.url("/api/v1/staff/delay")).json(&body).send().await.unwrap();
        assert_refusal(r, 400, "invalid_input", reason).await;
    }
    let r = staff.post(app.url("/api/v1/staff/delay")).json(&json!({"minutes": "soon"})).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(fingerprint().await, unchanged);
    let r = plain().post(app.url("/api/v1/staff/delay")).json(&json!({"minutes": 5})).send().await.unwrap();
    assert_eq!(r.status(), 401);

    // 30 minutes late: every waiting patient's range moves by 30 and shows the note.
    let delay = ok(
        staff
            .post(app.url("/api/v1/staff/delay"))
            .json(&json!({"minutes": 30, "note": "Stuck in traffic <b>"}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(delay["delay_minutes"], 30);
    for (t, (lo, hi)) in tokens.iter().zip(&before) {
        let s = status(&app, t).await;
        assert_eq!(eta(&s), (lo + 30, hi + 30), "{s}");
    }
    let queue = ok(staff.get(app.url("/api/v1/staff/queue")).send().await.unwrap(), 200).await;
    assert_eq!(queue["summary"]["delay_minutes"], 30, "{queue}");
    assert_eq!(queue["summary"]["delay_note"], "Stuck in traffic <b>");

    // The doctor arrives and calls the first patient: the delay is over for everyone.
    ok(staff.post(app.url("/api/v1/staff/queue/actions")).json(&json!({"action": "NEXT"})).send().await.unwrap(), 200)
        .await;
    let s = status(&app, &tokens[2]).await;
    let after: Value = app
        .db
        .query_one("SELECT delay_minutes FROM qlink.token_status($1::text::uuid)", &[&tokens[2]])
        .await
        .map(|r| json!(r.get::<_, Option<i32>>(0)))
        .unwrap();
    assert_eq!(after, Value::Null, "{s}");
    let queue = ok(staff.get(app.url("/api/v1/staff/queue")).send().await.unwrap(), 200).await;
    assert_eq!(queue["summary"]["delay_minutes"], Value::Null);
}

#[tokio::test]
async fn a_patient_who_stepped_out_is_marked_for_staff_and_shown_apart_on_the_display() {
    let app = spawn_app().await;
    let clinic = app.clinic("tea-break").await;
    app.db
        .query_one("SELECT qlink.update_business($1, settings => '{\"ip_tokens_per_10min\": 100}')", &[&clinic])
        .await
        .unwrap();
    let staff = app.staff("tea-break").await;
    let a = app.take_token("tea-break", "Asha", "9876520001").await["token_id"].as_str().unwrap().to_string();
    let b = app.take_token("tea-break", "Ravi", "9876520002").await["token_id"].as_str().unwrap().to_string();
    app.db.query_one("SELECT * FROM qlink.hold_token($1::text::uuid)", &[&a]).await.unwrap();

    let queue = ok(staff.get(app.url("/api/v1/staff/queue")).send().await.unwrap(), 200).await;
    assert_eq!(queue["summary"]["held_count"], 1, "{queue}");
    let held = queue["tokens"].as_array().unwrap().iter().find(|t| t["token_id"] == a.as_str()).unwrap().clone();
    assert!(held["held_until"].is_string(), "{held}");

    let display = ok(plain().get(app.url("/c/tea-break/display.json")).send().await.unwrap(), 200).await;
    assert_eq!(display["away_labels"], json!(["1"]), "{display}");
    assert_eq!(display["next_numbers"], json!([2]), "{display}");
    let page = plain().get(app.url("/c/tea-break/display")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("id=\"away-list\""), "{page}");

    // NEXT passes over the patient who stepped out.
    let called = ok(
        staff.post(app.url("/api/v1/staff/queue/actions")).json(&json!({"action": "NEXT"})).send().await.unwrap(),
        200,
    )
    .await;
    assert_eq!(called["affected_token_id"], b.as_str(), "{called}");
    assert_eq!(app.token_status(&a).await, "WAITING");
}
