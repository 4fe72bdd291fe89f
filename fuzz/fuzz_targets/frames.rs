//! The protocol decoder as the server configures it: arbitrary bytes after a completed
//! handshake are read as client frames. Every outcome is a message, a clean end or an
//! error the server can answer (`close_frame_for`); nothing panics or allocates beyond the
//! limit.
#![no_main]

use futures_util::StreamExt;
use libfuzzer_sys::fuzz_target;
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;

fuzz_target!(|bytes: &[u8]| {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    runtime.block_on(async {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let config = WebSocketConfig::default()
            .max_message_size(Some(4096))
            .max_frame_size(Some(4096))
            .read_buffer_size(4096)
            .write_buffer_size(0);
        let mut socket = WebSocketStream::from_raw_socket(server, Role::Server, Some(config)).await;
        let _ = client.write_all(bytes).await;
        drop(client);
        while let Some(frame) = socket.next().await {
            match frame {
                Ok(message) => assert!(message.len() <= 4096),
                Err(err) => {
                    let _ = ferrosocket_server::violation::close_frame_for(&err);
                    break;
                }
            }
        }
    });
});
