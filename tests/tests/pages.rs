//! The pages end to end: the real server over a fresh database, plain HTTP for what the
//! server renders, and headless Chromium for what patients, receptionists and the operator
//! do. Pages are opened with `?poll=1` so their polling runs every second instead of every
//! few seconds; everything else is as in production.

use qlink_tests::app::{plain, spawn_app, TestApp, PASSWORD};
use qlink_tests::browser::{Browser, Size, DESK, PHONE};
use reqwest::header::{
    ACCEPT_ENCODING, ACCEPT_LANGUAGE, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, LOCATION, SET_COOKIE,
};
use reqwest::redirect::Policy;
use serde_json::{json, Value};

const HOSTILE: &str = r#"<script>alert(1)</script>"><img src=x onerror=alert(1)>"#;

/// A form-posting client that keeps cookies and shows redirects instead of following them.
fn form_client() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(Policy::none()).build().unwrap()
}

async fn set_settings(app: &TestApp, slug: &str, settings: Value) {
    app.db
        .query_one(
            "SELECT qlink.update_business((SELECT id FROM qlink.businesses WHERE slug = $1), settings => $2)",
            &[&slug, &settings],
        )
        .await
        .unwrap();
}

async fn rename_clinic(app: &TestApp, slug: &str, name: &str) {
    app.db
        .query_one(
            "SELECT qlink.update_business((SELECT id FROM qlink.businesses WHERE slug = $1), name => $2)",
            &[&slug, &name],
        )
        .await
        .unwrap();
}

fn token_id_from(url: &str) -> String {
    let path = url.split('?').next().unwrap();
    let id = path.rsplit('/').next().unwrap().to_string();
    uuid::Uuid::parse_str(&id).unwrap_or_else(|_| panic!("not a tracking URL: {url}"));
    id
}

/// A patient joins through the intake page; returns their token id (the page is then open
/// on the tracking page, polling every second).
async fn join(patient: &Browser, app: &TestApp, slug: &str, name: &str, phone: &str) -> String {
    patient.goto(&app.url(&format!("/c/{slug}"))).await;
    patient.fill("#patient_name", name).await;
    patient.fill("#patient_phone", phone).await;
    patient.click("#join").await;
    patient.wait_until("the tracking page", "location.pathname.indexOf('/t/') === 0").await;
    let id = token_id_from(&patient.url().await);
    patient.goto(&app.url(&format!("/t/{id}?poll=1"))).await;
    id
}

async fn log_in(b: &Browser, app: &TestApp, page: &str, email: &str) {
    b.goto(&app.url(&format!("{page}?poll=1"))).await;
    b.wait_visible("#login").await;
    b.fill("#email", email).await;
    b.fill("#password", PASSWORD).await;
    b.click("#login-button").await;
    b.wait_until("logged in", "!document.getElementById('login')").await;
}

/// Coming back to the panel keeps the login (the page is never cached, so it reloads).
async fn log_in_if_needed(b: &Browser) {
    b.wait_until("the panel", "!!document.getElementById('admin')").await;
}

async fn staff_desk(app: &TestApp, slug: &str, size: Size) -> Browser {
    let desk = Browser::start("desk", size).await;
    log_in(&desk, app, "/staff", &format!("staff@{slug}.test")).await;
    desk.wait_visible("#dashboard").await;
    desk
}

// ---------------------------------------------------------------------------------------
// Browser: the patient, the desk, the operator
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_patient_joins_and_the_desk_drives_the_queue_live() {
    let app = spawn_app().await;
    app.clinic("live").await;
    let patient = Browser::start("patient", PHONE).await;

    patient.goto(&app.url("/c/live")).await;
    patient.wait_for_text("h1", "Clinic live").await;
    assert!(patient.text(".consent").await.contains("WhatsApp"));
    patient.screenshot("intake").await;
    patient.assert_fits(360).await;
    let id = join(&patient, &app, "live", "Asha Rao", "98765 43210").await;
    patient.wait_for_text("#number", "1").await;
    patient.wait_for_text("#status-line", "Waiting").await;
    patient.wait_for_text("#ahead", "You're next").await;
    patient.screenshot("waiting").await;
    patient.assert_fits(360).await;
    // Marks this document: if the page reloaded, the mark would be gone.
    patient.js("window.qlinkSameDocument = true; return true;", vec![]).await;

    let desk = staff_desk(&app, "live", DESK).await;
    desk.wait_for_text("#waiting-list", "Asha Rao").await;
    desk.wait_for_text("#clinic-name", "Clinic live").await;
    desk.screenshot("dashboard").await;

    // NEXT: the patient's open page turns to "It's your turn" by itself.
    desk.click("#next").await;
    patient.wait_for_text("#status-line", "It's your turn").await;
    assert!(patient.visible("#turn").await);
    assert_eq!(patient.js("return window.qlinkSameDocument === true;", vec![]).await, json!(true), "the page reloaded");
    patient.screenshot("turn").await;
    patient.assert_fits(360).await;
    desk.wait_for_text("#serving-number", "1").await;
    desk.wait_for_text("#serving-name", "Asha Rao").await;

    // SKIP, then RECALL: back in the queue as a priority.
    desk.click("#skip").await;
    desk.wait_for_text("#skipped-list", "Asha Rao").await;
    patient.wait_for_text("#status-line", "You missed your turn").await;
    desk.wait_until("RECALL enabled", "!document.querySelector('#skipped-list button[data-action=RECALL]').disabled")
        .await;
    desk.click("#skipped-list button[data-action=RECALL]").await;
    desk.wait_for_text("#waiting-list", "Asha Rao").await;
    desk.wait_for_text("#waiting-list", "PRIORITY").await;
    patient.wait_for_text("#status-line", "Waiting").await;

    // UNDO names what it reverts, and reverts it; pressed again, the action before.
    desk.wait_for_text("#undo", "UNDO RECALL (token 1)").await;
    desk.click("#undo").await;
    desk.wait_for_text("#skipped-list", "Asha Rao").await;
    desk.wait_for_text("#undo", "UNDO SKIP (token 1)").await;
    desk.click("#undo").await;
    desk.wait_for_text("#serving-name", "Asha Rao").await;
    patient.wait_for_text("#status-line", "It's your turn").await;

    // Keyboard: S = SERVED. The patient can then rate the visit.
    desk.wait_until("SERVED enabled", "!document.getElementById('served').disabled").await;
    desk.press("s").await;
    desk.wait_for_text("#count-served", "1").await;
    patient.wait_for_text("#status-line", "Visit complete").await;
    patient.wait_visible("#feedback-form").await;
    patient.click("label[for=rating-5]").await;
    patient.fill("#feedback-comment", "Quick and kind").await;
    patient.click("#feedback-send").await;
    patient.wait_visible("#feedback-thanks").await;
    patient.screenshot("feedback-done").await;
    patient.assert_fits(360).await;
    let (rating, comment): (Option<i32>, Option<String>) = {
        let r = app
            .db
            .query_one("SELECT rating::int, feedback FROM qlink.tokens WHERE id = $1::text::uuid", &[&id])
            .await
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!((rating, comment.as_deref()), (Some(5), Some("Quick and kind")));

    // Keyboard: N = NEXT calls the next patient.
    app.take_token("live", "Ravi Kumar", "9876543211").await;
    desk.wait_for_text("#waiting-list", "Ravi Kumar").await;
    desk.wait_until("NEXT enabled", "!document.getElementById('next').disabled").await;
    desk.press("n").await;
    desk.wait_for_text("#serving-name", "Ravi Kumar").await;
    assert!(desk.text(".shortcuts").await.contains("N"));

    // Errors from the API are shown on the page: a receptionist's second tab acted first.
    let other_tab = app.staff("live").await;
    other_tab.post(app.url("/api/v1/staff/queue/actions")).json(&json!({"action": "SERVED"})).send().await.unwrap();
    desk.js("document.getElementById('served').disabled = false; return true;", vec![]).await;
    desk.click("#served").await;
    desk.wait_visible("#message").await;
    assert!(desk.text("#message").await.to_lowercase().contains("serv"), "{}", desk.text("#message").await);

    assert!(patient.open_dialog().await.is_none() && desk.open_dialog().await.is_none());
    patient.close().await;
    desk.close().await;
}

#[tokio::test]
async fn an_emergency_shifts_an_open_page_and_a_patient_cancels_from_theirs() {
    let app = spawn_app().await;
    app.clinic("shift").await;
    app.take_token("shift", "First Patient", "9876543210").await;
    let second = app.take_token("shift", "Second Patient", "9876543211").await;
    let second_id = second["token_id"].as_str().unwrap().to_string();

    let patient = Browser::start("patient", PHONE).await;
    patient.goto(&app.url(&format!("/t/{second_id}?poll=1"))).await;
    patient.wait_for_text("#position", "2").await;
    assert!(!patient.visible("#shift").await);

    // Patients wait and nobody has pressed anything for a while: the desk is warned.
    app.db
        .execute("UPDATE qlink.sessions SET created_at = now() - interval '20 minutes', last_action_at = NULL", &[])
        .await
        .unwrap();
    // A receptionist on a phone-sized screen.
    let desk = staff_desk(&app, "shift", PHONE).await;
    desk.wait_for_text("#waiting-list", "Second Patient").await;
    desk.wait_visible("#stall").await;
    desk.wait_for_text("#stall", "No queue action for 5 minutes").await;
    desk.screenshot("stall-warning").await;
    desk.assert_fits(360).await;
    desk.fill("#add-name", "Accident Case").await;
    desk.click("#add-emergency").await;
    desk.wait_for_text("#notice", "Emergency added: token 3").await;
    desk.wait_until(
        "the emergency first in call order",
        "document.querySelector('#waiting-list li .name').textContent === 'Accident Case'",
    )
    .await;

    patient.wait_visible("#shift").await;
    patient.wait_for_text("#shift-text", "A priority case was added. Your position shifted by 1.").await;
    patient.wait_for_text("#position", "3").await;
    patient.screenshot("shift-alert").await;
    patient.assert_fits(360).await;

    // "I can't come": a confirmation, then the token is cancelled.
    patient.click("#cancel summary").await;
    patient.wait_visible("#cancel-yes").await;
    patient.js("document.getElementById('cancel').scrollIntoView(); return true;", vec![]).await;
    patient.screenshot("cancel-confirm").await;
    patient.click("#cancel-yes").await;
    patient.wait_for_text("#status-line", "Token cancelled").await;
    assert!(!patient.visible("#cancel-box").await);
    assert_eq!(app.token_status(&second_id).await, "CANCELLED");
    desk.wait_until(
        "the cancelled patient gone from the list",
        "document.getElementById('waiting-list').textContent.indexOf('Second Patient') < 0",
    )
    .await;
    desk.wait_for_text("#count-cancelled", "1").await;

    // Closing the day takes a second click; then QR sign-ups are refused.
    desk.click("#close-day").await;
    desk.wait_for_text("#close-day", "Click again").await;
    desk.click("#close-day").await;
    desk.wait_visible("#closed-banner").await;
    desk.wait_for_text("#close-day", "closed").await;
    patient.goto(&app.url("/c/shift")).await;
    patient.wait_for_text("h1", "Today's queue is closed").await;
    desk.screenshot("closed").await;

    patient.close().await;
    desk.close().await;
}

#[tokio::test]
async fn the_tracking_page_pauses_offline_and_catches_up_online() {
    let app = spawn_app().await;
    app.clinic("net").await;
    app.take_token("net", "First", "9876543210").await;
    let second = app.take_token("net", "Second", "9876543211").await;
    let id = second["token_id"].as_str().unwrap();
    let patient = Browser::start("patient", PHONE).await;
    patient.goto(&app.url(&format!("/t/{id}?poll=1"))).await;
    patient.wait_for_text("#position", "2").await;
    // Unchanged polls are answered 304 against the page's ETag.
    patient
        .wait_until(
            "a 304 poll",
            "performance.getEntriesByType('resource').some(function (e) { return e.name.indexOf('/api/v1/tokens/') >= 0 && e.responseStatus === 304; })",
        )
        .await;

    // The phone loses its connection: the page says so and stops polling.
    patient
        .js(
            "window.qlinkOffline = true; \
             Object.defineProperty(navigator, 'onLine', { configurable: true, get: function () { return !window.qlinkOffline; } }); \
             window.dispatchEvent(new Event('offline')); return true;",
            vec![],
        )
        .await;
    patient.wait_visible("#offline").await;
    let polls = "performance.getEntriesByType('resource').filter(function (e) { return e.name.indexOf('/api/v1/tokens/') >= 0; }).length";
    let before = patient.js(&format!("return {polls};"), vec![]).await;
    let staff = app.staff("net").await;
    staff.post(app.url("/api/v1/staff/queue/actions")).json(&json!({"action": "NEXT"})).send().await.unwrap();
    // Polling every second, two and a half seconds would have seen the change.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(patient.js(&format!("return {polls};"), vec![]).await, before, "the page polled while offline");
    assert_eq!(patient.text("#position").await, "2");

    // Back online: refreshed at once.
    patient.js("window.qlinkOffline = false; window.dispatchEvent(new Event('online')); return true;", vec![]).await;
    patient.wait_for_text("#position", "1").await;
    assert!(!patient.visible("#offline").await);
    patient.close().await;
}

#[tokio::test]
async fn the_operator_suspends_a_clinic_and_its_intake_page_says_so() {
    let app = spawn_app().await;
    app.clinic("susp").await;
    let admin_email = app.admin_user().await;
    // A WhatsApp message that could not be delivered, for the failed-messages list.
    let failed = app.take_token("susp", "Unreachable", "9876543299").await;
    app.db
        .execute(
            "UPDATE qlink.message_logs SET status = 'PERMANENTLY_FAILED', attempts = 3, reason = 'number not on WhatsApp' \
             WHERE token_id = $1::text::uuid",
            &[&failed["token_id"].as_str().unwrap()],
        )
        .await
        .unwrap();
    let b = Browser::start("operator", DESK).await;

    // A receptionist's login is told this panel is not theirs.
    log_in(&b, &app, "/admin", "staff@susp.test").await;
    b.wait_for_text("#wrong-login", "operator only").await;
    b.click("#logout").await;
    b.wait_visible("#login").await;

    log_in(&b, &app, "/admin", &admin_email).await;
    b.wait_for_text("#clinic-rows", "Clinic susp").await;
    b.wait_for_text("#failed-rows", "number not on WhatsApp").await;
    b.wait_for_text("#failed-rows", "+919876543299").await;
    b.screenshot("panel").await;

    b.click("tr[data-slug=susp] button[data-act=suspend]").await;
    b.wait_for_text("tr[data-slug=susp] .badge", "SUSPENDED").await;
    b.wait_for_text("#notice", "suspended").await;
    b.wait_for_text("#audit-rows", "SUSPEND_CLINIC").await;

    let patient = Browser::start("patient", PHONE).await;
    patient.goto(&app.url("/c/susp")).await;
    patient.wait_for_text("h1", "Online tokens are not available").await;
    assert!(!patient.visible("#intake").await);
    patient.screenshot("suspended").await;
    patient.assert_fits(360).await;

    // Settings with a validation message from the server, then a valid change.
    b.click("tr[data-slug=susp] button[data-act=settings]").await;
    b.wait_visible("#settings-editor").await;
    b.fill("#s-eta_min_minutes", "30").await;
    b.fill("#s-eta_max_minutes", "20").await;
    b.click("#settings-save").await;
    b.wait_for_text("#settings-error", "ETA low").await;
    b.fill("#s-eta_max_minutes", "40").await;
    b.click("#settings-save").await;
    b.wait_for_text("#notice", "Settings of Clinic susp saved").await;
    let eta: i64 = app
        .db
        .query_one("SELECT (settings->>'eta_max_minutes')::bigint FROM qlink.businesses WHERE slug = 'susp'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(eta, 40);

    // Reactivate: the intake page takes patients again. (The panel's buttons are disabled
    // while the save's refresh is in flight; a click then would do nothing.)
    b.wait_until("the panel idle", "!document.querySelector('tr[data-slug=susp] button[data-act=activate]').disabled")
        .await;
    b.click("tr[data-slug=susp] button[data-act=activate]").await;
    b.wait_for_text("tr[data-slug=susp] .badge", "ACTIVE").await;
    patient.goto(&app.url("/c/susp")).await;
    patient.wait_visible("#intake").await;

    // Delete with a live queue is refused, with the reason explained.
    b.wait_until("the panel idle", "!document.querySelector('tr[data-slug=susp] button[data-act=delete]').disabled")
        .await;
    b.click("tr[data-slug=susp] button[data-act=delete]").await;
    b.wait_for_text("tr[data-slug=susp] button[data-act=delete]", "Confirm").await;
    b.click("tr[data-slug=susp] button[data-act=delete]").await;
    b.wait_for_text("#message", "Reset today's queue first").await;
    // Reset today's queue (two clicks), then the delete goes through.
    b.wait_until("the panel idle", "!document.querySelector('tr[data-slug=susp] button[data-act=reset]').disabled")
        .await;
    b.click("tr[data-slug=susp] button[data-act=reset]").await;
    b.wait_for_text("tr[data-slug=susp] button[data-act=reset]", "Confirm").await;
    b.click("tr[data-slug=susp] button[data-act=reset]").await;
    b.wait_for_text("#notice", "1 waiting or skipped tokens cancelled").await;
    b.wait_for_text("#audit-rows", "RESET_SESSION").await;

    // The poster, from the panel's link.
    b.click("tr[data-slug=susp] a[href$='/poster']").await;
    b.wait_for_text(".poster h1", "Clinic susp").await;
    b.screenshot("poster").await;
    // It prints on exactly one A4 page.
    let a4 = fantoccini::wd::PrintConfiguration::builder()
        .size(fantoccini::wd::PrintSize::A4)
        .margins(fantoccini::wd::PrintMargins { top: 0.0, bottom: 0.0, left: 0.0, right: 0.0 })
        .background(true)
        .shrink_to_fit(false)
        .build()
        .unwrap();
    let pdf = b.client.print(a4).await.unwrap();
    std::fs::write(qlink_tests::browser::shots_dir().join("poster.pdf"), &pdf).unwrap();
    let pages = String::from_utf8_lossy(&pdf).matches("/Type /Page").count()
        - String::from_utf8_lossy(&pdf).matches("/Type /Pages").count();
    assert_eq!(pages, 1, "the poster prints on {pages} pages");
    b.client.back().await.unwrap();
    log_in_if_needed(&b).await;
    b.wait_for_text("#clinic-rows", "Clinic susp").await;
    b.click("tr[data-slug=susp] button[data-act=delete]").await;
    b.wait_for_text("tr[data-slug=susp] button[data-act=delete]", "Confirm").await;
    b.click("tr[data-slug=susp] button[data-act=delete]").await;
    b.wait_for_text("#notice", "Clinic susp was deleted").await;
    b.wait_until("the row gone", "!document.querySelector('tr[data-slug=susp]')").await;

    patient.close().await;
    b.close().await;
}

#[tokio::test]
async fn hindi_pages_render_in_devanagari() {
    let app = spawn_app().await;
    app.clinic("hindi").await;
    let b = Browser::start_with_language("hindi", PHONE, "hi-IN,hi").await;
    // Accept-Language hi: the intake page is in Hindi.
    b.goto(&app.url("/c/hindi")).await;
    b.wait_for_text("h2", "कतार में शामिल हों").await;
    assert_eq!(b.js("return document.documentElement.lang;", vec![]).await, json!("hi"));
    assert!(b.text(".consent").await.contains("WhatsApp"));
    b.screenshot("intake-hi").await;
    b.assert_fits(360).await;
    // The language menu: English, and back.
    b.click(".lang-switch summary").await;
    b.click(".lang-switch a[lang=en]").await;
    b.wait_for_text("h2", "Join the queue").await;
    b.click(".lang-switch summary").await;
    b.click(".lang-switch a[lang=hi]").await;
    b.wait_for_text("h2", "कतार में शामिल हों").await;
    // The token remembers Hindi: the tracking page and its live updates are Hindi.
    let id = join(&b, &app, "hindi", "सीता देवी", "9876543210").await;
    b.wait_for_text(".ticket .label", "आपका टोकन").await;
    b.wait_for_text("#ahead", "अगली बारी आपकी है").await;
    let language: String =
        app.db.query_one("SELECT language FROM qlink.tokens WHERE id = $1::text::uuid", &[&id]).await.unwrap().get(0);
    assert_eq!(language, "hi");
    let staff = app.staff("hindi").await;
    staff.post(app.url("/api/v1/staff/queue/actions")).json(&json!({"action": "NEXT"})).send().await.unwrap();
    b.wait_for_text("#status-line", "आपकी बारी है").await;
    b.screenshot("turn-hi").await;
    b.assert_fits(360).await;
    // The lobby display shows both languages.
    b.goto(&app.url("/c/hindi/display")).await;
    b.wait_for_text(".display-now .label", "अभी बुलाया गया").await;
    b.wait_for_text("#now", "1").await;
    b.screenshot("display-phone").await;
    b.assert_fits(360).await;
    b.close().await;
}

#[tokio::test]
async fn hostile_names_are_shown_as_text_and_run_nothing() {
    let app = spawn_app().await;
    app.clinic("xss").await;
    rename_clinic(&app, "xss", &format!("Clinic {HOSTILE}")).await;
    let patient = Browser::start("patient", PHONE).await;
    let id = join(&patient, &app, "xss", HOSTILE, "9876543210").await;
    patient.wait_for_text("#number", "1").await;
    patient.wait_for_text(".clinic-name", HOSTILE).await;
    // A live update re-renders the page from JSON: still text.
    app.take_token("xss", &format!("Second {HOSTILE}"), "9876543211").await;
    let staff = app.staff("xss").await;
    staff.post(app.url("/api/v1/staff/queue/actions")).json(&json!({"action": "NEXT"})).send().await.unwrap();
    patient.wait_for_text("#status-line", "It's your turn").await;

    let desk = staff_desk(&app, "xss", DESK).await;
    desk.wait_for_text("#serving-name", HOSTILE).await;
    desk.wait_for_text("#waiting-list", &format!("Second {HOSTILE}")).await;
    desk.wait_for_text("#clinic-name", HOSTILE).await;

    let operator = Browser::start("operator", PHONE).await;
    log_in(&operator, &app, "/admin", &app.admin_user().await).await;
    operator.wait_for_text("#clinic-rows", &format!("Clinic {HOSTILE}")).await;
    // And a clinic created from the panel with a hostile name.
    operator.fill("#c-name", HOSTILE).await;
    operator.fill("#c-slug", "hostile").await;
    operator.fill("#c-email", "desk@hostile.test").await;
    operator.fill("#c-password", "a long password").await;
    operator.click("#create-button").await;
    operator.wait_for_text("#notice", "created").await;
    operator.wait_for_text("tr[data-slug=hostile] .clinic-title", HOSTILE).await;
    operator.screenshot("panel-phone").await;
    operator.assert_fits(360).await;

    let display = Browser::start("display", DESK).await;
    display.goto(&app.url("/c/xss/display?poll=1")).await;
    display.wait_for_text("#clinic-name", HOSTILE).await;

    for b in [&patient, &desk, &operator, &display] {
        assert_eq!(b.open_dialog().await, None, "[{}] a script ran", b.name);
        let injected =
            b.js("return document.querySelectorAll('img[src=x], body script:not([src])').length;", vec![]).await;
        assert_eq!(injected, json!(0), "[{}] markup was injected", b.name);
    }
    let _ = id;
    for b in [patient, desk, operator, display] {
        b.close().await;
    }
}

#[tokio::test]
async fn the_lobby_display_calls_numbers_one_at_a_time() {
    let app = spawn_app().await;
    app.clinic("lobby").await;
    set_settings(&app, "lobby", json!({"ip_tokens_per_10min": 10})).await;
    for n in 0..4 {
        app.take_token("lobby", &format!("Secret Name {n}"), &format!("987654321{n}")).await;
    }
    let b = Browser::start("lobby", DESK).await;
    b.goto(&app.url("/c/lobby/display?poll=1")).await;
    b.wait_for_text("#next-list", "1234").await;
    b.click("#sound-on").await;
    let staff = app.staff("lobby").await;
    let next = || async {
        staff.post(app.url("/api/v1/staff/queue/actions")).json(&json!({"action": "NEXT"})).send().await.unwrap();
    };
    next().await;
    b.wait_for_text("#now", "1").await;
    next().await;
    b.wait_for_text("#now", "2").await;
    b.wait_until(
        "both call-outs finished",
        "(document.getElementById('display').getAttribute('data-call-log') || '').indexOf('end:2') >= 0",
    )
    .await;
    let log = b.js("return document.getElementById('display').getAttribute('data-call-log');", vec![]).await;
    assert_eq!(log, json!("start:1 end:1 start:2 end:2"), "call-outs overlapped or were lost");
    b.wait_for_text("#next-list", "34").await;
    let page = b.js("return document.body.textContent;", vec![]).await;
    assert!(!page.as_str().unwrap().contains("Secret Name"), "a patient's name is on the lobby screen");
    b.screenshot("display").await;
    b.close().await;
}

// ---------------------------------------------------------------------------------------
// Plain HTTP: what the server renders
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn the_qr_code_decodes_to_the_intake_url() {
    let app = spawn_app().await;
    app.clinic("qr-clinic").await;
    let r = plain().get(app.url("/c/qr-clinic/qr.png")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()[CONTENT_TYPE], "image/png");
    let bytes = r.bytes().await.unwrap();
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes.to_vec()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Grayscale);
    let (w, h) = (info.width as usize, info.height as usize);
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| buf[y * info.line_size + x]);
    let grids = img.detect_grids();
    assert_eq!(grids.len(), 1);
    let (_, content) = grids[0].decode().unwrap();
    assert_eq!(content, format!("{}/c/qr-clinic", app.base));

    let r = plain().get(app.url("/c/qr-clinic/qr.svg")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()[CONTENT_TYPE], "image/svg+xml");
    assert!(r.text().await.unwrap().contains("<svg"));
    let poster = plain().get(app.url("/c/qr-clinic/poster")).send().await.unwrap().text().await.unwrap();
    assert!(poster.contains("<svg"), "the poster embeds its QR code");
    assert!(poster.contains("Scan this QR code") && poster.contains("QR कोड स्कैन करें"));
    assert_eq!(plain().get(app.url("/c/nobody/qr.png")).send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn the_tracking_page_weighs_under_30_kb() {
    let app = spawn_app().await;
    app.clinic("light").await;
    let token = app.take_token("light", "Asha", "9876543210").await;
    let page = app.url(&format!("/t/{}", token["token_id"].as_str().unwrap()));
    let html = plain().get(&page).send().await.unwrap().text().await.unwrap();
    let mut urls = vec![page.clone()];
    for marker in ["href=\"/assets/", "src=\"/assets/"] {
        for part in html.split(marker).skip(1) {
            urls.push(app.url(&format!("/assets/{}", part.split('"').next().unwrap())));
        }
    }
    assert!(urls.iter().any(|u| u.ends_with(".css")) && urls.iter().any(|u| u.ends_with(".js")), "{urls:?}");
    let mut total = 0;
    for url in &urls {
        // reqwest here has no gzip support: the bytes counted are the bytes transferred.
        let r = plain().get(url).header(ACCEPT_ENCODING, "gzip").send().await.unwrap();
        assert_eq!(r.status(), 200, "{url}");
        if !url.ends_with(".svg") {
            assert_eq!(r.headers().get(CONTENT_ENCODING).map(|v| v.to_str().unwrap()), Some("gzip"), "{url}");
        }
        total += r.bytes().await.unwrap().len();
    }
    assert!(total < 30 * 1024, "the tracking page transfers {total} bytes");
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"), "external resources");
    eprintln!("tracking page: {total} bytes gzipped over {} files", urls.len());
}

#[tokio::test]
async fn unknown_pages_are_friendly_404s() {
    let app = spawn_app().await;
    app.clinic("real").await;
    for path in [
        "/t/not-a-token".to_string(),
        format!("/t/{}", uuid::Uuid::new_v4()),
        "/c/no-such-clinic".to_string(),
        "/c/no-such-clinic/display".to_string(),
        "/c/no-such-clinic/poster".to_string(),
        "/c/no-such-clinic/qr.svg".to_string(),
    ] {
        let r = plain().get(app.url(&path)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
        assert!(r.headers()[CONTENT_TYPE].to_str().unwrap().starts_with("text/html"), "{path}");
        let body = r.text().await.unwrap();
        assert!(body.contains("Page not found") && body.contains("QR code"), "{path}: {body}");
    }
    let r = plain().get(app.url("/t/not-a-token")).header(ACCEPT_LANGUAGE, "hi").send().await.unwrap();
    assert!(r.text().await.unwrap().contains("पेज नहीं मिला"));
    let r = plain().get(app.url("/c/no-such-clinic/display.json")).send().await.unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn server_rendered_html_escapes_what_people_typed() {
    let app = spawn_app().await;
    app.clinic("esc").await;
    rename_clinic(&app, "esc", HOSTILE).await;
    let token = app.take_token("esc", HOSTILE, "9876543210").await;
    let id = token["token_id"].as_str().unwrap();
    for path in ["/c/esc".to_string(), format!("/t/{id}"), "/c/esc/poster".to_string(), "/c/esc/display".to_string()] {
        let body = plain().get(app.url(&path)).send().await.unwrap().text().await.unwrap();
        assert!(!body.contains("<script>alert") && !body.contains("<img src=x"), "{path} is injectable:\n{body}");
        assert!(body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{path} lost the name:\n{body}");
    }
    // The no-JavaScript form echoes what was typed back, escaped.
    let r = form_client()
        .post(app.url("/c/esc"))
        .form(&[("patient_name", HOSTILE), ("patient_phone", "12"), ("language", "en")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body = r.text().await.unwrap();
    assert!(!body.contains("<img src=x") && body.contains("&quot;&gt;&lt;img src=x"), "{body}");
    // The lobby's data carries numbers, never names.
    let display: Value = plain().get(app.url("/c/esc/display.json")).send().await.unwrap().json().await.unwrap();
    assert_eq!(display["next_numbers"], json!([1]));
    assert!(!display.to_string().contains("9876543210"));
    let keys: Vec<&String> = display.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["accepting_tokens", "away_labels", "clinic_name", "next_numbers", "now_serving_number", "waiting_count"]
    );
}

#[tokio::test]
async fn pages_send_security_headers_and_no_inline_code() {
    let app = spawn_app().await;
    app.clinic("sec").await;
    let token = app.take_token("sec", "Asha", "9876543210").await;
    let id = token["token_id"].as_str().unwrap();
    let strict =
        ["/c/sec".to_string(), format!("/t/{id}"), "/staff".to_string(), "/admin".to_string(), "/t/nope".to_string()];
    let framable = ["/c/sec/display".to_string(), "/c/sec/poster".to_string()];
    for (path, frames) in strict.iter().map(|p| (p, false)).chain(framable.iter().map(|p| (p, true))) {
        let r = plain().get(app.url(path)).send().await.unwrap();
        let h = r.headers().clone();
        let csp = h["content-security-policy"].to_str().unwrap().to_string();
        for part in
            ["default-src 'self'", "script-src 'self'", "style-src 'self'", "object-src 'none'", "base-uri 'none'"]
        {
            assert!(csp.contains(part), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe"), "{path}: {csp}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "same-origin", "{path}");
        if frames {
            assert!(h.get("x-frame-options").is_none(), "{path}");
        } else {
            assert_eq!(h["x-frame-options"], "DENY", "{path}");
            assert!(csp.contains("frame-ancestors 'none'"), "{path}");
        }
        let body = r.text().await.unwrap();
        for (i, _) in body.match_indices("<script") {
            let tag = &body[i..body[i..].find('>').map(|e| i + e).unwrap()];
            assert!(tag.contains(" src=\"/assets/"), "{path}: inline script {tag}");
        }
        assert!(!body.contains("<style") && !body.contains(" style=\""), "{path}: inline style");
        assert!(!body.contains("src=\"http") && !body.contains("href=\"http"), "{path}: an external resource");
    }
    // Staff pages are never stored; assets are cached for good under their hash.
    let r = plain().get(app.url("/staff")).send().await.unwrap();
    assert_eq!(r.headers()[CACHE_CONTROL], "no-store");
    let html = r.text().await.unwrap();
    let js = html.split("src=\"").nth(1).unwrap().split('"').next().unwrap();
    let r = plain().get(app.url(js)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()[CONTENT_TYPE].to_str().unwrap().starts_with("text/javascript"));
    assert_eq!(r.headers()[CACHE_CONTROL], "public, max-age=31536000, immutable");
    // A page of an older release asks for an older hash: served, but not kept.
    let wrong_hash = format!("/assets/0000000000/{}", js.rsplit('/').next().unwrap());
    let r = plain().get(app.url(&wrong_hash)).send().await.unwrap();
    assert_eq!(r.headers()[CACHE_CONTROL], "no-cache");
    assert_eq!(plain().get(app.url("/assets/0000000000/nothing.js")).send().await.unwrap().status(), 404);
}

/// Every refusal of the intake gets its own message, chosen by the extension's reason (the
/// DETAIL `qlink:<reason>`), never by the wording of the database's message.
#[tokio::test]
async fn intake_tells_every_refusal_apart() {
    use qlink_server::pages::i18n::{Lang, K};
    let app = spawn_app().await;
    app.clinic("apart").await;
    let desk = form_client();
    let post = |name: &'static str, phone: &'static str| {
        let req = desk.post(app.url("/c/apart")).form(&[("patient_name", name), ("patient_phone", phone)]);
        async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let page = || async { plain().get(app.url("/c/apart")).send().await.unwrap() };
    let says = |body: &str, key: K| body.contains(Lang::En.t(key));

    // ip_limit: one token per network, then the network's message.
    set_settings(&app, "apart", json!({"ip_tokens_per_10min": 1})).await;
    assert_eq!(post("Asha", "9876543210").await.0, 303);
    let (status, body) = post("Bala", "9876543211").await;
    assert_eq!(status, 429, "{body}");
    assert!(says(&body, K::limit_network) && !says(&body, K::limit_daily), "{body}");

    // phone_limit: the number's message (and no one else's token).
    set_settings(&app, "apart", json!({"ip_tokens_per_10min": 50, "daily_token_limit": 2})).await;
    let (status, body) = plain()
        .post(app.url("/c/apart"))
        .form(&[("patient_name", "Someone"), ("patient_phone", "9876543210")])
        .send()
        .await
        .map(|r| (r.status().as_u16(), r))
        .unwrap();
    let body = body.text().await.unwrap();
    assert_eq!(status, 429);
    assert!(says(&body, K::already_title) && !says(&body, K::limit_network), "{body}");

    // daily_token_limit: the day's message, on the form's answer and on the page itself.
    assert_eq!(post("Chitra", "9876543212").await.0, 303);
    let (status, body) = post("Deepak", "9876543213").await;
    assert_eq!(status, 429);
    assert!(says(&body, K::limit_daily) && !says(&body, K::limit_network), "{body}");
    let body = page().await.text().await.unwrap();
    assert!(says(&body, K::limit_daily_title) && !body.contains("id=\"intake\""), "{body}");

    // qr_intake_off and session_closed: the closed message.
    set_settings(&app, "apart", json!({"daily_token_limit": 200, "qr_intake_enabled": false})).await;
    let body = page().await.text().await.unwrap();
    assert!(says(&body, K::closed_title) && !says(&body, K::limit_daily_title), "{body}");
    set_settings(&app, "apart", json!({"qr_intake_enabled": true})).await;
    assert!(page().await.text().await.unwrap().contains("id=\"intake\""), "open again");
    app.db
        .query_one("SELECT * FROM qlink.close_session((SELECT id FROM qlink.businesses WHERE slug = 'apart'))", &[])
        .await
        .unwrap();
    let body = page().await.text().await.unwrap();
    assert!(says(&body, K::closed_title), "{body}");

    // clinic_suspended: the operator's message, 403.
    app.db
        .query_one(
            "SELECT qlink.update_business((SELECT id FROM qlink.businesses WHERE slug = 'apart'), 'SUSPENDED')",
            &[],
        )
        .await
        .unwrap();
    let r = page().await;
    assert_eq!(r.status(), 403);
    let body = r.text().await.unwrap();
    assert!(says(&body, K::suspended_title) && !says(&body, K::closed_title), "{body}");
}

#[tokio::test]
async fn intake_without_javascript() {
    let app = spawn_app().await;
    app.clinic("plain").await;
    set_settings(&app, "plain", json!({"ip_tokens_per_10min": 50})).await;
    let phone_a = form_client();
    let join = |client: &reqwest::Client, name: &str, phone: &str, lang: &str| {
        let req = client.post(app.url("/c/plain")).form(&[
            ("patient_name", name),
            ("patient_phone", phone),
            ("language", lang),
        ]);
        async move { req.send().await.unwrap() }
    };

    // Join: 303 to the tracking page, and the browser remembers its token.
    let r = join(&phone_a, "Asha Rao", "9876543210", "en").await;
    assert_eq!(r.status(), 303);
    let location = r.headers()[LOCATION].to_str().unwrap().to_string();
    let cookie = r.headers()[SET_COOKIE].to_str().unwrap().to_string();
    assert!(
        cookie.starts_with("qlink_mine=") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let id = token_id_from(&location);
    let page = phone_a.get(app.url(&location)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Your token") && page.contains("http-equiv=\"refresh\""));
    let intake = phone_a.get(app.url("/c/plain")).send().await.unwrap().text().await.unwrap();
    assert!(
        intake.contains("You already have token 1 here today.") && intake.contains(&format!("/t/{id}")),
        "{intake}"
    );

    // The same number again from this phone: a link to its own token.
    let r = join(&phone_a, "Asha Rao", "98765 43210", "en").await;
    assert_eq!(r.status(), 429);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("This mobile number already has a token today") && body.contains(&format!("/t/{id}")),
        "{body}"
    );
    // From another phone: never someone else's token.
    let stranger = form_client();
    let r = join(&stranger, "Someone", "9876543210", "en").await;
    assert_eq!(r.status(), 429);
    let body = r.text().await.unwrap();
    assert!(body.contains("already has a token") && !body.contains(&id) && body.contains("WhatsApp"), "{body}");

    // Mistakes come back on the form, in the patient's language, with what they typed.
    let r = join(&stranger, "Ravi", "12345", "hi").await;
    assert_eq!(r.status(), 400);
    let body = r.text().await.unwrap();
    assert!(body.contains("कृपया 10 अंकों का सही मोबाइल नंबर लिखें।") && body.contains("value=\"Ravi\""), "{body}");
    let r = join(&stranger, "   ", "9876543219", "en").await;
    assert!(r.text().await.unwrap().contains("Please enter your name"));
    let r = stranger.post(app.url("/c/plain")).body("garbage").send().await.unwrap();
    assert_eq!(r.status(), 400);

    // Cancel and feedback forms post back to the page.
    let r = phone_a.post(app.url(&format!("/t/{id}/cancel"))).send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.headers()[LOCATION].to_str().unwrap()), (303, format!("/t/{id}").as_str()));
    assert_eq!(app.token_status(&id).await, "CANCELLED");
    let r = join(&stranger, "Ravi", "9876543212", "en").await;
    let ravi = token_id_from(r.headers()[LOCATION].to_str().unwrap());
    let staff = app.staff("plain").await;
    for action in ["NEXT", "SERVED"] {
        staff.post(app.url("/api/v1/staff/queue/actions")).json(&json!({"action": action})).send().await.unwrap();
    }
    let r =
        stranger.post(app.url(&format!("/t/{ravi}/feedback"))).form(&[("feedback", "no rating")]).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let r = stranger
        .post(app.url(&format!("/t/{ravi}/feedback")))
        .form(&[("rating", "4"), ("feedback", "Good")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let rating: Option<i32> = app
        .db
        .query_one("SELECT rating::int FROM qlink.tokens WHERE id = $1::text::uuid", &[&ravi])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rating, Some(4));
    let page = stranger.get(app.url(&format!("/t/{ravi}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Thank you for your feedback!") && !page.contains("http-equiv=\"refresh\""));

    // The day closed: the page says so, and a late form post gets the same answer.
    staff.post(app.url("/api/v1/staff/session/close")).send().await.unwrap();
    let body = plain().get(app.url("/c/plain")).send().await.unwrap().text().await.unwrap();
    assert!(body.contains("Today's queue is closed") && !body.contains("id=\"intake\""));
    let r = join(&stranger, "Late", "9876543213", "en").await;
    assert!(r.text().await.unwrap().contains("Today's queue is closed"));

    // The per-network limit has its own explanation.
    app.clinic("tight").await;
    set_settings(&app, "tight", json!({"ip_tokens_per_10min": 1})).await;
    let post_tight = |phone: &str| {
        let req = stranger.post(app.url("/c/tight")).form(&[
            ("patient_name", "P"),
            ("patient_phone", phone),
            ("language", "en"),
        ]);
        async move { req.send().await.unwrap() }
    };
    assert_eq!(post_tight("9876543220").await.status(), 303);
    let r = post_tight("9876543221").await;
    assert_eq!(r.status(), 429);
    assert!(r.text().await.unwrap().contains("Too many tokens were taken from this network"));
    // Suspended: the form post is refused with the suspended page.
    app.db.query_one("SELECT qlink.update_business((SELECT id FROM qlink.businesses WHERE slug = 'tight'), status => 'SUSPENDED')", &[]).await.unwrap();
    let r = post_tight("9876543222").await;
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("Online tokens are not available"));
}

/// The progress bar and the "put ahead of you" notice paint the extension's numbers
/// (token_status.progress_percent, overtaken_by): the server-rendered page and track.js
/// show the same 66 (not 67), and a patient skipped and recalled after this one joined is
/// not announced as put ahead (they were ahead already); an emergency is.
#[tokio::test]
async fn the_tracking_page_paints_progress_and_overtaking_from_the_server() {
    let app = spawn_app().await;
    app.clinic("paint").await;
    set_settings(&app, "paint", json!({"ip_tokens_per_10min": 50})).await;
    let mut ids = Vec::new();
    for n in 0..4 {
        let t = app.take_token("paint", &format!("Patient {n}"), &format!("987654321{n}")).await;
        ids.push(t["token_id"].as_str().unwrap().to_string());
    }
    let staff = app.staff("paint").await;
    let act = |body: Value| {
        let (staff, url) = (staff.clone(), app.url("/api/v1/staff/queue/actions"));
        async move {
            let r = staff.post(url).json(&body).send().await.unwrap();
            assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        }
    };
    act(json!({"action": "NEXT"})).await;
    act(json!({"action": "NEXT"})).await;
    let me = &ids[3];
    let patient = Browser::start("patient", PHONE).await;
    patient.goto(&app.url(&format!("/t/{me}?poll=1"))).await;
    patient.wait_until("33% painted", "document.getElementById('progress').value === 33").await;
    act(json!({"action": "NEXT"})).await;
    patient.wait_until("66% painted by track.js", "document.getElementById('progress').value === 66").await;
    let html = plain().get(app.url(&format!("/t/{me}"))).send().await.unwrap().text().await.unwrap();
    assert!(html.contains(r#"value="66""#), "the server renders another progress:\n{html}");

    // The patient being served (ahead of me when I joined) is skipped and recalled.
    act(json!({"action": "SKIP"})).await;
    act(json!({"action": "RECALL", "token_id": ids[2]})).await;
    patient.wait_for_text("#position", "2").await;
    assert!(!patient.visible("#shift").await, "a recall of someone ahead of me is not an overtaking");

    let r = staff
        .post(app.url("/api/v1/staff/tokens"))
        .json(&json!({"patient_name": "Accident", "is_priority": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    patient.wait_for_text("#shift-text", "Your position shifted by 1.").await;
    let html = plain().get(app.url(&format!("/t/{me}"))).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Your position shifted by 1."), "the server renders no notice:\n{html}");
}

/// The operator's settings form is rendered from qlink.settings_schema(): it has an input
/// for every setting, each number input takes exactly the extension's range (both bounds,
/// nothing beyond), and values at the bounds save through the form.
#[tokio::test]
async fn the_settings_form_takes_exactly_what_the_extension_takes() {
    let app = spawn_app().await;
    app.clinic("bounds").await;
    let admin = app.admin_user().await;
    let schema: Vec<(String, i64, i64)> = app
        .db
        .query("SELECT name, min_value, max_value FROM qlink.settings_schema() WHERE kind = 'integer'", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get("name"), r.get("min_value"), r.get("max_value")))
        .collect();
    let settings: i64 = app.db.query_one("SELECT count(*) FROM qlink.settings_schema()", &[]).await.unwrap().get(0);
    let b = Browser::start("operator", DESK).await;
    log_in(&b, &app, "/admin", &admin).await;
    b.wait_for_text("#clinic-rows", "Clinic bounds").await;
    b.click("tr[data-slug=bounds] button[data-act=settings]").await;
    b.wait_visible("#settings-editor").await;
    // One input per setting; a list of languages is one box per language.
    let inputs = b
        .js(
            "var n = {}; document.querySelectorAll('#settings-form [data-setting]')\
               .forEach(function (e) { n[e.getAttribute('data-setting')] = 1; }); return Object.keys(n).length;",
            vec![],
        )
        .await;
    assert_eq!(inputs, json!(settings));
    let valid = |name: &str, v: i64| {
        let script = "var i = document.getElementById(arguments[0]); i.value = arguments[1]; return i.checkValidity();";
        b.js(script, vec![json!(format!("s-{name}")), json!(v.to_string())])
    };
    for (name, lo, hi) in &schema {
        for (v, ok) in [(*lo, true), (*hi, true), (lo - 1, false), (hi + 1, false)] {
            assert_eq!(valid(name, v).await, json!(ok), "{name} = {v} in the form");
        }
    }
    for bound in ["max", "min"] {
        for (name, lo, hi) in &schema {
            b.fill(&format!("#s-{name}"), &if bound == "max" { hi } else { lo }.to_string()).await;
        }
        b.click("#settings-save").await;
        b.wait_until("the settings saved", "document.getElementById('settings-editor').hidden").await;
        b.wait_for_text("#notice", "saved").await;
        for (name, lo, hi) in &schema {
            let stored: i64 = app
                .db
                .query_one("SELECT (settings ->> $1)::bigint FROM qlink.businesses WHERE slug = 'bounds'", &[name])
                .await
                .unwrap()
                .get(0);
            assert_eq!(stored, if bound == "max" { *hi } else { *lo }, "{name} at its {bound}");
        }
        b.click("tr[data-slug=bounds] button[data-act=settings]").await;
        b.wait_visible("#settings-editor").await;
    }
}

/// The staff dashboard and the operator panel share one qlink.js (fetch, errors, login),
/// loaded before their own script; neither script carries its own copy of those helpers.
#[tokio::test]
async fn the_desk_and_the_panel_share_one_helper_script() {
    let app = spawn_app().await;
    for (path, own) in [("/staff", "staff.js"), ("/admin", "admin.js")] {
        let html = plain().get(app.url(path)).send().await.unwrap().text().await.unwrap();
        let scripts: Vec<&str> = html.split("<script src=\"").skip(1).map(|s| s.split('"').next().unwrap()).collect();
        assert_eq!(scripts.len(), 2, "{path}: {scripts:?}");
        assert!(scripts[0].ends_with("/qlink.js") && scripts[1].ends_with(own), "{path}: {scripts:?}");
        for src in &scripts {
            let r = plain().get(app.url(src)).send().await.unwrap();
            assert_eq!(r.status(), 200, "{src}");
            let body = r.text().await.unwrap();
            let defines_api = body.contains("function api(");
            assert_eq!(defines_api, src.ends_with("/qlink.js"), "{src} and the fetch helper");
        }
    }
}

/// The reception dashboard in Hindi (SPEC §12): the login, the dashboard and what its
/// script writes, chosen on the page and kept through the login; English stays the default.
/// The QR code in a screenshot, read.
fn read_qr(shot: (usize, usize, Vec<u8>)) -> String {
    let (w, h, grey) = shot;
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| grey[y * w + x]);
    let grids = img.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code on the slip");
    grids[0].decode().expect("a readable QR code").1
}

/// A patient without a smartphone leaves with a slip: printed (print media) on a 58 mm and
/// an 80 mm receipt roll, every part of it is on the paper, the Print button is not, and its
/// QR code reads as the token's tracking link; in the patient's language.
#[tokio::test]
async fn the_slip_prints_on_58_and_80_mm_rolls_and_its_qr_is_the_tracking_link() {
    let app = spawn_app().await;
    app.clinic("slips").await;
    app.take_token("slips", "Asha", "9876543210").await;
    let token = app.take_token("slips", "Bala", "9876543211").await;
    let id = token["token_id"].as_str().unwrap();
    // 58 mm and 80 mm at 96 CSS pixels per inch.
    for (paper, width) in [("58", 219), ("80", 302)] {
        let b = Browser::start(&format!("slip-{paper}"), Size { width, height: 900 }).await;
        b.emulate_print().await;
        b.goto(&app.url(&format!("/t/{id}/slip?paper={paper}"))).await;
        b.wait_visible("#slip-qr").await;
        assert_eq!(b.js("return matchMedia('print').matches;", vec![]).await, json!(true));
        for part in
            ["#slip-clinic", "#slip-label", "#slip-joined", "#slip-ahead", "#slip-eta", "#slip-qr", "#slip-scan"]
        {
            assert!(b.visible(part).await, "{paper} mm: {part} is not on the slip");
        }
        assert!(!b.visible("#slip-print").await, "{paper} mm: the Print button is printed");
        assert_eq!(b.text("#slip-label").await, "2");
        assert_eq!(b.text("#slip-ahead").await, "1 person ahead of you");
        assert!(b.text("#slip-joined").await.starts_with("Joined at "), "{}", b.text("#slip-joined").await);
        let outside = b
            .js(
                "var w = document.documentElement.clientWidth; \
                 return Array.from(document.querySelectorAll('#slip *')).filter(function (e) { \
                     var r = e.getBoundingClientRect(); \
                     return r.width > 0 && (r.left < -0.5 || r.right > w + 0.5); }).map(function (e) { return e.id || e.tagName; });",
                vec![],
            )
            .await;
        assert_eq!(outside, json!([]), "{paper} mm: wider than the paper");
        assert_eq!(read_qr(b.grey_screenshot().await), format!("{}/t/{id}", app.base), "{paper} mm");
        b.screenshot(&format!("slip-{paper}")).await;
        b.close().await;
    }
    // In the patient's language (or the one asked for), and a clear error for bad input.
    let hindi = plain().get(app.url(&format!("/t/{id}/slip?lang=hi&paper=a6"))).send().await.unwrap();
    assert_eq!(hindi.status(), 200);
    let page = hindi.text().await.unwrap();
    assert!(page.contains("जुड़ने का समय") && page.contains("फ़ोन पर अपनी बारी"), "the slip in Hindi: {page}");
    assert!(page.contains("<svg"), "the A6 slip has its QR code");
    let bad = plain().get(app.url(&format!("/t/{id}/slip?paper=a4"))).send().await.unwrap();
    assert_eq!(bad.status(), 400);
    let unknown = plain().get(app.url(&format!("/t/{}/slip", uuid::Uuid::new_v4()))).send().await.unwrap();
    assert_eq!(unknown.status(), 404);
}

/// The desk prints a slip for the walk-in it just added, with one key (P), on the paper it
/// chose, and can reprint any waiting or skipped patient's slip.
#[tokio::test]
async fn the_desk_prints_a_slip_for_each_walk_in_with_one_key() {
    let app = spawn_app().await;
    app.clinic("slip-desk").await;
    let qr = app.take_token("slip-desk", "Chitra", "9876543212").await;
    let desk = staff_desk(&app, "slip-desk", DESK).await;
    desk.wait_visible(&format!("#waiting-list a.slip-link[href^='/t/{}/slip']", qr["token_id"].as_str().unwrap()))
        .await;
    assert!(!desk.visible("#print-slip").await, "nothing to print before a walk-in");
    desk.js(
        "var p = document.getElementById('slip-paper'); p.value = '58'; p.dispatchEvent(new Event('change'));",
        vec![],
    )
    .await;
    desk.fill("#add-name", "Gita").await;
    desk.click("#add-walkin").await;
    desk.wait_visible("#print-slip").await;
    let walk_in: String =
        app.db.query_one("SELECT id::text FROM qlink.tokens WHERE patient_name = 'Gita'", &[]).await.unwrap().get(0);
    let href = desk.js("return document.getElementById('print-slip').getAttribute('href');", vec![]).await;
    assert_eq!(href, json!(format!("/t/{walk_in}/slip?print=1&paper=58")));
    let before = desk.client.windows().await.unwrap().len();
    desk.press("p").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while desk.client.windows().await.unwrap().len() == before {
        assert!(std::time::Instant::now() < deadline, "P opened no slip");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    desk.close().await;
}

#[tokio::test]
async fn the_reception_dashboard_speaks_hindi() {
    let app = spawn_app().await;
    app.clinic("hindi-desk").await;
    app.take_token("hindi-desk", "सीता", "9876543210").await;
    let desk = Browser::start("hindi-desk", DESK).await;
    desk.goto(&app.url("/staff?poll=1")).await;
    desk.wait_for_text("h1", "Reception login").await;
    desk.click(".staff-lang a[lang=hi]").await;
    desk.wait_for_text("h1", "रिसेप्शन लॉगिन").await;
    assert_eq!(desk.js("return document.documentElement.lang;", vec![]).await, json!("hi"));
    desk.fill("#email", "staff@hindi-desk.test").await;
    desk.fill("#password", PASSWORD).await;
    desk.click("#login-button").await;
    desk.wait_visible("#dashboard").await;
    assert!(desk.text("#next").await.starts_with("अगला"), "{}", desk.text("#next").await);
    assert!(desk.text(".add h2").await.contains("मरीज़ जोड़ें"));
    desk.wait_for_text("#undo", "वापस लें (कुछ नहीं है)").await;
    desk.click("#next").await;
    desk.wait_for_text("#serving-number", "1").await;
    desk.wait_for_text("#undo", "वापस लें: NEXT (टोकन 1)").await;
    desk.fill("#add-name", "राम").await;
    desk.click("#add-walkin").await;
    desk.wait_for_text("#notice", "मरीज़ जोड़ा गया: राम के लिए टोकन 2").await;
    // Back to English with the menu.
    desk.click(".staff-lang a[lang=en]").await;
    desk.wait_for_text(".add h2", "Add a patient at the desk").await;
    desk.close().await;
}
