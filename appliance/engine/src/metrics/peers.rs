//! Who is connected to a flow: each peer registers with [`Peers::join`] and leaves when its
//! [`PeerGuard`] drops. An SRT peer lends a weak handle on its socket, so its link figures
//! are read from libsrt when a snapshot is taken, never keeping the socket open.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::SystemTime;

use relevo_srt::SrtStream;

use super::{LinkDirection, SrtLink};

/// One connected peer, as shown to operators.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PeerSnapshot {
    /// `srt`, `rtmp`, `rtmps`.
    pub protocol: &'static str,
    /// The peer's address (never a stream key or a URL with credentials).
    pub addr: String,
    pub since: SystemTime,
    /// Link figures of an SRT connection.
    pub srt: Option<SrtLink>,
}

#[derive(Debug)]
struct PeerEntry {
    protocol: &'static str,
    addr: String,
    since: SystemTime,
    link: Option<(Weak<SrtStream>, LinkDirection)>,
}

#[derive(Debug, Default)]
struct PeerTable {
    next_id: u64,
    entries: BTreeMap<u64, PeerEntry>,
}

/// The peers connected to one flow, each present while its [`PeerGuard`] lives.
#[derive(Debug, Default)]
pub struct Peers(Arc<Mutex<PeerTable>>);

impl Peers {
    fn table(&self) -> std::sync::MutexGuard<'_, PeerTable> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a peer until the returned guard drops. An SRT peer passes its socket so that
    /// snapshots can read its link figures; only a weak handle is kept, which never delays
    /// the socket's close.
    pub fn join(
        &self,
        protocol: &'static str,
        addr: String,
        link: Option<(&Arc<SrtStream>, LinkDirection)>,
    ) -> PeerGuard {
        let mut t = self.table();
        let id = t.next_id;
        t.next_id += 1;
        t.entries.insert(
            id,
            PeerEntry {
                protocol,
                addr,
                since: SystemTime::now(),
                link: link.map(|(s, dir)| (Arc::downgrade(s), dir)),
            },
        );
        PeerGuard {
            table: Arc::downgrade(&self.0),
            id,
        }
    }

    /// The connected peers, oldest first, with fresh SRT figures (libsrt is asked after the
    /// table's lock is released).
    pub fn snapshot(&self) -> Vec<PeerSnapshot> {
        let entries: Vec<_> = self
            .table()
            .entries
            .values()
            .map(|e| {
                (
                    PeerSnapshot {
                        protocol: e.protocol,
                        addr: e.addr.clone(),
                        since: e.since,
                        srt: None,
                    },
                    e.link.clone(),
                )
            })
            .collect();
        entries
            .into_iter()
            .map(|(mut p, link)| {
                if let Some((sock, dir)) = link {
                    p.srt = sock.upgrade().map(|s| SrtLink::from_stats(&s.stats(), dir));
                }
                p
            })
            .collect()
    }
}

/// A peer's presence in [`Peers`]; dropping it removes the peer.
#[derive(Debug)]
pub struct PeerGuard {
    table: Weak<Mutex<PeerTable>>,
    id: u64,
}

impl Drop for PeerGuard {
    fn drop(&mut self) {
        if let Some(t) = self.table.upgrade() {
            t.lock()
                .unwrap_or_else(|e| e.into_inner())
                .entries
                .remove(&self.id);
        }
    }
}
