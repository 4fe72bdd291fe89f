//! One attempt after another: opening a browser socket, its events, the connect timeout,
//! the backoff between attempts and the heartbeat that notices a dead connection.

use super::*;

/// Opens the socket of an attempt to the fixed URL, with the connect timeout.
pub(super) fn open_now(shared: &Rc<Shared>) -> Result<(), OpenError> {
    let socket = {
        // Opening calls none of the handlers: the borrow ends before any can run.
        let core = shared.core.borrow();
        connect_to(shared, &core.url, &core.options.protocols)?
    };
    shared.core.borrow_mut().socket = Some(socket);
    arm_connect_timeout(shared);
    Ok(())
}

pub(super) fn connect_to(
    shared: &Rc<Shared>,
    url: &str,
    protocols: &[String],
) -> Result<WebSocket, OpenError> {
    let protocols: Vec<&str> = protocols.iter().map(String::as_str).collect();
    let mut socket = WebSocket::open_with_protocols(url, &protocols)?;
    let weak = Rc::downgrade(shared);
    socket.set_on_open(with(&weak, on_open));
    let weak_message = weak.clone();
    socket.set_on_message(move |message| {
        if let Some(shared) = weak_message.upgrade() {
            on_message(&shared, message);
        }
    });
    let weak_close = weak.clone();
    socket.set_on_close(move |close| {
        if let Some(shared) = weak_close.upgrade() {
            on_close(&shared, close);
        }
    });
    Ok(socket)
}

pub(super) fn with(weak: &Weak<Shared>, f: fn(&Rc<Shared>)) -> impl FnMut() + 'static {
    let weak = weak.clone();
    move || {
        if let Some(shared) = weak.upgrade() {
            f(&shared);
        }
    }
}

pub(super) fn on_open(shared: &Rc<Shared>) {
    let event = {
        let mut core = shared.core.borrow_mut();
        core.state = ConnectionState::Open;
        let now = now_ms();
        core.last_heard_ms = now;
        core.ping_sent_ms = None;
        core.opened_at_ms = Some(now);
        core.connect_timer = None;
        core.auth_refusals = 0;
        // Counted until this connection proves stable (see `on_close`).
        let attempts = core.attempts;
        let event = if core.ever_opened {
            ResilientEvent::Reconnected { attempts }
        } else {
            ResilientEvent::Open
        };
        core.ever_opened = true;
        core.in_open_handler = true;
        event
    };
    start_heartbeat(shared);
    emit(shared, Some(event));
    shared.core.borrow_mut().in_open_handler = false;
    pump(shared);
}

pub(super) fn on_message(shared: &Rc<Shared>, message: Message) {
    {
        let mut core = shared.core.borrow_mut();
        core.last_heard_ms = now_ms();
        core.ping_sent_ms = None;
    }
    emit(shared, Some(ResilientEvent::Message(message)));
}

pub(super) fn on_close(shared: &Rc<Shared>, close: CloseEvent) {
    let (user_closed, token_url) = {
        let mut core = shared.core.borrow_mut();
        core.socket = None;
        core.heartbeat_timer = None;
        core.connect_timer = None;
        let opened = core.opened_at_ms.take();
        if let Some(opened) = opened {
            // Whole milliseconds: `Date.now()` has no finer ones.
            let uptime = Duration::from_millis((now_ms() - opened).max(0.0) as u64);
            if core.options.reconnect.was_stable(uptime) {
                core.attempts = 0;
            }
        }
        let token_url = core.token_url.take();
        // Only an attempt that never opened can have had its token refused.
        (core.user_closed, token_url.filter(|_| opened.is_none()))
    };
    if user_closed {
        return stop(
            shared,
            ConnectionState::Closed,
            ResilientEvent::Closed(close),
        );
    }
    emit(shared, Some(ResilientEvent::Disconnected(close.clone())));
    let Some(token_url) = token_url else {
        return after_close(shared, &close);
    };
    // Ask the server whether it refused the token; decide once it answers.
    let weak = Rc::downgrade(shared);
    let attempt_id = shared.core.borrow().attempt_id;
    crate::spawn(Box::pin(async move {
        let refusal = auth_check::refusal(&token_url).await;
        let Some(shared) = weak.upgrade() else { return };
        let current = {
            let core = shared.core.borrow();
            // Closed, or started over by `reconnect()` meanwhile: the answer is stale.
            !core.user_closed && core.attempt_id == attempt_id && core.socket.is_none()
        };
        if !current {
            return;
        }
        match refusal {
            Some(reason) => token_refused(&shared, reason),
            None => {
                shared.core.borrow_mut().auth_refusals = 0;
                after_close(&shared, &close);
            }
        }
    }));
}

/// After a lost connection (not closed by the user): reconnect, or close for good.
fn after_close(shared: &Rc<Shared>, close: &CloseEvent) {
    // 4401: the token expired; the next attempt asks for a fresh one.
    let expired_token =
        close.code == EXPIRED_TOKEN_CODE && shared.core.borrow().options.token.is_some();
    if expired_token || should_reconnect(shared, close) {
        schedule_retry(shared);
    } else {
        stop(
            shared,
            ConnectionState::Closed,
            ResilientEvent::Closed(close.clone()),
        );
    }
}

/// Stops for good (or, for [`ConnectionState::AuthFailed`], until
/// [`ResilientSocket::reconnect`]): the state, everyone waiting woken, `event`
/// reported, and a detached socket let go.
fn stop(shared: &Rc<Shared>, state: ConnectionState, event: ResilientEvent) {
    {
        let mut core = shared.core.borrow_mut();
        core.state = state;
        core.retry_timer = None;
    }
    wake_all(shared);
    emit(shared, Some(event));
    release_if_final(shared);
}

/// The close code of a `chat.v1` server whose token expired.
const EXPIRED_TOKEN_CODE: u16 = 4401;

/// The server refused an attempt's token: try once more (the provider is asked again),
/// and stop with [`ResilientEvent::AuthFailed`] on the second refusal in a row.
fn token_refused(shared: &Rc<Shared>, reason: String) {
    let again = {
        let mut core = shared.core.borrow_mut();
        core.auth_refusals += 1;
        core.auth_refusals < 2
    };
    if again {
        schedule_retry(shared);
    } else {
        auth_failed(shared, reason);
    }
}

/// Stops reconnecting until [`ResilientSocket::reconnect`].
fn auth_failed(shared: &Rc<Shared>, reason: String) {
    stop(
        shared,
        ConnectionState::AuthFailed,
        ResilientEvent::AuthFailed { reason },
    );
}

/// The user's predicate if there is one (called outside any borrow: it may call back in),
/// else the policy's close-code rules.
pub(super) fn should_reconnect(shared: &Rc<Shared>, close: &CloseEvent) -> bool {
    let predicate = shared.core.borrow_mut().should_reconnect.take();
    match predicate {
        Some(mut predicate) => {
            let answer = predicate(close);
            let mut core = shared.core.borrow_mut();
            if core.should_reconnect.is_none() {
                core.should_reconnect = Some(predicate);
            }
            answer
        }
        None => shared
            .core
            .borrow()
            .options
            .reconnect
            .should_reconnect(close.code),
    }
}

/// Gives the attempt just started `connect_timeout` to open.
pub(super) fn arm_connect_timeout(shared: &Rc<Shared>) {
    let mut core = shared.core.borrow_mut();
    let Some(timeout) = core.options.connect_timeout else {
        return;
    };
    core.connect_timer = Some(timer(shared, timeout, connect_timed_out));
}

fn connect_timed_out(shared: &Rc<Shared>) {
    let connecting = {
        let mut core = shared.core.borrow_mut();
        core.connect_timer = None;
        core.state == ConnectionState::Connecting && core.socket.is_some()
    };
    if connecting {
        give_up_on_socket(shared, CloseCode::CONNECT_TIMEOUT, "connect timeout");
    }
}

/// `delay` in whole milliseconds, at most `u32::MAX` (`as_millis` would be 128-bit
/// arithmetic).
fn millis(delay: Duration) -> u32 {
    let ms = delay
        .as_secs()
        .saturating_mul(1000)
        .saturating_add(u64::from(delay.subsec_millis()));
    ms.min(u64::from(u32::MAX)) as u32
}

/// A timer that calls `f` after `delay` (at most `u32::MAX` ms) if `shared` is still there:
/// one closure type for every timer of the socket.
fn timer(shared: &Rc<Shared>, delay: Duration, f: fn(&Rc<Shared>)) -> Timeout {
    Timeout::new(millis(delay), with(&Rc::downgrade(shared), f))
}

/// Closes the current socket with `code` and `reason`, without waiting for the browser
/// (which could take minutes to notice a dead connection), and carries on as after a lost
/// connection.
pub(super) fn give_up_on_socket(shared: &Rc<Shared>, code: CloseCode, reason: &str) {
    let socket = shared.core.borrow_mut().socket.take();
    if let Some(socket) = socket {
        // Closing with a valid code and a short reason cannot fail; dropping the socket
        // then removes its listeners, so its own close event never reaches us.
        let _ = socket.close_with(code.get(), reason);
    }
    on_close(
        shared,
        CloseEvent {
            code: 1006,
            reason: reason.into(),
            was_clean: false,
        },
    );
}

pub(super) fn schedule_retry(shared: &Rc<Shared>) {
    let event = {
        let mut core = shared.core.borrow_mut();
        if core.user_closed {
            return;
        }
        core.attempts += 1;
        let attempt = core.attempts;
        if !core.options.reconnect.allows_attempt(attempt) {
            drop(core);
            return stop(shared, ConnectionState::GaveUp, ResilientEvent::GaveUp);
        }
        let delay = core
            .options
            .reconnect
            .delay(attempt, js_sys::Math::random());
        core.state = ConnectionState::Reconnecting { attempt };
        core.retry_timer = Some(timer(shared, delay, attempt_now));
        ResilientEvent::Reconnecting { attempt, delay }
    };
    emit(shared, Some(event));
}

pub(super) fn attempt_now(shared: &Rc<Shared>) {
    {
        let mut core = shared.core.borrow_mut();
        core.retry_timer = None;
        core.state = ConnectionState::Connecting;
    }
    start_attempt(shared);
}

/// Opens the socket of an attempt: at once for a fixed URL without a token; once the
/// endpoint function's and the token provider's futures resolve otherwise.
pub(super) fn start_attempt(shared: &Rc<Shared>) {
    let (attempt_id, endpoint_fn, token) = {
        let mut core = shared.core.borrow_mut();
        core.attempt_id += 1;
        core.token_url = None;
        (
            core.attempt_id,
            core.endpoint_fn.take(),
            core.options.token.clone(),
        )
    };
    if endpoint_fn.is_none() && token.is_none() {
        // The URL was valid once; treat a refusal like a failed attempt.
        if open_now(shared).is_err() {
            schedule_retry(shared);
        }
        return;
    }
    // Called with nothing borrowed: they may look at the socket.
    let endpoint = endpoint_fn.map(|mut endpoint_fn| {
        let future = endpoint_fn();
        shared.core.borrow_mut().endpoint_fn = Some(endpoint_fn);
        future
    });
    let token = token.map(|token| token.token());
    let weak = Rc::downgrade(shared);
    crate::spawn(Box::pin(async move {
        let endpoint = match endpoint {
            Some(future) => Some(future.await),
            None => None,
        };
        // A token only for an endpoint there is.
        let token = match (&endpoint, token) {
            (Some(Err(_)), _) | (_, None) => None,
            (_, Some(token)) => Some(token.await),
        };
        if let Some(shared) = weak.upgrade() {
            finish_attempt(&shared, attempt_id, endpoint, token);
        }
    }));
}

/// Opens the socket of attempt `attempt_id` now that its endpoint (`None`: the fixed URL
/// and the options' protocols) and token are there, unless the attempt was overtaken
/// meanwhile; a failure counts as a lost connection.
fn finish_attempt(
    shared: &Rc<Shared>,
    attempt_id: u64,
    endpoint: Option<Result<Endpoint, String>>,
    token: Option<Result<String, String>>,
) {
    let (current, with_token, refused_before) = {
        let core = shared.core.borrow();
        (
            !core.user_closed
                && core.attempt_id == attempt_id
                && core.state == ConnectionState::Connecting
                && core.socket.is_none(),
            core.options.token.is_some(),
            core.auth_refusals > 0,
        )
    };
    if !current {
        return;
    }
    let opened = match (endpoint, token) {
        (Some(Err(reason)), _) => Err(reason),
        (_, Some(Err(err))) => {
            let mut reason = String::from("the token provider failed: ");
            reason.push_str(&err);
            // Just after a refusal, a provider with no fresh token ends it.
            if refused_before {
                return auth_failed(shared, reason);
            }
            Err(reason)
        }
        (endpoint, token) => {
            let core = shared.core.borrow();
            let (url, protocols) = match &endpoint {
                Some(Ok(endpoint)) => (&endpoint.url, &endpoint.protocols),
                _ => (&core.url, &core.options.protocols),
            };
            let url_with_token = match token {
                Some(Ok(token)) => Some(with_access_token(url, &token)),
                _ => None,
            };
            // Opening calls none of the handlers: the borrow ends before any can run.
            connect_to(shared, url_with_token.as_deref().unwrap_or(url), protocols)
                // Through `dyn Display`: the one `to_string` the JS classes' errors use too.
                .map_err(|err| (&err as &dyn fmt::Display).to_string())
        }
    };
    match opened {
        Ok(socket) => {
            let mut core = shared.core.borrow_mut();
            // As the browser resolved it: absolute, for the token check's HTTP request.
            core.token_url = with_token.then(|| socket.url());
            core.socket = Some(socket);
            drop(core);
            arm_connect_timeout(shared);
        }
        Err(reason) => on_close(
            shared,
            CloseEvent {
                code: 1006,
                reason,
                was_clean: false,
            },
        ),
    }
}

/// [`ResilientSocket::reconnect`].
/// Starts over: `code` and `reason` (already checked) close the current connection, if
/// any, and its close is reported with them.
pub(super) fn reconnect(shared: &Rc<Shared>, code: u16, reason: &str) {
    let socket = {
        let mut core = shared.core.borrow_mut();
        core.user_closed = false;
        core.attempts = 0;
        core.auth_refusals = 0;
        core.retry_timer = None;
        core.connect_timer = None;
        core.heartbeat_timer = None;
        core.opened_at_ms = None;
        core.socket.take()
    };
    if let Some(socket) = socket {
        if matches!(
            socket.ready_state(),
            ReadyState::Connecting | ReadyState::Open
        ) {
            // Dropping the socket below removes its listeners: its own close event never
            // reaches us, so the disconnect is reported here.
            let _ = socket.close_with(code, reason);
            drop(socket);
            emit(
                shared,
                Some(ResilientEvent::Disconnected(CloseEvent {
                    code,
                    reason: reason.to_owned(),
                    was_clean: true,
                })),
            );
        }
    }
    attempt_now(shared);
}

pub(super) fn retry_now(shared: &Rc<Shared>) {
    let waiting = matches!(
        shared.core.borrow().state,
        ConnectionState::Reconnecting { .. }
    );
    if waiting {
        attempt_now(shared);
    }
}

pub(super) fn start_heartbeat(shared: &Rc<Shared>) {
    let mut core = shared.core.borrow_mut();
    let Some(heartbeat) = &core.options.heartbeat else {
        return;
    };
    let tick = (millis(heartbeat.interval.min(heartbeat.timeout)) / 4).clamp(10, 1_000);
    core.heartbeat_timer = Some(Interval::new(
        tick,
        with(&Rc::downgrade(shared), check_heartbeat),
    ));
}

pub(super) fn check_heartbeat(shared: &Rc<Shared>) {
    let dead = {
        let mut core = shared.core.borrow_mut();
        let core = &mut *core;
        let Some(heartbeat) = &core.options.heartbeat else {
            return;
        };
        if core.state != ConnectionState::Open {
            return;
        }
        let now = now_ms();
        match core.ping_sent_ms {
            Some(sent) if now - sent >= heartbeat.timeout.as_secs_f64() * 1000.0 => true,
            Some(_) => false,
            None if now - core.last_heard_ms >= heartbeat.interval.as_secs_f64() * 1000.0 => {
                send_on_socket(core, &heartbeat.ping);
                core.ping_sent_ms = Some(now);
                false
            }
            None => false,
        }
    };
    if dead {
        give_up_on_socket(shared, CloseCode::HEARTBEAT_TIMEOUT, "heartbeat timeout");
    }
}
