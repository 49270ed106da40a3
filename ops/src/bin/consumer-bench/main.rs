//! `consumer-bench`: consumer-group throughput of one server, as RTSS workers use it.
//!
//! Fills a stream with `--entries` signal-shaped entries, creates a group, then `--consumers`
//! workers each loop `XREADGROUP GROUP g <me> COUNT <count> STREAMS s >` followed by one `XACK`
//! of every id they got, until the stream is drained. Prints entries consumed (read and
//! acknowledged) per second, and checks that every entry was acknowledged exactly once.

use std::time::Instant;

use clap::Parser;
use redis::aio::MultiplexedConnection;
use redis::Value;

#[derive(Parser)]
#[command(about = "XREADGROUP + XACK throughput of a Redis-compatible server")]
struct Args {
    /// Server to measure.
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    url: String,
    /// Entries put in the stream before consuming.
    #[arg(long, default_value_t = 200_000)]
    entries: usize,
    /// Consumers in the group, each on its own connection.
    #[arg(long, default_value_t = 3)]
    consumers: usize,
    /// Entries per XREADGROUP.
    #[arg(long, default_value_t = 100)]
    count: usize,
}

const STREAM: &str = "bench:signals";
const GROUP: &str = "workers";

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args).await {
        eprintln!("consumer-bench: {e}");
        std::process::exit(1);
    }
}

async fn run(args: &Args) -> Result<(), String> {
    let client =
        redis::Client::open(args.url.as_str()).map_err(|e| format!("{}: {e}", args.url))?;
    let connect = || async {
        client
            .get_multiplexed_async_connection()
            .await
            .map_err(|e| format!("connect {}: {e}", args.url))
    };
    let mut admin = connect().await?;
    fill(&mut admin, args.entries).await?;
    let started = Instant::now();
    let mut workers = Vec::new();
    for i in 0..args.consumers {
        let conn = connect().await?;
        workers.push(tokio::spawn(consume(conn, format!("c{i}"), args.count)));
    }
    let mut acked = 0usize;
    for worker in workers {
        acked += worker.await.map_err(|e| e.to_string())??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let pending: Value = redis::cmd("XPENDING")
        .arg(STREAM)
        .arg(GROUP)
        .query_async(&mut admin)
        .await
        .map_err(|e| e.to_string())?;
    let still_pending = match &pending {
        Value::Array(items) => matches!(items.first(), Some(Value::Int(n)) if *n > 0),
        _ => true,
    };
    if acked != args.entries || still_pending {
        return Err(format!(
            "acknowledged {acked} of {} entries (pending left: {still_pending})",
            args.entries
        ));
    }
    println!("{:.0}", args.entries as f64 / elapsed);
    eprintln!(
        "consumer-bench: {} entries read and acknowledged by {} consumers in {:.2} s",
        args.entries, args.consumers, elapsed
    );
    Ok(())
}

async fn fill(conn: &mut MultiplexedConnection, entries: usize) -> Result<(), String> {
    let _: Value = redis::cmd("DEL")
        .arg(STREAM)
        .query_async(conn)
        .await
        .map_err(|e| e.to_string())?;
    let mut left = entries;
    let mut seq = 0u64;
    while left > 0 {
        let n = left.min(1000);
        let mut pipe = redis::pipe();
        for _ in 0..n {
            seq += 1;
            pipe.cmd("XADD")
                .arg(STREAM)
                .arg("*")
                .arg(&[
                    "instance_id",
                    "T1.desk-a_07",
                    "signal_id",
                    "trend-eu:0001",
                    "strategy",
                    "trend-eu",
                    "symbol",
                    "EURUSD",
                    "action",
                    "buy",
                    "volume",
                    "0.1",
                    "price",
                    "1.0813",
                ])
                .arg("seq")
                .arg(seq)
                .ignore();
        }
        let _: () = pipe.query_async(conn).await.map_err(|e| e.to_string())?;
        left -= n;
    }
    let _: Value = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(STREAM)
        .arg(GROUP)
        .arg("0")
        .query_async(conn)
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// Reads and acknowledges until the group has nothing new; returns how many XACK counted.
async fn consume(
    mut conn: MultiplexedConnection,
    me: String,
    count: usize,
) -> Result<usize, String> {
    let mut acked = 0usize;
    loop {
        let reply: Value = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(GROUP)
            .arg(&me)
            .arg("COUNT")
            .arg(count)
            .arg("STREAMS")
            .arg(STREAM)
            .arg(">")
            .query_async(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        let ids = entry_ids(&reply);
        if ids.is_empty() {
            return Ok(acked);
        }
        let n: usize = redis::cmd("XACK")
            .arg(STREAM)
            .arg(GROUP)
            .arg(&ids)
            .query_async(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        acked += n;
    }
}

/// The entry ids of an XREADGROUP reply: [[stream, [[id, fields], ...]]].
fn entry_ids(reply: &Value) -> Vec<Vec<u8>> {
    let Value::Array(streams) = reply else {
        return Vec::new();
    };
    let mut ids = Vec::new();
    for stream in streams {
        let Value::Array(pair) = stream else { continue };
        let Some(Value::Array(entries)) = pair.get(1) else {
            continue;
        };
        for entry in entries {
            if let Value::Array(parts) = entry {
                if let Some(Value::BulkString(id)) = parts.first() {
                    ids.push(id.clone());
                }
            }
        }
    }
    ids
}
