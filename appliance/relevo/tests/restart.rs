//! SIGTERM closes connections cleanly; a restarted Relevo brings every configured flow back
//! by itself (here: a pull input from nginx-rtmp feeding an SRT push output).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;

#[test]
fn flows_come_back_after_a_restart() {
    let dir = TempDir::new("restart");
    let nginx_port = free_tcp_port();
    let _nginx = nginx_rtmp(&dir, nginx_port);
    let source = publish(
        "source",
        120,
        "flv",
        &format!("rtmp://127.0.0.1:{nginx_port}/live/feed"),
        &dir.path("source.log"),
    );
    let srt_dest = free_udp_port();
    // srt-live-transmit listens again after each disconnection (its default).
    let _sink = srt_listener_sink(srt_dest, "", &dir.path("out.ts"), &dir.path("out.log"));
    let flows = format!(
        "[[input]]\nname = \"origin\"\npull = \"rtmp://127.0.0.1:{nginx_port}/live/feed\"\n{}",
        push_toml("push", &srt_sink_url(srt_dest))
    );

    let mut first = Relevo::start("restart-a", "", &flows);
    wait_until("the flow to deliver", Duration::from_secs(30), || {
        file_len(&dir.path("out.ts")) > 100_000
    });
    let asked = Instant::now();
    let st = first.stop();
    assert!(st.success(), "relevo did not exit cleanly on SIGTERM: {st}");
    println!("SIGTERM to exit: {:?}", asked.elapsed());

    let before = file_len(&dir.path("out.ts"));
    let second = Relevo::start("restart-b", "", &flows);
    wait_until("the flow to come back", Duration::from_secs(40), || {
        file_len(&dir.path("out.ts")) > before + 100_000
    });
    assert!(second.log_text().contains("input configured"));
    drop(source);
}
