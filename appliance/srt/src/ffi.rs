//! Hand-written declarations of the part of libsrt 1.5's C API (`<srt/srt.h>`) this crate uses.
//!
//! Only what is called is declared; values are copied from the 1.5.1 headers. This module
//! contains no logic: the safe wrappers live in `socket.rs` and the modules built on it.

#![allow(non_camel_case_types, dead_code, clippy::upper_case_acronyms)]

use libc::{c_char, c_int, c_void, sockaddr};

pub type SRTSOCKET = i32;
pub const SRT_INVALID_SOCK: SRTSOCKET = -1;
pub const SRT_ERROR: c_int = -1;

// SRT_SOCKSTATUS
pub const SRTS_INIT: c_int = 1;
pub const SRTS_OPENED: c_int = 2;
pub const SRTS_LISTENING: c_int = 3;
pub const SRTS_CONNECTING: c_int = 4;
pub const SRTS_CONNECTED: c_int = 5;
pub const SRTS_BROKEN: c_int = 6;
pub const SRTS_CLOSING: c_int = 7;
pub const SRTS_CLOSED: c_int = 8;
pub const SRTS_NONEXIST: c_int = 9;

// SRT_SOCKOPT (only those used)
pub const SRTO_SNDSYN: c_int = 1;
pub const SRTO_RCVSYN: c_int = 2;
pub const SRTO_FC: c_int = 4;
pub const SRTO_SNDBUF: c_int = 5;
pub const SRTO_RCVBUF: c_int = 6;
pub const SRTO_TSBPDMODE: c_int = 22;
pub const SRTO_LATENCY: c_int = 23;
pub const SRTO_PASSPHRASE: c_int = 26;
pub const SRTO_PBKEYLEN: c_int = 27;
pub const SRTO_KMSTATE: c_int = 28;
pub const SRTO_CONNTIMEO: c_int = 36;
pub const SRTO_RCVLATENCY: c_int = 43;
pub const SRTO_PEERLATENCY: c_int = 44;
pub const SRTO_STREAMID: c_int = 46;
pub const SRTO_PAYLOADSIZE: c_int = 49;
pub const SRTO_TRANSTYPE: c_int = 50;
pub const SRTO_ENFORCEDENCRYPTION: c_int = 53;
pub const SRTO_IPV6ONLY: c_int = 54;

// SRT_TRANSTYPE
pub const SRTT_LIVE: c_int = 0;

/// `SRT_LIVE_DEF_PLSIZE`: 7 MPEG-TS packets, the default live payload.
pub const SRT_LIVE_DEF_PLSIZE: usize = 1316;
/// `SRT_LIVE_MAX_PLSIZE`: MTU 1500 - UDP header 28 - SRT header 16.
pub const SRT_LIVE_MAX_PLSIZE: usize = 1456;

// SRT_ERRNO (only those inspected)
pub const SRT_ENOSERVER: c_int = 1001;
pub const SRT_ECONNREJ: c_int = 1002;
pub const SRT_ECONNFAIL: c_int = 2000;
pub const SRT_ECONNLOST: c_int = 2001;
pub const SRT_ENOCONN: c_int = 2002;
pub const SRT_EINVSOCK: c_int = 5004;
pub const SRT_ELARGEMSG: c_int = 5012;
pub const SRT_EASYNCSND: c_int = 6001;
pub const SRT_EASYNCRCV: c_int = 6002;
pub const SRT_ETIMEOUT: c_int = 6003;

// SRT_REJECT_REASON
pub const SRT_REJ_UNKNOWN: c_int = 0;
pub const SRT_REJ_SYSTEM: c_int = 1;
pub const SRT_REJ_PEER: c_int = 2;
pub const SRT_REJ_RESOURCE: c_int = 3;
pub const SRT_REJ_ROGUE: c_int = 4;
pub const SRT_REJ_BACKLOG: c_int = 5;
pub const SRT_REJ_IPE: c_int = 6;
pub const SRT_REJ_CLOSE: c_int = 7;
pub const SRT_REJ_VERSION: c_int = 8;
pub const SRT_REJ_RDVCOOKIE: c_int = 9;
pub const SRT_REJ_BADSECRET: c_int = 10;
pub const SRT_REJ_UNSECURE: c_int = 11;
pub const SRT_REJ_TIMEOUT: c_int = 16;
/// `SRT_REJX_ISE` from `<srt/access_control.h>`: unexpected internal server error.
pub const SRT_REJX_ISE: c_int = 1500;

// SRT_EPOLL_OPT
pub const SRT_EPOLL_IN: c_int = 0x1;
pub const SRT_EPOLL_OUT: c_int = 0x4;
pub const SRT_EPOLL_ERR: c_int = 0x8;
pub const SRT_EPOLL_ET: c_int = 1 << 31;
// SRT_EPOLL_FLAGS
pub const SRT_EPOLL_ENABLE_EMPTY: i32 = 1;

// syslog levels used by srt_setloglevel and the log handler.
pub const LOG_CRIT: c_int = 2;
pub const LOG_ERR: c_int = 3;
pub const LOG_WARNING: c_int = 4;
pub const LOG_NOTICE: c_int = 5;
pub const LOG_INFO: c_int = 6;

// srt_setlogflags
pub const SRT_LOGF_DISABLE_TIME: c_int = 1;
pub const SRT_LOGF_DISABLE_THREADNAME: c_int = 2;
pub const SRT_LOGF_DISABLE_SEVERITY: c_int = 4;
pub const SRT_LOGF_DISABLE_EOL: c_int = 8;

#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct SRT_EPOLL_EVENT {
    pub fd: SRTSOCKET,
    pub events: c_int,
}

/// `struct CBytePerfMon` (`SRT_TRACEBSTATS`) of libsrt 1.5, field for field.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
#[allow(non_snake_case)]
pub struct SRT_TRACEBSTATS {
    pub msTimeStamp: i64,
    pub pktSentTotal: i64,
    pub pktRecvTotal: i64,
    pub pktSndLossTotal: c_int,
    pub pktRcvLossTotal: c_int,
    pub pktRetransTotal: c_int,
    pub pktSentACKTotal: c_int,
    pub pktRecvACKTotal: c_int,
    pub pktSentNAKTotal: c_int,
    pub pktRecvNAKTotal: c_int,
    pub usSndDurationTotal: i64,
    pub pktSndDropTotal: c_int,
    pub pktRcvDropTotal: c_int,
    pub pktRcvUndecryptTotal: c_int,
    pub byteSentTotal: u64,
    pub byteRecvTotal: u64,
    pub byteRcvLossTotal: u64,
    pub byteRetransTotal: u64,
    pub byteSndDropTotal: u64,
    pub byteRcvDropTotal: u64,
    pub byteRcvUndecryptTotal: u64,
    pub pktSent: i64,
    pub pktRecv: i64,
    pub pktSndLoss: c_int,
    pub pktRcvLoss: c_int,
    pub pktRetrans: c_int,
    pub pktRcvRetrans: c_int,
    pub pktSentACK: c_int,
    pub pktRecvACK: c_int,
    pub pktSentNAK: c_int,
    pub pktRecvNAK: c_int,
    pub mbpsSendRate: f64,
    pub mbpsRecvRate: f64,
    pub usSndDuration: i64,
    pub pktReorderDistance: c_int,
    pub pktRcvAvgBelatedTime: f64,
    pub pktRcvBelated: i64,
    pub pktSndDrop: c_int,
    pub pktRcvDrop: c_int,
    pub pktRcvUndecrypt: c_int,
    pub byteSent: u64,
    pub byteRecv: u64,
    pub byteRcvLoss: u64,
    pub byteRetrans: u64,
    pub byteSndDrop: u64,
    pub byteRcvDrop: u64,
    pub byteRcvUndecrypt: u64,
    pub usPktSndPeriod: f64,
    pub pktFlowWindow: c_int,
    pub pktCongestionWindow: c_int,
    pub pktFlightSize: c_int,
    pub msRTT: f64,
    pub mbpsBandwidth: f64,
    pub byteAvailSndBuf: c_int,
    pub byteAvailRcvBuf: c_int,
    pub mbpsMaxBW: f64,
    pub byteMSS: c_int,
    pub pktSndBuf: c_int,
    pub byteSndBuf: c_int,
    pub msSndBuf: c_int,
    pub msSndTsbPdDelay: c_int,
    pub pktRcvBuf: c_int,
    pub byteRcvBuf: c_int,
    pub msRcvBuf: c_int,
    pub msRcvTsbPdDelay: c_int,
    pub pktSndFilterExtraTotal: c_int,
    pub pktRcvFilterExtraTotal: c_int,
    pub pktRcvFilterSupplyTotal: c_int,
    pub pktRcvFilterLossTotal: c_int,
    pub pktSndFilterExtra: c_int,
    pub pktRcvFilterExtra: c_int,
    pub pktRcvFilterSupply: c_int,
    pub pktRcvFilterLoss: c_int,
    pub pktReorderTolerance: c_int,
    pub pktSentUniqueTotal: i64,
    pub pktRecvUniqueTotal: i64,
    pub byteSentUniqueTotal: u64,
    pub byteRecvUniqueTotal: u64,
    pub pktSentUnique: i64,
    pub pktRecvUnique: i64,
    pub byteSentUnique: u64,
    pub byteRecvUnique: u64,
}

/// `SRT_MSGCTRL`: per-message control of `srt_sendmsg2`/`srt_recvmsg2` (srt.h 1.5.1).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct SRT_MSGCTRL {
    pub flags: c_int,
    pub msgttl: c_int,
    pub inorder: c_int,
    pub boundary: c_int,
    /// Microseconds of libsrt's steady clock (`CLOCK_MONOTONIC`); 0: "now" when sending.
    pub srctime: i64,
    pub pktseq: i32,
    pub msgno: i32,
    pub grpdata: *mut c_void,
    pub grpdata_size: usize,
}

/// `SRT_SEQNO_NONE` / `SRT_MSGNO_NONE`.
pub const SRT_SEQNO_NONE: i32 = -1;
pub const SRT_MSGNO_NONE: i32 = -1;

impl Default for SRT_MSGCTRL {
    /// `srt_msgctrl_default`: no TTL, not in order, source time "now".
    fn default() -> Self {
        Self {
            flags: 0,
            msgttl: -1,
            inorder: 0,
            boundary: 0,
            srctime: 0,
            pktseq: SRT_SEQNO_NONE,
            msgno: SRT_MSGNO_NONE,
            grpdata: std::ptr::null_mut(),
            grpdata_size: 0,
        }
    }
}

pub type srt_listen_callback_fn = unsafe extern "C" fn(
    opaq: *mut c_void,
    ns: SRTSOCKET,
    hsversion: c_int,
    peeraddr: *const sockaddr,
    streamid: *const c_char,
) -> c_int;

pub type SRT_LOG_HANDLER_FN = unsafe extern "C" fn(
    opaque: *mut c_void,
    level: c_int,
    file: *const c_char,
    line: c_int,
    area: *const c_char,
    message: *const c_char,
);

extern "C" {
    pub fn srt_startup() -> c_int;
    pub fn srt_getversion() -> u32;

    pub fn srt_create_socket() -> SRTSOCKET;
    pub fn srt_bind(u: SRTSOCKET, name: *const sockaddr, namelen: c_int) -> c_int;
    /// Binds `u` to an already bound system UDP socket, which libsrt then owns: it closes it
    /// when the multiplexer built on it is destroyed.
    pub fn srt_bind_acquire(u: SRTSOCKET, sys_udp_sock: c_int) -> c_int;
    pub fn srt_listen(u: SRTSOCKET, backlog: c_int) -> c_int;
    pub fn srt_accept(u: SRTSOCKET, addr: *mut sockaddr, addrlen: *mut c_int) -> SRTSOCKET;
    pub fn srt_listen_callback(
        lsn: SRTSOCKET,
        hook_fn: srt_listen_callback_fn,
        hook_opaque: *mut c_void,
    ) -> c_int;
    pub fn srt_connect(u: SRTSOCKET, name: *const sockaddr, namelen: c_int) -> c_int;
    pub fn srt_close(u: SRTSOCKET) -> c_int;
    pub fn srt_getpeername(u: SRTSOCKET, name: *mut sockaddr, namelen: *mut c_int) -> c_int;
    pub fn srt_getsockname(u: SRTSOCKET, name: *mut sockaddr, namelen: *mut c_int) -> c_int;
    pub fn srt_getsockflag(
        u: SRTSOCKET,
        opt: c_int,
        optval: *mut c_void,
        optlen: *mut c_int,
    ) -> c_int;
    pub fn srt_setsockflag(u: SRTSOCKET, opt: c_int, optval: *const c_void, optlen: c_int)
        -> c_int;
    pub fn srt_getsockstate(u: SRTSOCKET) -> c_int;

    pub fn srt_sendmsg(
        u: SRTSOCKET,
        buf: *const c_char,
        len: c_int,
        ttl: c_int,
        inorder: c_int,
    ) -> c_int;
    pub fn srt_recvmsg(u: SRTSOCKET, buf: *mut c_char, len: c_int) -> c_int;
    pub fn srt_sendmsg2(
        u: SRTSOCKET,
        buf: *const c_char,
        len: c_int,
        mctrl: *mut SRT_MSGCTRL,
    ) -> c_int;
    pub fn srt_recvmsg2(
        u: SRTSOCKET,
        buf: *mut c_char,
        len: c_int,
        mctrl: *mut SRT_MSGCTRL,
    ) -> c_int;
    pub fn srt_getsndbuffer(sock: SRTSOCKET, blocks: *mut usize, bytes: *mut usize) -> c_int;

    pub fn srt_getlasterror_str() -> *const c_char;
    pub fn srt_getlasterror(errno_loc: *mut c_int) -> c_int;
    pub fn srt_clearlasterror();

    pub fn srt_bstats(u: SRTSOCKET, perf: *mut SRT_TRACEBSTATS, clear: c_int) -> c_int;

    pub fn srt_epoll_create() -> c_int;
    pub fn srt_epoll_add_usock(eid: c_int, u: SRTSOCKET, events: *const c_int) -> c_int;
    pub fn srt_epoll_remove_usock(eid: c_int, u: SRTSOCKET) -> c_int;
    pub fn srt_epoll_uwait(
        eid: c_int,
        fds_set: *mut SRT_EPOLL_EVENT,
        fds_size: c_int,
        ms_timeout: i64,
    ) -> c_int;
    pub fn srt_epoll_set(eid: c_int, flags: i32) -> i32;

    pub fn srt_setloglevel(ll: c_int);
    pub fn srt_setloghandler(opaque: *mut c_void, handler: SRT_LOG_HANDLER_FN);
    pub fn srt_setlogflags(flags: c_int);

    pub fn srt_getrejectreason(sock: SRTSOCKET) -> c_int;
    pub fn srt_setrejectreason(sock: SRTSOCKET, value: c_int) -> c_int;
    pub fn srt_rejectreason_str(id: c_int) -> *const c_char;
}
