//! Sending: straight onto the open socket, or into the queue and out again when the
//! socket can take it (`bufferedAmount` under the high-water mark).

use super::*;

pub(super) fn send(shared: &Rc<Shared>, message: impl Into<Outgoing>) -> SendOutcome {
    let message = message.into();
    let outcome = {
        let mut core = shared.core.borrow_mut();
        if core.user_closed
            || matches!(
                core.state,
                ConnectionState::Closed | ConnectionState::GaveUp
            )
        {
            return SendOutcome::Rejected;
        }
        let direct = core.state == ConnectionState::Open
            && (core.in_open_handler || core.queue.is_empty())
            && core
                .socket
                .as_ref()
                .is_some_and(|s| s.buffered_amount() <= core.options.high_water_mark);
        if direct && send_outgoing(&core, &message) {
            return SendOutcome::Sent;
        }
        core.queue.push(message)
    };
    ensure_pump(shared);
    outcome
}

pub(super) fn can_send_now(shared: &Rc<Shared>) -> bool {
    let core = shared.core.borrow();
    !core.user_closed
        && core.state == ConnectionState::Open
        && core
            .socket
            .as_ref()
            .is_some_and(|s| s.buffered_amount() <= core.options.high_water_mark)
}

pub(super) fn send_now(shared: &Rc<Shared>, message: &Message) -> bool {
    can_send_now(shared) && send_on_socket(&shared.core.borrow(), message)
}

pub(super) fn send_on_socket(core: &Core, message: &Message) -> bool {
    core.socket
        .as_ref()
        .is_some_and(|socket| socket.send(message).is_ok())
}

pub(super) fn send_outgoing(core: &Core, item: &Outgoing) -> bool {
    match item {
        Outgoing::Message(message) => send_on_socket(core, message),
        Outgoing::Blob(blob) => core
            .socket
            .as_ref()
            .is_some_and(|socket| socket.send_blob(blob).is_ok()),
    }
}

/// Sends queued messages while the browser's buffer is under the high-water mark, and
/// wakes whoever waits for the queue or the buffer to drain; runs again later while there
/// is more to send or to wait for.
pub(super) fn pump(shared: &Rc<Shared>) {
    let again = {
        let mut core = shared.core.borrow_mut();
        let queued_before = core.queue.len();
        if core.state == ConnectionState::Open {
            while let Some(front) = core.queue.front() {
                let room = core
                    .socket
                    .as_ref()
                    .is_some_and(|s| s.buffered_amount() <= core.options.high_water_mark);
                if !room || !send_outgoing(&core, front) {
                    break;
                }
                core.queue.pop();
            }
        }
        if core.queue.len() < queued_before {
            // Progress: keep looking on the next task rather than falling back to timers.
            core.pump_wait.reset();
        }
        let buffered = core.socket.as_ref().map_or(0, WebSocket::buffered_amount);
        let waiting = !core.waiters.is_empty();
        // Only an open socket drains; opening (`on_open`) and closing (`wake_all`) wake
        // whoever waits meanwhile. A drained buffer with waiters needs no further look:
        // they are woken just below.
        core.state == ConnectionState::Open && (!core.queue.is_empty() || (buffered > 0 && waiting))
    };
    wake_all(shared);
    let mut core = shared.core.borrow_mut();
    core.pump_scheduled = false;
    if again {
        schedule_pump(shared, &mut core);
    } else {
        core.pump_wait.reset();
    }
}

/// Runs [`pump`] at the next look for a draining buffer (see `drain.rs`): on the next
/// task at first, then after growing delays.
pub(super) fn ensure_pump(shared: &Rc<Shared>) {
    let mut core = shared.core.borrow_mut();
    if !core.pump_scheduled {
        schedule_pump(shared, &mut core);
    }
}

pub(super) fn schedule_pump(shared: &Rc<Shared>, core: &mut Core) {
    core.pump_scheduled = true;
    core.pump_wait.later(with(&Rc::downgrade(shared), pump));
}
