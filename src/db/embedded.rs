//! The private PostgreSQL cluster lotline runs from the machine's own server binaries when no
//! `DATABASE_URL` is given.
//!
//! Layout: `<data dir>/postgres/` holds `pgdata/` (the cluster), `postgres.log`, the lock files and
//! the Unix socket. The server listens on that socket only (no TCP port to collide with), with
//! socket permissions 0700 and trust authentication: only the owning OS user (and root) can reach it.
//!
//! Who stops it: the first lotline process to open the cluster holds `owner.lock` for its lifetime
//! and stops the server when it exits. Other lotline processes (a `migrate` while `serve` runs)
//! find it running and connect to it. A server left behind by a killed owner is adopted by the
//! next process that takes the lock.
//!
//! PostgreSQL refuses to run as root. When lotline runs as root, the cluster belongs to the
//! `postgres` OS user and every server command runs through `runuser`; if that user cannot reach
//! the data folder (a parent folder is 0700, as /root is), the cluster is kept in
//! `/var/lib/lotline/<hash of the data folder>` instead.

use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{Context, Result, bail};
use sqlx::postgres::PgConnectOptions;

/// The database role initdb creates; it owns every database of the cluster.
pub const SUPERUSER: &str = "lotline";
const PORT: u16 = 5432;
/// Unix socket paths are limited to 107 bytes; leave room for `/.s.PGSQL.5432.lock`.
const MAX_SOCKET_DIR_LEN: usize = 85;
/// Marks a cluster that `lotline db start` started and only `lotline db stop` stops.
const KEEP_RUNNING: &str = "keep-running";

/// Options for opening a private cluster.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// lotline's data folder; the cluster lives in its `postgres/` subfolder.
    pub data_dir: PathBuf,
    /// An explicit folder of PostgreSQL server binaries.
    pub bindir: Option<PathBuf>,
    /// Trade durability for speed (fsync off): for throwaway test clusters only.
    pub ephemeral: bool,
}

/// A running private cluster.
#[derive(Debug)]
pub struct Cluster {
    root: PathBuf,
    pgdata: PathBuf,
    socket_dir: PathBuf,
    bindir: PathBuf,
    run_as: Option<String>,
    /// Held while this process is responsible for stopping the server.
    owner_lock: Option<File>,
}

impl Cluster {
    /// Starts the cluster (initialising it on first use), or connects to it when it already runs.
    pub fn open(opts: &ClusterOptions) -> Result<Cluster> {
        let run_as = if running_as_root()? { Some("postgres".to_string()) } else { None };
        if let Some(user) = &run_as {
            let ok = Command::new("id").arg("-u").arg(user).output().map(|o| o.status.success()).unwrap_or(false);
            if !ok {
                bail!(
                    "lotline runs as root, and PostgreSQL refuses to: it needs an unprivileged `{user}` OS user \
                     to run its private database (Debian's postgresql package creates it), or set DATABASE_URL \
                     to use an existing PostgreSQL server"
                );
            }
        }
        let root = cluster_root(&opts.data_dir, run_as.as_deref())?;
        let pgdata = root.join("pgdata");

        // One process at a time decides whether to initialise, start or adopt.
        let start_lock = open_lock(&root.join("start.lock"))?;
        start_lock.lock().context("Failed to lock the private database folder")?;

        // A cluster started by `lotline db start` stays up until `lotline db stop`: nobody adopts it.
        let owner_lock = open_lock(&root.join("owner.lock"))?;
        let is_owner = !root.join(KEEP_RUNNING).exists() && owner_lock.try_lock().is_ok();

        let existing_version = fs::read_to_string(pgdata.join("PG_VERSION")).ok().map(|v| v.trim().to_string());
        let bindir = find_bindir(opts.bindir.as_deref(), existing_version.as_deref())?;
        let mut cluster = Cluster {
            socket_dir: socket_dir_for(&root, run_as.as_deref())?,
            root,
            pgdata,
            bindir,
            run_as,
            owner_lock: is_owner.then_some(owner_lock),
        };

        if existing_version.is_none() {
            cluster.init()?;
        }
        match cluster.running_postmaster()? {
            Some(socket_dir) => {
                tracing::info!(db.socket = %socket_dir.display(), "private PostgreSQL already running; connecting to it");
                cluster.socket_dir = socket_dir;
            }
            None => cluster.start(opts.ephemeral)?,
        }
        drop(start_lock);
        Ok(cluster)
    }

    /// Connection options for a database of this cluster.
    pub fn connect_options(&self, database: &str) -> PgConnectOptions {
        PgConnectOptions::new().socket(&self.socket_dir).port(PORT).username(SUPERUSER).database(database)
    }

    /// The cluster's folder (pgdata, log, locks, socket).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The folder of the server's Unix socket.
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// A command running one of the cluster's PostgreSQL programs (`pg_basebackup`, `pg_ctl`…) as
    /// the OS user the server runs as: for operating on the cluster, such as making a standby.
    pub fn command(&self, program: &str) -> Command {
        self.pg_command(program)
    }

    /// Whether this process will stop the server when it is dropped.
    pub fn is_owner(&self) -> bool {
        self.owner_lock.is_some()
    }

    /// Leaves the server running when this handle is dropped (shared test clusters).
    pub fn detach(mut self) {
        self.owner_lock = None;
    }

    /// Leaves the server running for good: later lotline processes use it but do not stop it;
    /// `lotline db stop` does.
    pub fn keep_running(self) -> Result<()> {
        fs::write(self.root.join(KEEP_RUNNING), "started by `lotline db start`; `lotline db stop` stops it\n")?;
        self.detach();
        Ok(())
    }

    /// Stops the server now if this process owns it.
    pub fn stop(mut self) -> Result<()> {
        if self.owner_lock.is_some() {
            self.owner_lock = None;
            stop_server(&self.bindir, self.run_as.as_deref(), &self.pgdata)?;
        }
        Ok(())
    }

    fn init(&self) -> Result<()> {
        tracing::info!(db.dir = %self.pgdata.display(), "initialising the private PostgreSQL cluster");
        let out = self
            .pg_command("initdb")
            .arg("-D")
            .arg(&self.pgdata)
            .args(["-U", SUPERUSER, "--auth=trust", "--encoding=UTF8", "--no-locale", "--no-instructions"])
            .output()
            .context("Failed to run initdb")?;
        check_output("initdb", &out)?;
        let mut conf = fs::OpenOptions::new()
            .append(true)
            .open(self.pgdata.join("postgresql.conf"))
            .context("Failed to open postgresql.conf")?;
        writeln!(conf, "\n# Written by lotline at every start.\ninclude_if_exists = 'lotline.conf'")?;
        Ok(())
    }

    fn start(&mut self, ephemeral: bool) -> Result<()> {
        // Nothing runs, so whoever marked it to keep running is gone: this process starts it and owns it.
        let _ = fs::remove_file(self.root.join(KEEP_RUNNING));
        if self.owner_lock.is_none() {
            // Someone else owns the folder yet no server runs: take it over only if the owner is gone.
            let lock = open_lock(&self.root.join("owner.lock"))?;
            if lock.try_lock().is_ok() {
                self.owner_lock = Some(lock);
            }
        }
        self.remove_stale_locks()?;
        let mut conf = format!(
            "listen_addresses = ''\nport = {PORT}\nunix_socket_directories = '{}'\nunix_socket_permissions = 0700\n\
             max_connections = 200\nshared_buffers = {}MB\nlogging_collector = off\n",
            self.socket_dir.display().to_string().replace('\'', "''"),
            shared_buffers_mib()
        );
        if ephemeral {
            conf.push_str("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n");
        }
        let conf_path = self.pgdata.join("lotline.conf");
        fs::write(&conf_path, conf).context("Failed to write lotline.conf")?;
        self.give_to_run_user(&conf_path)?;

        tracing::info!(db.dir = %self.pgdata.display(), "starting the private PostgreSQL server");
        let log = self.root.join("postgres.log");
        let out = self
            .pg_command("pg_ctl")
            .arg("start")
            .arg("-D")
            .arg(&self.pgdata)
            .arg("-l")
            .arg(&log)
            .args(["-w", "-t", "60", "-s"])
            .output()
            .context("Failed to run pg_ctl start")?;
        if !out.status.success() {
            let tail = fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = tail.lines().rev().take(8).collect();
            bail!(
                "the private PostgreSQL server did not start ({}).\nLast lines of {}:\n{}",
                String::from_utf8_lossy(&out.stderr).trim(),
                log.display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        Ok(())
    }

    /// The socket folder of a live postmaster of this very cluster, if one runs. A pid file whose
    /// process is gone, or is no postgres of this folder (the pid was reused), is stale.
    fn running_postmaster(&self) -> Result<Option<PathBuf>> {
        let Ok(text) = fs::read_to_string(self.pgdata.join("postmaster.pid")) else {
            return Ok(None);
        };
        let lines: Vec<&str> = text.lines().collect();
        let (Some(pid), Some(dir)) = (lines.first().and_then(|p| p.trim().parse::<u32>().ok()), lines.get(1)) else {
            return Ok(None);
        };
        if !is_postgres_of(pid, Path::new(dir.trim()), &self.pgdata) {
            return Ok(None);
        }
        let socket = lines.get(4).map(|s| PathBuf::from(s.trim())).filter(|s| !s.as_os_str().is_empty());
        Ok(Some(socket.unwrap_or_else(|| self.socket_dir.clone())))
    }

    fn remove_stale_locks(&self) -> Result<()> {
        let pid_file = self.pgdata.join("postmaster.pid");
        if pid_file.exists() {
            tracing::warn!(file = %pid_file.display(), "removing a stale PostgreSQL pid file (its server is not running)");
            fs::remove_file(&pid_file).context("Failed to remove a stale postmaster.pid")?;
        }
        let socket_lock = self.socket_dir.join(format!(".s.PGSQL.{PORT}.lock"));
        if socket_lock.exists() {
            let pid = fs::read_to_string(&socket_lock).ok().and_then(|t| t.lines().next()?.trim().parse::<u32>().ok());
            if pid.is_none_or(|pid| !is_postgres_of(pid, &self.pgdata, &self.pgdata)) {
                fs::remove_file(&socket_lock).context("Failed to remove a stale socket lock")?;
            }
        }
        Ok(())
    }

    fn pg_command(&self, program: &str) -> Command {
        pg_command(&self.bindir, self.run_as.as_deref(), program)
    }

    fn give_to_run_user(&self, path: &Path) -> Result<()> {
        if let Some(user) = &self.run_as {
            let out = Command::new("chown").arg(user).arg(path).output().context("Failed to run chown")?;
            check_output("chown", &out)?;
        }
        Ok(())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.owner_lock.take().is_some()
            && let Err(err) = stop_server(&self.bindir, self.run_as.as_deref(), &self.pgdata)
        {
            tracing::error!(error = %err, "could not stop the private PostgreSQL server");
        }
    }
}

/// Stops the private cluster of `data_dir` if one runs; returns whether one was running.
pub fn stop(opts: &ClusterOptions) -> Result<bool> {
    let (root, run_as) = locate(opts)?;
    let _ = fs::remove_file(root.join(KEEP_RUNNING));
    let pgdata = root.join("pgdata");
    if !server_runs(&pgdata) {
        return Ok(false);
    }
    let version = fs::read_to_string(pgdata.join("PG_VERSION")).unwrap_or_default();
    let bindir = find_bindir(opts.bindir.as_deref(), Some(version.trim()))?;
    stop_server(&bindir, run_as.as_deref(), &pgdata)?;
    Ok(true)
}

/// Stops the private cluster of `data_dir` and deletes it with all its data; returns its folder.
pub fn destroy(opts: &ClusterOptions) -> Result<PathBuf> {
    stop(opts)?;
    let (root, _) = locate(opts)?;
    fs::remove_dir_all(&root).with_context(|| format!("Failed to delete {}", root.display()))?;
    let preferred = opts.data_dir.join("postgres");
    if preferred.exists() {
        fs::remove_dir_all(&preferred).with_context(|| format!("Failed to delete {}", preferred.display()))?;
    }
    Ok(root)
}

/// Whether the private cluster of `data_dir` runs, and the folder it lives in.
pub fn status(opts: &ClusterOptions) -> Result<(bool, PathBuf)> {
    let (root, _) = locate(opts)?;
    Ok((server_runs(&root.join("pgdata")), root))
}

fn locate(opts: &ClusterOptions) -> Result<(PathBuf, Option<String>)> {
    let run_as = if running_as_root()? { Some("postgres".to_string()) } else { None };
    let root = cluster_root(&opts.data_dir, run_as.as_deref())?;
    Ok((root, run_as))
}

fn server_runs(pgdata: &Path) -> bool {
    fs::read_to_string(pgdata.join("postmaster.pid"))
        .ok()
        .and_then(|t| t.lines().next()?.trim().parse::<u32>().ok())
        .is_some_and(|pid| is_postgres_of(pid, pgdata, pgdata))
}

fn stop_server(bindir: &Path, run_as: Option<&str>, pgdata: &Path) -> Result<()> {
    tracing::info!(db.dir = %pgdata.display(), "stopping the private PostgreSQL server");
    let out = pg_command(bindir, run_as, "pg_ctl")
        .arg("stop")
        .arg("-D")
        .arg(pgdata)
        .args(["-m", "fast", "-w", "-t", "60", "-s"])
        .output()
        .context("Failed to run pg_ctl stop")?;
    check_output("pg_ctl stop", &out)
}

fn pg_command(bindir: &Path, run_as: Option<&str>, program: &str) -> Command {
    let path = bindir.join(program);
    match run_as {
        Some(user) => {
            let mut cmd = Command::new("runuser");
            cmd.arg("-u").arg(user).arg("--").arg(path);
            cmd
        }
        None => Command::new(path),
    }
}

fn check_output(what: &str, out: &Output) -> Result<()> {
    if out.status.success() {
        return Ok(());
    }
    bail!(
        "{what} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim(),
        String::from_utf8_lossy(&out.stdout).trim()
    )
}

fn running_as_root() -> Result<bool> {
    Ok(fs::metadata("/proc/self").context("Failed to read /proc/self")?.uid() == 0)
}

/// Whether `pid` is a live postgres process serving `pgdata` (`claimed` is the folder its pid file names).
fn is_postgres_of(pid: u32, claimed: &Path, pgdata: &Path) -> bool {
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    let comm = fs::read_to_string(proc_dir.join("comm")).unwrap_or_default();
    if !(comm.trim() == "postgres" || comm.trim() == "postmaster") {
        return false;
    }
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if !same(claimed, pgdata) {
        return false;
    }
    // The process's own command line names its data folder (`postgres -D <dir>`), or its working
    // folder is the data folder: either tells that this pid is not some other cluster's.
    let cmdline = fs::read(proc_dir.join("cmdline")).unwrap_or_default();
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    let named = args.windows(2).any(|w| w[0] == b"-D" && same(Path::new(&*String::from_utf8_lossy(w[1])), pgdata));
    named || fs::read_link(proc_dir.join("cwd")).is_ok_and(|cwd| same(&cwd, pgdata))
}

fn open_lock(path: &Path) -> Result<File> {
    fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("Failed to open lock file {}", path.display()))
}

/// The folder the cluster lives in, created and, as root, handed to the run user.
fn cluster_root(data_dir: &Path, run_as: Option<&str>) -> Result<PathBuf> {
    fs::create_dir_all(data_dir).with_context(|| format!("Failed to create the data folder {}", data_dir.display()))?;
    let data_dir =
        data_dir.canonicalize().with_context(|| format!("Failed to resolve the data folder {}", data_dir.display()))?;
    let preferred = data_dir.join("postgres");
    let Some(user) = run_as else {
        fs::create_dir_all(&preferred)?;
        return Ok(preferred);
    };
    fs::create_dir_all(&preferred)?;
    chown(user, &preferred)?;
    if user_can_write(user, &preferred) {
        return Ok(preferred);
    }
    // The run user cannot reach the data folder (a parent is private): keep the cluster in a folder
    // of its own, named after the data folder so the same data folder always finds the same cluster.
    let fallback =
        PathBuf::from("/var/lib/lotline").join(format!("{:016x}", fnv1a(data_dir.as_os_str().as_encoded_bytes())));
    fs::create_dir_all(&fallback).with_context(|| format!("Failed to create {}", fallback.display()))?;
    chown(user, &fallback)?;
    let note = format!(
        "The `{user}` user cannot enter {}, so lotline keeps this data folder's PostgreSQL cluster in {}.\n",
        data_dir.display(),
        fallback.display()
    );
    fs::write(preferred.join("WHERE-IS-THE-DATABASE.txt"), note)?;
    if !user_can_write(user, &fallback) {
        bail!("the `{user}` user cannot write to {}", fallback.display());
    }
    Ok(fallback)
}

fn socket_dir_for(root: &Path, run_as: Option<&str>) -> Result<PathBuf> {
    if root.as_os_str().len() <= MAX_SOCKET_DIR_LEN {
        return Ok(root.to_path_buf());
    }
    let dir = std::env::temp_dir().join(format!("lotline-{:016x}", fnv1a(root.as_os_str().as_encoded_bytes())));
    fs::create_dir_all(&dir)?;
    if let Some(user) = run_as {
        chown(user, &dir)?;
    }
    Ok(dir)
}

fn chown(user: &str, path: &Path) -> Result<()> {
    let out = Command::new("chown").arg(user).arg(path).output().context("Failed to run chown")?;
    check_output("chown", &out)
}

fn user_can_write(user: &str, path: &Path) -> bool {
    Command::new("runuser").args(["-u", user, "--", "test", "-w"]).arg(path).status().is_ok_and(|s| s.success())
}

/// A stable 64-bit FNV-1a hash (std's hasher may change between releases; folder names must not).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

/// Finds a folder holding `initdb`, `pg_ctl` and `postgres`, of the cluster's major version if it
/// has one: the explicit folder, then PATH, `pg_config --bindir`, `/usr/lib/postgresql/*/bin`.
fn find_bindir(explicit: Option<&Path>, want_major: Option<&str>) -> Result<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(dir) = explicit {
        candidates.push(dir.to_path_buf());
    } else {
        if let Some(path) = std::env::var_os("PATH") {
            candidates.extend(std::env::split_paths(&path));
        }
        if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
            && out.status.success()
        {
            candidates.push(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
        }
        if let Ok(entries) = fs::read_dir("/usr/lib/postgresql") {
            let mut versions: Vec<PathBuf> = entries.filter_map(|e| Some(e.ok()?.path().join("bin"))).collect();
            versions.sort_by_key(|p| {
                std::cmp::Reverse(p.parent().and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok()))
            });
            candidates.extend(versions);
        }
    }
    let mut seen_versions = Vec::new();
    for dir in candidates {
        if !["initdb", "pg_ctl", "postgres"].iter().all(|p| dir.join(p).is_file()) {
            continue;
        }
        // Links to a few binaries (a PATH folder holding initdb, pg_ctl and postgres only) stand
        // for the installation's own folder, which has the rest (pg_basebackup, pg_dump).
        let real = dir.join("postgres").canonicalize().ok().and_then(|p| Some(p.parent()?.to_path_buf()));
        let dir = real.filter(|r| ["initdb", "pg_ctl"].iter().all(|p| r.join(p).is_file())).unwrap_or(dir);
        let Some(major) = server_major_version(&dir) else { continue };
        match want_major {
            Some(want) if want != major => seen_versions.push(format!("{major} in {}", dir.display())),
            _ => return Ok(dir),
        }
    }
    match want_major {
        Some(want) if !seen_versions.is_empty() => bail!(
            "the private database in the data folder was made by PostgreSQL {want}, but only other versions were found ({}). \
             Install PostgreSQL {want}'s server (Debian: apt-get install postgresql-{want}), set LOTLINE_PG_BINDIR to its bin folder, \
             or set DATABASE_URL to use an existing server",
            seen_versions.join(", ")
        ),
        _ => bail!(
            "no PostgreSQL server binaries (initdb, pg_ctl, postgres) were found{}. Install them (Debian/Ubuntu: apt-get install \
             postgresql), set LOTLINE_PG_BINDIR to the folder holding them, or set DATABASE_URL to use an existing PostgreSQL server",
            explicit
                .map(|d| format!(" in {}", d.display()))
                .unwrap_or_else(|| { " in PATH, `pg_config --bindir` or /usr/lib/postgresql/*/bin".to_string() })
        ),
    }
}

/// "postgres (PostgreSQL) 15.18 (Debian …)" → "15".
fn server_major_version(bindir: &Path) -> Option<String> {
    let out = Command::new(bindir.join("postgres")).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text.split_whitespace().find(|w| w.starts_with(|c: char| c.is_ascii_digit()))?;
    Some(version.split('.').next()?.to_string())
}

/// PostgreSQL's page cache for the private cluster, MiB: a quarter of the machine's memory, as
/// PostgreSQL's manual advises for a dedicated server, between its 128 MB default and 16 GiB.
/// A trace reads each reached lot's ledger rows, scattered through the table in time order; at
/// the default a large plant's tables fit nowhere near, and each page then comes from the
/// operating system's cache, most of a typical trace's time. The memory is taken as pages are
/// used, not at start.
fn shared_buffers_mib() -> u64 {
    let total_kib = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:").map(|v| v.trim().trim_end_matches("kB").trim().to_string()))
        })
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    (total_kib / 1024 / 4).clamp(128, 16 * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_hash_is_stable() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
