//! Waiting for the browser's send buffer to drain.
//!
//! The browser fires no event when `bufferedAmount` falls, so the only way to wait for it is
//! to look again later. A fixed timer makes every wait cost at least its period (a 10 ms
//! timer caps a `send().await` loop at about 100 messages a second, and at about one a
//! second in a background tab, where timers are throttled). So the first looks happen on
//! the very next task, posted through a `MessageChannel`: no 4 ms clamp, not throttled in
//! background tabs, and long enough for the browser to update `bufferedAmount`. Only a
//! buffer that stays full past those looks (a slow link, a large burst) is polled with a
//! timer, growing to [`MAX_TIMER_MS`] so a long drain does not spin the CPU.

use std::cell::RefCell;

use gloo_timers::callback::Timeout;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;

/// How many looks are made on the next task before falling back to timers.
pub(crate) const NEXT_TASK_LOOKS: u32 = 16;

/// The longest wait between two looks: the period of the fixed timer this replaced, so a
/// wait is never slower than it was.
pub(crate) const MAX_TIMER_MS: u32 = 10;

/// When to look again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delay {
    /// On the next task.
    NextTask,
    /// After this many milliseconds.
    Millis(u32),
}

/// When to make look number `look` (from 0) of one wait: [`NEXT_TASK_LOOKS`] looks on the
/// next task, then timers of 1, 2, 4, 8 ms, then [`MAX_TIMER_MS`].
pub(crate) fn delay(look: u32) -> Delay {
    match look.checked_sub(NEXT_TASK_LOOKS) {
        None => Delay::NextTask,
        Some(later) => Delay::Millis(
            1u32.checked_shl(later)
                .unwrap_or(u32::MAX)
                .min(MAX_TIMER_MS),
        ),
    }
}

/// One wait for the buffer to drain: each [`later`](Self::later) schedules the next look
/// one step further along [`delay`]; [`reset`](Self::reset) starts over once the wait is over.
#[derive(Debug, Default)]
pub(crate) struct DrainWait {
    looks: u32,
    timer: Option<Timeout>,
}

impl DrainWait {
    /// Calls `f` at the next look. A timer still pending from an earlier look is cancelled.
    pub(crate) fn later(&mut self, f: impl FnOnce() + 'static) {
        self.later_boxed(Box::new(f));
    }

    /// [`later`](Self::later), compiled once for every caller's closure.
    fn later_boxed(&mut self, f: Task) {
        let step = delay(self.looks);
        self.looks = self.looks.saturating_add(1);
        self.timer = match step {
            Delay::NextTask => {
                next_task(f);
                None
            }
            Delay::Millis(ms) => Some(Timeout::new(ms, f)),
        };
    }

    /// The wait is over: the next one starts again with next-task looks.
    pub(crate) fn reset(&mut self) {
        self.looks = 0;
        self.timer = None;
    }
}

type Task = Box<dyn FnOnce()>;

/// One `MessageChannel` for the whole module: callbacks queued before its message arrives
/// all run on that one task.
struct NextTask {
    port: web_sys::MessagePort,
    queued: Vec<Task>,
    posted: bool,
    // Kept alive for as long as the channel is.
    _on_message: Closure<dyn FnMut()>,
}

thread_local! {
    static NEXT_TASK: RefCell<Option<NextTask>> = const { RefCell::new(None) };
}

/// Calls `f` on the next task (a `MessageChannel` message), or after a zero timer where
/// there is no `MessageChannel`.
pub(crate) fn on_next_task(f: impl FnOnce() + 'static) {
    next_task(Box::new(f));
}

/// [`on_next_task`], compiled once for every caller's closure.
fn next_task(f: Task) {
    let queued = NEXT_TASK.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = open_channel();
        }
        let Some(channel) = slot.as_mut() else {
            return Err(f);
        };
        channel.queued.push(f);
        if !channel.posted {
            channel.posted = channel
                .port
                .post_message(&wasm_bindgen::JsValue::UNDEFINED)
                .is_ok();
        }
        Ok(())
    });
    if let Err(f) = queued {
        Timeout::new(0, f).forget();
    }
}

fn open_channel() -> Option<NextTask> {
    let channel = web_sys::MessageChannel::new().ok()?;
    let on_message = Closure::<dyn FnMut()>::new(run_queued);
    channel
        .port1()
        .set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    Some(NextTask {
        port: channel.port2(),
        queued: Vec::new(),
        posted: false,
        _on_message: on_message,
    })
}

/// Runs what was queued for this task, outside the borrow: a callback may queue more,
/// which then waits for the next message.
fn run_queued() {
    let tasks = NEXT_TASK.with(|cell| {
        let mut slot = cell.borrow_mut();
        match slot.as_mut() {
            Some(channel) => {
                channel.posted = false;
                std::mem::take(&mut channel.queued)
            }
            None => Vec::new(),
        }
    });
    for task in tasks {
        task();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_looks_wait_for_no_timer_then_timers_grow_to_the_cap() {
        let steps: Vec<Delay> = (0..NEXT_TASK_LOOKS + 8).map(delay).collect();
        assert!(steps[..NEXT_TASK_LOOKS as usize]
            .iter()
            .all(|step| *step == Delay::NextTask));
        assert_eq!(
            &steps[NEXT_TASK_LOOKS as usize..],
            &[1, 2, 4, 8, 10, 10, 10, 10].map(Delay::Millis)
        );
        assert_eq!(delay(u32::MAX), Delay::Millis(MAX_TIMER_MS));
    }
}
