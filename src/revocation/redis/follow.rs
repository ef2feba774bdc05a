//! Reading the set from Redis: the full load (SCAN + MGET) and the follower thread that
//! tails the change feed with a blocking XREAD.

use super::health::{mark_down, mark_up, unix_now, HEALTH};
use super::*;

fn bulk(v: &Value) -> Option<&[u8]> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.as_bytes()),
        _ => None,
    }
}

/// The feed's newest ID, or 0-0 when it is empty.
fn last_id(con: &mut redis::Connection, link: &Link, keys: &Keys) -> Result<StreamId, StoreError> {
    let v: Value = redis::cmd("XREVRANGE")
        .arg(&keys.feed)
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query(con)
        .map_err(link.err())?;
    let Value::Array(entries) = v else {
        return Err(StoreError::BadReply("XREVRANGE did not answer a list"));
    };
    match entries.first() {
        None => Ok(StreamId::default()),
        Some(Value::Array(e)) => e
            .first()
            .and_then(bulk)
            .and_then(|id| StreamId::parse(id).ok())
            .ok_or(StoreError::BadReply("XREVRANGE entry without a valid id")),
        Some(_) => Err(StoreError::BadReply("XREVRANGE entry is not a list")),
    }
}

/// The whole live set from Redis, and the feed position it is current at.
#[allow(clippy::type_complexity)]
pub(super) fn load_all(
    con: &mut redis::Connection,
    link: &Link,
    keys: &Keys,
    now: i64,
    grace: i64,
) -> Result<(Live, StreamId, u64), StoreError> {
    // The position first: whatever is written during the scan is also in the feed after it.
    let position = last_id(con, link, keys)?;
    let mut out = Live::default();
    let mut rejected = 0u64;
    let mut cursor: Vec<u8> = b"0".to_vec();
    let pattern = format!("{}*", keys.rev);
    for _ in 0..MAX_SCAN_ROUNDS {
        let v: Value = redis::cmd("SCAN")
            .arg(&cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(SCAN_COUNT)
            .query(con)
            .map_err(link.err())?;
        let Value::Array(parts) = v else {
            return Err(StoreError::BadReply("SCAN did not answer a list"));
        };
        let (Some(next), Some(Value::Array(found))) = (parts.first().and_then(bulk), parts.get(1))
        else {
            return Err(StoreError::BadReply("SCAN reply is not [cursor, keys]"));
        };
        if next.len() > 20 || !next.iter().all(u8::is_ascii_digit) {
            return Err(StoreError::BadReply("SCAN cursor is not a number"));
        }
        cursor = next.to_vec();
        let names: Vec<&[u8]> = found
            .iter()
            .filter_map(bulk)
            .filter(|k| k.len() <= keys.rev.len() + MAX_JTI_BYTES)
            .take(SCAN_COUNT * 10)
            .collect();
        if !names.is_empty() {
            let mut mget = redis::cmd("MGET");
            for n in &names {
                mget.arg(*n);
            }
            let v: Value = mget.query(con).map_err(link.err())?;
            let Value::Array(values) = v else {
                return Err(StoreError::BadReply("MGET did not answer a list"));
            };
            for (name, value) in names.iter().zip(&values) {
                let Some(raw) = bulk(value) else {
                    continue; // expired or deleted between SCAN and MGET
                };
                match feed::parse_record(raw) {
                    Ok((jti, e)) if name.get(keys.rev.len()..) == Some(jti.as_bytes()) => {
                        if e.live(now, grace) {
                            out.merge(jti, e);
                        }
                    }
                    _ => rejected += 1,
                }
            }
            if out.entries.len() > MAX_REVOCATIONS {
                return Err(StoreError::TooMany);
            }
        }
        if cursor == b"0" {
            HEALTH.rejected.fetch_add(rejected, Ordering::Relaxed);
            return Ok((out, position, rejected));
        }
    }
    Err(StoreError::BadReply("SCAN did not finish"))
}

/// Feed entries as (id, the `r` field if any).
type FeedBatch = Vec<(StreamId, Option<Vec<u8>>)>;

/// One XREAD reply: the entries after `after`, at most `FEED_BATCH`, as (id, record bytes);
/// empty when the block timed out with nothing new. None when `after` is no longer in the feed
/// once the read returned: the feed was trimmed past this node, so entries between `after` and
/// the reply may be missing, and the caller must read the whole set again. (Trimming removes the
/// oldest entries first: while `after` is still there, nothing after it was removed.) The check
/// is pipelined behind the XREAD, so Redis answers it right after the read unblocks.
fn read_feed(
    con: &mut redis::Connection,
    link: &Link,
    keys: &Keys,
    after: StreamId,
) -> Result<Option<FeedBatch>, StoreError> {
    let id = after.to_string();
    let mut pipe = redis::pipe();
    pipe.cmd("XREAD")
        .arg("COUNT")
        .arg(FEED_BATCH)
        .arg("BLOCK")
        .arg(FOLLOW_BLOCK.as_millis() as u64)
        .arg("STREAMS")
        .arg(&keys.feed)
        .arg(&id);
    pipe.cmd("XRANGE").arg(&keys.feed).arg(&id).arg(&id);
    let (v, check): (Value, Value) = pipe.query(con).map_err(link.err())?;
    let batch = parse_xread(v, after)?;
    let present = matches!(check, Value::Array(ref a) if !a.is_empty());
    // 0-0 (the feed was empty when the set was read) is never an entry; see `follow`.
    if !present && after != StreamId::default() {
        return Ok(None);
    }
    Ok(Some(batch))
}

/// Walks an XREAD reply (RESP2 array or RESP3 map form) without trusting its shape.
pub fn parse_xread(v: Value, after: StreamId) -> Result<FeedBatch, StoreError> {
    let streams: Vec<Value> = match v {
        Value::Nil => return Ok(Vec::new()),
        Value::Array(s) => s
            .into_iter()
            .filter_map(|s| match s {
                Value::Array(mut pair) if pair.len() == 2 => pair.pop(),
                _ => None,
            })
            .collect(),
        Value::Map(m) => m.into_iter().map(|(_, v)| v).collect(),
        _ => return Err(StoreError::BadReply("XREAD did not answer a list")),
    };
    let mut out = Vec::new();
    let mut last = after;
    for s in streams {
        let Value::Array(entries) = s else {
            return Err(StoreError::BadReply("XREAD stream is not a list"));
        };
        for entry in entries.into_iter().take(FEED_BATCH) {
            let Value::Array(parts) = entry else {
                return Err(StoreError::BadReply("XREAD entry is not a list"));
            };
            let mut parts = parts.into_iter();
            let id = parts
                .next()
                .as_ref()
                .and_then(bulk)
                .and_then(|b| StreamId::parse(b).ok())
                .ok_or(StoreError::BadReply("XREAD entry without a valid id"))?;
            // IDs only grow: a reply going backwards would make the follower loop or skip.
            if id <= last {
                return Err(StoreError::BadReply("XREAD ids out of order"));
            }
            last = id;
            let record = match parts.next() {
                Some(Value::Array(fields)) => fields
                    .chunks(2)
                    .find(|kv| kv.first().and_then(bulk) == Some(b"r"))
                    .and_then(|kv| kv.get(1))
                    .and_then(bulk)
                    .map(<[u8]>::to_vec),
                Some(Value::Map(fields)) => fields
                    .iter()
                    .find(|(k, _)| bulk(k) == Some(b"r"))
                    .and_then(|(_, v)| bulk(v))
                    .map(<[u8]>::to_vec),
                _ => None,
            };
            out.push((id, record));
        }
    }
    Ok(out)
}

/// The follower thread: keeps the in-memory set in step with Redis until the store is dropped.
pub(super) fn follow(store: Weak<Inner>, mut position: Option<StreamId>) {
    let mut con: Option<redis::Connection> = None;
    let mut verified = position.is_some();
    let mut delay = Duration::from_millis(50);
    let mut last_snapshot = Instant::now();
    let mut last_prune = Instant::now();
    let mut dirty = false;
    loop {
        let Some(i) = store.upgrade() else { return };
        let step = (|| -> Result<(), StoreError> {
            if con.is_none() {
                con = Some(i.link.connect(FOLLOW_BLOCK + i.link.timeout)?);
            }
            let c = con.as_mut().ok_or(StoreError::BadReply("no connection"))?;
            // From 0-0 (the feed was empty when the set was read) nothing tells whether the
            // feed was trimmed since: right after that read it was not, after a reconnect it
            // may have been, so the set is read again. Any other position is checked by
            // `read_feed` on every read.
            let resumable = match position {
                Some(p) => p != StreamId::default() || verified,
                None => false,
            };
            if !resumable {
                let now = unix_now();
                let (map, at, rejected) = load_all(c, &i.link, &i.keys, now, i.grace)?;
                let live = map.entries.len();
                *i.live.write().unwrap_or_else(|e| e.into_inner()) = map;
                crate::log::info(&format!(
                    "revocation store: read {live} live revocations from Redis{}",
                    if rejected > 0 {
                        format!(" ({rejected} malformed records skipped)")
                    } else {
                        String::new()
                    }
                ));
                position = Some(at);
                dirty = true;
            }
            verified = true;
            mark_up();
            let after = position.unwrap_or_default();
            let Some(batch) = read_feed(c, &i.link, &i.keys, after)? else {
                crate::log::warn(&format!(
                    "revocation store: the change feed was trimmed past this node's position \
                     {after}; reading the whole set again"
                ));
                position = None;
                return Ok(());
            };
            mark_up();
            if let Some((last, _)) = batch.last() {
                position = Some(*last);
            }
            let now = unix_now();
            let mut bad = 0u64;
            let mut map = i.live.write().unwrap_or_else(|e| e.into_inner());
            for (_, rec) in batch {
                match rec.as_deref().map(feed::parse_record) {
                    Some(Ok((jti, e))) => {
                        if e.live(now, i.grace) {
                            if map.entries.len() >= i.max_live && !map.entries.contains_key(&jti) {
                                bad += 1;
                                continue;
                            }
                            map.merge(jti, e);
                            dirty = true;
                        }
                    }
                    _ => bad += 1,
                }
            }
            drop(map);
            if bad > 0 {
                HEALTH.rejected.fetch_add(bad, Ordering::Relaxed);
                crate::log::warn(&format!(
                    "revocation store: skipped {bad} malformed feed records (or past {} live \
                     revocations)",
                    i.max_live
                ));
            }
            Ok(())
        })();
        if let Err(e) = step {
            con = None;
            // Whatever happened while disconnected is unknown (see `resumable`).
            verified = false;
            mark_down(&e);
            drop(i);
            std::thread::sleep(delay);
            delay = (delay * 2).min(MAX_RETRY_DELAY);
            continue;
        }
        delay = Duration::from_millis(50);
        if i.dirty.swap(false, Ordering::Relaxed) {
            dirty = true;
        }
        if last_prune.elapsed() >= PRUNE_EVERY {
            last_prune = Instant::now();
            i.live
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .retain_live(unix_now(), i.grace);
            dirty = true;
        }
        if dirty && last_snapshot.elapsed() >= SNAPSHOT_EVERY {
            let v = sorted_live(&i, unix_now());
            match write_snapshot(&i.snapshot, &v) {
                Ok(()) => {
                    dirty = false;
                    last_snapshot = Instant::now();
                }
                Err(e) => crate::log::error(&format!("revocation store: {e}")),
            }
        }
    }
}
