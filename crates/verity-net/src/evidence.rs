//! The evidence that travels on gossip: receipt-batch announcements and fraud proofs.
//!
//! A **fraud proof** is the statement of a dispute (the executor's signed receipt and the
//! openings of its model head, nodes root and input roots) and the accepted moves of a
//! game, in order. Any peer replays it in front of a fresh [`Referee`]; it is valid only
//! if every move is accepted and the referee *decides* the game for the challenger. A
//! game lost by timeout is not a fraud proof: silence cannot be shown to a third party.
//!
//! The executor's moves must be signed: its prefix roots are bare claims that nothing
//! else binds, so a transcript with invented executor moves could "convict" an honest
//! executor (a test replays exactly that). During a network game the executor signs,
//! with each of its moves, the hash chain of the whole transcript so far
//! ([`transcript_hash`], which starts from the receipt id and a game nonce). One such
//! signature, over a prefix of the transcript that holds every executor move, proves that
//! the executor really played this game; the challenger's moves after it are its own
//! free choices. An honest executor never loses a real game against any challenger
//! (docs/disputes.md, "Honest executors never lose"), so it can never be convicted.

use verity_commit::Hash;
use verity_dispute::{Move, Party, Referee, Statement};
use verity_receipt::batch::{batch_digest, MAX_BATCH_DEPTH};
use verity_receipt::{keccak256, EthSignature, Receipt, Signer};

use crate::codec::{self, put_bytes, Kind, Reader};
use crate::error::NetError;

/// The most receipt ids one announcement lists.
pub const MAX_BATCH_IDS: usize = 4096;
/// The most moves a fraud proof holds: 1 + 2·⌈log2 nodes⌉ + 1 + 2·⌈log2 chunks⌉ + 3 is
/// far below this for any model with fewer than 2^60 nodes or chunks.
pub const MAX_MOVES: usize = 256;
const MAX_HEAD: usize = 1 << 20;
const MAX_MOVE: usize = 2 << 20;
const MAX_INPUTS: usize = 1024;

/// An executor's announcement of a signed receipt batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchAnnouncement {
    pub executor: [u8; 20],
    /// The executor's sequence number for its announcements; a repeated one is a replay.
    pub seq: u64,
    /// 0 for a lone receipt, signed plainly: then `root` is its signing hash.
    pub depth: u8,
    pub root: [u8; 32],
    /// The batch signature (the same one every receipt of the batch carries).
    pub signature: EthSignature,
    /// The signing hashes (ids) of the receipts in the batch.
    pub receipt_ids: Vec<[u8; 32]>,
}

impl BatchAnnouncement {
    /// From receipts of one batch, as [`verity_receipt::Signer::sign_batch`] returns them
    /// (a lone receipt is signed plainly and announced with depth 0).
    pub fn from_batch(receipts: &[Receipt], seq: u64) -> Result<BatchAnnouncement, NetError> {
        let first = receipts.first().ok_or_else(|| NetError::Malformed("an empty batch".into()))?;
        let (depth, root) = match (&first.batch, receipts.len()) {
            (Some(proof), _) => (proof.path.len() as u8, proof.root(&first.signing_hash())),
            (None, 1) => (0, first.signing_hash()),
            (None, _) => return Err(NetError::Malformed("the receipts are not batched".into())),
        };
        Ok(BatchAnnouncement {
            executor: first.body.executor,
            seq,
            depth,
            root,
            signature: first.signature,
            receipt_ids: receipts.iter().map(|r| r.signing_hash()).collect(),
        })
    }

    /// The hash the signature is over.
    fn digest(&self) -> [u8; 32] {
        if self.depth == 0 {
            self.root
        } else {
            batch_digest(self.depth as usize, &self.root)
        }
    }

    /// The signature must recover to the executor over the batch digest.
    pub fn verify(&self) -> Result<(), NetError> {
        let bad = |why: String| NetError::BadSignature { what: "batch announcement", why };
        if self.depth as usize > MAX_BATCH_DEPTH {
            return Err(NetError::Malformed(format!("batch depth {} outside 0..={MAX_BATCH_DEPTH}", self.depth)));
        }
        if self.depth == 0 && self.receipt_ids != [self.root] {
            return Err(NetError::Malformed("a depth-0 announcement lists exactly its one receipt, the root".into()));
        }
        self.signature.validate().map_err(|e| bad(e.to_string()))?;
        let who = self.signature.recover_address(&self.digest()).map_err(|e| bad(e.to_string()))?;
        if who != self.executor {
            return Err(bad("not signed by the announced executor".into()));
        }
        Ok(())
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut p = Vec::with_capacity(140 + 32 * self.receipt_ids.len());
        p.extend_from_slice(&self.executor);
        p.extend_from_slice(&self.seq.to_be_bytes());
        p.push(self.depth);
        p.extend_from_slice(&self.root);
        p.extend_from_slice(&self.signature.to_bytes());
        p.extend_from_slice(&(self.receipt_ids.len() as u32).to_be_bytes());
        for id in &self.receipt_ids {
            p.extend_from_slice(id);
        }
        codec::seal(Kind::BatchAnnouncement, &p)
    }

    pub fn decode(bytes: &[u8]) -> Result<BatchAnnouncement, NetError> {
        let (_, body) = codec::open(bytes, &[Kind::BatchAnnouncement])?;
        let mut r = Reader::new(body, "batch announcement");
        let executor = r.array()?;
        let seq = r.u64()?;
        let depth = r.u8()?;
        let root = r.array()?;
        let signature = EthSignature::from_bytes(&r.array()?);
        let n = r.count(MAX_BATCH_IDS, 32)?;
        let receipt_ids = (0..n).map(|_| r.array()).collect::<Result<_, _>>()?;
        r.finish()?;
        Ok(BatchAnnouncement { executor, seq, depth, root, signature, receipt_ids })
    }
}

/// A self-contained proof that an executor signed a wrong claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FraudProof {
    pub receipt: Receipt,
    pub head: Vec<u8>,
    pub nodes_root: Hash,
    pub input_roots: Vec<Hash>,
    /// The accepted moves in order; who made each follows from the referee's turn.
    pub moves: Vec<Move>,
    /// Chosen by the challenger when the game starts; makes each game's hash chain unique.
    pub nonce: [u8; 32],
    /// How many leading moves the executor's signature covers (all executor moves).
    pub signed_moves: u32,
    /// The executor's signature over `transcript_hash(.., &moves[..signed_moves])`.
    pub executor_signature: EthSignature,
}

/// The hash chain of a game's transcript: `h0 = keccak256("VRTG" || version || receipt id
/// || nonce)`, `h_i = keccak256(h_{i-1} || len || move_i)`.
pub fn transcript_hash(receipt_id: &[u8; 32], nonce: &[u8; 32], moves: &[Move]) -> [u8; 32] {
    let mut start = Vec::with_capacity(69);
    start.extend_from_slice(b"VRTG");
    start.push(codec::VERSION);
    start.extend_from_slice(receipt_id);
    start.extend_from_slice(nonce);
    moves.iter().fold(keccak256(&start), |h, m| {
        let enc = m.encode();
        let mut msg = Vec::with_capacity(36 + enc.len());
        msg.extend_from_slice(&h);
        msg.extend_from_slice(&(enc.len() as u32).to_be_bytes());
        msg.extend_from_slice(&enc);
        keccak256(&msg)
    })
}

/// What an executor sends with each of its moves: its signature over the transcript so
/// far, its own move included.
pub fn sign_transcript(signer: &Signer, receipt_id: &[u8; 32], nonce: &[u8; 32], moves: &[Move]) -> EthSignature {
    signer.sign_hash(&transcript_hash(receipt_id, nonce, moves))
}

/// What a checked fraud proof establishes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conviction {
    pub executor: [u8; 20],
    /// The receipt's signing hash.
    pub receipt_id: [u8; 32],
    pub reason: String,
}

impl FraudProof {
    /// Replays the game with the referee alone. Times are synthetic (one tick a move, a
    /// timeout no transcript can reach), so no verdict can come from a deadline.
    pub fn check(&self) -> Result<Conviction, NetError> {
        let bad = |m: String| NetError::InvalidFraudProof(m);
        let st = Statement::from_receipt(&self.receipt, &self.head, self.nodes_root, self.input_roots.clone())
            .map_err(|e| bad(e.to_string()))?;
        let mut referee = Referee::new(st, 0, u64::MAX / 4);
        let signed = self.signed_moves as usize;
        if signed > self.moves.len() {
            return Err(bad(format!("the signature covers {signed} moves, the transcript has {}", self.moves.len())));
        }
        let id = self.receipt.signing_hash();
        let digest = transcript_hash(&id, &self.nonce, &self.moves[..signed]);
        let signer = self.executor_signature.validate().and_then(|_| self.executor_signature.recover_address(&digest));
        if signer.ok() != Some(self.receipt.body.executor) {
            return Err(bad("the executor did not sign this transcript".into()));
        }
        for (i, mv) in self.moves.iter().enumerate() {
            let party = referee.turn().ok_or_else(|| bad(format!("move {i} comes after the game was decided")))?;
            if party == Party::Executor && i >= signed {
                return Err(bad(format!("executor move {i} is not covered by the executor's signature")));
            }
            referee.apply(party, mv, i as u64 + 1).map_err(|e| bad(format!("move {i} ({}) is refused: {e}", mv.name())))?;
        }
        let verdict = referee.verdict().ok_or_else(|| bad("the transcript ends before the game is decided".into()))?;
        if verdict.winner != Party::Challenger {
            return Err(bad(format!("the executor wins this game ({})", verdict.reason)));
        }
        Ok(Conviction {
            executor: self.receipt.body.executor,
            receipt_id: self.receipt.signing_hash(),
            reason: verdict.reason.clone(),
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut p = Vec::new();
        put_bytes(&mut p, &self.receipt.encode());
        put_bytes(&mut p, &self.head);
        p.extend_from_slice(&self.nodes_root);
        p.extend_from_slice(&(self.input_roots.len() as u32).to_be_bytes());
        for r in &self.input_roots {
            p.extend_from_slice(r);
        }
        p.extend_from_slice(&(self.moves.len() as u32).to_be_bytes());
        for m in &self.moves {
            put_bytes(&mut p, &m.encode());
        }
        p.extend_from_slice(&self.nonce);
        p.extend_from_slice(&self.signed_moves.to_be_bytes());
        p.extend_from_slice(&self.executor_signature.to_bytes());
        codec::seal(Kind::FraudProof, &p)
    }

    pub fn decode(bytes: &[u8]) -> Result<FraudProof, NetError> {
        let (_, body) = codec::open(bytes, &[Kind::FraudProof])?;
        let mut r = Reader::new(body, "fraud proof");
        let receipt = Receipt::decode(r.bytes(4096)?).map_err(|e| NetError::Malformed(format!("fraud proof receipt: {e}")))?;
        let head = r.bytes(MAX_HEAD)?.to_vec();
        let nodes_root = r.array()?;
        let n = r.count(MAX_INPUTS, 32)?;
        let input_roots = (0..n).map(|_| r.array()).collect::<Result<_, _>>()?;
        let m = r.count(MAX_MOVES, 4)?;
        let mut moves = Vec::with_capacity(m);
        for i in 0..m {
            let b = r.bytes(MAX_MOVE)?;
            moves.push(Move::decode(b).map_err(|e| NetError::Malformed(format!("fraud proof move {i}: {e}")))?);
        }
        let nonce = r.array()?;
        let signed_moves = r.u32()?;
        let executor_signature = EthSignature::from_bytes(&r.array()?);
        r.finish()?;
        Ok(FraudProof { receipt, head, nodes_root, input_roots, moves, nonce, signed_moves, executor_signature })
    }
}
