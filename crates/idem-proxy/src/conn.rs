//! One proxied connection: requests one way, responses the other, faults in between.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::rewrite;
use crate::rules::Action;
use crate::Shared;

/// Largest frame the proxy forwards; a bigger one closes the connection.
const MAX_FRAME: usize = 128 << 20;

/// What happens to the response of a forwarded request.
#[derive(Debug, Clone, Copy)]
enum Fate {
    Pass,
    Drop,
    Delay(u64),
    /// The response to a copy the proxy sent (duplicate): nobody is waiting for it.
    Discard,
}

#[derive(Debug)]
struct Pending {
    correlation_id: i32,
    api_key: i16,
    api_version: i16,
    fate: Fate,
}

async fn read_frame<R: AsyncReadExt + Unpin>(r: &mut R) -> Option<Vec<u8>> {
    let mut size = [0u8; 4];
    r.read_exact(&mut size).await.ok()?;
    let size = i32::from_be_bytes(size);
    if size < 0 || size as usize > MAX_FRAME {
        return None;
    }
    let mut frame = vec![0u8; size as usize];
    r.read_exact(&mut frame).await.ok()?;
    Some(frame)
}

async fn write_frame<W: AsyncWriteExt + Unpin>(w: &mut W, frame: &[u8]) -> bool {
    w.write_all(&(frame.len() as i32).to_be_bytes())
        .await
        .is_ok()
        && w.write_all(frame).await.is_ok()
}

pub(crate) async fn serve(client: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let upstream = match TcpStream::connect(&shared.upstream).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(%peer, "proxy cannot reach {}: {e}", shared.upstream);
            return;
        }
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (mut client_rd, mut client_wr) = client.into_split();
    let (mut upstream_rd, mut upstream_wr) = upstream.into_split();
    let pending: Arc<Mutex<VecDeque<Pending>>> = Arc::default();
    let requests = {
        let pending = Arc::clone(&pending);
        let shared = Arc::clone(&shared);
        async move {
            // Correlation ids for the proxy's own copies: negative, never used by clients.
            let mut copy_id = i32::MIN;
            while let Some(mut frame) = read_frame(&mut client_rd).await {
                if frame.len() < 8 {
                    return;
                }
                let api_key = i16::from_be_bytes([frame[0], frame[1]]);
                let api_version = i16::from_be_bytes([frame[2], frame[3]]);
                let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
                shared.stats.count_request(api_key);
                let decision = shared.decide(api_key);
                if let Some((action, rule)) = &decision {
                    shared.stats.count_fault(action.name());
                    tracing::info!(%peer, api_key, correlation_id, %rule, "injecting {}", action.name());
                }
                let push = |fate| {
                    pending
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push_back(Pending {
                            correlation_id,
                            api_key,
                            api_version,
                            fate,
                        })
                };
                match decision.map(|(a, _)| a) {
                    Some(Action::ResetBefore) => return,
                    Some(Action::Blackhole) => continue,
                    Some(Action::ResetAfter) => {
                        let _ = write_frame(&mut upstream_wr, &frame).await;
                        // Let the request reach the broker before the connection goes.
                        let _ = upstream_wr.flush().await;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        return;
                    }
                    Some(Action::Duplicate) => {
                        push(Fate::Pass);
                        if !write_frame(&mut upstream_wr, &frame).await {
                            return;
                        }
                        frame[4..8].copy_from_slice(&copy_id.to_be_bytes());
                        pending
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push_back(Pending {
                                correlation_id: copy_id,
                                api_key,
                                api_version,
                                fate: Fate::Discard,
                            });
                        copy_id = copy_id.wrapping_add(1).min(-1);
                    }
                    // acks=0 produces get no response: nothing to wait for (or to lose).
                    _ if api_key == 0 && !rewrite::produce_expects_response(&frame) => {}
                    Some(Action::DropResponse) => push(Fate::Drop),
                    Some(Action::Delay { ms }) => push(Fate::Delay(ms)),
                    None => push(Fate::Pass),
                }
                if !write_frame(&mut upstream_wr, &frame).await {
                    return;
                }
            }
        }
    };
    let responses = async move {
        while let Some(frame) = read_frame(&mut upstream_rd).await {
            if frame.len() < 4 {
                return;
            }
            let correlation_id = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
            let Some(p) = pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop_front()
            else {
                tracing::warn!(%peer, correlation_id, "proxy: a response nobody asked for");
                return;
            };
            if p.correlation_id != correlation_id {
                tracing::warn!(%peer, expected = p.correlation_id, correlation_id, "proxy: responses out of order");
                return;
            }
            let frame = match p.fate {
                Fate::Drop => return, // the acknowledgement is lost; the connection with it
                Fate::Discard => continue,
                Fate::Delay(ms) => {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    frame
                }
                Fate::Pass => frame,
            };
            let frame =
                match rewrite::maybe_rewrite(&frame, p.api_key, p.api_version, &shared.advertise) {
                    Some(rewritten) => {
                        shared.stats.rewritten.fetch_add(1, Ordering::Relaxed);
                        rewritten
                    }
                    None => frame,
                };
            if !write_frame(&mut client_wr, &frame).await {
                return;
            }
        }
    };
    // Either direction ending closes both connections: the halves drop here.
    tokio::select! {
        _ = requests => {}
        _ = responses => {}
    }
}
