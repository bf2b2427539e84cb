//! From pictures to events. Gossip gives us *states*: after each round,
//! the set of members the failure detector holds alive, and what each
//! publishes. Subscribers want *changes*: joined, updated, left, failed.
//! [`View`] keeps the last picture, and turns the next one into the
//! changes between them ([`View::apply`]); it can also tell a subscriber
//! that has fallen behind what it has missed ([`View::catch_up`]).
//!
//! No sockets and no clocks the caller does not give: the state machine is
//! tested on its own, below.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::event::MembershipEvent;
use crate::member::{Member, Observed};

/// The membership as the event task last saw it.
#[derive(Debug, Default)]
pub(crate) struct View {
    /// The number of events published so far: the last event's number.
    seq: u64,
    /// The other members alive now, by id.
    live: BTreeMap<String, Member>,
    /// How each member that is not alive went away, last time.
    departed: BTreeMap<String, Departure>,
    /// The largest generation seen of each id: older runs are ignored.
    newest: BTreeMap<String, u64>,
}

/// How a member went away.
#[derive(Debug, Clone)]
struct Departure {
    /// The member as it was last seen.
    member: Member,
    /// True when it said it was leaving; false when it was taken for dead.
    left: bool,
    /// When it went.
    at: Instant,
}

impl View {
    /// The other members alive now, by id.
    pub(crate) fn live(&self) -> impl Iterator<Item = &Member> {
        self.live.values()
    }

    /// The number of the last event published.
    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }

    /// Numbers the next event.
    pub(crate) fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Takes the next picture (the live members, by id, as [`observe`]
    /// reads them), and returns what changed, in id order.
    ///
    /// [`observe`]: crate::member::observe
    // ANCHOR: apply
    pub(crate) fn apply(&mut self, picture: BTreeMap<String, Observed>) -> Vec<MembershipEvent> {
        let mut events = Vec::new();
        let ids: BTreeSet<String> = picture.keys().chain(self.live.keys()).cloned().collect();
        for id in ids {
            // A run older than one already seen is a stale echo: ignore it.
            let now = picture.get(&id).filter(|seen| {
                let newest = self.newest.entry(id.clone()).or_default();
                *newest = (*newest).max(seen.member.generation);
                seen.member.generation == *newest
            });
            match (self.live.remove(&id), now) {
                // Gone silent: the failure detector no longer holds it alive.
                (Some(was), None) => events.push(self.depart(was, false)),
                // A new run replaced a run we thought alive: the old run failed.
                (Some(was), Some(now)) if was.generation < now.member.generation => {
                    events.push(self.depart(was, false));
                    if !now.leaving {
                        events.push(self.join(now.member.clone()));
                    }
                }
                // Same run, saying it is leaving.
                (Some(_), Some(now)) if now.leaving => {
                    events.push(self.depart(now.member.clone(), true));
                }
                // Same run, alive: maybe it changed what it publishes.
                (Some(was), Some(now)) => {
                    if was != now.member {
                        events.push(MembershipEvent::Updated(now.member.clone()));
                    }
                    self.live.insert(id, now.member.clone());
                }
                // New, or back after it was taken for dead.
                (None, Some(now)) if !now.leaving => events.push(self.join(now.member.clone())),
                // Leaving, or not there, and not live to us: nothing to say.
                (None, _) => {}
            }
        }
        events
    }
    // ANCHOR_END: apply

    /// Records `member` as live and says so.
    fn join(&mut self, member: Member) -> MembershipEvent {
        self.live.insert(member.id.clone(), member.clone());
        MembershipEvent::Joined(member)
    }

    /// Records how `member` went (it is no longer in `live`) and says so.
    fn depart(&mut self, member: Member, left: bool) -> MembershipEvent {
        let departure = Departure {
            member: member.clone(),
            left,
            at: Instant::now(),
        };
        self.departed.insert(member.id.clone(), departure);
        if left {
            MembershipEvent::Left(member)
        } else {
            MembershipEvent::Failed(member)
        }
    }

    /// The events that take a subscriber who believes `known` are the live
    /// members to the members live now, in id order. Intermediate changes it
    /// missed are folded: a member that joined and went in between is not
    /// mentioned at all.
    // ANCHOR: catch_up
    pub(crate) fn catch_up(&self, known: &BTreeMap<String, Member>) -> Vec<MembershipEvent> {
        let mut events = Vec::new();
        let ids: BTreeSet<&String> = known.keys().chain(self.live.keys()).collect();
        for id in ids {
            match (known.get(id), self.live.get(id)) {
                (Some(was), None) => events.push(self.departure_of(was)),
                (Some(was), Some(now)) if was.generation != now.generation => {
                    events.push(self.departure_of(was));
                    events.push(MembershipEvent::Joined(now.clone()));
                }
                (Some(was), Some(now)) if was != now => {
                    events.push(MembershipEvent::Updated(now.clone()));
                }
                (None, Some(now)) => events.push(MembershipEvent::Joined(now.clone())),
                _ => {}
            }
        }
        events
    }
    // ANCHOR_END: catch_up

    /// How the run `was` went away: as recorded, or, if that record is of
    /// another run or forgotten, taken for dead.
    fn departure_of(&self, was: &Member) -> MembershipEvent {
        match self.departed.get(&was.id) {
            Some(departure) if departure.member.generation == was.generation => {
                if departure.left {
                    MembershipEvent::Left(departure.member.clone())
                } else {
                    MembershipEvent::Failed(departure.member.clone())
                }
            }
            _ => MembershipEvent::Failed(was.clone()),
        }
    }

    /// Forgets members that went away more than `after` ago, as chitchat
    /// forgets them, so that a cluster with churning ids does not grow this
    /// view without bound.
    pub(crate) fn forget_departed(&mut self, after: Duration) {
        let forgotten: Vec<String> = self
            .departed
            .iter()
            .filter(|(id, departure)| {
                departure.at.elapsed() > after && !self.live.contains_key(*id)
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in forgotten {
            self.departed.remove(&id);
            self.newest.remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;
    use MembershipEvent::{Failed, Joined, Left, Updated};

    fn member(id: &str, generation: u64, rpc: &str) -> Member {
        Member {
            id: id.to_string(),
            generation,
            gossip_addr: ([127, 0, 0, 1], 7000).into(),
            rpc_addr: rpc.to_string(),
            tags: BTreeMap::new(),
        }
    }

    fn alive(member: &Member) -> Observed {
        Observed {
            member: member.clone(),
            leaving: false,
        }
    }

    fn leaving(member: &Member) -> Observed {
        Observed {
            member: member.clone(),
            leaving: true,
        }
    }

    fn picture(observed: &[Observed]) -> BTreeMap<String, Observed> {
        observed
            .iter()
            .map(|seen| (seen.member.id.clone(), seen.clone()))
            .collect()
    }

    /// Feeds the pictures in turn and returns every event.
    fn run(pictures: &[Vec<Observed>]) -> Vec<MembershipEvent> {
        let mut view = View::default();
        pictures
            .iter()
            .flat_map(|observed| view.apply(picture(observed)))
            .collect()
    }

    // ANCHOR: pictures_test
    // ANCHOR: pictures_cases
    // Each sequence of pictures yields exactly the events of the state
    // machine in `event.rs`.
    #[rstest]
    #[case::join(
        vec![vec![], vec![alive(&member("b", 1, "b:1"))]],
        vec![Joined(member("b", 1, "b:1"))],
    )]
    #[case::nothing_new_nothing_said(
        vec![vec![alive(&member("b", 1, "b:1"))], vec![alive(&member("b", 1, "b:1"))]],
        vec![Joined(member("b", 1, "b:1"))],
    )]
    #[case::update(
        vec![vec![alive(&member("b", 1, "b:1"))], vec![alive(&member("b", 1, "b:2"))]],
        vec![Joined(member("b", 1, "b:1")), Updated(member("b", 1, "b:2"))],
    )]
    #[case::leave_then_silence(
        vec![vec![alive(&member("b", 1, "b:1"))], vec![leaving(&member("b", 1, "b:1"))], vec![]],
        vec![Joined(member("b", 1, "b:1")), Left(member("b", 1, "b:1"))],
    )]
    #[case::failure(
        vec![vec![alive(&member("b", 1, "b:1"))], vec![]],
        vec![Joined(member("b", 1, "b:1")), Failed(member("b", 1, "b:1"))],
    )]
    #[case::restart_before_the_old_run_is_found_dead(
        vec![vec![alive(&member("b", 1, "b:1"))], vec![alive(&member("b", 2, "b:1"))]],
        vec![Joined(member("b", 1, "b:1")), Failed(member("b", 1, "b:1")), Joined(member("b", 2, "b:1"))],
    )]
    // ANCHOR_END: pictures_cases
    // ANCHOR: pictures_rest
    #[case::restart_after_the_old_run_was_found_dead(
        vec![vec![alive(&member("b", 1, "b:1"))], vec![], vec![alive(&member("b", 2, "b:1"))]],
        vec![Joined(member("b", 1, "b:1")), Failed(member("b", 1, "b:1")), Joined(member("b", 2, "b:1"))],
    )]
    #[case::restart_after_leaving(
        vec![vec![alive(&member("b", 1, "b:1"))], vec![leaving(&member("b", 1, "b:1"))], vec![alive(&member("b", 2, "b:1"))]],
        vec![Joined(member("b", 1, "b:1")), Left(member("b", 1, "b:1")), Joined(member("b", 2, "b:1"))],
    )]
    #[case::an_older_run_is_a_stale_echo(
        vec![vec![alive(&member("b", 2, "b:1"))], vec![alive(&member("b", 1, "b:1"))]],
        vec![Joined(member("b", 2, "b:1")), Failed(member("b", 2, "b:1"))],
    )]
    #[case::back_from_the_dead(
        vec![vec![alive(&member("b", 1, "b:1"))], vec![], vec![alive(&member("b", 1, "b:1"))]],
        vec![Joined(member("b", 1, "b:1")), Failed(member("b", 1, "b:1")), Joined(member("b", 1, "b:1"))],
    )]
    #[case::leaving_before_we_ever_saw_it_alive(
        vec![vec![leaving(&member("b", 1, "b:1"))], vec![]],
        vec![],
    )]
    fn pictures_become_events(
        #[case] pictures: Vec<Vec<Observed>>,
        #[case] expected: Vec<MembershipEvent>,
    ) {
        assert_eq!(run(&pictures), expected);
    }
    // ANCHOR_END: pictures_rest
    // ANCHOR_END: pictures_test

    // ANCHOR: catch_up_test
    // A subscriber that missed events is told exactly the difference
    // between what it believes and what is, with how each member went.
    #[test]
    fn catch_up_tells_the_difference_with_how_members_went() {
        let mut view = View::default();
        let (b, c, d, e) = (
            member("b", 1, "b:1"),
            member("c", 1, "c:1"),
            member("d", 1, "d:1"),
            member("e", 1, "e:1"),
        );
        view.apply(picture(&[alive(&b), alive(&c), alive(&d), alive(&e)]));
        let known: BTreeMap<String, Member> = [&b, &c, &d, &e]
            .iter()
            .map(|member| (member.id.clone(), (*member).clone()))
            .collect();
        // Meanwhile: b leaves, c fails, d restarts, e changes its address,
        // f joins, g joins and fails.
        let (d2, e2, f, g) = (
            member("d", 2, "d:1"),
            member("e", 1, "e:2"),
            member("f", 1, "f:1"),
            member("g", 1, "g:1"),
        );
        view.apply(picture(&[leaving(&b), alive(&d), alive(&e), alive(&g)]));
        view.apply(picture(&[alive(&d2), alive(&e2), alive(&f)]));
        assert_eq!(
            view.catch_up(&known),
            vec![
                Left(b),
                Failed(c),
                Failed(d),
                Joined(d2),
                Updated(e2),
                Joined(f),
            ]
        );
    }
    // ANCHOR_END: catch_up_test

    // A new subscriber (who knows nothing) is told a Joined for each live member.
    #[test]
    fn catch_up_from_nothing_is_a_joined_per_live_member() {
        let mut view = View::default();
        let (b, c) = (member("b", 1, "b:1"), member("c", 1, "c:1"));
        view.apply(picture(&[alive(&b), alive(&c)]));
        assert_eq!(view.catch_up(&BTreeMap::new()), vec![Joined(b), Joined(c)]);
    }
}
