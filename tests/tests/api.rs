//! The REST API end to end: the real router on a loopback port, a fresh database with the
//! real extension, real HTTP clients. Every endpoint's success path and its error codes.

use qlink_tests::app::{assert_error, assert_refusal, browser, plain, spawn_app, TestApp, PASSWORD};
use qlink_tests::{connect, url_as};
use reqwest::header::{CACHE_CONTROL, ETAG, IF_NONE_MATCH, SET_COOKIE};
use serde_json::{json, Value};

#[tokio::test]
async fn a_patients_whole_journey() {
    let app = spawn_app().await;
    app.clinic("sharma").await;
    let staff = app.staff("sharma").await;

    let clinic: Value = plain().get(app.url("/api/v1/clinics/sharma")).send().await.unwrap().json().await.unwrap();
    assert_eq!(clinic["name"], "Clinic sharma");
    assert_eq!(clinic["accepting_tokens"], true);

    let r = plain()
        .post(app.url("/api/v1/clinics/sharma/tokens"))
        .json(&json!({"patient_name": "Asha Rao", "patient_phone": "98765 43210"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let token: Value = r.json().await.unwrap();
    let id = token["token_id"].as_str().unwrap().to_string();
    assert_eq!(token["token_number"], 1);
    assert_eq!(token["queue_position"], 1);
    assert_eq!(token["track_url"], format!("{}/t/{id}", app.base));
    assert_eq!(location, format!("{}/t/{id}", app.base));
    let other = app.take_token("sharma", "Ravi", "9876543211").await;

    // Polling: ETag, 304 while nothing changes, Cache-Control: no-cache.
    let r =
        plain().get(app.url(&format!("/api/v1/tokens/{}", other["token_id"].as_str().unwrap()))).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()[CACHE_CONTROL], "no-cache");
    let etag = r.headers()[ETAG].to_str().unwrap().to_string();
    let status: Value = r.json().await.unwrap();
    assert_eq!((status["queue_position"].as_i64(), status["people_ahead"].as_i64()), (Some(2), Some(1)));
    assert!(status["poll_after_seconds"].as_i64().unwrap() >= 5);
    let poll = |etag: String| {
        let url = app.url(&format!("/api/v1/tokens/{}", other["token_id"].as_str().unwrap()));
        async move { plain().get(url).header(IF_NONE_MATCH, etag).send().await.unwrap() }
    };
    let r = poll(etag.clone()).await;
    assert_eq!(r.status(), 304);
    assert_eq!(r.headers()[ETAG].to_str().unwrap(), etag);
    // Someone joining behind does not change what this patient sees.
    app.take_token("sharma", "Behind", "9876543212").await;
    assert_eq!(poll(etag.clone()).await.status(), 304);

    // The receptionist calls the first patient: the second's view changes.
    let r = staff.post(app.url("/api/v1/staff/queue/actions")).json(&json!({"action": "NEXT"})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let action: Value = r.json().await.unwrap();
    assert_eq!(action["now_serving_number"], 1);
    assert_eq!(action["serving_token_id"], id.as_str());
    let r = poll(etag.clone()).await;
    assert_eq!(r.status(), 200);
    let new_etag = r.headers()[ETAG].to_str().unwrap().to_string();
    assert_ne!(new_etag, etag);
    let status: Value = r.json().await.unwrap();
    assert_eq!((status["queue_position"].as_i64(), status["now_serving_number"].as_i64()), (Some(1), Some(1)));

    // The called patient can't cancel any more; feedback only after being seen.
    let mine: Value = plain().get(app.url(&format!("/api/v1/tokens/{id}"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(mine["status"], "SERVING");
    assert_error(plain().post(app.url(&format!("/api/v1/tokens/{id}/cancel"))).send().await.unwrap(), 409, "conflict")
        .await;
    assert_error(
        plain()
            .post(app.url(&format!("/api/v1/tokens/{id}/feedback")))
            .json(&json!({"rating": 5}))
            .send()
            .await
            .unwrap(),
        409,
        "conflict",
    )
    .await;
    staff.post(app.url("/api/v1/staff/queue/actions")).json(&json!({"action": "SERVED"})).send().await.unwrap();
    assert_error(
        plain()
            .post(app.url(&format!("/api/v1/tokens/{id}/feedback")))
            .json(&json!({"rating": 9}))
            .send()
            .await
            .unwrap(),
        400,
        "invalid_input",
    )
    .await;
    let r = plain()
        .post(app.url(&format!("/api/v1/tokens/{id}/feedback")))
        .json(&json!({"rating": 5, "feedback": "Quick and kind"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_error(
        plain()
            .post(app.url(&format!("/api/v1/tokens/{id}/feedback")))
            .json(&json!({"rating": 4}))
            .send()
            .await
            .unwrap(),
        409,
        "conflict",
    )
    .await;

    // The other patient cancels from their page.
    let r = plain()
        .post(app.url(&format!("/api/v1/tokens/{}/cancel", other["token_id"].as_str().unwrap())))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cancelled: Value = r.json().await.unwrap();
    assert_eq!(cancelled["status"], "CANCELLED");
}

#[tokio::test]
async fn public_errors_are_clear_and_change_nothing() {
    let app = spawn_app().await;
    let clinic = app.clinic("errs").await;
    let create = |body: Value| {
        let url = app.url("/api/v1/clinics/errs/tokens");
        async move { plain().post(url).json(&body).send().await.unwrap() }
    };
    assert_error(plain().get(app.url("/api/v1/clinics/nope")).send().await.unwrap(), 404, "not_found").await;
    assert_error(
        plain()
            .post(app.url("/api/v1/clinics/nope/tokens"))
            .json(&json!({"patient_name": "A", "patient_phone": "9876543210"}))
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;
    let m =
        assert_error(create(json!({"patient_name": "A", "patient_phone": "123"})).await, 400, "invalid_input").await;
    assert!(m.contains("mobile number"), "{m}");
    assert_error(create(json!({"patient_name": " ", "patient_phone": "9876543210"})).await, 400, "invalid_input").await;
    assert_error(create(json!({"patient_name": "A"})).await, 400, "invalid_input").await;
    assert_error(
        create(json!({"patient_name": "A", "patient_phone": "9876543210", "is_priority": true})).await,
        400,
        "invalid_input",
    )
    .await;
    assert_error(
        plain()
            .post(app.url("/api/v1/clinics/errs/tokens"))
            .body("{\"patient_name\":")
            .header("content-type", "application/json")
            .send()
            .await
            .unwrap(),
        400,
        "invalid_input",
    )
    .await;
    assert_error(
        plain().post(app.url("/api/v1/clinics/errs/tokens")).body("patient_name=A").send().await.unwrap(),
        415,
        "unsupported_media_type",
    )
    .await;
    let huge = "x".repeat(200 * 1024);
    assert_error(create(json!({"patient_name": huge, "patient_phone": "9876543210"})).await, 413, "payload_too_large")
        .await;
    assert_error(plain().get(app.url("/api/v1/tokens/not-a-uuid")).send().await.unwrap(), 404, "not_found").await;
    assert_error(
        plain().get(app.url(&format!("/api/v1/tokens/{}", uuid::Uuid::new_v4()))).send().await.unwrap(),
        404,
        "not_found",
    )
    .await;
    assert_error(plain().post(app.url("/api/v1/tokens/1/cancel")).send().await.unwrap(), 404, "not_found").await;
    assert_error(plain().get(app.url("/api/v1/nothing/here")).send().await.unwrap(), 404, "not_found").await;
    // People who mistype an address get a page, not JSON.
    let r = plain().get(app.url("/staff/typo")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let tokens: i64 = app.db.query_one("SELECT count(*) FROM qlink.tokens", &[]).await.unwrap().get(0);
    assert_eq!(tokens, 0);

    // The per-IP limit (3 per 10 minutes): a spoofed X-Forwarded-For from an untrusted
    // peer changes nothing.
    for n in 0..3 {
        let r = plain()
            .post(app.url("/api/v1/clinics/errs/tokens"))
            .header("x-forwarded-for", format!("198.51.100.{n}"))
            .json(&json!({"patient_name": "P", "patient_phone": format!("987654320{n}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    assert_error(
        plain()
            .post(app.url("/api/v1/clinics/errs/tokens"))
            .header("x-forwarded-for", "198.51.100.99")
            .json(&json!({"patient_name": "P", "patient_phone": "9876543209"}))
            .send()
            .await
            .unwrap(),
        429,
        "rate_limited",
    )
    .await;

    // Suspended clinic: 403, and nothing is created.
    app.db.query_one("SELECT qlink.update_business($1, status => 'SUSPENDED')", &[&clinic]).await.unwrap();
    assert_error(create(json!({"patient_name": "A", "patient_phone": "9876543219"})).await, 403, "forbidden").await;
    let clinic_view: Value = plain().get(app.url("/api/v1/clinics/errs")).send().await.unwrap().json().await.unwrap();
    assert_eq!(clinic_view["status"], "SUSPENDED");
    assert_eq!(clinic_view["accepting_tokens"], false);
    let tokens: i64 = app.db.query_one("SELECT count(*) FROM qlink.tokens", &[]).await.unwrap().get(0);
    assert_eq!(tokens, 3);
}

/// Each refusal of the extension names its reason (sql/API.md), so a client can tell the
/// three 429s apart without reading English; the server's own errors have none.
#[tokio::test]
async fn refusals_name_their_reason() {
    let app = spawn_app().await;
    let clinic = app.clinic("why").await;
    let create = |name: &str, phone: &str| {
        let url = app.url("/api/v1/clinics/why/tokens");
        let body = json!({"patient_name": name, "patient_phone": phone});
        async move { plain().post(url).json(&body).send().await.unwrap() }
    };
    assert_refusal(create("A", "123").await, 400, "invalid_input", "invalid_phone").await;
    assert_refusal(create(" ", "9876543210").await, 400, "invalid_input", "invalid_name").await;
    let r = plain().get(app.url("/api/v1/clinics/nope")).send().await.unwrap();
    assert_refusal(r, 404, "not_found", "clinic_not_found").await;
    assert_eq!(create("A", "9876543210").await.status(), 201);
    assert_refusal(create("A again", "9876543210").await, 429, "rate_limited", "phone_limit").await;
    // The refused attempt still counted in the address's window (3 in 10 minutes): asking
    // whether a number already has a token is not free.
    assert_eq!(create("B", "9876543211").await.status(), 201);
    assert_refusal(create("C", "9876543212").await, 429, "rate_limited", "ip_limit").await;
    app.db.query_one("SELECT qlink.update_business($1, status => 'SUSPENDED')", &[&clinic]).await.unwrap();
    assert_refusal(create("E", "9876543214").await, 403, "forbidden", "clinic_suspended").await;
    let staff = app.staff("why").await;
    let r = staff.post(app.url("/api/v1/staff/queue/actions")).json(&json!({"action": "NEXT"})).send().await.unwrap();
    assert_refusal(r, 403, "forbidden", "clinic_suspended").await;
    app.db.query_one("SELECT qlink.update_business($1, status => 'ACTIVE')", &[&clinic]).await.unwrap();
    let r = staff.post(app.url("/api/v1/staff/queue/actions")).json(&json!({"action": "SERVED"})).send().await.unwrap();
    assert_refusal(r, 409, "conflict", "nobody_serving").await;
    // The server's own refusals carry no reason.
    let r = plain().post(app.url("/api/v1/clinics/why/tokens")).body("x").send().await.unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "unsupported_media_type");
    assert!(v["error"].get("reason").is_none(), "{v}");
    // The OpenAPI document declares it.
    let doc: Value = plain().get(app.url("/api/v1/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert!(doc.pointer("/components/schemas/ErrorDetail/properties/reason").is_some(), "{doc}");
}

/// Whether a clinic takes QR tokens is the extension's answer (clinic_by_slug), the same
/// rule create_token applies: once the daily limit is reached the API, the intake page
/// and the lobby display all say so, before a patient fills in the form.
#[tokio::test]
async fn a_clinic_at_its_daily_limit_says_it_takes_no_tokens() {
    let app = spawn_app().await;
    let clinic = app.clinic("full").await;
    app.db
        .query_one("SELECT qlink.update_business($1, settings => '{\"daily_token_limit\": 1}')", &[&clinic])
        .await
        .unwrap();
    let view = || async {
        let v: Value = plain().get(app.url("/api/v1/clinics/full")).send().await.unwrap().json().await.unwrap();
        (v["accepting_tokens"].clone(), v["refusal_reason"].clone())
    };
    assert_eq!(view().await, (json!(true), Value::Null));
    app.take_token("full", "Only one", "9876543210").await;
    assert_eq!(view().await, (json!(false), json!("daily_token_limit")));
    let page = plain().get(app.url("/c/full")).send().await.unwrap();
    let html = page.text().await.unwrap();
    assert!(html.contains("Today's tokens are finished"), "{html}");
    assert!(!html.contains("id=\"intake\""), "{html}");
    let display: Value = plain().get(app.url("/c/full/display.json")).send().await.unwrap().json().await.unwrap();
    assert_eq!(display["accepting_tokens"], false, "{display}");
    // The desk is not limited, and a closed day says so too.
    let staff = app.staff("full").await;
    let r = staff.post(app.url("/api/v1/staff/session/close")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(view().await, (json!(false), json!("session_closed")));
}

#[tokio::test]
async fn trusted_proxies_forward_the_client_address() {
    let app = TestApp::builder().trusting_loopback_proxy().spawn().await;
    app.clinic("proxied").await;
    // Behind our proxy, each patient's own address counts: 4 patients, 4 tokens.
    for n in 0..4 {
        let r = plain()
            .post(app.url("/api/v1/clinics/proxied/tokens"))
            .header("x-forwarded-for", format!("203.0.113.{n}"))
            .json(&json!({"patient_name": "P", "patient_phone": format!("987654320{n}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
}

#[tokio::test]
async fn staff_login_logout_expiry_csrf_and_bearer() {
    let app = spawn_app().await;
    app.clinic("auth").await;
    let email = "staff@auth.test";

    // Wrong password / unknown user: the same 401.
    let bad = |email: &'static str, password: &'static str| {
        let url = app.url("/api/v1/auth/login");
        async move { plain().post(url).json(&json!({"email": email, "password": password})).send().await.unwrap() }
    };
    let m1 = assert_error(bad("staff@auth.test", "wrong password").await, 401, "unauthorized").await;
    let m2 = assert_error(bad("nobody@auth.test", "wrong password").await, 401, "unauthorized").await;
    assert_eq!(m1, m2);
    assert_error(plain().get(app.url("/api/v1/staff/queue")).send().await.unwrap(), 401, "unauthorized").await;

    // Login: an HttpOnly, SameSite=Lax cookie, not Secure on plain http; no secret in the body.
    let client = browser(&app);
    let r = client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": "Staff@Auth.test", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers()[SET_COOKIE].to_str().unwrap().to_string();
    assert!(cookie.starts_with("qlink_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && !cookie.contains("Secure"), "{cookie}");
    let secret = cookie.trim_start_matches("qlink_session=").split(';').next().unwrap().to_string();
    let body = r.text().await.unwrap();
    assert!(!body.contains(&secret), "the session secret leaked into the body");
    assert_eq!(client.get(app.url("/api/v1/staff/queue")).send().await.unwrap().status(), 200);
    let me: Value = client.get(app.url("/api/v1/auth/me")).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["email"], email);

    // CSRF: the cookie alone is not enough for a write from elsewhere.
    let cookie_only = reqwest::Client::new();
    let raw_cookie = format!("qlink_session={secret}");
    let r = cookie_only
        .post(app.url("/api/v1/staff/queue/actions"))
        .header("cookie", &raw_cookie)
        .json(&json!({"action": "NEXT"}))
        .send()
        .await
        .unwrap();
    assert_error(r, 403, "forbidden").await;
    let r = cookie_only
        .post(app.url("/api/v1/staff/queue/actions"))
        .header("cookie", &raw_cookie)
        .header("origin", "https://evil.example")
        .json(&json!({"action": "NEXT"}))
        .send()
        .await
        .unwrap();
    assert_error(r, 403, "forbidden").await;
    let audits: i64 = app.db.query_one("SELECT count(*) FROM qlink.audit_logs", &[]).await.unwrap().get(0);
    assert_eq!(audits, 0, "a refused cross-site request acted");
    let r = cookie_only
        .post(app.url("/api/v1/staff/queue/actions"))
        .header("cookie", &raw_cookie)
        .header("referer", format!("{}/staff", app.base))
        .json(&json!({"action": "NEXT"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The session is stored only as a digest.
    let stored: i64 = app
        .db
        .query_one(
            "SELECT count(*) FROM qlink.login_sessions WHERE encode(token_hash, 'escape') LIKE '%' || $1 || '%'",
            &[&secret],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, 0);

    // API clients: a bearer token, no Origin needed.
    let r = plain()
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": email, "password": PASSWORD, "issue_token": true}))
        .send()
        .await
        .unwrap();
    let token = r.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string();
    let r = plain()
        .post(app.url("/api/v1/staff/queue/actions"))
        .bearer_auth(&token)
        .json(&json!({"action": "NEXT"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_error(
        plain().get(app.url("/api/v1/staff/queue")).bearer_auth("forged-token").send().await.unwrap(),
        401,
        "unauthorized",
    )
    .await;

    // Logout ends the session.
    assert_eq!(client.post(app.url("/api/v1/auth/logout")).send().await.unwrap().status(), 204);
    assert_error(client.get(app.url("/api/v1/staff/queue")).send().await.unwrap(), 401, "unauthorized").await;
    assert_error(
        cookie_only.get(app.url("/api/v1/staff/queue")).header("cookie", &raw_cookie).send().await.unwrap(),
        401,
        "unauthorized",
    )
    .await;

    // An expired session is refused (and removed).
    let old = app.login(email).await;
    app.db.execute("UPDATE qlink.login_sessions SET expires_at = now() - interval '1 minute'", &[]).await.unwrap();
    assert_error(old.get(app.url("/api/v1/staff/queue")).send().await.unwrap(), 401, "unauthorized").await;
    assert_error(
        plain().get(app.url("/api/v1/staff/queue")).bearer_auth(&token).send().await.unwrap(),
        401,
        "unauthorized",
    )
    .await;
}

#[tokio::test]
async fn login_attempts_are_rate_limited() {
    let app = spawn_app().await;
    app.clinic("brute").await;
    let attempt = |password: &'static str| {
        let url = app.url("/api/v1/auth/login");
        async move {
            plain().post(url).json(&json!({"email": "staff@brute.test", "password": password})).send().await.unwrap()
        }
    };
    // Five failures are answered; then the email is paced (one attempt per 3 s, the rest
    // 429 with Retry-After: 3).
    let mut statuses = Vec::new();
    let mut paced = None;
    for _ in 0..10 {
        let r = attempt("guess").await;
        statuses.push(r.status().as_u16());
        if r.status() == 429 {
            paced = r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
        }
    }
    assert_eq!(&statuses[..5], [401; 5], "{statuses:?}");
    assert!(statuses[5..].contains(&429), "{statuses:?}");
    assert_eq!(paced.as_deref(), Some("3"));
    // Ten attempts from one address at one email: that address is done with it for 15
    // minutes, even with the right password (the attacker learns nothing).
    let r = attempt(PASSWORD).await;
    assert_eq!(r.headers().get("retry-after").unwrap(), "900");
    assert_error(r, 429, "rate_limited").await;
}

#[tokio::test]
async fn staff_endpoints_drive_the_queue() {
    let app = spawn_app().await;
    app.clinic("desk").await;
    let staff = app.staff("desk").await;
    let post = |path: &'static str, body: Value| {
        let url = app.url(path);
        let staff = staff.clone();
        async move { staff.post(url).json(&body).send().await.unwrap() }
    };
    let a = app.take_token("desk", "A", "9876543210").await;
    let r = post("/api/v1/staff/tokens", json!({"patient_name": "Walk-in"})).await;
    assert_eq!(r.status(), 201);
    let r = post("/api/v1/staff/tokens", json!({"patient_name": "Emergency", "is_priority": true})).await;
    assert_eq!(r.status(), 201);
    let emergency: Value = r.json().await.unwrap();
    assert_eq!(emergency["queue_position"], 1);
    assert_error(post("/api/v1/staff/tokens", json!({"patient_name": ""})).await, 400, "invalid_input").await;

    let r: Value = post("/api/v1/staff/queue/actions", json!({"action": "NEXT"})).await.json().await.unwrap();
    assert_eq!(r["serving_token_id"], emergency["token_id"]);
    post("/api/v1/staff/queue/actions", json!({"action": "SKIP", "token_id": a["token_id"]})).await;
    assert_eq!(app.token_status(a["token_id"].as_str().unwrap()).await, "SKIPPED");
    post("/api/v1/staff/queue/actions", json!({"action": "RECALL", "token_id": a["token_id"]})).await;
    let queue: Value = staff.get(app.url("/api/v1/staff/queue")).send().await.unwrap().json().await.unwrap();
    assert_eq!(queue["summary"]["undo_action"], "RECALL");
    assert_eq!(queue["tokens"][1]["token_id"], a["token_id"]);
    assert_eq!(queue["tokens"][1]["is_priority"], true);
    let r = post("/api/v1/staff/queue/actions", json!({"action": "UNDO"})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(app.token_status(a["token_id"].as_str().unwrap()).await, "SKIPPED");
    assert_error(post("/api/v1/staff/queue/actions", json!({"action": "DANCE"})).await, 400, "invalid_input").await;
    assert_error(post("/api/v1/staff/queue/actions", json!({"action": "RECALL"})).await, 400, "invalid_input").await;
    assert_error(
        post("/api/v1/staff/queue/actions", json!({"action": "CANCEL", "token_id": emergency["token_id"]})).await,
        409,
        "conflict",
    )
    .await;
    assert_error(
        post("/api/v1/staff/queue/actions", json!({"action": "SKIP", "token_id": "nope"})).await,
        400,
        "invalid_input",
    )
    .await;

    // Close the day: QR intake is refused, staff can still add.
    let r: Value = staff.post(app.url("/api/v1/staff/session/close")).send().await.unwrap().json().await.unwrap();
    assert_eq!(r["status"], "CLOSED");
    assert_error(
        plain()
            .post(app.url("/api/v1/clinics/desk/tokens"))
            .json(&json!({"patient_name": "Late", "patient_phone": "9876543211"}))
            .send()
            .await
            .unwrap(),
        403,
        "forbidden",
    )
    .await;
    assert_eq!(post("/api/v1/staff/tokens", json!({"patient_name": "Still fine"})).await.status(), 201);
    // Every staff action carries the staff member's id.
    let unattributed: i64 = app
        .db
        .query_one("SELECT count(*) FROM qlink.audit_logs WHERE actor = 'STAFF' AND staff_id IS NULL", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(unattributed, 0);
}

#[tokio::test]
async fn tenant_isolation() {
    let app = spawn_app().await;
    app.clinic("clinic-a").await;
    app.clinic("clinic-b").await;
    let staff_a = app.staff("clinic-a").await;
    let b1 = app.take_token("clinic-b", "B one", "9876543210").await;
    let b2 = app.take_token("clinic-b", "B two", "9876543211").await;
    let staff_b = app.staff("clinic-b").await;
    staff_b.post(app.url("/api/v1/staff/queue/actions")).json(&json!({"action": "NEXT"})).send().await.unwrap();
    staff_b
        .post(app.url("/api/v1/staff/queue/actions"))
        .json(&json!({"action": "SKIP", "token_id": b2["token_id"]}))
        .send()
        .await
        .unwrap();
    let fingerprint = || async {
        app.db
            .query_one(
                "SELECT string_agg(concat_ws(',', t.id, t.status, t.is_priority, t.updated_at), ';' ORDER BY t.id) FROM qlink.tokens t \
                 JOIN qlink.businesses b ON b.id = t.business_id WHERE b.slug = 'clinic-b'",
                &[],
            )
            .await
            .unwrap()
            .get::<_, String>(0)
    };
    let before = fingerprint().await;
    // Staff of A with B's real token ids: not found, every time, and B is untouched.
    for (action, token) in [("SKIP", &b1), ("SERVED", &b1), ("RECALL", &b2), ("CANCEL", &b1), ("SKIP", &b2)] {
        let r = staff_a
            .post(app.url("/api/v1/staff/queue/actions"))
            .json(&json!({"action": action, "token_id": token["token_id"]}))
            .send()
            .await
            .unwrap();
        assert_error(r, 404, "not_found").await;
    }
    let r = staff_a.post(app.url("/api/v1/staff/queue/actions")).json(&json!({"action": "UNDO"})).send().await.unwrap();
    assert_error(r, 409, "conflict").await;
    // Unknown fields (e.g. a business_id) are refused, never used.
    let b_id: uuid::Uuid =
        app.db.query_one("SELECT id FROM qlink.businesses WHERE slug = 'clinic-b'", &[]).await.unwrap().get(0);
    let r = staff_a
        .post(app.url("/api/v1/staff/tokens"))
        .json(&json!({"patient_name": "X", "business_id": b_id}))
        .send()
        .await
        .unwrap();
    assert_error(r, 400, "invalid_input").await;
    assert_eq!(before, fingerprint().await);
    // A sees none of B's patients.
    let queue = staff_a.get(app.url("/api/v1/staff/queue")).send().await.unwrap().text().await.unwrap();
    assert!(!queue.contains("B one") && !queue.contains(b1["token_id"].as_str().unwrap()), "{queue}");
    // STAFF on every admin endpoint: forbidden. Nobody: unauthorized.
    let admin_routes = [
        ("GET", "/api/v1/admin/clinics".to_string()),
        ("POST", "/api/v1/admin/clinics".to_string()),
        ("PATCH", format!("/api/v1/admin/clinics/{b_id}")),
        ("DELETE", format!("/api/v1/admin/clinics/{b_id}")),
        ("POST", format!("/api/v1/admin/clinics/{b_id}/reset-session")),
        ("GET", "/api/v1/admin/metrics".to_string()),
        ("GET", "/api/v1/admin/messages".to_string()),
        ("GET", "/api/v1/admin/audit".to_string()),
    ];
    for (method, path) in &admin_routes {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let r = staff_a.request(m.clone(), app.url(path)).json(&json!({"status": "DISABLED"})).send().await.unwrap();
        assert_error(r, 403, "forbidden").await;
        let r = plain().request(m, app.url(path)).json(&json!({})).send().await.unwrap();
        assert_error(r, 401, "unauthorized").await;
    }
    assert_eq!(before, fingerprint().await);
    let status: String =
        app.db.query_one("SELECT status FROM qlink.businesses WHERE id = $1", &[&b_id]).await.unwrap().get(0);
    assert_eq!(status, "ACTIVE");
    // A super admin is not a receptionist of any clinic.
    let admin = app.login(&app.admin_user().await).await;
    assert_error(admin.get(app.url("/api/v1/staff/queue")).send().await.unwrap(), 403, "forbidden").await;

    // The runtime role can't touch tables directly, only call the functions.
    let runtime = connect(&url_as(&app.db_url, "qlink_app")).await;
    for sql in [
        "UPDATE qlink.tokens SET status = 'SERVED'",
        "DELETE FROM qlink.tokens",
        "SELECT * FROM qlink.tokens",
        "SELECT * FROM qlink.staff_users",
        "INSERT INTO qlink.businesses (slug, name) VALUES ('x-x', 'X')",
    ] {
        let e = runtime.execute(sql, &[]).await.unwrap_err();
        assert_eq!(qlink_tests::sqlstate(&e).as_deref(), Some("42501"), "{sql}: {e}");
    }
    // ... and without a login only the public ones (hardening.rs tries every function).
    let n: i32 =
        runtime.query_one("SELECT sum(waiting_count)::int FROM qlink.list_queues($1)", &[&b_id]).await.unwrap().get(0);
    assert_eq!(n, 0);
}

#[tokio::test]
async fn admin_clinic_lifecycle() {
    let app = spawn_app().await;
    let admin_email = app.admin_user().await;
    let admin = app.login(&admin_email).await;
    let new_clinic = json!({
        "slug": "new-clinic", "name": "New Clinic", "settings": {"daily_token_limit": 50},
        "staff_email": "desk@new.test", "staff_password": "a long password"
    });
    let r = admin.post(app.url("/api/v1/admin/clinics")).json(&new_clinic).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    let id = created["clinic"]["business_id"].as_str().unwrap().to_string();
    assert_eq!(created["clinic"]["settings"]["daily_token_limit"], 50);
    assert_eq!(created["staff_user"]["email"], "desk@new.test");
    assert_error(admin.post(app.url("/api/v1/admin/clinics")).json(&new_clinic).send().await.unwrap(), 409, "conflict")
        .await;
    let mut bad = new_clinic.clone();
    bad["slug"] = json!("other-clinic");
    bad["settings"] = json!({"colour": "red"});
    assert_error(admin.post(app.url("/api/v1/admin/clinics")).json(&bad).send().await.unwrap(), 400, "invalid_input")
        .await;
    bad["settings"] = json!({});
    bad["staff_password"] = json!("short");
    assert_error(admin.post(app.url("/api/v1/admin/clinics")).json(&bad).send().await.unwrap(), 400, "invalid_input")
        .await;
    // Nothing half-created by the refused requests.
    let clinics: i64 = app.db.query_one("SELECT count(*) FROM qlink.businesses", &[]).await.unwrap().get(0);
    assert_eq!(clinics, 1);

    // The new clinic's receptionist can log in and work.
    let desk = browser(&app);
    let r = desk
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": "desk@new.test", "password": "a long password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let t = app.take_token("new-clinic", "Patient", "9876543210").await;
    desk.post(app.url("/api/v1/staff/queue/actions")).json(&json!({"action": "NEXT"})).send().await.unwrap();

    // Suspend: patients and staff are refused; reactivate: both work again.
    let patch = |body: Value| {
        let url = app.url(&format!("/api/v1/admin/clinics/{id}"));
        let admin = admin.clone();
        async move { admin.patch(url).json(&body).send().await.unwrap() }
    };
    let r = patch(json!({"status": "SUSPENDED"})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "SUSPENDED");
    assert_error(
        plain()
            .post(app.url("/api/v1/clinics/new-clinic/tokens"))
            .json(&json!({"patient_name": "P", "patient_phone": "9876543211"}))
            .send()
            .await
            .unwrap(),
        403,
        "forbidden",
    )
    .await;
    assert_error(
        desk.post(app.url("/api/v1/staff/queue/actions")).json(&json!({"action": "NEXT"})).send().await.unwrap(),
        403,
        "forbidden",
    )
    .await;
    assert_eq!(patch(json!({"status": "ACTIVE"})).await.status(), 200);
    assert_eq!(
        desk.post(app.url("/api/v1/staff/queue/actions"))
            .json(&json!({"action": "SERVED"}))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // Settings are validated.
    assert_error(patch(json!({"settings": {"whatsapp_enabled": "yes"}})).await, 400, "invalid_input").await;
    assert_error(patch(json!({"status": "PAUSED"})).await, 400, "invalid_input").await;
    let r: Value = patch(json!({"settings": {"qr_intake_enabled": false}})).await.json().await.unwrap();
    assert_eq!(r["settings"]["qr_intake_enabled"], false);
    assert_eq!(r["settings"]["daily_token_limit"], 50);
    patch(json!({"settings": {"qr_intake_enabled": true}})).await;

    // Reset is refused while someone is being served.
    let t2 = app.take_token("new-clinic", "Second", "9876543212").await;
    desk.post(app.url("/api/v1/staff/queue/actions")).json(&json!({"action": "NEXT"})).send().await.unwrap();
    let reset = || {
        let url = app.url(&format!("/api/v1/admin/clinics/{id}/reset-session"));
        let admin = admin.clone();
        async move { admin.post(url).send().await.unwrap() }
    };
    assert_error(reset().await, 409, "conflict").await;
    desk.post(app.url("/api/v1/staff/queue/actions")).json(&json!({"action": "SKIP"})).send().await.unwrap();
    let r = reset().await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["cancelled_count"], 1);
    assert_eq!(app.token_status(t2["token_id"].as_str().unwrap()).await, "CANCELLED");
    let _ = t;

    // Delete: refused with a live queue, done once it is empty.
    let t3 = app.take_token("new-clinic", "Third", "9876543213").await;
    let delete = || {
        let url = app.url(&format!("/api/v1/admin/clinics/{id}"));
        let admin = admin.clone();
        async move { admin.delete(url).send().await.unwrap() }
    };
    let m = assert_error(delete().await, 409, "conflict").await;
    assert!(m.contains("waiting"), "{m}");
    plain().post(app.url(&format!("/api/v1/tokens/{}/cancel", t3["token_id"].as_str().unwrap()))).send().await.unwrap();
    assert_eq!(delete().await.status(), 204);
    assert_error(delete().await, 404, "not_found").await;
    assert_error(admin.delete(app.url("/api/v1/admin/clinics/not-an-id")).send().await.unwrap(), 404, "not_found")
        .await;

    // Metrics, messages, and the audit trail with actor and IP.
    let m: Value = admin.get(app.url("/api/v1/admin/metrics")).send().await.unwrap().json().await.unwrap();
    for key in ["tokens_today", "active_sessions", "active_queues", "failed_messages_today"] {
        assert!(m[key].is_i64(), "{key} in {m}");
    }
    let r = admin.get(app.url("/api/v1/admin/messages?status=PERMANENTLY_FAILED")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_error(admin.get(app.url("/api/v1/admin/messages?status=BOGUS")).send().await.unwrap(), 400, "invalid_input")
        .await;
    let audit: Value = admin.get(app.url("/api/v1/admin/audit")).send().await.unwrap().json().await.unwrap();
    let actions: Vec<&str> =
        audit["entries"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    for expected in
        ["CREATE_CLINIC", "SUSPEND_CLINIC", "ACTIVATE_CLINIC", "UPDATE_CLINIC", "RESET_SESSION", "DELETE_CLINIC"]
    {
        assert!(actions.contains(&expected), "{expected} missing from {actions:?}");
    }
    assert!(audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["actor_email"] == admin_email.as_str() && e["actor_ip"] == "127.0.0.1"));
    // Refused admin actions leave no audit line.
    assert_eq!(actions.len(), 7, "{actions:?}");
}

/// A DBA's change from psql lands in the operator's audit trail (the extension writes it,
/// with the database login as the actor); the server's own changes appear once each.
#[tokio::test]
async fn a_dbas_change_is_in_the_operators_audit_trail() {
    let app = spawn_app().await;
    let admin_email = app.admin_user().await;
    let admin = app.login(&admin_email).await;
    let clinic = app.clinic("psql").await;
    app.db.query_one("SELECT qlink.update_business($1, status => 'SUSPENDED')", &[&clinic]).await.unwrap();
    let r = admin
        .patch(app.url(&format!("/api/v1/admin/clinics/{clinic}")))
        .json(&json!({"status": "ACTIVE"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let audit: Value = admin.get(app.url("/api/v1/admin/audit")).send().await.unwrap().json().await.unwrap();
    let mut trail: Vec<(String, String)> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["actor_email"].as_str().unwrap().to_string(), e["action"].as_str().unwrap().to_string()))
        .collect();
    trail.sort();
    assert_eq!(
        trail,
        [
            ("postgres".to_string(), "CREATE_CLINIC".to_string()),
            ("postgres".to_string(), "SUSPEND_CLINIC".to_string()),
            (admin_email.clone(), "ACTIVATE_CLINIC".to_string()),
        ]
    );
}

#[tokio::test]
async fn operations_endpoints() {
    let app = spawn_app().await;
    app.clinic("ops").await;
    let staff = app.staff("ops").await;
    staff.post(app.url("/api/v1/staff/queue/actions")).json(&json!({"action": "NEXT"})).send().await.unwrap();
    assert_eq!(plain().get(app.url("/healthz")).send().await.unwrap().text().await.unwrap(), "ok");
    let ready: Value = plain().get(app.url("/readyz")).send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["extension_version"], env!("CARGO_PKG_VERSION"));
    let r = plain().get(app.url("/healthz")).send().await.unwrap();
    assert!(r.headers().contains_key("x-request-id"));
    let metrics = plain().get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    for series in [
        "qlink_http_requests_total",
        "qlink_http_request_duration_seconds_bucket",
        "qlink_queue_actions_total",
        "qlink_db_pool_connections",
    ] {
        assert!(metrics.contains(series), "{series} missing");
    }
    assert!(metrics.contains("route=\"/api/v1/staff/queue/actions\""));
    let spec: Value = plain().get(app.url("/api/v1/openapi.json")).send().await.unwrap().json().await.unwrap();
    for path in [
        "/api/v1/clinics/{slug}/tokens",
        "/api/v1/tokens/{id}",
        "/api/v1/staff/queue/actions",
        "/api/v1/admin/clinics/{id}",
    ] {
        assert!(spec["paths"][path].is_object(), "{path} missing from the OpenAPI document");
    }
}

#[tokio::test]
async fn readyz_fails_when_the_extension_version_differs() {
    let app = spawn_app().await;
    // Pretend the database has another version of the extension installed.
    app.db
        .execute("UPDATE pg_catalog.pg_extension SET extversion = '0.0.1' WHERE extname = 'qlink'", &[])
        .await
        .unwrap();
    let r = plain().get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    app.db
        .execute(
            "UPDATE pg_catalog.pg_extension SET extversion = $1 WHERE extname = 'qlink'",
            &[&env!("CARGO_PKG_VERSION")],
        )
        .await
        .unwrap();
    assert_eq!(plain().get(app.url("/readyz")).send().await.unwrap().status(), 200);
}

/// JSON Schema, and so the OpenAPI document, calls `4.0` the integer 4 (schemathesis sends
/// it for integer fields, as does any client that keeps numbers as floats): the rating and
/// the settings' numbers take it, a fraction is still refused, and what is stored is the
/// integer.
#[tokio::test]
async fn integer_fields_take_whole_floats() {
    let app = spawn_app().await;
    app.clinic("whole").await;
    let staff = app.staff("whole").await;
    let token = app.take_token("whole", "Asha", "9876543210").await;
    let id = token["token_id"].as_str().unwrap();
    for action in ["NEXT", "SERVED"] {
        let r =
            staff.post(app.url("/api/v1/staff/queue/actions")).json(&json!({"action": action})).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    let feedback = |rating: Value| {
        plain().post(app.url(&format!("/api/v1/tokens/{id}/feedback"))).json(&json!({"rating": rating})).send()
    };
    assert_error(feedback(json!(4.5)).await.unwrap(), 400, "invalid_input").await;
    assert_error(feedback(json!(1e300)).await.unwrap(), 400, "invalid_input").await;
    assert_error(feedback(json!("4")).await.unwrap(), 400, "invalid_input").await;
    assert_eq!(feedback(json!(4.0)).await.unwrap().status(), 200);
    let rating: i16 =
        app.db.query_one("SELECT rating FROM qlink.tokens WHERE id = $1::text::uuid", &[&id]).await.unwrap().get(0);
    assert_eq!(rating, 4);

    let admin = app.login(&app.admin_user().await).await;
    let r = admin
        .post(app.url("/api/v1/admin/clinics"))
        .json(&json!({"slug": "floats", "name": "Floats", "settings": {"daily_token_limit": 30.0, "whatsapp_enabled": false},
                      "staff_email": "desk@floats.test", "staff_password": "a long password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["clinic"]["settings"]["daily_token_limit"], json!(30));
    let clinic = created["clinic"]["business_id"].as_str().unwrap();
    let patch = |settings: Value| {
        admin.patch(app.url(&format!("/api/v1/admin/clinics/{clinic}"))).json(&json!({"settings": settings})).send()
    };
    let r = patch(json!({"eta_min_minutes": 2.0, "eta_max_minutes": 9.0})).await.unwrap();
    assert_eq!(r.status(), 200);
    let changed: Value = r.json().await.unwrap();
    assert_eq!(
        (changed["settings"]["eta_min_minutes"].clone(), changed["settings"]["eta_max_minutes"].clone()),
        (json!(2), json!(9))
    );
    assert_error(patch(json!({"eta_max_minutes": 9.5})).await.unwrap(), 400, "invalid_input").await;
}
