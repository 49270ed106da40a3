//! Pub/sub commands: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, PUBLISH and PUBSUB
//! (CHANNELS, NUMSUB, NUMPAT, HELP). The registry and delivery are in `pubsub.rs`.
use super::server::subcommand_syntax_error;

use super::{CmdResult, Ctx};
use crate::pubsub::{self, PubSub, Publisher};

/// `subscribe`/`unsubscribe`/... confirmation: kind, channel (or null), subscription count.
fn confirm(ctx: &mut Ctx, kind: &[u8], channel: Option<&[u8]>) {
    let count = ctx.server.pubsub.count(ctx.client.id);
    ctx.out.push(3);
    ctx.out.bulk(kind);
    ctx.out.bulk_or_null(channel);
    ctx.out.int(count as i64);
}

fn start_tracking(ctx: &mut Ctx) {
    ctx.client.outbox.set_resp3(ctx.client.resp == 3);
}

pub fn subscribe(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    start_tracking(ctx);
    for &channel in &argv[1..] {
        let outbox = ctx.client.outbox.clone();
        ctx.server.pubsub.subscribe(ctx.client.id, &outbox, channel);
        confirm(ctx, b"subscribe", Some(channel));
    }
    Ok(())
}

pub fn psubscribe(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    start_tracking(ctx);
    for &pattern in &argv[1..] {
        let outbox = ctx.client.outbox.clone();
        ctx.server
            .pubsub
            .psubscribe(ctx.client.id, &outbox, pattern);
        confirm(ctx, b"psubscribe", Some(pattern));
    }
    Ok(())
}

pub fn unsubscribe(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    leave(
        ctx,
        &argv[1..],
        b"unsubscribe",
        PubSub::channels_of,
        PubSub::unsubscribe,
    )
}

pub fn punsubscribe(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    leave(
        ctx,
        &argv[1..],
        b"punsubscribe",
        PubSub::patterns_of,
        PubSub::punsubscribe,
    )
}

/// UNSUBSCRIBE and PUNSUBSCRIBE: leaves the `names` given, or all the client's (`all_of`)
/// when none is, confirming each; a single confirmation with a null when there is none.
fn leave(
    ctx: &mut Ctx,
    names: &[&[u8]],
    kind: &[u8],
    all_of: fn(&PubSub, u64) -> Vec<Box<[u8]>>,
    leave_one: fn(&mut PubSub, u64, &[u8]) -> bool,
) -> CmdResult {
    let id = ctx.client.id;
    let names: Vec<Box<[u8]>> = if names.is_empty() {
        all_of(&ctx.server.pubsub, id)
    } else {
        names.iter().map(|&c| c.into()).collect()
    };
    if names.is_empty() {
        confirm(ctx, kind, None);
    }
    for name in names {
        leave_one(&mut ctx.server.pubsub, id, &name);
        confirm(ctx, kind, Some(&name));
    }
    Ok(())
}

pub fn publish(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    let publisher = Publisher {
        client_id: ctx.client.id,
        out: &mut *ctx.out,
    };
    let receivers = pubsub::publish(ctx.server, Some(publisher), argv[1], argv[2]);
    ctx.out.int(receivers as i64);
    Ok(())
}

pub fn pubsub_channels(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    if argv.len() > 3 {
        return Err(subcommand_syntax_error(argv));
    }
    let channels = ctx.server.pubsub.channels_matching(argv.get(2).copied());
    ctx.out.array(channels.len());
    for c in channels {
        ctx.out.bulk(c);
    }
    Ok(())
}

pub fn pubsub_numsub(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    ctx.out.array((argv.len() - 2) * 2);
    for &channel in &argv[2..] {
        ctx.out.bulk(channel);
        let n = ctx.server.pubsub.channel_subscribers(channel);
        ctx.out.int(n as i64);
    }
    Ok(())
}

pub fn pubsub_numpat(ctx: &mut Ctx, _argv: &[&[u8]]) -> CmdResult {
    ctx.out.int(ctx.server.pubsub.num_patterns() as i64);
    Ok(())
}

pub fn pubsub_help(ctx: &mut Ctx, argv: &[&[u8]]) -> CmdResult {
    const LINES: &[&str] = &[
        "CHANNELS [<pattern>]",
        "    Return the currently active channels matching a <pattern> (default: '*').",
        "NUMPAT",
        "    Return number of subscriptions to patterns.",
        "NUMSUB [<channel> ...]",
        "    Return the number of subscribers for the specified channels, excluding",
        "    pattern subscriptions(default: no channels).",
        "SHARDCHANNELS [<pattern>]",
        "    Return the currently active shard level channels matching a <pattern> (default: '*').",
        "SHARDNUMSUB [<shardchannel> ...]",
        "    Return the number of subscribers for the specified shard level channel(s)",
    ];
    super::server::reply_help(ctx, argv[0], LINES);
    Ok(())
}

/// PING while subscribed in RESP2: `*2 pong <arg or "">`, as Redis answers there.
pub fn subscribed_ping(ctx: &mut Ctx, argv: &[&[u8]]) {
    ctx.out.array(2);
    ctx.out.bulk(b"pong");
    ctx.out.bulk(argv.get(1).copied().unwrap_or(b""));
}
