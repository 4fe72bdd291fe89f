// The deliberate differences between FerroSocket and the browser's WebSocket: the one list
// the differential test (differential.js) accepts, and that README.md ("Where FerroSocket
// differs from WebSocket") describes. Each entry names the trace step, what the browser
// records there, what FerroSocket records, and why we differ.
//
// A step's value is compared as JSON; `browser` and `ferro` are lists of the values
// allowed on each side (browsers disagree among themselves on some).

export const DIFFERENCES = [
  {
    step: "misuse.send-before-open",
    browser: ['"InvalidStateError"'],
    ferro: ['"NotOpenError"'],
    why: "one error name for every send that cannot be sent",
  },
  {
    step: "misuse.send-after-close",
    browser: ['{"threw":null,"bufferedAmountGrew":true}'],
    ferro: ['{"threw":"NotOpenError","bufferedAmountGrew":false}'],
    why: "the browser silently discards data sent while closing or closed; we throw",
  },
  // differential.js's MISUSED_DATA, with what the browser sends for each.
  ...[
    ["object", "[object Object]"],
    ["number", "42"],
    ["null", "null"],
    ["undefined", "undefined"],
    ["boolean", "true"],
    ["String object", "boxed"],
  ].map(([what, text]) => ({
    step: `misuse.send-${what}`,
    browser: [JSON.stringify({ threw: null, echo: `[object String] text:${text}` })],
    ferro: ['{"threw":"TypeError","echo":null}'],
    why: 'the browser sends String(value) ("[object Object]", "null"...); we refuse what is not data',
  })),
  // differential.js's MISUSED_CODES (a snippet cannot import its neighbour).
  ...[1006, 999, 5000, 2000, 66536, 70000, -1, NaN, null, 2999.4].map((code) => ({
    step: `misuse.close(${code})`,
    browser: ['"InvalidAccessError"'],
    ferro: ['"InvalidCloseCodeError"'],
    why: "an error name that says what is wrong",
  })),
  {
    // The code is checked before the reason, on both sides.
    step: "conversions.close(999, 124 bytes)",
    browser: ['"InvalidAccessError"'],
    ferro: ['"InvalidCloseCodeError"'],
    why: "an error name that says what is wrong",
  },
  {
    // Each lone surrogate is sent as U+FFFD, three bytes: 42 of them are 126.
    step: "conversions.close(4000, 42 lone surrogates)",
    browser: ['"SyntaxError"'],
    ferro: ['"InvalidCloseReasonError"'],
    why: "an error name that says what is wrong",
  },
  {
    step: "misuse.close(4000, 124 bytes)",
    browser: ['"SyntaxError"'],
    ferro: ['"InvalidCloseReasonError"'],
    why: "an error name that says what is wrong",
  },
  ...["ftp://127.0.0.1/", "ws://[bad/", "ws://"].map((url) => ({
    step: `url.${url}`,
    browser: ['"SyntaxError"'],
    ferro: ['"UnsupportedSchemeError"', '"InvalidUrlError"'],
    why: "an error name that says what is wrong",
  })),
  {
    step: "url.fragment",
    // Browsers now accept a fragment and ignore it; older ones threw SyntaxError.
    browser: ['"ok"', '"SyntaxError"'],
    ferro: ['"InvalidUrlError"'],
    why: "a fragment has no meaning in a WebSocket URL, so it is refused rather than dropped",
  },
  {
    step: "url.empty fragment",
    browser: ['"SyntaxError"'],
    ferro: ['"InvalidUrlError"'],
    why: "an error name that says what is wrong",
  },
  ...["protocol with a space", "protocol twice", "protocol object"].map((what) => ({
    step: `url.${what}`,
    browser: ['"SyntaxError"'],
    ferro: ['"InvalidProtocolError"'],
    why: "an error name that says what is wrong",
  })),
  {
    step: "events.microtasks",
    browser: ['["first","microtask","second"]'],
    ferro: ['["first","second","microtask"]'],
    why:
      "a script-dispatched event runs all its listeners in one go: a microtask queued by " +
      "one listener runs after the last listener, not before the next",
  },
  {
    step: "convertedCodes.close(4001.5)",
    // Firefox rounds as WebIDL's [Clamp] says; Chromium truncates.
    browser: [
      '{"stateAfterClose":2,"code":4002,"reason":"converted","wasClean":true,"final":3}',
      '{"stateAfterClose":2,"code":4001,"reason":"converted","wasClean":true,"final":3}',
    ],
    ferro: ['{"stateAfterClose":2,"code":4002,"reason":"converted","wasClean":true,"final":3}'],
    why: "a fractional close code rounds to the nearest integer, ties to even, as the WebIDL standard (and Firefox) does; Chromium truncates",
  },
  {
    step: "events.isTrusted",
    browser: ["true"],
    ferro: ["false"],
    why: "FerroSocket dispatches its events from script, so event.isTrusted is false",
  },
];

/** The list, for the Rust side of the test to hand to differential.js. */
export function documentedDifferences() {
  return DIFFERENCES;
}
