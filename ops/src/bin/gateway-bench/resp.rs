//! The RESP terminal: one connection, `AUTH <id> <token>`, then pipelined `HSET ris:{<id>} ...`
//! (and, with `--resp-trades`, `HSET rts:{<id>}:<ticket> ...`) written at their intended times
//! without waiting for replies; a reader matches the replies, in order, to those times.
//! Replies: `:N` stored, `:0` stale, `-TRYAGAIN ...` throttled, any other `-ERR` an error.
//! They are read with the contract's reader (`tradestate_mt5_bridge::client::resp`), the one the
//! reference client and loadgen use. What differs from those clients on purpose: plain `AUTH`
//! (RESP2, so no pushes come between the replies) instead of their `HELLO 3` handshake, and the
//! open-loop timing (commands leave at their intended times, not after the previous reply).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tradestate_mt5_bridge::client::resp::{RespReader, RespValue};

use crate::payload::{encode_command, Terminal};
use crate::run::{Plan, Schedule, Window};
use crate::stats::{Answer, SharedTally};

pub async fn terminal(
    plan: Arc<Plan>,
    mut terminal: Terminal,
    schedule: Schedule,
    window: Window,
    tally: SharedTally,
) {
    let per_send = plan.pipeline.max(1) as u64;
    let unsent_all = || window.remaining(schedule.first_due, schedule.interval) * per_send;
    let stream = match TcpStream::connect(&plan.resp_addr).await {
        Ok(stream) => stream,
        Err(e) => {
            tally.problem(|| format!("connect {}: {e}", plan.resp_addr));
            tally.unsent(unsent_all());
            return;
        }
    };
    let _ = stream.set_nodelay(true);
    let (read, mut write) = stream.into_split();
    let mut reader = RespReader::with_capacity(64 * 1024, read);
    let mut out = Vec::with_capacity(64 * 1024);
    encode_command(
        &mut out,
        &[b"AUTH", terminal.id.as_bytes(), plan.token.as_bytes()],
    );
    let auth = async {
        write.write_all(&out).await?;
        reader.read_value().await
    };
    match tokio::time::timeout(Duration::from_secs(5), auth).await {
        Ok(Ok(RespValue::Simple(_))) => {}
        other => {
            tally.problem(|| format!("AUTH {} ...: {other:?}", terminal.id));
            tally.unsent(unsent_all());
            return;
        }
    }

    let (due_tx, due_rx) = mpsc::unbounded_channel::<Instant>();
    let reader_task = tokio::spawn(read_replies(reader, due_rx, window, tally.clone()));
    let cycle = if plan.resp_trades {
        plan.batch.max(1)
    } else {
        1
    };
    let mut sent = 0usize;
    let mut due = schedule.first_due;
    while due < window.send_until {
        if due > Instant::now() {
            tokio::time::sleep_until(due.into()).await;
        }
        // Everything due by now goes out in one write: a pipeline.
        let now = Instant::now();
        out.clear();
        while due <= now && due < window.send_until {
            for _ in 0..per_send {
                match sent % cycle {
                    0 => terminal.heartbeat_hset(&mut out),
                    i => terminal.trade_hset((i as u32 - 1) % plan.positions.max(1), &mut out),
                }
                sent += 1;
                let _ = due_tx.send(due);
            }
            due += schedule.interval;
        }
        let left = window.deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, write.write_all(&out)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tally.problem(|| format!("write to {}: {e}", plan.resp_addr));
                tally.unsent(window.remaining(due, schedule.interval) * per_send);
                break;
            }
            Err(_) => {
                tally.problem(|| "the gateway stopped reading (write timed out)".into());
                tally.unsent(window.remaining(due, schedule.interval) * per_send);
                break;
            }
        }
    }
    drop(due_tx);
    let _ = reader_task.await;
}

async fn read_replies(
    mut reader: RespReader<OwnedReadHalf>,
    mut dues: mpsc::UnboundedReceiver<Instant>,
    window: Window,
    tally: SharedTally,
) {
    while let Some(due) = dues.recv().await {
        let reply = tokio::time::timeout_at(window.deadline.into(), reader.read_value()).await;
        let answer = match reply {
            Ok(Ok(RespValue::Int(n))) if n > 0 => Answer::Ok,
            Ok(Ok(RespValue::Int(_))) => Answer::Stale,
            Ok(Ok(RespValue::Error(e))) if e.starts_with("TRYAGAIN") => {
                tally.problem(|| format!("-{e}"));
                Answer::Throttled
            }
            Ok(Ok(other)) => {
                tally.problem(|| format!("unexpected reply {other:?}"));
                Answer::Other
            }
            Ok(Err(e)) => {
                tally.problem(|| format!("reading replies: {e}"));
                fail_rest(due, &mut dues, window, &tally).await;
                return;
            }
            Err(_) => {
                tally.problem(|| "replies still missing at the run's deadline".into());
                fail_rest(due, &mut dues, window, &tally).await;
                return;
            }
        };
        tally.record(answer, due.elapsed(), 1, window.measured(due));
    }
}

/// The connection is gone or too slow: this and every later command have failed.
async fn fail_rest(
    due: Instant,
    dues: &mut mpsc::UnboundedReceiver<Instant>,
    window: Window,
    tally: &SharedTally,
) {
    tally.record(Answer::Failed, due.elapsed(), 1, window.measured(due));
    dues.close();
    while let Some(due) = dues.recv().await {
        tally.record(Answer::Failed, due.elapsed(), 1, window.measured(due));
    }
}
