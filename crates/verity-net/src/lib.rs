//! Verity's peer-to-peer layer (docs/network.md): signed node records binding a libp2p
//! peer id to an executor address, versioned and size-bounded message codecs, gossip of
//! receipt-batch announcements and fraud proofs (checked with the dispute referee alone),
//! model discovery through Kademlia provider records, and request-response fetches.

pub mod book;
pub mod codec;
mod error;
pub mod evidence;
pub mod forward;
pub mod game;
pub mod limits;
pub mod record;
pub mod swarm;

pub use book::{Accepted, Book};
pub use error::NetError;
pub use evidence::{sign_transcript, transcript_hash, BatchAnnouncement, Conviction, FraudProof};
pub use libp2p;
pub use record::{NodeRecord, Role};
pub use swarm::{spawn, Config, Event, Handle, Inbound, TransportKind, TOPIC_BATCHES, TOPIC_FRAUD};
