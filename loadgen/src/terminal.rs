//! The task that plays one terminal: fires its model's clocks when they are due (never later
//! because the service is slow: the due time stays the due time), queues the updates, sends them
//! in batches over its link, and resends what was not acknowledged after `Retry-After` (or a
//! jittered backoff), as the EA does. Latency of each update runs from its due time to its
//! acknowledgement, resends included.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tradestate_mt5_bridge::Update;

use crate::ledger::Ledger;
use crate::link::{Answer, Link, Sent};
use crate::model::{Kind, Profile, Terminal};
use crate::stats::SharedStats;

/// The slice of the run a terminal plays before it hands itself back.
pub struct Phase {
    pub profile: Arc<Profile>,
    /// The run's start: model offsets count from here.
    pub start: Instant,
    /// No new update falls due at or after this in this phase.
    pub until: Instant,
    /// The last phase drains its queue until this, then counts what is left as unanswered.
    pub deadline: Option<Instant>,
    pub batch_max: usize,
    pub stats: SharedStats,
}

struct Pending {
    update: Update,
    due: Instant,
    recorded: bool,
}

const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

pub struct SimTerminal {
    pub model: Terminal,
    pub link: Link,
    pub ledger: Ledger,
    pending: VecDeque<Pending>,
    not_before: Option<Instant>,
    backoff: Duration,
    /// For backoff jitter only: the model's own RNG must not depend on the service's answers.
    jitter: StdRng,
}

impl SimTerminal {
    pub fn new(model: Terminal, link: Link, seed: u64) -> SimTerminal {
        SimTerminal {
            model,
            link,
            ledger: Ledger::default(),
            pending: VecDeque::new(),
            not_before: None,
            backoff: BACKOFF_FIRST,
            jitter: StdRng::seed_from_u64(seed),
        }
    }

    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    pub async fn play(mut self, phase: Arc<Phase>) -> SimTerminal {
        loop {
            let now = Instant::now();
            self.fire_due(&phase, now);
            if let Some(deadline) = phase.deadline {
                if now >= deadline {
                    self.give_up(&phase);
                    return self;
                }
            }
            let ready = self.not_before.is_none_or(|t| t <= now);
            if ready && !self.pending.is_empty() {
                self.send_some(&phase).await;
                continue;
            }
            let next_event =
                Some(phase.start + self.model.next_due()).filter(|&at| at < phase.until);
            let waiting = !self.pending.is_empty();
            match (next_event, waiting, phase.deadline) {
                (None, false, _) => return self,
                // Resends still waiting at the end of a middle phase go on in the next one.
                (None, true, None) if now >= phase.until => return self,
                _ => {}
            }
            let resend = if waiting { self.not_before } else { None };
            let wake = [next_event, resend, phase.deadline.filter(|_| waiting)]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(phase.until);
            tokio::time::sleep_until(wake.max(now).into()).await;
        }
    }

    fn fire_due(&mut self, phase: &Phase, now: Instant) {
        loop {
            let offset = self.model.next_due();
            let at = phase.start + offset;
            if at > now || at >= phase.until {
                return;
            }
            let due = self.model.fire(offset, &phase.profile);
            if due.reconnect {
                self.link.reconnect();
                phase.stats.lock().reconnects += 1;
            }
            self.pending
                .extend(due.updates.into_iter().map(|update| Pending {
                    update,
                    due: at,
                    recorded: false,
                }));
        }
    }

    async fn send_some(&mut self, phase: &Phase) {
        let n = self.pending.len().min(phase.batch_max.max(1));
        let batch: Vec<Pending> = self.pending.drain(..n).collect();
        let mut batch = batch;
        {
            let mut stats = phase.stats.lock();
            for p in batch.iter_mut().filter(|p| !p.recorded) {
                self.ledger.sent(&p.update);
                stats.sent(p.due);
                p.recorded = true;
            }
        }
        let timeout = phase
            .deadline
            .map(|d| {
                d.saturating_duration_since(Instant::now())
                    .min(SEND_TIMEOUT)
            })
            .unwrap_or(SEND_TIMEOUT);
        let updates: Vec<&Update> = batch.iter().map(|p| &p.update).collect();
        let mut sent = self.link.send(&updates, timeout).await;
        drop(updates);
        sent.answers
            .resize(batch.len(), Answer::Retry(crate::link::RetryReason::Failed));
        self.settle(phase, batch, sent);
    }

    fn settle(&mut self, phase: &Phase, batch: Vec<Pending>, sent: Sent) {
        let now = Instant::now();
        let transport = self.link.transport();
        let mut resend = Vec::new();
        {
            let mut stats = phase.stats.lock();
            for (p, answer) in batch.into_iter().zip(sent.answers) {
                match answer {
                    Answer::Acked { status, entry_id } => {
                        stats.ack(Kind::of(&p.update), transport, status, p.due, now);
                        self.ledger.acked(&p.update, status, entry_id);
                    }
                    Answer::Retry(reason) => {
                        stats.retry(reason, p.due, now);
                        resend.push(p);
                    }
                    Answer::Refused(why) => {
                        stats.refused(p.due, &format!("{}: {why}", self.model.id))
                    }
                }
            }
            if let Some(problem) = sent.problem {
                stats.problem(|| format!("{}: {problem}", self.model.id));
            }
        }
        if resend.is_empty() {
            self.backoff = BACKOFF_FIRST;
            self.not_before = (sent.throttle > Duration::ZERO).then(|| now + sent.throttle);
            return;
        }
        // Resent first, in their order, before anything that fell due since.
        for p in resend.into_iter().rev() {
            self.pending.push_front(p);
        }
        let wait = sent.retry_after.unwrap_or(self.backoff).max(sent.throttle);
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
        self.not_before = Some(now + wait.mul_f64(self.jitter.random_range(0.8..1.2)));
    }

    /// The run is over: whatever is still queued was never acknowledged.
    fn give_up(&mut self, phase: &Phase) {
        if self.pending.is_empty() {
            return;
        }
        let mut stats = phase.stats.lock();
        for p in self.pending.drain(..) {
            if !p.recorded {
                self.ledger.sent(&p.update);
                stats.sent(p.due);
            }
            stats.unanswered += 1;
        }
    }
}
