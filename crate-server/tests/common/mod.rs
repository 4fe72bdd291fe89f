//! Starting the real server library on a free loopback port, and talking raw HTTP to it.

#![allow(dead_code)] // each test binary uses a different subset

pub mod binary;
pub mod chat;
pub mod noisy;
pub mod raw;
pub mod redis;
pub mod tokens;

use std::net::SocketAddr;
use std::path::PathBuf;

use ferrosocket_server::{Config, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Starts a server on `127.0.0.1:0` serving `www`; it runs until the test's runtime ends.
pub async fn start(www: PathBuf) -> SocketAddr {
    start_with(|config| config.www = www).await
}

/// Starts a server on `127.0.0.1:0` with the defaults changed by `configure`.
pub async fn start_with(configure: impl FnOnce(&mut Config)) -> SocketAddr {
    let server = bind_with(configure).await;
    let addr = server.local_addr();
    tokio::spawn(server.run_until(std::future::pending()));
    addr
}

/// Binds a server on `127.0.0.1:0` with the defaults changed by `configure`, not yet running.
pub async fn bind_with(configure: impl FnOnce(&mut Config)) -> Server {
    let mut config = Config {
        addr: "127.0.0.1:0".parse().unwrap(),
        www: std::env::temp_dir(),
        ..Config::default()
    };
    configure(&mut config);
    Server::bind(config).await.expect("binding a free port")
}

/// Limits messages to `max_message_bytes` and shrinks the chat's line and event limits to
/// fit them (the server refuses budgets that contradict each other).
pub fn small_messages(config: &mut Config, max_message_bytes: usize) {
    config.max_message_bytes = max_message_bytes;
    config.max_text_bytes = 32;
    config.max_event_bytes = 256;
}

/// A raw HTTP/1.1 response: status code, lower-cased headers, body.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `request` as-is and reads the whole response (the request must ask
/// `Connection: close`).
pub async fn raw_request(addr: SocketAddr, request: &str) -> RawResponse {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).await.unwrap();
    let split = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete response head");
    let head = String::from_utf8(bytes[..split].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap();
            (name.to_ascii_lowercase(), value.trim().to_owned())
        })
        .collect();
    RawResponse {
        status,
        headers,
        body: bytes[split + 4..].to_vec(),
    }
}

/// `GET path` with `Connection: close`.
pub async fn get(addr: SocketAddr, path: &str) -> RawResponse {
    raw_request(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
    )
    .await
}
