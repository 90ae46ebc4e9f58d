//! The wire format shared by every Verity protocol: a 10-byte envelope
//! (`"VRTN"`, version, kind, payload length as u32 big-endian) and then the payload,
//! whose fields are read with [`Reader`], which never reads past the end.

use crate::error::NetError;

pub const MAGIC: [u8; 4] = *b"VRTN";
pub const VERSION: u8 = 1;
pub const HEADER_LEN: usize = 10;

/// Every message kind, with the largest payload a peer accepts for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Kind {
    NodeRecord = 1,
    BatchAnnouncement = 2,
    FraudProof = 3,
    Request = 4,
    Response = 5,
}

impl Kind {
    pub const ALL: [Kind; 5] = [Kind::NodeRecord, Kind::BatchAnnouncement, Kind::FraudProof, Kind::Request, Kind::Response];

    pub fn from_u8(b: u8) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| *k as u8 == b)
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::NodeRecord => "node record",
            Kind::BatchAnnouncement => "batch announcement",
            Kind::FraudProof => "fraud proof",
            Kind::Request => "request",
            Kind::Response => "response",
        }
    }

    /// Bounds chosen from what the messages hold: a record is ~200 bytes; an announcement
    /// lists at most [`crate::evidence::MAX_BATCH_IDS`] ids; a fraud proof holds a receipt,
    /// a model head (a few KB for the fixtures) and ~30 moves, the largest of which opens one
    /// node (its weights). A response can carry a whole model.
    pub const fn max_payload(self) -> usize {
        match self {
            Kind::NodeRecord => 1024,
            Kind::BatchAnnouncement => 200 * 1024,
            Kind::FraudProof => 4 << 20,
            Kind::Request => 64 * 1024,
            Kind::Response => 32 << 20,
        }
    }
}

/// Wraps `payload` in an envelope of `kind`.
pub fn seal(kind: Kind, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    out.push(kind as u8);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Reads an envelope header: checks magic, version, kind and the length bound, and
/// returns the kind and payload length. `expect` restricts the kinds accepted.
pub fn read_header(bytes: &[u8], expect: &[Kind]) -> Result<(Kind, usize), NetError> {
    if bytes.len() < HEADER_LEN {
        return Err(NetError::Truncated { what: "envelope header", need: HEADER_LEN, have: bytes.len() });
    }
    if bytes[..4] != MAGIC {
        return Err(NetError::Malformed("not a Verity network message (bad magic)".into()));
    }
    if bytes[4] != VERSION {
        return Err(NetError::WrongVersion { found: bytes[4], supported: VERSION });
    }
    let kind = Kind::from_u8(bytes[5]).ok_or_else(|| NetError::Malformed(format!("unknown message kind {}", bytes[5])))?;
    if !expect.contains(&kind) {
        return Err(NetError::Malformed(format!("a {} where {} was expected", kind.name(), names(expect))));
    }
    let len = u32::from_be_bytes(bytes[6..10].try_into().expect("4 bytes")) as usize;
    if len > kind.max_payload() {
        return Err(NetError::Oversized { what: kind.name(), size: len, max: kind.max_payload() });
    }
    Ok((kind, len))
}

fn names(kinds: &[Kind]) -> String {
    kinds.iter().map(|k| k.name()).collect::<Vec<_>>().join(" or ")
}

/// Opens a whole envelope of one of the `expect`ed kinds; the payload must fill the rest
/// exactly.
pub fn open<'a>(bytes: &'a [u8], expect: &[Kind]) -> Result<(Kind, &'a [u8]), NetError> {
    let (kind, len) = read_header(bytes, expect)?;
    let body = &bytes[HEADER_LEN..];
    if body.len() < len {
        return Err(NetError::Truncated { what: kind.name(), need: len, have: body.len() });
    }
    if body.len() > len {
        return Err(NetError::Malformed(format!("{} trailing bytes after the {}", body.len() - len, kind.name())));
    }
    Ok((kind, body))
}

/// A bounds-checked cursor over a payload.
pub struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8], what: &'static str) -> Self {
        Reader { bytes, pos: 0, what }
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], NetError> {
        let have = self.bytes.len() - self.pos;
        if n > have {
            return Err(NetError::Truncated { what: self.what, need: n, have });
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub fn u8(&mut self) -> Result<u8, NetError> {
        Ok(self.take(1)?[0])
    }

    pub fn u32(&mut self) -> Result<u32, NetError> {
        Ok(u32::from_be_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }

    pub fn u64(&mut self) -> Result<u64, NetError> {
        Ok(u64::from_be_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }

    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], NetError> {
        Ok(self.take(N)?.try_into().expect("N bytes"))
    }

    /// A length-prefixed (u32) byte string of at most `max` bytes.
    pub fn bytes(&mut self, max: usize) -> Result<&'a [u8], NetError> {
        let n = self.u32()? as usize;
        if n > max {
            return Err(NetError::Oversized { what: self.what, size: n, max });
        }
        self.take(n)
    }

    /// A count (u32) of at most `max` items, each at least `min_item` bytes, checked
    /// against the bytes left so that a huge count cannot make us allocate.
    pub fn count(&mut self, max: usize, min_item: usize) -> Result<usize, NetError> {
        let n = self.u32()? as usize;
        if n > max {
            return Err(NetError::Oversized { what: self.what, size: n, max });
        }
        let have = self.bytes.len() - self.pos;
        if n.saturating_mul(min_item) > have {
            return Err(NetError::Truncated { what: self.what, need: n * min_item, have });
        }
        Ok(n)
    }

    pub fn finish(self) -> Result<(), NetError> {
        if self.pos != self.bytes.len() {
            return Err(NetError::Malformed(format!("{} trailing bytes in the {}", self.bytes.len() - self.pos, self.what)));
        }
        Ok(())
    }
}

pub fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_be_bytes());
    out.extend_from_slice(b);
}
