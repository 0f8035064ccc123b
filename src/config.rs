//! Typed configuration, read once from the environment (and an optional `.env`) by the CLI.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

/// Where the database is and how lotline reaches it.
#[derive(Debug, Clone, Args)]
pub struct DbConfig {
    /// PostgreSQL server to use. Without it lotline runs its own private PostgreSQL in the data folder.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,

    /// The role that owns lotline's tables and applies its migrations, when DATABASE_URL is an
    /// application role that owns nothing (the safe setup: its triggers bind the server). Unset:
    /// DATABASE_URL's role applies the migrations itself.
    #[arg(long, env = "DATABASE_OWNER_URL", global = true, hide_env_values = true)]
    pub database_owner_url: Option<String>,

    /// A streaming replica of DATABASE_URL's database (a hot standby): reports and exports that
    /// tolerate lag read from it while it answers; writes and recalls always use the primary.
    #[arg(long, env = "DATABASE_READ_URL", global = true, hide_env_values = true)]
    pub database_read_url: Option<String>,

    /// Folder for lotline's own files, among them the private PostgreSQL cluster.
    #[arg(long, env = "LOTLINE_DATA_DIR", default_value = "data", global = true)]
    pub data_dir: PathBuf,

    /// Folder holding the PostgreSQL server binaries (initdb, pg_ctl, postgres); searched for when unset.
    #[arg(long, env = "LOTLINE_PG_BINDIR", global = true)]
    pub pg_bindir: Option<PathBuf>,

    /// The key the audit trail's hash chain is kept with (any long random text), kept outside the
    /// database. Unset: the data folder's `audit.key`, made on first use. Every lotline process
    /// writing to one database needs the same key: set it when the database is not the private one.
    #[arg(long, env = "LOTLINE_AUDIT_KEY", global = true, hide_env_values = true)]
    pub audit_key: Option<String>,

    /// Largest number of database connections this process opens.
    #[arg(long, env = "LOTLINE_DB_MAX_CONNECTIONS", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1000), global = true)]
    pub db_max_connections: u32,
}

/// How the web server listens.
#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Address and port the web server listens on.
    #[arg(long, env = "LOTLINE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// The address people and partners reach lotline at, such as https://lots.example.com: it
    /// makes the identifiers of lots, sites and parties without GS1 keys (EPCIS). Default: the
    /// listen address.
    #[arg(long, env = "LOTLINE_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// A header a trusted reverse proxy sets to the client's address (such as X-Forwarded-For):
    /// per-address limits read the address the proxy appended last. Unset: the peer's address.
    #[arg(long, env = "LOTLINE_TRUSTED_PROXY_HEADER")]
    pub trusted_proxy_header: Option<String>,

    /// A command run with every security alert as JSON on its standard input (a webhook by curl,
    /// an e-mail), such as `curl -s -X POST -H 'content-type: application/json' --data-binary @- https://hooks.example/lotline`.
    #[arg(long, env = "LOTLINE_ALERT_COMMAND")]
    pub alert_command: Option<String>,

    /// Load the small demo plant (and one demo account per role) when the database is empty.
    #[arg(long)]
    pub demo: bool,

    /// Minutes of inactivity after which a session ends.
    #[arg(long, env = "LOTLINE_SESSION_IDLE_MINUTES", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=10080))]
    pub session_idle_minutes: u64,

    /// A Zebra-class label printer on the network (host:port, usually port 9100): label pages
    /// offer "Send to the label printer", which sends their ZPL there.
    #[arg(long, env = "LOTLINE_LABEL_PRINTER")]
    pub label_printer: Option<String>,

    /// Hours after sign-in after which a session ends, active or not.
    #[arg(long, env = "LOTLINE_SESSION_MAX_HOURS", default_value_t = 12, value_parser = clap::value_parser!(u64).range(1..=720))]
    pub session_max_hours: u64,
}

impl ServeConfig {
    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(url) if !url.trim().is_empty() => url.trim().trim_end_matches('/').to_string(),
            _ => format!("http://{}", self.listen),
        }
    }

    pub fn sessions(&self) -> crate::auth::SessionPolicy {
        crate::auth::SessionPolicy {
            idle: std::time::Duration::from_secs(self.session_idle_minutes * 60),
            absolute: std::time::Duration::from_secs(self.session_max_hours * 3600),
        }
    }
}

impl DbConfig {
    /// The audit chain's key: `LOTLINE_AUDIT_KEY`, or the data folder's `audit.key` (32 random
    /// bytes as hex, made readable by its owner only on first use).
    pub fn audit_key(&self) -> anyhow::Result<Vec<u8>> {
        use anyhow::Context;
        if let Some(key) = self.audit_key.as_deref().map(str::trim).filter(|k| !k.is_empty()) {
            anyhow::ensure!(key.len() >= 16, "LOTLINE_AUDIT_KEY is too short: give at least 16 characters");
            return Ok(key.as_bytes().to_vec());
        }
        let path = self.data_dir.join("audit.key");
        match std::fs::read_to_string(&path) {
            Ok(key) => Ok(key.trim().as_bytes().to_vec()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(&self.data_dir)
                    .with_context(|| format!("Failed to make {}", self.data_dir.display()))?;
                // Written aside, then linked into place only if no other process got there
                // first: nobody ever reads a half-written key.
                let key = crate::auth::new_secret();
                let aside = self.data_dir.join(format!("audit.key.{}", std::process::id()));
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create(true).truncate(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let mut file = options.open(&aside).with_context(|| format!("Failed to make {}", aside.display()))?;
                std::io::Write::write_all(&mut file, key.as_bytes())
                    .with_context(|| format!("Failed to write {}", aside.display()))?;
                drop(file);
                let linked = std::fs::hard_link(&aside, &path);
                let _ = std::fs::remove_file(&aside);
                match linked {
                    Ok(()) => Ok(key.into_bytes()),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        Ok(std::fs::read_to_string(&path)?.trim().as_bytes().to_vec())
                    }
                    Err(e) => Err(e).with_context(|| format!("Failed to make {}", path.display())),
                }
            }
            Err(e) => Err(e).with_context(|| format!("Failed to read {}", path.display())),
        }
    }
}
