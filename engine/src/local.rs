//! In-process clients: a program that embeds an engine (the Tradestate gateway) hands it
//! batches of commands over a channel instead of a socket. The engine runs them on its own
//! thread exactly as it runs a connection's pipeline, and answers with the RESP2 replies, so the
//! caller decodes them as it would a socket's. No syscalls, no loopback TCP on the way.

use std::cell::RefCell;
use std::rc::Rc;

use tokio::sync::{mpsc, oneshot};

use crate::commands::{self, Ctx};
use crate::protocol::reply::Reply;
use crate::server::{Client, Server};
use crate::util::refresh_cached_ms;

/// One batch of commands (each a list of arguments) and where its replies go.
struct Request {
    commands: Vec<Vec<Vec<u8>>>,
    reply: oneshot::Sender<Vec<u8>>,
}

/// The engine has stopped; in-process calls cannot be answered any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineStopped;

impl std::fmt::Display for EngineStopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the embedded engine has stopped")
    }
}

impl std::error::Error for EngineStopped {}

/// A handle for running commands in an engine of this process; cheap to clone, usable from any
/// thread or runtime.
#[derive(Clone)]
pub struct LocalClient {
    requests: mpsc::UnboundedSender<Request>,
}

impl LocalClient {
    /// Runs `commands` in order, as one pipeline, and returns their replies (RESP2, one after
    /// the other).
    pub async fn execute(&self, commands: Vec<Vec<Vec<u8>>>) -> Result<Vec<u8>, EngineStopped> {
        let (reply, replies) = oneshot::channel();
        self.requests
            .send(Request { commands, reply })
            .map_err(|_| EngineStopped)?;
        replies.await.map_err(|_| EngineStopped)
    }

    pub fn is_closed(&self) -> bool {
        self.requests.is_closed()
    }
}

/// The engine side: a client handle and the receiver [`serve`] drains.
pub(crate) fn channel() -> (LocalClient, LocalRequests) {
    let (requests, receiver) = mpsc::unbounded_channel();
    (LocalClient { requests }, LocalRequests(receiver))
}

pub(crate) struct LocalRequests(mpsc::UnboundedReceiver<Request>);

/// Requests run before one AOF write and their answers: bounds the replies held back.
const MAX_REQUESTS_PER_ROUND: usize = 64;

/// Runs in-process requests on the engine's thread until every [`LocalClient`] is gone or the
/// engine stops (the task is dropped with the engine's LocalSet).
///
/// Requests already waiting run together and their writes reach the append only file in one
/// `write(2)` before any of them is answered, as Redis writes the AOF once per event loop
/// iteration for all its clients.
pub(crate) async fn serve(mut requests: LocalRequests, server: Rc<RefCell<Server>>) {
    // Not registered among the server's clients: it is not a connection, so it neither counts
    // in `connected_clients` nor shows in CLIENT LIST, and CLIENT KILL cannot reach it.
    let mut client = {
        let mut server = server.borrow_mut();
        let id = server.next_client_id;
        server.next_client_id += 1;
        Client::new(id, "in-process".to_string(), String::new(), -1)
    };
    // In-process callers are the embedding program itself: no AUTH round.
    client.authenticated = true;
    client.local = true;
    let mut answers: Vec<(oneshot::Sender<Vec<u8>>, Vec<u8>)> = Vec::new();
    while let Some(first) = requests.0.recv().await {
        let mut server = server.borrow_mut();
        let mut next = Some(first);
        while let Some(request) = next.take() {
            let replies = run_request(&mut server, &mut client, &request.commands);
            answers.push((request.reply, replies));
            if answers.len() < MAX_REQUESTS_PER_ROUND {
                next = requests.0.try_recv().ok();
            }
        }
        // Persistence (AOF): logged before the replies are handed back.
        crate::aof::flush(&mut server);
        drop(server);
        for (reply, replies) in answers.drain(..) {
            let _ = reply.send(replies);
        }
    }
}

/// Runs one batch as a pipeline and returns its replies.
fn run_request(server: &mut Server, client: &mut Client, commands: &[Vec<Vec<u8>>]) -> Vec<u8> {
    let mut reply = Reply::new();
    let now_ms = refresh_cached_ms();
    for command in commands {
        if command.is_empty() {
            continue;
        }
        let argv: Vec<&[u8]> = command.iter().map(Vec::as_slice).collect();
        let mut ctx = Ctx {
            server,
            client,
            out: &mut reply,
            now_ms,
        };
        commands::execute(&mut ctx, &argv);
        // In-process callers cannot wait: a command that would block times out at once.
        if ctx.client.block_request.take().is_some() {
            ctx.out.null_array();
        }
    }
    // Callers share this client: a transaction (or WATCH) left open by one batch must not
    // capture the next caller's commands.
    let mut ctx = Ctx {
        server,
        client,
        out: &mut Reply::new(),
        now_ms,
    };
    crate::multi::discard(&mut ctx);
    reply.buf
}
