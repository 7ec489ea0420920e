//! A real `redis-server` for the fleet's tests: started on 127.0.0.1 on a free port in a
//! temporary folder, killed when dropped.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts one with its data appended to disk on every write (so a killed server restarts
    /// with everything it acknowledged); `None` when redis-server is missing outside CI.
    pub fn start() -> Option<Self> {
        if Command::new("redis-server")
            .arg("--version")
            .output()
            .is_err()
        {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true");
            assert!(
                !ci,
                "redis-server is not installed (Debian package redis-server): .ci/run installs it, so under CI=true this is a failure"
            );
            eprintln!("redis-server is not installed; skipping (CI installs it)");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut server = Self {
            child: None,
            port,
            dir: tempfile::tempdir().unwrap(),
        };
        server.restart();
        Some(server)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Starts the server (again), from its folder's data, and waits until it answers.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        for _ in 0..200 {
            if self.try_command(&["PING"]).is_some_and(|r| r == "+PONG") {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("redis-server did not answer on port {}", self.port);
    }

    /// Kills the server at once (SIGKILL).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// One command; its reply's first line (`:3`, `+OK`, `$5` …).
    pub fn command(&self, args: &[&str]) -> String {
        self.try_command(args)
            .unwrap_or_else(|| panic!("redis did not answer {args:?}"))
    }

    /// An integer reply.
    pub fn integer(&self, args: &[&str]) -> i64 {
        let reply = self.command(args);
        reply
            .strip_prefix(':')
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{args:?} answered {reply:?}"))
    }

    /// The lesson stream's last id (`0-0` when it is empty).
    pub fn last_id(&self, stream: &str) -> String {
        let lines = self
            .try_lines(&["XREVRANGE", stream, "+", "-", "COUNT", "1"], 4)
            .unwrap_or_else(|| panic!("redis did not answer XREVRANGE"));
        match lines.first().map(String::as_str) {
            Some("*0") => "0-0".to_owned(),
            _ => lines[3].clone(),
        }
    }

    fn try_command(&self, args: &[&str]) -> Option<String> {
        self.try_lines(args, 1)?.into_iter().next()
    }

    /// The first `n` lines of the reply (fewer when it is shorter).
    fn try_lines(&self, args: &[&str], n: usize) -> Option<Vec<String>> {
        let stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        let mut w = stream.try_clone().ok()?;
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        w.write_all(req.as_bytes()).ok()?;
        let mut reader = BufReader::new(stream);
        let mut lines = Vec::new();
        while lines.len() < n {
            let mut line = String::new();
            reader.read_line(&mut line).ok()?;
            if line.is_empty() {
                break;
            }
            let done = line.starts_with("*0");
            lines.push(line.trim_end().to_owned());
            if done {
                break;
            }
        }
        (!lines.is_empty()).then_some(lines)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
