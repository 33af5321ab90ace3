//! Shared machinery of the hostile-input fuzzer (`tests/tests/hostile.rs`) and the tenant
//! and auth probes (`tests/tests/tenants.rs`):
//!
//! - [`ProbeApp`]: the real router on a loopback port over a fresh database, like
//!   `app::spawn_app`, but with WhatsApp secrets configured (so that a leak of them can be
//!   looked for) and optionally trusting a loopback proxy (so a test can speak for many
//!   client addresses through `X-Forwarded-For`);
//! - [`Exchange`]: one request and its whole response, recorded byte for byte;
//! - the API's error contract ([`error_contract_violation`]) and internal-text leaks ([`leak`]);
//! - [`Fingerprinter`]: an exact fingerprint of every table in the database, to prove that a
//!   refused request changed nothing;
//! - the operations of the OpenAPI document ([`operations`]);
//! - [`secret_violations`]: where a secret shows up in recorded responses or in a log.

use crate::app::TestApp;
use qlink_server::config::{Secret, WhatsAppArgs};
use reqwest::{Method, RequestBuilder};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;
use tokio_postgres::Client;
use uuid::Uuid;

/// The WhatsApp secrets every probe app is configured with. None may ever appear in a
/// response or a log line.
pub const WA_ACCESS_TOKEN: &str = "EAAG-probe-access-token-9c1e77f0b2";
pub const WA_APP_SECRET: &str = "probe-app-secret-3b8d51aa7c";
pub const WA_VERIFY_TOKEN: &str = "probe-verify-token-d04c2e19e5";
pub const WA_PHONE_NUMBER_ID: &str = "106540352242922";

/// The password of every login the probes create.
pub const PASSWORD: &str = crate::app::PASSWORD;

/// The test app (`TestApp`) with WhatsApp secrets set, and the probes' own helpers.
pub struct ProbeApp {
    app: TestApp,
}

impl std::ops::Deref for ProbeApp {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.app
    }
}

/// WhatsApp settings with every secret set. Nothing listens at the API base: the in-process
/// app runs no worker, so nothing is sent (the secrets are only there to be kept secret).
pub fn whatsapp_with_secrets() -> WhatsAppArgs {
    WhatsAppArgs {
        whatsapp_api_base: "http://127.0.0.1:9".into(),
        whatsapp_api_version: "v21.0".into(),
        whatsapp_phone_number_id: Some(WA_PHONE_NUMBER_ID.into()),
        whatsapp_access_token: Some(Secret::new(WA_ACCESS_TOKEN)),
        whatsapp_app_secret: Some(Secret::new(WA_APP_SECRET)),
        whatsapp_verify_token: Some(Secret::new(WA_VERIFY_TOKEN)),
        whatsapp_display_number: None,
        secret_key: None,
    }
}

impl ProbeApp {
    /// Starts the app. With `trust_loopback_proxy`, the test client (on 127.0.0.1) is a
    /// trusted proxy, so `X-Forwarded-For` names the client address.
    pub async fn spawn(trust_loopback_proxy: bool) -> ProbeApp {
        let mut builder = TestApp::builder().with_whatsapp(whatsapp_with_secrets());
        if trust_loopback_proxy {
            builder = builder.trusting_loopback_proxy();
        }
        ProbeApp { app: builder.spawn().await }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A clinic with one staff login `staff@<slug>.test` (password [`PASSWORD`]).
    /// Returns (clinic id, staff user id).
    pub async fn clinic(&self, slug: &str, settings: Value) -> (Uuid, Uuid) {
        let id: Uuid = self
            .db
            .query_one(
                "SELECT qlink.create_business($1, $2, settings => $3)",
                &[&slug, &format!("Clinic {slug}"), &settings],
            )
            .await
            .expect("create clinic")
            .get(0);
        let staff = self.user(&format!("staff@{slug}.test"), "STAFF", Some(id)).await;
        (id, staff)
    }

    /// A login (password [`PASSWORD`]); returns its id.
    pub async fn user(&self, email: &str, role: &str, clinic: Option<Uuid>) -> Uuid {
        let hash = qlink_server::accounts::hash_password(PASSWORD).expect("hash");
        self.db
            .query_one("SELECT qlink.create_staff_user($1, $2, $3, $4)", &[&email, &hash, &role, &clinic])
            .await
            .expect("create user")
            .get(0)
    }

    /// A login session for a user, made directly in the database (no login request, so no
    /// rate limit is spent). Returns the secret a browser or API client would hold.
    pub async fn mint_session(&self, user_id: Uuid) -> String {
        let secret = qlink_server::accounts::new_session_secret();
        let digest = qlink_server::accounts::session_digest(&secret);
        self.db
            .query_one("SELECT qlink.create_login_session($1, $2, interval '12 hours')", &[&digest, &user_id])
            .await
            .expect("create login session");
        secret
    }

    /// Whether a session secret is still a live login.
    pub async fn session_alive(&self, secret: &str) -> bool {
        let digest = qlink_server::accounts::session_digest(secret);
        self.db
            .query_one(
                "SELECT count(*) FROM qlink.login_sessions WHERE token_hash = $1 AND expires_at > now()",
                &[&digest],
            )
            .await
            .expect("session lookup")
            .get::<_, i64>(0)
            == 1
    }
}

/// A client with no cookie store, no default headers and a generous timeout (a hang is a
/// failure, never a wait forever).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// One request and its whole response, byte for byte.
#[derive(Clone, Debug)]
pub struct Exchange {
    pub method: String,
    pub url: String,
    pub request_headers: Vec<(String, Vec<u8>)>,
    pub request_body: Vec<u8>,
    pub status: u16,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl Exchange {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    }

    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Everything the client sent, as text (for "did the client say this itself?").
    pub fn sent(&self) -> String {
        let mut s = format!("{} {}\n", self.method, percent_decode_lossy(&self.url));
        for (k, v) in &self.request_headers {
            s.push_str(&format!("{k}: {}\n", String::from_utf8_lossy(v)));
        }
        s.push_str(&String::from_utf8_lossy(&self.request_body));
        s
    }

    /// Everything the server answered (headers and body), as text.
    pub fn received(&self) -> String {
        let mut s = String::new();
        for (k, v) in &self.headers {
            s.push_str(&format!("{k}: {}\n", String::from_utf8_lossy(v)));
        }
        s.push_str(&self.text());
        s
    }

    /// A short description for assertion messages.
    pub fn describe(&self) -> String {
        let clip = |b: &[u8], n: usize| {
            let t = String::from_utf8_lossy(b);
            if t.chars().count() > n {
                format!("{}… ({} bytes)", t.chars().take(n).collect::<String>(), b.len())
            } else {
                t.into_owned()
            }
        };
        let ct = self
            .request_headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_else(|| "-".into());
        format!(
            "{} {} [content-type: {ct}] body: {}\n  => {} {}",
            self.method,
            clip(self.url.as_bytes(), 200),
            clip(&self.request_body, 300),
            self.status,
            clip(&self.body, 400)
        )
    }
}

/// Sends a request and records it with its whole response.
pub async fn exchange(builder: RequestBuilder) -> Exchange {
    try_exchange(builder).await.unwrap_or_else(|e| panic!("{e}"))
}

/// Like [`exchange`], but a request that got no complete answer (the connection was reset
/// or closed) is an error describing the request, for the caller to report.
pub async fn try_exchange(builder: RequestBuilder) -> Result<Exchange, String> {
    let (client, request) = builder.build_split();
    let request = request.expect("a well-formed request");
    let method = request.method().to_string();
    let url = request.url().to_string();
    let request_headers: Vec<(String, Vec<u8>)> =
        request.headers().iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())).collect();
    let request_body = request.body().and_then(|b| b.as_bytes()).map(<[u8]>::to_vec).unwrap_or_default();
    let describe = |what: &str, e: &reqwest::Error| {
        let headers: Vec<String> = request_headers
            .iter()
            .map(|(k, v)| format!("{k}: {}", String::from_utf8_lossy(v).chars().take(120).collect::<String>()))
            .collect();
        format!(
            "{method} {} ({} bytes of URL) {headers:?} with a {}-byte body: {what}: {:?}",
            url.chars().take(300).collect::<String>(),
            url.len(),
            request_body.len(),
            e.without_url_ref()
        )
    };
    let response = match client.execute(request).await {
        Ok(r) => r,
        Err(e) => return Err(describe("no response", &e)),
    };
    let status = response.status().as_u16();
    let headers = response.headers().iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())).collect();
    let body = match response.bytes().await {
        Ok(b) => b.to_vec(),
        Err(e) => return Err(describe(&format!("status {status}, then the body failed"), &e)),
    };
    Ok(Exchange { method, url, request_headers, request_body, status, headers, body })
}

trait WithoutUrlRef {
    fn without_url_ref(&self) -> String;
}

impl WithoutUrlRef for reqwest::Error {
    fn without_url_ref(&self) -> String {
        let mut chain = vec![self.to_string()];
        let mut source = std::error::Error::source(self);
        while let Some(s) = source {
            chain.push(s.to_string());
            source = s.source();
        }
        chain.join(": ").chars().take(400).collect()
    }
}

/// Every exchange a test made, for scanning at the end.
#[derive(Default, Clone)]
pub struct Recorder(std::sync::Arc<std::sync::Mutex<Vec<Exchange>>>);

impl Recorder {
    pub async fn send(&self, builder: RequestBuilder) -> Exchange {
        let x = exchange(builder).await;
        self.0.lock().unwrap().push(x.clone());
        x
    }
    pub fn all(&self) -> Vec<Exchange> {
        self.0.lock().unwrap().clone()
    }
    pub fn extend(&self, more: Vec<Exchange>) {
        self.0.lock().unwrap().extend(more);
    }
    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

// ---------------------------------------------------------------------------------------
// The error contract.

/// README: "Errors are always `{"error":{"code","message"}}` with the codes …" — each code
/// with its one HTTP status.
pub const ERROR_CODES: &[(u16, &str)] = &[
    (400, "invalid_input"),
    (401, "unauthorized"),
    (403, "forbidden"),
    (404, "not_found"),
    (405, "method_not_allowed"),
    (409, "conflict"),
    (413, "payload_too_large"),
    (415, "unsupported_media_type"),
    (429, "rate_limited"),
    (500, "internal"),
    (503, "unavailable"),
];

/// The error codes the OpenAPI document lists (the description of `ErrorDetail.code`).
pub fn documented_error_codes(doc: &Value) -> BTreeSet<String> {
    let description = doc
        .pointer("/components/schemas/ErrorDetail/properties/code/description")
        .and_then(Value::as_str)
        .expect("ErrorDetail.code is described in the OpenAPI document");
    description
        .split(|c: char| !(c.is_ascii_lowercase() || c == '_'))
        .filter(|w| w.contains('_') || ERROR_CODES.iter().any(|(_, c)| c == w))
        .map(str::to_string)
        .collect()
}

/// Why an error response breaks the contract, if it does: not JSON, not exactly
/// `{"error":{"code","message"}}` (plus `reason` when the extension refused), a code the document does not list, or a code that does
/// not go with the status.
pub fn error_contract_violation(x: &Exchange, documented: &BTreeSet<String>) -> Option<String> {
    if x.status < 400 {
        return None;
    }
    let ct = x.header("content-type").unwrap_or_default();
    if !ct.starts_with("application/json") {
        return Some(format!("error {} with content-type {ct:?}, not JSON", x.status));
    }
    let Some(v) = x.json() else { return Some(format!("error {} body is not JSON", x.status)) };
    // `reason` is there exactly when the extension named one: a non-empty snake_case word.
    let reason_ok = match v["error"].get("reason") {
        None => v["error"].as_object().is_some_and(|e| e.len() == 2),
        Some(r) => {
            v["error"].as_object().is_some_and(|e| e.len() == 3)
                && r.as_str().is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        }
    };
    let shape_ok = v.as_object().is_some_and(|o| o.len() == 1)
        && reason_ok
        && v["error"]["message"].as_str().is_some_and(|m| !m.trim().is_empty());
    if !shape_ok {
        return Some(format!("error body is not {{\"error\":{{\"code\",\"reason\"?,\"message\"}}}}: {v}"));
    }
    let code = v["error"]["code"].as_str().unwrap_or_default();
    if !documented.contains(code) {
        return Some(format!("error code {code:?} is not documented"));
    }
    match ERROR_CODES.iter().find(|(_, c)| *c == code) {
        Some((status, _)) if *status == x.status => None,
        Some((status, _)) => Some(format!("code {code:?} goes with {status}, answered {}", x.status)),
        None => Some(format!("code {code:?} has no documented status")),
    }
}

/// Text that must never reach a client: driver and database internals, panics, stack
/// traces, source paths. A marker the client itself sent (echoed back in a validation
/// message) is not a leak.
pub const LEAK_MARKERS: &[&str] = &[
    "tokio_postgres",
    "tokio-postgres",
    "deadpool",
    "SQLSTATE",
    "sqlstate",
    "db error",
    "DbError",
    "ERROR: ",
    "DETAIL: ",
    "HINT: ",
    "CONTEXT: ",
    "PL/pgSQL",
    "pgrx",
    "panicked",
    "panic",
    "stack backtrace",
    "RUST_BACKTRACE",
    "backtrace",
    "qlink_server::",
    "qlink::",
    "/rustc/",
    ".rs:",
    "src/",
    "/work/",
    "/home/",
    "/root/",
    "/usr/",
    "/var/",
    "/tmp/",
    "/.cargo/",
    "anyhow",
    "thiserror",
];

/// The first internal marker found in a response (headers or body) that the client did
/// not send itself.
pub fn leak(x: &Exchange) -> Option<&'static str> {
    let received = x.received();
    let sent = x.sent();
    LEAK_MARKERS.iter().copied().find(|m| received.contains(m) && !sent.contains(m))
}

// ---------------------------------------------------------------------------------------
// Database fingerprints.

/// An exact fingerprint of every table: per table, its row count and the MD5 of all its
/// rows (as text, sorted). Login rate-limit hits are kept apart: a failed login is meant
/// to count against the limit.
pub struct Fingerprinter {
    sql: String,
}

pub type Fingerprint = BTreeMap<String, String>;

/// The part of `rate_limit_hits` that failed logins legitimately add to.
pub const LOGIN_HITS: &str = "qlink.rate_limit_hits[login:*]";

/// The part of `rate_limit_hits` that a patient's attempt refused for its number
/// (`phone_limit`) legitimately adds to: the source's two intake windows.
pub const INTAKE_HITS: &str = "qlink.rate_limit_hits[create_token:*]";

impl Fingerprinter {
    /// Enumerates every ordinary table of every user schema (new tables are covered).
    pub async fn new(db: &Client) -> Fingerprinter {
        let rows = db
            .query(
                "SELECT n.nspname, c.relname FROM pg_catalog.pg_class c \
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
                   AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%' \
                 ORDER BY 1, 2",
                &[],
            )
            .await
            .expect("list tables");
        let part = |label: &str, from: &str| {
            format!(
                "SELECT {label} AS t, count(*)::text || ':' || coalesce(md5(string_agg(x::text, E'\\x1e' ORDER BY x::text)), '-') AS f FROM {from}",
                label = quote_literal(label)
            )
        };
        let mut parts = Vec::new();
        for row in rows {
            let (schema, table): (String, String) = (row.get(0), row.get(1));
            let name = format!("{schema}.{table}");
            let from = format!("{}.{} x", quote_ident(&schema), quote_ident(&table));
            if name == "qlink.rate_limit_hits" {
                parts.push(part(
                    &name,
                    &format!("{from} WHERE x.key NOT LIKE 'login:%' AND x.key NOT LIKE 'create\\_token:%'"),
                ));
                parts.push(part(LOGIN_HITS, &format!("{from} WHERE x.key LIKE 'login:%'")));
                parts.push(part(INTAKE_HITS, &format!("{from} WHERE x.key LIKE 'create\\_token:%'")));
            } else {
                parts.push(part(&name, &from));
            }
        }
        assert!(parts.len() >= 9, "expected the qlink tables, found {}", parts.len());
        Fingerprinter { sql: parts.join(" UNION ALL ") }
    }

    pub async fn take(&self, db: &Client) -> Fingerprint {
        db.query(&self.sql, &[]).await.expect("fingerprint").iter().map(|r| (r.get(0), r.get(1))).collect()
    }
}

/// The tables whose fingerprint differs.
pub fn diff(before: &Fingerprint, after: &Fingerprint) -> Vec<String> {
    let keys: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    keys.into_iter()
        .filter(|k| before.get(*k) != after.get(*k))
        .map(|k| format!("{k}: {} -> {}", before.get(k).map_or("-", |s| s), after.get(k).map_or("-", |s| s)))
        .collect()
}

/// Row count of one fingerprint entry.
pub fn rows(f: &Fingerprint, table: &str) -> i64 {
    f.get(table).and_then(|s| s.split(':').next()).and_then(|n| n.parse().ok()).unwrap_or(0)
}

fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

// ---------------------------------------------------------------------------------------
// The OpenAPI document.

#[derive(Clone, Debug)]
pub struct Param {
    pub name: String,
    /// path, query or header
    pub location: String,
    pub required: bool,
    pub schema: Value,
}

/// One operation of the OpenAPI document.
#[derive(Clone, Debug)]
pub struct Operation {
    pub method: Method,
    /// The path template, e.g. `/api/v1/tokens/{id}`.
    pub path: String,
    pub tag: String,
    pub params: Vec<Param>,
    /// The request body's schema, `$ref`s resolved.
    pub body: Option<Value>,
    /// The documented response statuses, and those documented as JSON.
    pub responses: BTreeSet<u16>,
    pub json_responses: BTreeSet<u16>,
}

impl Operation {
    pub fn key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// The path with its parameters filled in (values are used as given: encode them first).
    pub fn fill(&self, values: &BTreeMap<String, String>) -> String {
        let mut path = self.path.clone();
        for (name, value) in values {
            path = path.replace(&format!("{{{name}}}"), value);
        }
        path
    }

    pub fn path_params(&self) -> impl Iterator<Item = &Param> {
        self.params.iter().filter(|p| p.location == "path")
    }

    pub fn query_params(&self) -> impl Iterator<Item = &Param> {
        self.params.iter().filter(|p| p.location == "query")
    }

    /// Not a safe method: a cookie needs our Origin.
    pub fn writes(&self) -> bool {
        !matches!(self.method, Method::GET | Method::HEAD | Method::OPTIONS)
    }
}

pub async fn openapi(base: &str) -> Value {
    let x = exchange(client().get(format!("{base}/api/v1/openapi.json"))).await;
    assert_eq!(x.status, 200, "{}", x.describe());
    x.json().expect("the OpenAPI document is JSON")
}

/// Every operation of the document, in document order.
pub fn operations(doc: &Value) -> Vec<Operation> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let Ok(method) = Method::from_bytes(method.to_ascii_uppercase().as_bytes()) else { continue };
            if !op.is_object() || method == Method::from_bytes(b"PARAMETERS").unwrap() {
                continue;
            }
            let params = op["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .map(|p| {
                            let p = resolve(doc, p);
                            Param {
                                name: p["name"].as_str().unwrap_or_default().to_string(),
                                location: p["in"].as_str().unwrap_or_default().to_string(),
                                required: p["required"].as_bool().unwrap_or(false),
                                schema: resolve(doc, &p["schema"]),
                            }
                        })
                        .collect()
                })
                .unwrap_or_default();
            let body = op.pointer("/requestBody/content/application~1json/schema").map(|s| resolve(doc, s));
            let mut responses = BTreeSet::new();
            let mut json_responses = BTreeSet::new();
            for (status, r) in op["responses"].as_object().into_iter().flatten() {
                if let Ok(s) = status.parse::<u16>() {
                    responses.insert(s);
                    if resolve(doc, r).pointer("/content/application~1json").is_some() {
                        json_responses.insert(s);
                    }
                }
            }
            ops.push(Operation {
                method,
                path: path.clone(),
                tag: op["tags"][0].as_str().unwrap_or_default().to_string(),
                params,
                body,
                responses,
                json_responses,
            });
        }
    }
    ops
}

/// The schema with every `$ref` replaced by what it points to.
pub fn resolve(doc: &Value, schema: &Value) -> Value {
    fn go(doc: &Value, v: &Value, depth: usize) -> Value {
        assert!(depth < 32, "recursive $ref");
        match v {
            Value::Object(o) => {
                if let Some(r) = o.get("$ref").and_then(Value::as_str) {
                    let target = doc.pointer(r.trim_start_matches('#')).unwrap_or_else(|| panic!("dangling $ref {r}"));
                    return go(doc, target, depth + 1);
                }
                Value::Object(o.iter().map(|(k, v)| (k.clone(), go(doc, v, depth + 1))).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(|v| go(doc, v, depth + 1)).collect()),
            other => other.clone(),
        }
    }
    go(doc, schema, 0)
}

// ---------------------------------------------------------------------------------------
// Secrets.

/// A secret to look for, and where it may legitimately appear.
#[derive(Clone, Debug)]
pub struct Watched {
    pub label: String,
    pub value: String,
    /// A session secret may appear in the response of the login that issued it (its
    /// Set-Cookie, and the body's `token` when asked for) and nowhere else.
    pub issued_by_login: bool,
}

impl Watched {
    pub fn secret(label: impl Into<String>, value: impl Into<String>) -> Watched {
        Watched { label: label.into(), value: value.into(), issued_by_login: false }
    }
    pub fn session(label: impl Into<String>, value: impl Into<String>) -> Watched {
        Watched { label: label.into(), value: value.into(), issued_by_login: true }
    }
}

/// The secrets every probe app holds or stores: the WhatsApp credentials, and for every
/// login in the database its password hash, and for every login session its digest (hex
/// and base64). A test adds the session secrets and passwords it knows.
pub async fn stored_secrets(db: &Client) -> Vec<Watched> {
    let mut out = vec![
        Watched::secret("WhatsApp access token", WA_ACCESS_TOKEN),
        Watched::secret("WhatsApp app secret", WA_APP_SECRET),
        Watched::secret("WhatsApp verify token", WA_VERIFY_TOKEN),
        Watched::secret("argon2 hash prefix", "$argon2id$"),
    ];
    for r in db.query("SELECT email, password_hash FROM qlink.staff_users", &[]).await.expect("hashes") {
        let (email, hash): (String, String) = (r.get(0), r.get(1));
        out.push(Watched::secret(format!("password hash of {email}"), hash.clone()));
        // The salt and digest parts alone, too.
        for part in hash.rsplit('$').take(2) {
            if part.len() >= 16 {
                out.push(Watched::secret(format!("password hash part of {email}"), part));
            }
        }
    }
    for r in db
        .query("SELECT encode(token_hash, 'hex'), encode(token_hash, 'base64') FROM qlink.login_sessions", &[])
        .await
        .expect("digests")
    {
        out.push(Watched::secret("session digest (hex)", r.get::<_, String>(0)));
        out.push(Watched::secret("session digest (base64)", r.get::<_, String>(1)));
    }
    out
}

/// Whether this exchange is the login that issued `secret`.
fn issued_here(x: &Exchange, secret: &str) -> bool {
    if !x.url.ends_with("/api/v1/auth/login") || x.status != 200 {
        return false;
    }
    let cookie = x.header("set-cookie").unwrap_or_default();
    cookie.starts_with(&format!("qlink_session={secret};"))
}

/// Every place a watched secret appears in the responses (headers and bodies), except a
/// session secret in the login response that issued it.
pub fn secret_violations(exchanges: &[Exchange], watched: &[Watched]) -> Vec<String> {
    let mut found = Vec::new();
    for x in exchanges {
        let received = x.received();
        for w in watched {
            if w.value.is_empty() || !received.contains(&w.value) {
                continue;
            }
            if w.issued_by_login && issued_here(x, &w.value) {
                // Allowed only in Set-Cookie and in the body's `token` field.
                let body_ok = !x.text().contains(&w.value) || x.json().is_some_and(|v| v["token"] == w.value.as_str());
                if body_ok {
                    continue;
                }
            }
            found.push(format!("{} in the response to {} {} ({})", w.label, x.method, x.url, x.status));
        }
    }
    found
}

/// Every watched secret that appears in a log.
pub fn log_violations(log: &str, watched: &[Watched]) -> Vec<String> {
    watched
        .iter()
        .filter(|w| !w.value.is_empty() && log.contains(&w.value))
        .map(|w| format!("{} in the server log", w.label))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Small helpers.

/// Percent-encodes every byte outside RFC 3986's unreserved set (for path segments and
/// query values).
pub fn pct(s: &str) -> String {
    pct_bytes(s.as_bytes())
}

pub fn pct_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode_lossy(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The `qlink` binary, built from the current sources. Under `cargo test` the build is
/// run (a no-op when up to date: scripts/test.sh has built it already), so a test never
/// runs a stale server. `QLINK_BIN` overrides.
pub fn fresh_qlink_bin() -> PathBuf {
    if std::env::var_os("QLINK_BIN").is_none() {
        if let Some(cargo) = std::env::var_os("CARGO") {
            let out = std::process::Command::new(cargo)
                .args(["build", "--quiet", "-p", "qlink-server", "--bin", "qlink"])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .output()
                .expect("run cargo build");
            assert!(
                out.status.success(),
                "cargo build -p qlink-server failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    crate::qlink_bin()
}

/// A valid value for a body field of the API, by its name (the document only says
/// "string"); `n` makes slugs, emails and phones unique.
pub fn valid_value(name: &str, schema: &Value, n: u64, login_email: &str) -> Value {
    match name {
        "patient_name" => json!(format!("Valid Patient {n}")),
        "patient_phone" => json!(format!("9{:09}", 800_000_000 + n)),
        "language" => json!("en"),
        "action" => json!("NEXT"),
        "rating" => json!(5),
        "feedback" => json!("Quick and kind"),
        "email" => json!(login_email),
        "password" | "staff_password" => json!(PASSWORD),
        "slug" => json!(format!("valid-{n}")),
        "name" => json!(format!("Clinic {n}")),
        "timezone" => json!("Asia/Kolkata"),
        "status" => json!("ACTIVE"),
        "settings" => json!({}),
        "address" => json!("12 MG Road, Pune"),
        "contact_phone" => json!("+919876543210"),
        "staff_email" => json!(format!("desk{n}@valid.test")),
        "is_priority" | "issue_token" => json!(false),
        "token_id" => Value::Null,
        // Rooms (SPEC §9): a fresh label prefix per n, the optional ids left null, the
        // queues of a room filled in by the caller (they are a clinic's own).
        "prefix" => json!((0..3).map(|i| char::from(b'A' + ((n / 26u64.pow(i)) % 26) as u8)).collect::<String>()),
        "room_id" | "queue_id" | "target_queue_id" => Value::Null,
        "queue_ids" => json!([]),
        "sort_order" => json!(1),
        "is_active" => json!(true),
        "unpin" => json!(false),
        "role" => json!("STAFF"),
        // WhatsApp senders (SPEC §11): Meta's ids are digits; a fresh number per n; no
        // access token (a probe server has no QLINK_SECRET_KEY to seal one with).
        "phone_number_id" => json!(format!("{}", 100_000_000_000u64 + n)),
        "waba_id" => json!(format!("{}", 900_000_000_000u64 + n)),
        "display_number" => json!(format!("+9198{:08}", n % 100_000_000)),
        "access_token" => Value::Null,
        "daily_recipient_limit" => json!(2000),
        _ => {
            // A nullable field's type is a list: ["integer", "null"].
            let types: Vec<&str> = match &schema["type"] {
                Value::String(t) => vec![t.as_str()],
                Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
                _ => vec![],
            };
            if types.iter().any(|t| *t == "integer" || *t == "number") {
                json!(1)
            } else if types.contains(&"boolean") {
                json!(false)
            } else {
                json!(format!("value {n}"))
            }
        }
    }
}

/// A valid body for an operation's schema (optional `token_id` left out).
pub fn valid_body(schema: &Value, n: u64, login_email: &str) -> serde_json::Map<String, Value> {
    schema["properties"]
        .as_object()
        .map(|props| {
            props
                .iter()
                .filter(|(name, _)| name.as_str() != "token_id")
                .map(|(name, s)| (name.clone(), valid_value(name, s, n, login_email)))
                .collect()
        })
        .unwrap_or_default()
}

/// A JSON body for a fresh clinic through the admin API.
pub fn new_clinic_body(slug: &str) -> Value {
    json!({"slug": slug, "name": format!("Clinic {slug}"), "staff_email": format!("desk@{slug}.test"), "staff_password": PASSWORD})
}
