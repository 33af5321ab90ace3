//! The pages of a clinic with several doctors and rooms, end to end in headless Chromium: a
//! patient picks Dr. B on the intake page, Room 2 calls them from its dashboard, their
//! tracking page and the lobby display say "B-1 → Room 2"; the desk sends a patient to the
//! other doctor (TRANSFER); the owner adds a room and a receptionist login from the browser.
//! Pages are opened with `?poll=1` (polling every second), as in tests/tests/pages.rs.

use qlink_tests::app::{plain, spawn_app, TestApp, PASSWORD};
use qlink_tests::browser::{Browser, DESK, PHONE};
use serde_json::{json, Value};
use uuid::Uuid;

/// A two-doctor clinic: Dr. A (prefix A) seen in Room 1, Dr. B (prefix B) in Room 2, a
/// receptionist pinned to Room 2 and the clinic's owner.
struct TwoDoctors {
    business: Uuid,
    dr_a: Uuid,
    dr_b: Uuid,
    room_1: Uuid,
    room_2: Uuid,
}

async fn two_doctors(app: &TestApp, slug: &str) -> TwoDoctors {
    let business = app.clinic(slug).await;
    let db = &app.db;
    let dr_a: Uuid =
        db.query_one("SELECT id FROM qlink.queues WHERE business_id = $1", &[&business]).await.unwrap().get(0);
    db.query_one("SELECT qlink.update_queue($1, $2, name => 'Dr. A — General', prefix => 'A')", &[&business, &dr_a])
        .await
        .unwrap();
    let dr_b: Uuid =
        db.query_one("SELECT qlink.create_queue($1, 'Dr. B — Children', 'B')", &[&business]).await.unwrap().get(0);
    let room_1: Uuid =
        db.query_one("SELECT id FROM qlink.rooms WHERE business_id = $1", &[&business]).await.unwrap().get(0);
    let room_2: Uuid = db
        .query_one("SELECT qlink.create_room($1, 'Room 2', ARRAY[$2]::uuid[])", &[&business, &dr_b])
        .await
        .unwrap()
        .get(0);
    let hash = qlink_server::accounts::hash_password(PASSWORD).unwrap();
    db.query_one(
        "SELECT qlink.create_staff_user($1, $2, 'STAFF', $3, $4)",
        &[&format!("room2@{slug}.test"), &hash, &business, &room_2],
    )
    .await
    .unwrap();
    db.query_one(
        "SELECT qlink.create_staff_user($1, $2, 'OWNER', $3)",
        &[&format!("owner@{slug}.test"), &hash, &business],
    )
    .await
    .unwrap();
    TwoDoctors { business, dr_a, dr_b, room_1, room_2 }
}

async fn log_in(b: &Browser, app: &TestApp, page: &str, email: &str, ready: &str) {
    b.goto(&app.url(&format!("{page}?poll=1"))).await;
    b.wait_visible("#login").await;
    b.fill("#email", email).await;
    b.fill("#password", PASSWORD).await;
    b.click("#login-button").await;
    b.wait_until("logged in", &format!("!!document.querySelector('{ready}')")).await;
}

/// Chooses an option of a `<select>` as a person would (the page hears `change`).
async fn choose(b: &Browser, css: &str, value: &str) {
    b.js(
        "var s = document.querySelector(arguments[0]); s.value = arguments[1]; \
         s.dispatchEvent(new Event('change', { bubbles: true })); return s.value;",
        vec![json!(css), json!(value)],
    )
    .await;
}

fn token_id_from(url: &str) -> String {
    let path = url.split('?').next().unwrap();
    let id = path.rsplit('/').next().unwrap().to_string();
    Uuid::parse_str(&id).unwrap_or_else(|_| panic!("not a tracking URL: {url}"));
    id
}

#[tokio::test]
async fn a_patient_picks_dr_b_and_room_2_calls_them_on_their_page_and_the_lobby() {
    let app = spawn_app().await;
    let c = two_doctors(&app, "two").await;

    // The intake page offers both doctors with their wait; the patient picks Dr. B.
    let patient = Browser::start("patient", PHONE).await;
    patient.goto(&app.url("/c/two")).await;
    patient.wait_for_text("#lines", "Dr. A — General").await;
    patient.wait_for_text("#lines", "Dr. B — Children").await;
    assert!(patient.text(&format!("[data-queue-id='{}'] .line-wait", c.dr_b)).await.contains("Nobody waiting"));
    patient.screenshot("rooms-intake").await;
    patient.assert_fits(360).await;
    // Without a choice the page asks for one (the browser's own check, then intake.js).
    assert!(!patient.visible("#form-error").await);
    patient.click(&format!("label[for='line-{}']", c.dr_b)).await;
    patient.fill("#patient_name", "Meera Iyer").await;
    patient.fill("#patient_phone", "98765 43210").await;
    patient.click("#join").await;
    patient.wait_until("the tracking page", "location.pathname.indexOf('/t/') === 0").await;
    let id = token_id_from(&patient.url().await);
    let queue: Uuid =
        app.db.query_one("SELECT queue_id FROM qlink.tokens WHERE id = $1::text::uuid", &[&id]).await.unwrap().get(0);
    assert_eq!(queue, c.dr_b, "the token joined Dr. B's line");
    patient.goto(&app.url(&format!("/t/{id}?poll=1"))).await;
    patient.wait_for_text("#number", "B-1").await;
    patient.wait_for_text("#line-name", "Dr. B — Children").await;
    patient.wait_for_text("#status-line", "Waiting").await;
    assert!(!patient.visible("#room-line").await, "no room before the call");
    patient.js("window.qlinkSameDocument = true; return true;", vec![]).await;

    // The lobby shows every room.
    let lobby = Browser::start("lobby", DESK).await;
    lobby.goto(&app.url("/c/two/display?poll=1")).await;
    lobby.wait_for_text(&format!("#rooms [data-room-id='{}']", c.room_1), "Room 1").await;
    lobby.wait_for_text(&format!("#rooms [data-room-id='{}']", c.room_2), "Room 2").await;
    lobby.wait_for_text("#next-list", "B-1").await;
    lobby.click("#sound-on").await;

    // Room 2's receptionist (pinned there) sees Dr. B's line and calls the patient.
    let desk = Browser::start("desk", DESK).await;
    log_in(&desk, &app, "/staff", "room2@two.test", "#dashboard").await;
    desk.wait_for_text("#room-title", "Room 2").await;
    desk.wait_for_text("#waiting-list", "Meera Iyer").await;
    desk.wait_for_text("#waiting-list", "B-1").await;
    desk.wait_for_text(&format!("#overview-rows [data-room-id='{}'] .waiting", c.room_2), "1").await;
    desk.wait_until("NEXT enabled", "!document.getElementById('next').disabled").await;
    desk.click("#next").await;
    desk.wait_for_text("#serving-number", "B-1").await;
    desk.wait_for_text("#serving-name", "Meera Iyer").await;
    desk.wait_for_text(&format!("#overview-rows [data-room-id='{}'] .serving", c.room_2), "B-1").await;
    desk.screenshot("rooms-desk").await;

    // The patient's open page names the room, in English.
    patient.wait_for_text("#status-line", "It's your turn").await;
    patient.wait_for_text("#room-line", "B-1 → Room 2").await;
    patient.wait_for_text("#turn-room", "Please go to Room 2").await;
    patient.screenshot("rooms-called").await;
    patient.assert_fits(360).await;
    // ... and in Hindi.
    let hindi = plain().get(app.url(&format!("/t/{id}?lang=hi"))).send().await.unwrap().text().await.unwrap();
    assert!(hindi.contains("B-1") && hindi.contains("कृपया Room 2 में जाएँ"), "{hindi}");

    // The lobby calls "Token B-1, Room 2" (written and spoken) in both languages.
    lobby.wait_for_text("#now", "B-1").await;
    lobby.wait_for_text("#now-room", "Room 2").await;
    lobby.wait_for_text(&format!("#rooms [data-room-id='{}'] .room-label", c.room_2), "B-1").await;
    lobby.wait_for_text("#call-text", "Token B-1, Room 2").await;
    lobby.wait_for_text("#call-text", "टोकन B-1, Room 2").await;
    lobby
        .wait_until(
            "the call-out finished",
            "(document.getElementById('display').getAttribute('data-call-log') || '').indexOf('end:B-1@Room 2') >= 0",
        )
        .await;
    lobby.screenshot("rooms-lobby").await;
    let page = lobby.js("return document.body.textContent;", vec![]).await;
    assert!(!page.as_str().unwrap().contains("Meera"), "a patient's name is on the lobby screen");
    // One room's screen: ?room=.
    let one: Value = plain()
        .get(app.url(&format!("/c/two/display.json?room={}", c.room_2)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["rooms"], json!([{"room_id": c.room_2, "room_name": "Room 2", "serving_label": "B-1"}]));

    // TRANSFER: a second child is sent on to Dr. A; the token keeps its label.
    let ravi: Uuid = app
        .db
        .query_one(
            "SELECT token_id FROM qlink.create_token($1, 'Ravi Kumar', '9876543211', 'STAFF', queue_id => $2)",
            &[&c.business, &c.dr_b],
        )
        .await
        .unwrap()
        .get(0);
    desk.wait_for_text("#waiting-list", "Ravi Kumar").await;
    desk.wait_until(
        "the transfer select",
        &format!("!!document.querySelector('select.transfer[data-token=\"{ravi}\"]')"),
    )
    .await;
    choose(&desk, &format!("select.transfer[data-token='{ravi}']"), &c.dr_a.to_string()).await;
    desk.wait_for_text("#notice", "Sent to Dr. A — General").await;
    desk.wait_until(
        "Ravi left Room 2's list",
        "document.getElementById('waiting-list').textContent.indexOf('Ravi') < 0",
    )
    .await;
    let (queue, label): (Uuid, String) = {
        let r =
            app.db.query_one("SELECT queue_id, token_label FROM qlink.tokens WHERE id = $1", &[&ravi]).await.unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!((queue, label.as_str()), (c.dr_a, "B-2"));

    // The tracking page was never reloaded while it followed the call.
    assert_eq!(patient.js("return window.qlinkSameDocument === true;", vec![]).await, json!(true));
    assert!(patient.open_dialog().await.is_none() && desk.open_dialog().await.is_none());
    patient.close().await;
    desk.close().await;
    lobby.close().await;
}

#[tokio::test]
async fn a_lines_poster_opens_the_intake_page_with_that_line_picked() {
    let app = spawn_app().await;
    let c = two_doctors(&app, "poster2").await;
    let poster = plain()
        .get(app.url(&format!("/c/poster2/poster?queue={}", c.dr_b)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(poster.contains("For: Dr. B — Children") && poster.contains("<svg"), "{poster}");
    assert!(poster.contains(&format!("/c/poster2?queue={}", c.dr_b)), "the poster's link names the line");
    let intake =
        plain().get(app.url(&format!("/c/poster2?queue={}", c.dr_b))).send().await.unwrap().text().await.unwrap();
    let radio = intake.split(&format!("id=\"line-{}\"", c.dr_b)).next().unwrap().rsplit("<input").next().unwrap();
    let after = intake.split(&format!("id=\"line-{}\"", c.dr_b)).nth(1).unwrap().split('>').next().unwrap();
    assert!(format!("{radio}{after}").contains("checked"), "Dr. B is picked: {intake}");
    // Another clinic's line, or no line at all: a 404, never a poster to nowhere.
    let other = app.clinic("other2").await;
    let theirs: Uuid =
        app.db.query_one("SELECT id FROM qlink.queues WHERE business_id = $1", &[&other]).await.unwrap().get(0);
    let r = plain().get(app.url(&format!("/c/poster2/poster?queue={theirs}"))).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let r = plain().get(app.url("/c/poster2/qr.svg?queue=nonsense")).send().await.unwrap();
    assert_eq!(r.status(), 404);

    // A line closed for today, or not seeing patients at all, is shown disabled with the
    // reason; the others can still be picked.
    let dr_c: Uuid =
        app.db.query_one("SELECT qlink.create_queue($1, 'Dr. C — Skin', 'C')", &[&c.business]).await.unwrap().get(0);
    app.db.query_one("SELECT qlink.update_queue($1, $2, is_active => false)", &[&c.business, &dr_c]).await.unwrap();
    app.db.query("SELECT * FROM qlink.close_session($1, queue_id => $2)", &[&c.business, &c.dr_b]).await.unwrap();
    let intake = plain().get(app.url("/c/poster2")).send().await.unwrap().text().await.unwrap();
    let line =
        |id: Uuid| intake.split(&format!("data-queue-id=\"{id}\"")).nth(1).unwrap().split("</div>").next().unwrap();
    assert!(line(dr_c).contains("Not seeing patients today") && line(dr_c).contains("disabled"), "{intake}");
    assert!(line(c.dr_b).contains("Closed for today") && line(c.dr_b).contains("disabled"), "{intake}");
    assert!(line(c.dr_a).contains("Nobody waiting") && !line(c.dr_a).contains("disabled"), "{intake}");
    let _ = (c.room_1, c.room_2);
}

#[tokio::test]
async fn the_owner_adds_a_room_and_a_receptionist_login_from_the_browser() {
    let app = spawn_app().await;
    let c = two_doctors(&app, "own").await;
    let owner = Browser::start("owner", DESK).await;
    log_in(&owner, &app, "/owner", "owner@own.test", "#owner").await;
    owner.wait_for_text("#owner-title", "Clinic own").await;
    owner.wait_for_text("#queues", "Poster").await;

    // A room for Dr. A's second chair.
    owner.fill("#room-name", "Room 3").await;
    owner.click(&format!("label[for='rq-new-{}']", c.dr_a)).await;
    owner.click("#add-room-button").await;
    owner.wait_for_text("#notice", "Room added.").await;
    let room_3: Uuid = app
        .db
        .query_one("SELECT id FROM qlink.rooms WHERE business_id = $1 AND name = 'Room 3'", &[&c.business])
        .await
        .unwrap()
        .get(0);
    let lines: Vec<Uuid> = app
        .db
        .query("SELECT queue_id FROM qlink.room_queues WHERE room_id = $1", &[&room_3])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(lines, vec![c.dr_a]);

    // A refusal is shown, and changes nothing: a room with no line.
    owner.fill("#room-name", "Empty room").await;
    owner.click("#add-room-button").await;
    owner.wait_visible("#message").await;
    let rooms: i64 = app
        .db
        .query_one("SELECT count(*) FROM qlink.rooms WHERE business_id = $1", &[&c.business])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rooms, 3, "{}", owner.text("#message").await);

    // A receptionist pinned to the new room.
    owner.fill("#staff-email", "desk3@own.test").await;
    owner.fill("#staff-password", PASSWORD).await;
    choose(&owner, "#staff-role", "STAFF").await;
    choose(&owner, "#staff-room", &room_3.to_string()).await;
    owner.click("#add-staff-button").await;
    owner.wait_for_text("#notice", "Login created.").await;
    owner.wait_for_text("#staff", "desk3@own.test").await;
    owner.screenshot("owner").await;
    let (role, room): (String, Option<Uuid>) = {
        let r = app
            .db
            .query_one("SELECT role, room_id FROM qlink.staff_users WHERE email = 'desk3@own.test'", &[])
            .await
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!((role.as_str(), room), ("STAFF", Some(room_3)));

    // The new login works in its room.
    let desk = Browser::start("desk3", DESK).await;
    log_in(&desk, &app, "/staff", "desk3@own.test", "#dashboard").await;
    desk.wait_for_text("#room-title", "Room 3").await;
    desk.wait_for_text(&format!("#overview-rows [data-room-id='{room_3}']"), "Room 3").await;

    // Disabling the login ends its sessions.
    owner.click("[data-email='desk3@own.test'] .actions form:first-child button").await;
    owner.wait_for_text("#notice", "Login saved.").await;
    owner.wait_for_text("[data-email='desk3@own.test'] .status", "disabled").await;
    let sessions: i64 = app
        .db
        .query_one(
            "SELECT count(*) FROM qlink.login_sessions s JOIN qlink.staff_users u ON u.id = s.staff_user_id \
             WHERE u.email = 'desk3@own.test'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(sessions, 0);

    // The settings an owner may change (the limits are the operator's: not on the page).
    assert!(!owner.visible("#o-daily_token_limit").await);
    owner.fill("#o-stall_warning_minutes", "25").await;
    owner.click("#settings-save").await;
    owner.wait_for_text("#notice", "Settings saved.").await;
    let stall: Value = app
        .db
        .query_one("SELECT settings->'stall_warning_minutes' FROM qlink.businesses WHERE id = $1", &[&c.business])
        .await
        .unwrap()
        .get(0);
    assert_eq!(stall, json!(25));

    // The operator reaches the same page for any clinic, through the operator's routes.
    let root = app.admin_user().await;
    let operator = Browser::start("operator", DESK).await;
    log_in(&operator, &app, "/owner", &root, "#admin").await;
    operator.goto(&app.url("/owner?clinic=own")).await;
    operator.wait_for_text("#owner-title", "Clinic own").await;
    operator.fill("#queue-name", "Lab").await;
    operator.fill("#queue-prefix", "L").await;
    operator.click("#add-queue-button").await;
    operator.wait_for_text("#notice", "Line added.").await;
    operator.wait_until("still this clinic", "location.search.indexOf('clinic=own') >= 0").await;
    let lab: i64 = app
        .db
        .query_one("SELECT count(*) FROM qlink.queues WHERE business_id = $1 AND prefix = 'L'", &[&c.business])
        .await
        .unwrap()
        .get(0);
    assert_eq!(lab, 1);
    operator.close().await;

    // A receptionist is not an owner: the page says so.
    let other = Browser::start("staff", DESK).await;
    log_in(&other, &app, "/owner", "staff@own.test", "#wrong-login").await;
    let _ = (c.dr_b, c.room_1, c.room_2);
    owner.close().await;
    desk.close().await;
    other.close().await;
}

#[tokio::test]
async fn a_desk_without_a_pinned_room_picks_one_and_works_in_it() {
    let app = spawn_app().await;
    let c = two_doctors(&app, "pick").await;
    let desk = Browser::start("desk", DESK).await;
    log_in(&desk, &app, "/staff", "staff@pick.test", "#dashboard").await;
    // No room yet: the queue's buttons wait for one.
    desk.wait_visible("#pick-room").await;
    assert!(desk.js("return document.getElementById('next').disabled;", vec![]).await == json!(true));
    choose(&desk, "#room", &c.room_1.to_string()).await;
    desk.wait_for_text("#room-title", "Room 1").await;

    // A walk-in for Dr. A (Room 1's line comes first in the choice).
    desk.fill("#add-name", "Walk In").await;
    choose(&desk, "#add-queue", &c.dr_a.to_string()).await;
    desk.click("#add-walkin").await;
    desk.wait_for_text("#notice", "token A-1 for Walk In (Dr. A — General)").await;
    desk.wait_for_text("#waiting-list", "A-1").await;

    // NEXT and UNDO act in Room 1.
    desk.wait_until("NEXT enabled", "!document.getElementById('next').disabled").await;
    desk.click("#next").await;
    desk.wait_for_text("#serving-number", "A-1").await;
    let room: Option<Uuid> =
        app.db.query_one("SELECT room_id FROM qlink.tokens WHERE token_label = 'A-1'", &[]).await.unwrap().get(0);
    assert_eq!(room, Some(c.room_1));
    desk.wait_for_text("#undo", "UNDO NEXT (token A-1)").await;
    desk.click("#undo").await;
    desk.wait_for_text("#serving-number", "—").await;
    desk.wait_for_text("#waiting-list", "A-1").await;

    // The browser remembers its room.
    desk.goto(&app.url("/staff?poll=1")).await;
    desk.wait_until("back in Room 1", &format!("location.search.indexOf('room={}') >= 0", c.room_1)).await;
    desk.wait_for_text("#room-title", "Room 1").await;
    let _ = (c.business, c.dr_b, c.room_2);
    desk.close().await;
}

/// Room names take 40 characters at most: the shorter half of pages.rs's hostile name.
const HOSTILE: &str = r#""><img src=x onerror=alert(1)>"#;

#[tokio::test]
async fn hostile_line_and_room_names_are_shown_as_text_and_run_nothing() {
    let app = spawn_app().await;
    let c = two_doctors(&app, "evil").await;
    let line = format!("Dr. {HOSTILE}");
    let room = format!("Room {HOSTILE}");
    app.db.query_one("SELECT qlink.update_queue($1, $2, name => $3)", &[&c.business, &c.dr_b, &line]).await.unwrap();
    app.db.query_one("SELECT qlink.update_room($1, $2, name => $3)", &[&c.business, &c.room_2, &room]).await.unwrap();
    let token: Uuid = app
        .db
        .query_one(
            "SELECT token_id FROM qlink.create_token($1, 'Asha', '9876543210', queue_id => $2)",
            &[&c.business, &c.dr_b],
        )
        .await
        .unwrap()
        .get(0);
    app.db
        .query_one("SELECT * FROM qlink.queue_action($1, 'NEXT', room_id => $2)", &[&c.business, &c.room_2])
        .await
        .unwrap();
    for path in [
        "/c/evil".to_string(),
        format!("/t/{token}"),
        "/c/evil/display".to_string(),
        format!("/c/evil/poster?queue={}", c.dr_b),
    ] {
        let body = plain().get(app.url(&path)).send().await.unwrap().text().await.unwrap();
        assert!(!body.contains("<img src=x"), "{path}: {body}");
        assert!(body.contains("&lt;img src=x"), "{path} does not show the name: {body}");
    }

    // Written by the scripts with textContent: shown, never run.
    let lobby = Browser::start("lobby", DESK).await;
    lobby.goto(&app.url("/c/evil/display?poll=1")).await;
    lobby.wait_for_text("#rooms", &room).await;
    let desk = Browser::start("desk", DESK).await;
    log_in(&desk, &app, "/staff", "room2@evil.test", "#dashboard").await;
    desk.wait_for_text("#overview-rows", &room).await;
    desk.wait_for_text("#serving-transfer-box", "Send to").await;
    let owner = Browser::start("owner", DESK).await;
    log_in(&owner, &app, "/owner", "owner@evil.test", "#owner").await;
    owner.wait_for_text("#staff", "room2@evil.test").await;
    let patient = Browser::start("patient", PHONE).await;
    patient.goto(&app.url(&format!("/t/{token}?poll=1"))).await;
    patient.wait_for_text("#room-line", &room).await;
    patient.wait_for_text("#line-name", &line).await;
    for b in [&lobby, &desk, &owner, &patient] {
        assert!(b.open_dialog().await.is_none(), "[{}] a script ran", b.name);
        let images = b.js("return document.querySelectorAll('img[src=x]').length;", vec![]).await;
        assert_eq!(images, json!(0), "[{}] markup was injected", b.name);
    }
    for b in [lobby, desk, owner, patient] {
        b.close().await;
    }
}
