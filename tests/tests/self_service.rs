//! The patient side of self-service (SPEC §12) through the real server: stepping out and
//! coming back through the JSON API, the plain forms and the tracking page in Chromium; the
//! reminder position; a hold that runs out while nobody presses anything (the worker's
//! housekeeping skips it, once); LATE and BACK on WhatsApp in Hindi and Tamil, and a
//! doctor's delay reaching each waiting patient as a DELAY template in their language.

use futures::FutureExt;
use qlink_server::config::{Secret, WhatsAppArgs};
use qlink_tests::app::{assert_refusal, json_body, plain, TestApp, TestWorker};
use qlink_tests::browser::{Browser, PHONE};
use qlink_tests::fake_whatsapp::{FakeWhatsApp, Inbound, PHONE_NUMBER_ID};
use serde_json::{json, Value};
use std::time::Duration;

const APP_SECRET: &str = "fake-app-secret-for-self-service";

async fn ok(r: reqwest::Response, status: u16) -> Value {
    json_body(r, status).await
}

async fn status(app: &TestApp, token: &str) -> Value {
    ok(plain().get(app.url(&format!("/api/v1/tokens/{token}"))).send().await.unwrap(), 200).await
}

async fn join(app: &TestApp, slug: &str, name: &str, phone: &str, language: &str) -> String {
    let r = plain()
        .post(app.url(&format!("/api/v1/clinics/{slug}/tokens")))
        .json(&json!({"patient_name": name, "patient_phone": phone, "language": language}))
        .send()
        .await
        .unwrap();
    ok(r, 201).await["token_id"].as_str().unwrap().to_string()
}

async fn open_clinic(app: &TestApp, slug: &str, settings: Value) -> uuid::Uuid {
    let clinic = app.clinic(slug).await;
    let mut all = json!({"ip_tokens_per_10min": 100});
    all.as_object_mut().unwrap().extend(settings.as_object().unwrap().clone());
    app.db.query_one("SELECT qlink.update_business($1, settings => $2)", &[&clinic, &all]).await.unwrap();
    clinic
}

/// Everything about the clinic's tokens that a refused call must leave as it was.
async fn fingerprint(app: &TestApp, clinic: uuid::Uuid) -> String {
    app.db
        .query_one(
            "SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM qlink.tokens t WHERE business_id = $1",
            &[&clinic],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn a_patient_steps_out_is_passed_over_comes_back_first_and_picks_the_reminder() {
    let app = TestApp::builder().spawn().await;
    let clinic = open_clinic(&app, "tea-break", json!({"reminder_at_position": 3})).await;
    let staff = app.staff("tea-break").await;
    let a = join(&app, "tea-break", "Asha", "9876510001", "en").await;
    let b = join(&app, "tea-break", "Bala", "9876510002", "ta").await;
    let c = join(&app, "tea-break", "Chitra", "9876510003", "hi").await;

    let reminder = app.url(&format!("/api/v1/tokens/{b}/reminder"));
    let set_reminder =
        |position: Value| plain().put(&reminder).json(&json!({ "position": position })).send().map(Result::unwrap);
    // Bad input: a clear reason, nothing changed.
    let before = fingerprint(&app, clinic).await;
    for position in [0, 11, -1] {
        let r = set_reminder(json!(position)).await;
        assert_refusal(r, 400, "invalid_input", "invalid_reminder_position").await;
    }
    let hold = app.url(&format!("/api/v1/tokens/{b}/hold"));
    let json_body = |body: &'static str| plain().post(&hold).header("content-type", "application/json").body(body);
    for body in ["{\"minutes\": \"soon\"}", "", "[]"] {
        assert_eq!(json_body(body).send().await.unwrap().status(), 400, "{body:?}");
    }
    let r = plain().post(&hold).body("{\"minutes\": 5}").send().await.unwrap();
    assert_eq!(r.status(), 415, "a body is JSON, as everywhere");
    let r =
        plain().post(app.url(&format!("/api/v1/tokens/{b}/hold"))).json(&json!({"minutes": 0})).send().await.unwrap();
    assert_refusal(r, 400, "invalid_input", "invalid_hold_minutes").await;
    let r = plain().post(app.url(&format!("/api/v1/tokens/{b}/return"))).send().await.unwrap();
    assert_refusal(r, 409, "conflict", "not_held").await;
    let unknown = uuid::Uuid::new_v4();
    let r = plain().post(app.url(&format!("/api/v1/tokens/{unknown}/hold"))).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(fingerprint(&app, clinic).await, before);

    // B steps out (no body: the clinic's 20 minutes) and is shown as away.
    let held = ok(plain().post(app.url(&format!("/api/v1/tokens/{b}/hold"))).send().await.unwrap(), 200).await;
    assert!(held["held_until"].is_string(), "{held}");
    let s = status(&app, &b).await;
    assert_eq!(
        (s["status"].as_str(), s["hold_state"].as_str(), s["hold_minutes"].as_i64()),
        (Some("WAITING"), Some("HELD"), Some(20))
    );
    let r = plain().post(app.url(&format!("/api/v1/tokens/{b}/hold"))).send().await.unwrap();
    assert_refusal(r, 409, "conflict", "already_held").await;

    // NEXT calls A, then passes over B to C.
    for expected in [&a, &c] {
        let r =
            staff.post(app.url("/api/v1/staff/queue/actions")).json(&json!({"action": "NEXT"})).send().await.unwrap();
        ok(r, 200).await;
        assert_eq!(app.token_status(expected).await, "SERVING");
    }
    assert_eq!(app.token_status(&b).await, "WAITING");

    // B is back: its turn passed, so it goes to the front.
    let back = ok(plain().post(app.url(&format!("/api/v1/tokens/{b}/return"))).send().await.unwrap(), 200).await;
    assert_eq!(back["outcome"], "front", "{back}");
    let s = status(&app, &b).await;
    assert_eq!((s["hold_state"].clone(), s["queue_position"].as_i64()), (Value::Null, Some(1)), "{s}");

    // The reminder: the patient's own choice, shown back on the page's answer.
    assert_eq!(s["reminder_position"], 3);
    let r = set_reminder(json!(7)).await;
    assert_eq!(ok(r, 200).await["reminder_position"], 7);
    // A whole number sent as 4.0 is that number, as JSON Schema reads it.
    let r = set_reminder(json!(4.0)).await;
    assert_eq!(ok(r, 200).await["reminder_position"], 4);
    let r = set_reminder(json!(7.5)).await;
    assert_eq!(r.status(), 400);
    let r = set_reminder(json!(7)).await;
    assert_eq!(ok(r, 200).await["reminder_position"], 7);
    assert_eq!(status(&app, &b).await["reminder_position"], 7);

    // The plain forms (no JavaScript) do the same and come back to the page.
    let no_js = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = no_js.post(app.url(&format!("/t/{b}/hold"))).send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.headers()["location"].to_str().unwrap()), (303, format!("/t/{b}").as_str()));
    assert_eq!(status(&app, &b).await["hold_state"], "HELD");
    let page = plain().get(app.url(&format!("/t/{b}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("id=\"held-box\"") && !page.contains("id=\"held-box\" hidden"), "the page shows the hold");
    assert!(page.contains("lang=\"ta\""), "Bala joined in Tamil");
    let r = no_js.post(app.url(&format!("/t/{b}/return"))).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(status(&app, &b).await["hold_state"], Value::Null);
    let r = no_js.post(app.url(&format!("/t/{b}/reminder"))).form(&[("position", "12")]).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let r = no_js.post(app.url(&format!("/t/{b}/reminder"))).form(&[("position", "2")]).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(status(&app, &b).await["reminder_position"], 2);

    // A clinic that keeps no places says so.
    app.db
        .query_one("SELECT qlink.update_business($1, settings => '{\"hold_minutes\": 0}')", &[&clinic])
        .await
        .unwrap();
    let r = plain().post(app.url(&format!("/api/v1/tokens/{b}/hold"))).send().await.unwrap();
    assert_refusal(r, 409, "conflict", "holds_disabled").await;
    assert_eq!(status(&app, &b).await["hold_minutes"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_that_runs_out_is_skipped_once_by_the_housekeeping_with_nobody_pressing_anything() {
    let fake = FakeWhatsApp::start().await;
    let app = TestApp::builder().spawn().await;
    let clinic = open_clinic(&app, "long-tea", json!({})).await;
    let a = join(&app, "long-tea", "Asha", "9876520001", "en").await;
    let b = join(&app, "long-tea", "Bala", "9876520002", "en").await;
    // A stepped out for one minute, two minutes ago (the test's own clock).
    app.db
        .batch_execute(&format!(
            "SET qlink.clock_override = '{}'; SELECT qlink.hold_token('{a}', 1); RESET qlink.clock_override;",
            app.db.query_one("SELECT (now() - interval '2 minutes')::text", &[]).await.unwrap().get::<_, String>(0)
        ))
        .await
        .unwrap();
    assert_eq!(app.token_status(&a).await, "WAITING");
    // The worker's first health check sweeps the holds that ran out.
    let worker = TestWorker::start(&app, fake.whatsapp_args());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while app.token_status(&a).await != "SKIPPED" {
        assert!(tokio::time::Instant::now() < deadline, "the housekeeping did not expire the hold");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let s = status(&app, &a).await;
    assert_eq!(s["hold_state"], "EXPIRED", "{s}");
    let back = ok(plain().post(app.url(&format!("/api/v1/tokens/{a}/return"))).send().await.unwrap(), 200).await;
    assert_eq!(back["outcome"], "expired", "BACK after the time ran out says so: {back}");
    // Exactly once: later sweeps and actions find nothing more to do.
    let staff = app.staff("long-tea").await;
    ok(staff.post(app.url("/api/v1/staff/queue/actions")).json(&json!({"action": "NEXT"})).send().await.unwrap(), 200)
        .await;
    assert_eq!(app.token_status(&b).await, "SERVING");
    let expired: i64 = app
        .db
        .query_one(
            "SELECT count(*) FROM qlink.audit_logs WHERE business_id = $1 AND action = 'HOLD_EXPIRED'",
            &[&clinic],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(expired, 1);
    worker.stop().await;
}

fn whatsapp(fake: &FakeWhatsApp) -> WhatsAppArgs {
    WhatsAppArgs { whatsapp_app_secret: Some(Secret::new(APP_SECRET)), ..fake.whatsapp_args() }
}

async fn wait_for_texts(fake: &FakeWhatsApp, to: &str, n: usize) -> Vec<String> {
    fake.wait_for(Duration::from_secs(15), &format!("{n} texts to {to}"), |got| {
        got.iter().filter(|r| r.to() == to && r.text().is_some()).count() >= n
    })
    .await;
    fake.received().iter().filter(|r| r.to() == to).filter_map(|r| r.text().map(str::to_string)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_and_back_on_whatsapp_and_a_delay_message_in_each_patients_language() {
    let fake = FakeWhatsApp::start().await;
    let app = TestApp::builder().with_whatsapp(whatsapp(&fake)).spawn().await;
    let _clinic = open_clinic(&app, "chennai-gp", json!({"notify_delays": true})).await;
    let webhook = app.url("/api/v1/webhooks/whatsapp");
    let worker = TestWorker::start(&app, whatsapp(&fake));
    let (tamil, hindi) = ("919845000001", "919845000002");
    let t = join(&app, "chennai-gp", "Bala", "9845000001", "ta").await;
    let h = join(&app, "chennai-gp", "Chitra", "9845000002", "hi").await;
    fake.wait_for(Duration::from_secs(15), "two welcomes", |got| {
        got.iter().filter(|r| r.template() == "qlink_welcome").count() >= 2
    })
    .await;
    let welcome = fake.received().into_iter().find(|r| r.to() == tamil && r.template() == "qlink_welcome").unwrap();
    assert_eq!(welcome.language(), "ta");

    // LATE in English from the Tamil patient: the answer is in Tamil, with the minutes.
    let r = fake.post_inbound(&webhook, APP_SECRET, &Inbound::text(PHONE_NUMBER_ID, tamil, "LATE")).await;
    assert_eq!(r.status(), 200);
    let texts = wait_for_texts(&fake, tamil, 1).await;
    assert!(texts[0].contains("20") && texts[0].chars().any(|c| ('\u{0B80}'..='\u{0BFF}').contains(&c)), "{texts:?}");
    assert_eq!(status(&app, &t).await["hold_state"], "HELD");
    // The Hindi patient types the Hindi word.
    fake.post_inbound(&webhook, APP_SECRET, &Inbound::text(PHONE_NUMBER_ID, hindi, "देर")).await;
    let texts = wait_for_texts(&fake, hindi, 1).await;
    assert!(texts[0].contains("मिनट") && texts[0].contains("वापस"), "{texts:?}");
    assert_eq!(status(&app, &h).await["hold_state"], "HELD");
    // BACK: their place again.
    fake.post_inbound(&webhook, APP_SECRET, &Inbound::text(PHONE_NUMBER_ID, tamil, "BACK")).await;
    let texts = wait_for_texts(&fake, tamil, 2).await;
    assert!(texts[1].contains(&format!("/t/{t}")), "{texts:?}");
    assert_eq!(status(&app, &t).await["hold_state"], Value::Null);
    fake.post_inbound(&webhook, APP_SECRET, &Inbound::text(PHONE_NUMBER_ID, hindi, "वापस")).await;
    let texts = wait_for_texts(&fake, hindi, 2).await;
    assert!(texts[1].contains("स्वागत"), "{texts:?}");
    // BACK again: not away.
    fake.post_inbound(&webhook, APP_SECRET, &Inbound::text(PHONE_NUMBER_ID, hindi, "BACK")).await;
    let texts = wait_for_texts(&fake, hindi, 3).await;
    assert!(texts[2].contains("बाहर नहीं"), "{texts:?}");

    // The doctor is 25 minutes late: one DELAY template each, in the patient's language.
    let staff = app.staff("chennai-gp").await;
    let r = staff
        .post(app.url("/api/v1/staff/delay"))
        .json(&json!({"minutes": 25, "note": "Traffic"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let got = fake
        .wait_for(Duration::from_secs(15), "two delay messages", |got| {
            got.iter().filter(|r| r.template() == "qlink_delay").count() >= 2
        })
        .await;
    let delays: Vec<_> = got.iter().filter(|r| r.template() == "qlink_delay").collect();
    assert_eq!(delays.len(), 2);
    for (to, language) in [(tamil, "ta"), (hindi, "hi")] {
        let m = delays.iter().find(|r| r.to() == to).unwrap_or_else(|| panic!("no delay message to {to}"));
        assert_eq!(m.language(), language);
        assert_eq!(m.parameters()[3], "25", "{:?}", m.parameters());
    }
    // Both recorded as sent (the worker records each outcome just after Meta's answer).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let sent: i64 = app
            .db
            .query_one("SELECT count(*) FROM qlink.message_logs WHERE message_type = 'DELAY' AND status = 'SENT'", &[])
            .await
            .unwrap()
            .get(0);
        if sent == 2 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{sent} of the 2 DELAY messages recorded as sent");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    worker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tamil_tracking_page_steps_out_and_back_and_every_language_renders_in_its_script() {
    let app = TestApp::builder().spawn().await;
    open_clinic(&app, "madurai", json!({"reminder_at_position": 3})).await;
    let _first = join(&app, "madurai", "Asha", "9876530001", "en").await;
    let t = join(&app, "madurai", "Bala", "9876530002", "ta").await;
    let patient = Browser::start("tamil-patient", PHONE).await;
    patient.goto(&app.url(&format!("/t/{t}?poll=1"))).await;
    assert_eq!(patient.js("return document.documentElement.lang", vec![]).await, "ta");
    assert!(patient.visible("#hold-box").await);
    patient.click("#hold-button").await;
    patient.wait_until("the held box", "!document.getElementById('held-box').hidden").await;
    let until = patient.text("#held-until").await;
    assert!(until.chars().any(|c| ('\u{0B80}'..='\u{0BFF}').contains(&c)) && until.contains(':'), "{until}");
    assert_eq!(status(&app, &t).await["hold_state"], "HELD");
    patient.click("#return-button").await;
    patient.wait_until("the welcome back", "!document.getElementById('returned').hidden").await;
    patient.wait_until("the hold box again", "!document.getElementById('hold-box').hidden").await;
    assert_eq!(status(&app, &t).await["hold_state"], Value::Null);
    // The reminder picker.
    patient.js("document.getElementById('reminder-position').value = '5'; return true", vec![]).await;
    patient.click("#reminder-save").await;
    patient.wait_for_text("#reminder-status", "5").await;
    assert_eq!(status(&app, &t).await["reminder_position"], 5);

    // Every language's page: its own words, in a font that has its script (no empty boxes:
    // a glyph the fonts lack is drawn as the same box as a private-use character).
    for (code, probe) in
        [("en", "Waiting"), ("hi", "इंतज़ार"), ("ta", ""), ("te", ""), ("mr", ""), ("bn", ""), ("kn", ""), ("gu", "")]
    {
        patient.goto(&app.url(&format!("/t/{t}?lang={code}"))).await;
        assert_eq!(patient.js("return document.documentElement.lang", vec![]).await, code);
        let title = patient.text("#status-line").await;
        assert!(title.contains(probe) && !title.trim().is_empty(), "{code}: {title}");
        let tofu = patient
            .js(
                "const c = document.createElement('canvas').getContext('2d'); c.font = '32px sans-serif'; \
                 const box = c.measureText('\\uE000').width; \
                 const t = document.getElementById('status-line').textContent.replace(/\\s/g, ''); \
                 return [...t].filter(ch => c.measureText(ch).width === box && ch.charCodeAt(0) > 0x900).length;",
                vec![],
            )
            .await;
        assert_eq!(tofu, 0, "{code}: characters drawn as empty boxes in {title:?}");
    }
    patient.close().await;
}
