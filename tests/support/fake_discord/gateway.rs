//! The fake gateway: one websocket route speaking Discord's gateway protocol v10 with plain
//! JSON text frames (serenity asks for `compress: true` in IDENTIFY, which only means "you may
//! zlib-compress large payloads as binary frames"; it reads text frames as JSON just fine).
//!
//! HELLO on connect; IDENTIFY -> READY + GUILD_CREATE; HEARTBEAT -> HEARTBEAT_ACK;
//! RESUME -> replay of missed dispatches + RESUMED, or INVALID_SESSION(false) when the session
//! is unknown. Dispatches go to the sessions whose shard owns the guild, are numbered per
//! session and kept for replay, so a dropped connection that resumes loses nothing (as on
//! Discord).

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State as AxumState;
use axum::response::Response;
use serde_json::{json, Value};
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};

use super::state::{Connection, Outgoing, Session, State};
use super::FakeDiscord;

/// `GET /gateway?v=10&...`: upgrade to a websocket and speak the gateway protocol.
pub(crate) async fn ws_route(AxumState(fake): AxumState<FakeDiscord>, ws: WebSocketUpgrade) -> Response {
    ws.max_message_size(16 << 20)
        .on_upgrade(move |socket| run_connection(fake, socket))
}

async fn run_connection(fake: FakeDiscord, mut socket: WebSocket) {
    let (tx, mut rx) = unbounded_channel();
    let conn_id = {
        let mut st = fake.lock();
        let id = st.next_conn_id;
        st.next_conn_id += 1;
        st.connections.insert(id, Connection { tx: tx.clone() });
        let hello =
            json!({"op": 10, "s": null, "t": null, "d": {"heartbeat_interval": st.heartbeat_interval_ms}});
        send_frame(&mut st, &tx, &hello, false);
        id
    };
    loop {
        tokio::select! {
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => handle_op(&fake, conn_id, &tx, &text),
                Some(Ok(Message::Close(_))) => {
                    // tungstenite has queued the close reply serenity waits for when shutting a
                    // shard down; reading on flushes it and ends the stream.
                    while let Some(Ok(_)) = socket.recv().await {}
                    break;
                }
                Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
            outgoing = rx.recv() => match outgoing {
                Some(Outgoing::Frame { text, ready }) => {
                    if socket.send(Message::Text(text)).await.is_err() {
                        break;
                    }
                    if ready {
                        fake.lock().ready_delivered += 1;
                    }
                }
                // Dropping the socket closes TCP without a close frame: a network failure.
                Some(Outgoing::Kill) | None => break,
            },
        }
    }
    let mut st = fake.lock();
    st.connections.remove(&conn_id);
    for session in st.sessions.values_mut() {
        if session.conn == Some(conn_id) {
            session.conn = None;
        }
    }
}

/// Queues a frame on a connection and remembers it for `FakeDiscord::gateway_frames`.
fn send_frame(st: &mut State, tx: &UnboundedSender<Outgoing>, frame: &Value, ready: bool) {
    st.sent_frames.push(frame.clone());
    let _ = tx.send(Outgoing::Frame {
        text: frame.to_string(),
        ready,
    });
}

fn handle_op(fake: &FakeDiscord, conn_id: u64, tx: &UnboundedSender<Outgoing>, text: &str) {
    let Ok(payload) = serde_json::from_str::<Value>(text) else {
        // Discord closes with 4002 (decode error); serenity never sends bad JSON.
        let _ = tx.send(Outgoing::Kill);
        return;
    };
    let mut st = fake.lock();
    match payload["op"].as_u64() {
        Some(1) => send_frame(
            &mut st,
            tx,
            &json!({"op": 11, "s": null, "t": null, "d": null}),
            false,
        ),
        Some(2) => identify(&mut st, conn_id, &payload["d"]),
        Some(6) => resume(&mut st, conn_id, tx, &payload["d"]),
        // Presence update (3), voice state (4), request guild members (8), ...: accepted, ignored.
        _ => {}
    }
}

fn identify(st: &mut State, conn_id: u64, d: &Value) {
    st.identify_payloads.push(d.clone());
    let shard = match d["shard"].as_array() {
        Some(a) if a.len() == 2 => (a[0].as_u64().unwrap_or(0), a[1].as_u64().unwrap_or(1).max(1)),
        _ => (0, 1),
    };
    let intents = d["intents"].as_u64().unwrap_or(0);
    // A new IDENTIFY for a shard replaces that shard's previous session.
    st.sessions.retain(|_, s| s.shard != shard);
    let session_id = format!("{:032x}", st.next_id().wrapping_mul(0x9E37_79B9_7F4A_7C15));
    st.sessions.insert(
        session_id.clone(),
        Session {
            shard,
            intents,
            seq: 0,
            log: Vec::new(),
            conn: Some(conn_id),
        },
    );

    let owns_guild = (st.guild_id >> 22) % shard.1 == shard.0;
    let guilds = if owns_guild {
        json!([{"id": st.guild_id.to_string(), "unavailable": true}])
    } else {
        json!([])
    };
    let mut user = st.user(st.bot_user_id);
    user["verified"] = json!(true);
    user["mfa_enabled"] = json!(false);
    user["email"] = Value::Null;
    let ready = json!({
        "v": 10,
        "user": user,
        "guilds": guilds,
        "session_id": session_id,
        "session_type": "normal",
        "resume_gateway_url": st.ws_url(),
        "shard": [shard.0, shard.1],
        "application": {"id": st.application_id().to_string(), "flags": 0},
        "private_channels": [],
        "relationships": [],
        "presences": [],
        "guild_join_requests": [],
        "geo_ordered_rtc_regions": ["rotterdam", "frankfurt"],
        "user_settings": {},
        "auth": {},
    });
    session_dispatch(st, &session_id, "READY", ready, !owns_guild);
    if owns_guild {
        let guild = st.guild_json();
        session_dispatch(st, &session_id, "GUILD_CREATE", guild, true);
    }
}

fn resume(st: &mut State, conn_id: u64, tx: &UnboundedSender<Outgoing>, d: &Value) {
    st.resumes += 1;
    let session_id = d["session_id"].as_str().unwrap_or_default().to_string();
    let seq = d["seq"].as_u64().unwrap_or(0);
    let resumable = st.sessions.get(&session_id).is_some_and(|s| seq <= s.seq);
    if !resumable {
        send_frame(st, tx, &json!({"op": 9, "s": null, "t": null, "d": false}), false);
        return;
    }
    let session = st.sessions.get_mut(&session_id).expect("checked above");
    session.conn = Some(conn_id);
    let missed: Vec<String> = session
        .log
        .iter()
        .filter(|(s, _)| *s > seq)
        .map(|(_, f)| f.clone())
        .collect();
    for text in missed {
        let frame: Value = serde_json::from_str(&text).expect("logged frames are JSON");
        send_frame(st, tx, &frame, false);
    }
    session_dispatch(st, &session_id, "RESUMED", json!({}), false);
}

/// Sends a dispatch to one session: next sequence number, logged for replay, written to the
/// attached connection if there is one.
fn session_dispatch(st: &mut State, session_id: &str, t: &str, d: Value, ready: bool) {
    let Some(session) = st.sessions.get_mut(session_id) else {
        return;
    };
    session.seq += 1;
    let frame = json!({"op": 0, "s": session.seq, "t": t, "d": d});
    session.log.push((session.seq, frame.to_string()));
    let conn = session.conn;
    if let Some(tx) = conn.and_then(|c| st.connections.get(&c)).map(|c| c.tx.clone()) {
        send_frame(st, &tx, &frame, ready);
    }
}

/// Dispatches a guild event to every session whose shard owns the guild. `shape` sees the
/// session's intents and returns the payload for it, or `None` when the intents exclude it.
pub(crate) fn dispatch(st: &mut State, t: &str, shape: impl Fn(u64) -> Option<Value>) {
    let guild_id = st.guild_id;
    let targets: Vec<(String, u64)> = st
        .sessions
        .iter()
        .filter(|(_, s)| (guild_id >> 22) % s.shard.1 == s.shard.0)
        .map(|(id, s)| (id.clone(), s.intents))
        .collect();
    for (session_id, intents) in targets {
        if let Some(d) = shape(intents) {
            session_dispatch(st, &session_id, t, d, false);
        }
    }
}

/// MESSAGE_CREATE / MESSAGE_UPDATE of a stored message, honouring GUILD_MESSAGES and
/// MESSAGE_CONTENT like Discord: without MESSAGE_CONTENT a bot sees empty content, embeds,
/// attachments and components, except in its own messages and messages mentioning it.
pub(crate) fn dispatch_message(st: &mut State, t: &str, message: &Value) {
    use super::state::{INTENT_GUILD_MESSAGES, INTENT_MESSAGE_CONTENT};
    let full = st.gateway_message(message);
    let bot_id = st.bot_user_id.to_string();
    let own = full["author"]["id"] == bot_id.as_str();
    let mentioned = full["mentions"]
        .as_array()
        .is_some_and(|m| m.iter().any(|u| u["id"] == bot_id.as_str()));
    dispatch(st, t, |intents| {
        if intents & INTENT_GUILD_MESSAGES == 0 {
            return None;
        }
        let mut d = full.clone();
        if intents & INTENT_MESSAGE_CONTENT == 0 && !own && !mentioned {
            d["content"] = json!("");
            d["embeds"] = json!([]);
            d["attachments"] = json!([]);
            d["components"] = json!([]);
        }
        Some(d)
    });
}

/// Closes every gateway connection abruptly (no close frame), like a network failure.
/// Returns the ids of the connections killed.
pub(crate) fn kill_connections(st: &mut State) -> Vec<u64> {
    for conn in st.connections.values() {
        let _ = conn.tx.send(Outgoing::Kill);
    }
    st.connections.keys().copied().collect()
}
