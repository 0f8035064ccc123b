//! `bench load`: requests per second and latency of a `lotline serve` process of its own, at
//! several numbers of connections.

use super::*;

/// One line of the load report.
pub struct LoadRow {
    pub what: String,
    pub connections: usize,
    pub requests: usize,
    pub errors: usize,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

pub struct LoadReport {
    pub rows: Vec<LoadRow>,
    /// The server process's resident memory before the load, and its peak under it.
    pub rss_before_mib: f64,
    pub peak_mib: f64,
    /// The scratch database, when kept.
    pub database: String,
}

/// What `bench load` measures.
pub const LOAD_REQUESTS: [&str; 4] = ["lot page", "dashboard", "trace API, typical lot, forward", "receipt post"];

/// Options of `bench load`.
pub struct LoadOptions {
    pub lots: usize,
    pub seconds: f64,
    pub keep: bool,
    /// A plant kept by an earlier `--keep` run, measured again instead of a new one.
    pub plant: Option<String>,
    /// Only the requests whose name contains this.
    pub only: Option<String>,
    /// The configured `DATABASE_URL`, from which the server process's URL is made.
    pub database_url: Option<String>,
}

/// `lotline serve` as a process of its own on the plant's database, as it is deployed: the load
/// goes to it over loopback, and its memory is what the report gives.
struct ServerProcess {
    child: tokio::process::Child,
    address: std::net::SocketAddr,
}

impl ServerProcess {
    async fn start(url: &str) -> Result<ServerProcess> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let mut child = tokio::process::Command::new(std::env::current_exe()?)
            .arg("serve")
            .env("DATABASE_URL", url)
            .env_remove("DATABASE_READ_URL")
            .env("LOTLINE_LISTEN", address.to_string())
            .env("LOTLINE_LOG", "warn")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("Failed to start the server process")?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if http_get(address, "/healthz", "").await.is_ok() {
                return Ok(ServerProcess { child, address });
            }
            if let Some(status) = child.try_wait()? {
                anyhow::bail!("the server process exited with {status}");
            }
            anyhow::ensure!(Instant::now() < deadline, "the server process did not answer /healthz within 60 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn pid(&self) -> String {
        self.child.id().map(|p| p.to_string()).unwrap_or_default()
    }

    async fn stop(mut self) -> Result<()> {
        self.child.kill().await?;
        Ok(())
    }
}

/// A URL another process reaches database `name` at: the configured `DATABASE_URL` with its
/// database swapped, or the private cluster's socket.
fn url_for(configured: Option<&str>, options: &sqlx::postgres::PgConnectOptions, name: &str) -> String {
    match configured {
        Some(url) => {
            let (head, query) = url.split_once('?').map(|(h, q)| (h, format!("?{q}"))).unwrap_or((url, String::new()));
            let authority = head.find("://").map(|i| i + 3).unwrap_or(0);
            let path = head[authority..].find('/').map(|i| authority + i).unwrap_or(head.len());
            format!("{}/{name}{query}", &head[..path])
        }
        None => format!(
            "postgres:///{name}?host={}&port={}&user={}",
            crate::domain::text::percent_encode(
                &options.get_socket().map(|s| s.display().to_string()).unwrap_or_default()
            ),
            options.get_port(),
            crate::domain::text::percent_encode(options.get_username()),
        ),
    }
}

/// Requests per second and latency at 1, 16 and 64 keep-alive connections, for the lot page,
/// the dashboard, the trace API of a typical lot and a receipt post, on a generated plant of
/// `lots` lots served by a `lotline serve` process of its own, over loopback.
pub async fn load(database: &Database, o: &LoadOptions) -> Result<LoadReport> {
    let scratch = match &o.plant {
        Some(name) => Scratch::existing(database, name).await?,
        None => Scratch::open(database, "load", o.lots, 4).await?,
    };
    let pool = scratch.pool.clone();
    let outcome = async {
        if o.plant.is_none() {
            scratch.fill(o.lots, false).await?;
            eprintln!("  imported {} lots; loading…", o.lots);
        }
        let sample: Vec<Uuid> =
            sqlx::query_scalar("select id from lots where notes = 'imported' order by md5(id::text) limit 1000")
                .fetch_all(&pool)
                .await?;
        anyhow::ensure!(!sample.is_empty(), "the plant has no lots");
        // The demo QA account may read and receive.
        let token = token_for(&pool, "qa").await?;
        let server = ServerProcess::start(&url_for(o.database_url.as_deref(), &database.owner, &scratch.name)).await?;
        let pid = server.pid();
        let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
        let rss_before_mib = memory_mib_of(&pid, "VmRSS:");
        let mut rows = Vec::new();
        for what in LOAD_REQUESTS.into_iter().filter(|w| o.only.as_deref().is_none_or(|only| w.contains(only))) {
            for connections in [1usize, 16, 64] {
                rows.push(load_one(server.address, &token, what, connections, o.seconds, &sample).await?);
                eprintln!("  {what} at {connections} connections done");
            }
        }
        let peak_mib = memory_mib_of(&pid, "VmHWM:");
        server.stop().await?;
        Ok(LoadReport { rows, rss_before_mib, peak_mib, database: scratch.name.clone() })
    }
    .await;
    let keep = o.keep || o.plant.is_some();
    scratch.close(keep).await?;
    outcome
}

/// `connections` keep-alive clients sending `what` for `seconds`.
async fn load_one(
    address: std::net::SocketAddr,
    token: &str,
    what: &'static str,
    connections: usize,
    seconds: f64,
    sample: &[Uuid],
) -> Result<LoadRow> {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let mut workers = Vec::new();
    for worker in 0..connections {
        let (token, sample) = (token.to_string(), sample.to_vec());
        workers.push(tokio::spawn(async move {
            use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
            let stream = tokio::net::TcpStream::connect(address).await?;
            stream.set_nodelay(true)?;
            let mut stream = BufReader::new(stream);
            let (mut times, mut errors, mut i) = (Vec::new(), 0usize, worker);
            while Instant::now() < deadline {
                let lot = sample[i % sample.len()];
                i += connections;
                let request = match what {
                    "lot page" => format!("GET /lots/{lot} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\r\n"),
                    "dashboard" => format!("GET / HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\r\n"),
                    "receipt post" => {
                        let body = serde_json::json!({
                            "idempotency_key": Uuid::new_v4(), "site": "RVS", "supplier": "SALINAS",
                            "lines": [{ "material": "SALT", "quantity": "1", "location": "RAW-A" }]
                        })
                        .to_string();
                        format!(
                            "POST /api/v1/receipts HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                            body.len()
                        )
                    }
                    _ => format!(
                        "GET /api/v1/trace?lot_id={lot}&direction=forward HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\r\n"
                    ),
                };
                let t = Instant::now();
                stream.get_mut().write_all(request.as_bytes()).await?;
                let mut status_line = String::new();
                stream.read_line(&mut status_line).await?;
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    stream.read_line(&mut line).await?;
                    if line == "\r\n" || line.is_empty() {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                stream.read_exact(&mut body).await?;
                times.push(t.elapsed());
                if !(status_line.starts_with("HTTP/1.1 200") || status_line.starts_with("HTTP/1.1 201")) {
                    errors += 1;
                }
            }
            Ok::<_, anyhow::Error>((times, errors))
        }));
    }
    let (mut times, mut errors) = (Vec::new(), 0);
    for w in workers {
        let (t, e) = w.await??;
        times.extend(t);
        errors += e;
    }
    times.sort();
    let at = |q: f64| {
        times
            .get(((times.len() as f64 * q) as usize).min(times.len().saturating_sub(1)))
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(0.0)
    };
    Ok(LoadRow {
        what: what.to_string(),
        connections,
        requests: times.len(),
        errors,
        per_second: times.len() as f64 / seconds,
        p50_ms: at(0.50),
        p99_ms: at(0.99),
    })
}
