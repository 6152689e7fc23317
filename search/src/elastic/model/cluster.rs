//! `GET /` (who answers) and `GET _cluster/health`.

use serde::Serialize;

/// What clients read to tell what they talk to.
#[derive(Clone, Debug, Serialize)]
pub struct ClusterInfo {
    pub name: &'static str,
    pub cluster_name: &'static str,
    pub cluster_uuid: &'static str,
    pub version: ClusterVersion,
    pub tagline: &'static str,
}

#[derive(Clone, Debug, Serialize)]
pub struct ClusterVersion {
    pub distribution: &'static str,
    pub number: &'static str,
    pub build_flavor: &'static str,
    pub build_type: &'static str,
    pub build_hash: &'static str,
    pub build_date: &'static str,
    pub build_snapshot: bool,
    pub lucene_version: &'static str,
    pub minimum_wire_compatibility_version: &'static str,
    pub minimum_index_compatibility_version: &'static str,
}

/// One node, always green while it answers; the numbers clients and dashboards read.
#[derive(Clone, Debug, Serialize)]
pub struct ClusterHealth {
    pub cluster_name: &'static str,
    pub status: &'static str,
    pub timed_out: bool,
    pub number_of_nodes: u32,
    pub number_of_data_nodes: u32,
    pub active_primary_shards: usize,
    pub active_shards: usize,
    pub relocating_shards: u32,
    pub initializing_shards: u32,
    pub unassigned_shards: u32,
    pub delayed_unassigned_shards: u32,
    pub number_of_pending_tasks: u32,
    pub number_of_in_flight_fetch: u32,
    pub task_max_waiting_in_queue_millis: u64,
    pub active_shards_percent_as_number: f64,
}
