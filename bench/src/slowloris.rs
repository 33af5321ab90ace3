//! Slow clients (SPEC §13): the product's server as `qlink serve` runs it (a 10 s header
//! timeout, a connection cap) under a slowloris attack, beside the same load without one,
//! measured in the same run.
//!
//! - Patients poll their status at a fixed rate from 127.0.0.1, each poll on a new
//!   connection (a phone that opens the page).
//! - Attackers: connections that send half a request header, then one more header line
//!   every 2 s, and reconnect when the server closes them (after 100 ms when it closed
//!   them at once); from one address
//!   (127.0.0.2), or spread over 16 (127.0.1.1–16; Linux routes all of 127/8 to loopback).
//!
//! Reported: the polls' latency and failures without the attack, under an attack from one
//! address (the per-address cap, 128, holds it), and under one from 16 addresses against a
//! lowered total cap (what a distributed attack does when it can fill the cap); and how
//! long the server let each attacking connection live.

use crate::load::{open_loop, Stats};
use crate::setup;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

const POLL_RATE: f64 = 50.0;
const HEADER_TIMEOUT_SECS: u64 = 10;
/// `QLINK_MAX_CONNECTIONS_PER_IP`'s default.
const PER_ADDRESS: usize = 128;

#[derive(Default)]
struct Attack {
    opened: AtomicU64,
    refused: AtomicU64,
    /// How long each connection the server closed had lived.
    lifetimes: Mutex<Vec<Duration>>,
}

/// One attacker: connect, half a header, a line every 2 s; again when closed.
async fn attacker(addr: std::net::SocketAddr, from: std::net::IpAddr, attack: Arc<Attack>, stop: CancellationToken) {
    while !stop.is_cancelled() {
        let connected = async {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind(std::net::SocketAddr::new(from, 0))?;
            socket.connect(addr).await
        };
        let Ok(mut stream) = connected.await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        attack.opened.fetch_add(1, Ordering::Relaxed);
        let opened = Instant::now();
        if stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: bench\r\n").await.is_err() {
            attack.refused.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let mut buf = [0u8; 256];
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                // The request is never complete, so anything the server does (close, or
                // answer 408 and close) ends this connection.
                _ = stream.read(&mut buf) => {
                    let lived = opened.elapsed();
                    if lived < Duration::from_millis(100) {
                        attack.refused.fetch_add(1, Ordering::Relaxed);
                        // Refused at once: try again shortly (a loop with no pause is a
                        // connection flood, a different attack, for the firewall).
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    } else {
                        attack.lifetimes.lock().unwrap().push(lived);
                    }
                    break;
                }
                _ = tokio::time::sleep(Duration::from_secs(2)) => {
                    if stream.write_all(b"X-Slow: 1\r\n").await.is_err() {
                        attack.lifetimes.lock().unwrap().push(opened.elapsed());
                        break;
                    }
                }
            }
        }
    }
}

async fn polls(base: &str, ids: &Arc<Vec<uuid::Uuid>>, seconds: u64) -> anyhow::Result<Stats> {
    // No idle connections kept: every poll opens its own, as a patient's phone does.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .local_address(std::net::IpAddr::from([127, 0, 0, 1]))
        .timeout(Duration::from_secs(15))
        .build()?;
    let (base, ids) = (base.to_string(), ids.clone());
    Ok(open_loop(POLL_RATE, Duration::from_secs(seconds), move |i| {
        let (http, ids, base) = (http.clone(), ids.clone(), base.clone());
        async move {
            let id = ids[i as usize % ids.len()];
            matches!(http.get(format!("{base}/api/v1/tokens/{id}")).send().await, Ok(r) if r.status() == 200)
        }
    })
    .await)
}

fn row(label: &str, s: &Stats) -> String {
    format!(
        "| {label} | {} | {} ({:.1}%) | {:.1} | {:.1} | {:.1} |",
        s.requests,
        s.errors,
        100.0 * s.errors as f64 / s.requests.max(1) as f64,
        s.p50_ms,
        s.p99_ms,
        s.max_ms
    )
}

async fn under_attack(
    base: &str,
    ids: &Arc<Vec<uuid::Uuid>>,
    seconds: u64,
    attackers: usize,
    addresses: u8,
) -> anyhow::Result<(Stats, Arc<Attack>)> {
    let addr: std::net::SocketAddr = base.trim_start_matches("http://").parse()?;
    let attack = Arc::new(Attack::default());
    let stop = CancellationToken::new();
    let from = |i: usize| -> std::net::IpAddr {
        if addresses == 1 {
            [127, 0, 0, 2].into()
        } else {
            [127, 0, 1, 1 + (i % usize::from(addresses)) as u8].into()
        }
    };
    let tasks: Vec<_> =
        (0..attackers).map(|i| tokio::spawn(attacker(addr, from(i), attack.clone(), stop.clone()))).collect();
    // Let the attack fill up before the patients come.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let stats = polls(base, ids, seconds).await?;
    stop.cancel();
    for t in tasks {
        let _ = t.await;
    }
    Ok((stats, attack))
}

fn lifetimes(attack: &Attack) -> String {
    let mut l = attack.lifetimes.lock().unwrap().clone();
    l.sort();
    if l.is_empty() {
        return "none closed by the server during the run".into();
    }
    let at = |q: f64| l[((l.len() - 1) as f64 * q) as usize].as_secs_f64();
    format!("{} closed by the server after p50 {:.1} s, max {:.1} s", l.len(), at(0.5), at(1.0))
}

pub async fn bench(admin_url: &str, seconds: u64, attackers: usize) -> anyhow::Result<()> {
    let db = setup::fresh_database(admin_url, "qlink_bench").await?;
    let owner = setup::connect(&db).await?;
    setup::clinics(&owner, 1, 50).await?;
    let ids: Vec<uuid::Uuid> =
        owner.query("SELECT id FROM qlink.tokens", &[]).await?.iter().map(|r| r.get(0)).collect();
    let ids = Arc::new(ids);

    let server = setup::serve_with_limits(&db, HEADER_TIMEOUT_SECS, 2048, PER_ADDRESS).await?;
    let baseline = polls(&server.base, &ids, seconds).await?;
    let (attacked, attack) = under_attack(&server.base, &ids, seconds, attackers, 1).await?;
    server.stop();

    // Spread over 16 addresses against a lowered total cap: each address stays under its
    // own cap, together they hold every place, and new connections are closed at once
    // until the header timeout frees places. That attack is for the proxy in front.
    let cap = attackers / 2;
    let capped = setup::serve_with_limits(&db, HEADER_TIMEOUT_SECS, cap, PER_ADDRESS).await?;
    let (over_cap, over_attack) = under_attack(&capped.base, &ids, seconds, attackers, 16).await?;
    capped.stop();

    println!(
        "\n### Slow clients (slowloris) against `qlink serve` ({HEADER_TIMEOUT_SECS} s header timeout; \
         {POLL_RATE:.0} status polls/s, each on a new connection, {seconds} s per run)\n"
    );
    println!("| run | polls | failed | p50 ms | p99 ms | max ms |\n| --- | --- | --- | --- | --- | --- |");
    println!("{}", row("no attack (baseline)", &baseline));
    println!(
        "{}",
        row(
            &format!("{attackers} slow connections from one address (per-address cap {PER_ADDRESS}, cap 2048)"),
            &attacked
        )
    );
    println!("{}", row(&format!("{attackers} slow connections from 16 addresses (cap {cap})"), &over_cap));
    println!(
        "\np99 under the one-address attack / baseline: **{:.2}×**; one address: {} connections opened, {}; \
         16 addresses over the cap: {} opened, {} closed at once, {}",
        attacked.p99_ms / baseline.p99_ms.max(0.001),
        attack.opened.load(Ordering::Relaxed),
        lifetimes(&attack),
        over_attack.opened.load(Ordering::Relaxed),
        over_attack.refused.load(Ordering::Relaxed),
        lifetimes(&over_attack)
    );
    Ok(())
}
