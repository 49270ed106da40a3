//! Starting and stopping the whole service from a [`Config`]: embedded engines, partition
//! backends, queues and writers, the HTTP and RESP listeners and the background chores.
//! Tests start it in-process on ephemeral ports exactly as `tradestate` does.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tradestate_config::{Backend as BackendConfig, Config, DEV_TOKEN};
use tradestate_engine::EngineHandle;

use crate::admission::{Admission, Quotas};
use crate::auth::Auth;
use crate::backend::Backend;
use crate::gateway::{Gateway, Watermarks};
use crate::http::{self, AppState};
use crate::ops::Partition;
use crate::queue::PartitionQueue;
use crate::spill::{self, Fsync, Spill};
use crate::writer::Writer;

/// Why the service could not start; the text names the setting and the fix. The same type as
/// the engine's (defined once, in `tradestate_engine`).
pub use tradestate_engine::StartError;

pub struct Service {
    pub http_addr: SocketAddr,
    pub resp_addr: Option<SocketAddr>,
    pub gateway: Arc<Gateway>,
    /// Embedded engines by partition (absent for URL backends).
    pub engines: Vec<(Partition, EngineHandle)>,
    /// The password the embedded engines share outside development mode
    /// (`<data_dir>/engine-password`); `None` in development mode or without embedded engines.
    pub engine_password: Option<String>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Service {
    /// Starts everything `config` describes, in this order: authentication, each partition's
    /// backend (starting its embedded engine), the queues, the spill logs, the gateway, the
    /// writers and spill replays, the chores, then the HTTP and RESP listeners.
    pub async fn start(mut config: Config) -> Result<Service, StartError> {
        let (auth, dev_mode) = build_auth(&mut config)?;
        let (engines, backends, engine_password) = open_backends(&config, dev_mode)?;
        let queues = build_queues(&config);
        let spills = open_spills(&config)?;
        for backend in &backends {
            backend.refresh_persistence().await;
        }
        let (shutdown, shutdown_rx) = watch::channel(false);
        let gateway = build_gateway(&config, auth, backends, queues, spills, shutdown_rx.clone());
        let mut tasks = spawn_writers_and_replays(&config, &gateway, &shutdown_rx);
        tasks.push(tokio::spawn(chores(gateway.clone(), shutdown_rx.clone())));
        let (http_addr, http_task) = start_http(&config, &gateway, shutdown_rx.clone()).await?;
        tasks.push(http_task);
        let resp_addr = match config.listen.resp {
            Some(addr) => {
                let max_clients = config.limits.max_resp_clients;
                let (bound, task) =
                    crate::resp::start(addr, gateway.clone(), max_clients, shutdown_rx.clone())
                        .await?;
                tasks.push(task);
                Some(bound)
            }
            None => None,
        };
        warn_about_open_access(dev_mode, &gateway);
        tracing::info!(%http_addr, "http listening");
        Ok(Service {
            http_addr,
            resp_addr,
            gateway,
            engines,
            engine_password,
            shutdown,
            tasks,
        })
    }

    pub fn engine(&self, partition: Partition) -> Option<&EngineHandle> {
        self.engines
            .iter()
            .find(|(p, _)| *p == partition)
            .map(|(_, engine)| engine)
    }

    /// Stops the listeners and writers, then the embedded engines.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for task in &self.tasks {
            task.abort();
        }
        for task in self.tasks {
            let _ = task.await;
        }
        for spill in self.gateway.spills.iter().flatten() {
            let spill = Arc::clone(spill);
            let _ = tokio::task::spawn_blocking(move || spill.stop()).await;
        }
        for (_, engine) in self.engines {
            engine.shutdown();
        }
    }
}

/// Terminal and operator authentication from `config`, and whether it is development mode (no
/// terminal tokens: listeners are confined to loopback first, with a warning for each).
fn build_auth(config: &mut Config) -> Result<(Auth, bool), StartError> {
    let dev_mode = config.dev_mode();
    if dev_mode {
        for warning in config.enforce_dev_mode_loopback() {
            tracing::warn!("{warning}");
        }
    }
    let tokens = config
        .terminal_tokens()
        .map_err(|e| StartError(e.to_string()))?;
    let auth = Auth::new(
        tokens.into_iter().map(|t| (t.instance_id, t.token)),
        config.auth.operator_tokens.clone(),
        dev_mode.then(|| DEV_TOKEN.to_string()),
    );
    Ok((auth, dev_mode))
}

/// Embedded engines by partition, as [`Service::engines`] holds them.
type Engines = Vec<(Partition, EngineHandle)>;

/// What `open_backends` opened: the embedded engines, every partition's backend, and the
/// engines' shared password.
type Opened = (Engines, [Arc<Backend>; 3], Option<String>);

/// Each partition's backend, in partition order: its embedded engine (started here, and
/// returned) or its Redis URL. Outside development mode an embedded engine requires the
/// password in `<data_dir>/engine-password` (see `engine_password`).
fn open_backends(config: &Config, dev_mode: bool) -> Result<Opened, StartError> {
    let mut engines = Vec::new();
    let mut backends = Vec::new();
    let mut shared_password = None;
    for partition in Partition::ALL {
        let Some(settings) = config.partitions.get(partition.name()) else {
            return Err(StartError(format!(
                "config: partitions.{}: missing",
                partition.name()
            )));
        };
        let (url, local) = match &settings.backend {
            BackendConfig::Embedded => {
                let password = match settings.engine.get("requirepass") {
                    Some(own) => Some(own.clone()),
                    None if dev_mode => None,
                    None => {
                        if shared_password.is_none() {
                            shared_password =
                                Some(crate::engine_password::load_or_create(&config.data_dir)?);
                        }
                        shared_password.clone()
                    }
                };
                let engine = start_engine(
                    partition,
                    settings.embedded_port,
                    &settings.engine,
                    &config.data_dir,
                    password.as_deref(),
                )?;
                let port_url = format!("redis://127.0.0.1:{}", engine.port());
                let url = match &password {
                    Some(password) => tradestate_backend::with_password(&port_url, password),
                    None => port_url,
                };
                tracing::info!(partition = partition.name(), addr = %engine.addr(), "embedded engine listening");
                let local = engine.local_client();
                engines.push((partition, engine));
                (url, Some(local))
            }
            BackendConfig::Url(url) => (url.clone(), None),
        };
        let backend = Backend::new(
            partition,
            &url,
            Duration::from_millis(settings.connect_timeout_ms),
            Duration::from_millis(settings.write_timeout_ms),
        )
        .map_err(|e| StartError(format!("config: {e}")))?;
        let backend = match local {
            Some(local) => backend.with_local(local),
            None => backend,
        };
        let backend = with_tls(backend, partition, settings)?;
        let backend = match settings.ack {
            tradestate_config::Ack::Written => backend,
            tradestate_config::Ack::Replicated => backend.replicated(
                settings.ack_replicas,
                Duration::from_millis(settings.ack_timeout_ms),
            ),
        };
        backends.push(Arc::new(backend));
    }
    let [ris, rts, rtss]: [Arc<Backend>; 3] = backends
        .try_into()
        .map_err(|_| StartError("three partitions expected".into()))?;
    Ok((engines, [ris, rts, rtss], shared_password))
}

/// `backend` with the partition's TLS files, read once here (validation read them too, so a
/// failure now means they changed since).
fn with_tls(
    backend: Backend,
    partition: Partition,
    settings: &tradestate_config::Partition,
) -> Result<Backend, StartError> {
    let files = settings.tls_files();
    if files.is_empty() {
        return Ok(backend);
    }
    let tls = tradestate_backend::Tls::load(&files)
        .map_err(|e| StartError(format!("config: partitions.{}: TLS: {e}", partition.name())))?;
    backend
        .with_tls(&tls)
        .map_err(|e| StartError(format!("config: {e}")))
}

/// Each partition's queue, with its configured capacity.
fn build_queues(config: &Config) -> [Arc<PartitionQueue>; 3] {
    Partition::ALL.map(|p| {
        let capacity = config
            .partitions
            .get(p.name())
            .map_or(10_000, |s| s.queue_capacity);
        Arc::new(PartitionQueue::new(capacity))
    })
}

/// The transport-independent core over the partitions' backends, queues and spills; it sees the
/// service stop through `stopping`.
fn build_gateway(
    config: &Config,
    auth: Auth,
    backends: [Arc<Backend>; 3],
    queues: [Arc<PartitionQueue>; 3],
    spills: [Option<Arc<Spill>>; 3],
    stopping: watch::Receiver<bool>,
) -> Arc<Gateway> {
    let (signals, _) = broadcast::channel(4096);
    let limits = &config.limits;
    Arc::new(Gateway {
        auth,
        admission: Admission::new(Quotas {
            per_terminal_rate: limits.per_terminal_rate,
            per_terminal_burst: limits.per_terminal_burst,
            global_rate: limits.global_rate,
        }),
        policy: Arc::new(config.policy.clone()),
        watermarks: Watermarks {
            throttle: limits.throttle_watermark,
            reject: limits.reject_watermark,
            retry_after: Duration::from_secs(limits.retry_after_s),
        },
        backends,
        queues,
        signals,
        spills,
        spill_after: Duration::from_millis(config.spill.after_ms),
        stopping,
        renumber: Arc::new(spill::hints::RenumberHints::default()),
    })
}

/// Spawns each partition's writer and, when it has a spill log, its replay (which ends when
/// `shutdown` turns true). They share the gateway's backends, queues, policy, signal channel
/// and renumber hints.
fn spawn_writers_and_replays(
    config: &Config,
    gateway: &Gateway,
    shutdown: &watch::Receiver<bool>,
) -> Vec<JoinHandle<()>> {
    let mut tasks = Vec::new();
    for partition in Partition::ALL {
        let batch_max = config
            .partitions
            .get(partition.name())
            .map_or(512, |s| s.batch_max);
        let backend = gateway.backend(partition);
        let queue = gateway.queue(partition);
        let writer = Writer::new(
            backend.clone(),
            queue.clone(),
            gateway.policy.clone(),
            batch_max,
            gateway.signals.clone(),
        );
        tasks.push(tokio::spawn(writer.run()));
        if let Some(spill) = gateway.spill(partition) {
            let capacity = queue.capacity();
            let replay = spill::replay::Replay {
                spill: spill.clone(),
                backend: backend.clone(),
                queue: queue.clone(),
                batch: (batch_max / 2).max(1),
                max_depth: (capacity as f64 * config.limits.throttle_watermark) as usize,
                renumber: gateway.renumber.clone(),
            };
            tasks.push(tokio::spawn(replay.run(shutdown.clone())));
        }
    }
    tasks
}

/// Binds `listen.http` and spawns the API server on it, which stops gracefully when `shutdown`
/// turns true. Returns the address actually bound.
async fn start_http(
    config: &Config,
    gateway: &Arc<Gateway>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(SocketAddr, JoinHandle<()>), StartError> {
    let state = AppState {
        gateway: gateway.clone(),
        metrics: metrics_handle(),
        max_body_bytes: config.limits.max_body_bytes,
        max_batch_updates: config.limits.max_batch_updates,
    };
    let listener = TcpListener::bind(config.listen.http).await.map_err(|e| {
        StartError(format!(
            "config: listen.http: cannot listen on {}: {e} (pick a free port, e.g. TRADESTATE_LISTEN_HTTP=127.0.0.1:8081)",
            config.listen.http
        ))
    })?;
    let http_addr = listener
        .local_addr()
        .map_err(|e| StartError(format!("listen.http: {e}")))?;
    let app = http::router(state);
    let task = tokio::spawn(async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        });
        if let Err(e) = serve.await {
            tracing::error!("http listener stopped: {e}");
        }
    });
    Ok((http_addr, task))
}

/// The start-up warnings for open access: development mode, and reads without operator tokens.
fn warn_about_open_access(dev_mode: bool, gateway: &Gateway) {
    if dev_mode {
        tracing::warn!(
            "DEVELOPMENT MODE: no terminal tokens are configured, so any instance id is accepted with the token {DEV_TOKEN:?} and listeners are bound to loopback only. Configure [[auth.terminals]] or auth.tokens_file before connecting real terminals."
        );
    }
    if gateway.auth.reads_open() {
        tracing::warn!("no auth.operator_tokens configured: the read API (/v1/instances, /v1/signals) is open to anyone who can reach listen.http");
    }
}

/// Each partition's spill under `<data_dir>/spill/<partition>/`, with what a previous run left
/// there indexed for replay.
fn open_spills(config: &Config) -> Result<[Option<Arc<Spill>>; 3], StartError> {
    let mut spills: [Option<Arc<Spill>>; 3] = Default::default();
    if !config.spill.enabled {
        return Ok(spills);
    }
    let fsync = Fsync::parse(&config.spill.fsync).ok_or_else(|| {
        StartError(format!(
            "config: spill.fsync: must be \"always\", \"everysec\" or \"no\", got {:?}",
            config.spill.fsync
        ))
    })?;
    let settings = spill::Settings {
        fsync,
        max_bytes: config.spill.max_bytes,
        min_free_bytes: config.spill.min_free_bytes,
        segment_bytes: config.spill.segment_bytes,
    };
    for partition in Partition::ALL {
        let dir = config.data_dir.join("spill").join(partition.name());
        let spill = Spill::open(partition, &dir, settings.clone()).map_err(StartError)?;
        spills[partition.index()] = Some(spill);
    }
    Ok(spills)
}

fn start_engine(
    partition: Partition,
    port: u16,
    params: &std::collections::BTreeMap<String, String>,
    data_dir: &std::path::Path,
    password: Option<&str>,
) -> Result<EngineHandle, StartError> {
    let mut engine_config = tradestate_engine::Config::default();
    // Persistence: the engine's files live in <data_dir>/<partition> unless `dir` is given.
    let dir = match params.get("dir") {
        Some(d) => std::path::PathBuf::from(d),
        None => data_dir.join(partition.name()),
    };
    std::fs::create_dir_all(&dir).map_err(|e| {
        StartError(format!(
            "partitions.{}: cannot create the engine's data directory {}: {e} (check data_dir)",
            partition.name(),
            dir.display()
        ))
    })?;
    let base = [
        ("bind", "127.0.0.1".to_string()),
        ("port", port.to_string()),
        ("dir", dir.display().to_string()),
    ]
    .into_iter()
    .chain(password.map(|p| ("requirepass", p.to_string())));
    let extra = params
        .iter()
        .filter(|(k, _)| k.as_str() != "dir")
        .map(|(k, v)| (k.as_str(), v.clone()));
    for (name, value) in base.chain(extra) {
        engine_config.set(name, &value, false).map_err(|e| {
            StartError(format!(
                "config: partitions.{}.engine.{name}: {e}",
                partition.name()
            ))
        })?;
    }
    tradestate_engine::start(partition.name(), engine_config).map_err(|e| {
        StartError(format!(
            "partitions.{}: cannot start the embedded engine on 127.0.0.1:{port}: {e} (set partitions.{}.embedded_port to a free port, or 0)",
            partition.name(),
            partition.name()
        ))
    })
}

/// Periodic work, every 5 s: prune idle quota keys, ask each backend whether it keeps an append
/// only file (`stored` vs `volatile`), publish the spill gauges, prune `ris:seen` and publish
/// terminal counts.
async fn chores(gateway: Arc<Gateway>, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        gateway.admission.prune();
        for backend in &gateway.backends {
            backend.refresh_persistence().await;
        }
        for spill in gateway.spills.iter().flatten() {
            spill.publish();
        }
        let _ = crate::status::prune_seen(&gateway).await;
        if let Ok(counts) = crate::status::count_terminals(&gateway).await {
            for (status, n) in counts {
                metrics::gauge!("tradestate_terminals", "status" => status).set(n as f64);
            }
        }
    }
}

/// The process-wide Prometheus recorder (installed once; every service in a process shares it).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("tradestate_write_seconds".into()),
                    &[
                        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                        0.25, 1.0, 2.5,
                    ],
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("tradestate_batch_size".into()),
                        &[
                            1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
                        ],
                    )
                });
            let builder = match builder {
                Ok(builder) => builder,
                Err(_) => PrometheusBuilder::new(),
            };
            match builder.install_recorder() {
                Ok(handle) => {
                    describe_metrics();
                    handle
                }
                // Another recorder is installed (an embedding program's): render ours anyway.
                Err(_) => PrometheusBuilder::new().build_recorder().handle(),
            }
        })
        .clone()
}

fn describe_metrics() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        "tradestate_ingest_total",
        "Updates received, by kind, transport and outcome"
    );
    describe_gauge!(
        "tradestate_queue_depth",
        "Entries waiting in a partition queue"
    );
    describe_histogram!("tradestate_batch_size", "Updates per writer batch");
    describe_histogram!(
        "tradestate_write_seconds",
        Unit::Seconds,
        "Time to write one batch to its engine"
    );
    describe_counter!(
        "tradestate_coalesced_total",
        "State updates merged into a queued update of the same key"
    );
    describe_counter!(
        "tradestate_throttled_total",
        "Replies that carried a throttle hint, by reason"
    );
    describe_counter!(
        "tradestate_rejected_total",
        "Updates refused by backpressure, by reason"
    );
    describe_gauge!(
        "tradestate_terminals",
        "Terminals by status (online, stale, offline)"
    );
    describe_gauge!(
        "tradestate_engine_up",
        "1 when the partition's engine answered the last call"
    );
    describe_counter!(
        "tradestate_cluster_redirects_total",
        "Commands a Redis Cluster sent elsewhere (MOVED, ASK) or asked to retry (TRYAGAIN)"
    );
    describe_counter!(
        "tradestate_spilled_records_total",
        "Updates written to a partition's spill log"
    );
    describe_counter!(
        "tradestate_spilled_bytes_total",
        Unit::Bytes,
        "Bytes written to a partition's spill log"
    );
    describe_counter!(
        "tradestate_replayed_records_total",
        "Spooled updates written to their partition (or found already written)"
    );
    describe_counter!(
        "tradestate_replayed_bytes_total",
        Unit::Bytes,
        "Spill bytes whose updates were written to their partition"
    );
    describe_counter!(
        "tradestate_spill_refused_total",
        "Updates the spill could not take (spill.max_bytes or spill.min_free_bytes)"
    );
    describe_counter!(
        "tradestate_spill_corrupt_total",
        "Spill files found with a corrupt record at start and moved aside"
    );
    describe_gauge!(
        "tradestate_spill_records",
        "Spooled updates not yet written to their partition"
    );
    describe_gauge!(
        "tradestate_spill_bytes",
        Unit::Bytes,
        "Size of a partition's spill files on disk"
    );
    describe_gauge!(
        "tradestate_spill_oldest_age_seconds",
        Unit::Seconds,
        "Age of the oldest spooled update not yet written (0 when none)"
    );
    describe_gauge!(
        "tradestate_spilling",
        "1 while a partition's new updates go to its spill"
    );
    describe_counter!(
        "tradestate_signal_tail_lagged_total",
        "Times a live signal tail fell behind and re-read the stream"
    );
}
