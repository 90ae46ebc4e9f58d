//! `GET /v1/proofs/{id}/events`: a proof job's changes pushed as server-sent events
//! (docs/node.md, "Proof events").
//!
//! Each event is named after the job's state (`queued`, `running`, `done`, `failed`) and
//! carries the job as `GET /v1/proofs/{id}` shows it; one is sent at once, then one per
//! change (state, queue position, prover step). The stream ends after `done` or `failed`.
//! The stream reads the job where the prover writes it, the store and its in-memory
//! progress, every [`TICK`]: a job's state changes a handful of times over seconds to
//! minutes, so this costs one small read per tick and per watcher and needs no channel
//! from the prover.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::Stream;
use verity_exec::api::JobState;

use crate::error::{ApiError, ApiResult};
use crate::proofs::public_job;
use crate::state::AppState;

pub const TICK: Duration = Duration::from_millis(100);

/// Set when the node shuts down: a stream of a job that will not finish before then ends
/// (without a final event; a client falls back to polling), so that the graceful
/// shutdown does not wait on it.
pub struct Stopping(tokio::sync::watch::Sender<bool>);

impl Default for Stopping {
    fn default() -> Self {
        Stopping(tokio::sync::watch::channel(false).0)
    }
}

impl Stopping {
    pub fn stop(&self) {
        self.0.send_replace(true);
    }
}

struct Watch {
    st: Arc<AppState>,
    id: [u8; 32],
    last: Option<String>,
    ended: bool,
    stop: tokio::sync::watch::Receiver<bool>,
}

/// The job's current public record, or `None` if it vanished (it cannot, short of a
/// corrupted store; the stream then ends).
async fn current(st: &Arc<AppState>, id: [u8; 32]) -> Option<(JobState, String)> {
    let st2 = st.clone();
    let job = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let Some((seq, row)) = st2.store.find_job(&id)? else { return Ok(None) };
        Ok(Some(public_job(&st2, seq, row)?))
    })
    .await
    .ok()?
    .ok()??;
    Some((job.state, serde_json::to_string(&job).ok()?))
}

pub async fn proof_events(
    State(st): State<Arc<AppState>>,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let id = crate::routes::path_id("proof job id", id)?;
    if current(&st, id).await.is_none() {
        return Err(ApiError::not_found(format!(
            "no proof job and no proof with id {} on this node",
            verity_commit::hash::hex(&id)
        )));
    }
    let stop = st.events.0.subscribe();
    let watch = Watch { st, id, last: None, ended: false, stop };
    let stream = futures_util::stream::unfold(watch, |mut w| async move {
        if w.ended {
            return None;
        }
        loop {
            if *w.stop.borrow() {
                return None;
            }
            let (state, json) = current(&w.st, w.id).await?;
            let done = matches!(state, JobState::Done | JobState::Failed);
            if w.last.as_deref() != Some(json.as_str()) {
                w.last = Some(json.clone());
                w.ended = done;
                return Some((Ok(Event::default().event(state.as_str()).data(json)), w));
            }
            tokio::select! {
                _ = tokio::time::sleep(TICK) => {}
                _ = w.stop.changed() => {}
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
