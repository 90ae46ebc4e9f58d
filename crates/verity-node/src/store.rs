//! The node's embedded store: `redb` for metadata, receipts, mismatch records and proof
//! jobs, and content-addressed directories for model and proof blobs.
//!
//! Layout under the data directory:
//!
//! ```text
//! verity.redb            models, receipt_batches, receipt_ids, mismatches, jobs, job_ids,
//!                        job_queue, proofs, model_names (hub.rs)
//! blobs/<model id>       canonical model bytes; the name is their model id
//! blobs/proofs/<id>      proof files; the name is the BLAKE3 of the content
//! blobs/tmp/             blobs being written (emptied at startup)
//! executor.key           the node's signing key (unless --key points elsewhere)
//! ```
//!
//! Crash safety rests on one ordering: a blob is written to `blobs/tmp`, fsynced, renamed
//! into place and its directory fsynced *before* the redb transaction that references it
//! commits, and only a committed redb row makes a model or a proof visible. A crash before
//! the commit leaves at most an unreferenced file, which startup deletes; a crash after it
//! leaves a durable blob. Receipts and proof jobs are acknowledged only after their redb
//! commit returns (redb's `Durability::Immediate`, the default: the commit is fsynced
//! before it returns). A proof job is in `job_queue` from the commit that accepts it to the
//! commit that marks it done or failed, so a restart finds every job still owed.
//!
//! Receipts are appended one row per group commit, and found by id through an in-memory
//! index (a 32-byte id and a u64 per receipt, in a hash table) that startup rebuilds from
//! `receipt_ids`.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

use anyhow::{bail, Context, Result};
use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};
use verity_exec::api::{JobState, ModelSummary, ProofJob};
use verity_exec::parse_id;

use crate::hooks::Pause;

const MODELS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("models");
/// Receipt records (see `receipts.rs`), one row per group commit keyed by the number of its
/// first receipt (receipts are numbered in commit order): a commit appends one value, so it
/// writes its records contiguously. The value is the record count `k` (u32 BE), `k + 1` end
/// offsets into the records (u32 BE; the first is 0), then the records.
const RECEIPTS: TableDefinition<u64, &[u8]> = TableDefinition::new("receipt_batches");
/// First receipt number of a group commit → the ids of its receipts (32 bytes each), from
/// which startup rebuilds the in-memory id → number index.
const RECEIPT_IDS: TableDefinition<u64, &[u8]> = TableDefinition::new("receipt_ids");
const MISMATCHES: TableDefinition<u64, &[u8]> = TableDefinition::new("mismatches");
/// Proof jobs (evidence `zk`) as JSON [`JobRow`]s, keyed by a sequence number (the order
/// they were accepted in).
const JOBS: TableDefinition<u64, &[u8]> = TableDefinition::new("jobs");
/// Public job id → sequence number in `jobs`.
const JOB_IDS: TableDefinition<&[u8; 32], u64> = TableDefinition::new("job_ids");
/// Sequence numbers of the jobs queued or running: the durable proof queue, in order.
const JOB_QUEUE: TableDefinition<u64, ()> = TableDefinition::new("job_queue");
/// Proof id (BLAKE3 of the proof file in `blobs/proofs/`) → the job that made it.
const PROOFS: TableDefinition<&[u8; 32], u64> = TableDefinition::new("proofs");

/// What the `jobs` table holds for each proof job: its public record (without the
/// in-memory `progress` and `ahead`) and the input exactly as the client sent it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRow {
    pub job: ProofJob,
    pub input: String,
}

/// The outcome of [`Store::submit_job`].
pub enum Submitted {
    /// Newly queued (or a failed job queued again) under this sequence number.
    Queued(u64),
    /// The same job was already queued, running or done.
    Existing,
    /// `max_pending` jobs are queued or running already.
    Full,
}

/// What [`Store::recover_jobs`] found.
#[derive(Debug, Default)]
pub struct JobsReport {
    /// Jobs to prove, in order (interrupted ones included).
    pub pending: Vec<u64>,
    /// Jobs that were running when the node stopped, queued again.
    pub interrupted: usize,
    /// Jobs interrupted `max_attempts` times, now failed.
    pub abandoned: usize,
}

fn decode_row(bytes: &[u8]) -> Result<JobRow> {
    serde_json::from_slice(bytes).context("corrupted proof job row")
}

/// What the `models` table holds for each model id.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModelMeta {
    pub bytes: u64,
    pub source: String,
    pub published_at: u64,
    /// Hub metadata (`hub.rs`); rows written before it existed have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hub: Option<verity_exec::api::ModelHub>,
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
    /// Proof files no done job referenced (a crash between rename and commit), deleted.
    pub removed_proof_orphans: usize,
    pub models: u64,
    pub receipts: u64,
}

pub struct Store {
    db: Database,
    blobs: PathBuf,
    proofs: PathBuf,
    tmp: PathBuf,
    pause: Option<Pause>,
    tmp_seq: AtomicU64,
    /// Receipt id → receipt number, for every committed receipt (the latest if an id repeats).
    receipt_index: RwLock<HashMap<[u8; 32], u64>>,
    next_receipt: AtomicU64,
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
        let proofs = blobs.join("proofs");
        for d in [&tmp, &proofs] {
            fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
        }
        let db_path = dir.join("verity.redb");
        let db = Database::create(&db_path).with_context(|| format!("cannot open {}", db_path.display()))?;
        let store = Store {
            db,
            blobs,
            proofs,
            tmp,
            pause,
            tmp_seq: AtomicU64::new(0),
            receipt_index: RwLock::default(),
            next_receipt: AtomicU64::new(0),
        };
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
            w.open_table(RECEIPT_IDS)?;
            w.open_table(MISMATCHES)?;
            w.open_table(JOBS)?;
            w.open_table(JOB_IDS)?;
            w.open_table(JOB_QUEUE)?;
            w.open_table(PROOFS)?;
            crate::hub::create_tables(&w)?;
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
        report.receipts = self.load_receipt_index(&r)?;
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
        let proofs = r.open_table(PROOFS)?;
        for entry in fs::read_dir(&self.proofs)? {
            let entry = entry?;
            let name = entry.file_name();
            let referenced = match name.to_str().and_then(parse_id) {
                Some(id) => proofs.get(&id)?.is_some(),
                None => false,
            };
            if !referenced {
                fs::remove_file(entry.path())?;
                report.removed_proof_orphans += 1;
            }
        }
        if report.removed_proof_orphans > 0 {
            sync_dir(&self.proofs)?;
        }
        Ok(report)
    }

    /// Puts every job that was running when the node stopped back in the queue (or fails
    /// it, once it has been started `max_attempts` times: a job that keeps killing the node
    /// must not be retried forever) and returns the queue to resume.
    pub fn recover_jobs(&self, max_attempts: u32) -> Result<JobsReport> {
        let mut report = JobsReport::default();
        let w = self.db.begin_write()?;
        {
            let mut jobs = w.open_table(JOBS)?;
            let mut queue = w.open_table(JOB_QUEUE)?;
            let seqs: Vec<u64> = queue.iter()?.map(|r| r.map(|(k, _)| k.value())).collect::<Result<_, _>>()?;
            for seq in seqs {
                let Some(mut row) = jobs.get(seq)?.map(|v| decode_row(v.value())).transpose()? else {
                    queue.remove(seq)?;
                    continue;
                };
                match row.job.state {
                    JobState::Queued => report.pending.push(seq),
                    JobState::Running if row.job.attempts >= max_attempts => {
                        row.job.state = JobState::Failed;
                        row.job.error = Some(format!(
                            "proving was interrupted {} times (the node stopped or crashed while proving); \
                             request the proof again to retry",
                            row.job.attempts
                        ));
                        row.job.finished_at = Some(verity_exec::unix_now());
                        jobs.insert(seq, serde_json::to_vec(&row)?.as_slice())?;
                        queue.remove(seq)?;
                        report.abandoned += 1;
                    }
                    JobState::Running => {
                        row.job.state = JobState::Queued;
                        jobs.insert(seq, serde_json::to_vec(&row)?.as_slice())?;
                        report.pending.push(seq);
                        report.interrupted += 1;
                    }
                    // Finished jobs leave the queue in the commit that finishes them.
                    JobState::Done | JobState::Failed => {
                        queue.remove(seq)?;
                    }
                }
            }
        }
        w.commit()?;
        Ok(report)
    }

    fn blob_path(&self, id: &[u8; 32]) -> PathBuf {
        self.blobs.join(hex(id))
    }

    fn proof_path(&self, id: &[u8; 32]) -> PathBuf {
        self.proofs.join(hex(id))
    }

    /// (models, distinct receipt ids) stored.
    pub fn counts(&self) -> Result<(u64, u64)> {
        let r = self.db.begin_read()?;
        let receipts = self.receipt_index.read().unwrap_or_else(|e| e.into_inner()).len();
        Ok((r.open_table(MODELS)?.len()?, receipts as u64))
    }

    /// Rebuilds the receipt index from `receipt_ids`; returns the number of distinct ids.
    fn load_receipt_index(&self, r: &redb::ReadTransaction) -> Result<u64> {
        let mut index = HashMap::new();
        let mut next = 0;
        for row in r.open_table(RECEIPT_IDS)?.iter()? {
            let (first, ids) = row?;
            let (first, ids) = (first.value(), ids.value());
            if ids.len() % 32 != 0 {
                bail!("corrupted receipt id row {first}: {} bytes is not a whole number of ids", ids.len());
            }
            for (k, id) in ids.chunks_exact(32).enumerate() {
                index.insert(id.try_into()?, first + k as u64);
            }
            next = first + ids.len() as u64 / 32;
        }
        let count = index.len() as u64;
        *self.receipt_index.write().unwrap_or_else(|e| e.into_inner()) = index;
        self.next_receipt.store(next, Ordering::Relaxed);
        Ok(count)
    }

    pub fn model_meta(&self, id: &[u8; 32]) -> Result<Option<ModelMeta>> {
        let r = self.db.begin_read()?;
        let t = r.open_table(MODELS)?;
        let Some(v) = t.get(id)? else { return Ok(None) };
        Ok(Some(serde_json::from_slice(v.value()).context("corrupted model row")?))
    }

    /// Up to `limit` models with ids after `after`, in id order, and the cursor of the next page.
    pub fn list_models(&self, after: Option<[u8; 32]>, limit: usize) -> Result<(Vec<ModelSummary>, Option<String>)> {
        self.list_models_where(after, limit, &|_| true)
    }

    /// [`Store::list_models`] of the models `keep` accepts (the page holds `limit` of those).
    pub fn list_models_where(
        &self,
        after: Option<[u8; 32]>,
        limit: usize,
        keep: &dyn Fn(&ModelMeta) -> bool,
    ) -> Result<(Vec<ModelSummary>, Option<String>)> {
        let r = self.db.begin_read()?;
        let t = r.open_table(MODELS)?;
        let mut out = Vec::new();
        let rows = match &after {
            Some(a) => t.range::<&[u8; 32]>((std::ops::Bound::Excluded(a), std::ops::Bound::Unbounded))?,
            None => t.range::<&[u8; 32]>(..)?,
        };
        for row in rows {
            let (id, v) = row?;
            let meta: ModelMeta = serde_json::from_slice(v.value()).context("corrupted model row")?;
            if !keep(&meta) {
                continue;
            }
            if out.len() == limit {
                let next = out.last().map(|m: &ModelSummary| m.model_id.clone());
                return Ok((out, next));
            }
            out.push(ModelSummary {
                model_id: hex(id.value()),
                bytes: meta.bytes,
                source: meta.source,
                published_at: meta.published_at,
                hub: meta.hub,
            });
        }
        Ok((out, None))
    }

    /// Stores a model's canonical bytes under `id` (their model id) and registers it. Returns
    /// false if it was already registered. Blob first, then the row (see the module doc).
    pub fn put_model(&self, id: &[u8; 32], bytes: &[u8], meta: &ModelMeta) -> Result<bool> {
        if verity_model::Model::id_of_encoding(bytes) != *id {
            bail!("model bytes do not hash to their id");
        }
        if self.model_meta(id)?.is_some() {
            return Ok(false);
        }
        self.write_blob(&self.blob_path(id), bytes, "publish:blob-tmp-written")?;
        Pause::at(&self.pause, "publish:blob-renamed");
        let w = self.db.begin_write()?;
        let created = {
            let mut t = w.open_table(MODELS)?;
            let existed = t.get(id)?.is_some();
            if !existed {
                let mut meta = meta.clone();
                if let Some(hub) = meta.hub.as_mut() {
                    // The version is assigned in the transaction that registers the model,
                    // so concurrent publishes under one name get distinct versions.
                    hub.version = crate::hub::add_version(&w, &hub.name, id)?;
                }
                t.insert(id, serde_json::to_vec(&meta)?.as_slice())?;
            }
            !existed
        };
        w.commit()?;
        Ok(created)
    }

    /// Writes `dest` (a content-addressed blob) durably: temp file, fsync, rename, fsync of
    /// the directory. `pause` names the test pause point between the fsync and the rename.
    fn write_blob(&self, dest: &Path, bytes: &[u8], pause: &str) -> Result<()> {
        let seq = self.tmp_seq.fetch_add(1, Ordering::Relaxed);
        let name = dest.file_name().and_then(|n| n.to_str()).unwrap_or("blob");
        let tmp = self.tmp.join(format!("{name}.{}.{seq}", std::process::id()));
        let dir = dest.parent().unwrap_or(&self.blobs);
        let result = (|| -> std::io::Result<()> {
            let mut f = File::options().write(true).create_new(true).open(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            Pause::at(&self.pause, pause);
            fs::rename(&tmp, dest)?;
            sync_dir(dir)
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
        if verity_model::Model::id_of_encoding(&bytes) != *id {
            bail!("blob {} is corrupted: its content does not hash to its name", path.display());
        }
        Ok(Some(bytes))
    }

    /// Appends receipt records in one transaction, the group commit of the receipt writer;
    /// they are findable by id once it returns. Only one thread may call this (the writer).
    pub fn put_receipts(&self, batch: &[([u8; 32], Vec<u8>)]) -> Result<()> {
        let first = self.next_receipt.load(Ordering::Relaxed);
        let w = self.db.begin_write()?;
        {
            let head = 4 * (batch.len() + 2);
            let mut value = Vec::with_capacity(head + batch.iter().map(|(_, r)| r.len()).sum::<usize>());
            value.extend_from_slice(&(batch.len() as u32).to_be_bytes());
            let mut end = 0u32;
            value.extend_from_slice(&end.to_be_bytes());
            for (_, record) in batch {
                end += u32::try_from(record.len()).context("a receipt record over 4 GiB")?;
                value.extend_from_slice(&end.to_be_bytes());
            }
            for (_, record) in batch {
                value.extend_from_slice(record);
            }
            w.open_table(RECEIPTS)?.insert(first, value.as_slice())?;
            let ids: Vec<u8> = batch.iter().flat_map(|(id, _)| *id).collect();
            w.open_table(RECEIPT_IDS)?.insert(first, ids.as_slice())?;
        }
        Pause::at(&self.pause, "receipt:before-commit");
        w.commit()?;
        self.next_receipt.store(first + batch.len() as u64, Ordering::Relaxed);
        let mut index = self.receipt_index.write().unwrap_or_else(|e| e.into_inner());
        for (k, (id, _)) in batch.iter().enumerate() {
            index.insert(*id, first + k as u64);
        }
        Ok(())
    }

    /// The stored record of receipt `id`.
    pub fn get_receipt(&self, id: &[u8; 32]) -> Result<Option<Vec<u8>>> {
        let Some(n) = self.receipt_index.read().unwrap_or_else(|e| e.into_inner()).get(id).copied() else {
            return Ok(None);
        };
        let r = self.db.begin_read()?;
        let t = r.open_table(RECEIPTS)?;
        let Some(row) = t.range(..=n)?.next_back() else { bail!("receipt number {n} has no batch") };
        let (first, value) = row?;
        let (first, value) = (first.value(), value.value());
        let at = |i: usize| -> Option<usize> {
            let b = value.get(4 * i..4 * i + 4)?;
            Some(u32::from_be_bytes(b.try_into().ok()?) as usize)
        };
        let record = (|| {
            let count = at(0)?;
            let k = usize::try_from(n - first).ok().filter(|&k| k < count)?;
            let base = 4 * (count + 2);
            value.get(base + at(k + 1)?..base + at(k + 2)?)
        })();
        match record {
            Some(r) => Ok(Some(r.to_vec())),
            None => bail!("corrupted receipt batch {first}: no record for receipt number {n}"),
        }
    }

    /// The number of the stored receipt `id` is (the latest, if the id repeats).
    pub fn receipt_number(&self, id: &[u8; 32]) -> Option<u64> {
        self.receipt_index.read().unwrap_or_else(|e| e.into_inner()).get(id).copied()
    }

    /// Calls `visit(number, record)` for every stored receipt numbered above `after`, in
    /// commit order, until it returns false (`listing.rs`).
    pub fn scan_receipts(&self, after: Option<u64>, visit: &mut dyn FnMut(u64, &[u8]) -> Result<bool>) -> Result<()> {
        let r = self.db.begin_read()?;
        let t = r.open_table(RECEIPTS)?;
        let start = match after {
            // The batch holding `after + 1` starts at or before it.
            Some(a) => t.range(..=a.saturating_add(1))?.next_back().transpose()?.map_or(0, |(k, _)| k.value()),
            None => 0,
        };
        for row in t.range(start..)? {
            let (first, value) = row?;
            let (first, value) = (first.value(), value.value());
            let at = |i: usize| -> Option<usize> {
                let b = value.get(4 * i..4 * i + 4)?;
                Some(u32::from_be_bytes(b.try_into().ok()?) as usize)
            };
            let count = at(0).with_context(|| format!("corrupted receipt batch {first}"))?;
            let base = 4 * (count + 2);
            for k in 0..count {
                let n = first + k as u64;
                if after.is_some_and(|a| n <= a) {
                    continue;
                }
                let record = (|| value.get(base + at(k + 1)?..base + at(k + 2)?))()
                    .with_context(|| format!("corrupted receipt batch {first}: no record {k}"))?;
                if !visit(n, record)? {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Calls `visit(seq, row)` for every proof job with a sequence number above `after`, in
    /// acceptance order, until it returns false (`listing.rs`).
    pub fn scan_jobs(&self, after: Option<u64>, visit: &mut dyn FnMut(u64, JobRow) -> Result<bool>) -> Result<()> {
        let r = self.db.begin_read()?;
        let t = r.open_table(JOBS)?;
        for row in t.range(after.map_or(0, |a| a.saturating_add(1))..)? {
            let (seq, v) = row?;
            if !visit(seq.value(), decode_row(v.value())?)? {
                break;
            }
        }
        Ok(())
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

impl Store {
    /// Accepts a proof job durably: `fresh` under a new sequence number, unless a job with
    /// this id is already queued, running or done (then that one). A failed job is queued
    /// again under a new number (at the back of the queue). Returns only after the commit.
    pub fn submit_job(&self, id: &[u8; 32], fresh: JobRow, max_pending: u64) -> Result<Submitted> {
        let w = self.db.begin_write()?;
        let out = {
            let mut ids = w.open_table(JOB_IDS)?;
            let mut jobs = w.open_table(JOBS)?;
            let mut queue = w.open_table(JOB_QUEUE)?;
            let existing = ids.get(id)?.map(|v| v.value());
            let old = match existing {
                Some(seq) => {
                    let row = jobs.get(seq)?.map(|v| decode_row(v.value())).transpose()?.context("a job id names no job")?;
                    if row.job.state != JobState::Failed {
                        Some(Submitted::Existing)
                    } else {
                        jobs.remove(seq)?;
                        None
                    }
                }
                None => None,
            };
            match old {
                Some(found) => found,
                None if queue.len()? >= max_pending => Submitted::Full,
                None => {
                    let seq = jobs.last()?.map_or(1, |(k, _)| k.value() + 1);
                    jobs.insert(seq, serde_json::to_vec(&fresh)?.as_slice())?;
                    ids.insert(id, seq)?;
                    queue.insert(seq, ())?;
                    Submitted::Queued(seq)
                }
            }
        };
        if matches!(out, Submitted::Queued(_)) {
            Pause::at(&self.pause, "proof-job:before-commit");
            w.commit()?;
        } else {
            w.abort()?;
        }
        Ok(out)
    }

    pub fn job(&self, seq: u64) -> Result<Option<JobRow>> {
        let r = self.db.begin_read()?;
        let t = r.open_table(JOBS)?;
        t.get(seq)?.map(|v| decode_row(v.value())).transpose()
    }

    /// The job with this job id, or the job that made the proof with this proof id.
    pub fn find_job(&self, id: &[u8; 32]) -> Result<Option<(u64, JobRow)>> {
        let r = self.db.begin_read()?;
        let seq = match r.open_table(JOB_IDS)?.get(id)? {
            Some(s) => Some(s.value()),
            None => r.open_table(PROOFS)?.get(id)?.map(|s| s.value()),
        };
        let Some(seq) = seq else { return Ok(None) };
        let t = r.open_table(JOBS)?;
        Ok(t.get(seq)?.map(|v| decode_row(v.value())).transpose()?.map(|row| (seq, row)))
    }

    /// Jobs queued or running ahead of `seq`.
    pub fn jobs_ahead(&self, seq: u64) -> Result<u64> {
        let r = self.db.begin_read()?;
        let t = r.open_table(JOB_QUEUE)?;
        Ok(t.range(..seq)?.count() as u64)
    }

    /// (proofs stored, jobs queued or running)
    pub fn proof_counts(&self) -> Result<(u64, u64)> {
        let r = self.db.begin_read()?;
        Ok((r.open_table(PROOFS)?.len()?, r.open_table(JOB_QUEUE)?.len()?))
    }

    fn update_job(&self, seq: u64, finished: bool, edit: impl FnOnce(&mut JobRow) -> Result<Option<[u8; 32]>>) -> Result<JobRow> {
        let w = self.db.begin_write()?;
        let row = {
            let mut jobs = w.open_table(JOBS)?;
            let mut row = jobs.get(seq)?.map(|v| decode_row(v.value())).transpose()?.context("no such proof job")?;
            let proof = edit(&mut row)?;
            jobs.insert(seq, serde_json::to_vec(&row)?.as_slice())?;
            if finished {
                w.open_table(JOB_QUEUE)?.remove(seq)?;
            }
            if let Some(p) = proof {
                w.open_table(PROOFS)?.insert(&p, seq)?;
            }
            row
        };
        w.commit()?;
        Ok(row)
    }

    /// Marks a queued job running (and counts the attempt) before the prover starts on it.
    /// `None` if it is not queued.
    pub fn start_job(&self, seq: u64) -> Result<Option<JobRow>> {
        match self.job(seq)? {
            Some(row) if row.job.state == JobState::Queued => {}
            _ => return Ok(None),
        }
        let row = self.update_job(seq, false, |row| {
            row.job.state = JobState::Running;
            row.job.attempts += 1;
            row.job.started_at = Some(verity_exec::unix_now());
            Ok(None)
        })?;
        Ok(Some(row))
    }

    /// Stores a proof file (durably, before the row that makes it visible) and marks the
    /// job done. Returns the proof id.
    pub fn finish_job(&self, seq: u64, proof: &[u8]) -> Result<[u8; 32]> {
        let id: [u8; 32] = *blake3::hash(proof).as_bytes();
        self.write_blob(&self.proof_path(&id), proof, "proof:blob-tmp-written")?;
        Pause::at(&self.pause, "proof:blob-renamed");
        self.update_job(seq, true, |row| {
            row.job.state = JobState::Done;
            row.job.proof_id = Some(hex(&id));
            row.job.proof_bytes = Some(proof.len() as u64);
            row.job.error = None;
            row.job.finished_at = Some(verity_exec::unix_now());
            Ok(Some(id))
        })?;
        Ok(id)
    }

    pub fn fail_job(&self, seq: u64, error: &str) -> Result<()> {
        self.update_job(seq, true, |row| {
            row.job.state = JobState::Failed;
            row.job.error = Some(error.to_string());
            row.job.finished_at = Some(verity_exec::unix_now());
            Ok(None)
        })?;
        Ok(())
    }

    /// A stored proof file, checked against its id. `None` if no done job made it.
    pub fn read_proof(&self, id: &[u8; 32]) -> Result<Option<Vec<u8>>> {
        let registered = self.db.begin_read()?.open_table(PROOFS)?.get(id)?.is_some();
        if !registered {
            return Ok(None);
        }
        let path = self.proof_path(id);
        let bytes = fs::read(&path).with_context(|| format!("cannot read proof {}", path.display()))?;
        if blake3::hash(&bytes).as_bytes() != id {
            bail!("proof {} is corrupted: its content does not hash to its name", path.display());
        }
        Ok(Some(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(n: u8) -> ([u8; 32], JobRow) {
        let job = ProofJob::queued(hex(&[n; 32]), hex(&[1; 32]), hex(&[2; 32]), hex(&[3; 32]), 1);
        ([n; 32], JobRow { job, input: format!("{{\"input_data\": [[{n}]]}}") })
    }

    fn queued(s: Submitted) -> u64 {
        match s {
            Submitted::Queued(seq) => seq,
            _ => panic!("not queued"),
        }
    }

    #[test]
    fn proof_jobs_are_deduplicated_bounded_requeued_and_recovered() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(dir.path(), None).unwrap();
        let (a, ra) = row(10);
        let (b, rb) = row(11);
        let (c, rc) = row(12);
        let sa = queued(store.submit_job(&a, ra.clone(), 2).unwrap());
        assert!(matches!(store.submit_job(&a, ra.clone(), 2).unwrap(), Submitted::Existing), "same id, same job");
        let sb = queued(store.submit_job(&b, rb, 2).unwrap());
        assert!(matches!(store.submit_job(&c, rc.clone(), 2).unwrap(), Submitted::Full));
        assert_eq!((store.jobs_ahead(sa).unwrap(), store.jobs_ahead(sb).unwrap()), (0, 1));
        assert_eq!(store.proof_counts().unwrap(), (0, 2));

        // A finished job leaves the queue; its proof is found by proof id and job id.
        assert_eq!(store.start_job(sa).unwrap().unwrap().job.attempts, 1);
        assert!(store.start_job(sa).unwrap().is_none(), "only a queued job starts");
        let pid = store.finish_job(sa, b"a proof").unwrap();
        assert_eq!(store.read_proof(&pid).unwrap().unwrap(), b"a proof");
        assert_eq!(store.find_job(&pid).unwrap().unwrap().0, sa);
        assert_eq!(store.find_job(&a).unwrap().unwrap().1.job.state, JobState::Done);
        assert_eq!(store.proof_counts().unwrap(), (1, 1));
        assert!(matches!(store.submit_job(&a, ra, 2).unwrap(), Submitted::Existing), "done is not redone");

        // A failed job asked for again goes to the back of the queue.
        store.start_job(sb).unwrap().unwrap();
        store.fail_job(sb, "no").unwrap();
        let sc = queued(store.submit_job(&c, rc, 2).unwrap());
        let (_, rb) = row(11);
        let sb2 = queued(store.submit_job(&b, rb, 2).unwrap());
        assert!(sb2 > sc && store.job(sb).unwrap().is_none());
        assert_eq!(store.find_job(&b).unwrap().unwrap(), (sb2, store.job(sb2).unwrap().unwrap()));
        assert_eq!(store.find_job(&b).unwrap().unwrap().1.job.error, None);
        drop(store);

        // A job running when the node stopped is queued again, until it has been started
        // `max_attempts` times.
        for attempt in 1..=3u32 {
            let (store, report) = Store::open(dir.path(), None).unwrap();
            assert_eq!(report.removed_proof_orphans, 0);
            let jobs = store.recover_jobs(3).unwrap();
            assert_eq!(jobs.pending, [sc, sb2]);
            assert_eq!(jobs.interrupted, usize::from(attempt > 1));
            assert_eq!(store.start_job(sc).unwrap().unwrap().job.attempts, attempt);
        }
        let (store, _) = Store::open(dir.path(), None).unwrap();
        let jobs = store.recover_jobs(3).unwrap();
        assert_eq!((jobs.pending, jobs.abandoned), (vec![sb2], 1));
        let failed = store.job(sc).unwrap().unwrap().job;
        assert_eq!(failed.state, JobState::Failed);
        assert!(failed.error.unwrap().contains("interrupted 3 times"));
        drop(store);

        // A proof file whose job never committed is deleted at startup.
        std::fs::write(dir.path().join("blobs/proofs").join(hex(&[9; 32])), b"orphan").unwrap();
        std::fs::write(dir.path().join("blobs/tmp/x"), b"partial").unwrap();
        let (store, report) = Store::open(dir.path(), None).unwrap();
        assert_eq!((report.removed_proof_orphans, report.removed_tmp), (1, 1));
        assert_eq!(std::fs::read_dir(dir.path().join("blobs/proofs")).unwrap().count(), 1);
        assert!(store.read_proof(&pid).unwrap().is_some());
        assert!(store.read_proof(&[9; 32]).unwrap().is_none());
    }

    #[test]
    fn receipts_are_found_by_id_across_batches_and_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let rec = |n: u8| ([n; 32], vec![n; usize::from(n) * 3]);
        let batches: [&[u8]; 3] = [&[1], &[2, 3, 4], &[5, 6]];
        {
            let (store, report) = Store::open(dir.path(), None).unwrap();
            assert_eq!(report.receipts, 0);
            for b in batches {
                store.put_receipts(&b.iter().map(|&n| rec(n)).collect::<Vec<_>>()).unwrap();
            }
            // The same id again (a second receipt for equal claims): the newest record wins.
            store.put_receipts(&[([3; 32], b"newer".to_vec())]).unwrap();
        }
        let (store, report) = Store::open(dir.path(), None).unwrap();
        assert_eq!(report.receipts, 6);
        assert_eq!(store.counts().unwrap().1, 6);
        for n in [1, 2, 4, 5, 6] {
            assert_eq!(store.get_receipt(&[n; 32]).unwrap(), Some(rec(n).1), "receipt {n}");
        }
        assert_eq!(store.get_receipt(&[3; 32]).unwrap().unwrap(), b"newer");
        assert_eq!(store.get_receipt(&[7; 32]).unwrap(), None);
        // Numbering continues after a restart.
        store.put_receipts(&[rec(7)]).unwrap();
        assert_eq!(store.get_receipt(&[7; 32]).unwrap(), Some(rec(7).1));
        assert_eq!(store.get_receipt(&[6; 32]).unwrap(), Some(rec(6).1));
    }
}
