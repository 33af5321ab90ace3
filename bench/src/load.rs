//! A small load generator: open loop at a fixed rate (latency measured from the moment a
//! request was due, so a slow server can't hide its queueing — no coordinated omission),
//! and closed loop (N clients as fast as they can) for throughput.

use hdrhistogram::Histogram;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

#[derive(Clone, Debug)]
pub struct Stats {
    pub requests: u64,
    pub errors: u64,
    pub seconds: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Stats {
    pub fn rate(&self) -> f64 {
        self.requests as f64 / self.seconds
    }

    fn from(hist: &Histogram<u64>, errors: u64, seconds: f64) -> Stats {
        let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
        Stats {
            requests: hist.len(),
            errors,
            seconds,
            p50_ms: ms(0.50),
            p90_ms: ms(0.90),
            p99_ms: ms(0.99),
            max_ms: hist.max() as f64 / 1000.0,
        }
    }
}

fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds")
}

/// Sends `rate` requests per second for `duration`. `op(i)` performs request number i and
/// returns whether it succeeded.
pub async fn open_loop<F, Fut>(rate: f64, duration: Duration, op: F) -> Stats
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send + 'static,
{
    let op = Arc::new(op);
    let hist = Arc::new(Mutex::new(new_hist()));
    let errors = Arc::new(std::sync::atomic::AtomicU64::new(0));
    // Bounds memory if the server stalls; far above what a healthy run keeps in flight.
    let in_flight = Arc::new(Semaphore::new(4096));
    let total = (rate * duration.as_secs_f64()) as u64;
    let interval = Duration::from_secs_f64(1.0 / rate);
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let due = start + interval.mul_f64(i as f64);
        tokio::time::sleep_until(due.into()).await;
        let permit = in_flight.clone().acquire_owned().await.expect("semaphore");
        let (op, hist, errors) = (op.clone(), hist.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let ok = op(i).await;
            let latency = due.elapsed().as_micros() as u64;
            hist.lock().unwrap().saturating_record(latency.max(1));
            if !ok {
                errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            drop(permit);
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let seconds = start.elapsed().as_secs_f64();
    let hist = hist.lock().unwrap();
    Stats::from(&hist, errors.load(std::sync::atomic::Ordering::Relaxed), seconds)
}

/// `clients` loops, each running `op` back to back until `duration` is over.
pub async fn closed_loop<F, Fut>(clients: usize, duration: Duration, op: F) -> Stats
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send + 'static,
{
    let op = Arc::new(op);
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::new();
    for c in 0..clients {
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            let mut hist = new_hist();
            let mut errors = 0u64;
            let mut i = 0u64;
            while Instant::now() < deadline {
                let t = Instant::now();
                if !op(c, i).await {
                    errors += 1;
                }
                hist.saturating_record((t.elapsed().as_micros() as u64).max(1));
                i += 1;
            }
            (hist, errors)
        }));
    }
    let mut hist = new_hist();
    let mut errors = 0;
    for t in tasks {
        let (h, e) = t.await.expect("client task");
        hist.add(&h).expect("same bounds");
        errors += e;
    }
    Stats::from(&hist, errors, start.elapsed().as_secs_f64())
}
