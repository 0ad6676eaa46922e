//! Live push: a WebSocket on which the server says "inbox" whenever something arrives.
//! The payloads are always fetched through the signed inbox API; the socket carries no
//! content.

use futures_util::StreamExt as _;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::Connector;
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

impl Notifier {
    /// Waits for the next notification; false when the connection closed.
    pub async fn next(&mut self) -> bool {
        loop {
            match self.ws.next().await {
                Some(Ok(m)) if m.is_text() || m.is_binary() => return true,
                Some(Ok(_)) => continue,
                _ => return false,
            }
        }
    }
}
