//! A real PostgreSQL server for tests: a throwaway cluster made with
//! `initdb` in a temporary directory and started with `pg_ctl` on a free
//! loopback port, stopped and removed when the [`Cluster`] is dropped. The
//! server binaries come from Debian's `postgresql` package (`.ci/run` and
//! `tests/postgres/install.sh` install it); a missing server is a test
//! failure that says how to install it, never a skip.
//!
//! PostgreSQL refuses to run as root, so when the tests run as root the
//! cluster belongs to the package's `postgres` user (or `nobody`) and its
//! commands run through `runuser`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A running throwaway cluster; dropping it stops the server and removes its files.
pub struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    user: Option<String>,
    port: u16,
}

/// Why a cluster could not be made.
#[derive(Debug)]
pub struct Unavailable(pub String);

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (the PostgreSQL tests need Debian's postgresql package: bash tests/postgres/install.sh)",
            self.0
        )
    }
}

/// The role the tests connect as (a superuser of the throwaway cluster).
pub const ROLE: &str = "gatehouse";

impl Cluster {
    /// Make and start a cluster.
    pub fn start() -> Result<Cluster, Unavailable> {
        Cluster::start_on(free_port()?)
    }

    /// [`Cluster::start`] trying `port` first.
    fn start_on(port: u16) -> Result<Cluster, Unavailable> {
        let bin = server_bin()?;
        let user = unprivileged_user()?;
        let dir = tempfile::Builder::new()
            .prefix("gatehouse-pg-")
            .tempdir()
            .map_err(|e| Unavailable(format!("cannot make a temporary directory: {e}")))?;
        if let Some(u) = &user {
            let out = Command::new("chown")
                .args(["-R", u, &dir.path().display().to_string()])
                .output()
                .map_err(|e| Unavailable(format!("chown: {e}")))?;
            check("chown", &out)?;
        }
        let mut cluster = Cluster { dir, bin, user, port };
        let data = cluster.data_dir();
        let out = cluster.run(
            "initdb",
            &[
                "-D",
                &data.display().to_string(),
                "-U",
                ROLE,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-instructions",
            ],
        )?;
        check("initdb", &out)?;
        // The port was free when chosen, but initdb takes seconds and tests
        // run in parallel: another server or client may have taken it since
        // (seen in CI: "could not bind … Address already in use"). Take
        // another port then.
        let mut attempts = 0;
        loop {
            match cluster.server_start() {
                Ok(()) => return Ok(cluster),
                Err(e) if e.0.contains("Address already in use") && attempts < 5 => {
                    attempts += 1;
                    cluster.port = free_port()?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// One cluster for the whole test process, started on first use. It
    /// outlives the statics that hold it: a watcher stops it and removes its
    /// files once this process has exited.
    pub fn shared() -> &'static Cluster {
        static SHARED: std::sync::OnceLock<Cluster> = std::sync::OnceLock::new();
        SHARED.get_or_init(|| {
            let cluster = Cluster::start().unwrap_or_else(|e| panic!("{e}"));
            cluster.stop_when_process_exits();
            cluster
        })
    }

    /// Start a detached watcher that stops the server and removes the
    /// cluster's directory after this process exits.
    fn stop_when_process_exits(&self) {
        let script = format!(
            "while [ -d /proc/{pid} ]; do sleep 1; done; '{pg_ctl}' -D '{data}' -m immediate -w stop; rm -rf '{dir}'",
            pid = std::process::id(),
            pg_ctl = self.bin.join("pg_ctl").display(),
            data = self.data_dir().display(),
            dir = self.dir.path().display(),
        );
        let mut cmd = match &self.user {
            Some(u) => {
                let mut c = Command::new("runuser");
                c.args(["-u", u, "--", "sh", "-c", &script]);
                c
            }
            None => {
                let mut c = Command::new("sh");
                c.args(["-c", &script]);
                c
            }
        };
        // Not inheriting the test's output: whoever reads it must not wait for the watcher.
        let _ = cmd
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
    }

    /// The loopback port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A URL for `database` (which [`Cluster::create_database`] made).
    pub fn url(&self, database: &str) -> String {
        format!("postgres://{ROLE}@127.0.0.1:{}/{database}", self.port)
    }

    /// Create an empty database with a fresh name; its URL.
    pub fn create_database(&self) -> Result<String, Unavailable> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!("t{}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        self.psql("postgres", &format!("CREATE DATABASE {name}"))?;
        Ok(self.url(&name))
    }

    /// Run one SQL command with `psql` (as the cluster's superuser).
    pub fn psql(&self, database: &str, sql: &str) -> Result<String, Unavailable> {
        let out = Command::new("psql")
            .args([
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                ROLE,
                "-d",
                database,
                "-c",
                sql,
            ])
            .output()
            .map_err(|e| Unavailable(format!("psql: {e}")))?;
        check("psql", &out)?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// Serve TLS from now on with this certificate chain and key (PEM), as
    /// well as plain connections (the clients choose).
    pub fn enable_tls(&self, cert_pem: &str, key_pem: &str) -> Result<(), Unavailable> {
        let cert = self.dir.path().join("server.crt");
        let key = self.dir.path().join("server.key");
        let write = |path: &Path, text: &str, mode: u32| -> Result<(), Unavailable> {
            use std::os::unix::fs::PermissionsExt;
            std::fs::write(path, text).map_err(|e| Unavailable(format!("{}: {e}", path.display())))?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
                .map_err(|e| Unavailable(format!("{}: {e}", path.display())))?;
            if let Some(u) = &self.user {
                let out = Command::new("chown")
                    .args([u.as_str(), &path.display().to_string()])
                    .output()
                    .map_err(|e| Unavailable(format!("chown: {e}")))?;
                check("chown", &out)?;
            }
            Ok(())
        };
        write(&cert, cert_pem, 0o644)?;
        // The server refuses a key others may read.
        write(&key, key_pem, 0o600)?;
        for setting in [
            format!("ALTER SYSTEM SET ssl_cert_file = '{}'", cert.display()),
            format!("ALTER SYSTEM SET ssl_key_file = '{}'", key.display()),
            "ALTER SYSTEM SET ssl = on".to_string(),
        ] {
            self.psql("postgres", &setting)?;
        }
        self.psql("postgres", "SELECT pg_reload_conf()")?;
        // The postmaster rereads its files when signalled: wait until new sessions see it.
        for _ in 0..100 {
            if self.psql("postgres", "SHOW ssl")? == "on" {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Err(Unavailable(format!(
            "the server did not turn TLS on (its log: {})",
            self.dir.path().join("server.log").display()
        )))
    }

    /// Stop the server now (`-m immediate`: as a crash would); [`Cluster::restart`] brings it back.
    pub fn stop(&self) -> Result<(), Unavailable> {
        let out = self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data_dir().display().to_string(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        )?;
        check("pg_ctl stop", &out)
    }

    /// Start a stopped server again, on the same port.
    pub fn restart(&self) -> Result<(), Unavailable> {
        self.server_start()
    }

    /// `pg_ctl start`, waiting until the server accepts connections; its log on failure.
    fn server_start(&self) -> Result<(), Unavailable> {
        let options = format!(
            "-c port={} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c max_connections=200",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log");
        let out = self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data_dir().display().to_string(),
                "-o",
                &options,
                "-l",
                &log.display().to_string(),
                "-w",
                "-t",
                "60",
                "start",
            ],
        )?;
        if out.status.success() {
            return Ok(());
        }
        let log = std::fs::read_to_string(&log).unwrap_or_default();
        Err(Unavailable(format!(
            "pg_ctl start failed: {}{}\n{log}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )))
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Run a server binary, as the unprivileged user when there is one.
    fn run(&self, program: &str, args: &[&str]) -> Result<Output, Unavailable> {
        let path = self.bin.join(program);
        let mut cmd = match &self.user {
            Some(u) => {
                let mut c = Command::new("runuser");
                c.args(["-u", u, "--"]).arg(&path);
                c
            }
            None => Command::new(&path),
        };
        cmd.args(args)
            .current_dir(self.dir.path())
            .output()
            .map_err(|e| Unavailable(format!("{}: {e}", path.display())))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

fn check(what: &str, out: &Output) -> Result<(), Unavailable> {
    if out.status.success() {
        Ok(())
    } else {
        Err(Unavailable(format!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )))
    }
}

/// The directory of `initdb` and `pg_ctl`: `pg_config --bindir`, else the
/// newest of Debian's `/usr/lib/postgresql/N/bin`.
fn server_bin() -> Result<PathBuf, Unavailable> {
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if dir.join("initdb").exists() {
            return Ok(dir);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|_| Unavailable("no PostgreSQL server: /usr/lib/postgresql does not exist".into()))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let n = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((n, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .ok_or_else(|| Unavailable("no PostgreSQL server: no /usr/lib/postgresql/N/bin/initdb".into()))
}

/// `None` when not root; else a user the server may run as.
fn unprivileged_user() -> Result<Option<String>, Unavailable> {
    let out = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| Unavailable(format!("id: {e}")))?;
    if String::from_utf8_lossy(&out.stdout).trim() != "0" {
        return Ok(None);
    }
    for user in ["postgres", "nobody"] {
        if Command::new("id").arg(user).output().is_ok_and(|o| o.status.success()) {
            return Ok(Some(user.to_string()));
        }
    }
    Err(Unavailable(
        "running as root and no unprivileged user (postgres, nobody) to run the server as".into(),
    ))
}

fn free_port() -> Result<u16, Unavailable> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| Unavailable(format!("no free port: {e}")))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| Unavailable(format!("no free port: {e}")))
}

/// Whether `path` is inside a cluster directory (for tests that inspect files).
pub fn is_cluster_dir(path: &Path) -> bool {
    path.join("data").join("PG_VERSION").exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_taken_between_choosing_and_starting_is_given_up_for_another() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let pg = Cluster::start_on(port).unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(pg.port(), port);
        assert_eq!(pg.psql("postgres", "SELECT 1").unwrap().trim(), "1");
    }

    #[test]
    fn a_throwaway_cluster_answers_and_survives_a_crash() {
        let cluster = Cluster::start().unwrap_or_else(|e| panic!("{e}"));
        let url = cluster.create_database().unwrap();
        let db = url.rsplit('/').next().unwrap();
        cluster
            .psql(db, "CREATE TABLE t (n int); INSERT INTO t VALUES (7)")
            .unwrap();
        cluster.stop().unwrap();
        assert!(cluster.psql(db, "SELECT 1").is_err(), "a stopped server answered");
        cluster.restart().unwrap();
        assert_eq!(cluster.psql(db, "SELECT n FROM t").unwrap(), "7");
        assert!(is_cluster_dir(cluster.dir.path()));
    }
}
