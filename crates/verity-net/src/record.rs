//! The signed node record: binds a libp2p peer id to the secp256k1 executor address
//! that signs the node's receipts. The executor key signs
//! `keccak256("VRTR" || version || peer id || address || roles || timestamp)`, so a
//! record proves that whoever holds the executor key chose this peer id; a peer that
//! presents another node's record is refused because the peer id does not match the
//! connection's (authenticated by Noise).

use libp2p::PeerId;
use verity_receipt::{keccak256, EthSignature, Signer};

use crate::codec::{self, put_bytes, Kind, Reader};
use crate::error::NetError;

/// Which work a node takes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    Executor,
    Verifier,
    Both,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        Some(match s {
            "executor" => Role::Executor,
            "verifier" => Role::Verifier,
            "both" => Role::Both,
            _ => return None,
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            Role::Executor => "executor",
            Role::Verifier => "verifier",
            Role::Both => "both",
        }
    }
    fn to_u8(self) -> u8 {
        match self {
            Role::Executor => 1,
            Role::Verifier => 2,
            Role::Both => 3,
        }
    }
    fn from_u8(b: u8) -> Option<Role> {
        [Role::Executor, Role::Verifier, Role::Both].into_iter().find(|r| r.to_u8() == b)
    }
    pub fn executes(self) -> bool {
        matches!(self, Role::Executor | Role::Both)
    }
    pub fn verifies(self) -> bool {
        matches!(self, Role::Verifier | Role::Both)
    }
}

const MAX_PEER_ID: usize = 64;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeRecord {
    pub peer_id: PeerId,
    pub executor: [u8; 20],
    pub role: Role,
    /// Seconds; a newer record replaces an older one, an equal or older one is a replay.
    pub timestamp: u64,
    pub signature: EthSignature,
}

fn signing_hash(peer: &PeerId, executor: &[u8; 20], role: Role, timestamp: u64) -> [u8; 32] {
    let mut msg = Vec::with_capacity(80);
    msg.extend_from_slice(b"VRTR");
    msg.push(codec::VERSION);
    put_bytes(&mut msg, &peer.to_bytes());
    msg.extend_from_slice(executor);
    msg.push(role.to_u8());
    msg.extend_from_slice(&timestamp.to_be_bytes());
    keccak256(&msg)
}

impl NodeRecord {
    pub fn sign(signer: &Signer, peer_id: PeerId, role: Role, timestamp: u64) -> NodeRecord {
        let executor = signer.address();
        let signature = signer.sign_hash(&signing_hash(&peer_id, &executor, role, timestamp));
        NodeRecord { peer_id, executor, role, timestamp, signature }
    }

    /// Checks the signature and that the record is for `peer` (the authenticated remote).
    pub fn verify(&self, peer: &PeerId) -> Result<(), NetError> {
        if self.peer_id != *peer {
            return Err(NetError::BadSignature {
                what: "node record",
                why: format!("the record is for peer {}, it came from peer {peer}", self.peer_id),
            });
        }
        let bad = |why: String| NetError::BadSignature { what: "node record", why };
        self.signature.validate().map_err(|e| bad(e.to_string()))?;
        let recovered = self
            .signature
            .recover_address(&signing_hash(&self.peer_id, &self.executor, self.role, self.timestamp))
            .map_err(|e| bad(e.to_string()))?;
        if recovered != self.executor {
            return Err(bad(format!("signed by 0x{}, claims executor 0x{}", hex(&recovered), hex(&self.executor))));
        }
        Ok(())
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut p = Vec::new();
        put_bytes(&mut p, &self.peer_id.to_bytes());
        p.extend_from_slice(&self.executor);
        p.push(self.role.to_u8());
        p.extend_from_slice(&self.timestamp.to_be_bytes());
        p.extend_from_slice(&self.signature.to_bytes());
        codec::seal(Kind::NodeRecord, &p)
    }

    /// Parses the format only; call [`NodeRecord::verify`].
    pub fn decode(bytes: &[u8]) -> Result<NodeRecord, NetError> {
        let (_, body) = codec::open(bytes, &[Kind::NodeRecord])?;
        let mut r = Reader::new(body, "node record");
        let peer_id = PeerId::from_bytes(r.bytes(MAX_PEER_ID)?)
            .map_err(|e| NetError::Malformed(format!("node record: bad peer id: {e}")))?;
        let executor = r.array::<20>()?;
        let role = Role::from_u8(r.u8()?).ok_or_else(|| NetError::Malformed("node record: unknown role".into()))?;
        let timestamp = r.u64()?;
        let signature = EthSignature::from_bytes(&r.array::<65>()?);
        r.finish()?;
        Ok(NodeRecord { peer_id, executor, role, timestamp, signature })
    }
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
