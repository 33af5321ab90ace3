//! The application: its shared state (pools, settings, metrics) and `Application`, the one
//! way to make a running QLink server. `qlink serve`, the end-to-end tests (port 0) and the
//! benchmarks all build it the same way, so what is tested is what runs.

use crate::config::{Config, Secret};
use crate::webhook::WebhookState;
use crate::{db, router};
use anyhow::Context;
use axum::extract::FromRef;
use axum::Router;
use deadpool_postgres::Pool;
use metrics_exporter_prometheus::PrometheusHandle;
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub struct App {
    /// The runtime role's pool on the primary.
    pub db: Pool,
    /// Patients' status polls may read from a streaming replica.
    pub read_db: Option<Pool>,
    pub public_url: String,
    /// `scheme://host[:port]` of the public URL: the CSRF origin.
    pub public_origin: String,
    pub secure_cookies: bool,
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub session_ttl: Duration,
    pub metrics: PrometheusHandle,
    /// `/metrics` is served on its own listener (`QLINK_METRICS_BIND`), not on the public one.
    pub metrics_elsewhere: bool,
    pub webhook: WebhookState,
    /// `QLINK_SECRET_KEY`: seals a clinic's own WhatsApp access token before it is stored.
    /// None: such tokens cannot be stored.
    pub secret_key: Option<crate::crypto::SecretKey>,
    /// `WHATSAPP_DISPLAY_NUMBER`: the installation sender's number ("Join on WhatsApp").
    pub whatsapp_display_number: Option<String>,
}

impl App {
    /// The pool for reads a streaming replica may answer (patients' polls): the replica
    /// when one is configured, else the primary. A caller that must see its own fresh
    /// write falls back to `db` when the replica does not have it yet.
    pub fn db_read(&self) -> &Pool {
        self.read_db.as_ref().unwrap_or(&self.db)
    }

    /// Wakes the message worker once this request's transaction has committed. A lost
    /// wake-up only delays the message until the worker's next poll.
    pub async fn wake_worker(&self, client: &deadpool_postgres::Client) {
        if let Err(e) = client.batch_execute(&format!("NOTIFY {}", db::MESSAGES_CHANNEL)).await {
            tracing::warn!(error = %e, "could not notify the message worker");
        }
    }
}

#[derive(Clone)]
pub struct AppState(pub Arc<App>);

impl Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}

impl FromRef<AppState> for WebhookState {
    fn from_ref(state: &AppState) -> WebhookState {
        state.webhook.clone()
    }
}

impl AppState {
    /// Pools as the runtime role, and a check that the database is ready for this binary
    /// (its extension version above all: a half-done upgrade is said here, in the start-up
    /// log, and by /readyz).
    pub async fn build(config: &Config, public_url: &str) -> anyhow::Result<AppState> {
        let db_args = &config.db;
        let pool = db::pool(db_args.app_config()?, db_args.pool_size)?;
        let read_db = match db_args.read_config()? {
            Some(cfg) => Some(db::pool(cfg, db_args.pool_size)?),
            None => None,
        };
        let public_origin = origin_of(public_url)?;
        let secret_key = config.whatsapp.secret_key()?;
        let state = AppState(Arc::new(App {
            webhook: WebhookState {
                // Its own role: the web role cannot store what Meta delivers.
                pool: db::pool(db_args.webhook_config()?, db_args.pool_size.min(4))?,
                verify_token: Secret::configured(&config.whatsapp.whatsapp_verify_token),
                app_secret: Secret::configured(&config.whatsapp.whatsapp_app_secret),
            },
            db: pool,
            read_db,
            public_url: public_url.trim_end_matches('/').to_string(),
            secure_cookies: public_origin.starts_with("https://"),
            public_origin,
            trusted_proxies: config.http.trusted_proxies.clone(),
            session_ttl: Duration::from_secs(u64::from(config.http.session_ttl_hours) * 3600),
            metrics: prometheus(),
            metrics_elsewhere: config.http.metrics_bind.is_some(),
            secret_key,
            whatsapp_display_number: config.whatsapp.display_number().map(str::to_string),
        }));
        match crate::http::ops::check_ready(&state).await {
            Ok(version) => tracing::debug!(extension = %version, "database ready"),
            Err(reason) => anyhow::bail!("the database is not ready for this server: {reason}"),
        }
        Ok(state)
    }
}

/// A bound, ready server: the listener, the state and every route with its middleware.
pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
    /// `/metrics` alone, when it has a listener of its own.
    metrics: Option<(TcpListener, Router)>,
    limits: ConnectionLimits,
}

/// What one listener allows its clients.
#[derive(Clone, Debug)]
struct ConnectionLimits {
    /// To send a request's headers, and to begin the next request on a kept-alive connection.
    header_timeout: Duration,
    /// Open connections at most.
    max_connections: usize,
    /// Open connections at most from one source (an IPv4 address, an IPv6 /64).
    per_source: usize,
    /// Peers not limited per source (everyone comes through them).
    trusted_proxies: Vec<ipnet::IpNet>,
}

/// Open connections per source; a [`SourceSlot`] gives its place back when dropped.
#[derive(Default)]
struct Sources(std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>);

struct SourceSlot(Arc<Sources>, std::net::IpAddr);

impl Sources {
    /// An IPv4 address, or an IPv6 address's /64 (a phone or router picks any address in
    /// it), as the intake limits count them.
    fn source(ip: std::net::IpAddr) -> std::net::IpAddr {
        match ip {
            std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => v4.into(),
                None => std::net::Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1)).into(),
            },
            v4 => v4,
        }
    }

    fn take(self: &Arc<Self>, ip: std::net::IpAddr, max: usize) -> Option<SourceSlot> {
        let source = Self::source(ip);
        let mut open = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(source).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(SourceSlot(self.clone(), source))
    }
}

impl Drop for SourceSlot {
    fn drop(&mut self) {
        let mut open = self.0 .0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.1);
            }
        }
    }
}

/// The open connections of one listener, oldest first. When every place is taken, a new
/// connection may take the place of one that has not yet sent a whole request: the oldest
/// such connection of the address holding the most of them, when it holds more than the
/// newcomer's address would; else the oldest such connection that has had a second to send
/// its request. So slow clients, even from many addresses, cannot shut a patient out: they
/// can only push each other out.
#[derive(Default)]
struct Open(std::sync::Mutex<std::collections::VecDeque<OpenConnection>>);

struct OpenConnection {
    id: u64,
    source: std::net::IpAddr,
    opened: std::time::Instant,
    /// Set when the connection's first request has arrived whole.
    answered: Arc<std::sync::atomic::AtomicBool>,
    evict: CancellationToken,
}

/// A slow connection younger than this makes room only for an address holding fewer.
const EVICT_AFTER: Duration = Duration::from_secs(1);

impl OpenConnection {
    fn waiting(&self) -> bool {
        !self.answered.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Open {
    /// A place for connection `id` from `source`: (its "answered" flag, its eviction
    /// signal), or None when no connection may make room.
    fn admit(
        &self,
        id: u64,
        source: std::net::IpAddr,
        max: usize,
    ) -> Option<(Arc<std::sync::atomic::AtomicBool>, CancellationToken)> {
        let mut open = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if open.len() >= max {
            let mut waiting: std::collections::HashMap<std::net::IpAddr, usize> = std::collections::HashMap::new();
            for c in open.iter().filter(|c| c.waiting()) {
                *waiting.entry(c.source).or_insert(0) += 1;
            }
            let mine = waiting.get(&source).copied().unwrap_or(0);
            let heaviest = waiting.iter().max_by_key(|(_, n)| **n).filter(|(_, n)| **n > mine + 1).map(|(s, _)| *s);
            let slow = match heaviest {
                Some(top) => open.iter().position(|c| c.source == top && c.waiting()),
                None => open.iter().position(|c| c.waiting() && c.opened.elapsed() >= EVICT_AFTER),
            }?;
            let evicted = open.remove(slow).expect("a found position");
            evicted.evict.cancel();
            metrics::counter!("qlink_http_connections_evicted_total").increment(1);
        }
        let answered = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let evict = CancellationToken::new();
        open.push_back(OpenConnection {
            id,
            source,
            opened: std::time::Instant::now(),
            answered: answered.clone(),
            evict: evict.clone(),
        });
        Some((answered, evict))
    }

    fn close(&self, id: u64) {
        let mut open = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(at) = open.iter().position(|c| c.id == id) {
            open.remove(at);
        }
    }
}

impl Application {
    pub async fn build(config: &Config) -> anyhow::Result<Application> {
        Self::build_with(config, Router::new()).await
    }

    /// With extra routes beside QLink's own (the benchmarks add their baselines).
    pub async fn build_with(config: &Config, extra: Router<AppState>) -> anyhow::Result<Application> {
        // Bound first, so that port 0 (tests) is known before the public URL is derived.
        let listener =
            TcpListener::bind(config.http.bind).await.with_context(|| format!("binding {}", config.http.bind))?;
        let public_url = match &config.http.public_url {
            Some(url) => url.clone(),
            None => format!("http://{}", listener.local_addr()?),
        };
        let state = AppState::build(config, &public_url).await?;
        let router = router::router(state.clone(), extra);
        let metrics = match config.http.metrics_bind {
            Some(addr) => {
                let listener = TcpListener::bind(addr).await.with_context(|| format!("binding {addr} (metrics)"))?;
                Some((listener, router::metrics_router(state.clone())))
            }
            None => None,
        };
        Ok(Application {
            listener,
            router,
            state,
            metrics,
            limits: ConnectionLimits {
                header_timeout: Duration::from_secs(config.http.header_timeout_secs.max(1)),
                max_connections: config.http.max_connections.max(1),
                per_source: config.http.max_connections_per_ip.max(1),
                trusted_proxies: config.http.trusted_proxies.clone(),
            },
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// The metrics listener's address, when `/metrics` has one of its own.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|(l, _)| l.local_addr().expect("a bound listener has an address"))
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown`, then finishes the requests in flight (for at most 30 s).
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let public = serve(self.listener, self.router, self.limits.clone(), shutdown.clone());
        match self.metrics {
            Some((listener, router)) => {
                tokio::try_join!(public, serve(listener, router, self.limits, shutdown))?;
            }
            None => public.await?,
        }
        Ok(())
    }
}

/// One listener's accept loop. Each connection has `header_timeout` to send a request's
/// headers (and to begin the next one when kept alive); at most `max_connections` are open
/// (a new one may take the place of a slow one, see [`Open`], else it is closed at once),
/// and at most `per_source` from one address.
async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto;
    use hyper_util::service::TowerToHyperService;
    use tower::Service;

    let mut make_service = router.into_make_service_with_connect_info::<SocketAddr>();
    let ConnectionLimits { header_timeout, max_connections, per_source, trusted_proxies } = limits;
    let open = Arc::new(Open::default());
    let mut next_id = 0u64;
    let sources = Arc::new(Sources::default());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(header_timeout);
    builder.http2().timer(TokioTimer::new()).keep_alive_interval(Some(header_timeout));
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, say: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let source_slot = if trusted_proxies.iter().any(|p| p.contains(&peer.ip())) {
            None
        } else {
            match sources.take(peer.ip(), per_source) {
                Some(s) => Some(s),
                None => {
                    metrics::counter!("qlink_http_connections_refused_total", "limit" => "per_ip").increment(1);
                    drop(stream);
                    continue;
                }
            }
        };
        next_id += 1;
        let id = next_id;
        let Some((answered, evict)) = open.admit(id, Sources::source(peer.ip()), max_connections) else {
            metrics::counter!("qlink_http_connections_refused_total", "limit" => "total").increment(1);
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let Ok(service) = make_service.call(peer).await;
        let service = TowerToHyperService::new(service);
        let service = hyper::service::service_fn(move |request| {
            answered.store(true, std::sync::atomic::Ordering::Relaxed);
            hyper::service::Service::call(&service, request)
        });
        let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
        let watched = graceful.watcher().watch(connection);
        let open = open.clone();
        tokio::spawn(async move {
            tokio::select! {
                // A client that goes away mid-request or sends garbage ends its connection.
                _ = watched => {}
                // Evicted to make room: dropping the connection closes it.
                () = evict.cancelled() => {}
            }
            open.close(id);
            drop(source_slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(30), graceful.shutdown()).await.is_err() {
        tracing::warn!("requests still in flight 30 s after shutdown began; closing them");
    }
    Ok(())
}

/// The process-wide Prometheus recorder (installed once, also when tests start many apps).
pub fn prometheus() -> PrometheusHandle {
    static HANDLE: std::sync::OnceLock<PrometheusHandle> = std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            metrics_exporter_prometheus::PrometheusBuilder::new()
                .set_buckets(&[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0])
                .expect("static buckets")
                .install_recorder()
                .expect("one Prometheus recorder per process")
        })
        .clone()
}

/// `scheme://host[:port]` of a URL.
pub fn origin_of(url: &str) -> anyhow::Result<String> {
    let parsed = reqwest::Url::parse(url).map_err(|_| anyhow::anyhow!("QLINK_PUBLIC_URL is not a valid URL"))?;
    Ok(parsed.origin().ascii_serialization())
}
