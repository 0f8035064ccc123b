//! PDFs of printed pages, from headless Chromium (Debian's `chromium`): the page is rendered by
//! the same template the browser prints, written to a private folder and printed there, so the
//! PDF and the browser's own print agree.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::Error;

/// The Chromium to print with: `LOTLINE_CHROMIUM`, or the first of the usual names on the PATH.
pub fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("LOTLINE_CHROMIUM").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser", "google-chrome"].map(|name| dir.join(name)))
        .find(|p| p.is_file())
}

/// Prints `html` (a whole document with its CSS inlined) to PDF.
pub async fn print(html: &str) -> Result<Vec<u8>, Error> {
    let browser = chromium().ok_or_else(|| {
        Error::ServiceMissing(
            "This server has no Chromium to make PDFs with (install Debian's chromium, or set LOTLINE_CHROMIUM). \
             Print the report from your browser instead: it is laid out for A4 and Letter."
                .into(),
        )
    })?;
    // One print at a time: Chromium takes a core or more, and a long report a minute or two.
    static PRINTER: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);
    let _turn = PRINTER.acquire().await.map_err(|e| Error::Internal(e.into()))?;
    let dir = std::env::temp_dir().join(format!("lotline-pdf-{}", uuid::Uuid::new_v4()));
    let result = print_in(&browser, &dir, html).await;
    let _ = tokio::fs::remove_dir_all(&dir).await;
    result
}

async fn print_in(browser: &std::path::Path, dir: &std::path::Path, html: &str) -> Result<Vec<u8>, Error> {
    let internal = |e: std::io::Error| Error::Internal(e.into());
    // Readable by this process's user only: a report names customers and their contacts.
    let mut builder = tokio::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    builder.mode(0o700);
    builder.create(dir).await.map_err(internal)?;
    let page = dir.join("page.html");
    let out = dir.join("page.pdf");
    tokio::fs::write(&page, html).await.map_err(internal)?;
    let mut command = tokio::process::Command::new(browser);
    command
        .arg("--headless")
        .arg("--no-sandbox")
        .arg("--disable-gpu")
        .arg("--disable-dev-shm-usage")
        .arg("--disable-background-networking")
        .arg("--no-first-run")
        .arg("--no-pdf-header-footer")
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .arg(format!("--print-to-pdf={}", out.display()))
        .arg(format!("file://{}", page.display()))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(280), command.output())
        .await
        .map_err(|_| Error::Internal(anyhow::anyhow!("chromium did not print within 280 s")))?
        .map_err(internal)?;
    match tokio::fs::read(&out).await {
        Ok(pdf) if !pdf.is_empty() => Ok(pdf),
        _ => Err(Error::Internal(anyhow::anyhow!(
            "chromium printed no PDF ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).lines().last().unwrap_or_default()
        ))),
    }
}
