//! Every client→server event of `docs/protocol.md`, registered in `register` (the one list to
//! read; [`CLIENT_EVENTS`] names them), each handled by a small function that calls the shared
//! operation in `chat` and returns its typed ack.
//!
//! `on` wraps a handler with what all events share: guests are refused `unauthenticated`, the
//! payload is parsed (`invalid` when malformed), and the result becomes the ack —
//! `{"ok": true, ...fields}` or `{"ok": false, "error": {...}}`.

use std::future::Future;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use socketioxide::adapter::Adapter;
use socketioxide::extract::{AckSender, SocketRef, State, TryData};
use tracing::Instrument;

use super::session::{self, AuthPayload, Session};
use crate::app::App;
use crate::chat::lifecycle::{self, SearchQuery};
use crate::chat::messages::{self, HistoryQuery, MessagePage, SendInput};
use crate::chat::presence::{self, Subject};
use crate::chat::privacy;
use crate::chat::rooms::{self, CreateRoom};
use crate::chat::safety::{self, InviteOptions, JoinOutcome, ReportInput};
use crate::domain::privacy::{ChannelEntry, Invite, PrivacyChange, PrivacySettings, Report};
use crate::domain::{Hidden, Member, Message, Presence, Room, RoomId, Seq, User, UserId};
use crate::error::{AppError, AppResult};

/// Every client→server event name, as `register` installs them.
pub const CLIENT_EVENTS: &[&str] = &[
    "auth",
    "message:send",
    "message:ack",
    "message:read",
    "typing",
    "history",
    "rooms:list",
    "room:create",
    "room:join",
    "room:leave",
    "room:add",
    "room:remove",
    "presence:query",
    "profile:update",
    "message:edit",
    "message:delete",
    "message:react",
    "message:hide",
    "hidden:list",
    "message:forward",
    "search",
    "block",
    "unblock",
    "blocks:list",
    "privacy:get",
    "privacy:set",
    "invite:create",
    "invite:revoke",
    "invite:join",
    "channels:search",
    "report",
];

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
    on(s, "message:edit", message_edit);
    on(s, "message:delete", message_delete);
    on(s, "message:react", message_react);
    on(s, "message:hide", message_hide);
    on(s, "hidden:list", hidden_list);
    on(s, "message:forward", message_forward);
    on(s, "search", search);
    on(s, "block", block);
    on(s, "unblock", unblock);
    on(s, "blocks:list", blocks_list);
    on(s, "privacy:get", privacy_get);
    on(s, "privacy:set", privacy_set);
    on(s, "invite:create", invite_create);
    on(s, "invite:revoke", invite_revoke);
    on(s, "invite:join", invite_join);
    on(s, "channels:search", channels_search);
    on(s, "report", report);
}

/// A successful ack: `{"ok": true}` and the payload's fields.
#[derive(Serialize)]
struct Ack<T> {
    ok: bool,
    #[serde(flatten)]
    data: T,
}

/// An ack with nothing but `ok`.
#[derive(Serialize)]
pub struct Done {}

#[derive(Serialize)]
pub struct MessageAck {
    pub message: Message,
}

#[derive(Serialize)]
pub struct RoomsAck {
    pub rooms: Vec<Room>,
}

#[derive(Serialize)]
pub struct RoomAck {
    pub room: Room,
}

#[derive(Serialize)]
pub struct MemberAck {
    pub member: Member,
}

#[derive(Serialize)]
pub struct PresenceAck {
    pub presence: Vec<Presence>,
}

#[derive(Serialize)]
pub struct UserAck {
    pub user: User,
}

/// An event with no payload arrives as null; read it as `{}`.
fn parse<T: DeserializeOwned>(data: Result<Value, socketioxide::ParserError>) -> AppResult<T> {
    let value = match data {
        Ok(Value::Null) | Err(_) => json!({}),
        Ok(v) => v,
    };
    serde_json::from_value(value).map_err(|e| AppError::invalid(format!("malformed payload: {e}")))
}

/// The span of one client event: the socket's id (the request id of a socket), the event,
/// and the authenticated user — never the payload, which may hold a message body.
fn event_span<A: Adapter>(socket: &SocketRef<A>, event: &'static str) -> tracing::Span {
    let user = session::session(socket).map(|s| s.user.0);
    tracing::info_span!("socket_event", socket_id = %socket.id, event, user_id = user)
}

fn reply<A: Adapter, T: Serialize>(ack: AckSender<A>, result: AppResult<T>) {
    match &result {
        Ok(_) => tracing::debug!("event handled"),
        Err(e) => tracing::debug!(code = e.code(), "event refused"),
    }
    // Without an ack callback there is nobody to answer: the event was still processed.
    let _ = match result {
        Ok(data) => ack.send(&Ack { ok: true, data }),
        Err(e) => ack.send(&e.ack()),
    };
}

fn on<A, T, R, F, Fut>(s: &SocketRef<A>, event: &'static str, handler: F)
where
    A: Adapter,
    T: DeserializeOwned + Send + 'static,
    R: Serialize + Send + 'static,
    F: Fn(Ctx<A>, T) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = AppResult<R>> + Send + 'static,
{
    debug_assert!(
        CLIENT_EVENTS.contains(&event),
        "{event} is not in CLIENT_EVENTS"
    );
    s.on(
        event,
        move |socket: SocketRef<A>,
              State(app): State<App>,
              TryData(data): TryData<Value>,
              ack: AckSender<A>| {
            let handler = handler.clone();
            let span = event_span(&socket, event);
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
            .instrument(span)
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
/// before the handler's task is spawned (see `chat::order`).
fn on_send<A: Adapter>(s: &SocketRef<A>) {
    s.on(
        "message:send",
        |socket: SocketRef<A>,
         State(app): State<App>,
         TryData(data): TryData<Value>,
         ack: AckSender<A>| {
            let sess = session::session(&socket);
            let ticket = sess.as_ref().map(|sess| sess.sends.ticket());
            // Held until the ack is queued, so a shutdown closes this socket only after it.
            let in_flight = app.drain.enter();
            let span = event_span(&socket, "message:send");
            async move {
                // Every ticket waits its turn, even one about to fail: releasing out of turn would
                // let a later send overtake an earlier one.
                if let Some(ticket) = &ticket {
                    ticket.wait_turn().await;
                }
                let result = match (sess, parse::<SendInput>(data)) {
                    _ if in_flight.is_none() => Err(AppError::Unavailable),
                    (None, _) => Err(AppError::Unauthenticated),
                    (Some(_), Err(e)) => Err(e),
                    (Some(sess), Ok(input)) => {
                        messages::send_ordered(&app, sess.user, input, ticket)
                            .await
                            .map(|message| MessageAck { message })
                    }
                };
                reply(ack, result);
                drop(in_flight);
            }
            .instrument(span)
        },
    );
}

#[derive(Deserialize)]
struct SeqPayload {
    room_id: RoomId,
    seq: Seq,
}

async fn message_ack<A: Adapter>(c: Ctx<A>, p: SeqPayload) -> AppResult<Done> {
    messages::mark_delivered(&c.app, c.user, p.room_id, p.seq).await?;
    Ok(Done {})
}

async fn message_read<A: Adapter>(c: Ctx<A>, p: SeqPayload) -> AppResult<Done> {
    messages::mark_read(&c.app, c.user, p.room_id, p.seq).await?;
    Ok(Done {})
}

#[derive(Deserialize)]
struct TypingPayload {
    room_id: RoomId,
    typing: bool,
}

async fn typing<A: Adapter>(c: Ctx<A>, p: TypingPayload) -> AppResult<Done> {
    crate::chat::typing(&c.app, c.user, p.room_id, p.typing).await?;
    Ok(Done {})
}

async fn history<A: Adapter>(c: Ctx<A>, q: HistoryQuery) -> AppResult<MessagePage> {
    let room = q
        .room_id
        .ok_or_else(|| AppError::invalid("room_id is required"))?;
    messages::history(&c.app, c.user, room, &q).await
}

async fn rooms_list<A: Adapter>(c: Ctx<A>, _: Value) -> AppResult<RoomsAck> {
    Ok(RoomsAck {
        rooms: rooms::list(&c.app, c.user).await?,
    })
}

async fn room_create<A: Adapter>(c: Ctx<A>, input: CreateRoom) -> AppResult<RoomAck> {
    Ok(RoomAck {
        room: rooms::create(&c.app, c.user, input).await?,
    })
}

#[derive(Deserialize)]
struct RoomPayload {
    room_id: RoomId,
}

async fn room_join<A: Adapter>(c: Ctx<A>, p: RoomPayload) -> AppResult<RoomAck> {
    rooms::add_member(&c.app, c.user, p.room_id, c.user).await?;
    Ok(RoomAck {
        room: rooms::room_for(&c.app, p.room_id, c.user).await?,
    })
}

async fn room_leave<A: Adapter>(c: Ctx<A>, p: RoomPayload) -> AppResult<Done> {
    rooms::remove_member(&c.app, c.user, p.room_id, c.user).await?;
    Ok(Done {})
}

#[derive(Deserialize)]
struct MemberPayload {
    room_id: RoomId,
    user_id: UserId,
}

async fn room_add<A: Adapter>(c: Ctx<A>, p: MemberPayload) -> AppResult<MemberAck> {
    Ok(MemberAck {
        member: rooms::add_member(&c.app, c.user, p.room_id, p.user_id).await?,
    })
}

async fn room_remove<A: Adapter>(c: Ctx<A>, p: MemberPayload) -> AppResult<Done> {
    rooms::remove_member(&c.app, c.user, p.room_id, p.user_id).await?;
    Ok(Done {})
}

#[derive(Deserialize)]
struct PresenceQuery {
    user_ids: Option<Vec<UserId>>,
    room_id: Option<RoomId>,
}

async fn presence_query<A: Adapter>(c: Ctx<A>, q: PresenceQuery) -> AppResult<PresenceAck> {
    let subject = match (q.user_ids, q.room_id) {
        (Some(ids), None) => Subject::Users(ids),
        (None, Some(room)) => Subject::Room(room),
        _ => {
            return Err(AppError::invalid(
                "give exactly one of user_ids and room_id",
            ));
        }
    };
    Ok(PresenceAck {
        presence: presence::query_for(&c.app, c.user, subject).await?,
    })
}

#[derive(Deserialize)]
struct ProfilePayload {
    display_name: String,
}

async fn profile_update<A: Adapter>(c: Ctx<A>, p: ProfilePayload) -> AppResult<UserAck> {
    Ok(UserAck {
        user: crate::chat::update_profile(&c.app, c.user, &p.display_name).await?,
    })
}

#[derive(Deserialize)]
struct EditPayload {
    room_id: RoomId,
    seq: Seq,
    body: String,
}

async fn message_edit<A: Adapter>(c: Ctx<A>, p: EditPayload) -> AppResult<MessageAck> {
    Ok(MessageAck {
        message: lifecycle::edit(&c.app, c.user, p.room_id, p.seq, p.body).await?,
    })
}

async fn message_delete<A: Adapter>(c: Ctx<A>, p: SeqPayload) -> AppResult<Done> {
    lifecycle::delete(&c.app, c.user, p.room_id, p.seq).await?;
    Ok(Done {})
}

#[derive(Deserialize)]
struct ReactPayload {
    room_id: RoomId,
    seq: Seq,
    emoji: String,
}

async fn message_react<A: Adapter>(c: Ctx<A>, p: ReactPayload) -> AppResult<MessageAck> {
    Ok(MessageAck {
        message: lifecycle::react(&c.app, c.user, p.room_id, p.seq, &p.emoji).await?,
    })
}

async fn message_hide<A: Adapter>(c: Ctx<A>, p: SeqPayload) -> AppResult<Done> {
    lifecycle::hide(&c.app, c.user, p.room_id, p.seq).await?;
    Ok(Done {})
}

#[derive(Deserialize)]
struct HiddenListPayload {
    after: Option<i64>,
}

#[derive(Serialize)]
pub struct HiddenAck {
    pub hidden: Vec<Hidden>,
}

async fn hidden_list<A: Adapter>(c: Ctx<A>, p: HiddenListPayload) -> AppResult<HiddenAck> {
    Ok(HiddenAck {
        hidden: lifecycle::hidden_list(&c.app, c.user, p.after).await?,
    })
}

#[derive(Deserialize)]
struct ForwardPayload {
    room_id: RoomId,
    seq: Seq,
    to_room_id: RoomId,
}

async fn message_forward<A: Adapter>(c: Ctx<A>, p: ForwardPayload) -> AppResult<MessageAck> {
    Ok(MessageAck {
        message: lifecycle::forward(&c.app, c.user, p.room_id, p.seq, p.to_room_id).await?,
    })
}

async fn search<A: Adapter>(c: Ctx<A>, q: SearchQuery) -> AppResult<MessagePage> {
    lifecycle::search(&c.app, c.user, &q).await
}

#[derive(Deserialize)]
struct UserPayload {
    user_id: UserId,
}

async fn block<A: Adapter>(c: Ctx<A>, p: UserPayload) -> AppResult<Done> {
    privacy::block(&c.app, c.user, p.user_id).await?;
    Ok(Done {})
}

async fn unblock<A: Adapter>(c: Ctx<A>, p: UserPayload) -> AppResult<Done> {
    privacy::unblock(&c.app, c.user, p.user_id).await?;
    Ok(Done {})
}

#[derive(Serialize)]
pub struct UsersAck {
    pub users: Vec<User>,
}

async fn blocks_list<A: Adapter>(c: Ctx<A>, _: Value) -> AppResult<UsersAck> {
    Ok(UsersAck {
        users: privacy::blocks(&c.app, c.user).await?,
    })
}

#[derive(Serialize)]
pub struct PrivacyAck {
    pub privacy: PrivacySettings,
}

async fn privacy_get<A: Adapter>(c: Ctx<A>, _: Value) -> AppResult<PrivacyAck> {
    Ok(PrivacyAck {
        privacy: privacy::settings(&c.app, c.user).await?,
    })
}

async fn privacy_set<A: Adapter>(c: Ctx<A>, p: PrivacyChange) -> AppResult<PrivacyAck> {
    Ok(PrivacyAck {
        privacy: privacy::update_settings(&c.app, c.user, p).await?,
    })
}

#[derive(Deserialize)]
struct InviteCreatePayload {
    room_id: RoomId,
    #[serde(flatten)]
    options: InviteOptions,
}

#[derive(Serialize)]
pub struct InviteAck {
    pub invite: Invite,
}

async fn invite_create<A: Adapter>(c: Ctx<A>, p: InviteCreatePayload) -> AppResult<InviteAck> {
    Ok(InviteAck {
        invite: safety::create_invite(&c.app, c.user, p.room_id, p.options).await?,
    })
}

#[derive(Deserialize)]
struct TokenPayload {
    token: String,
}

async fn invite_revoke<A: Adapter>(c: Ctx<A>, p: TokenPayload) -> AppResult<Done> {
    safety::revoke_invite(&c.app, c.user, &p.token).await?;
    Ok(Done {})
}

async fn invite_join<A: Adapter>(c: Ctx<A>, p: TokenPayload) -> AppResult<JoinOutcome> {
    safety::join(&c.app, c.user, &p.token).await
}

#[derive(Deserialize)]
struct ChannelSearchPayload {
    q: Option<String>,
    limit: Option<i64>,
}

#[derive(Serialize)]
pub struct ChannelsAck {
    pub channels: Vec<ChannelEntry>,
}

async fn channels_search<A: Adapter>(c: Ctx<A>, p: ChannelSearchPayload) -> AppResult<ChannelsAck> {
    Ok(ChannelsAck {
        channels: safety::search_channels(&c.app, p.q.as_deref(), p.limit).await?,
    })
}

#[derive(Serialize)]
pub struct ReportAck {
    pub report: Report,
}

async fn report<A: Adapter>(c: Ctx<A>, p: ReportInput) -> AppResult<ReportAck> {
    Ok(ReportAck {
        report: safety::report(&c.app, c.user, p).await?,
    })
}

#[cfg(test)]
mod tests {
    use super::CLIENT_EVENTS;
    use crate::domain::events::ServerEvent;

    /// The contract in the repository names every event the code handles or emits.
    #[test]
    fn every_event_in_code_is_in_the_protocol_document() {
        let doc = include_str!("../../docs/protocol.md");
        let missing: Vec<&str> = CLIENT_EVENTS
            .iter()
            .chain(ServerEvent::NAMES)
            .filter(|name| !doc.contains(&format!("`{name}`")))
            .copied()
            .collect();
        assert!(
            missing.is_empty(),
            "docs/protocol.md does not document {missing:?}"
        );
    }
}
