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
    pub fn start() -> Registry {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:0\n",
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
