//! Configuration: every setting is a flag and an environment variable (clap), gathered in
//! one `Config` for the server. Secrets are wrapped in `Secret`, whose Debug/Display never
//! print the value.

use crate::db::Target;
use clap::Args;
use std::net::SocketAddr;
use std::str::FromStr;

/// A secret value (token, password, app secret). Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The secret if one is set: an empty or blank value (`WHATSAPP_APP_SECRET=` in an env
    /// file) is no secret, never a key everyone knows.
    pub fn configured(secret: &Option<Secret>) -> Option<Secret> {
        secret.as_ref().filter(|s| !s.0.trim().is_empty()).cloned()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_string()))
    }
}

/// Everything a QLink server runs with: `qlink serve` parses it from flags and the
/// environment; tests and benchmarks build it in code.
#[derive(Args, Clone, Debug)]
pub struct Config {
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub http: HttpArgs,
    #[command(flatten)]
    pub whatsapp: WhatsAppArgs,
    #[command(flatten)]
    pub worker: WorkerArgs,
}

/// Where the database is.
#[derive(Args, Clone, Debug)]
pub struct DbArgs {
    /// PostgreSQL URL of the database owner (runs migrations; a superuser, or the extension
    /// must already exist).
    #[arg(
        long,
        env = "DATABASE_URL",
        hide_env_values = true,
        default_value = "postgres://postgres@127.0.0.1:5432/qlink"
    )]
    pub database_url: String,

    /// PostgreSQL URL for the least-privilege runtime role. Default: DATABASE_URL with the
    /// user replaced by `qlink_app` (created by the migrations; give it a password in production).
    #[arg(long, env = "QLINK_APP_DATABASE_URL", hide_env_values = true)]
    pub app_database_url: Option<String>,

    /// PostgreSQL URL for the message worker's role. Default: DATABASE_URL with the user
    /// replaced by `qlink_worker` (created by the migrations; give it a password in
    /// production). It may claim and finish messages and run the housekeeping, nothing else.
    #[arg(long, env = "QLINK_WORKER_DATABASE_URL", hide_env_values = true)]
    pub worker_database_url: Option<String>,

    /// The webhook role's connection (WhatsApp's webhook in `qlink serve`; same forms).
    /// Default: `DATABASE_URL` with the user replaced by `qlink_webhook` (created by the
    /// migrations; give it a password in production). It may store what Meta delivers,
    /// nothing else.
    #[arg(long, env = "QLINK_WEBHOOK_DATABASE_URL", hide_env_values = true)]
    pub webhook_database_url: Option<String>,

    /// Optional streaming replica for patients' status polls.
    #[arg(long, env = "QLINK_DATABASE_READ_URL", hide_env_values = true)]
    pub read_database_url: Option<String>,

    /// Connections per pool.
    #[arg(long, env = "QLINK_DB_POOL_SIZE", default_value_t = 16)]
    pub pool_size: usize,
}

impl DbArgs {
    /// The owner's connection (migrations, CLI commands): always the primary.
    pub fn owner_config(&self) -> anyhow::Result<Target> {
        Ok(Target::parse(&self.database_url, "DATABASE_URL")?.primary())
    }

    /// The runtime role's connection settings: always the primary.
    pub fn app_config(&self) -> anyhow::Result<Target> {
        match &self.app_database_url {
            Some(url) => Ok(Target::parse(url, "QLINK_APP_DATABASE_URL")?.primary()),
            None => Ok(self.owner_config()?.user(crate::db::APP_ROLE)),
        }
    }

    /// The worker role's connection settings: always the primary.
    pub fn worker_config(&self) -> anyhow::Result<Target> {
        match &self.worker_database_url {
            Some(url) => Ok(Target::parse(url, "QLINK_WORKER_DATABASE_URL")?.primary()),
            None => Ok(self.owner_config()?.user(crate::db::WORKER_ROLE)),
        }
    }

    /// The webhook role's connection settings: always the primary.
    pub fn webhook_config(&self) -> anyhow::Result<Target> {
        match &self.webhook_database_url {
            Some(url) => Ok(Target::parse(url, "QLINK_WEBHOOK_DATABASE_URL")?.primary()),
            None => Ok(self.owner_config()?.user(crate::db::WEBHOOK_ROLE)),
        }
    }

    /// The replica for polls (any host of the URL will do, a standby is the point).
    pub fn read_config(&self) -> anyhow::Result<Option<Target>> {
        self.read_database_url.as_deref().map(|u| Target::parse(u, "QLINK_DATABASE_READ_URL")).transpose()
    }
}

/// The WhatsApp Cloud API. With no access token and phone number id, messages go to the
/// log (provider `log`) and are marked SENT, so everything else works without Meta.
#[derive(Args, Clone, Debug)]
pub struct WhatsAppArgs {
    #[arg(long, env = "WHATSAPP_API_BASE", default_value = "https://graph.facebook.com")]
    pub whatsapp_api_base: String,
    #[arg(long, env = "WHATSAPP_API_VERSION", default_value = DEFAULT_API_VERSION)]
    pub whatsapp_api_version: String,
    #[arg(long, env = "WHATSAPP_PHONE_NUMBER_ID")]
    pub whatsapp_phone_number_id: Option<String>,
    #[arg(long, env = "WHATSAPP_ACCESS_TOKEN", hide_env_values = true)]
    pub whatsapp_access_token: Option<Secret>,
    /// The Meta app secret: webhook payloads are signed with it (X-Hub-Signature-256).
    #[arg(long, env = "WHATSAPP_APP_SECRET", hide_env_values = true)]
    pub whatsapp_app_secret: Option<Secret>,
    /// The token Meta echoes in the webhook subscription handshake.
    #[arg(long, env = "WHATSAPP_VERIFY_TOKEN", hide_env_values = true)]
    pub whatsapp_verify_token: Option<Secret>,
    /// The installation sender's number as patients see it (E.164, e.g. +919812345678): the
    /// "Join on WhatsApp" links of clinics without a number of their own.
    #[arg(long, env = "WHATSAPP_DISPLAY_NUMBER")]
    pub whatsapp_display_number: Option<String>,
    /// 32 bytes (64 hex digits or base64) that seal the clinics' own WhatsApp access tokens
    /// in the database. Without it such tokens can be neither stored nor used. Changing it
    /// makes every stored token unreadable (they must be entered again).
    #[arg(long, env = "QLINK_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<Secret>,
}

impl WhatsAppArgs {
    /// `QLINK_SECRET_KEY`, parsed: None when unset or empty, an error when malformed (a
    /// typo must stop the start-up, not silently disable every clinic's own sender).
    pub fn secret_key(&self) -> anyhow::Result<Option<crate::crypto::SecretKey>> {
        match self.secret_key.as_ref().map(|s| s.expose().trim()).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(s) => crate::crypto::SecretKey::parse(s).map(Some),
        }
    }

    /// The display number, when set and not blank.
    pub fn display_number(&self) -> Option<&str> {
        self.whatsapp_display_number.as_deref().map(str::trim).filter(|s| !s.is_empty())
    }
}

impl Default for WhatsAppArgs {
    /// No credentials (the log provider), Meta's production base: what the flags give with
    /// nothing set. Code that builds a `Config` starts from it and sets what it needs.
    fn default() -> Self {
        WhatsAppArgs {
            whatsapp_api_base: "https://graph.facebook.com".into(),
            whatsapp_api_version: DEFAULT_API_VERSION.into(),
            whatsapp_phone_number_id: None,
            whatsapp_access_token: None,
            whatsapp_app_secret: None,
            whatsapp_verify_token: None,
            whatsapp_display_number: None,
            secret_key: None,
        }
    }
}

/// The Graph API version requests go to by default.
pub const DEFAULT_API_VERSION: &str = "v21.0";

/// The message worker.
#[derive(Args, Clone, Debug)]
pub struct WorkerArgs {
    /// Messages per second per sender number (Meta's tiers: 80 by default, up to 1000).
    #[arg(long, env = "QLINK_WHATSAPP_RATE", default_value_t = WorkerArgs::DEFAULT.whatsapp_rate_per_second)]
    pub whatsapp_rate_per_second: f64,
    /// Sends in flight at once.
    #[arg(long, env = "QLINK_WORKER_CONCURRENCY", default_value_t = WorkerArgs::DEFAULT.worker_concurrency)]
    pub worker_concurrency: usize,
    /// Seconds between polls of the outbox when no notification arrives.
    #[arg(long, env = "QLINK_WORKER_POLL_SECONDS", default_value_t = WorkerArgs::DEFAULT.worker_poll_seconds)]
    pub worker_poll_seconds: u64,
    /// Seconds a claimed message stays reserved for this worker.
    #[arg(long, env = "QLINK_WORKER_LEASE_SECONDS", default_value_t = WorkerArgs::DEFAULT.worker_lease_seconds)]
    pub worker_lease_seconds: u64,
    /// Messages claimed per round trip.
    #[arg(long, env = "QLINK_WORKER_BATCH", default_value_t = WorkerArgs::DEFAULT.worker_batch_size)]
    pub worker_batch_size: i32,
    /// Days of personal data kept (the daily purge).
    #[arg(long, env = "QLINK_RETENTION_DAYS", default_value_t = WorkerArgs::DEFAULT.retention_days)]
    pub retention_days: u32,
}

impl WorkerArgs {
    /// The flags' defaults, also for code that builds a `Config` (tests, benchmarks).
    pub const DEFAULT: WorkerArgs = WorkerArgs {
        whatsapp_rate_per_second: 80.0,
        worker_concurrency: 16,
        worker_poll_seconds: 3,
        worker_lease_seconds: 30,
        worker_batch_size: 50,
        retention_days: 90,
    };
}

impl Default for WorkerArgs {
    fn default() -> Self {
        WorkerArgs::DEFAULT
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// The HTTP server.
#[derive(Args, Clone, Debug)]
pub struct HttpArgs {
    #[arg(long, env = "QLINK_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// The address patients and staff reach this server at: links in messages and QR codes,
    /// the CSRF origin check, and whether cookies are Secure (https). Default:
    /// http://<the address bound>.
    #[arg(long, env = "QLINK_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Proxies whose X-Forwarded-For is believed (comma-separated IPs or CIDRs).
    #[arg(long, env = "QLINK_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// How long a staff login lasts.
    #[arg(long, env = "QLINK_SESSION_TTL_HOURS", default_value_t = 12)]
    pub session_ttl_hours: u32,
    /// Seconds a client has to send a request's headers, and to start the next request on a
    /// kept-alive connection; then the connection is closed (slow clients cannot hold it).
    #[arg(long, env = "QLINK_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    pub header_timeout_secs: u64,
    /// Serve `/metrics` on this address only (an internal port for Prometheus), not on the
    /// public listener.
    #[arg(long, env = "QLINK_METRICS_BIND")]
    pub metrics_bind: Option<SocketAddr>,
    /// Open connections at most; one more is closed at once (and counted in /metrics).
    #[arg(long, env = "QLINK_MAX_CONNECTIONS", default_value_t = 2048)]
    pub max_connections: usize,
    /// Open connections at most from one address (an IPv6 address counts by its /64), so
    /// that one slow client cannot fill the cap; trusted proxies are not limited.
    #[arg(long, env = "QLINK_MAX_CONNECTIONS_PER_IP", default_value_t = 128)]
    pub max_connections_per_ip: usize,
}
