//! The node's embedded store: `redb` for metadata, receipts, mismatch records and jobs,
//! and a content-addressed directory for model blobs.
//!
//! Layout under the data directory:
//!
//! ```text
//! verity.redb            models, receipts, mismatches, jobs (one redb file)
//! blobs/<model id>       canonical model bytes; the name is the BLAKE3 of the content
//! blobs/tmp/             uploads being written (emptied at startup)
//! executor.key           the node's signing key (unless --key points elsewhere)
//! ```
//!
//! Crash safety rests on one ordering: a blob is written to `blobs/tmp`, fsynced, renamed
//! into place and its directory fsynced *before* the redb transaction that references it
//! commits, and only a committed redb row makes a model visible. A crash before the commit
//! leaves at most an unreferenced file, which startup deletes; a crash after it leaves a
//! durable blob. Receipts are acknowledged only after their redb commit returns (redb's
//! `Durability::Immediate`, the default: the commit is fsynced before it returns).

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;

use anyhow::{bail, Context, Result};
use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};
use verity_exec::api::ModelSummary;
use verity_exec::parse_id;

use crate::hooks::Pause;

const MODELS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("models");
const RECEIPTS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("receipts");
const MISMATCHES: TableDefinition<u64, &[u8]> = TableDefinition::new("mismatches");
/// Proof jobs (evidence `zk`), keyed by a sequence number. Nothing writes it until a
/// prover exists; the table is created now so the schema does not change then.
const JOBS: TableDefinition<u64, &[u8]> = TableDefinition::new("jobs");

/// What the `models` table holds for each model id.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModelMeta {
    pub bytes: u64,
    pub source: String,
    pub published_at: u64,
}

/// What `Store::open` found and repaired.
#[derive(Debug, Default)]
pub struct OpenReport {
    /// Half-written uploads deleted from `blobs/tmp`.
    pub removed_tmp: usize,
    /// Blobs no committed row referenced (a crash between rename and commit), deleted.
    pub removed_orphans: usize,
    /// Registered models whose blob is missing (should never happen; logged, served as 500).
    pub missing_blobs: Vec<String>,
    pub models: u64,
    pub receipts: u64,
}

pub struct Store {
    db: Database,
    blobs: PathBuf,
    tmp: PathBuf,
    pause: Option<Pause>,
    tmp_seq: AtomicU64,
}

fn hex(id: &[u8; 32]) -> String {
    verity_commit::hash::hex(id)
}

/// Makes a rename or a new file in `dir` durable.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

impl Store {
    pub fn open(dir: &Path, pause: Option<Pause>) -> Result<(Store, OpenReport)> {
        let blobs = dir.join("blobs");
        let tmp = blobs.join("tmp");
        fs::create_dir_all(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        let db_path = dir.join("verity.redb");
        let db = Database::create(&db_path).with_context(|| format!("cannot open {}", db_path.display()))?;
        let store = Store { db, blobs, tmp, pause, tmp_seq: AtomicU64::new(0) };
        let report = store.recover()?;
        Ok((store, report))
    }

    /// Creates the tables, deletes leftovers of interrupted uploads and checks that every
    /// registered model has its blob. Runs before the node accepts requests.
    fn recover(&self) -> Result<OpenReport> {
        let w = self.db.begin_write()?;
        {
            w.open_table(MODELS)?;
            w.open_table(RECEIPTS)?;
            w.open_table(MISMATCHES)?;
            w.open_table(JOBS)?;
        }
        w.commit()?;
        let mut report = OpenReport::default();
        for entry in fs::read_dir(&self.tmp).with_context(|| format!("cannot list {}", self.tmp.display()))? {
            let path = entry?.path();
            fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
            report.removed_tmp += 1;
        }
        let r = self.db.begin_read()?;
        let models = r.open_table(MODELS)?;
        report.models = models.len()?;
        report.receipts = r.open_table(RECEIPTS)?.len()?;
        for entry in fs::read_dir(&self.blobs)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(id) = name.to_str().and_then(parse_id) else { continue };
            if models.get(&id)?.is_none() {
                fs::remove_file(entry.path())?;
                report.removed_orphans += 1;
            }
        }
        if report.removed_orphans > 0 {
            sync_dir(&self.blobs)?;
        }
        for row in models.iter()? {
            let (id, _) = row?;
            if !self.blob_path(id.value()).is_file() {
                report.missing_blobs.push(hex(id.value()));
            }
        }
        Ok(report)
    }

    fn blob_path(&self, id: &[u8; 32]) -> PathBuf {
        self.blobs.join(hex(id))
    }

    /// (models, receipts) stored.
    pub fn counts(&self) -> Result<(u64, u64)> {
        let r = self.db.begin_read()?;
        Ok((r.open_table(MODELS)?.len()?, r.open_table(RECEIPTS)?.len()?))
    }

    pub fn model_meta(&self, id: &[u8; 32]) -> Result<Option<ModelMeta>> {
        let r = self.db.begin_read()?;
        let t = r.open_table(MODELS)?;
        let Some(v) = t.get(id)? else { return Ok(None) };
        Ok(Some(serde_json::from_slice(v.value()).context("corrupted model row")?))
    }

    /// Up to `limit` models with ids after `after`, in id order, and the cursor of the next page.
    pub fn list_models(&self, after: Option<[u8; 32]>, limit: usize) -> Result<(Vec<ModelSummary>, Option<String>)> {
        let r = self.db.begin_read()?;
        let t = r.open_table(MODELS)?;
        let mut out = Vec::new();
        let rows = match &after {
            Some(a) => t.range::<&[u8; 32]>((std::ops::Bound::Excluded(a), std::ops::Bound::Unbounded))?,
            None => t.range::<&[u8; 32]>(..)?,
        };
        for row in rows {
            let (id, v) = row?;
            if out.len() == limit {
                let next = out.last().map(|m: &ModelSummary| m.model_id.clone());
                return Ok((out, next));
            }
            let meta: ModelMeta = serde_json::from_slice(v.value()).context("corrupted model row")?;
            out.push(ModelSummary {
                model_id: hex(id.value()),
                bytes: meta.bytes,
                source: meta.source,
                published_at: meta.published_at,
            });
        }
        Ok((out, None))
    }

    /// Stores a model's canonical bytes under `id` (their BLAKE3) and registers it. Returns
    /// false if it was already registered. Blob first, then the row (see the module doc).
    pub fn put_model(&self, id: &[u8; 32], bytes: &[u8], meta: &ModelMeta) -> Result<bool> {
        if blake3::hash(bytes).as_bytes() != id {
            bail!("model bytes do not hash to their id");
        }
        if self.model_meta(id)?.is_some() {
            return Ok(false);
        }
        self.write_blob(id, bytes)?;
        Pause::at(&self.pause, "publish:blob-renamed");
        let w = self.db.begin_write()?;
        let created = {
            let mut t = w.open_table(MODELS)?;
            let existed = t.get(id)?.is_some();
            if !existed {
                t.insert(id, serde_json::to_vec(meta)?.as_slice())?;
            }
            !existed
        };
        w.commit()?;
        Ok(created)
    }

    fn write_blob(&self, id: &[u8; 32], bytes: &[u8]) -> Result<()> {
        let seq = self.tmp_seq.fetch_add(1, Ordering::Relaxed);
        let tmp = self.tmp.join(format!("{}.{}.{seq}", hex(id), std::process::id()));
        let dest = self.blob_path(id);
        let result = (|| -> std::io::Result<()> {
            let mut f = File::options().write(true).create_new(true).open(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            Pause::at(&self.pause, "publish:blob-tmp-written");
            fs::rename(&tmp, &dest)?;
            sync_dir(&self.blobs)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result.with_context(|| format!("cannot write blob {}", dest.display()))
    }

    /// A registered model's bytes, checked against the id (a corrupted disk must not make
    /// the node serve a different model under this id). `None` if it is not registered.
    pub fn read_model(&self, id: &[u8; 32]) -> Result<Option<Vec<u8>>> {
        if self.model_meta(id)?.is_none() {
            return Ok(None);
        }
        let path = self.blob_path(id);
        let bytes = fs::read(&path).with_context(|| format!("cannot read blob {}", path.display()))?;
        if blake3::hash(&bytes).as_bytes() != id {
            bail!("blob {} is corrupted: its content does not hash to its name", path.display());
        }
        Ok(Some(bytes))
    }

    /// Inserts receipt records (id → JSON) in one transaction: the group commit of
    /// [`ReceiptWriter`].
    pub fn put_receipts(&self, batch: &[([u8; 32], Vec<u8>)]) -> Result<()> {
        let w = self.db.begin_write()?;
        {
            let mut t = w.open_table(RECEIPTS)?;
            for (id, record) in batch {
                t.insert(id, record.as_slice())?;
            }
        }
        Pause::at(&self.pause, "receipt:before-commit");
        w.commit()?;
        Ok(())
    }

    pub fn get_receipt(&self, id: &[u8; 32]) -> Result<Option<Vec<u8>>> {
        let r = self.db.begin_read()?;
        let t = r.open_table(RECEIPTS)?;
        Ok(t.get(id)?.map(|v| v.value().to_vec()))
    }

    /// Appends a mismatch record; `make(id)` builds its JSON given its sequence number.
    pub fn add_mismatch(&self, make: impl FnOnce(u64) -> Result<Vec<u8>>) -> Result<u64> {
        let w = self.db.begin_write()?;
        let id = {
            let mut t = w.open_table(MISMATCHES)?;
            let id = t.last()?.map_or(1, |(k, _)| k.value() + 1);
            t.insert(id, make(id)?.as_slice())?;
            id
        };
        w.commit()?;
        Ok(id)
    }

    /// Up to `limit` mismatch records (JSON) with ids after `after`, and the next cursor.
    pub fn list_mismatches(&self, after: u64, limit: usize) -> Result<(Vec<Vec<u8>>, Option<u64>)> {
        let r = self.db.begin_read()?;
        let t = r.open_table(MISMATCHES)?;
        let mut out = Vec::new();
        let mut last = after;
        for row in t.range(after.saturating_add(1)..)? {
            let (k, v) = row?;
            if out.len() == limit {
                return Ok((out, Some(last)));
            }
            last = k.value();
            out.push(v.value().to_vec());
        }
        Ok((out, None))
    }
}

/// A queued receipt write and where to report its outcome.
struct PendingWrite {
    id: [u8; 32],
    record: Vec<u8>,
    done: tokio::sync::oneshot::Sender<Result<(), String>>,
}

enum WriterMsg {
    Write(PendingWrite),
    Stop,
}

/// Group commit for receipts: one thread owns receipt writes and commits everything queued
/// since its last commit in one transaction, so concurrent inferences share one fsync
/// instead of queueing for one each. A receipt is acknowledged only after its commit.
pub struct ReceiptWriter {
    tx: mpsc::Sender<WriterMsg>,
    thread: std::sync::Mutex<Option<JoinHandle<()>>>,
}

/// Most receipts in one transaction (bounds the latency one commit adds to the first).
const MAX_BATCH: usize = 512;

impl ReceiptWriter {
    pub fn start(store: std::sync::Arc<Store>) -> Result<Self> {
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new().name("receipt-writer".into()).spawn(move || writer_loop(&store, &rx))?;
        Ok(ReceiptWriter { tx, thread: std::sync::Mutex::new(Some(thread)) })
    }

    /// Stores a receipt record durably; resolves once it is committed.
    pub async fn write(&self, id: [u8; 32], record: Vec<u8>) -> Result<()> {
        let (done, rx) = tokio::sync::oneshot::channel();
        self.tx.send(WriterMsg::Write(PendingWrite { id, record, done })).context("the receipt writer has stopped")?;
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => bail!("{e}"),
            Err(_) => bail!("the receipt writer stopped before committing"),
        }
    }

    /// Commits everything queued so far, then stops the thread.
    pub fn stop(&self) {
        let _ = self.tx.send(WriterMsg::Stop);
        if let Some(t) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = t.join();
        }
    }
}

fn writer_loop(store: &Store, rx: &mpsc::Receiver<WriterMsg>) {
    let mut stop = false;
    while !stop {
        let Ok(first) = rx.recv() else { return };
        let mut batch = Vec::new();
        match first {
            WriterMsg::Write(p) => batch.push(p),
            WriterMsg::Stop => return,
        }
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(WriterMsg::Write(p)) => batch.push(p),
                Ok(WriterMsg::Stop) => {
                    stop = true;
                    break;
                }
                Err(_) => break,
            }
        }
        // Two requests may carry the same receipt (same key, body and second): one row.
        let mut rows: HashMap<[u8; 32], Vec<u8>> = HashMap::new();
        for p in &batch {
            rows.insert(p.id, p.record.clone());
        }
        let rows: Vec<_> = rows.into_iter().collect();
        let result = store.put_receipts(&rows).map_err(|e| {
            tracing::error!("cannot store receipts: {e:#}");
            "cannot store the receipt".to_string()
        });
        for p in batch {
            let _ = p.done.send(result.clone());
        }
    }
}
