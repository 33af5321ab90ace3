//! WhatsApp conversations over HTTP (SPEC §11): the operator sets, reads and clears a
//! clinic's own sender number through the REST API, and the access token never comes back
//! (answers, the backlog, the audit log) nor lies in the database in the clear; bad input is
//! refused with the extension's reason and changes nothing; a clinic's owner reads its own
//! sender only and cannot change it; the intake page and the poster link to "Join on
//! WhatsApp" with the clinic's JOIN words, escaped; and the webhook hands patients' signed
//! messages to `qlink.handle_inbound` once per wamid, refusing unsigned ones.

use hmac::{Hmac, Mac};
use qlink_server::config::{Secret, WhatsAppArgs};
use qlink_server::crypto::SecretKey;
use qlink_tests::app::{assert_error, assert_refusal, plain, TestApp, PASSWORD};
use reqwest::Client;
use serde_json::{json, Value};
use sha2::Sha256;
use uuid::Uuid;

const SECRET_KEY_HEX: &str = "8f1d2c3b4a5968778695a4b3c2d1e0f00112233445566778899aabbccddeeff0";
const APP_SECRET: &str = "senders-web-app-secret";
const INSTALLATION_NUMBER_ID: &str = "106540352242922";
const INSTALLATION_DISPLAY: &str = "+91 80000 12345";
const ACCESS_TOKEN: &str = "EAAG-clinic-own-token-5e1f9c0d7b";
const PHONE_NUMBER_ID: &str = "222333444555666";
const WABA_ID: &str = "777888999000111";

fn whatsapp(secret_key: bool, display_number: bool) -> WhatsAppArgs {
    WhatsAppArgs {
        whatsapp_api_base: "http://127.0.0.1:9".into(),
        whatsapp_phone_number_id: Some(INSTALLATION_NUMBER_ID.into()),
        whatsapp_app_secret: Some(Secret::new(APP_SECRET)),
        whatsapp_display_number: display_number.then(|| INSTALLATION_DISPLAY.into()),
        secret_key: secret_key.then(|| Secret::new(SECRET_KEY_HEX)),
        ..WhatsAppArgs::default()
    }
}

async fn spawn(secret_key: bool, display_number: bool) -> TestApp {
    TestApp::builder().with_whatsapp(whatsapp(secret_key, display_number)).spawn().await
}

async fn operator(app: &TestApp) -> Client {
    let email = app.admin_user().await;
    app.login(&email).await
}

async fn owner(app: &TestApp, email: &str, clinic: Uuid) -> Client {
    let hash = qlink_server::accounts::hash_password(PASSWORD).unwrap();
    app.db.query_one("SELECT qlink.create_staff_user($1, $2, 'OWNER', $3)", &[&email, &hash, &clinic]).await.unwrap();
    app.login(email).await
}

fn sender_url(app: &TestApp, clinic: Uuid) -> String {
    app.url(&format!("/api/v1/admin/clinics/{clinic}/whatsapp"))
}

fn own_sender(token: Option<&str>) -> Value {
    json!({"phone_number_id": PHONE_NUMBER_ID, "display_number": "98123 45678", "waba_id": WABA_ID,
           "access_token": token})
}

async fn ok_json(r: reqwest::Response) -> Value {
    let status = r.status();
    let text = r.text().await.unwrap();
    assert!(status.is_success(), "{status}: {text}");
    assert!(!text.contains(ACCESS_TOKEN), "the access token came back: {text}");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

/// Everything a sender change could touch, to prove a refusal changed nothing.
async fn sender_state(app: &TestApp) -> Vec<String> {
    let rows = app
        .db
        .query(
            "SELECT 'sender ' || phone_number_id || ' ' || display_number || ' ' || waba_id || ' ' || \
                    coalesce(encode(access_token_enc, 'hex'), '-') FROM qlink.whatsapp_senders \
             UNION ALL SELECT 'account ' || waba_id || ' ' || daily_recipient_limit FROM qlink.whatsapp_accounts \
             UNION ALL SELECT 'clinic ' || id || ' ' || coalesce(whatsapp_phone_number_id, '-') FROM qlink.businesses \
             UNION ALL SELECT 'audit ' || count(*) FROM qlink.admin_audit_logs \
             ORDER BY 1",
            &[],
        )
        .await
        .unwrap();
    rows.iter().map(|r| r.get(0)).collect()
}

#[tokio::test]
async fn the_operator_sets_reads_and_clears_a_clinics_sender_and_the_token_never_comes_back() {
    let app = spawn(true, true).await;
    let clinic = app.clinic("alpha").await;
    let admin = operator(&app).await;

    let before = ok_json(admin.get(sender_url(&app, clinic)).send().await.unwrap()).await;
    assert_eq!(before["own_sender"], false, "{before}");
    assert_eq!(before["phone_number_id"], Value::Null);

    let set =
        ok_json(admin.put(sender_url(&app, clinic)).json(&own_sender(Some(ACCESS_TOKEN))).send().await.unwrap()).await;
    assert_eq!(
        (
            &set["own_sender"],
            &set["phone_number_id"],
            &set["display_number"],
            &set["waba_id"],
            &set["has_access_token"]
        ),
        (&json!(true), &json!(PHONE_NUMBER_ID), &json!("+919812345678"), &json!(WABA_ID), &json!(true)),
        "{set}"
    );
    assert_eq!(set["daily_recipient_limit"], 250, "a new account starts at Meta's first tier");
    assert!(set.get("access_token").is_none() && set.get("access_token_enc").is_none(), "{set}");

    // In the database only sealed, for this very number, with the server's key.
    let sealed: Vec<u8> = app
        .db
        .query_one(
            "SELECT access_token_enc FROM qlink.whatsapp_senders WHERE phone_number_id = $1",
            &[&PHONE_NUMBER_ID],
        )
        .await
        .unwrap()
        .get(0);
    assert!(!sealed.windows(ACCESS_TOKEN.len()).any(|w| w == ACCESS_TOKEN.as_bytes()), "stored in the clear");
    let key = SecretKey::parse(SECRET_KEY_HEX).unwrap();
    assert_eq!(key.open(PHONE_NUMBER_ID.as_bytes(), &sealed).unwrap(), ACCESS_TOKEN.as_bytes());
    assert!(key.open(b"999999999", &sealed).is_err(), "a sealed token opens only for its own sender");

    // Read back, in the backlog and in the audit: never the token.
    let read = ok_json(admin.get(sender_url(&app, clinic)).send().await.unwrap()).await;
    assert_eq!(read, set);
    let senders = ok_json(admin.get(app.url("/api/v1/admin/whatsapp/senders")).send().await.unwrap()).await;
    let rows = senders["senders"].as_array().unwrap();
    assert_eq!(rows[0]["phone_number_id"], Value::Null, "the installation's number first: {senders}");
    let mine = rows.iter().find(|r| r["phone_number_id"] == PHONE_NUMBER_ID).expect("our sender is listed");
    assert_eq!(
        (&mine["waba_id"], &mine["clinics"], &mine["daily_recipient_limit"]),
        (&json!(WABA_ID), &json!(1), &json!(250))
    );
    let audit = ok_json(admin.get(app.url("/api/v1/admin/audit")).send().await.unwrap()).await;
    let actions: Vec<&str> = audit["entries"].as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    assert!(actions.contains(&"CLINIC_SENDER_SET"), "{actions:?}");
    let stored_audit: Vec<String> = app
        .db
        .query("SELECT details::text FROM qlink.admin_audit_logs", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(
        stored_audit.iter().all(|d| !d.contains(ACCESS_TOKEN) && !d.contains(&hex::encode(&sealed))),
        "{stored_audit:?}"
    );

    // Without a token the stored one is kept; clear_access_token forgets it.
    let kept = ok_json(admin.put(sender_url(&app, clinic)).json(&own_sender(None)).send().await.unwrap()).await;
    assert_eq!(kept["has_access_token"], true);
    let mut body = own_sender(None);
    body["clear_access_token"] = json!(true);
    let cleared = ok_json(admin.put(sender_url(&app, clinic)).json(&body).send().await.unwrap()).await;
    assert_eq!(cleared["has_access_token"], false);

    // The account's daily recipient cap (Meta's next tier), and the installation's.
    let limit = ok_json(
        admin
            .put(app.url(&format!("/api/v1/admin/whatsapp/accounts/{WABA_ID}")))
            .json(&json!({"daily_recipient_limit": 2000}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(limit, json!({"waba_id": WABA_ID, "daily_recipient_limit": 2000}));
    let read = ok_json(admin.get(sender_url(&app, clinic)).send().await.unwrap()).await;
    assert_eq!(read["daily_recipient_limit"], 2000);
    let installation = ok_json(
        admin
            .put(app.url("/api/v1/admin/whatsapp/accounts/installation"))
            .json(&json!({"daily_recipient_limit": 10000}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(installation["daily_recipient_limit"], 10000);

    // Back to the installation's number; twice is the same.
    for _ in 0..2 {
        let r = admin.delete(sender_url(&app, clinic)).send().await.unwrap();
        assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
    }
    let after = ok_json(admin.get(sender_url(&app, clinic)).send().await.unwrap()).await;
    assert_eq!(after["own_sender"], false);
    let audit = ok_json(admin.get(app.url("/api/v1/admin/audit")).send().await.unwrap()).await;
    assert!(audit.to_string().contains("CLINIC_SENDER_CLEARED"));
}

#[tokio::test]
async fn bad_sender_input_is_refused_with_its_reason_and_changes_nothing() {
    let app = spawn(true, true).await;
    let clinic = app.clinic("alpha").await;
    let admin = operator(&app).await;
    // One good sender first, so "nothing changed" covers an existing one too.
    ok_json(admin.put(sender_url(&app, clinic)).json(&own_sender(Some(ACCESS_TOKEN))).send().await.unwrap()).await;
    let before = sender_state(&app).await;

    let with = |field: &str, value: Value| {
        let mut b = own_sender(Some("EAAG-another-token"));
        b[field] = value;
        b
    };
    for (body, reason) in [
        (with("phone_number_id", json!("12ab45")), "invalid_phone_number_id"),
        (with("phone_number_id", json!("1234")), "invalid_phone_number_id"),
        (with("display_number", json!("12345")), "invalid_phone"),
        (with("display_number", json!("<b>+91</b>")), "invalid_phone"),
        (with("waba_id", json!("x")), "invalid_waba_id"),
        (with("access_token", json!("has spaces in it")), "invalid_access_token"),
        (with("access_token", json!("")), "invalid_access_token"),
    ] {
        let r = admin.put(sender_url(&app, clinic)).json(&body).send().await.unwrap();
        let message = assert_refusal(r, 400, "invalid_input", reason).await;
        assert!(!message.contains("EAAG"), "{message}");
        assert_eq!(sender_state(&app).await, before, "{body}");
    }
    for body in [json!({"phone_number_id": PHONE_NUMBER_ID}), json!({"display_number": 5}), json!([1]), {
        let mut b = own_sender(None);
        b["extra"] = json!(1);
        b
    }] {
        let r = admin.put(sender_url(&app, clinic)).json(&body).send().await.unwrap();
        assert_error(r, 400, "invalid_input").await;
        assert_eq!(sender_state(&app).await, before, "{body}");
    }
    // Unknown clinics and accounts, and addresses that name none.
    for url in [sender_url(&app, Uuid::new_v4()), app.url("/api/v1/admin/clinics/not-a-uuid/whatsapp")] {
        assert_error(admin.put(&url).json(&own_sender(None)).send().await.unwrap(), 404, "not_found").await;
        assert_error(admin.get(&url).send().await.unwrap(), 404, "not_found").await;
        assert_error(admin.delete(&url).send().await.unwrap(), 404, "not_found").await;
    }
    for (waba, limit, status, code) in [
        (WABA_ID, json!(0), 400, "invalid_input"),
        (WABA_ID, json!(1_000_001), 400, "invalid_input"),
        (WABA_ID, json!(2.5), 400, "invalid_input"),
        ("555555555", json!(100), 404, "not_found"),
        ("abc", json!(100), 404, "not_found"),
    ] {
        let r = admin
            .put(app.url(&format!("/api/v1/admin/whatsapp/accounts/{waba}")))
            .json(&json!({"daily_recipient_limit": limit}))
            .send()
            .await
            .unwrap();
        assert_error(r, status, code).await;
        assert_eq!(sender_state(&app).await, before, "{waba} {limit}");
    }
    let r = admin
        .put(app.url(&format!("/api/v1/admin/whatsapp/accounts/{WABA_ID}")))
        .json(&json!({"daily_recipient_limit": 0}))
        .send()
        .await
        .unwrap();
    assert_refusal(r, 400, "invalid_input", "invalid_recipient_limit").await;
    let r = admin
        .put(app.url("/api/v1/admin/whatsapp/accounts/555555555"))
        .json(&json!({"daily_recipient_limit": 100}))
        .send()
        .await
        .unwrap();
    assert_refusal(r, 404, "not_found", "account_not_found").await;
}

#[tokio::test]
async fn without_a_secret_key_a_token_is_refused_but_a_number_alone_is_set() {
    let app = spawn(false, false).await;
    let clinic = app.clinic("alpha").await;
    let admin = operator(&app).await;
    let before = sender_state(&app).await;
    let r = admin.put(sender_url(&app, clinic)).json(&own_sender(Some(ACCESS_TOKEN))).send().await.unwrap();
    let message = assert_refusal(r, 409, "conflict", "secret_key_missing").await;
    assert!(message.contains("QLINK_SECRET_KEY") && !message.contains(ACCESS_TOKEN), "{message}");
    assert_eq!(sender_state(&app).await, before);
    let set = ok_json(admin.put(sender_url(&app, clinic)).json(&own_sender(None)).send().await.unwrap()).await;
    assert_eq!((&set["own_sender"], &set["has_access_token"]), (&json!(true), &json!(false)));
}

#[tokio::test]
async fn an_owner_reads_its_own_sender_and_cannot_change_it() {
    let app = spawn(true, true).await;
    let alpha = app.clinic("alpha").await;
    let beta = app.clinic("beta").await;
    let admin = operator(&app).await;
    ok_json(admin.put(sender_url(&app, alpha)).json(&own_sender(Some(ACCESS_TOKEN))).send().await.unwrap()).await;
    let alpha_owner = owner(&app, "owner@alpha.test", alpha).await;
    let beta_owner = owner(&app, "owner@beta.test", beta).await;

    let mine = ok_json(alpha_owner.get(app.url("/api/v1/staff/whatsapp")).send().await.unwrap()).await;
    assert_eq!(
        (&mine["own_sender"], &mine["display_number"], &mine["has_access_token"], &mine["installation_display_number"]),
        (&json!(true), &json!("+919812345678"), &json!(true), &Value::Null),
        "{mine}"
    );
    // Beta's owner sees beta's (the installation's number), nothing of alpha's.
    let theirs = ok_json(beta_owner.get(app.url("/api/v1/staff/whatsapp")).send().await.unwrap()).await;
    assert_eq!(theirs["own_sender"], false, "{theirs}");
    assert_eq!(theirs["installation_display_number"], INSTALLATION_DISPLAY);
    assert!(!theirs.to_string().contains(PHONE_NUMBER_ID) && !theirs.to_string().contains("9812345678"), "{theirs}");

    // The operator's routes are the operator's: 403, nothing changed, for either clinic.
    let before = sender_state(&app).await;
    for (client, clinic) in [(&alpha_owner, alpha), (&alpha_owner, beta), (&beta_owner, alpha)] {
        let url = sender_url(&app, clinic);
        assert_error(client.get(&url).send().await.unwrap(), 403, "forbidden").await;
        assert_error(
            client.put(&url).json(&own_sender(Some("EAAG-owner-try"))).send().await.unwrap(),
            403,
            "forbidden",
        )
        .await;
        assert_error(client.delete(&url).send().await.unwrap(), 403, "forbidden").await;
        let r = client
            .put(app.url(&format!("/api/v1/admin/whatsapp/accounts/{WABA_ID}")))
            .json(&json!({"daily_recipient_limit": 5}))
            .send()
            .await
            .unwrap();
        assert_error(r, 403, "forbidden").await;
        assert_error(client.get(app.url("/api/v1/admin/whatsapp/senders")).send().await.unwrap(), 403, "forbidden")
            .await;
    }
    // No write route of the owner's own.
    for r in [
        alpha_owner.put(app.url("/api/v1/staff/whatsapp")).json(&own_sender(None)),
        alpha_owner.delete(app.url("/api/v1/staff/whatsapp")),
    ] {
        assert_error(r.send().await.unwrap(), 405, "method_not_allowed").await;
    }
    assert_eq!(sender_state(&app).await, before);
    // A receptionist is not the owner; nobody logged in is nobody.
    let desk = app.staff("alpha").await;
    assert_error(desk.get(app.url("/api/v1/staff/whatsapp")).send().await.unwrap(), 403, "forbidden").await;
    assert_error(plain().get(app.url("/api/v1/staff/whatsapp")).send().await.unwrap(), 401, "unauthorized").await;

    // The owner's page shows the sender, read-only.
    let page = alpha_owner.get(app.url("/owner")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("+919812345678") && page.contains("WhatsApp"), "{page}");
    assert!(!page.contains(ACCESS_TOKEN));
}

async fn page(url: String) -> String {
    let r = plain().get(url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

#[tokio::test]
async fn the_intake_page_and_poster_link_to_join_on_whatsapp_escaped() {
    let app = spawn(true, true).await;
    let own = app.clinic("own-number").await;
    app.db
        .execute("UPDATE qlink.businesses SET name = $2 WHERE id = $1", &[&own, &"<b>Tom & \"Jerry's\"</b>"])
        .await
        .unwrap();
    let admin = operator(&app).await;
    ok_json(admin.put(sender_url(&app, own)).json(&own_sender(None)).send().await.unwrap()).await;
    app.clinic("shared-number").await;

    let html = page(app.url("/c/own-number?lang=en")).await;
    assert!(html.contains("href=\"https://wa.me/919812345678?text=JOIN%20own-number\""), "{html}");
    assert!(html.contains("Reply STOP to stop WhatsApp messages from this clinic"), "{html}");
    assert!(html.contains("&lt;b&gt;Tom &amp; &quot;Jerry's&quot;&lt;/b&gt;") && !html.contains("<b>Tom"), "{html}");
    let hindi = page(app.url("/c/own-number?lang=hi")).await;
    assert!(hindi.contains("https://wa.me/919812345678?text=JOIN%20own-number"));
    assert!(hindi.contains("STOP") && hindi.contains("WhatsApp पर"), "{hindi}");

    // A clinic without a number of its own: the installation's.
    let html = page(app.url("/c/shared-number")).await;
    assert!(html.contains("https://wa.me/918000012345?text=JOIN%20shared-number"), "{html}");

    // The poster: both languages, the same link.
    let poster = page(app.url("/c/own-number/poster")).await;
    assert!(poster.contains("https://wa.me/919812345678?text=JOIN%20own-number"), "{poster}");
    assert!(poster.contains("Reply STOP to stop WhatsApp messages from this clinic"));
    assert!(!poster.contains("<b>Tom"));

    // No number anywhere: no link.
    let bare = spawn(false, false).await;
    bare.clinic("no-number").await;
    for path in ["/c/no-number", "/c/no-number/poster"] {
        let html = page(bare.url(path)).await;
        assert!(!html.contains("wa.me"), "{path}: {html}");
    }
}

fn sign(body: &[u8], secret: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Meta's payload of one text message from `from` to `phone_number_id`.
fn text_message(phone_number_id: &str, from: &str, wamid: &str, body: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "918000012345", "phone_number_id": phone_number_id},
            "contacts": [{"profile": {"name": "Asha Rao"}, "wa_id": from}],
            "messages": [{"from": from, "id": wamid, "timestamp": "1767225600", "type": "text", "text": {"body": body}}]
        }}]}]
    }))
    .unwrap()
}

async fn post_webhook(app: &TestApp, body: Vec<u8>, signature: Option<String>) -> reqwest::Response {
    let mut r =
        plain().post(app.url("/api/v1/webhooks/whatsapp")).header("content-type", "application/json").body(body);
    if let Some(s) = signature {
        r = r.header("X-Hub-Signature-256", s);
    }
    r.send().await.unwrap()
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    app.db.query_one(sql, &[]).await.unwrap().get(0)
}

#[tokio::test]
async fn signed_inbound_messages_act_once_and_unsigned_ones_not_at_all() {
    let app = spawn(true, true).await;
    let clinic = app.clinic("city-clinic").await;
    let join = text_message(INSTALLATION_NUMBER_ID, "919876543210", "wamid.JOIN1", "JOIN city-clinic");

    for signature in [None, Some(sign(&join, "not-the-app-secret")), Some("sha256=00".into())] {
        let r = post_webhook(&app, join.clone(), signature).await;
        assert_error(r, 401, "unauthorized").await;
    }
    assert_eq!(count(&app, "SELECT count(*) FROM qlink.inbound_messages").await, 0);
    assert_eq!(count(&app, "SELECT count(*) FROM qlink.tokens").await, 0);

    // Signed: a token for the sender's own number, and the reply queued.
    let r = post_webhook(&app, join.clone(), Some(sign(&join, APP_SECRET))).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"applied": 0, "ignored": 0, "messages": 1}));
    let row = app.db.query_one("SELECT business_id, source, patient_phone FROM qlink.tokens", &[]).await.unwrap();
    assert_eq!(row.get::<_, Uuid>(0), clinic);
    assert_eq!(row.get::<_, String>(1), "WHATSAPP");
    assert_eq!(row.get::<_, String>(2), "+919876543210");
    let reply = "SELECT count(*) FROM qlink.message_logs WHERE message_type = 'REPLY'";
    assert_eq!(count(&app, reply).await, 1);
    let inbound = app
        .db
        .query_one(
            "SELECT command, outcome, phone_number_id FROM qlink.inbound_messages WHERE wamid = 'wamid.JOIN1'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (inbound.get::<_, String>(0), inbound.get::<_, String>(1), inbound.get::<_, String>(2)),
        ("JOIN".to_string(), "joined".to_string(), INSTALLATION_NUMBER_ID.to_string())
    );

    // Meta delivers it again (twice at once, too): it acts once.
    let again = [
        post_webhook(&app, join.clone(), Some(sign(&join, APP_SECRET))),
        post_webhook(&app, join.clone(), Some(sign(&join, APP_SECRET))),
    ];
    for r in futures::future::join_all(again).await {
        assert_eq!(r.status(), 200);
    }
    assert_eq!(count(&app, "SELECT count(*) FROM qlink.tokens").await, 1);
    assert_eq!(count(&app, reply).await, 1);
    assert_eq!(count(&app, "SELECT count(*) FROM qlink.inbound_messages").await, 1);

    // A message PostgreSQL cannot take is skipped, the rest of the batch handled.
    let mut batch: Value =
        serde_json::from_slice(&text_message(INSTALLATION_NUMBER_ID, "919876543210", "wamid.S1", "STATUS")).unwrap();
    let messages = batch.pointer_mut("/entry/0/changes/0/value/messages").unwrap().as_array_mut().unwrap();
    messages
        .insert(0, json!({"from": "919876543210", "id": "wamid.\u{0}bad", "type": "text", "text": {"body": "HELP"}}));
    let body = serde_json::to_vec(&batch).unwrap();
    let r = post_webhook(&app, body.clone(), Some(sign(&body, APP_SECRET))).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["messages"], 1);
    let status: String = app
        .db
        .query_one("SELECT outcome FROM qlink.inbound_messages WHERE wamid = 'wamid.S1'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(status, "status");
}

#[tokio::test]
async fn the_operator_sets_a_clinics_number_in_the_panel_and_sees_its_backlog() {
    use qlink_tests::browser::{Browser, DESK};
    let app = spawn(true, true).await;
    let clinic = app.clinic("panel").await;
    let email = app.admin_user().await;
    let b = Browser::start("senders", DESK).await;
    b.goto(&app.url("/admin")).await;
    b.wait_visible("#login").await;
    b.fill("#email", &email).await;
    b.fill("#password", PASSWORD).await;
    b.click("#login-button").await;
    b.wait_for_text("#clinic-rows", "Clinic panel").await;
    // The installation's number is listed before any clinic has its own.
    b.wait_for_text("#sender-rows", "installation").await;

    b.click("tr[data-slug=panel] button[data-act=whatsapp]").await;
    b.wait_visible("#sender-editor").await;
    b.wait_for_text("#w-token-state", "QLink's number").await;
    // A bad account id: the extension's words, nothing stored.
    b.fill("#w-phone-number-id", PHONE_NUMBER_ID).await;
    b.fill("#w-display-number", "+91 98123 45678").await;
    b.fill("#w-waba-id", "12ab34").await;
    b.js("document.getElementById('w-waba-id').removeAttribute('pattern')", vec![]).await;
    b.click("#sender-save").await;
    b.wait_visible("#sender-error").await;
    let stored: i64 = app.db.query_one("SELECT count(*) FROM qlink.whatsapp_senders", &[]).await.unwrap().get(0);
    assert_eq!(stored, 0);
    // A good one, with a token: saved, the token field emptied, the token never shown.
    b.fill("#w-waba-id", WABA_ID).await;
    b.fill("#w-access-token", ACCESS_TOKEN).await;
    b.click("#sender-save").await;
    b.wait_for_text("#notice", "now sends from +919812345678").await;
    b.wait_for_text("#w-token-state", "access token of its own is stored").await;
    assert_eq!(b.js("return document.getElementById('w-access-token').value", vec![]).await, json!(""));
    b.wait_for_text("#sender-rows", PHONE_NUMBER_ID).await;
    let html = b.js("return document.documentElement.outerHTML", vec![]).await;
    assert!(!html.as_str().unwrap().contains(ACCESS_TOKEN));
    let own: Option<String> = app
        .db
        .query_one("SELECT whatsapp_phone_number_id FROM qlink.businesses WHERE id = $1", &[&clinic])
        .await
        .unwrap()
        .get(0);
    assert_eq!(own.as_deref(), Some(PHONE_NUMBER_ID));
    b.screenshot("sender-set").await;
    b.close().await;
}
