//! Rooms through the REST API (SPEC §9): a two-doctor clinic set up by its owner over
//! `/api/v1/owner/…` (the owner login made with the real `qlink user create --role OWNER`),
//! patients joining either line, two rooms calling them, TRANSFER and room UNDO, the
//! refusals that name what is missing, and the walls around an owner: its own clinic only,
//! never the operator's routes; STAFF never on the owner's routes.

use qlink_tests::app::{assert_error, assert_refusal, plain, spawn_app, TestApp, PASSWORD};
use qlink_tests::qlink_bin;
use reqwest::Client;
use serde_json::{json, Value};
use uuid::Uuid;

async fn ok(r: reqwest::Response, status: u16) -> Value {
    let got = r.status().as_u16();
    let body = r.text().await.unwrap();
    assert_eq!(got, status, "body: {body}");
    serde_json::from_str(&body).unwrap_or(Value::Null)
}

fn id(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_else(|| panic!("no {key} in {v}")).to_string()
}

/// The clinic's owner, made the way an operator makes one: with the command line.
fn owner_by_cli(app: &TestApp, email: &str, slug: &str) {
    let out = std::process::Command::new(qlink_bin())
        .args(["user", "create", "--email", email, "--role", "OWNER", "--clinic", slug])
        .env("DATABASE_URL", &app.db_url)
        .env("QLINK_PASSWORD", PASSWORD)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

async fn owner_by_sql(app: &TestApp, email: &str, clinic: Uuid) -> Uuid {
    let hash = qlink_server::accounts::hash_password(PASSWORD).unwrap();
    app.db
        .query_one("SELECT qlink.create_staff_user($1, $2, 'OWNER', $3)", &[&email, &hash, &clinic])
        .await
        .unwrap()
        .get(0)
}

async fn join(app: &TestApp, slug: &str, queue: Option<&str>, name: &str, phone: &str) -> reqwest::Response {
    let mut body = json!({"patient_name": name, "patient_phone": phone});
    if let Some(q) = queue {
        body["queue_id"] = json!(q);
    }
    plain().post(app.url(&format!("/api/v1/clinics/{slug}/tokens"))).json(&body).send().await.unwrap()
}

async fn act(app: &TestApp, who: &Client, body: Value) -> reqwest::Response {
    who.post(app.url("/api/v1/staff/queue/actions")).json(&body).send().await.unwrap()
}

async fn status(app: &TestApp, token: &str) -> Value {
    ok(plain().get(app.url(&format!("/api/v1/tokens/{token}"))).send().await.unwrap(), 200).await
}

/// Dr. A (queue A, Room 1) and Dr. B (queue B, Room 2), set up by the owner.
struct TwoDoctors {
    queue_a: String,
    queue_b: String,
    room_1: String,
    room_2: String,
    owner: Client,
}

async fn two_doctors(app: &TestApp, slug: &str) -> TwoDoctors {
    let clinic = app.clinic(slug).await;
    // Every patient of these tests joins from the same address.
    app.db
        .query_one("SELECT qlink.update_business($1, settings => '{\"ip_tokens_per_10min\": 1000}')", &[&clinic])
        .await
        .unwrap();
    let email = format!("owner@{slug}.test");
    owner_by_cli(app, &email, slug);
    let owner = app.login(&email).await;

    // Every clinic starts with one queue and one room.
    let queues = ok(owner.get(app.url("/api/v1/owner/queues")).send().await.unwrap(), 200).await;
    let queues = queues["queues"].as_array().unwrap().clone();
    assert_eq!(queues.len(), 1, "{queues:?}");
    assert_eq!(queues[0]["prefix"], "");
    let queue_a = id(&queues[0], "queue_id");
    let rooms = ok(owner.get(app.url("/api/v1/owner/rooms")).send().await.unwrap(), 200).await;
    let rooms = rooms["rooms"].as_array().unwrap().clone();
    assert_eq!(rooms.len(), 1, "{rooms:?}");
    let room_1 = id(&rooms[0], "room_id");
    assert_eq!(rooms[0]["queue_ids"], json!([queue_a]));

    // Dr. A's line gets its letter, Dr. B a line of their own and a room calling from it.
    let a = ok(
        owner
            .patch(app.url(&format!("/api/v1/owner/queues/{queue_a}")))
            .json(&json!({"name": "Dr. A — General", "prefix": "A"}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!((a["name"].as_str(), a["prefix"].as_str()), (Some("Dr. A — General"), Some("A")));
    let b = ok(
        owner
            .post(app.url("/api/v1/owner/queues"))
            .json(&json!({"name": "Dr. B", "prefix": "B"}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let queue_b = id(&b, "queue_id");
    // A second queue with the same letter is refused, nothing made.
    assert_refusal(
        owner
            .post(app.url("/api/v1/owner/queues"))
            .json(&json!({"name": "Dr. B2", "prefix": "B"}))
            .send()
            .await
            .unwrap(),
        409,
        "conflict",
        "prefix_taken",
    )
    .await;
    assert_refusal(
        owner
            .post(app.url("/api/v1/owner/queues"))
            .json(&json!({"name": "Dr. C", "prefix": "c1"}))
            .send()
            .await
            .unwrap(),
        400,
        "invalid_input",
        "invalid_prefix",
    )
    .await;
    let r2 = ok(
        owner
            .post(app.url("/api/v1/owner/rooms"))
            .json(&json!({"name": "Room 2", "queue_ids": [queue_b]}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let room_2 = id(&r2, "room_id");
    assert_eq!(r2["queue_names"], json!(["Dr. B"]));
    assert_refusal(
        owner
            .post(app.url("/api/v1/owner/rooms"))
            .json(&json!({"name": "Room 3", "queue_ids": []}))
            .send()
            .await
            .unwrap(),
        400,
        "invalid_input",
        "room_without_queues",
    )
    .await;
    TwoDoctors { queue_a, queue_b, room_1, room_2, owner }
}

#[tokio::test]
async fn a_two_doctor_clinic_set_up_by_its_owner_and_called_in_two_rooms() {
    let app = spawn_app().await;
    let TwoDoctors { queue_a, queue_b, room_1, room_2, owner } = two_doctors(&app, "duo").await;

    // A receptionist pinned to Room 2, made by the owner.
    let pinned = ok(
        owner
            .post(app.url("/api/v1/owner/staff"))
            .json(&json!({"email": "room2@duo.test", "password": PASSWORD, "role": "STAFF", "room_id": room_2}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    assert_eq!((pinned["role"].as_str(), pinned["room_name"].as_str()), (Some("STAFF"), Some("Room 2")));
    let staff = app.staff("duo").await;
    let room2_desk = app.login("room2@duo.test").await;

    // The public clinic lists both lines with their wait; joining needs a line now.
    let clinic = ok(plain().get(app.url("/api/v1/clinics/duo")).send().await.unwrap(), 200).await;
    assert_eq!(clinic["queue_count"], 2);
    let names: Vec<&str> = clinic["queues"].as_array().unwrap().iter().map(|q| q["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Dr. A — General", "Dr. B"]);
    assert!(clinic["queues"][0]["eta_max_minutes"].as_i64().is_some());
    assert_refusal(join(&app, "duo", None, "Nobody", "9876500000").await, 400, "invalid_input", "queue_required").await;

    let a1 = ok(join(&app, "duo", Some(&queue_a), "Asha", "9876500001").await, 201).await;
    let b1 = ok(join(&app, "duo", Some(&queue_b), "Bela", "9876500002").await, 201).await;
    let a2 = ok(join(&app, "duo", Some(&queue_a), "Chitra", "9876500003").await, 201).await;
    assert_eq!((a1["token_label"].as_str(), a1["queue_name"].as_str()), (Some("A-1"), Some("Dr. A — General")));
    assert_eq!((b1["token_label"].as_str(), b1["queue_id"].as_str()), (Some("B-1"), Some(queue_b.as_str())));
    assert_eq!(a2["token_label"], "A-2");
    let (a1, b1, a2) = (id(&a1, "token_id"), id(&b1, "token_id"), id(&a2, "token_id"));

    // The desk names its room; without one, with two rooms, it is told which to name.
    assert_refusal(act(&app, &staff, json!({"action": "NEXT"})).await, 400, "invalid_input", "room_required").await;
    let called = ok(act(&app, &staff, json!({"action": "NEXT", "room_id": room_1})).await, 200).await;
    assert_eq!((called["serving_label"].as_str(), called["room_name"].as_str()), (Some("A-1"), Some("Room 1")));
    assert_eq!(called["serving_token_id"], a1.as_str());
    // The pinned login acts in its room without naming it, and only there.
    let called = ok(act(&app, &room2_desk, json!({"action": "NEXT"})).await, 200).await;
    assert_eq!((called["serving_label"].as_str(), called["room_name"].as_str()), (Some("B-1"), Some("Room 2")));
    assert_refusal(
        act(&app, &room2_desk, json!({"action": "NEXT", "room_id": room_1})).await,
        403,
        "forbidden",
        "staff_pinned_elsewhere",
    )
    .await;
    let s = status(&app, &a1).await;
    assert_eq!(
        (s["token_label"].as_str(), s["queue_name"].as_str(), s["room_name"].as_str(), s["status"].as_str()),
        (Some("A-1"), Some("Dr. A — General"), Some("Room 1"), Some("SERVING"))
    );

    // Room 1 sends Chitra (waiting for Dr. A) to Dr. B: she keeps her label.
    assert_refusal(
        act(&app, &staff, json!({"action": "TRANSFER", "token_id": a2, "room_id": room_1})).await,
        400,
        "invalid_input",
        "transfer_needs_queue",
    )
    .await;
    assert_refusal(
        act(&app, &staff, json!({"action": "TRANSFER", "token_id": a2, "room_id": room_1, "target_queue_id": queue_a}))
            .await,
        409,
        "conflict",
        "transfer_same_queue",
    )
    .await;
    let moved = ok(
        act(&app, &staff, json!({"action": "TRANSFER", "token_id": a2, "room_id": room_1, "target_queue_id": queue_b}))
            .await,
        200,
    )
    .await;
    assert_eq!((moved["token_label"].as_str(), moved["queue_id"].as_str()), (Some("A-2"), Some(queue_b.as_str())));
    let s = status(&app, &a2).await;
    assert_eq!((s["token_label"].as_str(), s["queue_name"].as_str()), (Some("A-2"), Some("Dr. B")));

    // Room 2's view: its line only, Chitra in it now.
    let view =
        ok(staff.get(app.url(&format!("/api/v1/staff/queue?room_id={room_2}"))).send().await.unwrap(), 200).await;
    assert_eq!(view["summary"]["room_name"], "Room 2");
    assert_eq!(view["summary"]["serving_label"], "B-1");
    let labels: Vec<&str> =
        view["tokens"].as_array().unwrap().iter().map(|t| t["token_label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["B-1", "A-2"]);
    // The pinned desk sees its room by default.
    let view = ok(room2_desk.get(app.url("/api/v1/staff/queue")).send().await.unwrap(), 200).await;
    assert_eq!(view["summary"]["room_id"], room_2.as_str());

    // UNDO in Room 1 reverts Room 1's own latest action (the TRANSFER), then its NEXT;
    // Room 2 keeps serving B-1.
    let undone = ok(act(&app, &staff, json!({"action": "UNDO", "room_id": room_1})).await, 200).await;
    assert_eq!(undone["room_id"], room_1.as_str());
    assert_eq!(status(&app, &a2).await["queue_name"], "Dr. A — General");
    ok(act(&app, &staff, json!({"action": "UNDO", "room_id": room_1})).await, 200).await;
    assert_eq!(status(&app, &a1).await["status"], "WAITING");
    assert_eq!(status(&app, &b1).await["status"], "SERVING");

    // The clinic overview: every room with whom it serves and how many wait.
    let rooms = ok(staff.get(app.url("/api/v1/staff/rooms")).send().await.unwrap(), 200).await;
    let overview: Vec<(String, Value, i64)> = rooms["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (r["name"].as_str().unwrap().to_string(), r["serving_label"].clone(), r["waiting_count"].as_i64().unwrap())
        })
        .collect();
    assert_eq!(overview, [("Room 1".to_string(), Value::Null, 2), ("Room 2".to_string(), json!("B-1"), 0)]);
    let queues = ok(staff.get(app.url("/api/v1/staff/queues")).send().await.unwrap(), 200).await;
    assert_eq!(queues["queues"].as_array().unwrap().len(), 2);

    // A walk-in needs a line too.
    assert_refusal(
        staff.post(app.url("/api/v1/staff/tokens")).json(&json!({"patient_name": "Walk-in"})).send().await.unwrap(),
        400,
        "invalid_input",
        "queue_required",
    )
    .await;
    let walk_in = ok(
        staff
            .post(app.url("/api/v1/staff/tokens"))
            .json(&json!({"patient_name": "Walk-in", "queue_id": queue_b}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    assert_eq!(walk_in["token_label"], "B-2");

    // Closing one line leaves the other open.
    let closed =
        ok(staff.post(app.url(&format!("/api/v1/staff/session/close?queue_id={queue_b}"))).send().await.unwrap(), 200)
            .await;
    assert_eq!(closed["sessions"].as_array().unwrap().len(), 1);
    assert_eq!((closed["queue_id"].as_str(), closed["status"].as_str()), (Some(queue_b.as_str()), Some("CLOSED")));
    ok(join(&app, "duo", Some(&queue_a), "Later", "9876500009").await, 201).await;
    assert_refusal(join(&app, "duo", Some(&queue_b), "Late", "9876500008").await, 403, "forbidden", "session_closed")
        .await;

    // The owner works the desk too.
    ok(owner.get(app.url(&format!("/api/v1/staff/queue?room_id={room_1}"))).send().await.unwrap(), 200).await;
}

#[tokio::test]
async fn an_owner_runs_its_own_clinic_only_and_staff_none() {
    let app = spawn_app().await;
    let duo = two_doctors(&app, "alpha").await;
    let other = app.clinic("bravo").await;
    owner_by_sql(&app, "owner@bravo.test", other).await;
    let bravo_owner = app.login("owner@bravo.test").await;
    let bravo_queue: String =
        app.db.query_one("SELECT id::text FROM qlink.queues WHERE business_id = $1", &[&other]).await.unwrap().get(0);
    let bravo_room: String =
        app.db.query_one("SELECT id::text FROM qlink.rooms WHERE business_id = $1", &[&other]).await.unwrap().get(0);
    let bravo_staff: String = app
        .db
        .query_one("SELECT id::text FROM qlink.staff_users WHERE email = 'staff@bravo.test'", &[])
        .await
        .unwrap()
        .get(0);
    let owner = &duo.owner;
    let fingerprint = || async {
        let row = app
            .db
            .query_one(
                "SELECT (SELECT md5(string_agg(q::text, '|' ORDER BY q.id)) FROM qlink.queues q WHERE business_id = $1) \
                     || (SELECT md5(string_agg(r::text, '|' ORDER BY r.id)) FROM qlink.rooms r WHERE business_id = $1) \
                     || (SELECT md5(string_agg(u::text, '|' ORDER BY u.id)) FROM qlink.staff_users u WHERE business_id = $1) \
                     || (SELECT count(*) FROM qlink.tokens WHERE business_id = $1)::text",
                &[&other],
            )
            .await
            .unwrap();
        row.get::<_, String>(0)
    };
    let before = fingerprint().await;

    // Another clinic's queue, room or login is simply not found, whichever route names it.
    for (r, reason) in [
        (
            owner.patch(app.url(&format!("/api/v1/owner/queues/{bravo_queue}"))).json(&json!({"is_active": false})),
            "queue_not_found",
        ),
        (
            owner.patch(app.url(&format!("/api/v1/owner/rooms/{bravo_room}"))).json(&json!({"name": "Mine"})),
            "room_not_found",
        ),
        (
            owner.post(app.url("/api/v1/owner/rooms")).json(&json!({"name": "Stolen", "queue_ids": [bravo_queue]})),
            "queue_not_found",
        ),
        (
            owner
                .patch(app.url(&format!("/api/v1/owner/rooms/{}", duo.room_1)))
                .json(&json!({"queue_ids": [bravo_queue]})),
            "queue_not_found",
        ),
        (
            owner.patch(app.url(&format!("/api/v1/owner/staff/{bravo_staff}"))).json(&json!({"is_active": false})),
            "user_not_found",
        ),
        (
            owner
                .post(app.url(&format!("/api/v1/owner/staff/{bravo_staff}/password")))
                .json(&json!({"password": "a new long password"})),
            "user_not_found",
        ),
        (owner.post(app.url(&format!("/api/v1/owner/staff/{bravo_staff}/end-sessions"))), "user_not_found"),
        (
            owner.post(app.url("/api/v1/owner/staff")).json(
                &json!({"email": "spy@alpha.test", "password": PASSWORD, "role": "STAFF", "room_id": bravo_room}),
            ),
            "room_not_found",
        ),
        (
            owner.post(app.url("/api/v1/staff/queue/actions")).json(&json!({"action": "NEXT", "room_id": bravo_room})),
            "room_not_found",
        ),
        (
            owner
                .post(app.url("/api/v1/staff/tokens"))
                .json(&json!({"patient_name": "Walk-in", "queue_id": bravo_queue})),
            "queue_not_found",
        ),
        (owner.get(app.url(&format!("/api/v1/staff/queue?room_id={bravo_room}"))), "room_not_found"),
    ] {
        assert_refusal(r.send().await.unwrap(), 404, "not_found", reason).await;
    }
    let a1 = id(&ok(join(&app, "alpha", Some(&duo.queue_a), "Asha", "9876511111").await, 201).await, "token_id");
    assert_refusal(
        act(
            &app,
            owner,
            json!({"action": "TRANSFER", "token_id": a1, "room_id": duo.room_1, "target_queue_id": bravo_queue}),
        )
        .await,
        404,
        "not_found",
        "queue_not_found",
    )
    .await;
    assert_refusal(
        join(&app, "alpha", Some(&bravo_queue), "Cross", "9876511112").await,
        404,
        "not_found",
        "queue_not_found",
    )
    .await;
    assert_eq!(fingerprint().await, before, "clinic bravo changed");

    // The owner's lists are its own clinic's.
    let staff_list = ok(owner.get(app.url("/api/v1/owner/staff")).send().await.unwrap(), 200).await;
    let emails: Vec<&str> =
        staff_list["staff"].as_array().unwrap().iter().map(|s| s["email"].as_str().unwrap()).collect();
    assert!(emails.contains(&"owner@alpha.test") && emails.contains(&"staff@alpha.test"), "{emails:?}");
    assert!(!emails.iter().any(|e| e.contains("bravo")), "{emails:?}");
    let queues = ok(bravo_owner.get(app.url("/api/v1/owner/queues")).send().await.unwrap(), 200).await;
    assert_eq!(queues["queues"].as_array().unwrap().len(), 1);

    // Never the operator's routes.
    for r in [
        owner.get(app.url("/api/v1/admin/clinics")),
        owner.get(app.url(&format!("/api/v1/admin/clinics/{other}/queues"))),
        owner
            .post(app.url(&format!("/api/v1/admin/clinics/{other}/queues")))
            .json(&json!({"name": "X", "prefix": "X"})),
        owner.patch(app.url(&format!("/api/v1/admin/clinics/{other}"))).json(&json!({"status": "SUSPENDED"})),
        owner.get(app.url("/api/v1/admin/metrics")),
    ] {
        assert_error(r.send().await.unwrap(), 403, "forbidden").await;
    }
    assert_eq!(fingerprint().await, before, "clinic bravo changed");

    // STAFF on the owner's routes: 403, nothing changed.
    let staff = app.staff("alpha").await;
    for r in [
        staff.get(app.url("/api/v1/owner/queues")),
        staff.post(app.url("/api/v1/owner/queues")).json(&json!({"name": "Mine", "prefix": "M"})),
        staff.get(app.url("/api/v1/owner/rooms")),
        staff.post(app.url("/api/v1/owner/rooms")).json(&json!({"name": "Mine", "queue_ids": [duo.queue_a]})),
        staff.get(app.url("/api/v1/owner/staff")),
        staff
            .post(app.url("/api/v1/owner/staff"))
            .json(&json!({"email": "me2@alpha.test", "password": PASSWORD, "role": "OWNER"})),
        staff.patch(app.url("/api/v1/owner/settings")).json(&json!({"settings": {"eta_min_minutes": 2}})),
        staff.get(app.url("/api/v1/owner/settings")),
    ] {
        assert_error(r.send().await.unwrap(), 403, "forbidden").await;
    }
    let queues: i64 = app
        .db
        .query_one("SELECT count(*) FROM qlink.queues q JOIN qlink.businesses b ON b.id = q.business_id WHERE b.slug = 'alpha'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(queues, 2);

    // Settings: the owner's own ones, not the operator's.
    let s = ok(owner.get(app.url("/api/v1/owner/settings")).send().await.unwrap(), 200).await;
    assert!(s["owner_editable"].as_array().unwrap().contains(&json!("eta_min_minutes")));
    assert!(!s["owner_editable"].as_array().unwrap().contains(&json!("daily_token_limit")));
    let s = ok(
        owner
            .patch(app.url("/api/v1/owner/settings"))
            .json(&json!({"settings": {"eta_min_minutes": 2}}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(s["settings"]["eta_min_minutes"], 2);
    assert_refusal(
        owner
            .patch(app.url("/api/v1/owner/settings"))
            .json(&json!({"settings": {"daily_token_limit": 5000}}))
            .send()
            .await
            .unwrap(),
        403,
        "forbidden",
        "owner_setting_forbidden",
    )
    .await;

    // Staff logins: reset a password (logged out everywhere), end sessions, disable.
    let desk: String = app
        .db
        .query_one("SELECT id::text FROM qlink.staff_users WHERE email = 'staff@alpha.test'", &[])
        .await
        .unwrap()
        .get(0);
    let ended = ok(
        owner
            .post(app.url(&format!("/api/v1/owner/staff/{desk}/password")))
            .json(&json!({"password": "a brand new password"}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert!(ended["sessions_ended"].as_i64().unwrap() >= 1, "{ended}");
    assert_error(staff.get(app.url("/api/v1/staff/queue")).send().await.unwrap(), 401, "unauthorized").await;
    let relogin = |password: &'static str| {
        let url = app.url("/api/v1/auth/login");
        async move {
            plain()
                .post(url)
                .json(&json!({"email": "staff@alpha.test", "password": password}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(relogin("a brand new password").await, 200);
    let ended =
        ok(owner.post(app.url(&format!("/api/v1/owner/staff/{desk}/end-sessions"))).send().await.unwrap(), 200).await;
    assert_eq!(ended["sessions_ended"], 1);
    let changed = ok(
        owner
            .patch(app.url(&format!("/api/v1/owner/staff/{desk}")))
            .json(&json!({"is_active": false, "room_id": duo.room_2}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(
        (changed["login"]["is_active"].as_bool(), changed["login"]["room_name"].as_str()),
        (Some(false), Some("Room 2"))
    );
    assert_eq!(relogin("a brand new password").await, 401);
    let changed = ok(
        owner
            .patch(app.url(&format!("/api/v1/owner/staff/{desk}")))
            .json(&json!({"is_active": true, "unpin": true}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(changed["login"]["room_id"], Value::Null);
    assert_eq!(relogin("a brand new password").await, 200);

    // A second owner, made by the owner.
    ok(
        owner
            .post(app.url("/api/v1/owner/staff"))
            .json(&json!({"email": "partner@alpha.test", "password": PASSWORD, "role": "OWNER"}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    ok(app.login("partner@alpha.test").await.get(app.url("/api/v1/owner/rooms")).send().await.unwrap(), 200).await;

    // The operator does the same for any clinic, under /api/v1/admin/clinics/{id}/….
    app.admin_user().await;
    let admin = app.login("root@qlink.test").await;
    let q = ok(
        admin
            .post(app.url(&format!("/api/v1/admin/clinics/{other}/queues")))
            .json(&json!({"name": "Lab", "prefix": "L"}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let lab = id(&q, "queue_id");
    let room = ok(
        admin
            .post(app.url(&format!("/api/v1/admin/clinics/{other}/rooms")))
            .json(&json!({"name": "Lab room", "queue_ids": [lab]}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    ok(
        admin
            .patch(app.url(&format!("/api/v1/admin/clinics/{other}/rooms/{}", id(&room, "room_id"))))
            .json(&json!({"queue_ids": [lab, bravo_queue]}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let staff_b =
        ok(admin.get(app.url(&format!("/api/v1/admin/clinics/{other}/staff"))).send().await.unwrap(), 200).await;
    assert_eq!(staff_b["staff"].as_array().unwrap().len(), 2);
    // …but a clinic's ids under another clinic are not found there either.
    assert_refusal(
        admin
            .patch(app.url(&format!("/api/v1/admin/clinics/{other}/queues/{}", duo.queue_a)))
            .json(&json!({"name": "Moved"}))
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
        "queue_not_found",
    )
    .await;

    // Every owner and operator change is in the audit trail, with who made it.
    let audit: Vec<(String, String)> = app
        .db
        .query("SELECT actor_email, action FROM qlink.admin_audit_logs ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    for (who, what) in [
        ("owner@alpha.test", "UPDATE_QUEUE"),
        ("owner@alpha.test", "CREATE_QUEUE"),
        ("owner@alpha.test", "CREATE_ROOM"),
        ("owner@alpha.test", "UPDATE_CLINIC_SETTINGS"),
        ("owner@alpha.test", "RESET_STAFF_PASSWORD"),
        ("owner@alpha.test", "END_STAFF_SESSIONS"),
        ("owner@alpha.test", "UPDATE_STAFF"),
        ("owner@alpha.test", "CREATE_STAFF"),
        ("root@qlink.test", "CREATE_QUEUE"),
        ("root@qlink.test", "CREATE_ROOM"),
        ("root@qlink.test", "UPDATE_ROOM"),
    ] {
        assert!(audit.iter().any(|(a, b)| a == who && b == what), "{who} {what} not audited: {audit:?}");
    }
}

#[tokio::test]
async fn a_one_room_clinic_works_as_before() {
    // No queue_id, no room_id anywhere: the 0.1 calls, unchanged.
    let app = spawn_app().await;
    app.clinic("solo").await;
    let staff = app.staff("solo").await;
    let t = app.take_token("solo", "Asha", "9876522222").await;
    assert_eq!((t["token_number"].as_i64(), t["token_label"].as_str()), (Some(1), Some("1")));
    let called = ok(act(&app, &staff, json!({"action": "NEXT"})).await, 200).await;
    assert_eq!((called["now_serving_number"].as_i64(), called["room_name"].as_str()), (Some(1), Some("Room 1")));
    let s = status(&app, t["token_id"].as_str().unwrap()).await;
    assert_eq!((s["token_label"].as_str(), s["room_name"].as_str()), (Some("1"), Some("Room 1")));
    ok(act(&app, &staff, json!({"action": "UNDO"})).await, 200).await;
    let closed = ok(staff.post(app.url("/api/v1/staff/session/close")).send().await.unwrap(), 200).await;
    assert_eq!(closed["status"], "CLOSED");
    assert!(closed["session_id"].as_str().is_some());
    let clinic = ok(plain().get(app.url("/api/v1/clinics/solo")).send().await.unwrap(), 200).await;
    assert_eq!(clinic["queue_count"], 1);
    assert_eq!(clinic["queues"].as_array().unwrap().len(), 1);
}
