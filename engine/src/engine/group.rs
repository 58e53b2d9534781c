//! Group commit on SQLite: the units of work of this process that queue for
//! its one writer share a transaction and its fsync, each still all or
//! nothing.
//!
//! SQLite has one writer, so units of work take turns. A unit that ends
//! while others wait for their turn does not commit: it releases its
//! savepoint, leaves the transaction open for the next unit and waits. The
//! transaction is committed by a flusher task that queues for the writer
//! behind the units already waiting (the lock is fair), so one `COMMIT`
//! makes the whole batch durable, and only then is each unit acknowledged.
//! A unit that fails rolls back to its own savepoint: the others in the
//! batch are not touched. A commit that fails, or a batch abandoned
//! half-way (a request cancelled while its unit ran), fails every unit of
//! the batch: none of them was acknowledged, none is durable.
//!
//! Owns: [`Writer`], [`Turn`]. Must not: acknowledge a unit before the
//! commit that holds it returned; let a cancelled request decide another
//! request's outcome (commits run on tasks of their own).

use std::sync::Arc;

use tokio::sync::{oneshot, Mutex, OwnedMutexGuard};

use super::{CommitCounts, EngineError};
use crate::store::{Store, StoreError, Tx};

/// Most units of work acknowledged by one commit.
pub const MAX_BATCH: usize = 64;

/// What a unit waiting for the shared commit is told.
type Outcome = Result<(), String>;

/// The open batch: a transaction holding units that ended well and wait
/// for its commit.
pub(super) struct Batch {
    tx: Option<Tx>,
    /// Commits and units, for the operator.
    sizes: CommitCounts,
    waiting: Vec<oneshot::Sender<Outcome>>,
    /// Which batch this is (a flusher commits only the batch it was sent for).
    id: u64,
    /// A flusher is on its way for this batch.
    flusher: bool,
}

/// SQLite's one writer in this process.
#[derive(Clone)]
pub(super) struct Writer(Arc<Mutex<Batch>>);

/// A unit of work's turn at the writer: the batch, locked.
pub(super) struct Turn {
    batch: Option<OwnedMutexGuard<Batch>>,
}

impl Writer {
    /// A writer counting its commits' sizes into `sizes`.
    pub(super) fn new(sizes: CommitCounts) -> Writer {
        Writer(Arc::new(Mutex::new(Batch {
            tx: None,
            sizes,
            waiting: Vec::new(),
            id: 0,
            flusher: false,
        })))
    }

    /// Waits for the writer, then opens the unit's savepoint: in the
    /// batch's transaction, or in a new one.
    pub(super) async fn turn(&self, store: &Store) -> Result<(Turn, Tx), EngineError> {
        // Held by the turn from here on, so that a request cancelled while
        // it waits for `BEGIN` leaves no unit of the batch without an answer.
        let mut turn = Turn {
            batch: Some(self.0.clone().lock_owned().await),
        };
        let pending = turn.batch.as_mut().and_then(|g| g.tx.take());
        let mut tx = match pending {
            Some(tx) => tx,
            None => store.begin().await?,
        };
        if let Err(e) = tx.savepoint().await {
            // The batch's transaction cannot go on: nothing in it commits
            // (the `Tx` rolls back as it drops, the turn fails the others).
            return Err(e.into());
        }
        Ok((turn, tx))
    }
}

impl Turn {
    /// Ends the unit: keeps or undoes its work inside the batch, and for a
    /// success waits until the commit that holds it returned.
    pub(super) async fn end<T>(mut self, mut tx: Tx, r: Result<T, EngineError>) -> Result<T, EngineError> {
        let Some(mut g) = self.batch.take() else {
            return Err(EngineError::Store(StoreError::Commit(
                "the turn was already ended".into(),
            )));
        };
        let kept = match &r {
            Ok(_) => tx.release().await,
            Err(_) => tx.rollback_to().await,
        };
        if let Err(e) = kept {
            // The transaction is broken (SQLite may have rolled it back
            // whole): every unit in it fails.
            fail(&mut g, &e.to_string());
            if let Err(re) = tx.rollback().await {
                tracing::error!(error = %re, "rollback failed; the connection was closed");
            }
            return Err(r.err().unwrap_or(EngineError::Store(e)));
        }
        let v = match r {
            Err(e) => {
                if g.waiting.is_empty() {
                    // Nothing else in the transaction.
                    if let Err(re) = tx.rollback().await {
                        tracing::error!(error = %re, "rollback failed; the connection was closed");
                    }
                } else {
                    g.tx = Some(tx);
                    send_flusher(g);
                }
                return Err(e);
            }
            Ok(v) => v,
        };
        let (told, outcome) = oneshot::channel();
        g.waiting.push(told);
        g.tx = Some(tx);
        if g.waiting.len() >= MAX_BATCH {
            // Full: committed now, on a task of its own so that a cancelled
            // request cannot leave the others without an answer.
            tokio::spawn(async move { flush(g).await });
        } else {
            send_flusher(g);
        }
        match outcome.await {
            Ok(Ok(())) => Ok(v),
            Ok(Err(m)) => Err(EngineError::Store(StoreError::Commit(m))),
            Err(_) => Err(EngineError::Store(StoreError::Commit(
                "the shared transaction was dropped before its commit".into(),
            ))),
        }
    }
}

impl Drop for Turn {
    /// A unit abandoned while it held the writer (its request was
    /// cancelled): its transaction is rolled back when the `Tx` drops, and
    /// the units that waited for it to commit are told they failed.
    fn drop(&mut self) {
        if let Some(mut g) = self.batch.take() {
            fail(
                &mut g,
                "a unit of work sharing the transaction was abandoned; it was rolled back",
            );
            g.tx = None;
        }
    }
}

/// Tells every waiting unit of the batch that it failed, and starts the next batch.
fn fail(g: &mut Batch, why: &str) {
    for w in g.waiting.drain(..) {
        let _ = w.send(Err(why.to_owned()));
    }
    g.id += 1;
    g.flusher = false;
}

/// Sends a flusher for the batch unless one is on its way. It queues for
/// the writer behind the units already waiting, which join the batch first.
fn send_flusher(mut g: OwnedMutexGuard<Batch>) {
    if g.flusher {
        return;
    }
    g.flusher = true;
    let id = g.id;
    let writer = OwnedMutexGuard::mutex(&g).clone();
    drop(g);
    tokio::spawn(async move {
        let g = writer.lock_owned().await;
        if g.id == id {
            flush(g).await;
        }
    });
}

/// Commits the batch and tells each of its units.
async fn flush(mut g: OwnedMutexGuard<Batch>) {
    let Some(tx) = g.tx.take() else {
        fail(&mut g, "the shared transaction was lost before its commit");
        return;
    };
    match tx.commit().await {
        Ok(()) => {
            g.sizes.commits.inc();
            g.sizes.units.inc_by(g.waiting.len() as u64);
            for w in g.waiting.drain(..) {
                let _ = w.send(Ok(()));
            }
            g.id += 1;
            g.flusher = false;
        }
        Err(e) => {
            tracing::error!(error = %e, units = g.waiting.len(), "a shared commit failed; none of its units is durable");
            fail(&mut g, &e.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store on a fresh SQLite file, and its path's folder (kept alive).
    async fn store(name: &str) -> (Store, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("ravand-group-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let url = format!("sqlite://{}", dir.join("g.db").display());
        (Store::connect(&url).await.expect("store"), dir)
    }

    /// Runs one unit: writes `key`, then ends with `fail` or success.
    async fn unit(w: Writer, store: Store, key: String, fail: bool) -> Result<(), EngineError> {
        let (turn, mut tx) = w.turn(&store).await?;
        store.set_meta(&mut tx, &key, "1").await?;
        let r = if fail {
            Err(EngineError::BadInput(format!("{key} refused")))
        } else {
            Ok(())
        };
        turn.end(tx, r).await
    }

    /// What is durable: read in a transaction of its own.
    async fn durable(store: &Store, key: &str) -> bool {
        let mut tx = store.begin().await.expect("begin");
        let v = store.meta(&mut tx, key).await.expect("meta");
        tx.rollback().await.expect("rollback");
        v.is_some()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn units_that_queue_share_commits_and_a_failed_one_takes_only_itself_back() {
        let (store, dir) = store("share").await;
        let sizes = CommitCounts::default();
        let w = Writer::new(sizes.clone());
        let mut units = Vec::new();
        for i in 0..200 {
            // Every third unit fails after its write.
            let u = unit(w.clone(), store.clone(), format!("k{i}"), i % 3 == 1);
            units.push(tokio::spawn(u));
        }
        for (i, u) in units.into_iter().enumerate() {
            let r = u.await.expect("unit task");
            assert_eq!(r.is_ok(), i % 3 != 1, "unit {i}: {r:?}");
        }
        for i in 0..200 {
            assert_eq!(durable(&store, &format!("k{i}")).await, i % 3 != 1, "k{i}");
        }
        // Each success was counted once, in fewer commits than units.
        assert_eq!(sizes.units.get(), (0..200).filter(|i| i % 3 != 1).count() as u64);
        let commits = sizes.commits.get();
        assert!(commits < 100, "{commits} commits for 133 units: nothing was shared");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_unit_abandoned_in_its_turn_fails_the_units_that_waited_for_its_commit() {
        let (store, dir) = store("abandon").await;
        let w = Writer::new(CommitCounts::default());
        // `a` holds the writer while `b` queues for it.
        let (turn_a, mut tx_a) = w.turn(&store).await.expect("turn a");
        store.set_meta(&mut tx_a, "a", "1").await.expect("write a");
        let (wb, sb) = (w.clone(), store.clone());
        let b = tokio::spawn(async move {
            let (turn_b, mut tx_b) = wb.turn(&sb).await?;
            sb.set_meta(&mut tx_b, "b", "1").await?;
            // Cancelled in its turn: neither ended nor committed.
            drop((turn_b, tx_b));
            Ok::<(), EngineError>(())
        });
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        // `a` ends well but its commit is left to the batch, which `b` abandons.
        let r = turn_a.end(tx_a, Ok(())).await;
        assert!(
            matches!(r, Err(EngineError::Store(StoreError::Commit(_)))),
            "a was acknowledged though its transaction was abandoned: {r:?}"
        );
        b.await.expect("b task").expect("b");
        assert!(!durable(&store, "a").await, "a is durable, yet was refused");
        assert!(!durable(&store, "b").await, "b is durable, yet never ended");
        // The writer goes on: the next unit commits alone.
        unit(w.clone(), store.clone(), "c".into(), false).await.expect("c");
        assert!(durable(&store, "c").await);
        let _ = std::fs::remove_dir_all(dir);
    }
}
