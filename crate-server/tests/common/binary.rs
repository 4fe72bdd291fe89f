//! The real `ferrosocket-server` binary as a child process: for what only a process can
//! show (its logs on stdout and stderr, a crash by SIGKILL that runs no cleanup).

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A running server process; killed when dropped.
pub struct ServerProcess {
    pub addr: SocketAddr,
    child: Option<Child>,
    output: Arc<Mutex<String>>,
}

/// Copies everything `from` writes into `into`.
fn collect(mut from: impl Read + Send + 'static, into: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            into.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
}

impl ServerProcess {
    /// Starts the binary on `127.0.0.1:0` with `args` and `envs` (the environment is
    /// otherwise inherited, minus `FERROSOCKET_*` and `RUST_LOG`); waits for its
    /// "listening on" line.
    pub fn start(args: &[&str], envs: &[(&str, &str)]) -> ServerProcess {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ferrosocket-server"));
        for (name, _) in std::env::vars() {
            if name.starts_with("FERROSOCKET_") || name == "RUST_LOG" {
                command.env_remove(name);
            }
        }
        let mut child = command
            .args(["--addr", "127.0.0.1:0", "--www"])
            .arg(std::env::temp_dir())
            .args(args)
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the server binary starts");
        let output = Arc::new(Mutex::new(String::new()));
        collect(child.stderr.take().unwrap(), Arc::clone(&output));
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        let addr = loop {
            line.clear();
            let read = stdout
                .read_line(&mut line)
                .expect("reading the server's stdout");
            assert!(
                read > 0,
                "the server exited before listening: {}",
                output.lock().unwrap()
            );
            output.lock().unwrap().push_str(&line);
            if let Some(url) = line.trim().strip_prefix("listening on ") {
                let host = url
                    .trim_start_matches("http://")
                    .trim_start_matches("https://")
                    .trim_end_matches('/');
                break host.parse().expect("a socket address");
            }
        };
        collect(stdout, Arc::clone(&output));
        ServerProcess {
            addr,
            child: Some(child),
            output,
        }
    }

    /// Everything the process wrote so far, stdout and stderr.
    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// Kills it with SIGKILL: no shutdown, no cleanup, as in a crash.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops it with SIGTERM and waits, so its logs are complete.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
            // The output threads finish reading once the pipes close.
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
