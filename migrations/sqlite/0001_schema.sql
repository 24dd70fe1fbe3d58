-- Missive schema, SQLite flavour. Keep it in step with migrations/postgres/0001_schema.sql:
-- the same tables, columns and indexes, so the store's SQL runs unchanged on both.
-- Times are integer milliseconds since the Unix epoch (sqlx's Any driver binds no date types).

create table users (
    id             integer primary key autoincrement,
    -- Lower-cased at the edge (Username::parse), so uniqueness is case-insensitive.
    username       text    not null unique,
    display_name   text    not null,
    password_hash  text    not null,
    created_at     integer not null,
    -- Access tokens issued (in milliseconds) at or before this are refused (logout-all).
    tokens_valid_after integer not null default 0,
    last_seen_at   integer
);

-- One row per refresh token ever issued. A login starts a family; each refresh marks its token
-- used and issues the next in the same family. Presenting a used token revokes the family.
create table refresh_tokens (
    jti         text    primary key,
    user_id     integer not null references users (id) on delete cascade,
    family      text    not null,
    expires_at  integer not null,
    used_at     integer,
    revoked_at  integer,
    created_at  integer not null
);
create index refresh_tokens_family on refresh_tokens (family);
create index refresh_tokens_user on refresh_tokens (user_id);

create table rooms (
    id           integer primary key autoincrement,
    kind         text    not null check (kind in ('direct', 'group', 'channel')),
    name         text    not null,
    owner_id     integer references users (id),
    max_members  integer,
    -- The room's stream position: bumped in the same transaction that stores a message, which
    -- both numbers messages without gaps and serialises writers per room.
    last_seq     integer not null default 0,
    created_at   integer not null,
    last_activity_at integer not null,
    -- "lower_id:higher_id" for direct rooms: one room per pair of users.
    direct_key   text unique
);

create table memberships (
    room_id        integer not null references rooms (id) on delete cascade,
    user_id        integer not null references users (id) on delete cascade,
    role           text    not null check (role in ('owner', 'admin', 'member')),
    joined_at      integer not null,
    -- The room's last_seq when the member joined: in direct rooms and groups, what came before
    -- is not theirs to read (channels are public and keep no such floor).
    joined_seq     integer not null default 0,
    -- Cursors: the user's devices together hold (delivered) and have shown (read) the stream up
    -- to here. The offline queue is simply the messages past delivered_seq.
    delivered_seq  integer not null default 0,
    read_seq       integer not null default 0,
    primary key (room_id, user_id)
);
create index memberships_user on memberships (user_id);

create table messages (
    id          integer primary key autoincrement,
    room_id     integer not null references rooms (id) on delete cascade,
    seq         integer not null,
    sender_id   integer not null references users (id),
    kind        text    not null check (kind in ('text', 'system')),
    body        text    not null,
    client_id   text,
    reply_to    integer,
    created_at  integer not null,
    unique (room_id, seq),
    -- Idempotent sends: a retried client_id finds the stored message.
    unique (sender_id, client_id)
);
