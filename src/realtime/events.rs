//! Every client→server event of `docs/protocol.md`, registered in `register` (the one list to
//! read; [`CLIENT_EVENTS`] names them), each handled by a small function that calls the shared
//! operation in `chat` and returns its typed ack.
//!
//! `on` wraps a handler with what all events share: guests are refused `unauthenticated`, the
//! payload is parsed (`invalid` when malformed), and the result becomes the ack —
//! `{"ok": true, ...fields}` or `{"ok": false, "error": {...}}`.

use std::future::Future;
use std::num::NonZeroU32;
use std::sync::Arc;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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

/// Every client→server event name, as `register` installs them. A new one goes at the end:
/// the fuzz corpus picks events by their index here (`fuzz/corpus/client_payloads`).
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

/// What a handler gets: the app, the socket, its authenticated user, and its event budget.
pub struct Ctx<A: Adapter> {
    pub app: App,
    pub socket: SocketRef<A>,
    pub user: UserId,
    pub budget: Arc<Budget>,
}

/// Most events of one socket being handled at once; past it, events are answered
/// `rate_limited` without being run, so one socket cannot queue unbounded work (or hold the
/// database pool) however fast it sends.
pub const MAX_IN_FLIGHT: usize = 256;

/// What one socket may spend: events in flight, and a token bucket every event kind draws on
/// (`MISSIVE_EVENT_RATE`), with costly events drawing more.
pub struct Budget {
    in_flight: Arc<Semaphore>,
    rate: Option<DefaultDirectRateLimiter>,
}

impl Budget {
    pub fn new(per_second: u32) -> Self {
        let rate = NonZeroU32::new(per_second).map(|rate| {
            let burst = rate.saturating_mul(NonZeroU32::new(2).unwrap());
            governor::RateLimiter::direct(Quota::per_second(rate).allow_burst(burst))
        });
        Self {
            in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
            rate,
        }
    }

    /// Takes `cost` tokens, or `rate_limited` with the wait.
    pub fn charge(&self, cost: u32) -> AppResult<()> {
        let (Some(rate), Some(cost)) = (&self.rate, NonZeroU32::new(cost)) else {
            return Ok(());
        };
        match rate.check_n(cost) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(AppError::RateLimited {
                retry_after_ms: (not_until
                    .wait_time_from(DefaultClock::default().now())
                    .as_millis() as u64)
                    .max(1),
            }),
            // More than a whole burst: it can never be afforded.
            Err(_) => Err(AppError::RateLimited {
                retry_after_ms: 1000,
            }),
        }
    }

    /// One event's admission: a place among those in flight and one token.
    fn admit(&self) -> AppResult<OwnedSemaphorePermit> {
        let permit = self.place()?;
        self.charge(1)?;
        Ok(permit)
    }

    /// A place among the events in flight.
    fn place(&self) -> AppResult<OwnedSemaphorePermit> {
        self.in_flight
            .clone()
            .try_acquire_owned()
            .map_err(|_| AppError::RateLimited {
                retry_after_ms: 100,
            })
    }
}

pub fn register<A: Adapter>(s: &SocketRef<A>, app: &App) {
    crate::delivery::outbox::open(s);
    let budget = Arc::new(Budget::new(app.config.event_rate));
    on_auth(s, budget.clone());
    on_send(s, budget.clone());
    on(s, &budget, "message:ack", message_ack);
    on(s, &budget, "message:read", message_read);
    on(s, &budget, "typing", typing);
    on(s, &budget, "history", history);
    on(s, &budget, "rooms:list", rooms_list);
    on(s, &budget, "room:create", room_create);
    on(s, &budget, "room:join", room_join);
    on(s, &budget, "room:leave", room_leave);
    on(s, &budget, "room:add", room_add);
    on(s, &budget, "room:remove", room_remove);
    on(s, &budget, "presence:query", presence_query);
    on(s, &budget, "profile:update", profile_update);
    on(s, &budget, "message:edit", message_edit);
    on(s, &budget, "message:delete", message_delete);
    on(s, &budget, "message:react", message_react);
    on(s, &budget, "message:hide", message_hide);
    on(s, &budget, "hidden:list", hidden_list);
    on(s, &budget, "message:forward", message_forward);
    on(s, &budget, "search", search);
    on(s, &budget, "block", block);
    on(s, &budget, "unblock", unblock);
    on(s, &budget, "blocks:list", blocks_list);
    on(s, &budget, "privacy:get", privacy_get);
    on(s, &budget, "privacy:set", privacy_set);
    on(s, &budget, "invite:create", invite_create);
    on(s, &budget, "invite:revoke", invite_revoke);
    on(s, &budget, "invite:join", invite_join);
    on(s, &budget, "channels:search", channels_search);
    on(s, &budget, "report", report);
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

/// Answers an event. The answer counts towards the socket's outbound bound: one that would go
/// over it closes the socket instead (`delivery::admit_outbound`).
fn reply<A: Adapter, T: Serialize>(
    socket: &SocketRef<A>,
    app: &App,
    ack: AckSender<A>,
    result: AppResult<T>,
) {
    match &result {
        Ok(_) => tracing::debug!("event handled"),
        Err(e) => tracing::debug!(code = e.code(), "event refused"),
    }
    let raw = match result {
        Ok(data) => serde_json::value::to_raw_value(&Ack { ok: true, data }),
        Err(e) => serde_json::value::to_raw_value(&e.ack()),
    };
    let raw = match raw {
        Ok(raw) => raw,
        Err(e) => {
            tracing::error!(error = %e, "serialising an answer failed");
            let internal = AppError::Internal(anyhow::anyhow!("the answer could not be encoded"));
            match serde_json::value::to_raw_value(&internal.ack()) {
                Ok(raw) => raw,
                Err(_) => return,
            }
        }
    };
    if crate::delivery::admit_outbound(socket, raw.get().len(), app.config.max_outbound_bytes) {
        // Without an ack callback there is nobody to answer: the event was still processed.
        let _ = ack.send(&raw);
    }
}

fn on<A, T, R, F, Fut>(s: &SocketRef<A>, budget: &Arc<Budget>, event: &'static str, handler: F)
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
    let budget = budget.clone();
    s.on(
        event,
        move |socket: SocketRef<A>,
              State(app): State<App>,
              TryData(data): TryData<Value>,
              ack: AckSender<A>| {
            let handler = handler.clone();
            let span = event_span(&socket, event);
            // Admitted synchronously, as the event arrives, so the bound holds however many
            // handler tasks are already spawned.
            let admitted = budget.admit();
            let budget = budget.clone();
            async move {
                let result = match (admitted, session::session(&socket), parse::<T>(data)) {
                    (Err(e), _, _) => Err(e),
                    (_, None, _) => Err(AppError::Unauthenticated),
                    (_, Some(_), Err(e)) => Err(e),
                    (Ok(_permit), Some(Session { user, .. }), Ok(payload)) => {
                        handler(
                            Ctx {
                                app: app.clone(),
                                socket: socket.clone(),
                                user,
                                budget,
                            },
                            payload,
                        )
                        .await
                    }
                };
                reply(&socket, &app, ack, result);
            }
            .instrument(span)
        },
    );
}

fn on_auth<A: Adapter>(s: &SocketRef<A>, budget: Arc<Budget>) {
    s.on(
        "auth",
        move |socket: SocketRef<A>,
              State(app): State<App>,
              TryData(data): TryData<Value>,
              ack: AckSender<A>| {
            let admitted = budget.admit();
            async move {
                let result = match (admitted, parse::<AuthPayload>(data)) {
                    (Err(e), _) => Err(e),
                    (Ok(_permit), Ok(payload)) => session::auth_event(&app, &socket, payload).await,
                    (Ok(_), Err(e)) => Err(e),
                };
                reply(&socket, &app, ack, result);
            }
        },
    );
}

/// `message:send`, registered by hand: its ticket is taken synchronously, in arrival order,
/// before the handler's task is spawned (see `chat::order`).
fn on_send<A: Adapter>(s: &SocketRef<A>, budget: Arc<Budget>) {
    s.on(
        "message:send",
        move |socket: SocketRef<A>,
              State(app): State<App>,
              TryData(data): TryData<Value>,
              ack: AckSender<A>| {
            // Sends have their own per-user bucket (`MISSIVE_SEND_RATE`, in `chat`), so they
            // take only a place in flight here. A refused send takes no ticket: it never
            // queues, so it cannot hold others up.
            let admitted = budget.place();
            let sess = session::session(&socket).filter(|_| admitted.is_ok());
            let ticket = sess.as_ref().map(|sess| sess.sends.ticket());
            // Held until the ack is queued, so a shutdown closes this socket only after it.
            let in_flight = app.drain.enter();
            let span = event_span(&socket, "message:send");
            let arrived = std::time::Instant::now();
            async move {
                // Every ticket waits its turn, even one about to fail: releasing out of turn would
                // let a later send overtake an earlier one.
                if let Some(ticket) = &ticket {
                    ticket.wait_turn().await;
                }
                let result = match (admitted, sess, parse::<SendInput>(data)) {
                    _ if in_flight.is_none() => Err(AppError::Unavailable),
                    (Err(e), _, _) => Err(e),
                    (Ok(_), None, _) => Err(AppError::Unauthenticated),
                    (Ok(_), Some(_), Err(e)) => Err(e),
                    (Ok(_permit), Some(sess), Ok(input)) => {
                        messages::send_ordered(&app, sess.user, input, ticket)
                            .await
                            .map(|message| MessageAck { message })
                    }
                };
                if result.is_ok() {
                    metrics::histogram!("missive_send_ack_seconds")
                        .record(arrived.elapsed().as_secs_f64());
                }
                reply(&socket, &app, ack, result);
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

/// Users a `presence:query` may name for the price of one event; each further block costs one
/// more token, so a socket's look-ups per second stay bounded, not just its queries.
const PRESENCE_IDS_PER_TOKEN: usize = 25;

async fn presence_query<A: Adapter>(c: Ctx<A>, q: PresenceQuery) -> AppResult<PresenceAck> {
    let subject = match (q.user_ids, q.room_id) {
        (Some(ids), None) => {
            c.budget
                .charge((ids.len() / PRESENCE_IDS_PER_TOKEN) as u32)?;
            Subject::Users(ids)
        }
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

/// Decodes `data` as the payload of client event `event` the way its handler does, then runs
/// the input checks that need no database (names, bodies, ids). For the fuzz targets in `fuzz/`
/// and the randomized test below: whatever a client sends must come back `Ok` or an error
/// of the contract, never a panic.
pub fn decode_payload(event: &str, data: Value) -> AppResult<()> {
    use crate::domain::{
        Username, check_body, check_emoji, check_password, parse_display_name, parse_room_name,
    };
    let data = Ok(data);
    match event {
        "auth" => {
            parse::<AuthPayload>(data)?;
        }
        "message:send" => {
            messages::check_send_input(&parse::<SendInput>(data)?, 4096)?;
        }
        "message:ack" | "message:read" | "message:delete" | "message:hide" => {
            parse::<SeqPayload>(data)?;
        }
        "typing" => {
            parse::<TypingPayload>(data)?;
        }
        "history" => {
            let q = parse::<HistoryQuery>(data)?;
            crate::domain::rules::page_limit(q.limit, 50, 200)?;
        }
        "rooms:list" | "blocks:list" | "privacy:get" => {
            parse::<Value>(data)?;
        }
        "room:create" => {
            let input = parse::<CreateRoom>(data)?;
            parse_room_name(&input.name)?;
        }
        "room:join" | "room:leave" => {
            parse::<RoomPayload>(data)?;
        }
        "room:add" | "room:remove" => {
            parse::<MemberPayload>(data)?;
        }
        "presence:query" => {
            parse::<PresenceQuery>(data)?;
        }
        "profile:update" => {
            parse_display_name(&parse::<ProfilePayload>(data)?.display_name)?;
        }
        "message:edit" => {
            check_body(&parse::<EditPayload>(data)?.body, 4096)?;
        }
        "message:react" => {
            check_emoji(&parse::<ReactPayload>(data)?.emoji)?;
        }
        "hidden:list" => {
            parse::<HiddenListPayload>(data)?;
        }
        "message:forward" => {
            parse::<ForwardPayload>(data)?;
        }
        "search" => {
            lifecycle::search_terms(&parse::<SearchQuery>(data)?)?;
        }
        "block" | "unblock" => {
            parse::<UserPayload>(data)?;
        }
        "privacy:set" => {
            PrivacySettings::default().apply(&parse::<PrivacyChange>(data)?);
        }
        "invite:create" => {
            parse::<InviteCreatePayload>(data)?.options.check()?;
        }
        "invite:revoke" | "invite:join" => {
            parse::<TokenPayload>(data)?;
        }
        "channels:search" => {
            let p = parse::<ChannelSearchPayload>(data)?;
            safety::channel_query(p.q.as_deref(), p.limit)?;
        }
        "report" => {
            crate::domain::rules::report_reason(&parse::<ReportInput>(data)?.reason)?;
        }
        // Not events: the REST bodies' string checks, reached through the same door.
        "register" => {
            #[derive(Deserialize)]
            struct Register {
                username: String,
                password: String,
            }
            let r = parse::<Register>(data)?;
            Username::parse(&r.username)?;
            check_password(&r.password)?;
        }
        _ => return Err(AppError::invalid(UNKNOWN_EVENT)),
    }
    Ok(())
}

/// What `decode_payload` answers for a name that is not a client event.
const UNKNOWN_EVENT: &str = "unknown event";

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

    /// A random JSON value of bounded depth, biased towards the fields the payloads have, so
    /// most values reach past the first type error.
    fn random_value(rng: &mut impl rand::Rng, depth: u32) -> serde_json::Value {
        use serde_json::{Value, json};
        const KEYS: &[&str] = &[
            "token",
            "cursors",
            "room_id",
            "to",
            "body",
            "client_id",
            "reply_to",
            "seq",
            "typing",
            "before_seq",
            "after_seq",
            "limit",
            "kind",
            "name",
            "members",
            "max_members",
            "user_id",
            "user_ids",
            "display_name",
            "username",
            "password",
            "attachments",
            "emoji",
            "to_room_id",
            "after",
            "q",
            "before",
            "last_seen",
            "read_receipts",
            "group_add",
            "expires_in",
            "max_uses",
            "approval",
            "reason",
            "description",
        ];
        const STRINGS: &[&str] = &[
            "",
            "1",
            "-1",
            "0",
            "18446744073709551616",
            "\u{0}",
            "a\u{0}b",
            "group",
            "channel",
            "direct",
            "🙂",
            "\u{202e}x",
            " ",
            "9223372036854775807",
            "1e400",
            "null",
        ];
        match rng.random_range(0..if depth == 0 { 6 } else { 8 }) {
            0 => Value::Null,
            1 => json!(rng.random::<bool>()),
            2 => json!(rng.random::<i64>() >> rng.random_range(0..64)),
            3 => json!(rng.random::<f64>() * 1e20 - 5e19),
            4 => json!(STRINGS[rng.random_range(0..STRINGS.len())]),
            5 => {
                let len = rng.random_range(0..300);
                json!(
                    (0..len)
                        .map(|_| char::from_u32(rng.random_range(0..0x11_0000)).unwrap_or('x'))
                        .collect::<String>()
                )
            }
            6 => Value::Array(
                (0..rng.random_range(0..5))
                    .map(|_| random_value(rng, depth - 1))
                    .collect(),
            ),
            _ => Value::Object(
                (0..rng.random_range(0..6))
                    .map(|_| {
                        let key = KEYS[rng.random_range(0..KEYS.len())].to_owned();
                        (key, random_value(rng, depth - 1))
                    })
                    .collect(),
            ),
        }
    }

    /// `decode_payload` (and so the fuzz target `client_payloads`, which picks its event from
    /// `CLIENT_EVENTS`) knows every client event: none falls through to "unknown event".
    #[test]
    fn the_decoder_knows_every_client_event() {
        use crate::error::AppError;
        for event in CLIENT_EVENTS {
            for value in [serde_json::Value::Null, serde_json::json!({})] {
                let result = super::decode_payload(event, value);
                assert!(
                    !matches!(&result, Err(AppError::Invalid(m)) if m == super::UNKNOWN_EVENT),
                    "decode_payload does not know {event}"
                );
            }
        }
        assert!(super::decode_payload("no:such", serde_json::Value::Null).is_err());
    }

    /// What the decoder accepts and refuses, event by event: a well-formed payload passes, and
    /// the checks without a database (bodies, emoji, limits, reasons, options) refuse.
    #[test]
    fn the_decoder_runs_each_events_input_checks() {
        use serde_json::json;
        let cases = [
            (
                "message:send",
                json!({"room_id": "1", "body": "hi", "client_id": "c-1"}),
                true,
            ),
            (
                "message:send",
                json!({"room_id": "1", "attachments": ["4", "5"]}),
                true,
            ),
            (
                "message:send",
                json!({"room_id": "1", "body": "", "attachments": []}),
                false,
            ),
            (
                "message:send",
                json!({"room_id": "1", "body": "x", "attachments": ["4", "4"]}),
                false,
            ),
            (
                "message:edit",
                json!({"room_id": "1", "seq": 2, "body": "fixed"}),
                true,
            ),
            (
                "message:edit",
                json!({"room_id": "1", "seq": 2, "body": ""}),
                false,
            ),
            (
                "message:react",
                json!({"room_id": "1", "seq": 2, "emoji": "👍"}),
                true,
            ),
            (
                "message:react",
                json!({"room_id": "1", "seq": 2, "emoji": "not an emoji"}),
                false,
            ),
            ("message:delete", json!({"room_id": "1", "seq": 2}), true),
            ("message:hide", json!({"room_id": "1"}), false),
            (
                "message:forward",
                json!({"room_id": "1", "seq": 2, "to_room_id": "3"}),
                true,
            ),
            ("hidden:list", json!({"after": 5}), true),
            ("search", json!({"q": "hello world", "limit": 20}), true),
            ("search", json!({"q": "  ,; "}), false),
            ("search", json!({"q": "a", "limit": 0}), false),
            ("block", json!({"user_id": "7"}), true),
            ("unblock", json!({}), false),
            ("blocks:list", json!(null), true),
            ("privacy:get", json!({}), true),
            (
                "privacy:set",
                json!({"last_seen": "nobody", "read_receipts": false}),
                true,
            ),
            ("privacy:set", json!({"last_seen": "friends"}), false),
            ("privacy:set", json!({"colour": "red"}), false),
            (
                "invite:create",
                json!({"room_id": "1", "expires_in": 3600, "max_uses": 5}),
                true,
            ),
            (
                "invite:create",
                json!({"room_id": "1", "expires_in": 0}),
                false,
            ),
            (
                "invite:create",
                json!({"room_id": "1", "max_uses": 1_000_001}),
                false,
            ),
            ("invite:revoke", json!({"token": "abc"}), true),
            ("invite:join", json!({}), false),
            ("channels:search", json!({"q": "rust", "limit": 10}), true),
            ("channels:search", json!({"q": "x".repeat(101)}), false),
            ("report", json!({"user_id": "7", "reason": "spam"}), true),
            (
                "report",
                json!({"room_id": "1", "seq": 2, "reason": "  "}),
                false,
            ),
        ];
        for (event, value, ok) in cases {
            let result = super::decode_payload(event, value.clone());
            assert_eq!(result.is_ok(), ok, "{event} {value}: {result:?}");
            if let Err(e) = result {
                assert_eq!(e.code(), "invalid", "{event} {value}");
            }
        }
    }

    /// The fuzz target's corpus has a seed for every client event, named after it, starting
    /// with the byte that picks it (its index in `CLIENT_EVENTS`), with a payload it accepts.
    #[test]
    fn every_client_event_has_a_fuzz_seed() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus/client_payloads");
        for (i, event) in CLIENT_EVENTS.iter().enumerate() {
            let path = format!("{dir}/{}", event.replace(':', "_"));
            let seed = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            assert_eq!(
                seed.first(),
                Some(&(i as u8)),
                "{path} must start with byte {i}, the index of {event} in CLIENT_EVENTS"
            );
            let value = serde_json::from_slice(&seed[1..]).expect("a JSON payload");
            let decoded = super::decode_payload(event, value);
            assert!(decoded.is_ok(), "{path}: {decoded:?}");
        }
    }

    /// The stable, always-run counterpart of the cargo-fuzz target `client_payloads`.
    #[test]
    fn no_payload_of_any_shape_panics_a_decoder_and_every_refusal_is_invalid() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        for _ in 0..20_000 {
            let value = random_value(&mut rng, 3);
            for event in CLIENT_EVENTS.iter().chain(&["register"]) {
                if let Err(e) = super::decode_payload(event, value.clone()) {
                    assert_eq!(e.code(), "invalid", "{event} {value}: {e:?}");
                }
            }
        }
    }
}
