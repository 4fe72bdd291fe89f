//! `--metrics-token`: `/metrics` and the test endpoints answer 401 without the operations
//! bearer token — on the public listener and on `--admin-addr` — while `/healthz`, pages
//! and chat stay open; near-miss tokens (one character off, a prefix, another scheme) are
//! refused like absent ones.

mod common;

use std::net::SocketAddr;

use common::{bind_with, raw_request, RawResponse};
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const TOKEN: &str = "ops-token-Zq81xW0pLm";

async fn get_with(addr: SocketAddr, path: &str, authorization: Option<&str>) -> RawResponse {
    let header = authorization.map_or(String::new(), |value| format!("Authorization: {value}\r\n"));
    raw_request(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{header}Connection: close\r\n\r\n"),
    )
    .await
}

/// A seeded xorshift generator, so a failing case can be replayed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// `Authorization` values that are not the token but come close to it.
fn near_misses(rng: &mut Rng) -> Vec<String> {
    let mut misses = vec![
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
        format!("Bearer {}", &TOKEN[..TOKEN.len() - 1]),
        format!("Bearer {TOKEN}x"),
        format!("Basic {TOKEN}"),
        format!("bearer{TOKEN}"),
        TOKEN.to_owned(),
        format!("Bearer {}", TOKEN.to_uppercase()),
    ];
    for _ in 0..12 {
        let mut bytes = TOKEN.as_bytes().to_vec();
        let at = rng.below(bytes.len());
        let alphabet = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";
        let replacement = alphabet[rng.below(alphabet.len())];
        if bytes[at] == replacement {
            continue;
        }
        bytes[at] = replacement;
        misses.push(format!("Bearer {}", String::from_utf8(bytes).unwrap()));
    }
    misses
}

/// Every operations path on `ops` requires the token; `/healthz` on `ops` and everything
/// on `open` does not.
async fn check(ops: SocketAddr, seed: u64) {
    let mut rng = Rng(seed);
    for path in ["/metrics", "/test/unavailable?ms=1", "/test/nothing-here"] {
        let refused = get_with(ops, path, None).await;
        assert_eq!(refused.status, 401, "{path} without a token (seed {seed})");
        assert_eq!(
            refused.header("www-authenticate"),
            Some("Bearer realm=\"ferrosocket-admin\""),
            "{path}"
        );
        let body = String::from_utf8_lossy(&refused.body).into_owned();
        assert!(!body.contains(TOKEN), "the refusal shows the token: {body}");
        for miss in near_misses(&mut rng) {
            let answer = get_with(ops, path, Some(&miss)).await;
            assert_eq!(answer.status, 401, "{path} with {miss:?} (seed {seed})");
        }
    }
    let metrics = get_with(ops, "/metrics", Some(&format!("Bearer {TOKEN}"))).await;
    assert_eq!(metrics.status, 200);
    assert!(String::from_utf8_lossy(&metrics.body).contains("ferrosocket_connections"));
    let switch = get_with(
        ops,
        "/test/unavailable?ms=1",
        Some(&format!("Bearer {TOKEN}")),
    )
    .await;
    assert_eq!(
        switch.status,
        200,
        "{:?}",
        String::from_utf8_lossy(&switch.body)
    );
    assert_eq!(get_with(ops, "/healthz", None).await.status, 200);
    // The firehose is a WebSocket: it is refused before the upgrade without the token...
    let err = connect_async(format!("ws://{ops}/test/firehose?count=1&size=1"))
        .await
        .expect_err("a firehose without the token");
    assert!(err.to_string().contains("401"), "{err}");
    // ...and opens with it.
    let mut request = format!("ws://{ops}/test/firehose?count=1&size=1")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    connect_async(request)
        .await
        .expect("a firehose with the token");
}

#[tokio::test]
async fn on_the_public_port_metrics_and_test_endpoints_require_the_token_and_chat_does_not() {
    let server = bind_with(|config| {
        config.metrics_token = Some(TOKEN.into());
        config.test_endpoints = true;
    })
    .await;
    let addr = server.local_addr();
    tokio::spawn(server.run_until(std::future::pending()));
    check(addr, 0x5eed_0001).await;
    // What users reach stays open.
    connect_async(format!("ws://{addr}/chat"))
        .await
        .expect("chat needs no operations token");
    connect_async(format!("ws://{addr}/echo"))
        .await
        .expect("echo needs no operations token");
}

#[tokio::test]
async fn on_the_admin_port_they_require_it_too() {
    let server = bind_with(|config| {
        config.metrics_token = Some(TOKEN.into());
        config.test_endpoints = true;
        config.admin_addr = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let (public, admin) = (server.local_addr(), server.admin_addr().unwrap());
    tokio::spawn(server.run_until(std::future::pending()));
    check(admin, 0x5eed_0002).await;
    // The public port still does not serve them, token or not.
    let answer = get_with(public, "/metrics", Some(&format!("Bearer {TOKEN}"))).await;
    assert_eq!(answer.status, 404);
    assert_eq!(get_with(public, "/healthz", None).await.status, 200);
}

#[tokio::test]
async fn without_the_flag_metrics_stay_open_and_an_empty_token_is_refused_at_start() {
    let server = bind_with(|_| {}).await;
    let addr = server.local_addr();
    tokio::spawn(server.run_until(std::future::pending()));
    assert_eq!(get_with(addr, "/metrics", None).await.status, 200);
    let mut config = ferrosocket_server::Config {
        addr: "127.0.0.1:0".parse().unwrap(),
        ..Default::default()
    };
    config.metrics_token = Some(String::new());
    let err = ferrosocket_server::Server::bind(config)
        .await
        .expect_err("an empty token");
    assert!(err.to_string().contains("--metrics-token"), "{err}");
}
