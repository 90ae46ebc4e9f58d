//! Per-peer limits on what a connected peer can make this node do: a budget of gossip
//! messages it hands over for checking, and strikes for what it sends that fails a check.
//! A peer out of budget has its messages ignored (not checked, not forwarded); a peer with
//! [`MAX_STRIKES`] strikes is disconnected and refused from then on (until this node
//! restarts). The peer is the one that delivered the message (gossipsub's propagation
//! source): messages are forwarded only once checked, so an honest relay never delivers an
//! invalid one.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use libp2p::PeerId;

/// Invalid gossip messages and malformed requests a peer may send before it is banned.
pub const MAX_STRIKES: u32 = 16;
/// Budget units per second a peer may spend on gossip it hands over for checking,
/// sustained (an executor announces one batch per group commit of its receipts) …
pub const GOSSIP_PER_SECOND: f64 = 500.0;
/// … and in a burst.
pub const GOSSIP_BURST: f64 = 1000.0;
/// What checking a fraud proof costs from the budget (a referee replay), against 1 for a
/// batch announcement (a signature and a Merkle root).
pub const FRAUD_PROOF_COST: f64 = 10.0;
/// Budgets kept before idle ones are forgotten.
const MAX_TRACKED: usize = 4096;

#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Check the message.
    Check,
    /// Out of budget: ignore it unchecked.
    Ignore,
    /// The peer is banned.
    Banned,
}

#[derive(Default)]
pub struct Limits {
    buckets: HashMap<PeerId, (f64, Instant)>,
    strikes: HashMap<PeerId, u32>,
    banned: HashSet<PeerId>,
}

impl Limits {
    /// Whether a gossip message from `peer` is checked, taking `cost` from its budget.
    pub fn gossip(&mut self, peer: PeerId, cost: f64, now: Instant) -> Verdict {
        if self.banned.contains(&peer) {
            return Verdict::Banned;
        }
        if self.buckets.len() > MAX_TRACKED {
            self.prune(now);
        }
        let (tokens, at) = self.buckets.entry(peer).or_insert((GOSSIP_BURST, now));
        let elapsed = now.saturating_duration_since(*at).as_secs_f64();
        *tokens = (*tokens + elapsed * GOSSIP_PER_SECOND).min(GOSSIP_BURST);
        *at = now;
        if *tokens < cost {
            return Verdict::Ignore;
        }
        *tokens -= cost;
        Verdict::Check
    }

    /// Records a failed check against `peer`; true when this strike bans it.
    pub fn strike(&mut self, peer: PeerId) -> bool {
        if self.banned.contains(&peer) {
            return false;
        }
        let n = self.strikes.entry(peer).or_default();
        *n += 1;
        if *n < MAX_STRIKES {
            return false;
        }
        self.banned.insert(peer);
        self.strikes.remove(&peer);
        self.buckets.remove(&peer);
        true
    }

    pub fn is_banned(&self, peer: &PeerId) -> bool {
        self.banned.contains(peer)
    }

    /// Forgets the budgets of peers that have not sent anything for a minute (a budget
    /// refills in two seconds, so nothing is lost), to keep the table bounded.
    fn prune(&mut self, now: Instant) {
        self.buckets.retain(|_, (_, at)| now.saturating_duration_since(*at) < Duration::from_secs(60));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_then_the_sustained_rate() {
        let (mut l, p, t0) = (Limits::default(), PeerId::random(), Instant::now());
        let checked = (0..5000).filter(|_| l.gossip(p, 1.0, t0) == Verdict::Check).count();
        assert_eq!(checked, GOSSIP_BURST as usize);
        // One second later the budget has refilled by the sustained rate, no more.
        let t1 = t0 + Duration::from_secs(1);
        let checked = (0..5000).filter(|_| l.gossip(p, 1.0, t1) == Verdict::Check).count();
        assert_eq!(checked, GOSSIP_PER_SECOND as usize);
        // A fraud proof costs more; another peer has a budget of its own.
        let t2 = t1 + Duration::from_secs(1);
        let proofs = (0..5000).filter(|_| l.gossip(p, FRAUD_PROOF_COST, t2) == Verdict::Check).count();
        assert_eq!(proofs, (GOSSIP_PER_SECOND / FRAUD_PROOF_COST) as usize);
        assert_eq!(l.gossip(PeerId::random(), 1.0, t1), Verdict::Check);
    }

    #[test]
    fn strikes_ban_a_peer_once_and_for_good() {
        let (mut l, p, q) = (Limits::default(), PeerId::random(), PeerId::random());
        let bans: Vec<bool> = (0..MAX_STRIKES + 5).map(|_| l.strike(p)).collect();
        assert_eq!(bans.iter().filter(|&&b| b).count(), 1);
        assert!(bans[MAX_STRIKES as usize - 1]);
        assert!(l.is_banned(&p) && !l.is_banned(&q));
        assert_eq!(l.gossip(p, 1.0, Instant::now()), Verdict::Banned);
        assert_eq!(l.gossip(q, 1.0, Instant::now()), Verdict::Check);
    }
}
