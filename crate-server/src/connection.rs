//! Driving one WebSocket connection: a reader and a writer running side by side, the
//! heartbeat, and the ways a connection ends (peer close, protocol violation, server
//! shutdown, slow consumer, policy).

use std::future::Future;
use std::time::Duration;

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use tokio::time::{sleep, Instant};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error, Message};

use crate::log_throttle::LogKind;
use crate::metrics::LimitHit;
use crate::outbox::{CloseSignal, Outbox, OutboxReceiver};
use crate::state::AppState;
use crate::violation::{close_frame_for, is_refused_close};

/// How long the server waits for the peer's close frame after sending its own.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// What an endpoint does with each text or binary message it receives.
pub(crate) trait Handler {
    /// Handles one incoming message; replies go through `outbox`.
    fn on_message(&mut self, message: Message, outbox: &Outbox) -> impl Future<Output = ()> + Send;
    /// Called once before the first message, e.g. to greet the peer.
    fn on_start(&mut self, _outbox: &Outbox) -> impl Future<Output = ()> + Send {
        async {}
    }
    /// Called once when the connection has ended.
    fn on_end(&mut self) {}
}

/// Runs `socket` until it ends. Messages for the peer go through `outbox_rx` (fed by the
/// handler and by the chat hub); `close` is shared with every `Outbox` of this connection.
pub(crate) async fn drive<S, H>(
    socket: S,
    state: &AppState,
    outbox: Outbox,
    mut outbox_rx: OutboxReceiver,
    mut handler: H,
) where
    S: Stream<Item = Result<Message, Error>> + Sink<Message, Error = Error> + Unpin,
    H: Handler,
{
    let close = outbox.close_signal().clone();
    handler.on_start(&outbox).await;
    let (mut sink, mut stream) = socket.split();

    let writer = Box::pin(async {
        loop {
            tokio::select! {
                biased;
                () = close.requested() => break,
                message = outbox_rx.recv() => {
                    let Some(message) = message else { break };
                    let batch = write_batch(&mut sink, message, &mut outbox_rx, state);
                    tokio::pin!(batch);
                    tokio::select! {
                        written = &mut batch => {
                            if written.is_err() {
                                close.stop();
                                break;
                            }
                        }
                        () = close.requested() => {
                            // A slow consumer's write may never finish: it is cut short.
                            // Any other close lets the messages already taken from the
                            // queue go out first, within the grace period.
                            if !close.is_slow_consumer() {
                                let _ = tokio::time::timeout(CLOSE_GRACE, batch).await;
                            }
                            break;
                        }
                    }
                }
            }
        }
        // What was queued before the close (an error envelope explaining it, say) goes
        // out first, within the grace period.
        if let Some(frame) = close.take_frame() {
            // Logged here, for every endpoint, and rate-limited: a client can cause
            // either close at will.
            if frame.code == CloseCode::Again {
                state.metrics.slow_consumer_closed();
                if state.metrics.should_log(LogKind::SlowConsumer) {
                    tracing::info!(reason = %frame.reason, "closing a slow consumer");
                }
            } else if frame.code == CloseCode::Policy
                && state.metrics.should_log(LogKind::RateClose)
            {
                tracing::info!(reason = %frame.reason, "closing a connection for a policy violation");
            }
            let _ = tokio::time::timeout(CLOSE_GRACE, async {
                while let Some(message) = outbox_rx.try_recv() {
                    sink.feed(message).await?;
                }
                sink.send(Message::Close(Some(frame))).await
            })
            .await;
        }
    });

    let reader = Box::pin(async {
        let config = &state.config;
        let mut heartbeat = Heartbeat::new();
        let mut close_deadline: Option<Instant> = None;
        let tick =
            (config.ping_interval.min(config.pong_timeout) / 4).max(Duration::from_millis(50));
        loop {
            tokio::select! {
                frame = stream.next() => match frame {
                    None => break,
                    Some(Err(err)) => {
                        if let Some(frame) = close_frame_for(&err) {
                            state.metrics.protocol_violation();
                            if u16::from(frame.code) == 1009 {
                                state.metrics.limit_hit(LimitHit::MessageSize);
                            }
                            close.close(frame.code, &frame.reason);
                            // Give the writer its chance to send the close frame.
                            tokio::task::yield_now().await;
                        }
                        break;
                    }
                    Some(Ok(message)) => {
                        heartbeat.heard();
                        match message {
                            Message::Text(_) | Message::Binary(_) => {
                                state.metrics.message_in(message.len());
                                if !close.is_closing() {
                                    let handled = handler.on_message(message, &outbox);
                                    watch_while_handling(handled, state, &close, &outbox, &mut heartbeat, tick).await;
                                }
                            }
                            // tungstenite answers pings and close frames itself, a close
                            // code the peer may not send included; that one is counted here.
                            Message::Close(Some(frame)) if is_refused_close(&frame) => {
                                state.metrics.protocol_violation();
                            }
                            Message::Ping(_) | Message::Pong(_) | Message::Close(_) | Message::Frame(_) => {}
                        }
                    }
                },
                () = sleep(tick), if close_deadline.is_none() => {
                    heartbeat.check(state, &close, &outbox);
                }
                () = state.shutdown.cancelled(), if !close.is_closing() => {
                    close.close(CloseCode::Away, "server shutting down");
                }
                () = close.requested(), if close_deadline.is_none() => {
                    close_deadline = Some(Instant::now() + CLOSE_GRACE);
                }
                () = sleep_until_opt(close_deadline) => break,
            }
        }
        close.stop();
    });

    let mut dropped = state.test.dropped();
    tokio::select! {
        _ = async { tokio::join!(writer, reader) } => {}
        // `/test/drop`: end without a close frame, as a network failure would.
        _ = dropped.changed() => {}
    }
    handler.on_end();
}

/// Runs one `on_message` to its end, unless the connection closes first (which abandons
/// it). A handler may wait — echo for room in its queue, chat for its rate — and all the
/// while the heartbeat, the server's shutdown and a close request are still watched: a
/// handler never keeps a dead or departing connection open.
async fn watch_while_handling(
    handled: impl Future<Output = ()>,
    state: &AppState,
    close: &CloseSignal,
    outbox: &Outbox,
    heartbeat: &mut Heartbeat,
    tick: Duration,
) {
    tokio::pin!(handled);
    loop {
        tokio::select! {
            biased;
            () = &mut handled => return,
            () = close.requested() => return,
            () = state.shutdown.cancelled() => close.close(CloseCode::Away, "server shutting down"),
            () = sleep(tick) => heartbeat.check(state, close, outbox),
        }
    }
}

/// When the peer was last heard from, and whether it has been pinged since.
#[derive(Debug)]
struct Heartbeat {
    last_heard: Instant,
    pinged: bool,
}

impl Heartbeat {
    fn new() -> Heartbeat {
        Heartbeat {
            last_heard: Instant::now(),
            pinged: false,
        }
    }

    /// Any frame from the peer shows it is alive.
    fn heard(&mut self) {
        self.last_heard = Instant::now();
        self.pinged = false;
    }

    /// Pings a peer silent for `--ping-interval`; closes one that has not answered within
    /// `--pong-timeout` after that.
    fn check(&mut self, state: &AppState, close: &CloseSignal, outbox: &Outbox) {
        let config = &state.config;
        let silent = self.last_heard.elapsed();
        if self.pinged && silent >= config.ping_interval + config.pong_timeout {
            state.metrics.limit_hit(LimitHit::Idle);
            close.close(CloseCode::Away, "no answer to ping");
        } else if !self.pinged && silent >= config.ping_interval {
            self.pinged = true;
            let _ = outbox.push(Message::Ping(Default::default()));
        }
    }
}

/// Writes `first` and whatever else is already queued, then flushes once.
async fn write_batch<S>(
    sink: &mut S,
    first: Message,
    outbox_rx: &mut OutboxReceiver,
    state: &AppState,
) -> Result<(), Error>
where
    S: Sink<Message, Error = Error> + Unpin,
{
    state.metrics.message_out(first.len());
    sink.feed(first).await?;
    for _ in 0..64 {
        let Some(next) = outbox_rx.try_recv() else {
            break;
        };
        state.metrics.message_out(next.len());
        sink.feed(next).await?;
    }
    sink.flush().await
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// A fresh close signal and outbox sized by the configuration.
pub(crate) fn new_outbox(state: &AppState) -> (Outbox, OutboxReceiver) {
    crate::outbox::outbox(
        state.config.outbound_messages,
        state.config.outbound_bytes,
        CloseSignal::default(),
    )
}
