//! The server binary as an operator runs it: `--help`, bad flags, and SIGTERM.

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
    ];
    for flag in flags {
        assert!(help.contains(flag), "--help does not mention {flag}");
    }
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

    let pid = server.child.id().unwrap();
    assert!(Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap()
        .success());

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
