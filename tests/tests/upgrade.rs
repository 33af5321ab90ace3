//! A clinic's database made by an earlier release upgrades to this build without losing a
//! token, a message or its history. On a PostgreSQL installation of its own (so the system
//! one every other test uses is never touched), for every release in `pg_ext/releases`:
//! install that release's build (made from the history by scripts/lib.sh), migrate and fill
//! a clinic day with it, install this build the way setup.sh does while a connection of
//! the old day stays open, run `qlink migrate`, and prove that
//! - the `qlink.*` function catalog (names, arguments, defaults, results, volatility,
//!   security definer, search_path, grants, library) and the tables equal a fresh
//!   install's;
//! - the old day goes on: statuses unchanged, UNDO walks back into the old history, NEXT,
//!   status polls, new tokens, and the outbox rows queued before the upgrade are sent;
//! - a connection that ran the old release's code keeps working with the new one.
//!
//! scripts/test.sh passes the packages in QLINK_PACKAGE (this build) and
//! QLINK_RELEASE_PACKAGES (`version=package_dir=last_migration ...`).

use qlink_tests::cluster::{workdir, Cluster, Installation};
use qlink_tests::fake_whatsapp::FakeWhatsApp;
use qlink_tests::{connect, qlink_bin};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio_postgres::Client;
use uuid::Uuid;

const PASSWORD: &str = "correct horse battery";

struct Release {
    version: String,
    package: PathBuf,
    last_migration: u32,
}

fn releases() -> Vec<Release> {
    let list = std::env::var("QLINK_RELEASE_PACKAGES")
        .expect("QLINK_RELEASE_PACKAGES is set by scripts/test.sh (the builds of earlier releases)");
    let releases: Vec<Release> = list
        .split_whitespace()
        .map(|item| {
            let mut parts = item.splitn(3, '=');
            let version = parts.next().unwrap().to_string();
            let package = PathBuf::from(parts.next().expect("package dir"));
            let last_migration = parts.next().expect("last migration").parse().expect("migration number");
            Release { version, package, last_migration }
        })
        .collect();
    assert!(!releases.is_empty(), "no earlier release to upgrade from in {list:?}");
    releases
}

fn current_package() -> PathBuf {
    std::env::var("QLINK_PACKAGE").expect("QLINK_PACKAGE is set by scripts/test.sh (this build's package)").into()
}

fn qlink(args: &[&str], env: &[(&str, &str)]) -> String {
    let out =
        Command::new(qlink_bin()).args(args).env_remove("DATABASE_URL").envs(env.iter().copied()).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "qlink {args:?}: {text}");
    text
}

/// Everything UNDO restores, and what a patient sees: each token's state and the pointer.
async fn day_state(db: &Client) -> Vec<String> {
    let mut state: Vec<String> = db
        .query(
            "SELECT format('%s %s prev=%s prio=%s called=%s served=%s cancelled=%s', token_number, status, \
                 previous_status, is_priority, called_at, served_at, cancelled_at) AS line \
             FROM qlink.tokens WHERE business_id = (SELECT id FROM qlink.businesses WHERE slug = 'sunrise') \
             ORDER BY token_number",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get("line"))
        .collect();
    let session = db
        .query_one(
            "SELECT format('session %s serving=%s', s.status, s.now_serving_number) AS line \
             FROM qlink.sessions s JOIN qlink.businesses b ON b.id = s.business_id WHERE b.slug = 'sunrise'",
            &[],
        )
        .await
        .unwrap();
    state.push(session.get("line"));
    state
}

/// The catalog a client and a DBA rely on: every function of schema qlink with its full
/// signature and settings, whether the extension owns it, and the tables' shape.
async fn catalog(db: &Client) -> Vec<String> {
    let functions = db
        .query(
            "SELECT format('%s(%s) -> %s | vol=%s strict=%s secdef=%s parallel=%s cost=%s rows=%s config=%s \
                 acl=%s owner=%s lib=%s symbol=%s member=%s', \
                 p.proname, pg_get_function_arguments(p.oid), pg_get_function_result(p.oid), p.provolatile, \
                 p.proisstrict, p.prosecdef, p.proparallel, p.procost, p.prorows, p.proconfig, p.proacl, \
                 p.proowner::regrole, p.probin, p.prosrc, \
                 EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e' \
                         AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'qlink'))) AS line \
             FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
             WHERE n.nspname = 'qlink' ORDER BY p.proname, pg_get_function_identity_arguments(p.oid)",
            &[],
        )
        .await
        .unwrap();
    let tables = db
        .query(
            "SELECT format('%s.%s %s null=%s default=%s', table_name, column_name, data_type, is_nullable, \
                 column_default) AS line \
             FROM information_schema.columns WHERE table_schema = 'qlink' \
             UNION ALL SELECT format('index %s', indexdef) FROM pg_indexes WHERE schemaname = 'qlink' \
             UNION ALL SELECT format('constraint %s %s', conname, pg_get_constraintdef(c.oid)) \
                 FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = 'qlink' \
             UNION ALL SELECT format('extension %s', extversion) FROM pg_extension WHERE extname = 'qlink' \
             ORDER BY 1",
            &[],
        )
        .await
        .unwrap();
    functions.iter().chain(tables.iter()).map(|r| r.get("line")).collect()
}

fn assert_same(upgraded: &[String], fresh: &[String]) {
    // Compared as multisets: a line twice on one side and once on the other is a difference.
    let count = |lines: &[String], line: &String| lines.iter().filter(|l| *l == line).count();
    let only_upgraded: Vec<&String> = upgraded.iter().filter(|l| count(upgraded, l) > count(fresh, l)).collect();
    let only_fresh: Vec<&String> = fresh.iter().filter(|l| count(fresh, l) > count(upgraded, l)).collect();
    assert!(
        only_upgraded.is_empty() && only_fresh.is_empty(),
        "the upgraded catalog differs from a fresh install's\nmore after the upgrade:\n{only_upgraded:#?}\n\
         more in a fresh install:\n{only_fresh:#?}"
    );
}

struct OldDay {
    clinic: Uuid,
    /// The day's state after each staff action, oldest first (the last one is the state
    /// at the upgrade).
    states: Vec<Vec<String>>,
    waiting: Uuid,
    waiting_position: i32,
    pending_messages: i64,
}

/// An earlier day at another clinic (three days ago, by the clock override the earlier
/// release has too): the upgrade must write its report rollups from the stored tokens.
async fn fill_earlier_day(db: &Client) -> Uuid {
    // No messages: the old worker never ran for that day.
    let clinic: Uuid = db
        .query_one(
            "SELECT qlink.create_business('lakeside', 'Lakeside Clinic', settings => '{\"whatsapp_enabled\": false}') AS id",
            &[],
        )
        .await
        .unwrap()
        .get("id");
    let set_clock = |minutes: i32| async move {
        let at: String = db
            .query_one(
                "SELECT (date_trunc('day', now() - interval '3 days') + interval '4 hours' \
                         + make_interval(mins => $1))::text AS t",
                &[&minutes],
            )
            .await
            .unwrap()
            .get("t");
        db.batch_execute(&format!("SET qlink.clock_override = '{at}'")).await.unwrap();
    };
    let mut tokens = Vec::new();
    for i in 0..5 {
        set_clock(i * 3).await;
        let row = db
            .query_one(
                "SELECT token_id FROM qlink.create_token($1, $2, $3)",
                &[&clinic, &format!("Patient {i}"), &format!("98000000{i:02}")],
            )
            .await
            .unwrap();
        tokens.push(row.get::<_, Uuid>("token_id"));
    }
    for (minute, action, token) in [
        (20, "NEXT", None),
        (27, "SERVED", None),
        (30, "NEXT", None),
        (41, "SERVED", None),
        (45, "NEXT", None),
        (46, "SKIP", None),
        (50, "CANCEL", Some(tokens[4])),
    ] {
        set_clock(minute).await;
        db.query("SELECT * FROM qlink.queue_action($1, $2, $3)", &[&clinic, &action, &token])
            .await
            .unwrap_or_else(|e| panic!("{action}: {e}"));
    }
    db.batch_execute("SET qlink.clock_override = ''").await.unwrap();
    clinic
}

/// The upgrade's backfill wrote the earlier day's rollups, and every figure equals the same
/// figure worked out here from the stored tokens.
async fn assert_backfilled(db: &Client, clinic: Uuid) {
    let tokens = db
        .query(
            "SELECT status, floor(extract(epoch FROM called_at - created_at))::int AS wait, \
                    floor(extract(epoch FROM served_at - called_at))::int AS service \
             FROM qlink.tokens WHERE business_id = $1",
            &[&clinic],
        )
        .await
        .unwrap();
    let count = |status: &str| tokens.iter().filter(|t| t.get::<_, String>("status") == status).count() as i32;
    let mut waits: Vec<i32> = tokens.iter().filter_map(|t| t.get::<_, Option<i32>>("wait")).collect();
    waits.sort_unstable();
    let mut services: Vec<i32> = tokens
        .iter()
        .filter(|t| t.get::<_, String>("status") == "SERVED")
        .filter_map(|t| t.get::<_, Option<i32>>("service"))
        .collect();
    services.sort_unstable();
    // percentile_disc: the first value whose cumulative share reaches p.
    let pct = |v: &[i32], p: f64| v.get(((p * v.len() as f64).ceil() as usize).max(1) - 1).copied();
    let rows = db
        .query(
            "SELECT queue_id IS NULL AS clinic_row, tokens, served, skipped, cancelled, unserved, called, \
                    wait_p50_seconds, wait_p90_seconds, service_p50_seconds, service_p90_seconds, eta_shown, max_waiting \
             FROM qlink.daily_rollups WHERE business_id = $1 ORDER BY queue_id NULLS FIRST",
            &[&clinic],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 2, "a clinic row and its one queue's row");
    for r in &rows {
        let got = (
            r.get::<_, i32>("tokens"),
            r.get::<_, i32>("served"),
            r.get::<_, i32>("skipped"),
            r.get::<_, i32>("cancelled"),
            r.get::<_, i32>("unserved"),
            r.get::<_, i32>("called"),
        );
        let unserved = count("WAITING") + count("SERVING");
        assert_eq!(got, (5, count("SERVED"), count("SKIPPED"), count("CANCELLED"), unserved, waits.len() as i32));
        let percentiles = (
            r.get::<_, Option<i32>>("wait_p50_seconds"),
            r.get::<_, Option<i32>>("wait_p90_seconds"),
            r.get::<_, Option<i32>>("service_p50_seconds"),
            r.get::<_, Option<i32>>("service_p90_seconds"),
        );
        assert_eq!(percentiles, (pct(&waits, 0.5), pct(&waits, 0.9), pct(&services, 0.5), pct(&services, 0.9)));
        // 0.1 did not keep the ETA it showed; the line peaked at all five before the first call.
        assert_eq!(r.get::<_, i32>("eta_shown"), 0);
        assert_eq!(r.get::<_, i32>("max_waiting"), 5);
    }
    let report: i32 = db
        .query_one(
            "SELECT sum(served)::int AS served FROM qlink.clinic_report($1, current_date - 7, current_date)",
            &[&clinic],
        )
        .await
        .unwrap()
        .get("served");
    assert_eq!(report, count("SERVED"), "the report reads the backfilled day");
}

/// A morning at a clinic, driven through the earlier release's SQL API as its server
/// would: patients by QR, a walk-in and an emergency by staff, and the buttons.
async fn fill_day(db: &Client) -> OldDay {
    let clinic: Uuid =
        db.query_one("SELECT qlink.create_business('sunrise', 'Sunrise Clinic') AS id", &[]).await.unwrap().get("id");
    let hash = qlink_server::accounts::hash_password(PASSWORD).unwrap();
    let staff: Uuid = db
        .query_one("SELECT qlink.create_staff_user('desk@sunrise.test', $1, 'STAFF', $2) AS id", &[&hash, &clinic])
        .await
        .unwrap()
        .get("id");
    let mut tokens = Vec::new();
    for (i, name) in ["Asha", "Bala", "Chitra", "Deepak", "Esha", "Farhan"].iter().enumerate() {
        let phone = format!("98765432{i:02}");
        let row = db
            .query_one("SELECT token_id FROM qlink.create_token($1, $2, $3)", &[&clinic, name, &phone])
            .await
            .unwrap();
        tokens.push(row.get::<_, Uuid>("token_id"));
    }
    db.query_one(
        "SELECT token_id FROM qlink.create_token($1, 'Walk-in Gita', NULL, 'STAFF', staff_id => $2)",
        &[&clinic, &staff],
    )
    .await
    .unwrap();
    db.query_one(
        "SELECT token_id FROM qlink.create_token($1, 'Emergency Hari', '9811111111', 'STAFF', is_priority => true, \
             staff_id => $2)",
        &[&clinic, &staff],
    )
    .await
    .unwrap();
    // The old worker had sent the first two messages before the upgrade.
    for row in db.query("SELECT id FROM qlink.claim_messages(2, interval '1 minute')", &[]).await.unwrap() {
        let id: i64 = row.get("id");
        db.query_one(
            "SELECT status FROM qlink.finish_message($1, 'SENT', 'whatsapp', $2)",
            &[&id, &format!("wamid.old{id}")],
        )
        .await
        .unwrap();
    }
    let mut states = vec![day_state(db).await];
    let act = |action: &'static str, token: Option<Uuid>| {
        let sql = "SELECT now_serving_number FROM qlink.queue_action($1, $2, $3, $4)";
        async move {
            db.query_one(sql, &[&clinic, &action, &token, &staff]).await.unwrap_or_else(|e| panic!("{action}: {e}"));
        }
    };
    act("NEXT", None).await; // the emergency
    states.push(day_state(db).await);
    act("SERVED", None).await;
    states.push(day_state(db).await);
    act("NEXT", None).await; // Asha
    states.push(day_state(db).await);
    act("SKIP", None).await; // Asha did not come in
    states.push(day_state(db).await);
    act("NEXT", None).await; // Bala
    states.push(day_state(db).await);
    act("RECALL", Some(tokens[0])).await; // Asha is back, called next
    states.push(day_state(db).await);
    act("CANCEL", Some(tokens[4])).await; // Esha had to leave
    states.push(day_state(db).await);
    act("NEXT", None).await; // Asha again
    states.push(day_state(db).await);

    let waiting = tokens[3]; // Deepak
    let position: i32 = db
        .query_one("SELECT queue_position FROM qlink.token_status($1)", &[&waiting])
        .await
        .unwrap()
        .get("queue_position");
    let pending: i64 = db
        .query_one("SELECT count(*) AS n FROM qlink.message_logs WHERE status = 'PENDING'", &[])
        .await
        .unwrap()
        .get("n");
    assert!(pending >= 4, "the old day left messages to send ({pending})");
    OldDay { clinic, states, waiting, waiting_position: position, pending_messages: pending }
}

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn serve(db_url: &str, whatsapp: &FakeWhatsApp) -> Server {
    let port = qlink_tests::cluster::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let args = whatsapp.whatsapp_args();
    let child = Command::new(qlink_bin())
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .env("DATABASE_URL", db_url)
        .env("QLINK_PUBLIC_URL", &base)
        .env("RUST_LOG", "warn")
        .env("WHATSAPP_API_BASE", &args.whatsapp_api_base)
        .env("WHATSAPP_API_VERSION", &args.whatsapp_api_version)
        .env("WHATSAPP_PHONE_NUMBER_ID", args.whatsapp_phone_number_id.as_deref().unwrap())
        .env("WHATSAPP_ACCESS_TOKEN", args.whatsapp_access_token.as_ref().unwrap().expose())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut server = Server { child, base };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = reqwest::get(format!("{}/readyz", server.base)).await {
            if r.status() == 200 {
                let body: Value = r.json().await.unwrap();
                assert_eq!(body["extension_version"], env!("CARGO_PKG_VERSION"));
                return server;
            }
        }
        assert!(server.child.try_wait().unwrap().is_none(), "qlink serve exited on the upgraded database");
        assert!(Instant::now() < deadline, "qlink serve never became ready on the upgraded database");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn upgrade_from(release: &Release) {
    let started = Instant::now();
    let base = workdir("qlink-upgrade");
    let installation = Installation::private(&base.join("pg"));
    installation.install(&release.package);
    let cluster = Cluster::init(&base.join("data"), &installation.bin(), "", "");
    let admin = connect(&cluster.url("postgres", "postgres")).await;
    admin.batch_execute("CREATE DATABASE day").await.unwrap();
    admin.batch_execute("CREATE DATABASE fresh").await.unwrap();
    let day_url = cluster.url("day", "postgres");

    // The earlier release's database, and a morning at the clinic with it.
    qlink_server::migrate::run_until(&day_url, release.last_migration).await.expect("migrate as the release did");
    let db = connect(&day_url).await;
    let installed: String =
        db.query_one("SELECT extversion FROM pg_extension WHERE extname = 'qlink'", &[]).await.unwrap().get(0);
    assert_eq!(installed, release.version);
    let earlier = fill_earlier_day(&db).await;
    let day = fill_day(&db).await;
    let at_upgrade = day.states.last().unwrap().clone();
    let old_version: String = db.query_one("SELECT qlink.qlink_version() AS v", &[]).await.unwrap().get("v");
    assert_eq!(old_version, release.version, "the old day ran the old release's library");
    eprintln!("[{:?}] {} day filled", started.elapsed(), release.version);

    // This build's files, installed under the running server and the open connection.
    installation.install(&current_package());
    let still: String = db
        .query_one("SELECT status FROM qlink.token_status($1)", &[&day.waiting])
        .await
        .expect("a connection of the old release works while the new files are installed")
        .get("status");
    assert_eq!(still, "WAITING");

    let migrated = qlink(&["migrate"], &[("DATABASE_URL", &day_url), ("RUST_LOG", "warn")]);
    assert!(
        migrated.contains(&format!("extension qlink: {} -> {}", release.version, env!("CARGO_PKG_VERSION"))),
        "{migrated}"
    );
    qlink(&["migrate"], &[("DATABASE_URL", &cluster.url("fresh", "postgres")), ("RUST_LOG", "warn")]);
    let fresh = connect(&cluster.url("fresh", "postgres")).await;
    assert_same(&catalog(&db).await, &catalog(&fresh).await);
    assert_eq!(day_state(&db).await, at_upgrade, "the upgrade changed no token");
    assert_backfilled(&db, earlier).await;

    // For an hour after the migration, a 0.1 server (the web role, no login) still works the
    // desk while the servers are restarted one by one; once the owner ends the window, a
    // call without a login is refused.
    let web = connect(&cluster.url("day", "qlink_app")).await;
    let clinic: Uuid =
        db.query_one("SELECT business_id FROM qlink.clinic_by_slug('sunrise')", &[]).await.unwrap().get(0);
    let summary = "SELECT waiting_count FROM qlink.queue_summary($1)";
    web.query_one(summary, &[&clinic]).await.expect("a 0.1 server's call in the upgrade window");
    let fresh_window: Option<bool> = fresh
        .query_one("SELECT calls_without_login_until IS NOT NULL FROM qlink.installation_limits", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(fresh_window, Some(false), "a fresh installation has no window");
    db.batch_execute("UPDATE qlink.installation_limits SET calls_without_login_until = NULL").await.unwrap();
    let refused = web.query_one(summary, &[&clinic]).await.expect_err("a call without a login after the window");
    assert_eq!(refused.as_db_error().and_then(|e| e.detail()), Some("qlink:login_required"));

    // The connection that ran the old library now runs the new one beside it.
    let version: String = db.query_one("SELECT qlink.qlink_version() AS v", &[]).await.unwrap().get("v");
    assert_eq!(version, env!("CARGO_PKG_VERSION"));
    db.batch_execute("SET qlink.clock_override = ''").await.unwrap();
    let position: i32 = db
        .query_one("SELECT queue_position FROM qlink.token_status($1)", &[&day.waiting])
        .await
        .unwrap()
        .get("queue_position");
    assert_eq!(position, day.waiting_position);

    // The day goes on with this build's server and worker.
    let whatsapp = FakeWhatsApp::start().await;
    let server = serve(&day_url, &whatsapp).await;
    let http = reqwest::Client::builder().cookie_store(true).build().unwrap();
    let poll: Value =
        http.get(format!("{}/api/v1/tokens/{}", server.base, day.waiting)).send().await.unwrap().json().await.unwrap();
    assert_eq!(poll["status"], "WAITING", "{poll}");
    assert_eq!(poll["queue_position"], day.waiting_position, "{poll}");

    // Every message the old day queued is sent by the new worker.
    let pending = day.pending_messages as usize;
    whatsapp.wait_for(Duration::from_secs(30), "the old day's pending messages", |got| got.len() >= pending).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left: i64 = db
            .query_one("SELECT count(*) AS n FROM qlink.message_logs WHERE status = 'PENDING'", &[])
            .await
            .unwrap()
            .get("n");
        if left == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{left} messages of the old day still PENDING");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // UNDO walks back into the old release's history, one action at a time, exactly.
    let origin = [("Origin", server.base.as_str())];
    let login = http
        .post(format!("{}/api/v1/auth/login", server.base))
        .header(origin[0].0, origin[0].1)
        .json(&json!({"email": "desk@sunrise.test", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200, "{}", login.text().await.unwrap());
    let action = |action: &'static str| {
        let request = http
            .post(format!("{}/api/v1/staff/queue/actions", server.base))
            .header(origin[0].0, origin[0].1)
            .json(&json!({ "action": action }));
        async move {
            let r = request.send().await.unwrap();
            let status = r.status();
            let body = r.text().await.unwrap();
            assert_eq!(status, 200, "{action}: {body}");
        }
    };
    let n = day.states.len();
    action("UNDO").await;
    assert_eq!(day_state(&db).await, day.states[n - 2], "UNDO reverts the old release's last action");
    action("UNDO").await;
    assert_eq!(day_state(&db).await, day.states[n - 3], "and then the one before");

    // NEXT calls the next patient in call order: RECALL put Asha first again.
    action("NEXT").await;
    let serving: String = db
        .query_one("SELECT patient_name FROM qlink.tokens WHERE status = 'SERVING'", &[])
        .await
        .unwrap()
        .get("patient_name");
    assert_eq!(serving, "Asha");

    // A new patient joins; the day's numbering continues.
    let joined: Value = http
        .post(format!("{}/api/v1/clinics/sunrise/tokens", server.base))
        .json(&json!({"patient_name": "Ira", "patient_phone": "9822222222"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(joined["token_number"], 9, "{joined}");
    let clinic_tokens: i64 = db
        .query_one("SELECT count(*) AS n FROM qlink.tokens WHERE business_id = $1", &[&day.clinic])
        .await
        .unwrap()
        .get("n");
    assert_eq!(clinic_tokens, 9);

    // The upgrade gave the clinic one line with no prefix and one room calling from it:
    // labels are the plain numbers, and everyone called was called to that room.
    let setup: String = db
        .query_one(
            "SELECT (SELECT string_agg(name || '|' || prefix || '|' || is_active, ',') FROM qlink.list_queues($1)) \
                 || ';' || (SELECT string_agg(name || '|' || array_length(queue_ids, 1), ',') FROM qlink.list_rooms($1)) \
                 AS s",
            &[&day.clinic],
        )
        .await
        .unwrap()
        .get("s");
    assert_eq!(setup, "General||true;Room 1|1");
    let odd: i64 = db
        .query_one(
            "SELECT count(*) AS n FROM qlink.tokens t LEFT JOIN qlink.rooms r ON r.id = t.room_id \
             WHERE t.business_id = $1 AND (t.token_label <> t.token_number::text \
                OR (t.called_at IS NOT NULL) <> (r.name IS NOT DISTINCT FROM 'Room 1' AND t.room_id IS NOT NULL))",
            &[&day.clinic],
        )
        .await
        .unwrap()
        .get("n");
    assert_eq!(odd, 0, "labels are the numbers and called tokens have the clinic's room");

    // 0.2's WhatsApp conversations reach the old day's patients: a STATUS finds their token.
    let phone: String = db
        .query_one("SELECT patient_phone FROM qlink.tokens WHERE id = $1", &[&day.waiting])
        .await
        .unwrap()
        .get("patient_phone");
    let asked = db
        .query_one(
            "SELECT outcome, token_id FROM qlink.handle_inbound('100200300', $1, 'STATUS', NULL, 'wamid.upgrade', NULL)",
            &[&phone.trim_start_matches('+')],
        )
        .await
        .unwrap();
    assert_eq!(asked.get::<_, String>("outcome"), "status");
    assert_eq!(asked.get::<_, Option<Uuid>>("token_id"), Some(day.waiting));

    // 0.2's self-service works on the old day's tokens: the patient steps out and is back,
    // and a doctor's delay moves their ETA.
    let held = db.query_one("SELECT status FROM qlink.hold_token($1)", &[&day.waiting]).await.unwrap();
    assert_eq!(held.get::<_, String>("status"), "WAITING");
    let hold_state: Option<String> =
        db.query_one("SELECT hold_state FROM qlink.token_status($1)", &[&day.waiting]).await.unwrap().get("hold_state");
    assert_eq!(hold_state.as_deref(), Some("HELD"));
    let back: String =
        db.query_one("SELECT outcome FROM qlink.return_token($1)", &[&day.waiting]).await.unwrap().get("outcome");
    assert!(back == "returned" || back == "front", "{back}");
    let delay: Option<i32> = db
        .query_one("SELECT delay_minutes FROM qlink.announce_delay($1, NULL, 15, 'Upgraded')", &[&day.clinic])
        .await
        .unwrap()
        .get("delay_minutes");
    assert_eq!(delay, Some(15));
    let note: Option<String> =
        db.query_one("SELECT delay_note FROM qlink.token_status($1)", &[&day.waiting]).await.unwrap().get("delay_note");
    assert_eq!(note.as_deref(), Some("Upgraded"));

    // And it grows: a second doctor with a line and a room of their own.
    let dr_b: Uuid =
        db.query_one("SELECT qlink.create_queue($1, 'Dr. B', 'B') AS q", &[&day.clinic]).await.unwrap().get("q");
    let room_2: Uuid = db
        .query_one("SELECT qlink.create_room($1, 'Room 2', ARRAY[$2::uuid]) AS r", &[&day.clinic, &dr_b])
        .await
        .unwrap()
        .get("r");
    let b1 = db
        .query_one(
            "SELECT token_id, token_label FROM qlink.create_token($1, 'Bina', '9833333333', queue_id => $2)",
            &[&day.clinic, &dr_b],
        )
        .await
        .unwrap();
    assert_eq!(b1.get::<_, String>("token_label"), "B-1");
    let called: Option<Uuid> = db
        .query_one(
            "SELECT affected_token_id FROM qlink.queue_action($1, 'NEXT', room_id => $2)",
            &[&day.clinic, &room_2],
        )
        .await
        .unwrap()
        .get("affected_token_id");
    assert_eq!(called, Some(b1.get::<_, Uuid>("token_id")));
    let unnamed = db.query_one("SELECT * FROM qlink.queue_action($1, 'NEXT')", &[&day.clinic]).await.unwrap_err();
    assert_eq!(unnamed.code(), Some(&tokio_postgres::error::SqlState::INVALID_PARAMETER_VALUE), "{unnamed}");

    drop(server);
    drop(cluster);
    let _ = std::fs::remove_dir_all(&base);
    eprintln!("[{:?}] {} upgraded and went on", started.elapsed(), release.version);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_release_upgrades_to_this_build_and_its_day_goes_on() {
    for release in releases() {
        upgrade_from(&release).await;
    }
}

#[test]
fn the_installer_never_rewrites_a_library_in_place() {
    // A backend keeps the library it mapped: the installer must put a new file in place
    // (a new inode) rather than write into the old one.
    let base = workdir("qlink-install");
    let installation = Installation::private(&base.join("pg"));
    let package = current_package();
    installation.install(&package);
    let lib = std::fs::read_dir(installation.libdir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("qlink"))
        .expect("the library is installed");
    let inode = |p: &Path| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(p).unwrap());
    let before = inode(&lib);
    let held = std::fs::File::open(&lib).unwrap();
    installation.install(&package);
    assert_ne!(inode(&lib), before, "the library was rewritten in place");
    assert_eq!(std::os::unix::fs::MetadataExt::ino(&held.metadata().unwrap()), before);
    assert_eq!(std::os::unix::fs::MetadataExt::nlink(&held.metadata().unwrap()), 0, "the old file is unlinked");
    drop(held);
    let _ = std::fs::remove_dir_all(&base);
}
