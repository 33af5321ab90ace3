//! Backups: a clinic's day survives a pg_dump / pg_restore round trip intact, and the
//! restored database keeps working (the extension, the rules, the runtime role's grants).

use qlink_tests::{admin_url, clinic_picture as picture, connect, create_clinic, fresh_database, url_as, url_for};
use std::process::Command;

#[tokio::test]
async fn dump_and_restore_bring_a_clinic_back_intact() {
    let url = fresh_database().await;
    let db = connect(&url).await;
    let clinic = create_clinic(&db, "backed-up", serde_json::json!({"daily_token_limit": 77})).await;
    for (name, phone) in
        [("Asha", "9876543210"), ("आशा", "9876543211"), ("Ravi", "9876543212"), ("Meena", "9876543213")]
    {
        db.query_one("SELECT * FROM qlink.create_token($1, $2, $3)", &[&clinic, &name, &phone]).await.unwrap();
    }
    for action in ["NEXT", "NEXT", "SKIP"] {
        db.query_one("SELECT * FROM qlink.queue_action($1, $2)", &[&clinic, &action]).await.unwrap();
    }
    let before = picture(&db).await;

    let dump = std::env::temp_dir().join(format!("qlink-{}.dump", uuid::Uuid::new_v4().simple()));
    let out =
        Command::new("pg_dump").args(["--format=custom", "--file", dump.to_str().unwrap(), &url]).output().unwrap();
    assert!(out.status.success(), "pg_dump: {}", String::from_utf8_lossy(&out.stderr));
    let restored_name = format!("qlink_test_restored_{}", uuid::Uuid::new_v4().simple());
    connect(&admin_url()).await.batch_execute(&format!("CREATE DATABASE {restored_name}")).await.unwrap();
    let restored_url = url_for(&restored_name);
    let out = Command::new("pg_restore")
        .args(["--exit-on-error", "--dbname", &restored_url, dump.to_str().unwrap()])
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&dump);
    assert!(out.status.success(), "pg_restore: {}", String::from_utf8_lossy(&out.stderr));

    let restored = connect(&restored_url).await;
    assert_eq!(picture(&restored).await, before);
    // The restored clinic goes on: UNDO walks back into the pre-backup history.
    restored.query_one("SELECT * FROM qlink.queue_action($1, 'UNDO')", &[&clinic]).await.unwrap();
    let row = restored.query_one("SELECT * FROM qlink.queue_action($1, 'NEXT')", &[&clinic]).await.unwrap();
    let serving: Option<i32> = row.get(0);
    assert_eq!(serving, Some(3));
    // The runtime role works there too (grants came back with the dump).
    let runtime = connect(&url_as(&restored_url, "qlink_app")).await;
    let n: i32 = runtime
        .query_one("SELECT sum(waiting_count)::int FROM qlink.list_queues($1)", &[&clinic])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
    assert!(runtime.execute("UPDATE qlink.tokens SET status = 'SERVED'", &[]).await.is_err());
}
