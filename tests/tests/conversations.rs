//! WhatsApp conversations end to end (SPEC §11), as a patient and an operator live them: the
//! real server (webhook, operator API, pages), the worker as `qlink_worker`, and the fake Cloud
//! API posting the patient's messages to the webhook signed like Meta and recording the
//! replies. Also: the worker SIGKILLed while replies are in flight (the real binary).

use qlink_server::config::{Secret, WhatsAppArgs};
use qlink_tests::app::{TestApp, TestWorker};
use qlink_tests::fake_whatsapp::{FakeWhatsApp, Inbound, Received, PHONE_NUMBER_ID};
use qlink_tests::load::{create_clinics, wait_for_drained_outbox, Stack};
use qlink_tests::{connect, fresh_database};
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;
use uuid::Uuid;

const APP_SECRET: &str = "fake-app-secret-for-conversations";
const KEY_HEX: &str = "1f2e3d4c5b6a79880f1e2d3c4b5a69781f2e3d4c5b6a79880f1e2d3c4b5a6978";
const HOUSE_DISPLAY: &str = "+15550001234";
const LAKE_NUMBER: &str = "200000000000077";
const LAKE_TOKEN: &str = "EAAG-lakeside-own-token";
const LAKE_WABA: &str = "300000000000077";

fn whatsapp(fake: &FakeWhatsApp) -> WhatsAppArgs {
    WhatsAppArgs {
        whatsapp_app_secret: Some(Secret::new(APP_SECRET)),
        whatsapp_display_number: Some(HOUSE_DISPLAY.into()),
        secret_key: Some(Secret::new(KEY_HEX)),
        ..fake.whatsapp_args()
    }
}

/// The texts (free-form replies) the fake received for `to` (digits), in order.
fn texts_to(fake: &FakeWhatsApp, to: &str) -> Vec<Received> {
    fake.received().into_iter().filter(|r| r.to() == to && r.text().is_some()).collect()
}

async fn wait_for_texts(fake: &FakeWhatsApp, to: &str, n: usize, what: &str) -> Vec<Received> {
    let to = to.to_string();
    fake.wait_for(Duration::from_secs(15), what, |got| {
        got.iter().filter(|r| r.to() == to && r.text().is_some()).count() >= n
    })
    .await;
    texts_to(fake, &to)
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    app.db.query_one(sql, &[]).await.unwrap_or_else(|e| panic!("{sql}: {e}")).get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patient_joins_asks_and_cancels_on_whatsapp_and_a_second_clinic_answers_from_its_own_number() {
    let fake = FakeWhatsApp::start().await;
    fake.add_sender(LAKE_NUMBER, LAKE_TOKEN);
    let app = TestApp::builder().with_whatsapp(whatsapp(&fake)).spawn().await;
    let sunrise = app.clinic("sunrise").await;
    let lakeside = app.clinic("lakeside").await;
    let webhook = app.url("/api/v1/webhooks/whatsapp");

    // The operator gives lakeside its own number; the token is sealed, never answered.
    let operator = app.login(&app.admin_user().await).await;
    let set = operator
        .put(app.url(&format!("/api/v1/admin/clinics/{lakeside}/whatsapp")))
        .json(&json!({"phone_number_id": LAKE_NUMBER, "display_number": "+919800000077", "waba_id": LAKE_WABA,
                      "access_token": LAKE_TOKEN}))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 200);
    let answer = set.text().await.unwrap();
    assert!(!answer.contains(LAKE_TOKEN), "{answer}");
    let stored: Vec<u8> = app
        .db
        .query_one("SELECT access_token_enc FROM qlink.whatsapp_senders WHERE phone_number_id = $1", &[&LAKE_NUMBER])
        .await
        .unwrap()
        .get(0);
    assert!(!String::from_utf8_lossy(&stored).contains(LAKE_TOKEN), "the token is stored sealed");

    // The patient scans the poster: its "Join on WhatsApp" link pre-fills JOIN <code>.
    let page = reqwest::get(app.url("/c/sunrise")).await.unwrap().text().await.unwrap();
    let link = format!("https://wa.me/{}?text=JOIN%20sunrise", HOUSE_DISPLAY.trim_start_matches('+'));
    assert!(page.contains(&link), "the intake page links {link}");
    assert!(page.contains("STOP"), "the intake page says how to stop messages");
    let poster = reqwest::get(app.url("/c/sunrise/poster")).await.unwrap().text().await.unwrap();
    assert!(poster.contains(&link), "the poster links {link}");

    let worker = TestWorker::start(&app, whatsapp(&fake));
    let patient = "919812345678";
    let join = Inbound::text(PHONE_NUMBER_ID, patient, "JOIN sunrise");
    let r = fake.post_inbound(&webhook, APP_SECRET, &join).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let replies = wait_for_texts(&fake, patient, 1, "the JOIN reply").await;
    let token: Uuid = app
        .db
        .query_one(
            "SELECT id FROM qlink.tokens WHERE business_id = $1 AND source = 'WHATSAPP' AND patient_phone = $2",
            &[&sunrise, &format!("+{patient}")],
        )
        .await
        .expect("exactly one WhatsApp token")
        .get(0);
    let text = replies[0].text().unwrap();
    assert!(text.contains("token is 1"), "{text}");
    assert!(text.contains(&format!("/t/{token}")), "the reply links the live page: {text}");
    assert_eq!(replies[0].phone_number_id(), PHONE_NUMBER_ID);
    // No WELCOME template: the reply said it inside the patient's own window.
    assert!(fake.received_by(patient).iter().all(|r| r.template().is_empty()));

    // Meta delivers the same message again: nothing more happens.
    let again = fake.post_inbound(&webhook, APP_SECRET, &join).await;
    assert_eq!(again.status(), 200);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(texts_to(&fake, patient).len(), 1, "a duplicated delivery is answered once");
    assert_eq!(count(&app, "SELECT count(*) FROM qlink.tokens WHERE source = 'WHATSAPP'").await, 1);

    // STATUS, then the CANCEL button of the template.
    fake.post_inbound(&webhook, APP_SECRET, &Inbound::text(PHONE_NUMBER_ID, patient, "status")).await;
    let replies = wait_for_texts(&fake, patient, 2, "the STATUS reply").await;
    assert!(replies[1].text().unwrap().contains("waiting"), "{:?}", replies[1].text());
    fake.post_inbound(&webhook, APP_SECRET, &Inbound::button(PHONE_NUMBER_ID, patient, "CANCEL", "Cancel")).await;
    let replies = wait_for_texts(&fake, patient, 3, "the CANCEL reply").await;
    assert!(replies[2].text().unwrap().contains("cancelled"), "{:?}", replies[2].text());
    assert_eq!(app.token_status(&token.to_string()).await, "CANCELLED");

    // HELP, in Hindi too.
    fake.post_inbound(&webhook, APP_SECRET, &Inbound::text(PHONE_NUMBER_ID, patient, "मदद")).await;
    let replies = wait_for_texts(&fake, patient, 4, "the HELP reply").await;
    assert!(replies[3].text().unwrap().contains("STATUS"), "{:?}", replies[3].text());
    // And in Tamil's own word: answered in Tamil.
    fake.post_inbound(&webhook, APP_SECRET, &Inbound::text(PHONE_NUMBER_ID, patient, "உதவி")).await;
    let replies = wait_for_texts(&fake, patient, 5, "the Tamil HELP reply").await;
    let text = replies[4].text().unwrap();
    assert!(text.contains("STATUS") && text.contains("வரிசையில்"), "{text}");

    // The second clinic answers from its own number with its own token.
    let other = "919812300000";
    fake.post_inbound(&webhook, APP_SECRET, &Inbound::text(LAKE_NUMBER, other, "JOIN lakeside")).await;
    let replies = wait_for_texts(&fake, other, 1, "lakeside's JOIN reply").await;
    assert_eq!(replies[0].phone_number_id(), LAKE_NUMBER);
    assert!(replies[0].authorized, "sent with lakeside's own token");
    assert_eq!(count(&app, &format!("SELECT count(*) FROM qlink.tokens WHERE business_id = '{lakeside}'")).await, 1);

    // Tenants: sunrise's code on lakeside's number names no clinic there.
    fake.post_inbound(&webhook, APP_SECRET, &Inbound::text(LAKE_NUMBER, "919812311111", "JOIN sunrise")).await;
    let replies = wait_for_texts(&fake, "919812311111", 1, "the unknown-code reply").await;
    assert!(replies[0].text().unwrap().contains("don't know that clinic"), "{:?}", replies[0].text());
    assert_eq!(replies[0].phone_number_id(), LAKE_NUMBER);
    assert_eq!(count(&app, &format!("SELECT count(*) FROM qlink.tokens WHERE business_id = '{sunrise}'")).await, 1);

    // STOP: lakeside sends that number nothing more, until START.
    fake.post_inbound(&webhook, APP_SECRET, &Inbound::text(LAKE_NUMBER, other, "STOP")).await;
    let replies = wait_for_texts(&fake, other, 2, "the STOP confirmation").await;
    assert!(replies[1].text().unwrap().contains("no more messages"), "{:?}", replies[1].text());
    app.db
        .query_one("SELECT * FROM qlink.create_token($1, 'Walk-in', $2, 'STAFF')", &[&lakeside, &format!("+{other}")])
        .await
        .unwrap();
    let skipped: String = app
        .db
        .query_one(
            "SELECT status || ':' || reason FROM qlink.message_logs WHERE message_type = 'WELCOME' AND to_phone = $1",
            &[&format!("+{other}")],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(skipped, "SKIPPED:opted_out");
    fake.post_inbound(&webhook, APP_SECRET, &Inbound::text(LAKE_NUMBER, other, "STATUS")).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(texts_to(&fake, other).len(), 2, "an opted-out number gets nothing");
    assert!(fake.received_by(other).iter().all(|r| r.template().is_empty()), "nor the template");
    fake.post_inbound(&webhook, APP_SECRET, &Inbound::text(LAKE_NUMBER, other, "START")).await;
    wait_for_texts(&fake, other, 3, "the START confirmation").await;

    // An unsigned or wrongly signed post changes nothing.
    let stored = count(&app, "SELECT count(*) FROM qlink.inbound_messages").await;
    let forged = Inbound::text(PHONE_NUMBER_ID, "919800011111", "JOIN sunrise");
    let body = serde_json::to_vec(&forged.payload()).unwrap();
    assert_eq!(fake.post_raw(&webhook, body.clone(), None).await.status(), 401);
    let wrong = qlink_tests::fake_whatsapp::sign("another-secret", &body);
    assert_eq!(fake.post_raw(&webhook, body, Some(&wrong)).await.status(), 401);
    assert_eq!(count(&app, "SELECT count(*) FROM qlink.inbound_messages").await, stored);

    worker.stop().await;
}

/// Replies in flight when the worker is SIGKILLed are neither lost nor sent twice more
/// than once per kill.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_survive_a_sigkilled_worker() {
    let fake = FakeWhatsApp::start().await;
    // Slow enough that sends are in flight at each kill.
    fake.set_latency(Duration::from_millis(60));
    let db_url = fresh_database().await;
    let clinics = create_clinics(&db_url, "replykill", 1).await;
    let db = connect(&db_url).await;
    let patients: Vec<String> = (0..120).map(|n| format!("9198100{n:05}")).collect();
    for (n, phone) in patients.iter().enumerate() {
        let text = if n % 2 == 0 { format!("JOIN {}", clinics[0].0) } else { "HELP".to_string() };
        db.query_one(
            "SELECT handled FROM qlink.handle_inbound($1, $2, $3, NULL, $4, NULL)",
            &[&PHONE_NUMBER_ID, phone, &text, &format!("wamid.kill.{n}")],
        )
        .await
        .unwrap();
    }
    let mut stack = Stack::new(&db_url, &fake.base_url(), 1);
    stack.start_worker(0);
    let kills = 3;
    for _ in 0..kills {
        fake.wait_for(Duration::from_secs(20), "sends under way", |got| !got.is_empty()).await;
        tokio::time::sleep(Duration::from_millis(400)).await;
        stack.kill_worker(0);
        stack.start_worker(0);
    }
    let (rows, _) = wait_for_drained_outbox(&db_url, Duration::from_secs(90)).await;
    stack.assert_alive();
    let replies: Vec<_> = rows.iter().filter(|r| r.message_type == "REPLY").collect();
    assert_eq!(replies.len(), patients.len());
    assert!(replies.iter().all(|r| r.status == "SENT"), "every reply SENT: {replies:?}");
    let mut sends: HashMap<String, usize> = HashMap::new();
    for r in fake.received() {
        *sends.entry(r.to().to_string()).or_insert(0) += 1;
    }
    for phone in &patients {
        let n = sends.get(phone).copied().unwrap_or(0);
        assert!((1..=1 + kills).contains(&n), "{phone} got {n} replies with {kills} kills");
    }
    let duplicates: usize = sends.values().map(|n| n - 1).sum();
    eprintln!("replies: {} sent through {kills} SIGKILLs of the worker, {duplicates} duplicates", patients.len());
}
