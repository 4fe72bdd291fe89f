//! The peers the benchmarks compare against, written the way their own examples are:
//! a bare tokio-tungstenite server (echo, and the unbounded-channel broadcast of its chat
//! example) and a fastwebsockets echo server.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::Message;

type Peers = Arc<Mutex<HashMap<SocketAddr, UnboundedSender<Message>>>>;

/// tokio-tungstenite in the style of its examples: `/echo` echoes, `/chat` broadcasts
/// every message to every other connection through unbounded channels.
pub async fn tungstenite(addr: &str) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    println!("listening on http://{}/", listener.local_addr()?);
    let peers: Peers = Arc::default();
    loop {
        let (stream, peer) = listener.accept().await?;
        let peers = Arc::clone(&peers);
        tokio::spawn(async move {
            let mut path = String::new();
            // The callback's signature is tungstenite's; its error type is large.
            #[allow(clippy::result_large_err)]
            let callback = |request: &Request, response: Response| {
                path = request.uri().path().to_owned();
                Ok(response)
            };
            let Ok(ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
                return;
            };
            let (mut sink, mut stream) = ws.split();
            if path == "/echo" {
                while let Some(Ok(message)) = stream.next().await {
                    if (message.is_text() || message.is_binary())
                        && sink.send(message).await.is_err()
                    {
                        break;
                    }
                }
                return;
            }
            let (tx, mut rx) = unbounded_channel();
            peers.lock().unwrap().insert(peer, tx);
            let forward = async {
                while let Some(message) = rx.recv().await {
                    if sink.send(message).await.is_err() {
                        break;
                    }
                }
            };
            let broadcast = async {
                while let Some(Ok(message)) = stream.next().await {
                    if message.is_text() || message.is_binary() {
                        for (other, tx) in peers.lock().unwrap().iter() {
                            if *other != peer {
                                let _ = tx.send(message.clone());
                            }
                        }
                    }
                }
            };
            tokio::select! {
                () = forward => {}
                () = broadcast => {}
            }
            peers.lock().unwrap().remove(&peer);
        });
    }
}

/// fastwebsockets' echo server, as in its `echo_server` example.
pub async fn fastwebsockets(addr: &str) -> std::io::Result<()> {
    use fastwebsockets::{upgrade, FragmentCollector, OpCode, WebSocketError};
    use http_body_util::Empty;
    use hyper::body::{Bytes, Incoming};
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;

    async fn serve(fut: upgrade::UpgradeFut) -> Result<(), WebSocketError> {
        let mut ws = FragmentCollector::new(fut.await?);
        loop {
            let frame = ws.read_frame().await?;
            match frame.opcode {
                OpCode::Close => break,
                OpCode::Text | OpCode::Binary => ws.write_frame(frame).await?,
                _ => {}
            }
        }
        Ok(())
    }

    async fn handle(
        mut request: hyper::Request<Incoming>,
    ) -> Result<hyper::Response<Empty<Bytes>>, WebSocketError> {
        let (response, fut) = upgrade::upgrade(&mut request)?;
        tokio::spawn(async move {
            let _ = serve(fut).await;
        });
        Ok(response)
    }

    let listener = TcpListener::bind(addr).await?;
    println!("listening on http://{}/", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(handle))
                .with_upgrades()
                .await;
        });
    }
}
