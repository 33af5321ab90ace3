//! Helpers of the reliability tests (tests/tests/faults.rs):
//!
//! - [`Stack`]: the real `qlink serve` (with `QLINK_NO_WORKER=1`) and `qlink worker`
//!   binaries as child processes that can be SIGKILLed and restarted on the same port, each
//!   logging to its own file;
//! - [`Load`]: a bounded, paced load generator on loopback (patients taking tokens and
//!   polling their status, one receptionist per clinic pressing NEXT) whose [`Ledger`]
//!   records every request's outcome and latency and every acknowledged write;
//! - the checks: [`lost_acknowledgements`] (every 2xx the clients saw is in the database),
//!   [`wait_for_drained_outbox`] and [`delivery_report`] (every message in a terminal state,
//!   requests at the fake WhatsApp API counted per outbox row);
//! - PostgreSQL faults: [`terminate_backends`], and [`Cluster`] with its [`ClusterGuard`],
//!   which brings the shared cluster back up whatever happens to the test.

use crate::fake_whatsapp::{Received, ACCESS_TOKEN, API_VERSION, PHONE_NUMBER_ID};
use crate::{connect, qlink_bin};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Worker settings of every test stack: a short lease, so that rows held by a SIGKILLed
/// worker come back quickly, and a fast poll, so that a lost wake-up costs little.
pub const WORKER_LEASE_SECONDS: u64 = 2;
pub const WORKER_POLL_SECONDS: u64 = 1;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panicking load task must not hide the ledger from the test that reports on it.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The name of the database in a PostgreSQL URL.
pub fn database_name(db_url: &str) -> &str {
    db_url.rsplit('/').next().unwrap_or(db_url).split('?').next().unwrap_or_default()
}

/// An HTTP client for loopback only: no proxy from the environment, bounded requests.
pub fn loopback_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder().no_proxy().timeout(timeout).build().expect("HTTP client")
}

// ---------------------------------------------------------------------------------------
// The processes.

/// `qlink serve` and `qlink worker` processes over one database, the way they run in
/// production, pointed at a fake WhatsApp API. Every child is SIGKILLed when dropped.
pub struct Stack {
    pub db_url: String,
    /// `http://127.0.0.1:<port>`: fixed for the stack's life, so a restarted server is
    /// found where clients expect it.
    pub base: String,
    port: u16,
    whatsapp_base: String,
    worker_lease_seconds: u64,
    pub log_dir: PathBuf,
    server: Option<Child>,
    workers: Vec<Option<Child>>,
    /// Starts per log name, for the markers between a process's runs in its log.
    starts: HashMap<String, usize>,
}

impl Stack {
    /// A stack with room for `workers` worker processes; nothing is started yet.
    pub fn new(db_url: &str, whatsapp_base: &str, workers: usize) -> Stack {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let log_dir = std::env::temp_dir().join(format!("qlink-faults-{}", database_name(db_url)));
        std::fs::create_dir_all(&log_dir).expect("log directory");
        Stack {
            db_url: db_url.to_string(),
            base: format!("http://127.0.0.1:{port}"),
            port,
            whatsapp_base: whatsapp_base.to_string(),
            worker_lease_seconds: WORKER_LEASE_SECONDS,
            log_dir,
            server: None,
            workers: (0..workers).map(|_| None).collect(),
            starts: HashMap::new(),
        }
    }

    /// The lease workers started from now on use (the default is [`WORKER_LEASE_SECONDS`]).
    pub fn set_worker_lease(&mut self, seconds: u64) {
        self.worker_lease_seconds = seconds;
    }

    /// A `qlink` command with a clean environment: only what we set reaches the child (no
    /// proxy settings, no stray `QLINK_*` from the developer's shell).
    fn command(&mut self, log_name: &str) -> Command {
        let start = self.starts.entry(log_name.to_string()).or_insert(0);
        *start += 1;
        let path = self.log_dir.join(format!("{log_name}.log"));
        let mut log = OpenOptions::new().create(true).append(true).open(&path).expect("open log file");
        writeln!(log, "===== {log_name}: start #{start} =====").expect("write log file");
        let mut cmd = Command::new(qlink_bin());
        cmd.env_clear()
            .env("DATABASE_URL", &self.db_url)
            .env("QLINK_PUBLIC_URL", &self.base)
            .env("WHATSAPP_API_BASE", &self.whatsapp_base)
            .env("WHATSAPP_API_VERSION", API_VERSION)
            .env("WHATSAPP_PHONE_NUMBER_ID", PHONE_NUMBER_ID)
            .env("WHATSAPP_ACCESS_TOKEN", ACCESS_TOKEN)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().expect("log handle")))
            .stderr(Stdio::from(log));
        cmd
    }

    pub fn start_server(&mut self) {
        assert!(self.server.is_none(), "the server is already running");
        let child = self
            .command("server")
            .arg("serve")
            .env("QLINK_BIND", format!("127.0.0.1:{}", self.port))
            .env("QLINK_NO_WORKER", "1")
            .env("QLINK_DB_POOL_SIZE", "8")
            .spawn()
            .expect("start qlink serve");
        self.server = Some(child);
    }

    /// SIGKILL (no graceful shutdown: requests in flight die with it) and reap.
    pub fn kill_server(&mut self) {
        let mut child = self.server.take().expect("the server is running");
        child.kill().expect("SIGKILL qlink serve"); // std's kill() is SIGKILL on Unix
        child.wait().expect("reap qlink serve");
    }

    pub fn worker_slots(&self) -> usize {
        self.workers.len()
    }

    pub fn start_worker(&mut self, slot: usize) {
        assert!(self.workers[slot].is_none(), "worker {slot} is already running");
        let lease = self.worker_lease_seconds.to_string();
        let child = self
            .command(&format!("worker-{slot}"))
            .arg("worker")
            .env("QLINK_WHATSAPP_RATE", "250")
            .env("QLINK_WORKER_CONCURRENCY", "4")
            .env("QLINK_WORKER_POLL_SECONDS", WORKER_POLL_SECONDS.to_string())
            .env("QLINK_WORKER_LEASE_SECONDS", lease)
            .env("QLINK_WORKER_BATCH", "50")
            .spawn()
            .expect("start qlink worker");
        self.workers[slot] = Some(child);
    }

    pub fn kill_worker(&mut self, slot: usize) {
        let mut child = self.workers[slot].take().expect("the worker is running");
        child.kill().expect("SIGKILL qlink worker");
        child.wait().expect("reap qlink worker");
    }

    /// Panics if a process we started has exited on its own (a crash is a finding).
    pub fn assert_alive(&mut self) {
        let mut dead = Vec::new();
        if let Some(server) = &mut self.server {
            if let Some(status) = server.try_wait().expect("poll qlink serve") {
                dead.push(format!("qlink serve exited: {status}"));
            }
        }
        for (slot, worker) in self.workers.iter_mut().enumerate() {
            if let Some(status) = worker.as_mut().and_then(|w| w.try_wait().expect("poll qlink worker")) {
                dead.push(format!("qlink worker {slot} exited: {status}"));
            }
        }
        assert!(dead.is_empty(), "{}; logs in {}", dead.join("; "), self.log_dir.display());
    }

    /// Polls `/readyz` until it answers 200; returns how long that took. Panics after
    /// `timeout`.
    pub async fn wait_ready(&self, timeout: Duration) -> Duration {
        let started = Instant::now();
        let http = loopback_client(Duration::from_secs(1));
        loop {
            if let Ok(r) = http.get(format!("{}/readyz", self.base)).send().await {
                if r.status() == 200 {
                    return started.elapsed();
                }
            }
            assert!(
                started.elapsed() < timeout,
                "qlink serve not ready within {timeout:?}; logs in {}",
                self.log_dir.display()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Log lines of every process that contain `needle`.
    pub fn log_lines_containing(&self, needle: &str) -> Vec<String> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(&self.log_dir).expect("log directory").flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            let name = entry.file_name().to_string_lossy().to_string();
            found.extend(text.lines().filter(|l| l.contains(needle)).map(|l| format!("{name}: {l}")));
        }
        found
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        for mut child in self.server.take().into_iter().chain(self.workers.iter_mut().filter_map(Option::take)) {
            let _ = child.kill();
            let _ = child.wait();
        }
        // The logs are kept when the test failed (they are named in its messages).
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.log_dir);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Clinics and logins.

/// A clinic and its receptionist's bearer token.
#[derive(Clone, Debug)]
pub struct Receptionist {
    pub slug: String,
    pub business_id: Uuid,
    pub bearer: String,
}

pub const STAFF_PASSWORD: &str = "correct horse battery";

/// Limits high enough that the load generator never meets a refusal: all patients share
/// one IP (loopback), and every attempt uses a fresh phone number.
pub fn load_clinic_settings() -> Value {
    json!({
        "daily_token_limit": 10_000,
        "daily_message_limit": 100_000,
        "ip_tokens_per_10min": 10_000,
        "reminder_at_position": 2,
    })
}

/// Creates clinics `<prefix>-0..n` with a staff login each (SQL, as the owner).
pub async fn create_clinics(db_url: &str, prefix: &str, n: usize) -> Vec<(String, Uuid)> {
    let db = connect(db_url).await;
    let hash = qlink_server::accounts::hash_password(STAFF_PASSWORD).expect("hash");
    // A load messages hundreds of new patients a day from the installation's number: an
    // account at Meta's top tier, not the 250 of a new number (which would hold most back).
    db.query_one("SELECT qlink.set_recipient_limit('installation', 1000000)", &[]).await.expect("set_recipient_limit");
    // Every patient of a load comes from loopback, to every clinic: no per-address window.
    db.query_one("SELECT qlink.set_intake_limit_across_clinics(100000)", &[])
        .await
        .expect("set_intake_limit_across_clinics");
    let mut clinics = Vec::new();
    for i in 0..n {
        let slug = format!("{prefix}-{i}");
        let id = crate::create_clinic(&db, &slug, load_clinic_settings()).await;
        db.query_one(
            "SELECT qlink.create_staff_user($1, $2, 'STAFF', $3)",
            &[&format!("staff@{slug}.test"), &hash, &id],
        )
        .await
        .expect("create staff user");
        clinics.push((slug, id));
    }
    clinics
}

/// Logs each clinic's receptionist in through the API, as an API client (bearer token:
/// it lives in the database, so it survives server restarts).
pub async fn log_in(base: &str, clinics: &[(String, Uuid)]) -> Vec<Receptionist> {
    let http = loopback_client(Duration::from_secs(10));
    let mut out = Vec::new();
    for (slug, id) in clinics {
        let r = http
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"email": format!("staff@{slug}.test"), "password": STAFF_PASSWORD, "issue_token": true}))
            .send()
            .await
            .expect("login request");
        assert_eq!(r.status(), 200, "login for {slug}");
        let body: Value = r.json().await.expect("login body");
        let bearer = body["token"].as_str().expect("bearer token").to_string();
        out.push(Receptionist { slug: slug.clone(), business_id: *id, bearer });
    }
    out
}

// ---------------------------------------------------------------------------------------
// The load generator.

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    /// `POST /api/v1/clinics/{slug}/tokens` (a patient scans the QR code).
    TakeToken,
    /// `GET /api/v1/tokens/{id}` (a waiting patient's page polls).
    Poll,
    /// `POST /api/v1/staff/queue/actions {"action":"NEXT"}` (the receptionist).
    Next,
}

impl Op {
    pub const ALL: [Op; 3] = [Op::TakeToken, Op::Poll, Op::Next];

    pub fn is_write(self) -> bool {
        matches!(self, Op::TakeToken | Op::Next)
    }

    pub fn label(self) -> &'static str {
        match self {
            Op::TakeToken => "take token",
            Op::Poll => "status poll",
            Op::Next => "NEXT",
        }
    }
}

/// How one request ended, as the client saw it.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// 2xx with the expected body.
    Ok,
    /// 503 `{"error":{"code":"unavailable",..}}` with `Retry-After`: the documented answer
    /// while the database cannot be reached.
    Unavailable,
    /// Any other HTTP answer (a 500, a 404 for a token we were given, a malformed body…).
    Unexpected { status: u16, body: String },
    /// No HTTP answer: connection refused or reset (the server process was down).
    NoAnswer(String),
    /// No answer within the client's timeout: a hang.
    TimedOut,
}

#[derive(Clone, Debug)]
pub struct Sample {
    pub op: Op,
    pub started: Instant,
    pub latency: Duration,
    pub outcome: Outcome,
}

impl Sample {
    pub fn ended(&self) -> Instant {
        self.started + self.latency
    }
}

/// A token the API acknowledged (201).
#[derive(Clone, Debug)]
pub struct AckedToken {
    pub clinic: usize,
    pub id: Uuid,
    pub number: i32,
    /// As sent (10 digits); stored by the extension as `+91` + these.
    pub phone: String,
    pub acked_at: Instant,
}

/// A NEXT the API acknowledged (200).
#[derive(Clone, Debug)]
pub struct AckedNext {
    pub clinic: usize,
    pub serving_token_id: Option<Uuid>,
    pub now_serving_number: Option<i32>,
}

/// Everything the clients saw. Shared by the load tasks and the test.
#[derive(Default)]
pub struct Ledger {
    samples: Mutex<Vec<Sample>>,
    tokens: Mutex<Vec<AckedToken>>,
    nexts: Mutex<Vec<AckedNext>>,
}

/// Latency percentiles of successful requests.
#[derive(Clone, Copy, Debug)]
pub struct Percentiles {
    pub count: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Percentiles {
    pub fn of(mut values: Vec<Duration>) -> Option<Percentiles> {
        if values.is_empty() {
            return None;
        }
        values.sort();
        let at = |q: f64| values[((q * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1];
        Some(Percentiles { count: values.len(), p50: at(0.50), p99: at(0.99), max: *values.last().unwrap() })
    }
}

impl std::fmt::Display for Percentiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "p50 {} / p99 {} (n={})", ms(self.p50), ms(self.p99), self.count)
    }
}

/// `12.3 ms`.
pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

impl Ledger {
    pub fn samples(&self) -> Vec<Sample> {
        lock(&self.samples).clone()
    }

    pub fn tokens(&self) -> Vec<AckedToken> {
        lock(&self.tokens).clone()
    }

    pub fn nexts(&self) -> Vec<AckedNext> {
        lock(&self.nexts).clone()
    }

    /// Latencies of successful `op` requests started in `[from, to)`.
    pub fn latency(&self, op: Op, from: Instant, to: Instant) -> Option<Percentiles> {
        Percentiles::of(
            lock(&self.samples)
                .iter()
                .filter(|s| s.op == op && s.outcome == Outcome::Ok && s.started >= from && s.started < to)
                .map(|s| s.latency)
                .collect(),
        )
    }

    /// When the first write started at or after `t` was acknowledged.
    pub fn first_acked_write_since(&self, t: Instant) -> Option<Instant> {
        lock(&self.samples)
            .iter()
            .filter(|s| s.op.is_write() && s.outcome == Outcome::Ok && s.started >= t)
            .map(Sample::ended)
            .min()
    }

    /// Waits (up to `timeout`) for a write started at or after `t` to be acknowledged;
    /// returns how long after `t` that was.
    pub async fn wait_for_acked_write_since(&self, t: Instant, timeout: Duration) -> Option<Duration> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(at) = self.first_acked_write_since(t) {
                return Some(at.saturating_duration_since(t));
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn record(&self, sample: Sample) {
        lock(&self.samples).push(sample);
    }

    /// A random acknowledged token to poll.
    fn random_token(&self, pick: u64) -> Option<Uuid> {
        let tokens = lock(&self.tokens);
        (!tokens.is_empty()).then(|| tokens[(pick % tokens.len() as u64) as usize].id)
    }
}

/// The shape of the traffic. Every loop is paced (a request per period; a slow answer
/// delays the next one instead of causing a burst), so two periods of a run carry the same
/// work and their latencies compare.
#[derive(Clone, Debug)]
pub struct LoadPlan {
    pub base: String,
    pub clinics: Vec<Receptionist>,
    /// Per clinic: one patient takes a token this often.
    pub take_token_every: Duration,
    /// Per clinic: the receptionist presses NEXT this often.
    pub next_every: Duration,
    /// Patients' pages polling a random acknowledged token.
    pub pollers: usize,
    pub poll_every: Duration,
    /// Bounds: tokens per clinic (under the clinic's daily limit), and the run's length.
    pub max_tokens_per_clinic: usize,
    pub max_duration: Duration,
    /// A request with no answer by then counts as a hang.
    pub request_timeout: Duration,
}

/// A running load; stopped (every task cancelled) when dropped.
pub struct Load {
    ledger: Arc<Ledger>,
    stop: CancellationToken,
    tasks: JoinSet<()>,
}

/// Phone numbers are unique per attempt, across loads of one test process: a request that
/// failed may still have committed, and a retry with the same number would be refused by
/// the per-phone daily limit.
static NEXT_PHONE: AtomicU64 = AtomicU64::new(0);

impl Load {
    pub fn start(plan: LoadPlan, ledger: Arc<Ledger>) -> Load {
        let stop = CancellationToken::new();
        let deadline = tokio::time::Instant::now() + plan.max_duration;
        let http = loopback_client(plan.request_timeout);
        let mut tasks = JoinSet::new();
        for (index, clinic) in plan.clinics.iter().enumerate() {
            tasks.spawn(patients(
                index,
                clinic.clone(),
                plan.clone(),
                http.clone(),
                ledger.clone(),
                stop.clone(),
                deadline,
            ));
            tasks.spawn(receptionist(
                index,
                clinic.clone(),
                plan.clone(),
                http.clone(),
                ledger.clone(),
                stop.clone(),
                deadline,
            ));
        }
        for poller in 0..plan.pollers {
            tasks.spawn(polls(poller as u64, plan.clone(), http.clone(), ledger.clone(), stop.clone(), deadline));
        }
        Load { ledger, stop, tasks }
    }

    pub fn ledger(&self) -> &Arc<Ledger> {
        &self.ledger
    }

    /// Stops every client (requests in flight are abandoned, unrecorded) and waits for them.
    pub async fn stop(mut self) -> Arc<Ledger> {
        self.stop.cancel();
        while let Some(done) = self.tasks.join_next().await {
            if let Err(e) = done {
                if e.is_panic() {
                    std::panic::resume_unwind(e.into_panic());
                }
            }
        }
        self.ledger.clone()
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Runs `request` every `every` until stopped or past `deadline`; `request` returns false
/// when its loop is done (e.g. the token budget is spent).
async fn paced<F, Fut>(every: Duration, stop: CancellationToken, deadline: tokio::time::Instant, mut request: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep_until(deadline) => return,
        }
        tokio::select! {
            more = request() => if !more { return },
            _ = stop.cancelled() => return,
        }
    }
}

/// Sends one request and classifies the answer; the body is returned for a 2xx with JSON.
pub async fn send_classified(request: reqwest::RequestBuilder) -> (Outcome, Option<Value>) {
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) if e.is_timeout() => return (Outcome::TimedOut, None),
        Err(e) => return (Outcome::NoAnswer(format!("{e:#}")), None),
    };
    let status = response.status().as_u16();
    let retry_after = response.headers().contains_key(reqwest::header::RETRY_AFTER);
    let body = match response.text().await {
        Ok(b) => b,
        Err(e) if e.is_timeout() => return (Outcome::TimedOut, None),
        Err(e) => return (Outcome::NoAnswer(format!("reading the body: {e:#}")), None),
    };
    let parsed: Option<Value> = serde_json::from_str(&body).ok();
    match status {
        200..=299 if parsed.is_some() => (Outcome::Ok, parsed),
        503 if retry_after && parsed.as_ref().is_some_and(|v| v["error"]["code"] == "unavailable") => {
            (Outcome::Unavailable, None)
        }
        _ => (Outcome::Unexpected { status, body: body.chars().take(300).collect() }, None),
    }
}

async fn patients(
    clinic: usize,
    r: Receptionist,
    plan: LoadPlan,
    http: reqwest::Client,
    ledger: Arc<Ledger>,
    stop: CancellationToken,
    deadline: tokio::time::Instant,
) {
    let url = format!("{}/api/v1/clinics/{}/tokens", plan.base, r.slug);
    let mut taken = 0;
    paced(plan.take_token_every, stop, deadline, || {
        let n = NEXT_PHONE.fetch_add(1, Ordering::Relaxed);
        // An Indian mobile number: 10 digits starting with 9.
        let phone = format!("9{:09}", n % 1_000_000_000);
        let request = http.post(&url).json(&json!({"patient_name": format!("Patient {n}"), "patient_phone": phone}));
        let ledger = ledger.clone();
        taken += 1;
        let more = taken < plan.max_tokens_per_clinic;
        async move {
            let started = Instant::now();
            let (outcome, body) = send_classified(request).await;
            let latency = started.elapsed();
            let outcome = match (outcome, body) {
                (Outcome::Ok, Some(b)) => {
                    match (b["token_id"].as_str().and_then(|s| Uuid::parse_str(s).ok()), b["token_number"].as_i64()) {
                        (Some(id), Some(number)) => {
                            lock(&ledger.tokens).push(AckedToken {
                                clinic,
                                id,
                                number: number as i32,
                                phone,
                                acked_at: started + latency,
                            });
                            Outcome::Ok
                        }
                        _ => Outcome::Unexpected { status: 201, body: b.to_string() },
                    }
                }
                (outcome, _) => outcome,
            };
            ledger.record(Sample { op: Op::TakeToken, started, latency, outcome });
            more
        }
    })
    .await;
}

async fn receptionist(
    clinic: usize,
    r: Receptionist,
    plan: LoadPlan,
    http: reqwest::Client,
    ledger: Arc<Ledger>,
    stop: CancellationToken,
    deadline: tokio::time::Instant,
) {
    let url = format!("{}/api/v1/staff/queue/actions", plan.base);
    paced(plan.next_every, stop, deadline, || {
        let request = http.post(&url).bearer_auth(&r.bearer).json(&json!({"action": "NEXT"}));
        let ledger = ledger.clone();
        async move {
            let started = Instant::now();
            let (outcome, body) = send_classified(request).await;
            let latency = started.elapsed();
            if let (Outcome::Ok, Some(b)) = (&outcome, body) {
                lock(&ledger.nexts).push(AckedNext {
                    clinic,
                    serving_token_id: b["serving_token_id"].as_str().and_then(|s| Uuid::parse_str(s).ok()),
                    now_serving_number: b["now_serving_number"].as_i64().map(|n| n as i32),
                });
            }
            ledger.record(Sample { op: Op::Next, started, latency, outcome });
            true
        }
    })
    .await;
}

async fn polls(
    poller: u64,
    plan: LoadPlan,
    http: reqwest::Client,
    ledger: Arc<Ledger>,
    stop: CancellationToken,
    deadline: tokio::time::Instant,
) {
    let mut pick = poller.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    paced(plan.poll_every, stop, deadline, || {
        // A cheap spread over the tokens (xorshift); which token is polled does not matter.
        pick ^= pick << 13;
        pick ^= pick >> 7;
        pick ^= pick << 17;
        let token = ledger.random_token(pick);
        let request = token.map(|id| http.get(format!("{}/api/v1/tokens/{id}", plan.base)));
        let ledger = ledger.clone();
        async move {
            let Some(request) = request else { return true };
            let started = Instant::now();
            let (outcome, _) = send_classified(request).await;
            ledger.record(Sample { op: Op::Poll, started, latency: started.elapsed(), outcome });
            true
        }
    })
    .await;
}

/// Outcome counts per operation, for the report.
pub fn outcome_table(samples: &[Sample]) -> BTreeMap<(Op, &'static str), usize> {
    let mut table = BTreeMap::new();
    for s in samples {
        let kind = match s.outcome {
            Outcome::Ok => "ok",
            Outcome::Unavailable => "503 unavailable",
            Outcome::Unexpected { .. } => "unexpected",
            Outcome::NoAnswer(_) => "no answer",
            Outcome::TimedOut => "timed out",
        };
        *table.entry((s.op, kind)).or_insert(0) += 1;
    }
    table
}

// ---------------------------------------------------------------------------------------
// Checks.

/// What [`lost_acknowledgements`] checked, and every acknowledged write it did not find.
#[derive(Debug, Default)]
pub struct LossReport {
    pub tokens_checked: usize,
    pub nexts_checked: usize,
    pub lost: Vec<String>,
    /// Tokens in the database whose request the client saw fail (or never saw answered):
    /// the write committed but the acknowledgement was lost with the connection. Not a
    /// loss; the patient would retry and be told they already have a token.
    pub committed_unacknowledged: i64,
}

/// Every 2xx the clients saw is in the database: each acknowledged token with its number
/// and phone; each acknowledged NEXT's patient was called (and only once — a NEXT
/// acknowledged and then rolled back would let a later NEXT call the same patient again);
/// and each clinic's audit log holds at least as many NEXTs as were acknowledged.
pub async fn lost_acknowledgements(db_url: &str, clinics: &[Receptionist], ledger: &Ledger) -> LossReport {
    let db = connect(db_url).await;
    let tokens = ledger.tokens();
    let nexts = ledger.nexts();
    let mut report = LossReport { tokens_checked: tokens.len(), nexts_checked: nexts.len(), ..LossReport::default() };

    let ids: Vec<Uuid> = tokens.iter().map(|t| t.id).collect();
    let rows = db
        .query("SELECT id, business_id, token_number, patient_phone FROM qlink.tokens WHERE id = ANY($1)", &[&ids])
        .await
        .expect("read acknowledged tokens");
    let found: HashMap<Uuid, (Uuid, i32, Option<String>)> =
        rows.iter().map(|r| (r.get(0), (r.get(1), r.get(2), r.get(3)))).collect();
    for t in &tokens {
        let expected = (clinics[t.clinic].business_id, t.number, Some(format!("+91{}", t.phone)));
        match found.get(&t.id) {
            None => {
                report.lost.push(format!("token {} (number {}) acknowledged but not in the database", t.id, t.number))
            }
            Some(row) if *row != expected => {
                report.lost.push(format!("token {} is {row:?}, acknowledged as {expected:?}", t.id))
            }
            Some(_) => {}
        }
    }

    let called: Vec<Uuid> = nexts.iter().filter_map(|n| n.serving_token_id).collect();
    let mut seen = HashSet::new();
    for id in &called {
        if !seen.insert(*id) {
            report.lost.push(format!("token {id} was called by two acknowledged NEXTs: one of them was lost"));
        }
    }
    let rows = db
        .query("SELECT id, status, called_at IS NOT NULL FROM qlink.tokens WHERE id = ANY($1)", &[&called])
        .await
        .expect("read called tokens");
    let state: HashMap<Uuid, (String, bool)> = rows.iter().map(|r| (r.get(0), (r.get(1), r.get(2)))).collect();
    for n in &nexts {
        let Some(id) = n.serving_token_id else { continue };
        match state.get(&id) {
            Some((status, true)) if status == "SERVING" || status == "SERVED" => {}
            other => report.lost.push(format!(
                "NEXT acknowledged as calling {id} ({:?}), database has {other:?}",
                n.now_serving_number
            )),
        }
    }
    for (index, clinic) in clinics.iter().enumerate() {
        let acked = nexts.iter().filter(|n| n.clinic == index).count() as i64;
        let audited: i64 = db
            .query_one(
                "SELECT count(*) FROM qlink.audit_logs WHERE business_id = $1 AND action = 'NEXT'",
                &[&clinic.business_id],
            )
            .await
            .expect("count NEXTs")
            .get(0);
        if audited < acked {
            report.lost.push(format!("{}: {acked} NEXTs acknowledged, {audited} in the audit log", clinic.slug));
        }
    }
    let business_ids: Vec<Uuid> = clinics.iter().map(|c| c.business_id).collect();
    let in_db: i64 = db
        .query_one("SELECT count(*) FROM qlink.tokens WHERE business_id = ANY($1)", &[&business_ids])
        .await
        .expect("count tokens")
        .get(0);
    report.committed_unacknowledged = in_db - tokens.len() as i64;
    report
}

/// One outbox row, as the delivery checks see it.
#[derive(Clone, Debug)]
pub struct OutboxRow {
    pub id: i64,
    pub message_type: String,
    /// E.164 digits without `+` (what the WhatsApp API is sent).
    pub to: String,
    pub token_number: i64,
    pub status: String,
    pub attempts: i32,
    pub provider_message_id: Option<String>,
    pub created_at: std::time::SystemTime,
}

pub const TERMINAL_STATUSES: [&str; 5] = ["SENT", "DELIVERED", "READ", "PERMANENTLY_FAILED", "SKIPPED"];

pub async fn outbox(db_url: &str) -> Vec<OutboxRow> {
    let db = connect(db_url).await;
    db.query(
        "SELECT id, message_type, ltrim(coalesce(to_phone, ''), '+'), coalesce((payload->>'token_number')::bigint, -1), \
                status, attempts, provider_message_id, created_at \
         FROM qlink.message_logs ORDER BY id",
        &[],
    )
    .await
    .expect("read the outbox")
    .iter()
    .map(|r| OutboxRow {
        id: r.get(0),
        message_type: r.get(1),
        to: r.get(2),
        token_number: r.get(3),
        status: r.get(4),
        attempts: r.get(5),
        provider_message_id: r.get(6),
        created_at: r.get(7),
    })
    .collect()
}

/// Waits until no outbox row is PENDING or FAILED (waiting for a retry); returns the rows
/// and how long that took. Panics after `timeout` with the rows still open.
pub async fn wait_for_drained_outbox(db_url: &str, timeout: Duration) -> (Vec<OutboxRow>, Duration) {
    let started = Instant::now();
    loop {
        let rows = outbox(db_url).await;
        let open: Vec<&OutboxRow> = rows.iter().filter(|r| !TERMINAL_STATUSES.contains(&r.status.as_str())).collect();
        if open.is_empty() {
            return (rows, started.elapsed());
        }
        assert!(
            started.elapsed() < timeout,
            "the outbox did not drain within {timeout:?}: {} rows still open, e.g. {:?}",
            open.len(),
            &open[..open.len().min(5)]
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Requests at the WhatsApp API, matched to outbox rows.
#[derive(Debug, Default)]
pub struct DeliveryReport {
    pub rows: usize,
    pub by_status: BTreeMap<String, usize>,
    pub requests: usize,
    /// Requests beyond the first for a row, summed over rows.
    pub duplicates: usize,
    pub rows_sent_more_than_once: usize,
    /// Most requests for one row.
    pub max_sends_of_one_row: usize,
    /// Rows SENT with no request at the API, or whose recorded wamid the API never issued.
    pub unexplained_sent: Vec<i64>,
    /// Requests that match no outbox row.
    pub stray_requests: usize,
}

fn template_of(message_type: &str) -> &'static str {
    match message_type {
        "WELCOME" => "qlink_welcome",
        "REMINDER" => "qlink_reminder",
        "CALLED" => "qlink_called",
        other => panic!("unknown message type {other}"),
    }
}

/// Counts the API requests of each outbox row. The request does not carry the row's id;
/// (recipient, template, token number) identifies it, because every patient of a load has
/// their own phone and a token gets at most one message of each type when nothing is
/// undone (checked here: a repeated key panics rather than hide a duplicate).
pub fn delivery_report(rows: &[OutboxRow], received: &[Received]) -> DeliveryReport {
    let mut by_key: HashMap<(String, String, i64), Vec<&Received>> = HashMap::new();
    for r in received {
        let number = r.parameters().get(1).and_then(|n| n.parse::<i64>().ok()).unwrap_or(-1);
        by_key.entry((r.to().to_string(), r.template().to_string(), number)).or_default().push(r);
    }
    let mut report = DeliveryReport { rows: rows.len(), requests: received.len(), ..DeliveryReport::default() };
    let mut keys = HashSet::new();
    for row in rows {
        *report.by_status.entry(row.status.clone()).or_insert(0) += 1;
        let key = (row.to.clone(), template_of(&row.message_type).to_string(), row.token_number);
        assert!(keys.insert(key.clone()), "two outbox rows share {key:?}: the duplicate count would be wrong");
        let sends = by_key.get(&key).map(Vec::as_slice).unwrap_or_default();
        report.duplicates += sends.len().saturating_sub(1);
        report.rows_sent_more_than_once += usize::from(sends.len() > 1);
        report.max_sends_of_one_row = report.max_sends_of_one_row.max(sends.len());
        if row.status == "SENT" {
            let wamid = row.provider_message_id.as_deref();
            if wamid.is_none() || !sends.iter().any(|s| s.wamid.as_deref() == wamid) {
                report.unexplained_sent.push(row.id);
            }
        }
    }
    report.stray_requests = by_key.iter().filter(|(k, _)| !keys.contains(*k)).map(|(_, v)| v.len()).sum();
    report
}

// ---------------------------------------------------------------------------------------
// PostgreSQL faults.

/// `pg_terminate_backend` on the `qlink_app`, `qlink_worker` and `qlink_webhook` sessions of one database whose
/// `application_name` matches the SQL LIKE pattern `like` and not `not_like`; returns the
/// pids terminated.
pub async fn terminate_backends(db_url: &str, like: &str, not_like: &str) -> Vec<i32> {
    let admin = connect(&crate::admin_url()).await;
    // Two statements on purpose: in one, the planner may evaluate pg_terminate_backend()
    // inside pg_stat_activity's function scan, before the database and role filters (which
    // come from joins), and terminate every session of the machine.
    let pids: Vec<i32> = admin
        .query(
            "SELECT pid FROM pg_stat_activity \
             WHERE datname = $1 AND usename IN ('qlink_app', 'qlink_worker', 'qlink_webhook') AND application_name LIKE $2 \
               AND application_name NOT LIKE $3 AND pid <> pg_backend_pid()",
            &[&database_name(db_url), &like, &not_like],
        )
        .await
        .expect("find backends")
        .iter()
        .map(|r| r.get(0))
        .collect();
    admin
        .query("SELECT pid FROM unnest($1::int4[]) AS pid WHERE pg_terminate_backend(pid)", &[&pids])
        .await
        .expect("terminate backends")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// The machine's PostgreSQL cluster (the one `admin_url()` points at), driven with
/// Debian's `pg_ctlcluster`. `QLINK_TEST_PG_CLUSTER` ("15/main" by default) names it.
#[derive(Clone, Debug)]
pub struct Cluster {
    version: String,
    name: String,
}

impl Cluster {
    pub fn from_env() -> Cluster {
        let spec = std::env::var("QLINK_TEST_PG_CLUSTER").unwrap_or_else(|_| "15/main".into());
        let (version, name) = spec.split_once('/').expect("QLINK_TEST_PG_CLUSTER is version/name, e.g. 15/main");
        Cluster { version: version.into(), name: name.into() }
    }

    fn ctl(&self, action: &str) -> std::process::Output {
        Command::new("pg_ctlcluster")
            .args(["--skip-systemctl-redirect", &self.version, &self.name, action])
            .output()
            .unwrap_or_else(|e| panic!("run pg_ctlcluster {action}: {e}"))
    }

    /// Fast shutdown: every session is terminated, open transactions roll back.
    pub fn stop(&self) {
        let out = self.ctl("stop");
        assert!(out.status.success(), "pg_ctlcluster stop: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Starts the cluster and returns once it accepts connections.
    pub fn start(&self) {
        let out = self.ctl("start");
        assert!(out.status.success(), "pg_ctlcluster start: {}", String::from_utf8_lossy(&out.stderr));
        assert!(self.wait_ready(Duration::from_secs(60)), "PostgreSQL did not accept connections after start");
    }

    /// Whether the postmaster is running (`pg_ctlcluster status` exits 0).
    pub fn is_running(&self) -> bool {
        self.ctl("status").status.success()
    }

    /// Whether it accepts connections.
    pub fn is_ready(&self) -> bool {
        Command::new("pg_isready")
            .args(["-q", "-d", &crate::admin_url()])
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    pub fn wait_ready(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.is_ready() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.is_ready()
    }
}

/// Brings the cluster back up when dropped, whatever happened (also when the test panics
/// between a stop and a start): every other test on this machine uses this PostgreSQL.
pub struct ClusterGuard(pub Cluster);

impl Drop for ClusterGuard {
    fn drop(&mut self) {
        if !self.0.is_running() {
            eprintln!("ClusterGuard: PostgreSQL {}/{} is down; starting it again", self.0.version, self.0.name);
            let out = self.0.ctl("start");
            if !out.status.success() {
                eprintln!("ClusterGuard: pg_ctlcluster start failed: {}", String::from_utf8_lossy(&out.stderr));
            }
        }
        if !self.0.wait_ready(Duration::from_secs(60)) {
            eprintln!("ClusterGuard: PostgreSQL {}/{} is NOT accepting connections", self.0.version, self.0.name);
        }
    }
}
