// The deliberate differences between our ReconnectingSocket and partysocket's
// ReconnectingWebSocket: the one list the differential test (reconnecting_differential.js)
// accepts, and that README.md ("ReconnectingSocket and partysocket") describes. Each entry
// names the trace step, what partysocket records there, what we record, and why we differ.
//
// A step's value is compared as JSON; `partysocket` and `ours` are lists of the values
// allowed on each side (browsers disagree on some).

const CONNECTING_WHILE_RECONNECTING =
  "while it waits to reconnect, readyState is CONNECTING (as partysocket's README says); partysocket reads the last socket's CLOSED until the next attempt's socket exists";
const FAILED_ATTEMPT =
  "a failed attempt is reported as the browser reports it, error then a 1006 close; partysocket dispatches a close (1000, clean) of its own first, then the error";

export const DIFFERENCES = [
  {
    step: "order.readyState-after-close()",
    partysocket: ["3"],
    ours: ["2"],
    why: "like the browser's WebSocket, CLOSING until the close event; partysocket reads CLOSED at once",
  },
  {
    step: "order.close-event",
    partysocket: ['{"code":"close","wasClean":true,"isCloseEvent":false}'],
    ours: ['{"code":1000,"wasClean":true,"isCloseEvent":true}'],
    why: "listeners get a real CloseEvent with the code the server closed with; partysocket's close() dispatches its own event, which its browser clone turns into an Event whose code is the string \"close\" (its onclose handler gets 1000)",
  },
  {
    step: "order.onopen-target-is-the-socket",
    partysocket: ["false"],
    ours: ["true"],
    why: "the onX handlers get the same event as listeners, whose target is the ReconnectingSocket; partysocket hands onopen the inner WebSocket's event",
  },
  {
    step: "drop.in-close-listener",
    partysocket: ['{"code":1006,"wasClean":false,"readyState":3,"retryCount":1}'],
    ours: ['{"code":1006,"wasClean":false,"readyState":0,"retryCount":1}'],
    why: CONNECTING_WHILE_RECONNECTING,
  },
  {
    step: "drop.events",
    partysocket: ['["open:1","close:3","open:1","message:1:during 1","message:1:during 2"]'],
    ours: ['["open:1","close:0","open:1","message:1:during 1","message:1:during 2"]'],
    why: CONNECTING_WHILE_RECONNECTING,
  },
  {
    step: "closeStops.events",
    partysocket: ['["open:1","close:3"]'],
    ours: ['["open:1","close:0","close:3"]'],
    why: "close() while waiting to reconnect is answered with a close event (1000), so every close() ends with one; partysocket dispatches none when its socket is already closed (and reads CLOSED in the first close, as above)",
  },
  {
    step: "reconnect.events",
    partysocket: ['["open:1","close:2","open:1","close:3","open:1"]'],
    ours: ['["open:1","close:0","open:1","close:3","open:1"]'],
    why: "in the close event reconnect() causes, readyState is CONNECTING: the new attempt is under way; partysocket's reads the old socket's CLOSING",
  },
  {
    step: "connectionTimeout.events",
    partysocket: ['["close:2","error:2"]'],
    ours: ['["error:0","close:0","error:3","close:3"]'],
    why: `${FAILED_ATTEMPT} (reason "connect timeout"); ${CONNECTING_WHILE_RECONNECTING} (partysocket's reads CLOSING)`,
  },
];

/** The list, for the Rust side of the test. */
export function documentedDifferences() {
  return DIFFERENCES;
}
