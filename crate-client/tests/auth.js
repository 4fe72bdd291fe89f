// The `token` option from plain JavaScript: a ReconnectingSocket whose token the server
// refuses ends in one `authfailed` event, and a ChatClient connects with its token's
// identity. Each function rejects with a message naming the first expectation that failed.

function expect(condition, what) {
  if (!condition) throw new Error(`expected ${what}`);
}

/** Resolves with the first `type` event of `target`; rejects after 15 s. */
function next(target, type) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${type} event within 15 s`)), 15000);
    target.addEventListener(type, (event) => {
      clearTimeout(timer);
      resolve(event);
    }, { once: true });
  });
}

export async function aRefusedTokenEndsInOneAuthFailedEvent(ReconnectingSocket, url, badToken) {
  let calls = 0;
  const socket = new ReconnectingSocket(url, {
    protocols: "chat.v1",
    initialDelay: 50,
    maxDelay: 200,
    // A function returning a Promise, as a page fetching its token would write it.
    token: async () => {
      calls += 1;
      return badToken;
    },
  });
  let opened = false;
  socket.addEventListener("open", () => { opened = true; });
  const failed = await next(socket, "authfailed");
  expect(!opened, "no open with a refused token");
  expect(/signature/.test(failed.reason), `the server's reason, got ${JSON.stringify(failed.reason)}`);
  expect(calls === 2, `the token function asked twice, got ${calls}`);
  expect(socket.state === "auth-failed", `state "auth-failed", got ${socket.state}`);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  expect(calls === 2, `nothing more tried, but the token function was asked ${calls} times`);
  socket.close();
}

export async function aChatClientConnectsWithItsTokensIdentity(ChatClient, url, token, nick) {
  const chat = new ChatClient(url, { token: () => token });
  const welcome = await next(chat, "welcome");
  expect(welcome.nick === nick, `nick ${nick}, got ${welcome.nick}`);
  chat.close();
}

export function typeErrorForABadTokenOption(ReconnectingSocket, url) {
  try {
    new ReconnectingSocket(url, { token: 42 });
  } catch (err) {
    expect(err instanceof TypeError && /token/.test(err.message), `a TypeError naming token, got ${err}`);
    return;
  }
  throw new Error("expected a TypeError for token: 42");
}
