//! How an SRT input receives: a burst at a time.
//!
//! libsrt delivers a frame's packets together (its receiver releases them at their play
//! time), and the input's task finds several messages ready at each wake-up. They go to the
//! hub together (see [`crate::hub::Publisher::push_ts`]), so that each output sends
//! them in one go.

use relevo_srt::{SrtError, SrtStream, RECV_BUFFER_SIZE};

/// Most messages taken in one burst: one lock of the hub at a time stays short.
const MAX_BURST: usize = 64;

/// Messages received together, kept between bursts for its buffer.
#[derive(Debug)]
pub(crate) struct Burst {
    buf: Vec<u8>,
    /// Where each message ends in `buf`.
    ends: Vec<usize>,
}

impl Burst {
    pub(crate) fn new() -> Self {
        Self {
            buf: vec![0; MAX_BURST * RECV_BUFFER_SIZE],
            ends: Vec::with_capacity(MAX_BURST),
        }
    }

    /// Waits for one message, then takes the ones already waiting behind it. An error after
    /// the first message is left for the next call, which meets it again.
    pub(crate) async fn recv(&mut self, stream: &SrtStream) -> Result<(), SrtError> {
        self.ends.clear();
        let n = stream.recv(&mut self.buf[..RECV_BUFFER_SIZE]).await?;
        self.ends.push(n);
        while self.ends.len() < MAX_BURST {
            let start = self.ends.len() * RECV_BUFFER_SIZE;
            match stream.try_recv(&mut self.buf[start..start + RECV_BUFFER_SIZE]) {
                Ok(n) => self.ends.push(start + n),
                Err(_) => break,
            }
        }
        Ok(())
    }

    /// The messages of the last [`Burst::recv`], in order.
    pub(crate) fn messages(&self) -> impl Iterator<Item = &[u8]> {
        self.ends
            .iter()
            .enumerate()
            .map(|(i, &end)| &self.buf[i * RECV_BUFFER_SIZE..end])
    }

    /// Bytes received in the last burst.
    pub(crate) fn bytes(&self) -> usize {
        self.messages().map(<[u8]>::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::srt::send::tests::pair;

    #[tokio::test]
    async fn takes_the_messages_waiting_behind_the_first_in_order() {
        let (sender, receiver) = pair().await;
        for i in 0..10u8 {
            sender
                .send(&vec![i; 100 + usize::from(i)])
                .await
                .expect("send");
        }
        // Past the receiver's latency (120 ms) libsrt delivers all ten at once.
        tokio::time::sleep(Duration::from_millis(400)).await;
        let mut burst = Burst::new();
        burst.recv(&receiver).await.expect("recv");
        let got: Vec<Vec<u8>> = burst.messages().map(<[u8]>::to_vec).collect();
        let sent: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i; 100 + usize::from(i)]).collect();
        assert_eq!(got, sent);
        assert_eq!(burst.bytes(), (100..110).sum::<usize>());

        // The next burst starts afresh and waits for its first message.
        sender.send(b"next").await.expect("send");
        tokio::time::timeout(Duration::from_secs(2), burst.recv(&receiver))
            .await
            .expect("in time")
            .expect("recv");
        assert_eq!(burst.messages().collect::<Vec<_>>(), vec![&b"next"[..]]);
    }
}
