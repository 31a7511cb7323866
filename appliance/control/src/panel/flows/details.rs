use super::*;

/// A value to copy, hidden until revealed when it holds a secret.
#[derive(Debug)]
pub struct CopyRow {
    pub id: String,
    pub label: &'static str,
    pub value: String,
    pub secret: bool,
}

/// An output on the input's page, with how to reach it.
#[derive(Debug)]
pub struct OutputDetails {
    pub view: OutputView,
    pub kind: String,
    pub rows: Vec<CopyRow>,
}

#[derive(Template)]
#[template(path = "input.html")]
struct InputPage {
    page: Page,
    f: FlowCard,
    rows: Vec<CopyRow>,
    outputs: Vec<OutputDetails>,
    words_json: String,
}

/// The host part of `Host` (no port), for URLs with our media ports.
fn host_only(host: &str) -> &str {
    if host.starts_with('[') {
        return host
            .split_once(']')
            .map_or(host, |(h, _)| &host[..=h.len()]);
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

/// `&passphrase=…&pbkeylen=…` for an SRT URL.
fn srt_security(passphrase: &Option<String>, key_length: Option<u32>) -> String {
    match passphrase {
        Some(p) => {
            let p: String = url::form_urlencoded::byte_serialize(p.as_bytes()).collect();
            format!("&passphrase={p}&pbkeylen={}", key_length.unwrap_or(16))
        }
        None => String::new(),
    }
}

/// The RTMP server an encoder is given (`rtmp://host/live`, the port when not 1935).
fn rtmp_server(host: &str, port: u16) -> String {
    if port == 1935 {
        format!("rtmp://{host}/live")
    } else {
        format!("rtmp://{host}:{port}/live")
    }
}

fn input_rows(s: &ApiState, host: &str, doc: &InputDoc) -> Vec<CopyRow> {
    let ep = s.config.endpoints;
    let Some(key) = &doc.key else {
        return Vec::new();
    };
    let mut rows = Vec::new();
    if let Some(port) = ep.srt {
        rows.push(CopyRow {
            id: "in-srt".into(),
            label: "conn.srt_publish",
            value: format!(
                "srt://{host}:{port}?streamid=publish:{key}{}",
                srt_security(&doc.passphrase, doc.key_length)
            ),
            secret: true,
        });
    }
    if let Some(port) = ep.rtmp {
        let server = rtmp_server(host, port);
        rows.push(CopyRow {
            id: "in-rtmp-server".into(),
            label: "conn.rtmp_server",
            value: server.clone(),
            secret: false,
        });
        rows.push(CopyRow {
            id: "in-rtmp-key".into(),
            label: "conn.stream_key",
            value: key.clone(),
            secret: true,
        });
        rows.push(CopyRow {
            id: "in-rtmp-url".into(),
            label: "conn.rtmp_url",
            value: format!("{server}/{key}"),
            secret: true,
        });
    }
    if let Some(port) = ep.rtmps {
        rows.push(CopyRow {
            id: "in-rtmps-server".into(),
            label: "conn.rtmps_server",
            value: format!("rtmps://{host}:{port}/live"),
            secret: false,
        });
    }
    if let Some(port) = doc.srt_port {
        // The input's own port: encoders that cannot send a streamid call it directly.
        rows.push(CopyRow {
            id: "in-srt-own".into(),
            label: "conn.srt_own_port",
            value: format!(
                "srt://{host}:{port}{}",
                srt_security(&doc.passphrase, doc.key_length).replacen('&', "?", 1)
            ),
            secret: true,
        });
    }
    if let Some(backup) = doc.backup.as_ref().and_then(|b| b.key.as_ref()) {
        // The backup key: the same listeners, passphrase and latency as the main key.
        if let Some(port) = ep.srt {
            rows.push(CopyRow {
                id: "in-backup-srt".into(),
                label: "conn.backup_srt_publish",
                value: format!(
                    "srt://{host}:{port}?streamid=publish:{backup}{}",
                    srt_security(&doc.passphrase, doc.key_length)
                ),
                secret: true,
            });
        }
        if let Some(port) = ep.rtmp {
            rows.push(CopyRow {
                id: "in-backup-rtmp-key".into(),
                label: "conn.backup_stream_key",
                value: backup.clone(),
                secret: true,
            });
            rows.push(CopyRow {
                id: "in-backup-rtmp-url".into(),
                label: "conn.backup_rtmp_url",
                value: format!("{}/{backup}", rtmp_server(host, port)),
                secret: true,
            });
        }
    }
    if let Some(p) = &doc.passphrase {
        rows.push(CopyRow {
            id: "in-passphrase".into(),
            label: "conn.passphrase",
            value: p.clone(),
            secret: true,
        });
    }
    rows
}

/// An HLS output's playlist, player page and the iframe to paste into a web page, under
/// `base` (`https://host[:port]`, as the browser reached the panel: behind the appliance's
/// nginx that is the public HTTPS address).
fn hls_rows(base: &str, key: &str, n: usize) -> Vec<CopyRow> {
    let player = format!("{base}/play/{key}");
    let row = |id: &str, label, value| CopyRow {
        id: format!("out-{n}-{id}"),
        label,
        value,
        secret: true,
    };
    vec![
        row(
            "hls",
            "conn.hls_playlist",
            format!("{base}/hls/{key}/index.m3u8"),
        ),
        row("player", "conn.hls_player", player.clone()),
        row(
            "embed",
            "conn.hls_embed",
            format!(
                r#"<iframe src="{player}" width="1280" height="720" allow="autoplay; fullscreen" allowfullscreen></iframe>"#
            ),
        ),
        row(
            "embed-fluid",
            "conn.hls_embed_fluid",
            format!(
                r#"<div style="position:relative;padding-top:56.25%"><iframe src="{player}" style="position:absolute;inset:0;width:100%;height:100%;border:0" allow="autoplay; fullscreen" allowfullscreen></iframe></div>"#
            ),
        ),
    ]
}

fn output_rows(s: &ApiState, host: &str, base: &str, o: &OutputView, n: usize) -> Vec<CopyRow> {
    let ep = s.config.endpoints;
    let d = &o.doc;
    let mut rows = Vec::new();
    match (d.pull.as_deref(), &d.key) {
        (Some("hls"), Some(key)) => rows = hls_rows(base, key, n),
        (Some("srt"), Some(key)) => {
            if let Some(port) = ep.srt {
                rows.push(CopyRow {
                    id: format!("out-{n}-srt"),
                    label: "conn.srt_read",
                    value: format!(
                        "srt://{host}:{port}?streamid=read:{key}{}",
                        srt_security(&d.passphrase, d.key_length)
                    ),
                    secret: true,
                });
            }
        }
        (Some(_), Some(key)) => {
            if let Some(port) = ep.rtmp {
                let port = if port == 1935 {
                    String::new()
                } else {
                    format!(":{port}")
                };
                rows.push(CopyRow {
                    id: format!("out-{n}-rtmp"),
                    label: "conn.rtmp_play",
                    value: format!("rtmp://{host}{port}/live/{key}"),
                    secret: true,
                });
            }
        }
        _ => {
            if let Some(url) = &d.push {
                rows.push(CopyRow {
                    id: format!("out-{n}-push"),
                    label: "conn.destination",
                    value: url.clone(),
                    secret: !url.starts_with("srt://"),
                });
            }
            if let Some(sid) = &d.stream_id {
                rows.push(CopyRow {
                    id: format!("out-{n}-sid"),
                    label: "conn.stream_id",
                    value: sid.clone(),
                    secret: true,
                });
            }
        }
    }
    rows
}

pub async fn input_page(
    State(s): State<ApiState>,
    session: Session,
    Path(id): Path<i64>,
    Query(q): Query<Notice>,
) -> PanelResult<Response> {
    let Json(view): Json<InputView> =
        api::get_input(State(s.clone()), reader(&session), Path(id)).await?;
    let page = Page::new(&s, &session, "dashboard")
        .await?
        .with_notice(q.ok.as_deref())
        .with_alert(q.err.as_deref());
    let snap = s.control.engine().subscribe().borrow().clone();
    let f = card(&view, &snap, page.words);
    let host = host_only(&session.visitor.host).to_owned();
    let scheme = if session.visitor.https {
        "https"
    } else {
        "http"
    };
    let base = format!("{scheme}://{}", session.visitor.host);
    // A Visor's document is masked already; they get no connection details at all.
    let secrets = session.principal.sees_secrets();
    let rows = if secrets {
        input_rows(&s, &host, &view.doc)
    } else {
        Vec::new()
    };
    let outputs = view
        .outputs
        .iter()
        .enumerate()
        .map(|(n, o)| OutputDetails {
            kind: output_kind(o, page.words).0,
            rows: if secrets {
                output_rows(&s, &host, &base, o, n)
            } else {
                Vec::new()
            },
            view: o.clone(),
        })
        .collect();
    let words_json = script_words(page.words);
    Ok(render(&InputPage {
        page,
        f,
        rows,
        outputs,
        words_json,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_without_port() {
        assert_eq!(host_only("relay.example.net:8080"), "relay.example.net");
        assert_eq!(host_only("relay.example.net"), "relay.example.net");
        assert_eq!(host_only("[::1]:8080"), "[::1]");
        assert_eq!(host_only("10.0.0.1"), "10.0.0.1");
    }

    #[test]
    fn hls_rows_name_the_playlist_the_player_and_the_iframe() {
        let rows = hls_rows("https://relay.example.net", "k3y", 2);
        let values: Vec<&str> = rows.iter().map(|r| r.value.as_str()).collect();
        assert_eq!(values[0], "https://relay.example.net/hls/k3y/index.m3u8");
        assert_eq!(values[1], "https://relay.example.net/play/k3y");
        assert_eq!(
            values[2],
            r#"<iframe src="https://relay.example.net/play/k3y" width="1280" height="720" allow="autoplay; fullscreen" allowfullscreen></iframe>"#
        );
        assert!(values[3].contains(r#"src="https://relay.example.net/play/k3y""#));
        assert!(rows.iter().all(|r| r.secret && r.id.starts_with("out-2-")));
    }
}
