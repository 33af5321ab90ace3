//! TLS to PostgreSQL (SPEC §13): a throwaway cluster that refuses every connection without
//! TLS, with a certificate for `localhost` from a test CA. The server runs on it with
//! `sslmode=verify-full` and the CA as `sslrootcert`, and every one of its sessions is
//! encrypted; a certificate from another CA, or for another name, stops the start with
//! a clear error; `verify-ca` takes the other name; `sslmode=disable` is refused.

use qlink_tests::app::{plain, TestApp};
use qlink_tests::cluster::{as_postgres, workdir, Cluster, SYSTEM_BIN};
use serde_json::json;
use std::path::Path;
use std::process::Command;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").current_dir(dir).args(args).output().expect("run openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A CA, a server certificate it signs for DNS:localhost only, and an unrelated CA.
fn certificates(dir: &Path) {
    let days = ["-days", "2"];
    for ca in ["ca", "other-ca"] {
        openssl(
            dir,
            &[
                &["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", &format!("{ca}.key")][..],
                &["-out", &format!("{ca}.pem"), "-subj", &format!("/CN=QLink test {ca}")],
                &days,
            ]
            .concat(),
        );
    }
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    std::fs::write(dir.join("san.cnf"), "subjectAltName = DNS:localhost\n").unwrap();
    openssl(
        dir,
        &[
            &["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial"][..],
            &["-out", "server.crt", "-extfile", "san.cnf"],
            &days,
        ]
        .concat(),
    );
    Command::new("chown").args(["postgres", dir.join("server.key").to_str().unwrap()]).status().unwrap();
    std::fs::set_permissions(dir.join("server.key"), std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_talks_to_postgresql_over_verified_tls_only() {
    let base = workdir("qlink-db-tls");
    let certs = base.join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    certificates(&certs);
    let cluster = Cluster::init(
        &base.join("db"),
        Path::new(SYSTEM_BIN),
        &format!("ssl = on\nssl_cert_file = '{0}/server.crt'\nssl_key_file = '{0}/server.key'", certs.display()),
        "",
    );
    // Only TLS over TCP from now on (initdb's own lines would let plain connections in).
    std::fs::write(
        cluster.dir.join("pg_hba.conf"),
        "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostnossl all all 127.0.0.1/32 reject\n",
    )
    .unwrap();
    as_postgres(&[&format!("{SYSTEM_BIN}/pg_ctl"), "-D", cluster.dir.to_str().unwrap(), "reload"]);

    let ca = certs.join("ca.pem");
    let url = |host: &str, db: &str, user: &str, tls: &str| {
        format!("postgres://{user}@{host}:{}/{db}?hostaddr=127.0.0.1&{tls}", cluster.port)
    };
    let verified =
        |db: &str, user: &str| url("localhost", db, user, &format!("sslmode=verify-full&sslrootcert={}", ca.display()));

    // Plain connections are refused by the cluster: the test is about TLS or nothing.
    let plain_attempt = qlink_server::migrate::run(&url("localhost", "postgres", "postgres", "sslmode=disable")).await;
    let e = format!("{:#}", plain_attempt.expect_err("a plain connection"));
    assert!(e.contains("no encryption") || e.contains("rejects connection"), "{e}");

    let admin = qlink_server::db::Target::parse(&verified("postgres", "postgres"), "test").unwrap().connect().await;
    admin.expect("a verified TLS connection").batch_execute("CREATE DATABASE qlink").await.unwrap();
    qlink_server::migrate::run(&verified("qlink", "postgres")).await.expect("migrate over verify-full");
    let app = TestApp::builder()
        .with_database(verified("qlink", "postgres"), Some(verified("qlink", "qlink_app")))
        .spawn()
        .await;
    app.db.query_one("SELECT qlink.create_business('tls', 'TLS Clinic')", &[]).await.unwrap();
    let r = plain()
        .post(app.url("/api/v1/clinics/tls/tokens"))
        .json(&json!({"patient_name": "Asha", "patient_phone": "9876543210"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "a token through a server on TLS");
    let sessions: Vec<(String, bool)> = app
        .db
        .query(
            "SELECT a.usename::text, s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
             WHERE a.datname = 'qlink' AND a.backend_type = 'client backend'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert!(sessions.iter().any(|(user, _)| user == "qlink_app"), "the server's own sessions: {sessions:?}");
    assert!(sessions.iter().all(|(_, ssl)| *ssl), "every session is encrypted: {sessions:?}");

    // A certificate the CA did not sign, or one for another name: refused, and said why.
    let other_ca = certs.join("other-ca.pem");
    let wrong_ca =
        url("localhost", "qlink", "postgres", &format!("sslmode=verify-full&sslrootcert={}", other_ca.display()));
    let e = format!("{:#}", qlink_server::migrate::run(&wrong_ca).await.expect_err("an unknown CA"));
    assert!(e.contains("UnknownIssuer") || e.contains("unknown issuer"), "{e}");
    let wrong_name =
        url("127.0.0.1", "qlink", "postgres", &format!("sslmode=verify-full&sslrootcert={}", ca.display()));
    let e = format!("{:#}", qlink_server::migrate::run(&wrong_name).await.expect_err("a certificate for another name"));
    assert!(e.contains("NotValidForName") || e.contains("not valid for name"), "{e}");
    // verify-ca checks the chain only: the same address is taken.
    let chain_only = url("127.0.0.1", "qlink", "postgres", &format!("sslmode=verify-ca&sslrootcert={}", ca.display()));
    qlink_server::migrate::run(&chain_only).await.expect("verify-ca ignores the name");
    // With no sslmode (libpq's `prefer`), TLS is used when offered: this cluster is reached.
    qlink_server::migrate::run(&url("localhost", "qlink", "postgres", "application_name=prefer"))
        .await
        .expect("prefer");

    drop(app);
    drop(cluster);
    let _ = std::fs::remove_dir_all(&base);
}
