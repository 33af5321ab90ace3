//! The seed's day at scale, compressed in time: clinics × tokens taken through the public
//! API, receptionists driving their queues over HTTP (NEXT mostly; SKIP, RECALL, UNDO,
//! CANCEL and emergencies sometimes), thousands of patient pages polling with the real
//! backoff, every message through the fake WhatsApp API — then a full invariant check.
//! The server is the real `qlink serve` binary (release), so its memory can be measured.

use crate::setup;
use hdrhistogram::Histogram;
use qlink_tests::fake_whatsapp::FakeWhatsApp;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

#[derive(Default)]
struct Latencies(Mutex<HashMap<&'static str, Histogram<u64>>>);

impl Latencies {
    fn record(&self, what: &'static str, started: Instant) {
        let mut map = self.0.lock().unwrap();
        let h = map.entry(what).or_insert_with(|| Histogram::new_with_bounds(1, 120_000_000, 3).unwrap());
        h.saturating_record((started.elapsed().as_micros() as u64).max(1));
    }
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

pub async fn bench(admin_url: &str, clinics: usize, tokens_per_clinic: usize, viewers: usize) -> anyhow::Result<()> {
    let wall = Instant::now();
    let db = setup::fresh_database(admin_url, "qlink_bench").await?;
    let owner = setup::connect(&db).await?;
    let password = "bench day password";
    let hash = qlink_server::accounts::hash_password(password)?;
    let mut ids = Vec::with_capacity(clinics);
    for c in 0..clinics {
        let id: uuid::Uuid = owner
            .query_one(
                "SELECT qlink.create_business($1, $2, settings => jsonb_build_object( \
                    'daily_token_limit', $3::int, 'ip_tokens_per_10min', 1000, 'max_tokens_per_phone_per_day', 5))",
                &[&format!("day-{c}"), &format!("Day clinic {c}"), &((tokens_per_clinic + 50) as i32)],
            )
            .await?
            .get(0);
        owner
            .query_one(
                "SELECT qlink.create_staff_user($1, $2, 'STAFF', $3)",
                &[&format!("desk@day-{c}.test"), &hash, &id],
            )
            .await?;
        ids.push(id);
    }
    let fake = FakeWhatsApp::start().await;
    let wa = fake.whatsapp_args();
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let base = format!("http://127.0.0.1:{port}");
    let bin = std::env::var("QLINK_BIN").unwrap_or_else(|_| {
        format!("{}/release/qlink", std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into()))
    });
    let mut server = Command::new(&bin)
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .env("DATABASE_URL", &db)
        .env("QLINK_PUBLIC_URL", &base)
        .env("QLINK_TRUSTED_PROXIES", "127.0.0.1/32")
        .env("QLINK_DB_POOL_SIZE", "24")
        .env("WHATSAPP_API_BASE", &wa.whatsapp_api_base)
        .env("WHATSAPP_PHONE_NUMBER_ID", wa.whatsapp_phone_number_id.clone().unwrap())
        .env("WHATSAPP_ACCESS_TOKEN", wa.whatsapp_access_token.clone().unwrap().expose())
        .env("QLINK_WHATSAPP_RATE", "1000")
        .env("QLINK_WORKER_CONCURRENCY", "64")
        .env("QLINK_WORKER_BATCH", "200")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let pid = server.id();
    let http = reqwest::Client::builder().pool_max_idle_per_host(2048).timeout(Duration::from_secs(60)).build()?;
    let ready = Instant::now();
    while http.get(format!("{base}/readyz")).send().await.map(|r| r.status() != 200).unwrap_or(true) {
        anyhow::ensure!(ready.elapsed() < Duration::from_secs(30), "qlink serve did not start ({bin})");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Receptionists log in (bearer tokens).
    let mut bearers = Vec::with_capacity(clinics);
    for c in 0..clinics {
        // Each receptionist from their own clinic's address (the login limit is per IP).
        let r: Value = http
            .post(format!("{base}/api/v1/auth/login"))
            .header("x-forwarded-for", format!("172.16.{}.{}", c / 250, c % 250 + 1))
            .json(&json!({"email": format!("desk@day-{c}.test"), "password": password, "issue_token": true}))
            .send()
            .await?
            .json()
            .await?;
        let token = r["token"].as_str().unwrap_or_default().to_string();
        anyhow::ensure!(!token.is_empty(), "login of clinic {c} failed: {r}");
        bearers.push(token);
    }
    let setup_secs = wall.elapsed().as_secs_f64();
    println!("\n### The seed's day: {clinics} clinics × {tokens_per_clinic} tokens, {viewers} patient pages polling\n");
    println!("set-up (database, {clinics} clinics and logins, server start): {setup_secs:.1} s");

    let lat = Arc::new(Latencies::default());
    let counts: Arc<[AtomicU64; 6]> = Arc::new(Default::default()); // tokens, actions, polls, 304s, refusals, errors
    let live_tokens: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let day_over = Arc::new(AtomicBool::new(false));
    // The receptionists' and patients' requests in flight at once (a busy morning).
    let gate = Arc::new(Semaphore::new(96));
    let day = Instant::now();

    // Patient pages: poll a live token with ETag and the page's backoff until it is done.
    let mut pollers = Vec::new();
    for v in 0..viewers {
        let (http, base, lat, counts, live, over) =
            (http.clone(), base.clone(), lat.clone(), counts.clone(), live_tokens.clone(), day_over.clone());
        pollers.push(tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(v as u64);
            tokio::time::sleep(Duration::from_millis(rng.gen_range(0..5000))).await;
            while !over.load(Ordering::Relaxed) {
                let token = {
                    let l = live.lock().unwrap();
                    if l.is_empty() {
                        None
                    } else {
                        Some(l[rng.gen_range(0..l.len())].clone())
                    }
                };
                let Some(token) = token else {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                };
                let (mut etag, mut wait) = (String::new(), 5.0f64);
                loop {
                    if over.load(Ordering::Relaxed) {
                        return;
                    }
                    let t = Instant::now();
                    let mut req = http.get(format!("{base}/api/v1/tokens/{token}"));
                    if !etag.is_empty() {
                        req = req.header("if-none-match", &etag);
                    }
                    let Ok(r) = req.send().await else {
                        counts[5].fetch_add(1, Ordering::Relaxed);
                        break;
                    };
                    lat.record("GET /api/v1/tokens/{id}", t);
                    counts[2].fetch_add(1, Ordering::Relaxed);
                    if r.status() == 304 {
                        counts[3].fetch_add(1, Ordering::Relaxed);
                        wait = (wait * 1.5).min(30.0);
                    } else if r.status() == 200 {
                        etag = r.headers().get("etag").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                        let s: Value = r.json().await.unwrap_or_default();
                        if !matches!(s["status"].as_str(), Some("WAITING") | Some("SERVING")) {
                            break; // served, skipped or cancelled: this page is done
                        }
                        wait = s["poll_after_seconds"].as_f64().unwrap_or(5.0).min(30.0);
                    } else {
                        counts[5].fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                    tokio::time::sleep(Duration::from_secs_f64(wait)).await;
                }
            }
        }));
    }

    // Clinics: patients arrive, the receptionist calls them; then the queue is worked off.
    let mut desks = Vec::new();
    for (c, clinic) in ids.iter().enumerate() {
        let _ = clinic;
        let (http, base, lat, counts, live, gate, bearer) = (
            http.clone(),
            base.clone(),
            lat.clone(),
            counts.clone(),
            live_tokens.clone(),
            gate.clone(),
            bearers[c].clone(),
        );
        desks.push(tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(1_000_000 + c as u64);
            let mut mine: Vec<String> = Vec::new();
            let act = |action: &'static str, token: Option<String>| {
                let (http, base, bearer, lat, counts, gate) = (http.clone(), base.clone(), bearer.clone(), lat.clone(), counts.clone(), gate.clone());
                async move {
                    let _permit = gate.acquire().await.unwrap();
                    let t = Instant::now();
                    let r = http
                        .post(format!("{base}/api/v1/staff/queue/actions"))
                        .bearer_auth(&bearer)
                        .json(&json!({"action": action, "token_id": token}))
                        .send()
                        .await;
                    lat.record("POST /api/v1/staff/queue/actions", t);
                    match r.map(|r| r.status().as_u16()) {
                        Ok(200) => counts[1].fetch_add(1, Ordering::Relaxed),
                        Ok(409) => counts[4].fetch_add(1, Ordering::Relaxed),
                        _ => counts[5].fetch_add(1, Ordering::Relaxed),
                    };
                }
            };
            for n in 0..tokens_per_clinic {
                // A patient scans the QR code.
                {
                    let _permit = gate.acquire().await.unwrap();
                    let t = Instant::now();
                    let r = http
                        .post(format!("{base}/api/v1/clinics/day-{c}/tokens"))
                        .header("x-forwarded-for", format!("10.{}.{}.{}", c % 250, n / 250, n % 250 + 1))
                        .json(&json!({"patient_name": format!("Patient {n}"), "patient_phone": format!("9{:03}{:06}", c % 1000, n)}))
                        .send()
                        .await;
                    lat.record("POST /api/v1/clinics/{slug}/tokens", t);
                    match r {
                        Ok(r) if r.status() == 201 => {
                            counts[0].fetch_add(1, Ordering::Relaxed);
                            let v: Value = r.json().await.unwrap_or_default();
                            if let Some(id) = v["token_id"].as_str() {
                                mine.push(id.to_string());
                                live.lock().unwrap().push(id.to_string());
                            }
                        }
                        Ok(r) if r.status() == 429 => {
                            counts[4].fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {
                            counts[5].fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                // The receptionist, a little behind the arrivals.
                match rng.gen_range(0..100) {
                    0..=79 if n > 3 => act("NEXT", None).await,
                    80..=82 => act("SKIP", None).await,
                    83..=84 => act("UNDO", None).await,
                    85..=86 if !mine.is_empty() => act("CANCEL", Some(mine[rng.gen_range(0..mine.len())].clone())).await,
                    87 if !mine.is_empty() => act("RECALL", Some(mine[rng.gen_range(0..mine.len())].clone())).await,
                    88 => {
                        let _permit = gate.acquire().await.unwrap();
                        let t = Instant::now();
                        let r = http
                            .post(format!("{base}/api/v1/staff/tokens"))
                            .bearer_auth(&bearer)
                            .json(&json!({"patient_name": "Emergency", "is_priority": true}))
                            .send()
                            .await;
                        lat.record("POST /api/v1/staff/tokens", t);
                        if matches!(r.map(|r| r.status().as_u16()), Ok(201)) {
                            counts[1].fetch_add(1, Ordering::Relaxed);
                        } else {
                            counts[5].fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    _ => {}
                }
            }
            // Evening: work off the queue.
            for _ in 0..(tokens_per_clinic + 60) {
                let _permit = gate.acquire().await.unwrap();
                let t = Instant::now();
                let r = http
                    .post(format!("{base}/api/v1/staff/queue/actions"))
                    .bearer_auth(&bearer)
                    .json(&json!({"action": "NEXT"}))
                    .send()
                    .await;
                lat.record("POST /api/v1/staff/queue/actions", t);
                let Ok(r) = r else {
                    counts[5].fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                counts[1].fetch_add(1, Ordering::Relaxed);
                let v: Value = r.json().await.unwrap_or_default();
                if v["waiting_count"] == 0 && v["serving_token_id"].is_null() {
                    break;
                }
            }
        }));
    }
    let mut peak_rss = 0;
    for d in desks {
        d.await?;
        peak_rss = peak_rss.max(rss_kib(pid, "VmRSS:"));
    }
    let queue_secs = day.elapsed().as_secs_f64();
    day_over.store(true, Ordering::Relaxed);
    for p in pollers {
        p.abort();
    }
    // The worker drains the outbox.
    let drain_started = Instant::now();
    loop {
        let due: i64 = owner
            .query_one("SELECT count(*) FROM qlink.message_logs WHERE status IN ('PENDING', 'FAILED')", &[])
            .await?
            .get(0);
        if due == 0 || drain_started.elapsed() > Duration::from_secs(900) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let drain_secs = drain_started.elapsed().as_secs_f64();
    let hwm = rss_kib(pid, "VmHWM:");
    let rss_now = rss_kib(pid, "VmRSS:");
    let total_secs = day.elapsed().as_secs_f64();
    let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
    let _ = server.wait();

    let c = |i: usize| counts[i].load(Ordering::Relaxed);
    println!("queues worked off in {queue_secs:.1} s; outbox drained {drain_secs:.1} s later; whole day {total_secs:.1} s (plus set-up)");
    println!(
        "\ntokens taken: {} · staff actions: {} · status polls: {} ({} answered 304) · expected refusals (409/429): {} · errors: {}",
        c(0), c(1), c(2), c(3), c(4), c(5)
    );
    println!(
        "throughput: {:.0} writes/s, {:.0} polls/s; server RSS peak {:.0} MB (at the end {:.0} MB)",
        (c(0) + c(1)) as f64 / queue_secs,
        c(2) as f64 / queue_secs,
        hwm as f64 / 1024.0,
        rss_now.max(peak_rss) as f64 / 1024.0
    );
    println!("\n| endpoint | requests | p50 ms | p99 ms | max ms |\n|---|---:|---:|---:|---:|");
    {
        let map = lat.0.lock().unwrap();
        let mut names: Vec<_> = map.keys().copied().collect();
        names.sort();
        for name in names {
            let h = &map[name];
            println!(
                "| {name} | {} | {:.1} | {:.1} | {:.1} |",
                h.len(),
                h.value_at_quantile(0.5) as f64 / 1000.0,
                h.value_at_quantile(0.99) as f64 / 1000.0,
                h.max() as f64 / 1000.0
            );
        }
    }
    // The invariants of the whole day.
    let check = |sql: &'static str| {
        let owner = &owner;
        async move { owner.query_one(sql, &[]).await.map(|r| r.get::<_, i64>(0)) }
    };
    let violations = [
        ("tokens not in a final state", check("SELECT count(*) FROM qlink.tokens WHERE status NOT IN ('SERVED', 'SKIPPED', 'CANCELLED')").await?),
        ("sessions with more than one SERVING", check("SELECT count(*) FROM (SELECT session_id FROM qlink.tokens WHERE status = 'SERVING' GROUP BY 1 HAVING count(*) > 1) x").await?),
        ("sessions whose numbers are not 1..last (reused or skipped)", check("SELECT count(*) FROM qlink.sessions s WHERE s.last_token_number <> (SELECT count(DISTINCT token_number) FROM qlink.tokens t WHERE t.session_id = s.id) OR s.last_token_number <> (SELECT coalesce(max(token_number), 0) FROM qlink.tokens t WHERE t.session_id = s.id)").await?),
        ("sessions whose kept line length is wrong", check("SELECT count(*) FROM qlink.sessions s WHERE s.waiting_count <> (SELECT count(*) FROM qlink.tokens t WHERE t.session_id = s.id AND t.status = 'WAITING')").await?),
        ("messages not in a terminal state", check("SELECT count(*) FROM qlink.message_logs WHERE status NOT IN ('SENT', 'DELIVERED', 'READ', 'PERMANENTLY_FAILED', 'SKIPPED')").await?),
    ];
    let sent = check("SELECT count(*) FROM qlink.message_logs WHERE status = 'SENT'").await?;
    let skipped = check("SELECT count(*) FROM qlink.message_logs WHERE status = 'SKIPPED'").await?;
    println!("\nmessages: {sent} sent through the fake API (it received {}), {skipped} skipped by the clinics' daily budgets", fake.received().len());
    println!("\n| invariant check | violations |\n|---|---:|");
    let mut total = 0;
    for (name, n) in violations {
        println!("| {name} | {n} |");
        total += n;
    }
    println!("\ninvariant violations: **{total}**");
    anyhow::ensure!(total == 0, "the day broke an invariant");
    Ok(())
}
