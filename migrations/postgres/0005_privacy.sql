-- Privacy and safety: blocks, privacy settings, group invite links and join requests, channel
-- descriptions (the directory), reports, bans and the moderation audit log. Keep in step with
-- migrations/sqlite/0005_privacy.sql.

-- A row means blocker_id blocks blocked_id. Looked up from either side.
create table blocks (
    blocker_id  bigint  not null references users (id) on delete cascade,
    blocked_id  bigint  not null references users (id) on delete cascade,
    created_at  bigint  not null,
    primary key (blocker_id, blocked_id)
);
create index blocks_blocked on blocks (blocked_id);

-- A user with no row has the defaults: last seen to contacts, read receipts on, anyone adds.
create table privacy_settings (
    user_id        bigint  primary key references users (id) on delete cascade,
    last_seen      text    not null default 'contacts' check (last_seen in ('everyone', 'contacts', 'nobody')),
    read_receipts  bigint  not null default 1,
    group_add      text    not null default 'everyone' check (group_add in ('everyone', 'contacts'))
);

-- The channel directory searches names and descriptions.
alter table rooms add column description text not null default '';

-- Group invite links: the token is the secret; revoked, expired or used-up links are not found.
create table room_invites (
    token       text    primary key,
    room_id     bigint  not null references rooms (id) on delete cascade,
    created_by  bigint  not null references users (id) on delete cascade,
    created_at  bigint  not null,
    expires_at  bigint,
    max_uses    bigint,
    uses        bigint  not null default 0,
    approval    bigint  not null default 0,
    revoked_at  bigint
);
create index room_invites_room on room_invites (room_id);

-- Joins by a link that needs an admin's approval, waiting for it.
create table join_requests (
    room_id     bigint  not null references rooms (id) on delete cascade,
    user_id     bigint  not null references users (id) on delete cascade,
    created_at  bigint  not null,
    primary key (room_id, user_id)
);

create table reports (
    id              bigserial primary key,
    reporter_id     bigint  not null references users (id) on delete cascade,
    target_user_id  bigint  not null references users (id) on delete cascade,
    room_id         bigint  references rooms (id) on delete set null,
    seq             bigint,
    -- The reported message's body when it was reported, for the operators' eyes only.
    message_body    text,
    reason          text    not null,
    status          text    not null default 'open' check (status in ('open', 'resolved')),
    created_at      bigint  not null,
    resolved_at     bigint,
    resolved_by     bigint  references users (id)
);
create index reports_status on reports (status, id);

-- Bans by operators: who banned and why. `users.banned_at` (0002) is the flag that logins and
-- refreshes check; a ban through the operator API sets both, `missive user ban` only the flag.
create table user_bans (
    user_id     bigint  primary key references users (id) on delete cascade,
    banned_by   bigint  references users (id),
    reason      text    not null default '',
    banned_at   bigint  not null
);

-- Every moderation action, never updated or deleted by the server.
create table moderation_log (
    id              bigserial primary key,
    actor_id        bigint  not null references users (id),
    action          text    not null,
    target_user_id  bigint,
    room_id         bigint,
    seq             bigint,
    report_id       bigint,
    detail          text    not null default '',
    created_at      bigint  not null
);
