//! `qlink-bench`: QLink's benchmarks. Every number is reported beside a baseline measured
//! in the same run, on the same database and machine:
//!
//! - `poll`: `GET /api/v1/tokens/{id}` (and its 304 path) vs a baseline endpoint doing one
//!   prepared single-row SELECT through the same axum + deadpool + middleware stack;
//! - `next`: `qlink.queue_action(NEXT)` on 100 clinics and on one clinic vs a PL/pgSQL
//!   function doing the same lock + 2 updates + outbox insert (defined here, not in the
//!   product), and with the outbox wake-up (NOTIFY after commit) on and off;
//! - `create`: `qlink.create_token` at a rush over 100 clinics vs a PL/pgSQL insert baseline;
//! - `senders`: three clinics' own numbers at different rates draining one backlog, each
//!   against its own configured rate and the fastest alone;
//! - `reports`: a clinic's year of reports and the platform report over 1,000 clinics × 90
//!   days vs a `SELECT 1`, a primary-key read and the bare read of the same rollup rows.
//!
//! The baselines live only in this crate. Results print as Markdown (see BENCHMARKS.md).

mod day;
mod eta;
mod load;
mod messaging;
mod reports;
mod senders;
mod setup;
mod slowloris;

use clap::{Parser, Subcommand};
use load::{closed_loop, open_loop, Stats};
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "qlink-bench", about = "QLink benchmarks against same-run baselines")]
struct Cli {
    /// A superuser connection to the maintenance database; the benchmark creates and drops
    /// its own database `qlink_bench`.
    #[arg(long, env = "QLINK_BENCH_ADMIN_URL", default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    admin_url: String,
    /// Seconds per measured run.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Status poll vs a raw single-row SELECT endpoint.
    Poll {
        /// Concurrent clients for the throughput runs.
        #[arg(long, default_value_t = 32)]
        clients: usize,
        /// Fixed rate for the latency comparison.
        #[arg(long, default_value_t = 2000.0)]
        rate: f64,
    },
    /// NEXT vs a PL/pgSQL baseline, 100 clinics and one clinic, wake-up on and off.
    Next {
        #[arg(long, default_value_t = 8)]
        clients: usize,
    },
    /// create_token at a rush over 100 clinics vs a PL/pgSQL insert baseline.
    Create {
        #[arg(long, default_value_t = 8)]
        clients: usize,
    },
    /// The worker against the fake WhatsApp API at 80/s and 1,000/s sender limits.
    Worker,
    /// A backlog over three clinics' own numbers at 20, 40 and 60/s: each paced at its own rate.
    Senders {
        #[arg(long, default_value_t = 10_000)]
        messages: i64,
    },
    /// The seed's day: clinics × tokens, receptionists, polling patients, all messages.
    Day {
        #[arg(long, default_value_t = 1000)]
        clinics: usize,
        #[arg(long, default_value_t = 300)]
        tokens: usize,
        #[arg(long, default_value_t = 10_000)]
        viewers: usize,
    },
    /// The reports (SPEC §10): a clinic's year, the platform over 1,000 clinics × 90 days.
    Reports {
        #[arg(long, default_value_t = 1000)]
        clinics: usize,
        /// Runs of each clinic query (the platform queries run a fifth as many).
        #[arg(long, default_value_t = 200)]
        iterations: usize,
    },
    /// ETA calibration (SPEC §12): coverage and width of the calibrated range beside the
    /// 0.1 rule, over many replayed clinic days.
    Eta {
        #[arg(long, default_value_t = 200)]
        days: usize,
        #[arg(long, default_value_t = 20261203)]
        seed: u64,
    },
    /// Slow clients (SPEC §13): status polls while slowloris connections attack, beside
    /// the same polls without them.
    Slowloris {
        #[arg(long, default_value_t = 1000)]
        attackers: usize,
    },
    /// poll, next, create and worker, in one run.
    All,
}

fn row(name: &str, s: &Stats) -> String {
    format!(
        "| {name} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {} |",
        s.rate(),
        s.p50_ms,
        s.p90_ms,
        s.p99_ms,
        s.max_ms,
        s.errors
    )
}

const HEADER: &str =
    "| run | req/s | p50 ms | p90 ms | p99 ms | max ms | errors |\n|---|---:|---:|---:|---:|---:|---:|";

async fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().next().map(|l| l.split_whitespace().nth(1).unwrap_or("0").parse::<u64>().unwrap_or(0)))
        .unwrap_or(0);
    format!(
        "{cores} cores ({cpu}), {:.0} GiB RAM; load generator, server and PostgreSQL on the same machine",
        mem as f64 / 1048576.0
    )
}

async fn bench_poll(admin_url: &str, seconds: u64, clients: usize, rate: f64) -> anyhow::Result<()> {
    let db = setup::fresh_database(admin_url, "qlink_bench").await?;
    let owner = setup::connect(&db).await?;
    let clinics = setup::clinics(&owner, 100, 10).await?;
    // Some queues are moving, so statuses vary.
    for c in clinics.iter().take(50) {
        owner.query_one("SELECT * FROM qlink.queue_action($1, 'NEXT')", &[c]).await?;
    }
    let ids: Vec<uuid::Uuid> =
        owner.query("SELECT id FROM qlink.tokens", &[]).await?.iter().map(|r| r.get(0)).collect();
    let server = setup::serve_with_baseline(&db).await?;
    let http = reqwest::Client::builder().pool_max_idle_per_host(1024).build()?;
    let ids = Arc::new(ids);
    let base = server.base.clone();
    // The ETag of each token, for the 304 runs.
    let mut etags = Vec::new();
    for id in ids.iter() {
        let r = http.get(format!("{base}/api/v1/tokens/{id}")).send().await?;
        etags.push(r.headers()["etag"].to_str()?.to_string());
    }
    let etags = Arc::new(etags);
    // Each endpoint must answer correctly before it is measured.
    let check = http.get(format!("{base}/bench/baseline/{}", ids[0])).send().await?;
    anyhow::ensure!(check.status() == 200, "baseline answered {}: {}", check.status(), check.text().await?);
    let check = http.get(format!("{base}/api/v1/tokens/{}", ids[0])).send().await?;
    anyhow::ensure!(check.status() == 200, "status poll answered {}", check.status());

    let product = {
        let (http, ids, base) = (http.clone(), ids.clone(), base.clone());
        move |i: u64| {
            let (http, ids, base) = (http.clone(), ids.clone(), base.clone());
            async move {
                let id = ids[(i as usize * 7919) % ids.len()];
                match http.get(format!("{base}/api/v1/tokens/{id}")).send().await {
                    Ok(r) if r.status() == 200 => r.bytes().await.is_ok(),
                    _ => false,
                }
            }
        }
    };
    let not_modified = {
        let (http, ids, etags, base) = (http.clone(), ids.clone(), etags.clone(), base.clone());
        move |i: u64| {
            let (http, ids, etags, base) = (http.clone(), ids.clone(), etags.clone(), base.clone());
            async move {
                let k = (i as usize * 7919) % ids.len();
                let r = http
                    .get(format!("{base}/api/v1/tokens/{}", ids[k]))
                    .header("if-none-match", &etags[k])
                    .send()
                    .await;
                matches!(r, Ok(r) if r.status() == 304)
            }
        }
    };
    let baseline = {
        let (http, ids, base) = (http.clone(), ids.clone(), base.clone());
        move |i: u64| {
            let (http, ids, base) = (http.clone(), ids.clone(), base.clone());
            async move {
                let id = ids[(i as usize * 7919) % ids.len()];
                match http.get(format!("{base}/bench/baseline/{id}")).send().await {
                    Ok(r) if r.status() == 200 => r.bytes().await.is_ok(),
                    _ => false,
                }
            }
        }
    };
    let d = Duration::from_secs(seconds);
    let closed = |f: Arc<dyn Fn(u64) -> futures::future::BoxFuture<'static, bool> + Send + Sync>| {
        closed_loop(clients, d, move |_, i| f(i))
    };
    fn boxed<F, Fut>(f: F) -> Arc<dyn Fn(u64) -> futures::future::BoxFuture<'static, bool> + Send + Sync>
    where
        F: Fn(u64) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = bool> + Send + 'static,
    {
        Arc::new(move |i| Box::pin(f(i)))
    }
    let (p, n, b) = (boxed(product), boxed(not_modified), boxed(baseline));
    // Warm up pools, plans and caches.
    closed_loop(clients, Duration::from_secs(2), {
        let p = p.clone();
        move |_, i| p(i)
    })
    .await;
    closed_loop(clients, Duration::from_secs(2), {
        let b = b.clone();
        move |_, i| b(i)
    })
    .await;

    let base_max = closed(b.clone()).await;
    let prod_max = closed(p.clone()).await;
    let nm_max = closed(n.clone()).await;
    println!("\n### Status poll: throughput ({clients} clients, closed loop, {seconds} s each)\n\n{HEADER}");
    println!("{}", row("baseline: one prepared SELECT, same stack", &base_max));
    println!("{}", row("GET /api/v1/tokens/{id} (200)", &prod_max));
    println!("{}", row("GET /api/v1/tokens/{id} (304, If-None-Match)", &nm_max));
    println!(
        "\nratio status poll / baseline: **{:.0}%** (304 path: {:.0}%)",
        100.0 * prod_max.rate() / base_max.rate(),
        100.0 * nm_max.rate() / base_max.rate()
    );

    let fixed = |f: Arc<dyn Fn(u64) -> futures::future::BoxFuture<'static, bool> + Send + Sync>, r: f64| {
        open_loop(r, d, move |i| f(i))
    };
    let base_fixed = fixed(b.clone(), rate).await;
    let prod_fixed = fixed(p.clone(), rate).await;
    let nm_fixed = fixed(n.clone(), rate).await;
    println!("\n### Status poll: latency at a fixed {rate:.0} req/s (open loop, {seconds} s each)\n\n{HEADER}");
    println!("{}", row("baseline", &base_fixed));
    println!("{}", row("status poll (200)", &prod_fixed));
    println!("{}", row("status poll (304)", &nm_fixed));

    println!("\n### Status poll: highest fixed rate with p99 < 25 ms (open loop, 5 s steps)\n\n{HEADER}");
    let mut best = 0.0;
    for r in [1000.0, 2000.0, 4000.0, 6000.0, 8000.0, 10000.0, 12000.0, 14000.0, 16000.0, 20000.0] {
        let s = open_loop(r, Duration::from_secs(5), {
            let p = p.clone();
            move |i| p(i)
        })
        .await;
        println!("{}", row(&format!("status poll at {r:.0}/s"), &s));
        if s.p99_ms < 25.0 && s.errors == 0 && s.rate() > 0.95 * r {
            best = r;
        } else {
            break;
        }
    }
    println!("\nhighest rate with p99 < 25 ms: **{best:.0} req/s**");
    server.stop();
    Ok(())
}

async fn bench_next(admin_url: &str, seconds: u64, clients: usize) -> anyhow::Result<()> {
    println!("\n### NEXT ({clients} connections, closed loop, {seconds} s each)\n\n{HEADER}");
    let d = Duration::from_secs(seconds);
    let mut results = Vec::new();
    for (label, clinics, variant) in [
        ("baseline PL/pgSQL, 100 clinics", 100, setup::Next::Baseline),
        ("qlink.queue_action NEXT, 100 clinics", 100, setup::Next::Product),
        ("  + NOTIFY after commit (the wake-up), 100 clinics", 100, setup::Next::ProductNotifyAfter),
        ("  + NOTIFY inside the transaction (rejected design), 100 clinics", 100, setup::Next::ProductNotifyInside),
        ("baseline PL/pgSQL, 1 clinic", 1, setup::Next::Baseline),
        ("qlink.queue_action NEXT, 1 clinic", 1, setup::Next::Product),
        ("  + NOTIFY after commit, 1 clinic", 1, setup::Next::ProductNotifyAfter),
    ] {
        let db = setup::fresh_database(admin_url, "qlink_bench").await?;
        let owner = setup::connect(&db).await?;
        setup::install_baselines(&owner).await?;
        // Enough waiting patients that every NEXT calls someone for the whole run.
        let per_clinic = if clinics == 1 { 20_000 } else { 400 };
        let ids = Arc::new(setup::clinics(&owner, clinics, per_clinic).await?);
        let pool = setup::pool(&db, clients)?;
        let stats = closed_loop(clients, d, {
            let (pool, ids) = (pool.clone(), ids.clone());
            move |c, i| {
                let (pool, ids) = (pool.clone(), ids.clone());
                async move {
                    let clinic = ids[(c * 7 + i as usize * 13) % ids.len()];
                    setup::next(&pool, clinic, variant).await.is_ok()
                }
            }
        })
        .await;
        println!("{}", row(label, &stats));
        results.push((label, stats));
    }
    let rate = |i: usize| results[i].1.rate();
    println!(
        "\nratios: NEXT/baseline on 100 clinics **{:.0}%**, on one clinic **{:.0}%**; \
         wake-up after commit costs **{:.0}%** (100 clinics) and **{:.0}%** (one clinic); \
         NOTIFY inside the transaction would cost {:.0}%",
        100.0 * rate(1) / rate(0),
        100.0 * rate(5) / rate(4),
        100.0 * (1.0 - rate(2) / rate(1)),
        100.0 * (1.0 - rate(6) / rate(5)),
        100.0 * (1.0 - rate(3) / rate(1)),
    );
    Ok(())
}

async fn bench_create(admin_url: &str, seconds: u64, clients: usize) -> anyhow::Result<()> {
    println!(
        "\n### create_token at a rush (100 clinics, {clients} connections, closed loop, {seconds} s each)\n\n{HEADER}"
    );
    let d = Duration::from_secs(seconds);
    let mut rates = Vec::new();
    for (label, product) in [
        ("baseline PL/pgSQL: lock + insert token + insert outbox", false),
        ("qlink.create_token (QR, per-IP limit)", true),
    ] {
        let db = setup::fresh_database(admin_url, "qlink_bench").await?;
        let owner = setup::connect(&db).await?;
        setup::install_baselines(&owner).await?;
        let ids = Arc::new(setup::clinics(&owner, 100, 0).await?);
        let pool = setup::pool(&db, clients)?;
        let stats =
            closed_loop(clients, d, {
                let (pool, ids) = (pool.clone(), ids.clone());
                move |c, i| {
                    let (pool, ids) = (pool.clone(), ids.clone());
                    async move {
                        setup::create(&pool, ids[(c * 31 + i as usize * 17) % ids.len()], c, i, product).await.is_ok()
                    }
                }
            })
            .await;
        println!("{}", row(label, &stats));
        rates.push(stats.rate());
    }
    println!("\nratio create_token / baseline: **{:.0}%**", 100.0 * rates[1] / rates[0]);
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    println!("## QLink benchmarks\n\nmachine: {}", machine().await);
    let pg = setup::connect(&cli.admin_url).await?.query_one("SELECT version()", &[]).await?.get::<_, String>(0);
    println!("database: {pg}");
    match cli.command {
        Command::Poll { clients, rate } => bench_poll(&cli.admin_url, cli.seconds, clients, rate).await?,
        Command::Next { clients } => bench_next(&cli.admin_url, cli.seconds, clients).await?,
        Command::Create { clients } => bench_create(&cli.admin_url, cli.seconds, clients).await?,
        Command::Worker => messaging::bench(&cli.admin_url, cli.seconds).await?,
        Command::Senders { messages } => senders::bench(&cli.admin_url, messages).await?,
        Command::Day { clinics, tokens, viewers } => day::bench(&cli.admin_url, clinics, tokens, viewers).await?,
        Command::Reports { clinics, iterations } => reports::bench(&cli.admin_url, clinics, iterations).await?,
        Command::Eta { days, seed } => eta::bench(&cli.admin_url, days, seed).await?,
        Command::Slowloris { attackers } => slowloris::bench(&cli.admin_url, cli.seconds, attackers).await?,
        Command::All => {
            bench_poll(&cli.admin_url, cli.seconds, 32, 2000.0).await?;
            bench_next(&cli.admin_url, cli.seconds, 8).await?;
            bench_create(&cli.admin_url, cli.seconds, 8).await?;
            messaging::bench(&cli.admin_url, cli.seconds).await?;
        }
    }
    Ok(())
}
