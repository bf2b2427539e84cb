//! A subscriber's stream of events: first what is already true, then each
//! change as it happens, without polling, in bounded memory. A subscriber
//! that reads too slowly is not given an ever-growing queue, and is not
//! silently dropped either: it is caught up from the current members.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures_util::Stream;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

use crate::event::MembershipEvent;
use crate::member::Member;
use crate::view::View;

/// An event and its number (see [`View::seq`]).
pub(crate) type Numbered = (u64, MembershipEvent);

/// Locks the view. A panic while it was held cannot leave it half-changed in
/// a way that matters more than stopping would, so a poisoned lock is used.
pub(crate) fn lock(view: &Mutex<View>) -> MutexGuard<'_, View> {
    view.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Events about the other members, in order, from
/// [`Membership::subscribe`](crate::Membership::subscribe).
///
/// What it yields, in order:
///
/// 1. a [`MembershipEvent::Joined`] for every member alive when it was made
///    (in id order);
/// 2. every change after that, as it happens.
///
/// If the subscriber falls more than
/// [`event_buffer`](crate::MembershipConfig::event_buffer) events behind, it
/// does not get the events it missed: it gets, at once, the events that take
/// what it was told to what is true now (a member that came and went while it
/// was not reading is not mentioned), and then carries on. Either way, every
/// member it was told `Joined` about and that is gone is reported `Left` or
/// `Failed`, and memory stays bounded.
///
/// [`recv`](Subscription::recv) returns `None` once the membership has
/// stopped (after [`leave`](crate::Membership::leave) or a drop).
// ANCHOR: subscription
#[derive(Debug)]
pub struct Subscription {
    /// The events, as the event task publishes them.
    events: broadcast::Receiver<Numbered>,
    /// The view, to catch up from when this subscriber falls behind.
    view: Arc<Mutex<View>>,
    /// The members this subscriber has been told are live, by id.
    known: BTreeMap<String, Member>,
    /// Events worked out for this subscriber and not yet handed out.
    pending: VecDeque<MembershipEvent>,
    /// The number of the last event already accounted for.
    seen_through: u64,
}
// ANCHOR_END: subscription

impl Subscription {
    /// A subscription that starts with the members `view` holds alive. The
    /// view must be locked while the receiver is made, so that every event is
    /// either in the starting picture or in the receiver, never in neither.
    // ANCHOR: new
    pub(crate) fn new(
        view: &Arc<Mutex<View>>,
        sender: &broadcast::Sender<Numbered>,
    ) -> Subscription {
        let guard = lock(view);
        let mut subscription = Subscription {
            events: sender.subscribe(),
            view: Arc::clone(view),
            known: BTreeMap::new(),
            pending: VecDeque::new(),
            seen_through: 0,
        };
        subscription.catch_up(&guard);
        subscription
    }
    // ANCHOR_END: new

    /// Queues the events from what this subscriber knows to what `view`
    /// says, and skips the events that view already includes.
    fn catch_up(&mut self, view: &View) {
        self.pending.extend(view.catch_up(&self.known));
        self.seen_through = view.seq();
    }

    /// The next event, waiting for one if there is none yet. `None` when the
    /// membership has stopped.
    ///
    /// Cancel-safe: dropping the future (in a `select!`, say) loses nothing.
    // ANCHOR: recv
    pub async fn recv(&mut self) -> Option<MembershipEvent> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(self.hand_out(event));
            }
            match self.events.recv().await {
                Ok((seq, _)) if seq <= self.seen_through => continue,
                Ok((seq, event)) => {
                    self.seen_through = seq;
                    return Some(self.hand_out(event));
                }
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(
                        missed,
                        "a membership subscriber fell behind; catching it up from the current members"
                    );
                    let view = Arc::clone(&self.view);
                    self.catch_up(&lock(&view));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }
    // ANCHOR_END: recv

    /// Remembers what the subscriber is about to be told.
    fn hand_out(&mut self, event: MembershipEvent) -> MembershipEvent {
        match &event {
            MembershipEvent::Joined(member) | MembershipEvent::Updated(member) => {
                self.known.insert(member.id.clone(), member.clone());
            }
            MembershipEvent::Left(member) | MembershipEvent::Failed(member) => {
                self.known.remove(&member.id);
            }
        }
        event
    }

    /// The same events as a [`Stream`].
    pub fn into_stream(self) -> impl Stream<Item = MembershipEvent> + Send + 'static {
        futures_util::stream::unfold(self, |mut subscription| async move {
            let event = subscription.recv().await?;
            Some((event, subscription))
        })
    }
}
