//! A closed position's trade state from its deals, and the trade server's UTC offset at a past
//! time (CLIENT.md, "Positions and closes").
//!
//! Pure computations, mirrored line by line by `TsClosedFromDeals` / `TsServerOffsetAt` in
//! `mql5/Include/Tradestate/History.mqh`. Both run the cases of `fixtures/history/*.json`
//! (`tests/history.rs` here, `TsHistorySelfTest()` in the terminal), so the two give the same
//! doubles: keep the order of the arithmetic the same in both files.
//!
//! Rules both sides follow:
//! - volumes are counted in whole units of 1e-8 lot (`round(volume * 1e8)`), so the net volume
//!   of a position is exact and reaches 0 exactly; a reported volume is `units / 1e8`;
//! - deals are walked in `(time_msc, ticket)` order;
//! - prices are rounded to the symbol's digits when `digits > 0` ([`round_digits`]), money
//!   (profit, swap, commission) to 8 decimals, which only removes the binary noise of sums.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::types::{PositionType, TradeState, TradeStatus};

/// Volume units per lot: volumes are counted in whole 1e-8 lots.
pub const VOLUME_UNITS_PER_LOT: f64 = 1e8;

/// Decimals money sums are rounded to.
pub const MONEY_DECIMALS: u32 = 8;

/// The daylight saving rule of a trade server's clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DstRule {
    /// A fixed offset all year.
    None,
    /// New York's: second Sunday of March 02:00 to first Sunday of November 02:00 (the usual
    /// GMT+2/+3 servers). The default.
    #[default]
    Us,
    /// The EU's: last Sunday of March 01:00 UTC to last Sunday of October 01:00 UTC.
    Eu,
}

impl DstRule {
    /// The configuration name: `none`, `us` or `eu`.
    pub fn name(self) -> &'static str {
        match self {
            DstRule::None => "none",
            DstRule::Us => "us",
            DstRule::Eu => "eu",
        }
    }
}

impl fmt::Display for DstRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DstRule {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "none" => Ok(DstRule::None),
            "us" => Ok(DstRule::Us),
            "eu" => Ok(DstRule::Eu),
            other => Err(format!(
                "unknown DST rule {other:?} (expected none, us or eu)"
            )),
        }
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let month = i64::from(month);
    let day = i64::from(day);
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // [0, 399]
    let mp = if month > 2 { month - 3 } else { month + 9 }; // March = 0
    let doy = (153 * mp + 2) / 5 + day - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// The year of a day counted from 1970-01-01 (the year part of H. Hinnant's
/// `civil_from_days`).
pub fn year_of_day(days: i64) -> i64 {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // March = 0
    let year = yoe + era * 400;
    if mp >= 10 {
        year + 1 // January, February
    } else {
        year
    }
}

/// Day of the week of a day counted from 1970-01-01 (a Thursday): 0 = Sunday .. 6 = Saturday.
pub fn weekday(days: i64) -> i64 {
    (days + 4).rem_euclid(7)
}

/// The `n`th (1-based) Sunday of a month, as days since 1970-01-01.
fn nth_sunday(year: i64, month: u32, n: i64) -> i64 {
    let first = days_from_civil(year, month, 1);
    first + (7 - weekday(first)) % 7 + 7 * (n - 1)
}

/// The last Sunday of a month (March to November), as days since 1970-01-01.
fn last_sunday(year: i64, month: u32) -> i64 {
    let last = days_from_civil(year, month + 1, 1) - 1;
    last - weekday(last)
}

/// 3600 when the clock time `t` (seconds since 1970-01-01 on that clock) is inside daylight
/// saving under `rule`, else 0. The switches are compared on the same clock as `t` at the
/// rule's hour (02:00 for `us`, 01:00 for `eu`): exact about the day, approximate about the
/// hour, which is fine for deal times.
pub fn dst_seconds(rule: DstRule, t: i64) -> i64 {
    let year = year_of_day(t.div_euclid(86_400));
    let (start, end) = match rule {
        DstRule::None => return 0,
        DstRule::Us => (
            nth_sunday(year, 3, 2) * 86_400 + 2 * 3600,
            nth_sunday(year, 11, 1) * 86_400 + 2 * 3600,
        ),
        DstRule::Eu => (
            last_sunday(year, 3) * 86_400 + 3600,
            last_sunday(year, 10) * 86_400 + 3600,
        ),
    };
    if t >= start && t < end {
        3600
    } else {
        0
    }
}

/// The trade server's UTC offset (server time minus UTC, seconds) at the server time
/// `at_server_s`, given the offset `now_offset_s` observed at `now_utc_s`: today's offset,
/// corrected by the difference of daylight saving between now and then. "Now" is evaluated on
/// the server's clock too (`now_utc_s + now_offset_s`).
pub fn server_offset_at(now_offset_s: i64, now_utc_s: i64, at_server_s: i64, rule: DstRule) -> i64 {
    now_offset_s - dst_seconds(rule, now_utc_s + now_offset_s) + dst_seconds(rule, at_server_s)
}

/// DEAL_ENTRY. Informational: [`closed_from_deals`] follows the signed net volume (side and
/// volume of each deal), which is what the entries describe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DealEntry {
    In,
    Out,
    /// JSON `inout` (DEAL_ENTRY_INOUT).
    #[serde(rename = "inout")]
    InOut,
    OutBy,
}

/// DEAL_TYPE (only buy and sell deals belong to positions).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DealSide {
    Buy,
    Sell,
}

impl DealSide {
    fn sign(self) -> i64 {
        match self {
            DealSide::Buy => 1,
            DealSide::Sell => -1,
        }
    }
}

/// One deal of a position, as `HistoryDealGet*` reports it (times in server time).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deal {
    /// DEAL_TICKET.
    pub ticket: u64,
    /// DEAL_ORDER: the order that made the deal.
    pub order: u64,
    /// DEAL_ENTRY.
    pub entry: DealEntry,
    /// DEAL_TYPE; JSON `side`.
    pub side: DealSide,
    /// DEAL_VOLUME in lots.
    pub volume: f64,
    /// DEAL_PRICE.
    pub price: f64,
    /// DEAL_TIME_MSC: trade server time, ms.
    pub time_msc: i64,
    /// DEAL_PROFIT.
    #[serde(default)]
    pub profit: f64,
    /// DEAL_SWAP.
    #[serde(default)]
    pub swap: f64,
    /// DEAL_COMMISSION.
    #[serde(default)]
    pub commission: f64,
    /// DEAL_SL.
    #[serde(default)]
    pub sl: f64,
    /// DEAL_TP.
    #[serde(default)]
    pub tp: f64,
    /// DEAL_SYMBOL.
    pub symbol: String,
    /// DEAL_MAGIC.
    #[serde(default)]
    pub magic: i64,
    /// DEAL_COMMENT.
    #[serde(default)]
    pub comment: String,
}

/// A volume in whole 1e-8 lots.
pub fn volume_units(volume: f64) -> i64 {
    (volume * VOLUME_UNITS_PER_LOT).round() as i64
}

fn lots(units: i64) -> f64 {
    units as f64 / VOLUME_UNITS_PER_LOT
}

/// `(x * 10^digits).round() / 10^digits`, like MQL5's `NormalizeDouble` (10^digits built by
/// multiplication, exact up to 22 digits).
pub fn round_digits(x: f64, digits: u32) -> f64 {
    let mut scale = 1.0;
    for _ in 0..digits {
        scale *= 10.0;
    }
    (x * scale).round() / scale
}

/// A server time in ms as UTC ms, with the server's offset at that time.
fn utc_msc(server_msc: i64, now_offset_s: i64, now_utc_s: i64, rule: DstRule) -> i64 {
    let offset = server_offset_at(now_offset_s, now_utc_s, server_msc.div_euclid(1000), rule);
    server_msc - offset * 1000
}

/// What is summed over the leg being computed.
#[derive(Default)]
struct Leg<'a> {
    opening: Option<&'a Deal>,
    direction: i64,
    in_units: i64,
    in_value: f64,
    out_units: i64,
    out_value: f64,
    profit: f64,
    swap: f64,
    commission: f64,
    closing: Option<&'a Deal>,
}

/// The money a deal (or the part of a deal) brings to a leg: profit, swap, commission.
#[derive(Clone, Copy)]
struct Money {
    profit: f64,
    swap: f64,
    commission: f64,
}

impl Money {
    fn of(deal: &Deal) -> Self {
        Money {
            profit: deal.profit,
            swap: deal.swap,
            commission: deal.commission,
        }
    }
}

impl<'a> Leg<'a> {
    fn open(deal: &'a Deal, direction: i64, units: i64, money: Money) -> Self {
        let mut leg = Leg {
            opening: Some(deal),
            direction,
            ..Leg::default()
        };
        leg.add(deal, units, money);
        leg
    }

    /// Volume in the leg's direction (opening or scaling in).
    fn add(&mut self, deal: &'a Deal, units: i64, money: Money) {
        self.in_units += units;
        self.in_value += lots(units) * deal.price;
        self.book(money);
    }

    /// Volume against the leg's direction (closing all or part).
    fn reduce(&mut self, deal: &'a Deal, units: i64, money: Money) {
        self.out_units += units;
        self.out_value += lots(units) * deal.price;
        self.book(money);
        self.closing = Some(deal);
    }

    fn book(&mut self, money: Money) {
        self.profit += money.profit;
        self.swap += money.swap;
        self.commission += money.commission;
    }
}

/// The closed state of the leg `ticket` of position `position_id`, from the position's deals
/// (any order; walked by time). `digits` is the symbol's (prices are rounded to it when > 0);
/// times are converted from server time with [`server_offset_at`] of each deal's own time.
///
/// Legs: the signed net volume is kept over the deals; a leg starts when it leaves 0 (ticket
/// `position_id` for the first leg, else the opening deal's `order`), and ends when it returns
/// to 0 or changes sign (a netting reversal, `DEAL_ENTRY_INOUT`), in which case the reversing
/// deal closes the leg with the part of its volume that flattened the position and opens the
/// next leg (ticket = that deal's `order`) with the rest. On hedging accounts a position is one
/// leg of IN and OUT / OUT_BY deals.
///
/// Of the leg's deals: `volume` = volume added in the leg's direction, `price_open` and
/// `price_close` the volume-weighted averages of the added and the closing volume, `profit` and
/// `swap` their sums (a reversing deal's go only to the leg it closes: it realised them), and
/// `commission` their sum with a reversing deal's commission split by volume between the leg
/// it closes and the one it opens. Open time, symbol, magic and comment from the opening deal;
/// close and update time, `sl` and `tp` from the last closing deal. `seq` is 0: the caller
/// numbers it.
///
/// Errors when the leg is not among the deals, or has not returned to 0 yet (still open, or its
/// closing deals are not in the history yet), or the result is not a valid trade state.
pub fn closed_from_deals(
    deals: &[Deal],
    ticket: u64,
    position_id: u64,
    digits: u32,
    now_offset_s: i64,
    now_utc_s: i64,
    rule: DstRule,
) -> Result<TradeState, String> {
    let mut order: Vec<&Deal> = deals.iter().collect();
    order.sort_by_key(|deal| (deal.time_msc, deal.ticket));

    let mut net: i64 = 0;
    let mut legs = 0u32;
    let mut current_ticket = 0u64;
    // The leg asked for, once it has started, and whether it has ended.
    let mut target: Option<Leg> = None;
    let mut closed = false;
    for deal in order {
        let units = volume_units(deal.volume);
        if units <= 0 {
            continue;
        }
        let sign = deal.side.sign();
        let is_target = |current: u64| current == ticket;
        if net == 0 {
            // A new leg: the position's first, or one opened again after it was flat.
            legs += 1;
            current_ticket = if legs == 1 { position_id } else { deal.order };
            if is_target(current_ticket) {
                target = Some(Leg::open(deal, sign, units, Money::of(deal)));
            }
            net = sign * units;
        } else if net.signum() == sign {
            // Scaling in.
            if let (true, Some(leg)) = (is_target(current_ticket), target.as_mut()) {
                leg.add(deal, units, Money::of(deal));
            }
            net += sign * units;
        } else if units <= net.abs() {
            // Closing all or part.
            if let (true, Some(leg)) = (is_target(current_ticket), target.as_mut()) {
                leg.reduce(deal, units, Money::of(deal));
            }
            net += sign * units;
            if net == 0 && is_target(current_ticket) {
                closed = true;
                break;
            }
        } else {
            // A reversal (DEAL_ENTRY_INOUT): `closing` units flatten the position, the rest
            // opens the next leg. The deal's profit and swap were realised by the closing, so
            // they go to the leg it closes; its commission is split by volume between the leg
            // it closes and the leg it opens.
            let closing = net.abs();
            let rest = units - closing;
            if let (true, Some(leg)) = (is_target(current_ticket), target.as_mut()) {
                let commission = deal.commission * closing as f64 / units as f64;
                leg.reduce(
                    deal,
                    closing,
                    Money {
                        commission,
                        ..Money::of(deal)
                    },
                );
                closed = true;
                break;
            }
            legs += 1;
            current_ticket = deal.order;
            if is_target(current_ticket) {
                let commission = deal.commission * rest as f64 / units as f64;
                let money = Money {
                    profit: 0.0,
                    swap: 0.0,
                    commission,
                };
                target = Some(Leg::open(deal, sign, rest, money));
            }
            net = sign * rest;
        }
    }

    let leg = match target {
        Some(leg) => leg,
        None => {
            return Err(format!(
                "position {position_id}: no leg with ticket {ticket} among its {} deals",
                deals.len()
            ))
        }
    };
    let (Some(opening), Some(closing), true) = (leg.opening, leg.closing, closed) else {
        return Err(format!(
            "position {position_id}: ticket {ticket} is still open (net {} lots after the last \
             deal) or its closing deals are not in the history yet",
            lots(net)
        ));
    };

    let mut price_open = leg.in_value / lots(leg.in_units);
    let mut price_close = leg.out_value / lots(leg.out_units);
    if digits > 0 {
        price_open = round_digits(price_open, digits);
        price_close = round_digits(price_close, digits);
    }
    let close_msc = utc_msc(closing.time_msc, now_offset_s, now_utc_s, rule);
    let state = TradeState {
        seq: 0,
        ticket: ticket.to_string(),
        time_msc: utc_msc(opening.time_msc, now_offset_s, now_utc_s, rule),
        time_update_msc: close_msc,
        symbol: opening.symbol.clone(),
        r#type: if leg.direction > 0 {
            PositionType::Buy
        } else {
            PositionType::Sell
        },
        volume: lots(leg.in_units),
        price_open,
        price_current: price_close,
        sl: closing.sl,
        tp: closing.tp,
        profit: round_digits(leg.profit, MONEY_DECIMALS),
        swap: round_digits(leg.swap, MONEY_DECIMALS),
        commission: round_digits(leg.commission, MONEY_DECIMALS),
        magic: opening.magic,
        comment: (!opening.comment.is_empty()).then(|| opening.comment.clone()),
        state: TradeStatus::Closed,
        time_close_msc: Some(close_msc),
        price_close: Some(price_close),
    };
    state
        .validate()
        .map_err(|errors| format!("position {position_id}: ticket {ticket}: {errors}"))?;
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(year: i64, month: u32, day: u32) -> i64 {
        days_from_civil(year, month, day)
    }

    fn at(year: i64, month: u32, d: u32, hour: i64, minute: i64) -> i64 {
        day(year, month, d) * 86_400 + hour * 3600 + minute * 60
    }

    #[test]
    fn civil_days_round_trip() {
        assert_eq!(day(1970, 1, 1), 0);
        assert_eq!(day(2000, 3, 1), 11_017);
        assert_eq!(day(2024, 2, 29) + 1, day(2024, 3, 1));
        assert_eq!(day(2023, 2, 28) + 1, day(2023, 3, 1));
        assert_eq!(day(1969, 12, 31), -1);
        for d in [-800_000, -1, 0, 1, 10_956, 19_700, 19_783, 80_000] {
            let year = year_of_day(d);
            assert!(
                day(year, 1, 1) <= d && d < day(year + 1, 1, 1),
                "{d} in {year}"
            );
        }
        assert_eq!(weekday(day(2024, 3, 10)), 0, "2024-03-10 is a Sunday");
        assert_eq!(weekday(day(1970, 1, 1)), 4);
        assert_eq!(weekday(-1), 3);
    }

    #[test]
    fn switch_days_are_exact() {
        // (year, US start, US end, EU start, EU end)
        for (year, us_start, us_end, eu_start, eu_end) in [
            (2021, 14, 7, 28, 31),
            (2022, 13, 6, 27, 30),
            (2023, 12, 5, 26, 29),
            (2024, 10, 3, 31, 27),
            (2025, 9, 2, 30, 26),
            (2026, 8, 1, 29, 25),
        ] {
            assert_eq!(nth_sunday(year, 3, 2), day(year, 3, us_start), "{year}");
            assert_eq!(nth_sunday(year, 11, 1), day(year, 11, us_end), "{year}");
            assert_eq!(last_sunday(year, 3), day(year, 3, eu_start), "{year}");
            assert_eq!(last_sunday(year, 10), day(year, 10, eu_end), "{year}");
        }
    }

    #[test]
    fn dst_by_rule() {
        let us = DstRule::Us;
        assert_eq!(dst_seconds(us, at(2024, 3, 10, 1, 59)), 0);
        assert_eq!(dst_seconds(us, at(2024, 3, 10, 2, 0)), 3600);
        assert_eq!(dst_seconds(us, at(2024, 7, 1, 12, 0)), 3600);
        assert_eq!(dst_seconds(us, at(2024, 11, 3, 1, 59)), 3600);
        assert_eq!(dst_seconds(us, at(2024, 11, 3, 2, 0)), 0);
        assert_eq!(dst_seconds(us, at(2024, 1, 15, 0, 0)), 0);
        let eu = DstRule::Eu;
        assert_eq!(dst_seconds(eu, at(2024, 3, 10, 12, 0)), 0);
        assert_eq!(dst_seconds(eu, at(2024, 3, 31, 0, 59)), 0);
        assert_eq!(dst_seconds(eu, at(2024, 3, 31, 1, 0)), 3600);
        assert_eq!(dst_seconds(eu, at(2024, 10, 27, 0, 59)), 3600);
        assert_eq!(dst_seconds(eu, at(2024, 10, 27, 1, 0)), 0);
        assert_eq!(dst_seconds(DstRule::None, at(2024, 7, 1, 0, 0)), 0);
    }

    #[test]
    fn offset_follows_the_rule() {
        let now_utc = at(2024, 7, 1, 9, 0);
        let winter = at(2024, 1, 10, 10, 0);
        assert_eq!(server_offset_at(10_800, now_utc, winter, DstRule::Us), 7200);
        assert_eq!(server_offset_at(10_800, now_utc, winter, DstRule::Eu), 7200);
        assert_eq!(
            server_offset_at(10_800, now_utc, winter, DstRule::None),
            10_800
        );
        // Between the US and the EU switch: summer in New York, winter in Europe.
        let gap = at(2024, 3, 20, 10, 0);
        assert_eq!(
            server_offset_at(7200, at(2024, 1, 5, 0, 0), gap, DstRule::Us),
            10_800
        );
        assert_eq!(
            server_offset_at(7200, at(2024, 1, 5, 0, 0), gap, DstRule::Eu),
            7200
        );
    }

    #[test]
    fn rule_names() {
        for rule in [DstRule::None, DstRule::Us, DstRule::Eu] {
            assert_eq!(rule.name().parse::<DstRule>(), Ok(rule));
        }
        assert!("US".parse::<DstRule>().is_err());
        assert_eq!(DstRule::default(), DstRule::Us);
    }

    #[test]
    fn rounding() {
        assert_eq!(round_digits(1.0851249999, 5), 1.08512);
        assert_eq!(round_digits(0.1 + 0.2, 8), 0.3);
        assert_eq!(round_digits(-1.005, 2), -1.0); // -1.005 is -1.00499999...
        assert_eq!(volume_units(0.1), 10_000_000);
        assert_eq!(volume_units(0.1 + 0.2), 30_000_000);
    }

    const SUMMER_UTC: i64 = 1_719_824_400; // 2024-07-01 09:00 UTC
    const JUNE_SERVER_MS: i64 = 1_718_020_800_000; // 2024-06-10 12:00 server time

    fn deal(
        ticket: u64,
        order: u64,
        entry: DealEntry,
        side: DealSide,
        volume: f64,
        price: f64,
        minutes: i64,
    ) -> Deal {
        Deal {
            ticket,
            order,
            entry,
            side,
            volume,
            price,
            time_msc: JUNE_SERVER_MS + minutes * 60_000,
            profit: 0.0,
            swap: 0.0,
            commission: 0.0,
            sl: 0.0,
            tp: 0.0,
            symbol: "EURUSD".to_owned(),
            magic: 0,
            comment: String::new(),
        }
    }

    fn closed(deals: &[Deal], ticket: u64, position_id: u64) -> Result<TradeState, String> {
        closed_from_deals(
            deals,
            ticket,
            position_id,
            5,
            10_800,
            SUMMER_UTC,
            DstRule::Us,
        )
    }

    #[test]
    fn a_hedging_position_closed_in_one_deal() {
        use DealEntry::*;
        use DealSide::*;
        let mut open = deal(11, 101, In, Buy, 0.1, 1.07512, 0);
        open.commission = -0.35;
        open.magic = 7;
        open.comment = "trend".to_owned();
        let mut close = deal(12, 102, Out, Sell, 0.1, 1.08129, 90);
        close.commission = -0.35;
        close.profit = 61.7;
        close.swap = -0.45;
        close.sl = 1.069;
        // Given out of order: walked by time.
        let state = closed(&[close, open], 101, 101).unwrap();
        assert_eq!(state.ticket, "101");
        assert_eq!(state.r#type, PositionType::Buy);
        assert_eq!(state.volume, 0.1);
        assert_eq!(state.price_open, 1.07512);
        assert_eq!(state.price_close, Some(1.08129));
        assert_eq!(state.price_current, 1.08129);
        assert_eq!(state.commission, -0.7);
        assert_eq!(state.profit, 61.7);
        assert_eq!(state.swap, -0.45);
        assert_eq!(state.sl, 1.069);
        assert_eq!(state.magic, 7);
        assert_eq!(state.comment.as_deref(), Some("trend"));
        assert_eq!(state.time_msc, JUNE_SERVER_MS - 10_800_000);
        assert_eq!(
            state.time_close_msc,
            Some(JUNE_SERVER_MS + 90 * 60_000 - 10_800_000)
        );
        assert_eq!(state.time_update_msc, state.time_close_msc.unwrap());
        assert_eq!(state.state, TradeStatus::Closed);
        assert_eq!(state.seq, 0);
    }

    #[test]
    fn a_reversal_splits_volume_and_commission() {
        use DealEntry::*;
        use DealSide::*;
        let mut d1 = deal(1, 501, In, Buy, 1.0, 1.1, 0);
        d1.commission = -3.0;
        let mut d2 = deal(2, 502, InOut, Sell, 3.0, 1.2, 10);
        d2.commission = -9.0;
        d2.profit = 100.0;
        let mut d3 = deal(3, 503, Out, Buy, 2.0, 1.15, 20);
        d3.commission = -6.0;
        d3.profit = 100.0;
        let deals = [d1, d2, d3];
        let first = closed(&deals, 501, 501).unwrap();
        assert_eq!(first.r#type, PositionType::Buy);
        assert_eq!(first.volume, 1.0);
        assert_eq!(first.price_open, 1.1);
        assert_eq!(first.price_close, Some(1.2));
        assert_eq!(first.commission, -6.0);
        assert_eq!(first.profit, 100.0);
        let second = closed(&deals, 502, 501).unwrap();
        assert_eq!(second.r#type, PositionType::Sell);
        assert_eq!(second.volume, 2.0);
        assert_eq!(second.price_open, 1.2);
        assert_eq!(second.price_close, Some(1.15));
        assert_eq!(second.commission, -12.0);
        assert_eq!(second.profit, 100.0);
        assert_eq!(second.time_msc, deals[1].time_msc - 10_800_000);
        let err = closed(&deals, 999, 501).unwrap_err();
        assert!(err.contains("no leg with ticket 999"), "{err}");
    }

    #[test]
    fn an_open_leg_is_an_error() {
        use DealEntry::*;
        use DealSide::*;
        let deals = [
            deal(1, 501, In, Sell, 0.3, 1.1, 0),
            deal(2, 502, Out, Buy, 0.1, 1.09, 10),
        ];
        let err = closed(&deals, 501, 501).unwrap_err();
        assert!(err.contains("still open"), "{err}");
        let err = closed(&deals[..1], 501, 501).unwrap_err();
        assert!(err.contains("still open"), "{err}");
        let err = closed(&[], 501, 501).unwrap_err();
        assert!(err.contains("no leg"), "{err}");
    }

    #[test]
    fn sums_in_lots_are_exact() {
        use DealEntry::*;
        use DealSide::*;
        let deals = [
            deal(1, 1, In, Buy, 0.1, 1.1, 0),
            deal(2, 2, In, Buy, 0.2, 1.2, 1),
            deal(3, 3, Out, Sell, 0.3, 1.3, 2),
        ];
        let state = closed(&deals, 1, 1).unwrap();
        assert_eq!(state.volume, 0.3);
        assert_eq!(
            state.price_open,
            round_digits((0.1 * 1.1 + 0.2 * 1.2) / 0.3, 5)
        );
    }

    #[test]
    fn an_invalid_result_is_refused() {
        use DealEntry::*;
        use DealSide::*;
        let mut deals = [
            deal(1, 1, In, Buy, 0.1, 1.1, 0),
            deal(2, 2, Out, Sell, 0.1, 1.2, 1),
        ];
        deals[0].symbol.clear();
        let err = closed(&deals, 1, 1).unwrap_err();
        assert!(err.contains("symbol"), "{err}");
    }
}
