//! The `qlink` binary as an operator uses it: every command's --help, migrations, clinic
//! and user creation, the demo, `qlink whatsapp templates` (printed, and submitted to the
//! fake Cloud API), and `qlink serve` from start to a graceful SIGTERM.

use qlink_tests::{admin_url, connect, qlink_bin, url_for};
use serde_json::{json, Value};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn qlink(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(qlink_bin());
    cmd.args(args).env_remove("DATABASE_URL").env("RUST_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run qlink")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// An empty database (no migrations yet).
async fn empty_database() -> String {
    let name = format!("qlink_test_cli_{}", uuid::Uuid::new_v4().simple());
    connect(&admin_url()).await.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
    url_for(&name)
}

#[test]
fn every_command_has_help() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["worker", "--help"],
        vec!["migrate", "--help"],
        vec!["clinic", "create", "--help"],
        vec!["user", "create", "--help"],
        vec!["demo", "--help"],
        vec!["whatsapp", "templates", "--help"],
    ] {
        let out = qlink(&args, &[]);
        assert!(out.status.success(), "{args:?}: {}", text(&out));
        assert!(text(&out).contains("Usage"), "{args:?}");
    }
    // Secrets given through the environment are never echoed by --help.
    let out = qlink(
        &["serve", "--help"],
        &[("WHATSAPP_ACCESS_TOKEN", "EAAG-secret-token"), ("WHATSAPP_APP_SECRET", "app-secret-xyz")],
    );
    let help = text(&out);
    assert!(!help.contains("EAAG-secret-token") && !help.contains("app-secret-xyz"));
}

/// How many numbered migrations the project has (`migrations/V*.sql`).
fn migrations() -> usize {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    std::fs::read_dir(dir)
        .expect("migrations/")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with('V'))
        .count()
}

#[tokio::test]
async fn migrate_clinic_and_user_commands() {
    let url = empty_database().await;
    let env = [("DATABASE_URL", url.as_str())];
    // Refuses to serve an unmigrated database when told not to migrate.
    let out = qlink(&["serve", "--no-migrate", "--bind", "127.0.0.1:0"], &env);
    assert!(!out.status.success());
    assert!(text(&out).contains("qlink migrate"), "{}", text(&out));

    let out = qlink(&["migrate"], &env);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains(&format!("migrations applied: {}", migrations())), "{}", text(&out));
    let out = qlink(&["migrate"], &env);
    assert!(text(&out).contains("migrations applied: 0"), "{}", text(&out));

    let out = qlink(&["clinic", "create", "--slug", "cli-clinic", "--name", "CLI Clinic", "--status", "TRIAL"], &env);
    assert!(out.status.success(), "{}", text(&out));
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
    let out = qlink(&["clinic", "create", "--slug", "cli-clinic", "--name", "Again"], &env);
    assert!(!out.status.success());
    assert!(text(&out).contains("already taken"), "{}", text(&out));
    let out = qlink(&["clinic", "create", "--slug", "Bad Slug", "--name", "X"], &env);
    assert!(!out.status.success());

    let with_password = |pw: &'static str| [("DATABASE_URL", url.as_str()), ("QLINK_PASSWORD", pw)];
    let out = qlink(
        &["user", "create", "--email", "desk@cli.test", "--role", "STAFF", "--clinic", "cli-clinic"],
        &with_password("a fine password"),
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = qlink(&["user", "create", "--email", "boss@cli.test", "--role", "SUPER_ADMIN"], &with_password("short"));
    assert!(!out.status.success());
    assert!(text(&out).contains("at least 8"), "{}", text(&out));
    let out = qlink(&["user", "create", "--email", "x@cli.test", "--role", "STAFF"], &with_password("a fine password"));
    assert!(!out.status.success(), "STAFF without a clinic must be refused");
    // The clinic's owner, and a desk login pinned to a room (by its name).
    let out = qlink(
        &["user", "create", "--email", "owner@cli.test", "--role", "OWNER", "--clinic", "cli-clinic"],
        &with_password("a fine password"),
    );
    assert!(out.status.success(), "{}", text(&out));
    let out =
        qlink(&["user", "create", "--email", "o2@cli.test", "--role", "OWNER"], &with_password("a fine password"));
    assert!(!out.status.success(), "OWNER without a clinic must be refused");
    let out = qlink(
        &[
            "user",
            "create",
            "--email",
            "room1@cli.test",
            "--role",
            "STAFF",
            "--clinic",
            "cli-clinic",
            "--room",
            "Room 1",
        ],
        &with_password("a fine password"),
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = qlink(
        &[
            "user",
            "create",
            "--email",
            "nowhere@cli.test",
            "--role",
            "STAFF",
            "--clinic",
            "cli-clinic",
            "--room",
            "Attic",
        ],
        &with_password("a fine password"),
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("no room called"), "{}", text(&out));
    let db = connect(&url).await;
    let hash: String = db
        .query_one("SELECT password_hash FROM qlink.staff_users WHERE email = 'desk@cli.test'", &[])
        .await
        .unwrap()
        .get(0);
    assert!(hash.starts_with("$argon2id$"));
    let row = db
        .query_one(
            "SELECT u.role, r.name FROM qlink.staff_users u LEFT JOIN qlink.rooms r ON r.id = u.room_id \
             WHERE u.email = 'room1@cli.test'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!((row.get::<_, String>(0), row.get::<_, Option<String>>(1)), ("STAFF".into(), Some("Room 1".into())));
    let role: String =
        db.query_one("SELECT role FROM qlink.staff_users WHERE email = 'owner@cli.test'", &[]).await.unwrap().get(0);
    assert_eq!(role, "OWNER");
}

#[tokio::test]
async fn servers_starting_together_migrate_one_after_the_other() {
    // A rolling restart starts several `qlink serve`, each migrating on start-up: they
    // must take turns, not fail on each other's DDL.
    let url = empty_database().await;
    let runs: Vec<std::process::Child> = (0..3)
        .map(|_| {
            Command::new(qlink_bin())
                .arg("migrate")
                .env("DATABASE_URL", &url)
                .env("RUST_LOG", "warn")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut applied = Vec::new();
    for run in runs {
        let out = run.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", text(&out));
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let line = stdout.lines().find(|l| l.starts_with("migrations applied")).unwrap_or(&stdout).to_string();
        applied.push(line);
    }
    applied.sort();
    let all = format!("migrations applied: {}", migrations());
    assert_eq!(applied, ["migrations applied: 0", "migrations applied: 0", all.as_str()]);
    let db = connect(&url).await;
    let version: String =
        db.query_one("SELECT extversion FROM pg_extension WHERE extname = 'qlink'", &[]).await.unwrap().get(0);
    assert_eq!(version, env!("CARGO_PKG_VERSION"));
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test]
async fn demo_then_serve_then_sigterm() {
    let url = empty_database().await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let env = [("DATABASE_URL", url.as_str()), ("QLINK_PUBLIC_URL", base.as_str())];
    assert!(qlink(&["migrate"], &env).status.success());
    let out = qlink(&["demo"], &env);
    assert!(out.status.success(), "{}", text(&out));
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    let login_of = |label: &str| -> (String, String) {
        let line = printed
            .lines()
            .find(|l| l.trim_start().starts_with(label))
            .unwrap_or_else(|| panic!("{label} in {printed}"));
        let parts: Vec<&str> = line.split_whitespace().collect();
        (parts[parts.len() - 3].to_string(), parts[parts.len() - 1].to_string())
    };
    let (staff_email, staff_password) = login_of("Receptionist");
    let (admin_email, admin_password) = login_of("Operator");
    assert!(printed.contains(&format!("{base}/c/demo-clinic")));

    let mut server = Command::new(qlink_bin())
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .env("DATABASE_URL", &url)
        .env("QLINK_PUBLIC_URL", &base)
        .env("RUST_LOG", "info")
        .env("WHATSAPP_ACCESS_TOKEN", "EAAG-never-log-me")
        .env("WHATSAPP_PHONE_NUMBER_ID", "1234567890")
        // Nothing listens there: sends fail and retry, which must not log the token either.
        .env("WHATSAPP_API_BASE", "http://127.0.0.1:9")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let http = reqwest::Client::builder().cookie_store(true).build().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await {
            if r.status() == 200 {
                break;
            }
        }
        if Instant::now() > deadline || server.try_wait().unwrap().is_some() {
            let _ = server.kill();
            let out = server.wait_with_output().unwrap();
            panic!("qlink serve did not become ready:\n{}", text(&out));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The demo receptionist drives the queue with curl-like requests.
    let r = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": staff_email, "password": staff_password, "issue_token": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let token = r.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string();
    let t: Value = http
        .post(format!("{base}/api/v1/clinics/demo-clinic/tokens"))
        .json(&json!({"patient_name": "Asha", "patient_phone": "9876543210"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let r = http
        .post(format!("{base}/api/v1/staff/queue/actions"))
        .bearer_auth(&token)
        .json(&json!({"action": "NEXT"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let s: Value = http
        .get(format!("{base}/api/v1/tokens/{}", t["token_id"].as_str().unwrap()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(s["status"], "SERVING");
    // The demo operator suspends and reactivates the clinic.
    let admin = reqwest::Client::new();
    let r = admin
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": admin_email, "password": admin_password, "issue_token": true}))
        .send()
        .await
        .unwrap();
    let admin_token = r.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string();
    let clinics: Value = admin
        .get(format!("{base}/api/v1/admin/clinics"))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = clinics["clinics"][0]["business_id"].as_str().unwrap().to_string();
    for status in ["SUSPENDED", "TRIAL"] {
        let r = admin
            .patch(format!("{base}/api/v1/admin/clinics/{id}"))
            .bearer_auth(&admin_token)
            .json(&json!({"status": status}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }

    // SIGTERM: a graceful exit.
    let pid = server.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = server.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "qlink serve did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status}");
    let output = server.wait_with_output().unwrap();
    let logs = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(logs.contains("shutting down"), "{logs}");
    // No secret reaches the logs: not the WhatsApp token, passwords or session secrets.
    for secret in
        ["EAAG-never-log-me", staff_password.as_str(), admin_password.as_str(), token.as_str(), admin_token.as_str()]
    {
        assert!(!logs.contains(secret), "a secret appeared in the logs");
    }
}

/// `qlink whatsapp templates` prints the one set of definitions the sender uses; `--create`
/// submits each to Meta's template-creation API and says what came back, failing when any
/// was refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_templates_are_printed_and_submitted() {
    use qlink_tests::fake_whatsapp::{FakeWhatsApp, ACCESS_TOKEN, API_VERSION};
    let printed = tokio::task::spawn_blocking(|| qlink(&["whatsapp", "templates"], &[])).await.unwrap();
    assert!(printed.status.success(), "{}", text(&printed));
    let definitions: Value = serde_json::from_slice(&printed.stdout).expect("a JSON array on stdout");
    assert_eq!(definitions, Value::from(qlink_server::whatsapp::templates::creation_bodies()));
    let names: Vec<(String, String)> = definitions
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["name"].as_str().unwrap().to_string(), d["language"].as_str().unwrap().to_string()))
        .collect();
    // Every template in each of the eight languages (SPEC §12).
    let expected: Vec<(String, String)> = ["qlink_welcome", "qlink_reminder", "qlink_called", "qlink_delay"]
        .iter()
        .flat_map(|n| ["en", "hi", "ta", "te", "mr", "bn", "kn", "gu"].map(|l| (n.to_string(), l.to_string())))
        .collect();
    assert_eq!(names, expected);
    assert!(definitions.as_array().unwrap().iter().all(|d| d["category"] == "UTILITY"));

    let fake = FakeWhatsApp::start().await;
    let base = fake.base_url();
    let create = move |base: String| {
        qlink(
            &["whatsapp", "templates", "--create", "--waba-id", "102290129340398"],
            &[
                ("WHATSAPP_API_BASE", base.as_str()),
                ("WHATSAPP_API_VERSION", API_VERSION),
                ("WHATSAPP_ACCESS_TOKEN", ACCESS_TOKEN),
            ],
        )
    };
    let first = tokio::task::spawn_blocking({
        let base = base.clone();
        move || create(base)
    })
    .await
    .unwrap();
    assert!(first.status.success(), "{}", text(&first));
    assert!(!text(&first).contains(ACCESS_TOKEN), "the token is never printed");
    let results: Value = serde_json::from_slice(&first.stdout).expect("JSON results");
    for r in results.as_array().unwrap() {
        assert_eq!(r["status"], "PENDING", "{r}");
        assert!(r["id"].as_str().is_some_and(|id| !id.is_empty()), "{r}");
    }
    let submitted = fake.template_submissions();
    assert_eq!(submitted.len(), expected.len());
    assert!(submitted.iter().all(|t| t.waba_id == "102290129340398" && t.token.as_deref() == Some(ACCESS_TOKEN)));
    assert_eq!(Value::from(submitted.iter().map(|t| t.body.clone()).collect::<Vec<_>>()), definitions);

    // Submitted again: Meta refuses each (the name exists in that language); the command
    // says so for each and fails.
    let again = tokio::task::spawn_blocking(move || create(base)).await.unwrap();
    assert!(!again.status.success(), "{}", text(&again));
    let results: Value = serde_json::from_slice(&again.stdout).expect("JSON results");
    for r in results.as_array().unwrap() {
        assert!(r["error"]["message"].as_str().is_some(), "{r}");
        assert_eq!(r["error"]["http_status"], 400, "{r}");
    }
    let n = expected.len();
    assert!(text(&again).contains(&format!("{n} of {n} templates were not accepted")), "{}", text(&again));

    let no_waba = tokio::task::spawn_blocking(|| qlink(&["whatsapp", "templates", "--create"], &[])).await.unwrap();
    assert!(!no_waba.status.success());
}
