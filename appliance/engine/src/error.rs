//! Why an output or a pull input failed, classified so that operators see a plain reason and
//! the retry policy can tell a network fault from a refusal by the destination.

/// One failed attempt of a push output or pull input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("connection refused")]
    Refused,
    #[error("connection timed out")]
    Timeout,
    #[error("could not resolve host {0}")]
    Resolve(String),
    /// The destination resolved to a loopback, private or link-local address and this flow
    /// may not reach the internal network (see [`crate::destination`]). The message names
    /// no address: `last_error` is shown to every role, and what an internal name resolves
    /// to is itself something to keep.
    #[error(
        "refused: the destination is a loopback, private or link-local address; \
         an administrator can allow private destinations in the settings"
    )]
    PrivateAddress,
    /// The destination answered but turned us away: bad stream key, authentication, streamid.
    #[error("rejected by destination: {0}")]
    Rejected(String),
    #[error("TLS error: {0}")]
    Tls(String),
    /// The connection opened but the destination never answered the protocol's setup
    /// (handshake, connect, publish): a frozen or overloaded server, or not RTMP at all.
    #[error("connected, but the destination did not answer for {0} s")]
    NoAnswer(u64),
    /// The connection is open but no bytes leave while the input is live.
    #[error("stalled: no bytes sent for {0} s")]
    Stalled(u64),
    #[error("connection closed by peer")]
    Closed,
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("I/O error: {0}")]
    Io(String),
}

impl LinkError {
    /// What kind of failure this is, for operators and the flow history: what has to be
    /// fixed differs by class (`network`, `private_address`, `rejected`, `tls`, `no_answer`,
    /// `stalled`, `protocol`).
    pub fn class(&self) -> &'static str {
        match self {
            LinkError::Refused
            | LinkError::Timeout
            | LinkError::Resolve(_)
            | LinkError::Closed
            | LinkError::Io(_) => "network",
            LinkError::PrivateAddress => "private_address",
            LinkError::Rejected(_) => "rejected",
            LinkError::Tls(_) => "tls",
            LinkError::NoAnswer(_) => "no_answer",
            LinkError::Stalled(_) => "stalled",
            LinkError::Protocol(_) => "protocol",
        }
    }

    /// Maps an I/O error from connect/read/write to the closest class.
    pub fn from_io(err: &std::io::Error) -> Self {
        use std::io::ErrorKind as K;
        match err.kind() {
            K::ConnectionRefused => Self::Refused,
            K::TimedOut => Self::Timeout,
            K::ConnectionReset | K::BrokenPipe | K::UnexpectedEof | K::ConnectionAborted => {
                Self::Closed
            }
            _ => Self::Io(err.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::LinkError;

    #[test]
    fn every_failure_has_its_class() {
        let cases = [
            (LinkError::Refused, "network"),
            (LinkError::Resolve("cdn.example".into()), "network"),
            (LinkError::PrivateAddress, "private_address"),
            (LinkError::Rejected("bad key".into()), "rejected"),
            (LinkError::Tls("expired".into()), "tls"),
            (LinkError::NoAnswer(10), "no_answer"),
            (LinkError::Stalled(10), "stalled"),
            (LinkError::Protocol("bad chunk".into()), "protocol"),
        ];
        for (error, class) in cases {
            assert_eq!(error.class(), class, "{error}");
        }
    }
}
