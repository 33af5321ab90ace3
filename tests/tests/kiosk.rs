//! The kiosk at the clinic's door and the lobby screen, end to end: a staff member signs a
//! tablet in as the clinic's kiosk (after which it reaches no staff page), three patients
//! without a phone join on it in a row, each leaving with a printed slip that names their
//! number and room, the form blank again for the next one; the lobby display lists every
//! waiting label under its room until the patient is called. Plain HTTP for the limits and
//! the bad input: a burst is limited per kiosk, not per address; a suspended clinic, a
//! closed day, a signed-out kiosk or a form from another site take nothing.

use qlink_tests::app::{plain, spawn_app, TestApp, PASSWORD};
use qlink_tests::browser::{Browser, Size, DESK};
use reqwest::header::{LOCATION, ORIGIN, SET_COOKIE};
use reqwest::redirect::Policy;
use serde_json::{json, Value};
use uuid::Uuid;

/// A tablet standing at the door.
const TABLET: Size = Size { width: 800, height: 1280 };
/// A lobby TV.
const TV: Size = Size { width: 1920, height: 1080 };

/// A clinic with two doctors: the General line in Room 1 and Dr. Rao's (prefix B) in Room 2.
struct Clinic {
    business: Uuid,
    general: Uuid,
    rao: Uuid,
    room_2: Uuid,
}

async fn two_doctors(app: &TestApp, slug: &str) -> Clinic {
    let business = app.clinic(slug).await;
    let db = &app.db;
    let general: Uuid =
        db.query_one("SELECT id FROM qlink.queues WHERE business_id = $1", &[&business]).await.unwrap().get(0);
    let rao: Uuid = db.query_one("SELECT qlink.create_queue($1, 'Dr. Rao', 'B')", &[&business]).await.unwrap().get(0);
    let room_2: Uuid = db
        .query_one("SELECT qlink.create_room($1, 'Room 2', ARRAY[$2]::uuid[])", &[&business, &rao])
        .await
        .unwrap()
        .get(0);
    Clinic { business, general, rao, room_2 }
}

/// A client that keeps cookies (one tablet) and shows redirects instead of following them.
fn tablet() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(Policy::none()).build().unwrap()
}

/// Signs a tablet in as the clinic's kiosk; the response.
async fn sign_in(
    app: &TestApp,
    client: &reqwest::Client,
    slug: &str,
    email: &str,
    password: &str,
) -> reqwest::Response {
    client
        .post(app.url(&format!("/c/{slug}/kiosk/open")))
        .header(ORIGIN, &app.base)
        .form(&[("email", email), ("password", password), ("paper", "80")])
        .send()
        .await
        .unwrap()
}

/// A patient joins at the kiosk (plain HTTP).
async fn kiosk_join(app: &TestApp, client: &reqwest::Client, slug: &str, form: &[(&str, &str)]) -> reqwest::Response {
    client.post(app.url(&format!("/c/{slug}/kiosk"))).header(ORIGIN, &app.base).form(form).send().await.unwrap()
}

async fn tokens_of(app: &TestApp, business: Uuid) -> i64 {
    app.db.query_one("SELECT count(*) FROM qlink.tokens WHERE business_id = $1", &[&business]).await.unwrap().get(0)
}

/// One patient at the kiosk in Chromium: types a name (and maybe a number), picks the line,
/// joins; the slip for their token is on screen and printed. Returns (token id, label).
async fn join_at(kiosk: &Browser, name: &str, phone: Option<&str>, line: Uuid) -> (String, String) {
    assert_eq!(kiosk.js("return document.getElementById('patient_name').value;", vec![]).await, json!(""));
    assert_eq!(kiosk.js("return document.getElementById('patient_phone').value;", vec![]).await, json!(""));
    kiosk.click(&format!("label[for='line-{line}']")).await;
    kiosk.fill("#patient_name", name).await;
    if let Some(phone) = phone {
        kiosk.fill("#patient_phone", phone).await;
    }
    kiosk.click("#join").await;
    kiosk.wait_visible("#kiosk-done").await;
    let url = kiosk.url().await;
    assert!(url.contains("/slip?") && url.contains("print=1") && url.contains("kiosk=1"), "{url}");
    let id = url.split("/t/").nth(1).unwrap().split('/').next().unwrap().to_string();
    let label = kiosk.text("#slip-label").await;
    (id, label)
}

/// The lobby's list of lines: "<line>→ <rooms>: <waiting labels>".
async fn board(b: &Browser) -> Value {
    b.js(
        "return Array.from(document.querySelectorAll('#line-board .line-column')).map(function (l) { \
             return l.querySelector('.line-head').textContent + ': ' + \
                    Array.from(l.querySelectorAll('.line-waiting li')).map(function (x) { return x.textContent; }).join(' '); });",
        vec![],
    )
    .await
}

/// Back at the blank form, by itself (no printer answers in headless Chromium) or with the
/// "Next patient" button.
async fn back_to_the_form(kiosk: &Browser) {
    kiosk
        .wait_until("the kiosk's form", "location.pathname.endsWith('/kiosk') && !!document.getElementById('intake')")
        .await;
}

#[tokio::test]
async fn a_patient_without_a_phone_gets_a_slip_at_the_kiosk_and_follows_the_lobby() {
    let app = spawn_app().await;
    let c = two_doctors(&app, "door").await;
    let kiosk = Browser::start("kiosk", TABLET).await;
    // The tablet was a desk before: its staff login ends when it becomes the kiosk.
    kiosk.goto(&app.url("/staff?poll=1")).await;
    kiosk.fill("#email", "staff@door.test").await;
    kiosk.fill("#password", PASSWORD).await;
    kiosk.click("#login-button").await;
    kiosk.wait_visible("#dashboard").await;

    kiosk.goto(&app.url("/c/door/kiosk")).await;
    kiosk.wait_visible("#kiosk-sign-in").await;
    assert!(!kiosk.visible("#intake").await, "no form before a staff member signs the kiosk in");
    kiosk.click("#kiosk-sign-in summary").await;
    kiosk.fill("#email", "staff@door.test").await;
    kiosk.fill("#password", "not the password").await;
    kiosk.click("#kiosk-open-button").await;
    kiosk.wait_for_text("#kiosk-notice", "Wrong email or password.").await;
    // The sign-in stays open after a refusal.
    kiosk.fill("#email", "staff@door.test").await;
    kiosk.fill("#password", PASSWORD).await;
    kiosk.js("document.getElementById('paper').value = '58';", vec![]).await;
    kiosk.click("#kiosk-open-button").await;
    kiosk.wait_visible("#kiosk").await;
    kiosk.assert_fits(TABLET.width).await;
    kiosk.screenshot("kiosk-form").await;

    // It reaches no staff page or call.
    for page in ["/staff", "/owner", "/staff/reports", "/admin"] {
        kiosk.goto(&app.url(page)).await;
        kiosk.wait_visible("#login").await;
        assert!(!kiosk.visible("#dashboard").await, "{page} opened on the kiosk");
    }
    let calls = kiosk
        .js(
            "return ['/api/v1/auth/me', '/api/v1/staff/queue', '/api/v1/staff/kiosks'].map(function (u) { \
                 var x = new XMLHttpRequest(); x.open('GET', u, false); x.send(); return x.status; });",
            vec![],
        )
        .await;
    assert_eq!(calls, json!([401, 401, 401]), "the kiosk called a staff API");

    // Three patients in a row, each with a slip, the form blank between them.
    kiosk.goto(&app.url("/c/door/kiosk")).await;
    let (first, first_label) = join_at(&kiosk, "Lakshmi Amma", None, c.rao).await;
    assert_eq!(first_label, "B-1");
    assert!(kiosk.text("#slip-room").await.contains("Room 2"), "{}", kiosk.text("#slip-room").await);
    assert!(kiosk.text("#kiosk-done").await.contains("Please take your slip"), "{}", kiosk.text("#kiosk-done").await);
    assert_eq!(kiosk.js("return document.body.className;", vec![]).await, json!("slip-page slip-58"));
    kiosk.screenshot("kiosk-slip").await;
    back_to_the_form(&kiosk).await;
    let (second, second_label) = join_at(&kiosk, "Ravi", Some("9876500042"), c.general).await;
    assert_eq!(second_label, "1");
    kiosk.click("#kiosk-next").await;
    back_to_the_form(&kiosk).await;
    let (third, third_label) = join_at(&kiosk, "Baby Meena", None, c.rao).await;
    assert_eq!(third_label, "B-2");
    back_to_the_form(&kiosk).await;
    let rows = app
        .db
        .query(
            "SELECT id::text, source, coalesce(patient_phone, '-') FROM qlink.tokens WHERE business_id = $1 ORDER BY created_at",
            &[&c.business],
        )
        .await
        .unwrap();
    let got: Vec<(String, String, String)> = rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect();
    assert_eq!(
        got,
        vec![
            (first.clone(), "KIOSK".into(), "-".into()),
            (second, "KIOSK".into(), "+919876500042".into()),
            (third, "KIOSK".into(), "-".into()),
        ]
    );

    // The lobby lists each waiting label under its room, until the patient is called.
    let lobby = Browser::start("lobby", TV).await;
    lobby.goto(&app.url("/c/door/display?poll=1")).await;
    lobby.wait_visible("#line-board").await;
    assert_eq!(board(&lobby).await, json!(["General→ Room 1: 1", "Dr. Rao→ Room 2: B-1 B-2"]));
    // On the screen as it hangs, without scrolling (a TV does not scroll).
    lobby.assert_fits(TV.width).await;
    let inside = lobby
        .js(
            "return document.getElementById('line-board').getBoundingClientRect().bottom <= window.innerHeight;",
            vec![],
        )
        .await;
    assert_eq!(inside, json!(true), "the waiting labels are below the screen's edge");
    lobby.screenshot("lobby-waiting").await;
    app.db
        .query("SELECT * FROM qlink.queue_action($1, 'NEXT', room_id => $2)", &[&c.business, &c.room_2])
        .await
        .unwrap();
    lobby
        .wait_until(
            "B-1 called in Room 2",
            "Array.from(document.querySelectorAll('#rooms li')).some(function (li) { \
                 return li.textContent.indexOf('Room 2') >= 0 && li.textContent.indexOf('B-1') >= 0; }) && \
             document.querySelector(\"#line-board [data-queue-id] .line-waiting\") !== null && \
             !Array.from(document.querySelectorAll('#line-board .line-waiting li')).some(function (x) { return x.textContent === 'B-1'; })",
        )
        .await;
    assert_eq!(board(&lobby).await, json!(["General→ Room 1: 1", "Dr. Rao→ Room 2: B-2"]));
    let status: Value =
        plain().get(app.url(&format!("/api/v1/tokens/{first}"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(status["status"], "SERVING");
    lobby.close().await;

    // At the end of the day the desk signs the kiosk out from its dashboard.
    let desk = Browser::start("desk", DESK).await;
    desk.goto(&app.url("/staff?poll=1")).await;
    desk.fill("#email", "staff@door.test").await;
    desk.fill("#password", PASSWORD).await;
    desk.click("#login-button").await;
    desk.wait_visible("#dashboard").await;
    desk.click("#kiosks summary").await;
    desk.wait_visible("#kiosk-list button[data-kiosk]").await;
    assert!(desk.text("#kiosk-list").await.contains("Opened by staff@door.test"), "{}", desk.text("#kiosk-list").await);
    assert!(desk.text("#kiosk-path").await.ends_with("/c/door/kiosk"), "{}", desk.text("#kiosk-path").await);
    desk.click("#kiosk-list button[data-kiosk]").await;
    desk.wait_visible("#kiosk-none").await;
    desk.close().await;
    kiosk.goto(&app.url("/c/door/kiosk")).await;
    kiosk.wait_for_text("#kiosk-notice", "This kiosk is signed out").await;
    assert!(!kiosk.visible("#intake").await);
    kiosk.close().await;
}

/// A burst of joins is limited per kiosk, not per address: the whole waiting room shares the
/// kiosk's address, and its patients' own phones keep theirs.
#[tokio::test]
async fn a_burst_of_joins_is_limited_per_kiosk_not_per_address() {
    let app = spawn_app().await;
    let business = app.clinic("burst").await;
    app.db
        .query_one(
            "SELECT qlink.update_business($1, settings => '{\"kiosk_tokens_per_10min\": 3, \"ip_tokens_per_10min\": 1}')",
            &[&business],
        )
        .await
        .unwrap();
    let (a, b) = (tablet(), tablet());
    for t in [&a, &b] {
        assert_eq!(sign_in(&app, t, "burst", "staff@burst.test", PASSWORD).await.status(), 303);
    }
    for n in 0..3 {
        let r = kiosk_join(&app, &a, "burst", &[("patient_name", &format!("A{n}")), ("patient_phone", "")]).await;
        assert_eq!(r.status(), 303, "join {n} at kiosk A");
        assert!(r.headers()[LOCATION].to_str().unwrap().contains("kiosk=1"));
    }
    let limited = kiosk_join(&app, &a, "burst", &[("patient_name", "A3"), ("patient_phone", "")]).await;
    assert_eq!(limited.status(), 429);
    let page = limited.text().await.unwrap();
    assert!(page.contains("Many tokens were taken at this kiosk just now"), "{page}");
    assert!(page.contains("data-return="), "the message goes back to the form by itself");
    assert_eq!(tokens_of(&app, business).await, 3, "the refused join took nothing");
    // The other kiosk of the clinic, on the same address, has its own window...
    let other = kiosk_join(&app, &b, "burst", &[("patient_name", "B0"), ("patient_phone", "")]).await;
    assert_eq!(other.status(), 303);
    // ...and so has a patient's phone there: the kiosks' joins did not spend the address's.
    let phone = app.take_token("burst", "Phone", "9876500001").await;
    assert_eq!(phone["status"], "WAITING");
    let second = plain()
        .post(app.url("/api/v1/clinics/burst/tokens"))
        .json(&json!({"patient_name": "Phone 2", "patient_phone": "9876500002"}))
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), 429, "the address's own window still holds");
    assert_eq!(tokens_of(&app, business).await, 5);
}

/// Bad input at the kiosk: a clear page each time, and nothing taken.
#[tokio::test]
async fn a_kiosk_refuses_clearly_and_takes_nothing_when_it_cannot_join() {
    let app = spawn_app().await;
    let business = app.clinic("gate").await;
    app.clinic("elsewhere").await;
    let t = tablet();
    // Sign-in: a wrong password, another clinic's login, another site's form.
    let wrong = sign_in(&app, &t, "gate", "staff@gate.test", "nope").await;
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().get(SET_COOKIE).is_none());
    assert!(wrong.text().await.unwrap().contains("Wrong email or password."));
    let foreign = sign_in(&app, &t, "gate", "staff@elsewhere.test", PASSWORD).await;
    assert_eq!(foreign.status(), 403);
    assert!(foreign.text().await.unwrap().contains("This login does not work at the desk of Clinic gate."));
    let forged = t
        .post(app.url("/c/gate/kiosk/open"))
        .header(ORIGIN, "https://evil.example")
        .form(&[("email", "staff@gate.test"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert!(forged.headers().get(SET_COOKIE).is_none());
    // A join without a kiosk: the sign-in, nothing taken.
    let none = kiosk_join(&app, &t, "gate", &[("patient_name", "Nobody")]).await;
    assert_eq!(none.status(), 401);
    assert!(none.text().await.unwrap().contains("A staff member signs in to open it again."));
    assert_eq!(tokens_of(&app, business).await, 0);

    let opened = sign_in(&app, &t, "gate", "staff@gate.test", PASSWORD).await;
    assert_eq!(opened.status(), 303);
    let cookie = opened.headers()[SET_COOKIE].to_str().unwrap().to_string();
    assert!(
        cookie.starts_with("qlink_kiosk=") && cookie.contains("Path=/c/gate/kiosk") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    // A wrong number: the form again with the name kept and the advice, nothing taken.
    let bad = kiosk_join(&app, &t, "gate", &[("patient_name", "Kamala"), ("patient_phone", "12345")]).await;
    assert_eq!(bad.status(), 400);
    let page = bad.text().await.unwrap();
    assert!(page.contains("value=\"Kamala\"") && page.contains("10-digit"), "{page}");
    // A line that is gone since the form was shown: the form again, the kiosk still open.
    let stale = Uuid::new_v4().to_string();
    let gone = kiosk_join(&app, &t, "gate", &[("patient_name", "Kamala"), ("queue_id", &stale)]).await;
    assert_eq!(gone.status(), 400);
    let page = gone.text().await.unwrap();
    assert!(page.contains("id=\"intake\"") && page.contains("value=\"Kamala\""), "{page}");
    // Another site's page posting to the kiosk.
    let forged = t
        .post(app.url("/c/gate/kiosk"))
        .header(ORIGIN, "https://evil.example")
        .form(&[("patient_name", "Forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert_eq!(tokens_of(&app, business).await, 0);

    // A suspended clinic.
    app.db.query_one("SELECT qlink.update_business($1, status => 'SUSPENDED')", &[&business]).await.unwrap();
    let page = t.get(app.url("/c/gate/kiosk")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("This clinic is not taking patients through QLink right now"), "{page}");
    assert!(!page.contains("id=\"intake\""), "no form for a suspended clinic");
    let r = kiosk_join(&app, &t, "gate", &[("patient_name", "Suspended")]).await;
    assert_eq!(r.status(), 403);
    app.db.query_one("SELECT qlink.update_business($1, status => 'ACTIVE')", &[&business]).await.unwrap();
    assert_eq!(tokens_of(&app, business).await, 0);

    // One join, then the day is closed.
    assert_eq!(kiosk_join(&app, &t, "gate", &[("patient_name", "Early")]).await.status(), 303);
    app.db.query("SELECT * FROM qlink.close_session($1)", &[&business]).await.unwrap();
    let page = t.get(app.url("/c/gate/kiosk")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("kiosk-message") && !page.contains("id=\"intake\""), "{page}");
    let r = kiosk_join(&app, &t, "gate", &[("patient_name", "Late")]).await;
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("data-return="));
    assert_eq!(tokens_of(&app, business).await, 1);

    // The desk lists the kiosk and signs it out; the tablet then shows the sign-in.
    let desk = app.login("staff@gate.test").await;
    let list: Value = desk.get(app.url("/api/v1/staff/kiosks")).send().await.unwrap().json().await.unwrap();
    assert_eq!(list["kiosk_path"], "/c/gate/kiosk");
    assert_eq!(list["kiosks"].as_array().unwrap().len(), 1);
    assert_eq!(list["kiosks"][0]["opened_by_email"], "staff@gate.test");
    let id = list["kiosks"][0]["kiosk_id"].as_str().unwrap().to_string();
    let other_desk = app.login("staff@elsewhere.test").await;
    let theirs = other_desk
        .delete(app.url(&format!("/api/v1/staff/kiosks/{id}")))
        .header(ORIGIN, &app.base)
        .send()
        .await
        .unwrap();
    assert_eq!(theirs.status(), 404, "another clinic's desk cannot sign this kiosk out");
    let closed =
        desk.delete(app.url(&format!("/api/v1/staff/kiosks/{id}"))).header(ORIGIN, &app.base).send().await.unwrap();
    assert_eq!(closed.status(), 204);
    let page = t.get(app.url("/c/gate/kiosk")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("This kiosk is signed out"), "{page}");

    // An expired kiosk: signed out, its cookie cleared, nothing taken.
    assert_eq!(sign_in(&app, &t, "gate", "staff@gate.test", PASSWORD).await.status(), 303);
    app.db
        .execute(
            "UPDATE qlink.kiosks SET created_at = now() - interval '13 hours', expires_at = now() - interval '1 hour'",
            &[],
        )
        .await
        .unwrap();
    let before = tokens_of(&app, business).await;
    let r = kiosk_join(&app, &t, "gate", &[("patient_name", "Expired")]).await;
    assert_eq!(r.status(), 401);
    assert!(r.headers()[SET_COOKIE].to_str().unwrap().contains("Max-Age=0"));
    assert_eq!(tokens_of(&app, business).await, before);
}

/// A clinic with one line and one room keeps the 0.1 lobby JSON exactly; a clinic with
/// several lines lists each line's waiting labels with its rooms.
#[tokio::test]
async fn the_lobby_json_lists_lines_only_where_there_are_several() {
    let app = spawn_app().await;
    app.clinic("one-line").await;
    app.take_token("one-line", "Asha", "9876500001").await;
    let one: Value = plain().get(app.url("/c/one-line/display.json")).send().await.unwrap().json().await.unwrap();
    let keys: Vec<&str> = one.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        vec!["accepting_tokens", "away_labels", "clinic_name", "next_numbers", "now_serving_number", "waiting_count"]
    );
    let c = two_doctors(&app, "two-lines").await;
    for (name, q) in [("P1", c.rao), ("P2", c.general)] {
        app.db
            .query("SELECT * FROM qlink.create_token($1, $2, NULL, 'STAFF', queue_id => $3)", &[&c.business, &name, &q])
            .await
            .unwrap();
    }
    let two: Value = plain().get(app.url("/c/two-lines/display.json")).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        two["lines"],
        json!([
            {"queue_id": c.general, "queue_name": "General", "rooms": ["Room 1"], "waiting_labels": ["1"]},
            {"queue_id": c.rao, "queue_name": "Dr. Rao", "rooms": ["Room 2"], "waiting_labels": ["B-1"]},
        ])
    );
    let screen = Browser::start("lobby-desk", DESK).await;
    screen.goto(&app.url("/c/two-lines/display?poll=1")).await;
    screen.wait_visible("#line-board").await;
    screen.assert_fits(DESK.width).await;
    screen.close().await;
}
