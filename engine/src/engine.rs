//! Starting and stopping an engine instance: one OS thread running a single-threaded tokio
//! runtime that owns the keyspace, its listeners (TCP and optionally a Unix socket), every
//! client connection and the housekeeping cron. A process may start several (the gateway runs
//! ris, rts and rtss side by side); they share nothing.

// Unsafe code here: setsockopt and getrlimit/setrlimit calls; each block says why it is sound.
#![allow(unsafe_code)]

use std::cell::RefCell;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Config;
use crate::connection::Connection;
use crate::server::Server;

/// Why an engine could not start. The gateway re-exports it as `service::StartError` for the
/// service's own start failures, whose text names the setting and the fix.
#[derive(Debug)]
pub struct StartError(pub String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

/// A running engine. Dropping the handle (or calling [`EngineHandle::shutdown`]) stops it.
pub struct EngineHandle {
    pub name: String,
    /// The TCP addresses actually bound (port 0 in the config picks a free port).
    pub addrs: Vec<SocketAddr>,
    stop: watch::Sender<bool>,
    /// Becomes true (or closes) when the engine has stopped, whatever stopped it: the handle,
    /// or a client's SHUTDOWN.
    stopped: watch::Receiver<bool>,
    thread: Option<JoinHandle<()>>,
    local: crate::local::LocalClient,
}

impl EngineHandle {
    /// The first bound TCP address.
    pub fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    pub fn port(&self) -> u16 {
        self.addrs[0].port()
    }

    /// A handle for running commands in this engine from the same process, without a socket.
    pub fn local_client(&self) -> crate::local::LocalClient {
        self.local.clone()
    }

    /// True once the engine has stopped (SHUTDOWN, or [`EngineHandle::shutdown`]).
    pub fn is_stopped(&self) -> bool {
        *self.stopped.borrow() || self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Resolves when the engine stops on its own (a client's SHUTDOWN). Usable from any
    /// tokio runtime.
    pub fn stopped(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.stopped.clone();
        async move {
            // An error means the engine thread is gone, which is a stop too.
            let _ = rx.wait_for(|s| *s).await;
        }
    }

    /// Stops accepting, closes every connection and joins the engine thread.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for EngineHandle {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// Starts an engine on its own thread and returns once its listeners are bound.
pub fn start(name: &str, config: Config) -> Result<EngineHandle, StartError> {
    raise_fd_limit(config.maxclients);
    let (ready_tx, ready_rx) = mpsc::channel::<Result<Vec<SocketAddr>, String>>();
    let (stop_tx, stop_rx) = watch::channel(false);
    let (stopped_tx, stopped_rx) = watch::channel(false);
    let thread_name = format!("engine-{name}");
    let engine_name = name.to_string();
    let (local, local_requests) = crate::local::channel();
    let thread = std::thread::Builder::new()
        .name(thread_name)
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(format!("cannot build runtime: {e}")));
                    return;
                }
            };
            let local = tokio::task::LocalSet::new();
            local.block_on(
                &rt,
                run(engine_name, config, ready_tx, stop_rx, local_requests),
            );
            // Every connection task is dropped with the LocalSet: clients see the close.
            drop(local);
            let _ = stopped_tx.send(true);
        })
        .map_err(|e| StartError(format!("engine {name}: cannot spawn thread: {e}")))?;
    match ready_rx.recv() {
        Ok(Ok(addrs)) => Ok(EngineHandle {
            name: name.to_string(),
            addrs,
            stop: stop_tx,
            stopped: stopped_rx,
            thread: Some(thread),
            local,
        }),
        Ok(Err(e)) => {
            let _ = thread.join();
            Err(StartError(format!("engine {name}: {e}")))
        }
        Err(_) => {
            let _ = thread.join();
            Err(StartError(format!(
                "engine {name}: thread exited during start"
            )))
        }
    }
}

/// Binds and listens with the configured `tcp-backlog` (address reuse on, as Redis sets it).
fn listen(addr: &str, backlog: u32) -> std::io::Result<TcpListener> {
    use std::net::ToSocketAddrs;
    // Host names resolve like Redis's getaddrinfo; this runs once, at start.
    let addr: SocketAddr = addr.to_socket_addrs()?.next().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "address resolves to nothing",
        )
    })?;
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    if addr.is_ipv6() {
        // `::` must not also claim the IPv4 port that `*` binds (Redis sets IPV6_V6ONLY).
        set_v6_only(&socket);
    }
    socket.bind(addr)?;
    socket.listen(backlog.max(1))
}

fn set_v6_only(socket: &tokio::net::TcpSocket) {
    let on: libc::c_int = 1;
    // SAFETY: setsockopt reads `on` for the given length on a socket we own.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IPV6,
            libc::IPV6_V6ONLY,
            &on as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// `tcp-keepalive`: TCP keepalive probes after this many idle seconds (Redis's
/// `anetKeepAlive`: interval a third of it, 3 probes). 0 turns them off.
fn set_keepalive(fd: i32, secs: u32) {
    if secs == 0 {
        return;
    }
    let set = |level: libc::c_int, opt: libc::c_int, value: libc::c_int| {
        // SAFETY: setsockopt reads `value` for the given length on a socket we own.
        unsafe {
            libc::setsockopt(
                fd,
                level,
                opt,
                &value as *const libc::c_int as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    };
    let secs = secs.min(i32::MAX as u32) as libc::c_int;
    set(libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1);
    set(libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, secs);
    set(libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, (secs / 3).max(1));
    set(libc::IPPROTO_TCP, libc::TCP_KEEPCNT, 3);
}

async fn bind_all(config: &Config) -> Result<Vec<TcpListener>, String> {
    let mut listeners = Vec::new();
    let port = config.port;
    let mut bound_port = port;
    for word in config.bind_addrs() {
        let (optional, host) = match word.strip_prefix('-') {
            Some(h) => (true, h.to_string()),
            None => (false, word.clone()),
        };
        let host = match host.as_str() {
            "*" => "0.0.0.0".to_string(),
            "::*" => "::".to_string(),
            h => h.to_string(),
        };
        let addr = if host.contains(':') {
            format!("[{host}]:{bound_port}")
        } else {
            format!("{host}:{bound_port}")
        };
        match listen(&addr, config.tcp_backlog) {
            Ok(l) => {
                if bound_port == 0 {
                    bound_port = l.local_addr().map(|a| a.port()).unwrap_or(0);
                }
                listeners.push(l);
            }
            Err(e) if optional => {
                tracing::debug!(%addr, error = %e, "optional bind address skipped");
            }
            Err(e) => {
                return Err(format!(
                    "cannot listen on {addr}: {e} (check `bind` and `port`)"
                ))
            }
        }
    }
    if listeners.is_empty() && port != 0 {
        return Err("no address to listen on: `bind` is empty".into());
    }
    Ok(listeners)
}

async fn run(
    name: String,
    mut config: Config,
    ready: mpsc::Sender<Result<Vec<SocketAddr>, String>>,
    mut stop: watch::Receiver<bool>,
    local_requests: crate::local::LocalRequests,
) {
    // Security: users from `aclfile`; a bad file stops the start, as in Redis.
    if let Err(e) = crate::acl::load_acl_file_at_start(&mut config) {
        let _ = ready.send(Err(e));
        return;
    }
    let listeners = match bind_all(&config).await {
        Ok(l) => l,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let unix_path = config.get("unixsocket").unwrap_or("").to_string();
    let unix_listener = if unix_path.is_empty() {
        None
    } else {
        let _ = std::fs::remove_file(&unix_path);
        match tokio::net::UnixListener::bind(&unix_path) {
            Ok(l) => {
                let perm = config.unixsocketperm;
                if perm != 0 {
                    use std::os::unix::fs::PermissionsExt;
                    let _ =
                        std::fs::set_permissions(&unix_path, std::fs::Permissions::from_mode(perm));
                }
                Some(l)
            }
            Err(e) => {
                let _ = ready.send(Err(format!(
                    "cannot listen on unix socket {unix_path}: {e}"
                )));
                return;
            }
        }
    };
    let addrs: Vec<SocketAddr> = listeners
        .iter()
        .filter_map(|l| l.local_addr().ok())
        .collect();
    let mut server = Server::new(&name, config);
    if let Some(a) = addrs.first() {
        server.tcp_port = a.port();
    }
    // Persistence: the RDB file, then the append only file, are loaded before clients connect
    // (the RDB loader steps aside when appendonly is on: the AOF is the fuller record).
    let loaded =
        crate::rdb::load_at_start(&mut server).and_then(|()| crate::aof::start(&mut server));
    if let Err(e) = loaded {
        let _ = ready.send(Err(e));
        return;
    }
    let server = Rc::new(RefCell::new(server));
    tracing::info!(engine = %name, addrs = ?addrs, unixsocket = %unix_path, "engine ready to accept connections");
    let _ = ready.send(Ok(addrs));

    for listener in listeners {
        tokio::task::spawn_local(accept_tcp(listener, server.clone()));
    }
    if let Some(l) = unix_listener {
        tokio::task::spawn_local(accept_unix(l, server.clone(), unix_path.clone()));
    }
    tokio::task::spawn_local(cron(server.clone()));
    tokio::task::spawn_local(crate::rdb::snapshot::driver(server.clone()));
    tokio::task::spawn_local(crate::local::serve(local_requests, server.clone()));
    let shutdown = server.borrow().shutdown_notify.clone();
    tokio::select! {
        _ = stop.wait_for(|s| *s) => {}
        _ = shutdown.notified() => {
            // Let the SHUTDOWN caller's connection write its earlier replies and close.
            tokio::task::yield_now().await;
        }
    }
    tracing::info!(engine = %name, "engine shutting down");
    crate::rdb::save_on_stop(&mut server.borrow_mut());
    if !unix_path.is_empty() {
        let _ = std::fs::remove_file(&unix_path);
    }
}

async fn cron(server: Rc<RefCell<Server>>) {
    loop {
        let hz = server.borrow().config.hz.max(1);
        tokio::time::sleep(Duration::from_millis(1000 / hz as u64)).await;
        server.borrow_mut().cron();
    }
}

/// True when the client may not connect: too many clients, or protected mode refuses it.
fn refuse(server: &mut Server, loopback: bool) -> Option<&'static str> {
    if server.clients.len() >= server.config.maxclients {
        server.stats.rejected_connections += 1;
        return Some("-ERR max number of clients reached\r\n");
    }
    let default_nopass = server.acl.user("default").is_some_and(|u| u.nopass);
    if crate::acl::protected_mode_refuses(server.config.protected_mode, default_nopass, loopback) {
        server.stats.rejected_connections += 1;
        return Some(PROTECTED_MODE_ERROR);
    }
    None
}

/// Redis 7.0.15's text, typo included ("Setup a an"): clients may match on it.
const PROTECTED_MODE_ERROR: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

async fn accept_tcp(listener: TcpListener, server: Rc<RefCell<Server>>) {
    loop {
        let Some((stream, peer)) = accepted(listener.accept().await, "accept failed").await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let local = stream
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let Some(stream) = admit(&server, stream, peer.ip().is_loopback()) else {
            continue;
        };
        let fd = stream.as_raw_fd();
        set_keepalive(fd, server.borrow().config.tcp_keepalive_secs);
        let client = server.borrow_mut().register_client(
            peer.to_string(),
            local,
            fd,
            peer.ip().is_loopback(),
        );
        tokio::task::spawn_local(Connection::new(stream, client, server.clone()).run());
    }
}

/// The accepted connection, or `None` after a failed accept (EMFILE and friends) has been
/// logged and waited out: retrying at once would spin.
async fn accepted<T>(result: std::io::Result<T>, what: &'static str) -> Option<T> {
    match result {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "{what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
            None
        }
    }
}

/// `stream` back if the server takes the connection; otherwise the refusal is written to it
/// in the background. The borrow ends before anything awaits: held through the write, every
/// other task touching the server would panic meanwhile.
fn admit<S>(server: &RefCell<Server>, stream: S, loopback: bool) -> Option<S>
where
    S: tokio::io::AsyncWrite + Unpin + 'static,
{
    let refused = refuse(&mut server.borrow_mut(), loopback);
    match refused {
        Some(msg) => {
            tokio::task::spawn_local(reject(stream, msg));
            None
        }
        None => Some(stream),
    }
}

async fn reject<S: tokio::io::AsyncWrite + Unpin>(mut stream: S, msg: &'static str) {
    use tokio::io::AsyncWriteExt;
    let _ = stream.write_all(msg.as_bytes()).await;
    let _ = stream.shutdown().await;
}

async fn accept_unix(
    listener: tokio::net::UnixListener,
    server: Rc<RefCell<Server>>,
    path: String,
) {
    loop {
        let accept = listener.accept().await;
        let Some((stream, _)) = accepted(accept, "accept failed on unix socket").await else {
            continue;
        };
        let Some(stream) = admit(&server, stream, true) else {
            continue;
        };
        let fd = stream.as_raw_fd();
        let client =
            server
                .borrow_mut()
                .register_client(format!("{path}:0"), format!("{path}:0"), fd, true);
        client.borrow_mut().unix_socket = true;
        tokio::task::spawn_local(Connection::new(stream, client, server.clone()).run());
    }
}

/// Raises the open-file limit so `maxclients` connections fit, as Redis does at start.
fn raise_fd_limit(maxclients: usize) {
    let want = (maxclients + 64) as libc::rlim_t;
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read/write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 || lim.rlim_cur >= want {
            return;
        }
        let target = if lim.rlim_max == libc::RLIM_INFINITY {
            want
        } else {
            want.min(lim.rlim_max)
        };
        lim.rlim_cur = target;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
            tracing::warn!(
                wanted = want,
                "could not raise the open files limit; fewer clients than maxclients can connect"
            );
        }
    }
}
