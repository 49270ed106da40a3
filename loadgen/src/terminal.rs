//! The task that plays one terminal: fires its model's clocks when they are due (never later
//! because the service is slow: the due time stays the due time), queues the updates, sends them
//! in batches over its link, and resends what was not acknowledged after `Retry-After` (or a
//! jittered backoff), as the EA does. Latency of each update runs from its due time to its
//! acknowledgement, resends included.
//!
//! It also recovers from a numbering the gateway does not believe (CLIENT.md, "Sequence
//! numbers"): a `stale` answer whose `stored_seq` is at or above the next `seq` makes the
//! terminal jump past it, re-send the refused key's newest state with a new `seq` and re-send
//! its full state. Updates are tagged with the numbering epoch they were made in (model), so the
//! ledger orders them as made and the queue never holds one key's states of two numberings.
//!
//! A state answered `spooled` meets that check only when the gateway writes it later; dropped
//! then, it comes back as a hint on a later reply (`renumber_above`, HTTP field or RESP3 push):
//! the terminal jumps past it the same way, re-sends its full state, and re-sends the final state
//! of every trade it closed in the last `RECENT_CLOSES_FOR` with a new `seq` (what the EA's close
//! lookback does from the deal history), since a dropped close is in no full state.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tradestate_mt5_bridge::Update;

use crate::ledger::{state_key, Ledger, StateKey};
use crate::link::{AckStatus, Answer, Link, Sent};
use crate::model::{Kind, Profile, Terminal};
use crate::stats::{SharedStats, Stats, Transport};
use tradestate_mt5_bridge::TradeStatus;

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
    /// The numbering epoch its `seq` is from.
    epoch: u32,
    due: Instant,
    recorded: bool,
    /// Sent before without an answer that settled it: the gateway may hold it already, so a
    /// `duplicate` is the earlier send's.
    resent: bool,
}

const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// How far back a `renumber_above` hint re-sends closes: a spooled close is written (or dropped)
/// once its partition is back, and the hint comes with the terminal's next reply after that.
pub const RECENT_CLOSES_FOR: Duration = Duration::from_secs(120);
/// The most closes a terminal remembers (the oldest go first); a terminal closes a few a minute.
const RECENT_CLOSES_MAX: usize = 256;

/// A trade this terminal closed, as its close was last numbered.
struct RecentClose {
    at: Instant,
    update: Update,
}

pub struct SimTerminal {
    pub model: Terminal,
    pub link: Link,
    pub ledger: Ledger,
    pending: VecDeque<Pending>,
    /// The newest state made of each key (its last update, whatever became of it): what a
    /// recovery re-sends for a key the full state does not cover (a closed trade).
    latest: HashMap<StateKey, Update>,
    /// The trades closed in the last `RECENT_CLOSES_FOR`, oldest first, one per ticket.
    recent_closes: VecDeque<RecentClose>,
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
            latest: HashMap::new(),
            recent_closes: VecDeque::new(),
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
            if due.reconnect || due.restart {
                self.link.reconnect();
                let mut stats = phase.stats.lock();
                if due.restart {
                    stats.restarts += 1;
                } else {
                    stats.reconnects += 1;
                }
            }
            let epoch = self.model.epoch();
            for update in due.updates {
                self.queue(update, epoch, at, &phase.stats);
            }
        }
    }

    /// Queues a newly made update. A queued state of the same key from an earlier numbering
    /// epoch is replaced, as the EA's queue replaces every older state of a key: left in, it
    /// could reach the gateway in one batch with this one, and the gateway keeps the higher
    /// `seq` of the two, which after a reset is the older state. (Within one epoch loadgen
    /// keeps every update, to measure each one's latency.)
    fn queue(&mut self, update: Update, epoch: u32, due: Instant, stats: &SharedStats) {
        if let Some(key) = state_key(&update) {
            let mut dropped = Vec::new();
            self.pending.retain(|p| {
                let older = p.epoch < epoch && state_key(&p.update).as_ref() == Some(&key);
                if older && p.recorded {
                    dropped.push(p.due);
                }
                !older
            });
            if !dropped.is_empty() {
                let mut stats = stats.lock();
                for due in dropped {
                    stats.superseded(due);
                }
            }
            if matches!(&update, Update::Trade(t) if t.state == TradeStatus::Closed) {
                self.remember_close(&key, &update, due);
            }
            self.latest.insert(key, update.clone());
        }
        self.pending.push_back(Pending {
            update,
            epoch,
            due,
            recorded: false,
            resent: false,
        });
    }

    /// Keeps `close` (numbered as now) among the recent closes, in place of an older numbering
    /// of the same ticket; forgets what is older than `RECENT_CLOSES_FOR` and beyond the bound.
    fn remember_close(&mut self, key: &StateKey, close: &Update, at: Instant) {
        self.recent_closes
            .retain(|c| state_key(&c.update).as_ref() != Some(key));
        self.forget_old_closes(at);
        while self.recent_closes.len() >= RECENT_CLOSES_MAX {
            self.recent_closes.pop_front();
        }
        self.recent_closes.push_back(RecentClose {
            at,
            update: close.clone(),
        });
    }

    fn forget_old_closes(&mut self, now: Instant) {
        while self
            .recent_closes
            .front()
            .is_some_and(|c| now.saturating_duration_since(c.at) > RECENT_CLOSES_FOR)
        {
            self.recent_closes.pop_front();
        }
    }

    async fn send_some(&mut self, phase: &Phase) {
        let n = self.pending.len().min(phase.batch_max.max(1));
        let batch: Vec<Pending> = self.pending.drain(..n).collect();
        let mut batch = batch;
        {
            let mut stats = phase.stats.lock();
            for p in batch.iter_mut().filter(|p| !p.recorded) {
                self.ledger.sent(&p.update, p.epoch);
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
        // Nothing was numbered while the batch was out: this is `next` as it was sent.
        let next = self.model.next_seq_value();
        let epoch = self.model.epoch();
        let mut recover = Recovery {
            renumber_above: sent.renumber_above,
            ..Recovery::default()
        };
        let mut resend = Vec::new();
        {
            let mut stats = phase.stats.lock();
            for (p, answer) in batch.into_iter().zip(sent.answers) {
                match answer {
                    Answer::Acked {
                        status,
                        entry_id,
                        stored_seq,
                    } => {
                        stats.ack(Kind::of(&p.update), transport, status, p.due, now);
                        self.ledger.acked(&p.update, p.epoch, status, entry_id);
                        if matches!(status, AckStatus::Stale | AckStatus::Duplicate) {
                            recover.judge(&p, status, stored_seq, next, epoch);
                        }
                    }
                    Answer::Retry(reason) => {
                        stats.retry(reason, p.due, now);
                        let mut p = p;
                        p.resent = true;
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
        let resent = !resend.is_empty();
        // Resent first, in their order, before anything that fell due since.
        for p in resend.into_iter().rev() {
            self.pending.push_front(p);
        }
        // After the resends are back in the queue, so that a recovered key replaces them.
        self.recover(phase, recover, transport, now);
        if !resent {
            self.backoff = BACKOFF_FIRST;
            self.not_before = (sent.throttle > Duration::ZERO).then(|| now + sent.throttle);
            return;
        }
        let wait = sent.retry_after.unwrap_or(self.backoff).max(sent.throttle);
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
        self.not_before = Some(now + wait.mul_f64(self.jitter.random_range(0.8..1.2)));
    }

    /// Acts on the `stale` answers of one batch and on a `renumber_above` hint: one jump past
    /// the highest `stored_seq` at or above `next` and the hint's seq (all at once, so that a key
    /// holding a higher `seq` than the first one answered does not need a jump of its own), the
    /// full state, after a hint the recent closes, then each refused key's newest state with a
    /// new `seq`, unless the full state or a newer update of the key in the current numbering is
    /// already queued.
    fn recover(&mut self, phase: &Phase, recovery: Recovery, transport: Transport, now: Instant) {
        if recovery.keys.is_empty() && recovery.renumber_above.is_none() {
            return;
        }
        let offset = now.saturating_duration_since(phase.start);
        if recovery.jump_past.is_some() {
            phase.stats.lock().seq_jumps[transport_index(transport)] += 1;
        }
        if recovery.renumber_above.is_some() {
            phase.stats.lock().renumber_hints[transport_index(transport)] += 1;
        }
        // Past the hint even when numbering is above it already: the dropped state must come
        // again (the jump then changes nothing, and no new epoch starts).
        if let Some(past) = recovery.jump_past.max(recovery.renumber_above) {
            self.model.jump_past(past);
            let epoch = self.model.epoch();
            for update in self.model.resync(offset) {
                self.queue(update, epoch, now, &phase.stats);
            }
        }
        if let Some(above) = recovery.renumber_above {
            self.resend_recent_closes(phase, above, now);
        }
        let epoch = self.model.epoch();
        for key in recovery.keys {
            let queued = self
                .pending
                .iter()
                .any(|p| p.epoch == epoch && state_key(&p.update).as_ref() == Some(&key));
            if queued {
                continue;
            }
            let Some(mut update) = self.latest.get(&key).cloned() else {
                continue;
            };
            self.model.renumber(&mut update);
            count(&phase.stats, |s| s.renumbered += 1);
            self.queue(update, epoch, now, &phase.stats);
        }
    }

    /// After a `renumber_above` hint: the final state of every trade closed in the last
    /// `RECENT_CLOSES_FOR`, with a new `seq`. The dropped update may have been one of them, and
    /// no full state holds a closed trade. A close already queued in this numbering above the
    /// hint gets through on its own.
    fn resend_recent_closes(&mut self, phase: &Phase, above: u64, now: Instant) {
        self.forget_old_closes(now);
        let epoch = self.model.epoch();
        let closes: Vec<Update> = self
            .recent_closes
            .iter()
            .map(|c| c.update.clone())
            .collect();
        for mut close in closes {
            let key = state_key(&close);
            let queued = self
                .pending
                .iter()
                .any(|p| p.epoch == epoch && p.update.seq() > above && state_key(&p.update) == key);
            if queued {
                continue;
            }
            self.model.renumber(&mut close);
            count(&phase.stats, |s| s.hint_closes += 1);
            self.queue(close, epoch, now, &phase.stats);
        }
    }

    /// The run is over: whatever is still queued was never acknowledged.
    fn give_up(&mut self, phase: &Phase) {
        if self.pending.is_empty() {
            return;
        }
        let mut stats = phase.stats.lock();
        for p in self.pending.drain(..) {
            if !p.recorded {
                self.ledger.sent(&p.update, p.epoch);
                stats.sent(p.due);
            }
            stats.unanswered += 1;
        }
    }
}

/// What the `stale` answers of one batch ask for.
#[derive(Default)]
struct Recovery {
    /// The highest `stored_seq` at or above `next`: numbering jumps past it.
    jump_past: Option<u64>,
    /// Keys whose newest state must reach the gateway again, in answer order.
    keys: Vec<StateKey>,
    /// The gateway dropped a state it had answered `spooled`: numbering jumps past this, and the
    /// full state and the recent closes are sent again.
    renumber_above: Option<u64>,
}

impl Recovery {
    /// A `stale` (or `duplicate`) answer to `p`. A `stored_seq` above `p`'s own `seq` means
    /// another numbering of this terminal is ahead for the key (CLIENT.md): a terminal never
    /// sends a key's states out of order, so that state is not its own. At or above `next`,
    /// numbering jumps past it; below `next` the key's newest state is sent again with a current
    /// `seq` (comparing with `next` alone would leave a state numbered before an earlier jump
    /// dropped when its key holds a `seq` between its own and `next`). A `duplicate` (over RESP3:
    /// a `:0` without the stale push) to the first send of an update is the same: its very `seq`
    /// is held by another numbering's state of the key, which nothing else would reveal. And an
    /// update numbered before a reset or jump is re-sent whatever the answer said: its
    /// `stored_seq` may be from an older numbering that happens to be higher, and only its key's
    /// newest state with a current `seq` makes sure it is stored (at worst the same state again).
    fn judge(
        &mut self,
        p: &Pending,
        status: AckStatus,
        stored_seq: Option<u64>,
        next: u64,
        epoch: u32,
    ) {
        let Some(key) = state_key(&p.update) else {
            return;
        };
        let earlier_numbering = p.epoch < epoch;
        match stored_seq {
            Some(stored) if stored >= next => {
                self.jump_past = Some(self.jump_past.map_or(stored, |j| j.max(stored)));
            }
            Some(stored) if stored > p.update.seq() => {}
            None if status == AckStatus::Duplicate && !p.resent => {}
            _ if earlier_numbering => {}
            // Stale against a newer state of this numbering, or a duplicate of an earlier send.
            _ => return,
        }
        if !self.keys.contains(&key) {
            self.keys.push(key);
        }
    }
}

fn transport_index(transport: Transport) -> usize {
    usize::from(transport == Transport::Resp)
}

fn count(stats: &SharedStats, bump: impl FnOnce(&mut Stats)) {
    bump(&mut stats.lock());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::Endpoint;
    use crate::model::{Identity, RestartSeq};
    use crate::verify::{check_key, Targets, Verification};
    use tradestate_mt5_bridge::TradeState;

    /// The gateway's rules for state keys (writer.rs): a higher `seq` is stored, the same is a
    /// duplicate, a lower one is stale and says the stored `seq` (when `tell`, as HTTP and the
    /// RESP3 push do; a gateway without the push leaves RESP terminals guessing).
    ///
    /// With `spool` (its partitions down) it answers every state `spooled` and keeps it; `replay`
    /// writes those with the same rule, and a dropped one leaves the stored `seq` as the hint the
    /// next reply carries (`renumber_above`), when `hint`.
    #[derive(Default)]
    struct FakeGateway {
        stored: HashMap<StateKey, Update>,
        tell: bool,
        spool: bool,
        spooled: Vec<Update>,
        hint: bool,
        renumber_above: Option<u64>,
    }

    impl FakeGateway {
        fn replay(&mut self) {
            self.spool = false;
            for update in std::mem::take(&mut self.spooled) {
                let key = state_key(&update).expect("only states are spooled");
                match self.stored.get(&key).map(Update::seq) {
                    Some(stored) if update.seq() < stored => {
                        if self.hint {
                            self.renumber_above = self.renumber_above.max(Some(stored));
                        }
                    }
                    Some(stored) if update.seq() == stored => {}
                    _ => {
                        self.stored.insert(key, update);
                    }
                }
            }
        }

        fn answer(&mut self, update: &Update) -> Answer {
            let acked = |status, stored_seq| Answer::Acked {
                status,
                entry_id: None,
                stored_seq,
            };
            let Some(key) = state_key(update) else {
                return acked(AckStatus::Stored, None);
            };
            if self.spool {
                self.spooled.push(update.clone());
                return acked(AckStatus::Spooled, None);
            }
            match self.stored.get(&key).map(Update::seq) {
                Some(stored) if update.seq() < stored => {
                    acked(AckStatus::Stale, self.tell.then_some(stored))
                }
                Some(stored) if update.seq() == stored => acked(AckStatus::Duplicate, None),
                _ => {
                    self.stored.insert(key, update.clone());
                    acked(AckStatus::Stored, None)
                }
            }
        }

        fn verify(&self, ledger: &Ledger) -> Verification {
            let targets = Targets {
                ris_url: String::new(),
                rts_url: String::new(),
                rtss_url: String::new(),
                password: None,
                tls: None,
                stream: String::new(),
                maxlen: 10_000,
                closed_ttl_s: 2_592_000,
                ris_ttl_s: 120,
            };
            let mut v = Verification::default();
            for (key, record) in &ledger.keys {
                let stored = self.stored.get(key);
                let fields: HashMap<Vec<u8>, Vec<u8>> = match stored {
                    Some(Update::Instance(s)) => s.to_fields(),
                    Some(Update::Trade(t)) => t.to_fields(),
                    _ => Vec::new(),
                }
                .into_iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v.into_bytes()))
                .collect();
                let pttl = match stored {
                    Some(Update::Instance(_)) => 60_000,
                    Some(Update::Trade(t)) if t.state == TradeStatus::Closed => 2_592_000_000,
                    _ => -1,
                };
                check_key("T", key, record, &fields, pttl, &targets, 0, &mut v);
            }
            v
        }
    }

    fn phase(profile: &Profile, stats: &SharedStats) -> Phase {
        let start = Instant::now();
        Phase {
            profile: Arc::new(profile.clone()),
            start,
            until: start + Duration::from_secs(3_600),
            deadline: None,
            batch_max: 100,
            stats: stats.clone(),
        }
    }

    /// Sends everything queued, batch after batch, with the fake gateway answering.
    fn exchange(terminal: &mut SimTerminal, phase: &Phase, gateway: &mut FakeGateway) {
        for _ in 0..20 {
            if terminal.pending.is_empty() {
                return;
            }
            let mut batch: Vec<Pending> = terminal.pending.drain(..).collect();
            for p in batch.iter_mut().filter(|p| !p.recorded) {
                terminal.ledger.sent(&p.update, p.epoch);
                p.recorded = true;
            }
            let answers = batch.iter().map(|p| gateway.answer(&p.update)).collect();
            terminal.settle(
                phase,
                batch,
                Sent {
                    answers,
                    renumber_above: gateway.renumber_above.take(),
                    ..Sent::default()
                },
            );
        }
        panic!("the queue never emptied");
    }

    fn identity(seq_base: u64) -> Identity {
        Identity {
            id_prefix: "t".into(),
            seed: 3,
            seq_base,
            start_unix_ms: 1_763_000_000_000,
            run_tag: "r".into(),
        }
    }

    /// The first terminal of `identity` that attaches with a position or more.
    fn terminal_with_positions(identity: &Identity, profile: &Profile) -> Terminal {
        (0..)
            .find(|&i| {
                Terminal::new(i, identity, profile)
                    .resync(Duration::ZERO)
                    .len()
                    > 1
            })
            .map(|i| Terminal::new(i, identity, profile))
            .expect("some terminal has positions")
    }

    /// `model` over a link to nowhere: the tests answer its batches with [`exchange`].
    fn sim_terminal(model: Terminal, transport: Transport, id: &str) -> SimTerminal {
        let link = Link::new(
            transport,
            &Endpoint {
                http_url: "http://127.0.0.1:9".into(),
                resp_addr: "127.0.0.1:9".into(),
                stream: "s".into(),
            },
            &reqwest::Client::new(),
            id,
            "x",
        );
        SimTerminal::new(model, link, 1)
    }

    /// The first position in the model's full state.
    fn first_position(model: &mut Terminal) -> TradeState {
        model
            .resync(Duration::ZERO)
            .into_iter()
            .find_map(|u| match u {
                Update::Trade(t) => Some(t),
                _ => None,
            })
            .expect("the terminal attaches with positions")
    }

    /// `trade` closed at its last update's time and price.
    fn closed(mut trade: TradeState) -> TradeState {
        trade.state = TradeStatus::Closed;
        trade.time_close_msc = Some(trade.time_update_msc);
        trade.price_close = Some(trade.price_current);
        trade
    }

    /// Where both restart scenarios start: a terminal with positions (no reconnects, no activity)
    /// has attached with its full state (epoch 0) and opened trade 999, which no full state
    /// covers once closed, and `gateway` has stored it all.
    struct Scene {
        terminal: SimTerminal,
        gateway: FakeGateway,
        stats: SharedStats,
        phase: Phase,
        now: Instant,
        /// Trade 999 as opened.
        open: Update,
    }

    impl Scene {
        fn attached_with_999(transport: Transport, id: &str, mut gateway: FakeGateway) -> Scene {
            let profile = Profile {
                reconnect_every: None,
                activity_per_s: 0.0,
                attach_over: Duration::ZERO,
                ..Profile::default()
            };
            let stats = SharedStats::new(Instant::now());
            let phase = phase(&profile, &stats);
            let model = terminal_with_positions(&identity(5_000_000_000_000), &profile);
            let mut terminal = sim_terminal(model, transport, id);
            let now = Instant::now();
            let attach = terminal.model.fire(Duration::ZERO, &profile);
            for update in attach.updates {
                terminal.queue(update, 0, now, &stats);
            }
            let mut open = first_position(&mut terminal.model);
            open.ticket = "999".into();
            let mut open = Update::Trade(open);
            terminal.model.renumber(&mut open);
            terminal.queue(open.clone(), 0, now, &stats);
            exchange(&mut terminal, &phase, &mut gateway);
            Scene {
                terminal,
                gateway,
                stats,
                phase,
                now,
                open,
            }
        }

        /// A restart numbering from far below (epoch 1) queues the full state again and closes
        /// 999.
        fn restart_and_close_999(&mut self) {
            let terminal = &mut self.terminal;
            terminal
                .model
                .reset_seq(Duration::from_secs(2), RestartSeq::Zero);
            for update in terminal.model.resync(Duration::from_secs(2)) {
                terminal.queue(update, 1, self.now, &self.stats);
            }
            let Update::Trade(open) = self.open.clone() else {
                unreachable!()
            };
            let mut close = Update::Trade(closed(open));
            terminal.model.renumber(&mut close);
            terminal.queue(close, 1, self.now, &self.stats);
        }

        fn exchange(&mut self) {
            exchange(&mut self.terminal, &self.phase, &mut self.gateway);
        }

        /// Queues a heartbeat (the first update of the model's full state at `at`), made in
        /// `epoch`.
        fn queue_heartbeat(&mut self, at: Duration, epoch: u32) {
            let heartbeat = self.terminal.model.resync(at).remove(0);
            self.terminal.queue(heartbeat, epoch, self.now, &self.stats);
        }

        fn into_parts(self) -> (SimTerminal, FakeGateway, SharedStats) {
            (self.terminal, self.gateway, self.stats)
        }
    }

    /// Plays: full state stored (epoch 0); trade 999 opened and stored; a heartbeat queued and
    /// not yet sent; then a restart numbering from far below (epoch 1) re-sends the full state
    /// and closes 999. Returns the terminal and what the fake gateway ends holding.
    fn restart_scenario(tell: bool) -> (SimTerminal, FakeGateway, SharedStats) {
        let gateway = FakeGateway {
            tell,
            ..FakeGateway::default()
        };
        let mut scene = Scene::attached_with_999(Transport::Http, "t-00004", gateway);
        scene.queue_heartbeat(Duration::from_secs(1), 0);
        scene.restart_and_close_999();
        assert_eq!(scene.terminal.model.epoch(), 1);
        // The unsent heartbeat of the lost numbering was replaced by the restart's.
        assert!(scene.terminal.pending.iter().all(|p| p.epoch == 1));
        scene.exchange();
        scene.into_parts()
    }

    /// A restart numbering from far below while the gateway spools (its partitions down): every
    /// state of the new numbering, the close of 999 included, is answered `spooled`, then dropped
    /// when written. With the hint on the next reply the terminal jumps past it, re-sends its
    /// full state and its recent closes, and the gateway ends holding the newest of each key.
    fn spooled_restart_scenario(hint: bool) -> (SimTerminal, FakeGateway, SharedStats) {
        let gateway = FakeGateway {
            tell: true,
            hint,
            ..FakeGateway::default()
        };
        let mut scene = Scene::attached_with_999(Transport::Resp, "t", gateway);
        scene.gateway.spool = true;
        scene.restart_and_close_999();
        scene.exchange();
        assert!(
            scene.gateway.spooled.len() > 2,
            "all spooled: {:?}",
            scene.gateway.spooled
        );
        scene.gateway.replay();
        assert_eq!(scene.gateway.renumber_above.is_some(), hint);
        // The terminal's next reply carries the hint.
        scene.queue_heartbeat(Duration::from_secs(3), 1);
        scene.exchange();
        scene.into_parts()
    }

    fn assert_999_stored_closed(gateway: &FakeGateway) {
        assert!(matches!(
            gateway.stored.get(&StateKey::Trade("999".into())),
            Some(Update::Trade(t)) if t.state == TradeStatus::Closed
        ));
    }

    /// A scenario's restart left acknowledged states unstored, the close of 999 among them:
    /// the verifier fails the run.
    fn assert_the_dropped_close_is_caught(terminal: &SimTerminal, gateway: &FakeGateway) {
        let v = gateway.verify(&terminal.ledger);
        assert!(!v.passed());
        assert!(v.stale > 0, "{v:?}");
        assert_eq!(v.open_but_closed, 1, "{v:?}");
    }

    #[test]
    fn a_renumber_hint_resends_the_full_state_and_the_recent_closes() {
        let (terminal, gateway, stats) = spooled_restart_scenario(true);
        {
            let stats = stats.lock();
            assert_eq!(stats.renumber_hints, [0, 1]);
            assert_eq!(stats.hint_closes, 1, "the close of 999");
        }
        assert_eq!(terminal.model.epoch(), 2, "the hint's jump is a new epoch");
        let highest = gateway.stored.values().map(Update::seq).max().unwrap();
        assert!(terminal.model.next_seq_value() > highest);
        let v = gateway.verify(&terminal.ledger);
        assert!(v.passed(), "{v:?}");
        assert_999_stored_closed(&gateway);
        // A second hint below the numbering changes no epoch but still re-sends.
        let mut terminal = terminal;
        let stats2 = SharedStats::new(Instant::now());
        let phase = phase(&Profile::default(), &stats2);
        let before = terminal.model.next_seq_value();
        terminal.recover(
            &phase,
            Recovery {
                renumber_above: Some(before - 10),
                ..Recovery::default()
            },
            Transport::Http,
            Instant::now(),
        );
        assert_eq!(terminal.model.epoch(), 2);
        assert_eq!(stats2.lock().renumber_hints, [1, 0]);
        assert_eq!(stats2.lock().hint_closes, 1);
        assert!(terminal
            .pending
            .iter()
            .all(|p| p.epoch == 2 && p.update.seq() >= before));
    }

    /// Without the hint the dropped states stay dropped, and the verifier says so.
    #[test]
    fn without_the_renumber_hint_the_verifier_catches_the_dropped_close() {
        let (terminal, gateway, stats) = spooled_restart_scenario(false);
        assert_eq!(stats.lock().renumber_hints, [0, 0]);
        assert_the_dropped_close_is_caught(&terminal, &gateway);
    }

    /// CLIENT.md's rule: a stored seq above the update's own asks for its key again, a jump
    /// only at or above `next`; a duplicate to a first send is another numbering's same seq.
    #[test]
    fn stale_above_the_own_seq_and_first_send_duplicates_resend_the_key() {
        let mut model = Terminal::new(0, &identity(1_000), &Profile::default());
        let heartbeat = model.resync(Duration::ZERO).remove(0);
        let own = heartbeat.seq();
        let pending = |resent| Pending {
            update: heartbeat.clone(),
            epoch: 1,
            due: Instant::now(),
            recorded: true,
            resent,
        };
        let judged = |p: &Pending, status, stored, next| {
            let mut r = Recovery::default();
            r.judge(p, status, stored, next, 1);
            (r.jump_past, r.keys.len())
        };
        let next = own + 100;
        assert_eq!(
            judged(&pending(false), AckStatus::Stale, Some(own + 5), next),
            (None, 1)
        );
        assert_eq!(
            judged(&pending(false), AckStatus::Stale, Some(next), next),
            (Some(next), 1)
        );
        // A newer state of this numbering, or nothing said: done.
        assert_eq!(
            judged(&pending(false), AckStatus::Stale, Some(own), next),
            (None, 0)
        );
        assert_eq!(
            judged(&pending(false), AckStatus::Stale, None, next),
            (None, 0)
        );
        assert_eq!(
            judged(&pending(false), AckStatus::Duplicate, None, next),
            (None, 1)
        );
        // A resend after an unsettled send: the duplicate is its own earlier send.
        assert_eq!(
            judged(&pending(true), AckStatus::Duplicate, None, next),
            (None, 0)
        );
    }

    #[test]
    fn recent_closes_are_bounded_and_one_per_ticket() {
        let profile = Profile::default();
        let mut model = terminal_with_positions(&identity(1_000), &profile);
        let template = first_position(&mut model);
        let mut terminal = sim_terminal(model, Transport::Http, "t");
        let stats = SharedStats::new(Instant::now());
        let start = Instant::now();
        let close = |ticket: usize, seq: u64| {
            let mut t = template.clone();
            t.ticket = ticket.to_string();
            t.seq = seq;
            Update::Trade(closed(t))
        };
        terminal.queue(close(1, 10), 0, start, &stats);
        terminal.queue(close(1, 11), 0, start, &stats);
        assert_eq!(terminal.recent_closes.len(), 1);
        assert_eq!(terminal.recent_closes[0].update.seq(), 11);
        for i in 0..RECENT_CLOSES_MAX + 10 {
            terminal.queue(close(100 + i, 100 + i as u64), 0, start, &stats);
        }
        assert_eq!(terminal.recent_closes.len(), RECENT_CLOSES_MAX);
        // Older than the window: forgotten with the next close.
        let later = start + RECENT_CLOSES_FOR + Duration::from_secs(1);
        terminal.queue(close(5, 5_000), 0, later, &stats);
        assert_eq!(terminal.recent_closes.len(), 1);
    }

    #[test]
    fn a_reset_seq_is_recovered_and_the_newest_state_stored() {
        let (terminal, gateway, stats) = restart_scenario(true);
        let stats = stats.lock();
        assert_eq!(stats.seq_jumps, [1, 0]);
        // The close of 999: the only key the jump's full state does not cover.
        assert_eq!(stats.renumbered, 1);
        assert_eq!(terminal.model.epoch(), 2);
        let highest = gateway.stored.values().map(Update::seq).max().unwrap();
        assert!(terminal.model.next_seq_value() > highest);
        let v = gateway.verify(&terminal.ledger);
        assert!(v.passed(), "{v:?}");
        assert!(
            v.acked > v.keys_checked,
            "stale answers are acknowledgements: {v:?}"
        );
        assert_999_stored_closed(&gateway);
    }

    /// The same without `stored_seq` in the stale answers: nothing to recover from, the
    /// acknowledged newer states are not stored, and the verifier says so.
    #[test]
    fn without_the_stored_seq_the_verifier_catches_the_dropped_states() {
        let (terminal, gateway, stats) = restart_scenario(false);
        assert_eq!(stats.lock().seq_jumps, [0, 0]);
        assert_the_dropped_close_is_caught(&terminal, &gateway);
    }
}
