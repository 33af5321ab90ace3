//! Read-replica routing for real: a primary and a hot standby (pg_basebackup, streaming
//! replication over loopback), the server's polls going to the standby and writes to the
//! primary, and a patient never told their own brand-new token is "not found" while the
//! standby lags behind.

use qlink_tests::app::{plain, TestApp};
use qlink_tests::cluster::{workdir, Cluster, SYSTEM_BIN};
use qlink_tests::connect;
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

fn primary(base: &Path) -> Cluster {
    Cluster::init(
        &base.join("primary"),
        Path::new(SYSTEM_BIN),
        "wal_level = replica\nmax_wal_senders = 4\nhot_standby = on",
        "host replication postgres 127.0.0.1/32 trust",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polls_read_from_the_standby_and_writes_go_to_the_primary() {
    let started = Instant::now();
    let base = workdir("qlink-replica");
    let primary = primary(&base);
    eprintln!("[{:?}] primary up", started.elapsed());
    let admin = connect(&primary.url("postgres", "postgres")).await;
    admin.batch_execute("CREATE DATABASE qlink").await.unwrap();
    qlink_server::migrate::run(&primary.url("qlink", "postgres")).await.expect("migrate primary");
    let owner = connect(&primary.url("qlink", "postgres")).await;
    owner.query_one("SELECT qlink.create_business('replicated', 'Replicated Clinic')", &[]).await.unwrap();
    let standby = primary.standby(&base.join("standby"));
    eprintln!("[{:?}] standby up", started.elapsed());

    let primary_url = primary.url("qlink", "postgres");
    let app_url = primary.url("qlink", "qlink_app");
    let read_url = standby.url("qlink", "qlink_app");
    let app = TestApp::builder().with_database(primary_url, Some(app_url)).with_read_replica(read_url).spawn().await;
    let replica = connect(&standby.url("qlink", "postgres")).await;
    let in_recovery: bool = replica.query_one("SELECT pg_is_in_recovery()", &[]).await.unwrap().get(0);
    assert!(in_recovery, "the standby is a standby");

    // A patient joins (a write: the primary) and polls (reads: the standby).
    let token: Value = plain()
        .post(app.url("/api/v1/clinics/replicated/tokens"))
        .json(&json!({"patient_name": "Asha", "patient_phone": "9876543210"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = token["token_id"].as_str().unwrap().to_string();
    // Wait until the standby has replayed the new token.
    let deadline = Instant::now() + Duration::from_secs(10);
    while replica.query_opt("SELECT 1 FROM qlink.tokens WHERE id = $1::text::uuid", &[&id]).await.unwrap().is_none() {
        assert!(Instant::now() < deadline, "the standby never received the token");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let poll = |id: String| {
        let url = app.url(&format!("/api/v1/tokens/{id}"));
        async move { plain().get(url).send().await.unwrap() }
    };
    let first: Value = poll(id.clone()).await.json().await.unwrap();
    assert_eq!(first["status"], "WAITING");
    eprintln!("[{:?}] replicated", started.elapsed());

    // Freeze the standby, then call the patient on the primary: the poll still shows the
    // standby's (older) view, which proves polls read from the standby.
    replica.batch_execute("SELECT pg_wal_replay_pause()").await.unwrap();
    let clinic: uuid::Uuid = owner.query_one("SELECT id FROM qlink.businesses", &[]).await.unwrap().get(0);
    owner.query_one("SELECT * FROM qlink.queue_action($1, 'NEXT')", &[&clinic]).await.unwrap();
    let stale: Value = poll(id.clone()).await.json().await.unwrap();
    assert_eq!(stale["status"], "WAITING", "the poll did not come from the (paused) standby");

    // Replica lag: a new patient polls at once and still finds their own token (the write
    // went to the primary; the server falls back to it for a token the standby lacks).
    let late: Value = plain()
        .post(app.url("/api/v1/clinics/replicated/tokens"))
        .json(&json!({"patient_name": "Ravi", "patient_phone": "9876543211"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let late_id = late["token_id"].as_str().unwrap().to_string();
    let on_primary: i64 = owner.query_one("SELECT count(*) FROM qlink.tokens", &[]).await.unwrap().get(0);
    let on_standby: i64 = replica.query_one("SELECT count(*) FROM qlink.tokens", &[]).await.unwrap().get(0);
    assert_eq!((on_primary, on_standby), (2, 1), "the write went to the primary only");
    let r = poll(late_id.clone()).await;
    assert_eq!(r.status(), 200, "a lagging standby made the patient's own token 'not found'");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_number"], 2);

    // Once replay resumes, the standby catches up and the poll shows the call.
    replica.batch_execute("SELECT pg_wal_replay_resume()").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now: Value = poll(id.clone()).await.json().await.unwrap();
        if now["status"] == "SERVING" {
            break;
        }
        assert!(Instant::now() < deadline, "the standby never caught up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Unknown tokens are still 404 (checked on both).
    assert_eq!(
        plain().get(app.url(&format!("/api/v1/tokens/{}", uuid::Uuid::new_v4()))).send().await.unwrap().status(),
        404
    );
    eprintln!("[{:?}] done", started.elapsed());
    drop(app);
    drop(standby);
    drop(primary);
    let _ = std::fs::remove_dir_all(&base);
}
