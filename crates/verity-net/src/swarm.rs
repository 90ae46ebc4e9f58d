//! The libp2p side: one behaviour per protocol (identify, Kademlia, gossipsub,
//! request-response) composed in [`Behaviour`], a swarm over TCP or the in-memory
//! transport (for simulations), both with Noise and Yamux, and a task that drives it.
//! The rest of the node talks to that task through a [`Handle`].

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, FutureExt, StreamExt};
use libp2p::core::transport::{MemoryTransport, Transport};
use libp2p::core::upgrade::Version;
use libp2p::identity::Keypair;
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{gossipsub, identify, kad, noise, tcp, yamux, Multiaddr, PeerId, StreamProtocol, Swarm, SwarmBuilder};
use tokio::sync::{mpsc, oneshot};

use crate::book::{Accepted, Book};
use crate::codec::{self, Kind, HEADER_LEN};
use crate::error::NetError;
use crate::limits::{Limits, Verdict, FRAUD_PROOF_COST};
use crate::record::NodeRecord;

pub const TOPIC_BATCHES: &str = "/verity/batches/1";
pub const TOPIC_FRAUD: &str = "/verity/fraud-proofs/1";
pub const RR_PROTOCOL: &str = "/verity/rr/1";

/// Request types (first payload byte of a [`Kind::Request`]); the node answers the
/// others (`crate::forward`) through [`Handle::serve_requests`].
pub const REQ_RECORD: u8 = 1;
pub const REQ_MODEL: u8 = 2;

/// How long a request may wait for its response (a forwarded inference included).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Requests handed to the node at once; beyond it a request is answered "busy" at once.
pub const INBOUND_QUEUE: usize = 256;

/// A request the swarm does not answer itself, handed to the node: `body` is the request
/// payload (type byte first); the node sends the whole response envelope on `reply`
/// (dropping it answers with an error).
pub struct Inbound {
    pub peer: PeerId,
    pub body: Vec<u8>,
    pub reply: oneshot::Sender<Vec<u8>>,
}

#[derive(NetworkBehaviour)]
pub struct Behaviour {
    pub identify: identify::Behaviour,
    pub kad: kad::Behaviour<kad::store::MemoryStore>,
    pub gossipsub: gossipsub::Behaviour,
    pub rr: request_response::Behaviour<EnvelopeCodec>,
}

/// Request-response frames are whole envelopes; the header is read first so that an
/// oversized or wrong-version frame is refused before its payload is read.
#[derive(Clone, Default)]
pub struct EnvelopeCodec;

async fn read_envelope<T: AsyncRead + Unpin + Send>(io: &mut T, kind: Kind) -> io::Result<Vec<u8>> {
    let mut head = [0u8; HEADER_LEN];
    io.read_exact(&mut head).await?;
    let (_, len) = codec::read_header(&head, &[kind]).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    let mut buf = head.to_vec();
    buf.resize(HEADER_LEN + len, 0);
    io.read_exact(&mut buf[HEADER_LEN..]).await?;
    Ok(buf)
}

#[async_trait::async_trait]
impl request_response::Codec for EnvelopeCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;
    async fn read_request<T: AsyncRead + Unpin + Send>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>> {
        read_envelope(io, Kind::Request).await
    }
    async fn read_response<T: AsyncRead + Unpin + Send>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>> {
        read_envelope(io, Kind::Response).await
    }
    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Vec<u8>,
    ) -> io::Result<()> {
        io.write_all(&req).await?;
        io.close().await
    }
    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Vec<u8>,
    ) -> io::Result<()> {
        io.write_all(&res).await?;
        io.close().await
    }
}

/// Which transport the swarm uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportKind {
    Tcp,
    /// libp2p's in-process transport (`/memory/N` addresses), for simulations and tests.
    Memory,
}

pub struct Config {
    pub keypair: Keypair,
    pub transport: TransportKind,
    pub listen: Vec<Multiaddr>,
    pub bootstrap: Vec<Multiaddr>,
    /// This node's signed record, sent to every peer that asks.
    pub record: Option<NodeRecord>,
    pub heartbeat: Duration,
    /// When set (memory transport only), counts every byte this node writes to its
    /// connections, protocol framing and encryption included.
    pub bytes_sent: Option<Arc<AtomicU64>>,
}

/// A connection that counts the bytes written to it.
struct Counting<C> {
    inner: C,
    sent: Arc<AtomicU64>,
}

impl<C: AsyncRead + Unpin> AsyncRead for Counting<C> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<C: AsyncWrite + Unpin> AsyncWrite for Counting<C> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = r {
            self.sent.fetch_add(n as u64, Ordering::Relaxed);
        }
        r
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

fn behaviour(key: &Keypair, heartbeat: Duration) -> Result<Behaviour, NetError> {
    let peer = key.public().to_peer_id();
    let gcfg = gossipsub::ConfigBuilder::default()
        .heartbeat_interval(heartbeat)
        .max_transmit_size(Kind::FraudProof.max_payload() + HEADER_LEN + 1024)
        .validation_mode(gossipsub::ValidationMode::Strict)
        // Messages are forwarded only after the node has checked them (see `on_gossip`).
        .validate_messages()
        .build()
        .map_err(|e| NetError::Transport(format!("gossipsub config: {e}")))?;
    let gossipsub = gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Signed(key.clone()), gcfg)
        .map_err(|e| NetError::Transport(format!("gossipsub: {e}")))?;
    let mut kad = kad::Behaviour::new(peer, kad::store::MemoryStore::new(peer));
    kad.set_mode(Some(kad::Mode::Server));
    let rr = request_response::Behaviour::new(
        [(StreamProtocol::new(RR_PROTOCOL), ProtocolSupport::Full)],
        request_response::Config::default().with_request_timeout(REQUEST_TIMEOUT),
    );
    let identify = identify::Behaviour::new(identify::Config::new("/verity/1.0.0".into(), key.public()));
    Ok(Behaviour { identify, kad, gossipsub, rr })
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn build(cfg: &Config) -> Result<Swarm<Behaviour>, NetError> {
    let t = |e: String| NetError::Transport(e);
    let hb = cfg.heartbeat;
    let sent = cfg.bytes_sent.clone().unwrap_or_default();
    let idle = |c: libp2p::swarm::Config| c.with_idle_connection_timeout(Duration::from_secs(3600));
    Ok(match cfg.transport {
        TransportKind::Tcp => SwarmBuilder::with_existing_identity(cfg.keypair.clone())
            .with_tokio()
            .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)
            .map_err(|e| t(e.to_string()))?
            .with_behaviour(|k| behaviour(k, hb).map_err(BoxError::from))
            .map_err(|e| t(e.to_string()))?
            .with_swarm_config(idle)
            .build(),
        TransportKind::Memory => SwarmBuilder::with_existing_identity(cfg.keypair.clone())
            .with_tokio()
            .with_other_transport(|k| -> Result<_, BoxError> {
                Ok(MemoryTransport::default()
                    .map(move |c, _| Counting { inner: c, sent })
                    .upgrade(Version::V1)
                    .authenticate(noise::Config::new(k)?)
                    .multiplex(yamux::Config::default())
                    .boxed())
            })
            .map_err(|e| t(e.to_string()))?
            .with_behaviour(|k| behaviour(k, hb).map_err(BoxError::from))
            .map_err(|e| t(e.to_string()))?
            .with_swarm_config(idle)
            .build(),
    })
}

enum Command {
    Publish { topic: &'static str, data: Vec<u8>, done: oneshot::Sender<Result<(), NetError>> },
    Provide { model_id: [u8; 32] },
    FindProviders { model_id: [u8; 32], done: oneshot::Sender<Vec<PeerId>> },
    Request { peer: PeerId, data: Vec<u8>, done: oneshot::Sender<Result<Vec<u8>, NetError>> },
    Dial { addr: Multiaddr },
    Peers { done: oneshot::Sender<Vec<PeerId>> },
    ServeRequests { tx: mpsc::Sender<Inbound> },
}

/// Events for the rest of the node (and for simulations, which time them).
#[derive(Clone, Debug)]
pub enum Event {
    Listening(Multiaddr),
    Accepted(Accepted),
    Rejected { topic: String, error: NetError },
    PeerRecord(PeerId),
}

/// Talks to the swarm task.
#[derive(Clone)]
pub struct Handle {
    pub peer_id: PeerId,
    pub book: Arc<Mutex<Book>>,
    /// Models this node serves by id (their canonical encoding).
    pub models: Arc<Mutex<HashMap<[u8; 32], Vec<u8>>>>,
    tx: mpsc::UnboundedSender<Command>,
}

impl Handle {
    pub async fn publish(&self, topic: &'static str, data: Vec<u8>) -> Result<(), NetError> {
        let (done, rx) = oneshot::channel();
        self.send(Command::Publish { topic, data, done })?;
        rx.await.map_err(|_| stopped())?
    }

    /// Serves `bytes` (a canonical model encoding) under its id and announces it in the DHT.
    pub fn serve_model(&self, bytes: Vec<u8>) -> Result<[u8; 32], NetError> {
        let id = verity_model::Model::id_of_encoding(&bytes);
        self.models.lock().expect("models lock").insert(id, bytes);
        self.send(Command::Provide { model_id: id })?;
        Ok(id)
    }

    pub async fn find_providers(&self, model_id: [u8; 32]) -> Result<Vec<PeerId>, NetError> {
        let (done, rx) = oneshot::channel();
        self.send(Command::FindProviders { model_id, done })?;
        rx.await.map_err(|_| stopped())
    }

    /// Sends one request envelope and returns the response envelope.
    pub async fn request(&self, peer: PeerId, data: Vec<u8>) -> Result<Vec<u8>, NetError> {
        let (done, rx) = oneshot::channel();
        self.send(Command::Request { peer, data, done })?;
        rx.await.map_err(|_| stopped())?
    }

    /// Fetches a model from `peer` and checks that its encoding hashes to `model_id`.
    pub async fn fetch_model(&self, peer: PeerId, model_id: [u8; 32]) -> Result<Vec<u8>, NetError> {
        let mut req = vec![REQ_MODEL];
        req.extend_from_slice(&model_id);
        let resp = self.request(peer, codec::seal(Kind::Request, &req)).await?;
        let (_, body) = codec::open(&resp, &[Kind::Response])?;
        match body.split_first() {
            Some((0, model)) if verity_model::Model::id_of_encoding(model) == model_id => Ok(model.to_vec()),
            Some((0, _)) => Err(NetError::Malformed("the peer sent a model whose id is not the one asked for".into())),
            _ => Err(NetError::Malformed("the peer does not have the model".into())),
        }
    }

    /// Asks `peer` for its node record and checks it against the peer id.
    pub async fn fetch_record(&self, peer: PeerId) -> Result<NodeRecord, NetError> {
        let resp = self.request(peer, codec::seal(Kind::Request, &[REQ_RECORD])).await?;
        let (_, body) = codec::open(&resp, &[Kind::Response])?;
        match body.split_first() {
            Some((0, rec)) => {
                self.book.lock().expect("book lock").accept_record(&peer, rec)?;
                NodeRecord::decode(rec)
            }
            _ => Err(NetError::Malformed("the peer has no node record".into())),
        }
    }

    /// Announces in the DHT that this node serves `model_id` (without holding its bytes
    /// in memory: the node answers model fetches from its own store, or not at all).
    pub fn provide(&self, model_id: [u8; 32]) -> Result<(), NetError> {
        self.send(Command::Provide { model_id })
    }

    /// Hands every request of a type the swarm does not answer itself to `tx`.
    pub fn serve_requests(&self, tx: mpsc::Sender<Inbound>) -> Result<(), NetError> {
        self.send(Command::ServeRequests { tx })
    }

    pub fn dial(&self, addr: Multiaddr) -> Result<(), NetError> {
        self.send(Command::Dial { addr })
    }

    pub async fn peers(&self) -> Result<Vec<PeerId>, NetError> {
        let (done, rx) = oneshot::channel();
        self.send(Command::Peers { done })?;
        rx.await.map_err(|_| stopped())
    }

    fn send(&self, c: Command) -> Result<(), NetError> {
        self.tx.send(c).map_err(|_| stopped())
    }
}

fn stopped() -> NetError {
    NetError::Transport("the network task has stopped".into())
}

/// Builds the swarm, starts listening and dialing, and spawns the task that drives it.
pub fn spawn(cfg: Config) -> Result<(Handle, mpsc::UnboundedReceiver<Event>), NetError> {
    let mut swarm = build(&cfg)?;
    for t in [TOPIC_BATCHES, TOPIC_FRAUD] {
        swarm
            .behaviour_mut()
            .gossipsub
            .subscribe(&gossipsub::IdentTopic::new(t))
            .map_err(|e| NetError::Transport(e.to_string()))?;
    }
    for a in &cfg.listen {
        swarm.listen_on(a.clone()).map_err(|e| NetError::Transport(format!("listen on {a}: {e}")))?;
    }
    for a in &cfg.bootstrap {
        swarm.dial(a.clone()).map_err(|e| NetError::Transport(format!("dial {a}: {e}")))?;
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let (etx, erx) = mpsc::unbounded_channel();
    let handle = Handle {
        peer_id: *swarm.local_peer_id(),
        book: Arc::new(Mutex::new(Book::default())),
        models: Arc::new(Mutex::new(HashMap::new())),
        tx,
    };
    let task = Task {
        swarm,
        rx,
        events: etx,
        handle: handle.clone(),
        record: cfg.record,
        pending: HashMap::new(),
        finds: HashMap::new(),
        inbound: None,
        replies: FuturesUnordered::new(),
        limits: Limits::default(),
    };
    tokio::spawn(task.run());
    Ok((handle, erx))
}

struct Task {
    swarm: Swarm<Behaviour>,
    rx: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<Event>,
    handle: Handle,
    record: Option<NodeRecord>,
    pending: HashMap<OutboundRequestId, oneshot::Sender<Result<Vec<u8>, NetError>>>,
    finds: HashMap<kad::QueryId, (oneshot::Sender<Vec<PeerId>>, Vec<PeerId>)>,
    inbound: Option<mpsc::Sender<Inbound>>,
    /// Responses the node is still computing, with the channel each goes back on.
    replies: FuturesUnordered<Reply>,
    limits: Limits,
}

/// A response the node is computing, and the channel it goes back on.
type Reply = BoxFuture<'static, (ResponseChannel<Vec<u8>>, Vec<u8>)>;

fn error_response(e: &NetError) -> Vec<u8> {
    let mut p = vec![1u8];
    p.extend_from_slice(e.to_string().as_bytes());
    codec::seal(Kind::Response, &p)
}

impl Task {
    async fn run(mut self) {
        loop {
            tokio::select! {
                cmd = self.rx.recv() => match cmd {
                    Some(c) => self.command(c),
                    None => return,
                },
                ev = self.swarm.select_next_some() => self.event(ev),
                Some((channel, resp)) = self.replies.next(), if !self.replies.is_empty() => {
                    let _ = self.swarm.behaviour_mut().rr.send_response(channel, resp);
                }
            }
        }
    }

    fn command(&mut self, c: Command) {
        let b = self.swarm.behaviour_mut();
        match c {
            Command::Publish { topic, data, done } => {
                let r = b.gossipsub.publish(gossipsub::IdentTopic::new(topic), data).map(|_| ());
                let _ = done.send(r.map_err(|e| NetError::Transport(format!("publish: {e}"))));
            }
            Command::Provide { model_id } => {
                let _ = b.kad.start_providing(kad::RecordKey::new(&model_id));
            }
            Command::FindProviders { model_id, done } => {
                let q = b.kad.get_providers(kad::RecordKey::new(&model_id));
                self.finds.insert(q, (done, Vec::new()));
            }
            Command::Request { peer, data, done } => {
                let id = b.rr.send_request(&peer, data);
                self.pending.insert(id, done);
            }
            Command::Dial { addr } => {
                let _ = self.swarm.dial(addr);
            }
            Command::Peers { done } => {
                let _ = done.send(self.swarm.connected_peers().copied().collect());
            }
            Command::ServeRequests { tx } => self.inbound = Some(tx),
        }
    }

    fn emit(&self, e: Event) {
        let _ = self.events.send(e);
    }

    fn event(&mut self, ev: SwarmEvent<BehaviourEvent>) {
        match ev {
            SwarmEvent::NewListenAddr { address, .. } => self.emit(Event::Listening(address)),
            SwarmEvent::ConnectionEstablished { peer_id, .. } if self.limits.is_banned(&peer_id) => {
                let _ = self.swarm.disconnect_peer_id(peer_id);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. })) => {
                for a in info.listen_addrs {
                    self.swarm.behaviour_mut().kad.add_address(&peer_id, a);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            })) => {
                let topic = message.topic.as_str().to_string();
                let cost = if topic == TOPIC_FRAUD { FRAUD_PROOF_COST } else { 1.0 };
                let verdict = self.limits.gossip(propagation_source, cost, Instant::now());
                if verdict != Verdict::Check {
                    let what = if verdict == Verdict::Banned { "gossip_from_banned" } else { "gossip_rate_limited" };
                    self.handle.book.lock().expect("book lock").count(what);
                    let _ = self.swarm.behaviour_mut().gossipsub.report_message_validation_result(
                        &message_id,
                        &propagation_source,
                        gossipsub::MessageAcceptance::Ignore,
                    );
                    return;
                }
                let result = {
                    let mut book = self.handle.book.lock().expect("book lock");
                    book.count("gossip_received");
                    match topic.as_str() {
                        TOPIC_BATCHES => book.accept_batch(&message.data),
                        TOPIC_FRAUD => book.accept_fraud_proof(&message.data),
                        _ => Err(NetError::Malformed(format!("unknown topic {topic}"))),
                    }
                };
                // Invalid messages are not forwarded and are a strike against the peer that
                // delivered them (`crate::limits`); replays (already known) are ignored
                // without penalty.
                let acceptance = match &result {
                    Ok(_) => gossipsub::MessageAcceptance::Accept,
                    Err(NetError::Replayed(_)) => gossipsub::MessageAcceptance::Ignore,
                    Err(_) => gossipsub::MessageAcceptance::Reject,
                };
                let invalid = matches!(acceptance, gossipsub::MessageAcceptance::Reject);
                let _ = self.swarm.behaviour_mut().gossipsub.report_message_validation_result(
                    &message_id,
                    &propagation_source,
                    acceptance,
                );
                if invalid {
                    self.strike(propagation_source);
                }
                match result {
                    Ok(a) => self.emit(Event::Accepted(a)),
                    Err(error) => self.emit(Event::Rejected { topic, error }),
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Rr(request_response::Event::Message { peer, message, .. })) => match message {
                request_response::Message::Request { request, channel, .. } => {
                    if self.limits.is_banned(&peer) {
                        let refused = NetError::Transport("refused: too many invalid messages from this peer".into());
                        let _ = self.swarm.behaviour_mut().rr.send_response(channel, error_response(&refused));
                        let _ = self.swarm.disconnect_peer_id(peer);
                    } else if codec::open(&request, &[Kind::Request]).is_err() {
                        // A truncated, oversized or wrong-version envelope: refused, counted, a strike.
                        let resp = self.answer(&request);
                        let _ = self.swarm.behaviour_mut().rr.send_response(channel, resp);
                        self.strike(peer);
                    } else if let Some(body) = self.for_the_node(&request) {
                        self.hand_over(peer, body, channel);
                    } else {
                        let resp = self.answer(&request);
                        let _ = self.swarm.behaviour_mut().rr.send_response(channel, resp);
                    }
                }
                request_response::Message::Response { request_id, response } => {
                    if let Some(done) = self.pending.remove(&request_id) {
                        let _ = done.send(Ok(response));
                    }
                }
            },
            SwarmEvent::Behaviour(BehaviourEvent::Rr(request_response::Event::OutboundFailure { request_id, error, .. })) => {
                if let Some(done) = self.pending.remove(&request_id) {
                    let _ = done.send(Err(NetError::Transport(format!("request failed: {error}"))));
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Kad(kad::Event::OutboundQueryProgressed {
                id,
                result: kad::QueryResult::GetProviders(r),
                step,
                ..
            })) => {
                if let (Some((_, found)), Ok(kad::GetProvidersOk::FoundProviders { providers, .. })) =
                    (self.finds.get_mut(&id), r)
                {
                    found.extend(providers);
                }
                if step.last {
                    if let Some((done, found)) = self.finds.remove(&id) {
                        let _ = done.send(found);
                    }
                }
            }
            _ => {}
        }
    }

    /// A failed check against `peer`; at its last strike it is disconnected, its gossip
    /// is refused and it is forgotten by the DHT.
    fn strike(&mut self, peer: PeerId) {
        if !self.limits.strike(peer) {
            return;
        }
        self.handle.book.lock().expect("book lock").count("peers_banned");
        let b = self.swarm.behaviour_mut();
        b.gossipsub.blacklist_peer(&peer);
        b.kad.remove_peer(&peer);
        let _ = self.swarm.disconnect_peer_id(peer);
    }

    /// The payload of a well-formed request of a type the node answers, if it is one.
    fn for_the_node(&self, request: &[u8]) -> Option<Vec<u8>> {
        self.inbound.as_ref()?;
        match codec::open(request, &[Kind::Request]) {
            Ok((_, body)) if !matches!(body.first(), None | Some(&REQ_RECORD) | Some(&REQ_MODEL)) => Some(body.to_vec()),
            _ => None,
        }
    }

    /// Queues a request for the node; a full queue is answered "busy" at once, so a flood
    /// of requests costs the node a bounded amount of memory.
    fn hand_over(&mut self, peer: PeerId, body: Vec<u8>, channel: ResponseChannel<Vec<u8>>) {
        let (reply, rx) = oneshot::channel();
        let tx = self.inbound.as_ref().expect("checked by for_the_node");
        if tx.try_send(Inbound { peer, body, reply }).is_err() {
            self.handle.book.lock().expect("book lock").count("rejected_busy");
            let busy = error_response(&NetError::Transport("the node is busy; retry later".into()));
            let _ = self.swarm.behaviour_mut().rr.send_response(channel, busy);
            return;
        }
        self.replies.push(
            rx.map(|r| {
                let resp = r.unwrap_or_else(|_| error_response(&NetError::Transport("the node dropped the request".into())));
                (channel, resp)
            })
            .boxed(),
        );
    }

    /// Answers one request envelope; every malformed request gets an error response and
    /// is counted.
    fn answer(&mut self, request: &[u8]) -> Vec<u8> {
        let result = codec::open(request, &[Kind::Request]).and_then(|(_, body)| match body.split_first() {
            Some((&REQ_RECORD, [])) => {
                self.record.as_ref().map(|r| r.encode()).ok_or_else(|| NetError::Malformed("no record".into()))
            }
            Some((&REQ_MODEL, id)) if id.len() == 32 => {
                let id: [u8; 32] = id.try_into().expect("32 bytes");
                self.handle
                    .models
                    .lock()
                    .expect("models lock")
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| NetError::Malformed("unknown model".into()))
            }
            _ => Err(NetError::Malformed("unknown request".into())),
        });
        match result {
            Ok(data) => {
                let mut p = vec![0u8];
                p.extend_from_slice(&data);
                codec::seal(Kind::Response, &p)
            }
            Err(e) => {
                self.handle.book.lock().expect("book lock").count(&format!("rejected_{}", e.label()));
                error_response(&e)
            }
        }
    }
}
