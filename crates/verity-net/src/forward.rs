//! The request-response messages a node answers itself (through
//! [`Handle::serve_requests`]): a forwarded inference, a receipt with the input it answers
//! (for verifiers), and one step of a dispute game. Each is a `Kind::Request` envelope
//! whose payload starts with its type byte, answered by a `Kind::Response`: status 0 and
//! the data, 1 and an error text, or 2, an HTTP status (u16) and an error text (a refusal
//! the entry node passes on to its client as it is).

use libp2p::PeerId;
use verity_dispute::Move;
use verity_receipt::{EthSignature, Receipt};

use crate::codec::{self, put_bytes, Kind, Reader};
use crate::error::NetError;
use crate::evidence::MAX_MOVES;
use crate::swarm::Handle;

pub const REQ_INFER: u8 = 3;
pub const REQ_RECEIPT: u8 = 4;
pub const REQ_DISPUTE: u8 = 5;

/// A forwarded input is at most this long (the request bound less the other fields).
pub const MAX_FORWARD_INPUT: usize = Kind::Request.max_payload() - 64;
/// A stored input a verifier fetches is at most this long (a node's default
/// `--max-input-body`).
pub const MAX_RECEIPT_INPUT: usize = 8 << 20;
const MAX_RECEIPT: usize = 4096;
const MAX_CHALLENGER_MOVE: usize = 64;
const MAX_EXECUTOR_MOVE: usize = 2 << 20;
const MAX_ERROR: usize = 4096;

/// What a response said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Ok(Vec<u8>),
    /// A refusal with the HTTP status the executing node would have answered.
    Refused {
        status: u16,
        message: String,
    },
}

/// A response envelope: status 0 ‖ data.
pub fn ok(data: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(1 + data.len());
    p.push(0);
    p.extend_from_slice(data);
    codec::seal(Kind::Response, &p)
}

/// A response envelope: status 2 ‖ HTTP status ‖ text (cut to [`MAX_ERROR`] bytes).
pub fn refused(status: u16, message: &str) -> Vec<u8> {
    let mut cut = message.len().min(MAX_ERROR);
    while !message.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut p = vec![2u8];
    p.extend_from_slice(&status.to_be_bytes());
    p.extend_from_slice(&message.as_bytes()[..cut]);
    codec::seal(Kind::Response, &p)
}

/// Opens a response envelope.
pub fn open_answer(resp: &[u8]) -> Result<Answer, NetError> {
    let (_, body) = codec::open(resp, &[Kind::Response])?;
    match body.split_first() {
        Some((0, data)) => Ok(Answer::Ok(data.to_vec())),
        Some((1, text)) => Ok(Answer::Refused { status: 502, message: String::from_utf8_lossy(text).into_owned() }),
        Some((2, rest)) if rest.len() >= 2 => Ok(Answer::Refused {
            status: u16::from_be_bytes([rest[0], rest[1]]),
            message: String::from_utf8_lossy(&rest[2..]).into_owned(),
        }),
        _ => Err(NetError::Malformed("a response with an unknown status".into())),
    }
}

/// A forwarded inference: type ‖ model id (32) ‖ evidence (1: none, 2: receipt, 3: zk) ‖
/// input JSON (bytes, ≤ [`MAX_FORWARD_INPUT`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InferCall {
    pub model_id: [u8; 32],
    pub evidence: u8,
    pub input: Vec<u8>,
}

impl InferCall {
    pub fn encode(&self) -> Result<Vec<u8>, NetError> {
        if self.input.len() > MAX_FORWARD_INPUT {
            return Err(NetError::Oversized { what: "forwarded input", size: self.input.len(), max: MAX_FORWARD_INPUT });
        }
        let mut p = vec![REQ_INFER];
        p.extend_from_slice(&self.model_id);
        p.push(self.evidence);
        put_bytes(&mut p, &self.input);
        Ok(codec::seal(Kind::Request, &p))
    }

    /// From a request payload (type byte included).
    pub fn decode(body: &[u8]) -> Result<InferCall, NetError> {
        let mut r = Reader::new(body, "forwarded inference");
        if r.u8()? != REQ_INFER {
            return Err(NetError::Malformed("not a forwarded inference".into()));
        }
        let model_id = r.array()?;
        let evidence = r.u8()?;
        if !(1..=3).contains(&evidence) {
            return Err(NetError::Malformed(format!("unknown evidence kind {evidence}")));
        }
        let input = r.bytes(MAX_FORWARD_INPUT)?.to_vec();
        r.finish()?;
        Ok(InferCall { model_id, evidence, input })
    }
}

/// The request for a receipt and its input: type ‖ receipt id (32).
pub fn receipt_request(id: &[u8; 32]) -> Vec<u8> {
    let mut p = vec![REQ_RECEIPT];
    p.extend_from_slice(id);
    codec::seal(Kind::Request, &p)
}

pub fn decode_receipt_request(body: &[u8]) -> Result<[u8; 32], NetError> {
    let mut r = Reader::new(body, "receipt request");
    if r.u8()? != REQ_RECEIPT {
        return Err(NetError::Malformed("not a receipt request".into()));
    }
    let id = r.array()?;
    r.finish()?;
    Ok(id)
}

/// Its answer's data: receipt (canonical encoding, bytes ≤ 4096) ‖ input JSON (bytes, ≤
/// [`MAX_RECEIPT_INPUT`]).
pub fn encode_receipt_answer(receipt: &Receipt, input: &[u8]) -> Vec<u8> {
    let mut p = Vec::new();
    put_bytes(&mut p, &receipt.encode());
    put_bytes(&mut p, input);
    p
}

pub fn decode_receipt_answer(data: &[u8]) -> Result<(Receipt, Vec<u8>), NetError> {
    let mut r = Reader::new(data, "receipt answer");
    let receipt = Receipt::decode(r.bytes(MAX_RECEIPT)?).map_err(|e| NetError::Malformed(format!("receipt: {e}")))?;
    let input = r.bytes(MAX_RECEIPT_INPUT)?.to_vec();
    r.finish()?;
    Ok((receipt, input))
}

/// One step of a dispute game, asked of the executor: type ‖ receipt id (32) ‖ nonce
/// (32) ‖ executor moves already received u32 ‖ count u32 ‖ the challenger's moves so far
/// (each a `"VRTD"` move, ≤ 64 bytes, ≤ [`MAX_MOVES`]). The executor keeps no state: it
/// replays the game from these, recomputing its own moves, so a game survives its restart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisputeStep {
    pub receipt_id: [u8; 32],
    pub nonce: [u8; 32],
    pub executor_moves: u32,
    pub challenger_moves: Vec<Move>,
}

impl DisputeStep {
    pub fn encode(&self) -> Vec<u8> {
        let mut p = vec![REQ_DISPUTE];
        p.extend_from_slice(&self.receipt_id);
        p.extend_from_slice(&self.nonce);
        p.extend_from_slice(&self.executor_moves.to_be_bytes());
        p.extend_from_slice(&(self.challenger_moves.len() as u32).to_be_bytes());
        for m in &self.challenger_moves {
            put_bytes(&mut p, &m.encode());
        }
        codec::seal(Kind::Request, &p)
    }

    pub fn decode(body: &[u8]) -> Result<DisputeStep, NetError> {
        let mut r = Reader::new(body, "dispute step");
        if r.u8()? != REQ_DISPUTE {
            return Err(NetError::Malformed("not a dispute step".into()));
        }
        let receipt_id = r.array()?;
        let nonce = r.array()?;
        let executor_moves = r.u32()?;
        if executor_moves as usize > MAX_MOVES {
            return Err(NetError::Oversized { what: "dispute step", size: executor_moves as usize, max: MAX_MOVES });
        }
        let n = r.count(MAX_MOVES, 4)?;
        let mut challenger_moves = Vec::with_capacity(n);
        for i in 0..n {
            let b = r.bytes(MAX_CHALLENGER_MOVE)?;
            challenger_moves.push(Move::decode(b).map_err(|e| NetError::Malformed(format!("dispute step move {i}: {e}")))?);
        }
        r.finish()?;
        Ok(DisputeStep { receipt_id, nonce, executor_moves, challenger_moves })
    }
}

/// The executor's answer: its next move (bytes, ≤ 2 MiB) ‖ its signature over the
/// transcript up to and including that move (65).
pub fn encode_move_answer(mv: &Move, signature: &EthSignature) -> Vec<u8> {
    let mut p = Vec::new();
    put_bytes(&mut p, &mv.encode());
    p.extend_from_slice(&signature.to_bytes());
    p
}

pub fn decode_move_answer(data: &[u8]) -> Result<(Move, EthSignature), NetError> {
    let mut r = Reader::new(data, "dispute move");
    let mv = Move::decode(r.bytes(MAX_EXECUTOR_MOVE)?).map_err(|e| NetError::Malformed(format!("dispute move: {e}")))?;
    let sig = EthSignature::from_bytes(&r.array()?);
    r.finish()?;
    Ok((mv, sig))
}

impl Handle {
    /// Sends a request envelope and opens the response.
    pub async fn call(&self, peer: PeerId, request: Vec<u8>) -> Result<Answer, NetError> {
        open_answer(&self.request(peer, request).await?)
    }

    /// Asks `peer` for a receipt and its input; checks that the receipt is the one asked
    /// for and is signed by its executor.
    pub async fn fetch_receipt(&self, peer: PeerId, id: &[u8; 32]) -> Result<(Receipt, Vec<u8>), NetError> {
        match self.call(peer, receipt_request(id)).await? {
            Answer::Ok(data) => {
                let (receipt, input) = decode_receipt_answer(&data)?;
                if receipt.signing_hash() != *id {
                    return Err(NetError::Malformed("the peer sent another receipt than the one asked for".into()));
                }
                receipt.verify_signature().map_err(|e| NetError::BadSignature { what: "fetched receipt", why: e.to_string() })?;
                Ok((receipt, input))
            }
            Answer::Refused { message, .. } => Err(NetError::Transport(format!("the peer refused the receipt: {message}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_refuse_bad_bytes() {
        let call = InferCall { model_id: [3; 32], evidence: 2, input: b"{\"input_data\": [[1]]}".to_vec() };
        let env = call.encode().unwrap();
        let (_, body) = codec::open(&env, &[Kind::Request]).unwrap();
        assert_eq!(InferCall::decode(body).unwrap(), call);
        for cut in 0..body.len() {
            assert!(InferCall::decode(&body[..cut]).is_err(), "cut at {cut}");
        }
        let big = InferCall { input: vec![b' '; MAX_FORWARD_INPUT + 1], ..call.clone() };
        assert!(matches!(big.encode(), Err(NetError::Oversized { .. })));
        let mut bad = body.to_vec();
        bad[33] = 9;
        assert!(InferCall::decode(&bad).is_err());

        let step = DisputeStep {
            receipt_id: [1; 32],
            nonce: [2; 32],
            executor_moves: 3,
            challenger_moves: vec![Move::Respond { agree: true }, Move::Choose { right: false }, Move::Element { offset: 7 }],
        };
        let env = step.encode();
        let (_, body) = codec::open(&env, &[Kind::Request]).unwrap();
        assert_eq!(DisputeStep::decode(body).unwrap(), step);
        for cut in 0..body.len() {
            assert!(DisputeStep::decode(&body[..cut]).is_err(), "cut at {cut}");
        }

        assert_eq!(open_answer(&ok(b"x")).unwrap(), Answer::Ok(b"x".to_vec()));
        let r = open_answer(&refused(404, "no model")).unwrap();
        assert_eq!(r, Answer::Refused { status: 404, message: "no model".into() });
        assert!(open_answer(&codec::seal(Kind::Response, &[9])).is_err());
        assert!(open_answer(&codec::seal(Kind::Response, &[2, 1])).is_err());
    }
}
