//! What the nodes of a cluster share besides the database: node leases and cluster-wide
//! presence (`state`), and the rates that hold for the cluster (`limits`).

pub mod limits;
pub mod state;
