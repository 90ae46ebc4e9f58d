//! Byte budgets: how much request-body and queued-audit memory the node holds at once.
//!
//! Counting connections or requests does not bound memory, because one request may carry
//! 32 MiB and another 100 bytes. A budget counts the bytes themselves: a request reserves
//! its body *before* buffering it (all of it when the length is declared, frame by frame
//! otherwise) and holds the reservation until its answer is sent, so bodies in memory never
//! exceed the budget however many clients upload at once. Reservations never wait: a
//! request that does not fit is refused at once (503 + `Retry-After`), like a full compute
//! queue.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

pub struct ByteBudget {
    cap: usize,
    used: AtomicUsize,
}

/// Bytes held against a budget; released when dropped.
pub struct Reservation {
    budget: Arc<ByteBudget>,
    bytes: usize,
}

impl ByteBudget {
    pub fn new(cap: usize) -> Arc<Self> {
        Arc::new(ByteBudget { cap, used: AtomicUsize::new(0) })
    }

    pub fn cap(&self) -> usize {
        self.cap
    }

    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    fn take(&self, n: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| used.checked_add(n).filter(|&total| total <= self.cap))
            .is_ok()
    }

    /// `n` bytes, or `None` if they do not fit now.
    pub fn try_reserve(self: &Arc<Self>, n: usize) -> Option<Reservation> {
        self.take(n).then(|| Reservation { budget: self.clone(), bytes: n })
    }
}

impl Reservation {
    /// `n` more bytes; false (and nothing more held) if they do not fit.
    pub fn grow(&mut self, n: usize) -> bool {
        let ok = self.budget.take(n);
        if ok {
            self.bytes += n;
        }
        ok
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_are_bounded_and_released() {
        let b = ByteBudget::new(100);
        let mut a = b.try_reserve(60).unwrap();
        assert!(b.try_reserve(41).is_none());
        let c = b.try_reserve(40).unwrap();
        assert!(!a.grow(1), "full");
        assert_eq!((a.bytes(), b.used()), (60, 100));
        drop(c);
        assert!(a.grow(40));
        assert_eq!(b.used(), 100);
        drop(a);
        assert_eq!(b.used(), 0);
        assert!(b.try_reserve(usize::MAX).is_none(), "no overflow");
    }
}
