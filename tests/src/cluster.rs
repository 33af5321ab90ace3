//! Throwaway PostgreSQL clusters for tests that need a server of their own: a hot standby
//! to replicate to, or an installation whose extension files the test changes (the upgrade
//! test installs an earlier release and then this build, as an operator's machine would,
//! without touching the system PostgreSQL every other test uses).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The system's PostgreSQL 15 binaries.
pub const SYSTEM_BIN: &str = "/usr/lib/postgresql/15/bin";

/// Runs a command as the `postgres` OS user (initdb and the server refuse root) and
/// panics with its output when it fails.
pub fn as_postgres(args: &[&str]) -> std::process::Output {
    let out = Command::new("runuser").arg("-u").arg("postgres").arg("--").args(args).output().expect("runuser");
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A new directory under the temp dir that the `postgres` user may write to.
pub fn workdir(prefix: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    Command::new("chown").args(["postgres", dir.to_str().unwrap()]).status().unwrap();
    dir
}

/// A copy of the system's PostgreSQL 15 (binaries, libraries, share files) in a directory
/// of its own. PostgreSQL finds its share and library directories relative to its
/// binaries, so what is installed into the copy is seen only by the clusters it runs.
pub struct Installation {
    pub root: PathBuf,
}

impl Installation {
    /// Copies the system installation, without any qlink files: a machine that has never
    /// had QLink installed.
    pub fn private(root: &Path) -> Installation {
        for (from, to) in
            [("/usr/lib/postgresql/15", "lib/postgresql"), ("/usr/share/postgresql/15", "share/postgresql")]
        {
            let dest = root.join(to);
            std::fs::create_dir_all(&dest).unwrap();
            let ok = Command::new("cp").args(["-a", from]).arg(&dest).status().unwrap().success();
            assert!(ok, "copy {from}");
        }
        let installation = Installation { root: root.to_path_buf() };
        for dir in [installation.libdir(), installation.extension_dir()] {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.file_name().unwrap().to_string_lossy().starts_with("qlink") {
                    std::fs::remove_file(path).unwrap();
                }
            }
        }
        installation
    }

    pub fn bin(&self) -> PathBuf {
        self.root.join("lib/postgresql/15/bin")
    }

    pub fn libdir(&self) -> PathBuf {
        self.root.join("lib/postgresql/15/lib")
    }

    pub fn extension_dir(&self) -> PathBuf {
        self.root.join("share/postgresql/15/extension")
    }

    /// Installs a packaged qlink build with the project's own installer, as setup.sh does.
    pub fn install(&self, package: &Path) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/install-extension.sh");
        let out = Command::new("bash")
            .arg(script)
            .arg(package)
            .arg(self.bin().join("pg_config"))
            .output()
            .expect("run install-extension.sh");
        assert!(
            out.status.success(),
            "install {}: {}{}",
            package.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A running cluster owned by the `postgres` OS user; stopped and removed on drop.
pub struct Cluster {
    pub dir: PathBuf,
    pub port: u16,
    bin: PathBuf,
}

impl Cluster {
    /// initdb (trust authentication, UTF8) with extra `postgresql.conf` and `pg_hba.conf`
    /// lines, then start.
    pub fn init(dir: &Path, bin: &Path, conf: &str, hba: &str) -> Cluster {
        as_postgres(&[
            bin.join("initdb").to_str().unwrap(),
            "-D",
            dir.to_str().unwrap(),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
        ]);
        append(&dir.join("postgresql.conf"), conf);
        append(&dir.join("pg_hba.conf"), hba);
        let cluster = Cluster::at(dir, bin);
        cluster.start();
        cluster
    }

    /// A cluster whose data directory already exists (a base backup), not started yet.
    pub fn at(dir: &Path, bin: &Path) -> Cluster {
        Cluster { dir: dir.to_path_buf(), port: free_port(), bin: bin.to_path_buf() }
    }

    pub fn start(&self) {
        let log = self.dir.with_extension("log");
        as_postgres(&[
            self.bin.join("pg_ctl").to_str().unwrap(),
            "-D",
            self.dir.to_str().unwrap(),
            "-l",
            log.to_str().unwrap(),
            "-w",
            "-o",
            &format!("-p {} -c listen_addresses=127.0.0.1 -k /tmp", self.port),
            "start",
        ]);
    }

    /// Stops the server the way a crash does (`-m immediate`: no checkpoint, every
    /// connection cut).
    pub fn crash(&self) {
        as_postgres(&[
            self.bin.join("pg_ctl").to_str().unwrap(),
            "-D",
            self.dir.to_str().unwrap(),
            "-m",
            "immediate",
            "stop",
        ]);
    }

    /// Promotes a standby to primary and waits until it takes writes.
    pub fn promote(&self) {
        as_postgres(&[self.bin.join("pg_ctl").to_str().unwrap(), "-D", self.dir.to_str().unwrap(), "-w", "promote"]);
    }

    /// A base backup of this cluster into `dir` (`pg_basebackup -X stream`); `-R` too, for a
    /// standby (it writes the primary_conninfo). The cluster needs `wal_level = replica`,
    /// WAL senders, and a `replication` line in pg_hba.conf.
    pub fn base_backup(&self, dir: &Path, for_standby: bool) {
        let port = self.port.to_string();
        let mut args = vec![
            self.bin.join("pg_basebackup").to_str().unwrap().to_string(),
            "-h".into(),
            "127.0.0.1".into(),
            "-p".into(),
            port,
            "-U".into(),
            "postgres".into(),
            "-D".into(),
            dir.to_str().unwrap().to_string(),
            "-X".into(),
            "stream".into(),
            "--checkpoint=fast".into(),
        ];
        if for_standby {
            args.push("-R".into());
        }
        as_postgres(&args.iter().map(String::as_str).collect::<Vec<_>>());
    }

    /// A standby of this cluster, from a base backup over streaming replication, started.
    pub fn standby(&self, dir: &Path) -> Cluster {
        self.base_backup(dir, true);
        let cluster = Cluster::at(dir, &self.bin);
        cluster.start();
        cluster
    }

    pub fn url(&self, db: &str, user: &str) -> String {
        format!("postgres://{user}@127.0.0.1:{}/{db}", self.port)
    }
}

fn append(file: &Path, lines: &str) {
    if lines.is_empty() {
        return;
    }
    let mut text = std::fs::read_to_string(file).unwrap();
    text.push('\n');
    text.push_str(lines);
    text.push('\n');
    std::fs::write(file, text).unwrap();
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .args(["-D", self.dir.to_str().unwrap(), "-m", "immediate", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_file(self.dir.with_extension("log"));
    }
}
