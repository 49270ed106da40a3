//! One simulated MT5 terminal: its account, symbols and positions, and the fixed schedule of what
//! it reports. The schedule comes from a seeded RNG and offsets from the start of the run, never
//! from how fast the service answers, so two runs with one seed intend the same sends (open loop).
//!
//! What an EA does, and so what this model does: a heartbeat (instance state) every 1-30 s with
//! jitter; trade activity (positions open, move and close, one trade update per change); a
//! snapshot of every open position every `snapshot_every`; signal bursts; now and then a
//! reconnect, after which the terminal re-sends its full state; and, when asked, now and then a
//! restart whose numbering starts again from a reset `seq` (CLIENT.md, "Sequence numbers").
//!
//! Numbering epochs: a `seq` orders updates only within one numbering. A restart with a reset
//! `seq` and a jump after a `stale` answer each start a new epoch; what a terminal made later is
//! the higher `(epoch, seq)`, whatever the numbers say.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tradestate_mt5_bridge::{
    InstanceState, PositionType, SignalAction, TradeSignal, TradeState, TradeStatus, Update,
};

/// A clock that never fires: far enough to never come, near enough that adding it to an
/// `Instant` cannot overflow.
pub const NEVER: Duration = Duration::from_secs(100 * 365 * 86_400);

/// Behaviour shared by every terminal of a run.
#[derive(Debug, Clone)]
pub struct Profile {
    /// Heartbeat periods are drawn per terminal from this range (seconds).
    pub heartbeat_s: (f64, f64),
    /// Every open position is re-sent this often, as EAs do to heal missed updates.
    pub snapshot_every: Duration,
    /// Trade changes and signal bursts per second per terminal (a Poisson process).
    pub activity_per_s: f64,
    /// Share of activity events that are signal bursts rather than trade changes.
    pub signal_share: f64,
    /// Signals in one burst are drawn from 1..=this.
    pub burst_max: u32,
    /// Mean time between reconnects of one terminal; `None`: never.
    pub reconnect_every: Option<Duration>,
    /// Most open positions per terminal.
    pub max_positions: usize,
    /// Terminals attach (send their first full state) spread over this span from the start;
    /// zero: all at once, like a reconnect storm.
    pub attach_over: Duration,
    /// Mean time between restarts of one terminal (EA reinstalled, files of its numbering lost);
    /// `None`: never.
    pub restart_every: Option<Duration>,
    /// Where a restarted terminal's numbering starts again.
    pub restart_seq: RestartSeq,
}

/// Where a restart's numbering starts: what an EA that lost its `.seq` file would use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartSeq {
    /// Far below this run's numbering (a clock far behind, still ticking): the gateway holds
    /// higher `seq`s for every key the terminal reported, so only the recovery from `stale`
    /// gets it through.
    Zero,
    /// CLIENT.md's clock floor, `max(seq base, unix seconds * 1e6)`: above what the terminal
    /// sent before unless it restarts within the second its numbering began.
    Clock,
}

/// The shortest time between two restarts of one terminal (see `Terminal::restart_gap`).
pub const MIN_RESTART_GAP: Duration = Duration::from_secs(1);

/// How far below the run's `seq` base a `zero` restart numbers: 10^12 us, about 11.6 days, so
/// below everything this run sent and far above anything `seq` 0 would collide with.
pub const ZERO_RESET_BELOW: u64 = 1_000_000_000_000;

impl Default for Profile {
    fn default() -> Self {
        Profile {
            heartbeat_s: (1.0, 30.0),
            snapshot_every: Duration::from_secs(60),
            activity_per_s: 0.5,
            signal_share: 0.2,
            burst_max: 5,
            reconnect_every: Some(Duration::from_secs(300)),
            max_positions: 8,
            attach_over: Duration::from_secs(2),
            restart_every: None,
            restart_seq: RestartSeq::Clock,
        }
    }
}

impl Profile {
    /// Updates one activity event sends on average.
    pub fn updates_per_activity(&self) -> f64 {
        (1.0 - self.signal_share) + self.signal_share * (1.0 + f64::from(self.burst_max)) / 2.0
    }

    /// Updates per second one terminal sends without activity: heartbeats and snapshots.
    pub fn base_rate_per_terminal(&self) -> f64 {
        let (lo, hi) = self.heartbeat_s;
        // Mean of 1/U(lo, hi): ln(hi/lo) / (hi - lo).
        let heartbeats = if hi > lo {
            (hi / lo).ln() / (hi - lo)
        } else {
            1.0 / lo
        };
        let positions = self.max_positions as f64 / 2.0;
        heartbeats + positions / self.snapshot_every.as_secs_f64().max(1.0)
    }

    /// Sets the activity so that `terminals` terminals send about `rate` updates per second.
    pub fn aim_at(&mut self, rate: f64, terminals: usize) {
        let per_terminal = rate / terminals.max(1) as f64;
        let activity = (per_terminal - self.base_rate_per_terminal()).max(0.0);
        self.activity_per_s = activity / self.updates_per_activity();
    }
}

/// Why an update was sent, for the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Instance,
    Trade,
    Signal,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Instance, Kind::Trade, Kind::Signal];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Instance => "instance",
            Kind::Trade => "trade",
            Kind::Signal => "signal",
        }
    }

    pub fn of(update: &Update) -> Kind {
        match update {
            Update::Instance(_) => Kind::Instance,
            // A positions snapshot (contract 1.1) is trade state; the model sends none.
            Update::Trade(_) | Update::Positions(_) => Kind::Trade,
            Update::Signal(_) => Kind::Signal,
        }
    }
}

/// What became due at one point of a terminal's schedule.
#[derive(Debug, Default)]
pub struct Due {
    pub updates: Vec<Update>,
    /// The terminal drops its connection and re-sends its full state.
    pub reconnect: bool,
    /// The terminal restarted: connection dropped, numbering reset (a new epoch), full state
    /// re-sent; what it had queued stays queued with its old numbers.
    pub restart: bool,
}

#[derive(Debug, Clone)]
struct Symbol {
    name: &'static str,
    price: f64,
    /// Price step of one tick, and the digits MT5 shows.
    point: f64,
    /// Profit per lot per point.
    tick_value: f64,
}

const SYMBOLS: [(&str, f64, f64, f64); 8] = [
    ("EURUSD", 1.0842, 0.00001, 1.0),
    ("GBPUSD", 1.2671, 0.00001, 1.0),
    ("USDJPY", 151.37, 0.001, 0.66),
    ("XAUUSD", 2384.5, 0.01, 1.0),
    ("US30", 39112.0, 0.1, 0.1),
    ("BTCUSD", 67250.0, 0.01, 0.01),
    ("AUDUSD", 0.6617, 0.00001, 1.0),
    ("USDCHF", 0.9031, 0.00001, 1.1),
];

const STRATEGIES: [&str; 4] = ["trend-h1", "breakout-m15", "meanrev-m5", "news-fade"];

#[derive(Debug, Clone)]
struct Position {
    ticket: u64,
    symbol: usize,
    side: PositionType,
    volume: f64,
    price_open: f64,
    time_msc: i64,
    sl: f64,
    tp: f64,
    magic: i64,
}

/// One terminal: identity, account, open positions, the next due time of each of its clocks.
#[derive(Debug)]
pub struct Terminal {
    pub id: String,
    index: u64,
    rng: StdRng,
    /// The last `seq` handed out.
    seq: u64,
    /// The run's `seq` base, where `zero` and `clock` restarts start from.
    seq_base: u64,
    /// The numbering epoch of the next `seq` (see the module comment).
    epoch: u32,
    /// Unix ms of the run's start: event times are this plus their offset.
    start_unix_ms: i64,
    /// Tags this run's signal ids, so the dedupe of an earlier run cannot swallow them.
    run_tag: String,
    login: u64,
    server: &'static str,
    currency: &'static str,
    leverage: u32,
    balance: f64,
    realised: f64,
    symbols: Vec<Symbol>,
    positions: Vec<Position>,
    next_ticket: u64,
    signals_sent: u64,
    heartbeat_every: Duration,
    next_heartbeat: Duration,
    next_activity: Duration,
    next_snapshot: Duration,
    next_reconnect: Option<Duration>,
    next_restart: Option<Duration>,
    storm_at: Option<Duration>,
}

/// How a run's terminals are named and numbered.
#[derive(Debug, Clone)]
pub struct Identity {
    pub id_prefix: String,
    pub seed: u64,
    /// Every `seq` of this run is above this (the stored seq of earlier runs).
    pub seq_base: u64,
    pub start_unix_ms: i64,
    pub run_tag: String,
}

impl Terminal {
    pub fn new(index: usize, identity: &Identity, profile: &Profile) -> Terminal {
        let mut rng = StdRng::seed_from_u64(
            identity.seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        let mut symbols: Vec<Symbol> = SYMBOLS
            .iter()
            .map(|&(name, price, point, tick_value)| Symbol {
                name,
                price,
                point,
                tick_value,
            })
            .collect();
        // Each terminal trades 3-6 of the symbols.
        let keep = rng.random_range(3..=6);
        while symbols.len() > keep {
            let drop = rng.random_range(0..symbols.len());
            symbols.swap_remove(drop);
        }
        let heartbeat_every = Duration::from_secs_f64(
            rng.random_range(profile.heartbeat_s.0..=profile.heartbeat_s.1),
        );
        let mut terminal = Terminal {
            id: format!("{}-{index:05}", identity.id_prefix),
            index: index as u64,
            seq: identity.seq_base,
            seq_base: identity.seq_base,
            epoch: 0,
            start_unix_ms: identity.start_unix_ms,
            run_tag: identity.run_tag.clone(),
            login: 51_000_000 + index as u64,
            server: ["Broker-Live01", "Broker-Live02", "Broker-Demo"][index % 3],
            currency: ["USD", "USD", "EUR"][index % 3],
            leverage: [100, 200, 500][index % 3],
            balance: (rng.random_range(1_000.0..100_000.0_f64) * 100.0).round() / 100.0,
            realised: 0.0,
            symbols,
            positions: Vec::new(),
            next_ticket: 1_000_000 + index as u64 * 1_000_000,
            signals_sent: 0,
            heartbeat_every,
            // Set below: everything is sent once when the EA attaches, then on its clocks.
            next_heartbeat: Duration::ZERO,
            next_activity: Duration::ZERO,
            next_snapshot: Duration::ZERO,
            next_reconnect: None,
            next_restart: None,
            storm_at: None,
            rng,
        };
        let attach = profile
            .attach_over
            .mul_f64(terminal.rng.random_range(0.0..1.0));
        let opened = terminal.rng.random_range(0..=3.min(profile.max_positions));
        for _ in 0..opened {
            terminal.open_position(attach);
        }
        terminal.next_heartbeat = attach;
        terminal.next_snapshot = attach;
        terminal.next_activity = attach + terminal.activity_gap(profile);
        terminal.next_reconnect = terminal.reconnect_gap(profile);
        // Drawn only when restarts are asked for: runs without them keep their schedules.
        terminal.next_restart = terminal.restart_gap(profile);
        terminal
    }

    /// Every terminal reconnects and re-sends its full state at this offset.
    pub fn storm_at(&mut self, at: Option<Duration>) {
        self.storm_at = at;
    }

    /// When something is due next (offset from the run's start).
    pub fn next_due(&self) -> Duration {
        [
            Some(self.next_heartbeat),
            Some(self.next_activity),
            Some(self.next_snapshot),
            self.next_reconnect,
            self.next_restart,
            self.storm_at,
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(NEVER)
        .min(NEVER)
    }

    /// Fires every clock due at or before `now` (an offset), advancing it; returns the updates.
    pub fn fire(&mut self, now: Duration, profile: &Profile) -> Due {
        let mut due = Due::default();
        let storm = self.storm_at.is_some_and(|at| at <= now);
        let reconnect = self.next_reconnect.is_some_and(|at| at <= now);
        let restart = self.next_restart.is_some_and(|at| at <= now);
        if restart {
            // First, so that everything this firing makes is numbered in the new epoch.
            self.next_restart = self.restart_gap(profile).map(|gap| now + gap);
            self.reset_seq(now, profile.restart_seq);
            due.restart = true;
        }
        if storm || reconnect || restart {
            if storm {
                self.storm_at = None;
            }
            if reconnect {
                self.next_reconnect = self.reconnect_gap(profile).map(|gap| now + gap);
            }
            due.reconnect = storm || reconnect;
            self.full_state(now, &mut due.updates);
            self.next_heartbeat = now + self.heartbeat_every;
        }
        if self.next_heartbeat <= now {
            let ping_us = 1_500 + self.rng.random_range(0..3_000);
            due.updates
                .push(Update::Instance(self.heartbeat(now, ping_us)));
            // Jitter of +-10% around the period, from the schedule, not from the answers.
            let jitter = self.rng.random_range(0.9..1.1);
            self.next_heartbeat = now + self.heartbeat_every.mul_f64(jitter);
        }
        if self.next_snapshot <= now {
            self.snapshot(now, &mut due.updates);
            self.next_snapshot = now + profile.snapshot_every;
        }
        while self.next_activity <= now {
            self.activity(now, profile, &mut due.updates);
            let gap = self.activity_gap(profile);
            self.next_activity += gap;
        }
        due
    }

    fn activity_gap(&mut self, profile: &Profile) -> Duration {
        if profile.activity_per_s <= 0.0 {
            return NEVER;
        }
        exponential(&mut self.rng, 1.0 / profile.activity_per_s)
    }

    fn reconnect_gap(&mut self, profile: &Profile) -> Option<Duration> {
        let mean = profile.reconnect_every?;
        Some(exponential(&mut self.rng, mean.as_secs_f64()))
    }

    /// At least a second: an EA restart takes longer than that, and the clock floor counts
    /// whole seconds, so two restarts within one second would both number from the same `seq`
    /// (the gateway answers `duplicate` to the second's different state, and nothing tells).
    fn restart_gap(&mut self, profile: &Profile) -> Option<Duration> {
        let mean = profile.restart_every?;
        Some(exponential(&mut self.rng, mean.as_secs_f64()).max(MIN_RESTART_GAP))
    }

    /// A restart that lost the numbering: the next `seq` is the reset value, in a new epoch.
    pub(crate) fn reset_seq(&mut self, now: Duration, mode: RestartSeq) {
        let next = match mode {
            // A clock ZERO_RESET_BELOW behind: below this run's numbering, yet moving on
            // between restarts as a clock does, so two restarts never hand out the same seqs
            // (the gateway would take a different update with an equal seq as a duplicate).
            RestartSeq::Zero => {
                self.seq_base.saturating_sub(ZERO_RESET_BELOW).max(1) + now.as_secs() * 1_000_000
            }
            RestartSeq::Clock => {
                // The schedule's time, not the wall clock's, so that one seed is one schedule.
                let unix_s = (self.unix_ms(now).max(0) / 1000) as u64;
                self.seq_base.max(unix_s.saturating_mul(1_000_000))
            }
        };
        self.seq = next - 1;
        self.epoch += 1;
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// The numbering epoch updates made now are in.
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// The `seq` the next update gets (CLIENT.md's `next`).
    pub fn next_seq_value(&self) -> u64 {
        self.seq + 1
    }

    /// A `stale` answer showed the gateway holding `stored_seq` at or above `next`: numbering
    /// goes on from `stored_seq + 1 + SEQ_JUMP_MARGIN` (CLIENT.md), a new epoch.
    pub fn jump_past(&mut self, stored_seq: u64) {
        if stored_seq > self.seq {
            self.seq = stored_seq + tradestate_mt5_bridge::SEQ_JUMP_MARGIN;
            self.epoch += 1;
        }
    }

    /// Gives `update` the next `seq` (a refused state sent again, CLIENT.md).
    pub fn renumber(&mut self, update: &mut Update) {
        let seq = self.next_seq();
        match update {
            Update::Instance(s) => s.seq = seq,
            Update::Trade(t) => t.seq = seq,
            Update::Signal(s) => s.seq = seq,
            Update::Positions(p) => p.seq = seq,
        }
    }

    /// The full state (instance, every open position), newly numbered, outside the schedule:
    /// what the terminal re-sends after a `seq` jump. It draws nothing from the schedule's RNG,
    /// so the service's answers never change what the schedule intends.
    pub fn resync(&mut self, now: Duration) -> Vec<Update> {
        let mut out = Vec::with_capacity(1 + self.positions.len());
        let ping_us = 1_500 + self.seq % 3_000;
        out.push(Update::Instance(self.heartbeat(now, ping_us)));
        self.snapshot(now, &mut out);
        out
    }

    fn unix_ms(&self, at: Duration) -> i64 {
        self.start_unix_ms + at.as_millis() as i64
    }

    fn full_state(&mut self, now: Duration, out: &mut Vec<Update>) {
        let ping_us = 1_500 + self.rng.random_range(0..3_000);
        out.push(Update::Instance(self.heartbeat(now, ping_us)));
        self.snapshot(now, out);
    }

    fn snapshot(&mut self, now: Duration, out: &mut Vec<Update>) {
        for i in 0..self.positions.len() {
            let trade = self.trade_state(i, now, None);
            out.push(Update::Trade(trade));
        }
    }

    fn activity(&mut self, now: Duration, profile: &Profile, out: &mut Vec<Update>) {
        if self.rng.random_bool(profile.signal_share.clamp(0.0, 1.0)) {
            let burst = self.rng.random_range(1..=profile.burst_max.max(1));
            for _ in 0..burst {
                out.push(Update::Signal(self.signal(now)));
            }
            return;
        }
        self.move_prices();
        let roll: f64 = self.rng.random();
        if self.positions.is_empty()
            || (self.positions.len() < profile.max_positions && roll < 0.25)
        {
            self.open_position(now);
            let last = self.positions.len() - 1;
            out.push(Update::Trade(self.trade_state(last, now, None)));
        } else if roll < 0.5 {
            let i = self.rng.random_range(0..self.positions.len());
            let closed = self.trade_state(i, now, Some(now));
            self.realised += closed.profit;
            self.positions.swap_remove(i);
            out.push(Update::Trade(closed));
        } else {
            let i = self.rng.random_range(0..self.positions.len());
            if self.rng.random_bool(0.2) {
                // The trader trails the stop.
                let p = &mut self.positions[i];
                let point = self.symbols[p.symbol].point;
                p.sl = round_to(p.sl + point * 10.0, point).max(0.0);
            }
            out.push(Update::Trade(self.trade_state(i, now, None)));
        }
    }

    fn move_prices(&mut self) {
        for symbol in &mut self.symbols {
            let ticks: i32 = self.rng.random_range(-20..=20);
            symbol.price = round_to(symbol.price + f64::from(ticks) * symbol.point, symbol.point)
                .max(symbol.point);
        }
    }

    fn open_position(&mut self, now: Duration) {
        let symbol = self.rng.random_range(0..self.symbols.len());
        let side = if self.rng.random_bool(0.5) {
            PositionType::Buy
        } else {
            PositionType::Sell
        };
        let s = &self.symbols[symbol];
        let distance = s.point * f64::from(self.rng.random_range(100..1000));
        let (sl, tp) = if direction(side) > 0.0 {
            (s.price - distance, s.price + distance * 2.0)
        } else {
            (s.price + distance, (s.price - distance * 2.0).max(0.0))
        };
        self.next_ticket += 1;
        let position = Position {
            ticket: self.next_ticket,
            symbol,
            side,
            volume: f64::from(self.rng.random_range(1..=50)) / 100.0,
            price_open: s.price,
            time_msc: self.unix_ms(now),
            sl: round_to(sl.max(0.0), s.point),
            tp: round_to(tp, s.point),
            magic: 1000 + self.rng.random_range(0..4),
        };
        self.positions.push(position);
    }

    /// The snapshot of open position `i`; `closed_at` closes it at the current price.
    fn trade_state(&mut self, i: usize, now: Duration, closed_at: Option<Duration>) -> TradeState {
        let seq = self.next_seq();
        let p = &self.positions[i];
        let s = &self.symbols[p.symbol];
        let points = (s.price - p.price_open) / s.point * direction(p.side);
        let profit = round_cents(points * s.tick_value * p.volume);
        let now_ms = self.unix_ms(now).max(p.time_msc);
        TradeState {
            seq,
            ticket: p.ticket.to_string(),
            time_msc: p.time_msc,
            time_update_msc: now_ms,
            symbol: s.name.to_string(),
            r#type: p.side,
            volume: p.volume,
            price_open: p.price_open,
            price_current: s.price,
            sl: p.sl,
            tp: p.tp,
            profit,
            swap: 0.0,
            commission: round_cents(-3.5 * p.volume),
            magic: p.magic,
            comment: None,
            state: if closed_at.is_some() {
                TradeStatus::Closed
            } else {
                TradeStatus::Open
            },
            time_close_msc: closed_at.map(|_| now_ms),
            price_close: closed_at.map(|_| s.price),
        }
    }

    fn heartbeat(&mut self, now: Duration, ping_us: u64) -> InstanceState {
        let seq = self.next_seq();
        let floating: f64 = (0..self.positions.len())
            .map(|i| {
                let p = &self.positions[i];
                let s = &self.symbols[p.symbol];
                (s.price - p.price_open) / s.point * direction(p.side) * s.tick_value * p.volume
            })
            .sum();
        let floating = round_cents(floating);
        let balance = round_cents(self.balance + self.realised);
        let equity = round_cents(balance + floating);
        let margin = round_cents(
            self.positions
                .iter()
                .map(|p| p.volume * 1000.0)
                .sum::<f64>(),
        );
        InstanceState {
            seq,
            time_msc: self.unix_ms(now),
            login: self.login,
            server: self.server.to_string(),
            company: Some("Broker Ltd".into()),
            currency: self.currency.to_string(),
            leverage: self.leverage,
            balance,
            credit: 0.0,
            equity,
            profit: floating,
            margin,
            margin_free: round_cents(equity - margin),
            margin_level: if margin > 0.0 {
                round_cents(equity / margin * 100.0).max(0.0)
            } else {
                0.0
            },
            connected: true,
            trade_allowed: true,
            ping_us,
            build: 4_755,
            positions: self.positions.len() as u32,
            orders: 0,
            ea_version: Some("loadgen-1".into()),
        }
    }

    fn signal(&mut self, now: Duration) -> TradeSignal {
        let seq = self.next_seq();
        self.signals_sent += 1;
        let symbol = &self.symbols[self.rng.random_range(0..self.symbols.len())];
        let action = match self.rng.random_range(0..3) {
            0 => SignalAction::Buy,
            1 => SignalAction::Sell,
            _ => SignalAction::Close,
        };
        TradeSignal {
            seq,
            signal_id: format!("{}-{}-{}", self.run_tag, self.index, self.signals_sent),
            time_msc: self.unix_ms(now),
            strategy: STRATEGIES[self.rng.random_range(0..STRATEGIES.len())].to_string(),
            symbol: symbol.name.to_string(),
            action,
            volume: Some(0.1),
            price: Some(symbol.price),
            sl: None,
            tp: None,
            magic: Some(1000),
            comment: None,
        }
    }
}

/// +1 for the buy side, -1 for the sell side (the model opens only `buy` and `sell`; the order
/// types of contract 1.1 are sided the same way).
fn direction(side: PositionType) -> f64 {
    match side {
        PositionType::Buy
        | PositionType::BuyLimit
        | PositionType::BuyStop
        | PositionType::BuyStopLimit => 1.0,
        PositionType::Sell
        | PositionType::SellLimit
        | PositionType::SellStop
        | PositionType::SellStopLimit => -1.0,
    }
}

/// An exponentially distributed gap with the given mean (seconds): Poisson arrivals.
fn exponential(rng: &mut StdRng, mean_s: f64) -> Duration {
    let u: f64 = rng.random_range(f64::EPSILON..1.0);
    Duration::from_secs_f64((-u.ln() * mean_s).min(1e8))
}

fn round_to(value: f64, step: f64) -> f64 {
    let digits = (-step.log10()).round().max(0.0) as i32;
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale + 0.0
}

fn round_cents(value: f64) -> f64 {
    // `+ 0.0` turns -0 into 0: MT5 shows no negative zero, and the wire writes zero as "0".
    (value * 100.0).round() / 100.0 + 0.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use tradestate_mt5_bridge::Batch;

    fn identity() -> Identity {
        Identity {
            id_prefix: "lg".into(),
            seed: 7,
            seq_base: 1_000,
            start_unix_ms: 1_763_000_000_000,
            run_tag: "r1".into(),
        }
    }

    fn run_for(terminal: &mut Terminal, profile: &Profile, until: Duration) -> Vec<Update> {
        let mut all = Vec::new();
        loop {
            let at = terminal.next_due();
            if at > until {
                return all;
            }
            all.extend(terminal.fire(at, profile).updates);
        }
    }

    #[test]
    fn every_update_is_valid_and_seq_only_grows() {
        let profile = Profile {
            activity_per_s: 5.0,
            ..Profile::default()
        };
        let mut terminal = Terminal::new(3, &identity(), &profile);
        let updates = run_for(&mut terminal, &profile, Duration::from_secs(600));
        assert!(updates.len() > 2_000, "{} updates", updates.len());
        let mut last = 1_000;
        for update in &updates {
            assert!(update.seq() > last);
            last = update.seq();
        }
        let batch = Batch {
            instance_id: Some(terminal.id.clone()),
            updates: updates.clone(),
        };
        for chunk in batch.updates.chunks(500) {
            let batch = Batch {
                instance_id: batch.instance_id.clone(),
                updates: chunk.to_vec(),
            };
            batch.validate().unwrap();
        }
        // The verifier compares stored hashes with `to_fields`; the service stores what the
        // wire carries, so the two must agree for every update the model makes.
        for update in &updates {
            let fields = match update {
                Update::Instance(s) => s.to_fields(),
                Update::Trade(t) => t.to_fields(),
                Update::Signal(s) => s.to_fields(),
                Update::Positions(_) => unreachable!("the model sends no positions snapshot"),
            };
            let wire = tradestate_mt5_bridge::wire::wire_values(update);
            assert_eq!(fields.len(), wire.len());
            for ((name, text), (wire_name, value)) in fields.iter().zip(&wire) {
                assert_eq!((name, text), (wire_name, &value.resp_text()), "{update:?}");
            }
        }
        let kinds: std::collections::HashSet<Kind> = updates.iter().map(Kind::of).collect();
        assert_eq!(kinds.len(), 3, "heartbeats, trades and signals");
        let closes = updates
            .iter()
            .filter(|u| matches!(u, Update::Trade(t) if t.state == TradeStatus::Closed))
            .count();
        assert!(closes > 10);
    }

    #[test]
    fn one_seed_gives_one_schedule() {
        let profile = Profile::default();
        let a = run_for(
            &mut Terminal::new(1, &identity(), &profile),
            &profile,
            Duration::from_secs(300),
        );
        let b = run_for(
            &mut Terminal::new(1, &identity(), &profile),
            &profile,
            Duration::from_secs(300),
        );
        assert_eq!(a, b);
        let c = run_for(
            &mut Terminal::new(2, &identity(), &profile),
            &profile,
            Duration::from_secs(300),
        );
        assert_ne!(a, c);
    }

    #[test]
    fn aiming_at_a_rate_gets_close_to_it() {
        let mut profile = Profile {
            reconnect_every: None,
            ..Profile::default()
        };
        profile.aim_at(2_000.0, 100);
        let mut sent = 0;
        for i in 0..100 {
            let mut terminal = Terminal::new(i, &identity(), &profile);
            sent += run_for(&mut terminal, &profile, Duration::from_secs(120)).len();
        }
        let rate = sent as f64 / 120.0;
        assert!((1_700.0..2_300.0).contains(&rate), "rate {rate}");
    }

    #[test]
    fn a_storm_resends_the_full_state_at_once() {
        let profile = Profile {
            reconnect_every: None,
            activity_per_s: 0.0,
            attach_over: Duration::ZERO,
            ..Profile::default()
        };
        let mut terminal = Terminal::new(5, &identity(), &profile);
        terminal.fire(Duration::ZERO, &profile);
        terminal.storm_at(Some(Duration::from_millis(500)));
        assert_eq!(terminal.next_due(), Duration::from_millis(500));
        let due = terminal.fire(Duration::from_millis(500), &profile);
        assert!(due.reconnect);
        let trades = due
            .updates
            .iter()
            .filter(|u| Kind::of(u) == Kind::Trade)
            .count();
        assert_eq!(trades, terminal.positions.len());
        assert_eq!(
            due.updates
                .iter()
                .filter(|u| Kind::of(u) == Kind::Instance)
                .count(),
            1
        );
    }

    fn without_seq(mut update: Update) -> Update {
        match &mut update {
            Update::Instance(s) => s.seq = 0,
            Update::Trade(t) => t.seq = 0,
            Update::Signal(s) => s.seq = 0,
            Update::Positions(p) => p.seq = 0,
        }
        update
    }

    #[test]
    fn a_restart_resets_the_numbering_in_a_new_epoch_and_resends_the_full_state() {
        let profile = Profile {
            reconnect_every: None,
            activity_per_s: 0.5,
            attach_over: Duration::ZERO,
            restart_every: Some(Duration::from_secs(20)),
            restart_seq: RestartSeq::Zero,
            ..Profile::default()
        };
        let identity = Identity {
            seq_base: 5_000_000_000_000,
            ..identity()
        };
        let mut terminal = Terminal::new(5, &identity, &profile);
        let mut last = 0;
        let (restart, restarted_at) = loop {
            let at = terminal.next_due();
            assert!(at < Duration::from_secs(3_600), "no restart within an hour");
            let due = terminal.fire(at, &profile);
            if due.restart {
                break (due, at);
            }
            last = due.updates.iter().map(Update::seq).max().unwrap_or(last);
            assert_eq!(terminal.epoch(), 0);
        };
        assert!(last > 5_000_000_000_000);
        assert_eq!(terminal.epoch(), 1);
        assert!(!restart.reconnect, "counted as a restart, not a reconnect");
        // Behind by ZERO_RESET_BELOW, plus the seconds the run has gone on (a clock ticks).
        let reset = 5_000_000_000_000 - ZERO_RESET_BELOW + restarted_at.as_secs() * 1_000_000;
        assert!(matches!(&restart.updates[0], Update::Instance(s) if s.seq == reset));
        let trades = restart
            .updates
            .iter()
            .filter(|u| Kind::of(u) == Kind::Trade)
            .count();
        assert!(trades >= terminal.positions.len());
        assert!(restart
            .updates
            .iter()
            .all(|u| u.seq() >= reset && u.seq() < last));

        // A stale answer at or above next: numbering goes on past it, in another epoch; one
        // below next changes nothing.
        let past = last + 1 + tradestate_mt5_bridge::SEQ_JUMP_MARGIN;
        terminal.jump_past(last);
        assert_eq!((terminal.next_seq_value(), terminal.epoch()), (past, 2));
        terminal.jump_past(reset);
        assert_eq!((terminal.next_seq_value(), terminal.epoch()), (past, 2));
        let mut again = restart.updates[0].clone();
        terminal.renumber(&mut again);
        assert_eq!(again.seq(), past);

        // The clock floor: whole seconds of the schedule's time times 10^6.
        let mut clocked = Terminal::new(5, &identity, &profile);
        clocked.reset_seq(Duration::from_millis(2_500), RestartSeq::Clock);
        let unix_s = (identity.start_unix_ms + 2_500) / 1000;
        assert_eq!(
            clocked.next_seq_value(),
            (unix_s as u64 * 1_000_000).max(5_000_000_000_000)
        );
        assert_eq!(clocked.epoch(), 1);
    }

    /// A recovery's full state comes from the service's answers; it must not move the schedule.
    #[test]
    fn a_resync_leaves_the_schedule_as_it_was() {
        let profile = Profile {
            activity_per_s: 2.0,
            ..Profile::default()
        };
        let mut plain = Terminal::new(2, &identity(), &profile);
        let mut resynced = Terminal::new(2, &identity(), &profile);
        let half = Duration::from_secs(60);
        let a: Vec<Update> = run_for(&mut plain, &profile, half);
        let b: Vec<Update> = run_for(&mut resynced, &profile, half);
        assert_eq!(a, b);
        let resync = resynced.resync(half);
        assert_eq!(resync.len(), 1 + resynced.positions.len());
        resynced.jump_past(resynced.next_seq_value() + 1_000);
        let until = Duration::from_secs(180);
        let a: Vec<Update> = run_for(&mut plain, &profile, until);
        let b: Vec<Update> = run_for(&mut resynced, &profile, until);
        assert_eq!(
            a.into_iter().map(without_seq).collect::<Vec<_>>(),
            b.into_iter().map(without_seq).collect::<Vec<_>>()
        );
    }
}
