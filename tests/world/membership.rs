//! The chapter 6 part of a scenario: members of one cluster (in this
//! process, or each in a process of its own), and what each in-process
//! member has heard since it started.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use chapter_06::testing::{
    MemberProcess, PATIENCE, member_config, next_event_about, unique_cluster_id,
};
use chapter_06::{Member, Membership, MembershipConfig, MembershipEvent, Subscription};

/// What a chapter 6 scenario has running and has heard.
#[derive(Debug, Default)]
pub(crate) struct MembershipScenario {
    /// The scenario's own cluster id (scenarios run side by side).
    cluster: Option<String>,
    /// Every member's settings, by id, to start it again with the same ones.
    pub(crate) configs: BTreeMap<String, MembershipConfig>,
    /// Members running in this process, by id.
    pub(crate) members: BTreeMap<String, Membership>,
    /// Each in-process member's subscription, made when it started.
    subscriptions: BTreeMap<String, Subscription>,
    /// Members as they were before they were started again.
    pub(crate) previous_runs: BTreeMap<String, Member>,
    /// Members running as processes of their own, by id.
    pub(crate) processes: BTreeMap<String, MemberProcess>,
}

impl MembershipScenario {
    /// The settings for a new member `id` joining through `through`.
    fn config(&mut self, id: &str, through: Option<&str>) -> MembershipConfig {
        let cluster = self.cluster.get_or_insert_with(unique_cluster_id).clone();
        let seeds: Vec<SocketAddr> = through
            .map(|seed| self.configs[seed].gossip_addr)
            .into_iter()
            .collect();
        let config = member_config(id, &cluster, &seeds);
        self.configs.insert(id.to_string(), config.clone());
        config
    }

    /// Starts `id` in this process, joining through `through`.
    pub(crate) async fn start(&mut self, id: &str, through: Option<&str>) {
        let config = self.config(id, through);
        let membership = Membership::start(config).await.unwrap();
        self.subscriptions
            .insert(id.to_string(), membership.subscribe());
        self.members.insert(id.to_string(), membership);
    }

    /// Starts `id` as a process of its own, joining through `through`
    /// (or, with `None`, with the settings it had before).
    pub(crate) fn start_process(&mut self, id: &str, through: Option<&str>) {
        let config = match through {
            Some(_) => self.config(id, through),
            None => self.configs[id].clone(),
        };
        self.processes
            .insert(id.to_string(), MemberProcess::start(&config));
    }

    /// The in-process member `id`.
    pub(crate) fn member(&self, id: &str) -> &Membership {
        &self.members[id]
    }

    /// `id`'s published self, whether it runs here or in a process.
    pub(crate) fn published(&self, id: &str) -> Member {
        match self.members.get(id) {
            Some(membership) => membership.local().clone(),
            None => {
                let config = &self.configs[id];
                Member {
                    id: id.to_string(),
                    generation: self.processes[id].generation,
                    gossip_addr: config.gossip_addr,
                    rpc_addr: config.rpc_addr.clone(),
                    tags: config.tags.clone(),
                }
            }
        }
    }

    /// The next event `watcher` hears about `about` (events about others
    /// are passed over).
    pub(crate) async fn next_about(&mut self, watcher: &str, about: &str) -> MembershipEvent {
        let subscription = self.subscriptions.get_mut(watcher).unwrap();
        next_event_about(subscription, about, PATIENCE).await
    }
}
