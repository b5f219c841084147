//! A real `redis-server` per test, on a free loopback port: started, killed and restarted
//! on demand, stopped when dropped.
//!
//! Why a real server and not a mock: the shared rate budget's correctness is the atomicity
//! and the clock of a Lua script on the server, and its fault handling is what a client
//! sees when a real server goes away. Without `redis-server` on the machine, tests fail
//! with how to install it (never skip).
//!
//! ```no_run
//! let mut redis = sdk_tests::redis::RedisServer::start();
//! assert!(redis.url().starts_with("redis://127.0.0.1:"));
//! redis.kill(); // an outage
//! redis.restart(); // back, empty, on the same port
//! ```

use std::net::{Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How to get `redis-server`, for the failure message.
const INSTALL: &str = "redis-server is not installed: install Debian's package with \
                       `apt-get install -y redis-server` (CI's .ci/run does)";

/// A `redis-server` of this test's own.
pub struct RedisServer {
    port: u16,
    password: Option<String>,
    /// With TLS: the CA certificate that signed the server's (a PEM file in `dir`).
    tls_ca: Option<PathBuf>,
    dir: PathBuf,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a server without a password on a free port. Panics (with how to install it)
    /// when `redis-server` is missing, or when it does not answer within 10 s.
    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// Starts a server that requires `password` (`requirepass`).
    pub fn start_with_password(password: &str) -> Self {
        Self::start_with(Some(password.to_owned()))
    }

    /// Starts a server that speaks only TLS (`rediss://`), with a certificate for
    /// 127.0.0.1 signed by a CA of its own ([`tls_ca`](Self::tls_ca); clients that read
    /// `SSL_CERT_FILE`, such as rustls' native roots, trust it through that variable).
    /// Certificates are made with the `openssl` command.
    pub fn start_tls() -> Self {
        let mut server = Self::prepare(None);
        server.tls_ca = Some(make_certificates(&server.dir));
        server.restart();
        server
    }

    fn start_with(password: Option<String>) -> Self {
        let mut server = Self::prepare(password);
        server.restart();
        server
    }

    fn prepare(password: Option<String>) -> Self {
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("sdk-tests-redis-{}-{port}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        Self {
            port,
            password,
            tls_ca: None,
            dir,
            child: None,
        }
    }

    /// The CA certificate of a TLS server (PEM).
    pub fn tls_ca(&self) -> Option<&std::path::Path> {
        self.tls_ca.as_deref()
    }

    /// `redis://127.0.0.1:<port>/0`, with the password if the server has one.
    pub fn url(&self) -> String {
        let scheme = if self.tls_ca.is_some() {
            "rediss"
        } else {
            "redis"
        };
        match &self.password {
            Some(pw) => format!("{scheme}://:{pw}@127.0.0.1:{}/0", self.port),
            None => format!("{scheme}://127.0.0.1:{}/0", self.port),
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server (SIGKILL) and waits for it: an outage.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // A frozen server dies of SIGKILL too; resume it first anyway (harmless).
            let _ = Command::new("kill")
                .args(["-CONT", &child.id().to_string()])
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server without closing its sockets (SIGSTOP): a Redis that accepts
    /// connections and answers nothing, as a stalled one does. [`thaw`](Self::thaw) resumes
    /// it.
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    /// Resumes a [`freeze`](Self::freeze)d server (SIGCONT).
    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        if let Some(child) = &self.child {
            let ok = Command::new("kill")
                .args([signal, &child.id().to_string()])
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "kill {signal} redis-server failed");
        }
    }

    /// Starts the server (again) on the same port, empty, and waits until it answers.
    pub fn restart(&mut self) {
        self.kill();
        let mut cmd = Command::new("redis-server");
        let port = self.port.to_string();
        if let Some(ca) = &self.tls_ca {
            cmd.args([
                "--port",
                "0",
                "--tls-port",
                &port,
                "--tls-auth-clients",
                "no",
            ])
            .arg("--tls-cert-file")
            .arg(self.dir.join("server.pem"))
            .arg("--tls-key-file")
            .arg(self.dir.join("server.key"))
            .arg("--tls-ca-cert-file")
            .arg(ca);
        } else {
            cmd.args(["--port", &port]);
        }
        cmd.args([
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
        ])
        .arg(&self.dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        if let Some(pw) = &self.password {
            cmd.args(["--requirepass", pw]);
        }
        let child = match cmd.spawn() {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!("{INSTALL}"),
            Err(e) => panic!("cannot start redis-server: {e}"),
        };
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if self.command(&["PING"]).is_ok_and(|r| r.contains("PONG")) {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "redis-server on port {} did not answer PING within 10 s",
                    self.port
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs one command through `redis-cli` (installed with `redis-server`) and returns
    /// its raw output (`--raw`: one line per element).
    pub fn command(&self, args: &[&str]) -> std::io::Result<String> {
        let mut cmd = Command::new("redis-cli");
        cmd.args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "--raw"]);
        if let Some(ca) = &self.tls_ca {
            cmd.arg("--tls").arg("--cacert").arg(ca);
        }
        if let Some(pw) = &self.password {
            // Through the environment: not in this process's argv.
            cmd.env("REDISCLI_AUTH", pw);
        }
        let out = cmd.args(args).stdin(Stdio::null()).output()?;
        if !out.status.success() {
            return Err(std::io::Error::other(
                String::from_utf8_lossy(&out.stderr).into_owned(),
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The keys matching `pattern` (`KEYS`), sorted.
    pub fn keys(&self, pattern: &str) -> Vec<String> {
        let reply = self.command(&["KEYS", pattern]).unwrap_or_default();
        let mut keys: Vec<String> = reply
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        keys.sort();
        keys
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A CA and a certificate for 127.0.0.1 signed by it, in `dir` (`ca.pem`, `server.pem`,
/// `server.key`), made with the `openssl` command; returns the CA's path.
fn make_certificates(dir: &std::path::Path) -> PathBuf {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run openssl ({e}): `apt-get install -y openssl` (CI's .ci/run does)")
            });
        assert!(
            out.status.success(),
            "openssl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let rsa = ["-newkey", "rsa:2048", "-nodes"];
    run(&[
        &["req", "-x509"][..],
        &rsa,
        &[
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=sdk-tests CA",
        ],
    ]
    .concat());
    run(&[
        &["req"][..],
        &rsa,
        &[
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    ]
    .concat());
    let _ = std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    );
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    dir.join("ca.pem")
}

/// A loopback port nothing listens on now.
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free loopback port: {e}"))
}
