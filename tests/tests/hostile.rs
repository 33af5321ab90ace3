//! Hostile input over HTTP. A seeded fuzzer walks every operation of the running app's
//! `/api/v1/openapi.json` (the WhatsApp webhook with its own signing generator) and
//! sends generated requests: random and boundary values in path parameters, query
//! parameters and JSON bodies (wrong types, missing and extra fields, nulls, huge strings,
//! deep nesting, numbers out of range, SQL metacharacters, NUL and invalid UTF-8 bytes,
//! emoji, Devanagari, right-to-left marks, control characters), wrong or missing
//! Content-Type, bodies over the 64 KiB limit, unsupported methods, with and without a valid
//! staff or operator login. Every answer must be:
//!
//! - never a 5xx;
//! - for an error, JSON `{"error":{"code","message"}}` with a code the document lists and
//!   the status that goes with it;
//! - free of internal text (driver, SQLSTATE, panics, stack traces, source paths);
//! - for a refused (4xx) request, without any effect: every table of the database is
//!   fingerprinted after every request and compared with the state before it (the only
//!   change a refused request may make is a failed login's rate-limit hit).
//!
//! `QLINK_FUZZ_SEED` replays a run (the seed is printed), `QLINK_FUZZ_CASES` lengthens it
//! (default 1,200 requests). The other tests here pin the defects the fuzzer found and the
//! Unicode and SQL-metacharacter round trips.

use qlink_tests::probe::{
    self, client, diff, documented_error_codes, error_contract_violation, exchange, leak, operations, pct, pct_bytes,
    rows, try_exchange, valid_body, Exchange, Fingerprint, Fingerprinter, Operation, ProbeApp, INTAKE_HITS, LOGIN_HITS,
    PASSWORD, WA_APP_SECRET, WA_PHONE_NUMBER_ID, WA_VERIFY_TOKEN,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::header::{HeaderName, HeaderValue};
use reqwest::Method;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;
use uuid::Uuid;

// ---------------------------------------------------------------------------------------
// Vocabulary.

/// Strings that have broken servers before.
const HOSTILE: &[&str] = &[
    "'; DROP TABLE qlink.tokens; --",
    "Robert'); DROP TABLE qlink.businesses;--",
    "' OR '1'='1",
    "' OR 1=1 --",
    "1; SELECT pg_sleep(10); --",
    "$$; DELETE FROM qlink.tokens; $$",
    "'); TRUNCATE qlink.staff_users CASCADE; --",
    "\\'; COPY qlink.staff_users TO '/tmp/x'; --",
    "E'\\x00'",
    "%00",
    "%",
    "_",
    "%_%",
    "\\",
    "\\\\",
    "\"",
    "`",
    "${jndi:ldap://127.0.0.1/a}",
    "{{7*7}}",
    "<script>alert(1)</script>",
    "\"><img src=x onerror=alert(1)>",
    "../../../../etc/passwd",
    "..\\..\\windows\\win.ini",
    "\u{0}",
    "a\u{0}b",
    "\u{1}\u{2}\u{3}",
    "\u{7f}",
    "\u{1b}[31mred\u{1b}[0m",
    "line\r\nInjected: header",
    "\t",
    "\u{85}",
    "\u{202e}evil\u{202c}",
    "\u{200f}",
    "\u{200e}\u{200f}\u{202a}\u{202b}\u{2066}\u{2067}\u{2069}",
    "\u{feff}",
    "\u{fffd}",
    "\u{fffe}\u{ffff}",
    "\u{10ffff}",
    "\u{e000}",
    "😀👩‍⚕️🇮🇳",
    "👨‍👩‍👧‍👦",
    "आशा राव",
    "मरीज़ 😷",
    "क्षत्रिय",
    "محمد علي\u{200f}",
    "שלום",
    "Zoë",
    "Zoe\u{308}",
    "ǅ İ ß ﬁ",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    " ",
    "",
    "null",
    "NULL",
    "undefined",
    "true",
    "0",
    "-1",
    "NaN",
    "Infinity",
    "1e309",
    "[]",
    "{}",
    "00000000-0000-0000-0000-000000000000",
    "ffffffff-ffff-ffff-ffff-ffffffffffff",
    "SUPER_ADMIN",
    "staff@fuzz-main.test",
];

/// Names that must be accepted and kept exactly.
const UNICODE_NAMES: &[&str] = &[
    "आशा राव",
    "श्री गणेश 🙏",
    "क्षत्रिय ज्ञान",
    "👩🏽‍⚕️ Dr Asha",
    "🇮🇳",
    "محمد علي\u{200f}",
    "\u{200f}فاطمة\u{200e} Khan",
    "שלום עליכם",
    "Zoë",
    "Zoe\u{308}",
    "ਗੁਰਪ੍ਰੀਤ ਸਿੰਘ",
    "தமிழ்செல்வி",
    "বাংলা নাম",
    "山田 太郎",
    "ǅ İ ß ﬁ",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
];

/// Names full of SQL metacharacters, to be stored literally.
const SQL_NAMES: &[&str] = &[
    "'; DROP TABLE qlink.tokens; --",
    "Robert'); DROP TABLE qlink.businesses;--",
    "O'Brien",
    "' OR '1'='1",
    "$$ DELETE FROM qlink.tokens $$",
    "$1 $2 ::uuid",
    "100% _real_ name",
    "back\\slash \\' quote",
    "semi; colon -- comment /* c */",
    "\"double\" `back`",
    "E'\\x41'",
    "1); SELECT pg_sleep(10); --",
];

const CONTENT_TYPES: &[&str] = &[
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=xyz",
    "application/json; charset=utf-8",
    "application/json; charset=utf-16",
    "application/json;charset=latin1",
    "APPLICATION/JSON",
    "application/problem+json",
    "application/jsonx",
    "application/xml",
    "text/json",
    "*/*",
    ";;;",
    "application/",
];

const ACTIONS: &[&str] = &["NEXT", "SERVED", "SKIP", "RECALL", "CANCEL", "UNDO"];
const CLINIC_STATUSES: &[&str] = &["ACTIVE", "TRIAL", "SUSPENDED", "DISABLED"];
const MESSAGE_STATUSES: &[&str] = &["PENDING", "SENT", "DELIVERED", "READ", "FAILED", "PERMANENTLY_FAILED", "SKIPPED"];
const SETTING_KEYS: &[&str] = &[
    "whatsapp_enabled",
    "qr_intake_enabled",
    "daily_token_limit",
    "daily_message_limit",
    "max_tokens_per_phone_per_day",
    "ip_tokens_per_10min",
    "eta_min_minutes",
    "eta_max_minutes",
    "stall_warning_minutes",
    "reminder_at_position",
    "default_language",
];

// ---------------------------------------------------------------------------------------
// The world the fuzzer plays in.

const MAIN: &str = "fuzz-main";
const OTHER: &str = "fuzz-other";
const SUSPENDED: &str = "fuzz-suspended";

/// Generous limits for the main clinic, so that long runs keep reaching the success paths.
fn main_settings() -> Value {
    json!({"daily_token_limit": 10000, "daily_message_limit": 100000, "max_tokens_per_phone_per_day": 50})
}

struct World {
    app: ProbeApp,
    fp: Fingerprinter,
    documented_codes: BTreeSet<String>,
    main_id: Uuid,
    other_id: Uuid,
    staff_id: Uuid,
    other_staff_id: Uuid,
    admin_id: Uuid,
    /// The main clinic's owner (SPEC §9).
    owner_id: Uuid,
    staff_secret: String,
    other_staff_secret: String,
    admin_secret: String,
    owner_secret: String,
    /// Clinics the operator routes may patch, reset and delete.
    victims: Vec<Uuid>,
    victim_counter: u32,
    /// Known token ids (main and other clinic).
    tokens: Vec<Uuid>,
    emails: Vec<String>,
}

impl World {
    async fn new() -> World {
        let app = ProbeApp::spawn(true).await;
        let (main_id, staff_id) = app.clinic(MAIN, main_settings()).await;
        let (other_id, other_staff_id) = app.clinic(OTHER, json!({})).await;
        let (suspended_id, _) = app.clinic(SUSPENDED, json!({})).await;
        let admin_email = "root@fuzz.test";
        let admin_id = app.user(admin_email, "SUPER_ADMIN", None).await;
        let owner_id = app.user(&format!("owner@{MAIN}.test"), "OWNER", Some(main_id)).await;
        let mut w = World {
            fp: Fingerprinter::new(&app.db).await,
            documented_codes: documented_error_codes(&probe::openapi(&app.base).await),
            staff_secret: app.mint_session(staff_id).await,
            other_staff_secret: app.mint_session(other_staff_id).await,
            admin_secret: app.mint_session(admin_id).await,
            owner_secret: app.mint_session(owner_id).await,
            app,
            main_id,
            other_id,
            staff_id,
            other_staff_id,
            admin_id,
            owner_id,
            victims: vec![],
            victim_counter: 0,
            tokens: vec![],
            emails: vec![
                format!("staff@{MAIN}.test"),
                format!("staff@{OTHER}.test"),
                format!("staff@{SUSPENDED}.test"),
                admin_email.to_string(),
                "nobody@fuzz.test".into(),
            ],
        };
        // Tokens in every status, in both clinics.
        for (clinic, n) in [(main_id, 8), (other_id, 5)] {
            for i in 0..n {
                let row = w
                    .app
                    .db
                    .query_one(
                        "SELECT token_id FROM qlink.create_token($1, $2, $3)",
                        &[
                            &clinic,
                            &format!("Seed {i}"),
                            &format!("9{:09}", 100_000 + i + if clinic == main_id { 0 } else { 50 }),
                        ],
                    )
                    .await
                    .expect("seed token");
                w.tokens.push(row.get(0));
            }
            for action in ["NEXT", "NEXT", "SKIP", "NEXT"] {
                w.app
                    .db
                    .query_one("SELECT * FROM qlink.queue_action($1, $2)", &[&clinic, &action])
                    .await
                    .expect("seed action");
            }
            w.app
                .db
                .query_one(
                    "SELECT * FROM qlink.queue_action($1, 'CANCEL', $2)",
                    &[&clinic, &w.tokens[w.tokens.len() - 1]],
                )
                .await
                .expect("seed cancel");
        }
        w.app.db.query_one("SELECT qlink.update_business($1, status => 'SUSPENDED')", &[&suspended_id]).await.unwrap();
        w.heal().await;
        w
    }

    fn url(&self, path: &str) -> String {
        self.app.url(path)
    }

    /// Puts back what successful fuzzed requests may have used up, so that the success
    /// paths stay reachable: live logins, an open main queue with patients waiting, and
    /// clinics for the operator routes to act on. Runs only between requests, never inside
    /// a refused request's before/after window.
    async fn heal(&mut self) {
        let db = &self.app.db;
        if !self.app.session_alive(&self.staff_secret).await {
            self.staff_secret = self.app.mint_session(self.staff_id).await;
        }
        if !self.app.session_alive(&self.other_staff_secret).await {
            self.other_staff_secret = self.app.mint_session(self.other_staff_id).await;
        }
        if !self.app.session_alive(&self.admin_secret).await {
            self.admin_secret = self.app.mint_session(self.admin_id).await;
        }
        if !self.app.session_alive(&self.owner_secret).await {
            self.owner_secret = self.app.mint_session(self.owner_id).await;
        }
        db.query_one(
            "SELECT qlink.update_business($1, status => 'ACTIVE', settings => $2)",
            &[&self.main_id, &main_settings()],
        )
        .await
        .expect("main clinic");
        db.execute(
            "UPDATE qlink.sessions SET status = 'OPEN', closed_at = NULL WHERE business_id = $1 AND status = 'CLOSED'",
            &[&self.main_id],
        )
        .await
        .expect("reopen");
        let waiting: i32 =
            db.query_one("SELECT waiting_count FROM qlink.queue_summary($1)", &[&self.main_id]).await.unwrap().get(0);
        for i in waiting..4 {
            let row = db
                .query_one(
                    "SELECT token_id FROM qlink.create_token($1, $2, NULL, 'STAFF')",
                    &[&self.main_id, &format!("Refill {i}")],
                )
                .await
                .expect("refill");
            self.tokens.push(row.get(0));
        }
        let mut alive = Vec::new();
        for id in &self.victims {
            if db.query_opt("SELECT 1 FROM qlink.businesses WHERE id = $1", &[id]).await.unwrap().is_some() {
                alive.push(*id);
            }
        }
        self.victims = alive;
        while self.victims.len() < 3 {
            self.victim_counter += 1;
            let slug = format!("fuzz-victim-{}", self.victim_counter);
            let id: Uuid =
                db.query_one("SELECT qlink.create_business($1, $2)", &[&slug, &"Victim"]).await.unwrap().get(0);
            // A login of its own, for the operator's routes on a clinic's logins.
            self.app.user(&format!("desk@{slug}.test"), "STAFF", Some(id)).await;
            self.victims.push(id);
        }
        if self.tokens.len() > 400 {
            self.tokens.drain(..200);
        }
    }
}

// ---------------------------------------------------------------------------------------
// The generator.

struct Gen {
    rng: StdRng,
    fresh: u64,
}

/// How a generated request authenticates.
#[derive(Debug)]
enum Auth {
    None,
    Bearer(String),
    /// A cookie, with this Origin header (None: no Origin).
    Cookie(String, Option<String>),
    /// Any Authorization header.
    Raw(Vec<u8>),
}

enum Body {
    None,
    Json(Value),
    Raw(Vec<u8>),
}

impl Gen {
    fn new(seed: u64) -> Gen {
        Gen { rng: StdRng::seed_from_u64(seed), fresh: 0 }
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.gen_bool(p)
    }

    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.rng.gen_range(0..xs.len())]
    }

    fn fresh(&mut self) -> u64 {
        self.fresh += 1;
        self.fresh
    }

    fn random_char(&mut self) -> char {
        let ranges: &[(u32, u32)] = &[
            (0x20, 0x7e),       // ASCII
            (0x01, 0x1f),       // C0 controls
            (0x7f, 0x9f),       // DEL, C1 controls
            (0x900, 0x97f),     // Devanagari
            (0x600, 0x6ff),     // Arabic
            (0x590, 0x5ff),     // Hebrew
            (0x300, 0x36f),     // combining marks
            (0x200b, 0x200f),   // zero-width, LRM, RLM
            (0x202a, 0x202e),   // bidi embeddings and overrides
            (0x2066, 0x2069),   // bidi isolates
            (0x1f300, 0x1faff), // emoji
            (0x4e00, 0x4e80),   // CJK
            (0xe000, 0xe010),   // private use
            (0xfff0, 0xffff),   // specials, non-characters
            (0x10fff0, 0x10ffff),
        ];
        let (lo, hi) = *self.pick(ranges);
        char::from_u32(self.rng.gen_range(lo..=hi)).unwrap_or('\u{fffd}')
    }

    fn random_unicode(&mut self, max: usize) -> String {
        let n = self.rng.gen_range(1..=max);
        (0..n).map(|_| self.random_char()).collect()
    }

    fn hostile_string(&mut self) -> String {
        match self.rng.gen_range(0..12) {
            0..=4 => self.pick(HOSTILE).to_string(),
            5 | 6 => self.random_unicode(40),
            7 => {
                let unit = self.pick(&["x", "अ", "😀", "'", "\u{0}", "ab"]).to_string();
                let n = *self.pick(&[79usize, 80, 81, 255, 256, 1000, 1001, 5000, 30000]);
                unit.repeat(n)
            }
            8 => format!("{}{}", self.pick(HOSTILE), self.pick(HOSTILE)),
            9 => {
                let mut s: Vec<char> = self.pick(UNICODE_NAMES).chars().collect();
                let at = self.rng.gen_range(0..=s.len());
                let bad = *self.pick(&['\u{0}', '\u{7}', '\u{1b}', '\n', '\u{85}', '\u{202e}']);
                s.insert(at, bad);
                s.into_iter().collect()
            }
            10 => self.pick(UNICODE_NAMES).to_string(),
            _ => format!("  {}  ", self.pick(SQL_NAMES)),
        }
    }

    fn boundary_int(&mut self) -> Value {
        let choices: [Value; 20] = [
            json!(0),
            json!(-1),
            json!(1),
            json!(5),
            json!(6),
            json!(i32::MAX),
            json!(i32::MIN),
            json!(i64::from(i32::MAX) + 1),
            json!(i64::MAX),
            json!(i64::MIN),
            json!(u64::MAX),
            json!(1.5),
            json!(-0.0),
            json!(1e300),
            json!(2.0),
            json!("5"),
            json!(true),
            json!(null),
            json!([1]),
            json!({"n": 1}),
        ];
        self.pick(&choices).clone()
    }

    fn wrong_type(&mut self) -> Value {
        match self.rng.gen_range(0..8) {
            0 => json!(self.rng.gen_range(-5..100_000)),
            1 => json!(self.rng.gen::<f64>() * 1e6),
            2 => json!(self.chance(0.5)),
            3 => json!([self.hostile_string()]),
            4 => json!({"$gt": ""}),
            5 => Value::Array(vec![]),
            6 => json!(self.hostile_string()),
            _ => {
                let depth = self.rng.gen_range(2..40);
                self.nested(depth)
            }
        }
    }

    /// JSON nested `depth` levels (arrays and objects mixed).
    fn nested(&mut self, depth: usize) -> Value {
        let mut v = json!(self.hostile_string());
        for _ in 0..depth {
            v = if self.chance(0.5) { json!([v]) } else { json!({"a": v}) };
        }
        v
    }

    fn uuid_text(&mut self, id: Uuid) -> String {
        match self.rng.gen_range(0..8) {
            0 => id.to_string().to_uppercase(),
            1 => format!("{{{id}}}"),
            2 => format!("urn:uuid:{id}"),
            3 => id.simple().to_string(),
            4 => format!(" {id} "),
            5 => id.to_string()[..35].to_string(),
            _ => id.to_string(),
        }
    }

    /// A valid mobile number in one of the accepted spellings (Indian, or E.164).
    fn phone(&mut self) -> String {
        let ten = self.rng.gen_range(6_000_000_000u64..=9_999_999_999);
        match self.rng.gen_range(0..6) {
            0 => format!("+91 {ten}"),
            1 => format!("0{ten}"),
            2 => format!("91{ten}"),
            3 => format!("+4420{:08}", ten % 100_000_000),
            _ => format!("{ten}"),
        }
    }

    fn settings(&mut self, w: &World) -> Value {
        if self.chance(0.07) {
            return self.wrong_type();
        }
        if self.chance(0.04) {
            // Deep, but within serde_json's recursion limit: it reaches PostgreSQL's jsonb.
            let depth = self.rng.gen_range(20..120);
            return json!({"daily_token_limit": self.nested(depth)});
        }
        let mut m = Map::new();
        for _ in 0..self.rng.gen_range(0..4) {
            let key = self.pick(SETTING_KEYS).to_string();
            let value = match self.rng.gen_range(0..6) {
                0 => json!(self.chance(0.5)),
                1 => json!(self.rng.gen_range(-2..12_000)),
                2 => json!(*self.pick(&["en", "hi", "fr", "HI"])),
                3 => self.boundary_int(),
                4 => json!(self.hostile_string()),
                _ => json!(self.rng.gen_range(1..60)),
            };
            m.insert(key, value);
        }
        if self.chance(0.1) {
            m.insert(self.hostile_string(), json!(1));
        }
        let _ = w;
        Value::Object(m)
    }

    /// A plausible value for a field, from its name (the schema says only "string").
    fn plausible(&mut self, name: &str, schema: &Value, w: &World) -> Value {
        match name {
            "patient_name" => json!(if self.chance(0.5) {
                self.pick(UNICODE_NAMES).to_string()
            } else if self.chance(0.5) {
                self.pick(SQL_NAMES).to_string()
            } else {
                format!("Patient {}", self.fresh())
            }),
            "patient_phone" => json!(self.phone()),
            "language" => json!(*self.pick(&["en", "hi", "EN", " hi ", "fr", ""])),
            "action" => {
                let a = self.pick(ACTIONS).to_string();
                json!(if self.chance(0.2) { a.to_lowercase() } else { a })
            }
            "token_id" => {
                if self.chance(0.8) && !w.tokens.is_empty() {
                    let id = *self.pick(&w.tokens);
                    json!(if self.chance(0.8) { id.to_string() } else { self.uuid_text(id) })
                } else {
                    json!(Uuid::new_v4().to_string())
                }
            }
            "is_priority" | "issue_token" => json!(self.chance(0.5)),
            "rating" => json!(self.rng.gen_range(1..=5)),
            "feedback" => json!(if self.chance(0.5) { "Quick and kind".to_string() } else { self.hostile_string() }),
            "email" => {
                json!(if self.chance(0.2) { self.pick(&w.emails).to_uppercase() } else { self.pick(&w.emails).clone() })
            }
            "password" => json!(if self.chance(0.4) { PASSWORD.to_string() } else { "wrong password".to_string() }),
            "slug" => json!(if self.chance(0.8) { format!("fz-{}", self.fresh()) } else { MAIN.to_string() }),
            "name" => json!(format!("Clinic {}", self.pick(UNICODE_NAMES))),
            "timezone" => json!(*self.pick(&[
                "Asia/Kolkata",
                "UTC",
                "America/New_York",
                "Mars/Olympus",
                "+05:30",
                "posix/Asia/Kolkata"
            ])),
            "status" => json!(*self.pick(CLINIC_STATUSES)),
            "settings" => self.settings(w),
            "address" => json!(if self.chance(0.5) { "12 MG Road, Pune".to_string() } else { "x".repeat(301) }),
            "contact_phone" => json!(self.phone()),
            "staff_email" => json!(if self.chance(0.8) {
                format!("desk{}@fuzz.test", self.fresh())
            } else {
                self.pick(&w.emails).clone()
            }),
            "staff_password" => json!(*self.pick(&["a long password", "short", "        "])),
            _ => match type_of(schema).as_str() {
                "integer" | "number" => json!(self.rng.gen_range(0..10)),
                "boolean" => json!(self.chance(0.5)),
                _ => json!(format!("value {}", self.fresh())),
            },
        }
    }

    /// A hostile value of the field's own type.
    fn hostile_of_type(&mut self, name: &str, schema: &Value, w: &World) -> Value {
        if name == "settings" {
            return self.settings(w);
        }
        match type_of(schema).as_str() {
            "integer" | "number" => self.boundary_int(),
            "boolean" => self.wrong_type(),
            _ => json!(self.hostile_string()),
        }
    }

    fn field(&mut self, name: &str, schema: &Value, w: &World) -> Value {
        let r: f64 = self.rng.gen();
        if r < 0.5 {
            self.plausible(name, schema, w)
        } else if r < 0.62 {
            self.wrong_type()
        } else if r < 0.70 {
            Value::Null
        } else {
            self.hostile_of_type(name, schema, w)
        }
    }

    fn json_body(&mut self, schema: &Value, w: &World) -> Value {
        if self.chance(0.5) {
            return self.near_valid_body(schema, w);
        }
        if self.chance(0.04) {
            return match self.rng.gen_range(0..5) {
                0 => json!([]),
                1 => json!("a string"),
                2 => json!(42),
                3 => Value::Null,
                _ => self.nested(10),
            };
        }
        let required: BTreeSet<String> = schema["required"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        let mut body = Map::new();
        if let Some(props) = schema["properties"].as_object() {
            for (name, s) in props {
                let skip = if required.contains(name) { self.chance(0.05) } else { self.chance(0.35) };
                if !skip {
                    body.insert(name.clone(), self.field(name, s, w));
                }
            }
        }
        if self.chance(0.1) {
            let (k, v) = match self.rng.gen_range(0..6) {
                0 => ("business_id".to_string(), json!(w.other_id)),
                1 => ("role".to_string(), json!("SUPER_ADMIN")),
                2 => ("__proto__".to_string(), json!({"admin": true})),
                3 => ("staff_id".to_string(), json!(w.other_staff_id)),
                4 => ("source".to_string(), json!("STAFF")),
                _ => (self.hostile_string(), json!(self.hostile_string())),
            };
            body.insert(k, v);
        }
        Value::Object(body)
    }

    /// Every field plausible but one: that one hostile, of the wrong type, null, or
    /// missing. This is what reaches the database functions with a single bad value.
    fn near_valid_body(&mut self, schema: &Value, w: &World) -> Value {
        let mut body = Map::new();
        let props: Vec<(String, Value)> = schema["properties"]
            .as_object()
            .map(|p| p.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        for (name, s) in &props {
            if name == "token_id" && self.chance(0.5) {
                continue;
            }
            body.insert(name.clone(), self.plausible(name, s, w));
        }
        if !props.is_empty() && self.chance(0.75) {
            let (name, s) = props[self.rng.gen_range(0..props.len())].clone();
            let value = match self.rng.gen_range(0..6) {
                0 => self.wrong_type(),
                1 => Value::Null,
                2 => {
                    body.remove(&name);
                    return Value::Object(body);
                }
                _ => self.hostile_of_type(&name, &s, w),
            };
            body.insert(name, value);
        }
        Value::Object(body)
    }

    /// A body that is not what the route expects at the byte level.
    fn raw_body(&mut self, schema: &Value, w: &World) -> Vec<u8> {
        let valid = serde_json::to_vec(&self.json_body(schema, w)).unwrap();
        match self.rng.gen_range(0..12) {
            0 => Vec::new(),
            1 => self.pick(&["null", "[]", "\"\"", "0", "{", "}", "{}}", "{\"a\":}", "{'a': 1}", "{\"a\":1,}", "NaN", "[1,2"]).as_bytes().to_vec(),
            2 | 3 => {
                // Invalid UTF-8 inside the JSON text.
                let choices: [&[u8]; 6] = [b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xe0\x80", b"\xf8\x88\x80\x80\x80", b"\xc3"];
                let bad: &[u8] = choices[self.rng.gen_range(0..choices.len())];
                let mut out = b"{\"patient_name\":\"A".to_vec();
                out.extend_from_slice(bad);
                out.extend_from_slice(b"\",\"patient_phone\":\"9876543210\",\"action\":\"NEXT\",\"email\":\"x");
                out.extend_from_slice(bad);
                out.extend_from_slice(b"\",\"password\":\"y\"}");
                out
            }
            4 => {
                // Nested far past serde_json's recursion limit (still under 64 KiB).
                let depth = self.rng.gen_range(129..20_000);
                let open = if self.chance(0.5) { "[" } else { "{\"a\":" };
                let close = if open == "[" { "]" } else { "}" };
                format!("{}1{}", open.repeat(depth), close.repeat(depth)).into_bytes()
            }
            5 => {
                // Over the 64 KiB limit.
                let n = self.rng.gen_range(64 * 1024 + 1..200 * 1024);
                format!("{{\"patient_name\":\"{}\",\"patient_phone\":\"9876543210\"}}", "x".repeat(n)).into_bytes()
            }
            6 => {
                let mut out = "\u{feff}".as_bytes().to_vec();
                out.extend_from_slice(&valid);
                out
            }
            7 => b"{\"action\":\"NEXT\",\"action\":\"UNDO\",\"email\":\"a@b\",\"email\":\"c@d\",\"rating\":1,\"rating\":2}".to_vec(),
            8 => {
                let mut out = valid.clone();
                out.extend_from_slice(b" trailing");
                out
            }
            9 => b"{\"rating\": 1e400, \"patient_name\": \"\\ud800\", \"patient_phone\": \"\\u0000\"}".to_vec(),
            10 => valid[..valid.len() / 2].to_vec(),
            _ => b"patient_name=A&patient_phone=9876543210".to_vec(),
        }
    }

    /// A hostile string short enough to go in a URL (clients cap URIs at 64 KiB).
    fn hostile_for_url(&mut self) -> String {
        self.hostile_string().chars().take(2000).collect()
    }

    /// A path segment that is not a plausible id or slug, already percent-encoded (or
    /// deliberately not).
    fn hostile_segment(&mut self) -> String {
        match self.rng.gen_range(0..4) {
            0 => pct(&self.hostile_for_url()),
            1 => pct_bytes(&[0xff, 0xfe, b'a']),
            _ => self
                .pick(&[
                    "%00",
                    "a%00b",
                    "%FF",
                    "%C0%AF",
                    "%E2%80%AE",
                    "%ED%A0%80",
                    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
                    "%2F",
                    "%25",
                    "%",
                    "%ZZ",
                    "%27%3B%20DROP%20TABLE%20qlink.tokens%3B%20--",
                    "%F0%9F%98%80",
                    "%E0%A4%86%E0%A4%B6%E0%A4%BE",
                    ";",
                    ",",
                    "'",
                    "null",
                    "0",
                    "-1",
                    "99999999999999999999",
                ])
                .to_string(),
        }
    }

    fn path_value(&mut self, op: &Operation, name: &str, w: &World) -> String {
        let r: f64 = self.rng.gen();
        if r < 0.2 {
            return if self.chance(0.1) { "x".repeat(self.rng.gen_range(300..6000)) } else { self.hostile_segment() };
        }
        match name {
            "slug" => self
                .pick(&[MAIN, MAIN, MAIN, OTHER, SUSPENDED, "no-such-clinic", "FUZZ-MAIN", "fuzz-main-"])
                .to_string(),
            // A WhatsApp business account: the installation's, one that does not exist, or
            // none at all.
            "waba_id" => {
                self.pick(&["installation", "installation", "102290129340398", "1234", "INSTALLATION"]).to_string()
            }
            _ if op.path.starts_with("/api/v1/admin") => {
                let candidates: Vec<Uuid> = w.victims.clone();
                let id = if self.chance(0.75) { *self.pick(&candidates) } else { Uuid::new_v4() };
                pct(&if self.chance(0.8) { id.to_string() } else { self.uuid_text(id) })
            }
            _ => {
                let id = if self.chance(0.8) && !w.tokens.is_empty() { *self.pick(&w.tokens) } else { Uuid::new_v4() };
                pct(&if self.chance(0.85) { id.to_string() } else { self.uuid_text(id) })
            }
        }
    }

    fn query(&mut self, op: &Operation, w: &World) -> String {
        let mut pairs: Vec<String> = Vec::new();
        for p in op.query_params() {
            if self.chance(0.3) {
                continue;
            }
            let value = if p.name == "status" && self.chance(0.5) {
                let status: &&str = self.pick(MESSAGE_STATUSES);
                pct(status)
            } else if self.chance(0.3) {
                self.pick(&["%00", "%FF", "%ZZ", "%", "%C0%80", "a%00"]).to_string()
            } else {
                pct(&self.hostile_for_url())
            };
            pairs.push(format!("{}={value}", p.name));
            if self.chance(0.1) {
                pairs.push(format!("{}=SENT", p.name));
            }
        }
        if self.chance(0.15) {
            let extra = match self.rng.gen_range(0..4) {
                0 => format!("business_id={}", w.other_id),
                1 => format!("slug={OTHER}"),
                2 => format!("{}={}", pct(&self.hostile_for_url()), pct(&self.hostile_for_url())),
                _ => "a=1&a=2&%FF=%FF".into(),
            };
            pairs.push(extra);
        }
        if pairs.is_empty() {
            String::new()
        } else {
            format!("?{}", pairs.join("&"))
        }
    }

    fn auth(&mut self, op: &Operation, w: &World) -> Auth {
        let origin = Some(w.app.base.clone());
        let (mine, others): (&str, [&str; 2]) = match op.tag.as_str() {
            "staff" => (&w.staff_secret, [&w.admin_secret, &w.other_staff_secret]),
            "admin" => (&w.admin_secret, [&w.staff_secret, &w.other_staff_secret]),
            "owner" => (&w.owner_secret, [&w.staff_secret, &w.admin_secret]),
            "auth" => (
                if self.chance(0.5) { &w.staff_secret } else { &w.admin_secret },
                [&w.other_staff_secret, &w.admin_secret],
            ),
            _ => ("", [&w.staff_secret, &w.admin_secret]),
        };
        let valid = |s: &str, g: &mut Gen| {
            if g.chance(0.5) {
                Auth::Bearer(s.to_string())
            } else {
                Auth::Cookie(s.to_string(), origin.clone())
            }
        };
        let r: f64 = self.rng.gen();
        if r < 0.55 && !mine.is_empty() {
            valid(mine, self)
        } else if r < 0.65 {
            let s = *self.pick(&others);
            valid(s, self)
        } else if r < 0.75 {
            Auth::None
        } else if r < 0.83 {
            let s = if mine.is_empty() { w.staff_secret.clone() } else { mine.to_string() };
            let origin = self
                .pick(&[None, Some("https://evil.example"), Some("null"), Some("http://127.0.0.1.evil.example")])
                .map(str::to_string);
            Auth::Cookie(s, origin)
        } else {
            let real = if mine.is_empty() { w.staff_secret.clone() } else { mine.to_string() };
            match self.rng.gen_range(0..9) {
                0 => Auth::Bearer(self.hostile_string()),
                1 => Auth::Cookie(self.hostile_string(), origin),
                2 => {
                    let mut t = real.clone().into_bytes();
                    let i = self.rng.gen_range(0..t.len());
                    t[i] = if t[i] == b'A' { b'B' } else { b'A' };
                    Auth::Bearer(String::from_utf8(t).unwrap())
                }
                3 => Auth::Bearer(hex::encode(qlink_server::accounts::session_digest(&real))),
                4 => Auth::Raw(format!("Basic {}", "c3RhZmY6cGFzcw==").into_bytes()),
                5 => Auth::Raw(format!("bearer {real}").into_bytes()),
                6 => Auth::Raw(b"Bearer ".to_vec()),
                7 => Auth::Raw([b"Bearer ".as_slice(), &[0xff, 0xfe], real.as_bytes()].concat()),
                _ => Auth::Bearer(format!("{real}{real}")),
            }
        }
    }
}

fn type_of(schema: &Value) -> String {
    match &schema["type"] {
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().filter_map(Value::as_str).find(|t| *t != "null").unwrap_or("string").to_string(),
        _ => "any".into(),
    }
}

/// A header value from arbitrary text: bytes a header cannot carry are dropped.
fn header_value(bytes: &[u8]) -> HeaderValue {
    let kept: Vec<u8> = bytes.iter().copied().filter(|b| *b == b'\t' || (*b >= 0x20 && *b != 0x7f)).collect();
    HeaderValue::from_bytes(&kept).unwrap_or_else(|_| HeaderValue::from_static("x"))
}

fn random_ip(g: &mut Gen) -> String {
    format!("10.{}.{}.{}", g.rng.gen_range(0..256), g.rng.gen_range(0..256), g.rng.gen_range(1..255))
}

/// The WhatsApp webhook, with the signing knowledge the OpenAPI document can't carry.
fn webhook_operations() -> Vec<Operation> {
    let op = |method: Method| Operation {
        method,
        path: qlink_server::webhook::WEBHOOK_PATH.to_string(),
        tag: "webhook".into(),
        params: vec![],
        body: None,
        responses: BTreeSet::new(),
        json_responses: BTreeSet::new(),
    };
    vec![op(Method::GET), op(Method::POST)]
}

fn sign(body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(WA_APP_SECRET.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// One generated request for `op`.
fn generate(
    g: &mut Gen,
    op: &Operation,
    all_methods: &BTreeMap<String, BTreeSet<Method>>,
    w: &World,
) -> reqwest::RequestBuilder {
    // Now and then a method the path does not have.
    let mut method = op.method.clone();
    if g.chance(0.04) {
        let candidates: Vec<Method> =
            [Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE, Method::OPTIONS, Method::TRACE]
                .into_iter()
                .filter(|m| !all_methods[&op.path].contains(m))
                .collect();
        if !candidates.is_empty() {
            method = g.pick(&candidates).clone();
        }
    }
    let mut values = BTreeMap::new();
    for p in op.path_params() {
        let v = g.path_value(op, &p.name, w);
        values.insert(p.name.clone(), v);
    }
    let mut url = w.url(&op.fill(&values));
    if op.tag == "webhook" && op.method == Method::GET {
        let token = if g.chance(0.4) { WA_VERIFY_TOKEN.to_string() } else { g.hostile_for_url() };
        let challenge = if g.chance(0.3) { "x".repeat(g.rng.gen_range(200..400)) } else { g.hostile_for_url() };
        let mode = if g.chance(0.7) { "subscribe".to_string() } else { g.hostile_for_url() };
        url.push_str(&format!(
            "?hub.mode={}&hub.verify_token={}&hub.challenge={}",
            pct(&mode),
            pct(&token),
            pct(&challenge)
        ));
        if g.chance(0.1) {
            url.push_str("&hub.mode=subscribe&%FF=%00");
        }
    } else {
        url.push_str(&g.query(op, w));
    }
    let mut rb = client().request(method, url);

    // Body and Content-Type.
    let body = match (&op.body, op.tag.as_str()) {
        (Some(schema), _) => {
            if g.chance(0.2) {
                Body::Raw(g.raw_body(schema, w))
            } else {
                Body::Json(g.json_body(schema, w))
            }
        }
        (None, "webhook") if op.method == Method::POST => {
            let statuses: Vec<Value> = (0..g.rng.gen_range(0..4))
                .map(|_| {
                    json!({"id": if g.chance(0.5) { format!("wamid.{}", g.fresh()) } else { g.hostile_string() },
                           "status": *g.pick(&["sent", "delivered", "read", "failed", "deleted", "\u{0}"]),
                           "timestamp": g.boundary_int(), "errors": g.wrong_type()})
                })
                .collect();
            // Patients' messages too (SPEC §11): JOIN words for the clinics, hostile text,
            // ids and senders, every type; each goes to qlink.handle_inbound once signed.
            let messages: Vec<Value> = (0..g.rng.gen_range(0..3))
                .map(|_| {
                    let body = match g.rng.gen_range(0..4) {
                        0 => format!("JOIN {}", g.pick(&[MAIN, OTHER, SUSPENDED, "no-such-clinic"])),
                        1 => g.pick(&["STATUS", "CANCEL", "STOP", "START", "HELP", "रोकें", "LATE"]).to_string(),
                        _ => g.hostile_string(),
                    };
                    let from = if g.chance(0.7) {
                        format!("9198{:08}", g.rng.gen_range(0..100_000_000u32))
                    } else {
                        g.hostile_string()
                    };
                    let id = if g.chance(0.7) { format!("wamid.{}", g.fresh()) } else { g.hostile_string() };
                    json!({"from": from, "id": id, "timestamp": g.boundary_int(),
                           "type": *g.pick(&["text", "button", "interactive", "image", "\u{0}"]),
                           "text": {"body": body}, "button": {"payload": g.hostile_string(), "text": g.wrong_type()},
                           "interactive": {"button_reply": {"id": "STATUS", "title": g.hostile_string()}}})
                })
                .collect();
            let number = if g.chance(0.8) { WA_PHONE_NUMBER_ID.to_string() } else { g.hostile_string() };
            let payload = json!({"object": "whatsapp_business_account",
                                 "entry": [{"changes": [{"field": "messages", "value": {
                                     "metadata": {"phone_number_id": number},
                                     "contacts": [{"wa_id": "919800000000", "profile": {"name": g.hostile_string()}}],
                                     "statuses": statuses, "messages": messages}}]}]});
            if g.chance(0.3) {
                Body::Raw(g.raw_body(&json!({}), w))
            } else {
                Body::Json(payload)
            }
        }
        // A route without a body may get one anyway, but not a GET: a large response to a
        // request whose body the server never read can be cut short by the TCP reset that
        // closing such a connection sends (see the report; a transport matter of hyper).
        _ if op.method != Method::GET => {
            if g.chance(0.15) {
                Body::Raw(g.raw_body(&json!({}), w))
            } else {
                Body::None
            }
        }
        _ => Body::None,
    };
    let bytes = match &body {
        Body::None => None,
        Body::Json(v) => Some(serde_json::to_vec(v).unwrap()),
        Body::Raw(b) => Some(b.clone()),
    };
    if let Some(bytes) = bytes {
        let r: f64 = g.rng.gen();
        if r < 0.78 {
            rb = rb.header("content-type", "application/json");
        } else if r < 0.86 {
            // No Content-Type at all.
        } else {
            rb = rb.header("content-type", *g.pick(CONTENT_TYPES));
        }
        if op.tag == "webhook" {
            let signature = match g.rng.gen_range(0..5) {
                0 | 1 => Some(sign(&bytes)),
                2 => Some(format!("sha256={}", "0".repeat(64))),
                3 => Some(g.hostile_string()),
                _ => None,
            };
            if let Some(s) = signature {
                rb = rb.header(qlink_server::webhook::SIGNATURE_HEADER, header_value(s.as_bytes()));
            }
        }
        rb = rb.body(bytes);
    }

    // Credentials.
    match g.auth(op, w) {
        Auth::None => {}
        Auth::Bearer(t) => rb = rb.header("authorization", header_value(format!("Bearer {t}").as_bytes())),
        Auth::Cookie(s, origin) => {
            rb = rb.header("cookie", header_value(format!("qlink_session={s}").as_bytes()));
            if let Some(o) = origin {
                rb = rb.header("origin", header_value(o.as_bytes()));
            }
        }
        Auth::Raw(v) => rb = rb.header("authorization", header_value(&v)),
    }

    // Other headers: the client address (a trusted proxy speaks for it), and now and then
    // hostile values where the server reads headers.
    let forwarded = if g.chance(0.05) { g.hostile_string() } else { random_ip(g) };
    rb = rb.header("x-forwarded-for", header_value(forwarded.as_bytes()));
    if g.chance(0.15) {
        let (name, value): (&str, Vec<u8>) = match g.rng.gen_range(0..6) {
            0 => ("if-none-match", g.hostile_string().into_bytes()),
            1 => (
                "accept-language",
                g.pick(&["hi-IN,hi;q=0.9", "*", "x".repeat(5000).as_str(), "hi;q=abc,,,"]).as_bytes().to_vec(),
            ),
            2 => ("user-agent", [g.hostile_string().as_bytes(), &[0xe2, 0x80, 0xae]].concat()),
            3 => ("referer", g.hostile_string().into_bytes()),
            4 => ("x-request-id", g.hostile_string().into_bytes()),
            _ => ("accept", b"text/html;q=0.1, */*".to_vec()),
        };
        rb = rb.header(HeaderName::from_static(name), header_value(&value));
    }
    rb
}

// ---------------------------------------------------------------------------------------
// The fuzz run.

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// A secret the response carries and the request did not: a WhatsApp credential, a
/// password hash, a live session's secret or its stored digest.
fn secret_in(x: &Exchange, w: &World) -> Option<&'static str> {
    let received = x.received();
    let sent = x.sent();
    let digest = |s: &str| hex::encode(qlink_server::accounts::session_digest(s));
    let watched: [(&'static str, String); 10] = [
        ("the WhatsApp access token", probe::WA_ACCESS_TOKEN.to_string()),
        ("the WhatsApp app secret", WA_APP_SECRET.to_string()),
        ("the WhatsApp verify token", WA_VERIFY_TOKEN.to_string()),
        ("a password hash", "$argon2".to_string()),
        ("a staff session secret", w.staff_secret.clone()),
        ("a staff session secret", w.other_staff_secret.clone()),
        ("the operator's session secret", w.admin_secret.clone()),
        ("a session digest", digest(&w.staff_secret)),
        ("a session digest", digest(&w.other_staff_secret)),
        ("a session digest", digest(&w.admin_secret)),
    ];
    watched.into_iter().find(|(_, v)| received.contains(v.as_str()) && !sent.contains(v.as_str())).map(|(l, _)| l)
}

struct Failures {
    list: Vec<String>,
    kinds: BTreeMap<String, usize>,
}

impl Failures {
    fn add(&mut self, kind: &str, case: usize, op: &Operation, x: &Exchange, detail: &str) {
        let key = format!("{kind} @ {}", op.key());
        *self.kinds.entry(key).or_insert(0) += 1;
        if self.list.len() < 40 {
            self.list.push(format!("case {case} [{kind}] {detail}\n  {}", x.describe()));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzz_every_openapi_route() {
    let seed = env_u64("QLINK_FUZZ_SEED").unwrap_or_else(|| rand::thread_rng().gen());
    let cases = env_u64("QLINK_FUZZ_CASES").unwrap_or(1200) as usize;
    println!("hostile fuzz: seed {seed}, {cases} requests (replay: QLINK_FUZZ_SEED={seed} QLINK_FUZZ_CASES={cases})");
    let started = Instant::now();
    let mut w = World::new().await;
    let doc = probe::openapi(&w.app.base).await;
    let mut ops = operations(&doc);
    let documented_ops = ops.len();
    assert!(documented_ops >= 20, "the OpenAPI document lists {documented_ops} operations");
    // The webhook is in the document; its own generator knows how to sign (or not sign)
    // its bodies, so the documented entries give way to it.
    ops.retain(|op| op.tag != "webhook");
    ops.extend(webhook_operations());
    let mut all_methods: BTreeMap<String, BTreeSet<Method>> = BTreeMap::new();
    for op in &ops {
        all_methods.entry(op.path.clone()).or_default().insert(op.method.clone());
    }

    let mut g = Gen::new(seed);
    let mut failures = Failures { list: vec![], kinds: BTreeMap::new() };
    let mut sent_markers: BTreeSet<&'static str> = BTreeSet::new();
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    let mut per_op: BTreeMap<String, BTreeMap<u16, usize>> = BTreeMap::new();
    let mut undocumented: BTreeMap<String, BTreeSet<u16>> = BTreeMap::new();
    let mut rejected_checked = 0usize;
    let mut no_answer: BTreeMap<String, usize> = BTreeMap::new();
    let mut before: Fingerprint = w.fp.take(&w.app.db).await;
    for case in 0..cases {
        // Every operation gets its share: rounds over all of them, each round shuffled.
        let round = case / ops.len();
        let mut order: Vec<usize> = (0..ops.len()).collect();
        let mut shuffle = StdRng::seed_from_u64(seed ^ (round as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        for i in (1..order.len()).rev() {
            order.swap(i, shuffle.gen_range(0..=i));
        }
        let op = ops[order[case % ops.len()]].clone();
        let request = generate(&mut g, &op, &all_methods, &w);
        let x = match try_exchange(request).await {
            Ok(x) => x,
            Err(e) => {
                *no_answer.entry(op.key()).or_insert(0) += 1;
                if failures.list.len() < 40 {
                    failures.list.push(format!("case {case} [no answer] {e}"));
                }
                *failures.kinds.entry(format!("no answer @ {}", op.key())).or_insert(0) += 1;
                before = w.fp.take(&w.app.db).await;
                continue;
            }
        };
        *statuses.entry(x.status).or_insert(0) += 1;
        *per_op.entry(op.key()).or_default().entry(x.status).or_insert(0) += 1;
        let same_method = x.method == op.method.as_str();
        if same_method && !op.responses.is_empty() && !op.responses.contains(&x.status) {
            undocumented.entry(op.key()).or_default().insert(x.status);
        }

        if x.status >= 500 {
            failures.add("5xx", case, &op, &x, "a server error");
        }
        if let Some(v) = error_contract_violation(&x, &w.documented_codes) {
            failures.add("error contract", case, &op, &x, &v);
        }
        // A marker the fuzzer itself sent earlier (a stored hostile name, say) may come back
        // in a listing: that is our own data, not a leak.
        if let Some(m) = leak(&x).filter(|m| !sent_markers.contains(m)) {
            failures.add("leak", case, &op, &x, &format!("internal text {m:?} in the response"));
        }
        let sent = x.sent();
        sent_markers.extend(probe::LEAK_MARKERS.iter().copied().filter(|m| sent.contains(m)));
        if let Some(label) = secret_in(&x, &w) {
            failures.add("secret", case, &op, &x, &format!("{label} in the response"));
        }
        if (200..300).contains(&x.status) && same_method && op.json_responses.contains(&x.status) && x.json().is_none()
        {
            failures.add("not JSON", case, &op, &x, "a documented JSON response is not JSON");
        }

        let after = w.fp.take(&w.app.db).await;
        if (400..500).contains(&x.status) {
            rejected_checked += 1;
            let mut changed = diff(&before, &after);
            if op.path == "/api/v1/auth/login" && same_method {
                // A failed login counts against its address, its (email, address) and its
                // email's failures, and a paced email's attempt takes the pace: at most 4 hits.
                let added = rows(&after, LOGIN_HITS) - rows(&before, LOGIN_HITS);
                changed.retain(|c| !c.starts_with(LOGIN_HITS));
                if !(0..=4).contains(&added) {
                    changed.push(format!("{LOGIN_HITS}: {added} rows added"));
                }
            }
            if op.path == "/api/v1/clinics/{slug}/tokens" && x.status == 429 {
                // A number's refusal still costs its source the attempt: 2 hits, no more.
                let added = rows(&after, INTAKE_HITS) - rows(&before, INTAKE_HITS);
                changed.retain(|c| !c.starts_with(INTAKE_HITS));
                if !(0..=2).contains(&added) {
                    changed.push(format!("{INTAKE_HITS}: {added} rows added"));
                }
            }
            if !changed.is_empty() {
                failures.add("state change", case, &op, &x, &format!("a refused request changed {changed:?}"));
            }
            before = after;
        } else {
            // It worked (or 304): adopt the new state, collect new ids, top up what was used.
            if let Some(v) = x.json() {
                for key in ["token_id", "serving_token_id", "affected_token_id"] {
                    if let Some(id) = v[key].as_str().and_then(|s| Uuid::parse_str(s).ok()) {
                        w.tokens.push(id);
                    }
                }
            }
            w.heal().await;
            before = w.fp.take(&w.app.db).await;
        }
    }

    let elapsed = started.elapsed();
    println!(
        "hostile fuzz: {cases} requests over {} operations ({documented_ops} from the OpenAPI document + the webhook) in {:.1} s; \
         {rejected_checked} refused requests proven to change nothing",
        ops.len(),
        elapsed.as_secs_f64()
    );
    println!("  statuses: {statuses:?}");
    for (op, s) in &per_op {
        println!("  {op}: {s:?}");
    }
    if !undocumented.is_empty() {
        println!("  statuses answered but not declared in the OpenAPI document: {undocumented:?}");
    }
    assert!(
        failures.list.is_empty(),
        "hostile fuzz (seed {seed}, replay with QLINK_FUZZ_SEED={seed} QLINK_FUZZ_CASES={cases}) found {} problems:\n{:#?}\n\n{}",
        failures.kinds.values().sum::<usize>(),
        failures.kinds,
        failures.list.join("\n\n")
    );
    // Every operation was reached, and past authentication at least once.
    for op in &ops {
        let seen = per_op.get(&op.key()).map(|s| s.values().sum::<usize>()).unwrap_or(0);
        assert!(seen >= cases / ops.len(), "{} was sent only {seen} requests", op.key());
    }
}

// ---------------------------------------------------------------------------------------
// Deterministic probes: the defects the fuzzer found, pinned; every body route against
// malformed bodies; and the Unicode and SQL round trips.

/// The operations with a JSON body, and the path and credentials that get each one past
/// routing and authentication.
async fn body_routes(w: &World) -> Vec<(Operation, String, Option<String>)> {
    let doc = probe::openapi(&w.app.base).await;
    let waiting: Uuid = w
        .app
        .db
        .query_one("SELECT token_id FROM qlink.queue_snapshot($1) WHERE status = 'WAITING' LIMIT 1", &[&w.main_id])
        .await
        .unwrap()
        .get(0);
    // A clinic's own queue, room and login, for the routes that name them (SPEC §9).
    let ids_of = |clinic: Uuid| async move {
        let one = |sql: &'static str| async move {
            w.app.db.query_one(sql, &[&clinic]).await.unwrap().get::<_, Uuid>(0).to_string()
        };
        (
            one("SELECT id FROM qlink.queues WHERE business_id = $1 ORDER BY sort_order LIMIT 1").await,
            one("SELECT id FROM qlink.rooms WHERE business_id = $1 ORDER BY sort_order LIMIT 1").await,
            one("SELECT id FROM qlink.staff_users WHERE business_id = $1 AND role = 'STAFF' ORDER BY email LIMIT 1")
                .await,
        )
    };
    let victim = ids_of(w.victims[0]).await;
    let main = ids_of(w.main_id).await;
    operations(&doc)
        .into_iter()
        // The webhook checks Meta's signature before it reads a body; its malformed bodies
        // are covered by the fuzzer's webhook generator and tests/tests/messaging.rs.
        .filter(|op| op.body.is_some() && op.tag != "webhook")
        .map(|op| {
            let mut values = BTreeMap::new();
            values.insert("slug".to_string(), MAIN.to_string());
            let id = match op.tag.as_str() {
                "admin" => w.victims[0].to_string(),
                "owner" if op.path.starts_with("/api/v1/owner/queues") => main.0.clone(),
                "owner" if op.path.starts_with("/api/v1/owner/rooms") => main.1.clone(),
                "owner" => main.2.clone(),
                _ => waiting.to_string(),
            };
            values.insert("id".to_string(), id);
            values.insert("queue_id".to_string(), victim.0.clone());
            values.insert("room_id".to_string(), victim.1.clone());
            values.insert("staff_id".to_string(), victim.2.clone());
            // The plan every clinic starts on (SPEC §10), the installation's WhatsApp account.
            values.insert("code".to_string(), "standard".to_string());
            values.insert("waba_id".to_string(), "installation".to_string());
            let path = op.fill(&values);
            let auth = match op.tag.as_str() {
                "staff" => Some(w.staff_secret.clone()),
                "admin" => Some(w.admin_secret.clone()),
                "owner" => Some(w.owner_secret.clone()),
                _ => None,
            };
            (op, path, auth)
        })
        .collect()
}

/// Sends a request and checks the universal rules: no 5xx, the error contract, no leak,
/// and — when refused — no change to any table (but a failed login's rate-limit hits).
async fn refused(w: &World, before: &mut Fingerprint, rb: reqwest::RequestBuilder, path: &str) -> Exchange {
    let x = exchange(rb).await;
    assert!(x.status < 500, "{}", x.describe());
    if let Some(v) = error_contract_violation(&x, &w.documented_codes) {
        panic!("{v}: {}", x.describe());
    }
    assert_eq!(leak(&x), None, "{}", x.describe());
    let after = w.fp.take(&w.app.db).await;
    if (400..500).contains(&x.status) {
        let mut changed = diff(before, &after);
        if path == "/api/v1/auth/login" {
            changed.retain(|c| !c.starts_with(LOGIN_HITS));
        }
        assert!(changed.is_empty(), "a refused request changed {changed:?}: {}", x.describe());
    }
    *before = after;
    x
}

fn with_auth(rb: reqwest::RequestBuilder, auth: &Option<String>) -> reqwest::RequestBuilder {
    match auth {
        Some(t) => rb.bearer_auth(t),
        None => rb,
    }
}

#[tokio::test]
async fn every_body_route_refuses_malformed_bodies_and_changes_nothing() {
    let w = World::new().await;
    let routes = body_routes(&w).await;
    assert!(routes.len() >= 7, "{} routes with a JSON body", routes.len());
    let mut before = w.fp.take(&w.app.db).await;
    let mut probes = 0;
    for (n, (op, path, auth)) in routes.iter().enumerate() {
        let schema = op.body.as_ref().unwrap();
        let valid = serde_json::to_vec(&valid_body(schema, n as u64, &format!("staff@{MAIN}.test"))).unwrap();
        let request = |body: Vec<u8>, content_type: Option<&str>| {
            let mut rb = with_auth(client().request(op.method.clone(), w.url(path)), auth)
                .header("x-forwarded-for", format!("10.9.{n}.1"));
            if let Some(ct) = content_type {
                rb = rb.header("content-type", ct);
            }
            rb.body(body)
        };
        // Over 64 KiB: 413, whatever the body says.
        let mut big = valid_body(schema, n as u64, &format!("staff@{MAIN}.test"));
        big.insert("padding".into(), json!("x".repeat(64 * 1024)));
        let x =
            refused(&w, &mut before, request(serde_json::to_vec(&big).unwrap(), Some("application/json")), &op.path)
                .await;
        assert_eq!(
            (x.status, x.json().unwrap()["error"]["code"].clone()),
            (413, json!("payload_too_large")),
            "{}",
            x.describe()
        );
        // Not JSON by Content-Type: 415.
        for ct in [
            None,
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("multipart/form-data; boundary=x"),
        ] {
            let x = refused(&w, &mut before, request(valid.clone(), ct), &op.path).await;
            assert_eq!(x.status, 415, "{ct:?}: {}", x.describe());
        }
        // Not JSON by content, or not an object of the schema: 400.
        let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes();
        let mut invalid_utf8 = b"{\"patient_name\":\"\xff\xfe\",\"email\":\"\xc0\x80\"}".to_vec();
        invalid_utf8.extend_from_slice(b"");
        for body in [
            Vec::new(),
            b"null".to_vec(),
            b"[]".to_vec(),
            b"{".to_vec(),
            deep,
            invalid_utf8,
            b"\xef\xbb\xbf{}".to_vec(),
        ] {
            let x = refused(&w, &mut before, request(body, Some("application/json")), &op.path).await;
            assert_eq!(x.status, 400, "{}", x.describe());
        }
        // An unknown field (a clinic id, a role) is refused, never used.
        for (k, v) in
            [("business_id", json!(w.other_id)), ("role", json!("SUPER_ADMIN")), ("staff_id", json!(w.other_staff_id))]
        {
            let mut body = valid_body(schema, n as u64, &format!("staff@{MAIN}.test"));
            body.insert(k.into(), v);
            let x = refused(
                &w,
                &mut before,
                request(serde_json::to_vec(&body).unwrap(), Some("application/json")),
                &op.path,
            )
            .await;
            assert_eq!(x.status, 400, "{}", x.describe());
        }
        // Every string field with a NUL character: 400 (it was a 500: PostgreSQL refuses
        // NUL in text and in jsonb), nothing changed.
        for (field, s) in schema["properties"].as_object().unwrap() {
            if !matches!(type_of(s).as_str(), "string" | "any") || field == "token_id" {
                continue;
            }
            for bad in [json!("a\u{0}b"), json!({"default_language": "e\u{0}n"}), json!({"a\u{0}": 1})] {
                if field != "settings" && !bad.is_string() {
                    continue;
                }
                let mut body = valid_body(schema, n as u64, &format!("staff@{MAIN}.test"));
                body.insert(field.clone(), bad);
                let x = refused(
                    &w,
                    &mut before,
                    request(serde_json::to_vec(&body).unwrap(), Some("application/json")),
                    &op.path,
                )
                .await;
                // A password is only hashed, never stored or looked up: wrong, not invalid.
                let expected: &[u16] = if field == "password" { &[400, 401] } else { &[400] };
                assert!(expected.contains(&x.status), "NUL in {field}: {}", x.describe());
                probes += 1;
            }
        }
        probes += 15;
    }
    // The webhook takes up to 1 MiB; more is 413 in the API's error shape.
    let x = refused(
        &w,
        &mut before,
        client().post(w.url(qlink_server::webhook::WEBHOOK_PATH)).body(vec![b' '; 1024 * 1024 + 1]),
        qlink_server::webhook::WEBHOOK_PATH,
    )
    .await;
    assert_eq!(x.status, 413, "{}", x.describe());
    println!(
        "malformed bodies: {probes} probes over {} routes with a JSON body, each refused with nothing changed",
        routes.len()
    );
}

#[tokio::test]
async fn nul_bytes_and_undecodable_urls_are_refused_not_500() {
    let w = World::new().await;
    let mut before = w.fp.take(&w.app.db).await;
    let admin = Some(w.admin_secret.clone());
    let cases: Vec<(Method, String, Option<String>, u16)> = vec![
        // A NUL in a path parameter used as text: 400 (was 500).
        (Method::GET, "/api/v1/clinics/a%00b".into(), None, 400),
        (Method::POST, format!("/api/v1/clinics/{MAIN}%00/tokens"), None, 400),
        // Bytes that are not UTF-8 in a path parameter: JSON 400 (was text/plain).
        (Method::GET, "/api/v1/clinics/%FF%FE".into(), None, 400),
        (Method::GET, "/api/v1/tokens/%C0%AF".into(), None, 400),
        (Method::POST, "/api/v1/tokens/%FF/cancel".into(), None, 400),
        (Method::DELETE, "/api/v1/admin/clinics/%FF".into(), admin.clone(), 400),
        // Query strings: a NUL (was 500), a repeated key and undecodable bytes (were text/plain).
        (Method::GET, "/api/v1/admin/messages?status=%00".into(), admin.clone(), 400),
        (Method::GET, "/api/v1/admin/messages?status=SENT&status=READ".into(), admin.clone(), 400),
        (Method::GET, "/api/v1/admin/messages?status=%FF".into(), admin.clone(), 400),
    ];
    for (method, path, auth, status) in cases {
        let rb = with_auth(client().request(method, w.url(&path)), &auth);
        let x = refused(&w, &mut before, rb.header("content-type", "application/json").body("{}"), &path).await;
        assert_eq!(x.status, status, "{}", x.describe());
    }
    // A NUL in a signed delivery status: ignored (it was a 500, so Meta would have
    // redelivered the batch forever); the valid status next to it is applied.
    let token = w.tokens[0];
    w.app
        .db
        .execute(
            "UPDATE qlink.message_logs SET status = 'SENT', provider_message_id = 'wamid.ok' \
             WHERE id = (SELECT min(id) FROM qlink.message_logs WHERE token_id = $1)",
            &[&token],
        )
        .await
        .unwrap();
    before = w.fp.take(&w.app.db).await;
    let body = serde_json::to_vec(&json!({"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages", "value": {
        "statuses": [{"id": "wamid.\u{0}", "status": "delivered"}, {"id": "wamid.ok", "status": "delivered", "errors": [{"title": "a\u{0}"}]},
                     {"id": "wamid.ok", "status": "read"}]}}]}]}))
    .unwrap();
    let x = exchange(
        client()
            .post(w.url(qlink_server::webhook::WEBHOOK_PATH))
            .header(qlink_server::webhook::SIGNATURE_HEADER, sign(&body))
            .header("content-type", "application/json")
            .body(body),
    )
    .await;
    assert_eq!(
        (x.status, x.json()),
        (200, Some(json!({"applied": 1, "ignored": 2, "messages": 0}))),
        "{}",
        x.describe()
    );
    let status: String = w
        .app
        .db
        .query_one("SELECT status FROM qlink.message_logs WHERE provider_message_id = 'wamid.ok'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(status, "READ");
    let changed = diff(&before, &w.fp.take(&w.app.db).await);
    assert_eq!(changed.len(), 1, "only the message row changed: {changed:?}");
    assert!(changed[0].starts_with("qlink.message_logs"), "{changed:?}");
}

#[tokio::test]
async fn unsupported_methods_answer_405_in_the_error_shape() {
    let w = World::new().await;
    let doc = probe::openapi(&w.app.base).await;
    let mut methods: BTreeMap<String, BTreeSet<Method>> = BTreeMap::new();
    for op in operations(&doc).into_iter().chain(webhook_operations()) {
        methods.entry(op.path).or_default().insert(op.method);
    }
    let mut before = w.fp.take(&w.app.db).await;
    let mut probes = 0;
    for (path, allowed) in &methods {
        let concrete = path.replace("{slug}", MAIN).replace("{id}", &w.tokens[0].to_string());
        for method in [Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            if allowed.contains(&method) || (method == Method::GET && allowed.contains(&Method::HEAD)) {
                continue;
            }
            let rb = client().request(method.clone(), w.url(&concrete)).bearer_auth(&w.admin_secret).json(&json!({}));
            let x = refused(&w, &mut before, rb, &concrete).await;
            assert_eq!(x.status, 405, "{}", x.describe());
            assert_eq!(x.json().unwrap()["error"]["code"], "method_not_allowed");
            let allow = x.header("allow").unwrap_or_default();
            for m in allowed {
                assert!(allow.contains(m.as_str()), "Allow: {allow} lacks {m} for {path}");
            }
            probes += 1;
        }
    }
    assert!(probes >= 40, "{probes} probes");
    println!(
        "405: {probes} requests with a method the path lacks, over {} paths, each 405 method_not_allowed with Allow",
        methods.len()
    );
}

/// Creates a token through the public API from its own client address.
async fn public_token(w: &World, n: u32, name: &str) -> Exchange {
    exchange(
        client()
            .post(w.url(&format!("/api/v1/clinics/{MAIN}/tokens")))
            .header("x-forwarded-for", format!("10.77.{}.{}", n / 250, n % 250 + 1))
            .json(&json!({"patient_name": name, "patient_phone": format!("9{:09}", 700_000_000 + n)})),
    )
    .await
}

/// The staff queue listing, by token id.
async fn listed_names(w: &World) -> BTreeMap<String, (String, Vec<u8>)> {
    let x = exchange(client().get(w.url("/api/v1/staff/queue")).bearer_auth(&w.staff_secret)).await;
    assert_eq!(x.status, 200, "{}", x.describe());
    x.json().unwrap()["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let name = t["patient_name"].as_str().unwrap_or_default().to_string();
            (t["token_id"].as_str().unwrap().to_string(), (name.clone(), name.into_bytes()))
        })
        .collect()
}

#[tokio::test]
async fn unicode_names_are_accepted_and_returned_byte_exact() {
    let w = World::new().await;
    let devanagari_80: String = "आ".repeat(80);
    let emoji_80: String = "😀".repeat(80);
    let mut names: Vec<String> = UNICODE_NAMES.iter().map(|s| s.to_string()).collect();
    names.push(devanagari_80.clone());
    names.push(emoji_80.clone());
    let mut created = Vec::new();
    for (n, name) in names.iter().enumerate() {
        let x = public_token(&w, n as u32, name).await;
        assert_eq!(x.status, 201, "{name:?} was refused: {}", x.describe());
        created.push((x.json().unwrap()["token_id"].as_str().unwrap().to_string(), name.clone()));
    }
    // And from the desk (a walk-in), the same names.
    for name in UNICODE_NAMES {
        let x = exchange(
            client()
                .post(w.url("/api/v1/staff/tokens"))
                .bearer_auth(&w.staff_secret)
                .json(&json!({"patient_name": name})),
        )
        .await;
        assert_eq!(x.status, 201, "{}", x.describe());
        created.push((x.json().unwrap()["token_id"].as_str().unwrap().to_string(), name.to_string()));
    }
    let listed = listed_names(&w).await;
    for (id, name) in &created {
        let (got, bytes) = listed.get(id).unwrap_or_else(|| panic!("token {id} ({name:?}) is not in the staff queue"));
        assert_eq!(bytes.as_slice(), name.as_bytes(), "{name:?} came back as {got:?}");
        let stored: String = w
            .app
            .db
            .query_one("SELECT patient_name FROM qlink.tokens WHERE id = $1::text::uuid", &[id])
            .await
            .unwrap()
            .get(0);
        assert_eq!(stored.as_bytes(), name.as_bytes(), "{name:?} was stored as {stored:?}");
    }
    // The limit counts characters, not bytes: 80 Devanagari letters (240 bytes) and 80
    // emoji (320 bytes) fit; an 81st character does not, and nothing is created.
    let before = w.fp.take(&w.app.db).await;
    for (n, name) in [format!("{devanagari_80}आ"), format!("{emoji_80}😀")].iter().enumerate() {
        let x = public_token(&w, 900 + n as u32, name).await;
        assert_eq!(x.status, 400, "{}", x.describe());
    }
    assert_eq!(diff(&before, &w.fp.take(&w.app.db).await), Vec::<String>::new());
    println!(
        "unicode: {} names accepted and returned byte-exact (public and desk), 2 over-long refused",
        created.len()
    );
}

#[tokio::test]
async fn names_with_sql_metacharacters_are_stored_literally() {
    let w = World::new().await;
    let tables_before: i64 =
        w.app.db.query_one("SELECT count(*) FROM pg_tables WHERE schemaname = 'qlink'", &[]).await.unwrap().get(0);
    let tokens_before: i64 = w.app.db.query_one("SELECT count(*) FROM qlink.tokens", &[]).await.unwrap().get(0);
    let mut created = Vec::new();
    for (n, name) in SQL_NAMES.iter().enumerate() {
        let started = Instant::now();
        let x = public_token(&w, 300 + n as u32, name).await;
        assert_eq!(x.status, 201, "{}", x.describe());
        // "pg_sleep(10)" in a name sleeps nowhere.
        assert!(started.elapsed().as_secs() < 5, "{name:?} took {:?}", started.elapsed());
        created.push((x.json().unwrap()["token_id"].as_str().unwrap().to_string(), name.to_string()));
        let x = exchange(
            client()
                .post(w.url("/api/v1/staff/tokens"))
                .bearer_auth(&w.staff_secret)
                .json(&json!({"patient_name": name})),
        )
        .await;
        assert_eq!(x.status, 201, "{}", x.describe());
        created.push((x.json().unwrap()["token_id"].as_str().unwrap().to_string(), name.to_string()));
    }
    let listed = listed_names(&w).await;
    for (id, name) in &created {
        assert_eq!(listed[id].1.as_slice(), name.as_bytes(), "{name:?}");
        let stored: String = w
            .app
            .db
            .query_one("SELECT patient_name FROM qlink.tokens WHERE id = $1::text::uuid", &[id])
            .await
            .unwrap()
            .get(0);
        assert_eq!(&stored, name);
    }
    // Every table is still there, and exactly the new tokens were added.
    let tables_after: i64 =
        w.app.db.query_one("SELECT count(*) FROM pg_tables WHERE schemaname = 'qlink'", &[]).await.unwrap().get(0);
    let tokens_after: i64 = w.app.db.query_one("SELECT count(*) FROM qlink.tokens", &[]).await.unwrap().get(0);
    assert_eq!(tables_after, tables_before);
    assert_eq!(tokens_after, tokens_before + created.len() as i64);
    let staff_users: i64 = w.app.db.query_one("SELECT count(*) FROM qlink.staff_users", &[]).await.unwrap().get(0);
    // Three clinics' desks, the operator, the main clinic's owner and a desk per victim clinic.
    assert_eq!(staff_users, 5 + w.victims.len() as i64);
    println!("sql metacharacters: {} names stored and listed literally, every table intact", created.len());
}
