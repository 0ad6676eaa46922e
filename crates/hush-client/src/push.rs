//! Live push: a WebSocket on which the server says "inbox" whenever something arrives.
//! The payloads are always fetched through the signed inbox API; the socket carries no
//! content.

use futures_util::StreamExt as _;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::Connector;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::error::{ApiError, ClientError};
use crate::tls::Trust;

/// A live connection.
pub struct Notifier {
    ws: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
}

/// Connects with the signed upgrade headers; a `wss://` URL is checked against the
/// authorities `trust` names.
pub async fn connect(url: &str, headers: Vec<(&'static str, String)>, trust: &Trust) -> Result<Notifier, ClientError> {
    let mut req = url
        .into_client_request()
        .map_err(|e| ClientError::Usage(format!("bad server address {url}: {e}")))?;
    for (k, v) in headers {
        let v = HeaderValue::from_str(&v).map_err(|e| ClientError::Internal(e.to_string()))?;
        req.headers_mut().insert(k, v);
    }
    let connector = if url.starts_with("wss://") {
        let config = trust.client_config(true).map_err(ClientError::Internal)?;
        Connector::Rustls(std::sync::Arc::new(config))
    } else {
        Connector::Plain
    };
    let (ws, _) = tokio_tungstenite::connect_async_tls_with_config(req, None, false, Some(connector))
        .await
        .map_err(|e| {
            let reason = crate::tls::describe(&e).unwrap_or_else(|| e.to_string());
            ClientError::Api(ApiError::LiveConnection { url: url.to_owned(), reason })
        })?;
    Ok(Notifier { ws })
}

/// What the live connection said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Push {
    /// Something arrived: fetch the inbox.
    Inbox,
    /// The server closed this connection because the same device opened more elsewhere
    /// ([`hush_proto::WS_CLOSE_REPLACED`]); reconnecting would only close another one.
    Replaced,
    /// The server closed it because this device was revoked.
    Revoked,
    /// The connection ended for another reason (the server restarted, the network went):
    /// reconnecting is worth it.
    Lost(String),
}

impl Notifier {
    /// Waits for the next notification or the end of the connection.
    pub async fn next(&mut self) -> Push {
        loop {
            match self.ws.next().await {
                Some(Ok(m)) if m.is_text() || m.is_binary() => return Push::Inbox,
                Some(Ok(Message::Close(Some(frame)))) => {
                    return match u16::from(frame.code) {
                        hush_proto::WS_CLOSE_REPLACED => Push::Replaced,
                        hush_proto::WS_CLOSE_REVOKED => Push::Revoked,
                        code => Push::Lost(format!("the server closed it ({code}: {})", frame.reason)),
                    };
                }
                Some(Ok(Message::Close(None))) | None => return Push::Lost("the server closed it".into()),
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Push::Lost(e.to_string()),
            }
        }
    }
}
