//! Nicknames from tokens, reserved across every server sharing Redis.
//!
//! A token's nickname is reserved before the upgrade with `SET ferrosocket:name:NICK
//! HOLDER NX PX` [`NAME_TTL`], where HOLDER is `SERVER:RANDOM` for this one connection. The
//! server holding it refreshes every name it holds on each liveness tick
//! ([`REFRESH_INTERVAL`]), only while the key still names it (a script compares, so a
//! name taken over after an outage is never stolen back), and deletes it, again only if it
//! still names it, when the connection ends. A second handshake for a held name, on this
//! server or any other, finds the key and is refused with 409.
//!
//! **Crash window**: a server that dies without releasing its names leaves them reserved
//! until their TTL runs out — at most [`NAME_TTL`] after its last refresh — after which
//! anyone may take them. **Redis down**: no name can be reserved, so token handshakes are
//! refused with 503 until it answers (two servers cut off from each other must not hand out
//! the same identity); names already held keep their connections, and a holder whose key
//! expired meanwhile takes it back on its next refresh if nobody else did.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::backplane::{BackplaneError, RedisBackplane};
use crate::secret::new_id;

/// How long a reservation outlives its holder's last refresh.
pub const NAME_TTL: Duration = Duration::from_secs(10);

/// How often the holder refreshes its names: several times per [`NAME_TTL`], so one slow
/// or lost refresh does not let a live name expire.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(3);

fn name_key(nick: &str) -> String {
    format!("ferrosocket:name:{nick}")
}

/// Refreshes each name (KEYS) still held by its holder (ARGV[i]), takes back those that
/// expired, and returns how many are held by someone else. ARGV[#KEYS + 1]: the TTL in ms.
const REFRESH_SCRIPT: &str = r#"
local ttl = ARGV[#KEYS + 1]
local lost = 0
for i, key in ipairs(KEYS) do
  local holder = redis.call('GET', key)
  if holder == ARGV[i] then
    redis.call('PEXPIRE', key, ttl)
  elseif not holder then
    redis.call('SET', key, ARGV[i], 'PX', ttl)
  else
    lost = lost + 1
  end
end
return lost
"#;

/// Deletes KEYS[1] if it still holds ARGV[1].
const RELEASE_SCRIPT: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"#;

/// The names this server holds, nickname → holder, for the refresh.
#[derive(Debug, Default)]
pub(crate) struct HeldNames {
    held: Mutex<HashMap<String, String>>,
}

/// One connection's reservation of its nickname; dropping it releases the name.
#[derive(Debug)]
pub(crate) struct NameClaim {
    backplane: Arc<RedisBackplane>,
    nick: String,
    holder: String,
}

/// Reserves `nick` for one connection: `Ok(None)` when it is held already (here or on
/// another server), `Err` when Redis does not answer.
pub(crate) async fn reserve(
    backplane: &Arc<RedisBackplane>,
    nick: &str,
) -> Result<Option<NameClaim>, BackplaneError> {
    let holder = format!("{}:{}", backplane.server_id(), new_id());
    let set: Option<String> = redis::cmd("SET")
        .arg(name_key(nick))
        .arg(&holder)
        .arg("NX")
        .arg("PX")
        .arg(NAME_TTL.as_millis() as u64)
        .query_async(&mut backplane.commands())
        .await
        .inspect_err(|err| backplane.failed(err))?;
    if set.is_none() {
        return Ok(None);
    }
    backplane
        .held_names()
        .held
        .lock()
        .expect("held names lock")
        .insert(nick.to_owned(), holder.clone());
    Ok(Some(NameClaim {
        backplane: Arc::clone(backplane),
        nick: nick.to_owned(),
        holder,
    }))
}

/// Whether a token identity on any server holds `nick`.
pub(crate) async fn is_reserved(
    backplane: &RedisBackplane,
    nick: &str,
) -> Result<bool, BackplaneError> {
    redis::cmd("EXISTS")
        .arg(name_key(nick))
        .query_async(&mut backplane.commands())
        .await
        .inspect_err(|err| backplane.failed(err))
}

/// Refreshes every name this server holds (one script run); called on each liveness tick.
pub(crate) async fn refresh(backplane: &RedisBackplane) {
    let held: Vec<(String, String)> = backplane
        .held_names()
        .held
        .lock()
        .expect("held names lock")
        .iter()
        .map(|(nick, holder)| (nick.clone(), holder.clone()))
        .collect();
    if held.is_empty() {
        return;
    }
    let script = redis::Script::new(REFRESH_SCRIPT);
    let mut script = script.prepare_invoke();
    for (nick, holder) in &held {
        script.key(name_key(nick)).arg(holder);
    }
    script.arg(NAME_TTL.as_millis() as u64);
    match script.invoke_async::<u64>(&mut backplane.commands()).await {
        Ok(0) => {}
        Ok(lost) => tracing::warn!(
            lost,
            "reserved names were taken by another server while this one could not refresh them"
        ),
        Err(err) => backplane.failed(&err),
    }
}

impl Drop for NameClaim {
    fn drop(&mut self) {
        {
            let mut held = self
                .backplane
                .held_names()
                .held
                .lock()
                .expect("held names lock");
            if held.get(&self.nick) == Some(&self.holder) {
                held.remove(&self.nick);
            }
        }
        // Without a runtime (the process is ending) the TTL frees the name.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let backplane = Arc::clone(&self.backplane);
        let (key, holder) = (name_key(&self.nick), self.holder.clone());
        runtime.spawn(async move {
            let result: Result<u8, _> = redis::Script::new(RELEASE_SCRIPT)
                .key(key)
                .arg(holder)
                .invoke_async(&mut backplane.commands())
                .await;
            if let Err(err) = result {
                backplane.failed(&err);
            }
        });
    }
}
