//! Interoperability with two independent WebSocket implementations, installed by the
//! set-up: Python's `websockets` and Node's `ws` (`tests/interop/`). Each does echo (text and
//! binary) and a chat exchange in the `chat.v1` protocol against the real server.

mod common;

use std::path::PathBuf;
use std::process::Command;

fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/interop")
}

async fn run_peer(program: &str, script: &str) {
    let addr = common::start_with(|_| {}).await;
    let output = tokio::task::spawn_blocking({
        let (program, script) = (program.to_owned(), script.to_owned());
        move || {
            Command::new(&program)
                .arg(interop_dir().join(&script))
                .arg(format!("ws://{addr}"))
                .current_dir(interop_dir())
                .output()
                .unwrap_or_else(|err| {
                    panic!("cannot run {program}: {err} (scripts/setup.sh installs it)")
                })
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.trim_end().ends_with("ok"),
        "{program} {script} failed ({}):\n{stdout}\n{stderr}\n(the set-up installs the peers: scripts/setup.sh)",
        output.status
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn python_websockets_client_does_echo_and_chat() {
    run_peer("python3", "client.py").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn node_ws_client_does_echo_and_chat() {
    run_peer("node", "client.mjs").await;
}
