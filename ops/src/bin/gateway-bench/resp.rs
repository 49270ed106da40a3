//! The RESP terminal: one connection, `AUTH <id> <token>`, then pipelined `HSET ris:{<id>} ...`
//! (and, with `--resp-trades`, `HSET rts:{<id>}:<ticket> ...`) written at their intended times
//! without waiting for replies; a reader matches the replies, in order, to those times.
//! Replies: `:N` stored, `:0` stale, `-TRYAGAIN ...` throttled, any other `-ERR` an error.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::payload::{encode_command, Terminal};
use crate::run::{Plan, Schedule, Window};
use crate::stats::{Answer, SharedTally};

/// One RESP reply, as far as this driver cares.
#[derive(Debug, PartialEq)]
enum Reply {
    Int(i64),
    Simple(String),
    Error(String),
    /// Bulk strings, arrays, nil: not what HSET answers.
    Other,
}

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
    let mut reader = BufReader::with_capacity(64 * 1024, read);
    let mut out = Vec::with_capacity(64 * 1024);
    encode_command(
        &mut out,
        &[b"AUTH", terminal.id.as_bytes(), plan.token.as_bytes()],
    );
    let auth = async {
        write.write_all(&out).await?;
        read_reply(&mut reader).await
    };
    match tokio::time::timeout(Duration::from_secs(5), auth).await {
        Ok(Ok(Reply::Simple(_))) => {}
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
    mut reader: BufReader<OwnedReadHalf>,
    mut dues: mpsc::UnboundedReceiver<Instant>,
    window: Window,
    tally: SharedTally,
) {
    while let Some(due) = dues.recv().await {
        let reply = tokio::time::timeout_at(window.deadline.into(), read_reply(&mut reader)).await;
        let answer = match reply {
            Ok(Ok(Reply::Int(n))) if n > 0 => Answer::Ok,
            Ok(Ok(Reply::Int(_))) => Answer::Stale,
            Ok(Ok(Reply::Error(e))) if e.starts_with("TRYAGAIN") => {
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

async fn read_reply(reader: &mut BufReader<OwnedReadHalf>) -> std::io::Result<Reply> {
    let line = read_line(reader).await?;
    let (kind, rest) = line.split_at(1.min(line.len()));
    Ok(match kind {
        ":" => Reply::Int(rest.parse().unwrap_or(-1)),
        "+" => Reply::Simple(rest.to_string()),
        "-" => Reply::Error(rest.to_string()),
        "$" => {
            let len: i64 = rest.parse().unwrap_or(-1);
            if len >= 0 {
                let mut skip = vec![0u8; len as usize + 2];
                reader.read_exact(&mut skip).await?;
            }
            Reply::Other
        }
        "*" => {
            let items: i64 = rest.parse().unwrap_or(-1);
            for _ in 0..items.max(0) {
                Box::pin(read_reply(reader)).await?;
            }
            Reply::Other
        }
        _ => Reply::Error(format!("not RESP: {line:?}")),
    })
}

async fn read_line(reader: &mut BufReader<OwnedReadHalf>) -> std::io::Result<String> {
    let mut line = Vec::with_capacity(16);
    let n = reader.read_until(b'\n', &mut line).await?;
    if n == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the gateway closed the connection",
        ));
    }
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}
