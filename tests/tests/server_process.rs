//! The server binary as an operator runs it: `--help`, bad flags, SIGTERM and SIGINT, and
//! what it logs.

use std::process::Command;
use std::time::Duration;

use ferrosocket_e2e::{server_binary, start_server};
use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;

#[test]
fn help_explains_every_flag_and_its_environment_variable() {
    let output = Command::new(server_binary())
        .arg("--help")
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    let flags = [
        "--addr",
        "--www",
        "--max-message-bytes",
        "--rate-limit",
        "--rate-burst",
        "--max-connections",
        "--max-connections-per-ip",
        "--handshake-timeout",
        "--ping-interval",
        "--pong-timeout",
        "--outbound-messages",
        "--outbound-bytes",
        "--history",
        "--max-nick-len",
        "--max-room-len",
        "--max-rooms",
        "--max-rooms-per-connection",
        "--allow-origin",
        "--tls-cert",
        "--tls-key",
        "--shutdown-timeout",
        "--test-endpoints",
        "--redis-url",
        "--max-text-bytes",
        "--max-event-bytes",
        "--history-bytes",
        "--rate-bytes",
        "--write-timeout",
        "--max-pending-connections",
        "--max-pending-connections-per-ip",
        "--admin-addr",
        "--auth-jwt-secret",
        "--auth-jwt-public-key",
        "--auth-allow-guests",
        "--metrics-token",
    ];
    for flag in flags {
        assert!(help.contains(flag), "--help does not mention {flag}");
    }
    // The demo's flags have no environment twin on purpose: a demo token endpoint must
    // never be switched on by an environment left over from somewhere else.
    for flag in ["--auth-demo", "--auth-demo-token-seconds"] {
        assert!(help.contains(flag), "--help does not mention {flag}");
    }
    assert!(help.contains("NOT FOR PRODUCTION"), "{help}");
    let env_vars = help.matches("[env: FERROSOCKET_").count();
    assert_eq!(
        env_vars,
        flags.len(),
        "every flag is listed here and has an environment twin:\n{help}"
    );
    assert!(
        help.contains("/chat") && help.contains("/metrics"),
        "{help}"
    );
}

#[test]
fn limits_that_contradict_each_other_are_refused_at_start_naming_the_flags() {
    // A line at 64 KiB of control characters is ~384 KiB on the wire: it cannot fit a
    // 1 MiB queue several times over, nor a 128 KiB history answer.
    let output = Command::new(server_binary())
        .args(["--addr", "127.0.0.1:0", "--max-text-bytes", "65536"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    for flag in ["--outbound-bytes", "--history-bytes", "--max-text-bytes"] {
        assert!(stderr.contains(flag), "{flag} is not named in:\n{stderr}");
    }
    assert!(!String::from_utf8(output.stdout)
        .unwrap()
        .contains("listening"));
}

#[test]
fn a_bad_flag_is_explained() {
    let output = Command::new(server_binary())
        .args(["--addr", "not-an-address"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("--addr") && stderr.contains("not-an-address"),
        "{stderr}"
    );

    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let output = Command::new(server_binary())
        .args(["--addr", &busy.local_addr().unwrap().to_string()])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("cannot listen on"), "{stderr}");
}

#[tokio::test]
async fn sigterm_closes_websockets_with_1001_and_exits_cleanly() {
    let mut server = start_server(&[]).await;
    let url = server.base_url.replacen("http://", "ws://", 1) + "/echo";
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();

    signal(server.child.id().unwrap(), "TERM");

    match tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .unwrap()
    {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 1001),
        other => panic!("expected close 1001, got {other:?}"),
    }
    let status = tokio::time::timeout(Duration::from_secs(10), server.child.wait())
        .await
        .expect("the server exits within its shutdown timeout")
        .unwrap();
    assert!(status.success(), "{status}");
}

/// Starts the binary with `RUST_LOG=filter` and the extra flags, both output streams
/// collected; returns the child, its `ws://host:port` and the collected output.
async fn start_logged(
    filter: &str,
    extra_args: &[&str],
) -> (
    tokio::process::Child,
    String,
    tokio::task::JoinHandle<String>,
) {
    use std::process::Stdio;
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
    let mut child = tokio::process::Command::new(server_binary())
        .args(["--addr", "127.0.0.1:0", "--www"])
        .arg(ferrosocket_e2e::repo_root().join("www"))
        .args(extra_args)
        .env("RUST_LOG", filter)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).await.unwrap();
    let base = first
        .trim()
        .strip_prefix("listening on http://")
        .and_then(|rest| rest.strip_suffix('/'))
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_owned();
    let mut stderr = child.stderr.take().unwrap();
    let output = tokio::spawn(async move {
        let (mut out, mut err) = (String::new(), String::new());
        let _ = tokio::join!(
            stdout.read_to_string(&mut out),
            stderr.read_to_string(&mut err)
        );
        out + &err
    });
    (child, format!("ws://{base}"), output)
}

#[tokio::test]
async fn logs_never_contain_message_bodies_even_at_trace_level() {
    use futures_util::SinkExt;
    let (mut child, ws, output) = start_logged(
        "trace",
        &[
            "--max-message-bytes",
            "4096",
            "--max-text-bytes",
            "512",
            "--max-event-bytes",
            "256",
        ],
    )
    .await;
    let secret = "BODY-4f1d9c2e";
    // Every path a body can take: echoed, chatted (plain and chat.v1), refused as bad JSON,
    // refused as too large, and a closing reason.
    let (mut echo, _) = tokio_tungstenite::connect_async(format!("{ws}/echo"))
        .await
        .unwrap();
    echo.send(Message::text(secret)).await.unwrap();
    echo.next().await.unwrap().unwrap();
    let (mut plain, _) = tokio_tungstenite::connect_async(format!("{ws}/chat"))
        .await
        .unwrap();
    plain.send(Message::text(secret)).await.unwrap();
    plain.next().await.unwrap().unwrap();
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!(
            "{ws}/chat"
        ))
        .unwrap();
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "chat.v1".parse().unwrap());
    let (mut json, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    for frame in [
        format!(r#"{{"type":"send","room":"lobby","text":"{secret}","id":"{secret}"}}"#),
        format!(r#"{{"type":"send","room":"lobby","text":{secret}}}"#),
        format!(r#"{{"type":"{secret}"}}"#),
        format!(r#"{{"type":"join","rooms":["{secret}!"]}}"#),
    ] {
        json.send(Message::text(frame)).await.unwrap();
    }
    json.send(Message::text(secret.repeat(1000))).await.unwrap();
    // The oversized message closes the connection; drain it.
    while let Some(Ok(_)) = json.next().await {}
    echo.send(Message::Close(Some(
        tokio_tungstenite::tungstenite::protocol::CloseFrame {
            code: 1000.into(),
            reason: secret.into(),
        },
    )))
    .await
    .unwrap();
    while let Some(Ok(_)) = echo.next().await {}
    signal(child.id().unwrap(), "INT");
    let _ = tokio::time::timeout(Duration::from_secs(20), child.wait()).await;
    let logs = output.await.unwrap();
    assert!(
        logs.lines().count() > 3,
        "the server logged at trace level:\n{logs}"
    );
    let leaks: Vec<&str> = logs.lines().filter(|line| line.contains(secret)).collect();
    assert!(
        leaks.is_empty(),
        "log lines with a message body: {leaks:#?}"
    );
}

#[tokio::test]
async fn sigint_exits_within_the_shutdown_timeout_even_when_a_peer_never_answers() {
    let (mut child, ws, _output) = start_logged("info", &["--shutdown-timeout", "2"]).await;
    // A peer that completes the handshake, then never reads nor answers the close frame.
    let addr = ws.trim_start_matches("ws://").to_owned();
    let mut silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(
        &mut silent,
        format!(
            "GET /echo HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    // Upgraded (the 101 read) before the signal, not merely given some time.
    let mut status = [0u8; 12];
    tokio::io::AsyncReadExt::read_exact(&mut silent, &mut status)
        .await
        .unwrap();
    assert_eq!(&status, b"HTTP/1.1 101");
    let started = std::time::Instant::now();
    signal(child.id().unwrap(), "INT");
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("the server exits despite a peer that never answers")
        .unwrap();
    // The bound is the flag (2 s) plus generous slack for a loaded machine; without the
    // timeout the server would wait for the silent peer forever.
    assert!(
        started.elapsed() < Duration::from_secs(12),
        "exited after {:?}",
        started.elapsed()
    );
    assert!(status.success(), "{status}");
    drop(silent);
}

/// Sends signal `name` (`TERM`, `INT`) to process `pid`.
fn signal(pid: u32, name: &str) {
    let sent = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(sent.success(), "kill -{name} {pid} failed");
}
