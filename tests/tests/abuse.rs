//! Abuse of the public intake: QR spam from one address, one phone from many addresses,
//! and the WhatsApp budget under spam. Limits hold; nothing beyond them is created.

use qlink_tests::app::{plain, TestApp};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn qr_spam_creates_no_more_tokens_than_the_limits_allow() {
    // Behind a trusted proxy, so the test can speak for many client addresses.
    let app = TestApp::builder().trusting_loopback_proxy().spawn().await;
    let clinic = app.clinic("spammed").await;
    app.db
        .query_one(
            "SELECT qlink.update_business($1, settings => '{\"daily_token_limit\": 60, \"daily_message_limit\": 25}')",
            &[&clinic],
        )
        .await
        .unwrap();
    let client = plain();
    let url = app.url("/api/v1/clinics/spammed/tokens");

    // 1,000 requests from one address, each with a fresh phone: 3 tokens (ip_tokens_per_10min).
    let mut statuses = std::collections::HashMap::new();
    let mut tasks = futures::stream::FuturesUnordered::new();
    for n in 0..1000u32 {
        let (client, url) = (client.clone(), url.clone());
        tasks.push(async move {
            client
                .post(url)
                .header("x-forwarded-for", "203.0.113.66")
                .json(&json!({"patient_name": format!("Spam {n}"), "patient_phone": format!("9{:09}", n)}))
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        });
        if tasks.len() >= 32 {
            use futures::StreamExt;
            *statuses.entry(tasks.next().await.unwrap()).or_insert(0) += 1;
        }
    }
    use futures::StreamExt;
    while let Some(s) = tasks.next().await {
        *statuses.entry(s).or_insert(0) += 1;
    }
    assert_eq!(statuses.get(&201), Some(&3), "{statuses:?}");
    assert_eq!(statuses.get(&429), Some(&997), "{statuses:?}");

    // One phone from 300 addresses: one token (max_tokens_per_phone_per_day).
    let mut created = 0;
    for n in 0..300u32 {
        let r = client
            .post(&url)
            .header("x-forwarded-for", format!("198.51.{}.{}", n / 250, n % 250 + 1))
            .json(&json!({"patient_name": "Same phone", "patient_phone": "9876500000"}))
            .send()
            .await
            .unwrap();
        match r.status().as_u16() {
            201 => created += 1,
            429 => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(created, 1);

    // Many addresses and phones: the clinic's daily limit (60) caps the day.
    for n in 0..100u32 {
        let r = client
            .post(&url)
            .header("x-forwarded-for", format!("192.0.2.{}", n + 1))
            .json(&json!({"patient_name": "Crowd", "patient_phone": format!("8{:09}", n)}))
            .send()
            .await
            .unwrap();
        assert!([201, 429].contains(&r.status().as_u16()));
    }
    let (tokens, queued, skipped): (i64, i64, i64) = {
        let r = app
            .db
            .query_one(
                "SELECT (SELECT count(*) FROM qlink.tokens), \
                        (SELECT count(*) FROM qlink.message_logs WHERE status <> 'SKIPPED'), \
                        (SELECT count(*) FROM qlink.message_logs WHERE reason = 'daily_message_limit')",
                &[],
            )
            .await
            .unwrap();
        (r.get(0), r.get(1), r.get(2))
    };
    assert_eq!(tokens, 60, "the daily token limit held");
    // The WhatsApp budget (25 a day) held: the rest were recorded as SKIPPED, not sent.
    assert_eq!(queued, 25);
    assert_eq!(skipped, 35);
}
