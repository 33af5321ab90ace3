//! Point-in-time recovery (SPEC §13): a cluster archiving its WAL, a base backup, a clinic
//! morning in two parts with a known moment between them; a new cluster made from the
//! base backup and the archive, recovered to that moment, holds the clinic day exactly as
//! it was then (not the part after), and the clinic goes on from there. The README's
//! "Point-in-time recovery" section is this test's procedure.

use qlink_tests::cluster::{as_postgres, workdir, Cluster, SYSTEM_BIN};
use qlink_tests::{clinic_picture, connect, create_clinic};
use std::path::Path;
use std::time::{Duration, Instant};

/// A queue action; the number now serving after it.
async fn act(db: &tokio_postgres::Client, clinic: uuid::Uuid, action: &str) -> Option<i32> {
    db.query_one("SELECT * FROM qlink.queue_action($1, $2)", &[&clinic, &action]).await.unwrap().get(0)
}

async fn waiting(db: &tokio_postgres::Client, clinic: uuid::Uuid) -> i32 {
    // list_queues: a public function, so the web role may run it too.
    db.query_one("SELECT sum(waiting_count)::int FROM qlink.list_queues($1)", &[&clinic]).await.unwrap().get(0)
}

async fn join(db: &tokio_postgres::Client, clinic: uuid::Uuid, name: &str, phone: &str) {
    db.query_one("SELECT * FROM qlink.create_token($1, $2, $3)", &[&clinic, &name, &phone]).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_restores_to_a_chosen_moment_between_two_actions() {
    let started = Instant::now();
    let base = workdir("qlink-pitr");
    let archive = base.join("archive");
    as_postgres(&["mkdir", archive.to_str().unwrap()]);
    let primary = Cluster::init(
        &base.join("live"),
        Path::new(SYSTEM_BIN),
        &format!(
            "wal_level = replica\nmax_wal_senders = 4\narchive_mode = on\narchive_command = 'test ! -f {0}/%f && cp %p {0}/%f'",
            archive.display()
        ),
        "host replication postgres 127.0.0.1/32 trust",
    );
    connect(&primary.url("postgres", "postgres")).await.batch_execute("CREATE DATABASE qlink").await.unwrap();
    qlink_server::migrate::run(&primary.url("qlink", "postgres")).await.expect("migrate");
    let db = connect(&primary.url("qlink", "postgres")).await;
    let clinic = create_clinic(&db, "recovered", serde_json::json!({})).await;

    // The nightly base backup, taken before the day starts.
    let backup = base.join("base-backup");
    primary.base_backup(&backup, false);

    // The morning until the chosen moment...
    for (name, phone) in [("Asha", "9876543210"), ("आशा", "9876543211"), ("Ravi", "9876543212")] {
        join(&db, clinic, name, phone).await;
    }
    act(&db, clinic, "NEXT").await;
    act(&db, clinic, "SKIP").await;
    let then = clinic_picture(&db).await;
    let waiting_then = waiting(&db, clinic).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let moment: String = db.query_one("SELECT now()::text", &[]).await.unwrap().get(0);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // ...and after it: what the recovery must not bring back.
    let called_after = act(&db, clinic, "NEXT").await;
    join(&db, clinic, "Meena", "9876543213").await;
    act(&db, clinic, "SERVED").await;
    let later = clinic_picture(&db).await;
    assert_ne!(then, later);

    // Everything up to now reaches the archive (a segment is archived when it is full or
    // switched; archive_timeout does this in production).
    let segment: String = db.query_one("SELECT pg_walfile_name(pg_switch_wal())", &[]).await.unwrap().get(0);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let archived: Option<String> =
            db.query_one("SELECT last_archived_wal FROM pg_stat_archiver", &[]).await.unwrap().get(0);
        if archived.as_deref().is_some_and(|a| a >= segment.as_str()) {
            break;
        }
        assert!(Instant::now() < deadline, "WAL segment {segment} was never archived (last: {archived:?})");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(db);
    eprintln!("[{:?}] day recorded; recovering to {moment}", started.elapsed());

    // The restore: the base backup, the archive, the moment.
    let restored_dir = base.join("restored");
    as_postgres(&["cp", "-a", backup.to_str().unwrap(), restored_dir.to_str().unwrap()]);
    let auto_conf = restored_dir.join("postgresql.auto.conf");
    let mut conf = std::fs::read_to_string(&auto_conf).unwrap_or_default();
    conf.push_str(&format!(
        "\nrestore_command = 'cp {}/%f %p'\nrecovery_target_time = '{moment}'\nrecovery_target_action = 'promote'\narchive_mode = off\n",
        archive.display()
    ));
    std::fs::write(&auto_conf, conf).unwrap();
    std::fs::write(restored_dir.join("recovery.signal"), "").unwrap();
    let owned = std::process::Command::new("chown").args(["-R", "postgres"]).arg(&restored_dir).status().unwrap();
    assert!(owned.success(), "chown the restored data directory");
    let restored = Cluster::at(&restored_dir, Path::new(SYSTEM_BIN));
    restored.start();
    let admin = connect(&restored.url("postgres", "postgres")).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while admin.query_one("SELECT pg_is_in_recovery()", &[]).await.unwrap().get::<_, bool>(0) {
        assert!(Instant::now() < deadline, "the restored cluster never finished recovery");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("[{:?}] recovered", started.elapsed());

    let db = connect(&restored.url("qlink", "postgres")).await;
    assert_eq!(clinic_picture(&db).await, then, "the restored clinic day is not the one at {moment}");
    // The clinic goes on from the moment: the patient called after it is waiting again,
    // and NEXT calls them as it did on the live day.
    assert!(called_after.is_some());
    assert_eq!(act(&db, clinic, "NEXT").await, called_after, "NEXT after the restore calls whom it called live");
    // The runtime role works on the restored cluster (grants are in the backup).
    let runtime = connect(&restored.url("qlink", "qlink_app")).await;
    assert_eq!(waiting(&runtime, clinic).await, waiting_then - 1);
    eprintln!("[{:?}] done", started.elapsed());
    drop(runtime);
    drop(db);
    drop(admin);
    drop(restored);
    drop(primary);
    let _ = std::fs::remove_dir_all(&base);
}
