//! What every handler can reach: the state of the web face, built by `app::Application`.

use std::sync::Arc;

use sqlx::PgPool;

use crate::auth::SessionPolicy;

/// The cookie a browser gets with the answer to any change it made: for a few seconds its pages
/// are read afresh, not from a server's memory, so people see their own change on the next page
/// whichever server answers it (the other servers hear of the change a moment later).
pub const WROTE_COOKIE: &str = "lotline_wrote";

/// What every handler can reach. Everything else lives in PostgreSQL: the server is stateless.
#[derive(Clone)]
pub struct AppState {
    /// The primary: every write, and every read that must see the latest posting.
    pub pool: PgPool,
    /// What this server has heard of committed changes; caches go by it.
    pub changes: crate::db::Changes,
    /// Lot pages kept in memory while nothing changes (`web::lots::LotPageCache`).
    pub lot_pages: Arc<crate::web::lots::LotPageCache>,
    /// The genealogy links in memory for traces (`crate::links`), of the primary.
    pub links: Arc<crate::trace::links::LinkIndex>,
    /// Reports and exports that tolerate lag (`DATABASE_READ_URL`); see [`AppState::reports`].
    pub reads: crate::db::Reads,
    pub sessions: SessionPolicy,
    /// Where lotline is reached (`LOTLINE_PUBLIC_URL`), for identifiers it mints.
    pub public_url: String,
    /// A network label printer taking ZPL (host:port), if the plant has one.
    pub label_printer: Option<String>,
    /// The header a trusted proxy puts the client's address in (`LOTLINE_TRUSTED_PROXY_HEADER`).
    pub client_ip_header: Option<String>,
}

impl AppState {
    /// The pool for reports and exports that tolerate a replica's lag: the read replica while it
    /// answers, else the primary.
    pub fn reports(&self) -> &PgPool {
        self.reads.pool()
    }

    /// The pool a list page reads from: the reports' pool for its export, the primary for the
    /// page people act on.
    pub fn reading(&self, export: bool) -> &PgPool {
        if export { self.reports() } else { &self.pool }
    }

    /// A trace for a page or the API, read where reports read; it walks the link index while
    /// that is the primary (the index reflects the primary, a replica may lag behind it).
    pub async fn trace(
        &self,
        lot: uuid::Uuid,
        direction: crate::trace::Direction,
        mode: crate::trace::Mode,
    ) -> Result<crate::trace::Trace, crate::error::Error> {
        let (pool, primary) = self.reads.choose();
        crate::trace::trace_with(pool, primary.then_some(&self.links), lot, direction, mode).await
    }
}
