-- Shared state of a cluster on MISSIVE_BUS=postgres (src/cluster/): node leases, who is
-- connected where, and failed logins. A SQLite server is one node and keeps this in memory;
-- the tables exist there too only so that both schemas stay alike. Keep in step with
-- migrations/postgres/0009_cluster_state.sql.

-- One row per running node: it renews `expires_at` every MISSIVE_NODE_HEARTBEAT; a row past
-- its `expires_at` is a dead node, and the first node to delete it reaps its sockets.
create table node_leases (
    node_id       text   primary key,
    heartbeat_at  integer not null,
    expires_at    integer not null
);

-- Sockets of each user on each node (rows at 0 are swept by their node).
create table presence_sockets (
    node_id  text    not null,
    user_id  integer not null,
    sockets  integer not null,
    primary key (node_id, user_id)
);
create index presence_sockets_user on presence_sockets (user_id);

-- Each user announced online: sockets over every live node, a version bumped on every change
-- (so a delayed offline announcement can tell it is stale), when it last changed (the
-- last_seen_at of a user whose count reached 0), and on how many nodes they have sockets (for
-- the cluster-wide rates). The row is deleted by whoever announces the user offline, so that
-- exactly one node does.
create table presence_users (
    user_id     integer primary key,
    sockets     integer not null,
    version     integer not null,
    changed_at  integer not null,
    nodes       integer not null
);
create index presence_users_idle on presence_users (changed_at) where sockets <= 0;
create index presence_users_multi on presence_users (user_id) where nodes > 1;

-- Wrong passwords per account and address (the failed-login throttle), for 15 minutes.
create table login_failures (
    username   text   not null,
    addr       text   not null,
    failed_at  integer not null
);
create index login_failures_key on login_failures (username, addr, failed_at);
create index login_failures_at on login_failures (failed_at);
