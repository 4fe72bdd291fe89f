//! Nicknames from tokens are reserved across every server sharing Redis: with two real
//! servers (one the real binary, so it can crash) on a real redis-server, a token's name
//! held on one is refused 409 on the other, a client of an open server cannot choose it,
//! simultaneous handshakes for one name across servers let exactly one in, a closed
//! connection frees its name at once, a held name outlives its TTL (refreshed), and a
//! crashed server's names are free again after the TTL.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::binary::ServerProcess;
use common::chat::{ChatClient, Ws};
use common::redis::RedisServer;
use ferrosocket_wire::chat::{ErrorCode, ServerEnvelope, SUBPROTOCOL};
use futures_util::StreamExt;
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::json;
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

const SECRET: &str = "the reserved-names tests' secret, 32 bytes or more";
/// The server's `NAME_TTL`, and how long a name may take to be freed after it.
const NAME_TTL: Duration = Duration::from_secs(10);
const SLACK: Duration = Duration::from_secs(5);

fn token(name: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    encode(
        &Header::default(),
        &json!({"sub": name, "exp": now + 600}),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

/// Opens `/chat` (chat.v1) with a token for `name`: the socket once welcomed with that
/// name, or the HTTP status of the refusal.
async fn try_connect(addr: SocketAddr, name: &str) -> Result<Ws, u16> {
    let mut request = format!("ws://{addr}/chat?access_token={}", token(name))
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("sec-websocket-protocol", SUBPROTOCOL.parse().unwrap());
    let mut ws = match connect_async(request).await {
        Ok((ws, _)) => ws,
        Err(WsError::Http(response)) => return Err(response.status().as_u16()),
        Err(err) => panic!("connecting as {name}: {err}"),
    };
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a welcome within 10 s")
            .expect("open")
            .expect("no error");
        if let Message::Text(text) = frame {
            match serde_json::from_str(text.as_str()).unwrap() {
                ServerEnvelope::Welcome { nick, .. } => {
                    assert_eq!(nick, name);
                    return Ok(ws);
                }
                other => panic!("expected welcome, got {other:?}"),
            }
        }
    }
}

/// Retries `name` on `addr` until it is let in, within `deadline`; panics otherwise.
async fn connect_within(addr: SocketAddr, name: &str, deadline: Duration) -> (Ws, Duration) {
    let start = Instant::now();
    loop {
        match try_connect(addr, name).await {
            Ok(ws) => return (ws, start.elapsed()),
            Err(409) if start.elapsed() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(status) => panic!(
                "{name} still refused ({status}) after {:?}",
                start.elapsed()
            ),
        }
    }
}

async fn library_server(redis: &RedisServer, with_auth: bool) -> SocketAddr {
    common::start_with(|config| {
        config.redis_url = Some(redis.url());
        if with_auth {
            config.auth_jwt_secret = Some(SECRET.into());
            config.auth_allow_guests = true;
        }
    })
    .await
}

fn binary_server(redis: &RedisServer) -> ServerProcess {
    ServerProcess::start(
        &["--redis-url", &redis.url()],
        &[("FERROSOCKET_AUTH_JWT_SECRET", SECRET)],
    )
}

/// A seeded xorshift generator, so a failing schedule can be replayed.
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_held_on_one_server_is_refused_on_the_other_and_freed_when_its_holder_leaves() {
    let redis = RedisServer::start().await;
    let a = binary_server(&redis);
    let b = library_server(&redis, true).await;
    let open = library_server(&redis, false).await;
    let servers = [a.addr, b];

    // A seeded schedule of connects and closes on either server; the model: a name is let
    // in exactly when nobody holds it. A close frees the name well within the TTL.
    let seed = 0x4e41_4d45_u64;
    let mut rng = Rng(seed);
    let names = ["ada", "bob", "cyd"];
    let mut held: Vec<Option<Ws>> = names.iter().map(|_| None).collect();
    for step in 0..40 {
        let which = rng.below(names.len());
        let server = servers[rng.below(2)];
        let name = names[which];
        match held[which].take() {
            Some(mut ws) if rng.below(2) == 0 => {
                ws.close(None).await.unwrap();
                while ws.next().await.is_some() {}
                // Freed by the close, not by the TTL.
                let (ws, waited) = connect_within(server, name, NAME_TTL / 2).await;
                assert!(waited < NAME_TTL / 2, "step {step} (seed {seed:#x})");
                held[which] = Some(ws);
            }
            Some(ws) => {
                let refused = try_connect(server, name).await.err();
                assert_eq!(
                    refused,
                    Some(409),
                    "step {step}: {name} is held, yet {server} let it in (seed {seed:#x})"
                );
                held[which] = Some(ws);
            }
            None => {
                let ws = try_connect(server, name).await.unwrap_or_else(|status| {
                    panic!("step {step}: {name} is free, {server} said {status} (seed {seed:#x})")
                });
                held[which] = Some(ws);
            }
        }
    }
    assert!(held.iter().all(Option::is_some));

    // A client's plain GET asking why its handshake failed (no upgrade) hears 409 too, and
    // neither counts as a refused handshake nor takes a free name even for a moment.
    let refusals = |metrics: String| {
        metrics
            .lines()
            .find(|line| line.starts_with("ferrosocket_handshakes_rejected_total{reason=\"auth\"}"))
            .map(str::to_owned)
    };
    let before = refusals(String::from_utf8(common::get(b, "/metrics").await.body).unwrap());
    // Every held name, asked of either server: the one holding it and the other.
    for server in servers {
        for name in names {
            let probe = common::get(server, &format!("/chat?access_token={}", token(name))).await;
            assert_eq!(
                probe.status, 409,
                "{name} is held, yet {server}'s probe said otherwise"
            );
        }
    }
    let free = common::get(b, &format!("/chat?access_token={}", token("dee"))).await;
    assert_eq!(
        free.status, 426,
        "a good token's probe is answered 426 (no upgrade)"
    );
    let mut redis_conn = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let exists: bool = redis::cmd("EXISTS")
        .arg("ferrosocket:name:dee")
        .query_async(&mut redis_conn)
        .await
        .unwrap();
    assert!(!exists, "a probe reserved the name");
    let after = refusals(String::from_utf8(common::get(b, "/metrics").await.body).unwrap());
    assert_eq!(before, after, "a probe was counted as a refused handshake");

    // A client of an open server on the same Redis cannot choose a held name...
    let mut guest = ChatClient::connect(open).await;
    guest.send(json!({"type": "nick", "nick": "ada"})).await;
    match guest.recv_skipping_presence().await {
        ServerEnvelope::Error { code, .. } => assert_eq!(code, ErrorCode::NickTaken),
        other => panic!("expected nick_taken, got {other:?}"),
    }
    // ...but any other.
    guest.send(json!({"type": "nick", "nick": "ada2"})).await;
    assert_eq!(
        guest.recv_skipping_presence().await,
        ServerEnvelope::Nick {
            nick: "ada2".into()
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_handshakes_for_one_name_on_two_servers_let_exactly_one_in() {
    let redis = RedisServer::start().await;
    let a = library_server(&redis, true).await;
    let b = library_server(&redis, true).await;
    for round in 0..10 {
        let name = format!("racer{round}");
        let attempts = (0..6).map(|i| {
            let addr = if i % 2 == 0 { a } else { b };
            let name = name.clone();
            tokio::spawn(async move { try_connect(addr, &name).await })
        });
        let results: Vec<Result<Ws, u16>> = futures_util::future::join_all(attempts)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        let admitted = results.iter().filter(|result| result.is_ok()).count();
        assert_eq!(
            admitted, 1,
            "round {round}: {admitted} connections named {name}"
        );
        assert!(results
            .iter()
            .all(|result| matches!(result, Ok(_) | Err(409))));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_name_outlives_its_ttl_and_a_crashed_servers_names_are_free_after_it() {
    let redis = RedisServer::start().await;
    let mut a = binary_server(&redis);
    let b = library_server(&redis, true).await;
    let _ada = try_connect(a.addr, "ada").await.expect("ada on A");
    // Refreshed by its holder: still reserved well past one TTL.
    tokio::time::sleep(NAME_TTL + SLACK).await;
    assert_eq!(try_connect(b, "ada").await.err(), Some(409));
    // A crash releases nothing: the name stays reserved for a while...
    a.kill();
    assert_eq!(try_connect(b, "ada").await.err(), Some(409));
    // ...and is free once the TTL has run out.
    let (_ada, waited) = connect_within(b, "ada", NAME_TTL + SLACK).await;
    assert!(waited <= NAME_TTL + SLACK, "{waited:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_a_token_handshake_is_refused_503_and_no_name_chosen_until_it_is_back() {
    let mut redis = RedisServer::start().await;
    let b = library_server(&redis, true).await;
    let open = library_server(&redis, false).await;
    let mut guest = ChatClient::connect(open).await;
    redis.stop().await;
    let start = Instant::now();
    let status = try_connect(b, "eve").await.err();
    assert_eq!(status, Some(503), "after {:?}", start.elapsed());
    // Nor can a client of an open server choose a name that cannot be checked.
    guest.send(json!({"type": "nick", "nick": "eve"})).await;
    match guest.recv_skipping_presence().await {
        ServerEnvelope::Error { code, .. } => assert_eq!(code, ErrorCode::Unavailable),
        other => panic!("expected unavailable, got {other:?}"),
    }
    redis.restart().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match try_connect(b, "eve").await {
            Ok(_) => break,
            Err(503) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await
            }
            Err(status) => panic!("eve refused {status} after Redis came back"),
        }
    }
}
