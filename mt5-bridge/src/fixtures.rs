//! Golden fixtures (`fixtures/valid`, `fixtures/invalid`), shared with the gateway's tests,
//! which replay them over HTTP. See `fixtures/README.md` for the layout and naming.

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};

use crate::decode::{parse_batch, parse_instance_state, parse_signal, parse_trade_state};
use crate::errors::ValidationErrors;
use crate::types::Update;

/// The terminal a fixture without an `instance_id` is sent as (in `fixtures/wire` and
/// `fixtures/resp`).
pub const FIXTURE_DEFAULT_INSTANCE: &str = "T1";

/// The fixtures folder of this crate.
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// The body a fixture is for, told by its file name's prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FixtureBody {
    /// `batch*`: `POST /v1/ingest`.
    Batch,
    /// `instance_state*`: `PUT /v1/instances/{id}/state`.
    InstanceState,
    /// `trade*`: `PUT /v1/instances/{id}/trades/{ticket}`.
    TradeState,
    /// `signal*`: `POST /v1/instances/{id}/signals`.
    Signal,
}

impl FixtureBody {
    /// The body kind for a fixture file name (with or without `.json`).
    pub fn for_name(name: &str) -> Option<FixtureBody> {
        [
            ("batch", FixtureBody::Batch),
            ("instance_state", FixtureBody::InstanceState),
            ("trade", FixtureBody::TradeState),
            ("signal", FixtureBody::Signal),
        ]
        .into_iter()
        .find(|(prefix, _)| name.starts_with(prefix))
        .map(|(_, body)| body)
    }

    /// Decodes and validates `json` as this body, as the matching route does.
    pub fn parse(self, json: &[u8]) -> Result<(), ValidationErrors> {
        match self {
            FixtureBody::Batch => parse_batch(json).map(drop),
            FixtureBody::InstanceState => parse_instance_state(json).map(drop),
            FixtureBody::TradeState => parse_trade_state(json).map(drop),
            FixtureBody::Signal => parse_signal(json).map(drop),
        }
    }
}

/// One fixture file.
#[derive(Clone, Debug)]
pub struct Fixture {
    /// File name without `.json`, e.g. `batch_negative_volume`.
    pub name: String,
    pub path: PathBuf,
    pub body_kind: FixtureBody,
    pub body: Vec<u8>,
    /// For invalid fixtures: the field paths of the `.expect` file. Empty for valid ones.
    pub expected_fields: BTreeSet<String>,
}

impl Fixture {
    /// A valid fixture as the terminal id it is sent as and its updates (a single-object
    /// fixture is one update).
    pub fn updates(&self) -> Result<(String, Vec<Update>), ValidationErrors> {
        let single = |update: Update| (FIXTURE_DEFAULT_INSTANCE.to_owned(), vec![update]);
        Ok(match self.body_kind {
            FixtureBody::Batch => {
                let batch = parse_batch(&self.body)?;
                let id = batch
                    .instance_id
                    .unwrap_or_else(|| FIXTURE_DEFAULT_INSTANCE.to_owned());
                (id, batch.updates)
            }
            FixtureBody::InstanceState => {
                single(Update::Instance(parse_instance_state(&self.body)?))
            }
            FixtureBody::TradeState => single(Update::Trade(parse_trade_state(&self.body)?)),
            FixtureBody::Signal => single(Update::Signal(parse_signal(&self.body)?)),
        })
    }

    /// `fixtures/wire/<name>.json`: the compact `POST /v1/ingest` body a terminal (the MQL5
    /// library, the reference client) sends for this fixture's updates.
    pub fn wire_json_path(&self) -> PathBuf {
        fixtures_dir()
            .join("wire")
            .join(format!("{}.json", self.name))
    }

    /// `fixtures/resp/<name>.resp`: the RESP commands (after AUTH) for this fixture's updates.
    pub fn resp_path(&self) -> PathBuf {
        fixtures_dir()
            .join("resp")
            .join(format!("{}.resp", self.name))
    }
}

/// Every `fixtures/valid/*.json`, sorted by name.
pub fn valid_fixtures() -> io::Result<Vec<Fixture>> {
    load_fixtures(&fixtures_dir().join("valid"), false)
}

/// Every `fixtures/invalid/*.json` with its `.expect` field set, sorted by name.
pub fn invalid_fixtures() -> io::Result<Vec<Fixture>> {
    load_fixtures(&fixtures_dir().join("invalid"), true)
}

fn load_fixtures(dir: &Path, with_expect: bool) -> io::Result<Vec<Fixture>> {
    let mut fixtures = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().and_then(|ext| ext.to_str()) != Some("json") {
            continue;
        }
        let name = path
            .file_stem()
            .and_then(|stem| stem.to_str())
            .unwrap_or_default()
            .to_owned();
        let body_kind = FixtureBody::for_name(&name).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{}: name must start with batch, instance_state, trade or signal",
                    path.display()
                ),
            )
        })?;
        let expected_fields = if with_expect {
            let expect_path = path.with_extension("expect");
            std::fs::read_to_string(&expect_path)
                .map_err(|error| {
                    io::Error::new(error.kind(), format!("{}: {error}", expect_path.display()))
                })?
                .lines()
                .map(str::trim)
                .filter(|line| !line.is_empty() && !line.starts_with('#'))
                .map(str::to_owned)
                .collect()
        } else {
            BTreeSet::new()
        };
        let body = std::fs::read(&path)?;
        fixtures.push(Fixture {
            name,
            path,
            body_kind,
            body,
            expected_fields,
        });
    }
    fixtures.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(fixtures)
}
