-- The operator's console: each running node's latest figures (NodeStats as JSON), written every
-- second, so that any node can show the whole cluster. A node whose heartbeat is old has
-- stopped; rows an hour old are deleted. Keep in step with migrations/postgres/0006_nodes.sql.
create table nodes (
    id            text    primary key,
    heartbeat_at  integer not null,
    stats         text    not null
);
