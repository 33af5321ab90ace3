//! `spawn_app()`: the real router on a loopback port (port 0) over a fresh database, the
//! way crates.io and zero2prod test their servers.

use crate::fresh_database;
use qlink_server::app::Application;
use qlink_server::config::{Config, DbArgs, HttpArgs, WhatsAppArgs, WorkerArgs};
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE, ORIGIN};
use serde_json::{json, Value};
use std::net::SocketAddr;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub struct TestApp {
    pub addr: SocketAddr,
    /// `/metrics`'s own listener, when the test asked for one.
    pub metrics_addr: Option<SocketAddr>,
    pub base: String,
    pub db_url: String,
    /// An owner (superuser) connection for set-up and for checking the database.
    pub db: tokio_postgres::Client,
    shutdown: CancellationToken,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// No credentials, and an API base nothing listens on (a test never reaches Meta).
pub fn no_whatsapp() -> WhatsAppArgs {
    WhatsAppArgs { whatsapp_api_base: "http://127.0.0.1:9".into(), ..WhatsAppArgs::default() }
}

pub async fn spawn_app() -> TestApp {
    TestApp::builder().spawn().await
}

/// How a test wants its server: every option starts from what production does.
#[derive(Default)]
pub struct TestAppBuilder {
    database_url: Option<String>,
    app_database_url: Option<String>,
    read_database_url: Option<String>,
    trusted_proxies: Vec<ipnet::IpNet>,
    whatsapp: Option<WhatsAppArgs>,
    /// Header timeout (seconds) and connection cap, if not production's 10 s and 2048.
    connection_limits: Option<(u64, usize)>,
    per_address_limit: Option<usize>,
    metrics_listener: bool,
}

impl TestAppBuilder {
    /// A database of the test's own (default: a fresh clone of the migrated template).
    pub fn with_database(mut self, owner_url: String, app_url: Option<String>) -> Self {
        self.database_url = Some(owner_url);
        self.app_database_url = app_url;
        self
    }

    /// Patients' polls go to this replica.
    pub fn with_read_replica(mut self, url: String) -> Self {
        self.read_database_url = Some(url);
        self
    }

    /// The test client (on 127.0.0.1) is a trusted proxy: `X-Forwarded-For` names the client.
    pub fn trusting_loopback_proxy(mut self) -> Self {
        self.trusted_proxies = vec!["127.0.0.0/8".parse().expect("CIDR")];
        self
    }

    /// A shorter header timeout and a smaller connection cap, for the slow-client tests.
    pub fn with_connection_limits(mut self, header_timeout_secs: u64, max_connections: usize) -> Self {
        self.connection_limits = Some((header_timeout_secs, max_connections));
        self
    }

    /// A smaller per-address connection cap (`QLINK_MAX_CONNECTIONS_PER_IP`).
    pub fn with_per_address_limit(mut self, max_connections_per_ip: usize) -> Self {
        self.per_address_limit = Some(max_connections_per_ip);
        self
    }

    /// `/metrics` on a listener of its own (port 0), as `QLINK_METRICS_BIND` sets.
    pub fn with_metrics_listener(mut self) -> Self {
        self.metrics_listener = true;
        self
    }

    pub fn with_whatsapp(mut self, whatsapp: WhatsAppArgs) -> Self {
        self.whatsapp = Some(whatsapp);
        self
    }

    /// Builds the real application (`Application::build`, port 0) and serves it.
    pub async fn spawn(self) -> TestApp {
        let db_url = match self.database_url {
            Some(url) => url,
            None => fresh_database().await,
        };
        let config = Config {
            db: DbArgs {
                database_url: db_url.clone(),
                app_database_url: self.app_database_url,
                worker_database_url: None,
                webhook_database_url: None,
                read_database_url: self.read_database_url,
                pool_size: 8,
            },
            http: HttpArgs {
                bind: "127.0.0.1:0".parse().expect("address"),
                public_url: None,
                trusted_proxies: self.trusted_proxies,
                session_ttl_hours: 12,
                header_timeout_secs: self.connection_limits.map_or(10, |l| l.0),
                max_connections: self.connection_limits.map_or(2048, |l| l.1),
                max_connections_per_ip: self.per_address_limit.unwrap_or(128),
                metrics_bind: self.metrics_listener.then(|| "127.0.0.1:0".parse().expect("address")),
            },
            whatsapp: self.whatsapp.unwrap_or_else(no_whatsapp),
            // No worker runs inside a test server: tests that send messages start their own.
            worker: WorkerArgs::default(),
        };
        let application = Application::build(&config).await.expect("the application builds");
        let addr = application.local_addr();
        let metrics_addr = application.metrics_addr();
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        tokio::spawn(async move { application.run_until_stopped(stop).await.expect("server") });
        // The test's own handle reads the URL as the server does (TLS settings included).
        let db = qlink_server::db::Target::parse(&db_url, "the test database URL")
            .expect("database URL")
            .connect()
            .await
            .expect("connect the test's database handle");
        TestApp { addr, metrics_addr, base: format!("http://{addr}"), db, db_url, shutdown }
    }
}

/// A browser-like client: keeps cookies and sends our Origin on every request.
pub fn browser(app: &TestApp) -> reqwest::Client {
    let mut headers = HeaderMap::new();
    headers.insert(ORIGIN, HeaderValue::from_str(&app.base).unwrap());
    reqwest::Client::builder().cookie_store(true).default_headers(headers).build().unwrap()
}

/// A client with no cookies and no Origin (curl, another site, an API client).
pub fn plain() -> reqwest::Client {
    reqwest::Client::builder().build().unwrap()
}

pub const PASSWORD: &str = "correct horse battery";

impl TestApp {
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder::default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A clinic with one staff login `staff@<slug>.test`.
    pub async fn clinic(&self, slug: &str) -> Uuid {
        let id: Uuid = self
            .db
            .query_one("SELECT qlink.create_business($1, $2)", &[&slug, &format!("Clinic {slug}")])
            .await
            .unwrap()
            .get(0);
        let hash = qlink_server::accounts::hash_password(PASSWORD).unwrap();
        self.db
            .query_one(
                "SELECT qlink.create_staff_user($1, $2, 'STAFF', $3)",
                &[&format!("staff@{slug}.test"), &hash, &id],
            )
            .await
            .unwrap();
        id
    }

    pub async fn admin_user(&self) -> String {
        let email = "root@qlink.test".to_string();
        let hash = qlink_server::accounts::hash_password(PASSWORD).unwrap();
        self.db.query_one("SELECT qlink.create_staff_user($1, $2, 'SUPER_ADMIN')", &[&email, &hash]).await.unwrap();
        email
    }

    /// Logs a browser in; returns the client holding the session cookie.
    pub async fn login(&self, email: &str) -> reqwest::Client {
        let client = browser(self);
        let r = client
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "login as {email}: {}", r.text().await.unwrap());
        client
    }

    pub async fn staff(&self, slug: &str) -> reqwest::Client {
        self.login(&format!("staff@{slug}.test")).await
    }

    /// A patient takes a token through the public API.
    pub async fn take_token(&self, slug: &str, name: &str, phone: &str) -> Value {
        let r = plain()
            .post(self.url(&format!("/api/v1/clinics/{slug}/tokens")))
            .json(&json!({"patient_name": name, "patient_phone": phone}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        r.json().await.unwrap()
    }

    pub async fn token_status(&self, id: &str) -> String {
        self.db.query_one("SELECT status FROM qlink.tokens WHERE id = $1::text::uuid", &[&id]).await.unwrap().get(0)
    }
}

/// Asserts an error response: status, `{"error":{"code","message"}}` with that code.
pub async fn assert_error(response: reqwest::Response, status: u16, code: &str) -> String {
    let got = response.status().as_u16();
    let ct = response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let body = response.text().await.unwrap();
    assert_eq!(got, status, "body: {body}");
    assert!(ct.starts_with("application/json"), "content-type {ct} for {body}");
    let v: Value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("not JSON: {body}"));
    assert_eq!(v["error"]["code"], code, "{body}");
    let message = v["error"]["message"].as_str().expect("message").to_string();
    assert!(!message.is_empty());
    message
}

/// Asserts a refusal of the extension: status, code, and the `reason` it named
/// (`{"error":{"code","reason","message"}}`). Returns the message.
pub async fn assert_refusal(response: reqwest::Response, status: u16, code: &str, reason: &str) -> String {
    let got = response.status().as_u16();
    let body = response.text().await.unwrap();
    assert_eq!(got, status, "body: {body}");
    let v: Value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("not JSON: {body}"));
    assert_eq!(v["error"]["code"], code, "{body}");
    assert_eq!(v["error"]["reason"], reason, "{body}");
    let message = v["error"]["message"].as_str().expect("message").to_string();
    assert!(!message.is_empty());
    message
}

/// The response's JSON body, once its status is the one expected (the body is shown when
/// it is not).
pub async fn json_body(response: reqwest::Response, status: u16) -> Value {
    let got = response.status().as_u16();
    let body = response.text().await.unwrap();
    assert_eq!(got, status, "body: {body}");
    serde_json::from_str(&body).unwrap_or(Value::Null)
}

/// The message worker in this process, as `qlink_worker` against the app's database: a fast
/// poll, a generous rate; `stop` waits for it to end.
pub struct TestWorker {
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl TestWorker {
    pub fn start(app: &TestApp, whatsapp: WhatsAppArgs) -> TestWorker {
        use std::str::FromStr;
        let config =
            tokio_postgres::Config::from_str(&crate::url_as(&app.db_url, "qlink_worker")).expect("the worker's URL");
        let args = WorkerArgs {
            whatsapp_rate_per_second: 50.0,
            worker_concurrency: 4,
            worker_poll_seconds: 1,
            worker_lease_seconds: 30,
            worker_batch_size: 20,
            retention_days: 90,
        };
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(qlink_server::worker::run(config, app.base.clone(), whatsapp, args, shutdown.clone()));
        TestWorker { shutdown, task }
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(30), self.task).await;
    }
}
