//! A real OCI registry for the tests: Debian's `docker-registry` (the CNCF
//! distribution registry, `tests/registry/install.sh`), anonymous, plain
//! HTTP on a loopback port of its own choosing, storage in a temporary
//! directory; stopped when dropped.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

pub struct Registry {
    child: Child,
    /// `127.0.0.1:PORT`, the registry part of a reference.
    pub host: String,
    _dir: tempfile::TempDir,
}

impl Registry {
    /// An anonymous registry.
    pub fn start() -> Registry {
        Registry::start_with_users(&[])
    }

    /// A registry that asks for Basic credentials (its htpasswd backend,
    /// bcrypt hashes made with Python's `bcrypt`, tests/requirements.txt)
    /// when `users` is not empty.
    pub fn start_with_users(users: &[(&str, &str)]) -> Registry {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("config.yml");
        let mut auth = String::new();
        if !users.is_empty() {
            let mut lines = String::new();
            for (user, password) in users {
                let out = Command::new("python3")
                    .args([
                        "-c",
                        "import bcrypt,sys; print(bcrypt.hashpw(sys.argv[1].encode(), bcrypt.gensalt()).decode())",
                    ])
                    .arg(password)
                    .output()
                    .expect("python3 with bcrypt (pip install -r tests/requirements.txt)");
                assert!(out.status.success(), "bcrypt: {}", String::from_utf8_lossy(&out.stderr));
                lines.push_str(&format!("{user}:{}", String::from_utf8_lossy(&out.stdout)));
            }
            let htpasswd = dir.path().join("htpasswd");
            std::fs::write(&htpasswd, lines).expect("htpasswd");
            auth = format!(
                "auth:\n  htpasswd:\n    realm: gatehouse-test\n    path: {}\n",
                htpasswd.display()
            );
        }
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n{auth}http:\n  addr: 127.0.0.1:0\n",
                dir.path().join("storage").display()
            ),
        )
        .expect("registry config");
        let mut child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("docker-registry is needed (bash tests/registry/install.sh): {e}"));
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let host = loop {
            let line = lines
                .next()
                .expect("docker-registry stopped before listening")
                .expect("read the registry's log");
            if let Some(rest) = line.split("listening on ").nth(1) {
                break rest.split(['"', ' ']).next().unwrap_or_default().to_string();
            }
        };
        // Keep draining its log so it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Registry { child, host, _dir: dir }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
