//! A TCP proxy in front of the test database server, to take the database away and give it
//! back: [`Proxy::cut`] drops every connection and refuses new ones (as a server restarting
//! does), [`Proxy::restore`] accepts again.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

#[derive(Clone)]
pub struct Proxy {
    pub addr: SocketAddr,
    open: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    /// Listens on 127.0.0.1 (a free port) and forwards to `target`.
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds");
        let proxy = Proxy {
            addr: listener.local_addr().expect("proxy address"),
            open: Arc::new(AtomicBool::new(true)),
            conns: Arc::new(Mutex::new(Vec::new())),
        };
        let p = proxy.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !p.open.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                p.conns.lock().unwrap().push(task);
            }
        });
        proxy
    }

    /// Drops every open connection and refuses new ones until [`Proxy::restore`].
    pub fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for task in self.conns.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    pub fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }

    /// `url` (`postgres://user:pw@host:port/db`) with its host and port replaced by the proxy's.
    pub fn url_for(&self, url: &str) -> String {
        let (scheme, rest) = url.split_once("://").expect("a URL");
        let (userinfo, hostpath) = rest.rsplit_once('@').expect("a URL with user");
        let path = hostpath.split_once('/').map_or("", |(_, p)| p);
        format!("{scheme}://{userinfo}@{}/{path}", self.addr)
    }
}

/// The address of the PostgreSQL server in `url`.
pub fn server_addr(url: &str) -> SocketAddr {
    let host = url
        .rsplit_once('@')
        .map_or(url, |(_, h)| h)
        .split('/')
        .next()
        .expect("host:port");
    let host = host.replace("localhost", "127.0.0.1");
    host.parse().expect("the test server's URL names host:port")
}
