-- Privacy and safety: blocks, privacy settings, group invite links and join requests, channel
-- descriptions (the directory), reports, bans and the moderation audit log. Keep in step with
-- migrations/postgres/0005_privacy.sql.

-- A row means blocker_id blocks blocked_id. Looked up from either side.
create table blocks (
    blocker_id  integer not null references users (id) on delete cascade,
    blocked_id  integer not null references users (id) on delete cascade,
    created_at  integer not null,
    primary key (blocker_id, blocked_id)
);
create index blocks_blocked on blocks (blocked_id);

-- A user with no row has the defaults: last seen to contacts, read receipts on, anyone adds.
create table privacy_settings (
    user_id        integer primary key references users (id) on delete cascade,
    last_seen      text    not null default 'contacts' check (last_seen in ('everyone', 'contacts', 'nobody')),
    read_receipts  integer not null default 1,
    group_add      text    not null default 'everyone' check (group_add in ('everyone', 'contacts'))
);

-- The channel directory searches names and descriptions.
alter table rooms add column description text not null default '';

-- Group invite links: the token is the secret; revoked, expired or used-up links are not found.
create table room_invites (
    token       text    primary key,
    room_id     integer not null references rooms (id) on delete cascade,
    created_by  integer not null references users (id) on delete cascade,
    created_at  integer not null,
    expires_at  integer,
    max_uses    integer,
    uses        integer not null default 0,
    approval    integer not null default 0,
    revoked_at  integer
);
create index room_invites_room on room_invites (room_id);

-- Joins by a link that needs an admin's approval, waiting for it.
create table join_requests (
    room_id     integer not null references rooms (id) on delete cascade,
    user_id     integer not null references users (id) on delete cascade,
    created_at  integer not null,
    primary key (room_id, user_id)
);

create table reports (
    id              integer primary key autoincrement,
    reporter_id     integer not null references users (id) on delete cascade,
    target_user_id  integer not null references users (id) on delete cascade,
    room_id         integer references rooms (id) on delete set null,
    seq             integer,
    -- The reported message's body when it was reported, for the operators' eyes only.
    message_body    text,
    reason          text    not null,
    status          text    not null default 'open' check (status in ('open', 'resolved')),
    created_at      integer not null,
    resolved_at     integer,
    resolved_by     integer references users (id)
);
create index reports_status on reports (status, id);

-- Bans by operators: who banned and why. `users.banned_at` (0002) is the flag that logins and
-- refreshes check; a ban through the operator API sets both, `missive user ban` only the flag.
create table user_bans (
    user_id     integer primary key references users (id) on delete cascade,
    banned_by   integer references users (id),
    reason      text    not null default '',
    banned_at   integer not null
);

-- Every moderation action, never updated or deleted by the server.
create table moderation_log (
    id              integer primary key autoincrement,
    actor_id        integer not null references users (id),
    action          text    not null,
    target_user_id  integer,
    room_id         integer,
    seq             integer,
    report_id       integer,
    detail          text    not null default '',
    created_at      integer not null
);
