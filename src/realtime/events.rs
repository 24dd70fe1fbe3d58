//! Every client→server event of PROTOCOL.md §4, registered in `register` (the one list to read),
//! each handled by a small function that calls the shared operation in `chat`.
//!
//! `on` wraps a handler with what all events share: guests are refused `unauthenticated`, the
//! payload is parsed (`invalid` when malformed), and the result becomes the ack —
//! `{"ok": true, ...}` or `{"ok": false, "error": {...}}`.

use std::future::Future;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use socketioxide::adapter::Adapter;
use socketioxide::extract::{AckSender, SocketRef, State, TryData};

use super::hub::{room_room, user_room};
use super::presence;
use super::session::{self, AuthPayload, Session};
use crate::app::App;
use crate::chat::messages::{self, HistoryQuery, SendInput, require_member};
use crate::chat::rooms::{self, CreateRoom};
use crate::domain::{RoomId, UserId};
use crate::error::{AppError, AppResult};

/// What a handler gets: the app, the socket, and its authenticated user.
pub struct Ctx<A: Adapter> {
    pub app: App,
    pub socket: SocketRef<A>,
    pub user: UserId,
}

pub fn register<A: Adapter>(s: &SocketRef<A>) {
    s.on("auth", auth);
    on_send(s);
    on(s, "message:ack", message_ack);
    on(s, "message:read", message_read);
    on(s, "typing", typing);
    on(s, "history", history);
    on(s, "rooms:list", rooms_list);
    on(s, "room:create", room_create);
    on(s, "room:join", room_join);
    on(s, "room:leave", room_leave);
    on(s, "room:add", room_add);
    on(s, "room:remove", room_remove);
    on(s, "presence:query", presence_query);
    on(s, "profile:update", profile_update);
}

/// An event with no payload arrives as null; read it as `{}`.
fn parse<T: DeserializeOwned>(data: Result<Value, socketioxide::ParserError>) -> AppResult<T> {
    let value = match data {
        Ok(Value::Null) | Err(_) => json!({}),
        Ok(v) => v,
    };
    serde_json::from_value(value).map_err(|e| AppError::invalid(format!("malformed payload: {e}")))
}

fn reply<A: Adapter>(ack: AckSender<A>, result: AppResult<Value>) {
    let body = match result {
        Ok(Value::Object(mut fields)) => {
            fields.insert("ok".into(), Value::Bool(true));
            Value::Object(fields)
        }
        Ok(_) => json!({ "ok": true }),
        Err(e) => e.ack(),
    };
    // Without an ack callback there is nobody to answer: the event was still processed.
    let _ = ack.send(&body);
}

fn on<A, T, F, Fut>(s: &SocketRef<A>, event: &'static str, handler: F)
where
    A: Adapter,
    T: DeserializeOwned + Send + 'static,
    F: Fn(Ctx<A>, T) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = AppResult<Value>> + Send + 'static,
{
    s.on(
        event,
        move |socket: SocketRef<A>,
              State(app): State<App>,
              TryData(data): TryData<Value>,
              ack: AckSender<A>| {
            let handler = handler.clone();
            async move {
                let result = match (session::session(&socket), parse::<T>(data)) {
                    (None, _) => Err(AppError::Unauthenticated),
                    (Some(_), Err(e)) => Err(e),
                    (Some(Session { user, .. }), Ok(payload)) => {
                        handler(Ctx { app, socket, user }, payload).await
                    }
                };
                reply(ack, result);
            }
        },
    );
}

async fn auth<A: Adapter>(
    socket: SocketRef<A>,
    State(app): State<App>,
    TryData(data): TryData<Value>,
    ack: AckSender<A>,
) {
    let result = match parse::<AuthPayload>(data) {
        Ok(payload) => session::auth_event(&app, &socket, payload).await,
        Err(e) => Err(e),
    };
    reply(ack, result);
}

/// `message:send`, registered by hand: its ticket is taken synchronously, in arrival order,
/// before the handler's task is spawned (see `Sequencer`).
fn on_send<A: Adapter>(s: &SocketRef<A>) {
    s.on(
        "message:send",
        |socket: SocketRef<A>,
         State(app): State<App>,
         TryData(data): TryData<Value>,
         ack: AckSender<A>| {
            let sess = session::session(&socket);
            let ticket = sess.as_ref().map(|sess| sess.sends.ticket());
            async move {
                // Every ticket waits its turn, even one about to fail: releasing out of turn would
                // let a later send overtake an earlier one.
                if let Some(ticket) = &ticket {
                    ticket.wait_turn().await;
                }
                let result = match (sess, parse::<SendInput>(data)) {
                    (None, _) => Err(AppError::Unauthenticated),
                    (Some(_), Err(e)) => Err(e),
                    (Some(sess), Ok(input)) => {
                        messages::send_ordered(&app, sess.user, input, ticket)
                            .await
                            .map(|m| json!({ "message": m }))
                    }
                };
                reply(ack, result);
            }
        },
    );
}

#[derive(Deserialize)]
struct SeqPayload {
    room_id: RoomId,
    seq: i64,
}

async fn message_ack<A: Adapter>(c: Ctx<A>, p: SeqPayload) -> AppResult<Value> {
    messages::mark_delivered(&c.app, c.user, p.room_id, p.seq).await?;
    Ok(json!({}))
}

async fn message_read<A: Adapter>(c: Ctx<A>, p: SeqPayload) -> AppResult<Value> {
    messages::mark_read(&c.app, c.user, p.room_id, p.seq).await?;
    Ok(json!({}))
}

#[derive(Deserialize)]
struct TypingPayload {
    room_id: RoomId,
    typing: bool,
}

/// Relayed to the room's other members' sockets (not the typist's own devices); never stored.
/// Not relayed in channels, where only a few post and many read.
async fn typing<A: Adapter>(c: Ctx<A>, p: TypingPayload) -> AppResult<Value> {
    c.app.typing_limiter.check(c.user)?;
    let access = require_member(&c.app, p.room_id, c.user).await?;
    if access.kind.is_conversation() {
        let event = json!({ "room_id": p.room_id, "user_id": c.user, "typing": p.typing });
        let _ = c
            .socket
            .to(room_room(p.room_id))
            .except(user_room(c.user))
            .emit("typing", &event)
            .await;
    }
    Ok(json!({}))
}

async fn history<A: Adapter>(c: Ctx<A>, q: HistoryQuery) -> AppResult<Value> {
    let room = q
        .room_id
        .ok_or_else(|| AppError::invalid("room_id is required"))?;
    let page = messages::history(&c.app, c.user, room, &q).await?;
    Ok(json!({ "messages": page.messages, "has_more": page.has_more }))
}

async fn rooms_list<A: Adapter>(c: Ctx<A>, _: Value) -> AppResult<Value> {
    Ok(json!({ "rooms": c.app.store.rooms_for(c.user).await? }))
}

async fn room_create<A: Adapter>(c: Ctx<A>, input: CreateRoom) -> AppResult<Value> {
    Ok(json!({ "room": rooms::create(&c.app, c.user, input).await? }))
}

#[derive(Deserialize)]
struct RoomPayload {
    room_id: RoomId,
}

async fn room_join<A: Adapter>(c: Ctx<A>, p: RoomPayload) -> AppResult<Value> {
    rooms::add_member(&c.app, c.user, p.room_id, c.user).await?;
    Ok(json!({ "room": c.app.store.room_for(p.room_id, c.user).await? }))
}

async fn room_leave<A: Adapter>(c: Ctx<A>, p: RoomPayload) -> AppResult<Value> {
    rooms::remove_member(&c.app, c.user, p.room_id, c.user).await?;
    Ok(json!({}))
}

#[derive(Deserialize)]
struct MemberPayload {
    room_id: RoomId,
    user_id: UserId,
}

async fn room_add<A: Adapter>(c: Ctx<A>, p: MemberPayload) -> AppResult<Value> {
    let member = rooms::add_member(&c.app, c.user, p.room_id, p.user_id).await?;
    Ok(json!({ "member": member }))
}

async fn room_remove<A: Adapter>(c: Ctx<A>, p: MemberPayload) -> AppResult<Value> {
    rooms::remove_member(&c.app, c.user, p.room_id, p.user_id).await?;
    Ok(json!({}))
}

#[derive(Deserialize)]
struct PresenceQuery {
    user_ids: Option<Vec<UserId>>,
    room_id: Option<RoomId>,
}

const MAX_PRESENCE_QUERY: usize = 500;

async fn presence_query<A: Adapter>(c: Ctx<A>, q: PresenceQuery) -> AppResult<Value> {
    let users = match (q.user_ids, q.room_id) {
        (Some(ids), None) => ids,
        (None, Some(room)) => {
            let access = require_member(&c.app, room, c.user).await?;
            if !access.kind.is_conversation() {
                return Err(AppError::forbidden("presence is not shared in channels"));
            }
            c.app
                .store
                .members(room)
                .await?
                .into_iter()
                .map(|m| m.user_id)
                .collect()
        }
        _ => {
            return Err(AppError::invalid(
                "give exactly one of user_ids and room_id",
            ));
        }
    };
    if users.len() > MAX_PRESENCE_QUERY {
        return Err(AppError::invalid(format!(
            "at most {MAX_PRESENCE_QUERY} users"
        )));
    }
    Ok(json!({ "presence": presence::query(&c.app, &users).await }))
}

#[derive(Deserialize)]
struct ProfilePayload {
    display_name: String,
}

async fn profile_update<A: Adapter>(c: Ctx<A>, p: ProfilePayload) -> AppResult<Value> {
    Ok(json!({ "user": crate::chat::update_profile(&c.app, c.user, &p.display_name).await? }))
}
