-- Notifications for devices that are not connected (Web Push and push gateways), and mutes.
-- Keep in step with migrations/postgres/0004_push.sql.

-- Where a device's login asks to be notified. `family` is the login (the refresh-token family
-- of docs/protocol.md): logging out removes its pushers.
create table pushers (
    id          integer primary key autoincrement,
    user_id     integer not null references users (id) on delete cascade,
    family      text,
    kind        text    not null check (kind in ('webpush', 'gateway')),
    -- The push service's endpoint (Web Push) or the gateway's URL.
    url         text    not null,
    -- Web Push: the subscription's P-256 public key and auth secret (base64url).
    p256dh      text,
    auth        text,
    -- Gateway: the device's token at the app's relay (e.g. an FCM or APNs token) and app id.
    pushkey     text,
    app_id      text,
    created_at  integer not null,
    unique (user_id, url)
);
create index pushers_family on pushers (family);

-- A person's mute of a room, shared by all their devices; `until` null means for good.
create table room_mutes (
    user_id     integer not null references users (id) on delete cascade,
    room_id     integer not null references rooms (id) on delete cascade,
    until       integer,
    primary key (user_id, room_id)
);

-- The notifier's own cursor into each room's stream: entries up to `seq` have been turned into
-- pending notifications. Rooms without a row start at 0 (they are newer than this migration).
create table push_cursors (
    room_id     integer primary key references rooms (id) on delete cascade,
    seq         integer not null
);
-- Existing history is not news.
insert into push_cursors (room_id, seq) select id, last_seq from rooms;

-- One coalesced notification waiting to be sent, per person and room.
create table push_pending (
    user_id     integer not null references users (id) on delete cascade,
    room_id     integer not null references rooms (id) on delete cascade,
    -- The newest message it is about.
    last_seq    integer not null,
    first_at    integer not null,
    due_at      integer not null,
    primary key (user_id, room_id)
);

-- The one row saying which node notifies (a lease), and the generated VAPID key when the
-- database keeps it (Postgres: every node must share it).
create table push_state (
    id           integer primary key check (id = 1),
    lease_owner  text,
    lease_until  integer not null default 0,
    vapid_key    text
);
insert into push_state (id) values (1);
